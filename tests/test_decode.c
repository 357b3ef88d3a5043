/* SPDX-License-Identifier: MIT */
/*
 * Packet decoder tests: table-driven frames for every link type, VLAN/MPLS/PPPoE, IPv4/IPv6
 * corner cases and every tunnel; each case also runs truncated at every prefix length on an
 * exact-size heap buffer. When the public corpus is present, every capture in it is decoded and
 * checked against the innermost addresses in tshark's oracle.
 */
#include "tunwatch/decode/decode.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "test_util.h"

/* ---- building blocks (hex, spaces ignored) ---- */
#define PL "deadbeef"
#define UDP_53 "3039 0035 000c 0000 " PL                                  /* 12 */
#define TCP_443 "c350 01bb 01020304 05060708 5018 7210 0000 0000 " PL     /* 24 */
#define A4_IN "c0a80101 c0a80102 "                                        /* 192.168.1.1 -> .2 */
#define A4_OUT "0a000001 0a000002 "                                       /* 10.0.0.1 -> .2 */
#define A4_MID "ac100001 ac100002 "                                       /* 172.16.0.1 -> .2 */
#define A6_IN "20010db8000000000000000000000001 20010db8000000000000000000000002 "
#define A6_OUT "fd000000000000000000000000000001 fd000000000000000000000000000002 "
#define IP4_UDP "4500 0020 0000 4000 4011 0000 " A4_IN UDP_53            /* 32 */
#define IP4_TCP "4500 002c 0000 4000 4006 0000 " A4_IN TCP_443           /* 44 */
#define IP6_UDP "6000 0000 000c 1140 " A6_IN UDP_53                      /* 52 */
#define IP6_TCP "6000 0000 0018 0640 " A6_IN TCP_443                     /* 64 */
#define ETH(type) "020000000002 020000000001 " type " "
#define ETH_IP4_UDP ETH("0800") IP4_UDP                                  /* 46 */
#define IP4_OUT(totlen, proto) "4500 " totlen " 0000 0000 40" proto " 0000 " A4_OUT
#define WLAN_HDR "0801 0000 020000000001 020000000002 020000000003 0000 " /* data, ToDS */
#define SNAP(type) "aaaa03 000000 " type " "
#define IPIP0 "4500 0000 0000 0000 4004 0000 " A4_OUT /* total length 0: as captured */
#define IPIP4 IPIP0 IPIP0 IPIP0 IPIP0
#define TAG8 "0001 8100 0001 8100 0001 8100 0001 8100 0001 8100 0001 8100 0001 8100 0001 8100 "
#define LBL4 "00010040 00010040 00010040 00010040 "
#define DST7 "3c00000000000000 3c00000000000000 3c00000000000000 3c00000000000000 " \
             "3c00000000000000 3c00000000000000 3c00000000000000 "

/* ---- expectations ---- */
#define UDP4 .ipv = 4, .l4 = 17, .src = "192.168.1.1", .dst = "192.168.1.2", .sport = 12345, \
             .dport = 53, .plen = 4, .wlen = 4
#define TCP4 .ipv = 4, .l4 = 6, .src = "192.168.1.1", .dst = "192.168.1.2", .sport = 50000, \
             .dport = 443, .plen = 4, .wlen = 4, .flags = 0x18, .check_tcp = true
#define UDP6 .ipv = 6, .l4 = 17, .src = "2001:db8::1", .dst = "2001:db8::2", .sport = 12345, \
             .dport = 53, .plen = 4, .wlen = 4
#define TCP6 .ipv = 6, .l4 = 6, .src = "2001:db8::1", .dst = "2001:db8::2", .sport = 50000, \
             .dport = 443, .plen = 4, .wlen = 4, .flags = 0x18, .check_tcp = true
#define FAIL(r) .rc = TW_EMALFORMED, .reason = (r), .counted = true
#define SKIP(r) .rc = TW_ESKIP, .reason = (r), .counted = true
#define TUN .tunnel = true

struct dcase {
    int line;
    const char *name;
    int link;
    const char *hex;
    int rc;
    enum tw_decode_reason reason; /* counted once when counted is set */
    bool counted;
    bool tunnel;
    uint8_t ipv, l4, flags;
    bool check_tcp;
    const char *src, *dst;
    uint16_t sport, dport;
    size_t plen, wlen;
    uint8_t vlan_count;
    uint16_t vlan0, vlan1;
};

#define C(name_, link_, hex_, ...) {__LINE__, name_, link_, hex_, __VA_ARGS__}

