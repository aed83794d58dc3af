"""The ImageNet training stream's order at any size: a fresh global order every pass, the same on
every machine and after a resume, a resume that seeks, and no stage that holds the data set."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_resnet.errors import DataError
from keras_resnet.imagenet import config, cropping, input_pipeline, order, pixel_mean, records, sources, synthetic
from keras_resnet.training import faults

SMALL = config.imagenet(image_size=16, scale_range=(20, 30), eval_resize=20, mean="channel")
# Class-sorted records: file f holds 6 records of class f (as some conversions write them).
SORTED_LABELS = [[f] * 6 for f in range(8)]


@pytest.fixture
def folder(image_folder):
    return image_folder(train=5, val=0, shape=(24, 30), jitter=0)


@pytest.fixture(scope="module")
def sorted_records(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("records"))
    synthetic.write_tfrecords(root, "train", SORTED_LABELS, shape=(24, 30))
    return root


LENGTHS = [5, 1, 7, 3, 0, 9, 2, 4, 6]


def _write_records(root, lengths, record_bytes):
    """Bare records of files of `lengths` records, each a payload naming its file and place."""
    files = []
    for index, length in enumerate(lengths):
        files.append(str(root / f"train-{index:05d}"))
        with tf.io.TFRecordWriter(files[-1]) as writer:
            for record in range(length):
                writer.write(f"{index}:{record}:".encode().ljust(record_bytes, b"."))
    return files


@pytest.fixture(scope="module")
def uneven_records(tmp_path_factory):
    """Files of uneven lengths, one empty."""
    return _write_records(tmp_path_factory.mktemp("uneven"), LENGTHS, 100)


def _bare_split(files):
    return records.RecordSplit(files, lambda record: (record, tf.constant(0)), name="--tfrecords")


def test_each_folder_pass_is_a_permutation_drawn_from_the_seed_and_the_pass(folder):
    split = sources.folder_source(folder).split("train")
    size = split.size
    stream = order.stream_examples(split, seed=11, positions=4 * size)
    passes = stream.reshape(4, size)
    for number, one in enumerate(passes):
        assert sorted(one) == list(range(size))
        # The permutation over indices that index_shuffle draws from (seed, pass).
        expected = tf.random.experimental.index_shuffle(
            tf.range(size, dtype=tf.int64), tf.constant([11, number], tf.int64), size - 1
        )
        np.testing.assert_array_equal(one, expected.numpy())
    assert all((passes[i] != passes[i + 1]).any() for i in range(3))
    assert (order.stream_examples(split, seed=12, positions=size) != passes[0]).any()


def test_record_passes_are_permutations_in_which_files_change_partners(uneven_records):
    split = _bare_split(uneven_records)
    split.count_records()
    size = split.size
    passes = order.stream_examples(split, seed=3, positions=3 * size, interleave_files=3, window=8).reshape(3, size)
    for one in passes:
        assert sorted(one) == list(range(size))
    assert all((passes[i] != passes[i + 1]).any() for i in range(2))
    # Which file's records share a window with which, pass by pass: the partners change.
    file_of = np.repeat(np.arange(len(split.files)), split.lengths)
    partners = [{frozenset(file_of[one[w : w + 8]]) for w in range(0, size, 8)} for one in passes]
    assert partners[0] != partners[1] != partners[2]


def test_each_record_window_is_a_permutation_of_the_files_read_in_turn(uneven_records):
    """Pass 0 by hand: the pass's files in groups of 3, one record from each in turn; windows of 8."""
    split = _bare_split(uneven_records)
    lengths, starts = split.count_records(), split.starts
    files = order.file_order(len(lengths), 13, 0).numpy()
    by_hand = []
    for first in range(0, len(files), 3):
        group = files[first : first + 3]
        for record in range(max(lengths[group])):
            by_hand += [starts[f] + record for f in group if record < lengths[f]]
    stream = order.stream_examples(split, 13, split.size, interleave_files=3, window=8)
    for window in range(0, split.size, 8):
        assert sorted(stream[window : window + 8]) == sorted(by_hand[window : window + 8])
    assert (stream != np.array(by_hand)).mean() > 0.5  # Permuted within each window.


