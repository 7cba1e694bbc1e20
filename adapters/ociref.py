"""OCI image references (`registry[:port]/path[:tag][@digest]`), as a bring-your-own `Image` is written.

Only fully qualified references are taken: the first component must name a registry (it has a dot or a
port, or is `localhost`). A short name such as `myserver:1` would send podman through its short-name
search list, so which image runs would depend on the host's registries.conf; a typo of an adapter name
would also look like one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    r"^(?P<registry>[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?)"
    rf"/(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$"
)
# <account>.dkr.ecr.<region>.amazonaws.com[.cn], and the FIPS form dkr.ecr-fips
_ECR = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


@dataclass(frozen=True)
class ImageRef:
    registry: str  # host[:port]
    path: str  # repository path inside the registry
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.path}"


@dataclass(frozen=True)
class EcrRegistry:
    account: str  # the registry id that get_authorization_token takes
    region: str


def parse_reference(image: str) -> ImageRef | None:
    """The parts of a fully qualified image reference, or None when `image` is not one."""
    match = _REFERENCE.match(image)
    if match is None or len(image) > 4096:
        return None
    registry = match["registry"]
    if not ("." in registry or ":" in registry or registry == "localhost"):
        return None
    return ImageRef(registry, match["path"], match["tag"], match["digest"])


def ecr_registry(ref: ImageRef) -> EcrRegistry | None:
    """The ECR registry a reference points into, whose pull needs a token from ECR's API."""
    match = _ECR.match(ref.registry)
    return EcrRegistry(match["account"], match["region"]) if match else None
