#!/usr/bin/env bash
# Build the guest image for the real-kernel tier: Debian bookworm from the host's own apt mirror
# (debootstrap), booted with the unified cgroup hierarchy, a runner unit that runs the share's script and
# powers off, and coserve's dependencies installed offline from a wheelhouse made on the host.
#   build-image.sh OUT_DIR WHEELHOUSE
# Writes OUT_DIR/{vmlinuz,initrd.img,disk.ext4}. run.sh calls it only when its cache key changed.
set -euo pipefail
out=$1
wheels=$2
here=$(cd "$(dirname "$0")" && pwd)
say() { printf 'vm-build: %s\n' "$*"; }

# The first bookworm mirror the host's apt uses (deb822 .sources first, then sources.list).
host_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk 'BEGIN{RS=""} /(^|\n)Suites:[^\n]*bookworm( |\n|$)/ && !/security/ {
      if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { split(substr($0, RSTART, RLENGTH), a, /[ \t]+/); print a[2]; exit } }' "$f"
  done
  [ -r /etc/apt/sources.list ] && awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list
  return 0
}
mirror=$(host_mirror | head -1)
[ -n "$mirror" ] || { echo "vm-build: no bookworm mirror in the host's apt sources" >&2; exit 1; }

work=$(mktemp -d /var/tmp/coserve-vm-build.XXXXXX)
root=$work/root
cleanup() {
  umount -l "$root/proc" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

packages=systemd,systemd-sysv,udev,dbus,kmod,initramfs-tools,linux-image-amd64,python3,python3-venv
packages+=,procps,iproute2,util-linux,git,ca-certificates,curl
say "debootstrap bookworm from $mirror"
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -30 "$work/debootstrap.log" >&2; exit 1; }

say "system settings and the runner unit"
echo coserve-vm >"$root/etc/hostname"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$root/etc/fstab"
printf '9p\n9pnet\n9pnet_virtio\n' >"$root/etc/modules-load.d/coserve-vm.conf"
install -m 755 "$here/guest-runner.sh" "$root/usr/local/sbin/coserve-vm-runner"
cat >"$root/etc/systemd/system/coserve-vm-runner.service" <<'UNIT'
[Unit]
Description=coserve real-kernel tier: run /mnt/host/guest.sh, write its output back, power off
After=basic.target dbus.socket
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/coserve-vm-runner
StandardOutput=journal+console
StandardError=journal+console
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/coserve-vm-runner.service "$root/etc/systemd/system/multi-user.target.wants/"
# Nothing else to wait for in a guest without network or logins.
ln -sf /dev/null "$root/etc/systemd/system/systemd-networkd-wait-online.service"
ln -sf /dev/null "$root/etc/systemd/system/getty.target"

say "coserve's dependencies into /opt/coserve-test and /opt/coserve, offline, from the wheelhouse"
mkdir -p "$root/var/lib/coserve-wheelhouse"
cp "$wheels"/*.whl "$root/var/lib/coserve-wheelhouse/"
# pip on this guest installs only from the local wheelhouse, as it must without network (user-data.sh too).
printf '[global]\nno-index = true\nfind-links = /var/lib/coserve-wheelhouse\n' >"$root/etc/pip.conf"
mount -t proc proc "$root/proc"
# A clean environment: the host's PIP_* variables must not reach the guest's pip.
in_root() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$root" "$@"; }
# coserve's wheel pulls exactly its dependencies; coserve itself is installed at each boot from the share
# (/opt/coserve-test, for the checks) or by user-data.sh (/opt/coserve, which install.sh then reuses:
# installing the dependencies under emulation would take minutes of the tier's budget).
for venv in /opt/coserve-test /opt/coserve; do
  in_root python3 -m venv "$venv"
  in_root sh -c "$venv/bin/pip install -q --disable-pip-version-check /var/lib/coserve-wheelhouse/coserve-*.whl &&
    $venv/bin/pip uninstall -q -y coserve"
done
umount "$root/proc"

say "kernel, initramfs and the root file system image"
mkdir -p "$out"
cp "$root"/boot/vmlinuz-* "$out/vmlinuz"
cp "$root"/boot/initrd.img-* "$out/initrd.img"
rm -rf "$root/var/cache/apt/archives/"*.deb
mkfs.ext4 -q -F -L coserve-vm -d "$root" "$out/disk.ext4.tmp" 3G
mv "$out/disk.ext4.tmp" "$out/disk.ext4"
say "done: $out"
