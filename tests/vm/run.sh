#!/usr/bin/env bash
# The real-kernel tier: boot a Debian 12 guest with the unified cgroup hierarchy under QEMU's emulation
# (TCG: this machine's KVM cannot run a stock kernel), run every check of tests/vm/guest.sh in that one
# boot, print the guest's output and exit with its status.
#   bash tests/vm/run.sh
# The image (tests/vm/build-image.sh) is cached under $COSERVE_VM_CACHE (default /var/tmp/coserve-vm),
# keyed by a hash of its inputs; coserve itself is built from this checkout on every run.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${COSERVE_VENV:-.venv}
cache=${COSERVE_VM_CACHE:-/var/tmp/coserve-vm}
limit_s=${COSERVE_VM_TIMEOUT:-900}
say() { printf 'vm: %s\n' "$*"; }
start=$SECONDS

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
  say "OS packages: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The image depends on these scripts and on coserve's core dependencies, not on the rest of pyproject.toml.
deps=$("$venv/bin/python" -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print(p["dependencies"])')
key=$({ cat tests/vm/build-image.sh tests/vm/guest-runner.sh; echo "$deps"; } | sha256sum | cut -c1-16)
image=$cache/image-$key
mkdir -p "$cache"
if [ ! -f "$image/disk.ext4" ]; then
  say "building the guest image $image"
  wheels=$(mktemp -d "$cache/wheels.XXXXXX")
  "$venv/bin/python" -m pip wheel -q --disable-pip-version-check --wheel-dir "$wheels" . "setuptools>=68" wheel \
    >"$cache/wheels.log" 2>&1 || { cat "$cache/wheels.log" >&2; exit 1; }
  bash tests/vm/build-image.sh "$image.tmp" "$wheels"
  rm -rf "$wheels" "$image"
  mv "$image.tmp" "$image"
  find "$cache" -maxdepth 1 -name 'image-*' ! -name "image-$key" -exec rm -rf {} +
  say "image built in $((SECONDS - start))s"
else
  say "reusing the guest image $image"
fi

run=$(mktemp -d "$cache/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
share=$run/share
mkdir -p "$share/wheel" "$share/src"
"$venv/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps --wheel-dir "$share/wheel" . \
  >"$run/wheel.log" 2>&1 || { cat "$run/wheel.log" >&2; exit 1; }
cp tests/vm/guest.sh "$share/guest.sh"
cp tests/vm/guest_*.py tests/containers/echo.py images/coserve.service images/user-data.sh "$share/src/"
# user-data.sh clones coserve with git: this checkout's HEAD, as a bundle (the guest has no network).
git bundle create -q "$share/src/coserve.bundle" HEAD
git rev-parse HEAD >"$share/src/coserve.ref"

say "booting the guest (TCG, 2 vCPUs, 2 GiB), at most ${limit_s}s"
boot=$SECONDS
status=0
timeout "$limit_s" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 2048 \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 panic=-1 quiet" \
  -drive "file=$image/disk.ext4,format=raw,if=virtio,snapshot=on" \
  -virtfs "local,path=$share,mount_tag=host,security_model=none" \
  -nic none -display none -monitor none -serial "file:$run/console.log" -no-reboot </dev/null || status=$?
say "guest ran $((SECONDS - boot))s (qemu exit $status); tier total $((SECONDS - start))s"
if [ ! -f "$share/out/rc" ]; then
  echo "vm: the guest wrote no exit status; its console ends:" >&2
  tail -40 "$run/console.log" >&2
  [ -f "$share/out/log" ] && cat "$share/out/log"
  exit 1
fi
cat "$share/out/log"
rc=$(cat "$share/out/rc")
say "guest checks exit status $rc"
exit "$rc"
