/* SPDX-License-Identifier: MIT */
/*
 * Output formats (native, ECS, ASIM, CEF) on fixed events and alerts: every mapped field,
 * the sensor identity and capture source, network direction, MITRE ATT&CK tags, escaping of
 * hostile values (quotes, backslashes, pipes, equals signs, line breaks, NUL, invalid UTF-8),
 * names of the longest length kept, and lines that do not fit.
 *
 * With TW_FORMAT_LINES=FILE every line formatted here is also appended to FILE as
 * "FORMAT<TAB>LINE", for tests/t_formats.sh to parse back (JSON with python3's json module,
 * CEF with tests/format_check.py's parser).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/base/netaddr.h"
#include "tunwatch/flow/communityid.h"
#include "tunwatch/output/format.h"
#include "tunwatch/output/output.h"
#include "tunwatch/proto/dns.h"
#include "tunwatch/proto/tls.h"

#define RUN_ID "0f0e0d0c-0b0a-4908-8706-050403020100"
#define RULE_ID "11111111-2222-4333-8444-555555555555"
#define JA4 "t13d1516h2_8daaf6152771_02713d6af862"

static struct tw_sensor_id sid;
static struct tw_homenet home;
static struct tw_format_ctx ctx_file, ctx_iface, ctx_nohome;
static char line[TW_LINE_MAX + 1];

/* The hostile name: every byte each format must escape or replace. */
static const char hostile[] = "a\"b\\c|d=e\nf\rg\th\xff\x00\xc3\xa9.localto.net";
#define HOSTILE_LEN (sizeof(hostile) - 1)

static const char *const tags[] = {"attack.command-and-control", "attack.t1572",
                                   "attack.t1090.001", "attack.s0001", "attack.t15",
                                   "cve.2020-0001", "attack.Defense_Evasion"};
static const char *const refs[] = {"https://ref.example/1", "https://ref.example/2"};
static const struct tw_rule_info rule = {
    .id = RULE_ID,
    .title = "Title|with\\pipe",
    .level = "high",
    .file = "rules/x.yml",
    .line = 0,
    .tags = tags,
    .n_tags = TW_ARRAY_SIZE(tags),
    .description = "A \"quoted\" description\nover two lines",
    .references = refs,
    .n_references = TW_ARRAY_SIZE(refs),
    .category = TW_CAT_NETWORK_CONNECTION,
};

static FILE *dump;

static void addr4(uint8_t a[16], uint8_t x, uint8_t y, uint8_t z, uint8_t w)
{
    memset(a, 0, 16);
    a[0] = x;
    a[1] = y;
    a[2] = z;
    a[3] = w;
}

static void base_event(struct tw_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->ts_sec = 1795481650;
    ev->ts_nsec = 586684000;
    ev->flow_id = 7;
    ev->ip_version = 4;
}

static void ev_dns(struct tw_event *ev)
{
    base_event(ev);
    ev->category = TW_CAT_DNS_QUERY;
    ev->evidence = TW_EV_DNS_QUERY;
    ev->raw = "A1.LocalTo.Net.";
    ev->raw_len = strlen(ev->raw);
    ev->norm = "a1.localto.net";
    ev->norm_len = strlen(ev->norm);
    ev->qtype = 1;
    ev->l4_proto = 17;
    ev->initiated = true;
    ev->sport = 36965;
    ev->dport = 53;
    addr4(ev->src_addr, 10, 20, 0, 2);
    addr4(ev->dst_addr, 10, 20, 0, 1);
}

static void ev_tls(struct tw_event *ev)
{
    base_event(ev);
    ev->category = TW_CAT_NETWORK_CONNECTION;
    ev->evidence = TW_EV_TLS_SNI;
    ev->raw = ev->norm = "x.localto.net";
    ev->raw_len = ev->norm_len = strlen(ev->raw);
    ev->l4_proto = 6;
    ev->initiated = true;
    ev->ja4 = JA4;
    ev->sport = 50000;
    ev->dport = 443;
    addr4(ev->src_addr, 10, 0, 0, 5);
    addr4(ev->dst_addr, 203, 0, 113, 7);
    ev->proc = (struct tw_proc){.status = TW_PROC_FOUND, .local_is_source = true, .pid = 4242,
                                .uid = 1000, .image = "/usr/bin/curl", .user = "alice",
                                .comm = "curl"};
}

static void ev_http(struct tw_event *ev)
{
    base_event(ev);
    ev->category = TW_CAT_NETWORK_CONNECTION;
    ev->evidence = TW_EV_HTTP_HOST;
    ev->raw = ev->norm = "h.example";
    ev->raw_len = ev->norm_len = strlen(ev->raw);
    ev->l4_proto = 6;
    ev->initiated = false;
    ev->sport = 40000;
    ev->dport = 8080;
    ev->ip_version = 6;
    memset(ev->src_addr, 0, 16);
    ev->src_addr[0] = 0x20;
    ev->src_addr[1] = 0x01;
    ev->src_addr[2] = 0x0d;
    ev->src_addr[3] = 0xb8;
    ev->src_addr[15] = 1;
    memset(ev->dst_addr, 0, 16);
    ev->dst_addr[0] = 0xfd;
    ev->dst_addr[15] = 1;
    ev->http[TW_F_CS_METHOD - TW_F_CS_METHOD] = "GET";
    ev->http[TW_F_C_URI - TW_F_CS_METHOD] = "/a/b.php?x=1";
    ev->http[TW_F_C_URI_STEM - TW_F_CS_METHOD] = "/a/b.php";
    ev->http[TW_F_C_URI_QUERY - TW_F_CS_METHOD] = "x=1";
    ev->http[TW_F_C_URI_EXTENSION - TW_F_CS_METHOD] = "php";
    ev->http[TW_F_C_USERAGENT - TW_F_CS_METHOD] = "curl/8.0";
    ev->http[TW_F_CS_REFERRER - TW_F_CS_METHOD] = "http://r.example/";
    ev->http[TW_F_CS_VERSION - TW_F_CS_METHOD] = "HTTP/1.1";
    ev->http_host_raw = "h.example:8080";
}

/* A connection named by a DNS answer, between two foreign addresses. */
static void ev_answer(struct tw_event *ev)
{
    base_event(ev);
    ev->category = TW_CAT_NETWORK_CONNECTION;
    ev->evidence = TW_EV_DNS_ANSWER;
    ev->raw = ev->norm = "7.tcp.ngrok.io";
    ev->raw_len = ev->norm_len = strlen(ev->raw);
    ev->l4_proto = 6;
    ev->initiated = false;
    ev->sport = 51000;
    ev->dport = 10000;
    addr4(ev->src_addr, 198, 51, 100, 1);
    addr4(ev->dst_addr, 203, 0, 113, 9);
    ev->answer_name = "7.tcp.ngrok.io";
    ev->answer_chain = "";
}

