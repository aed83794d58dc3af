"""The networks of "Deep Residual Learning for Image Recognition" (He et al., 2015) for Keras 3.

>>> import keras_resnet
>>> model = keras_resnet.ResNet34(shortcut="B")
>>> keras_resnet.trainable_params(model), keras_resnet.flops(model)
(21797672, 3663761408)
"""

from keras_resnet import tf_startup

with tf_startup.filtered():  # The TensorFlow backend loads TensorFlow here.
    import keras as _keras  # noqa: F401

from keras_resnet.architectures import CIFAR_DEPTHS, IMAGENET_DEPTHS, Architecture
from keras_resnet import export
from keras_resnet.backbone import feature_model, feature_strides
from keras_resnet.table import trainable_params
from keras_resnet.builder import build_network
from keras_resnet.flops import flops
from keras_resnet.layers import HighwayCombine, ZeroPadShortcut
from keras_resnet.network import Network
from keras_resnet.responses import layer_responses, response_layers
from keras_resnet.pretrained import preprocess_input
from keras_resnet.zoo import *  # noqa: F403  (the constructors: ResNet18, …, HighwayNet110)
from keras_resnet.zoo import MODELS

# Registers the recipes' preprocessing layers, so a run's `model.keras` loads after `import keras_resnet`.
from keras_resnet.cifar import augment as _cifar_augment  # noqa: F401
from keras_resnet.imagenet import augment as _imagenet_augment  # noqa: F401
from keras_resnet.training import preprocessing as _preprocessing  # noqa: F401

__version__ = "0.1.0"
