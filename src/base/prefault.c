/* SPDX-License-Identifier: MIT */
#include "tunwatch/base/prefault.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* Mapped a huge page a call: the tables are in huge pages, and a call is as long as the
 * thread holds up a stop. */
#define CHUNK ((size_t)2 << 20)
/* With every region mapped as far as it should be for now: looked at again after this. */
#define IDLE_NS 500000L

struct region {
    uint8_t *p;
    size_t len;  /* the thread's: cut short when the kernel refuses a part */
    size_t done; /* [p, p + done) is mapped */
    const uint32_t *count;
    size_t elem, ahead;
};

struct tw_prefault {
    pthread_t thread;
    bool started;
    atomic_bool stop;
    unsigned n;
    struct region r[TW_PREFAULT_REGIONS];
};

struct tw_prefault *tw_prefault_new(void)
{
    struct tw_prefault *pf = calloc(1, sizeof(*pf));

    if (pf != NULL)
        atomic_init(&pf->stop, false);
    return pf;
}

int tw_prefault_add(struct tw_prefault *pf, void *p, size_t len, const uint32_t *count,
                    size_t elem, size_t ahead)
{
    if (p == NULL || len == 0)
        return 0;
    if (pf->n == TW_PREFAULT_REGIONS)
        return TW_ENOMEM;
    pf->r[pf->n++] = (struct region){
        .p = p, .len = len, .count = count, .elem = elem, .ahead = ahead};
    return 0;
}

/* How far region r should be mapped now: whole, or `ahead` past its elements in use, in
 * whole chunks. */
static size_t goal_of(const struct region *r)
{
    if (r->count == NULL)
        return r->len;
    /* (count < 2^32, elem and ahead a table's: no overflow.) */
    size_t goal = (size_t)__atomic_load_n(r->count, __ATOMIC_RELAXED) * r->elem + r->ahead;
    return TW_MIN((goal + CHUNK - 1) & ~(CHUNK - 1), r->len);
}

static void *prefault_main(void *arg)
{
    struct tw_prefault *pf = arg;
    const struct sched_param idle = {.sched_priority = 0};

    /* Only what no other thread wants of a CPU: a packet thread is never kept waiting. */
    (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
    for (;;) {
        bool more = false, mapped = false;
        /* One chunk of each region a round, so that none waits for a large one. */
        for (unsigned i = 0; i < pf->n; i++) {
            struct region *r = &pf->r[i];
            if (atomic_load_explicit(&pf->stop, memory_order_relaxed))
                return NULL;
            size_t goal = goal_of(r);
            if (r->done < goal) {
                size_t n = TW_MIN(goal - r->done, CHUNK);
                if (madvise(r->p + r->done, n, MADV_POPULATE_WRITE) == 0) {
                    r->done += n;
                } else if (errno == EINVAL) {
                    return NULL; /* a kernel without it: the pages fault in as they are used */
                } else if (errno != EINTR && errno != EAGAIN) {
                    r->len = r->done; /* out of memory: the rest faults in as used, if it can */
                }
                mapped = true;
            }
            if (r->done < r->len)
                more = true;
        }
        if (!more)
            return NULL;
        if (!mapped) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = IDLE_NS};
            nanosleep(&ts, NULL);
        }
    }
}

int tw_prefault_start(struct tw_prefault *pf)
{
    if (pf->n == 0 || pf->started)
        return 0;
    int rc = pthread_create(&pf->thread, NULL, prefault_main, pf);
    if (rc == 0)
        pf->started = true;
    return rc;
}

void tw_prefault_free(struct tw_prefault *pf)
{
    if (pf == NULL)
        return;
    if (pf->started) {
        atomic_store_explicit(&pf->stop, true, memory_order_relaxed);
        pthread_join(pf->thread, NULL);
    }
    free(pf);
}