/* A DNS response (HTTPS with an ech= parameter, an A record with a hostile-looking text and
 * an AAAA) to the query of ev_dns. */
static const char resp_texts[] = "1 . alpn=h2,h3 ech=AEX+DQ==\0a|b=c\\d\0" "2001:db8::1";
static const uint16_t resp_offs[] = {0, 28, 36};
static const uint32_t resp_ttls[] = {300, 60, 0};
static const uint16_t resp_types[] = {65, 1, 28};

static void ev_response(struct tw_event *ev)
{
    ev_dns(ev);
    ev->category = TW_CAT_DNS;
    ev->evidence = TW_EV_DNS_RESPONSE;
    ev->qtype = 65;
    ev->dns = (struct tw_dns_resp){.id = 0x14e5, .flags = 0x8580 | 3, .z = 0, .ech = true,
                                   .n_answers = 3, .answers = resp_texts,
                                   .answers_len = sizeof(resp_texts), .offs = resp_offs,
                                   .ttls = resp_ttls, .types = resp_types};
}

static void ev_hostile(struct tw_event *ev)
{
    ev_tls(ev);
    ev->raw = hostile;
    ev->raw_len = HOSTILE_LEN;
    ev->norm = hostile;
    ev->norm_len = HOSTILE_LEN;
    ev->proc = (struct tw_proc){0};
}

static const char *fmt_line(enum tw_format f, const struct tw_format_ctx *c,
                            const struct tw_event *ev, const struct tw_rule_info *r)
{
    struct tw_jb jb;

    tw_jb_init(&jb, line, sizeof(line) - 1);
    if (r != NULL) {
        struct tw_alert a = {.rule = r, .ev = ev};
        tw_format_alert(f, &jb, c, &a, NULL);
    } else {
        tw_format_event(f, &jb, c, ev);
    }
    assert_false(jb.overflow);
    line[jb.len] = '\0';
    assert_int_equal(strlen(line), jb.len); /* no NUL byte inside a line */
    assert_null(strchr(line, '\n'));         /* one line: no raw line break */
    assert_null(strchr(line, '\r'));
    if (dump != NULL)
        fprintf(dump, "%s\t%s\n", tw_format_name(f), line);
    return line;
}

#define HAS(l, frag) has_at(__LINE__, (l), (frag), true)
#define LACKS(l, frag) has_at(__LINE__, (l), (frag), false)
static void has_at(int where, const char *l, const char *frag, bool want)
{
    bool got = strstr(l, frag) != NULL;
    if (got != want)
        fail_msg("line %d: %s %s\n  in: %s", where, want ? "missing" : "unexpected", frag, l);
}

static size_t count(const char *l, const char *frag)
{
    size_t n = 0;
    for (const char *p = strstr(l, frag); p != NULL; p = strstr(p + 1, frag))
        n++;
    return n;
}

static int setup(void **state)
{
    (void)state;
    memset(&sid, 0, sizeof(sid));
    snprintf(sid.name, sizeof(sid.name), "sensor-1");
    snprintf(sid.hostname, sizeof(sid.hostname), "host-1");
    snprintf(sid.run_id, sizeof(sid.run_id), RUN_ID);
    sid.version = "9.9.9";
    tw_homenet_default(&home);
    ctx_file = (struct tw_format_ctx){.sensor = &sid, .home = &home, .source = "pcaps/x.pcap",
                                      .source_is_file = true};
    ctx_iface = (struct tw_format_ctx){.sensor = &sid, .home = &home, .source = "eth1"};
    ctx_nohome = (struct tw_format_ctx){.sensor = &sid, .home = NULL, .source = "eth1"};
    const char *path = getenv("TW_FORMAT_LINES");
    if (path != NULL && path[0] != '\0')
        dump = fopen(path, "w");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (dump != NULL)
        fclose(dump);
    return 0;
}

static void test_parse(void **state)
{
    (void)state;
    enum tw_format f;

    for (unsigned i = 0; i < TW_FORMAT__COUNT; i++) {
        assert_int_equal(tw_format_parse(tw_format_name((enum tw_format)i), &f), 0);
        assert_int_equal(f, i);
    }
    assert_string_equal(tw_format_name(TW_FORMAT_NATIVE), "native");
    assert_string_equal(tw_format_name(TW_FORMAT_ECS), "ecs");
    assert_string_equal(tw_format_name(TW_FORMAT_ASIM), "asim");
    assert_string_equal(tw_format_name(TW_FORMAT_CEF), "cef");
    assert_int_equal(tw_format_parse("ECS", &f), TW_EINVAL);
    assert_int_equal(tw_format_parse("", &f), TW_EINVAL);
    assert_int_equal(tw_format_parse("json", &f), TW_EINVAL);
    assert_int_equal(tw_format_parse("cef ", &f), TW_EINVAL);
}

static void test_sensor_id(void **state)
{
    (void)state;
    struct tw_sensor_id a, b;

    assert_int_equal(tw_sensor_id_init(&a, "tap-7", "1.0"), 0);
    assert_int_equal(tw_sensor_id_init(&b, NULL, "1.0"), 0);
    assert_string_equal(a.name, "tap-7");
    assert_string_equal(b.name, b.hostname); /* default: the host name */
    assert_true(b.hostname[0] != '\0');
    /* A version 4 UUID, and a new one each run. */
    assert_int_equal(strlen(a.run_id), 36);
    assert_int_equal(a.run_id[8], '-');
    assert_int_equal(a.run_id[14], '4');
    assert_non_null(strchr("89ab", a.run_id[19]));
    for (size_t i = 0; i < 36; i++)
        if (i != 8 && i != 13 && i != 18 && i != 23)
            assert_non_null(strchr("0123456789abcdef", a.run_id[i]));
    assert_string_not_equal(a.run_id, b.run_id);
}

