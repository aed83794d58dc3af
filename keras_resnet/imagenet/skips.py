"""Counting the unreadable images a tf.data pipeline skips, among those its consumer has read.

A pipeline drops an image it cannot decode (`ignore_errors`) and numbers the images before
decoding, so the gaps in the numbers are the skipped images. It runs ahead of its consumer
(prefetching), so it records the gaps as it meets them; the count a run reports is the part of
them among the images the run has read.
"""

import threading

import keras
import numpy as np
from absl import logging


class SkipCounter:
    """Counts the unreadable (corrupt, truncated) images a pipeline skipped among those its
    consumer has read.

    The pipeline runs ahead of its consumer (prefetching), so it only records which stream
    positions it skipped (`add`); the consumer asks how many of them lie among the images it
    has read (`report`, e.g. at the end of each training period). A position is a place in the
    stream, so a corrupt file met again in a later pass counts again; a pass read twice (the
    validation each period) counts once.

    Example:

    >>> counter = SkipCounter("train")
    >>> int(counter.add([-1, 0, 2, 3, 6]))  # A batch of positions 0, 2, 3, 6: 1, 4 and 5 skipped.
    3
    >>> counter.skipped_among(2), counter.skipped_among(4), counter.skipped_among()
    (1, 3, 3)
    """

    def __init__(self, name):
        self.name = name
        self.count = 0
        self._skipped = set()
        self._lock = threading.Lock()

    def add(self, seen):
        """Records the skipped positions from `seen`: the last position delivered before, then
        the positions now delivered (ascending). Called by the pipeline; returns how many."""
        seen = [int(v) for v in np.asarray(seen).reshape(-1)]
        skipped = set(range(seen[0] + 1, seen[-1])) - set(seen)
        with self._lock:
            self._skipped |= skipped
        return np.int64(len(skipped))

    def skipped_among(self, images=None):
        """Skipped positions before the `images`-th readable image (all recorded ones when `None`)."""
        with self._lock:
            positions = sorted(self._skipped)
        if images is None:
            return len(positions)
        last, skipped = images - 1, 0  # `last`: the position of the `images`-th readable image.
        for position in positions:
            if position > last:
                break
            last += 1
            skipped += 1
        return skipped

    def report(self, images=None, size=None):
        """Sets `count` to the images skipped among those read; logs a warning when it grew.

        Args:
            images: int. Readable images the consumer has read; `None`: all the pipeline delivered.
            size: optional int. The positions of a finite pass read to its end, where known: then
                every one not read was skipped, the last ones included (no later image reveals those).

        Returns:
            `count`.
        """
        count = size - images if size is not None and images is not None else self.skipped_among(images)
        if count > self.count:
            logging.warning("%s input: skipped %d unreadable image(s), %d in all", self.name, count - self.count, count)
        self.count = count
        return count


class SkipReport(keras.callbacks.Callback):
    """At each period's end, reports the unreadable training images skipped among those the
    run's steps have read so far (the validation reports its own pass). The pipeline only records
    what it skipped: it runs ahead of the steps (prefetching), so its own count would include
    images no step has reached.

    Args:
        train: the training stream's `skips.SkipCounter`.
        start_step: int. Iterations done before this run (its stream starts there).
        steps_per_period: int.
        images_per_step: int. Images one iteration takes from this process's training stream.
    """

    def __init__(self, train, start_step, steps_per_period, images_per_step):
        super().__init__()
        self.train = train
        self.start_step, self.steps_per_period, self.images_per_step = start_step, steps_per_period, images_per_step

    def on_epoch_end(self, epoch, logs=None):
        self.train.report(((epoch + 1) * self.steps_per_period - self.start_step) * self.images_per_step)
