/* SPDX-License-Identifier: MIT */
/*
 * Kafka sink (librdkafka): each line produced to the topic with the event's source address
 * (or Community ID) as key, so one host's events stay in one partition. librdkafka connects,
 * reconnects and retries by itself; a line counts as sent when its delivery report says so.
 * A failed report (message.timeout.ms passed, or purged at close) sends the line to the
 * spool, else it is counted dropped.
 */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_impl.h"
#include "tunwatch/base/common.h"

struct kafka_priv {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    bool down;   /* every broker down, said once */
    bool was_up; /* a delivery succeeded: a later loss counts as a reconnect */
    _Atomic double last_log; /* librdkafka's own messages: at most one every LOG_EVERY s */
};

#define LOG_EVERY 30.0

/* The record's kind and severity ride in the message's opaque. */
static void *rec_opaque(const struct tw_rec *r)
{
    return (void *)(uintptr_t)(0x100u | (r->alert ? 8u : 0u) | (r->severity & 7u));
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct tw_sink *s = opaque;
    uintptr_t o = (uintptr_t)m->_private;

    (void)rk;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        struct kafka_priv *p = s->priv;
        p->was_up = true; /* the sink thread serves reports: no other writer */
        tw_sink_acked(s, 1);
        return;
    }
    struct tw_rec r = {.line = m->payload,
                       .len = m->len,
                       .key = m->key,
                       .key_len = m->key_len,
                       .alert = (o & 8u) != 0,
                       .severity = (uint8_t)(o & 7u)};
    tw_sink_nacked(s, &r, rd_kafka_err2str(m->err),
                   m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
                       m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct tw_sink *s = opaque;
    struct kafka_priv *p = s->priv;

    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        pthread_mutex_lock(&s->lock);
        if (!p->down) {
            if (p->was_up)
                s->st.reconnects++;
            fprintf(stderr, "tunwatch: %s: %s (librdkafka retries)\n", s->u.text, reason);
        }
        p->down = true;
        s->st.connected = false;
        pthread_mutex_unlock(&s->lock);
    }
}

/* librdkafka's log lines (connection failures every second while a broker is down...): said
 * with the sink's name, warnings and worse only, at most one every LOG_EVERY seconds. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct tw_sink *s = rd_kafka_opaque(rk);
    struct kafka_priv *p = s != NULL ? s->priv : NULL;
    double now = tw_sink_now();

    if (level > 4 || p == NULL)
        return;
    double last = atomic_load(&p->last_log);
    if (last > 0 && now - last < LOG_EVERY)
        return;
    atomic_store(&p->last_log, now);
    fprintf(stderr, "tunwatch: %s: librdkafka %s: %s\n", s->u.text, fac, buf);
}

static int kafka_init(struct tw_sink *s, char *err, size_t errlen)
{
    struct kafka_priv *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char kerr[512];

    if (p == NULL || conf == NULL) {
        free(p);
        if (conf != NULL)
            rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "out of memory");
        return TW_ENOMEM;
    }
    if (rd_kafka_conf_set(conf, "bootstrap.servers", s->u.brokers, kerr, sizeof(kerr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "client.id", "tunwatch", kerr, sizeof(kerr)) !=
            RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "%s", kerr);
        goto fail;
    }
    for (size_t i = 0; i < s->u.n_props; i++)
        if (rd_kafka_conf_set(conf, s->u.props[i].name, s->u.props[i].value, kerr,
                              sizeof(kerr)) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "librdkafka property '%s': %s", s->u.props[i].name, kerr);
            goto fail;
        }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_opaque(conf, s);
    s->priv = p;
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (p->rk == NULL) {
        snprintf(err, errlen, "%s", kerr);
        s->priv = NULL;
        free(p);
        rd_kafka_conf_destroy(conf);
        return TW_EINVAL;
    }
    p->rkt = rd_kafka_topic_new(p->rk, s->u.topic, NULL);
    if (p->rkt == NULL) {
        snprintf(err, errlen, "topic %s: %s", s->u.topic, rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(p->rk);
        s->priv = NULL;
        free(p);
        return TW_EINVAL;
    }
    return 0;
fail:
    rd_kafka_conf_destroy(conf);
    free(p);
    return TW_EINVAL;
}

static int kafka_connect(struct tw_sink *s, char *err, size_t errlen)
{
    (void)s;
    (void)err;
    (void)errlen;
    return 0; /* librdkafka connects (and reconnects) by itself */
}

static enum tw_send_result kafka_send(struct tw_sink *s, const struct tw_rec *r, char *err,
                                      size_t errlen)
{
    struct kafka_priv *p = s->priv;

    for (;;) {
        if (rd_kafka_produce(p->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                             (void *)r->line, r->len, r->key, r->key_len, rec_opaque(r)) == 0) {
            if (p->down) {
                pthread_mutex_lock(&s->lock);
                p->down = false;
                pthread_mutex_unlock(&s->lock);
            }
            return TW_SEND_OK;
        }
        rd_kafka_resp_err_t e = rd_kafka_last_error();
        snprintf(err, errlen, "produce: %s", rd_kafka_err2str(e));
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* librdkafka's own queue is full: serve reports, wait, try again. */
            rd_kafka_poll(p->rk, 100);
            if (atomic_load(&s->stopping) && tw_sink_now() >= s->deadline)
                return TW_SEND_REFUSED;
            continue;
        }
        if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
            return TW_SEND_REJECT;
        return TW_SEND_REFUSED;
    }
}

static void kafka_poll(struct tw_sink *s, int timeout_ms)
{
    struct kafka_priv *p = s->priv;
    rd_kafka_poll(p->rk, timeout_ms);
}

static void kafka_drain(struct tw_sink *s, double secs)
{
    struct kafka_priv *p = s->priv;

    rd_kafka_flush(p->rk, (int)(secs * 1000));
    if (rd_kafka_outq_len(p->rk) > 0) {
        /* What is still queued or in flight is reported undelivered: spooled, or left. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        for (int i = 0; i < 50 && rd_kafka_outq_len(p->rk) > 0; i++)
            rd_kafka_poll(p->rk, 10);
    }
}

static void kafka_disconnect(struct tw_sink *s)
{
    (void)s;
}

static void kafka_destroy(struct tw_sink *s)
{
    struct kafka_priv *p = s->priv;

    if (p == NULL)
        return;
    rd_kafka_topic_destroy(p->rkt);
    rd_kafka_destroy(p->rk);
    free(p);
    s->priv = NULL;
}

const struct tw_sink_ops tw_sink_kafka_ops = {
    .init = kafka_init,
    .connect = kafka_connect,
    .send = kafka_send,
    .poll = kafka_poll,
    .drain = kafka_drain,
    .disconnect = kafka_disconnect,
    .destroy = kafka_destroy,
    .async = true,
};
