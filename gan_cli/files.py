"""Atomic file writing: a reader sees the old file or the new one, never half of one. Depends on
nothing in gan-cli, so that every floor may write files through it."""

import json
import os
from pathlib import Path


def atomic_write(path: Path, write) -> None:
    """write(tmp_path), fsync, then rename over path: readers see the old file or the new one.
    If anything fails (a full disk, a signal), the partial tmp file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: dict) -> None:
    """Atomically write obj as indented JSON."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2) + "\n"))
