"""What every recipe shares, whatever it trains on: the one training loop (`loop`: a `Task` and
`train_and_evaluate`), a run's config (`config`) and command line (`cli`), its life in a workdir
(`run`, `lock`, `backup`, `durable`), strategies (`distribute`), callbacks, schedules, optimizers,
exact evaluation, progress lines, curves, and the test hooks (`faults`). It knows no data set.
Import the modules you need; nothing here imports TensorFlow.
"""