static void test_native(void **state)
{
    (void)state;
    struct tw_event ev;
    const char *l;

    ev_tls(&ev);
    l = fmt_line(TW_FORMAT_NATIVE, &ctx_file, &ev, &rule);
    HAS(l, "{\"type\":\"alert\",\"rule\":{\"id\":\"" RULE_ID "\",\"title\":\"Title|with\\\\pipe\"");
    HAS(l, "\"flow_id\":7,");
    HAS(l, "\"tls\":{\"ech\":false,\"ja4\":\"" JA4 "\"}");
    HAS(l, ",\"sensor\":{\"name\":\"sensor-1\",\"run_id\":\"" RUN_ID
           "\"},\"pcap_filename\":\"pcaps/x.pcap\"}");
    LACKS(l, "\"interface\"");
    /* Live: the interface; an event's own source wins over the context's. */
    l = fmt_line(TW_FORMAT_NATIVE, &ctx_iface, &ev, NULL);
    HAS(l, "{\"type\":\"event\",");
    HAS(l, "\"run_id\":\"" RUN_ID "\"},\"interface\":\"eth1\"}");
    ev.source = "eth7";
    l = fmt_line(TW_FORMAT_NATIVE, &ctx_iface, &ev, NULL);
    HAS(l, "\"interface\":\"eth7\"}");
    ev.source = "b.pcap";
    ev.source_is_file = true;
    l = fmt_line(TW_FORMAT_NATIVE, &ctx_iface, &ev, NULL);
    HAS(l, "\"pcap_filename\":\"b.pcap\"}");
    LACKS(l, "\"interface\"");
}

static void test_ecs(void **state)
{
    (void)state;
    struct tw_event ev;
    char cid[TW_COMMUNITY_ID_LEN], frag[256];
    const char *l;

    ev_tls(&ev);
    l = fmt_line(TW_FORMAT_ECS, &ctx_file, &ev, &rule);
    HAS(l, "{\"@timestamp\":\"2026-11-24T00:54:10.586684Z\",\"ecs\":{\"version\":\"8.11.0\"},");
    HAS(l, "\"event\":{\"kind\":\"alert\",\"category\":[\"network\"],\"type\":[\"connection\","
           "\"protocol\"],\"module\":\"tunwatch\",\"dataset\":\"tunwatch.alert\",\"action\":"
           "\"network_connection\",\"severity\":73,\"risk_score\":73}");
    HAS(l, "\"rule\":{\"id\":\"" RULE_ID "\",\"name\":\"Title|with\\\\pipe\",\"description\":"
           "\"A \\\"quoted\\\" description\\nover two lines\",\"reference\":"
           "\"https://ref.example/1\",\"category\":\"network_connection\",\"ruleset\":\"sigma\"}");
    /* attack.s0001 (software), attack.t15 (too short) and cve.* are no technique or tactic;
     * attack.Defense_Evasion is one (Sigma's older spelling). */
    HAS(l, "\"threat\":{\"framework\":\"MITRE ATT&CK\",\"technique\":{\"id\":[\"T1572\","
           "\"T1090.001\"]},\"tactic\":{\"name\":[\"Command and Control\",\"Defense Evasion\"],"
           "\"id\":[\"TA0011\",\"TA0005\"]}}");
    HAS(l, "\"source\":{\"ip\":\"10.0.0.5\",\"port\":50000}");
    HAS(l, "\"destination\":{\"ip\":\"203.0.113.7\",\"port\":443,\"domain\":\"x.localto.net\"}");
    assert_int_equal(tw_community_id(0, 4, ev.src_addr, ev.dst_addr, 6, 50000, 443, cid,
                                     sizeof(cid)),
                     0);
    snprintf(frag, sizeof(frag),
             "\"network\":{\"transport\":\"tcp\",\"type\":\"ipv4\",\"protocol\":\"tls\","
             "\"direction\":\"outbound\",\"community_id\":\"%s\"}",
             cid);
    HAS(l, frag);
    HAS(l, "\"tls\":{\"client\":{\"server_name\":\"x.localto.net\",\"ja4\":\"" JA4 "\"}}");
    HAS(l, "\"process\":{\"pid\":4242,\"executable\":\"/usr/bin/curl\",\"name\":\"curl\"}");
    HAS(l, "\"user\":{\"name\":\"alice\",\"id\":\"1000\"}");
    HAS(l, "\"observer\":{\"hostname\":\"host-1\",\"name\":\"sensor-1\",\"type\":\"sensor\","
           "\"vendor\":\"tunwatch\",\"product\":\"tunwatch\",\"version\":\"9.9.9\"}");
    HAS(l, "\"related\":{\"hosts\":[\"x.localto.net\"],\"ip\":[\"10.0.0.5\",\"203.0.113.7\"],"
           "\"user\":[\"alice\"]}");
    HAS(l, "\"tunwatch\":{\"run_id\":\"" RUN_ID "\",\"flow_id\":7,\"category\":"
           "\"network_connection\",\"evidence\":\"tls_sni\",\"name\":\"x.localto.net\","
           "\"name_normalized\":\"x.localto.net\",\"initiated\":\"true\",\"midstream\":false,"
           "\"direction\":\"start\",\"pcap_filename\":\"pcaps/x.pcap\",\"tls_ech\":false,");
    HAS(l, "\"rule\":{\"level\":\"high\",\"tags\":[\"attack.command-and-control\",");
    /* ECS reserves "event": exactly one, ECS's own; no native keys at the top. */
    assert_int_equal(count(l, "\"event\":"), 1);
    LACKS(l, "\"type\":\"alert\"");
    LACKS(l, "\"timestamp\"");

    /* The event line: kind event, no rule or threat; the interface as observer.ingress. */
    l = fmt_line(TW_FORMAT_ECS, &ctx_iface, &ev, NULL);
    HAS(l, "\"event\":{\"kind\":\"event\",\"category\":[\"network\"],");
    HAS(l, "\"dataset\":\"tunwatch.event\"");
    LACKS(l, "\"rule\"");
    LACKS(l, "\"threat\"");
    LACKS(l, "\"severity\"");
    HAS(l, "\"version\":\"9.9.9\",\"ingress\":{\"interface\":{\"name\":\"eth1\"}}}");
    LACKS(l, "pcap_filename");

    ev_dns(&ev);
    l = fmt_line(TW_FORMAT_ECS, &ctx_file, &ev, NULL);
    HAS(l, "\"type\":[\"protocol\",\"info\"]");
    HAS(l, "\"destination\":{\"ip\":\"10.20.0.1\",\"port\":53}");
    HAS(l, "\"network\":{\"transport\":\"udp\",\"type\":\"ipv4\",\"protocol\":\"dns\","
           "\"direction\":\"internal\",");
    HAS(l, "\"dns\":{\"type\":\"query\",\"question\":{\"name\":\"A1.LocalTo.Net.\",\"type\":"
           "\"A\"}}");
    HAS(l, "\"name_normalized\":\"a1.localto.net\"");
    LACKS(l, "\"tls\"");
    LACKS(l, "\"process\"");
    ev.qtype = 65399;
    l = fmt_line(TW_FORMAT_ECS, &ctx_file, &ev, NULL);
    HAS(l, "\"question\":{\"name\":\"A1.LocalTo.Net.\",\"type\":\"TYPE65399\"}");

    ev_http(&ev);
    l = fmt_line(TW_FORMAT_ECS, &ctx_file, &ev, NULL);
    HAS(l, "\"source\":{\"ip\":\"2001:db8::1\",\"port\":40000}");
    HAS(l, "\"network\":{\"transport\":\"tcp\",\"type\":\"ipv6\",\"protocol\":\"http\","
           "\"direction\":\"inbound\",");
    HAS(l, "\"http\":{\"request\":{\"method\":\"GET\",\"referrer\":\"http://r.example/\"},"
           "\"version\":\"1.1\"}");
    HAS(l, "\"url\":{\"domain\":\"h.example\",\"original\":\"/a/b.php?x=1\",\"path\":"
           "\"/a/b.php\",\"query\":\"x=1\",\"extension\":\"php\"}");
    HAS(l, "\"user_agent\":{\"original\":\"curl/8.0\"}");
    HAS(l, "\"http_host\":\"h.example:8080\"");

    ev_answer(&ev);
    l = fmt_line(TW_FORMAT_ECS, &ctx_file, &ev, NULL);
    HAS(l, "\"type\":[\"connection\"]");
    HAS(l, "\"direction\":\"external\"");
    LACKS(l, "\"protocol\":");
    HAS(l, "\"dns_answer\":{\"name\":\"7.tcp.ngrok.io\",\"cname_chain\":\"\"}");
    l = fmt_line(TW_FORMAT_ECS, &ctx_nohome, &ev, NULL);
    HAS(l, "\"direction\":\"unknown\"");

    /* A CNAME match: the other name is related too, and said how. */
    struct tw_alert a = {.rule = &rule, .ev = &ev, .matched_name = "t.trycloudflare.com",
                         .via = "cname", .suppressed_before = 3};
    struct tw_jb jb;
    tw_jb_init(&jb, line, sizeof(line) - 1);
    tw_format_alert(TW_FORMAT_ECS, &jb, &ctx_file, &a, NULL);
    assert_false(jb.overflow);
    line[jb.len] = '\0';
    HAS(line, "\"hosts\":[\"7.tcp.ngrok.io\",\"t.trycloudflare.com\"]");
    HAS(line, "\"suppressed_before\":3,\"matched\":{\"name\":\"t.trycloudflare.com\",\"via\":"
              "\"cname\"}");
}

