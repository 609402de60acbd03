#!/usr/bin/env bash
# Stage 1 of the guest image: a Debian bookworm root filesystem in a directory.
# Usage: build-rootfs.sh ROOTFS MIRROR   (run as root; needs debootstrap)
# Everything the guest needs except the agent (stage 2, install-agent.sh).
set -euo pipefail
rootfs=$1
mirror=$2
here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm

mapfile -t packages < <(grep -v '^\s*#' "$here/packages.txt" | sed '/^\s*$/d')

echo "stage: debootstrap"
debootstrap --variant=minbase --components=main "$suite" "$rootfs" "$mirror"

cleanup() {
    for m in dev/pts dev proc sys; do
        mountpoint -q "$rootfs/$m" && umount -l "$rootfs/$m" || true
    done
}
trap cleanup EXIT
mount -t proc proc "$rootfs/proc"
mount -t sysfs sys "$rootfs/sys"
mount --bind /dev "$rootfs/dev"
mount --bind /dev/pts "$rootfs/dev/pts"

# No daemon may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
SOURCES
# Small initrd with only what a virtio guest needs: faster to load and unpack under TCG.
mkdir -p "$rootfs/etc/initramfs-tools/conf.d"
printf 'MODULES=list\nCOMPRESS=lz4\nRESUME=none\n' >"$rootfs/etc/initramfs-tools/conf.d/bureau.conf"
printf 'virtio_pci\nvirtio_blk\nvirtio_net\next4\n' >"$rootfs/etc/initramfs-tools/modules"

echo "stage: packages (${#packages[@]})"
chroot "$rootfs" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
    apt-get update -qq
chroot "$rootfs" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
    apt-get install -y -q --no-install-recommends lz4 "${packages[@]}"

echo "stage: configure"
cp "$here/configure.sh" "$rootfs/tmp/configure.sh"
cp -r "$here/files" "$rootfs/tmp/bureau-files"
chroot "$rootfs" /usr/bin/env LC_ALL=C /bin/bash /tmp/configure.sh /tmp/bureau-files
rm -rf "$rootfs/tmp/configure.sh" "$rootfs/tmp/bureau-files"

chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
rm -f "$rootfs/usr/sbin/policy-rc.d"
echo "stage: rootfs done"
