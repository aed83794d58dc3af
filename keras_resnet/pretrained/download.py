"""Fetching a published weights file into the Keras cache, its hash checked.

A cached file whose hash matches is used without touching the network. Otherwise the host is
probed first (seconds), so that a machine without internet gets one line at once, saying where
to put the file, instead of a downloader's retries.
"""

import hashlib
import os
import urllib.parse

import keras

from keras_resnet.hosts import reachable

CACHE_SUBDIR = "models"


def cache_path(file_name, cache_dir=None):
    """Where `keras.utils.get_file` keeps `file_name` (`$KERAS_HOME/models`, `~/.keras/models`)."""
    return os.path.join(_cache_dir(cache_dir), CACHE_SUBDIR, file_name)


def _cache_dir(cache_dir=None):
    return os.path.expanduser(cache_dir or os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))


def file_matches(path, file_hash):
    """Whether the file at `path` has `file_hash`: sha256 (64 hex digits) or md5 (32)."""
    digest = hashlib.sha256() if len(file_hash) == 64 else hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() == file_hash.lower()


def fetch(entry, include_top=True, cache_dir=None, is_reachable=None):
    """The local path of `entry`'s file (a `registry.PretrainedWeights`), downloaded if needed.

    Args:
        entry: a `registry.PretrainedWeights`.
        include_top: bool. Whether the classifier is needed (else the no-top file, if any).
        cache_dir: optional str. Defaults to Keras' cache (`KERAS_HOME`, else `~/.keras`).
        is_reachable: optional callable `host -> bool`, the probe. Defaults to
            `keras_resnet.hosts.reachable`.

    Raises:
        ValueError: the file cannot be had, or its hash is not the published one; one line
            that gives the URL and where to put the file.
    """
    url, file_hash, file_name = entry.file(include_top)
    target = cache_path(file_name, cache_dir)
    if os.path.exists(target) and file_matches(target, file_hash):
        return target
    host = urllib.parse.urlparse(url).hostname
    offline = (
        f"download {url} elsewhere and put it at {target} (or pass weights= the path of the file), then run this again"
    )
    if urllib.parse.urlparse(url).scheme in ("http", "https") and not (is_reachable or reachable)(host):
        raise ValueError(f"{entry.key} weights cannot be downloaded here ({host} is unreachable): {offline}")
    os.makedirs(os.path.dirname(target), exist_ok=True)  # Else get_file falls back to /tmp/.keras.
    try:
        return keras.utils.get_file(
            file_name, url, file_hash=file_hash, cache_subdir=CACHE_SUBDIR, cache_dir=_cache_dir(cache_dir)
        )
    except ValueError:  # The hash differs: never leave the file for a later run to trust.
        if os.path.exists(target):
            os.remove(target)
        raise ValueError(
            f"the file downloaded from {url} does not have the published hash {file_hash}; "
            f"it was removed. {offline[0].upper()}{offline[1:]}"
        ) from None
    except Exception as error:  # urllib's URLError, HTTPError, OSError, …
        reason = str(getattr(error, "reason", error)).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{entry.key} weights could not be downloaded ({reason}): {offline}") from None