static void test_asim(void **state)
{
    (void)state;
    struct tw_event ev;
    const char *l;

    ev_tls(&ev);
    l = fmt_line(TW_FORMAT_ASIM, &ctx_file, &ev, &rule);
    HAS(l, "{\"TimeGenerated\":\"2026-11-24T00:54:10.586684Z\",\"EventStartTime\":"
           "\"2026-11-24T00:54:10.586684Z\",\"EventEndTime\":\"2026-11-24T00:54:10.586684Z\","
           "\"EventCount\":1,\"EventVendor\":\"tunwatch\",\"EventProduct\":\"tunwatch\","
           "\"EventProductVersion\":\"9.9.9\",\"EventSchema\":\"NetworkSession\","
           "\"EventSchemaVersion\":\"0.2.6\",\"EventType\":\"EndpointNetworkSession\","
           "\"EventResult\":\"NA\",\"EventSeverity\":\"High\",\"EventOriginalType\":"
           "\"network_connection\",\"Dvc\":\"sensor-1\",\"DvcHostname\":\"host-1\",");
    HAS(l, "\"SrcIpAddr\":\"10.0.0.5\",\"SrcPortNumber\":50000,\"DstIpAddr\":\"203.0.113.7\","
           "\"DstPortNumber\":443,\"NetworkProtocol\":\"TCP\",\"NetworkProtocolVersion\":"
           "\"IPv4\",\"NetworkSessionId\":\"" RUN_ID ":7\",\"NetworkDirection\":\"Outbound\","
           "\"NetworkApplicationProtocol\":\"TLS\",\"DstHostname\":\"x.localto.net\","
           "\"DstFQDN\":\"x.localto.net\",\"DstDomain\":\"localto.net\",\"DstDomainType\":"
           "\"FQDN\"");
    HAS(l, "\"SrcProcessName\":\"/usr/bin/curl\",\"SrcProcessId\":\"4242\",\"SrcUsername\":"
           "\"alice\",\"SrcUsernameType\":\"Simple\"");
    HAS(l, "\"NetworkRuleName\":\"Title|with\\\\pipe\",\"Rule\":\"Title|with\\\\pipe\","
           "\"ThreatId\":\"" RULE_ID "\",\"ThreatName\":\"Title|with\\\\pipe\","
           "\"ThreatRiskLevel\":73,\"ThreatOriginalRiskLevel\":\"high\",\"ThreatField\":"
           "\"DstHostname\",\"ThreatCategory\":\"Command and Control\"");
    HAS(l, "\"AdditionalFields\":{\"sensor_run_id\":\"" RUN_ID "\",\"flow_id\":7,");
    HAS(l, "\"pcap_filename\":\"pcaps/x.pcap\",\"tls_ech\":false,\"ja4\":\"" JA4 "\"");
    HAS(l, "\"rule_file\":\"rules/x.yml\",\"rule_tags\":[");
    LACKS(l, "DvcInterface");
    LACKS(l, "\"RuleName\"");

    /* Without the process: a sensor's NetworkSession; a local server's process is Dst*. */
    ev.proc.status = TW_PROC_NONE;
    l = fmt_line(TW_FORMAT_ASIM, &ctx_iface, &ev, NULL);
    HAS(l, "\"EventType\":\"NetworkSession\"");
    HAS(l, "\"EventSeverity\":\"Informational\"");
    HAS(l, "\"DvcInterface\":\"eth1\"");
    LACKS(l, "Process");
    LACKS(l, "Threat");
    ev.proc = (struct tw_proc){.status = TW_PROC_FOUND, .local_is_source = false, .pid = 1,
                               .uid = 0, .image = "/usr/sbin/nginx", .user = "root",
                               .comm = "nginx"};
    l = fmt_line(TW_FORMAT_ASIM, &ctx_iface, &ev, NULL);
    HAS(l, "\"DstProcessName\":\"/usr/sbin/nginx\",\"DstProcessId\":\"1\",\"DstUsername\":"
           "\"root\"");
    LACKS(l, "SrcProcess");
    ev.proc = (struct tw_proc){.status = TW_PROC_UNATTRIBUTED, .reason = "time_wait"};
    l = fmt_line(TW_FORMAT_ASIM, &ctx_iface, &ev, NULL);
    HAS(l, "\"process_status\":\"unattributed\",\"process_reason\":\"time_wait\"");

    ev_dns(&ev);
    l = fmt_line(TW_FORMAT_ASIM, &ctx_file, &ev, &rule);
    HAS(l, "\"EventSchema\":\"Dns\",\"EventSchemaVersion\":\"0.1.7\",\"EventType\":\"Query\","
           "\"EventSubType\":\"request\",");
    HAS(l, "\"NetworkProtocol\":\"UDP\",\"NetworkProtocolVersion\":\"IPv4\",\"DnsSessionId\":"
           "\"" RUN_ID ":7\",\"DnsQuery\":\"a1.localto.net\",\"DnsQueryType\":1,"
           "\"DnsQueryTypeName\":\"A\"");
    HAS(l, "\"RuleName\":\"Title|with\\\\pipe\",\"Rule\":");
    HAS(l, "\"ThreatField\":\"DnsQuery\"");
    HAS(l, "\"name\":\"A1.LocalTo.Net.\",\"name_normalized\":\"a1.localto.net\"");
    LACKS(l, "NetworkDirection");
    LACKS(l, "NetworkRuleName");
    ev.evidence = TW_EV_DNS_ANSWER;
    l = fmt_line(TW_FORMAT_ASIM, &ctx_file, &ev, NULL);
    HAS(l, "\"EventSubType\":\"response\"");

    ev_http(&ev);
    l = fmt_line(TW_FORMAT_ASIM, &ctx_file, &ev, NULL);
    HAS(l, "\"NetworkProtocolVersion\":\"IPv6\"");
    HAS(l, "\"NetworkDirection\":\"Inbound\",\"NetworkApplicationProtocol\":\"HTTP\"");
    HAS(l, "\"DstDomain\":\"example\"");
    HAS(l, "\"HttpRequestMethod\":\"GET\",\"Url\":\"/a/b.php?x=1\",\"HttpUserAgent\":"
           "\"curl/8.0\",\"HttpReferrer\":\"http://r.example/\"");
    HAS(l, "\"http_host\":\"h.example:8080\",\"http_version\":\"HTTP/1.1\"");

    ev_answer(&ev);
    l = fmt_line(TW_FORMAT_ASIM, &ctx_file, &ev, NULL);
    HAS(l, "\"NetworkDirection\":\"External\"");
    LACKS(l, "NetworkApplicationProtocol");
    l = fmt_line(TW_FORMAT_ASIM, &ctx_nohome, &ev, NULL);
    HAS(l, "\"NetworkDirection\":\"NA\"");
    /* Initiated from inside is Outbound even to another inside address (Sysmon's reading). */
    ev_dns(&ev);
    ev.category = TW_CAT_NETWORK_CONNECTION;
    ev.evidence = TW_EV_TLS_SNI;
    l = fmt_line(TW_FORMAT_ASIM, &ctx_file, &ev, NULL);
    HAS(l, "\"NetworkDirection\":\"Outbound\"");
    HAS(l, "\"DstHostname\":\"a1.localto.net\"");
}

