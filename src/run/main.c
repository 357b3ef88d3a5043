/* SPDX-License-Identifier: MIT */
/*
 * tunwatch: watch mirrored traffic (live, or a capture file), extract DNS query names and
 * TLS SNI, match Sigma rules, write NDJSON alerts (and, on request, every event).
 *
 * Every command-line option is also a configuration file key of the same long name
 * (-c FILE); the command line wins over the file.
 */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <net/if.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tunwatch/run/config.h"
#include "tunwatch/capture/capfile.h"
#include "tunwatch/capture/dpdk.h"
#include "tunwatch/match/exclude.h"
#include "tunwatch/match/intel.h"
#include "tunwatch/match/rulecache.h"
#include "tunwatch/proto/tls.h"
#include "tunwatch/run/sensor.h"

#include "tw_paths.h" /* TW_DATADIR, written by the Makefile */
#define TW_VERSION "0.2.0"

enum {
    OPT_EVENTS = 256,
    OPT_HOME_NET,
    OPT_FLOWS,
    OPT_FLOW_TIMEOUT,
    OPT_FLOW_TIMEOUT_SHORT,
    OPT_DNS_TIMEOUT,
    OPT_STREAM_BUFFERS,
    OPT_QUIC_STATES,
    OPT_RECLAIM_IDLE,
    OPT_MIDSTREAM_BUFFERS,
    OPT_FILTER,
    OPT_SNAPLEN,
    OPT_BUFFER_SIZE,
    OPT_IMMEDIATE,
    OPT_NO_PROMISC,
    OPT_STATS_INTERVAL,
    OPT_STATS_FILE,
    OPT_PID_FILE,
    OPT_WORKERS,
    OPT_DPDK,
    OPT_DNS_CACHE,
    OPT_LOCAL_PROCESSES,
    OPT_INTEL,
    OPT_EXCLUDE,
    OPT_SUPPRESS,
    OPT_INTEL_SUBDOMAINS,
    OPT_CHECK_RULES,
    OPT_EXPLAIN,
    OPT_TLS_MAX_HELLO,
    OPT_TLS_BIG_BUFFERS,
    OPT_DEFRAG_MEMORY,
    OPT_DEFRAG_TIMEOUT,
    OPT_DEFRAG_MAX_FRAGS,
    OPT_DEFRAG_MAX_DATAGRAMS,
    OPT_CHECKSUMS,
    OPT_FILE_READ,
    OPT_RULE_CACHE,
    OPT_OUTPUT_FORMAT,
    OPT_SENSOR_NAME,
    OPT_APPEND,
    OPT_REPORT,
    OPT_REPORT_FORMAT,
    OPT_SPOOL_DIR,
    OPT_SPOOL_MAX,
    OPT_DRAIN_TIMEOUT,
};

static const struct option longopts[] = {
    {"read", required_argument, NULL, 'r'},
    {"interface", required_argument, NULL, 'i'},
    {"filter", required_argument, NULL, OPT_FILTER},
    {"snaplen", required_argument, NULL, OPT_SNAPLEN},
    {"buffer-size", required_argument, NULL, OPT_BUFFER_SIZE},
    {"immediate", no_argument, NULL, OPT_IMMEDIATE},
    {"no-promisc", no_argument, NULL, OPT_NO_PROMISC},
    {"rules", required_argument, NULL, 'R'},
    {"output", required_argument, NULL, 'o'},
    {"events", no_argument, NULL, OPT_EVENTS},
    {"output-format", required_argument, NULL, OPT_OUTPUT_FORMAT},
    {"sensor-name", required_argument, NULL, OPT_SENSOR_NAME},
    {"spool-dir", required_argument, NULL, OPT_SPOOL_DIR},
    {"spool-max", required_argument, NULL, OPT_SPOOL_MAX},
    {"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
    {"quiet", no_argument, NULL, 'q'},
    {"home-net", required_argument, NULL, OPT_HOME_NET},
    {"flows", required_argument, NULL, OPT_FLOWS},
    {"flow-timeout", required_argument, NULL, OPT_FLOW_TIMEOUT},
    {"flow-timeout-short", required_argument, NULL, OPT_FLOW_TIMEOUT_SHORT},
    {"dns-timeout", required_argument, NULL, OPT_DNS_TIMEOUT},
    {"stream-buffers", required_argument, NULL, OPT_STREAM_BUFFERS},
    {"quic-states", required_argument, NULL, OPT_QUIC_STATES},
    {"reclaim-idle", required_argument, NULL, OPT_RECLAIM_IDLE},
    {"midstream-buffers", required_argument, NULL, OPT_MIDSTREAM_BUFFERS},
    {"tls-max-hello", required_argument, NULL, OPT_TLS_MAX_HELLO},
    {"tls-big-buffers", required_argument, NULL, OPT_TLS_BIG_BUFFERS},
    {"stats-interval", required_argument, NULL, OPT_STATS_INTERVAL},
    {"stats-file", required_argument, NULL, OPT_STATS_FILE},
    {"pid-file", required_argument, NULL, OPT_PID_FILE},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"dpdk", required_argument, NULL, OPT_DPDK},
    {"dns-cache", required_argument, NULL, OPT_DNS_CACHE},
    {"local-processes", required_argument, NULL, OPT_LOCAL_PROCESSES},
    {"intel", required_argument, NULL, OPT_INTEL},
    {"exclude", required_argument, NULL, OPT_EXCLUDE},
    {"suppress", required_argument, NULL, OPT_SUPPRESS},
    {"intel-subdomains", required_argument, NULL, OPT_INTEL_SUBDOMAINS},
    {"check-rules", required_argument, NULL, OPT_CHECK_RULES},
    {"explain", required_argument, NULL, OPT_EXPLAIN},
    {"defrag-memory", required_argument, NULL, OPT_DEFRAG_MEMORY},
    {"defrag-timeout", required_argument, NULL, OPT_DEFRAG_TIMEOUT},
    {"defrag-max-frags", required_argument, NULL, OPT_DEFRAG_MAX_FRAGS},
    {"defrag-max-datagrams", required_argument, NULL, OPT_DEFRAG_MAX_DATAGRAMS},
    {"checksums", required_argument, NULL, OPT_CHECKSUMS},
    {"file-read", required_argument, NULL, OPT_FILE_READ},
    {"rule-cache", required_argument, NULL, OPT_RULE_CACHE},
    {"append", no_argument, NULL, OPT_APPEND},
    {"report", optional_argument, NULL, OPT_REPORT},
    {"report-format", required_argument, NULL, OPT_REPORT_FORMAT},
    {"test-config", no_argument, NULL, 'T'},
    {"user", required_argument, NULL, 'u'},
    {"config", required_argument, NULL, 'c'},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};