static const struct dcase cases[] = {
    /* link types */
    C("eth ipv4 udp", 1, ETH_IP4_UDP, UDP4),
    C("eth ipv4 tcp", 1, ETH("0800") IP4_TCP, TCP4),
    C("eth ipv6 udp", 1, ETH("86dd") IP6_UDP, UDP6),
    C("eth ipv6 tcp", 1, ETH("86dd") IP6_TCP, TCP6),
    C("eth padding to 60 bytes", 1, ETH_IP4_UDP "0000000000000000000000000000", UDP4),
    C("eth truncated", 1, "020000000002 020000000001 08", FAIL(TW_DR_LINK_TRUNCATED)),
    C("eth arp", 1, ETH("0806") "0001 0800 0604 0001", SKIP(TW_DR_NOT_IP)),
    C("eth llc snap ipv4", 1, ETH("0028") "aaaa03 000000 0800 " IP4_UDP, UDP4),
    C("eth llc stp", 1, ETH("0026") "424203 0000 0000 0000", SKIP(TW_DR_NOT_IP)),
    C("sll ipv4", 113, "0000 0001 0006 020000000001 0000 0800 " IP4_UDP, UDP4),
    C("sll vlan", 113, "0000 0001 0006 020000000001 0000 8100 0064 0800 " IP4_UDP, UDP4,
      .vlan_count = 1, .vlan0 = 100),
    C("sll llc", 113, "0000 0001 0006 020000000001 0000 0004 424203", SKIP(TW_DR_NOT_IP)),
    C("sll truncated", 113, "0000 0001 0006 020000000001 0000 08", FAIL(TW_DR_LINK_TRUNCATED)),
    C("sll2 ipv6", 276, "86dd 0000 00000002 0001 00 06 020000000001 0000 " IP6_TCP, TCP6),
    C("sll2 truncated", 276, "86dd 0000 00000002 0001 00 06 0200", FAIL(TW_DR_LINK_TRUNCATED)),
    C("raw 101 ipv4", 101, IP4_UDP, UDP4),
    C("raw 101 ipv6", 101, IP6_TCP, TCP6),
    C("raw 101 empty", 101, "", FAIL(TW_DR_LINK_TRUNCATED)),
    C("raw 101 not ip", 101, "5500 0020", SKIP(TW_DR_NOT_IP)),
    C("raw 12 ipv4", 12, IP4_TCP, TCP4),
    C("raw 14 ipv6", 14, IP6_UDP, UDP6),
    C("ipv4 228", 228, IP4_UDP, UDP4),
    C("ipv4 228 holding ipv6", 228, IP6_UDP, UDP6),
    C("ipv6 229", 229, IP6_UDP, UDP6),
    C("null le ipv4", 0, "02000000 " IP4_UDP, UDP4),
    C("null be ipv4", 0, "00000002 " IP4_UDP, UDP4),
    C("null le ipv6 24", 0, "18000000 " IP6_UDP, UDP6),
    C("null le ipv6 28", 0, "1c000000 " IP6_UDP, UDP6),
    C("null le ipv6 30", 0, "1e000000 " IP6_UDP, UDP6),
    C("null be ipv6 30", 0, "0000001e " IP6_UDP, UDP6),
    C("null windows ipv6 23", 0, "17000000 " IP6_UDP, UDP6),
    C("null unknown family", 0, "07000000 " IP4_UDP, SKIP(TW_DR_NOT_IP)),
    C("null truncated", 0, "020000", FAIL(TW_DR_LINK_TRUNCATED)),
    C("null family says v4, packet v6", 0, "02000000 " IP6_UDP, FAIL(TW_DR_IP4_BAD_VERSION)),
    C("loop ipv4", 108, "00000002 " IP4_UDP, UDP4),
    C("loop ipv6", 108, "00000018 " IP6_UDP, UDP6),
    C("ppp ipv4", 9, "0021 " IP4_UDP, UDP4),
    C("ppp addr ctrl ipv6", 9, "ff03 0057 " IP6_UDP, UDP6),
    C("ppp compressed protocol", 9, "21 " IP4_UDP, UDP4),
    C("ppp lcp", 9, "ff03 c021 0101 0004", SKIP(TW_DR_NOT_IP)),
    C("ppp truncated", 9, "ff03 00", FAIL(TW_DR_PPP_TRUNCATED)),
    C("ppp hdlc 50", 50, "ff03 0021 " IP4_TCP, TCP4),
    C("cisco hdlc", 104, "0f00 0800 " IP4_UDP, UDP4),
    C("nflog le", 239, "02 00 0000 0800 0100 0800 0300 2400 0900 " IP4_UDP, UDP4),
    C("nflog be", 239, "02 00 0000 0008 0001 0800 0300 0024 0009 " IP4_UDP, UDP4),
    C("nflog ipv6", 239, "0a 00 0000 3800 0900 " IP6_UDP, UDP6),
    C("nflog no payload", 239, "02 00 0000 0800 0100 0800 0300", SKIP(TW_DR_NOT_IP)),
    C("nflog bad tlv", 239, "02 00 0000 0300 0900 00", FAIL(TW_DR_LINK_TRUNCATED)),
    C("802.11 data", 105, WLAN_HDR SNAP("0800") IP4_UDP, UDP4),
    C("802.11 qos data ipv6", 105,
      "8801 0000 020000000001 020000000002 020000000003 0000 0000 " SNAP("86dd") IP6_UDP, UDP6),
    C("802.11 wds qos ht", 105,
      "8883 0000 020000000001 020000000002 020000000003 0000 020000000004 0000 00000000 "
      SNAP("0800") IP4_UDP, UDP4),
    C("802.11 protected", 105, "0841 0000 020000000001 020000000002 020000000003 0000 " PL,
      SKIP(TW_DR_NOT_IP)),
    C("802.11 beacon", 105, "8000 0000 ffffffffffff 020000000002 020000000002 0000 " PL,
      SKIP(TW_DR_NOT_IP)),
    C("802.11 a-msdu", 105,
      "8801 0000 020000000001 020000000002 020000000003 0000 8000 " SNAP("0800") IP4_UDP,
      SKIP(TW_DR_NOT_IP)),
    C("802.11 truncated", 105, "0801 0000 020000000001 0200", FAIL(TW_DR_LINK_TRUNCATED)),
    C("radiotap", 127, "00 00 0800 00000000 " WLAN_HDR SNAP("0800") IP4_TCP, TCP4),
    C("radiotap bad length", 127, "00 00 4000 00000000 " WLAN_HDR, FAIL(TW_DR_LINK_TRUNCATED)),
    C("link unsupported", 147, IP4_UDP, SKIP(TW_DR_LINK_UNSUPPORTED)),

    /* VLAN */
    C("dot1q", 1, ETH("8100") "2064 0800 " IP4_UDP, UDP4, .vlan_count = 1, .vlan0 = 100),
    C("qinq 88a8", 1, ETH("88a8") "0064 8100 00c8 0800 " IP4_UDP, UDP4, .vlan_count = 2,
      .vlan0 = 100, .vlan1 = 200),
    C("qinqinq 9100", 1, ETH("9100") "000a 88a8 0014 8100 001e 86dd " IP6_UDP, UDP6,
      .vlan_count = 3, .vlan0 = 10, .vlan1 = 20),
    C("eight tags", 1, ETH("8100") "0001 8100 0001 8100 0001 8100 0001 8100 0001 8100 "
                                   "0001 8100 0001 8100 0001 0800 " IP4_UDP,
      UDP4, .vlan_count = 8, .vlan0 = 1, .vlan1 = 1),
    C("nine tags", 1, ETH("8100") TAG8 "0001 0800 " IP4_UDP, SKIP(TW_DR_VLAN_TOO_DEEP)),
    C("vlan truncated", 1, ETH("8100") "00", FAIL(TW_DR_VLAN_TRUNCATED)),

    /* MPLS */
    C("mpls ipv4", 1, ETH("8847") "00010140 " IP4_UDP, UDP4),
    C("mpls two labels ipv6", 1, ETH("8847") "00010040 00011140 " IP6_UDP, UDP6),
    C("mpls multicast", 1, ETH("8848") "00010140 " IP4_TCP, TCP4),
    C("mpls pseudowire ethernet", 1, ETH("8847") "00010140 00000000 " ETH_IP4_UDP, UDP4),
    C("mpls in vlan", 1, ETH("8100") "0007 8847 00010140 " IP4_UDP, UDP4, .vlan_count = 1,
      .vlan0 = 7),
    C("mpls nine labels", 1, ETH("8847") LBL4 LBL4 "00010040 " IP4_UDP,
      SKIP(TW_DR_VLAN_TOO_DEEP)),
    C("mpls unknown payload", 1, ETH("8847") "00010140 5500", SKIP(TW_DR_NOT_IP)),
    C("mpls truncated", 1, ETH("8847") "000101", FAIL(TW_DR_MPLS_TRUNCATED)),
    C("mpls no payload", 1, ETH("8847") "00010140", FAIL(TW_DR_MPLS_TRUNCATED)),

    /* PPPoE */
    C("pppoe ipv4", 1, ETH("8864") "1100 0001 0022 0021 " IP4_UDP, UDP4),
    C("pppoe padded", 1, ETH("8864") "1100 0001 0022 0021 " IP4_UDP "0000 0000", UDP4),
    C("pppoe over qinq ipv6", 1, ETH("88a8") "0064 8100 00c8 8864 1100 0001 0036 0057 " IP6_UDP,
      UDP6, .vlan_count = 2, .vlan0 = 100, .vlan1 = 200),
    C("pppoe lcp", 1, ETH("8864") "1100 0001 0006 c021 0101 0004", SKIP(TW_DR_NOT_IP)),
    C("pppoe discovery", 1, ETH("8863") "1109 0000 0000", SKIP(TW_DR_NOT_IP)),
    C("pppoe bad version", 1, ETH("8864") "2100 0001 0022 0021 " IP4_UDP, SKIP(TW_DR_NOT_IP)),
    C("pppoe truncated", 1, ETH("8864") "1100 0001 00", FAIL(TW_DR_PPP_TRUNCATED)),

    /* IPv4 */
    C("ipv4 options", 101, "4600 0024 0000 0000 4011 0000 " A4_IN "01010100 " UDP_53, UDP4),
    C("ipv4 mf fragment", 101, "4500 0020 0000 2000 4011 0000 " A4_IN UDP_53,
      SKIP(TW_DR_IP4_FRAGMENT)),
    C("ipv4 offset fragment", 101, "4500 0020 0000 0001 4011 0000 " A4_IN UDP_53,
      SKIP(TW_DR_IP4_FRAGMENT)),
    C("ipv4 ihl 4", 101, "4400 0020 0000 0000 4011 0000 " A4_IN UDP_53, FAIL(TW_DR_IP4_BAD_IHL)),
    C("ipv4 totlen below 20", 101, "4500 0010 0000 0000 4011 0000 " A4_IN UDP_53,
      FAIL(TW_DR_IP4_BAD_TOTLEN)),
    C("ipv4 totlen below ihl", 101, "4600 0016 0000 0000 4011 0000 " A4_IN "01010100 " UDP_53,
      FAIL(TW_DR_IP4_BAD_TOTLEN)),
    C("ipv4 bad version", 1, ETH("0800") "5500 0020 0000 0000 4011 0000 " A4_IN UDP_53,
      FAIL(TW_DR_IP4_BAD_VERSION)),
    C("ipv4 truncated", 101, "4500 0020 0000 0000 4011 0000 c0a80101 c0a801",
      FAIL(TW_DR_IP4_TRUNCATED)),
    C("ipv4 options truncated", 101, "4f00 0040 0000 0000 4011 0000 " A4_IN "01010101",
      FAIL(TW_DR_IP4_TRUNCATED)),
    C("ipv4 snaplen cut", 101, "4500 0040 0000 0000 4011 0000 " A4_IN "3039 0035 002c 0000 " PL,
      .ipv = 4, .l4 = 17, .src = "192.168.1.1", .dst = "192.168.1.2", .sport = 12345,
      .dport = 53, .plen = 4, .wlen = 36, .reason = TW_DR_PAYLOAD_TRUNCATED, .counted = true),
    C("ipv4 tso zero totlen", 101, "4500 0000 0000 0000 4011 0000 " A4_IN UDP_53, UDP4),
    C("ipv4 icmp", 101, "4500 001c 0000 0000 4001 0000 " A4_IN "0800 0000 0001 0001",
      SKIP(TW_DR_L4_OTHER)),

    /* IPv6 */
    C("ipv6 ext chain", 101,
      "6000 0000 002c 0040 " A6_IN "2b00 0000 0000 0000 3c00 0000 0000 0000 "
      "2c00 0104 0000 0000 1100 0000 0000 1234 " UDP_53,
      UDP6),
    C("ipv6 ah", 101,
      "6000 0000 0024 3340 " A6_IN "1104 0000 00000001 00000001 000000000000000000000000 " UDP_53,
      UDP6),
    C("ipv6 hip shim6 mobility", 101,
      "6000 0000 0030 8b40 " A6_IN "8c00 0000 0000 0000 8700 0000 0000 0000 "
      "0600 0000 0000 0000 " TCP_443,
      TCP6),
    C("ipv6 mobility no next", 101, "6000 0000 0008 8740 " A6_IN "3b00 0000 0000 0000",
      SKIP(TW_DR_IP6_NO_NEXT)),
    C("ipv6 fragment first", 101, "6000 0000 0014 2c40 " A6_IN "1100 0001 00001234 " UDP_53,
      SKIP(TW_DR_IP6_FRAGMENT)),
    C("ipv6 fragment later", 101, "6000 0000 0014 2c40 " A6_IN "1100 0008 00001234 " UDP_53,
      SKIP(TW_DR_IP6_FRAGMENT)),
    C("ipv6 no next header", 101, "6000 0000 0000 3b40 " A6_IN, SKIP(TW_DR_IP6_NO_NEXT)),
    C("ipv6 eight ext headers", 101, "6000 0000 004c 3c40 " A6_IN DST7 "1100000000000000 " UDP_53, UDP6),
    C("ipv6 nine ext headers", 101, "6000 0000 0054 3c40 " A6_IN DST7 "3c00000000000000 1100000000000000 " UDP_53,
      SKIP(TW_DR_IP6_EXT_TOO_MANY)),
    C("ipv6 plen shorter than chain", 101,
      "6000 0000 0008 0040 " A6_IN "2b00 0000 0000 0000 1100 0000 0000 0000 " UDP_53,
      FAIL(TW_DR_IP6_BAD_PLEN)),
    C("ipv6 ext cut by capture", 101, "6000 0000 002c 0040 " A6_IN "2b00 0000 0000 0000 3c00",
      FAIL(TW_DR_IP6_EXT_TRUNCATED)),
    C("ipv6 bad version", 1, ETH("86dd") IP4_UDP "00000000000000000000", FAIL(TW_DR_IP6_BAD_VERSION)),
    C("ipv6 truncated", 101, "6000 0000 000c 1140 20010db8000000000000000000000001 20010db8",
      FAIL(TW_DR_IP6_TRUNCATED)),
    C("ipv6 icmpv6", 101, "6000 0000 0008 3a40 " A6_IN "8000 0000 0001 0001",
      SKIP(TW_DR_L4_OTHER)),

    /* UDP and TCP */
    C("udp len below 8", 101, "4500 0020 0000 0000 4011 0000 " A4_IN "3039 0035 0004 0000 " PL,
      FAIL(TW_DR_UDP_BAD_LEN)),
    C("udp len shorter than ip", 101, "4500 0020 0000 0000 4011 0000 " A4_IN "3039 0035 000a 0000 " PL,
      .ipv = 4, .l4 = 17, .src = "192.168.1.1", .dst = "192.168.1.2", .sport = 12345,
      .dport = 53, .plen = 2, .wlen = 2),
    C("udp len longer than ip", 101, "4500 0020 0000 0000 4011 0000 " A4_IN "3039 0035 0040 0000 " PL,
      UDP4),
    C("udp length 0 over ipv6", 101, "6000 0000 000c 1140 " A6_IN "3039 0035 0000 0000 " PL, UDP6),
    C("udp length 0 over ipv4", 101, "4500 0020 0000 0000 4011 0000 " A4_IN "3039 0035 0000 0000 " PL,
      FAIL(TW_DR_UDP_BAD_LEN)),
    C("udp cut by ip totlen", 101, "4500 0018 0000 0000 4011 0000 " A4_IN "3039 0035",
      FAIL(TW_DR_IP4_BAD_TOTLEN)),
    C("udp truncated", 101, "4500 0020 0000 0000 4011 0000 " A4_IN "3039 0035",
      FAIL(TW_DR_UDP_TRUNCATED)),
    C("tcp offset 4", 101,
      "4500 002c 0000 0000 4006 0000 " A4_IN "c350 01bb 01020304 05060708 4018 7210 0000 0000 " PL,
      FAIL(TW_DR_TCP_BAD_OFFSET)),
    C("tcp offset past ip", 101,
      "4500 002c 0000 0000 4006 0000 " A4_IN "c350 01bb 01020304 05060708 f018 7210 0000 0000 " PL,
      FAIL(TW_DR_TCP_BAD_OFFSET)),
    C("tcp syn options", 101,
      "4500 0034 0000 0000 4006 0000 " A4_IN "c350 01bb 01020304 00000000 8002 ffff 0000 0000 "
      "020405b4 01030307 01010402",
      .ipv = 4, .l4 = 6, .src = "192.168.1.1", .dst = "192.168.1.2", .sport = 50000, .dport = 443,
      .plen = 0, .wlen = 0, .flags = 0x02),
    C("tcp options truncated", 101,
      "4500 0034 0000 0000 4006 0000 " A4_IN "c350 01bb 01020304 00000000 8002 ffff 0000 0000 0204",
      .ipv = 4, .l4 = 6, .src = "192.168.1.1", .dst = "192.168.1.2", .sport = 50000, .dport = 443,
      .plen = 0, .wlen = 0, .flags = 0x02),
    C("tcp options cut, payload expected", 101,
      "4500 0038 0000 0000 4006 0000 " A4_IN "c350 01bb 01020304 00000000 8018 ffff 0000 0000 0204",
      .ipv = 4, .l4 = 6, .src = "192.168.1.1", .dst = "192.168.1.2", .sport = 50000, .dport = 443,
      .plen = 0, .wlen = 4, .flags = 0x18, .reason = TW_DR_PAYLOAD_TRUNCATED, .counted = true),
    C("tcp truncated", 101, "4500 002c 0000 0000 4006 0000 " A4_IN "c350 01bb 0102",
      FAIL(TW_DR_TCP_TRUNCATED)),

    /* IP in IP */
    C("ipip", 101, IP4_OUT("0034", "04") IP4_UDP, UDP4, TUN),
    C("6in4", 1, ETH("0800") IP4_OUT("0048", "29") IP6_UDP, UDP6, TUN),
    C("4in6", 101, "6000 0000 002c 0440 " A6_OUT IP4_TCP, TCP4, TUN),
    C("6in6", 101, "6000 0000 0034 2940 " A6_OUT IP6_UDP, UDP6, TUN),
    C("ipip eight deep", 101, IPIP4 IPIP4 IP4_UDP, UDP4, TUN),
    C("ipip nine deep", 101, IPIP4 IPIP4 IPIP0 IP4_UDP, SKIP(TW_DR_TUNNEL_TOO_DEEP)),
    C("ipip inner truncated", 101, IP4_OUT("0020", "04") "4500 0020 0000 0000",
      FAIL(TW_DR_IP4_TRUNCATED)),

    /* GRE */
    C("gre ipv4", 1, ETH("0800") IP4_OUT("0038", "2f") "0000 0800 " IP4_UDP, UDP4, TUN),
    C("gre csum key seq", 101, IP4_OUT("0044", "2f") "b000 0800 0000 0000 00000001 00000002 " IP4_UDP,
      UDP4, TUN),
    C("gre teb", 101, IP4_OUT("0046", "2f") "0000 6558 " ETH_IP4_UDP, UDP4, TUN),
    C("gre ipv6 over ipv6", 101, "6000 0000 0038 2f40 " A6_OUT "0000 86dd " IP6_UDP, UDP6, TUN),
    C("gre mpls", 101, IP4_OUT("003c", "2f") "0000 8847 00010140 " IP4_UDP, UDP4, TUN),
    C("erspan type i", 101, IP4_OUT("0046", "2f") "0000 88be " ETH_IP4_UDP, UDP4, TUN),
    C("erspan type ii", 101, IP4_OUT("0052", "2f") "1000 88be 00000001 1001 0001 0000 0000 " ETH_IP4_UDP,
      UDP4, TUN),
    C("erspan type ii inner vlan", 101,
      IP4_OUT("0056", "2f") "1000 88be 00000001 1001 0001 0000 0000 " ETH("8100") "0063 0800 " IP4_UDP,
      UDP4, TUN, .vlan_count = 1, .vlan0 = 99),
    C("erspan type iii", 101, IP4_OUT("0052", "2f") "0000 22eb 2001 0001 00000000 00000000 " ETH_IP4_UDP,
      UDP4, TUN),
    C("erspan type iii platform subheader", 101,
      IP4_OUT("005a", "2f") "0000 22eb 2001 0001 00000000 00000001 0000000000000000 " ETH_IP4_UDP,
      UDP4, TUN),
    C("erspan type iii truncated", 101, IP4_OUT("0024", "2f") "0000 22eb 2001 0001 00000000 0000",
      FAIL(TW_DR_TUNNEL_TRUNCATED)),
    C("pptp gre ppp", 101,
      IP4_OUT("0048", "2f") "3081 880b 0024 0001 00000005 00000004 ff03 0021 " IP4_UDP, UDP4, TUN),
    C("pptp ack only", 101, IP4_OUT("0020", "2f") "2081 880b 0000 0001 00000004",
      SKIP(TW_DR_NOT_IP)),
    C("gre routing", 101, IP4_OUT("0038", "2f") "4000 0800 " IP4_UDP, SKIP(TW_DR_TUNNEL_UNSUPPORTED)),
    C("gre version 2", 101, IP4_OUT("0038", "2f") "0002 0800 " IP4_UDP,
      SKIP(TW_DR_TUNNEL_UNSUPPORTED)),
    C("gre truncated", 101, IP4_OUT("0016", "2f") "0000", FAIL(TW_DR_TUNNEL_TRUNCATED)),
    C("gre key truncated", 101, IP4_OUT("001a", "2f") "2000 0800 0000", FAIL(TW_DR_TUNNEL_TRUNCATED)),
    C("gre unknown protocol", 101, IP4_OUT("001c", "2f") "0000 8137 0000 0000", SKIP(TW_DR_NOT_IP)),
    C("gre teb truncated ethernet", 101, IP4_OUT("0020", "2f") "0000 6558 0200 0000",
      FAIL(TW_DR_TUNNEL_TRUNCATED)),

    /* UDP tunnels */
    C("vxlan", 1, ETH("0800") IP4_OUT("0052", "11") "c000 12b5 003e 0000 0800 0000 0000 0100 " ETH_IP4_UDP,
      UDP4, TUN),
    C("vxlan inner vlan", 101,
      IP4_OUT("0056", "11") "c000 12b5 0042 0000 0800 0000 0000 0100 " ETH("8100") "0005 0800 " IP4_UDP,
      UDP4, TUN, .vlan_count = 1, .vlan0 = 5),
    C("vxlan without i flag", 101,
      IP4_OUT("0052", "11") "c000 12b5 003e 0000 0000 0000 0000 0100 " ETH_IP4_UDP, .ipv = 4,
      .l4 = 17, .src = "10.0.0.1", .dst = "10.0.0.2", .sport = 49152, .dport = 4789, .plen = 54,
      .wlen = 54),
    C("vxlan truncated", 101, IP4_OUT("0020", "11") "c000 12b5 000c 0000 0800 0000",
      FAIL(TW_DR_TUNNEL_TRUNCATED)),
    C("vxlan inner ethernet truncated", 101,
      IP4_OUT("0024", "11") "c000 12b5 0010 0000 0800 0000 0000 0100", FAIL(TW_DR_TUNNEL_TRUNCATED)),
    C("geneve ethernet", 101,
      IP4_OUT("0052", "11") "c000 17c1 003e 0000 0000 6558 0000 0100 " ETH_IP4_UDP, UDP4, TUN),
    C("geneve options ipv4", 101,
      IP4_OUT("004c", "11") "c000 17c1 0038 0000 0200 0800 0000 0100 0000 0000 0000 0000 " IP4_UDP,
      UDP4, TUN),
    C("geneve version 1", 101,
      IP4_OUT("0052", "11") "c000 17c1 003e 0000 4000 6558 0000 0100 " ETH_IP4_UDP,
      SKIP(TW_DR_TUNNEL_UNSUPPORTED)),
    C("geneve options truncated", 101,
      IP4_OUT("0024", "11") "c000 17c1 0010 0000 0400 0800 0000 0100", FAIL(TW_DR_TUNNEL_TRUNCATED)),
    C("geneve vxlan nested", 101,
      IP4_OUT("0076", "11") "c000 17c1 0062 0000 0000 0800 0000 0100 "
      "4500 0052 0000 0000 4011 0000 " A4_MID "c000 12b5 003e 0000 0800 0000 0000 0100 " ETH_IP4_UDP,
      UDP4, TUN),
    C("gre in udp", 101, IP4_OUT("0040", "11") "c000 1292 002c 0000 0000 0800 " IP4_UDP, UDP4, TUN),
    C("gtp-u ipv4", 1, ETH("0800") IP4_OUT("0044", "11") "0868 0868 0030 0000 30ff 0020 00000001 " IP4_UDP,
      UDP4, TUN),
    C("gtp-u extension header", 101,
      IP4_OUT("004c", "11") "0868 0868 0038 0000 34ff 0028 00000001 0000 00 85 01 10 00 00 " IP4_UDP,
      UDP4, TUN),
    C("gtp-u ipv6 tcp", 101, IP4_OUT("0064", "11") "0868 0868 0050 0000 30ff 0040 00000001 " IP6_TCP,
      TCP6, TUN),
    C("gtp-u echo request", 101, IP4_OUT("0028", "11") "0868 0868 0014 0000 3201 0004 00000000 0001 0000",
      SKIP(TW_DR_NOT_IP)),
    C("gtp-u extension length 0", 101,
      IP4_OUT("002c", "11") "0868 0868 0018 0000 34ff 0008 00000001 0000 00 85 00 00 00 00",
      FAIL(TW_DR_TUNNEL_MALFORMED)),
    C("gtp-u port but not gtp", 101, "4500 0020 0000 0000 4011 0000 " A4_IN "0868 0035 000c 0000 " PL,
      .ipv = 4, .l4 = 17, .src = "192.168.1.1", .dst = "192.168.1.2", .sport = 2152,
      .dport = 53, .plen = 4, .wlen = 4),
    /* Regression, DNS lost as a UDP tunnel: a resolver's response to a client whose ephemeral
     * port is a tunnel port (or a query from one) is DNS, whatever its first bytes read as. */
#define DNS_TO(port, first) IP4_OUT("0052", "11") "0035 " port " 003e 0000 " first " 0000 0000 0100 " ETH_IP4_UDP
#define DNS_NOT_TUN(port) .ipv = 4, .l4 = 17, .src = "10.0.0.1", .dst = "10.0.0.2", .sport = 53, \
                          .dport = (port), .plen = 54, .wlen = 54
    C("dns response to port 4789 is not vxlan", 101, DNS_TO("12b5", "0800"), DNS_NOT_TUN(4789)),
    C("dns response to port 6081 is not geneve", 101, DNS_TO("17c1", "4000"), DNS_NOT_TUN(6081)),
    C("dns response to port 6081 with geneve bytes", 101, DNS_TO("17c1", "0000"),
      DNS_NOT_TUN(6081)),
    C("dns response to port 4754 is not gre in udp", 101, DNS_TO("1292", "0000"),
      DNS_NOT_TUN(4754)),
    C("dns response to port 2152 is not gtp-u", 101,
      IP4_OUT("0044", "11") "0035 0868 0030 0000 30ff 0020 00000001 " IP4_UDP, .ipv = 4, .l4 = 17,
      .src = "10.0.0.1", .dst = "10.0.0.2", .sport = 53, .dport = 2152, .plen = 40, .wlen = 40),
    C("dns query from port 3544 is not teredo", 101,
      IP4_OUT("0050", "11") "0dd8 0035 003c 0000 " IP6_UDP, .ipv = 4, .l4 = 17, .src = "10.0.0.1",
      .dst = "10.0.0.2", .sport = 3544, .dport = 53, .plen = 52, .wlen = 52),
#undef DNS_TO
#undef DNS_NOT_TUN
    C("capwap 802.11 swapped frame control", 101,
      IP4_OUT("006c", "11") "c000 147f 0058 0000 0020 0320 0000 0000 0000 0000 0000 0000 "
      "0108 0000 020000000001 020000000002 020000000003 0000 " SNAP("0800") IP4_UDP,
      UDP4, TUN),
    C("capwap 802.3", 101,
      IP4_OUT("0052", "11") "147f c000 003e 0000 0010 0200 0000 0000 " ETH_IP4_UDP, UDP4, TUN),
    C("capwap dtls", 101, IP4_OUT("0024", "11") "c000 147f 0010 0000 0100 0000 0000 0000",
      .ipv = 4, .l4 = 17, .src = "10.0.0.1", .dst = "10.0.0.2", .sport = 49152, .dport = 5247,
      .plen = 8, .wlen = 8),
    C("teredo", 101, IP4_OUT("0050", "11") "0dd8 c000 003c 0000 " IP6_UDP, UDP6, TUN),
    C("teredo origin indication", 101,
      IP4_OUT("0058", "11") "0dd8 c000 0044 0000 0000 f227 3ffffffe " IP6_UDP, UDP6, TUN),
    C("teredo auth and origin", 101,
      IP4_OUT("0065", "11") "0dd8 c000 0051 0000 0001 0000 0000000000000000 00 "
      "0000 f227 3ffffffe " IP6_UDP,
      UDP6, TUN),
    C("teredo port but not ipv6", 101, "4500 0020 0000 0000 4011 0000 " A4_IN "0dd8 0035 000c 0000 " PL,
      .ipv = 4, .l4 = 17, .src = "192.168.1.1", .dst = "192.168.1.2", .sport = 3544,
      .dport = 53, .plen = 4, .wlen = 4),
};