static void test_cef(void **state)
{
    (void)state;
    struct tw_event ev;
    char cid[TW_COMMUNITY_ID_LEN], frag[256];
    const char *l;

    ev_tls(&ev);
    l = fmt_line(TW_FORMAT_CEF, &ctx_file, &ev, &rule);
    assert_int_equal(strncmp(l, "CEF:0|tunwatch|tunwatch|9.9.9|" RULE_ID
                                "|Title\\|with\\\\pipe|8|rt=1795481650586 cat=",
                             strlen("CEF:0|tunwatch|tunwatch|9.9.9|" RULE_ID
                                    "|Title\\|with\\\\pipe|8|rt=1795481650586 cat=")),
                     0);
    HAS(l, " cat=network_connection deviceExternalId=sensor-1 dvchost=host-1 src=10.0.0.5 "
           "spt=50000 dst=203.0.113.7 dpt=443 proto=TCP app=TLS deviceDirection=1 "
           "dhost=x.localto.net sproc=/usr/bin/curl spid=4242 suser=alice "
           "cs1=x.localto.net cs1Label=tlsServerName cs2=" JA4 " cs2Label=ja4 cs3=");
    /* The Community ID's base64 padding is an escaped '='. */
    assert_int_equal(tw_community_id(0, 4, ev.src_addr, ev.dst_addr, 6, 50000, 443, cid,
                                     sizeof(cid)),
                     0);
    assert_int_equal(cid[strlen(cid) - 1], '=');
    cid[strlen(cid) - 1] = '\0';
    snprintf(frag, sizeof(frag), " cs3=%s\\= cs3Label=communityId cs4=" RULE_ID, cid);
    HAS(l, frag);
    HAS(l, " cs4Label=ruleId cs5=" RUN_ID " cs5Label=runId cn1=7 cn1Label=flowId "
           "flexString1=tls_sni flexString1Label=evidence flexString2=pcaps/x.pcap "
           "flexString2Label=pcapFilename");
    LACKS(l, "deviceInboundInterface");
    LACKS(l, " cs6=");
    LACKS(l, "Flags=");

    /* The oddities, in keys of tunwatch's own (no custom slot is left). */
    ev.stream_flags = (1u << TW_SF_OVERLAP_CONFLICT) | (1u << TW_SF_HELLO_LATER);
    ev.tls_flags = (1u << TW_TLS_F_SNI_MULTIPLE) | (1u << TW_TLS_F_RECORD_SPLIT);
    l = fmt_line(TW_FORMAT_CEF, &ctx_file, &ev, &rule);
    HAS(l, " tunwatchStreamFlags=overlap_conflict,hello_later "
           "tunwatchTlsFlags=sni_multiple,record_split");
    ev.stream_flags = 0;
    l = fmt_line(TW_FORMAT_CEF, &ctx_file, &ev, &rule);
    LACKS(l, "tunwatchStreamFlags");
    HAS(l, " flexString2Label=pcapFilename tunwatchTlsFlags=sni_multiple,record_split");
    ev.tls_flags = 0;

    l = fmt_line(TW_FORMAT_CEF, &ctx_iface, &ev, NULL);
    HAS(l, "CEF:0|tunwatch|tunwatch|9.9.9|network_connection|Network connection|1|rt=");
    HAS(l, " dvchost=host-1 deviceInboundInterface=eth1 src=");
    LACKS(l, "cs4=");
    LACKS(l, "flexString2");

    ev_dns(&ev);
    l = fmt_line(TW_FORMAT_CEF, &ctx_file, &ev, NULL);
    HAS(l, "|dns_query|DNS query|1|");
    HAS(l, " proto=UDP app=DNS deviceDirection=1 ");
    HAS(l, " cs6=A1.LocalTo.Net. cs6Label=dnsQuery cn2=1 cn2Label=dnsQueryType ");
    LACKS(l, "dhost=");
    LACKS(l, "cs1=");

    ev_http(&ev);
    l = fmt_line(TW_FORMAT_CEF, &ctx_file, &ev, NULL);
    HAS(l, " src=2001:db8::1 spt=40000 dst=fd00::1 dpt=8080 proto=TCP app=HTTP "
           "deviceDirection=0 dhost=h.example request=/a/b.php?x\\=1 requestMethod=GET "
           "requestClientApplication=curl/8.0 requestContext=http://r.example/ ");

    ev_answer(&ev);
    l = fmt_line(TW_FORMAT_CEF, &ctx_file, &ev, NULL);
    LACKS(l, "deviceDirection"); /* between foreign addresses: neither in nor out */
    LACKS(l, " app=");

    struct tw_alert a = {.rule = &rule, .ev = &ev, .matched_name = "t.trycloudflare.com",
                         .via = "cname", .suppressed_before = 3};
    struct tw_jb jb;
    tw_jb_init(&jb, line, sizeof(line) - 1);
    tw_format_alert(TW_FORMAT_CEF, &jb, &ctx_file, &a, NULL);
    line[jb.len] = '\0';
    HAS(line, " cnt=4 msg=matched via cname: t.trycloudflare.com");

    /* Severity from the Sigma level. */
    static const struct {
        const char *level, *sev;
    } levels[] = {{"informational", "|1|"}, {"low", "|3|"}, {"medium", "|5|"},
                  {"high", "|8|"},          {"critical", "|10|"}, {"", "|5|"}};
    for (size_t i = 0; i < TW_ARRAY_SIZE(levels); i++) {
        struct tw_rule_info r = rule;
        r.level = levels[i].level;
        l = fmt_line(TW_FORMAT_CEF, &ctx_file, &ev, &r);
        HAS(l, levels[i].sev);
    }
}

