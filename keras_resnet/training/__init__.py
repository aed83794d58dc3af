"""What every recipe shares, whatever it trains on: the run's life (`run`), callbacks (backup and
resume, checkpoints, history, NaN guard, one periodic evaluation), schedules, optimizers, exact
evaluation, progress lines, plots, flags, and the test hooks (`faults`).

The recipes themselves are `keras_resnet.cifar` and `keras_resnet.imagenet`. Import the modules
you need; nothing here imports TensorFlow.
"""