/* ---- helpers ---- */

static size_t hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *s = hex; *s; s++) {
        if (isspace((unsigned char)*s))
            continue;
        int v = isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10;
        if (hi < 0) {
            hi = v;
        } else {
            if (n < cap)
                out[n] = (uint8_t)(hi << 4 | v);
            n++;
            hi = -1;
        }
    }
    assert_true(hi < 0); /* odd number of digits: a typo in a case */
    assert_true(n <= cap);
    return n;
}

static uint64_t reason_sum(const struct tw_decode_stats *st)
{
    uint64_t s = 0;
    for (size_t i = 0; i < TW_DR__COUNT; i++)
        s += st->reason[i];
    return s;
}

static void parse_addr(const char *txt, uint8_t out[16])
{
    memset(out, 0, 16);
    if (strchr(txt, ':') != NULL)
        assert_int_equal(inet_pton(AF_INET6, txt, out), 1);
    else
        assert_int_equal(inet_pton(AF_INET, txt, out), 1);
}

/* Frames tw_decode_peek() read, over the tests below. */
static unsigned peeked;

/*
 * tw_decode_peek() on the frame tw_decode() returned rc and *p for: whenever the peek answers
 * and the decoder accepts the frame, both name the same flow (a worker that skips a frame on
 * the peek's word skips what the decoder would have given another worker).
 */
