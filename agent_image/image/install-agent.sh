#!/usr/bin/env bash
# Stage 2 of the guest image: the agent and its dependencies in /opt/bureau/venv, offline.
# Usage: install-agent.sh ROOTFS WHEELS_DIR   (run as root; WHEELS_DIR holds cp311 wheels)
# The venv is created by the guest's own python3, so it matches the guest's Python exactly.
set -euo pipefail
rootfs=$1
wheels=$2

cleanup() {
    for m in dev proc; do
        mountpoint -q "$rootfs/$m" && umount -l "$rootfs/$m" || true
    done
    rm -rf "$rootfs/tmp/bureau-wheels"
}
trap cleanup EXIT
mount -t proc proc "$rootfs/proc"
mount --bind /dev "$rootfs/dev"

mkdir -p "$rootfs/tmp/bureau-wheels"
cp "$wheels"/*.whl "$rootfs/tmp/bureau-wheels/"

echo "stage: venv"
chroot "$rootfs" /usr/bin/python3 -m venv /opt/bureau/venv
echo "stage: pip install (offline)"
chroot "$rootfs" /usr/bin/env PIP_DISABLE_PIP_VERSION_CHECK=1 \
    /opt/bureau/venv/bin/pip install -q --no-index --find-links /tmp/bureau-wheels bureau-agent
# Byte-compile now: the first boot under TCG should not pay for it.
chroot "$rootfs" /opt/bureau/venv/bin/python -m compileall -q -j 0 /opt/bureau/venv >/dev/null || true
ln -sf /opt/bureau/venv/bin/bureau-agent "$rootfs/usr/local/bin/bureau-agent"
chroot "$rootfs" /opt/bureau/venv/bin/python -c "import importlib.metadata as m; print(m.version(\"bureau-agent\"))" >"$rootfs/opt/bureau/agent-version"
chroot "$rootfs" /opt/bureau/venv/bin/pip freeze --all >"$rootfs/opt/bureau/requirements.lock"
echo "stage: agent installed"
