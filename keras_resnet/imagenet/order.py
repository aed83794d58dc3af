"""The training stream's order: which example each stream position holds.

The training stream is endless; position `p` lies in pass `p // N` at offset `p % N` (`N` examples
in the training split). Which example it holds is a pure function of the seed, the pass and the
data (the split's listing or files and their record counts), never of the machine, the thread
count, prefetching, the worker count or the step at which a run was resumed:

- **Folder** (random access): each pass is a uniform random permutation of all `N` examples,
  drawn statelessly over indices from `(seed, pass)` (`tf.random.experimental.index_shuffle`);
  each file is read after the permutation, so nothing but the listing is held.
- **Records** (TFRecords, TFDS: sequential files): each pass permutes the files (seed, pass), reads
  them `interleave_files` at a time, one record from each in turn, and permutes each window of
  `shuffle_buffer` consecutive records (seed, pass, window). Records of one file meet others from
  `interleave_files` files in every window, and the files' partners change every pass; at most
  two windows of encoded images are held (the one being emitted, the next being read).

The stream is one for the whole job. Several input pipelines (the job's workers) split each
step's `global_batch_size` positions into consecutive blocks, pipeline `i` the `i`-th
(`input_pipeline.train_dataset`), and each pipeline's replicas take its block's per-replica batches
in turn: replica `r` of the job (workers in order, then their devices) takes the same positions
whether the job runs as W processes of D devices or as one process of W·D devices, so a run may be
resumed on another topology with the same replica count. A pipeline's share (`share=`) holds its
blocks' positions only, and it reads only their examples: a folder's files by index; records one
by one at their byte offsets (`records.RecordSplit.read`), placed by the same arithmetic as the
stream read in turn (`pass_read_order`, `window_order`), so the workers together read each record
of a pass once.

A resumed stream seeks: for a folder, by arithmetic on the position; for records, to the window
that holds the position, whose files it opens at the right records by skipping their headers, so
that a rerun reads at most one window before its position, however far the killed run had got.
`ORDER_VERSION` names this order; a run begun under another is not resumed in this one.

Example:

>>> import tensorflow as tf
>>> sorted(int(v) for v in folder_pass(5, seed=1, pass_index=0))
[0, 1, 2, 3, 4]
>>> folder_pass(5, seed=1, pass_index=0).tolist() != folder_pass(5, seed=1, pass_index=1).tolist()
True
>>> round_robin_state([3, 1, 2], 4)  # Records 0-3 were a0 b0 c0 a1; c1 comes next.
([2, 1, 1], 2)
"""

import numpy as np
import tensorflow as tf

# 1: windows of consecutive records (or the whole folder) permuted in place, the same windows
# every pass; 2: this module's order, split over workers example by example; 3: this module's
# order, split over workers in blocks, PCA lighting drawn per global batch (the same for any
# topology).
ORDER_VERSION = 3
_ENDLESS = np.iinfo(np.int64).max


def _pass_seed(seed, pass_index, purpose):
    """The seed of one use (`purpose`: 0 files, 1 windows) of one pass."""
    pair = tf.stack([tf.cast(seed, tf.int64), tf.cast(pass_index, tf.int64)])
    return tf.random.experimental.stateless_fold_in(pair, purpose)