def test_class_sorted_records_give_mixed_batches(sorted_records):
    source = sources.tfrecord_source(sorted_records, num_classes=8)
    cfg = SMALL.replace(interleave_files=4, shuffle_buffer=8)
    labels = [y for _, y in input_pipeline.train_dataset(source, cfg, 8, seed=1).take(12).as_numpy_iterator()]
    # Every window of 8 holds 2 records from each of 4 files (classes); every batch is one window.
    assert [len(set(y)) for y in labels] == [4] * 12
    # Over 2 passes, each class sits beside more than the 3 others of one fixed group.
    neighbours = {c: set() for c in range(8)}
    for y in labels:
        for c in y:
            neighbours[c] |= set(y) - {c}
    assert min(len(n) for n in neighbours.values()) > 3


@pytest.mark.parametrize("threads", [1, 2])
def test_the_order_does_not_depend_on_threads(uneven_records, threads):
    split = _bare_split(uneven_records)
    split.count_records()
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    stream = order.training_stream(split, 5, 0, interleave_files=4, window=6).take(2 * split.size).with_options(options)
    got = [int(e) for _, e, _ in stream.as_numpy_iterator()]
    # Each record names its own file and place: the example index is where it really lies.
    starts = split.starts
    records = [payload for _, _, payload in stream.as_numpy_iterator()]
    assert [int(starts[int(r.split(b":")[0])]) + int(r.split(b":")[1]) for r in records] == got
    assert got == order.stream_examples(split, 5, 2 * split.size, interleave_files=4, window=6).tolist()


def test_a_resumed_record_stream_is_the_uninterrupted_one_from_any_position(uneven_records):
    split = _bare_split(uneven_records)
    split.count_records()
    size = split.size
    whole = order.stream_examples(split, 9, 3 * size, interleave_files=3, window=8)
    # Window, group and pass boundaries, and places between them.
    for start in sorted({0, 1, 7, 8, 9, size - 1, size, size + 1, 2 * size, *range(2, 2 * size, 11)}):
        resumed = order.stream_examples(split, 9, 3 * size - start, start=start, interleave_files=3, window=8)
        np.testing.assert_array_equal(resumed, whole[start:], err_msg=f"resumed at {start}")


def test_a_resumed_folder_stream_is_the_uninterrupted_one(folder):
    split = sources.folder_source(folder).split("train")
    whole = order.stream_examples(split, 2, 3 * split.size)
    for start in (1, split.size - 1, split.size, 2 * split.size + 4):
        np.testing.assert_array_equal(
            order.stream_examples(split, 2, 3 * split.size - start, start=start), whole[start:]
        )


def _bytes_read():
    with open(f"/proc/{os.getpid()}/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar"))


def test_a_resume_reads_about_one_window_wherever_it_resumes(tmp_path):
    """A rerun seeks: it reads the window that holds its position (and what it reads ahead),
    however far the run had got, never the records before it."""
    record = 50_000
    split = _bare_split(_write_records(tmp_path, [4 * n for n in LENGTHS], record))
    split.count_records()
    size = split.size
    read = {}
    for start in (0, 3, 70, size + 20, 7 * size + 30):
        stream = order.training_stream(split, 4, start, interleave_files=3, window=8)
        before = _bytes_read()
        next(iter(stream))
        read[start] = _bytes_read() - before
    assert max(read.values()) < size * record / 4, (read, size * record)