#define SHORTOPTS "r:i:R:o:qu:c:TVh"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: tunwatch (-r PATH [-r PATH...] | -i IFACE [-i IFACE...]) [options]\n"
            "  -r, --read PATH          replay a pcap or pcapng file, every capture under a\n"
            "                           directory, or the files a quoted pattern matches\n"
            "                           (repeatable: all merged in time order as one stream)\n"
            "  -i, --interface IFACE    capture live (repeatable; \"any\" for all)\n"
            "      --filter EXPR        BPF filter for live capture\n"
            "      --snaplen N          bytes kept per packet (default 262144)\n"
            "      --buffer-size MIB    kernel capture buffer (default: 64 a socket on AF_PACKET,\n"
            "                           else libpcap's)\n"
            "      --immediate          deliver packets at once (low latency)\n"
            "      --no-promisc         leave the interface out of promiscuous mode\n");
    fputs(tw_dpdk_usage, fp);
    fprintf(fp,
            "  -R, --rules PATH         Sigma rule file or directory (repeatable;\n"
            "                           default: the bundled rules)\n"
            "  -o, --output FILE|URL    write the lines here instead of stdout (repeatable):\n"
            "                           a path, -, file:///PATH, syslog+udp://HOST:PORT,\n"
            "                           syslog+tcp://HOST:PORT, syslog+unix:///dev/log,\n"
            "                           kafka://HOST:PORT[,...]/TOPIC, redis://HOST:PORT/KEY,\n"
            "                           with ?events=alerts|all&format=FMT&spool=DIR&... (README)\n"
            "      --append             add to the output files instead of replacing them, and\n"
            "                           to the --report file (replay; a live sensor appends)\n"
            "      --report[=FILE]      at the end, a table per source host and rule: first\n"
            "                           and last seen, count, names (stderr, or FILE)\n"
            "      --report-format text|json  the table as text (default) or JSON lines\n"
            "      --events             also write every observed name (hunting log) to the\n"
            "                           plain file outputs\n"
            "      --output-format FMT  native (default: tunwatch's NDJSON), ecs (Elastic\n"
            "                           Common Schema 8), asim (Sentinel ASIM NetworkSession\n"
            "                           and Dns) or cef (ArcSight CEF lines); ?format= per sink\n"
            "      --sensor-name NAME   name this sensor on every line (default: host name)\n"
            "      --spool-dir DIR      network sinks keep what they cannot send below DIR\n"
            "      --spool-max MIB      bound of each sink's spool (default 256)\n"
            "      --drain-timeout SECS at exit, time network sinks get to deliver (default 5)\n"
            "  -q, --quiet              no progress line\n"
            "      --home-net LIST      CIDRs inside the organisation (decides Initiated;\n"
            "                           default 10/8,172.16/12,192.168/16,127/8,169.254/16,\n"
            "                           fc00::/7,::1/128,fe80::/10)\n"
            "      --flows N            flow table capacity (default 262144)\n"
            "      --flow-timeout SECS  idle time before a flow may be expired (default 300)\n"
            "      --flow-timeout-short SECS  the same for DNS flows and TCP flows after FIN or\n"
            "                           RST (default 30)\n"
            "      --dns-timeout SECS   the same for a DNS flow over UDP once answered\n"
            "                           (default 2)\n"
            "      --stream-buffers N   reassembly buffers, 24 KiB each (default 4096)\n"
            "      --tls-max-hello BYTES  largest ClientHello body read (default and most\n"
            "                           131396, the largest the format allows; at least 512)\n"
            "      --tls-big-buffers N  larger reassembly buffers for ClientHellos over about\n"
            "                           24 KiB, 2 x (tls-max-hello + 4) + 16 KiB each (default\n"
            "                           64; memory is only touched when used; 0: none)\n"
            "      --midstream-buffers N  8 KiB buffers for the first bytes of TCP flows whose\n"
            "                           start was not captured, held until they tell the\n"
            "                           client (default 1024; 0: none)\n"
            "      --quic-states N      QUIC flows collecting their ClientHello at once, about\n"
            "                           8.5 KiB each (default 1024; 0: QUIC is not read)\n"
            "      --reclaim-idle SECS  when every buffer or QUIC state of a kind is in use, take\n"
            "                           back the one idle longest from its flow for a flow that\n"
            "                           needs one, if idle SECS (capture time; default 10;\n"
            "                           0: never)\n"
            "      --defrag-memory MIB  memory for IP reassembly, all told (default 16)\n"
            "      --defrag-timeout SECS  drop a datagram not complete SECS after its first\n"
            "                           fragment (default 30)\n"
            "      --defrag-max-frags N fragments one datagram may have (default 128)\n"
            "      --defrag-max-datagrams N  datagrams reassembled at once (default 1024)\n"
            "      --checksums auto|on|off  validate IPv4, TCP and UDP checksums and skip\n"
            "                           packets that fail; auto (default): stop when the\n"
            "                           capture shows checksum offload\n"
            "      --file-read auto|map|read  read capture files mapped in memory (map) or\n"
            "                           with read(2); auto (default): mapped where that maps\n"
            "                           fast enough (files of 1 MiB and more)\n"
            "      --rule-cache DIR     keep compiled rule sets in DIR and read them back when\n"
            "                           the rule files are the same (created if missing)\n"
            "      --dns-cache N        keep N DNS answers to name flows that carry no name\n"
            "                           (default 65536, about 9 MiB; 0: off)\n"
            "      --local-processes on|off|auto\n"
            "                           name the local process of each event (Image, ProcessId,\n"
            "                           User) through sock_diag; auto (default): on for live\n"
            "                           capture of this host's interfaces\n"
            "      --intel FILE         threat-intel indicators: Zeek intel file, domain list or\n"
            "                           RPZ zone (repeatable); --intel-subdomains FILE: names\n"
            "                           in FILE also cover their subdomains\n"
            "      --exclude FILE       known-good traffic: matches an exclusion in FILE drops\n"
            "                           (rule=, domain=, src=, dst=, image=; repeatable)\n"
            "      --suppress SECS      one alert per rule, source and name every SECS seconds\n"
            "                           (capture time); the next one says how many were held\n"
            "                           back (default 0: every alert)\n"
            "      --check-rules PATH   load rules (and --intel files) from PATH, print what\n"
            "                           loaded, what was skipped and why, and the errors; exit\n"
            "                           0 if every file was read, 1 if not (repeatable)\n"
            "      --explain NAME       which loaded rules and indicators would fire on NAME,\n"
            "                           and why; exit 0 if some would, 1 if none\n"
            "      --workers N          packet workers (flows spread by a symmetric hash)\n"
            "      --stats-interval S   write a JSON stats line every S seconds\n"
            "      --stats-file FILE    ... to FILE instead of stderr\n"
            "      --pid-file FILE      write the process id here\n"
            "  -u, --user USER          run as USER once the capture is open\n"
            "  -c, --config FILE        read options from FILE (key = value, long names)\n"
            "  -T, --test-config        load and check the configuration, rules, indicator and\n"
            "                           exclusion files and sources, list every problem, exit\n"
            "                           0 (all good) or 1\n"
            "  -V, --version            print the version\n"
            "  -h, --help               this text\n"
            "Signals: HUP reopens the output and stats files and reloads the rules;\n"
            "TERM and INT stop, flush every alert and print the final summary.\n");
}

