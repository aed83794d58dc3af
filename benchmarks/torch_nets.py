"""The peer of `train_throughput.py` on a CPU: the same nets in PyTorch, without torchvision (whose
PyPI wheel does not load beside the CPU build of torch: `operator torchvision::nms does not exist`).

- `cifar_resnet(depth)`: the paper's CIFAR net (Sec. 4.2): a 3×3/16 stem, three stages of (depth − 2)/6
  basic blocks of 16, 32, 64 filters, option-A shortcuts (identity; subsampled and zero-padded where the
  shape changes), global average pooling, a 10-way classifier.
- `imagenet_resnet(depth)`: ResNet-50/101/152 of Table 1 in the paper's layout (the stride in each
  stage's first 1×1 convolution, as MSRA's models; torchvision's v1.5 has it in the 3×3), projection
  shortcuts where the shape changes (option B), or ResNet-18/34 of basic blocks.

BN as the paper's (Caffe's, and `keras_resnet`'s): momentum 0.1 of the new batch, ε 1e-5. `optimizer(model)`:
SGD with momentum 0.9 and weight decay 1e-4 added to the gradient (coupled, as Caffe's), as the recipes train;
`steps.torch_window` runs the train step.
"""

import torch
from torch import nn

BN = dict(eps=1e-5, momentum=0.1)


def _bn(channels):
    return nn.BatchNorm2d(channels, **BN)


class _Basic(nn.Module):
    def __init__(self, channels_in, channels, stride, shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels, 3, stride, 1, bias=False)
        self.bn1 = _bn(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = _bn(channels)
        self.shortcut = shortcut

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class _ZeroPad(nn.Module):
    """Option A: the input subsampled by the stride (the top-left pixel of each window), `channels`
    minus its own channels of zeros appended after them (as `keras_resnet.layers.ZeroPadShortcut`)."""

    def __init__(self, channels_in, channels, stride):
        super().__init__()
        self.extra, self.stride = channels - channels_in, stride

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra))


class _Bottleneck(nn.Module):
    def __init__(self, channels_in, channels, stride):
        super().__init__()
        out = 4 * channels
        self.conv1 = nn.Conv2d(channels_in, channels, 1, stride, bias=False)  # The paper's layout: stride here.
        self.bn1 = _bn(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = _bn(channels)
        self.conv3 = nn.Conv2d(channels, out, 1, bias=False)
        self.bn3 = _bn(out)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(channels_in, out, 1, stride, bias=False), _bn(out))
            if stride != 1 or channels_in != out
            else nn.Identity()
        )

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        return torch.relu(self.bn3(self.conv3(y)) + self.shortcut(x))


def cifar_resnet(depth, classes=10):
    """The paper's CIFAR ResNet of `depth` = 6n + 2 layers, option-A shortcuts."""
    blocks = (depth - 2) // 6
    layers, channels_in = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), _bn(16), nn.ReLU()], 16
    for stage, channels in enumerate((16, 32, 64)):
        for block in range(blocks):
            stride = 2 if stage and not block else 1
            shortcut = _ZeroPad(channels_in, channels, stride) if stride != 1 else nn.Identity()
            layers.append(_Basic(channels_in, channels, stride, shortcut))
            channels_in = channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes)]
    return nn.Sequential(*layers)


IMAGENET_STAGES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def imagenet_resnet(depth, classes=1000):
    """ResNet-`depth` of Table 1: bottlenecks in the paper's layout from 50 layers, option B."""
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), _bn(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    channels_in = 64
    for stage, (count, channels) in enumerate(zip(IMAGENET_STAGES[depth], (64, 128, 256, 512))):
        for block in range(count):
            stride = 2 if stage and not block else 1
            if depth >= 50:
                layers.append(_Bottleneck(channels_in, channels, stride))
                channels_in = 4 * channels
            else:
                projection = stride != 1 or channels_in != channels
                shortcut = (
                    nn.Sequential(nn.Conv2d(channels_in, channels, 1, stride, bias=False), _bn(channels))
                    if projection
                    else nn.Identity()
                )
                layers.append(_Basic(channels_in, channels, stride, shortcut))
                channels_in = channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels_in, classes)]
    return nn.Sequential(*layers)


def optimizer(model):
    """SGD as the recipes: momentum 0.9, coupled weight decay 1e-4 on every parameter, rate 0.1."""
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
