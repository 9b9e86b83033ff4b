#!/bin/bash
# image.sh OUTDIR
#
# Builds the cgroup v2 test VM's image from Debian's packages: a bookworm
# root file system (systemd, Debian's kernel, iptables, busybox-static) as an
# ext4 image, and the kernel and initrd to boot it with qemu's direct kernel
# boot. berth itself is not in it: run.sh hands berth's binaries, the parts
# `make deps` builds and the test binaries to the VM over a 9p share, so the
# image only changes when this recipe does (run.sh keys its cache on this
# file's hash).
#
# Writes OUTDIR/rootfs.ext4, OUTDIR/vmlinuz, OUTDIR/initrd.img.
set -euo pipefail
out=${1:?usage: image.sh OUTDIR}
mirror=${BERTH_VM_MIRROR:-http://deb.debian.org/debian}
security=${BERTH_VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

packages=systemd,systemd-sysv,udev,kmod,linux-image-amd64,iptables,iproute2,busybox-static,procps,e2fsprogs

work=$(mktemp -d /var/tmp/berth-vm-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root

here=$(cd "$(dirname "$0")" && pwd)

echo "cgroupv2 image: mmdebstrap bookworm ($packages)"
mmdebstrap --variant=minbase --include="$packages" \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
	--aptopt='Acquire::Languages "none"' \
	--essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"' \
	--essential-hook='printf "MODULES=list\nCOMPRESS=gzip\n" > "$1/etc/initramfs-tools/conf.d/berth-vm.conf"' \
	--essential-hook='printf "virtio_pci\nvirtio_blk\next4\n" > "$1/usr/share/initramfs-tools/modules.d/berth-vm"' \
	--customize-hook='echo berth-vm > "$1/etc/hostname"' \
	--customize-hook='echo "/dev/vda / ext4 rw,noatime 0 1" > "$1/etc/fstab"' \
	--customize-hook="copy-in $here/vm/berth-vm-test.service /etc/systemd/system" \
	--customize-hook="copy-in $here/vm/berth-vm-run /usr/local/sbin" \
	--customize-hook='chmod 0755 "$1/usr/local/sbin/berth-vm-run"' \
	--customize-hook='for d in drivers/gpu drivers/media drivers/infiniband drivers/net/wireless drivers/staging drivers/usb drivers/bluetooth drivers/isdn drivers/iio drivers/hid sound net/wireless net/bluetooth net/mac80211; do rm -rf "$1"/lib/modules/*/kernel/$d; done' \
	--customize-hook='for k in "$1"/lib/modules/*; do chroot "$1" depmod "$(basename "$k")"; done' \
	--customize-hook='chroot "$1" update-initramfs -u -k all' \
	--customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
	bookworm "$root" \
	"deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main"

mkdir -p "$out"
cp "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)" "$work/vmlinuz"
cp "$(ls "$root"/boot/initrd.img-* | sort -V | tail -n1)" "$work/initrd.img"
# A sparse 4 GiB file system: the containers' layers and state go to /tmp.
mke2fs -q -t ext4 -L berth-vm -E root_owner=0:0 -d "$root" "$work/rootfs.ext4" 4G
mv "$work/vmlinuz" "$work/initrd.img" "$work/rootfs.ext4" "$out/"
echo "cgroupv2 image: $(du -sh --apparent-size "$out/rootfs.ext4" | cut -f1) file system ($(du -sh "$out/rootfs.ext4" | cut -f1) used), kernel $(basename "$(ls "$root"/boot/vmlinuz-* | tail -n1)")"
