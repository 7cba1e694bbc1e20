"""One pass over a tar member stream, writing each member after checking it (see unpack.py)."""

from __future__ import annotations

import os
import posixpath
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runtime.storage.source import CHUNK

NOFOLLOW_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


class ArchiveError(Exception):
    """The archive is malformed, unsafe or over a limit; retrying cannot help."""


@dataclass(frozen=True)
class UnpackLimits:
    max_bytes: int
    max_files: int


def relative_name(name: str, what: str = "member") -> str:
    """The member's path inside the tree, or ArchiveError if it is absolute or climbs out."""
    if name.startswith("/") or posixpath.isabs(name):
        raise ArchiveError(f"unsafe {what} {name!r}: absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"unsafe {what} {name!r}: '..' component escapes the tree")
    return "/".join(parts)


class Extractor:
    def __init__(self, tar: tarfile.TarFile, dest: Path, limits: UnpackLimits) -> None:
        self._tar, self._dest, self._limits = tar, dest, limits
        self._files: set[str] = set()
        self._symlinks: set[str] = set()
        self._members = 0
        self._bytes = 0

    def run(self) -> tuple[int, int]:
        for member in self._tar:
            self._members += 1
            if self._members > self._limits.max_files:
                raise ArchiveError(f"more than {self._limits.max_files} members")
            self._one(member)
        self._check_symlinks()
        return self._members, self._bytes

    def _one(self, member: tarfile.TarInfo) -> None:
        rel = relative_name(member.name)
        self._not_through_symlink(rel)
        write = self._check(member, rel)
        # tarfile's own filter, where this Python has it (3.11.4+; Debian 12 ships 3.11.2), as a second
        # opinion after our checks, which stand alone.
        second_opinion = getattr(tarfile, "data_filter", None)
        if second_opinion is not None:
            try:
                second_opinion(member, str(self._dest))
            except tarfile.FilterError as exc:
                raise ArchiveError(f"unsafe member {member.name!r}: {exc}") from exc
        write(member, rel)

    def _check(self, member: tarfile.TarInfo, rel: str) -> Callable[[tarfile.TarInfo, str], None]:
        """Our own checks for the member's type; returns the writer to run once all checks pass."""
        if member.isdir():
            return self._mkdir
        if member.isreg() and not member.issparse():
            if self._bytes + member.size > self._limits.max_bytes:
                raise ArchiveError(f"unpacked size exceeds {self._limits.max_bytes} bytes")
            return self._file
        if member.issym():
            target = member.linkname
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
            if posixpath.isabs(target) or resolved == ".." or resolved.startswith("../"):
                raise ArchiveError(f"unsafe member {rel!r}: symlink to {target!r} leaves the tree")
            return self._symlink
        if member.islnk():
            target = relative_name(member.linkname, "hardlink target")
            if target not in self._files:
                raise ArchiveError(f"unsafe member {rel!r}: hardlink to {member.linkname!r} outside the archive")
            return self._hardlink
        raise ArchiveError(f"unsafe member {member.name!r}: device, fifo or unsupported type")

    def _not_through_symlink(self, rel: str) -> None:
        parts = rel.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in self._symlinks:
                raise ArchiveError(f"unsafe member {rel!r}: path passes through a symlink")

    def _path(self, rel: str) -> Path:
        """The member's path, its parents created; anything already at the name is replaced."""
        path = self._dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or path.is_file():
            path.unlink()
            self._files.discard(rel)
            self._symlinks.discard(rel)
        elif path.exists():
            raise ArchiveError(f"unsafe member {rel!r}: replaces a directory")
        return path

    def _mkdir(self, member: tarfile.TarInfo, rel: str) -> None:
        if rel and not (self._dest / rel).is_dir():
            self._path(rel).mkdir()

    def _file(self, member: tarfile.TarInfo, rel: str) -> None:
        src = self._tar.extractfile(member)
        assert src is not None  # a regular member always has a file object
        fd = os.open(self._path(rel), NOFOLLOW_CREATE, 0o600)
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(CHUNK):
                self._bytes += len(chunk)
                if self._bytes > self._limits.max_bytes:
                    raise ArchiveError(f"unpacked size exceeds {self._limits.max_bytes} bytes")
                out.write(chunk)
            os.fchmod(fd, 0o555 if member.mode & 0o111 else 0o444)
            os.utime(fd, (member.mtime, member.mtime))
        self._files.add(rel)

    def _symlink(self, member: tarfile.TarInfo, rel: str) -> None:
        self._path(rel).symlink_to(member.linkname)
        self._symlinks.add(rel)

    def _hardlink(self, member: tarfile.TarInfo, rel: str) -> None:
        target = relative_name(member.linkname, "hardlink target")
        os.link(self._dest / target, self._path(rel), follow_symlinks=False)
        self._files.add(rel)

    def _check_symlinks(self) -> None:
        """Lexical checks miss chains (a/b -> ../.. through another link); realpath does not."""
        root = os.path.realpath(self._dest)
        for rel in self._symlinks:
            real = os.path.realpath(self._dest / rel)
            if os.path.commonpath([root, real]) != root:
                raise ArchiveError(f"unsafe member {rel!r}: symlink resolves outside the tree")
