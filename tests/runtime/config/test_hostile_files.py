"""Hostile deployment files through the real `coserve check`: each ends in a message naming what is wrong
(exit 2), never a traceback, and within bounded memory."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import ROOT, sigterm_when_parent_dies

pytestmark = pytest.mark.integration  # each case runs the real `coserve check` (or serve) as a process
ECHO = {"Command": [sys.executable, "echo.py"]}
GOOD = {
    "EndpointName": "ep",
    "InferenceExecutionConfig": {"Mode": "Direct"},
    "Containers": [{"ContainerHostname": "a", "Image": "process"}],
    "Coserve": {"Containers": {"a": ECHO}},
}
MEMORY_CAP = 1 << 30  # address space for one `coserve check`: a bomb that expands hits it and fails loudly


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def check(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime", "check", str(path), *args], cwd=ROOT, capture_output=True,
        text=True, timeout=60, preexec_fn=_cap_memory,
    )  # fmt: skip


def refused(path: Path, *args: str) -> str:
    """The one error message of a refused file; fails on a traceback, a crash or acceptance."""
    done = check(path, *args)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr[-2000:])
    assert done.stderr.startswith("coserve: ")
    return done.stderr


def write(tmp_path: Path, text: str | bytes, name: str = "deploy.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def with_server(**server: Any) -> dict[str, Any]:
    return {**GOOD, "Coserve": {**GOOD["Coserve"], "Server": server}}


def test_the_good_file_is_accepted(tmp_path: Path) -> None:
    done = check(write(tmp_path, yaml.safe_dump(GOOD)))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "a: process (no artifact)\n"


def test_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    text = b"EndpointName: e\xffp\n" + yaml.safe_dump({k: v for k, v in GOOD.items() if k != "EndpointName"}).encode()
    assert "not UTF-8: byte 0xff at offset 15 (invalid start byte)" in refused(write(tmp_path, text))


@pytest.mark.parametrize("name", ["deploy.yaml", "deploy.json"])
def test_nesting_thousands_deep(tmp_path: Path, name: str) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    message = refused(write(tmp_path, '{"EndpointName": "ep", "Containers": ' + deep + "}", name))
    assert "nested more than 100 levels deep" in message


def test_nesting_just_inside_what_the_parsers_survive(tmp_path: Path) -> None:
    """900 levels: json's own recursion limit lets it through; our bound must still catch it."""
    deep = "[" * 900 + "]" * 900
    message = refused(write(tmp_path, '{"EndpointName": "ep", "Containers": ' + deep + "}", "deploy.json"))
    assert "nested more than 100 levels deep" in message


BOMB = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
    + ["EndpointName: *i"]
)


def test_a_billion_laughs(tmp_path: Path) -> None:
    assert len(BOMB) < 1000
    message = refused(write(tmp_path, BOMB))
    assert "aliases expand to more than 10000 nodes" in message
    assert len(message) < 1000


def test_a_recursive_alias(tmp_path: Path) -> None:
    message = refused(write(tmp_path, "EndpointName: &x [*x]\n"))
    assert "alias *x refers to a node that contains it" in message


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    text = f"""EndpointName: ep
InferenceExecutionConfig: {{Mode: Direct}}
Containers:
  - {{ContainerHostname: a, Image: process, Environment: &env {{A: "1"}}}}
  - {{ContainerHostname: b, Image: process, Environment: *env}}
Coserve:
  Containers:
    a: &cmd {{Command: [{sys.executable}, echo.py]}}
    b: *cmd
"""
    done = check(write(tmp_path, text))
    assert (done.returncode, done.stdout) == (0, "a: process (no artifact)\nb: process (no artifact)\n"), done.stderr


def test_a_file_over_the_size_cap(tmp_path: Path) -> None:
    text = yaml.safe_dump(GOOD) + "# " + "x" * (1 << 20) + "\n"
    assert "is larger than 1MiB, the most a deployment file may be" in refused(write(tmp_path, text))


def test_a_huge_bad_value_is_not_echoed_whole(tmp_path: Path) -> None:
    doc = {**GOOD, "Unknown": ["x" * 1000] * 500}
    message = refused(write(tmp_path, json.dumps(doc), "deploy.json"))
    assert "Unknown: unknown key (got ['xxxx" in message
    assert len(message) < 1000


@pytest.mark.parametrize(
    "text", ["EndpointName: ep\nEndpointName: other\n", '{"EndpointName": "ep", "EndpointName": "x"}']
)
def test_duplicate_keys(tmp_path: Path, text: str) -> None:
    name = "deploy.json" if text.startswith("{") else "deploy.yaml"
    assert "duplicate key 'EndpointName'" in refused(write(tmp_path, text, name))


