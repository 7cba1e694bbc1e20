"""Keeping the cache within its size budget: least recently used, unreferenced artifacts go first.

An artifact is a tree (`trees/<id>`) with the blobs it was made from (`index/<id>.json`), a blob no
tree names, or a Python environment made for a code/requirements.txt (`<cache_dir>/pyenvs/<key>`,
runtime/pyenv.py; last used when its completion marker was touched). A tree is referenced while a
model dir made from it is leased, an environment while `pyenv-<key>` is (leases.py); unreferenced
model dirs are removed with their tree, since they are only hardlinks into it. Sizes count each inode
once, so a tree that hardlinks its blobs costs its bytes once. Everything here runs under the
exclusive cache-wide lock, so no materialize or pip install is half-way through while files are
counted or removed, and every `.tmp-*` name (or environment without its completion marker) found then
is a crash's leftover.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from runtime.storage.cache import TMP_PREFIX, BlobCache
from runtime.storage.leases import in_use
from runtime.storage.trees import remove_tree

log = logging.getLogger("runtime.storage")
PYENV_LEASE = "pyenv-"  # an environment's lease name is this and its key
PYENV_COMPLETE = ".coserve-complete"  # written last into a finished environment (runtime/pyenv.py)


@dataclass(frozen=True)
class CacheEntry:
    name: str  # tree id, or sha256 of a blob no tree names
    source: str  # the URL it came from, where recorded
    size: int  # bytes of its tree and blobs, each inode once
    last_used: float  # epoch seconds
    in_use: tuple[str, ...]  # leased model dirs made from it


class Janitor:
    def __init__(self, cache: BlobCache, models: Path, pyenvs: Path | None = None) -> None:
        self.cache, self.models = cache, models
        self.pyenvs = pyenvs or models.parent / "pyenvs"

    def sweep(self) -> int:
        """Remove `.tmp-*` names and half-built environments a crash left; returns how many."""
        found = [p for d in (*self._dirs(), self.models) if d.is_dir() for p in d.glob(f"{TMP_PREFIX}*")]
        found += [p for p in self._pyenvs() if not (p / PYENV_COMPLETE).exists()]
        for path in found:
            remove_tree(path)
        if found:
            log.warning("removed %d temporary files a crash left in the cache: %s", len(found),
                        ", ".join(p.name for p in found[:5]))  # fmt: skip
        return len(found)

    def size(self) -> int:
        return _bytes([*self._dirs(), self.models, self.pyenvs])

    def entries(self) -> list[CacheEntry]:
        users = self._users()
        out: list[CacheEntry] = []
        named: set[str] = set()
        for tree in sorted(p for p in self.cache.trees.iterdir() if not p.name.startswith(TMP_PREFIX)):
            record = self._record(tree.name)
            blobs = [str(b) for b in record.get("blobs", [tree.name])]
            named.update(blobs)
            paths = [tree, *(self.cache.blob(b) for b in blobs)]
            used = self._last_used(tree.name, tree)
            out.append(CacheEntry(tree.name, str(record.get("source", "")), _bytes(paths), used,
                                  tuple(users.get(tree.name, ()))))  # fmt: skip
        for blob in sorted(self.cache.blobs.glob("sha256-*")):
            sha = blob.name.removeprefix("sha256-").split(".")[0]
            if sha not in named:
                out.append(CacheEntry(sha, "", _bytes([blob]), blob.stat().st_mtime, ()))
        for env in self._pyenvs():
            name = f"{PYENV_LEASE}{env.name}"
            used = (env / PYENV_COMPLETE).stat().st_mtime if (env / PYENV_COMPLETE).exists() else 0.0
            leased: tuple[str, ...] = (name,) if in_use(self.cache.leases, name) else ()
            out.append(CacheEntry(name, "code/requirements.txt", _bytes([env]), used, leased))
        return out

    def prune(self, budget: int) -> list[CacheEntry]:
        """Evict unreferenced artifacts, oldest use first, until the cache fits `budget` bytes."""
        evicted: list[CacheEntry] = []
        size = self.size()
        if size > budget and self._drop_unclaimed_dirs():
            size = self.size()
        for entry in sorted(self.entries(), key=lambda e: e.last_used):
            if size <= budget:
                break
            if entry.in_use:
                continue
            self._evict(entry)
            evicted.append(entry)
            size = self.size()
        if evicted:
            self._drop_dangling_refs()
            log.info("cache over its budget of %d bytes: evicted %s; now %d bytes", budget,
                     ", ".join(e.name[:17] for e in evicted), size)  # fmt: skip
        if size > budget:
            log.warning("cache holds %d bytes, over its budget of %d: the rest is in use", size, budget)
        return evicted

    def _evict(self, entry: CacheEntry) -> None:
        if entry.name.startswith(PYENV_LEASE):
            remove_tree(self.pyenvs / entry.name.removeprefix(PYENV_LEASE))
            return
        for marker in self.models.glob(".*.sha256"):
            if _read(marker) == entry.name:
                remove_tree(self.models / marker.name[1:].removesuffix(".sha256"))
                marker.unlink(missing_ok=True)
        remove_tree(self.cache.trees / entry.name)
        record = self._record(entry.name)
        (self.cache.index / f"{entry.name}.json").unlink(missing_ok=True)
        keep = {str(b) for r in self.cache.index.glob("*.json") for b in self._record(r.stem).get("blobs", [])}
        keep |= {p.name for p in self.cache.trees.iterdir()}  # a tarball's tree is named by its blob
        for sha in [*record.get("blobs", []), entry.name]:
            if sha not in keep:
                self.cache.evict(sha)

    def _drop_unclaimed_dirs(self) -> int:
        """Model dirs made of others (AdditionalModelDataSources' combined dir), or empty ones, that no
        process claims: their hardlinks would keep evicted bytes alive, and they are quick to make again."""
        dirs = self.models.iterdir() if self.models.is_dir() else iter(())
        found = [d for d in dirs if d.is_dir() and not d.name.startswith(TMP_PREFIX) and self._unclaimed(d.name)]
        for path in found:
            remove_tree(path)
        return len(found)

    def _unclaimed(self, name: str) -> bool:
        return not (self.models / f".{name}.sha256").exists() and not in_use(self.cache.leases, name)

    def _users(self) -> dict[str, list[str]]:
        users: dict[str, list[str]] = {}
        for marker in self.models.glob(".*.sha256") if self.models.is_dir() else ():
            name = marker.name[1:].removesuffix(".sha256")
            if in_use(self.cache.leases, name):
                users.setdefault(_read(marker), []).append(name)
        return users

    def _record(self, tree_id: str) -> dict[str, list[str] | str]:
        try:
            doc = json.loads((self.cache.index / f"{tree_id}.json").read_text())
        except (OSError, ValueError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def _last_used(self, tree_id: str, tree: Path) -> float:
        try:
            return (self.cache.index / f"{tree_id}.json").stat().st_mtime
        except OSError:
            return tree.stat().st_mtime

    def _drop_dangling_refs(self) -> None:
        for ref in self.cache.refs.glob("*.json"):
            try:
                sha = str(json.loads(ref.read_text())["sha256"])
            except (OSError, ValueError, KeyError):
                continue
            if not self.cache.blob(sha).exists():
                ref.unlink(missing_ok=True)

    def _pyenvs(self) -> list[Path]:
        if not self.pyenvs.is_dir():
            return []
        return sorted(p for p in self.pyenvs.iterdir() if p.is_dir() and not p.name.startswith(TMP_PREFIX))

    def _dirs(self) -> list[Path]:
        c = self.cache
        return [c.blobs, c.refs, c.trees, c.index]


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _bytes(paths: list[Path]) -> int:
    """Apparent size of every file under `paths`, each inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in paths:
        walk = os.walk(root) if root.is_dir() else [(str(root.parent), [], [root.name])] if root.exists() else []
        for dirpath, _, files in walk:
            for name in files:
                st = (Path(dirpath) / name).lstat()
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_size
    return total
