"""The published ImageNet weights of the paper's networks, with what is known of each file.

Two publishers trained these networks in the paper's layouts:

- MSRA, the paper's authors: ResNet-50/101/152 as released with the paper (Caffe, MIT licence),
  in the HDF5 files keras.applications converted them to. Option B, stride 2 in the first 1×1
  convolution of a bottleneck (the paper's layout); conv biases, BN ε = 1.001e-5, BGR input minus
  the Caffe mean. Loading folds all of that into this library's layout exactly.
- torchvision's `IMAGENET1K_V1` weights (BSD-3-Clause), read from the safetensors copies that
  timm keeps on the Hugging Face Hub, pinned to a revision: ResNet-18/34 (the paper's basic
  blocks, option B) and ResNet-50 in the "v1.5" layout (stride in the 3×3 convolution,
  `bottleneck_stride="3x3"`). RGB input scaled to [0, 1] and normalised by the ImageNet mean/std.

Every entry records the file's hash; a download that does not match it is refused.

Example:

>>> entry = find("resnet50")
>>> entry.key, entry.bottleneck_stride, entry.top1_error
('resnet50.msra', '1x1', 24.7)
>>> find("resnet50", bottleneck_stride="3x3").key
'resnet50.torchvision_v1'
>>> find("resnet18", "msra")
Traceback (most recent call last):
...
ValueError: No 'msra' weights for resnet18. Published weights: resnet18: 'torchvision_v1'. Received: weights='msra'
"""

import dataclasses

# The name that picks each constructor's default file, as keras.applications calls it.
DEFAULT = "imagenet"

KERAS_APPLICATIONS_H5 = "keras_applications_h5"
TORCHVISION = "torchvision_state_dict"

_MSRA_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
_HUB = "https://huggingface.co/timm/{repo}/resolve/{revision}/model.safetensors"
_MSRA_README = "https://github.com/KaimingHe/deep-residual-networks#results"
_TORCHVISION_DOCS = "https://pytorch.org/vision/stable/models/generated/torchvision.models.resnet{depth}.html"


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """What a network trained by a publisher expects of an RGB image with values in [0, 255].

    The network sees `(image - mean) / std`, per RGB channel; images are resized so that the
    shorter side is `resize`, then centre-cropped to `crop` (the publisher's evaluation).

    Attributes:
        mean: tuple of 3 floats, RGB, in [0, 255] units.
        std: tuple of 3 floats, RGB, in [0, 255] units.
        channel_order: str. The channel order the published file itself expects; `"BGR"` files
            are turned to RGB on loading.
        resize: int. Shorter side before the centre crop.
        crop: int. Side of the centre crop.
    """

    mean: tuple
    std: tuple
    channel_order: str = "RGB"
    resize: int = 256
    crop: int = 224


