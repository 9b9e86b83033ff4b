#!/bin/bash
# mkdebian.sh [OUT.tar]
#
# Makes the debian:bookworm test base image's root file system from
# Debian's packages with mmdebstrap (minbase, apt's sources pointing at
# Debian's mirror, so RUN apt-get install works in builds), as a tar for
# `berth import`. Cached in $BERTH_IMAGE_CACHE (default
# /var/cache/berth/images) under the hash of this recipe: prints the
# cached tar's path. With OUT.tar, also copies it there.
set -euo pipefail
mirror=${BERTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${BERTH_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
cache=${BERTH_IMAGE_CACHE:-/var/cache/berth/images}
key=$( (cat "$0"; echo "$mirror $security") | sha256sum | cut -c1-16)
tarball=$cache/debian-bookworm-$key.tar
if [ ! -s "$tarball" ]; then
	command -v mmdebstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
	mkdir -p "$cache"
	tmp=$(mktemp "$cache/.debian-XXXXXX.tar")
	trap 'rm -f "$tmp"' EXIT
	echo "mkdebian: mmdebstrap bookworm minbase from $mirror" >&2
	mmdebstrap --variant=minbase --format=tar \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
		--aptopt='Acquire::Languages "none"' \
		--customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
		bookworm "$tmp" \
		"deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main" >&2
	mv "$tmp" "$tarball"
	trap - EXIT
fi
if [ $# -ge 1 ]; then
	cp "$tarball" "$1"
fi
echo "$tarball"
