#!/usr/bin/env bash
# The Debian package: build it from a Release build tree, check its layout and metadata, check
# the unit with systemd-analyze, install it with apt, check what a user gets, remove it.
#   tests/packaging/package_test.sh build/release
# Needs root (apt); exit 77 (skipped) otherwise.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "package test: needs root: skipped"; exit 77; }
build=$(realpath "$1")
fail() { echo "FAIL  $*"; exit 1; }
ok() { echo "ok    $*"; }

(cd "$build" && cpack -G DEB >/dev/null 2>&1) || fail "cpack"
deb=$(ls "$build"/xfw_*_amd64.deb)
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/sbin/xfwd ./usr/bin/xfwctl ./usr/lib/systemd/system/xfwd.service ./usr/lib/sysusers.d/xfw.conf \
         ./usr/lib/tmpfiles.d/xfw.conf ./etc/xfw/xfwd.toml ./usr/share/doc/xfw/xfwctl.md; do
  grep -qx "$f" <<<"$contents" || fail "$f missing from the package"
done
ok "package layout: binaries, unit, sysusers, tmpfiles, default config, docs"
dpkg-deb -f "$deb" Depends | grep -q libxenstore || fail "Depends lacks libxenstore"
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = /etc/xfw/xfwd.toml ] || fail "conffiles"
ok "metadata: Depends from the libraries, /etc/xfw/xfwd.toml is a conffile"

unit=$(mktemp -d)
dpkg-deb -x "$deb" "$unit"
sed "s|/usr/sbin/xfwd|$unit/usr/sbin/xfwd|" "$unit/usr/lib/systemd/system/xfwd.service" > "$unit/xfwd.service"
systemd-analyze verify "$unit/xfwd.service" || fail "systemd-analyze verify"
exposure=$(systemd-analyze security --offline=yes "$unit/xfwd.service" | tail -1)
echo "      $exposure"
level=$(grep -o 'level for xfwd.service: [0-9.]*' <<<"$exposure" | awk '{print $4}')
[ "$(echo "$level <= 2.5" | bc)" = 1 ] || fail "exposure $level > 2.5"
ok "systemd-analyze verify passes; security exposure $level (<= 2.5)"
rm -rf "$unit"

trap 'apt-get purge -y xfw >/dev/null 2>&1 || true' EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb" >/dev/null 2>&1 || fail "apt-get install $deb"
getent group xfw >/dev/null || fail "group xfw not created"
[ "$(/usr/sbin/xfwd --check-config)" = "xfwd: config /etc/xfw/xfwd.toml is valid" ] || fail "installed default config"
/usr/bin/xfwctl --help | grep -q "rules" || fail "xfwctl --help"
if [ ! -e /dev/xen/xenbus ]; then
  set +e; out=$(/usr/sbin/xfwd 2>&1); rc=$?; set -e
  [ $rc = 2 ] && grep -q "cannot open XenStore (/dev/xen/xenbus" <<<"$out" || fail "without Xen: rc=$rc: $out"
  ok "without Xen, xfwd says so and exits 2: $out"
fi
ok "apt install ./$(basename "$deb"): group xfw, default config valid, xfwctl --help"
apt-get purge -y xfw >/dev/null 2>&1
[ ! -e /usr/sbin/xfwd ] || fail "purge left /usr/sbin/xfwd"
ok "apt purge removes it"
