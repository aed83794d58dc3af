"""Files a resume depends on, written whole or not at all, and durably: to a temporary name,
flushed to the disk (`fsync`), renamed over the old file, and the rename itself flushed (the
folder's `fsync`). A kill, a power cut or a full disk leaves the previous file or the new one,
never a torn one.

Example:

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "metrics.json")
>>> write_json(path, {"step": 2})
>>> open(path).read()
'{\\n "step": 2\\n}'
"""

import contextlib
import json
import os


def _fsync_folder(folder):
    try:
        descriptor = os.open(folder or ".", os.O_RDONLY)
    except OSError:  # A file system whose folders cannot be opened: the rename is all it offers.
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def replace(partial, path):
    """Flushes the file `partial` to the disk and renames it to `path`, durably."""
    descriptor = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(partial, path)
    _fsync_folder(os.path.dirname(path))


def partial_name(path):
    """The temporary name `path` is written under: `name.partial.ext` (Keras and h5py want the
    extension kept: `latest.partial.weights.h5`)."""
    folder, name = os.path.split(path)
    stem, dot, extension = name.partition(".")
    return os.path.join(folder, f"{stem}.partial{dot}{extension}")


@contextlib.contextmanager
def writing(path):
    """A context that yields the temporary name to write `path` under, then puts it in place
    (`replace`); where the block fails, the temporary file is removed and `path` is untouched."""
    partial = partial_name(path)
    try:
        yield partial
        replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise


def write_text(path, text):
    """Writes `text` to `path`, whole or not at all (`writing`)."""
    with writing(path) as partial:
        with open(partial, "w") as f:
            f.write(text)


def write_json(path, value):
    """Writes `value` as indented JSON to `path`, whole or not at all (`writing`)."""
    write_text(path, json.dumps(value, indent=1))


def read_json(path):
    """The JSON value in the file `path`, or `None` where there is none to read."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
