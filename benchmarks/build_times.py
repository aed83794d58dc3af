"""Seconds to build each registered network symbolically (no forward pass), one fresh process each.

python benchmarks/build_times.py                 # every constructor
python benchmarks/build_times.py resnet50 resnet152
"""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROBE = """
import time, keras, keras_resnet
start = time.perf_counter()
model = keras_resnet.MODELS[{name!r}]()
print(f"{{time.perf_counter() - start:.2f}} {{len(model.layers)}}")
"""


def main(names):
    import keras_resnet

    names = names or list(keras_resnet.MODELS)
    print(f"backend: {os.environ.get('KERAS_BACKEND', 'tensorflow')}")
    print("| model | layers | build (s) |\n|---|---:|---:|")
    for name in names:
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(name=name)], capture_output=True, text=True, check=True
        ).stdout.split()
        print(f"| {name} | {out[1]} | {out[0]} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
