"""The claims of the README and the docs pages that come from the code."""

import pathlib
import re

import pytest
from model_checks import build

import keras_resnet
from keras_resnet.table import markdown_table

ROOT = pathlib.Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
NETWORKS = (ROOT / "docs" / "networks.md").read_text()  # The table of every constructor.


@pytest.mark.system  # Every registered net, the deepest included.
def test_docs_constructor_table_is_the_generated_one():
    table = re.search(r"<!-- table:start -->\n(.*?)<!-- table:end -->", NETWORKS, re.S).group(1)
    assert table == markdown_table(build=build)


def test_readme_resnet34_figures():
    model = build("resnet34", shortcut="B")
    assert "21,797,672 parameters" in README
    assert f"{keras_resnet.flops(model):,} multiply-adds" in README
