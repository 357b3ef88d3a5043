/* SPDX-License-Identifier: MIT */
/* Per-run random seeds for the hashes that key on packet data. */
#ifndef TUNWATCH_SEED_H
#define TUNWATCH_SEED_H

#include <stdint.h>

/*
 * A seed for a hash over attacker-chosen input (flows, answers), so that crafted traffic cannot
 * aim at one bucket (Suricata's hash_rand). From getrandom(2); if the kernel has no entropy to
 * give yet, from the clock and salt (an address of the caller's, so two tables differ).
 */
uint64_t tw_random_seed(const void *salt);

#endif /* TUNWATCH_SEED_H */
