"""HAProxy as coserve's child: started with it, restarted when it dies, gone after SIGTERM with nothing left behind;
Serial endpoints and Coserve.Auth send every request through Python. Real coserve, real HAProxy, real containers."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.leftovers import snapshot
from tests.support import Coserve, echo_container, start_coserve, wait_for

pytestmark = pytest.mark.integration


def haproxy_of(c: Coserve) -> psutil.Process | None:
    return next((p for p in c.descendants() if p.name() == "haproxy"), None)


def direct(plane: str = "haproxy", **coserve: Any) -> dict[str, Any]:
    a, a_cfg = echo_container("a")
    return {"EndpointName": "life", "InferenceExecutionConfig": {"Mode": "Direct"}, "Containers": [a],
            "Coserve": {"Containers": {"a": a_cfg}, "Server": {"DataPlane": plane}, **coserve}}  # fmt: skip


def invoke(c: Coserve, **kwargs: Any) -> Any:
    out = c.client().invoke_endpoint(EndpointName="life", Body=b"{}", ContentType="application/json", **kwargs)
    return out["Body"].read()


def test_sigterm_stops_haproxy_and_leaves_nothing(tmp_path: Path) -> None:
    c = start_coserve(direct(), tmp_path)
    try:
        proxy = haproxy_of(c)
        assert proxy is not None and proxy.ppid() == c.proc.pid
        assert b'"container": "a"' in invoke(c, TargetContainerHostname="a")
        left = snapshot(c)
    finally:
        code = c.stop()
    assert code == 0
    left.assert_gone()
    assert not (tmp_path / "run" / "dataplane").exists()


def test_a_killed_haproxy_is_restarted_and_serves_again(tmp_path: Path) -> None:
    c = start_coserve(direct(), tmp_path)
    try:
        first = haproxy_of(c)
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)
        wait_for(lambda: (p := haproxy_of(c)) is not None and p.pid != first.pid, 15, "a new haproxy")
        wait_for(lambda: c.ping()[0] == 200, 15, "the front door to answer again")
        assert b'"container": "a"' in invoke(c, TargetContainerHostname="a")
        assert "haproxy exited" in c.log.read_text(errors="replace")
    finally:
        assert c.stop() == 0


def test_a_missing_haproxy_binary_fails_fast(tmp_path: Path) -> None:
    """Where HAProxy is not installed (here: a PATH without /usr/sbin, where Debian puts it): exit non-zero, named."""
    env = {"PATH": str(Path(sys.executable).parent)}
    c = start_coserve(direct(), tmp_path, wait_ready=False, env=env)
    try:
        assert c.proc.wait(30) != 0
    finally:
        c.stop()
    assert "no haproxy binary" in c.log.read_text(errors="replace")


def test_serial_and_auth_go_through_python(tmp_path: Path) -> None:
    """No container backend is written: every request is Python's, and still answered through HAProxy."""
    a, a_cfg = echo_container("a")
    b, b_cfg = echo_container("b")
    serial = {"EndpointName": "life", "InferenceExecutionConfig": {"Mode": "Serial"}, "Containers": [a, b],
              "Coserve": {"Containers": {"a": a_cfg, "b": b_cfg}, "Server": {"DataPlane": "haproxy"}}}  # fmt: skip
    c = start_coserve(serial, tmp_path / "serial")
    try:
        assert b'"container": "b"' in invoke(c)
        assert "backend c0" not in (tmp_path / "serial" / "run" / "dataplane" / "haproxy.cfg").read_text()
    finally:
        c.stop()
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    auth = {"Principals": [{"AccessKeyId": "AKIDTEST", "SecretAccessKeyEnv": "T_SECRET", "Policies": [policy]}]}
    c = start_coserve(direct(Auth=auth), tmp_path / "auth", env={"T_SECRET": "secret"})
    try:
        assert b'"container": "a"' in invoke(c, TargetContainerHostname="a")  # signed: SigV4 checked by Python
        assert "backend c0" not in (tmp_path / "auth" / "run" / "dataplane" / "haproxy.cfg").read_text()
    finally:
        c.stop()


def test_haproxy_dies_with_a_killed_coserve(tmp_path: Path) -> None:
    """SIGKILL gives coserve no shutdown: HAProxy goes with it (its parent-death signal); the next coserve on the
    same directories sweeps the containers, as after any SIGKILL, and stops with nothing left."""
    c = start_coserve(direct(), tmp_path)
    left = snapshot(c)
    proxy = haproxy_of(c)
    assert proxy is not None
    c.proc.kill()
    c.proc.wait(10)
    psutil.wait_procs([proxy], timeout=10)
    assert not proxy.is_running()
    again = start_coserve(direct(), tmp_path)
    try:
        assert b'"container": "a"' in invoke(again, TargetContainerHostname="a")
    finally:
        left.add(again.descendants())
        assert again.stop() == 0
        c.stop()
    left.assert_gone()


def test_sigterm_lets_a_relayed_request_finish_then_refuses(tmp_path: Path) -> None:
    c = start_coserve(direct(), tmp_path)
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(invoke, c, TargetContainerHostname="a", CustomAttributes="sleep=1")
            wait_for(lambda: b"echo: sleeping" in c.log.read_bytes(), 10, "the slow request to reach the container")
            c.proc.send_signal(signal.SIGTERM)
            assert b'"container": "a"' in pending.result(timeout=20)
        refused = wait_for(lambda: _refused(c.port), 10, "the public port to refuse connections")
        assert refused
        assert c.proc.wait(60) == 0  # the one SIGTERM's drain ends by itself (a second one would force the exit)
    finally:
        c.stop()
    assert "runtime API" not in c.log.read_text(errors="replace")  # the drain spoke to HAProxy without failing


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_a_response_stream_passes_through_haproxy_as_it_is_written(tmp_path: Path) -> None:
    """Streams are Python's: HAProxy hands each part on as it comes, not buffered until the end."""
    streamer = [sys.executable, str(Path(__file__).parents[3] / "tests" / "containers" / "streamer.py")]
    doc = {"EndpointName": "life", "InferenceExecutionConfig": {"Mode": "Direct"},
           "Containers": [{"ContainerHostname": "s", "Image": "process"}],
           "Coserve": {"Containers": {"s": {"Command": streamer}}, "Server": {"DataPlane": "haproxy"}}}  # fmt: skip
    c = start_coserve(doc, tmp_path)
    try:
        r = c.client().invoke_endpoint_with_response_stream(
            EndpointName="life", TargetContainerHostname="s", Body=b"{}", CustomAttributes="parts=4,gap=0.4"
        )
        arrived, data = [], b""
        for event in r["Body"]:
            arrived.append(time.time())
            data += event["PayloadPart"]["Bytes"]
        lines = [json.loads(line) for line in data.splitlines()]
        assert [doc["i"] for doc in lines] == [0, 1, 2, 3]
        assert arrived[0] < lines[-1]["t"] - 0.8  # the first part came over 0.8 s before the last was written
    finally:
        c.stop()


def test_workers_on_the_command_line_are_refused(tmp_path: Path) -> None:
    c = start_coserve(direct(), tmp_path, extra_args=["--workers", "2"], wait_ready=False)
    try:
        assert c.proc.wait(30) != 0
    finally:
        c.stop()
    assert "DataPlane haproxy runs one router process" in c.log.read_text(errors="replace")
