/* SPDX-License-Identifier: MIT */
/*
 * tunwatch: replay a capture, extract DNS query names and TLS SNI, match
 * Sigma rules, write NDJSON alerts (and, on request, every event).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tunwatch/capture.h"
#include "tunwatch/engine.h"
#include "tunwatch/evqueue.h"
#include "tunwatch/output.h"
#include "tunwatch/rules.h"

#include "config.h" /* TW_DATADIR, written by the Makefile */
#define TW_VERSION "0.1.0"
#define BURST 256
#define MAX_RULE_PATHS 64
/* Events held while the rules load: about 100k events, then the packet path waits. */
#define PENDING_BYTES (32u << 20)

struct options {
    const char *read_file;
    const char *out_path;
    const char *rule_paths[MAX_RULE_PATHS];
    size_t n_rule_paths;
    bool events;
    bool quiet;
    struct tw_capture_opts cap;
    struct tw_engine_config eng;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: tunwatch -r FILE [options]\n"
            "  -r, --read FILE          replay a pcap or pcapng file\n"
            "  -R, --rules PATH         Sigma rule file or directory (repeatable;\n"
            "                           default: the bundled rules)\n"
            "  -o, --output FILE        write NDJSON here instead of stdout\n"
            "      --events             also write every observed name (hunting log)\n"
            "  -q, --quiet              no progress line\n"
            "      --home-net LIST      CIDRs inside the organisation (decides Initiated;\n"
            "                           default 10/8,172.16/12,192.168/16,127/8,169.254/16,\n"
            "                           fc00::/7,::1/128,fe80::/10)\n"
            "      --flows N            flow table capacity (default 262144)\n"
            "      --flow-timeout SECS  idle time before a flow may be expired (default 300)\n"
            "      --stream-buffers N   reassembly buffers, 24 KiB each (default 4096)\n"
            "  -V, --version            print the version\n"
            "  -h, --help               this text\n");
}

