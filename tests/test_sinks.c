/* SPDX-License-Identifier: MIT */
/*
 * Sinks: the -o URL parser (every form, bad URLs), syslog framing (RFC 5424, RFC 6587 octet
 * counting, the local /dev/log format), the bounded record queue (full, order, wrap-around),
 * the spool (write, replay order, size bound, a segment cut by a crash, a clean stop that
 * replays each record once) and a network sink's drain deadline against a dead collector.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"
#include "tunwatch/base/common.h"
#include "tunwatch/output/lineq.h"
#include "tunwatch/output/sink.h"
#include "tunwatch/output/spool.h"
#include "tunwatch/output/syslog.h"

/* ---- URL parser ---- */

struct url_case {
    int line;
    const char *text;
    int rc;                   /* 0 or TW_EINVAL */
    enum tw_sink_kind kind;
    const char *a, *b, *c;    /* path | host, port | brokers, topic */
    const char *err;          /* a substring of the reason */
};

static void test_url_forms(void **state)
{
    (void)state;
    static const struct url_case cases[] = {
        {__LINE__, "-", 0, TW_SINK_FILE, NULL, NULL, NULL, NULL},
        {__LINE__, "alerts.json", 0, TW_SINK_FILE, "alerts.json", NULL, NULL, NULL},
        {__LINE__, "odd?name.json", 0, TW_SINK_FILE, "odd?name.json", NULL, NULL, NULL},
        {__LINE__, "file:///var/log/a%20b.json?append=1&events=all", 0, TW_SINK_FILE,
         "/var/log/a b.json", NULL, NULL, NULL},
        {__LINE__, "syslog+udp://127.0.0.1:5514", 0, TW_SINK_SYSLOG_UDP, "127.0.0.1", "5514",
         NULL, NULL},
        {__LINE__, "syslog+udp://collector", 0, TW_SINK_SYSLOG_UDP, "collector", "514", NULL,
         NULL},
        {__LINE__, "SYSLOG+TCP://[::1]:601/", 0, TW_SINK_SYSLOG_TCP, "::1", "601", NULL, NULL},
        {__LINE__, "syslog+tcp://h:601?facility=local3&severity=notice&app=sensor1", 0,
         TW_SINK_SYSLOG_TCP, "h", "601", NULL, NULL},
        {__LINE__, "syslog+unix:///dev/log", 0, TW_SINK_SYSLOG_UNIX, "/dev/log", NULL, NULL,
         NULL},
        {__LINE__, "kafka://b1:9092,b2:9093/tunwatch.alerts", 0, TW_SINK_KAFKA, "b1:9092,b2:9093",
         "tunwatch.alerts", NULL, NULL},
        {__LINE__, "kafka://[::1]:9092/t?security.protocol=ssl&ssl.ca.location=%2Fetc%2Fca.pem",
         0, TW_SINK_KAFKA, "[::1]:9092", "t", NULL, NULL},
        {__LINE__, "redis://127.0.0.1:6379/tunwatch?mode=stream&maxlen=100000", 0, TW_SINK_REDIS,
         "127.0.0.1", "6379", "tunwatch", NULL},
        {__LINE__, "redis://r/k%3Aalerts?password=s3cret&db=2", 0, TW_SINK_REDIS, "r", "6379",
         "k:alerts", NULL},
        /* bad */
        {__LINE__, "", TW_EINVAL, 0, NULL, NULL, NULL, "empty"},
        {__LINE__, "http://x/", TW_EINVAL, 0, NULL, NULL, NULL, "unknown scheme 'http'"},
        {__LINE__, "syslog+udp://", TW_EINVAL, 0, NULL, NULL, NULL, "no host"},
        {__LINE__, "syslog+udp://h:0", TW_EINVAL, 0, NULL, NULL, NULL, "bad port '0'"},
        {__LINE__, "syslog+udp://h:65536", TW_EINVAL, 0, NULL, NULL, NULL, "bad port"},
        {__LINE__, "syslog+udp://h:12x", TW_EINVAL, 0, NULL, NULL, NULL, "bad port"},
        {__LINE__, "syslog+tcp://h:601/path", TW_EINVAL, 0, NULL, NULL, NULL, "no path"},
        {__LINE__, "syslog+tcp://::1:601", TW_EINVAL, 0, NULL, NULL, NULL, "brackets"},
        {__LINE__, "syslog+tcp://[::1:601", TW_EINVAL, 0, NULL, NULL, NULL, "without ']'"},
        {__LINE__, "syslog+unix://dev/log", TW_EINVAL, 0, NULL, NULL, NULL, "absolute path"},
        {__LINE__, "syslog+udp://h?facility=local9", TW_EINVAL, 0, NULL, NULL, NULL,
         "unknown facility"},
        {__LINE__, "syslog+udp://h?severity=loud", TW_EINVAL, 0, NULL, NULL, NULL,
         "unknown severity"},
        {__LINE__, "syslog+udp://h?app=a%20b", TW_EINVAL, 0, NULL, NULL, NULL, "printable"},
        {__LINE__, "syslog+udp://h?proto=5424", TW_EINVAL, 0, NULL, NULL, NULL,
         "does not apply to syslog+udp"},
        {__LINE__, "kafka://b1:9092", TW_EINVAL, 0, NULL, NULL, NULL, "needs a topic"},
        {__LINE__, "kafka://b1/t", TW_EINVAL, 0, NULL, NULL, NULL, "needs a port"},
        {__LINE__, "kafka://b1:9092,/t", TW_EINVAL, 0, NULL, NULL, NULL, "empty broker"},
        {__LINE__, "kafka://b1:9092/bad$topic", TW_EINVAL, 0, NULL, NULL, NULL, "bad topic"},
        {__LINE__, "kafka://b1:9092/t?key=dst", TW_EINVAL, 0, NULL, NULL, NULL,
         "source or community_id"},
        {__LINE__, "redis://h:6379", TW_EINVAL, 0, NULL, NULL, NULL, "needs a key"},
        {__LINE__, "redis://h:6379/", TW_EINVAL, 0, NULL, NULL, NULL, "needs a key"},
        {__LINE__, "redis://h/k?mode=set", TW_EINVAL, 0, NULL, NULL, NULL,
         "list, stream or publish"},
        {__LINE__, "redis://h/k?db=x", TW_EINVAL, 0, NULL, NULL, NULL, "db 'x'"},
        {__LINE__, "redis://h/k?append=1", TW_EINVAL, 0, NULL, NULL, NULL, "(file only)"},
        {__LINE__, "redis://h/k?colour=red", TW_EINVAL, 0, NULL, NULL, NULL,
         "unknown parameter 'colour'"},
        {__LINE__, "redis://h/k?events=some", TW_EINVAL, 0, NULL, NULL, NULL, "alerts or all"},
        {__LINE__, "redis://h/k?queue=0", TW_EINVAL, 0, NULL, NULL, NULL, "MiB"},
        {__LINE__, "redis://h/k?backoff_max=0", TW_EINVAL, 0, NULL, NULL, NULL, "seconds"},
        {__LINE__, "redis://h/k?mode=list&mode=stream", TW_EINVAL, 0, NULL, NULL, NULL,
         "given twice"},
        {__LINE__, "redis://h/k?mode", TW_EINVAL, 0, NULL, NULL, NULL, "not name=value"},
        {__LINE__, "redis://h/k?mode=list&", TW_EINVAL, 0, NULL, NULL, NULL, "empty parameter"},
        {__LINE__, "redis://h/k%zz", TW_EINVAL, 0, NULL, NULL, NULL, "%-escape"},
        {__LINE__, "redis://h/k?password=a%00b", TW_EINVAL, 0, NULL, NULL, NULL, "%-escape"},
        {__LINE__, "file:///x?append=maybe", TW_EINVAL, 0, NULL, NULL, NULL, "1 or 0"},
        {__LINE__, "file://relative", TW_EINVAL, 0, NULL, NULL, NULL, "absolute path"},
        {__LINE__, "file:///x?format=xml", TW_EINVAL, 0, NULL, NULL, NULL,
         "not native, ecs, asim or cef"},
        {__LINE__, "kafka://b:1/t?format=ECS", TW_EINVAL, 0, NULL, NULL, NULL,
         "not native, ecs, asim or cef"},
    };
    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        const struct url_case *c = &cases[i];
        struct tw_sink_url u;
        char err[512];
        int rc = tw_sink_url_parse(c->text, &u, err, sizeof(err));
        if (rc != c->rc)
            fail_msg("line %d: %s: rc %d, want %d (%s)", c->line, c->text, rc, c->rc, err);
        if (rc != 0) {
            if (strstr(err, c->err) == NULL)
                fail_msg("line %d: %s: reason '%s' lacks '%s'", c->line, c->text, err, c->err);
            tw_sink_url_free(&u);
            continue;
        }
        assert_int_equal(u.kind, c->kind);
        switch (c->kind) {
        case TW_SINK_FILE:
        case TW_SINK_SYSLOG_UNIX:
            if (c->a == NULL)
                assert_null(u.path);
            else
                assert_string_equal(u.path, c->a);
            break;
        case TW_SINK_SYSLOG_UDP:
        case TW_SINK_SYSLOG_TCP:
            assert_string_equal(u.host, c->a);
            assert_string_equal(u.port, c->b);
            break;
        case TW_SINK_KAFKA:
            assert_string_equal(u.brokers, c->a);
            assert_string_equal(u.topic, c->b);
            break;
        case TW_SINK_REDIS:
            assert_string_equal(u.host, c->a);
            assert_string_equal(u.port, c->b);
            assert_string_equal(u.topic, c->c);
            break;
        }
        tw_sink_url_free(&u);
    }
}

