"""Files that hold secrets or personal data (the database, exports, settings with the key,
captured mail, the send journal, previews with live links): readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def private_folder(path: Path) -> Path:
    """`path` as a folder; the folders created here (not those that already existed, such
    as the working directory) are the owner's only."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_FOLDER)
        except FileExistsError:
            continue  # made meanwhile by another process
        folder.chmod(PRIVATE_FOLDER)  # whatever the umask says
    return path


def make_private(path: Path) -> None:
    """Create `path` empty if missing; owner-only either way (chmod of an existing file)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    path.chmod(PRIVATE_FILE)


def open_private(path: Path, mode: str = "w", **options: Any) -> IO[Any]:
    """`open(path, mode)` for writing ("w", "wb", "a", "ab"), the file owner-only from its
    first byte, also when it existed before with wider permissions."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    descriptor = os.open(path, flags, PRIVATE_FILE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE)
        return os.fdopen(descriptor, mode, **options)
    except BaseException:
        os.close(descriptor)
        raise


def write_private(path: Path, data: str | bytes) -> None:
    if isinstance(data, bytes):
        with open_private(path, "wb") as handle:
            handle.write(data)
    else:
        with open_private(path, "w", encoding="utf-8") as handle:
            handle.write(data)
