#!/usr/bin/env bash
# lab/build.sh — the images the real-Xen lab boots, in Qubes' topology, built from Debian's
# packages (cached) and this tree's Release build; the build machine's /boot is never touched.
#   lab/build.sh [RELEASE_BUILD_DIR=build/release] [OUT=build/lab]
# One builder per image:
#   appvm    busybox + the kernel's xen-netfront + lab/appvm/init        (AppVMs); the hostile
#            netfront (tests/lab), which needs /dev/xen/{gntalloc,evtchn} instead
#   sysnet   busybox + the kernel's xen-netback, its vif script, the servers (sys-net)
#   sysfw    Debian 12 with systemd as PID 1 and xfw installed from its .deb with apt (sys-firewall)
#   dom0     busybox + the Xen toolstack + the other images + the scenarios
# dom0 and sys-firewall also get Qubes' own QubesDB daemon and client, the lab's test peer,
# built from the unmodified sources in ../shared/third-party (tests/qubesdb/peer.sh).
# Produces OUT/xen.mb (the hypervisor for QEMU's multiboot), OUT/vmlinuz (Debian's kernel, PV
# dom0 and domU) and OUT/dom0.gz, which holds the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
rel=$(realpath "${1:-build/release}")
out=$(mkdir -p "${2:-build/lab}" && realpath "${2:-build/lab}")
cache=$out/cache
mkdir -p "$cache"

