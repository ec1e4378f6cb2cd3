#!/usr/bin/env bash
# tests/qubesdb/peer.sh OUT — builds Qubes' own QubesDB daemon and client (qubesdb-daemon,
# qubesdb-read/-write/-rm/-list/-multiread/-watch, libqubesdb, libvchan-xen) from the unmodified
# source archives in ../shared/third-party into OUT (bin/, lib/). They are the peer xfwd is tested
# against, never part of xfw. Cached: does nothing when OUT/bin/qubesdb-daemon is newer than the
# archives. Needs libxen-dev and libsystemd-dev.
set -euo pipefail
out=$(realpath -m "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
tp=
for d in "${XFW_THIRD_PARTY:-}" "$root/../shared/third-party" /work/shared/third-party; do
  [ -n "$d" ] && [ -f "$d/qubes-core-qubesdb-4.3.3.tar.gz" ] && { tp=$(realpath "$d"); break; }
done
[ -n "$tp" ] || { echo "peer.sh: Qubes' QubesDB sources not found (set XFW_THIRD_PARTY to the third-party directory)" >&2; exit 1; }
qdb=$tp/qubes-core-qubesdb-4.3.3.tar.gz vchan=$tp/qubes-core-vchan-xen-a1337c2.tar.gz
if [ -x "$out/bin/qubesdb-daemon" ] && [ "$out/bin/qubesdb-daemon" -nt "$qdb" ] && [ "$out/bin/qubesdb-daemon" -nt "$vchan" ]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
tar xzf "$vchan" && tar xzf "$qdb"
make -s -C qubes-core-vchan-xen/vchan -f Makefile.linux >/dev/null
# The qubesdb Makefiles find vchan through pkg-config as `vchan`, headers under <incdir>/vchan-xen/.
mkdir -p inc/vchan-xen pc
cp qubes-core-vchan-xen/vchan/libvchan.h inc/vchan-xen/
sed "s:^includedir=.*:includedir=$work/inc:; s:^libdir=.*:libdir=$work/qubes-core-vchan-xen/vchan:" \
  qubes-core-vchan-xen/vchan/vchan-xen.pc > pc/vchan.pc
PKG_CONFIG_PATH=$work/pc make -s -C qubes-core-qubesdb/daemon >/dev/null
PKG_CONFIG_PATH=$work/pc make -s -C qubes-core-qubesdb/client >/dev/null
rm -rf "$out" && mkdir -p "$out/bin" "$out/lib"
cp qubes-core-qubesdb/daemon/qubesdb-daemon qubes-core-qubesdb/client/qubesdb-cmd "$out/bin/"
cp -P qubes-core-vchan-xen/vchan/libvchan-xen.so* qubes-core-qubesdb/client/libqubesdb.so "$out/lib/"
for c in read write rm list multiread watch; do ln -s qubesdb-cmd "$out/bin/qubesdb-$c"; done
echo "peer.sh: built qubesdb-daemon and qubesdb-cmd from $(basename "$qdb") into $out"
