"""`keras_resnet.paper` (what users see) against the tests' own transcription of the paper."""

from test_models_flops import TABLE_1_GFLOPS
from test_models_params import TABLE_6_MILLIONS

from keras_resnet import paper


def test_table_1_flops():
    assert paper.TABLE_1_GFLOPS == TABLE_1_GFLOPS


def test_table_6_parameters_and_errors():
    assert {name: params for name, (params, _) in paper.TABLE_6.items()} == {
        f"resnet{depth}": millions for depth, millions in TABLE_6_MILLIONS.items()
    }
    errors = {
        "resnet20": 8.75,
        "resnet32": 7.51,
        "resnet44": 7.17,
        "resnet56": 6.97,
        "resnet110": 6.43,
        "resnet1202": 7.93,
    }
    assert {name: error for name, (_, error) in paper.TABLE_6.items()} == errors


def test_imagenet_errors():
    assert paper.TABLE_3["resnet34_A"][0] == paper.TABLE_2_TOP1["resnet34"] == 25.03
    assert paper.TABLE_3["resnet50"] == (22.85, 6.71)
    assert paper.TABLE_3["resnet152"] == (21.43, 5.71)
    assert paper.TABLE_4["resnet152"] == (19.38, 4.49)
