"""Builds, runs, trains and saves small nets under the backend named by KERAS_BACKEND.

Run by test_models_backends.py in a fresh process (Keras fixes its backend at import).
"""

import os
import sys
import tempfile

import keras
from model_checks import (
    check_fit_lowers_loss,
    check_keras_file_round_trip,
    trainable_params,
)
from test_models_params import cifar_option_a_params

import keras_resnet

assert keras.backend.backend() == os.environ["KERAS_BACKEND"], keras.backend.backend()
model = keras_resnet.ResNet20(input_shape=(16, 16, 3))
assert trainable_params(model) == cifar_option_a_params(20)
check_fit_lowers_loss(model)
# Keras' saving code imports TensorFlow where it is installed; building and training must not.
print("tensorflow imported:", "tensorflow" in sys.modules)
with tempfile.TemporaryDirectory() as directory:
    check_keras_file_round_trip(keras_resnet.HighwayNet20(input_shape=(16, 16, 1)), f"{directory}/h.keras")
print("backend ok:", keras.backend.backend())
