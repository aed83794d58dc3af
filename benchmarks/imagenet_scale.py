"""The ImageNet recipe at growing data sizes, extrapolated to ImageNet's 1,281,167 training images.

Generates ImageNet-like data at each size: 1000 class folders of 500×375 noise JPEGs of about
115 KB (ImageNet's average file size; a few distinct images written many times, so generating is
cheap), and the same images as TFRecords in files of 1,251 records (ImageNet's 1024 shards). Then,
for each size and source:

- **peak RSS** and **time to the first step** of `recipes/imagenet.py --model=tiny` in a fresh
  process (`--mean=pixel`, the default: the per-pixel mean pass over the whole training set is
  part of the start-up), its first step at the paper's batch of 256;
- **pixel mean** images/s: the mean pass alone (all cores), and the time to list or count the data;
- **stream** images/s: the training stream alone (order, file reads, no decoding);
- **rerun read**: the bytes a rerun reads before its first batch when resuming in pass 100
  (`KERAS_RESNET_SCALE_PASS`), counted by the kernel (`/proc/self/io`).

Prints a markdown table, the per-image slopes fitted over the sizes, and their extrapolation to
1,281,167 images. `--checkout` runs another checkout's recipe (e.g. an older version, for a
before/after figure); the stream figures need this version's `keras_resnet.imagenet.order`.

  python benchmarks/imagenet_scale.py --sizes=2000,8000,20000 --root=/tmp/imagenet_scale
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

IMAGENET = 1_281_167
RECORDS_PER_FILE = 1251
CLASSES = 1000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STREAM_PROBE = r"""
import json, os, sys, time
import tensorflow as tf
from keras_resnet.imagenet import config, input_pipeline, order, pixel_mean, sources
kind, path, late_pass, window = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def read():
    with open(f"/proc/{os.getpid()}/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar"))
began = time.time()
source = sources.folder_source(path) if kind == "folder" else sources.tfrecord_source(path)
source.count_records()
index_s = time.time() - began
split = source.split("train")
cfg = config.imagenet(mean="channel", shuffle_buffer=window)
began = time.time()
pixel_mean.compute_pixel_mean(source, cfg)
mean_rate = split.size / (time.time() - began)
stream = order.training_stream(split, 0, 0, interleave_files=cfg.interleave_files, window=cfg.shuffle_buffer)
stream = stream.map(lambda p, e, payload: split.load(payload), num_parallel_calls=tf.data.AUTOTUNE)
it = iter(stream.prefetch(64))
for _ in range(500):
    next(it)
began, count = time.time(), min(split.size, 5000)
for _ in range(count):
    next(it)
rate = count / (time.time() - began)
start_step = late_pass * split.size // cfg.batch_size + 7  # Pass 100, a few steps in.
before = read()
next(iter(input_pipeline.train_dataset(source, cfg, cfg.batch_size, seed=0, start_step=start_step)))
print(json.dumps({"index_s": index_s, "mean_images_per_s": mean_rate, "stream_images_per_s": rate,
                  "rerun_bytes": read() - before}))