# Caffe's ImageNet mean (BGR 103.939, 116.779, 123.68), as keras.applications' "caffe" mode.
CAFFE = Preprocessing(mean=(123.68, 116.779, 103.939), std=(1.0, 1.0, 1.0), channel_order="BGR")
# torchvision: x / 255, then (x - mean) / std with the ImageNet statistics of [0, 1] images.
TORCH = Preprocessing(
    mean=tuple(255.0 * m for m in (0.485, 0.456, 0.406)),
    std=tuple(255.0 * s for s in (0.229, 0.224, 0.225)),
)
FORMAT_PREPROCESSING = {KERAS_APPLICATIONS_H5: CAFFE, TORCHVISION: TORCH}
# Where each format's bottleneck nets subsample, whoever wrote the file: keras.applications'
# ResNet50/101/152 are the paper's layout; torchvision's `Bottleneck` strides in its 3×3.
FORMAT_BOTTLENECK_STRIDE = {KERAS_APPLICATIONS_H5: "1x1", TORCHVISION: "3x3"}


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """One published weights file (and its no-top twin where the publisher has one).

    Attributes:
        name: str. The source's name, passed as `weights=` (`"msra"`, `"torchvision_v1"`).
        model: str. The zoo's name of the network (`"resnet50"`).
        bottleneck_stride: str or None. `"1x1"` (the paper) or `"3x3"` (v1.5); `None` for basic
            blocks.
        shortcut: str. The shortcut option the file was trained with.
        file_format: str. `KERAS_APPLICATIONS_H5` or `TORCHVISION`.
        url: str. Where the file is published.
        file_hash: str. Its sha256 (64 hex digits) or, as its publisher gives it, md5 (32).
        url_notop, file_hash_notop: optional str. A smaller file without the classifier.
        preprocessing: `Preprocessing`.
        parameters: int. Trainable parameters of the network with its top.
        top1_error, top5_error: float. Published ImageNet validation errors, %.
        accuracy_protocol: str. How the published errors were measured.
        accuracy_source: str. Where they are published.
        source: str. Who trained the weights, and where they come from.
        license: str.
    """

    name: str
    model: str
    bottleneck_stride: str
    shortcut: str
    file_format: str
    url: str
    file_hash: str
    preprocessing: Preprocessing
    parameters: int
    top1_error: float
    top5_error: float
    accuracy_protocol: str
    accuracy_source: str
    source: str
    license: str
    url_notop: str = None
    file_hash_notop: str = None

    @property
    def key(self):
        return f"{self.model}.{self.name}"

    def file(self, include_top=True):
        """`(url, hash, file name)` of the file to fetch: the no-top file where there is one."""
        if not include_top and self.url_notop:
            url, file_hash = self.url_notop, self.file_hash_notop
        else:
            url, file_hash = self.url, self.file_hash
        name = url.rsplit("/", 1)[-1]
        if name == "model.safetensors":  # Hub files share one name: keep them apart in the cache.
            name = f"{self.model}_{self.name}.safetensors"
        return url, file_hash, name


def _msra(depth, parameters, top1, top5, md5_top, md5_notop):
    stem = f"resnet{depth}_weights_tf_dim_ordering_tf_kernels"
    return PretrainedWeights(
        name="msra",
        model=f"resnet{depth}",
        shortcut="B",
        bottleneck_stride=FORMAT_BOTTLENECK_STRIDE[KERAS_APPLICATIONS_H5],
        file_format=KERAS_APPLICATIONS_H5,
        url=f"{_MSRA_BASE}{stem}.h5",
        file_hash=md5_top,
        url_notop=f"{_MSRA_BASE}{stem}_notop.h5",
        file_hash_notop=md5_notop,
        preprocessing=CAFFE,
        parameters=parameters,
        top1_error=top1,
        top5_error=top5,
        accuracy_protocol="1 crop: centre 224×224 of the image resized to shorter side 256",
        accuracy_source=_MSRA_README,
        source="MSRA (the paper's authors): the released Caffe model, as keras.applications converted it",
        license="MIT",
    )


def _torchvision(depth, bottleneck, parameters, top1, top5, revision, sha256):
    return PretrainedWeights(
        name="torchvision_v1",
        model=f"resnet{depth}",
        shortcut="B",
        bottleneck_stride=FORMAT_BOTTLENECK_STRIDE[TORCHVISION] if bottleneck else None,
        file_format=TORCHVISION,
        url=_HUB.format(repo=f"resnet{depth}.tv_in1k", revision=revision),
        file_hash=sha256,
        preprocessing=TORCH,
        parameters=parameters,
        top1_error=top1,
        top5_error=top5,
        accuracy_protocol="1 crop: centre 224×224 of the image resized to shorter side 256",
        accuracy_source=_TORCHVISION_DOCS.format(depth=depth),
        source=f"torchvision `IMAGENET1K_V1`, as timm mirrors it (`resnet{depth}.tv_in1k`)",
        license="BSD-3-Clause",
    )