static void test_url_params(void **state)
{
    struct tw_sink_url u;
    char err[256];

    (void)state;
    assert_int_equal(tw_sink_url_parse("alerts.json", &u, err, sizeof(err)), 0);
    assert_true(u.plain_path);
    assert_int_equal(u.events_all, -1);
    tw_sink_url_free(&u);

    assert_int_equal(tw_sink_url_parse("file:///x.json?append=1&events=all&format=native", &u,
                                       err, sizeof(err)),
                     0);
    assert_false(u.plain_path);
    assert_true(u.append);
    assert_int_equal(u.events_all, 1);
    assert_int_equal(u.format, TW_FORMAT_NATIVE);
    tw_sink_url_free(&u);

    /* every format, per sink; none given: -1 (the run's --output-format) */
    static const struct {
        const char *url;
        int format;
    } fm[] = {{"kafka://b:1/t?format=ecs", TW_FORMAT_ECS},
              {"syslog+udp://h?format=cef", TW_FORMAT_CEF},
              {"redis://h/k?format=asim", TW_FORMAT_ASIM},
              {"redis://h/k", -1},
              {"out.json", -1}};
    for (size_t i = 0; i < TW_ARRAY_SIZE(fm); i++) {
        assert_int_equal(tw_sink_url_parse(fm[i].url, &u, err, sizeof(err)), 0);
        assert_int_equal(u.format, fm[i].format);
        tw_sink_url_free(&u);
    }

    assert_int_equal(tw_sink_url_parse("syslog+tcp://h:601?facility=local3&severity=notice&"
                                       "app=sensor1&queue=2&queue_lines=10&spool=%2Ftmp%2Fs&"
                                       "spool_max=5&backoff_max=2.5",
                                       &u, err, sizeof(err)),
                     0);
    assert_int_equal(u.facility, 19);
    assert_int_equal(u.severity, 5);
    assert_string_equal(u.app, "sensor1");
    assert_int_equal(u.queue_bytes, 2u << 20);
    assert_int_equal(u.queue_lines, 10);
    assert_string_equal(u.spool_dir, "/tmp/s");
    assert_int_equal(u.spool_max, 5u << 20);
    assert_true(u.backoff_max == 2.5);
    assert_int_equal(u.events_all, -1);
    tw_sink_url_free(&u);

    assert_int_equal(tw_sink_url_parse("syslog+unix:///dev/log", &u, err, sizeof(err)), 0);
    assert_int_equal(u.proto, TW_SYSLOG_3164_LOCAL);
    tw_sink_url_free(&u);
    assert_int_equal(tw_sink_url_parse("syslog+unix:///dev/log?proto=5424", &u, err,
                                       sizeof(err)),
                     0);
    assert_int_equal(u.proto, TW_SYSLOG_5424);
    tw_sink_url_free(&u);

    /* librdkafka properties pass through; ours are taken out */
    assert_int_equal(tw_sink_url_parse("kafka://b:9092/t?key=community_id&security.protocol=ssl"
                                       "&sasl.password=hunter2&events=all",
                                       &u, err, sizeof(err)),
                     0);
    assert_int_equal(u.keyby, TW_KEY_COMMUNITY_ID);
    assert_int_equal(u.events_all, 1);
    assert_int_equal(u.n_props, 2);
    assert_string_equal(u.props[0].name, "security.protocol");
    assert_string_equal(u.props[0].value, "ssl");
    assert_string_equal(u.props[1].name, "sasl.password");
    assert_string_equal(u.props[1].value, "hunter2");
    /* secrets never reach messages or stats */
    assert_string_equal(u.text, "kafka://b:9092/t?key=community_id&security.protocol=ssl"
                                "&sasl.password=***&events=all");
    tw_sink_url_free(&u);

    assert_int_equal(tw_sink_url_parse("redis://h/k?password=s3cret&mode=publish&db=3", &u, err,
                                       sizeof(err)),
                     0);
    assert_string_equal(u.password, "s3cret");
    assert_int_equal(u.mode, TW_REDIS_PUBLISH);
    assert_int_equal(u.db, 3);
    assert_null(strstr(u.text, "s3cret"));
    tw_sink_url_free(&u);
}

