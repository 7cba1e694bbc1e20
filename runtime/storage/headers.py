"""Tar extension headers, bounded on their own before tarfile reads them.

tarfile reads a GNU long name or link, or a PAX record set, whole into memory before the member it
describes, and recurses once per extension header: the unpacked-size limit does not bound either. A
TarInfo subclass sees each 512-byte header first (`frombuf`) and refuses, before the payload is read,
an extension header over MAX_EXTENSION_BYTES, more than MAX_IN_A_ROW of them before one member, more
than MAX_GLOBAL global PAX headers (their records accumulate), and GNU sparse headers (whose extension
blocks accumulate too; sparse members are refused anyway).
"""

from __future__ import annotations

import tarfile
from typing import Any

from runtime.storage.extract import ArchiveError

MAX_EXTENSION_BYTES = 64 * 1024  # PATH_MAX is 4 KiB; PAX records for one member are a few hundred bytes
MAX_IN_A_ROW = 8  # a PAX header, a GNU long name and a long link cover every real archive
MAX_GLOBAL = 4
_KINDS = {
    tarfile.GNUTYPE_LONGNAME: "GNU long name",
    tarfile.GNUTYPE_LONGLINK: "GNU long link",
    tarfile.XHDTYPE: "PAX",
    tarfile.XGLTYPE: "PAX global",
    tarfile.SOLARIS_XHDTYPE: "PAX",
}


def bounded_tarinfo() -> type[tarfile.TarInfo]:
    """A TarInfo class with its own counters: make one per archive."""
    seen = {"row": 0, "global": 0}

    class BoundedTarInfo(tarfile.TarInfo):
        @classmethod
        def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Any:
            info = super().frombuf(buf, encoding, errors)
            _check(info, seen)
            return info

    return BoundedTarInfo


def _check(info: tarfile.TarInfo, seen: dict[str, int]) -> None:
    if info.type == tarfile.GNUTYPE_SPARSE:
        raise ArchiveError(f"unsafe member {info.name!r}: device, fifo or unsupported type (GNU sparse)")
    kind = _KINDS.get(info.type)
    if kind is None:
        seen["row"] = 0  # an ordinary member header ends the run of extension headers
        return
    if info.size > MAX_EXTENSION_BYTES:
        raise ArchiveError(f"{kind} header of {info.size} bytes exceeds {MAX_EXTENSION_BYTES} bytes")
    seen["row"] += 1
    if seen["row"] > MAX_IN_A_ROW:
        raise ArchiveError(f"more than {MAX_IN_A_ROW} extension headers in a row before one member")
    if info.type == tarfile.XGLTYPE:
        seen["global"] += 1
        if seen["global"] > MAX_GLOBAL:
            raise ArchiveError(f"more than {MAX_GLOBAL} global PAX headers")
