"""Decoding a wait status, in one place."""

from __future__ import annotations

import os
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


def describe_wait_status(status: int) -> str:
    """A raw os.waitpid status, for strays reaped by PID 1."""
    if os.WIFSIGNALED(status):
        return describe_returncode(-os.WTERMSIG(status))
    if os.WIFEXITED(status):
        return describe_returncode(os.WEXITSTATUS(status))
    return f"status {status:#x}"
