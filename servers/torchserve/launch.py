"""The container's entry point: lay out work_dir for TorchServe, then exec the JVM in place.

Runs inside the container (its mount namespace, cwd=work_dir), as SageMaker's `serve` does, and
replaces itself with `java … org.pytorch.serve.ModelServer` (what the `torchserve` script would
fork), so the pid the supervisor holds is the server and its exit status is the server's.
Everything TorchServe writes goes under work_dir: the model directory is read-only.

    python -m servers.torchserve.launch --model-dir D --work-dir W --bind-port P --safe-ports LO-HI --heap-mb N
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import NoReturn

from adapters.torchserve import properties
from servers.pytorch_handler import SERVER_PID_ENV

HANDLER = "servers.pytorch_handler.service:handle"
SOCKET_PATH_MAX = 107  # sun_path on Linux; the workers' Unix sockets live in java.io.tmpdir
# Everything to stdout, which the supervisor captures as the container's log; no log files, no
# metrics lines (coserve measures the container itself), and no per-request lines (`wlm` at INFO).
LOG4J2 = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration>
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT"><PatternLayout pattern="%d{ISO8601} [%-5p] %c - %m%n"/></Console>
  </Appenders>
  <Loggers>
    <Logger name="MODEL_LOG" level="info" additivity="false"><AppenderRef ref="STDOUT"/></Logger>
    <Logger name="ACCESS_LOG" level="off"/>
    <Logger name="MODEL_METRICS" level="off"/>
    <Logger name="TS_METRICS" level="off"/>
    <Logger name="org.pytorch.serve.wlm" level="warn"/>
    <Logger name="io.netty" level="error"/>
    <Logger name="org.apache" level="off"/>
    <Root level="info"><AppenderRef ref="STDOUT"/></Root>
  </Loggers>
</Configuration>
"""


def main(argv: list[str] | None = None) -> NoReturn:
    args = _parse(argv)
    root, tmp = _prepare(args)
    cmd = _java_argv(args, root, tmp)
    os.environ.update({SERVER_PID_ENV: str(os.getpid()), "TMPDIR": str(tmp)})  # exec keeps the pid
    sys.stdout.flush()
    os.execv(cmd[0], cmd)


def _prepare(args: argparse.Namespace) -> tuple[Path, Path]:
    """TorchServe's dirs, config.properties and log4j2.xml under work_dir; (ts root, tmp dir)."""
    problem = properties.port_problem(args.safe_ports)
    if problem is not None:
        _fail(problem)
    root, tmp = args.work_dir / "ts", args.work_dir / "tmp"
    if len(str(tmp / ".ts.sock.65535")) > SOCKET_PATH_MAX:
        _fail(f"work dir {args.work_dir} is too long for TorchServe's worker sockets under {tmp}: shorten RunDir")
    for folder in (root / "model-store", root / "logs", tmp):
        folder.mkdir(parents=True, exist_ok=True)
    ports = properties.ports(args.bind_port, args.safe_ports)
    (root / "config.properties").write_text(properties.render(properties.config_properties(ports, HANDLER, os.environ)))
    (root / "log4j2.xml").write_text(LOG4J2)
    return root, tmp


def _java_argv(args: argparse.Namespace, root: Path, tmp: Path) -> list[str]:
    """What the `torchserve` script would run, with our heap, temp dir and logging."""
    home = _ts_home()
    model = _model_url(args.model_dir, root / "model-store")
    return [
        _java(), f"-Dmodel_server_home={home}", f"-Dlog4j.configurationFile=file://{root / 'log4j2.xml'}",
        f"-Djava.io.tmpdir={tmp}", f"-Xmx{args.heap_mb}m", "-XX:+ExitOnOutOfMemoryError", *_jvm_cpu_flags(),
        *shlex.split(os.environ.get("SAGEMAKER_MODEL_SERVER_VMARGS", "")),
        "-cp", str(Path(home) / "ts" / "frontend" / "*"), "org.pytorch.serve.ModelServer",
        # -ncs first: anything after -m is read as one more model to load.
        "--python", sys.executable, "-f", str(root / "config.properties"), "-s", str(root / "model-store"), "-ncs",
        "-m", f"{properties.MODEL_NAME}={model}",
    ]  # fmt: skip


def _jvm_cpu_flags() -> list[str]:
    """The JVM sizes its GC and fork-join pools from the host's cores unless told the container's."""
    raw = os.environ.get(properties.THREADS_ENV) or "1"
    if not raw.isdigit() or int(raw) < 1:
        _fail(f"{properties.THREADS_ENV}={raw!r}: expected a whole number of threads, at least 1")
    n = int(raw)
    return [f"-XX:ActiveProcessorCount={n}", f"-XX:ParallelGCThreads={n}", f"-XX:ConcGCThreads={max(1, n // 4)}"]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="servers.torchserve.launch")
    p.add_argument("--model-dir", type=Path, required=True)
    p.add_argument("--work-dir", type=Path, required=True)
    p.add_argument("--bind-port", type=int, required=True)
    p.add_argument("--safe-ports", type=_port_range, required=True)
    p.add_argument("--heap-mb", type=int, required=True)
    return p.parse_args(argv)


def _port_range(text: str) -> tuple[int, int]:
    lo, hi = text.split("-", 1)
    return int(lo), int(hi)


def _model_url(model_dir: Path, store: Path) -> str:
    """A `.mar` in the model dir is served as is; otherwise the dir itself, with our handler."""
    mars = sorted(model_dir.glob("*.mar"))
    if len(mars) > 1:
        _fail(f"more than one .mar in the model directory: {', '.join(m.name for m in mars)}")
    if not mars:
        return str(model_dir)
    # TorchServe loads a .mar only from its model store (it unpacks it under java.io.tmpdir).
    link = store / f"{properties.MODEL_NAME}.mar"
    link.unlink(missing_ok=True)
    link.symlink_to(mars[0])
    return link.name


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if java is None or not Path(java).is_file():
        _fail("TorchServe needs a Java runtime (11 or later): set JAVA_HOME or put `java` on PATH")
    return java


def _ts_home() -> str:
    spec = importlib.util.find_spec("ts")
    if spec is None or spec.origin is None:
        _fail("TorchServe is not installed in this Python (pip install torchserve)")
    return str(Path(spec.origin).parent.parent)


def _fail(message: str) -> NoReturn:
    print(f"coserve torchserve: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


if __name__ == "__main__":
    main()
