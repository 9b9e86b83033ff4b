#!/bin/bash
# run.sh: `make test-cgroupv2`. Runs berth's resource, lifecycle and shim
# tests in a virtual machine booted with cgroup v2 only (the development
# machines are cgroup v1 hybrid). See docs/operations.md "cgroup versions".
#
#  1. installs mmdebstrap and qemu-system-x86 from Debian (once);
#  2. builds the VM image with image.sh, cached in $BERTH_VM_CACHE under the
#     hash of its recipe (image.sh and vm/): rebuilt only when they change;
#  3. puts berth's binaries ($BUILD), the parts make deps builds ($LIBEXEC)
#     and the e2e and shim test binaries (`go test -c`) on a disk image of
#     their own, and guest.sh on a 9p share;
#  4. boots the image's kernel directly with qemu (KVM when the host has
#     hardware virtualisation, else software emulation), with no network;
#     guest.sh runs the tests, streams them to the serial console (this
#     script's output) and writes logs and exit codes back to the share.
#
# Environment:
#   BERTH_VM_E2E      e2e -run patterns, space separated, one stack each
#   BERTH_VM_SHIM     shim package -run pattern ("" skips it)
#   BERTH_VM_TIMEOUT  seconds for the whole VM run (default 3600)
#   BERTH_VM_ACCEL    kvm or tcg (default: kvm with vmx/svm and /dev/kvm)
#   BERTH_VM_ONLY_KVM non-empty: skip (exit 0) where KVM cannot be used (CI)
#   BERTH_VM_TIMEOUT_SCALE  the tests' BERTH_TEST_TIMEOUT_SCALE (default 10 under tcg, 2 with kvm)
#   BERTH_VM_CPUS, BERTH_VM_MEM   VM size (default 2 CPUs, 2048 MiB)
#   BERTH_VM_CACHE    image cache (default /var/cache/berth/cgroupv2)
set -euo pipefail
# One compound command: bash parses it whole before running it, so editing
# this file while a run is going (it takes minutes) cannot change that run.
{

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$repo/.build}
LIBEXEC=${LIBEXEC:-/usr/local/lib/berth}
GO=${GO:-go}
cache=${BERTH_VM_CACHE:-/var/cache/berth/cgroupv2}
timeout=${BERTH_VM_TIMEOUT:-3600}
cpus=${BERTH_VM_CPUS:-2}
mem=${BERTH_VM_MEM:-2048}
e2e_run=${BERTH_VM_E2E-^TestResources\$ ^TestParityFS\$/^DeviceThrottle\$ ^TestCgroupDriverSystemd\$ ^TestCLI\$/^(Lifecycle|Paused|KillSignal|Wait|ExitCodes|StopKillsAfterTimeout|RestartOnFailure|Exec|ExecPaused)\$}
shim_run=${BERTH_VM_SHIM-^(TestLifecycle|TestPauseResume|TestKillOneAndAll|TestInitExitKillsRest|TestOOM|TestUpdateAndStats|TestLoggingKeepsShimSmall|TestStateDuringSlowRunc)\$}