WEIGHTS = {
    entry.key: entry
    for entry in (
        _torchvision(
            18,
            False,
            11_689_512,
            30.242,
            10.922,
            "bbd144b3e5565108aad885f145491d11bc6ce807",
            "694f673df6520a3158624e8a89af086f59923ee4cd7436fe5bc3bc71d295ad81",
        ),
        _torchvision(
            34,
            False,
            21_797_672,
            26.686,
            8.580,
            "1b7b21cca82ff974d341713f777bf740c2db38c4",
            "0bb82595a564991a9d424708b33f5d843f5aaed7f6c0886ff10849ff97022235",
        ),
        _msra(50, 25_557_032, 24.7, 7.8, "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
        _torchvision(
            50,
            True,
            25_557_032,
            23.870,
            7.138,
            "78f3ecfdb38e06d9b8397f662e7ab8fee96026fa",
            "5d061a3c593d795bfe682d9b152bafbcf550579873492def3515b46db1189888",
        ),
        _msra(101, 44_549_160, 23.6, 7.1, "f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
        _msra(152, 60_192_808, 23.0, 6.7, "100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    )
}


def available(model=None):
    """`"resnet18: 'torchvision_v1'; …"`: what exists, for error messages."""
    by_model = {}
    for entry in WEIGHTS.values():
        if model is None or entry.model == model:
            layout = f" (bottleneck_stride={entry.bottleneck_stride!r})" if entry.bottleneck_stride else ""
            by_model.setdefault(entry.model, []).append(f"{entry.name!r}{layout}")
    return "; ".join(f"{m}: {', '.join(names)}" for m, names in by_model.items())


def find(model, name=DEFAULT, bottleneck_stride="1x1"):
    """The entry for network `model` (`"resnet50"`) named `name`, or its default file.

    Args:
        model: str. The zoo's name of a residual ImageNet net.
        name: str. `"imagenet"` (the file in `model`'s layout) or a source's name.
        bottleneck_stride: str. The layout of a bottleneck net. Defaults to `"1x1"`.

    Raises:
        ValueError: nothing fits; the message lists what is published.
    """
    candidates = [e for e in WEIGHTS.values() if e.model == model]
    if not candidates:
        raise ValueError(
            f"No pretrained weights for {model}. Published weights: {available()}. Received: weights={name!r}"
        )
    named = [e for e in candidates if name in (DEFAULT, e.name)]
    if not named:
        raise ValueError(
            f"No {name!r} weights for {model}. Published weights: {available(model)}. Received: weights={name!r}"
        )
    fitting = [e for e in named if e.bottleneck_stride in (None, bottleneck_stride)]
    if not fitting:
        raise ValueError(
            f"No {name!r} weights for {model} with bottleneck_stride={bottleneck_stride!r}. "
            f"Published weights: {available(model)}. Received: weights={name!r}"
        )
    return fitting[0]


def source_names():
    """The names `weights=` accepts besides `"imagenet"` and a path."""
    return sorted({entry.name for entry in WEIGHTS.values()})


def markdown_table():
    """The table of published weights in docs/pretrained.md, one row per file."""
    rows = [
        "| network | `weights=` | layout | parameters | top-1 / top-5 error %, 1 crop (published) | source | licence |",
        "|---|---|---|---:|---|---|---|",
    ]
    for e in WEIGHTS.values():
        layout = {None: "basic blocks", "1x1": "paper (stride in 1×1)", "3x3": 'v1.5 (`bottleneck_stride="3x3"`)'}
        rows.append(
            f"| `{e.model}` | `{e.name!r}` | {layout[e.bottleneck_stride]}, option {e.shortcut} | {e.parameters:,} "
            f"| [{e.top1_error:.2f} / {e.top5_error:.2f}]({e.accuracy_source}) | {e.source} | {e.license} |"
        )
    return "\n".join(rows) + "\n"
