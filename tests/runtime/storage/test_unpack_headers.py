"""Extension headers (GNU long names and links, PAX records) are bounded on their own, small: tarfile
reads each whole into memory before the member it describes, so the unpacked-size limit is no guard."""

from __future__ import annotations

import gzip
import io
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from runtime.storage.extract import ArchiveError, UnpackLimits
from runtime.storage.unpack import MAX_EXTENSION_BYTES, unpack

LIMITS = UnpackLimits(max_bytes=1 << 30, max_files=1000)
HUGE = 4 << 20  # a 4 MiB name: gzip makes it a few KiB on disk


def _tar_gz(info: tarfile.TarInfo, fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=fmt) as tar:
        tar.addfile(info, io.BytesIO(b"data"))
    return buf.getvalue()


def _refused(blob: bytes, tmp_path: Path) -> str:
    path = tmp_path / "m.tar.gz"
    path.write_bytes(blob)
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError) as caught:
            unpack(path, tmp_path / "out", LIMITS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < HUGE // 2, f"held {peak} bytes reading one header"
    return str(caught.value)


@pytest.mark.parametrize(("fmt", "what"), [(tarfile.GNU_FORMAT, "GNU long name"), (tarfile.PAX_FORMAT, "PAX")])
def test_a_huge_long_name_is_refused_before_it_is_read(fmt: int, what: str, tmp_path: Path) -> None:
    info = tarfile.TarInfo("x" * HUGE)
    info.size = 4
    message = _refused(_tar_gz(info, fmt), tmp_path)
    assert message.startswith(f"{what} header of ") and f"exceeds {MAX_EXTENSION_BYTES} bytes" in message


def test_a_huge_long_link_is_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("link")
    info.type, info.linkname = tarfile.SYMTYPE, "y" * HUGE
    assert _refused(_tar_gz(info, tarfile.GNU_FORMAT), tmp_path).startswith("GNU long link header of ")


def test_a_chain_of_extension_headers_is_refused(tmp_path: Path) -> None:
    """Each PAX header makes tarfile recurse once more; thousands in a row would exhaust the stack."""
    one = tarfile.TarInfo._create_pax_generic_header({"comment": "c"}, tarfile.XHDTYPE, "utf-8")  # type: ignore[attr-defined]
    info = tarfile.TarInfo("model.txt")
    info.size = 4
    body = one * 5000 + info.tobuf(tarfile.USTAR_FORMAT) + b"data".ljust(512, b"\0") + b"\0" * 1024
    message = _refused(gzip.compress(body), tmp_path)
    assert message == "more than 8 extension headers in a row before one member"


def test_ordinary_long_names_still_unpack(tmp_path: Path) -> None:
    name = "d/" * 60 + "model.txt"  # 129 characters: past ustar's 100, so a GNU or PAX header carries it
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        info = tarfile.TarInfo(name)
        info.size = 4
        path = tmp_path / f"{fmt}.tar.gz"
        path.write_bytes(_tar_gz(info, fmt))
        unpack(path, tmp_path / f"out{fmt}", LIMITS)
        assert (tmp_path / f"out{fmt}" / name).read_bytes() == b"data"