/* ---- syslog framing ---- */

static void test_syslog_frame(void **state)
{
    struct tw_syslog_hdr h = {.facility = 3, .hostname = "sensor 1", .app = "tunwatch",
                              .pid = 42, .proto = TW_SYSLOG_5424};
    struct timespec ts = {.tv_sec = 1796338956, .tv_nsec = 123456789};
    const char *msg = "{\"type\":\"alert\"}";
    char out[256];
    size_t n;

    (void)state;
    n = tw_syslog_frame(&h, 3, true, &ts, msg, strlen(msg), out, sizeof(out));
    out[n] = '\0';
    /* PRI 3*8+3 = 27; hostname without its space; MSGID alert; no SD. */
    assert_string_equal(out, "<27>1 2026-12-03T23:02:36.123456Z sensor1 tunwatch 42 alert - "
                             "{\"type\":\"alert\"}");

    h.octet_count = true;
    n = tw_syslog_frame(&h, 6, false, &ts, msg, strlen(msg), out, sizeof(out));
    out[n] = '\0';
    const char *body = "<30>1 2026-12-03T23:02:36.123456Z sensor1 tunwatch 42 event - "
                       "{\"type\":\"alert\"}";
    char want[256];
    snprintf(want, sizeof(want), "%zu %s", strlen(body), body);
    assert_string_equal(out, want);
    /* the length counts the bytes of the message exactly (RFC 6587 3.4.1) */
    assert_int_equal(strtoul(out, NULL, 10), strlen(strchr(out, ' ') + 1));

    /* empty fields are NILVALUE */
    h.hostname = "";
    h.octet_count = false;
    n = tw_syslog_frame(&h, 4, true, &ts, "x", 1, out, sizeof(out));
    out[n] = '\0';
    assert_non_null(strstr(out, "Z - tunwatch 42 alert - x"));

    /* the local format, as syslog(3) writes it to /dev/log */
    setenv("TZ", "UTC", 1);
    tzset();
    h.proto = TW_SYSLOG_3164_LOCAL;
    n = tw_syslog_frame(&h, 4, true, &ts, "x", 1, out, sizeof(out));
    out[n] = '\0';
    assert_string_equal(out, "<28>Dec  3 23:02:36 tunwatch[42]: x");

    /* does not fit: 0, nothing cut */
    h.proto = TW_SYSLOG_5424;
    assert_int_equal(tw_syslog_frame(&h, 4, true, &ts, msg, strlen(msg), out, 40), 0);

    assert_int_equal(tw_syslog_facility("local7"), 23);
    assert_int_equal(tw_syslog_facility("daemon"), 3);
    assert_int_equal(tw_syslog_facility("16"), 16);
    assert_int_equal(tw_syslog_facility("24"), -1);
    assert_int_equal(tw_syslog_severity("warning"), 4);
    assert_int_equal(tw_syslog_severity("err"), 3);
    assert_int_equal(tw_syslog_severity("8"), -1);
    assert_int_equal(tw_syslog_severity_for_level("critical"), 2);
    assert_int_equal(tw_syslog_severity_for_level("high"), 3);
    assert_int_equal(tw_syslog_severity_for_level("medium"), 4);
    assert_int_equal(tw_syslog_severity_for_level("low"), 5);
    assert_int_equal(tw_syslog_severity_for_level("informational"), 6);
}

