#!/usr/bin/env bash
# lab/build.sh — everything the real-Xen lab boots, built from Debian's packages (cached) and
# this tree's Release build; the build machine's /boot is never touched.
#   lab/build.sh [RELEASE_BUILD_DIR=build/release] [OUT=build/lab]
# Produces OUT/xen.mb (uncompressed hypervisor for QEMU's multiboot), OUT/vmlinuz (Debian's
# kernel, PV dom0 and domU), OUT/dom0.gz (busybox + Xen tools + xfwd/xfwctl + the domU kernel
# and initramfs + lab/dom0-init), OUT/domU.gz (busybox + xen-netfront + lab/domU-init).
set -euo pipefail
cd "$(dirname "$0")/.."
rel=$(realpath "${1:-build/release}")
out=$(mkdir -p "${2:-build/lab}" && realpath "${2:-build/lab}")
cache=$out/cache
mkdir -p "$cache"

# Debian packages: the hypervisor and the kernel only downloaded and unpacked; the Xen tools
# installed (their libraries are what the dom0 image copies, with their ldd closure).
export DEBIAN_FRONTEND=noninteractive
need=()
for p in qemu-system-x86 xen-utils-4.17 xenstore-utils iproute2 busybox-static iperf3 cpio dnsmasq-base nftables; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
kver=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: linux-image-\(.*\)$/\1/p' | head -1)
if [ ! -d "$cache/k/lib/modules/$kver" ] || [ ! -f "$cache/x/boot/xen-4.17-amd64.gz" ]; then
  (cd "$cache" && chown _apt "$cache" 2>/dev/null; apt-get download -q "linux-image-$kver" xen-hypervisor-4.17-amd64 >/dev/null)
  dpkg -x "$cache"/linux-image-"$kver"_*.deb "$cache/k"
  dpkg -x "$cache"/xen-hypervisor-4.17-amd64_*.deb "$cache/x"
fi
zcat "$cache/x/boot/xen-4.17-amd64.gz" > "$out/xen.mb"
cp "$cache/k/boot/vmlinuz-$kver" "$out/vmlinuz"
mods=$cache/k/lib/modules/$kver/kernel

# put ROOT SRC [DEST] — copies a program (to DEST, default its own path) with every library
# it loads; add ROOT FILE... does that for several at their own paths.
put() {
  local root=$1 src=$2 dst=${3:-$2}
  mkdir -p "$root$(dirname "$dst")"
  rm -f "$root$dst"
  cp -L "$src" "$root$dst"
  ldd "$src" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
    [ -e "$root$lib" ] || { mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; }
  done
}
add() { local root=$1; shift; for f in "$@"; do put "$root" "$f"; done; }
busybox_root() {
  local root=$1
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,lib/modules,root,var/log}
  cp /bin/busybox "$root/bin/busybox"
  for a in $(/bin/busybox --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
}
pack() { (cd "$1" && find . | cpio -o -H newc --quiet | gzip -6) > "$2"; }

# domU: busybox, xen-netfront, lab/domU-init.
u=$(mktemp -d)
busybox_root "$u"
cp "$mods/drivers/net/xen-netfront.ko" "$u/lib/modules/"
put "$u" /usr/bin/iperf3
put "$u" /bin/dash
cp lab/domU-init "$u/init"
chmod +x "$u/init"
pack "$u" "$out/domU.gz"
rm -rf "$u"

# dom0: busybox, the Xen toolstack, iproute2 (netns), iperf3, xfwd/xfwctl, modules, the guests.
d=$(mktemp -d)
busybox_root "$d"
xb=/usr/lib/xen-4.17/bin
add "$d" $xb/xl $xb/xenstored $xb/xenconsoled $xb/xen-init-dom0 $xb/libxl-save-helper \
  /usr/bin/xenstore-read /usr/bin/xenstore-write /usr/bin/xenstore-ls /usr/bin/xenstore-list \
  /usr/bin/xenstore-rm /usr/bin/xenstore-chmod /usr/bin/iperf3
put "$d" /usr/sbin/dnsmasq
put "$d" /bin/dash  # the scripts' shell: busybox's ash corrupted its heap now and then under TCG
put "$d" /bin/ip /usr/sbin/xip  # busybox's sh runs its own `ip` applet first: another name
put "$d" /usr/sbin/nft  # the kernel baseline (scenarios/perf.sh)
put "$d" "$rel/daemon/xfwd" /usr/sbin/xfwd
put "$d" "$rel/ctl/xfwctl" /usr/bin/xfwctl
cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$d/lib/x86_64-linux-gnu/"   # glibc dlopens it (xl aborts without)
for m in drivers/xen/xen-evtchn.ko drivers/xen/xen-gntdev.ko drivers/xen/xen-gntalloc.ko \
         drivers/xen/xen-privcmd.ko drivers/xen/xenfs/xenfs.ko drivers/net/veth.ko; do
  cp "$mods/$m" "$d/lib/modules/"
done
# The kernel baseline's modules (lab/kernel/modules, in load order; loaded only by
# scenarios/perf.sh, which reads the same list from /etc/xfw/kernel-modules).
for m in $(cat lab/kernel/modules); do
  find "$mods" -name "$m.ko" -exec cp {} "$d/lib/modules/" \;
done
mkdir -p "$d/guest" "$d/etc/xfw" "$d/var/lib/xen" "$d/var/log/xen/console" "$d/etc/xen"
# The domU kernel as a plain ELF (the bzImage's XZ payload, unpacked here once), so that xl
# does not decompress it in dom0 for every guest (under TCG that is slow and, with three
# guests at once, it failed now and then).
python3 - "$out/vmlinuz" "$d/guest/vmlinux" <<'PY'
import lzma, sys
data = open(sys.argv[1], 'rb').read()
at = data.find(b'\xfd7zXZ\x00')
open(sys.argv[2], 'wb').write(lzma.LZMADecompressor().decompress(data[at:]))
PY
zcat "$out/domU.gz" > "$d/guest/domU.cpio"
cp lab/dom0-init "$d/init"
chmod +x "$d/init"
cp lab/xfwd.toml "$d/etc/xfw/xfwd.toml"
cp lab/kernel/qubes.nft "$d/etc/xfw/qubes.nft"
cp lab/kernel/modules "$d/etc/xfw/kernel-modules"
mkdir -p "$d/etc/xen/scripts" && cp lab/kernel/vif-route-qubes "$d/etc/xen/scripts/"
cp -r lab/scenarios "$d/guest/scenarios"
[ -z "${XFW_LAB_GUEST_SCRIPT:-}" ] || cp "$XFW_LAB_GUEST_SCRIPT" "$d/guest/scenarios/guest-script.sh"
echo "root:x:0:0:root:/root:/bin/sh" > "$d/etc/passwd"
echo "root:x:0:" > "$d/etc/group"
pack "$d" "$out/dom0.gz"
rm -rf "$d"
echo "lab: $(du -h "$out/dom0.gz" | cut -f1) dom0, $(du -h "$out/domU.gz" | cut -f1) domU, kernel $kver"
