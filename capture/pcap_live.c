/* SPDX-License-Identifier: MIT */
/*
 * Live capture backend, through libpcap: one interface or "any".
 *
 * The handle is put in non-blocking mode, so dispatch never waits: the caller polls
 * selectable_fd with its own timeout and dispatches when it is readable (or the timeout passed,
 * since a TPACKET_V3 block may be handed over on its own timer).
 *
 * On success, open() leaves err empty or holding a warning from libpcap that named the
 * interface; on failure err says what went wrong and what to do about it.
 */
#include "tunwatch/capture/capture.h"

#include <limits.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcap_frame.h"

#define PL_SNAPLEN_DEFAULT 262144
#define PL_TIMEOUT_MS_DEFAULT 100

struct tw_capture {
    pcap_t *pcap;
    int linktype;
    bool nano;          /* libpcap hands us nanoseconds, not microseconds */
    uint64_t frames;    /* delivered since open */
    unsigned burst;     /* delivered by the current dispatch */
    tw_frame_fn fn;
    void *ctx;
    /* pcap_stats counters are 32-bit and cumulative; widened here by adding their deltas. */
    struct pcap_stat last;
    uint64_t received, dropped, ifdropped;
};

static const struct tw_capture_opts pl_default_opts;

/* Turns a pcap_activate() result other than 0 into a message naming the interface.
 * Returns 0 for warnings (message left in err), a TW_E* code for errors. */
static int pl_activate_result(struct tw_capture *c, const char *source, int rc, char *err,
                              size_t errlen)
{
    const char *why = pcap_geterr(c->pcap);
    const char *sep = why[0] != '\0' ? ": " : "";

    switch (rc) {
    case PCAP_WARNING_PROMISC_NOTSUP:
        snprintf(err, errlen, "%s: promiscuous mode not supported, capturing without it%s%s",
                 source, sep, why);
        return 0;
    case PCAP_WARNING_TSTAMP_TYPE_NOTSUP:
        snprintf(err, errlen, "%s: time stamp type not supported, using the default%s%s", source,
                 sep, why);
        return 0;
    case PCAP_WARNING:
        snprintf(err, errlen, "%s: warning%s%s", source, sep, why);
        return 0;
    case PCAP_ERROR_PERM_DENIED:
        snprintf(err, errlen,
                 "%s: permission denied: live capture needs root or the CAP_NET_RAW and "
                 "CAP_NET_ADMIN capabilities%s%s",
                 source, sep, why);
        return TW_EIO;
    case PCAP_ERROR_PROMISC_PERM_DENIED:
        snprintf(err, errlen,
                 "%s: no permission to enable promiscuous mode: capture without it or with "
                 "more privilege%s%s",
                 source, sep, why);
        return TW_EIO;
    case PCAP_ERROR_NO_SUCH_DEVICE:
        snprintf(err, errlen, "%s: no such interface%s%s", source, sep, why);
        return TW_EINVAL;
    case PCAP_ERROR_IFACE_NOT_UP:
        snprintf(err, errlen, "%s: interface is not up%s%s", source, sep, why);
        return TW_EIO;
    case PCAP_ERROR_RFMON_NOTSUP:
        snprintf(err, errlen, "%s: monitor mode not supported%s%s", source, sep, why);
        return TW_ENOTSUP;
    default:
        if (rc > 0) {
            snprintf(err, errlen, "%s: warning %d%s%s", source, rc, sep, why);
            return 0;
        }
        snprintf(err, errlen, "%s: cannot start capture: %s", source,
                 why[0] != '\0' ? why : pcap_statustostr(rc));
        return TW_EIO;
    }
}

