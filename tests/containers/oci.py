"""The test's bring-your-own image, built with podman from a locally made Debian base (no registry needed).

The base is images/ci-image.sh's, `localhost/coserve-base:bookworm`: reused when podman has it, else made
here the same way (debootstrap minbase with CA certificates and the host's local CAs), so that a later
ci-image.sh run reuses it too. The image adds Debian's python3-minimal and `byo_image/server.py`; its tag
carries a hash of its files, so an unchanged image is built once per machine.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent / "byo_image"
BASE = "localhost/coserve-base:bookworm"
# crun refuses hybrid cgroup hosts, and podman's default ulimits can exceed the host's hard limits.
PODMAN = ["podman", "--runtime", "runc"]
BUILD_FLAGS = ["--network=host", "--ulimit", "nofile=4096:4096"]


class PodmanUnavailable(AssertionError):
    """Raised, never skipped: CI installs podman (images/install.sh --extras podman) before the tests."""


def podman(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def require_podman() -> None:
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    if missing:
        raise PodmanUnavailable(f"{', '.join(missing)} not installed: run images/install.sh --extras dev,podman")
    probe = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False, timeout=60)
    if probe.returncode != 0:
        raise PodmanUnavailable(f"podman cannot run here: {probe.stderr.strip()}")


def debian_mirror() -> str:
    """The first Debian archive apt uses (as ci-image.sh picks it), so debootstrap goes where apt goes."""
    sources = [*Path("/etc/apt").glob("sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for source in sources:
        for url in re.findall(r"https?://\S+/debian/?(?=\s|$)", source.read_text(errors="replace"), re.M):
            if "security" not in url:
                return url
    raise PodmanUnavailable("no Debian archive in apt's sources: debootstrap has nowhere to fetch the test base from")


def make_base() -> None:
    if podman("image", "exists", BASE, check=False).returncode == 0:
        return
    with tempfile.TemporaryDirectory(prefix="coserve-base-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = [
            "debootstrap",
            "--variant=minbase",
            "--include=ca-certificates",
            "bookworm",
            str(rootfs),
            debian_mirror(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            raise AssertionError(f"debootstrap failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        for crt in Path("/usr/local/share/ca-certificates").glob("*.crt"):  # an egress proxy's, a company's
            shutil.copy(crt, rootfs / "usr/local/share/ca-certificates" / crt.name)
        subprocess.run(["chroot", str(rootfs), "update-ca-certificates"], capture_output=True, check=True)
        for leftover in [*rootfs.glob("var/cache/apt/archives/*.deb"), *rootfs.glob("var/lib/apt/lists/*")]:
            if leftover.is_file():
                leftover.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run([*PODMAN, "import", "-q", "--change", 'CMD ["/bin/bash"]', "-", BASE], stdin=tar.stdout,
                       capture_output=True, check=True, timeout=600)  # fmt: skip
        tar.wait()


def build_image() -> str:
    """The test image's reference, built unless this exact one exists."""
    require_podman()
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(HERE.iterdir()) if p.is_file()))
    image = f"localhost/coserve-test-byo:{digest.hexdigest()[:12]}"
    if podman("image", "exists", image, check=False).returncode == 0:
        return image
    make_base()
    podman("build", "-q", *BUILD_FLAGS, "--build-arg", f"BASE={BASE}", "-f", str(HERE / "Containerfile"),
           "-t", image, str(HERE), timeout=900)  # fmt: skip
    return image
