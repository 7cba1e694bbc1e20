"""The checks of the real-kernel tier, run in order in one boot of the guest; one PASS/FAIL line each.

    /opt/coserve-test/bin/python guest_checks.py SHARE_SRC

Exit status 0 only if every check passed. Each check cleans up after itself, so one failure does not
hide the next check's result.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from guest_lib import CG, ECHO, Coserve, Load, all_coserve_cgroups, cgroup_of, invoke, ping, read, run_dirs, wait_for

RESULTS: list[tuple[str, bool]] = []


def check(fn: Callable[[], str]) -> None:
    name = fn.__name__.removeprefix("check_")
    started = time.monotonic()
    try:
        detail = fn()
        RESULTS.append((name, True))
        print(f"PASS {name} ({time.monotonic() - started:.0f}s): {detail}", flush=True)
    except Exception:  # report and go on: every check runs in this one boot
        RESULTS.append((name, False))
        print(f"FAIL {name} ({time.monotonic() - started:.0f}s):\n{traceback.format_exc()}", flush=True)
    finally:
        _sweep()


def _sweep() -> None:
    """Whatever a failed check left: its coserve, then everything in a coserve cgroup outside the service."""
    subprocess.run(["pkill", "-KILL", "-f", "runtime serve /var/tmp/vm-checks"], check=False)
    left = [p for p in all_coserve_cgroups() if "coserve.service" not in p.parts]
    for path in left:
        if (path / "cgroup.kill").exists():
            (path / "cgroup.kill").write_text("1")
    for path in sorted((d for p in left for d in [p, *p.rglob("*")] if d.is_dir()), key=lambda d: -len(d.parts)):
        wait_for(lambda d=path: _rmdir(d), 10, f"rmdir {path}")  # killed tasks leave their cgroup soon after


def cgroup_line(c: Coserve) -> str:
    return next(line for line in c.text().splitlines() if "cgroups: v" in line or "cgroups: none" in line)


def group(run: Path, hostname: str) -> Path:
    """A container's cgroup under coserve's run cgroup: named by its key, `<endpoint>.<generation>.<hostname>`."""
    found = [d for d in run.iterdir() if d.is_dir() and d.name.endswith(f".{hostname}")] if run.is_dir() else []
    return found[0] if len(found) == 1 else run / hostname


def limits_of(run: Path) -> dict[str, str]:
    files = {"hog": ["memory.max", "memory.swap.max", "pids.max"], "steady": ["cpu.max", "cpu.weight", "pids.max"]}
    return {f"{h}/{f}": read(group(run, h) / f) for h, names in files.items() for f in names
            if (group(run, h) / f).exists()}  # fmt: skip


def assert_limits(run: Path, cpu: bool = True) -> dict[str, str]:
    got = limits_of(run)
    want = {"hog/memory.max": str(64 << 20), "hog/pids.max": "64", "steady/pids.max": "32"}
    if cpu:
        want |= {"steady/cpu.max": "50000 100000", "steady/cpu.weight": "200"}
    assert {k: got.get(k) for k in want} == want, got
    return got


def in_a_fresh_cgroup(name: str) -> list[str]:
    """A shell prefix that moves itself into a new cgroup below the root, then execs coserve."""
    (CG / name).mkdir(exist_ok=True)
    return ["sh", "-c", f'echo $$ > {CG / name}/cgroup.procs && exec "$@"', "sh"]


def check_unified_hierarchy() -> str:
    fstype = subprocess.run(["stat", "-fc", "%T", str(CG)], capture_output=True, text=True, check=True).stdout.strip()
    assert fstype == "cgroup2fs", fstype
    given = read(CG / "cgroup.subtree_control")
    return f"{CG} is {fstype}; root controllers: {read(CG / 'cgroup.controllers')}; enabled for children: {given}"


def check_stock_systemd_root() -> str:
    """Alone in a fresh cgroup under the root of a stock systemd: use what is given (memory pids)."""
    given = set(read(CG / "cgroup.subtree_control").split())
    c = Coserve("stock-root", 8101, in_a_fresh_cgroup("vm-stock")).ready()
    run = cgroup_of(c.coserve_pid()).parent
    assert run.parent == CG / "vm-stock", run
    assert_limits(run, cpu="cpu" in given)
    text = c.text()
    assert "cgroups: v2" in text
    if "cpu" not in given:
        assert "without the cpu controller" in text and "Cpus and CpuWeight limits are NOT enforced" in text, text
    assert c.stop() == 0
    assert run_dirs(CG / "vm-stock") == [], run_dirs(CG / "vm-stock")
    wait_for(lambda: _rmdir(CG / "vm-stock"), 10, "rmdir vm-stock")
    warning = next((line for line in text.splitlines() if "limits are NOT enforced" in line), "no warning")
    return f"given {sorted(given)}; {cgroup_line(c).split('cgroups:', 1)[1][:160]}; {warning.split('WARNING')[-1]}"


def check_busy_cgroup_oom_kill9_sigterm() -> str:
    """From this runner's own (busy, undelegated) cgroup: a delegated scope; limits; an OOM; kill -9; SIGTERM."""
    c = Coserve("busy", 8102).ready()
    assert "moved into the systemd scope" in c.text(), c.text()[-2000:]
    leaf = cgroup_of(c.coserve_pid())
    run, scope = leaf.parent, leaf.parent.parent
    assert leaf.name == "supervisor" and scope.name.startswith("coserve.") and scope.suffix == ".scope", leaf
    assert_limits(run)
    assert read(group(run, "hog") / "memory.swap.max") == "0"

    load = Load(8102, "busy", "steady")
    try:
        status, body = invoke(8102, "busy", "hog", "hog=400")
        assert status == 424, (status, body)
        wait_for(lambda: "oom_kill 1" in read(group(run, "hog") / "memory.events"), 30, "oom_kill in memory.events")
        wait_for(lambda: ping(8102) == 200 and invoke(8102, "busy", "hog")[0] == 200, 120, "the hog back")
    finally:
        load.finish()
    assert load.failures == [] and load.served > 0, (load.served, load.failures[:3])
    assert "killed by the OOM killer" in c.text()
    oom = f"hog OOM-killed (424, memory.events oom_kill 1, restarted) while steady answered {load.served}/{load.served}"

    pids = [int(p) for h in ("hog", "steady") for p in read(group(run, h) / "cgroup.procs").split()]
    assert c.stop(signal.SIGKILL) == -signal.SIGKILL
    assert all(Path(f"/proc/{p}").exists() for p in pids), "containers outlive a kill -9 of coserve"
    again = Coserve("busy", 8102).ready()
    assert f"removed cgroups left by an earlier coserve run: {scope.name}" in again.text(), again.text()[-2000:]
    assert not scope.exists() and not any(Path(f"/proc/{p}").exists() for p in pids)
    new_scope = cgroup_of(again.coserve_pid()).parent.parent
    assert again.stop() == 0
    wait_for(lambda: not new_scope.exists(), 30, f"systemd to collect {new_scope}")
    assert all_coserve_cgroups() == [], all_coserve_cgroups()
    return (
        f"{oom}; kill -9 left {len(pids)} container processes, the next start swept {scope.name}; SIGTERM left nothing"
    )


