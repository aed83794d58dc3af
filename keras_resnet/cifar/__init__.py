"""The CIFAR-10 recipe of Sec. 4.2 and the degradation experiment of Fig. 6 / Table 6.

`config` holds every setting of a run, `datasets` (with `arrays` and `idx`) its data, `model` the
model it trains, `streams` what each process feeds it, `task` the recipe as a task of the one
training loop (`keras_resnet.training.loop`), `degradation` (with `figures`) the experiment, `cli`
the command lines. Import the modules you need; nothing here imports TensorFlow unless a TFDS data
set is asked for.
"""