# Debian packages: the hypervisor and the kernel only downloaded and unpacked; the Xen tools
# installed (their libraries are what the busybox images copy, with their ldd closure).
export DEBIAN_FRONTEND=noninteractive
need=()
for p in qemu-system-x86 xen-utils-4.17 xenstore-utils iproute2 busybox-static iperf3 cpio \
         dnsmasq-base nftables mmdebstrap kmod python3 zstd linux-perf; do
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
mod() { find "$mods" -name "$1.ko"; }  # the path of a module by its name

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
  put "$root" /bin/dash  # the scripts' shell: busybox's ash corrupted its heap now and then under TCG
  echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
  echo "root:x:0:" > "$root/etc/group"
}
# put_qubesdb ROOT — Qubes' qubesdb-daemon and qubesdb-cmd (qubesdb-read, -write, ...) with
# libvchan-xen and their Xen libraries.
peer=$out/qubesdb-peer
tests/qubesdb/peer.sh "$peer"
put_qubesdb() {
  local root=$1
  mkdir -p "$root/usr/lib/x86_64-linux-gnu"
  cp -P "$peer"/lib/*.so* "$root/usr/lib/x86_64-linux-gnu/"
  for b in qubesdb-daemon qubesdb-cmd; do LD_LIBRARY_PATH=$peer/lib put "$root" "$peer/bin/$b" "/usr/bin/$b"; done
  # ldd named the peer's own libraries by their build path: copied above, not wanted there.
  rm -rf "${root:?}$peer"
  local d; d=$(dirname "$root$peer")
  while [ "$d" != "$root" ] && rmdir "$d" 2>/dev/null; do d=$(dirname "$d"); done
  for c in read write rm list multiread watch; do ln -sf qubesdb-cmd "$root/usr/bin/qubesdb-$c"; done
}
put_modules() { local root=$1; shift; for m in "$@"; do cp "$(mod "$m")" "$root/lib/modules/"; done; }
# pack DIR OUT COMPRESSOR... — DIR as a newc cpio archive through COMPRESSOR into OUT.
# sys-firewall's root is compressed with zstd: libxenguest unpacks a gzip ramdisk into the
# guest's memory itself (150 MB here, on top of the kernel's own unpacked copy); it leaves a
# zstd one to the kernel, which frees the archive once unpacked.
pack() { local dir=$1 to=$2; shift 2; (cd "$dir" && find . | cpio -o -H newc --quiet | "$@") > "$to"; }

# The data the 2 MB checks move: the same bytes in the AppVMs and in sys-net, so that either
# side can say where a copy differs (cmp) and how long it is.
head -c 2000000 /dev/urandom > "$out/ref.bin"

build_appvm() {  # -> $out/appvm.cpio
  local u; u=$(mktemp -d)
  busybox_root "$u"
  put_modules "$u" xen-netfront xen-gntalloc xen-evtchn
  put "$u" /usr/bin/iperf3
  put "$u" "$rel/tests/lab/xfw-hostile-netfront" /usr/bin/xfw-hostile-netfront
  cp "$out/ref.bin" "$u/ref.bin"
  install -m 755 lab/appvm/init "$u/init"
  pack "$u" "$out/appvm.cpio" cat  # dom0 appends each guest's script to it
  rm -rf "$u"
}

build_sysnet() {  # -> $out/sysnet.gz
  local n; n=$(mktemp -d)
  busybox_root "$n"
  add "$n" /usr/bin/xenstore-read /usr/bin/xenstore-write /usr/bin/xenstore-list /usr/bin/xenstore-watch /usr/bin/xenstore-rm
  mkdir -p "$n/etc/xen/scripts"
  put "$n" /usr/sbin/dnsmasq
  put "$n" /usr/bin/iperf3
  put "$n" /bin/ip /usr/sbin/xip  # iproute2 (bridges); busybox's sh runs its own `ip` applet first
  put_modules "$n" xen-evtchn xen-gntdev xen-gntalloc xen-privcmd llc stp bridge xen-netback
  install -m 755 lab/sysnet/init "$n/init"
  install -m 755 lab/sysnet/vif-bridge "$n/etc/xen/scripts/"
  install -m 755 lab/vif-watch "$n/usr/sbin/vif-watch"
  install -m 755 lab/agent "$n/usr/sbin/xfw-lab-agent"
  mkdir -p "$n/srv/www"
  cp "$out/ref.bin" "$n/srv/www/big.bin"
  pack "$n" "$out/sysnet.gz" gzip -6
  rm -rf "$n"
}

# sys-firewall: Debian's userland, xfw installed by apt from the package this tree builds
# (its postinst enables xfwd.service), the lab's settings under /etc, the kernel modules xfwd
# and the kernel baseline need, and the lab agent. Booted straight from its initramfs.
build_sysfw() {  # -> $out/sysfw.zst
  (cd "$rel" && cpack -G DEB >/dev/null)
  local deb f; deb=$(ls "$rel"/xfw_*_amd64.deb)
  f=$out/sysfw-root
  # The Debian root with the package installed, cached by the package and the recipe.
  # (The .deb's own bytes change with every cpack run: its tar has the time of packing.)
  local pkgs="xenstore-utils nftables procps kmod strace"  # besides what debian_root.sh installs (strace: at hand in the lab; scenarios/profile.sh counts with ftrace now)
  local key; key=$( (echo "$pkgs"; dpkg-deb -c "$deb" | awk '{print $1, $3, $6}'; dpkg-deb --fsys-tarfile "$deb" | tar -xO;
                     dpkg-deb --ctrl-tarfile "$deb" | tar -xO; cat tests/packaging/debian_root.sh) | sha256sum | cut -c1-16)
  if [ ! -f "$cache/sysfw-$key.tar" ]; then
    rm -f "$cache"/sysfw-*.tar
    tests/packaging/debian_root.sh "$deb" "$f" $pkgs >/dev/null 2>"$out/sysfw-root.log" \
      || { cat "$out/sysfw-root.log"; exit 1; }
    tar -C "$f" -cf "$cache/sysfw-$key.tar" .
  fi
  rm -rf "$f" && mkdir -p "$f" && tar -C "$f" -xf "$cache/sysfw-$key.tar"
  # The upgrade the system tests install under a download: this package again as the next
  # version (unpacked and packed again with dpkg-deb, its Version with "+lab1").
  rm -rf "$out/xfw-upgrade" && dpkg-deb -R "$deb" "$out/xfw-upgrade"
  sed -i 's/^Version: .*/&+lab1/' "$out/xfw-upgrade/DEBIAN/control"
  dpkg-deb -b "$out/xfw-upgrade" "$f/root/xfw-upgrade.deb" >/dev/null
  cp -a lab/sysfw/. "$f/"
  install -m 755 lab/agent "$f/usr/local/sbin/xfw-lab-agent"
  put_qubesdb "$f"
  put "$f" /usr/bin/perf  # scenarios/profile.sh (the program and its libraries, not Debian's linux-perf with its Python and Perl)
  cp lab/kernel/qubes.nft "$f/etc/xfw/qubes.nft"
  install -m 755 lab/kernel/vif-route-qubes "$f/etc/xfw/vif-route-qubes"
  install -m 755 lab/vif-watch "$f/usr/local/sbin/vif-watch"
  install -m 755 lab/uplink-watch "$f/usr/local/sbin/uplink-watch"
  cp lab/kernel/modules "$f/etc/xfw/kernel-modules"
  local kd=$f/lib/modules/$kver/kernel/lab
  mkdir -p "$kd"
  # What modules-load.d loads at boot, and the kernel baseline's (loaded by scenarios/perf.sh;
  # its xen-netfront by kernel_fw_start).
  for m in $(grep -v '^#' lab/sysfw/etc/modules-load.d/xfw-lab.conf) $(cat lab/kernel/modules) xen-netfront; do
    cp "$(mod "$m")" "$kd/"
  done
  cp "$cache/k/lib/modules/$kver/modules."{builtin,builtin.modinfo,order} "$f/lib/modules/$kver/"
  depmod -b "$f" "$kver"
  ln -sf /lib/systemd/systemd "$f/init"
  chroot "$f" systemctl enable xfw-lab-agent.service qubes-db.service >/dev/null 2>&1
  # Nothing logs in on the console, and nothing here needs what a disk-backed machine does.
  chroot "$f" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service \
    systemd-timesyncd.service serial-getty@hvc0.service getty@tty1.service console-getty.service \
    systemd-remount-fs.service >/dev/null 2>&1
  chroot "$f" sh -c 'useradd -m -G xfw alice && useradd -m bob'
  : > "$f/etc/machine-id"
  rm -rf "$f"/usr/share/{doc,man,info,locale}/* "$f"/var/cache/apt/*.bin "$f"/var/lib/apt/lists/*
  pack "$f" "$out/sysfw.zst" zstd -q -T0 -12
}

build_dom0() {  # -> $out/dom0.gz
  local d; d=$(mktemp -d)
  busybox_root "$d"
  local xb=/usr/lib/xen-4.17/bin
  add "$d" $xb/xl $xb/libxl-save-helper $xb/xenstored $xb/xenconsoled $xb/xen-init-dom0 \
    /usr/bin/xenstore-read /usr/bin/xenstore-write /usr/bin/xenstore-ls /usr/bin/xenstore-list \
    /usr/bin/xenstore-rm /usr/bin/xenstore-chmod /usr/bin/xenstore-watch
  cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$d/lib/x86_64-linux-gnu/"  # glibc dlopens it (xl aborts without)
  put_qubesdb "$d"
  mkdir -p "$d/var/lib/xen" "$d/etc/xen"
  touch "$d/etc/xen/xl.conf"
  put_modules "$d" xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs
  mkdir -p "$d/guest" "$d/var/log/xen/console"
  # The domU kernel as a plain ELF (the bzImage's XZ payload, unpacked here once), so that xl
  # does not decompress it in dom0 for every guest (under TCG that is slow and, with three
  # guests at once, it failed now and then).
  python3 - "$out/vmlinuz" "$d/guest/vmlinux" <<'PY'
import lzma, sys
data = open(sys.argv[1], 'rb').read()
at = data.find(b'\xfd7zXZ\x00')
open(sys.argv[2], 'wb').write(lzma.LZMADecompressor().decompress(data[at:]))
PY
  cp "$out/appvm.cpio" "$out/sysnet.gz" "$out/sysfw.zst" "$d/guest/"
  install -m 755 lab/dom0/init "$d/init"
  cp lab/dom0/lib.sh "$d/guest/lib.sh"
  cp -r lab/scenarios "$d/guest/scenarios"
  [ -z "${XFW_LAB_GUEST_SCRIPT:-}" ] || cp "$XFW_LAB_GUEST_SCRIPT" "$d/guest/scenarios/guest-script.sh"
  pack "$d" "$out/dom0.gz" gzip -1
  rm -rf "$d"
}

build_appvm
build_sysnet
build_sysfw
build_dom0
echo "lab: dom0 $(du -h "$out/dom0.gz" | cut -f1) (sys-firewall $(du -h "$out/sysfw.zst" | cut -f1)," \
  "sys-net $(du -h "$out/sysnet.gz" | cut -f1), AppVM $(du -h "$out/appvm.cpio" | cut -f1)), kernel $kver"