def _namespaced(name: str, port: int, fresh_mount: bool) -> str:
    """With a fresh mount, the way docker and podman run a container on systemd: a delegated scope
    (all controllers), a private cgroup namespace rooted there, cgroup2 mounted anew. Without, a
    cgroup made by hand below the root (the controllers systemd enables there), the host's mount seen."""
    inner = ["unshare", "--cgroup", "--fork"]
    if fresh_mount:  # a private mount namespace, the cgroup2 mount made anew (rooted at the namespace)
        box = CG / "system.slice" / f"{name}.scope"
        outer = ["systemd-run", "--quiet", "--scope", "-p", "Delegate=yes", "--unit", f"{name}.scope"]
        inner += ["--mount", "sh", "-c", f'umount -l {CG} && mount -t cgroup2 none {CG} && exec "$@"', "sh"]
    else:
        box, outer = CG / name, in_a_fresh_cgroup(name)
    c = Coserve(name, port, [*outer, *inner]).ready()
    text = c.text()
    assert "cgroups: v2" in text and "root of coserve's cgroup namespace" in text, text[-2000:]
    runs = run_dirs(box)
    assert len(runs) == 1, runs
    given = read(box / "cgroup.controllers").split()
    assert "cpu" in given or not fresh_mount, given  # a delegated scope is given every controller
    got = assert_limits(runs[0], cpu="cpu" in given)
    assert not list(CG.glob("coserve.*")), "nothing created at the host's root"
    assert c.stop() == 0
    assert run_dirs(box) == [], run_dirs(box)
    leftover = sorted(p.name for p in box.iterdir() if p.is_dir()) if box.exists() else []
    for path in [box / "init", box]:  # the test's own; the kernel frees an exited task's cgroup soon after
        wait_for(lambda p=path: _rmdir(p), 10, f"rmdir {path}")
    return f"{cgroup_line(c).split('cgroups:', 1)[1][:160]}; limits {got}; after SIGTERM only {leftover}"


def _rmdir(path: Path) -> bool:
    try:
        path.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def check_namespace_fresh_mount() -> str:
    return _namespaced("vm-ns-fresh", 8103, fresh_mount=True)


def check_namespace_host_mount() -> str:
    return _namespaced("vm-ns-host", 8104, fresh_mount=False)


