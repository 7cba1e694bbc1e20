"""coserve's own settings through boto3: `coserve:` tags on CreateEndpoint, as DESIGN.md lets extensions ride.

boto3 cannot send a deployment file's `Coserve` section, and a tag value cannot hold JSON (SageMaker's tag
pattern has no braces or quotes), so each scalar setting is one tag whose key is its path in the section:
`coserve:Defaults.Memory = 1GiB`, `coserve:Containers.primary.Cpus = 1.5`,
`coserve:Server.StartupTimeout = 2m`. Values stay strings; `parse_deployment` converts and checks them,
naming the field. List settings (`Command`) have no tag form: give the model a `serve` instead.

The host's sections (Server, Storage, Auth, Metrics) are `coserve serve`'s, one set for every endpoint: a tag
that would set one is refused by name. The one exception is Server.StartupTimeout, which bounds this endpoint's
own containers' start (runtime.control.desired).
"""

from __future__ import annotations

from typing import Any

from runtime.control.errors import ValidationException

PREFIX = "coserve:"
HOST_SECTIONS = ("Server", "Storage", "Auth", "Metrics")  # the host's settings: a deployment file's or host file's
PER_ENDPOINT = {("Server", "StartupTimeout")}  # host settings an endpoint may set for its own containers


def section(tags: list[dict[str, str]]) -> dict[str, Any]:
    """The Coserve section the `coserve:` tags spell; other tags are the caller's own and stay as they are."""
    out: dict[str, Any] = {}
    for tag in tags:
        key = tag.get("Key", "")
        if not key.startswith(PREFIX):
            continue
        path = key[len(PREFIX) :].split(".")
        if not all(path):
            raise ValidationException(f"Tag {key}: expected coserve:<Section>.<Key>, such as coserve:Defaults.Memory.")
        _endpoint_setting(key, path)
        node = out
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValidationException(f"Tag {key}: {part} is already set to a value by another tag.")
            node = child
        if path[-1] in node:
            raise ValidationException(f"Tag {key}: set twice, or a section set to a value.")
        node[path[-1]] = tag.get("Value", "")
    return out


def _endpoint_setting(key: str, path: list[str]) -> None:
    if path[0] in HOST_SECTIONS and tuple(path) not in PER_ENDPOINT:
        raise ValidationException(
            f"Tag {key}: Coserve.{'.'.join(path)} is the host's setting, the same for every endpoint; set it in "
            "the host's file (its Coserve section) that `coserve serve` starts with."
        )


def merged(base: dict[str, Any] | None, extra: dict[str, Any]) -> dict[str, Any] | None:
    """`extra` (from tags) over `base` (a deployment file's section), key by key."""
    if base is None and not extra:
        return None
    out = dict(base or {})
    for key, value in extra.items():
        out[key] = (
            merged(out.get(key), value) if isinstance(value, dict) and isinstance(out.get(key), dict | None) else value
        )
    return out