static void check_peek(int link, const uint8_t *buf, size_t len, int rc, const struct tw_pkt *p)
{
    struct tw_pkt k;

    if (!tw_decode_peek(link, buf, len, &k))
        return;
    peeked++;
    if (rc != 0)
        return; /* refused: no worker reads it, whatever the peek says */
    assert_int_equal(k.ip_version, p->ip_version);
    assert_int_equal(k.l4_proto, p->l4_proto);
    assert_memory_equal(k.src, p->src, 16);
    assert_memory_equal(k.dst, p->dst, 16);
    assert_int_equal(k.sport, p->sport);
    assert_int_equal(k.dport, p->dport);
}

static void check_case(const struct dcase *k)
{
    uint8_t tmp[1024];
    size_t len = hex_decode(k->hex, tmp, sizeof(tmp));
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, tmp, len);

    struct tw_decode_stats st;
    memset(&st, 0, sizeof(st));
    struct tw_pkt p;
    int rc = tw_decode(k->link, buf, len, len, &p, &st);
    check_peek(k->link, buf, len, rc, &p);
    if (rc != k->rc || (k->counted && st.reason[k->reason] != 1) ||
        reason_sum(&st) != (k->counted ? 1u : 0u)) {
        fprintf(stderr, "case at line %d (%s): rc %d, expected %d\n", k->line, k->name, rc, k->rc);
        for (size_t i = 0; i < TW_DR__COUNT; i++)
            if (st.reason[i])
                fprintf(stderr, "  counted %s\n", tw_decode_reason_name((enum tw_decode_reason)i));
        fail();
    }
    if (rc == 0) {
        uint8_t a[16];
        assert_int_equal(p.ip_version, k->ipv);
        assert_int_equal(p.l4_proto, k->l4);
        parse_addr(k->src, a);
        assert_memory_equal(p.src, a, 16);
        parse_addr(k->dst, a);
        assert_memory_equal(p.dst, a, 16);
        assert_int_equal(p.sport, k->sport);
        assert_int_equal(p.dport, k->dport);
        assert_int_equal(p.payload_len, k->plen);
        assert_int_equal(p.payload_wire_len, k->wlen);
        assert_true(p.payload >= buf && p.payload + p.payload_len <= buf + len);
        if (k->plen == 4)
            assert_memory_equal(p.payload, "\xde\xad\xbe\xef", 4);
        if (k->l4 == 6) {
            assert_int_equal(p.tcp_flags, k->flags);
            assert_int_equal(p.seq, 0x01020304);
        }
        if (k->check_tcp) {
            assert_int_equal(p.ack, 0x05060708);
            assert_int_equal(p.tcp_window, 0x7210);
        }
        assert_int_equal(st.tcp + st.udp, 1);
        assert_int_equal(k->ipv == 4 ? st.ipv4 : st.ipv6, 1);
        assert_int_equal(p.vlan_count, k->vlan_count);
        assert_int_equal(p.vlan[0], k->vlan0);
        assert_int_equal(p.vlan[1], k->vlan1);
    }
    assert_int_equal(st.tunnel, k->tunnel ? 1 : 0);
    free(buf);
}