struct options {
    struct tw_sensor_config s;
    const char *check_paths[TW_MAX_RULE_PATHS]; /* --check-rules */
    size_t n_check_paths;
    const char *explain;                        /* --explain NAME */
    bool test_config;                           /* -T */
    bool reads_from_config;      /* -r on the command line replaces the file's list */
    bool rules_from_config;      /* -R on the command line replaces the file's list */
    bool interfaces_from_config; /* likewise for -i */
    bool outputs_from_config;    /* likewise for -o */
    bool in_config;
    const char *dpdk_args;       /* EAL arguments (--dpdk) */
    char *strings[256];          /* copies of values read from a config file */
    size_t n_strings;
};

static bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Keeps a config file value alive for the whole run. */
static const char *keep(struct options *o, const char *v)
{
    char *c;

    if (!o->in_config)
        return v; /* argv lives as long as the process */
    if (o->n_strings == TW_ARRAY_SIZE(o->strings) || (c = strdup(v)) == NULL)
        return NULL;
    o->strings[o->n_strings++] = c;
    return c;
}

/* Applies one option. On failure returns -1 with a message in msg, prefixed by `where`
 * ("tunwatch" or "FILE:LINE"). */
static int apply(struct options *o, int id, const char *arg, const char *where, char *msg,
                 size_t msglen)
{
    struct tw_sensor_config *s = &o->s;
    char bad[64];
    uint32_t v;

    switch (id) {
    case 'r':
        if (!o->in_config && o->reads_from_config) {
            s->n_read_paths = 0;
            o->reads_from_config = false;
        }
        if (s->n_read_paths == TW_MAX_READ_PATHS) {
            snprintf(msg, msglen, "%s: at most %d -r paths", where, TW_MAX_READ_PATHS);
            return -1;
        }
        if ((s->read_paths[s->n_read_paths++] = keep(o, arg)) == NULL)
            goto nomem;
        o->reads_from_config |= o->in_config;
        return 0;
    case OPT_APPEND:
        s->append = true;
        return 0;
    case OPT_REPORT:
        if ((s->report_path = keep(o, arg != NULL && arg[0] != '\0' ? arg : "-")) == NULL)
            goto nomem;
        return 0;
    case OPT_REPORT_FORMAT:
        if (strcmp(arg, "text") == 0)
            s->report_format = TW_REPORT_TEXT;
        else if (strcmp(arg, "json") == 0)
            s->report_format = TW_REPORT_JSON;
        else {
            snprintf(msg, msglen, "%s: --report-format: '%s' is not text or json", where, arg);
            return -1;
        }
        return 0;
    case 'T':
        o->test_config = true;
        return 0;
    case 'i':
        if (!o->in_config && o->interfaces_from_config) {
            s->n_interfaces = 0;
            o->interfaces_from_config = false;
        }
        if (s->n_interfaces == TW_MAX_SOURCES) {
            snprintf(msg, msglen, "%s: at most %d interfaces", where, TW_MAX_SOURCES);
            return -1;
        }
        if ((s->interfaces[s->n_interfaces++] = keep(o, arg)) == NULL)
            goto nomem;
        o->interfaces_from_config |= o->in_config;
        return 0;
    case 'R':
        if (!o->in_config && o->rules_from_config) {
            s->match.n_rule_paths = 0;
            o->rules_from_config = false;
        }
        if (s->match.n_rule_paths == TW_MAX_RULE_PATHS) {
            snprintf(msg, msglen, "%s: at most %d rule paths", where, TW_MAX_RULE_PATHS);
            return -1;
        }
        if ((s->match.rule_paths[s->match.n_rule_paths++] = keep(o, arg)) == NULL)
            goto nomem;
        o->rules_from_config |= o->in_config;
        return 0;
    case 'o':
        if (!o->in_config && o->outputs_from_config) {
            s->n_outputs = 0;
            o->outputs_from_config = false;
        }
        if (s->n_outputs == TW_MAX_SINKS) {
            snprintf(msg, msglen, "%s: at most %d outputs", where, TW_MAX_SINKS);
            return -1;
        }
        if ((s->outputs[s->n_outputs++] = keep(o, arg)) == NULL)
            goto nomem;
        o->outputs_from_config |= o->in_config;
        return 0;
    case OPT_SPOOL_DIR:
        if ((s->spool_dir = keep(o, arg)) == NULL)
            goto nomem;
        return 0;
    case OPT_SPOOL_MAX:
        if (!parse_u32(arg, 1, 1u << 20, &s->spool_max_mib))
            goto range;
        return 0;
    case OPT_DRAIN_TIMEOUT:
        if (!parse_u32(arg, 0, 86400, &s->drain_timeout))
            goto range;
        return 0;
    case 'q':
        s->quiet = true;
        return 0;
    case 'u':
        if ((s->user = keep(o, arg)) == NULL)
            goto nomem;
        return 0;
    case OPT_EVENTS:
        s->events = true;
        return 0;
    case OPT_OUTPUT_FORMAT:
        if (tw_format_parse(arg, &s->format) != 0) {
            snprintf(msg, msglen, "%s: --output-format: '%s' is not native, ecs, asim or cef",
                     where, arg);
            return -1;
        }
        return 0;
    case OPT_SENSOR_NAME:
        if (arg[0] == '\0' || strlen(arg) >= TW_HOST_NAME_MAX) {
            snprintf(msg, msglen, "%s: --sensor-name: 1 to %d bytes", where,
                     TW_HOST_NAME_MAX - 1);
            return -1;
        }
        if ((s->sensor_name = keep(o, arg)) == NULL)
            goto nomem;
        return 0;
    case OPT_IMMEDIATE:
        s->cap.immediate = true;
        return 0;
    case OPT_NO_PROMISC:
        s->cap.no_promisc = true;
        return 0;
    case OPT_FILTER:
        if ((s->cap.filter = keep(o, arg)) == NULL)
            goto nomem;
        return 0;
    case OPT_STATS_FILE:
        if ((s->stats_path = keep(o, arg)) == NULL)
            goto nomem;
        return 0;
    case OPT_PID_FILE:
        if ((s->pid_path = keep(o, arg)) == NULL)
            goto nomem;
        return 0;
    case OPT_HOME_NET:
        if (tw_homenet_parse(&s->eng.home, arg, bad, sizeof(bad)) != 0) {
            snprintf(msg, msglen, "%s: --home-net: bad network '%s'", where, bad);
            return -1;
        }
        return 0;
    case OPT_FLOWS:
        if (!parse_u32(arg, 1, 1u << 28, &s->eng.flow_capacity))
            goto range;
        return 0;
    case OPT_FLOW_TIMEOUT:
        if (!parse_u32(arg, 1, 7 * 86400, &s->eng.flow_timeout))
            goto range;
        return 0;
    case OPT_FLOW_TIMEOUT_SHORT:
        if (!parse_u32(arg, 1, 7 * 86400, &s->eng.flow_timeout_short))
            goto range;
        return 0;
    case OPT_DNS_TIMEOUT:
        if (!parse_u32(arg, 1, 7 * 86400, &s->eng.dns_timeout))
            goto range;
        return 0;
    case OPT_QUIC_STATES:
        if (!parse_u32(arg, 0, 1u << 20, &s->eng.quic_states))
            goto range;
        return 0;
    case OPT_RECLAIM_IDLE:
        if (!parse_u32(arg, 0, 7 * 86400, &s->eng.reclaim_idle))
            goto range;
        return 0;
    case OPT_MIDSTREAM_BUFFERS:
        if (!parse_u32(arg, 0, 1u << 20, &s->eng.midstream_buffers))
            goto range;
        return 0;
    case OPT_TLS_MAX_HELLO:
        if (!parse_u32(arg, 512, TW_TLS_HELLO_MAX, &s->eng.tls_max_hello))
            goto range;
        return 0;
    case OPT_TLS_BIG_BUFFERS:
        if (!parse_u32(arg, 0, 1u << 16, &s->eng.tls_big_buffers))
            goto range;
        return 0;
    case OPT_STREAM_BUFFERS:
        if (!parse_u32(arg, 0, 1u << 20, &s->eng.stream_buffers))
            goto range;
        return 0;
    case OPT_SNAPLEN:
        if (!parse_u32(arg, 64, 262144, &v))
            goto range;
        s->cap.snaplen = (int)v;
        return 0;
    case OPT_BUFFER_SIZE:
        if (!parse_u32(arg, 1, 4096, &v))
            goto range;
        s->cap.buffer_mib = (int)v;
        return 0;
    case OPT_DPDK:
        if ((o->dpdk_args = keep(o, arg)) == NULL)
            goto nomem;
        return 0;
    case OPT_RULE_CACHE:
        if ((s->match.rule_cache = keep(o, arg)) == NULL)
            goto nomem;
        return 0;
    case OPT_DNS_CACHE:
        if (!parse_u32(arg, 0, 1u << 24, &s->dns_cache))
            goto range;
        return 0;
    case OPT_INTEL:
    case OPT_INTEL_SUBDOMAINS:
        if (s->match.n_intel_paths == TW_MAX_INDICATOR_PATHS) {
            snprintf(msg, msglen, "%s: at most %d indicator files", where, TW_MAX_INDICATOR_PATHS);
            return -1;
        }
        s->match.intel_subdomains[s->match.n_intel_paths] = id == OPT_INTEL_SUBDOMAINS;
        if ((s->match.intel_paths[s->match.n_intel_paths++] = keep(o, arg)) == NULL)
            goto nomem;
        return 0;
    case OPT_EXCLUDE:
        if (s->match.n_exclude_paths == TW_MAX_INDICATOR_PATHS) {
            snprintf(msg, msglen, "%s: at most %d exclusion files", where, TW_MAX_INDICATOR_PATHS);
            return -1;
        }
        if ((s->match.exclude_paths[s->match.n_exclude_paths++] = keep(o, arg)) == NULL)
            goto nomem;
        return 0;
    case OPT_SUPPRESS:
        if (!parse_u32(arg, 0, 7 * 86400, &s->suppress_secs))
            goto range;
        return 0;
    case OPT_CHECK_RULES:
        if (o->n_check_paths == TW_MAX_RULE_PATHS) {
            snprintf(msg, msglen, "%s: at most %d rule paths", where, TW_MAX_RULE_PATHS);
            return -1;
        }
        if ((o->check_paths[o->n_check_paths++] = keep(o, arg)) == NULL)
            goto nomem;
        return 0;
    case OPT_EXPLAIN:
        if ((o->explain = keep(o, arg)) == NULL)
            goto nomem;
        return 0;
    case OPT_DEFRAG_MEMORY:
        if (!parse_u32(arg, 1, 65536, &v))
            goto range;
        s->prep.defrag.memory = (size_t)v << 20;
        return 0;
    case OPT_DEFRAG_TIMEOUT:
        if (!parse_u32(arg, 1, 3600, &s->prep.defrag.timeout))
            goto range;
        return 0;
    case OPT_DEFRAG_MAX_FRAGS:
        if (!parse_u32(arg, 1, 8192, &s->prep.defrag.max_frags))
            goto range;
        return 0;
    case OPT_DEFRAG_MAX_DATAGRAMS:
        if (!parse_u32(arg, 1, 1u << 20, &s->prep.defrag.max_datagrams))
            goto range;
        return 0;
    case OPT_CHECKSUMS:
        if (strcmp(arg, "on") == 0)
            s->prep.checksums = TW_CSUM_ON;
        else if (strcmp(arg, "off") == 0)
            s->prep.checksums = TW_CSUM_OFF;
        else if (strcmp(arg, "auto") == 0)
            s->prep.checksums = TW_CSUM_AUTO;
        else {
            snprintf(msg, msglen, "%s: --checksums: '%s' is not auto, on or off", where, arg);
            return -1;
        }
        return 0;
    case OPT_FILE_READ:
        if (strcmp(arg, "auto") == 0)
            s->file_read = TW_CAPFILE_MAP_AUTO;
        else if (strcmp(arg, "map") == 0)
            s->file_read = TW_CAPFILE_MAP_ALWAYS;
        else if (strcmp(arg, "read") == 0)
            s->file_read = TW_CAPFILE_MAP_NEVER;
        else {
            snprintf(msg, msglen, "%s: --file-read: '%s' is not auto, map or read", where, arg);
            return -1;
        }
        return 0;
    case OPT_LOCAL_PROCESSES:
        if (strcmp(arg, "on") == 0)
            s->local_processes = 1;
        else if (strcmp(arg, "off") == 0)
            s->local_processes = 0;
        else if (strcmp(arg, "auto") == 0)
            s->local_processes = -1;
        else {
            snprintf(msg, msglen, "%s: --local-processes: '%s' is not on, off or auto", where,
                     arg);
            return -1;
        }
        return 0;
    case OPT_WORKERS:
        if (!parse_u32(arg, 1, TW_MAX_WORKERS, &v))
            goto range;
        s->workers = v;
        return 0;
    case OPT_STATS_INTERVAL:
        if (!parse_u32(arg, 1, 86400, &v))
            goto range;
        s->stats_interval = v;
        return 0;
    default:
        return -1;
    }
range:
    for (const struct option *lo = longopts; lo->name != NULL; lo++)
        if (lo->val == id) {
            snprintf(msg, msglen, "%s: --%s: '%s' is not a number in range", where, lo->name, arg);
            return -1;
        }
    return -1;
nomem:
    snprintf(msg, msglen, "%s: out of memory", where);
    return -1;
}

