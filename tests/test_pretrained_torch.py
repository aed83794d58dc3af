"""Parity with torchvision's ResNet: the reference is torchvision's module structure written out in
plain PyTorch (torchvision itself does not install beside CI's CPU build of torch)."""

import importlib.util

import numpy as np
import pytest

pytestmark = [
    pytest.mark.torch,
    pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed"),
]

SIZE = 64


def torchvision_resnet(depth):
    """torchvision.models.resnet's ResNet-18 or ResNet-50 (v1.5: stride in the 3×3 conv), same names."""
    from torch import nn

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride, downsample):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + identity)

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride, downsample):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU()
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            return self.relu(self.bn3(self.conv3(out)) + identity)

    block, layers = {18: (BasicBlock, (2, 2, 2, 2)), 50: (Bottleneck, (3, 4, 6, 3))}[depth]

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.inplanes = 64
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            for i, (count, planes) in enumerate(zip(layers, (64, 128, 256, 512))):
                setattr(self, f"layer{i + 1}", self._make_layer(planes, count, 1 if i == 0 else 2))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512 * block.expansion, 1000)

        def _make_layer(self, planes, blocks, stride):
            downsample = None
            if stride != 1 or self.inplanes != planes * block.expansion:
                downsample = nn.Sequential(
                    nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                    nn.BatchNorm2d(planes * block.expansion),
                )
            units = [block(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes * block.expansion
            units += [block(self.inplanes, planes, 1, None) for _ in range(1, blocks)]
            return nn.Sequential(*units)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet()


@pytest.mark.parametrize("depth, options", [(18, {}), (50, {"bottleneck_stride": "3x3"})])
def test_torchvision_safetensors_gives_torchvisions_logits(tmp_path, depth, options):
    import keras
    import torch
    from safetensors.torch import save_file

    import keras_resnet

    torch.manual_seed(depth)
    reference = torchvision_resnet(depth).eval()
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):  # Statistics and affine terms away from 0 and 1.
                module.running_var.uniform_(0.5, 2.0)
                module.running_mean.normal_(0, 0.1)
                module.weight.uniform_(0.5, 1.0)
                module.bias.normal_(0, 0.1)
    save_file(reference.state_dict(), str(tmp_path / "model.safetensors"))
    images = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    torch_input = torch.from_numpy(((images / 255.0 - mean) / std).astype("float32").transpose(0, 3, 1, 2))
    with torch.no_grad():
        expected = reference(torch_input).numpy()
    model = keras_resnet.MODELS[f"resnet{depth}"](
        weights=str(tmp_path / "model.safetensors"), input_shape=(SIZE, SIZE, 3), classifier_activation=None, **options
    )
    logits = keras.ops.convert_to_numpy(model(images, training=False))
    assert np.abs(logits - expected).max() / np.abs(expected).max() < 1e-4


def test_a_pth_file_loads_like_its_safetensors_copy(tmp_path):
    import keras
    import torch
    from safetensors.torch import save_file

    import keras_resnet

    reference = torchvision_resnet(18)
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    save_file(reference.state_dict(), str(tmp_path / "resnet18.safetensors"))
    x = np.random.default_rng(0).uniform(0, 255, (1, SIZE, SIZE, 3)).astype("float32")
    outputs = [
        keras.ops.convert_to_numpy(keras_resnet.ResNet18(weights=str(tmp_path / name), input_shape=(SIZE, SIZE, 3))(x))
        for name in ("resnet18.pth", "resnet18.safetensors")
    ]
    np.testing.assert_array_equal(*outputs)
