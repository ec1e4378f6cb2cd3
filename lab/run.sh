#!/usr/bin/env bash
# lab/run.sh — boots Xen in QEMU (TCG: these machines have no usable KVM) with the lab's dom0,
# which runs a scenario and powers off. Prints the serial console.
#   lab/run.sh [OUT=build/lab] [SCENARIO=demo|test|shell|custom]
# Xen needs smap=0 under TCG (XEN-LAB.md); a literal comma in -initrd is written ",,".
set -euo pipefail
out=$(realpath "${1:-build/lab}")
scenario=${2:-demo}
exec qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max,avx=off,avx2=off,xsave=off -m 3072 -smp 2 \
  -nographic -no-reboot -serial mon:stdio \
  -kernel "$out/xen.mb" \
  -append "dom0_mem=1024M,max:1024M console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all noreboot dom0_max_vcpus=2 smap=0" \
  -initrd "$out/vmlinuz console=hvc0 earlyprintk=xen quiet xfw.scenario=$scenario ${XFW_LAB_ARGS:-},$out/dom0.gz"
