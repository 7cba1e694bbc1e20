"""Decoding a wait status, in one place."""

from __future__ import annotations

import signal


def describe_returncode(returncode: int) -> str:
    """Popen's returncode (negative = killed by that signal) as Supervisor-style words."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"terminated by {name}"
    return f"exit status {returncode}"