def test_no_stage_holds_more_than_the_window(tmp_path):
    """The first batch of a stream over 24 MB of JPEGs comes out after reading a few files."""
    rng = np.random.default_rng(0)
    noise = [synthetic.encode_jpeg(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8), quality=95) for _ in range(4)]
    for c in range(4):
        os.makedirs(tmp_path / "train" / f"n{c:08d}")
        for i in range(25):
            (tmp_path / "train" / f"n{c:08d}" / f"{i}.JPEG").write_bytes(noise[(c + i) % 4])
    total = 100 * len(noise[0])
    source = sources.folder_source(str(tmp_path))
    before = _bytes_read()
    next(iter(input_pipeline.train_dataset(source, SMALL, 2, seed=1)))
    # Parallel reads and prefetching run ahead by some batches, never by the data set.
    assert _bytes_read() - before < total / 3, (_bytes_read() - before, total)


def test_trace_lines_carry_each_batchs_examples(folder, tmp_path, monkeypatch):
    trace = tmp_path / "trace.jsonl"
    monkeypatch.setenv(faults.TRACE_ENV, str(trace))
    source = sources.folder_source(folder)
    labels = [
        y for _, y in input_pipeline.train_dataset(source, SMALL, 5, seed=6, start_step=2).take(4).as_numpy_iterator()
    ]
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    batches = {line["batch"]: line["examples"] for line in lines}
    expected = order.stream_examples(source.split("train"), 6, 20, start=10).reshape(4, 5)
    assert [batches[10 + 5 * i] for i in range(4)] == expected.tolist()
    split = source.split("train")
    assert [y.tolist() for y in labels] == split.labels[expected].tolist()


def test_record_counts_are_read_from_headers_and_cached(uneven_records, tmp_path, monkeypatch):
    split = _bare_split(uneven_records)
    assert split.count_records(str(tmp_path)).tolist() == LENGTHS
    assert [sum(1 for _ in tf.data.TFRecordDataset(f)) for f in uneven_records] == split.lengths.tolist()
    monkeypatch.setattr(records, "tfrecord_offsets", lambda *a: pytest.fail("counted again"))
    assert _bare_split(uneven_records).count_records(str(tmp_path)).tolist() == split.lengths.tolist()