/* ---- the record queue ---- */

static struct tw_rec rec_of(const char *line, const char *key)
{
    return (struct tw_rec){.line = line,
                           .len = strlen(line),
                           .key = key,
                           .key_len = key != NULL ? strlen(key) : 0,
                           .alert = true,
                           .severity = 4};
}

static void test_lineq_full_and_order(void **state)
{
    struct tw_lineq q;
    struct tw_rec r;
    char line[64];

    (void)state;
    assert_int_equal(tw_lineq_init(&q, 256, 5), 0);
    assert_false(tw_lineq_peek(&q, &r));
    /* bounded by records */
    for (int i = 0; i < 5; i++) {
        snprintf(line, sizeof(line), "line %d", i);
        struct tw_rec in = rec_of(line, "10.0.0.1");
        assert_true(tw_lineq_push(&q, &in));
    }
    struct tw_rec extra = rec_of("one more", NULL);
    assert_false(tw_lineq_push(&q, &extra));
    assert_int_equal(tw_lineq_count(&q), 5);
    for (int i = 0; i < 5; i++) {
        snprintf(line, sizeof(line), "line %d", i);
        assert_true(tw_lineq_peek(&q, &r));
        assert_int_equal(r.len, strlen(line));
        assert_memory_equal(r.line, line, r.len);
        assert_int_equal(r.key_len, 8);
        assert_memory_equal(r.key, "10.0.0.1", 8);
        assert_true(r.alert);
        assert_int_equal(r.severity, 4);
        tw_lineq_pop(&q);
    }
    assert_false(tw_lineq_peek(&q, &r));
    tw_lineq_destroy(&q);

    /* bounded by bytes; a record larger than the queue never fits */
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(tw_lineq_init(&q, 256, 1000), 0);
    struct tw_rec b = rec_of(big, NULL);
    assert_false(tw_lineq_push(&q, &b));
    big[100] = '\0';
    b = rec_of(big, NULL);
    assert_true(tw_lineq_push(&q, &b));
    assert_true(tw_lineq_push(&q, &b));
    assert_false(tw_lineq_push(&q, &b)); /* 3 x 112 > 256 */
    tw_lineq_pop(&q);
    assert_true(tw_lineq_push(&q, &b)); /* wraps to the front */
    assert_int_equal(tw_lineq_count(&q), 2);
    tw_lineq_destroy(&q);
}