static int config_setting(void *ctx, const char *key, const char *value, const char *where,
                          char *err, size_t errlen)
{
    struct options *o = ctx;

    for (const struct option *lo = longopts; lo->name != NULL; lo++)
        if (strcmp(lo->name, key) == 0)
            return apply(o, lo->val, value != NULL ? value : "", where, err, errlen) == 0
                       ? 0
                       : TW_EINVAL;
    snprintf(err, errlen, "%s: unknown key '%s'", where, key);
    return TW_EINVAL;
}

static int load_config(struct options *o, const char *path)
{
    static struct tw_config_key keys[TW_ARRAY_SIZE(longopts)];
    size_t n = 0;
    char err[512] = "";
    int rc;

    for (const struct option *lo = longopts; lo->name != NULL; lo++) {
        if (lo->val == 'V' || lo->val == 'h')
            continue;
        keys[n].name = lo->name;
        /* report takes a value in a file: "-" (stderr) or a path */
        keys[n].takes_value = lo->has_arg != no_argument;
        keys[n].repeatable = lo->val == 'i' || lo->val == 'R' || lo->val == 'r' ||
                             lo->val == 'o' ||
                             lo->val == OPT_INTEL || lo->val == OPT_INTEL_SUBDOMAINS ||
                             lo->val == OPT_EXCLUDE;
        keys[n].cli_only = lo->val == 'c';
        n++;
    }
    o->in_config = true;
    rc = tw_config_load(path, keys, n, config_setting, o, err, sizeof(err));
    o->in_config = false;
    if (rc != 0) {
        fprintf(stderr, "tunwatch: %s\n", err[0] != '\0' ? err : path);
        return -1;
    }
    return 0;
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
    int c;

    /* The configuration file first, so that the command line overrides it. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, SHORTOPTS, longopts, NULL)) != -1) {
        if (c == 'c' && load_config(o, optarg) != 0)
            return -1;
        if (c == OPT_REPORT && optarg == NULL && optind < argc && argv[optind][0] != '-')
            optind++; /* --report FILE: the word is its argument, not an operand */
    }
    opterr = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, SHORTOPTS, longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            break;
        case 'V':
            printf("tunwatch %s\n", TW_VERSION);
            exit(0);
        case 'h':
            usage(stdout);
            exit(0);
        case '?':
            usage(stderr);
            return -1;
        default: {
            char msg[512];
            const char *arg = optarg;
            /* --report FILE (an optional argument given as the next word) */
            if (c == OPT_REPORT && arg == NULL && optind < argc && argv[optind][0] != '-')
                arg = argv[optind++];
            if (apply(o, c, arg, "tunwatch", msg, sizeof(msg)) != 0) {
                fprintf(stderr, "%s\n", msg);
                return -1;
            }
        }
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tunwatch: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (o->n_check_paths > 0 || o->explain != NULL)
        return 0; /* tool modes: no capture */
    if (o->test_config)
        return 0; /* checks what there is, reports what is missing */
    if (o->s.n_read_paths == 0 && o->s.n_interfaces == 0) {
        fprintf(stderr, "tunwatch: nothing to read: give -r FILE or -i IFACE\n");
        usage(stderr);
        return -1;
    }
    if (o->s.n_read_paths > 0 && o->s.n_interfaces > 0) {
        fprintf(stderr, "tunwatch: -r and -i exclude each other\n");
        return -1;
    }
    /* Every output's URL is checked before anything is opened. */
    for (size_t i = 0; i < o->s.n_outputs; i++) {
        struct tw_sink_url u;
        char err[512];
        int rc = tw_sink_url_parse(o->s.outputs[i], &u, err, sizeof(err));
        if (rc != 0)
            fprintf(stderr, "tunwatch: -o %s: %s\n", u.text != NULL ? u.text : o->s.outputs[i],
                    rc == TW_ENOMEM ? "out of memory" : err);
        tw_sink_url_free(&u);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Loads the bundle of o's configuration (rule paths replaced by `paths` when n > 0), skip
 * lines and errors going to errlog. NULL when out of memory (said on stderr). */
static struct tw_matchers *load_matchers(const struct options *o, const char *const *paths,
                                         size_t n, FILE *errlog)
{
    struct tw_matchers_config cfg = o->s.match;
    struct tw_matchers *m;

    if (n > 0) {
        memcpy(cfg.rule_paths, paths, n * sizeof(*paths));
        cfg.n_rule_paths = n;
    }
    /* Rules on Image/ProcessId/User are checked as a sensor that attributes would load them. */
    cfg.process_fields = o->s.local_processes > 0;
    if (tw_matchers_load(&cfg, errlog, &m) != 0) {
        fprintf(stderr, "tunwatch: out of memory loading rules\n");
        return NULL;
    }
    return m;
}

/*
 * --check-rules: what a sensor would load from these paths, on standard output:
 *   rules: F files, L loaded, S skipped, E files with errors
 *   skipped, by reason:
 *     COUNT  REASON
 *   skipped rules:
 *     FILE  ID  REASON
 *   errors:
 *     FILE:LINE:COL: MESSAGE
 *   indicators: ... (with --intel)
 */
static int check_rules(const struct options *o)
{
    FILE *devnull = fopen("/dev/null", "w");
    struct tw_matchers *m = load_matchers(o, o->check_paths, o->n_check_paths,
                                          devnull != NULL ? devnull : stderr);
    struct tw_ruleset_stats st;
    size_t n;

    if (devnull != NULL)
        fclose(devnull);
    if (m == NULL)
        return 2;
    tw_ruleset_get_stats(m->rules, &st);
    printf("rules: %zu files, %zu loaded, %zu skipped, %zu files with errors\n", st.files,
           st.loaded, st.skipped, st.errors);
    n = tw_ruleset_skip_reasons(m->rules, NULL, 0);
    if (n > 0) {
        struct tw_reason_count *rc = calloc(n, sizeof(*rc));
        if (rc != NULL) {
            tw_ruleset_skip_reasons(m->rules, rc, n);
            printf("skipped, by reason:\n");
            for (size_t i = 0; i < n; i++)
                printf("  %5zu  %s\n", rc[i].count, rc[i].reason);
            free(rc);
        }
    }
    n = tw_ruleset_skipped(m->rules, NULL, 0);
    if (n > 0) {
        struct tw_rule_skip *sk = calloc(n, sizeof(*sk));
        if (sk != NULL) {
            tw_ruleset_skipped(m->rules, sk, n);
            printf("skipped rules:\n");
            for (size_t i = 0; i < n; i++)
                printf("  %s  %s  %s\n", sk[i].file, sk[i].id, sk[i].reason);
            free(sk);
        }
    }
    n = tw_ruleset_errors(m->rules, NULL, 0);
    if (n > 0) {
        struct tw_rule_error *er = calloc(n, sizeof(*er));
        if (er != NULL) {
            tw_ruleset_errors(m->rules, er, n);
            printf("errors:\n");
            for (size_t i = 0; i < n; i++)
                printf("  %s:%u:%u: %s\n", er[i].file, er[i].line, er[i].col, er[i].message);
            free(er);
        }
    }
    if (m->intel != NULL) {
        struct tw_intel_stats is;
        const char *reason;
        size_t count;
        tw_intel_get_stats(m->intel, &is);
        printf("indicators: %zu files, %zu names, %zu wildcards, %zu addresses, %zu subnets, "
               "%zu allow-list entries, %zu duplicates, %zu skipped, %zu malformed lines, "
               "%zu files with errors\n",
               is.files, is.names, is.wildcards, is.addrs, is.subnets, is.allow, is.duplicates,
               is.skipped, is.bad_lines, is.errors);
        for (size_t i = 0; tw_intel_skip_reason(m->intel, i, &reason, &count); i++)
            printf("  %5zu  %s\n", count, reason);
    }
    if (m->exclusions != NULL) {
        struct tw_exclusions_stats es;
        tw_exclusions_get_stats(m->exclusions, &es);
        printf("exclusions: %zu files, %zu in force (%zu for one rule), %zu files with errors\n",
               es.files, es.entries, es.scoped, es.errors);
    }
    int status = m->errors > 0 ? 1 : 0;
    tw_matchers_free(m);
    return status;
}

/* Rule, indicator and exclusion paths that cannot be read, each named on stderr: a sensor
 * started with one would run without what the user asked for. Returns how many. */
static unsigned check_match_paths(const struct tw_matchers_config *m)
{
    unsigned bad = 0;
    struct {
        const char *const *paths;
        size_t n;
        const char *what;
    } lists[] = {
        {m->rule_paths, m->n_rule_paths, "rules (-R)"},
        {m->intel_paths, m->n_intel_paths, "indicators (--intel)"},
        {m->exclude_paths, m->n_exclude_paths, "exclusions (--exclude)"},
    };
    char why[256];

    for (size_t l = 0; l < TW_ARRAY_SIZE(lists); l++)
        for (size_t i = 0; i < lists[l].n; i++)
            if (access(lists[l].paths[i], R_OK) != 0) {
                fprintf(stderr, "tunwatch: %s: %s (%s)\n", lists[l].paths[i], strerror(errno),
                        lists[l].what);
                bad++;
            }
    if (m->rule_cache != NULL && tw_rulecache_check_dir(m->rule_cache, why, sizeof(why)) != 0) {
        fprintf(stderr, "tunwatch: %s: %s (--rule-cache)\n", m->rule_cache, why);
        bad++;
    }
    return bad;
}

/* A file tunwatch will create or append to: its directory must exist and be writable. */
static unsigned check_writable(const char *path, const char *what)
{
    char buf[PATH_MAX];

    if (path == NULL || strcmp(path, "-") == 0)
        return 0;
    if (access(path, F_OK) == 0) {
        if (access(path, W_OK) == 0)
            return 0;
        fprintf(stderr, "tunwatch: %s: %s (%s)\n", path, strerror(errno), what);
        return 1;
    }
    snprintf(buf, sizeof(buf), "%s", path);
    const char *dir = dirname(buf);
    if (access(dir, W_OK) != 0) {
        fprintf(stderr, "tunwatch: %s: %s: %s (%s)\n", path, dir, strerror(errno), what);
        return 1;
    }
    return 0;
}

/*
 * -T: everything a start would read or open, checked without capturing: the configuration
 * (already parsed), rule, indicator and exclusion files (loaded and compiled), capture paths,
 * interfaces (they exist; as root, they open), files to write, the user. Every problem is
 * listed on stderr; exit 0 when there is none, else 1.
 */
static int test_config(const struct options *o)
{
    const struct tw_sensor_config *s = &o->s;
    unsigned bad = check_match_paths(&s->match);
    char err[512];

    struct tw_matchers *m = load_matchers(o, NULL, 0, stderr);
    if (m == NULL)
        return 1;
    struct tw_ruleset_stats st;
    tw_ruleset_get_stats(m->rules, &st);
    printf("rules: %zu files, %zu loaded, %zu skipped, %zu files with errors\n", st.files,
           st.loaded, st.skipped, st.errors);
    if (m->errors > 0) {
        fprintf(stderr, "tunwatch: %zu rule, indicator or exclusion files could not be read or "
                        "parsed (named above)\n",
                m->errors);
        bad++;
    }
    tw_matchers_free(m);
    if (s->n_read_paths == 0 && s->n_interfaces == 0) {
        fprintf(stderr, "tunwatch: nothing to read: give -r FILE or -i IFACE\n");
        bad++;
    }
    if (s->n_read_paths > 0 && s->n_interfaces > 0) {
        fprintf(stderr, "tunwatch: -r and -i exclude each other\n");
        bad++;
    }
    for (size_t i = 0; i < s->n_read_paths; i++) {
        const char *p = s->read_paths[i];
        struct stat sb;
        glob_t g;
        if (strcmp(p, "-") == 0)
            continue;
        if (stat(p, &sb) == 0) {
            if (S_ISDIR(sb.st_mode)) {
                if (access(p, R_OK | X_OK) != 0) {
                    fprintf(stderr, "tunwatch: %s: %s (-r)\n", p, strerror(errno));
                    bad++;
                }
                continue;
            }
            if (!S_ISREG(sb.st_mode))
                continue; /* a FIFO or a socket is read once: by the run, not here */
            struct tw_capfile *cf;
            if (tw_capfile_open(p, &cf, err, sizeof(err)) != 0) {
                fprintf(stderr, "tunwatch: %s (-r)\n", err);
                bad++;
            } else {
                tw_capfile_close(cf);
            }
        } else if (strpbrk(p, "*?[") != NULL && glob(p, 0, NULL, &g) == 0) {
            globfree(&g);
        } else {
            fprintf(stderr, "tunwatch: %s: %s (-r)\n", p,
                    strpbrk(p, "*?[") != NULL ? "no file matches this pattern" : strerror(errno));
            bad++;
        }
    }
    for (size_t i = 0; i < s->n_interfaces; i++) {
        const char *ifn = s->interfaces[i];
        struct tw_capture *c;
        if (strcmp(ifn, "any") == 0 || tw_dpdk_is_source(ifn))
            continue;
        if (if_nametoindex(ifn) == 0) {
            fprintf(stderr, "tunwatch: %s: no such interface (-i)\n", ifn);
            bad++;
            continue;
        }
        if (geteuid() != 0)
            continue; /* opening needs the capture capability: checked at start */
        if (tw_capture_pcap_live.open(ifn, &s->cap, &c, err, sizeof(err)) != 0) {
            fprintf(stderr, "tunwatch: %s (-i)\n", err);
            bad++;
        } else {
            tw_capture_pcap_live.close(c);
        }
    }
    for (size_t i = 0; i < s->n_outputs; i++) {
        struct tw_sink_url u;
        if (tw_sink_url_parse(s->outputs[i], &u, err, sizeof(err)) != 0) {
            fprintf(stderr, "tunwatch: -o %s: %s\n", u.text != NULL ? u.text : s->outputs[i],
                    err);
            bad++;
        } else if (u.kind == TW_SINK_FILE) {
            bad += check_writable(u.path, "-o"); /* a collector is not contacted */
        }
        tw_sink_url_free(&u);
    }
    bad += check_writable(s->report_path, "--report");
    bad += check_writable(s->stats_path, "--stats-file");
    bad += check_writable(s->pid_path, "--pid-file");
    if (s->user != NULL && getpwnam(s->user) == NULL) {
        fprintf(stderr, "tunwatch: %s: no such user (-u)\n", s->user);
        bad++;
    }
    if (bad > 0) {
        fprintf(stderr, "tunwatch: configuration test failed: %u problem%s\n", bad,
                bad == 1 ? "" : "s");
        return 1;
    }
    printf("configuration OK\n");
    return 0;
}

/* --explain NAME: which rules and indicators would fire on a name, and why. */
static int explain(const struct options *o)
{
    struct tw_matchers *m = load_matchers(o, NULL, 0, stderr);
    size_t n;

    if (m == NULL)
        return 2;
    n = tw_ruleset_explain(m->rules, o->explain, stdout);
    if (m->intel != NULL)
        n += tw_intel_explain(m->intel, o->explain, stdout);
    tw_matchers_free(m);
    return n > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    static struct options o;
    char rbuf[PATH_MAX];
    int status;

    tw_homenet_default(&o.s.eng.home);
    o.s.eng.flow_capacity = 262144;
    o.s.eng.flow_timeout = 300;
    o.s.eng.flow_timeout_short = 30;
    /* Zeek waits 10 s for a DNS answer (dns_session_timeout); once answered, a DNS flow over
     * UDP has nothing more to say but a late duplicate. */
    o.s.eng.dns_timeout = 2;
    o.s.eng.stream_buffers = 4096;
    o.s.eng.tls_max_hello = TW_TLS_HELLO_MAX;
    o.s.eng.tls_big_buffers = 64;
    o.s.eng.quic_states = 1024;
    o.s.eng.midstream_buffers = 1024;
    /* Suricata's emergency timeout for TCP flows still in their handshake (emergency-new). */
    o.s.eng.reclaim_idle = 10;
    o.s.dns_cache = 65536;
    o.s.local_processes = -1;
    o.s.prep.defrag = (struct tw_defrag_config)TW_DEFRAG_CONFIG_DEFAULT;
    o.s.prep.checksums = TW_CSUM_AUTO;
    o.s.version = TW_VERSION;
    o.s.drain_timeout = 5;
    if (parse_args(argc, argv, &o) != 0)
        return 1;
    if (o.s.prep.defrag.memory < tw_defrag_min_memory(&o.s.prep.defrag)) {
        fprintf(stderr,
                "tunwatch: --defrag-memory: %zu MiB cannot hold %u datagram trackers and one "
                "64 KiB datagram (at least %zu MiB)\n",
                o.s.prep.defrag.memory >> 20, o.s.prep.defrag.max_datagrams,
                (tw_defrag_min_memory(&o.s.prep.defrag) + (1u << 20) - 1) >> 20);
        return 1;
    }
    if (o.dpdk_args != NULL) {
        char err[512];
        if (tw_dpdk_eal_init_str(o.dpdk_args, err, sizeof(err)) != 0) {
            fprintf(stderr, "tunwatch: %s\n", err);
            return 1;
        }
    }
    if (o.s.match.n_rule_paths == 0) {
        const char *d = default_rules(rbuf, sizeof(rbuf));
        if (d == NULL) {
            fprintf(stderr, "tunwatch: no bundled rules found (install them or give -R)\n");
            return 1;
        }
        o.s.match.rule_paths[o.s.match.n_rule_paths++] = d;
    }
    if (o.test_config)
        status = test_config(&o);
    else if (o.n_check_paths > 0)
        status = check_rules(&o);
    else if (o.explain != NULL)
        status = explain(&o);
    else if (check_match_paths(&o.s.match) > 0)
        status = 1; /* a rule, indicator or exclusion path the user named is missing */
    else
        status = tw_sensor_run(&o.s);
    for (size_t i = 0; i < o.n_strings; i++)
        free(o.strings[i]);
    return status;
}
