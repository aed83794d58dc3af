"""Smoke test of `benchmarks/train_throughput.py`: it runs on the tiniest setting, in two rounds,
and writes its JSON; its ratios are medians of the rounds' ratios; its timed window leaves out each
`fit`'s first step (on a clock that ticks once a step). Benchmarks are not tests: no timing is asserted."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


@pytest.mark.system
def test_train_throughput_smoke(tmp_path):
    out = tmp_path / "throughput.json"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [
        sys.executable,
        os.path.join(ROOT, "benchmarks", "train_throughput.py"),
        "--models=resnet8",
        "--paths=a,b",
        "--batch_size=8",
        "--steps=2",
        "--warmup_steps=1",
        "--rounds=2",
        f"--json_out={out}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["settings"]["backend"] == "tensorflow"
    assert [(r["model"], r["path"]) for r in result["rows"]] == [("resnet8", "a"), ("resnet8", "b")]
    for row in result["rows"]:
        assert "error" not in row, row
        assert {"images_per_second", "peak_memory_mib", "memory_kind", "ratio_to_b", "ratio_to_d"} <= set(row)
        assert row["ratio_to_d"] is None  # No torchvision counterpart for a CIFAR net.
        assert len(row["runs"]) == 2 and row["images_per_second"] == max(row["runs"])  # The faster round.
    assert result["rows"][1]["ratio_to_b"] == 1.0
    assert result["table"].count("\n| resnet8 |") == 2


def test_a_ratio_is_the_median_of_the_rounds_ratios():
    from train_throughput import add_ratios

    rows = [dict(model="m", path="a", runs=[2.0, 3.0, 9.0]), dict(model="m", path="b", runs=[4.0, 3.0, 3.0])]
    add_ratios(rows)
    assert rows[0]["ratio_to_b"] == 1.0  # Rounds 0.5, 1, 3; the fastest turns' ratio would be 9 / 4.
    assert rows[0]["ratio_to_e"] is None and rows[1]["ratio_to_b"] == 1.0


def test_a_timed_window_leaves_out_each_fits_first_step(monkeypatch):
    import keras
    import numpy as np
    import tensorflow as tf
    import train_throughput

    clock = [0.0]

    class OneSecondAStep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            clock[0] += 1.0

    monkeypatch.setattr(train_throughput.time, "perf_counter", lambda: clock[0])
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    batch = (np.ones((4, 2), "float32"), np.zeros((4, 1), "float32"))
    window = train_throughput.fit_window(
        model, lambda: tf.data.Dataset.from_tensors(batch).repeat(), 3, 1, [OneSecondAStep()], repeats=2
    )
    assert window() == 3.0  # Each fit runs 4 steps; its first is not timed.
