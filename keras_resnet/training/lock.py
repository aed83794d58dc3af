"""One job at a time in a workdir: a lock file the job's chief holds while the run goes on.

Two launches into one workdir would write the same backup, history and outputs in turns, and
end with a history that misses periods or a `metrics.json` of the other run. The chief of a job
creates `run.lock` (atomically: the file is created only where none exists) with who holds it
(host, boot, process id and its start time, the command) and touches it every
`HEARTBEAT_SECONDS` while it holds it; the other processes of the job learn whether it got it
(`run.opened`). A second launch stops in one line naming the holder. A lock whose
holder is gone does not block a rerun: on the same machine the holder's process is looked up
(a process of that id started at that time), from another machine (a shared file system) the
lock is stale once untouched for `STALE_SECONDS`.

Example:

>>> import tempfile
>>> held = WorkdirLock(tempfile.mkdtemp())
>>> held.acquire()
>>> WorkdirLock(held.workdir).acquire()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
keras_resnet.training.lock.LockedError: ...
>>> held.release()
"""

import contextlib
import json
import os
import socket
import sys
import threading
import time

from keras_resnet.errors import RecipeError

LOCK_FILE = "run.lock"
HEARTBEAT_SECONDS = 30
STALE_SECONDS = 120


class LockedError(RecipeError):
    """The workdir is held by another run; the message is one line naming it."""


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


def started_ticks(pid):
    """When process `pid` started (clock ticks since boot), `None` where it does not exist or
    this system does not say."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


_IMPORTED = time.time()


def launched():
    """When this process started (`time.time()`), from the kernel where it says, else when this
    module was imported."""
    try:
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.time() - uptime + started_ticks(os.getpid()) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, TypeError):
        return _IMPORTED


def identity():
    """Who this process is, as a lock records it."""
    return {
        "host": socket.gethostname(),
        "boot": _boot_id(),
        "pid": os.getpid(),
        "started": started_ticks(os.getpid()),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:160],
    }


def _alive(holder, age):
    """Whether the lock of `holder`, last touched `age` seconds ago, still holds."""
    same_machine = holder.get("boot") and (holder["boot"], holder.get("host")) == (_boot_id(), socket.gethostname())
    if not same_machine:
        return age < STALE_SECONDS
    if holder.get("started") is not None:
        return started_ticks(holder.get("pid")) == holder["started"]
    try:  # A system without /proc: the process id alone.
        os.kill(int(holder["pid"]), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


class WorkdirLock:
    """The lock of `workdir` (`acquire`, `release`), kept fresh by a heartbeat while held."""

    def __init__(self, workdir):
        self.workdir, self.path = workdir, os.path.join(workdir, LOCK_FILE)
        self._stop, self._mine = None, None

    def acquire(self):
        """Takes the lock, or raises `LockedError` naming the run that holds it."""
        mine = identity()
        for _ in range(10):  # Another process may take over the same stale lock meanwhile: try again.
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(descriptor, "w") as f:
                f.write(json.dumps(mine))
                f.flush()
                os.fsync(f.fileno())
            self._mine = mine
            self._stop = threading.Event()
            threading.Thread(target=self._beat, args=(self._stop,), daemon=True, name="workdir-lock").start()
            return
        raise LockedError(f"--workdir {self.workdir}: could not take {self.path}; try again")

    def _take_over_if_stale(self):
        try:
            age = time.time() - os.stat(self.path).st_mtime
            with open(self.path) as f:
                holder = json.loads(f.read() or "{}")
        except FileNotFoundError:
            return
        except ValueError:  # Being written this moment, or torn: its age decides.
            holder = {}
        if (holder and _alive(holder, age)) or (not holder and age < STALE_SECONDS):
            raise LockedError(
                f"--workdir {self.workdir} is in use by another run (pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')} since {holder.get('since', '?')}: {holder.get('command', '?')}); "
                "let it finish or stop it, or choose another --workdir (the lock of a run that died is taken over)"
            )
        stale = f"{self.path}.stale.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):  # Another process took it over first.
            os.rename(self.path, stale)
            os.remove(stale)

    def _beat(self, stop):
        while not stop.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self):
        """Gives the lock up (only a lock this object holds)."""
        if self._stop is None:
            return
        self._stop.set()
        self._stop = None
        with contextlib.suppress(OSError, ValueError):
            with open(self.path) as f:
                if json.loads(f.read()) == self._mine:
                    os.remove(self.path)


@contextlib.contextmanager
def held(workdir):
    """Holds `workdir`'s lock for the block (one process; a job's runs: `run.opened`)."""
    lock = WorkdirLock(workdir)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
