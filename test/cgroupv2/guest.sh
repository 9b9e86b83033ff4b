#!/bin/sh
# guest.sh: runs inside the cgroup v2 VM (started by the image's
# berth-vm-run from the 9p share /mnt/berth that run.sh fills).
#
# The share holds env (the test selection) and out/ (logs, written back);
# the second disk (/dev/vdb) bin/ (make build's binaries), libexec/ (what
# make deps builds) and tests/ (test binaries compiled on the host). Each
# suite's output goes to the serial console as it runs and to
# out/<suite>.log; the exit code is guest.sh's.
set -u
share=/mnt/berth
out=$share/out
. "$share/env"
export BERTH_TEST_TIMEOUT_SCALE
# /dev/loop0 and the like: a host has them, TestResources/Devices checks --privileged sees them.
modprobe loop 2>/dev/null
payload=/opt/berth
mkdir -p "$payload"
mount -o ro /dev/vdb "$payload" || { echo "berth-vm: cannot mount the payload disk /dev/vdb" >&2; exit 1; }

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TMPDIR=/tmp
# The shim tests and berthd's defaults look for the parts make deps builds here.
ln -sfn "$payload/libexec" /usr/local/lib/berth
export BERTH_BUILD=$payload/bin BERTH_LIBEXEC=/usr/local/lib/berth
export BERTH_SHIM_TEST_BIN=$payload/bin/containerd-shim-berth-v2

echo "berth-vm: kernel $(uname -r), /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup)," \
	"controllers: $(cat /sys/fs/cgroup/cgroup.controllers), $(nproc) CPUs," \
	"booted in $(cut -d' ' -f1 /proc/uptime)s"
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
	echo "berth-vm: /sys/fs/cgroup is not cgroup v2: the kernel command line's cgroup options did not take" >&2
	exit 1
fi

rc=0
# suite NAME BINARY ARGS...: runs a test binary from its source dir's copy.
suite() {
	name=$1 bin=$2
	shift 2
	start=$(cut -d' ' -f1 /proc/uptime)
	echo "=== berth-vm: $name: $bin $*"
	mkdir -p "/tmp/$name" && cd "/tmp/$name" || return 1
	{ "$payload/tests/$bin" "$@" 2>&1; echo "$?" > "$out/$name.rc"; } | tee "$out/$name.log"
	code=$(cat "$out/$name.rc")
	end=$(cut -d' ' -f1 /proc/uptime)
	echo "=== berth-vm: $name: exit $code in $(echo "$start $end" | awk '{printf "%.0f", $2-$1}')s"
	[ "$code" = 0 ] || rc=1
}

[ -z "${SHIM_RUN:-}" ] || suite shim shim.test -test.v -test.count=1 -test.timeout "$TIMEOUT" -test.run "$SHIM_RUN"
# E2E_RUN: -run patterns separated by spaces, one e2e.test run (and stack) each.
i=0
for pattern in ${E2E_RUN:-}; do
	i=$((i + 1))
	suite "e2e-$i" e2e.test -test.v -test.count=1 -test.timeout "$TIMEOUT" -test.run "$pattern"
done
exit "$rc"
