"""What a running recipe prints: a line as soon as the first step has run, short lines within a
period, and one line of results per period."""

import time

import keras

from keras_resnet.training.lock import launched

_first_run = True  # Whether the process has run no training yet: its first line then counts from the launch.


class ProgressLine(keras.callbacks.Callback):
    """Prints one line per period (step, errors, rate, images per second), one as soon as the
    first step has run (its time includes compiling it), and a short one every `every_seconds`
    within a period.

    The lines within a period are printed as a step begins, from the clock and the step count
    alone: a batch-*end* hook would make Keras convert the step's logs to Python numbers after
    every step, a host round trip that stalls an asynchronous accelerator.

    Args:
        total_steps: int.
        batch_size: int.
        print_fn: callable. Defaults to `print`.
        every_seconds: float. Seconds between the lines within a period. Defaults to `60`.
    """

    def __init__(self, total_steps, batch_size, print_fn=print, every_seconds=60.0):
        super().__init__()
        self.total_steps = total_steps
        self.batch_size = batch_size
        self.print_fn = print_fn
        self.every_seconds = float(every_seconds)
        self.last = None
        self.began = None
        self.stepped = False
        self.epoch = 0
        self.last_line = None

    def on_train_begin(self, logs=None):
        self.began, self.stepped = time.time(), False

    def on_epoch_begin(self, epoch, logs=None):
        self.last = self.last_line = time.time()
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        now = time.time()
        done = self.epoch * (self.params.get("steps") or 0) + batch  # steps run before this one
        if self.began is not None:
            if self.stepped:
                global _first_run
                launch = f"; {now - launched():.1f} s after the launch" if _first_run else ""
                _first_run = False
                self.print_fn(
                    f"step {done}/{self.total_steps}: first step done {now - self.began:.1f} s after training began "
                    f"(compiling included){launch}",
                    flush=True,
                )
                self.began, self.last_line = None, now
            self.stepped = True
        elif batch and now - self.last_line >= self.every_seconds:
            rate = batch * self.batch_size / max(now - self.last, 1e-9)
            self.print_fn(f"step {done}/{self.total_steps}  {rate:.0f} img/s", flush=True)
            self.last_line = now

    def on_epoch_end(self, epoch, logs=None):
        self.began = None  # A one-step period: its own line comes first, and says as much.
        logs = logs or {}
        seconds = time.time() - self.last
        steps = self.params.get("steps") or 0
        parts = [
            f"step {int(logs.get('step', 0))}/{self.total_steps}",
            f"loss {float(logs.get('loss', float('nan'))):.4f}",
        ]
        parts += [f"{k} {float(logs[k]) * 100:.2f}%" for k in ("train_error", "val_error", "test_error") if k in logs]
        if "learning_rate" in logs:
            parts.append(f"lr {float(logs['learning_rate']):.4g}")
        parts.append(f"{steps * self.batch_size / max(seconds, 1e-9):.0f} img/s (incl. eval)")
        self.print_fn("  ".join(parts), flush=True)
