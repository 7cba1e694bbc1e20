"""Coserve.Auth as the deployment file writes it: principals, their policies, region and account."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.auth.authenticator import Authenticator
from runtime.auth.policy import PolicyError
from runtime.auth.principals import load_principals
from runtime.units import parse_duration

AUTH_KEYS = ("Principals", "Region", "AccountId", "MaxClockSkew")


def build_authenticator(auth: dict[str, Any], base_dir: Path | None) -> Authenticator:
    """Raises PolicyError listing every problem (secrets never shown) for a bad Coserve.Auth section."""
    problems = [
        f"{key}: unknown key (expected one of {', '.join(AUTH_KEYS)})" for key in sorted(set(auth) - set(AUTH_KEYS))
    ]
    skew = 300.0
    try:
        skew = parse_duration(auth.get("MaxClockSkew", skew))
    except ValueError as exc:
        problems.append(f"MaxClockSkew: {exc}")
    principals = auth.get("Principals")
    if not isinstance(principals, list) or not principals:
        problems.append(f"Principals: must be a non-empty list (got {principals!r})")
        principals = []
    try:
        loaded = load_principals(principals, base_dir=base_dir)
    except PolicyError as exc:
        problems.extend(exc.problems)
    if problems:
        raise PolicyError(problems)
    return Authenticator(
        loaded,
        region=str(auth.get("Region", "us-east-1")),
        account=str(auth.get("AccountId", "000000000000")),
        max_skew_s=skew,
    )


def resolve_auth(auth: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    """The same section with every secret read (from its file or environment variable) and written inline, so a
    process that cannot see the deployment file's folder or coserve's environment builds the same Authenticator
    with `build_authenticator(resolved, None)`. The result holds secrets: keep it in a 0600 file at most."""
    built = build_authenticator(auth, base_dir)  # validates, and reads each secret once
    principals = []
    for entry in auth["Principals"]:
        inline = {k: v for k, v in entry.items() if k not in ("SecretAccessKeyFile", "SecretAccessKeyEnv")}
        inline["SecretAccessKey"] = built.principals[str(entry["AccessKeyId"])].secret_access_key
        principals.append(inline)
    return {**auth, "Principals": principals}
