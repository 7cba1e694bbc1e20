"""Fixtures every test tier may use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from runtime.cli.localstore import S3Endpoint, S3Store

# Property tests check outcomes, not speed: a per-example deadline only flakes on a busy 2-core machine.
settings.register_profile("coserve", deadline=None)
settings.load_profile("coserve")


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """One real SeaweedFS S3 store on 127.0.0.1 for the whole session, with its own keys."""
    with S3Store() as store:
        yield store.start(tmp_path_factory.mktemp("seaweedfs"))