def check_user_data(src: Path) -> str:
    """images/user-data.sh run as cloud-init runs it: as root, once, on this guest, whose image already holds
    coserve's dependencies in /opt/coserve (a baked image; install.sh reuses the venv and installs coserve)."""
    Path("/etc/coserve").mkdir(exist_ok=True)
    Path("/etc/coserve/deploy.yaml").write_text(json.dumps(_service_deployment()))
    script = (src / "user-data.sh").read_text()
    settings = {
        "COSERVE_GIT": str(src / "coserve.bundle"),
        "COSERVE_REF": (src / "coserve.ref").read_text().strip(),
        "COSERVE_DEPLOYMENT": "/etc/coserve/deploy.yaml",
        "COSERVE_EXTRAS": '""',
    }
    lines = [_setting(line, settings) for line in script.splitlines()]
    Path("/var/lib/cloud-user-data.sh").write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    done = subprocess.run(["bash", "/var/lib/cloud-user-data.sh"], capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    wait_for(lambda: ping(8080) == 200, 240, "the service to serve on 8080")
    assert invoke(8080, "svc", "steady")[0] == 200
    reused = "reusing /opt/coserve" in done.stdout
    return f"user-data.sh ran in {took:.0f}s (venv reused: {reused}); coserve.service serves on 127.0.0.1:8080"


def _setting(line: str, settings: dict[str, str]) -> str:
    key = line.split("=", 1)[0]
    return f"{key}={settings[key]}" if key in settings and "=" in line else line


def _service_deployment() -> dict[str, object]:
    containers = [{"ContainerHostname": h, "Image": "process", "Environment": {}} for h in ("hog", "steady")]
    return {
        "EndpointName": "svc",
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": containers,
        "Coserve": {
            "Containers": {
                "hog": {"Command": ECHO, "Memory": "64MiB", "Pids": 64},
                "steady": {"Command": ECHO, "Cpus": 0.5, "CpuWeight": 200, "Pids": 32},
            },
            "Server": {"PortBase": 8300, "PortBlock": 10},
        },
    }


def _main_pid() -> int:
    out = subprocess.run(["systemctl", "show", "-P", "MainPID", "coserve"], capture_output=True, text=True)
    return int(out.stdout.strip() or 0)


def check_service() -> str:
    """The unit from images/coserve.service: limits in its delegated subtree, Restart= after kill -9, stop drains."""
    unit = CG / "system.slice" / "coserve.service"
    pid = _main_pid()
    assert pid and cgroup_of(pid).name == "supervisor" and cgroup_of(pid).parent.parent == unit, cgroup_of(pid)
    got = assert_limits(cgroup_of(pid).parent)
    subprocess.run(["kill", "-9", str(pid)], check=True)
    wait_for(lambda: _main_pid() not in (0, pid), 60, "systemd to restart coserve")
    wait_for(lambda: ping(8080) == 200, 240, "the restarted service to serve")
    runs = run_dirs(unit)
    assert len(runs) == 1, runs
    answers: list[tuple[int, bytes]] = []
    slow = threading.Thread(target=lambda: answers.append(invoke(8080, "svc", "steady", "sleep=3")))
    slow.start()
    wait_for(_client_connected, 30, "the slow request to reach the front door")
    subprocess.run(["systemctl", "stop", "coserve"], check=True)
    slow.join()
    assert answers and answers[0][0] == 200, answers
    state = subprocess.run(["systemctl", "is-active", "coserve"], capture_output=True, text=True).stdout.strip()
    assert state == "inactive", state
    assert not unit.exists() or not [p for p in unit.iterdir() if p.is_dir()], list(unit.iterdir())
    assert all_coserve_cgroups() == [], all_coserve_cgroups()
    return f"limits {got}; restarted after kill -9; systemctl stop drained a 3 s request (200) and left nothing"


def _client_connected() -> bool:
    ss = ["ss", "-Htn", "state", "established", "( sport = :8080 )"]
    return bool(subprocess.run(ss, capture_output=True, text=True, check=False).stdout.strip())


def main() -> int:
    src = Path(sys.argv[1])
    for fn in [
        check_unified_hierarchy,
        check_stock_systemd_root,
        check_busy_cgroup_oom_kill9_sigterm,
        check_namespace_fresh_mount,
        check_namespace_host_mount,
    ]:
        check(fn)
    _user_data_then_service(src)
    failed = [name for name, ok in RESULTS if not ok]
    print(f"guest checks: {len(RESULTS) - len(failed)} passed, {len(failed)} failed {failed or ''}", flush=True)
    return 1 if failed else 0


def _user_data_then_service(src: Path) -> None:
    def check_user_data_sh() -> str:
        return check_user_data(src)

    check(check_user_data_sh)
    if RESULTS[-1][1]:
        check(check_service)
    else:
        RESULTS.append(("service", False))
        print("FAIL service: not run, user-data.sh did not install it", flush=True)


if __name__ == "__main__":
    sys.exit(main())
