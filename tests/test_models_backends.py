"""The models on the JAX and PyTorch backends, each in its own process."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

TESTS = pathlib.Path(__file__).parent


def run_backend_check(backend):
    path = os.pathsep.join([str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": path}
    result = subprocess.run(
        [sys.executable, str(TESTS / "backend_check.py")], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.system
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_small_cifar_net_builds_runs_trains_and_saves_on_jax():
    output = run_backend_check("jax")
    assert "backend ok: jax" in output
    assert "tensorflow imported: False" in output


@pytest.mark.system
@pytest.mark.torch
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_small_cifar_net_builds_runs_trains_and_saves_on_torch():
    output = run_backend_check("torch")
    assert "backend ok: torch" in output
    assert "tensorflow imported: False" in output
