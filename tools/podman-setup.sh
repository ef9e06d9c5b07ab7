#!/usr/bin/env bash
# Podman as a Docker engine for the container tests, on a machine without
# Docker and without a reachable container registry (see docs/containers.md and
# ../shared/notes/podman.md). Idempotent: a second run installs and builds
# nothing and reuses a running service.
#
#   bash tools/podman-setup.sh [up]   install, configure, base image, API service,
#                                     health-check loop; prints KEY=VALUE lines
#   bash tools/podman-setup.sh env    only prints the KEY=VALUE lines
#   bash tools/podman-setup.sh down   stops the API service and the health loop
#                                     this run folder started (images are kept)
#
# Folders (override with the environment):
#   PROCOS_PODMAN_DIR  storage and configuration, kept between runs: images
#                      (the Debian base image among them) live here
#                      (default /var/tmp/procos-podman)
#   PROCOS_PODMAN_RUN  the API socket, pid files and logs of one user of the
#                      service (default $PROCOS_PODMAN_DIR/run)
#
# Standard output carries only the KEY=VALUE lines (CONTAINERS_CONF,
# CONTAINERS_STORAGE_CONF, DOCKER_HOST, PROCOS_PODMAN_DIR, PROCOS_PODMAN_RUN);
# progress goes to standard error.
set -euo pipefail

dir=${PROCOS_PODMAN_DIR:-/var/tmp/procos-podman}
run=${PROCOS_PODMAN_RUN:-$dir/run}
base_image=localhost/debian:bookworm
mirror=${PROCOS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=(podman runc uidmap slirp4netns debootstrap docker-compose iptables)

log() { printf 'podman-setup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

print_env() {
  printf 'CONTAINERS_CONF=%s\n' "$dir/containers.conf"
  printf 'CONTAINERS_STORAGE_CONF=%s\n' "$dir/storage.conf"
  printf 'DOCKER_HOST=unix://%s\n' "$run/podman.sock"
  printf 'PROCOS_PODMAN_DIR=%s\n' "$dir"
  printf 'PROCOS_PODMAN_RUN=%s\n' "$run"
}

# stop PIDFILE: ends the process whose id the file holds (if it is alive).
stop() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

alive() { # alive PIDFILE
  [ -f "$1" ] && kill -0 "$(cat "$1" 2>/dev/null || echo 0)" 2>/dev/null
}

api_answers() {
  [ -S "$run/podman.sock" ] &&
    curl -fsS --max-time 3 --unix-socket "$run/podman.sock" http://d/_ping >/dev/null 2>&1
}

case "${1:-up}" in
  env)
    print_env
    exit 0
    ;;
  down)
    stop "$run/healthloop.pid"
    stop "$run/service.pid"
    rm -f "$run/podman.sock"
    log "stopped the API service and the health-check loop of $run"
    exit 0
    ;;
  up) ;;
  *) die "unknown command '$1': use up, env or down" ;;
esac

[ "$(id -u)" -eq 0 ] || die "run as root (podman here runs rootful)"
export DEBIAN_FRONTEND=noninteractive

# 1. Packages (about 35 s on a fresh machine).
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    containernetworking-plugins golang-github-containernetworking-plugin-dnsname \
    ca-certificates >&2 ||
    apt-get install -y -qq "${missing[@]}" >&2
fi
command -v podman >/dev/null || die "podman is not installed after apt-get install"

# 2. Configuration under a folder of ours. Fixes this machine needs: runc
# (crun refuses hybrid cgroups), ulimits the host allows, events to a file (no
# systemd journal), storage under $dir.
mkdir -p "$dir/storage" "$dir/runroot" "$dir/tmp" "$dir/networks" "$run"
write_if_changed() { # write_if_changed FILE (content on stdin)
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}
write_if_changed "$dir/containers.conf" <<EOF
# Written by tools/podman-setup.sh.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
events_logger = "file"
events_logfile_path = "$dir/events.log"
cgroup_manager = "cgroupfs"
tmp_dir = "$dir/tmp"

[network]
network_config_dir = "$dir/networks"
EOF
write_if_changed "$dir/storage.conf" <<EOF
# Written by tools/podman-setup.sh.
[storage]
driver = "overlay"
graphroot = "$dir/storage"
runroot = "$dir/runroot"
EOF
export CONTAINERS_CONF="$dir/containers.conf"
export CONTAINERS_STORAGE_CONF="$dir/storage.conf"

# 3. The Debian base image, built once with debootstrap (about 2 minutes) and
# kept in $dir/storage. A lock keeps two set-ups from building it together.
exec 9>"$dir/build.lock"
flock 9
if podman image exists "$base_image"; then
  log "base image $base_image present"
else
  rootfs="$dir/rootfs"
  rm -rf "$rootfs"
  log "building $base_image with debootstrap (about 2 minutes, once)"
  started=$SECONDS
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$dir/debootstrap.log" 2>&1 ||
    { tail -n 20 "$dir/debootstrap.log" >&2; die "debootstrap failed (log: $dir/debootstrap.log)"; }
  # Same mirror inside the image as the host uses, and no apt caches.
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$base_image" >/dev/null
  rm -rf "$rootfs"
  log "built $base_image in $((SECONDS - started)) s"
fi
flock -u 9

# 4. The Docker-API service on a socket of ours (restarted when the
# configuration changed since it started).
conf_hash=$(cat "$dir/containers.conf" "$dir/storage.conf" | sha256sum | cut -c1-16)
if api_answers && [ "$(cat "$run/service.conf" 2>/dev/null || true)" != "$conf_hash" ] &&
  alive "$run/service.pid"; then
  log "configuration changed: restarting the API service"
  stop "$run/service.pid"
fi
if api_answers; then
  log "API service answers on $run/podman.sock"
else
  stop "$run/service.pid"
  rm -f "$run/podman.sock"
  # From its run folder, not the caller's: the service outlives this script,
  # and conmon fails ("Failed to get working directory") once that folder is gone.
  (cd "$run" && exec setsid podman system service --time=0 "unix://$run/podman.sock" \
    </dev/null >"$run/service.log" 2>&1) &
  echo $! >"$run/service.pid"
  echo "$conf_hash" >"$run/service.conf"
  for _ in $(seq 1 100); do api_answers && break; sleep 0.1; done
  api_answers || { tail -n 20 "$run/service.log" >&2; die "podman system service did not answer"; }
  log "API service started on $run/podman.sock (pid $(cat "$run/service.pid"))"
fi

# 5. Health checks: podman schedules them with systemd timers, and there is no
# systemd here, so run each running container's health check every 2 s.
if alive "$run/healthloop.pid"; then
  log "health-check loop running (pid $(cat "$run/healthloop.pid"))"
else
  cat >"$run/healthloop.sh" <<'EOF'
#!/usr/bin/env bash
# Runs `podman healthcheck run` every 2 s for each running container with a
# health check (podman's own timers need systemd). Written by podman-setup.sh.
set -u
while :; do
  for id in $(podman ps -q --filter health=starting --filter health=healthy \
    --filter health=unhealthy 2>/dev/null); do
    timeout 60 podman healthcheck run "$id" >/dev/null 2>&1 &
  done
  wait
  sleep 2
done
EOF
  (cd "$run" && exec setsid bash "$run/healthloop.sh" </dev/null >"$run/healthloop.log" 2>&1) &
  echo $! >"$run/healthloop.pid"
  log "health-check loop started (pid $(cat "$run/healthloop.pid"))"
fi

print_env
