"""The networks of "Deep Residual Learning for Image Recognition" (He et al., 2015) for Keras 3.

>>> import keras_resnet
>>> model = keras_resnet.ResNet20(input_shape=(28, 28, 1), classes=10)
>>> sum(int(w.numpy().size) for w in model.trainable_weights)
272474
"""

from keras_resnet.architectures import CIFAR_DEPTHS, IMAGENET_DEPTHS, Architecture
from keras_resnet.builder import build_network
from keras_resnet.flops import flops
from keras_resnet.layers import HighwayCombine, ZeroPadShortcut
from keras_resnet.zoo import *  # noqa: F403  (the constructors: ResNet18, …, HighwayNet110)
from keras_resnet.zoo import MODELS

__version__ = "0.1.0"