/* A model check: random pushes and pops against a plain FIFO of sequence numbers. */
static void test_lineq_model(void **state)
{
    struct tw_lineq q;
    unsigned long long next_in = 0, next_out = 0;
    char line[200];
    unsigned seed = 12345;

    (void)state;
    assert_int_equal(tw_lineq_init(&q, 1000, 40), 0);
    for (int step = 0; step < 200000; step++) {
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 3 != 0) {
            int pad = (int)((seed >> 8) % 120);
            snprintf(line, sizeof(line), "%llu %.*s", next_in, pad,
                     "..................................................................."
                     ".....................................................");
            struct tw_rec in = rec_of(line, (seed & 1) ? "k" : NULL);
            if (tw_lineq_push(&q, &in))
                next_in++;
            else
                assert_true(tw_lineq_count(&q) > 0); /* refused only when not empty */
        } else {
            struct tw_rec r;
            if (!tw_lineq_peek(&q, &r)) {
                assert_int_equal(next_in, next_out);
                continue;
            }
            assert_int_equal(strtoull(r.line, NULL, 10), next_out);
            next_out++;
            tw_lineq_pop(&q);
        }
        assert_int_equal(tw_lineq_count(&q), next_in - next_out);
    }
    assert_true(next_out > 10000);
    tw_lineq_destroy(&q);
}

/* ---- the spool ---- */

static char *make_dir(void)
{
    char tmpl[] = "/tmp/tw-spool-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void rm_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[4096];

    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
}

static size_t count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    while (d != NULL && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name), sl = strlen(suffix);
        if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0)
            n++;
    }
    if (d != NULL)
        closedir(d);
    return n;
}

static char rbuf[70000];

/* Replays everything: the sequence numbers must follow from `first`. */
static unsigned replay_all(struct tw_spool *sp, unsigned first, unsigned limit)
{
    struct tw_rec r;
    unsigned n = 0;

    while (n < limit && tw_spool_peek(sp, &r, rbuf, sizeof(rbuf)) == 1) {
        char want[32];
        snprintf(want, sizeof(want), "{\"n\":%u}", first + n);
        assert_int_equal(r.len, strlen(want));
        assert_memory_equal(r.line, want, r.len);
        if ((first + n) % 2 == 0) {
            assert_int_equal(r.key_len, 8);
            assert_memory_equal(r.key, "10.0.0.9", 8);
        } else {
            assert_null(r.key);
        }
        assert_int_equal(r.alert, (first + n) % 3 != 0);
        assert_int_equal(r.severity, (first + n) % 8);
        tw_spool_ack(sp);
        n++;
    }
    return n;
}

