"""One error root for the TF Serving side: it carries its HTTP status and renders as TFS's `{"error": "..."}`."""

from __future__ import annotations

import json


class TfsError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> bytes:
        return error_body(self.message)


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def bad_request(message: str) -> TfsError:
    return TfsError(400, message)


def not_found(message: str) -> TfsError:
    return TfsError(404, message)


def status_of(exc: BaseException) -> int:
    """The HTTP status for an exception raised while running a model: caller's fault (400) or ours (500)."""
    if isinstance(exc, TfsError):
        return exc.status
    if isinstance(exc, ValueError | TypeError):
        return 400  # shapes, dtypes, ragged lists: what TF and numpy raise on a bad request
    # tf.errors.OpError carries a canonical code; INVALID_ARGUMENT (3) and FAILED_PRECONDITION (9) are the caller's.
    return 400 if getattr(exc, "error_code", None) in (3, 9) else 500