/* Quotes, backslashes, pipes, equals signs, line breaks, a tab, NUL and an invalid byte in the
 * name, and in the rule's title. */
/* A DNS response in every format: code, flags, answers (escaped where the format must). */
static void test_dns_response(void **state)
{
    (void)state;
    struct tw_event ev;
    const char *l;

    ev_response(&ev);
    assert_string_equal(resp_texts + resp_offs[1], "a|b=c\\d");
    assert_string_equal(resp_texts + resp_offs[2], "2001:db8::1");
    l = fmt_line(TW_FORMAT_NATIVE, &ctx_file, &ev, NULL);
    HAS(l, "\"category\":\"dns\",\"evidence\":\"dns_response\"");
    HAS(l, "\"answers\":[\"1 . alpn=h2,h3 ech=AEX+DQ==\",\"a|b=c\\\\d\",\"2001:db8::1\"]");
    HAS(l, "\"rcode\":3,\"rcode_name\":\"NXDOMAIN\"");

    l = fmt_line(TW_FORMAT_ECS, &ctx_file, &ev, NULL);
    HAS(l, "\"type\":[\"protocol\",\"info\"]");
    HAS(l, "\"action\":\"dns\"");
    HAS(l, "\"protocol\":\"dns\"");
    HAS(l, "\"dns\":{\"type\":\"answer\",\"id\":\"5349\",\"question\":{\"name\":"
           "\"A1.LocalTo.Net.\",\"type\":\"HTTPS\"},\"response_code\":\"NXDOMAIN\","
           "\"header_flags\":[\"AA\",\"RD\",\"RA\"],\"answers\":[{\"data\":\"1 . alpn=h2,h3 "
           "ech=AEX+DQ==\",\"type\":\"HTTPS\",\"ttl\":300},{\"data\":\"a|b=c\\\\d\",\"type\":"
           "\"A\",\"ttl\":60},{\"data\":\"2001:db8::1\",\"type\":\"AAAA\",\"ttl\":0}],"
           "\"resolved_ip\":[\"a|b=c\\\\d\",\"2001:db8::1\"]}");
    HAS(l, "\"dns_z\":0,\"dns_rejected\":false,\"dns_ech\":true");
    LACKS(l, "\"destination\":{\"ip\":\"10.20.0.1\",\"port\":53,\"domain\"");

    l = fmt_line(TW_FORMAT_ASIM, &ctx_file, &ev, NULL);
    HAS(l, "\"EventSchema\":\"Dns\",\"EventSchemaVersion\":\"0.1.7\",\"EventType\":"
           "\"Query\",\"EventSubType\":\"response\",\"EventResult\":\"Failure\","
           "\"EventResultDetails\":\"NXDOMAIN\"");
    HAS(l, "\"DnsQueryType\":65,\"DnsQueryTypeName\":\"HTTPS\",\"DnsResponseCode\":3,"
           "\"DnsResponseCodeName\":\"NXDOMAIN\",\"DnsResponseName\":\"1 . alpn=h2,h3 "
           "ech=AEX+DQ==,a|b=c\\\\d,2001:db8::1\",\"DnsFlags\":\"AA RD RA\","
           "\"DnsFlagsAuthoritative\":true,\"DnsFlagsTruncated\":false,"
           "\"DnsFlagsRecursionDesired\":true,\"DnsFlagsRecursionAvailable\":true,"
           "\"DnsFlagsAuthenticated\":false,\"DnsFlagsCheckingDisabled\":false,"
           "\"DnsFlagsZ\":false,\"TransactionIdHex\":\"14E5\"");
    HAS(l, "\"dns_answers\":[\"1 . alpn=h2,h3 ech=AEX+DQ==\",\"a|b=c\\\\d\",\"2001:db8::1\"],"
           "\"dns_rejected\":false,\"dns_ech\":true");
    LACKS(l, "NetworkSessionId");

    l = fmt_line(TW_FORMAT_CEF, &ctx_file, &ev, NULL);
    HAS(l, "|dns|DNS response|1|");
    HAS(l, " cs6=A1.LocalTo.Net. cs6Label=dnsQuery cn2=65 cn2Label=dnsQueryType cn3=3 "
           "cn3Label=dnsResponseCode ");
    HAS(l, " msg=NXDOMAIN 1 . alpn\\=h2,h3 ech\\=AEX+DQ\\=\\=,a|b\\=c\\\\d,2001:db8::1");
    HAS(l, " app=DNS ");
    LACKS(l, "dhost=");
}

/* A DNS message's oddities: native and ECS/ASIM's own fields as a list, CEF a key of its own;
 * no key at all without them. */
