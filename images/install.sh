#!/usr/bin/env bash
# coserve's one installer: bare VMs, EC2 user-data, the Docker image and CI all run this.
#
#   images/install.sh [--extras LIST] [--venv DIR] [--no-os-packages] [--editable]
#
#   --extras      comma list of: demo, dev, bench, torchserve, tensorflow, podman, dataplane, all (default: none, the
#                 core only)
#                 dataplane: Debian's HAProxy, for Coserve.Server.DataPlane: haproxy (`coserve check` names it missing)
#                 podman: bring-your-own images (podman, runc for cgroup v1 hosts, crun for v2; with dev also
#                 debootstrap, which the tests use to make a base image)
#   --venv        where the virtual environment goes (default: .venv in the checkout)
#   --editable    install the checkout in development mode (the default when .git is present)
#   TORCH_INDEX_URL=URL   take torch from this index (e.g. PyTorch's CPU wheel index: keeps images small);
#                         unset: the index pip is configured with
#
# Idempotent: OS packages already present are not reinstalled, an existing venv is reused.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
extras=""
venv="$here/.venv"
os_packages=1
editable=0
[ -d "$here/.git" ] && editable=1
while [ $# -gt 0 ]; do
  case "$1" in
    --extras) extras=$2; shift 2 ;;
    --venv) venv=$2; shift 2 ;;
    --no-os-packages) os_packages=0; shift ;;
    --editable) editable=1; shift ;;
    --no-editable) editable=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$extras" = all ] && extras="demo,dev,bench,torchserve,tensorflow,podman,dataplane"
has_extra() { [[ ",$extras," == *",$1,"* ]]; }
say() { printf 'install.sh: %s\n' "$*"; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

python_ok() { command -v python3 >/dev/null && python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

if [ "$os_packages" -eq 1 ] && command -v apt-get >/dev/null; then
  wanted=(ca-certificates util-linux procps)
  python_ok || wanted+=(python3 python3-venv python3-dev)
  if has_extra torchserve; then
    command -v java >/dev/null || wanted+=(openjdk-17-jre-headless)
  fi
  has_extra bench && wanted+=(wrk)
  # The three-host test (tests/images/scaleout): Debian's HAProxy as the balancer, iproute2 for network namespaces.
  has_extra dev && wanted+=(haproxy iproute2)
  # DataPlane: haproxy runs Debian's HAProxy (2.6 on bookworm, with Lua) as the front door's relay.
  has_extra dataplane && wanted+=(haproxy)
  # podman with its recommends (netavark, aardvark-dns, catatonit for --init, conmon), as images/ci-image.sh
  # installs and tested it; runc and crun explicitly: Debian's podman takes either, coserve picks by cgroup version.
  engine=()
  if has_extra podman; then
    engine=(podman runc crun)
    has_extra dev && engine+=(debootstrap)
  fi
  missing=()
  missing_engine=()
  for pkg in "${wanted[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  for pkg in "${engine[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing_engine+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ] || [ ${#missing_engine[@]} -gt 0 ]; then
    say "OS packages: installing ${missing[*]} ${missing_engine[*]}"
    $sudo apt-get update -qq
    if [ ${#missing[@]} -gt 0 ]; then
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if [ ${#missing_engine[@]} -gt 0 ]; then
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing_engine[@]}" >/dev/null
    fi
  else
    say "OS packages: all present"
  fi
fi
python_ok || { echo "install.sh: coserve needs Python 3.11 or newer with venv (python3 -m venv)" >&2; exit 1; }

if [ ! -x "$venv/bin/python" ]; then
  say "virtual environment: creating $venv"
  python3 -m venv "$venv"
else
  say "virtual environment: reusing $venv"
fi
log="$venv/install.log"
: >"$log"
pip_install() {
  # pip's chatter goes to the log; on failure the log is shown.
  "$venv/bin/python" -m pip install --disable-pip-version-check "$@" >>"$log" 2>&1 || {
    cat "$log" >&2; echo "install.sh: pip install $* failed (log: $log)" >&2; exit 1; }
}

if has_extra torchserve; then
  # PyTorch first and pinned, so nothing later pulls a multi-GB CUDA build.
  say "PyTorch: torch==2.13.0 ${TORCH_INDEX_URL:+from $TORCH_INDEX_URL}"
  pip_install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch==2.13.0
fi

target="$here"
[ -n "$extras" ] && target="${here}[$extras]"
say "coserve: installing ${target#"$here"} from $here$([ "$editable" -eq 1 ] && echo ' (editable)')"
if [ "$editable" -eq 1 ]; then
  pip_install -e "$target"
else
  pip_install "$target"
fi

if has_extra tensorflow; then
  # tensorflow-serving-api requires the full `tensorflow` wheel; its gRPC stubs work beside tensorflow-cpu.
  say "TensorFlow Serving API: tensorflow-serving-api==2.21.0 (without its tensorflow dependency)"
  pip_install --no-deps tensorflow-serving-api==2.21.0
fi

say "done: $venv/bin/coserve ($("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("coserve"))'))"
