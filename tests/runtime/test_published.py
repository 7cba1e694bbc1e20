"""runtime.published: one value, held in process or followed through a file, with one rule for a bad file."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime.published import NothingPublished, Published, write_atomic


@dataclass(frozen=True)
class Doc:
    n: int

    def to_json(self) -> str:
        return json.dumps({"n": self.n})

    @classmethod
    def from_json(cls, text: str) -> Doc:
        return cls(**json.loads(text))


def test_a_holder_gives_back_what_was_set() -> None:
    held: Published[Doc] = Published()
    assert held.latest() is None
    with pytest.raises(NothingPublished):
        held.get()
    held.set(Doc(1))
    assert held.get() == Doc(1)


def test_a_follower_sees_every_publication_even_within_one_clock_tick(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    writer: Published[Doc] = Published.writing(path)
    follower = Published.following(path, Doc.from_json, max_stale_s=0)
    with pytest.raises(NothingPublished, match=r"doc\.json"):
        follower.get()  # no file yet: nothing published
    for n in range(50):  # faster than the file system's mtime granularity: the inode tells them apart
        writer.set(Doc(n))
        assert follower.get() == Doc(n)
    assert writer.get() == Doc(49)


def test_a_missing_or_undecodable_file_is_not_a_publication(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    writer: Published[Doc] = Published.writing(path)
    follower = Published.following(path, Doc.from_json, max_stale_s=0)
    writer.set(Doc(7))
    assert follower.get() == Doc(7)
    path.write_text('{"n": ')  # half a document, as a stray writer would leave it
    assert follower.get() == Doc(7)
    path.unlink()  # removed at shutdown
    assert follower.get() == Doc(7)
    writer.set(Doc(8))  # the next good publication is seen
    assert follower.get() == Doc(8)


def test_staleness_is_bounded_by_max_stale_s(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    writer: Published[Doc] = Published.writing(path)
    writer.set(Doc(1))
    follower = Published.following(path, Doc.from_json, max_stale_s=3600)
    assert follower.get() == Doc(1)
    writer.set(Doc(2))
    assert follower.get() == Doc(1), "within the bound, the file is not looked at again"
    follower.max_stale_s = 0
    assert follower.get() == Doc(2)


def test_a_follower_does_not_publish(tmp_path: Path) -> None:
    follower = Published.following(tmp_path / "doc.json", Doc.from_json)
    with pytest.raises(TypeError, match="followed here"):
        follower.set(Doc(1))


def test_write_atomic_sets_the_mode_whatever_the_umask_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    old = os.umask(0)
    try:
        write_atomic(path, "{}", 0o600)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.json"]
