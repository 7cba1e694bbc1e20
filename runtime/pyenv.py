"""`code/requirements.txt`: installed before the server starts, as SageMaker's framework containers do.

Into an environment of its own (`python -m venv --system-site-packages`) that also sees the packages of
coserve's interpreter (a `.pth` adds its site directories after the environment's own, so a pinned
requirement wins and the framework stays visible), kept under `<CacheDir>/pyenvs/<hash>` where the hash
covers the file's bytes, the interpreter and the pip options: a restart, or a second container with
the same file, installs nothing. Built in place (a venv is not relocatable) under a lock, and marked
complete last, so a crash's half-built environment is rebuilt from scratch. A pip failure is final:
retrying the same file against the same index fails the same way.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import shutil
import site
import subprocess
import sys
from pathlib import Path

from runtime.storage.budget import PYENV_COMPLETE

log = logging.getLogger("runtime.pyenv")
COMPLETE = PYENV_COMPLETE
PIP_TIMEOUT_S = 1800.0


class RequirementsError(Exception):
    """pip could not install a requirements.txt; the message ends with pip's own last lines."""


class PythonEnvs:
    def __init__(self, root: Path, wheelhouse: Path | None = None, python: str = sys.executable) -> None:
        self.root = root
        self.wheelhouse = wheelhouse
        self.python = python

    def key(self, requirements: Path) -> str:
        """Names the environment for this file, interpreter and pip options."""
        options = f"{self.python}\0{sys.version}\0{self.wheelhouse}\0".encode()
        return hashlib.sha256(options + requirements.read_bytes()).hexdigest()[:32]

    def ensure(self, requirements: Path, log_to: Path | None = None) -> Path:
        """The interpreter of an environment with `requirements` installed; pip's output goes to `log_to`."""
        env = self.root / self.key(requirements)
        python = env / "bin" / "python"
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f"{env.name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (env / COMPLETE).exists():
                log.info("%s: environment %s already has it; nothing to install", requirements, env.name)
                (env / COMPLETE).touch()  # its last use, for the cache budget
                return python
            shutil.rmtree(env, ignore_errors=True)  # a crash's half-built one, if any
            try:
                self._build(env, requirements, log_to)
            except BaseException:
                shutil.rmtree(env, ignore_errors=True)
                raise
            (env / COMPLETE).touch()
        return python

    def _build(self, env: Path, requirements: Path, log_to: Path | None) -> None:
        log.info("%s: installing into %s", requirements, env)
        self._run([self.python, "-m", "venv", "--system-site-packages", "--without-pip", str(env)], log_to)
        purelib = env / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
        dirs = [d for d in site.getsitepackages() if Path(d).is_dir()]
        # addsitedir, not a bare path: coserve's own .pth files (an editable install) must run too.
        (purelib / "_coserve_parent.pth").write_text("".join(f"import site; site.addsitedir({d!r})\n" for d in dirs))
        pip = [self.python, "-m", "pip", "--python", str(env / "bin" / "python"), "install",
               "--disable-pip-version-check", "--no-input", "-r", str(requirements)]  # fmt: skip
        if self.wheelhouse is not None:
            pip += ["--no-index", "--find-links", str(self.wheelhouse)]
        self._run(pip, log_to, what=f"pip install -r {requirements.name}")

    def _run(self, argv: list[str], log_to: Path | None, what: str | None = None) -> None:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RequirementsError(f"{what or argv[2]} failed: {exc}") from exc
        output = done.stdout + done.stderr
        if log_to is not None:
            with log_to.open("a") as f:
                f.write(f"coserve: $ {' '.join(argv)}\n{output}")
        if done.returncode != 0:
            tail = "\n".join(output.strip().splitlines()[-15:])
            raise RequirementsError(f"{what or ' '.join(argv[:3])} failed (exit {done.returncode}):\n{tail}")