static void append_n(struct tw_spool *sp, unsigned first, unsigned n)
{
    char line[32];

    for (unsigned i = first; i < first + n; i++) {
        snprintf(line, sizeof(line), "{\"n\":%u}", i);
        struct tw_rec r = rec_of(line, i % 2 == 0 ? "10.0.0.9" : NULL);
        r.alert = i % 3 != 0;
        r.severity = (uint8_t)(i % 8);
        assert_int_equal(tw_spool_append(sp, &r), 0);
    }
}

static void test_spool_order_and_reopen(void **state)
{
    char *dir = make_dir(), err[256];
    struct tw_spool *sp;
    struct tw_spool_stats st;

    (void)state;
    /* small segments: many files, replayed in order */
    sp = tw_spool_open(dir, 1 << 20, 200, err, sizeof(err));
    assert_non_null(sp);
    append_n(sp, 0, 100);
    assert_int_equal(tw_spool_pending(sp), 100);
    assert_true(count_files(dir, ".spool") > 5);
    /* a first part replayed, then more appended behind it */
    assert_int_equal(replay_all(sp, 0, 30), 30);
    append_n(sp, 100, 20);
    assert_int_equal(tw_spool_pending(sp), 90);
    /* stop with 90 not delivered: a clean close keeps exactly those */
    assert_int_equal(tw_spool_close(sp), 0);
    sp = tw_spool_open(dir, 1 << 20, 200, err, sizeof(err));
    assert_non_null(sp);
    assert_int_equal(tw_spool_pending(sp), 90);
    assert_int_equal(replay_all(sp, 30, 1000), 90);
    assert_int_equal(tw_spool_pending(sp), 0);
    tw_spool_get_stats(sp, &st);
    assert_int_equal(st.replayed, 90);
    /* delivered segments are removed */
    assert_int_equal(count_files(dir, ".spool") + count_files(dir, ".tmp"), 0);
    assert_int_equal(tw_spool_close(sp), 0);
    rm_dir(dir);
    free(dir);
}

static void test_spool_bound(void **state)
{
    char *dir = make_dir(), err[256], line[128];
    struct tw_spool *sp;
    struct tw_spool_stats st;
    int ok = 0, refused = 0;

    (void)state;
    sp = tw_spool_open(dir, 4096, 1024, err, sizeof(err));
    assert_non_null(sp);
    memset(line, 'a', 99);
    line[99] = '\0';
    for (int i = 0; i < 100; i++) {
        struct tw_rec r = rec_of(line, NULL);
        int rc = tw_spool_append(sp, &r);
        if (rc == 0)
            ok++;
        else {
            assert_int_equal(rc, TW_ENOMEM);
            refused++;
        }
    }
    tw_spool_get_stats(sp, &st);
    /* each record is 99 + 6 bytes: 39 fit in 4096 */
    assert_int_equal(ok, 4096 / 105);
    assert_int_equal(refused, 100 - ok);
    assert_int_equal(st.refused, (uint64_t)refused);
    assert_true(st.bytes <= 4096);
    /* room comes back once segments are delivered */
    struct tw_rec r;
    for (int i = 0; i < 20 && tw_spool_peek(sp, &r, rbuf, sizeof(rbuf)) == 1; i++)
        tw_spool_ack(sp);
    struct tw_rec in = rec_of(line, NULL);
    assert_int_equal(tw_spool_append(sp, &in), 0);
    assert_int_equal(tw_spool_close(sp), 0);
    /* a second opener of the same folder is refused while the first holds it */
    sp = tw_spool_open(dir, 4096, 1024, err, sizeof(err));
    assert_non_null(sp);
    assert_null(tw_spool_open(dir, 4096, 1024, err, sizeof(err)));
    assert_non_null(strstr(err, "in use"));
    tw_spool_close(sp);
    rm_dir(dir);
    free(dir);
}

/* A crash leaves the open segment as .tmp with a cut last record: the whole records are kept,
 * the cut bytes counted, and the order holds. */