def folder_example(position, size, seed):
    """The example (index in the folder's sorted listing) at stream `position` (scalar tensors)."""
    position = tf.cast(position, tf.int64)
    pair = tf.stack([tf.cast(seed, tf.int64), position // size])
    return tf.random.experimental.index_shuffle(position % size, pair, tf.constant(size - 1, tf.int64))


def folder_pass(size, seed, pass_index):
    """One pass of a folder's stream, as a NumPy array of example indices."""
    pair = tf.constant([seed, pass_index], tf.int64)
    return tf.random.experimental.index_shuffle(
        tf.range(size, dtype=tf.int64), pair, tf.constant(size - 1, tf.int64)
    ).numpy()


def file_order(num_files, seed, pass_index):
    """The files' order in one pass of a record stream (a tensor of file indices)."""
    return tf.random.experimental.stateless_shuffle(
        tf.range(num_files, dtype=tf.int64), _pass_seed(seed, pass_index, 0)
    )


def round_robin_state(lengths, offset):
    """Where a round-robin read of files stands after `offset` records.

    The files (in slot order) give one record each in turn; a file that has ended is passed over.

    Args:
        lengths: sequence of int. Records in each file.
        offset: int. Records already read, `0 <= offset < sum(lengths)`.

    Returns:
        `(consumed, next_slot)`: records read from each file (a list), and the slot that gives the
        next record.
    """
    lengths = np.asarray(lengths, np.int64)
    low, high = 0, int(lengths.max())  # The round under way: the largest t with sum(min(L, t)) <= offset.
    while low < high:
        middle = (low + high + 1) // 2
        if np.minimum(lengths, middle).sum() <= offset:
            low = middle
        else:
            high = middle - 1
    consumed = np.minimum(lengths, low)
    active = np.flatnonzero(lengths > low)
    into_round = offset - int(consumed.sum())
    consumed[active[:into_round]] += 1
    return consumed.tolist(), int(active[into_round])


def _interleaved(split, files, cycle, skips=None, buffered=True):
    """The records of at most `cycle` `files` (a tensor of file indices), read one from each in turn."""
    if skips is None:
        inputs = tf.data.Dataset.from_tensor_slices(files)
        read = lambda f: split.records(f)  # noqa: E731
    else:
        inputs = tf.data.Dataset.from_tensor_slices((files, skips))
        read = lambda f, s: split.records(f, s, buffered=buffered)  # noqa: E731
    return inputs.interleave(
        read, cycle_length=cycle, block_length=1, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def pass_read_order(split, seed, pass_index, cycle):
    """The examples of a record stream's pass in the order its files give them, before the
    windows are permuted: the pass's file order (`file_order`), `cycle` files at a time, one record
    from each in turn. An int64 tensor of all the split's example indices (8 bytes each).
    """
    files = file_order(len(split.files), seed, pass_index)
    lengths = tf.gather(tf.constant(split.lengths, tf.int64), files)
    turn = tf.ragged.range(lengths)  # Each file's records: its k-th is read in round k of its group.
    slot = tf.range(tf.size(files, out_type=tf.int64))
    group_of, slot_of = slot // cycle, slot % cycle
    rows = turn.value_rowids()
    rounds = tf.maximum(tf.reduce_max(lengths), 1)
    key = (tf.gather(group_of, rows) * rounds + turn.flat_values) * cycle + tf.gather(slot_of, rows)
    examples = tf.gather(tf.gather(tf.constant(split.starts, tf.int64), files), rows) + turn.flat_values
    return tf.gather(examples, tf.argsort(key, stable=True))


def window_order(seed, pass_index, number, count):
    """The permutation of window `number` (of `count` records) of a pass: element `k` of the
    window is the window's record `window_order[k]` in read order."""
    seed = tf.random.experimental.stateless_fold_in(_pass_seed(seed, pass_index, 1), number)
    return tf.random.experimental.stateless_shuffle(tf.range(count), seed)


def _windows(records, seed, pass_index, first_window, window, pass_size):
    """`(position, example, serialized)`: each window of `window` consecutive records (counted
    from the pass's start; the first is number `first_window`) in its own random order."""
    base = tf.cast(pass_index, tf.int64) * pass_size

    def permute(number, block):
        examples, serialized = block
        count = tf.shape(examples, out_type=tf.int64)[0]
        order = window_order(seed, pass_index, number, count)
        positions = base + number * window + tf.range(count)
        # Each record copied out when asked for: no second copy of the window.
        return tf.data.Dataset.from_tensor_slices((positions, order)).map(
            lambda position, i: (position, examples[i], serialized[i])
        )

    # The next window is read while this one is emitted.
    return records.batch(window).prefetch(1).enumerate(start=first_window).flat_map(permute)


def _record_pass(split, seed, pass_index, cycle, window):
    """One whole pass of a record stream, built inside tf.data for any pass index."""
    order = file_order(len(split.files), seed, pass_index)
    groups = -(-len(split.files) // cycle)

    def group(number):
        return _interleaved(split, order[number * cycle : (number + 1) * cycle], cycle)

    records = tf.data.Dataset.range(groups).flat_map(group)
    return _windows(records, seed, pass_index, 0, window, split.size)


def _record_pass_from(split, seed, pass_index, offset, cycle, window):
    """Pass `pass_index` of a record stream from `offset` on: its files opened where the
    window holding `offset` begins (records skipped by their headers), that window read whole."""
    first_window = offset // window
    begin = first_window * window
    order = file_order(len(split.files), seed, pass_index).numpy()
    groups = [order[i : i + cycle] for i in range(0, len(order), cycle)]
    totals = np.cumsum([split.lengths[g].sum() for g in groups])
    group = int(np.searchsorted(totals, begin, side="right"))
    into = begin - (int(totals[group - 1]) if group else 0)
    files = groups[group]
    consumed, next_slot = round_robin_state(split.lengths[files], into)
    slots = [
        s for s in list(range(next_slot, len(files))) + list(range(next_slot)) if consumed[s] < split.lengths[files[s]]
    ]
    # The files under way, in the order they give records from here on: unbuffered, so that the
    # skips read record headers only.
    records = _interleaved(
        split,
        tf.constant(files[slots], tf.int64),
        cycle,
        tf.constant([consumed[s] for s in slots], tf.int64),
        buffered=False,
    )
    rest = tf.constant(order, tf.int64)
    later = tf.data.Dataset.range(group + 1, len(groups)).flat_map(
        lambda number: _interleaved(split, rest[number * cycle : (number + 1) * cycle], cycle)
    )
    stream = _windows(records.concatenate(later), seed, pass_index, first_window, window, split.size)
    return stream.skip(offset - begin)


def _in_share(positions, share):
    block, shards, index = share
    return tf.boolean_mask(positions, (positions // block) % shards == index)


def _record_share(split, seed, start, cycle, window, share):
    """A share of a record stream: `(position, example)` of the share's positions from `start`
    on, placed window by window (each pass's read order computed once, each window's permutation
    once)."""
    size = split.size
    windows = -(-size // window)
    first_pass, offset = divmod(start, size)

    def one_pass(pass_index):
        examples = pass_read_order(split, seed, pass_index, cycle)
        base = pass_index * size

        def one_window(number):
            begin = number * window
            count = tf.minimum(tf.constant(window, tf.int64), size - begin)
            positions = _in_share(tf.range(tf.maximum(base + begin, start), base + begin + count), share)
            records = begin + tf.gather(window_order(seed, pass_index, number, count), positions - base - begin)
            return tf.data.Dataset.from_tensor_slices((positions, tf.gather(examples, records)))

        first = tf.where(pass_index == first_pass, tf.constant(offset // window, tf.int64), 0)
        return tf.data.Dataset.range(first, windows).flat_map(one_window)

    return tf.data.Dataset.range(first_pass, _ENDLESS).flat_map(one_pass)


def training_stream(split, seed, start, *, interleave_files=64, window=10000, share=None):
    """The endless training stream from position `start` on: `(position, example, payload)`,
    where `payload` is what `split.load` turns into `(encoded, label)` (the example's index for a
    folder, the serialized record for records).

    Args:
        split: a `sources.FolderSplit` or `records.RecordSplit` (its records counted here if
            they were not yet: `RecordSplit.count_records`; with `share`, indexed:
            `RecordSplit.index_records`).
        seed: int.
        start: int. The first position.
        interleave_files: int. Record files read at a time. Defaults to `64`.
        window: int. Records permuted together. Defaults to `10000`.
        share: optional `(block, shards, index)`. Only the positions of every `shards`-th block of
            `block` positions from the `index`-th: the same elements as the whole stream has at
            those positions, with only their examples read. Records are then read one at a time
            at their offsets instead of file by file. Defaults to `None`: the whole stream.

    Returns:
        A `tf.data.Dataset`.
    """
    if split.size is None:
        split.count_records()
    size = split.size
    if split.random_access:
        if share is None:
            positions = tf.data.Dataset.range(start, _ENDLESS)
        else:
            block, shards, index = share
            first = start // block
            first += (index - first) % shards
            blocks = tf.data.Dataset.range(first, _ENDLESS, shards)
            positions = blocks.map(lambda b: b * block + tf.range(block, dtype=tf.int64)).unbatch()
            positions = positions.filter(lambda p: p >= start)
        return positions.map(lambda p: (lambda e: (p, e, e))(folder_example(p, size, seed)))
    cycle, window = min(interleave_files, len(split.files)), min(window, size)
    if share is not None:
        split.index_records()
        return _record_share(split, seed, start, cycle, window, share).map(
            lambda position, example: (position, example, split.read(example)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    first_pass, offset = divmod(start, size)
    if offset:
        first = _record_pass_from(split, seed, first_pass, offset, cycle, window)
    else:
        first = _record_pass(split, seed, first_pass, cycle, window)
    later = tf.data.Dataset.range(first_pass + 1, _ENDLESS).flat_map(
        lambda p: _record_pass(split, seed, p, cycle, window)
    )
    return first.concatenate(later)


def stream_examples(split, seed, positions, start=0, **options):
    """The examples of the first `positions` elements from stream position `start` on (of a
    share's positions with `share=`), as a NumPy array: the order a test or a benchmark checks
    from outside the pipeline."""
    stream = training_stream(split, seed, start, **options).take(positions)
    return np.array([int(e) for _, e, _ in stream.as_numpy_iterator()], np.int64)
