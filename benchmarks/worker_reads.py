"""What each worker of a job reads from TFRecords, at growing sizes, extrapolated to ImageNet.

Writes TFRecord files of 1,251 records each (ImageNet's 1024 training shards) of `--record_kb`
KB of random bytes, at each size. Then, per size:

- **index**: the one-off walk over the record headers that learns each record's offset
  (`RecordSplit.index_records`: what each worker of a job does once, kept in its directory);
- **pass order**: the time to place one pass's records in read order (`order.pass_read_order`),
  which every worker does once per pass;
- **bytes per worker**: the bytes one pass of the training stream reads (`/proc/self/io`
  `rchar`, the kernel's count) in one worker alone (file by file) and in each of `--workers`
  workers (each its own records, read one by one), as a fraction of the data's size;
- **records/s**: each reader's speed on one core, reads only (no decoding).

  python benchmarks/worker_reads.py --sizes=5004,20016,80064 --workers=4 --root=/tmp/worker_reads
"""

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

IMAGENET = 1_281_167
RECORDS_PER_FILE = 1251


def _bytes_read():
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar"))


def write(directory, size, record_kb):
    import tensorflow as tf

    os.makedirs(directory, exist_ok=True)
    payload = np.random.default_rng(0).integers(0, 256, record_kb * 1024, dtype=np.uint8).tobytes()
    files = []
    for index, first in enumerate(range(0, size, RECORDS_PER_FILE)):
        files.append(os.path.join(directory, f"train-{index:05d}"))
        if not os.path.exists(files[-1]):
            with tf.io.TFRecordWriter(files[-1]) as writer:
                for record in range(first, min(size, first + RECORDS_PER_FILE)):
                    writer.write(record.to_bytes(8, "little") + payload)
    return files


def measure(files, workers, interleave_files, window):
    import tensorflow as tf

    from keras_resnet.imagenet import order, records

    split = records.RecordSplit(files, lambda r: (r, tf.constant(0)), name="--tfrecords")
    began = time.time()
    split.index_records()
    index_s = time.time() - began
    size, total = split.size, sum(os.path.getsize(f) for f in files)
    cycle = min(interleave_files, len(files))
    order.pass_read_order(split, 1, 0, cycle)  # Once before timing: TensorFlow's first calls.
    began = time.time()
    order.pass_read_order(split, 1, 1, cycle).numpy()
    pass_order_s = time.time() - began
    figures = {"records": size, "gb": total / 1e9, "index_s": index_s, "pass_order_s": pass_order_s}
    for name, shares in (("one", [None]), ("each", [(256 // workers, workers, i) for i in range(workers)])):
        reads, seconds = [], []
        for share in shares:
            count = size if share is None else len([p for p in range(size) if (p // share[0]) % workers == share[2]])
            stream = order.training_stream(
                split, 1, 0, interleave_files=interleave_files, window=window, share=share
            ).take(count)
            before, began = _bytes_read(), time.time()
            for _ in stream:
                pass
            seconds.append(time.time() - began)
            reads.append((_bytes_read() - before) / total)
        figures[f"{name}_read"] = max(reads)
        figures[f"{name}_sum"] = sum(reads)
        figures[f"{name}_records_s"] = size / len(shares) / np.mean(seconds)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5004,20016,80064")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--record_kb", type=int, default=16)
    parser.add_argument("--interleave_files", type=int, default=64)
    parser.add_argument("--window", type=int, default=10000)
    parser.add_argument("--root", default="/tmp/worker_reads")
    args = parser.parse_args()
    rows = []
    for size in map(int, args.sizes.split(",")):
        files = write(os.path.join(args.root, str(size)), size, args.record_kb)
        rows.append(measure(files, args.workers, args.interleave_files, args.window))
    w = args.workers
    print(
        f"| records | GB | index walk s | pass order s | one worker reads | each of {w} reads | {w} together "
        "| records/s one (file by file) | records/s each (by offset) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['records']:,} | {r['gb']:.2f} | {r['index_s']:.2f} | {r['pass_order_s']:.3f} | "
            f"{r['one_read']:.3f}× | {r['each_read']:.3f}× | {r['each_sum']:.3f}× | "
            f"{r['one_records_s']:,.0f} | {r['each_records_s']:,.0f} |"
        )
    sizes = np.array([r["records"] for r in rows], float)
    for key, label in (("index_s", "index walk"), ("pass_order_s", "pass order")):
        slope = np.polyfit(sizes, [r[key] for r in rows], 1)[0]
        print(f"{label}: {slope * 1e6:.2f} µs a record → {slope * IMAGENET:.1f} s for {IMAGENET:,} records")


if __name__ == "__main__":
    main()
