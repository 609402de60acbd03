#!/usr/bin/env bash
# Runs inside the chroot (stage 1): boot speed, locale, networking, cloud-init defaults.
# Usage: configure.sh FILES_DIR
set -euo pipefail
files=$1

# cloud-init's locale module fails on minbase unless the locale exists: generate it here.
sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen
locale-gen
printf 'LANG=en_US.UTF-8\n' >/etc/default/locale

# Root filesystem: the whole virtio disk (no partition table); no fsck pass at boot.
printf '/dev/vda / ext4 rw,noatime,errors=remount-ro 0 0\n' >/etc/fstab

# Networking: systemd-networkd (DHCP) + resolved, configured by us, not by cloud-init.
install -m 0644 "$files"/network/*.network /etc/systemd/network/
install -d /etc/systemd/system/systemd-networkd-wait-online.service.d
install -m 0644 "$files/wait-online.conf" \
    /etc/systemd/system/systemd-networkd-wait-online.service.d/bureau.conf
systemctl enable systemd-networkd.service systemd-resolved.service
ln -sf /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf
# resolved only where there is a DNS server to ask: the passt egress NIC (the driver puts
# bureau.dns=on on the kernel command line then). The restricted network has none, and resolved's
# start costs ~2 s of CPU under TCG before cloud-init can start.
install -d /etc/systemd/system/systemd-resolved.service.d
install -m 0644 "$files/resolved-only-with-egress.conf" \
    /etc/systemd/system/systemd-resolved.service.d/bureau.conf

# cloud-init: NoCloud only (the driver's cidata seed), no network rendering, no SSH keys.
install -m 0644 "$files/cloud.cfg.d/90-bureau.cfg" /etc/cloud/cloud.cfg.d/90-bureau.cfg
printf 'datasource: NoCloud\npolicy: enabled\n' >/etc/cloud/ds-identify.cfg

# Slow hosts (TCG on a busy machine) stretch every unit's start: never fail a boot on a timeout.
install -d /etc/systemd/system.conf.d
printf '[Manager]\nDefaultTimeoutStartSec=600s\n' >/etc/systemd/system.conf.d/bureau.conf

# Journald in memory only: less disk I/O on every boot.
install -d /etc/systemd/journald.conf.d
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n' >/etc/systemd/journald.conf.d/bureau.conf

# Mask what costs boot time and serves nothing on a desk. (systemd-logind stays: it turns the
# ACPI power button, which the driver presses to stop a desk, into a clean poweroff.)
for unit in e2scrub_reap.service e2scrub_all.timer e2scrub_all.service \
    apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service \
    man-db.timer fstrim.timer getty@tty1.service serial-getty@ttyS0.service \
    systemd-pstore.service systemd-binfmt.service keyboard-setup.service console-setup.service \
    systemd-hwdb-update.service ldconfig.service \
    cloud-init-local.service cloud-config.service cloud-final.service cloud-init-hotplugd.socket \
    modprobe@drm.service modprobe@dm_mod.service modprobe@loop.service modprobe@fuse.service \
    sys-kernel-debug.mount sys-kernel-tracing.mount sys-fs-fuse-connections.mount \
    dev-hugepages.mount systemd-network-generator.service systemd-journal-flush.service \
    systemd-update-utmp.service systemd-update-utmp-runlevel.service dpkg-db-backup.timer \
    modprobe@configfs.service sys-kernel-config.mount systemd-random-seed.service; do
    systemctl mask "$unit"
done
# cloud-init's generator runs ds-identify (a long shell script) at boot and on every
# daemon-reload only to decide whether cloud-init runs: here it always does.
install -d /etc/systemd/system-generators /etc/systemd/system/multi-user.target.wants
ln -sf /dev/null /etc/systemd/system-generators/cloud-init-generator
ln -sf /lib/systemd/system/cloud-init.target /etc/systemd/system/multi-user.target.wants/cloud-init.target
install -d /etc/systemd/system/cloud-init.service.d
install -m 0644 "$files/cloud-init.service.d/bureau.conf" /etc/systemd/system/cloud-init.service.d/bureau.conf
# Every other generator a desk never needs: each is a process start under TCG on every boot and
# every daemon-reload (gpt-auto probes the root disk, sysv reads /etc/init.d). The fstab generator
# stays (the data disk and its bind mounts after a restart), and so does the debug generator
# (systemd.mask= and friends on the kernel command line, for diagnosing a boot).
for gen in systemd-cryptsetup-generator systemd-getty-generator systemd-gpt-auto-generator \
    systemd-hibernate-resume-generator systemd-integritysetup-generator \
    systemd-rc-local-generator systemd-run-generator systemd-system-update-generator \
    systemd-sysv-generator systemd-veritysetup-generator; do
    ln -sf /dev/null "/etc/systemd/system-generators/$gen"
done
# Units that start beside the agent on the one vCPU (logind stays for the power button, dbus for
# logind): the agent's start is what the desk waits for, so they get a small CPU share.
for unit in systemd-logind.service dbus.service systemd-user-sessions.service; do
    install -d "/etc/systemd/system/$unit.d"
    install -m 0644 "$files/low-cpu-weight.conf" "/etc/systemd/system/$unit.d/bureau.conf"
done
systemctl set-default multi-user.target

# Each desk gets its own machine id at first boot.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
passwd -l root
# No SSH server in the image: ssh-keygen stays absent, cloud-init's ssh module skips host keys.

# Boot modules: no autoloading of what a desk never uses; an initrd without udev.
install -m 0644 "$files/modprobe.d/bureau-blacklist.conf" /etc/modprobe.d/bureau-blacklist.conf
install -m 0755 "$files/initramfs-tools/zz-bureau-no-udev" /etc/initramfs-tools/hooks/zz-bureau-no-udev
update-initramfs -u -k all

# systemd-sysusers runs at every boot while /etc looks older than /usr (ConditionNeedsUpdate=/etc):
# the packages created their users when installed, so stamp /etc and /var as up to date. Last, after
# every change to /usr.
touch /etc/.updated /var/.updated
