#!/usr/bin/python3
"""tests/testbed/parity.py — what the firewall VM does with every class of frame, measured.

  parity.py probe OUT.json [CONTROL_SOCKET]   send every probe through the testbed's firewall
                                              (xfwd or Linux, tests/testbed/lib.sh) and write
                                              what came out where
  parity.py table LINUX.json XFWD.json [DOC]  the parity table (docs/parity.md's form): exit 1
                                              where xfwd is more permissive than Linux, or
                                              where DOC's xfwd column is no longer what xfwd does
                                              (PARITY_UPDATE=1: write the table into DOC first)

A probe is one frame (or a few) sent from an AppVM's side of its link (work, 10.137.0.5, whose
rules accept everything, or untrusted, whose rules refuse all but a few ports) or from the
netvm's side of the uplink. What is observed: whether it came out on the far side (forwarded)
and what came back to the sender (an ICMP error, a TCP RST, an ARP or echo reply). Each probe
carries a marker the observations are matched by, which survives NAT: the IPv4 identification
0x4000+n, the IPv6 flow label 0x40000+n, and "XFWP<n>" in the payload. The netvm's and the
AppVMs' own kernels are silenced (parity.sh drops their IP input), so every answer is the
firewall's. With CONTROL_SOCKET (xfwd), each drop's reason comes from `drops` (matched by the
marker in the dropped frame's first bytes).

Scapy builds the frames; raw AF_PACKET sockets, one per namespace (setns), carry them.
"""
import ctypes
import json
import os
import select
import socket
import sys
import threading
import time

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, ICMPv6DestUnreach, ICMPv6EchoReply,
                       ICMPv6EchoRequest, ICMPv6MLReport, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, Raw, fragment)

TB = os.environ.get("TB", "")
GW_MAC = "fe:ff:ff:ff:ff:ff"   # the firewall's MAC on every client link
VM_MAC = "00:16:3e:5e:6c:00"   # every Qubes AppVM's
NETVM_MAC = os.environ.get("NETVM_MAC", "")
UPLINK_MAC = os.environ.get("UPLINK_MAC", "")  # the firewall's MAC on the uplink
WORK, UNTRUSTED = "10.137.0.5", "10.137.0.6"
UNTRUSTED6 = "fd09:24ef:4179::a89:6"
NETVM, NETVM6, UPLINK, UPLINK6 = "192.168.100.1", "fd00:100::1", "192.168.100.2", "fd00:100::2"
GATEWAY, GATEWAY6 = "10.137.0.1", "fd09:24ef:4179::a89:1"


# ---- the probes -------------------------------------------------------------------------

class Probe:
    """key: the table's row; what: the frame in words; side: who sends (work, untrusted or
    netvm); build(n, ctx): the frames to send (ctx holds what earlier probes learned)."""

    def __init__(self, group, key, what, build, side="work", learn=None, wait=0.12):
        self.group, self.key, self.what, self.build, self.side, self.learn = group, key, what, build, side, learn
        self.wait = wait


def mark(n):
    return b"XFWP%03d" % n + b"." * 24


def v4(n, src=WORK, dst=NETVM, dst_mac=GW_MAC, src_mac=VM_MAC, **kw):
    return Ether(src=src_mac, dst=dst_mac) / IP(src=src, dst=dst, id=0x4000 + n, **kw)


def v6(n, src=UNTRUSTED6, dst=NETVM6, dst_mac=GW_MAC, src_mac=VM_MAC, **kw):
    return Ether(src=src_mac, dst=dst_mac) / IPv6(src=src, dst=dst, fl=0x40000 + n, **kw)


def udp(n, sport=None, dport=9):
    return UDP(sport=sport or 20000 + n, dport=dport) / mark(n)


def tcp(n, flags, sport=None, dport=80, **kw):
    return TCP(sport=sport or 20000 + n, dport=dport, flags=flags, seq=1000 + n, **kw) / mark(n)


def from_netvm(n, dst=UPLINK, **kw):
    return Ether(src=NETVM_MAC, dst=UPLINK_MAC) / IP(src=NETVM, dst=dst, id=0x4000 + n, **kw)