"""


def generate(root, size, distinct=64, seed=0):
    """`root/folder/train/<class>/*.JPEG` and `root/records/train-*`, `size` images."""
    folder, records = os.path.join(root, "folder"), os.path.join(root, "records")
    if os.path.exists(os.path.join(root, "done")):
        return folder, records
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    images = [
        tf.io.encode_jpeg(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8), quality=75).numpy()
        for _ in range(distinct)
    ]
    names = []
    for c in range(CLASSES):
        os.makedirs(os.path.join(folder, "train", f"n{c:08d}"), exist_ok=True)
    for i in range(size):
        c = i % CLASSES
        path = os.path.join(folder, "train", f"n{c:08d}", f"n{c:08d}_{i}.JPEG")
        with open(path, "wb") as f:
            f.write(images[i % distinct])
        names.append((i % distinct, c))
    os.makedirs(records, exist_ok=True)
    order = rng.permutation(size)  # Records pre-shuffled across files, as conversions write them.
    files = -(-size // RECORDS_PER_FILE)
    for index in range(files):
        with tf.io.TFRecordWriter(os.path.join(records, f"train-{index:05d}-of-{files:05d}")) as writer:
            for i in order[index * RECORDS_PER_FILE : (index + 1) * RECORDS_PER_FILE]:
                image, label = names[i]
                writer.write(
                    tf.train.Example(
                        features=tf.train.Features(
                            feature={
                                "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[images[image]])),
                                "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                            }
                        )
                    ).SerializeToString()
                )
    open(os.path.join(root, "done"), "w").close()
    return folder, records


def run_recipe(checkout, flag, path, workdir, window):
    """Seconds to the first step, seconds in all, and peak RSS (GiB) of a fresh recipe process."""
    # oneDNN's kernels crash (SIGSEGV) on the tiny net's training step at 224×224 with TensorFlow 2.21 on
    # some x86 CPUs; the standard kernels are used here, which changes nothing of the input side measured.
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": checkout,
        "KERAS_BACKEND": "tensorflow",
        "TF_ENABLE_ONEDNN_OPTS": "0",
    }
    command = [
        sys.executable,
        os.path.join(checkout, "recipes", "imagenet.py"),
        "--model=tiny",
        f"{flag}={path}",
        f"--workdir={workdir}",
        "--train_steps=3",
        "--eval_every=3",
        f"--shuffle_buffer={window}",
    ]
    began = time.time()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=checkout
    )
    first = None
    for line in process.stdout:
        if first is None and "first step done" in line:
            first = time.time() - began
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {stderr[-1500:]}")
    return first, time.time() - began, usage.ru_maxrss / 2**20


def probe_stream(kind, path, late_pass, window):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
    result = subprocess.run(
        [sys.executable, "-c", STREAM_PROBE, kind, path, str(late_pass), str(window)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(result.stderr[-1500:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def fit(sizes, values):
    """`(intercept, slope)` of a least-squares line through `(sizes, values)`."""
    slope, intercept = np.polyfit(np.asarray(sizes, float), np.asarray(values, float), 1)
    return intercept, slope


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,8000,20000")
    parser.add_argument("--kinds", default="folder,tfrecords")
    parser.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "imagenet_scale"))
    parser.add_argument("--checkout", default=ROOT, help="the checkout whose recipe runs")
    parser.add_argument("--late_pass", type=int, default=100)
    parser.add_argument("--shuffle_buffer", type=int, default=10000, help="the records' window (the recipe's default)")
    parser.add_argument("--cores", type=int, default=16, help="cores of the host to extrapolate the start-up to")
    parser.add_argument("--no_stream", action="store_true", help="skip the stream figures (for an older checkout)")
    parser.add_argument("--json_out")
    parser.add_argument("--tables_from", help="print the tables of earlier runs' --json_out files (comma-separated)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = args.kinds.split(",")
    flags = {"folder": "--image_folder", "tfrecords": "--tfrecords"}
    rows = []
    if args.tables_from:
        for path in args.tables_from.split(","):
            with open(path) as f:
                rows += json.load(f)
        kinds, sizes = list(dict.fromkeys(r["kind"] for r in rows)), []
    for size in sizes:
        folder, records = generate(os.path.join(args.root, str(size)), size)
        for kind in kinds:
            path = folder if kind == "folder" else records
            workdir = tempfile.mkdtemp(prefix=f"run_{kind}_{size}_")
            first, total, rss = run_recipe(args.checkout, flags[kind], path, workdir, args.shuffle_buffer)
            row = {"kind": kind, "images": size, "first_step_s": first, "run_s": total, "peak_rss_gib": rss}
            if not args.no_stream:
                row.update(probe_stream(kind, path, args.late_pass, args.shuffle_buffer))
            rows.append(row)
            print(json.dumps(row), flush=True)
    cores = os.cpu_count()
    print(
        f"\n{cores}-core CPU; `recipes/imagenet.py --model=tiny`, batch 256, the per-pixel mean over the whole "
        f"training set; records: `--shuffle_buffer={args.shuffle_buffer}`.\n"
    )
    print(
        "| source | training images | peak RSS | time to first step | pixel mean | stream (no decode) | "
        f"a rerun in pass {args.late_pass} reads |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        mean = f"{row['mean_images_per_s']:,.0f} img/s" if "mean_images_per_s" in row else "–"
        stream = f"{row['stream_images_per_s']:,.0f} img/s" if "stream_images_per_s" in row else "–"
        rerun = f"{row['rerun_bytes'] / 2**20:,.0f} MiB" if "rerun_bytes" in row else "–"
        print(
            f"| {row['kind']} | {row['images']:,} | {row['peak_rss_gib']:.2f} GiB | {row['first_step_s']:.1f} s | "
            f"{mean} | {stream} | {rerun} |"
        )
    print(
        f"\nExtrapolated to {IMAGENET:,} images: memory from the largest size at the least-squares slope; the start-up as the "
        f"listing (or counting) and the mean pass at their measured rates (decoding scales with cores), plus the "
        f"rest of the start-up (TensorFlow, the model, compiling, the first batch):\n"
    )
    print(f"| source | peak RSS | per 1k images | time to first step, {cores} cores | on {args.cores} cores |")
    print("|---|---:|---:|---:|---:|")
    for kind in kinds:
        mine = [r for r in rows if r["kind"] == kind]
        if len(mine) < 2:
            print(f"| {kind} | – | – | – | – |")
            continue
        _, slope = fit([r["images"] for r in mine], [r["peak_rss_gib"] for r in mine])
        # From the largest size on at the fitted slope; a slope under zero is noise, taken as zero.
        rss = mine[-1]["peak_rss_gib"] + max(slope, 0.0) * (IMAGENET - mine[-1]["images"])
        line = f"| {kind} | {rss:.2f} GiB | {slope * 1000 * 1024:+.1f} MiB |"
        if all("mean_images_per_s" in r for r in mine):
            # The least disturbed figures (other load on the machine only slows a run down): the
            # best mean-pass rate, the largest size's listing or counting rate, the smallest rest.
            rate = max(r["mean_images_per_s"] for r in mine)
            index = mine[-1]["index_s"] * IMAGENET / mine[-1]["images"]
            rest = max(0.0, min(r["first_step_s"] - r["images"] / rate - r["index_s"] for r in mine))
            here = rest + index + IMAGENET / rate
            there = rest + index + IMAGENET / rate * cores / args.cores
            line += f" {here:,.0f} s | {there:,.0f} s |"
        else:
            line += " – | – |"
        print(line)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
