"""Every flag of every recipe, given a bad value, ends the run with one line naming the flag and the
value, exit status 2, no traceback, nothing written or changed (an earlier run's workdir included),
and no training or evaluation started.

The cases are the table in `tests/flag_sweep.py`; it runs them all in one process per recipe (one
TensorFlow or JAX import instead of one per case) and reports the flags the recipe defines, so a
flag added without a case fails here.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(ROOT, "tests", "flag_sweep.py")
# The CIFAR recipes need no TensorFlow on JAX (TFDS imports it for the --dataset cases); the ImageNet
# recipe reads its data with tf.data.
BACKENDS = {"cifar10": "jax", "degradation": "jax", "imagenet": "tensorflow"}


def sweep(recipe, tmp_path):
    out = tmp_path / f"{recipe}.json"
    env = dict(
        os.environ,
        KERAS_BACKEND=BACKENDS[recipe],
        TF_CPP_MIN_LOG_LEVEL="3",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",  # Two JAX devices: cases that need two replicas.
        PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
    )
    result = subprocess.run(
        [sys.executable, RUNNER, recipe, str(out)], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


def problems(case):
    """What is wrong with one case's outcome, as short phrases (none: it passed)."""
    lines = [line for line in case["stderr"].splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    found = []
    if case["status"] != 2:
        found.append(f"exit status {case['status']}")
    if len(lines) != 1:
        found.append(f"{len(lines)} stderr lines, not one")
    if not last.startswith("error: "):
        found.append("last stderr line is not 'error: …'")
    if any(words not in last for words in case["names"] or [f"--{case['flag']}", case["value"]]):
        found.append("the line does not name the flag and the value")
    for words in [case["expect"]] if isinstance(case["expect"], str) else case["expect"]:
        if words not in last:
            found.append(f"the line does not say {words!r}")
    if "Traceback" in case["stderr"]:
        found.append("a traceback")
    if case["workdir_created"]:
        found.append("the workdir was created")
    if case["written"]:
        found.append(f"files written: {case['written'][:3]}")
    if case["changed"]:
        found.append(f"files changed or removed: {case['changed'][:3]}")
    if case["loops"]:
        found.append(f"{case['loops']} training or evaluation loops started")
    return found


@pytest.mark.parametrize("recipe", sorted(BACKENDS))
def test_every_flag_has_bad_value_cases_and_each_is_one_line_with_status_2(recipe, tmp_path):
    report = sweep(recipe, tmp_path)
    assert report["missing"] == [], f"{recipe} flags without a bad-value case in tests/flag_sweep.py CASES"
    assert report["stale"] == [], f"CASES rows for flags {recipe} does not define"
    assert len(report["results"]) >= len(report["flags"])
    failures = [
        f"{' '.join(case['argv'])}\n    {'; '.join(found)}\n    stderr: {case['stderr'].strip()[-400:]}"
        for case in report["results"]
        if (found := problems(case))
    ]
    assert not failures, f"{len(failures)} of {len(report['results'])} {recipe} cases:\n" + "\n".join(failures)
    # A value of the wrong type, through the recipe's own `app.run`: the process's whole stderr
    # (the recipe's imports included) is absl's one line, and the status is 2.
    entry = report["entry"]
    assert report["import_stderr"] == "" and problems(entry) == [], (report["import_stderr"][-400:], problems(entry))
    assert entry["stderr"].startswith(f"error: flag --{entry['flag']}={entry['value']}: "), entry["stderr"]
