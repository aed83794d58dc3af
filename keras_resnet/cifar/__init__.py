"""The CIFAR-10 recipe of Sec. 4.2 and the degradation experiment of Fig. 6 / Table 6.

`config` holds its numbers, `datasets` (and `idx`) its data, `augment` and `model` the model it
trains, `train` the loop, `flags` its command line, `degradation` the experiment. Import the
modules you need (`from keras_resnet.cifar import config, train`); nothing here imports
TensorFlow unless a TFDS data set is asked for.
"""
