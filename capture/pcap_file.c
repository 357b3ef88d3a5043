/* SPDX-License-Identifier: MIT */
/*
 * pcap / pcapng file backend, through libpcap. The file is read through a stdio stream with a
 * 1 MiB buffer (pcap_fopen_offline): libpcap's own pcap_open_offline reads 4 KiB at a time, a
 * read() system call every five packets of average size.
 */
#include "tunwatch/capture/capture.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pcap_frame.h"

#define READ_BUFFER (1u << 20)

struct tw_capture {
    pcap_t *pcap;
    FILE *fp;      /* the stream libpcap reads, for progress */
    char *readbuf; /* its stdio buffer, freed after pcap_close() closed fp */
    int linktype;
    bool nano;
    uint64_t frames;
    uint64_t size;
    tw_frame_fn fn;
    void *ctx;
};

static int pf_open(const char *source, const struct tw_capture_opts *opts,
                   struct tw_capture **out, char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    struct tw_capture *c = calloc(1, sizeof(*c));
    struct stat sb;

    (void)opts; /* a file has no snaplen, buffer or filter to set */
    if (c == NULL) {
        snprintf(err, errlen, "%s: out of memory", source);
        return TW_ENOMEM;
    }
    if (strcmp(source, "-") == 0) {
        c->fp = stdin;
    } else if ((c->fp = fopen(source, "rb")) == NULL) {
        snprintf(err, errlen, "%s: %s", source, strerror(errno));
        free(c);
        return TW_EIO;
    }
    c->readbuf = malloc(READ_BUFFER);
    if (c->readbuf != NULL)
        setvbuf(c->fp, c->readbuf, _IOFBF, READ_BUFFER);
    c->pcap = pcap_fopen_offline_with_tstamp_precision(c->fp, PCAP_TSTAMP_PRECISION_NANO, perr);
    if (c->pcap == NULL) {
        snprintf(err, errlen, "%s", perr);
        if (c->fp != stdin)
            fclose(c->fp);
        free(c->readbuf);
        free(c);
        return TW_EIO;
    }
    c->nano = pcap_get_tstamp_precision(c->pcap) == PCAP_TSTAMP_PRECISION_NANO;
    c->linktype = pcap_datalink(c->pcap);
    if (fstat(fileno(c->fp), &sb) == 0 && S_ISREG(sb.st_mode))
        c->size = (uint64_t)sb.st_size;
    *out = c;
    return 0;
}

static int pf_linktype(const struct tw_capture *c)
{
    return c->linktype;
}

static void pf_cb(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct tw_capture *c = (struct tw_capture *)user;
    struct tw_frame f = tw_pcap_frame(h, bytes, c->nano);

    c->frames++;
    c->fn(c->ctx, &f);
}

static int pf_dispatch(struct tw_capture *c, unsigned max, tw_frame_fn fn, void *ctx, char *err,
                       size_t errlen)
{
    int n;

    c->fn = fn;
    c->ctx = ctx;
    n = pcap_dispatch(c->pcap, (int)max, pf_cb, (u_char *)c);
    if (n == PCAP_ERROR) {
        snprintf(err, errlen, "%s", pcap_geterr(c->pcap));
        return TW_EIO;
    }
    return n <= 0 ? TW_EOF : n;
}

static int pf_selectable_fd(struct tw_capture *c)
{
    (void)c;
    return -1;
}

static void pf_stats(struct tw_capture *c, struct tw_capture_stats *st)
{
    long pos;

    memset(st, 0, sizeof(*st));
    st->frames = c->frames;
    st->bytes_total = c->size;
    if (c->fp != NULL && (pos = ftell(c->fp)) >= 0)
        st->bytes_done = (uint64_t)pos;
}

static void pf_close(struct tw_capture *c)
{
    if (c == NULL)
        return;
    pcap_close(c->pcap); /* closes fp */
    free(c->readbuf);
    free(c);
}

const struct tw_capture_ops tw_capture_pcap_file = {
    .name = "pcap-file",
    .open = pf_open,
    .linktype = pf_linktype,
    .dispatch = pf_dispatch,
    .selectable_fd = pf_selectable_fd,
    .stats = pf_stats,
    .close = pf_close,
};
