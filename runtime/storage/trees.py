"""Directory trees that appear whole or not at all, and end up read-only."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from runtime.storage.cache import TMP_PREFIX, fsync_dir


def make_read_only(root: Path) -> None:
    """chmod a-w every directory; files were created read-only by the extractor."""
    for dirpath, _, _ in os.walk(root, topdown=False):
        Path(dirpath).chmod(0o555)


def remove_tree(path: Path) -> None:
    """rmtree a tree that make_read_only locked (directories must be writable to empty them)."""
    if not path.is_dir() or path.is_symlink():
        path.unlink(missing_ok=True)
        return
    for dirpath, _, _ in os.walk(path):
        Path(dirpath).chmod(0o755)
    shutil.rmtree(path)


def link_copy(src: Path, dest: Path) -> None:
    """Mirror `src` into the empty directory `dest` with hardlinks: no bytes copied, same volume."""
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        there = dest / here.relative_to(src)
        for name in dirnames + filenames:
            path = here / name
            if path.is_symlink():
                (there / name).symlink_to(path.readlink())
            elif path.is_dir():
                (there / name).mkdir()
            else:
                os.link(path, there / name, follow_symlinks=False)


def build_tree(final: Path, fill: Callable[[Path], object]) -> None:
    """Fill a temp dir beside `final`, lock it read-only, then rename it into place (replacing an
    older tree); on any failure the temp dir is removed and `final` is left as it was."""
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=final.parent))
    try:
        fill(tmp)
        make_read_only(tmp)
        if final.exists() or final.is_symlink():
            old = final.parent / f"{TMP_PREFIX}old-{uuid.uuid4().hex}"
            final.rename(old)
            tmp.rename(final)
            remove_tree(old)
        else:
            tmp.rename(final)
        fsync_dir(final.parent)
    except BaseException:
        remove_tree(tmp)
        raise
