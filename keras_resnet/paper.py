"""The figures the paper reports, transcribed once: what the notebooks and tables compare against.

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
https://arxiv.org/abs/1512.03385. Errors are percentages.

Example:

>>> from keras_resnet import paper
>>> paper.TABLE_1_GFLOPS[50], paper.TABLE_6["resnet56"]
(3.8, (0.85, 6.97))
"""

# Table 1: multiply-adds ×10⁹ at 224×224.
TABLE_1_GFLOPS = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}

# Table 2: ImageNet validation top-1 error, 10-crop testing (ResNets with option A).
TABLE_2_TOP1 = {"plain18": 27.94, "plain34": 28.54, "resnet18": 27.88, "resnet34": 25.03}

# Table 3: ImageNet validation (top-1, top-5) error, 10-crop testing.
TABLE_3 = {
    "resnet34_A": (25.03, 7.76),
    "resnet34_B": (24.52, 7.46),
    "resnet34_C": (24.19, 7.40),
    "resnet50": (22.85, 6.71),
    "resnet101": (21.75, 6.05),
    "resnet152": (21.43, 5.71),
}

# Table 4: single-model (top-1, top-5) error on the validation set, multi-scale testing.
TABLE_4 = {"resnet50": (20.74, 5.25), "resnet101": (19.87, 4.60), "resnet152": (19.38, 4.49)}

# Table 6: CIFAR-10 (parameters in millions, test error) of the residual nets; ResNet-110 is its
# best of 5 runs (6.61 ± 0.16 mean).
TABLE_6 = {
    "resnet20": (0.27, 8.75),
    "resnet32": (0.46, 7.51),
    "resnet44": (0.66, 7.17),
    "resnet56": (0.85, 6.97),
    "resnet110": (1.7, 6.43),
    "resnet1202": (19.4, 7.93),
}
