/* SPDX-License-Identifier: MIT */
/*
 * The parts of a sink its kinds share (sink.c runs them): the ops a network kind provides to
 * the sink's thread, and the sink itself.
 */
#ifndef TUNWATCH_OUTPUT_SINK_IMPL_H
#define TUNWATCH_OUTPUT_SINK_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "tunwatch/output/lineq.h"
#include "tunwatch/output/output.h"
#include "tunwatch/output/sink.h"
#include "tunwatch/output/spool.h"

/* What a send did. */
enum tw_send_result {
    TW_SEND_OK = 0,      /* delivered (or, for kafka, handed to librdkafka) */
    TW_SEND_REFUSED = 1, /* the collector said no for now (full): retried after a pause */
    TW_SEND_BROKEN = 2,  /* the connection is gone: reconnect, then retried */
    TW_SEND_REJECT = 3,  /* can never be sent (too large for a datagram): counted dropped */
};

struct tw_sink_ops {
    /* Sets up kind state from s->u at start-up (main thread): 0, or TW_E* with err. */
    int (*init)(struct tw_sink *s, char *err, size_t errlen);
    /* Connects (sink thread). 0, or TW_EIO with err. */
    int (*connect)(struct tw_sink *s, char *err, size_t errlen);
    enum tw_send_result (*send)(struct tw_sink *s, const struct tw_rec *r, char *err,
                                size_t errlen);
    /* Serves asynchronous completions (kafka delivery reports); may be NULL. */
    void (*poll)(struct tw_sink *s, int timeout_ms);
    /* At close: hands over what the kind holds itself, for at most secs; may be NULL. */
    void (*drain)(struct tw_sink *s, double secs);
    void (*disconnect)(struct tw_sink *s);
    void (*destroy)(struct tw_sink *s);
    bool async; /* sends are acknowledged later, through tw_sink_acked() */
};

extern const struct tw_sink_ops tw_sink_syslog_ops, tw_sink_kafka_ops, tw_sink_redis_ops;

struct tw_sink {
    struct tw_sink_url u;
    const struct tw_sink_ops *ops; /* NULL: a file */
    void *priv;                    /* the kind's state */
    bool events;
    enum tw_format format; /* of the lines it takes */
    /* file */
    struct tw_outfile file;
    bool file_open;
    /* network */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* everything below */
    pthread_cond_t cond;
    struct tw_lineq q;
    struct tw_spool *spool;
    bool stop, closing;
    double deadline; /* monotonic seconds */
    double backoff_max;
    struct tw_sink_stats st;
    bool spool_error_said;
    atomic_bool stopping; /* read without the lock by kinds that wait (kafka) */
};

/* File sinks (sink_file.c): opens s->u's file (or stdout); 0 or TW_E* with err. */
int tw_sink_file_open(struct tw_sink *s, const struct tw_sink_defaults *d, char *err,
                      size_t errlen);
/* Writes line[0..len] (the '\n' included) whole; errors are sticky in s->file.err. */
void tw_sink_file_write(struct tw_sink *s, const char *line, size_t len, enum tw_line_kind kind);

/* For async kinds: n records delivered. */
void tw_sink_acked(struct tw_sink *s, uint64_t n);
/* For async kinds: r was not delivered (an error, or purged at close): to the spool, else
 * dropped. An error counts in failed; a record purged at close is left. */
void tw_sink_nacked(struct tw_sink *s, const struct tw_rec *r, const char *why, bool purged);
double tw_sink_now(void);

#endif /* TUNWATCH_OUTPUT_SINK_IMPL_H */
