"""The decoded images of an image folder, cached beside them so that decoding (2-6 ms an image)
happens once, not in every run and every sweep job.

    <data.path>/.gan_cli_cache/<size>px_<channels>ch.pt   {"key": ..., "x": (N, C, S, S) uint8}

The key is a hash of the folder's file list with each file's size and modification time, the
image size and channel count: adding, removing, replacing or touching an image decodes again.
"""

import hashlib
import logging
import os
from pathlib import Path

import torch

log = logging.getLogger(__name__)
FOLDER, VERSION = ".gan_cli_cache", 1  # VERSION: bump when the decoding itself changes


def cache_file(root: Path, image_size: int, channels: int) -> Path:
    return root / FOLDER / f"{image_size}px_{channels}ch.pt"


def folder_key(root: Path, files: list[Path], image_size: int, channels: int) -> str:
    """What the decoded tensor depends on: every file's name, size and mtime, and the settings."""
    digest = hashlib.sha256(f"v{VERSION} {image_size} {channels}\n".encode())
    for f in files:
        stat = f.stat()
        digest.update(f"{f.relative_to(root)}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load(path: Path, key: str) -> torch.Tensor | None:
    """The cached tensor when its key matches; None when absent, stale or unreadable."""
    if not path.is_file():
        return None
    try:
        cached = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  truncated or foreign: decode again and overwrite it
        log.warning(f"The decoded-image cache {path} could not be read ({type(e).__name__}): "
                    "decoding the folder again and rewriting the file")
        return None
    if not isinstance(cached, dict) or cached.get("key") != key or not torch.is_tensor(cached.get("x")):
        return None
    return cached["x"]


def save(path: Path, key: str, x: torch.Tensor) -> None:
    """Write the cache atomically, through a file of this process's own (parallel sweep jobs may
    write it at once); a read-only folder only costs the next run its decoding."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(exist_ok=True)
        torch.save({"key": key, "x": x}, tmp)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        log.info(f"Could not cache the decoded images in {path.parent} ({e.strerror}); "
                 "the next run decodes them again")
