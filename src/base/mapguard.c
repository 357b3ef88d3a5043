/* SPDX-License-Identifier: MIT */
/* Read-only file mappings guarded against the file shrinking under them (see mapguard.h). */
#include "tunwatch/base/mapguard.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLOTS 64

/* The mappings a SIGBUS may hit: an entry is claimed (used), filled, then published (base). */
static struct {
    _Atomic uintptr_t base;
    _Atomic size_t len;
    atomic_bool bad;
    atomic_bool used;
} map_reg[SLOTS];
static struct sigaction sigbus_prev;
static size_t sigbus_page;
static pthread_mutex_t sigbus_lock = PTHREAD_MUTEX_INITIALIZER;

static void sigbus(int sig, siginfo_t *si, void *uctx)
{
    uintptr_t a = (uintptr_t)si->si_addr;

    (void)sig;
    (void)uctx;
    for (unsigned i = 0; i < SLOTS; i++) {
        uintptr_t b = atomic_load_explicit(&map_reg[i].base, memory_order_acquire);
        if (b == 0 || a - b >= atomic_load_explicit(&map_reg[i].len, memory_order_relaxed))
            continue;
        void *pg = (void *)(a & ~(uintptr_t)(sigbus_page - 1));
        if (mmap(pg, sigbus_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
            MAP_FAILED)
            break;
        atomic_store_explicit(&map_reg[i].bad, true, memory_order_release);
        return;
    }
    /* Not a guarded mapping: the fault comes again, to what was there before. */
    sigaction(SIGBUS, &sigbus_prev, NULL);
}

/* Makes sigbus() the SIGBUS handler, unless it is: installed with the first guard, and
 * again if something replaced it since (what it replaced is where other faults go). */
static bool sigbus_install(void)
{
    struct sigaction sa, cur;
    bool ok = true;

    pthread_mutex_lock(&sigbus_lock);
    if (sigaction(SIGBUS, NULL, &cur) != 0) {
        ok = false;
    } else if (!(cur.sa_flags & SA_SIGINFO) || cur.sa_sigaction != sigbus) {
        long pg = sysconf(_SC_PAGESIZE);
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = sigbus;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigbus_page = pg > 0 ? (size_t)pg : 4096;
        ok = sigaction(SIGBUS, &sa, &sigbus_prev) == 0;
    }
    pthread_mutex_unlock(&sigbus_lock);
    return ok;
}

int tw_mapguard_add(const void *base, size_t len)
{
    if (!sigbus_install())
        return -1;
    for (int i = 0; i < SLOTS; i++) {
        bool no = false;
        if (!atomic_compare_exchange_strong(&map_reg[i].used, &no, true))
            continue;
        atomic_store_explicit(&map_reg[i].len, len, memory_order_relaxed);
        atomic_store_explicit(&map_reg[i].bad, false, memory_order_relaxed);
        atomic_store_explicit(&map_reg[i].base, (uintptr_t)base, memory_order_release);
        return i;
    }
    return -1;
}

void tw_mapguard_remove(int i)
{
    atomic_store_explicit(&map_reg[i].base, 0, memory_order_release);
    atomic_store_explicit(&map_reg[i].used, false, memory_order_release);
}

bool tw_mapguard_failed(int i)
{
    return atomic_load_explicit(&map_reg[i].bad, memory_order_acquire);
}

const atomic_bool *tw_mapguard_flag(int i)
{
    return &map_reg[i].bad;
}

void tw_mapguard_set_failed(int i)
{
    atomic_store_explicit(&map_reg[i].bad, true, memory_order_release);
}

size_t tw_mapguard_page(void)
{
    long pg = sysconf(_SC_PAGESIZE);

    return pg > 0 ? (size_t)pg : 4096;
}
