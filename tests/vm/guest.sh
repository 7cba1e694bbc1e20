#!/bin/bash
# Runs inside the guest (coserve-vm-runner.service, as root): the versions under test, coserve from this
# checkout's wheel, then every check of guest_checks.py. Its output and exit status go back to the host.
set -u
share=/mnt/host
podman=$(podman --version 2>/dev/null || echo "not installed: this tier checks namespaces with unshare")
echo "guest: kernel $(uname -r); $(systemctl --version | head -1); $(python3 --version); podman: $podman"
# No .pyc compiling at install time (user-data.sh's pip too): under emulation it is a large part of an install.
printf '[install]\nno-compile = true\n' >>/etc/pip.conf
mkdir -p /opt/coserve-vm
cp "$share/src/echo.py" /opt/coserve-vm/
/opt/coserve-test/bin/pip install -q --no-deps --disable-pip-version-check "$share"/wheel/coserve-*.whl || exit 1
cd "$share/src" && exec /opt/coserve-test/bin/python guest_checks.py "$share/src"
