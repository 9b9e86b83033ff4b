#!/bin/bash
# test/up.sh — start berthd in the background and run a first container.
# Called by `make up` (as root) after the dependencies and berth are installed.
#
#   BERTHD, BERTH      the binaries (default: from $PATH, /usr/local/bin first)
#   BERTHD_ARGS        extra flags for berthd
#   BERTHD_LOG         berthd's log (default /var/log/berthd.log)
#   BERTH_PIDFILE      berthd's pid file (default /run/berth/berthd.pid, written by berthd)
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH=/usr/local/bin:$PATH
BERTHD=${BERTHD:-$(command -v berthd || true)}
BERTH=${BERTH:-$(command -v berth || true)}
LOG=${BERTHD_LOG:-/var/log/berthd.log}
PIDFILE=${BERTH_PIDFILE:-/run/berth/berthd.pid}

die() { echo "up: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (berthd runs containers)"
[ -x "$BERTHD" ] || die "berthd not found: run 'make install'"
[ -x "$BERTH" ] || die "berth not found: run 'make install'"

running() {
	local pid
	pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q berthd "/proc/$pid/cmdline" 2>/dev/null
}

if running; then
	echo "berthd is already running (pid $(cat "$PIDFILE"))"
else
	mkdir -p "$(dirname "$LOG")"
	echo "starting berthd (log: $LOG)"
	# shellcheck disable=SC2086
	nohup "$BERTHD" ${BERTHD_ARGS:-} >>"$LOG" 2>&1 </dev/null &
	pid=$!
	for _ in $(seq 1 150); do
		"$BERTH" version >/dev/null 2>&1 && break
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$LOG" >&2
			die "berthd exited during startup (see $LOG)"
		fi
		sleep 0.2
	done
	"$BERTH" version >/dev/null 2>&1 || { tail -n 30 "$LOG" >&2; die "berthd does not answer after 30s (see $LOG)"; }
	echo "berthd is running (pid $pid)"
fi

if [ -z "$("$BERTH" images -q busybox 2>/dev/null)" ]; then
	echo "building the busybox image from Debian's busybox-static (offline) and loading it"
	tmp=$(mktemp /tmp/berth-busybox.XXXXXX.tar)
	trap 'rm -f "$tmp"' EXIT
	if ! out=$(test/images/mkbusybox.sh "$tmp" 2>&1); then
		echo "$out" >&2
		die "could not build the busybox image"
	fi
	"$BERTH" load -i "$tmp"
fi

state=$("$BERTH" info --format '{{.StateDir}}' 2>/dev/null || echo /run/berth)
if [ -S "$state/docker.sock" ]; then
	echo "Docker clients (docker, compose, docker-py) talk to berth with:"
	echo "  export DOCKER_HOST=unix://$state/docker.sock"
fi
if [ -f "$state/ui.url" ]; then
	echo "The web dashboard: open the address 'berth ui' prints (berth ui --open):"
	echo "  $("$BERTH" ui 2>/dev/null)"
else
	echo "The web dashboard is off. Turn it on with ui = \"127.0.0.1:7070\" in /etc/berth/berthd.toml"
	echo "(or BERTHD_ARGS='--ui 127.0.0.1:7070'), restart berthd (make down && make up), then: berth ui --open"
fi

exec "$BERTH" run --rm busybox echo "
Hello from berth!
This message shows that your installation appears to be working correctly.

To generate this message, berth took the following steps:
 1. The berth client contacted the berth daemon (berthd) on its socket.
 2. berthd found the \"busybox\" image, built locally from Debian's
    busybox-static and loaded with 'berth load' (no registry needed).
 3. berthd created a new container from that image through containerd,
    which ran the executable that produced the output you are reading.
 4. The container's output went to its log and was streamed back to the
    berth client, which sent it to your terminal.

To try something more ambitious, you can run a shell with:
 \$ berth run -it busybox sh

Stop berthd with 'make down' (containers keep running;
'make down CONTAINERS=stop' stops them first).
"