def with_options(frame, options):
    """The frame's IPv4 header with these option bytes (any, even malformed), as raw bytes."""
    b = bytes(frame)
    options += bytes(-len(options) % 4)  # end-of-list padding
    out = bytearray(b[:34] + options + b[34:])
    out[14] = 0x45 + len(options) // 4
    out[16:18] = (len(out) - 14).to_bytes(2, "big")
    out[24:26] = b"\0\0"
    s = sum(int.from_bytes(out[i:i + 2], "big") for i in range(14, 34 + len(options), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    out[24:26] = (~s & 0xFFFF).to_bytes(2, "big")
    return bytes(out)


def one(f):
    return lambda n, ctx: [f(n)]


PROBES = [
    # -- Ethernet ------------------------------------------------------------------------
    Probe("Ethernet", "eth.ipv4", "IPv4 UDP to the netvm (the baseline)", one(lambda n: v4(n) / udp(n))),
    Probe("Ethernet", "eth.vlan", "802.1Q-tagged IPv4 UDP", one(lambda n: Ether(src=VM_MAC, dst=GW_MAC) / Dot1Q(vlan=5) / IP(src=WORK, dst=NETVM, id=0x4000 + n) / udp(n))),
    Probe("Ethernet", "eth.qinq", "802.1ad (QinQ) outer tag", one(lambda n: Ether(src=VM_MAC, dst=GW_MAC, type=0x88a8) / Dot1Q(vlan=5) / IP(src=WORK, dst=NETVM, id=0x4000 + n) / udp(n))),
    Probe("Ethernet", "eth.lldp", "LLDP (ethertype 0x88cc)", one(lambda n: Ether(src=VM_MAC, dst="01:80:c2:00:00:0e", type=0x88CC) / mark(n))),
    Probe("Ethernet", "eth.8023", "802.3 length field instead of an ethertype", one(lambda n: Ether(src=VM_MAC, dst=GW_MAC, type=60) / mark(n))),
    Probe("Ethernet", "eth.dst_other", "IPv4 to another unicast MAC than the gateway's", one(lambda n: v4(n, dst_mac="02:00:00:00:00:99") / udp(n))),
    Probe("Ethernet", "eth.dst_bcast", "IPv4 unicast in an Ethernet broadcast", one(lambda n: v4(n, dst_mac="ff:ff:ff:ff:ff:ff") / udp(n))),
    Probe("Ethernet", "eth.dst_mcast", "IPv4 unicast in an Ethernet multicast (01:00:5e:..)", one(lambda n: v4(n, dst_mac="01:00:5e:00:00:01") / udp(n))),
    Probe("Ethernet", "eth.src_mcast", "source MAC with the group bit set", one(lambda n: v4(n, src_mac="01:00:5e:00:00:01") / udp(n))),
    # -- ARP -----------------------------------------------------------------------------
    Probe("ARP", "arp.request", "who-has the netvm's address", one(lambda n: Ether(src=VM_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=VM_MAC, psrc=WORK, pdst="10.137.0.%d" % (100 + n % 100))), wait=1.0),
    Probe("ARP", "arp.reply", "unsolicited ARP reply", one(lambda n: Ether(src=VM_MAC, dst=GW_MAC) / ARP(op=2, hwsrc=VM_MAC, psrc=WORK, hwdst=GW_MAC, pdst=GATEWAY)), wait=1.0),
    Probe("ARP", "arp.gratuitous", "gratuitous ARP", one(lambda n: Ether(src=VM_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=VM_MAC, psrc=WORK, pdst=WORK)), wait=1.0),
    Probe("ARP", "arp.spoofed", "who-has with another VM's sender address", one(lambda n: Ether(src=VM_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=VM_MAC, psrc=UNTRUSTED, pdst="10.137.0.%d" % (100 + n % 100))), wait=1.0),
    Probe("ARP", "arp.rarp", "RARP (ethertype 0x8035)", one(lambda n: Ether(src=VM_MAC, dst="ff:ff:ff:ff:ff:ff", type=0x8035) / ARP(op=3, hwsrc=VM_MAC)), wait=1.0),
    # -- IPv4 header and options ---------------------------------------------------------
    Probe("IPv4 header", "ip.evil_bit", "reserved flag set", one(lambda n: v4(n, flags=4) / udp(n))),
    Probe("IPv4 header", "ip.ecn", "ECN CE and a DSCP", one(lambda n: v4(n, tos=0xb8 | 3) / udp(n))),
    Probe("IPv4 header", "ip.opt_nop", "options: NOP padding only", one(lambda n: with_options(v4(n) / udp(n), b"\x01\x01\x01\x01"))),
    Probe("IPv4 header", "ip.opt_lsrr", "option 131 loose source route", one(lambda n: with_options(v4(n) / udp(n), bytes([1, 131, 7, 4]) + bytes([192, 168, 100, 1])))),
    Probe("IPv4 header", "ip.opt_ssrr", "option 137 strict source route", one(lambda n: with_options(v4(n) / udp(n), bytes([1, 137, 7, 4]) + bytes([192, 168, 100, 1])))),
    Probe("IPv4 header", "ip.opt_rr", "option 7 record route", one(lambda n: with_options(v4(n) / udp(n), bytes([1, 7, 11, 4]) + bytes(8)))),
    Probe("IPv4 header", "ip.opt_ts", "option 68 timestamp", one(lambda n: with_options(v4(n) / udp(n), bytes([68, 12, 5, 0]) + bytes(8)))),
    Probe("IPv4 header", "ip.opt_ra", "option 148 router alert", one(lambda n: with_options(v4(n) / udp(n), bytes([148, 4, 0, 0])))),
    Probe("IPv4 header", "ip.opt_sec", "option 130 security (RFC 1108)", one(lambda n: with_options(v4(n) / udp(n), bytes([130, 11, 0xab, 0, 0, 0, 0, 0, 0, 0, 0, 1])))),
    Probe("IPv4 header", "ip.opt_cipso", "option 134 CIPSO, unknown DOI", one(lambda n: with_options(v4(n) / udp(n), bytes([134, 10, 0, 0, 0, 9, 1, 4, 0, 0, 0, 0])))),
    Probe("IPv4 header", "ip.opt_unknown", "option 30 (experimental, unknown)", one(lambda n: with_options(v4(n) / udp(n), bytes([30, 4, 0, 0])))),
    Probe("IPv4 header", "ip.opt_len0", "option with length 0", one(lambda n: with_options(v4(n) / udp(n), bytes([68, 0, 0, 0])))),
    Probe("IPv4 header", "ip.opt_overrun", "option longer than the header", one(lambda n: with_options(v4(n) / udp(n), bytes([7, 40, 4, 0])))),
    Probe("IPv4 header", "ip.ttl1", "TTL 1", one(lambda n: v4(n, ttl=1) / udp(n))),
    Probe("IPv4 header", "ip.ttl1_icmp_error", "TTL 1 on an ICMP error", one(lambda n: v4(n, ttl=1) / ICMP(type=3, code=3) / IP(src=NETVM, dst=WORK, id=0x4000 + n) / UDP(sport=9, dport=20000 + n) / mark(n))),
    Probe("IPv4 header", "ip.ttl1_later_fragment", "TTL 1 on a non-first fragment", one(lambda n: v4(n, ttl=1, frag=8, flags=0, proto=17) / mark(n))),
    Probe("IPv4 header", "ip.ttl1_bcast", "TTL 1 to 255.255.255.255", one(lambda n: v4(n, dst="255.255.255.255", ttl=1) / udp(n))),
    Probe("IPv4 header", "ip.ttl1_mcast", "TTL 1 to a multicast group (IGMP-like)", one(lambda n: v4(n, dst="224.0.0.22", ttl=1) / udp(n))),
    # -- IPv4 destinations ---------------------------------------------------------------
    Probe("IPv4 addresses", "dst.loopback", "to 127.0.0.1", one(lambda n: v4(n, dst="127.0.0.1") / udp(n))),
    Probe("IPv4 addresses", "dst.zero", "to 0.0.0.0", one(lambda n: v4(n, dst="0.0.0.0") / udp(n))),
    Probe("IPv4 addresses", "dst.thisnet", "to 0.1.2.3", one(lambda n: v4(n, dst="0.1.2.3") / udp(n))),
    Probe("IPv4 addresses", "dst.bcast", "to 255.255.255.255", one(lambda n: v4(n, dst="255.255.255.255") / udp(n))),
    Probe("IPv4 addresses", "dst.mcast_local", "to 224.0.0.251 (mDNS)", one(lambda n: v4(n, dst="224.0.0.251") / udp(n, dport=5353))),
    Probe("IPv4 addresses", "dst.mcast_global", "to 239.1.2.3", one(lambda n: v4(n, dst="239.1.2.3") / udp(n))),
    Probe("IPv4 addresses", "dst.class_e", "to 240.0.0.1", one(lambda n: v4(n, dst="240.0.0.1") / udp(n))),
    Probe("IPv4 addresses", "dst.linklocal", "to 169.254.1.1", one(lambda n: v4(n, dst="169.254.1.1") / udp(n))),
    Probe("IPv4 addresses", "dst.uplink_addr", "to the firewall's uplink address", one(lambda n: v4(n, dst=UPLINK) / udp(n))),
    Probe("IPv4 addresses", "dst.gateway_udp", "UDP to the gateway address", one(lambda n: v4(n, dst=GATEWAY) / udp(n))),
    Probe("IPv4 addresses", "dst.gateway_echo", "ping of the gateway", one(lambda n: v4(n, dst=GATEWAY) / ICMP(type=8, id=0x4000 + n) / mark(n))),
    Probe("IPv4 addresses", "dst.other_vm", "to another AppVM", one(lambda n: v4(n, dst=UNTRUSTED) / udp(n))),
    Probe("IPv4 addresses", "src.spoofed", "from another AppVM's address", one(lambda n: v4(n, src=UNTRUSTED) / udp(n))),
    Probe("IPv4 addresses", "src.zero", "from 0.0.0.0", one(lambda n: v4(n, src="0.0.0.0") / udp(n))),
    # -- fragments -----------------------------------------------------------------------
    Probe("IPv4 fragments", "frag.whole", "a UDP datagram in two fragments", lambda n, ctx: fragment(v4(n) / UDP(sport=20000 + n, dport=9) / (mark(n) * 20), fragsize=200)),
    Probe("IPv4 fragments", "frag.first_only", "a first fragment alone", lambda n, ctx: fragment(v4(n) / UDP(sport=20000 + n, dport=9) / (mark(n) * 20), fragsize=200)[:1]),
    Probe("IPv4 fragments", "frag.later_only", "a later fragment alone", one(lambda n: v4(n, frag=64, flags=0, proto=17) / mark(n))),
    Probe("IPv4 fragments", "frag.tiny_tcp", "first fragment of 8 bytes (TCP header cut)", lambda n, ctx: [
        v4(n, flags=1, proto=6) / bytes(tcp(n, "S"))[:8], v4(n, frag=1, proto=6) / bytes(tcp(n, "S"))[8:]]),
    Probe("IPv4 fragments", "frag.overlap", "fragments that overlap", lambda n, ctx: [
        v4(n, flags=1, proto=17) / bytes(udp(n) / (b"A" * 64))[:48], v4(n, frag=4, proto=17) / bytes(udp(n) / (b"A" * 64))[32:]]),
    Probe("IPv4 fragments", "frag.past_64k", "a fragment ending past 65535", lambda n, ctx: [
        v4(n, flags=1, proto=17) / bytes(udp(n) / (b"A" * 64))[:48], v4(n, frag=8189, proto=17) / (b"B" * 64)]),
    # -- TCP flags, a new connection to an allowed port ----------------------------------
    *[Probe("TCP flags (new)", "tcp.new_" + f.lower(), "flags " + f + " as a first segment", one(lambda n, f=f: v4(n) / tcp(n, f)))
      for f in ["S", "SA", "A", "PA", "F", "FA", "R", "RA", "SF", "SR", "SFPU", "FPU", "", "SU", "SEC", "SP"]],
    Probe("TCP flags (new)", "tcp.new_bad_checksum", "SYN with a wrong checksum", one(lambda n: v4(n) / tcp(n, "S", chksum=0x1234))),
    Probe("TCP flags (new)", "tcp.new_untrusted_blocked", "untrusted: SYN to a refused port", one(lambda n: v4(n, src=UNTRUSTED) / tcp(n, "S", dport=80)), side="untrusted"),
    Probe("TCP flags (new)", "tcp.new_untrusted_ack_blocked", "untrusted: ACK of no connection to a refused port", one(lambda n: v4(n, src=UNTRUSTED) / tcp(n, "A", dport=80)), side="untrusted"),
    # -- UDP -----------------------------------------------------------------------------
    Probe("UDP", "udp.bad_checksum", "wrong checksum", one(lambda n: v4(n) / UDP(sport=20000 + n, dport=9, chksum=0x1234) / mark(n))),
    Probe("UDP", "udp.zero_checksum", "no checksum (0)", one(lambda n: v4(n) / UDP(sport=20000 + n, dport=9, chksum=0) / mark(n))),
    Probe("UDP", "udp.bad_length", "length field beyond the packet", one(lambda n: v4(n) / UDP(sport=20000 + n, dport=9, len=200) / mark(n))),
    Probe("UDP", "udp.port0", "to port 0", one(lambda n: v4(n) / udp(n, dport=0))),
    Probe("UDP", "udp.untrusted_blocked", "untrusted: to a refused port", one(lambda n: v4(n, src=UNTRUSTED) / udp(n, dport=9)), side="untrusted"),
    # -- ICMP from the AppVM -------------------------------------------------------------
    *[Probe("ICMP", "icmp.type%d" % t, "type %d (%s) to the netvm" % (t, w), one(lambda n, t=t: v4(n) / ICMP(type=t, id=0x4000 + n) / mark(n)))
      for t, w in [(8, "echo request"), (0, "echo reply"), (13, "timestamp"), (17, "address mask"), (10, "router solicitation"),
                   (9, "router advertisement"), (5, "redirect"), (42, "extended echo"), (200, "unassigned")]],
    Probe("ICMP", "icmp.error_no_flow", "port unreachable about no connection", one(lambda n: v4(n) / ICMP(type=3, code=3) / IP(src=NETVM, dst=WORK, id=0x4000 + n) / UDP(sport=9, dport=20000 + n) / mark(n))),
    Probe("ICMP", "icmp.bad_checksum", "echo request with a wrong checksum", one(lambda n: v4(n) / ICMP(type=8, id=0x4000 + n, chksum=0x1234) / mark(n))),
    Probe("ICMP", "icmp.untrusted_blocked", "untrusted: echo request (refused)", one(lambda n: v4(n, src=UNTRUSTED) / ICMP(type=8, id=0x4000 + n) / mark(n)), side="untrusted"),
    # -- other protocols -----------------------------------------------------------------
    Probe("IP protocols", "proto.gre", "GRE (47)", one(lambda n: v4(n, proto=47) / mark(n))),
    Probe("IP protocols", "proto.sctp", "SCTP (132)", one(lambda n: v4(n, proto=132) / mark(n))),
    Probe("IP protocols", "proto.igmp", "IGMP to 224.0.0.22", one(lambda n: with_options(v4(n, dst="224.0.0.22", proto=2, ttl=1) / mark(n), bytes([148, 4, 0, 0])))),
    # -- IPv6 from untrusted -------------------------------------------------------------
    Probe("IPv6", "ip6.udp", "UDP to the netvm, an allowed port (7)", one(lambda n: v6(n) / udp(n, dport=7)), side="untrusted"),
    Probe("IPv6", "ip6.tcp_syn_allowed", "SYN to an allowed port (7)", one(lambda n: v6(n) / tcp(n, "S", dport=7)), side="untrusted"),
    Probe("IPv6", "ip6.hop1", "hop limit 1", one(lambda n: v6(n, hlim=1) / tcp(n, "S", dport=7)), side="untrusted"),
    Probe("IPv6", "ip6.hbh", "hop-by-hop options header first", one(lambda n: v6(n) / IPv6ExtHdrHopByHop() / tcp(n, "S", dport=7)), side="untrusted"),
    Probe("IPv6", "ip6.hbh_second", "hop-by-hop after a destination options header", one(lambda n: v6(n) / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / tcp(n, "S", dport=7)), side="untrusted"),
    Probe("IPv6", "ip6.rh0", "routing header type 0, segments left 1", one(lambda n: v6(n) / IPv6ExtHdrRouting(type=0, segleft=1, addresses=[NETVM6]) / tcp(n, "S", dport=7)), side="untrusted"),
    Probe("IPv6", "ip6.rh0_done", "routing header type 0, segments left 0", one(lambda n: v6(n) / IPv6ExtHdrRouting(type=0, segleft=0, addresses=[NETVM6]) / tcp(n, "S", dport=7)), side="untrusted"),
    Probe("IPv6", "ip6.dstopt", "destination options header", one(lambda n: v6(n) / IPv6ExtHdrDestOpt() / tcp(n, "S", dport=7)), side="untrusted"),
    Probe("IPv6", "ip6.frag_whole", "a TCP SYN in an atomic fragment", one(lambda n: v6(n) / IPv6ExtHdrFragment(id=0x4000 + n) / tcp(n, "S", dport=7)), side="untrusted"),
    Probe("IPv6", "ip6.tcp_synfin", "SYN+FIN to an allowed port", one(lambda n: v6(n) / tcp(n, "SF", dport=7)), side="untrusted"),
    Probe("IPv6", "ip6.udp_bad_checksum", "UDP with a wrong checksum", one(lambda n: v6(n) / UDP(sport=20000 + n, dport=7, chksum=0x1234) / mark(n)), side="untrusted"),
    Probe("IPv6", "ip6.frag_later_only", "a later fragment alone", one(lambda n: v6(n) / IPv6ExtHdrFragment(id=0x4000 + n, offset=8, nh=17) / mark(n)), side="untrusted"),
    Probe("IPv6", "ip6.dst_loopback", "to ::1", one(lambda n: v6(n, dst="::1") / udp(n, dport=7)), side="untrusted"),
    Probe("IPv6", "ip6.dst_unspecified", "to ::", one(lambda n: v6(n, dst="::") / udp(n, dport=7)), side="untrusted"),
    Probe("IPv6", "ip6.mcast", "to ff0e::1", one(lambda n: v6(n, dst="ff0e::1") / udp(n)), side="untrusted"),
    Probe("IPv6", "ip6.linklocal_src", "from fe80::1", one(lambda n: v6(n, src="fe80::1") / udp(n)), side="untrusted"),
    Probe("IPv6", "ip6.echo", "echo request to the netvm (refused by the rules)", one(lambda n: v6(n) / ICMPv6EchoRequest(id=0x4000 + n) / mark(n)), side="untrusted"),
    Probe("IPv6", "ip6.echo_reply", "echo reply to the netvm", one(lambda n: v6(n) / ICMPv6EchoReply(id=0x4000 + n) / mark(n)), side="untrusted"),
    Probe("IPv6", "ip6.mld_unicast", "MLD report to the netvm's unicast address", one(lambda n: v6(n, hlim=1) / IPv6ExtHdrHopByHop(options=[]) / ICMPv6MLReport() / mark(n)), side="untrusted"),
    Probe("IPv6", "ip6.error_no_flow", "destination unreachable about no connection", one(lambda n: v6(n) / ICMPv6DestUnreach(code=4) / IPv6(src=NETVM6, dst=UNTRUSTED6) / UDP(sport=9, dport=20000 + n) / mark(n)), side="untrusted"),
]


# ---- the uplink side: probes that need a connection first ---------------------------------

def uplink_probes():
    """Probes from the netvm toward work, each on a connection work opened just before: work
    sends the opener, the probe (built once the NAT port is seen at the netvm) comes back."""
    out = []

    def reply(kind, what, build_reply, opener="udp"):
        out.append(Probe("From the uplink", "up." + kind, what, build_reply, side="netvm", learn=opener))

    r = lambda n, ctx, **kw: from_netvm(n, **kw)
    reply("udp_reply", "UDP reply on an open flow (the baseline)", lambda n, ctx: [r(n, ctx) / UDP(sport=9, dport=ctx["port"]) / mark(n)])
    reply("udp_reply_lsrr", "UDP reply with option 131 loose source route", lambda n, ctx: [
        with_options(r(n, ctx) / UDP(sport=9, dport=ctx["port"]) / mark(n), bytes([1, 131, 7, 4, 192, 168, 100, 1]))])
    reply("udp_reply_dst_other_mac", "UDP reply to another unicast MAC", lambda n, ctx: [
        Ether(src=NETVM_MAC, dst="02:00:00:00:00:99") / IP(src=NETVM, dst=UPLINK, id=0x4000 + n) / UDP(sport=9, dport=ctx["port"]) / mark(n)])
    reply("udp_reply_dst_bcast_mac", "UDP reply in an Ethernet broadcast", lambda n, ctx: [
        Ether(src=NETVM_MAC, dst="ff:ff:ff:ff:ff:ff") / IP(src=NETVM, dst=UPLINK, id=0x4000 + n) / UDP(sport=9, dport=ctx["port"]) / mark(n)])
    reply("udp_reply_bad_checksum", "UDP reply with a wrong checksum", lambda n, ctx: [r(n, ctx) / UDP(sport=9, dport=ctx["port"], chksum=0x1234) / mark(n)])
    reply("udp_reply_ttl1", "UDP reply with TTL 1", lambda n, ctx: [r(n, ctx, ttl=1) / UDP(sport=9, dport=ctx["port"]) / mark(n)])
    reply("udp_unsolicited", "UDP to the uplink address, no flow", lambda n, ctx: [r(n, ctx) / UDP(sport=9, dport=40000 + n) / mark(n)])
    reply("echo_request_on_flow", "echo request with an open ping's identifier", lambda n, ctx: [r(n, ctx) / ICMP(type=8, id=ctx["port"]) / mark(n)], opener="icmp")
    reply("echo_reply", "echo reply to an open ping (the baseline)", lambda n, ctx: [r(n, ctx) / ICMP(type=0, id=ctx["port"], seq=1) / mark(n)], opener="icmp")
    reply("icmp_error_on_flow", "port unreachable about an open flow", lambda n, ctx: [
        r(n, ctx) / ICMP(type=3, code=3) / IP(src=UPLINK, dst=NETVM, id=ctx["opener_id"]) / UDP(sport=ctx["port"], dport=9) / mark(n)])
    reply("tcp_synack", "SYN+ACK to an open SYN (the baseline)", lambda n, ctx: [r(n, ctx) / TCP(sport=80, dport=ctx["port"], flags="SA", seq=5000, ack=ctx["seq"] + 1) / mark(n)], opener="tcp")
    reply("tcp_synfin_reply", "SYN+FIN+ACK to an open SYN", lambda n, ctx: [r(n, ctx) / TCP(sport=80, dport=ctx["port"], flags="SFA", seq=5000, ack=ctx["seq"] + 1) / mark(n)], opener="tcp")
    reply("tcp_null_reply", "no flags on an open SYN's flow", lambda n, ctx: [r(n, ctx) / TCP(sport=80, dport=ctx["port"], flags="", seq=5000) / mark(n)], opener="tcp")
    # On an established connection (work's SYN, the netvm's SYN+ACK, work's ACK; windows 8192
    # and 65535): nf_conntrack_tcp's window tracking.
    est = lambda n, ctx, flags, seq, ack=None, data=b"": [r(n, ctx) / TCP(sport=80, dport=ctx["port"], flags=flags, seq=seq % 2**32,
                                                                        ack=ctx["seq"] + 1 if ack is None else ack) / (data or mark(n))]
    reply("tcp_est_data", "data in the window (the baseline)", lambda n, ctx: est(n, ctx, "PA", 5001), opener="tcp_est")
    reply("tcp_est_past_window", "data far past the window", lambda n, ctx: est(n, ctx, "PA", 5001 + 10000000), opener="tcp_est")
    reply("tcp_est_ack_unsent", "acking data never sent", lambda n, ctx: est(n, ctx, "PA", 5001, ack=ctx["seq"] + 100001), opener="tcp_est")
    reply("tcp_est_old", "a segment older than the window", lambda n, ctx: est(n, ctx, "PA", 5001 - 1000000), opener="tcp_est")
    reply("tcp_est_rst_old", "RST older than what work acked", lambda n, ctx: [r(n, ctx) / TCP(sport=80, dport=ctx["port"], flags="R", seq=4000) / mark(n)], opener="tcp_est")
    reply("tcp_est_rst_far", "RST far out of the window", lambda n, ctx: [r(n, ctx) / TCP(sport=80, dport=ctx["port"], flags="R", seq=5001 + 10000000) / mark(n)], opener="tcp_est")
    reply("tcp_est_rst", "RST in the window (the baseline)", lambda n, ctx: [r(n, ctx) / TCP(sport=80, dport=ctx["port"], flags="R", seq=5001) / mark(n)], opener="tcp_est")
    reply("frag_unknown", "a later fragment of no flow", lambda n, ctx: [r(n, ctx, frag=64, flags=0, proto=17) / mark(n)])
    reply("to_bcast", "UDP to 255.255.255.255", lambda n, ctx: [from_netvm(n, dst="255.255.255.255") / UDP(sport=9, dport=ctx["port"]) / mark(n)])
    return out


PROBES += uplink_probes()


# ---- sending and observing --------------------------------------------------------------

libc = ctypes.CDLL("libc.so.6", use_errno=True)


def packet_socket(ns, iface):
    fd = os.open("/run/netns/%s-%s" % (TB, ns), os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0:
        raise OSError(ctypes.get_errno(), "setns " + ns)
    os.close(fd)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((iface, 0))
    return s


class Wire:
    """The three links' far ends, read by one thread: every frame they receive, in order."""

    def __init__(self):
        self.socks = {"work": packet_socket("work", "xt-work"), "untrusted": packet_socket("untrusted", "xt-untrusted"),
                      "netvm": packet_socket("netvm", "eth0")}
        self.seen = []  # (side, bytes)
        self.lock = threading.Lock()
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        names = {s.fileno(): k for k, s in self.socks.items()}
        while not self.stop:
            r, _, _ = select.select(list(self.socks.values()), [], [], 0.1)
            for s in r:
                data, addr = s.recvfrom(70000)
                if addr[2] == socket.PACKET_OUTGOING:
                    continue
                with self.lock:
                    self.seen.append((names[s.fileno()], data))

    def send(self, side, frame):
        self.socks[side].send(bytes(frame))

    def since(self, start):
        with self.lock:
            return self.seen[start:]

    def mark(self):
        with self.lock:
            return len(self.seen)


def parsed(data):
    """The frame dissected, or None where scapy cannot (then only its raw bytes are searched)."""
    try:
        return Ether(data)
    except Exception:  # noqa: BLE001 — e.g. malformed IPv4 options quoted in an ICMP error
        return None


def carries(frame, n, data=b""):
    """Does this frame (parsed) carry probe n's marker, even as an ICMP error's quote?"""
    if b"XFWP%03d" % n in data:
        return True
    if frame is None:
        return False
    for layer in (IP, IPv6):
        x = frame
        while x is not None and x.haslayer(layer):
            x = x.getlayer(layer)
            if (layer is IP and x.id == 0x4000 + n) or (layer is IPv6 and x.fl == 0x40000 + n):
                return True
            x = x.payload if x.payload else None
    return False


def answer_of(frame):
    """What a frame back on the sender's link says, in the table's words."""
    if frame.haslayer(ICMP):
        i = frame[ICMP]
        if i.type == 0:
            return "echo reply"
        return "ICMP %d/%d" % (i.type, i.code)
    if frame.haslayer(IPv6) and frame[IPv6].nh == 58:
        t = bytes(frame[IPv6].payload)[:2]
        if t and t[0] == 129:
            return "echo reply"
        if t:
            return "ICMPv6 %d/%d" % (t[0], t[1])
    if frame.haslayer(TCP) and frame[TCP].flags & 0x04:
        return "TCP RST"
    return None


def probe(out_path, control):
    wire = Wire()
    results = []
    ctx = {}
    for n, p in enumerate(PROBES):
        opener = None
        if p.learn:  # work opens the flow; learn its NAT port (and TCP seq) at the netvm
            start = wire.mark()
            if p.learn == "udp":
                opener = v4(n + 500) / UDP(sport=30000 + n, dport=9) / b"opener"
            elif p.learn == "icmp":
                opener = v4(n + 500) / ICMP(type=8, id=0x3000 + n, seq=1) / b"opener"
            else:  # tcp, tcp_est
                opener = v4(n + 500) / TCP(sport=30000 + n, dport=80, flags="S", seq=7000, window=8192) / b""
            wire.send("work", opener)
            time.sleep(0.15)
            ctx = {}
            for side, data in wire.since(start):
                f = parsed(data)
                if side == "netvm" and f is not None and f.haslayer(IP) and f[IP].id == 0x4000 + n + 500:
                    ctx = {"opener_id": f[IP].id}
                    if f.haslayer(UDP):
                        ctx["port"] = f[UDP].sport
                    elif f.haslayer(TCP):
                        ctx["port"], ctx["seq"] = f[TCP].sport, f[TCP].seq
                    elif f.haslayer(ICMP):
                        ctx["port"] = f[ICMP].id
            if not ctx:
                results.append({"key": p.key, "error": "the opener did not reach the netvm"})
                continue
            if p.learn == "tcp_est":  # the rest of the handshake
                wire.send("netvm", from_netvm(n + 600) / TCP(sport=80, dport=ctx["port"], flags="SA", seq=5000, ack=ctx["seq"] + 1, window=65535))
                time.sleep(0.1)
                wire.send("work", v4(n + 700) / TCP(sport=30000 + n, dport=80, flags="A", seq=7001, ack=5001, window=8192))
                time.sleep(0.1)
        frames = p.build(n, ctx)
        start = wire.mark()
        for f in frames:
            wire.send(p.side, f)
        time.sleep(p.wait)
        far = "netvm" if p.side in ("work", "untrusted") else "work"
        forwarded, answers = 0, []
        for side, data in wire.since(start):
            f = parsed(data)
            if p.key.startswith("arp."):  # answered or not: an ARP reply to the asker
                if side == p.side and f is not None and f.haslayer(ARP) and f[ARP].op == 2 and f[ARP].pdst == frames[0][ARP].psrc:
                    answers.append("ARP reply")
                continue
            if side == far and carries(f, n, data):
                forwarded += 1
            elif side == p.side and (carries(f, n, data) or (f is not None and f.haslayer(TCP) and f[TCP].dport == 20000 + n)):
                a = answer_of(f) if f is not None else "unparsed frame"
                if a:
                    answers.append(a)
        results.append({"key": p.key, "group": p.group, "what": p.what, "forwarded": forwarded, "sent": len(frames),
                        "answers": sorted(set(answers))})
    wire.stop = True
    if control:
        reasons = drop_reasons(control)
        for n, r in enumerate(results):
            r["reasons"] = sorted(set(reasons.get(n, [])))
    with open(out_path, "w") as fh:
        json.dump(results, fh, indent=1)


def drop_reasons(control):
    """Probe number -> xfwd's drop reasons, from `drops` (the marker in each dropped frame)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(control)
    s.sendall(b'{"version": 1, "command": "drops", "bytes": true}\n')
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
    reply = json.loads(buf)
    if not reply.get("ok"):
        sys.exit("parity: xfwd's drops: %s" % reply.get("error"))
    drops = reply["result"]
    out = {}
    for d in drops:
        head = bytes.fromhex(d.get("head", ""))
        f = parsed(head)
        for n in range(len(PROBES)):
            if carries(f, n, head):
                out.setdefault(n, []).append(d["reason"])
                break
    return out


# ---- the table --------------------------------------------------------------------------

def outcome(r):
    if "error" in r:
        return "error: " + r["error"]
    s = "forwarded" if r["forwarded"] else "dropped"
    if r["forwarded"] and r["forwarded"] < r["sent"]:
        s = "forwarded %d of %d" % (r["forwarded"], r["sent"])
    if r["answers"]:
        s += ", " + " + ".join(r["answers"])
    return s


def table(linux_path, xfwd_path, doc):
    linux = {r["key"]: r for r in json.load(open(linux_path))}
    xfwd = {r["key"]: r for r in json.load(open(xfwd_path))}
    lines, bad = [], []
    group = None
    for p in PROBES:
        L, X = linux[p.key], xfwd[p.key]
        if p.group != group:
            group = p.group
            lines.append("| **%s** | | | | |" % group)
        lo, xo = outcome(L), outcome(X)
        verdict = "same" if lo == xo else "differs"
        if "error" in L or "error" in X:
            verdict = "error"
            bad.append(p.key + ": " + (L.get("error") or X.get("error")))
        elif X["forwarded"] > max(L["forwarded"], ALLOWED_FORWARDS.get(p.key, 0)):
            verdict = "**xfwd more permissive**"
            bad.append(p.key + ": xfwd forwards (%s), Linux does not (%s)" % (xo, lo))
        elif set(X["answers"]) - set(L["answers"]) - ALLOWED_ANSWERS.get(p.key, set()):
            verdict = "**xfwd answers more**"
            bad.append(p.key + ": xfwd answers %s, Linux %s" % (xo, lo))
        elif lo != xo:
            verdict = "xfwd stricter" if X["forwarded"] < L["forwarded"] or not X["answers"] else "differs"
            if p.key in ALLOWED_FORWARDS and X["forwarded"] > L["forwarded"]:
                verdict = "differs (no reassembly)"
        reason = ", ".join(X.get("reasons", [])) or "–"
        lines.append("| `%s` %s | %s | %s | %s | %s |" % (p.key, p.what, lo, xo, reason, verdict))
    head = ["| probe | Linux sys-firewall | xfwd | xfwd's drop reason | |", "|---|---|---|---|---|"]
    text = "\n".join(head + lines)
    print(text)
    if doc:
        # xfwd's columns must be what the document says; Linux's may move with the kernel
        # (a warning: the document is then to be brought up to date).
        begin, end = "<!-- parity table: begin -->", "<!-- parity table: end -->"
        current = open(doc).read()
        if os.environ.get("PARITY_UPDATE") == "1" and begin in current:
            head_, rest = current.split(begin, 1)
            current = head_ + begin + "\n" + text + "\n" + end + rest.split(end, 1)[1]
            open(doc, "w").write(current)
            print("parity: %s updated" % doc)
        old = current.split(begin, 1)[1].split(end, 1)[0].strip() if begin in current else ""
        if old != text:
            cols = lambda t: {l.split("|")[1]: l.split("|")[2:] for l in t.splitlines() if l.startswith("| `")}
            was, now = cols(old), cols(text)
            for k in sorted(set(was) | set(now)):
                a, b = was.get(k), now.get(k)
                if a is None or b is None or a[1:3] != b[1:3]:
                    bad.append("docs: %s's row%s says xfwd %s, measured %s" % (
                        doc, k, "|".join(a[1:3]) if a else " (none)", "|".join(b[1:3]) if b else "(no such probe)"))
                elif a != b:
                    print("warn  docs: row%s: Linux now %s (the document says %s)" % (k, b[0].strip(), a[0].strip()))
    for b in bad:
        print("FAIL  " + b)
    return 1 if bad else 0


# Where xfwd differs from Linux sys-firewall by design, and why (docs/parity.md says the same).
# Answers it gives where Linux stays silent:
ALLOWED_ANSWERS = {
    "dst.other_vm": {"ICMP 3/13"},                 # inter-VM is refused as a policy drop is
    "tcp.new_untrusted_blocked": {"TCP RST"},      # a refused TCP segment gets a RST, not ICMP 3/13
    "tcp.new_untrusted_ack_blocked": {"TCP RST"},
    "tcp.new_a": {"TCP RST"},   # a bare ACK of no connection: RST (conntrack would pick it up)
    "tcp.new_pa": {"TCP RST"},
}
# Fragments xfwd forwards as they come (it does not reassemble): a first fragment passes with
# its transport header checked by the rules; what would complete or overlap its packet is
# refused, so the receiver never gets the packet Linux would have refused whole.
ALLOWED_FORWARDS = {"frag.first_only": 1, "frag.overlap": 1, "frag.past_64k": 1}

if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "probe":
        probe(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif len(sys.argv) >= 4 and sys.argv[1] == "table":
        sys.exit(table(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
    else:
        sys.exit(__doc__)
