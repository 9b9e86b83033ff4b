#!/bin/bash
# mkdebianstack.sh [OUT.tar]
#
# Makes the root file system of the image the Debian Compose project runs
# (test/compose/projects/debian): debian:bookworm minbase with Debian's
# redis-server, postgresql, nginx-light and python3 (with python3-redis and
# python3-psycopg2 for the application), from Debian's packages with
# mmdebstrap, as a tar for `berth import`. Like mkdebian.sh: cached in
# $BERTH_IMAGE_CACHE (default /var/cache/berth/images) under the hash of
# this recipe (a re-run downloads nothing); prints the cached tar's path.
# Left out, to keep the image small: PostgreSQL's JIT (LLVM, z3 and the
# bitcode: the database runs with jit=off) and the cluster the package's
# postinst makes (the project's entrypoint makes its own in a volume).
# With OUT.tar, also copies it there. With --cached, only prints the path
# if the tar is already there (exit 1 if not): make test uses that.
set -euo pipefail
mirror=${BERTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${BERTH_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
cache=${BERTH_IMAGE_CACHE:-/var/cache/berth/images}
packages=redis-server,postgresql,nginx-light,python3,python3-redis,python3-psycopg2
key=$( (cat "$0"; echo "$mirror $security") | sha256sum | cut -c1-16)
tarball=$cache/debian-bookworm-stack-$key.tar
if [ "${1:-}" = --cached ]; then
	[ -s "$tarball" ] || exit 1
	echo "$tarball"
	exit 0
fi
if [ ! -s "$tarball" ]; then
	command -v mmdebstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
	mkdir -p "$cache"
	tmp=$(mktemp "$cache/.debian-stack-XXXXXX.tar")
	trap 'rm -f "$tmp"' EXIT
	echo "mkdebianstack: mmdebstrap bookworm minbase + $packages from $mirror" >&2
	mmdebstrap --variant=minbase --format=tar --include="$packages" \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
		--dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/libLLVM*' --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/libz3*' \
		--dpkgopt='path-exclude=/usr/lib/postgresql/*/lib/bitcode/*' \
		--aptopt='Acquire::Languages "none"' --aptopt='APT::Install-Recommends "false"' \
		--customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/lib/postgresql/*' \
		bookworm "$tmp" \
		"deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main" >&2
	mv "$tmp" "$tarball"
	trap - EXIT
fi
if [ $# -ge 1 ]; then
	cp "$tarball" "$1"
fi
echo "$tarball"
