#!/bin/sh
# Baked into the guest image as a oneshot unit: mount the host's 9p share, run its guest.sh, write the
# output and the exit status back to the share, power off. The host reads /mnt/host/out/{log,rc}.
mkdir -p /mnt/host
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /mnt/host; then
  mkdir -p /mnt/host/out
  bash /mnt/host/guest.sh >/mnt/host/out/log 2>&1
  echo $? >/mnt/host/out/rc
  sync
else
  echo "coserve-vm-runner: cannot mount the 9p share" >/dev/console
fi
systemctl poweroff --no-block