def _share(split, seed, start, share, **options):
    """`{position: (example, payload)}` of the share's positions of the first three passes."""
    block, shards, index = share
    count = len([p for p in range(start, 3 * split.size) if (p // block) % shards == index])
    stream = order.training_stream(split, seed, start, share=share, **options).take(count)
    return {int(p): (int(e), payload) for p, e, payload in stream.as_numpy_iterator()}


# Two in the in-process tier; blocks of one image and one worker alone in the system tier.
SHARES = [(3, 2), (4, 4), pytest.param(1, 3, marks=pytest.mark.system), pytest.param(5, 1, marks=pytest.mark.system)]


@pytest.mark.parametrize("block, shards", SHARES)
def test_the_shares_of_a_stream_are_the_whole_stream_at_their_positions(uneven_records, folder, block, shards):
    """Worker i's share, placed by arithmetic and read record by record at its offsets, holds the
    same examples and bytes as the stream read file by file, from any step and across passes."""
    options = dict(interleave_files=3, window=8)
    for split in (_bare_split(uneven_records), sources.folder_source(folder).split("train")):
        if not split.random_access:
            split.count_records()
        whole = order.training_stream(split, 9, 0, **options).take(3 * split.size).as_numpy_iterator()
        whole = {int(p): (int(e), payload) for p, e, payload in whole}
        # Starts at block boundaries, and (a rerun's pixel-mean sample) inside a block.
        for start in sorted({0, block * shards, 3 * block * shards, 5 * block * shards, 7}):
            got = {}
            for index in range(shards):
                mine = _share(split, 9, start, (block, shards, index), **options)
                assert all((p // block) % shards == index for p in mine)
                got.update(mine)
            assert got == {p: e for p, e in whole.items() if p >= start}, (split, block, shards, start)


def test_each_share_reads_its_own_records_and_no_others(tmp_path):
    """Bytes read (the process's read calls): each of two workers reads exactly its records'
    bytes, the two together the data set's, once a pass; the whole stream read by one worker
    reads it all."""
    split = _bare_split(_write_records(tmp_path, [4 * n for n in LENGTHS], 50_000))
    split.count_records()
    offsets = split.index_records()
    file_index = np.searchsorted(split.starts, np.arange(split.size), side="right") - 1
    slot = np.arange(split.size) + file_index
    record_bytes = offsets[slot + 1] - offsets[slot]
    total = int(record_bytes.sum())
    read = {}
    for share in (None, (4, 2, 0), (4, 2, 1)):
        block, shards, index = share or (1, 1, 0)
        stream = order.training_stream(split, 3, 0, interleave_files=3, window=8, share=share)
        count = len([p for p in range(split.size) if (p // block) % shards == index])
        before = _bytes_read()
        examples = [int(e) for _, e, _ in stream.take(count).as_numpy_iterator()]
        read[share] = _bytes_read() - before
        mine = int(record_bytes[examples].sum())
        assert mine - 1000 < read[share] < mine + total / 50, (share, read[share], mine, total)
    assert read[(4, 2, 0)] < 0.6 * total and read[(4, 2, 1)] < 0.6 * total
    assert read[(4, 2, 0)] + read[(4, 2, 1)] < 1.03 * total <= 1.03 * read[None]


def test_each_workers_training_pipeline_reads_about_half_of_the_records(tmp_path):
    """Through the whole pipeline (reads, decodes, crops, batches, read-ahead), over two passes
    of 96 JPEG records: each worker of two reads about half of them (a pass's worth, and a few
    records ahead), where one worker alone reads them all (and the windows ahead)."""
    paths = synthetic.write_tfrecords(str(tmp_path), "train", [[f % 3] * 12 for f in range(8)], shape=(120, 160))
    total = sum(os.path.getsize(path) for path in paths)
    cfg = SMALL.replace(interleave_files=4, shuffle_buffer=16)
    read = {}
    for shards, index in ((1, 0), (2, 0), (2, 1)):
        source = sources.tfrecord_source(str(tmp_path), num_classes=3)
        source.count_records(index=shards > 1)
        before = _bytes_read()
        batches = input_pipeline.train_dataset(
            source, cfg, 8 // shards, seed=1, num_shards=shards, shard_index=index, global_batch_size=8
        )
        assert sum(1 for _ in batches.take(24)) == 24
        read[shards, index] = _bytes_read() - before
    assert read[1, 0] >= 2 * total and read[2, 0] < 1.4 * total and read[2, 1] < 1.4 * total, (read, total)


def test_record_offsets_are_walked_once_kept_and_checked_against_the_counts(uneven_records, tmp_path, monkeypatch):
    split = _bare_split(uneven_records)
    offsets = split.index_records(str(tmp_path))
    sizes = [os.path.getsize(f) for f in uneven_records]
    # Each file's offsets, then its size: records of 100 bytes and 16 of framing.
    assert offsets.tolist() == sum(([116 * r for r in range(n)] + [s] for n, s in zip(LENGTHS, sizes)), [])
    monkeypatch.setattr(records, "tfrecord_offsets", lambda *a: pytest.fail("walked again"))
    np.testing.assert_array_equal(_bare_split(uneven_records).index_records(str(tmp_path)), offsets)
    # A file rewritten with as many bytes and records, other boundaries: walked again.
    monkeypatch.undo()
    (tmp_path / "rewritten").mkdir()
    rewritten = _write_records(tmp_path / "rewritten", LENGTHS[:1], 100)[0]
    before = _bare_split([rewritten]).index_records(str(tmp_path / "rewritten"))
    with tf.io.TFRecordWriter(rewritten) as writer:
        for size in (50, 150, 100, 100, 100):
            writer.write(b"x" * size)
    os.utime(rewritten, ns=(os.stat(rewritten).st_atime_ns, os.stat(rewritten).st_mtime_ns + 10**9))
    after = _bare_split([rewritten]).index_records(str(tmp_path / "rewritten"))
    assert before[-1] == after[-1] and after.tolist() == [0, 66, 232, 348, 464, 580] != before.tolist()
    stated = records.RecordSplit(uneven_records, lambda r: (r, 0), lengths=[1] + LENGTHS[1:], name="--data_dir")
    with pytest.raises(DataError, match=r"^--data_dir .*train-00000 holds 5 records, not the 1 recorded"):
        stated.index_records(str(tmp_path))


def test_a_truncated_record_file_is_a_one_line_error(tmp_path, uneven_records):
    data = open(uneven_records[0], "rb").read()
    (tmp_path / "train-00000").write_bytes(data[:-100])
    with pytest.raises(DataError, match=r"^--tfrecords .*train-00000 ends inside a record \(truncated\?\)"):
        _bare_split([str(tmp_path / "train-00000")]).count_records()


def test_the_pixel_mean_of_a_sample_is_the_mean_of_the_first_images_of_pass_0(folder, monkeypatch):
    source = sources.folder_source(folder)
    crops = np.array([cropping.eval_image(e, SMALL).numpy() for e, _ in source.examples("train")], np.float64)
    sample = order.folder_pass(source.split("train").size, seed=0, pass_index=0)[:6]
    monkeypatch.setattr(pixel_mean, "PROGRESS_SECONDS", -1)  # A progress line after every batch.
    lines = []
    mean = pixel_mean.compute_pixel_mean(
        source, SMALL, max_images=6, batch_size=4, print_fn=lambda line, **_: lines.append(line)
    )
    np.testing.assert_allclose(mean, crops[sample].mean(axis=0), atol=1e-4)
    assert [line.split(",")[0] for line in lines] == [
        "pixel mean: 4 of 6 training images (67%)",
        "pixel mean: 6 of 6 training images (100%)",
    ]
    np.testing.assert_allclose(pixel_mean.compute_pixel_mean(source, SMALL), crops.mean(axis=0), atol=1e-4)


def test_a_run_begun_under_another_data_order_is_refused_in_one_line(tmp_path, folder, run_imagenet, kill_at):
    """A run records the order it reads the data in; one begun under another is not resumed."""
    from keras_resnet.errors import RecipeError

    source, workdir = sources.folder_source(folder), tmp_path / "run"
    kill_at("backup:1")
    with pytest.raises(kill_at.Killed):
        run_imagenet(source, workdir, train_steps=4, mean="channel")
    kill_at(None)
    recorded = json.loads((workdir / "run_config.json").read_text())
    recorded["facts"]["data_order"] = order.ORDER_VERSION - 1
    (workdir / "run_config.json").write_text(json.dumps(recorded))
    with pytest.raises(RecipeError) as info:
        run_imagenet(source, workdir, train_steps=4, mean="channel")
    assert str(info.value) == (
        f"--workdir {workdir} holds an unfinished run with other settings (facts.data_order: "
        f"{order.ORDER_VERSION - 1} → {order.ORDER_VERSION}); rerun it unchanged to resume, or pass --overwrite"
    )


def test_the_shares_of_a_split_are_disjoint_cover_it_and_read_only_their_own_files(folder, uneven_records, tmp_path):
    """What a worker decodes for the pixel mean: its share of the folder's listing (every W-th
    file), or the records of its share of the record files (no other file opened)."""
    split = sources.folder_source(folder).split("train")
    everything = [e.numpy() for e, _ in split.examples()]
    shares = [[e.numpy() for e, _ in split.examples((3, i))] for i in range(3)]
    assert [len(s) for s in shares] == [split.shard_size((3, i)) for i in range(3)] == [5, 5, 5]
    assert sorted(sum(shares, [])) == sorted(everything)

    records = _bare_split(uneven_records)
    records.count_records(str(tmp_path))
    for index in range(2):
        read = [r.numpy() for r, _ in records.examples((2, index))]
        assert len(read) == records.shard_size((2, index)) == sum(LENGTHS[index::2])
        # Each payload names its file: only this share's files were read.
        assert {int(r.split(b":")[0]) for r in read} <= set(range(index, len(LENGTHS), 2))
    assert [r for r, _ in _bare_split(uneven_records[:1]).examples((2, 1))] == []  # More workers than files.
