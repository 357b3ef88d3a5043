/* SPDX-License-Identifier: MIT */
/*
 * Redis sink (hiredis): each line RPUSHed to a list, XADDed to a stream (field "message",
 * trimmed with MAXLEN ~ when ?maxlen= is given) or PUBLISHed on a channel.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_impl.h"
#include "tunwatch/base/common.h"

#define TIMEOUT_SECS 5

static int redis_init(struct tw_sink *s, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    s->priv = NULL; /* the redisContext, once connected */
    return 0;
}

/* Runs one command given as argv; the reply, or NULL with err set (connection broken). */
static redisReply *command(redisContext *c, int argc, const char **argv, const size_t *lens,
                           char *err, size_t errlen)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);

    if (r == NULL)
        snprintf(err, errlen, "%s", c->errstr[0] != '\0' ? c->errstr : "connection lost");
    return r;
}

static int redis_connect(struct tw_sink *s, char *err, size_t errlen)
{
    struct timeval tv = {.tv_sec = TIMEOUT_SECS};
    redisContext *c = redisConnectWithTimeout(s->u.host, atoi(s->u.port), tv);
    redisReply *r;

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return TW_ENOMEM;
    }
    if (c->err != 0) {
        snprintf(err, errlen, "connecting to %s port %s: %s", s->u.host, s->u.port, c->errstr);
        redisFree(c);
        return TW_EIO;
    }
    redisSetTimeout(c, tv);
    if (s->u.password != NULL) {
        const char *argv[] = {"AUTH", s->u.password};
        size_t lens[] = {4, strlen(s->u.password)};
        r = command(c, 2, argv, lens, err, errlen);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            if (r != NULL)
                snprintf(err, errlen, "AUTH: %.*s", (int)r->len, r->str);
            freeReplyObject(r);
            redisFree(c);
            return TW_EIO;
        }
        freeReplyObject(r);
    }
    if (s->u.db >= 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", s->u.db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, strlen(db)};
        r = command(c, 2, argv, lens, err, errlen);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            if (r != NULL)
                snprintf(err, errlen, "SELECT %s: %.*s", db, (int)r->len, r->str);
            freeReplyObject(r);
            redisFree(c);
            return TW_EIO;
        }
        freeReplyObject(r);
    }
    s->priv = c;
    return 0;
}

static enum tw_send_result redis_send(struct tw_sink *s, const struct tw_rec *rec, char *err,
                                      size_t errlen)
{
    redisContext *c = s->priv;
    const char *argv[8];
    size_t lens[8];
    int argc = 0;
    char maxlen[24];
    redisReply *r;

#define ARG(p, n)                                                                                \
    do {                                                                                       \
        argv[argc] = (p);                                                                      \
        lens[argc] = (n);                                                                      \
        argc++;                                                                                \
    } while (0)
    switch (s->u.mode) {
    case TW_REDIS_LIST:
        ARG("RPUSH", 5);
        ARG(s->u.topic, strlen(s->u.topic));
        break;
    case TW_REDIS_STREAM:
        ARG("XADD", 4);
        ARG(s->u.topic, strlen(s->u.topic));
        if (s->u.maxlen > 0) {
            snprintf(maxlen, sizeof(maxlen), "%llu", (unsigned long long)s->u.maxlen);
            ARG("MAXLEN", 6);
            ARG("~", 1);
            ARG(maxlen, strlen(maxlen));
        }
        ARG("*", 1);
        ARG("message", 7);
        break;
    case TW_REDIS_PUBLISH:
        ARG("PUBLISH", 7);
        ARG(s->u.topic, strlen(s->u.topic));
        break;
    }
    ARG(rec->line, rec->len);
#undef ARG
    r = command(c, argc, argv, lens, err, errlen);
    if (r == NULL)
        return TW_SEND_BROKEN;
    if (r->type == REDIS_REPLY_ERROR) {
        /* OOM (maxmemory), LOADING, READONLY, WRONGTYPE...: said, counted, retried. */
        snprintf(err, errlen, "%s: %.*s", argv[0], (int)TW_MIN(r->len, 200u), r->str);
        freeReplyObject(r);
        return TW_SEND_REFUSED;
    }
    freeReplyObject(r);
    return TW_SEND_OK;
}

static void redis_disconnect(struct tw_sink *s)
{
    if (s->priv != NULL)
        redisFree(s->priv);
    s->priv = NULL;
}

const struct tw_sink_ops tw_sink_redis_ops = {
    .init = redis_init,
    .connect = redis_connect,
    .send = redis_send,
    .disconnect = redis_disconnect,
    .destroy = redis_disconnect,
};
