"""The benchmark's PyTorch peer (`benchmarks/torch_nets.py`) is the zoo's net: the same weights give
the same logits, and its parameters are the paper's count; its train step runs."""

import importlib.util
import os
import sys

import numpy as np
import pytest
from published_files import randomise

pytestmark = [
    pytest.mark.torch,
    pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed"),
]

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))


def _copy_into(network, peer):
    """The Keras net's weights into the PyTorch peer, layer by layer in building order."""
    import keras
    import torch

    def of(kind):
        return [layer for layer in network._flatten_layers() if isinstance(layer, kind)]

    pairs = {
        keras.layers.Conv2D: torch.nn.Conv2d,
        keras.layers.BatchNormalization: torch.nn.BatchNorm2d,
        keras.layers.Dense: torch.nn.Linear,
    }
    with torch.no_grad():
        for keras_kind, torch_kind in pairs.items():
            ours, theirs = of(keras_kind), [m for m in peer.modules() if isinstance(m, torch_kind)]
            assert len(ours) == len(theirs), (keras_kind.__name__, len(ours), len(theirs))
            for layer, module in zip(ours, theirs):
                values = [keras.ops.convert_to_numpy(w) for w in layer.weights]
                if keras_kind is keras.layers.BatchNormalization:
                    targets = [module.weight, module.bias, module.running_mean, module.running_var]
                elif keras_kind is keras.layers.Conv2D:
                    targets, values = [module.weight], [values[0].transpose(3, 2, 0, 1)]
                else:
                    targets, values = [module.weight, module.bias], [values[0].T, values[1]]
                for target, value in zip(targets, values, strict=True):
                    target.copy_(torch.from_numpy(np.ascontiguousarray(value)))


@pytest.mark.parametrize(
    "name, size, classes, params",
    [
        ("resnet20", 32, 10, 0.27e6),  # Table 6.
        ("resnet50", 64, 1000, 25_557_032),  # Table 1, as torchvision counts it.
    ],
)
def test_the_peer_is_the_zoo_net(name, size, classes, params):
    import torch
    import torch_nets

    from keras_resnet import zoo

    entry = zoo.lookup(name)
    network = entry(input_shape=(size, size, 3), classes=classes, classifier_activation=None)
    randomise(network, np.random.default_rng(0))
    peer = (torch_nets.cifar_resnet if entry.family == "cifar" else torch_nets.imagenet_resnet)(entry.depth)
    trainable = sum(p.numel() for p in peer.parameters())
    assert trainable == pytest.approx(params, rel=0.02 if params < 1e6 else 0)
    _copy_into(network, peer)
    x = np.random.default_rng(1).normal(size=(2, size, size, 3)).astype("float32")
    ours = np.asarray(network(x, training=False))
    theirs = peer.eval()(torch.from_numpy(x.transpose(0, 3, 1, 2))).detach().numpy()
    np.testing.assert_allclose(theirs, ours, rtol=1e-3, atol=1e-3 * np.abs(ours).max())


def test_the_peer_trains(monkeypatch):
    import torch
    from steps import torch_window

    losses, cross_entropy = [], torch.nn.functional.cross_entropy

    def recorded(*args, **kwargs):
        loss = cross_entropy(*args, **kwargs)
        losses.append(float(loss.detach()))
        return loss

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", recorded)
    window, device, origin = torch_window("resnet8", "cifar", 8, 4, 32, None, steps=5, warmup_steps=1, compile=False)
    window()
    assert device == "cpu" and origin == "torch_nets"
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0], losses  # One batch, learnt in 6 steps.
