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
         ./usr/lib/tmpfiles.d/xfw.conf ./etc/xfw/xfwd.toml ./usr/share/doc/xfw/xfwctl.md \
         ./usr/share/man/man8/xfwd.8.gz ./usr/share/man/man8/xfwctl.8.gz ./usr/share/man/man5/xfwd.toml.5.gz \
         ./usr/share/bash-completion/completions/xfwctl; do
  grep -qx "$f" <<<"$contents" || fail "$f missing from the package"
done
ok "package layout: binaries, unit, sysusers, tmpfiles, default config, docs, man pages, bash completion"
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
for page in man8/xfwd.8 man8/xfwctl.8 man5/xfwd.toml.5; do
  warnings=$(zcat "/usr/share/man/$page.gz" | groff -man -Tutf8 -ww -z 2>&1)
  [ -z "$warnings" ] || fail "$page: $warnings"
done
ok "man pages xfwd(8), xfwctl(8), xfwd.toml(5) installed and format without a warning"
complete_words() {  # WORDS... -> what bash completion offers for the last word
  bash -c 'source /usr/share/bash-completion/completions/xfwctl; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _xfwctl; echo "${COMPREPLY[*]}"' _ "$@"
}
[ "$(complete_words xfwctl ru)" = rules ] || fail "completion of 'xfwctl ru': $(complete_words xfwctl ru)"
[ "$(complete_words xfwctl rules a)" = "add apply" ] || fail "completion of 'xfwctl rules a': $(complete_words xfwctl rules a)"
[ "$(complete_words xfwctl rules add work proto=u)" = "proto=udp" ] || fail "completion of a rule word"
ok "bash completion: commands, subcommands, rule words"
ok "apt install ./$(basename "$deb"): group xfw, default config valid, xfwctl --help"
apt-get purge -y xfw >/dev/null 2>&1
[ ! -e /usr/sbin/xfwd ] || fail "purge left /usr/sbin/xfwd"
ok "apt purge removes it"