static void test_cases(void **state)
{
    (void)state;
    peeked = 0;
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++)
        check_case(&cases[i]);
    /* the plain Ethernet cases at least */
    assert_true(peeked >= 4);
}

/* Every case cut at every prefix length, in an exact-size heap buffer: no crash, no read past
 * the prefix (ASan), exactly one reason per refusal, a success only within the prefix. */
static void test_prefixes(void **state)
{
    (void)state;
    uint8_t tmp[1024];
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        const struct dcase *k = &cases[i];
        size_t len = hex_decode(k->hex, tmp, sizeof(tmp));
        for (size_t n = 0; n < len; n++) {
            uint8_t *buf = malloc(n ? n : 1);
            assert_non_null(buf);
            memcpy(buf, tmp, n);
            struct tw_decode_stats st;
            memset(&st, 0, sizeof(st));
            struct tw_pkt p;
            int rc = tw_decode(k->link, n ? buf : NULL, n, len, &p, &st);
            check_peek(k->link, n ? buf : NULL, n, rc, &p);
            if (rc == 0) {
                assert_true(p.payload >= buf && p.payload + p.payload_len <= buf + n);
                assert_true(p.payload_len <= p.payload_wire_len);
                assert_true(reason_sum(&st) <= 1);
                assert_true(p.l4_proto == 6 || p.l4_proto == 17);
            } else {
                if (rc != TW_EMALFORMED && rc != TW_ESKIP) {
                    fprintf(stderr, "case at line %d cut to %zu: rc %d\n", k->line, n, rc);
                    fail();
                }
                assert_int_equal(reason_sum(&st), 1);
                assert_int_equal(st.tcp + st.udp, 0);
            }
            free(buf);
        }
    }
}

