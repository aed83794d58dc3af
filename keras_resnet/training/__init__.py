"""The paper's training recipe: configs, schedules, optimizer, data, callbacks and the loop.

Import the modules you need (`from keras_resnet.training import config, train`); nothing here
imports TensorFlow unless a TFDS data set is asked for.
"""
