#!/usr/bin/env bash
# A Debian 12 root with systemd and xfw installed from its package the way a user installs it
# (`apt-get install ./xfw_*.deb`, dependencies from Debian's mirror, the package's postinst run).
# Used by the package's systemd check (tests/packaging/nspawn_test.sh) and by the lab's
# sys-firewall image (lab/build.sh).
#   tests/packaging/debian_root.sh DEB OUT_DIR [EXTRA_PACKAGE...]
# OUT_DIR is replaced. Needs root, mmdebstrap and Debian's mirror.
set -euo pipefail
deb=$(realpath "$1")
out=$2
shift 2
extra=$(IFS=,; echo "$*")
export DEBIAN_FRONTEND=noninteractive
command -v mmdebstrap >/dev/null || apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
rm -rf "$out"
mmdebstrap --quiet --variant=minbase --include="systemd,systemd-sysv,dbus,iproute2${extra:+,$extra}" \
  --customize-hook="copy-in $deb /tmp" \
  --customize-hook="chroot \"\$1\" apt-get install -y -q --no-install-recommends /tmp/$(basename "$deb")" \
  --customize-hook='rm -f "$1"/tmp/*.deb' \
  bookworm "$out"