static void test_reason_names(void **state)
{
    (void)state;
    for (int i = 0; i < TW_DR__COUNT; i++) {
        const char *n = tw_decode_reason_name((enum tw_decode_reason)i);
        assert_non_null(n);
        assert_string_not_equal(n, "unknown");
        for (const char *s = n; *s; s++)
            assert_true((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_');
        for (int j = 0; j < i; j++)
            assert_string_not_equal(n, tw_decode_reason_name((enum tw_decode_reason)j));
    }
    assert_string_equal(tw_decode_reason_name(TW_DR_IP4_FRAGMENT), "ip4_fragment");
    assert_string_equal(tw_decode_reason_name(TW_DR_NOT_IP), "not_ip");
    assert_string_equal(tw_decode_reason_name(TW_DR__COUNT), "unknown");
    assert_true(tw_decode_reason_is_benign(TW_DR_NOT_IP));
    assert_true(tw_decode_reason_is_benign(TW_DR_L4_OTHER));
    assert_true(tw_decode_reason_is_benign(TW_DR_IP6_NO_NEXT));
    assert_false(tw_decode_reason_is_benign(TW_DR_IP4_FRAGMENT));
    assert_false(tw_decode_reason_is_benign(TW_DR_TCP_BAD_OFFSET));
    assert_false(tw_decode_reason_is_benign(TW_DR_PAYLOAD_TRUNCATED));
}

static void test_linktypes(void **state)
{
    (void)state;
    const int yes[] = {0, 1, 9, 12, 14, 50, 101, 104, 105, 108, 113, 127, 228, 229, 239, 276};
    for (size_t i = 0; i < TW_ARRAY_SIZE(yes); i++)
        assert_true(tw_decode_linktype_supported(yes[i]));
    assert_false(tw_decode_linktype_supported(147));
    assert_false(tw_decode_linktype_supported(-1));
}

/* A snaplen cut is reported by the lengths, and the payload pointer stays in the capture. */
static void test_snaplen_payload(void **state)
{
    (void)state;
    uint8_t tmp[256];
    size_t len = hex_decode(ETH("0800") IP4_TCP, tmp, sizeof(tmp));
    struct tw_decode_stats st;
    memset(&st, 0, sizeof(st));
    struct tw_pkt p;
    assert_int_equal(tw_decode(1, tmp, len - 2, len, &p, &st), 0);
    assert_int_equal(p.payload_len, 2);
    assert_int_equal(p.payload_wire_len, 4);
    assert_int_equal(st.reason[TW_DR_PAYLOAD_TRUNCATED], 1);
}

/* ---- public corpus ($TW_SHARED/corpus, see tests/test_util.h) ---- */

struct oracle_row {
    unsigned frame;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    uint8_t proto;
};

static size_t load_oracle(const char *corpus, const char *file, struct oracle_row **rows)
{
    char path[4096 + 512];
    snprintf(path, sizeof(path), "%s/oracle/%s.tsv", corpus, file);
    FILE *f = fopen(path, "r");
    *rows = NULL;
    if (f == NULL)
        return 0;
    size_t n = 0, cap = 0;
    char line[4096];
    while (fgets(line, sizeof(line), f) != NULL) {
        char *col[6];
        char *save = NULL;
        char *s = line;
        size_t k = 0;
        for (; k < 6; k++) {
            col[k] = strtok_r(s, "\t\n", &save);
            s = NULL;
            if (col[k] == NULL)
                break;
        }
        if (k < 6 || !isdigit((unsigned char)col[0][0]))
            continue;
        struct oracle_row r;
        memset(&r, 0, sizeof(r));
        r.frame = (unsigned)strtoul(col[0], NULL, 10);
        int af = strchr(col[1], ':') ? AF_INET6 : AF_INET;
        if (inet_pton(af, col[1], r.src) != 1 || inet_pton(af, col[3], r.dst) != 1)
            continue;
        r.sport = (uint16_t)strtoul(col[2], NULL, 10);
        r.dport = (uint16_t)strtoul(col[4], NULL, 10);
        r.proto = strcmp(col[5], "tcp") == 0 ? 6 : strcmp(col[5], "udp") == 0 ? 17 : 0;
        if (r.proto == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct oracle_row *nr = realloc(*rows, cap * sizeof(**rows));
            assert_non_null(nr);
            *rows = nr;
        }
        (*rows)[n++] = r;
    }
    fclose(f);
    return n;
}

static void test_corpus(void **state)
{
    (void)state;
    char corpus[4096], pcaps[4096];
    tw_shared_path(corpus, sizeof(corpus), "corpus");
    tw_shared_path(pcaps, sizeof(pcaps), "corpus/pcaps");
    DIR *dir = opendir(pcaps);
    if (dir == NULL)
        tw_skip_required("%s: %s (TW_SHARED)", pcaps, strerror(errno));
    struct tw_decode_stats total;
    memset(&total, 0, sizeof(total));
    peeked = 0;
    unsigned files = 0, frames = 0, ok = 0, unsupported_files = 0;
    unsigned rows_checked = 0, rows_matched = 0, rows_undecoded = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096 + 256], err[PCAP_ERRBUF_SIZE];
        snprintf(path, sizeof(path), "%s/%s", pcaps, de->d_name);
        pcap_t *pc = pcap_open_offline(path, err);
        if (pc == NULL)
            continue;
        files++;
        int dlt = pcap_datalink(pc);
        if (!tw_decode_linktype_supported(dlt))
            unsupported_files++;
        struct oracle_row *rows;
        size_t nrows = load_oracle(corpus, de->d_name, &rows);
        size_t ri = 0;
        struct pcap_pkthdr *h;
        const u_char *data;
        unsigned frame = 0;
        while (pcap_next_ex(pc, &h, &data) == 1) {
            frame++;
            frames++;
            /* exact-size copy so ASan sees an over-read by one byte */
            uint8_t *buf = malloc(h->caplen ? h->caplen : 1);
            assert_non_null(buf);
            memcpy(buf, data, h->caplen);
            struct tw_pkt p;
            int rc = tw_decode(dlt, buf, h->caplen, h->len, &p, &total);
            check_peek(dlt, buf, h->caplen, rc, &p);
            assert_true(rc == 0 || rc == TW_ESKIP || rc == TW_EMALFORMED);
            if (rc == 0) {
                ok++;
                assert_true(p.payload >= buf && p.payload + p.payload_len <= buf + h->caplen);
            }
            while (ri < nrows && rows[ri].frame < frame)
                ri++;
            for (; ri < nrows && rows[ri].frame == frame; ri++) {
                rows_checked++;
                if (rc != 0) {
                    rows_undecoded++;
                    continue;
                }
                const struct oracle_row *r = &rows[ri];
                if (memcmp(p.src, r->src, 16) == 0 && memcmp(p.dst, r->dst, 16) == 0 &&
                    p.sport == r->sport && p.dport == r->dport && p.l4_proto == r->proto) {
                    rows_matched++;
                } else {
                    char s[64], d[64];
                    inet_ntop(p.ip_version == 6 ? AF_INET6 : AF_INET, p.src, s, sizeof(s));
                    inet_ntop(p.ip_version == 6 ? AF_INET6 : AF_INET, p.dst, d, sizeof(d));
                    fprintf(stderr, "oracle mismatch %s frame %u: decoded %s:%u -> %s:%u/%u\n",
                            de->d_name, frame, s, p.sport, d, p.dport, p.l4_proto);
                }
            }
            free(buf);
        }
        free(rows);
        pcap_close(pc);
    }
    closedir(dir);

    printf("corpus: %u files (%u with unsupported link types), %u frames, %u decoded, %u read "
           "by tw_decode_peek alike\n", files, unsupported_files, frames, ok, peeked);
    printf("corpus: eth %llu sll %llu raw %llu null/loop %llu ppp %llu nflog %llu vlan %llu "
           "wlan %llu tunnel %llu ipv4 %llu ipv6 %llu tcp %llu udp %llu\n",
           (unsigned long long)total.eth, (unsigned long long)total.sll,
           (unsigned long long)total.raw, (unsigned long long)total.null_loop,
           (unsigned long long)total.ppp, (unsigned long long)total.nflog,
           (unsigned long long)total.vlan, (unsigned long long)total.wlan,
           (unsigned long long)total.tunnel,
           (unsigned long long)total.ipv4, (unsigned long long)total.ipv6,
           (unsigned long long)total.tcp, (unsigned long long)total.udp);
    for (int i = 0; i < TW_DR__COUNT; i++)
        if (total.reason[i])
            printf("corpus: %-20s %llu%s\n", tw_decode_reason_name((enum tw_decode_reason)i),
                   (unsigned long long)total.reason[i],
                   tw_decode_reason_is_benign((enum tw_decode_reason)i) ? " (benign)" : "");
    printf("corpus: oracle rows %u: %u same innermost 5-tuple, %u on frames not decoded\n",
           rows_checked, rows_matched, rows_undecoded);
    assert_true(files > 0);
    assert_true(rows_checked > 0); /* the oracle was read: the comparison below compared rows */
    assert_int_equal(rows_matched + rows_undecoded, rows_checked);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),           cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_reason_names),    cmocka_unit_test(test_linktypes),
        cmocka_unit_test(test_snaplen_payload), cmocka_unit_test(test_corpus),
    };
    return tw_run_tests(tests, NULL, NULL);
}