static void test_dns_oddities(void **state)
{
    (void)state;
    struct tw_event ev;
    const char *l;

    ev_dns(&ev);
    for (int f = TW_FORMAT_NATIVE; f <= TW_FORMAT_CEF; f++) {
        l = fmt_line((enum tw_format)f, &ctx_file, &ev, NULL);
        LACKS(l, "dns_oddities");
        LACKS(l, "DnsOddities");
    }
    ev.dns_odd = (1u << TW_DNS_ODD_FORWARD_POINTER) | (1u << TW_DNS_ODD_HEADER_POINTER);
    l = fmt_line(TW_FORMAT_NATIVE, &ctx_file, &ev, NULL);
    HAS(l, "\"direction\":\"start\",\"dns_oddities\":[\"forward_pointer\",\"header_pointer\"]");
    l = fmt_line(TW_FORMAT_ECS, &ctx_file, &ev, NULL);
    HAS(l, "\"dns_oddities\":[\"forward_pointer\",\"header_pointer\"]");
    l = fmt_line(TW_FORMAT_ASIM, &ctx_file, &ev, NULL);
    HAS(l, "\"dns_oddities\":[\"forward_pointer\",\"header_pointer\"]");
    l = fmt_line(TW_FORMAT_CEF, &ctx_file, &ev, NULL);
    HAS(l, " tunwatchDnsOddities=forward_pointer,header_pointer");
    ev.dns_odd = 1u << TW_DNS_ODD_HEADER_POINTER;
    l = fmt_line(TW_FORMAT_CEF, &ctx_file, &ev, NULL);
    HAS(l, " tunwatchDnsOddities=header_pointer");
    LACKS(l, "forward_pointer");
}

static void test_hostile(void **state)
{
    (void)state;
    struct tw_event ev;
    struct tw_rule_info r = rule;
    const char *l;

    ev_hostile(&ev);
    r.title = "T|i\\t=le\n\xff";
    r.id = "id|x";
    ev.ja4 = "j=a|4\\";
    ev.source = "eth\n0";

    static const char json_name[] =
        "\"a\\\"b\\\\c|d=e\\nf\\rg\\th\\u00ff\\u0000\xc3\xa9.localto.net\"";
    for (int f = 0; f < TW_FORMAT__COUNT; f++) {
        if (f == TW_FORMAT_CEF)
            continue;
        l = fmt_line((enum tw_format)f, &ctx_file, &ev, &r);
        HAS(l, json_name);
        HAS(l, "\"T|i\\\\t=le\\n\\u00ff\"");
        HAS(l, "\"j=a|4\\\\\"");
        HAS(l, "\"eth\\n0\"");
    }

    l = fmt_line(TW_FORMAT_CEF, &ctx_file, &ev, &r);
    /* Header: | and \ escaped; a line break or an invalid byte becomes U+FFFD; '=' stays. */
    HAS(l, "|id\\|x|T\\|i\\\\t=le\xef\xbf\xbd\xef\xbf\xbd|8|rt=");
    /* Extension: \ and = escaped, line breaks as \n and \r, | as is, any other control byte
     * and invalid UTF-8 as U+FFFD, valid UTF-8 kept. */
    HAS(l, " dhost=a\"b\\\\c|d\\=e\\nf\\rg\xef\xbf\xbdh\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9"
           ".localto.net cs1=a\"b");
    HAS(l, " cs2=j\\=a|4\\\\ cs2Label=ja4");
    HAS(l, " deviceInboundInterface=eth\\n0 ");
    HAS(l, " cs4=id|x cs4Label=ruleId");
    /* A value that ends in '|' is still followed by a space before the next key. */
    ev.raw = ev.norm = "x|";
    ev.raw_len = ev.norm_len = 2;
    l = fmt_line(TW_FORMAT_CEF, &ctx_file, &ev, &r);
    HAS(l, " dhost=x| cs1=x| cs1Label=tlsServerName ");
    ev.raw = ev.norm = hostile;
    ev.raw_len = ev.norm_len = HOSTILE_LEN;
    l = fmt_line(TW_FORMAT_CEF, &ctx_file, &ev, &r);
    /* Nothing else: the only '|' after the header are the values' own. */
    const char *ext = strstr(l, "|8|") + 3;
    assert_int_equal(count(ext, "|"), 4); /* dhost, cs1 (the name), cs2 (JA4), cs4 (rule) */
}

/* The longest name tunwatch keeps (TW_NAME_MAX - 1 bytes) fits a line in every format. */
static void test_long_name(void **state)
{
    (void)state;
    static char name[TW_NAME_MAX];
    struct tw_event ev;

    for (size_t i = 0; i < sizeof(name) - 1; i++)
        name[i] = (i % 64 == 63) ? '.' : (char)('a' + i % 26);
    name[sizeof(name) - 1] = '\0';
    ev_tls(&ev);
    ev.raw = ev.norm = name;
    ev.raw_len = ev.norm_len = strlen(name);
    for (int f = 0; f < TW_FORMAT__COUNT; f++) {
        const char *l = fmt_line((enum tw_format)f, &ctx_file, &ev, &rule);
        HAS(l, name);
        assert_true(strlen(l) < 16 * 1024);
    }
}

/* A TLS event whose name is as long as a name gets, of bytes each written as \u00XX: its event
 * part is past what a memo holds. */
static void ev_long_escaped(struct tw_event *ev)
{
    static char name[TW_NAME_MAX];

    memset(name, 0x01, sizeof(name) - 1);
    ev_tls(ev);
    ev->raw = ev->norm = name;
    ev->raw_len = ev->norm_len = sizeof(name) - 1;
}

/* Alert a formatted with memo, into a buffer of cap bytes: the line, or NULL when it did not
 * fit. */
static const char *memo_line(enum tw_format f, const struct tw_alert *a,
                             struct tw_format_memo *memo, size_t cap)
{
    static char buf[TW_LINE_MAX];
    struct tw_jb jb;

    tw_jb_init(&jb, buf, TW_MIN(cap, sizeof(buf) - 1));
    tw_format_alert(f, &jb, &ctx_file, a, memo);
    if (jb.overflow)
        return NULL;
    buf[jb.len] = '\0';
    return buf;
}

/*
 * Alerts of several rules on one event (the same ev_serial) written through one memo: every
 * line is the line written without it, for every format and kind of event (a long escaped
 * name's event part is past what a memo holds), through lines that did not fit and a change of
 * event; a memo holds nothing of a line that did not fit.
 */
