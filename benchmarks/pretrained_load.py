"""Seconds to load ResNet-152's published weights from the Keras cache, beyond building the net.

No file can be downloaded here, so the benchmark writes a file of the same layout and size:
keras.applications' ResNet152 with its own random weights, saved in the Keras-2 HDF5 layout of
its published files (~240 MB), into a temporary Keras cache under the published file's name.
Each row is a fresh process: `ResNet152()` alone, then `ResNet152(weights="imagenet")`.

    python benchmarks/pretrained_load.py [--repeats=3]
"""

import argparse
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WRITE = """
import h5py, keras
from keras.src.legacy.saving import legacy_h5_format
model = keras.applications.ResNet152(weights=None)
with h5py.File({path!r}, "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)
"""

PROBE = """
import time, keras_resnet
start = time.perf_counter()
model = keras_resnet.ResNet152({weights})
print(f"{{time.perf_counter() - start:.2f}}")
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from keras_resnet.pretrained import download, registry

    entry = registry.WEIGHTS["resnet152.msra"]
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "KERAS_HOME": home}
        path = download.cache_path(entry.file()[2], home)
        os.makedirs(os.path.dirname(path))
        subprocess.run([sys.executable, "-c", WRITE.format(path=path)], check=True, env=env)
        # The stand-in file has its own hash: register it for this run only.
        patch = (
            f"from keras_resnet.pretrained import download, registry\n"
            f"import dataclasses\n"
            f"e = registry.WEIGHTS['resnet152.msra']\n"
            f"registry.WEIGHTS[e.key] = dataclasses.replace(e, file_hash={_sha256(path)!r})\n"
        )
        print(f"file: {os.path.getsize(path) / 1e6:.0f} MB in the Keras cache")
        print("| run | build only (s) | build + load from the cache (s) | load (s) |\n|---|---:|---:|---:|")
        for run in range(args.repeats):
            times = []
            for weights in ("", "weights='imagenet'"):
                out = subprocess.run(
                    [sys.executable, "-c", patch + PROBE.format(weights=weights)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()
                times.append(float(out[-1]))
            print(f"| {run + 1} | {times[0]:.2f} | {times[1]:.2f} | {times[1] - times[0]:.2f} |", flush=True)


def _sha256(path):
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


if __name__ == "__main__":
    main()
