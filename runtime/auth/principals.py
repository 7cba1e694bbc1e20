"""Principals: an access key, its secret and the IAM policies attached to it.

Secrets come inline, from a file or from an environment variable; none ever appears in a
repr, a log line or an error message.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.auth.policy import Policy, PolicyError, check_policy, show

_FIELDS = frozenset({"AccessKeyId", "SecretAccessKey", "SecretAccessKeyFile", "SecretAccessKeyEnv", "Name", "Policies"})
_SECRET_SOURCES = ("SecretAccessKey", "SecretAccessKeyFile", "SecretAccessKeyEnv")
# The key id sits in the Credential scope between slashes, the name in an IAM user ARN.
_KEY_ID = re.compile(r"\w{1,128}")
_NAME = re.compile(r"[\w+=,.@-]{1,64}")


@dataclass(frozen=True)
class Principal:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    name: str
    policies: tuple[Policy, ...] = ()

    def arn(self, account: str) -> str:
        return f"arn:aws:iam::{account}:user/{self.name}"


def load_principals(raw: list[dict[str, Any]], *, base_dir: Path | None = None) -> tuple[Principal, ...]:
    """Validate every entry of the deployment file's principals; PolicyError lists all problems.

    A relative SecretAccessKeyFile is resolved against `base_dir` (the deployment file's folder);
    Name, used in logs and in the `arn:aws:iam::<account>:user/<Name>` of denials, defaults to
    the AccessKeyId.
    """
    problems: list[str] = []
    if not isinstance(raw, list):
        raise PolicyError([f"principals: must be a list, got {show(raw)}"])
    found = [_principal(e, i, base_dir or Path.cwd(), problems) for i, e in enumerate(raw)]
    entries = [e for e in raw if isinstance(e, dict)]
    for field_name in ("AccessKeyId", "Name"):
        values = [str(v) for e in entries if (v := e.get(field_name, e.get("AccessKeyId"))) is not None]
        for dup in sorted({v for v in values if values.count(v) > 1}):
            problems.append(f"principals: duplicate {field_name} {dup!r}")
    if problems:
        raise PolicyError(problems)
    return tuple(p for p in found if p is not None)


def _principal(entry: object, index: int, base_dir: Path, problems: list[str]) -> Principal | None:
    if not isinstance(entry, dict):
        problems.append(f"principals[{index}]: must be an object, got {show(entry)}")
        return None
    key_id = entry.get("AccessKeyId")
    name = entry.get("Name", key_id)
    where = f"principals[{index}] {name!r}"
    before = len(problems)
    for extra in sorted(set(entry) - _FIELDS, key=str):
        problems.append(f"{where}: unknown field {extra!r}")
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        problems.append(f"{where}.AccessKeyId: must be 1-128 letters, digits or _, got {show(key_id)}")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(f"{where}.Name: must be 1-64 of [A-Za-z0-9+=,.@_-], got {show(name)}")
    secret = _secret(entry, where, base_dir, problems)
    policies = entry.get("Policies", [])
    if not isinstance(policies, list):
        problems.append(f"{where}.Policies: must be a list of policy documents, got {show(policies)}")
        policies = []
    parsed: list[Policy] = []
    for j, doc in enumerate(policies):
        found: list[str] = []
        parsed.append(check_policy(doc, f"Policies[{j}]", found))
        problems.extend(f"{where}: {problem}" for problem in found)
    if len(problems) > before:
        return None
    return Principal(str(key_id), secret, str(name), tuple(parsed))


def _secret(entry: dict[str, Any], where: str, base_dir: Path, problems: list[str]) -> str:
    """The secret from exactly one source; messages name the source but never the secret."""
    given = [source for source in _SECRET_SOURCES if source in entry]
    if len(given) != 1:
        problems.append(f"{where}: exactly one of {', '.join(_SECRET_SOURCES)} is required")
        return ""
    source, value = given[0], entry[given[0]]
    if not isinstance(value, str) or not value:
        problems.append(f"{where}.{source}: must be a non-empty string")
        return ""
    if source == "SecretAccessKeyFile":
        path = Path(value) if Path(value).is_absolute() else base_dir / value
        try:
            value = path.read_text().strip()  # files usually end in a newline
        except OSError as exc:
            problems.append(f"{where}.{source}: cannot read {str(path)!r}: {exc.strerror}")
            return ""
    elif source == "SecretAccessKeyEnv":
        name, value = value, os.environ.get(value, "").strip()
        if not value:
            problems.append(f"{where}.{source}: environment variable {name!r} is unset or empty")
            return ""
    if not value:
        problems.append(f"{where}.{source}: the secret is empty")
    return value