static int pl_set_filter(struct tw_capture *c, const char *source, const char *expr, char *err,
                         size_t errlen)
{
    struct bpf_program prog;

    if (pcap_compile(c->pcap, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(err, errlen, "%s: bad filter '%s': %s", source, expr, pcap_geterr(c->pcap));
        return TW_EINVAL;
    }
    if (pcap_setfilter(c->pcap, &prog) != 0) {
        snprintf(err, errlen, "%s: cannot set filter '%s': %s", source, expr,
                 pcap_geterr(c->pcap));
        pcap_freecode(&prog);
        return TW_EIO;
    }
    pcap_freecode(&prog);
    return 0;
}

static int pl_open(const char *source, const struct tw_capture_opts *opts,
                   struct tw_capture **out, char *err, size_t errlen)
{
    char perr[PCAP_ERRBUF_SIZE] = "";
    struct tw_capture *c;
    bool any = strcmp(source, "any") == 0;
    int rc;

    if (errlen > 0)
        err[0] = '\0';
    if (opts == NULL)
        opts = &pl_default_opts;
    if (opts->buffer_mib > INT_MAX / (1024 * 1024)) {
        snprintf(err, errlen, "%s: buffer of %d MiB is too large", source, opts->buffer_mib);
        return TW_EINVAL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        snprintf(err, errlen, "%s: out of memory", source);
        return TW_ENOMEM;
    }
    c->pcap = pcap_create(source, perr);
    if (c->pcap == NULL) {
        snprintf(err, errlen, "%s: %s", source, perr);
        rc = TW_EIO;
        goto out_free;
    }
    /* Setters on a handle not yet activated fail only for values libpcap range-checks at
     * activation, which reports them; their results are not interesting here. */
    pcap_set_snaplen(c->pcap, opts->snaplen > 0 ? opts->snaplen : PL_SNAPLEN_DEFAULT);
    /* "any" has no promiscuous mode: do not ask for it. */
    pcap_set_promisc(c->pcap, !opts->no_promisc && !any);
    if (opts->buffer_mib > 0)
        pcap_set_buffer_size(c->pcap, opts->buffer_mib * 1024 * 1024);
    pcap_set_immediate_mode(c->pcap, opts->immediate);
    pcap_set_timeout(c->pcap, opts->timeout_ms > 0 ? opts->timeout_ms : PL_TIMEOUT_MS_DEFAULT);
    /* Falls back to microseconds where the platform has no nanosecond time stamps. */
    pcap_set_tstamp_precision(c->pcap, PCAP_TSTAMP_PRECISION_NANO);

    rc = pcap_activate(c->pcap);
    if (rc != 0) {
        rc = pl_activate_result(c, source, rc, err, errlen);
        if (rc < 0)
            goto out_close;
    }
    c->nano = pcap_get_tstamp_precision(c->pcap) == PCAP_TSTAMP_PRECISION_NANO;
    c->linktype = pcap_datalink(c->pcap);

    if (opts->filter != NULL) {
        rc = pl_set_filter(c, source, opts->filter, err, errlen);
        if (rc < 0)
            goto out_close;
    }
    if (pcap_setnonblock(c->pcap, 1, perr) != 0) {
        snprintf(err, errlen, "%s: cannot enter non-blocking mode: %s", source, perr);
        rc = TW_EIO;
        goto out_close;
    }
    *out = c;
    return 0;

out_close:
    pcap_close(c->pcap);
out_free:
    free(c);
    return rc;
}

static int pl_linktype(const struct tw_capture *c)
{
    return c->linktype;
}

static void pl_cb(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct tw_capture *c = (struct tw_capture *)user;
    struct tw_frame f = tw_pcap_frame(h, bytes, c->nano);

    c->frames++;
    c->burst++;
    c->fn(c->ctx, &f);
}

static int pl_dispatch(struct tw_capture *c, unsigned max, tw_frame_fn fn, void *ctx, char *err,
                       size_t errlen)
{
    int n;

    c->fn = fn;
    c->ctx = ctx;
    c->burst = 0;
    n = pcap_dispatch(c->pcap, max > INT_MAX ? INT_MAX : (int)max, pl_cb, (u_char *)c);
    if (n == PCAP_ERROR) {
        snprintf(err, errlen, "%s", pcap_geterr(c->pcap));
        return TW_EIO;
    }
    /* A break may come after some frames went out; report those, not the break. */
    if (n == PCAP_ERROR_BREAK || n < 0)
        return (int)c->burst;
    return n;
}

static int pl_selectable_fd(struct tw_capture *c)
{
    return pcap_get_selectable_fd(c->pcap);
}

/* Adds the change of a 32-bit cumulative counter to its 64-bit total (wraps are fine as long
 * as stats are read at least once per 2^32 packets). */
static void pl_widen(uint64_t *total, u_int *last, u_int now)
{
    *total += (uint32_t)(now - *last);
    *last = now;
}

static void pl_stats(struct tw_capture *c, struct tw_capture_stats *st)
{
    struct pcap_stat ps;

    if (pcap_stats(c->pcap, &ps) == 0) {
        pl_widen(&c->received, &c->last.ps_recv, ps.ps_recv);
        pl_widen(&c->dropped, &c->last.ps_drop, ps.ps_drop);
        pl_widen(&c->ifdropped, &c->last.ps_ifdrop, ps.ps_ifdrop);
    }
    memset(st, 0, sizeof(*st));
    st->frames = c->frames;
    st->received = c->received;
    st->dropped = c->dropped;
    st->ifdropped = c->ifdropped;
}

static void pl_close(struct tw_capture *c)
{
    if (c == NULL)
        return;
    pcap_close(c->pcap);
    free(c);
}

const struct tw_capture_ops tw_capture_pcap_live = {
    .name = "pcap-live",
    .open = pl_open,
    .linktype = pl_linktype,
    .dispatch = pl_dispatch,
    .selectable_fd = pl_selectable_fd,
    .stats = pl_stats,
    .close = pl_close,
};
