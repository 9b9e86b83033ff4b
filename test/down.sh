#!/bin/bash
# test/down.sh [stop] — stop berthd (started by test/up.sh) by its pid file.
# Containers keep running (live restore) unless "stop" is given: then every
# running container is stopped first.
set -euo pipefail

export PATH=/usr/local/bin:$PATH
BERTH=${BERTH:-$(command -v berth || true)}
PIDFILE=${BERTH_PIDFILE:-/run/berth/berthd.pid}

die() { echo "down: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"

pid=$(cat "$PIDFILE" 2>/dev/null || true)
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null || ! grep -q berthd "/proc/$pid/cmdline" 2>/dev/null; then
	echo "berthd is not running"
	exit 0
fi

if [ "${1:-}" = stop ]; then
	[ -x "$BERTH" ] || die "berth not found"
	ids=$("$BERTH" ps -q)
	if [ -n "$ids" ]; then
		echo "stopping containers: $(echo $ids)"
		# shellcheck disable=SC2086
		"$BERTH" stop $ids >/dev/null
	fi
elif [ -n "${1:-}" ]; then
	die "usage: $0 [stop]"
fi

echo "stopping berthd (pid $pid)"
kill -TERM "$pid"
for _ in $(seq 1 300); do
	kill -0 "$pid" 2>/dev/null || { echo "berthd stopped"; exit 0; }
	sleep 0.1
done
die "berthd (pid $pid) still running after 30s; see /var/log/berthd.log"
