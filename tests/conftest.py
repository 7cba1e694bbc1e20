"""Fixtures every test tier may use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime.localstore import S3Endpoint, S3Store


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """One real SeaweedFS S3 store on 127.0.0.1 for the whole session, with its own keys."""
    with S3Store() as store:
        yield store.start(tmp_path_factory.mktemp("seaweedfs"))