def test_duplicate_keys_deeper_down_name_the_line(tmp_path: Path) -> None:
    text = yaml.safe_dump(GOOD) + "Tags: [{Key: a, Value: b, Key: c}]\n"
    message = refused(write(tmp_path, text))
    assert "duplicate key 'Key'" in message and "line 13, column 27" in message


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("StopGrace", ".inf", "Coserve.Server.StopGrace: a duration must be finite (got inf)"),
        ("StartupTimeout", "-.inf", "Coserve.Server.StartupTimeout: a duration must be finite (got -inf)"),
        ("DrainTimeout", ".nan", "Coserve.Server.DrainTimeout: a duration must be finite (got nan)"),
        ("MaxContainers", "1.5", "Coserve.Server.MaxContainers: must be an integer (got 1.5)"),
        ("Workers", "2.0", "Coserve.Server.Workers: must be an integer (got 2.0)"),
        ("MaxPayload", "'" + "9" * 25 + "TiB'", "Coserve.Server.MaxPayload: must be at most"),
    ],
)
def test_bad_numbers(tmp_path: Path, key: str, value: str, needle: str) -> None:
    text = yaml.safe_dump(GOOD).replace("Coserve:\n", f"Coserve:\n  Server: {{{key}: {value}}}\n", 1)
    assert needle in refused(write(tmp_path, text))


def test_a_limit_that_is_not_an_integer(tmp_path: Path) -> None:
    doc = {**GOOD, "Coserve": {"Containers": {"a": {**ECHO, "Pids": 64.5, "CpuWeight": 10.5}}}}
    message = refused(write(tmp_path, json.dumps(doc), "deploy.json"))
    assert "Coserve.Containers.a.Pids: must be an integer (got 64.5)" in message
    assert "Coserve.Containers.a.CpuWeight: must be an integer (got 10.5)" in message


def test_a_serial_pipeline_of_one_container(tmp_path: Path) -> None:
    doc = {**GOOD, "InferenceExecutionConfig": {"Mode": "Serial"}}
    message = refused(write(tmp_path, json.dumps(doc), "deploy.json"))
    assert "InferenceExecutionConfig.Mode: Serial is an inference pipeline of 2 to 15 containers" in message
    assert "for one container leave out InferenceExecutionConfig (got 1)" in message


def test_one_container_without_a_mode_is_a_single_container_model(tmp_path: Path) -> None:
    doc = {"EndpointName": "ep", "Containers": [{"Image": "process"}],
           "Coserve": {"Containers": {"container-1": ECHO}}}  # fmt: skip
    assert check(write(tmp_path, json.dumps(doc), "deploy.json")).returncode == 0


@pytest.mark.parametrize("port", [25000, 25003])
def test_the_front_door_port_on_a_container_port(tmp_path: Path, port: int) -> None:
    path = write(tmp_path, yaml.safe_dump(with_server(PortBase=25000, PortBlock=10)))
    message = refused(path, "--port", str(port))
    assert f"--port {port}: " in message and "container a" in message
    assert "Coserve.Server.PortBase" in message
    assert check(path, "--port", "25010").returncode == 0


def test_serve_refuses_the_clash_before_starting_anything(tmp_path: Path) -> None:
    path = write(tmp_path, yaml.safe_dump(with_server(PortBase=25000, PortBlock=10, LogDir=str(tmp_path / "logs"))))
    argv = [sys.executable, "-m", "runtime", "serve", str(path), "--port", "25000"]
    proc = subprocess.Popen(argv, cwd=ROOT, stderr=subprocess.PIPE, text=True, preexec_fn=sigterm_when_parent_dies)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # it served instead of refusing: stop it and its containers
            proc.terminate()
            proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--port 25000: " in err and "Traceback" not in err
    assert not (tmp_path / "logs").exists(), "nothing started"


@pytest.mark.parametrize(
    ("where", "needle"),
    [
        ({"Server": {"LogDir": "/tmp/a\u0000b"}}, "Coserve.Server.LogDir: must not contain a NUL character"),
        ({"Mixed": 1, "7": 2}, "Coserve.7: unknown key"),
    ],
)
def test_odd_values_and_keys(tmp_path: Path, where: dict[str, Any], needle: str) -> None:
    doc = {**GOOD, "Coserve": {**GOOD["Coserve"], **where}}
    assert needle in refused(write(tmp_path, json.dumps(doc), "deploy.json"))


def test_keys_of_mixed_types(tmp_path: Path) -> None:
    message = refused(write(tmp_path, yaml.safe_dump(GOOD) + "1: x\nzzz: y\n"))
    assert "1: unknown key (got 'x')" in message and "zzz: unknown key (got 'y')" in message
