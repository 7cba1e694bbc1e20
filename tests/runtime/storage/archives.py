"""Build model tarballs, good and hostile, member by member."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

MODEL_FILES = {
    "code/inference.py": b"def model_fn(model_dir):\n    return model_dir\n",
    "code/requirements.txt": b"",
    "model.pth": os.urandom(64 * 1024),
    "bin/serve.sh": b"#!/bin/sh\necho serve\n",
}


def member(
    name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, **attrs: object
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o755 if name.endswith(".sh") or kind == tarfile.DIRTYPE else 0o644
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def tar_gz(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def model_tarball(version: bytes = b"1") -> bytes:
    members = [member("code", kind=tarfile.DIRTYPE), member("VERSION", version)]
    members += [member(name, data) for name, data in MODEL_FILES.items()]
    members.append(member("latest.pth", kind=tarfile.SYMTYPE, linkname="model.pth"))
    members.append(member("code/copy.py", kind=tarfile.LNKTYPE, linkname="code/inference.py"))
    return tar_gz(members)


def _flip_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 16]) + data[middle + 16 :]


HOSTILE: dict[str, tuple[bytes, str]] = {
    # name: (archive bytes, what the error message must say)
    "corrupt-gzip": (_flip_middle(model_tarball()), "corrupt gzip/tar"),
    "truncated-gzip": (model_tarball()[:-200], "corrupt gzip/tar"),
    "not-gzip": (b"PK\x03\x04 this is a zip, not a gzip", "not a gzip file"),
    "not-a-tar": (__import__("gzip").compress(os.urandom(4096)), "not a tar archive"),
    "dotdot": (tar_gz([member("../x", b"pwned")]), "'..' component"),
    "dotdot-inner": (tar_gz([member("code/../../x", b"pwned")]), "'..' component"),
    "absolute": (tar_gz([member("/tmp/coserve-pwned", b"pwned")]), "absolute path"),
    "symlink-escape": (
        tar_gz([member("evil", kind=tarfile.SYMTYPE, linkname="../../../etc/passwd")]),
        "leaves the tree",
    ),
    "symlink-absolute": (
        tar_gz([member("evil", kind=tarfile.SYMTYPE, linkname="/etc/passwd")]),
        "leaves the tree",
    ),
    "symlink-chain": (
        tar_gz(
            [
                member("p/q/up", kind=tarfile.SYMTYPE, linkname="../.."),
                member("p/q/evil", kind=tarfile.SYMTYPE, linkname="up/../etc"),
            ]
        ),
        "outside",
    ),
    "write-through-symlink": (
        tar_gz(
            [
                member("sub", kind=tarfile.DIRTYPE),
                member("d", kind=tarfile.SYMTYPE, linkname="sub"),
                member("d/x", b"data"),
            ]
        ),
        "passes through a symlink",
    ),
    "hardlink-escape": (
        tar_gz([member("evil", kind=tarfile.LNKTYPE, linkname="../../etc/passwd")]),
        "'..' component",
    ),
    "hardlink-absolute": (
        tar_gz([member("evil", kind=tarfile.LNKTYPE, linkname="/etc/passwd")]),
        "absolute path",
    ),
    "hardlink-missing": (
        tar_gz([member("evil", kind=tarfile.LNKTYPE, linkname="etc/passwd")]),
        "outside the archive",
    ),
    "char-device": (
        tar_gz([member("dev/null", kind=tarfile.CHRTYPE, devmajor=1, devminor=3)]),
        "device",
    ),
    "fifo": (tar_gz([member("pipe", kind=tarfile.FIFOTYPE)]), "device, fifo"),
}


def oversize_tarball(files: int = 8, each: int = 4096) -> bytes:
    """Each file is under any small limit on its own; together they pass it."""
    return tar_gz([member(f"part{i}.bin", os.urandom(each)) for i in range(files)])


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