log() { echo "cgroupv2: $*"; }
die() { echo "cgroupv2: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (it installs packages and builds a root file system)"
for b in berth berthd berth-logger berth-snapshotter containerd-shim-berth-v2; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b is missing: run make build"
done
for b in containerd runc containerd-shim-runc-v2 cni/bridge; do
	[ -x "$LIBEXEC/$b" ] || die "$LIBEXEC/$b is missing: run make deps"
done

accel=${BERTH_VM_ACCEL:-}
if [ -z "$accel" ]; then
	# /dev/kvm alone is not enough: a nested host may offer a KVM that
	# cannot run a stock kernel (no vmx/svm for the guest).
	if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=kvm; else accel=tcg; fi
fi
if [ "$accel" != kvm ] && [ -n "${BERTH_VM_ONLY_KVM:-}" ]; then
	log "skipped: no hardware virtualisation (BERTH_VM_ONLY_KVM; under software emulation the run takes 12-31 minutes)"
	exit 0
fi

# 1. Debian's tools.
missing=$(for p in mmdebstrap qemu-system-x86 e2fsprogs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
	log "apt: installing" $missing
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends $missing >/dev/null
fi

# 2. The image, cached under its recipe's hash.
key=$(cd "$here" && cat image.sh vm/* | sha256sum | cut -c1-12)
img=$cache/image-$key
if [ ! -f "$img/rootfs.ext4" ]; then
	log "building the VM image $key (a few minutes; cached in $cache)"
	mkdir -p "$cache"
	rm -rf "$img.tmp"
	"$here/image.sh" "$img.tmp"
	mv "$img.tmp" "$img"
	# Older images are of older recipes.
	for old in "$cache"/image-*; do
		[ "$old" = "$img" ] || rm -rf "$old"
	done
else
	log "VM image $key (cached)"
fi

# 3. What the VM runs: berth's binaries, the parts make deps builds and
# the test binaries on a read-only disk of their own (/dev/vdb: read at
# disk speed, unlike 9p), guest.sh and the results on the 9p share.
vm=$BUILD/cgroupv2
payload=$vm/payload
share=$vm/share
rm -rf "$vm"
mkdir -p "$payload/bin" "$payload/libexec" "$payload/tests" "$share/out"
cp -a "$BUILD"/berth "$BUILD"/berthd "$BUILD"/berth-logger "$BUILD"/berth-snapshotter "$BUILD"/containerd-shim-berth-v2 "$payload/bin/"
cp -a "$LIBEXEC"/. "$payload/libexec/"
log "compiling the test binaries"
(cd "$repo" && CGO_ENABLED=0 $GO test -c -o "$payload/tests/e2e.test" ./test/e2e)
(cd "$repo" && CGO_ENABLED=0 $GO test -c -o "$payload/tests/shim.test" ./shim)
size=$(( $(du -sm "$payload" | cut -f1) * 5 / 4 + 16 ))
mke2fs -q -t ext4 -d "$payload" "$vm/payload.ext4" "${size}M" >/dev/null
rm -rf "$payload"
cp "$here/guest.sh" "$share/"

# 4. Boot.
case $accel in
kvm) cpu=host scale=2 ;;
tcg) cpu=max scale=10 ;;
*) die "BERTH_VM_ACCEL=$accel: use kvm or tcg" ;;
esac
# The tests' bounded waits (harness.Timeout) stretched to the VM's pace.
scale=${BERTH_VM_TIMEOUT_SCALE:-$scale}
{
	printf 'E2E_RUN=%q\n' "$e2e_run"
	printf 'SHIM_RUN=%q\n' "$shim_run"
	printf 'TIMEOUT=%ss\n' "$timeout"
	printf 'BERTH_TEST_TIMEOUT_SCALE=%s\n' "$scale"
} > "$share/env"
log "booting the VM ($accel, $cpus CPUs, $mem MiB; at most ${timeout}s, test waits x$scale)"
start=$(date +%s)
set +e
timeout "$timeout" qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -smp "$cpus" -m "$mem" -M q35 \
	-nodefaults -no-user-config -display none -monitor none -serial stdio -no-reboot -nic none \
	-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
	-append "console=ttyS0 root=/dev/vda ro quiet systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all systemd.unit=berth-vm-test.service" \
	-drive "file=$img/rootfs.ext4,if=virtio,format=raw,snapshot=on" \
	-drive "file=$vm/payload.ext4,if=virtio,format=raw,readonly=on" \
	-virtfs "local,path=$share,mount_tag=berth,security_model=none,id=berth" \
	</dev/null 2>&1 | sed -u 's/\r$//' | tee "$share/out/console.log"
qemu=${PIPESTATUS[0]}
set -e
secs=$(($(date +%s) - start))

if [ ! -f "$share/out/rc" ]; then
	[ "$qemu" = 124 ] && die "the VM did not finish within ${timeout}s (console: $share/out/console.log)"
	die "the VM stopped without a result (qemu exit $qemu; console: $share/out/console.log)"
fi
rc=$(cat "$share/out/rc")
log "$(date -u +%Y-%m-%d) VM run: ${secs}s ($accel, $cpus CPUs); tests exit $rc; logs in $share/out"
exit "$rc"
}