static bool parse_u32(const char *s, uint32_t min, uint32_t *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The bundled rules: rules/ of the source tree when the binary runs from its build
 * directory, else the installed copy. */
static const char *default_rules(char *buf, size_t cap)
{
    char exe[PATH_MAX], mk[PATH_MAX + 32];
    ssize_t n;
    static const char *const up[] = {"/..", "/../.."};

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            for (size_t i = 0; i < TW_ARRAY_SIZE(up); i++) {
                struct stat sb;
                int a = snprintf(mk, sizeof(mk), "%s%s/Makefile", exe, up[i]);
                int b = snprintf(buf, cap, "%s%s/rules", exe, up[i]);
                if (a < 0 || (size_t)a >= sizeof(mk) || b < 0 || (size_t)b >= cap)
                    continue;
                if (stat(mk, &sb) == 0 && is_dir(buf) && realpath(buf, mk) != NULL &&
                    strlen(mk) < cap) {
                    memcpy(buf, mk, strlen(mk) + 1);
                    return buf;
                }
            }
        }
    }
    snprintf(buf, cap, "%s/rules", TW_DATADIR);
    if (is_dir(buf))
        return buf;
    return NULL;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    enum { OPT_EVENTS = 256, OPT_HOME_NET, OPT_FLOWS, OPT_FLOW_TIMEOUT, OPT_STREAM_BUFFERS };
    static const struct option longopts[] = {
        {"read", required_argument, NULL, 'r'},
        {"rules", required_argument, NULL, 'R'},
        {"output", required_argument, NULL, 'o'},
        {"events", no_argument, NULL, OPT_EVENTS},
        {"quiet", no_argument, NULL, 'q'},
        {"home-net", required_argument, NULL, OPT_HOME_NET},
        {"flows", required_argument, NULL, OPT_FLOWS},
        {"flow-timeout", required_argument, NULL, OPT_FLOW_TIMEOUT},
        {"stream-buffers", required_argument, NULL, OPT_STREAM_BUFFERS},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char bad[64];
    int c;

    while ((c = getopt_long(argc, argv, "r:R:o:qVh", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            o->read_file = optarg;
            break;
        case 'R':
            if (o->n_rule_paths == MAX_RULE_PATHS) {
                fprintf(stderr, "tunwatch: at most %d -R options\n", MAX_RULE_PATHS);
                return -1;
            }
            o->rule_paths[o->n_rule_paths++] = optarg;
            break;
        case 'o':
            o->out_path = optarg;
            break;
        case OPT_EVENTS:
            o->events = true;
            break;
        case 'q':
            o->quiet = true;
            break;
        case OPT_HOME_NET:
            if (tw_homenet_parse(&o->eng.home, optarg, bad, sizeof(bad)) != 0) {
                fprintf(stderr, "tunwatch: --home-net: bad network '%s'\n", bad);
                return -1;
            }
            break;
        case OPT_FLOWS:
            if (!parse_u32(optarg, 1, &o->eng.flow_capacity) ||
                o->eng.flow_capacity > (1u << 28)) {
                fprintf(stderr, "tunwatch: --flows: expected 1..268435456, got '%s'\n", optarg);
                return -1;
            }
            break;
        case OPT_FLOW_TIMEOUT:
            if (!parse_u32(optarg, 1, &o->eng.flow_timeout)) {
                fprintf(stderr, "tunwatch: --flow-timeout: expected seconds, got '%s'\n", optarg);
                return -1;
            }
            break;
        case OPT_STREAM_BUFFERS:
            if (!parse_u32(optarg, 0, &o->eng.stream_buffers) ||
                o->eng.stream_buffers > (1u << 20)) {
                fprintf(stderr, "tunwatch: --stream-buffers: expected 0..1048576, got '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case 'V':
            printf("tunwatch %s\n", TW_VERSION);
            exit(0);
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tunwatch: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->read_file == NULL) {
        fprintf(stderr, "tunwatch: nothing to read: give -r FILE\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Rules load and compile on their own thread while the capture is already being read; events
 * found meanwhile wait in a bounded queue and are matched in order once the matcher is ready,
 * so the output is the same as with the rules loaded first.
 */
struct rules_loader {
    pthread_t thread;
    struct tw_ruleset *rules;
    const char *const *paths;
    size_t n_paths;
    int rc;             /* 0, or TW_ENOMEM */
    atomic_bool done;   /* set by the loader when rc is final */
    bool joined;
};

static void *load_rules(void *arg)
{
    struct rules_loader *l = arg;

    l->rc = 0;
    for (size_t i = 0; i < l->n_paths && l->rc == 0; i++)
        if (tw_ruleset_load(l->rules, l->paths[i], stderr) == TW_ENOMEM)
            l->rc = TW_ENOMEM;
    if (l->rc == 0 && tw_ruleset_compile(l->rules) != 0)
        l->rc = TW_ENOMEM;
    atomic_store_explicit(&l->done, true, memory_order_release);
    return NULL;
}

struct run {
    struct tw_engine *eng;
    int linktype;
    struct tw_output *out;
    struct rules_loader *loader;
    struct tw_evqueue pending;
    bool ready;       /* matcher in place, queue drained */
    bool failed;      /* the rules could not be loaded */
};

/* Waits for the loader, puts the matcher in place and matches what waited. */
static void rules_ready(struct run *r)
{
    if (r->ready)
        return;
    if (!r->loader->joined) {
        pthread_join(r->loader->thread, NULL);
        r->loader->joined = true;
    }
    if (r->loader->rc != 0) {
        r->failed = true;
        r->out->rules = NULL;
    } else {
        r->out->rules = r->loader->rules;
    }
    tw_evqueue_drain(&r->pending, tw_output_event, r->out);
    r->ready = true;
}

static void on_event(void *ctx, const struct tw_event *ev)
{
    struct run *r = ctx;

    if (!r->ready) {
        if (!atomic_load_explicit(&r->loader->done, memory_order_acquire)) {
            if (tw_evqueue_push(&r->pending, ev) == 0)
                return;
        }
        rules_ready(r); /* loaded, or the queue is full: wait for the loader */
    }
    tw_output_event(r->out, ev);
}

static void on_frame(void *ctx, const struct tw_frame *f)
{
    struct run *r = ctx;
    tw_engine_frame(r->eng, r->linktype, f);
}

static void progress(const struct tw_capture_ops *ops, struct tw_capture *cap,
                     const struct tw_engine *eng, const struct tw_output *out, double t0)
{
    struct tw_capture_stats cs;
    struct tw_engine_stats es;
    struct tw_flow_table_stats fs;
    uint32_t hw;
    double el = now_mono() - t0, share = 0, eta = 0;

    ops->stats(cap, &cs);
    tw_engine_get_stats(eng, &es, &fs, &hw);
    if (cs.bytes_total > 0) {
        share = (double)cs.bytes_done / (double)cs.bytes_total;
        if (share > 0)
            eta = el / share - el;
    }
    fprintf(stderr, "\r%5.1f%%  %8.0f pkt/s  %llu alerts  %4.0fs left ", share * 100,
            el > 0 ? (double)es.packets / el : 0.0, (unsigned long long)out->alerts, eta);
}

static void summary(const struct tw_engine *eng, const struct tw_output *out, double secs,
                    const struct tw_ruleset_stats *rs)
{
    struct tw_engine_stats s;
    struct tw_flow_table_stats fs;
    uint32_t hw;
    const struct tw_decode_stats *d = &s.decode;
    unsigned printed = 0;

    tw_engine_get_stats(eng, &s, &fs, &hw);
    fprintf(stderr,
            "tunwatch: %llu packets, %llu bytes in %.3f s (%.0f packets/s, %.3f Gbit/s)\n",
            (unsigned long long)s.packets, (unsigned long long)s.bytes, secs,
            secs > 0 ? (double)s.packets / secs : 0.0,
            secs > 0 ? (double)s.bytes * 8 / secs / 1e9 : 0.0);
    fprintf(stderr,
            "  rules: %zu loaded, %zu skipped, %zu files with errors\n"
            "  decode: eth %llu vlan %llu sll %llu raw %llu null/loop %llu tunnel %llu "
            "ipv4 %llu ipv6 %llu tcp %llu (pure ack %llu) udp %llu\n",
            rs->loaded, rs->skipped, rs->errors, (unsigned long long)d->eth,
            (unsigned long long)d->vlan, (unsigned long long)d->sll, (unsigned long long)d->raw,
            (unsigned long long)d->null_loop, (unsigned long long)d->tunnel,
            (unsigned long long)d->ipv4, (unsigned long long)d->ipv6, (unsigned long long)d->tcp,
            (unsigned long long)s.tcp_pure_ack, (unsigned long long)d->udp);
    fprintf(stderr,
            "  names: %llu dns_query %llu network_connection (dns requests %llu, responses %llu; "
            "tls hellos %llu, with sni %llu, without %llu, ech %llu, reassembled %llu, "
            "after a preamble %llu; http connect %llu, proxy protocol %llu)\n"
            "  alerts: %llu  events written: %llu\n"
            "  flows: %llu created, %u active of %u, %llu evicted, %llu expired, %llu mid-stream, "
            "%llu port reuse; reassembly buffers high water %u\n",
            (unsigned long long)out->events_seen[TW_CAT_DNS_QUERY],
            (unsigned long long)out->events_seen[TW_CAT_NETWORK_CONNECTION],
            (unsigned long long)s.dns_queries, (unsigned long long)s.dns_responses,
            (unsigned long long)s.tls_hellos, (unsigned long long)s.tls_sni,
            (unsigned long long)s.tls_no_sni, (unsigned long long)s.tls_ech,
            (unsigned long long)s.tls_multi_segment, (unsigned long long)s.tls_after_preamble,
            (unsigned long long)s.http_connect, (unsigned long long)s.proxy_protocol,
            (unsigned long long)out->alerts, (unsigned long long)out->events_written,
            (unsigned long long)fs.created, fs.active, fs.capacity,
            (unsigned long long)fs.evicted, (unsigned long long)fs.expired,
            (unsigned long long)s.midstream, (unsigned long long)s.tcp_port_reuse, hw);
    fprintf(stderr, "  skipped/anomalies:");
    for (unsigned r = 0; r < TW_DR__COUNT; r++) {
        if (d->reason[r] == 0)
            continue;
        fprintf(stderr, " %s %llu", tw_decode_reason_name((enum tw_decode_reason)r),
                (unsigned long long)d->reason[r]);
        printed++;
    }
    const struct {
        const char *name;
        uint64_t v;
    } more[] = {
        {"dns_malformed", s.dns_malformed},
        {"dns_tcp_oversize", s.dns_tcp_oversize},
        {"dns_questions_dropped", s.dns_questions_dropped},
        {"tls_malformed", s.tls_malformed},
        {"tls_too_large", s.tls_too_large},
        {"sni_truncated", s.sni_truncated},
        {"connect_bad", s.connect_bad},
        {"proxy_bad", s.proxy_bad},
        {"stream_no_buffer", s.stream_no_buffer},
        {"stream_clipped", s.stream_clipped},
        {"stream_gaps", s.stream_gaps},
        {"flows_not_inspected", s.flows_not_inspected},
        {"output_lines_dropped", out->lines_dropped},
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(more); i++) {
        if (more[i].v == 0)
            continue;
        fprintf(stderr, " %s %llu", more[i].name, (unsigned long long)more[i].v);
        printed++;
    }
    if (printed == 0)
        fprintf(stderr, " none");
    fprintf(stderr, "\n");
}

int main(int argc, char **argv)
{
    static struct tw_output out; /* holds a 64 KiB line buffer */
    struct options o = {0};
    const struct tw_capture_ops *ops = &tw_capture_pcap_file;
    struct tw_capture *cap = NULL;
    struct tw_ruleset *rules = NULL;
    struct tw_ruleset_stats rstats;
    struct run run = {0};
    struct rules_loader loader = {0};
    char err[512], rbuf[PATH_MAX];
    int status = 1, n;
    bool show_progress;
    double t0, last = 0;
    static char obuf[1 << 20];

    tw_homenet_default(&o.eng.home);
    o.eng.flow_capacity = 262144;
    o.eng.flow_timeout = 300;
    o.eng.stream_buffers = 4096;
    if (parse_args(argc, argv, &o) != 0)
        return 1;

    rules = tw_ruleset_new();
    if (rules == NULL) {
        fprintf(stderr, "tunwatch: out of memory\n");
        return 1;
    }
    if (o.n_rule_paths == 0) {
        const char *d = default_rules(rbuf, sizeof(rbuf));
        if (d == NULL) {
            fprintf(stderr, "tunwatch: no bundled rules found (install them or give -R)\n");
            goto out_rules;
        }
        o.rule_paths[o.n_rule_paths++] = d;
    }
    if (ops->open(o.read_file, &o.cap, &cap, err, sizeof(err)) != 0) {
        fprintf(stderr, "tunwatch: %s\n", err);
        goto out_rules;
    }
    run.linktype = ops->linktype(cap);
    if (!tw_decode_linktype_supported(run.linktype)) {
        fprintf(stderr, "tunwatch: %s: link type %d is not supported\n", o.read_file,
                run.linktype);
        goto out_cap;
    }

    out.fp = stdout;
    out.path = "stdout";
    if (o.out_path != NULL && strcmp(o.out_path, "-") != 0) {
        out.fp = fopen(o.out_path, "w");
        out.path = o.out_path;
        if (out.fp == NULL) {
            fprintf(stderr, "tunwatch: %s: %s\n", o.out_path, strerror(errno));
            goto out_cap;
        }
    }
    setvbuf(out.fp, obuf, _IOFBF, sizeof(obuf));
    out.events = o.events;

    run.out = &out;
    run.loader = &loader;
    run.ready = run.failed = false;
    if (tw_evqueue_init(&run.pending, PENDING_BYTES) != 0) {
        fprintf(stderr, "tunwatch: out of memory\n");
        goto out_file;
    }
    loader.rules = rules;
    loader.paths = o.rule_paths;
    loader.n_paths = o.n_rule_paths;
    atomic_init(&loader.done, false);
    loader.joined = false;
    if (pthread_create(&loader.thread, NULL, load_rules, &loader) != 0) {
        /* No thread: load here, before the capture. */
        load_rules(&loader);
        loader.joined = true;
    }
    o.eng.sink = on_event;
    o.eng.sink_ctx = &run;
    run.eng = tw_engine_new(&o.eng);
    if (run.eng == NULL) {
        fprintf(stderr, "tunwatch: cannot allocate %u flows and %u reassembly buffers\n",
                o.eng.flow_capacity, o.eng.stream_buffers);
        rules_ready(&run);
        goto out_queue;
    }

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    show_progress = !o.quiet && isatty(STDERR_FILENO);
    t0 = now_mono();
    status = 0;
    while (!stop_requested) {
        n = ops->dispatch(cap, BURST, on_frame, &run, err, sizeof(err));
        if (n == TW_EOF)
            break;
        if (n < 0) {
            fprintf(stderr, "tunwatch: %s: %s\n", o.read_file, err);
            status = 1;
            break;
        }
        if (out.err != 0 || run.failed)
            break;
        if (show_progress) {
            double t = now_mono();
            if (t - last >= 0.5) {
                progress(ops, cap, run.eng, &out, t0);
                last = t;
            }
        }
    }
    rules_ready(&run);
    if (run.failed) {
        fprintf(stderr, "tunwatch: out of memory loading rules\n");
        status = 1;
    }
    tw_ruleset_get_stats(rules, &rstats);
    if (rstats.loaded == 0 && !run.failed)
        fprintf(stderr, "tunwatch: warning: no rule loaded; only --events output is possible\n");
    if (show_progress)
        fprintf(stderr, "\r%60s\r", "");
    if (tw_output_flush(&out) != 0) {
        fprintf(stderr, "tunwatch: writing %s: %s\n", out.path, strerror(out.err));
        status = 2;
    }
    summary(run.eng, &out, now_mono() - t0, &rstats);
    if (stop_requested)
        fprintf(stderr, "tunwatch: interrupted, output flushed\n");
    tw_engine_free(run.eng);
out_queue:
    tw_evqueue_destroy(&run.pending);
out_file:
    if (out.fp != NULL && out.fp != stdout && fclose(out.fp) != 0 && status == 0) {
        fprintf(stderr, "tunwatch: closing %s: %s\n", out.path, strerror(errno));
        status = 2;
    }
out_cap:
    ops->close(cap);
out_rules:
    tw_ruleset_free(rules);
    return status;
}
