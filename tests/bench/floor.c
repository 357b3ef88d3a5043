/* SPDX-License-Identifier: MIT */
/*
 * floor - the cost of reading a capture with libpcap and doing nothing else.
 *
 *   floor FILE.pcap
 *
 * A bare pcap_dispatch() loop whose callback only counts packets and sums the captured and
 * wire lengths (printed at the end, so the compiler cannot drop the loop). tunwatch's time on
 * the same file is reported as a ratio to this one. The fastest honest way libpcap offers: the
 * file is read through a stdio stream with a 1 MiB buffer (pcap_fopen_offline), not with
 * pcap_open_offline's 4 KiB reads.
 * Prints "packets N caplen_bytes N wire_bytes N" on stdout.
 */
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

#define READ_BUFFER (1u << 20)

struct tw_floor_count {
    uint64_t packets;
    uint64_t caplen;
    uint64_t wirelen;
};

static void tw_floor_cb(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct tw_floor_count *c = (struct tw_floor_count *)(void *)user;
    (void)bytes;
    c->packets++;
    c->caplen += h->caplen;
    c->wirelen += h->len;
}

int main(int argc, char **argv)
{
    static char readbuf[READ_BUFFER];
    char errbuf[PCAP_ERRBUF_SIZE];
    struct tw_floor_count c = {0, 0, 0};
    FILE *fp;
    int rc = 1, n;

    if (argc != 2) {
        fprintf(stderr, "usage: floor FILE.pcap\n");
        return 2;
    }
    errbuf[0] = '\0';
    fp = fopen(argv[1], "rb");
    if (fp == NULL) {
        perror(argv[1]);
        return 1;
    }
    setvbuf(fp, readbuf, _IOFBF, sizeof(readbuf));
    pcap_t *p = pcap_fopen_offline(fp, errbuf);
    if (!p) {
        fprintf(stderr, "floor: %s: %s\n", argv[1], errbuf);
        fclose(fp);
        return 1;
    }
    do {
        n = pcap_dispatch(p, -1, tw_floor_cb, (u_char *)&c);
    } while (n > 0);
    if (n == PCAP_ERROR) {
        fprintf(stderr, "floor: %s: %s\n", argv[1], pcap_geterr(p));
        goto out_close;
    }
    if (printf("packets %" PRIu64 " caplen_bytes %" PRIu64 " wire_bytes %" PRIu64 "\n", c.packets,
               c.caplen, c.wirelen) < 0)
        goto out_close;
    rc = 0;
out_close:
    pcap_close(p);
    return rc;
}
