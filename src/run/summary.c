/* SPDX-License-Identifier: MIT */
/*
 * Reports on stderr: the progress line of a replay and the summary at the end of a run.
 */
#include "sensor_impl.h"

#include "tunwatch/match/rules.h"

void progress(struct sensor *s)
{
    struct tw_merge_stats ms;
    struct totals t;
    double el = now_mono() - s->t0, share = 0, eta = 0;

    replay_merge_stats(s, &ms);
    gather(s, &t);
    if (ms.bytes_total > 0) {
        share = (double)ms.bytes_done / (double)ms.bytes_total;
        if (share > 0)
            eta = el / share - el;
    }
    fprintf(stderr, "\r%5.1f%%  %8.0f pkt/s  %llu alerts  %4.0fs left ", share * 100,
            el > 0 ? (double)t.es.packets / el : 0.0, (unsigned long long)t.alerts, eta);
}

void summary(struct sensor *s, double secs)
{
    struct totals t;
    struct tw_ruleset_stats rs = {0};
    struct tw_counter an[128];
    const struct tw_engine_stats *st = &t.es;
    const struct tw_flow_table_stats *fs = &t.fs;
    const struct tw_decode_stats *d = &t.es.decode;
    unsigned printed = 0;
    size_t n;

    gather(s, &t);
    if (s->matchers != NULL)
        tw_ruleset_get_stats(s->matchers->rules, &rs);
    fprintf(stderr,
            "tunwatch: %llu packets, %llu bytes in %.3f s (%.0f packets/s, %.3f Gbit/s)\n",
            (unsigned long long)st->packets, (unsigned long long)st->bytes, secs,
            secs > 0 ? (double)st->packets / secs : 0.0,
            secs > 0 ? (double)st->bytes * 8 / secs / 1e9 : 0.0);
    if (s->in.merge != NULL) {
        struct tw_merge_stats ms;
        replay_merge_stats(s, &ms);
        fprintf(stderr, "  files: %llu read, %llu failed while read, %u skipped\n",
                (unsigned long long)ms.files_done, (unsigned long long)ms.files_failed,
                s->in.skipped);
    }
    for (size_t i = 0; s->live && i < s->n_src; i++) {
        struct tw_capture_stats cs;
        source_stats(s, i, &cs);
        fprintf(stderr, "  capture %s: %llu frames, kernel received %llu, dropped %llu, "
                        "interface dropped %llu%s%s%s\n",
                s->src[i].name, (unsigned long long)cs.frames, (unsigned long long)cs.received,
                (unsigned long long)cs.dropped, (unsigned long long)cs.ifdropped,
                cs.reader != NULL ? " (" : "", cs.reader != NULL ? cs.reader : "",
                cs.reader != NULL ? ")" : "");
    }
    fprintf(stderr,
            "  rules: %zu loaded, %zu skipped, %zu files with errors; %llu reloads, %llu failed\n"
            "  decode: eth %llu vlan %llu sll %llu raw %llu null/loop %llu tunnel %llu "
            "ipv4 %llu ipv6 %llu tcp %llu (pure ack %llu) udp %llu; bypassed %llu\n",
            rs.loaded, rs.skipped, rs.errors, (unsigned long long)s->reloads,
            (unsigned long long)s->reload_failures, (unsigned long long)d->eth,
            (unsigned long long)d->vlan, (unsigned long long)d->sll, (unsigned long long)d->raw,
            (unsigned long long)d->null_loop, (unsigned long long)d->tunnel,
            (unsigned long long)d->ipv4, (unsigned long long)d->ipv6, (unsigned long long)d->tcp,
            (unsigned long long)st->tcp_pure_ack, (unsigned long long)d->udp,
            (unsigned long long)st->bypassed);
    fprintf(stderr,
            "  names: %llu dns_query %llu network_connection (dns requests %llu, responses %llu; "
            "tls hellos %llu, with sni %llu, without %llu, ech %llu, reassembled %llu, "
            "after a preamble %llu, second hellos %llu; quic initials %llu, hellos %llu, "
            "with sni %llu; "
            "http connect %llu, proxy protocol %llu)\n"
            "  alerts: %llu (excluded %llu, suppressed %llu)  events written: %llu\n"
            "  flows: %llu created, %u active of %u, %llu evicted (%llu holding part of a name), "
            "%llu expired, %llu mid-stream (%llu picked up from their first bytes; %llu sides "
            "past their TLS handshake, not held), "
            "%llu port reuse; reassembly buffers high water %u\n",
            (unsigned long long)t.events_seen[TW_CAT_DNS_QUERY],
            (unsigned long long)t.events_seen[TW_CAT_NETWORK_CONNECTION],
            (unsigned long long)st->dns_queries, (unsigned long long)st->dns_responses,
            (unsigned long long)st->tls_hellos, (unsigned long long)st->tls_sni,
            (unsigned long long)st->tls_no_sni, (unsigned long long)st->tls_ech,
            (unsigned long long)st->tls_multi_segment, (unsigned long long)st->tls_after_preamble,
            (unsigned long long)st->tls_hello_retry,
            (unsigned long long)st->quic.initials, (unsigned long long)st->quic_hellos,
            (unsigned long long)st->quic_sni, (unsigned long long)st->http_connect, (unsigned long long)st->proxy_protocol,
            (unsigned long long)t.alerts, (unsigned long long)t.excluded,
            (unsigned long long)t.suppressed, (unsigned long long)t.events_written,
            (unsigned long long)fs->created, fs->active, fs->capacity,
            (unsigned long long)fs->evicted, (unsigned long long)fs->evicted_holding,
            (unsigned long long)fs->expired,
            (unsigned long long)st->midstream, (unsigned long long)st->midstream_pickup,
            (unsigned long long)st->midstream_past_start,
            (unsigned long long)st->tcp_port_reuse,
            t.stream_high_water);
    fprintf(stderr,
            "  ip reassembly: %llu fragments (ipv4 %llu, ipv6 %llu), %llu datagrams reassembled; "
            "checksum_validation: %s (%llu checked, %llu offload partial, %llu unverified)\n",
            (unsigned long long)st->prep.defrag.fragments,
            (unsigned long long)st->prep.defrag.ip4_fragments,
            (unsigned long long)st->prep.defrag.ip6_fragments,
            (unsigned long long)st->prep.defrag.reassembled,
            tw_prep_checksum_state(s->cfg->prep.checksums, &st->prep),
            (unsigned long long)st->prep.checksum_checked,
            (unsigned long long)st->prep.checksum_partial,
            (unsigned long long)st->prep.checksum_unverified);
    if (t.lines_unwritten[TW_LINE_ALERT] + t.lines_unwritten[TW_LINE_EVENT] > 0)
        fprintf(stderr,
                "  output: %llu alert lines and %llu event lines written, %llu alert lines and "
                "%llu event lines not written (write error)\n",
                (unsigned long long)t.alerts_written, (unsigned long long)t.events_written,
                (unsigned long long)t.lines_unwritten[TW_LINE_ALERT],
                (unsigned long long)t.lines_unwritten[TW_LINE_EVENT]);
    if (s->anscache != NULL) {
        struct tw_anscache_stats as;
        tw_anscache_get_stats(s->anscache, &as);
        fprintf(stderr,
                "  dns answer cache: %u of %u entries, %llu learnt, %llu hits, %llu misses, "
                "%llu expired, %llu evicted, %llu names dropped (over %u for one client and "
                "address), %llu refreshed (the same answer again), %llu refused (a name too "
                "long), %llu stored without the whole CNAME chain; %llu flows named from it\n",
                as.entries, as.capacity, (unsigned long long)st->dns_answers_learnt,
                (unsigned long long)as.hits, (unsigned long long)as.misses,
                (unsigned long long)as.expired, (unsigned long long)as.evicted,
                (unsigned long long)as.names_dropped, TW_ANSCACHE_NAMES_MAX,
                (unsigned long long)as.replaced, (unsigned long long)as.refused,
                (unsigned long long)as.truncated, (unsigned long long)st->answer_named_flows);
    }
    fprintf(stderr,
            "  dns responses: %llu dns events (%llu with ech in an HTTPS/SVCB answer), %llu not "
            "made into events (no rule of category dns, no output of every event)\n",
            (unsigned long long)st->dns_response_events, (unsigned long long)st->dns_https_ech,
            (unsigned long long)st->dns_response_unread);
    if (s->attrib != NULL) {
        struct tw_attrib_stats ast;
        tw_attrib_get_stats(s->attrib, &ast);
        fprintf(stderr,
                "  processes: %llu events attributed, %llu unattributed, %llu not local, "
                "%llu written unattributed (queue full)",
                (unsigned long long)ast.attributed, (unsigned long long)ast.unattributed,
                (unsigned long long)ast.not_local,
                (unsigned long long)atomic_load(&s->attr_queue_full));
        const char *sep = ";";
        for (unsigned r = 1; r < TW_PM__COUNT; r++) {
            if (ast.by_reason[r] == 0)
                continue;
            fprintf(stderr, "%s %s %llu", sep, tw_procmap_reason_name((enum tw_procmap_reason)r),
                    (unsigned long long)ast.by_reason[r]);
            sep = ",";
        }
        fprintf(stderr, "\n");
    }
    /* Frames that are simply not for us (ARP, ICMP, ...) apart from real anomalies. The
     * decode reasons come first in tw_engine_anomalies(), in enum order. */
    n = tw_engine_anomalies(st, an, TW_ARRAY_SIZE(an));
    fprintf(stderr, "  not inspected:");
    for (unsigned r = 0; r < TW_DR__COUNT && r < n; r++) {
        if (an[r].value == 0 || !tw_decode_reason_is_benign((enum tw_decode_reason)r))
            continue;
        fprintf(stderr, " %s %llu", an[r].name, (unsigned long long)an[r].value);
        printed++;
    }
    if (printed == 0)
        fprintf(stderr, " none");
    printed = 0;
    fprintf(stderr, "\n  skipped/anomalies:");
    for (size_t i = 0; i < n && i < TW_ARRAY_SIZE(an); i++) {
        if (an[i].value == 0 ||
            (i < TW_DR__COUNT && tw_decode_reason_is_benign((enum tw_decode_reason)i)))
            continue;
        fprintf(stderr, " %s %llu", an[i].name, (unsigned long long)an[i].value);
        printed++;
    }
    if (t.lines_dropped != 0) {
        fprintf(stderr, " output_lines_dropped %llu", (unsigned long long)t.lines_dropped);
        printed++;
    }
    if (printed == 0)
        fprintf(stderr, " none");
    fprintf(stderr, "\n");
    sinks_summary(s);
}