static void test_memo(void **state)
{
    (void)state;
    static struct tw_format_memo memo;
    struct tw_rule_info rule2 = rule;
    void (*const kinds[])(struct tw_event *) = {ev_tls, ev_dns, ev_response, ev_hostile,
                                                ev_long_escaped};
    uint64_t serial = 0;

    rule2.id = "0b9d6a3c-2f41-4d7e-9a55-1c2b3d4e5f60";
    rule2.title = "Another rule";
    for (int f = 0; f < TW_FORMAT__COUNT; f++) {
        for (size_t k = 0; k < TW_ARRAY_SIZE(kinds); k++) {
            struct tw_event ev;
            kinds[k](&ev);
            serial++;
            for (int i = 0; i < 4; i++) {
                const struct tw_rule_info *r = i % 2 ? &rule2 : &rule;
                struct tw_alert a = {.rule = r, .ev = &ev, .ev_serial = serial};
                /* (Not fmt_line(): its lines go to the dump format_check.py reads.) */
                char *want = strdup(memo_line((enum tw_format)f, &a, NULL, SIZE_MAX));
                assert_non_null(want);
                if (i == 0 || i == 2) { /* cut short: reported, and the first not kept */
                    assert_null(memo_line((enum tw_format)f, &a, &memo, strlen(want) / 2));
                    if (i == 0)
                        assert_true(memo.serial != serial);
                }
                const char *got = memo_line((enum tw_format)f, &a, &memo, SIZE_MAX);
                assert_non_null(got);
                assert_string_equal(got, want);
                free(want);
            }
            if (f == TW_FORMAT_NATIVE)
                assert_int_equal(memo.serial == serial, kinds[k] != ev_long_escaped);
        }
    }
}

/* A line that does not fit is reported (overflow), never cut or written past the buffer. */
static void test_overflow(void **state)
{
    (void)state;
    static char buf[4096 + 16];
    struct tw_event ev;

    ev_tls(&ev);
    for (int f = 0; f < TW_FORMAT__COUNT; f++) {
        char *full = strdup(fmt_line((enum tw_format)f, &ctx_file, &ev, &rule));
        assert_non_null(full);
        for (size_t cap = 1; cap < 4096; cap += 37) {
            struct tw_jb jb;
            struct tw_alert a = {.rule = &rule, .ev = &ev};
            memset(buf, 0x5a, sizeof(buf));
            tw_jb_init(&jb, buf, cap);
            tw_format_alert((enum tw_format)f, &jb, &ctx_file, &a, NULL);
            assert_true(jb.len <= cap);
            for (size_t i = cap; i < cap + 16; i++)
                assert_int_equal((unsigned char)buf[i], 0x5a);
            /* It fits exactly when the whole line does, and is then the same line. */
            assert_int_equal(jb.overflow, cap < strlen(full));
            if (!jb.overflow)
                assert_memory_equal(buf, full, jb.len);
        }
        free(full);
    }
}

/* The output formats each line once per format its sinks take and hands each sink the lines
 * in its own format; it counts what it wrote. Two file sinks: one native with events, one CEF
 * with alerts only. */
static void test_output(void **state)
{
    (void)state;
    static struct tw_output o;
    static struct tw_sinkset set;
    static char mem[2][64 * 1024];
    char path[2][64], err[256];
    const char *query[2] = {"?events=all&format=native", "?format=cef"};
    struct tw_sink_defaults d = {.format = TW_FORMAT_ECS};
    struct tw_event ev;

    memset(&set, 0, sizeof(set));
    for (int i = 0; i < 2; i++) {
        char url[160];
        struct tw_sink_url u;
        snprintf(path[i], sizeof(path[i]), "/tmp/tw-format-out-%d-%d", (int)getpid(), i);
        snprintf(url, sizeof(url), "file://%s%s", path[i], query[i]);
        assert_int_equal(tw_sink_url_parse(url, &u, err, sizeof(err)), 0);
        assert_int_equal(tw_sink_open(&u, &d, &set.v[set.n], err, sizeof(err)), 0);
        enum tw_format f = tw_sink_format(set.v[set.n]);
        set.alert_formats |= 1u << f;
        if (tw_sink_wants_events(set.v[set.n])) {
            set.event_formats |= 1u << f;
            set.events = true;
        }
        set.n++;
    }
    assert_int_equal(set.alert_formats, (1u << TW_FORMAT_NATIVE) | (1u << TW_FORMAT_CEF));
    assert_int_equal(set.event_formats, 1u << TW_FORMAT_NATIVE);
    memset(&o, 0, sizeof(o));
    o.sinks = &set;
    o.fmt = &ctx_file;
    o.events = set.events;
    ev_tls(&ev);
    struct tw_alert a = {.rule = &rule, .ev = &ev};
    tw_output_event(&o, &ev);
    tw_output_alert(&o, &a);
    tw_output_alert(&o, &a);
    for (int i = 0; i < 2; i++) {
        uint64_t w[TW_LINE__COUNT], u[TW_LINE__COUNT];
        assert_int_equal(tw_sink_flush(set.v[i]), 0);
        assert_true(tw_sink_line_counts(set.v[i], w, u));
        assert_int_equal(w[TW_LINE_ALERT], 2);
        assert_int_equal(w[TW_LINE_EVENT], i == 0 ? 1 : 0);
        assert_int_equal(u[TW_LINE_ALERT] + u[TW_LINE_EVENT], 0);
        assert_int_equal(tw_sink_close(set.v[i], 0), 0);
        tw_sink_free(set.v[i]);
        FILE *fp = fopen(path[i], "r");
        assert_non_null(fp);
        size_t got = fread(mem[i], 1, sizeof(mem[i]) - 1, fp);
        fclose(fp);
        unlink(path[i]);
        mem[i][got] = '\0';
    }
    assert_int_equal(o.events_written, 1);
    assert_int_equal(o.lines_dropped, 0);
    assert_int_equal(count(mem[0], "\n"), 3);
    assert_int_equal(strncmp(mem[0], "{\"type\":\"event\"", 15), 0);
    HAS(mem[0], "\n{\"type\":\"alert\"");
    LACKS(mem[0], "CEF:0|");
    LACKS(mem[0], "@timestamp"); /* ?format= wins over the run's format */
    assert_int_equal(count(mem[1], "\n"), 2);
    assert_int_equal(strncmp(mem[1], "CEF:0|tunwatch|", 15), 0);
    LACKS(mem[1], "{\"type\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),     cmocka_unit_test(test_sensor_id),
        cmocka_unit_test(test_native),    cmocka_unit_test(test_ecs),
        cmocka_unit_test(test_asim),      cmocka_unit_test(test_cef),
        cmocka_unit_test(test_dns_response),
        cmocka_unit_test(test_dns_oddities),
        cmocka_unit_test(test_hostile),   cmocka_unit_test(test_long_name),
        cmocka_unit_test(test_overflow),  cmocka_unit_test(test_memo),
        cmocka_unit_test(test_output),
    };
    return tw_run_tests(tests, setup, teardown);
}