static void test_spool_crash_cut(void **state)
{
    char *dir = make_dir(), err[256], path[4096];
    struct tw_spool *sp;
    struct tw_spool_stats st;
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "%s/0000000000000007.spool", dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    const char sealed[] = "E0 10.0.0.9 {\"n\":0}\nA1 - {\"n\":1}\n";
    assert_int_equal(write(fd, sealed, strlen(sealed)), (ssize_t)strlen(sealed));
    close(fd);
    snprintf(path, sizeof(path), "%s/0000000000000008.tmp", dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    const char cut[] = "A2 10.0.0.9 {\"n\":2}\nE3 - {\"n\":3}\nA4 10.0.0.9 {\"n\"";
    assert_int_equal(write(fd, cut, strlen(cut)), (ssize_t)strlen(cut));
    close(fd);
    /* an odd file is left alone */
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    close(fd);

    sp = tw_spool_open(dir, 1 << 20, 1 << 16, err, sizeof(err));
    assert_non_null(sp);
    tw_spool_get_stats(sp, &st);
    assert_int_equal(st.recovered, 1);
    assert_int_equal(st.cut_bytes, strlen("A4 10.0.0.9 {\"n\""));
    assert_int_equal(tw_spool_pending(sp), 4);
    /* new records go after the recovered ones (segment 9 on) */
    append_n(sp, 4, 3);
    assert_int_equal(replay_all(sp, 0, 1000), 7);
    assert_int_equal(tw_spool_close(sp), 0);
    assert_int_equal(count_files(dir, ".spool") + count_files(dir, ".tmp"), 0);
    assert_int_equal(access(path, F_OK), 0);
    unlink(path);
    rm_dir(dir);
    free(dir);
}

/* ---- a network sink's drain deadline ---- */

/* A TCP port on 127.0.0.1 that refuses connections (bound, not listening). */
static int dead_port(int *fd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

static void test_sink_drain_deadline(void **state)
{
    struct tw_sink_defaults d = {0};
    struct tw_sink_url u;
    struct tw_sink *s;
    struct tw_sink_stats st;
    char url[128], err[256], *dir = make_dir();
    int fd, port = dead_port(&fd);
    struct tw_sink_meta m = {.alert = true, .severity = 4, .source = "10.1.1.1"};

    (void)state;
    /* Without a spool: a queue of 3 lines, 10 written: 7 dropped at once, 3 left at exit. */
    snprintf(url, sizeof(url), "syslog+tcp://127.0.0.1:%d?queue_lines=3&backoff_max=0.2", port);
    assert_int_equal(tw_sink_url_parse(url, &u, err, sizeof(err)), 0);
    assert_int_equal(tw_sink_open(&u, &d, &s, err, sizeof(err)), 0);
    for (int i = 0; i < 10; i++)
        tw_sink_write(s, "{\"x\":1}\n", 7, &m);
    tw_sink_get_stats(s, &st);
    assert_int_equal(st.queued, 3);
    assert_int_equal(st.dropped, 7);
    double t0 = now_ns();
    assert_int_equal(tw_sink_close(s, 0.5), 0);
    double secs = (now_ns() - t0) / 1e9;
    tw_sink_get_stats(s, &st);
    assert_true(secs >= 0.45 && secs < 3.0); /* tried until the deadline, not longer */
    assert_int_equal(st.sent, 0);
    assert_int_equal(st.left, 3);
    assert_int_equal(st.dropped, 10);
    assert_false(st.connected);
    tw_sink_free(s);

    /* With a spool: nothing dropped; the queue's lines go to the spool at exit, behind it. */
    snprintf(url, sizeof(url), "syslog+tcp://127.0.0.1:%d?queue_lines=3&backoff_max=0.2&spool=%s",
             port, dir);
    assert_int_equal(tw_sink_url_parse(url, &u, err, sizeof(err)), 0);
    assert_int_equal(tw_sink_open(&u, &d, &s, err, sizeof(err)), 0);
    char line[32];
    for (int i = 0; i < 10; i++) {
        int n = snprintf(line, sizeof(line), "{\"n\":%d}\n", i);
        tw_sink_write(s, line, (size_t)n - 1, &m);
    }
    assert_int_equal(tw_sink_close(s, 0.2), 0);
    tw_sink_get_stats(s, &st);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.left, 0);
    assert_int_equal(st.spool_pending, 10);
    tw_sink_free(s);
    /* the spool holds 3..9 then 0..2 (the queue went in at exit): every line once */
    struct tw_spool *sp = tw_spool_open(dir, 1 << 20, 1 << 20, err, sizeof(err));
    assert_non_null(sp);
    struct tw_rec r;
    unsigned seen = 0;
    while (tw_spool_peek(sp, &r, rbuf, sizeof(rbuf)) == 1) {
        unsigned v = (unsigned)strtoul(r.line + 5, NULL, 10);
        assert_true(v < 10);
        assert_false(seen & (1u << v));
        seen |= 1u << v;
        assert_memory_equal(r.key, "10.1.1.1", 8);
        tw_spool_ack(sp);
    }
    assert_int_equal(seen, 0x3ff);
    tw_spool_close(sp);
    close(fd);
    rm_dir(dir);
    free(dir);
}

/* A TCP socket bound on 127.0.0.1 (refusing connections until listen()); its port. Once
 * listening, the kernel completes connections before accept(). */
static int listener(int *fd)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/*
 * Lines left in the spool by an earlier run come first: a line written while the spool holds
 * older ones goes behind them, even when the memory queue has room. Read back as the collector
 * sees them (RFC 6587 octet-counted frames), the order is 0..5.
 */
static void test_sink_spool_first(void **state)
{
    struct tw_sink_defaults d = {0};
    struct tw_sink_url u;
    struct tw_sink *s;
    char url[256], err[256], line[32], *dir = make_dir();
    int dfd, dport = dead_port(&dfd), lfd, lport = listener(&lfd);
    struct tw_sink_meta m = {.alert = true, .severity = 4};

    (void)state;
    snprintf(url, sizeof(url), "syslog+tcp://127.0.0.1:%d?spool=%s", dport, dir);
    assert_int_equal(tw_sink_url_parse(url, &u, err, sizeof(err)), 0);
    assert_int_equal(tw_sink_open(&u, &d, &s, err, sizeof(err)), 0);
    for (int i = 0; i < 3; i++) {
        int n = snprintf(line, sizeof(line), "{\"n\":%d}\n", i);
        tw_sink_write(s, line, (size_t)n - 1, &m);
    }
    assert_int_equal(tw_sink_close(s, 0), 0);
    tw_sink_free(s);

    snprintf(url, sizeof(url), "syslog+tcp://127.0.0.1:%d?spool=%s", lport, dir);
    assert_int_equal(tw_sink_url_parse(url, &u, err, sizeof(err)), 0);
    assert_int_equal(tw_sink_open(&u, &d, &s, err, sizeof(err)), 0);
    for (int i = 3; i < 6; i++) {
        int n = snprintf(line, sizeof(line), "{\"n\":%d}\n", i);
        tw_sink_write(s, line, (size_t)n - 1, &m);
    }
    struct tw_sink_stats st;
    tw_sink_get_stats(s, &st);
    assert_int_equal(st.queued, 0); /* behind the spool, not in the queue */
    /* the collector comes up only now: the sink cannot have drained the spool before */
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(tw_sink_close(s, 5), 0);
    tw_sink_get_stats(s, &st);
    assert_int_equal(st.sent, 6);
    assert_int_equal(st.spool_pending, 0);
    tw_sink_free(s);

    int c = accept(lfd, NULL, NULL);
    assert_true(c >= 0);
    static char buf[8192];
    size_t got = 0;
    ssize_t n;
    while ((n = read(c, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(c);
    /* octet-counted frames, in order */
    const char *p = buf;
    for (int i = 0; i < 6; i++) {
        char *end;
        unsigned long len = strtoul(p, &end, 10);
        assert_true(end > p && *end == ' ');
        p = end + 1;
        assert_true((size_t)(p - buf) + len <= got);
        snprintf(line, sizeof(line), "{\"n\":%d}", i);
        assert_true(len > strlen(line));
        assert_memory_equal(p + len - strlen(line), line, strlen(line));
        assert_non_null(memmem(p, len, " alert - ", 9));
        p += len;
    }
    assert_int_equal((size_t)(p - buf), got);
    close(lfd);
    close(dfd);
    rm_dir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_forms),
        cmocka_unit_test(test_url_params),
        cmocka_unit_test(test_syslog_frame),
        cmocka_unit_test(test_lineq_full_and_order),
        cmocka_unit_test(test_lineq_model),
        cmocka_unit_test(test_spool_order_and_reopen),
        cmocka_unit_test(test_spool_bound),
        cmocka_unit_test(test_spool_crash_cut),
        cmocka_unit_test(test_sink_drain_deadline),
        cmocka_unit_test(test_sink_spool_first),
    };
    return tw_run_tests(tests, NULL, NULL);
}
