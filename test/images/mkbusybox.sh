#!/bin/sh
# mkbusybox.sh OUT.tar [extra mkimage flags]
#
# Builds the busybox test image (docker.io/library/busybox:latest) from
# Debian's busybox-static as a reproducible OCI image archive, offline.
# Extra flags go to mkimage, e.g. --data-layers 4 --layer-size 64.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 OUT.tar [mkimage flags]" >&2; exit 2; }
out=$1; shift
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
if [ ! -x /bin/busybox ]; then
	apt-get install -y busybox-static >&2
fi
cd "$(dirname "$0")/../.."
exec go run ./test/images/mkimage busybox -o "$out" "$@"
