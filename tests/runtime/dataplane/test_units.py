"""The data plane's pure parts: the setting, HAProxy's configuration (checked by `haproxy -c` where installed), the
routing map's keys, the counter fold, and `coserve check` without a haproxy binary."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from runtime.cli import main
from runtime.config import ConfigError, parse_deployment
from runtime.dataplane.lua import SOURCE
from runtime.dataplane.render import Paths, errorfiles, map_lines, render
from runtime.dataplane.stats import Fold
from runtime.metrics.requests import RequestMetrics
from runtime.routing import ContainerRoute, EndpointTable, HostTable


def doc(mode: str = "Direct", **server: Any) -> dict[str, Any]:
    containers = [{"ContainerHostname": h, "Image": "process"} for h in ("Alpha", "beta")]
    own = {"Containers": {"Alpha": {"Command": ["true"]}, "beta": {"Command": ["true"]}},
           "Server": {"DataPlane": "haproxy", **server}}  # fmt: skip
    return {
        "EndpointName": "My-Ep",
        "InferenceExecutionConfig": {"Mode": mode},
        "Containers": containers,
        "Coserve": own,
    }


def test_data_plane_is_python_by_default_and_checked() -> None:
    plain = doc()
    del plain["Coserve"]["Server"]["DataPlane"]
    assert parse_deployment(plain).server.data_plane == "python"
    assert parse_deployment(doc()).server.data_plane == "haproxy"
    with pytest.raises(ConfigError, match=r"Coserve\.Server\.DataPlane.*must be python or haproxy.*nginx"):
        parse_deployment(doc(DataPlane="nginx"))
    with pytest.raises(ConfigError, match=r"Coserve\.Server\.Workers.*must be 1 with DataPlane haproxy"):
        parse_deployment(doc(Workers=2))


def table(*states: str, ports: tuple[int, int] = (20000, 20100)) -> HostTable:
    """The file's endpoint as the fleet publishes it, beside an endpoint made through the API."""
    names = ("Alpha", "beta")
    routes = tuple(ContainerRoute(h, p, s, f"/log/{h}.log") for h, p, s in zip(names, ports, states, strict=True))
    other = EndpointTable("api-ep", "AllTraffic", "Direct", (ContainerRoute("Alpha", 20200, "RUNNING", "/log/a"),))
    return HostTable((EndpointTable("My-Ep", "AllTraffic", "Direct", routes), other))


def test_the_map_holds_the_files_running_containers_only_keyed_by_lowercased_endpoint() -> None:
    d = parse_deployment(doc())
    assert map_lines(table("RUNNING", "STARTING"), d) == {"my-ep/Alpha": "c0"}
    assert map_lines(table("RUNNING", "RUNNING"), d) == {"my-ep/Alpha": "c0", "my-ep/beta": "c1"}
    # A later generation on other ports (a blue/green update) is not where HAProxy's backends point: Python's.
    assert map_lines(table("RUNNING", "RUNNING", ports=(20300, 20100)), d) == {"my-ep/beta": "c1"}
    serial = HostTable(
        (EndpointTable("My-Ep", "AllTraffic", "Serial", table("RUNNING", "RUNNING").endpoints[0].routes),)
    )
    assert map_lines(serial, parse_deployment(doc("Serial"))) == {}


def write(tmp_path: Path, d: Any) -> Path:
    paths = Paths(tmp_path)
    (tmp_path / "errors").mkdir()
    for name, content in errorfiles(d).items():
        paths.errorfile(name).write_bytes(content)
    paths.lua.write_text(SOURCE)
    paths.routes.write_text("")
    paths.config.write_text(render(d, paths, ("127.0.0.1", 8080), 9090))
    return paths.config


@pytest.mark.integration  # runs `haproxy -c`
@pytest.mark.parametrize(("mode", "auth", "backends"), [("Direct", False, True), ("Serial", False, False),
                                                        ("Direct", True, False)])  # fmt: skip
def test_haproxy_accepts_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, auth: bool, backends: bool
) -> None:
    monkeypatch.setenv("T_SECRET", "secret")
    raw = doc(mode)
    if auth:
        raw["Coserve"]["Auth"] = {
            "Principals": [{"AccessKeyId": "AKIDTEST", "SecretAccessKeyEnv": "T_SECRET", "Policies": []}]
        }
    config = write(tmp_path, parse_deployment(raw))
    assert ("backend c1" in config.read_text()) is backends
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("haproxy is not installed here (images/install.sh --extras dataplane)")
    done = subprocess.run([haproxy, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


CSV = """# pxname,svname,qcur,scur,stot,eresp,econ,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other
c0,c0,0,{scur},{stot},0,0,0,{ok},0,{c4},{c5},0
c0,BACKEND,0,0,99,0,0,0,99,0,{b4},0,0
frontdoor,python,0,0,5,0,0,0,5,0,0,0,0
"""


def counts(m: RequestMetrics, host: str) -> tuple[float, float, float]:
    c = m.of(host)
    return c.invocations.get(), c.errors_4xx.get(), c.errors_5xx.get()


def test_the_fold_adds_finished_requests_moves_too_large_answers_and_counts_refusals() -> None:
    m = RequestMetrics.register(CollectorRegistry(), "My-Ep", "AllTraffic", "Direct")
    fold = Fold(m, {"c0": "Alpha"})
    fold.add(CSV.format(scur=1, stot=5, ok=2, c4=1, c5=0, b4=1))  # one under way, one ended without an answer
    assert counts(m, "Alpha") == (4, 1, 1)
    fold.add(CSV.format(scur=0, stot=7, ok=5, c4=1, c5=0, b4=2), "too-large Alpha 1 0\nbusy Alpha 2\n> ")
    assert counts(m, "Alpha") == (7, 1, 2)  # one of the 2xx was over MaxResponse: a 5XX error, as Python counts it
    assert counts(m, "") == (2, 0, 2)  # refused at MaxInFlight: the variant's, as Python counts them
    fold.add(CSV.format(scur=1, stot=7, ok=5, c4=1, c5=0, b4=2))  # a figure read lower: nothing is taken back
    assert counts(m, "Alpha") == (7, 1, 2)
    fold.reset()  # HAProxy restarted: it counts from 0 again
    fold.add(CSV.format(scur=0, stot=1, ok=1, c4=0, c5=0, b4=0))
    assert counts(m, "Alpha") == (8, 1, 2)


def test_check_names_a_missing_haproxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """Where HAProxy is not installed (here: a PATH without it)."""
    path = tmp_path / "deploy.json"
    path.write_text(__import__("json").dumps(doc()))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["check", str(path)]) == 2
    assert "DataPlane is haproxy but no haproxy binary is on PATH" in capsys.readouterr().err
