"""An InvokeEndpointAsync request read from its path and headers, checked against botocore's service model.

Every constraint the model declares for the operation's members (lengths, patterns, integer ranges) is checked
here, and all violations are answered together in SageMaker's words:
`2 validation errors detected: Value '30' at 'requestTTLSeconds' failed to satisfy constraint: ...; ...`.
botocore checks minimums before sending; maximums, patterns and raw HTTP clients are the service's to refuse.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from runtime.errors import ValidationError

MAX_INLINE_BODY = 128_000  # AsyncBodyBlob's max: larger payloads go through InputLocation
DEFAULT_TTL_S = 21_600  # RequestTTLSeconds: 6 hours
DEFAULT_TIMEOUT_S = 900  # InvocationTimeoutSeconds: 15 minutes
NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
ASCII = re.compile(r"[\x00-\x7f]*")
PRINTABLE_ID = re.compile(r"\S[\x20-\x7e]*")
INPUT = re.compile(r"(https|s3)://([^/]+)/?(.*)", re.DOTALL)
EXTENSION = re.compile(r"(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+")
FILENAME = re.compile(r"(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9_.-]*")
# member, header, (min length, max length), pattern, sensitive (AWS leaves a sensitive value out of the message)
_STRINGS = (
    ("contentType", "x-amzn-sagemaker-content-type", (0, 1024), ASCII, False),
    ("accept", "x-amzn-sagemaker-accept", (0, 1024), ASCII, False),
    ("customAttributes", "x-amzn-sagemaker-custom-attributes", (0, 1024), ASCII, True),
    ("inferenceId", "x-amzn-sagemaker-inference-id", (1, 64), PRINTABLE_ID, False),
    ("inputLocation", "x-amzn-sagemaker-inputlocation", (1, 1024), INPUT, False),
    ("s3OutputPathExtension", "x-amzn-sagemaker-s3outputpathextension", (1, 512), EXTENSION, False),
    ("filename", "x-amzn-sagemaker-filename", (1, 32), FILENAME, False),
)
_INTEGERS = (
    ("requestTTLSeconds", "x-amzn-sagemaker-requestttlseconds", 60, 21_600),
    ("invocationTimeoutSeconds", "x-amzn-sagemaker-invocationtimeoutseconds", 1, 3_600),
)


@dataclass(frozen=True)
class AsyncRequest:
    endpoint: str
    inference_id: str
    input_location: str | None  # an s3:// URI, or None when the payload came inline
    body: bytes | None  # the inline payload (at most MAX_INLINE_BODY bytes)
    content_type: str | None
    accept: str | None
    custom_attributes: str | None
    extension: str | None  # S3OutputPathExtension
    filename: str | None
    ttl_s: int
    timeout_s: int


def parse(endpoint: str, headers: Mapping[str, str], body: bytes) -> AsyncRequest:
    """The request, or one ValidationError naming every violated constraint. `headers`: lower-case names."""
    problems: list[str] = []
    if len(endpoint) > 63 or not NAME.fullmatch(endpoint):
        problems.append(_violation(endpoint, "endpointName", _string_rule(endpoint, (1, 63), NAME)))
    strings = {
        member: _string(headers.get(h), member, size, p, hide, problems) for member, h, size, p, hide in _STRINGS
    }
    numbers = {member: _integer(headers.get(h), member, low, high, problems) for member, h, low, high in _INTEGERS}
    if len(body) > MAX_INLINE_BODY:
        problems.append(_violation(None, "body", f"Member must have length less than or equal to {MAX_INLINE_BODY}"))
    if problems:
        count = len(problems)
        raise ValidationError(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems))
    location = strings["inputLocation"]
    _exactly_one(location, body)
    if location is not None and not location.startswith("s3://"):
        raise ValidationError(f"InputLocation {location} is not supported: coserve reads s3:// URIs only.")
    return AsyncRequest(
        endpoint=endpoint, inference_id=strings["inferenceId"] or str(uuid.uuid4()), input_location=location,
        body=body if location is None else None, content_type=strings["contentType"], accept=strings["accept"],
        custom_attributes=strings["customAttributes"], extension=strings["s3OutputPathExtension"],
        filename=strings["filename"], ttl_s=numbers["requestTTLSeconds"] or DEFAULT_TTL_S,
        timeout_s=numbers["invocationTimeoutSeconds"] or DEFAULT_TIMEOUT_S,
    )  # fmt: skip


def _exactly_one(location: str | None, body: bytes) -> None:
    if location is None and not body:
        raise ValidationError("InputLocation or Body must be provided: the S3 URI of the payload, or the payload.")
    if location is not None and body:
        raise ValidationError("InputLocation and Body are mutually exclusive: provide exactly one of them.")


def _string(value: str | None, member: str, size: tuple[int, int], pattern: re.Pattern[str], sensitive: bool,
            problems: list[str]) -> str | None:  # fmt: skip
    if value is None:
        return None
    rule = _string_rule(value, size, pattern)
    if rule:
        problems.append(_violation(None if sensitive else value, member, rule))
    return value


def _string_rule(value: str, size: tuple[int, int], pattern: re.Pattern[str]) -> str:
    """The first constraint `value` breaks, in AWS's words, or ""."""
    if len(value) < size[0]:
        return f"Member must have length greater than or equal to {size[0]}"
    if len(value) > size[1]:
        return f"Member must have length less than or equal to {size[1]}"
    if not pattern.fullmatch(value):
        return f"Member must satisfy regular expression pattern: {pattern.pattern}"
    return ""


def _integer(value: str | None, member: str, low: int, high: int, problems: list[str]) -> int | None:
    if value is None:
        return None
    if not re.fullmatch(r"-?[0-9]{1,12}", value.strip()):
        problems.append(_violation(value, member, "Member must be an integer"))
        return None
    number = int(value)
    if number < low:
        problems.append(_violation(value, member, f"Member must have value greater than or equal to {low}"))
    elif number > high:
        problems.append(_violation(value, member, f"Member must have value less than or equal to {high}"))
    return number


def _violation(value: str | None, member: str, rule: str) -> str:
    shown = "" if value is None else f"'{value}' "
    return f"Value {shown}at '{member}' failed to satisfy constraint: {rule}"
