/* SPDX-License-Identifier: MIT */
/*
 * Suffix trie over hostnames: one immutable structure answering "which keys
 * are a suffix of this name, and which keys equal it" in one walk over the
 * name, so the cost of a lookup depends on the length of the name and the
 * number of hits, not on the number of keys.
 *
 * Keys are stored reversed and ASCII-lowercased; lookups fold ASCII case as
 * they walk. A suffix key k matches a name n when n ends with k as a plain
 * byte string (k = "trycloudflare.com" matches "xtrycloudflare.com"; k =
 * ".localto.net" does not match "localto.net"). An exact key matches only the
 * whole name. Keys and names may hold any bytes, including NUL.
 *
 * Built once by tw_trie_build() and never modified afterwards: any number of
 * threads may call tw_trie_match() on the same trie without locking.
 */
#ifndef TUNWATCH_TRIE_H
#define TUNWATCH_TRIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tunwatch/base/common.h"

struct tw_trie;

struct tw_trie_key {
    const char *s; /* key bytes, need not be NUL-terminated; copied by the build */
    size_t len;
    bool suffix;    /* true: "name ends with s"; false: "name equals s" */
    uint32_t value; /* reported on a match (e.g. a rule index) */
};

/* Builds a trie from n keys (n may be 0). Duplicate (key, kind, value)
 * triples are stored once. Returns NULL if memory ran out. */
struct tw_trie *tw_trie_build(const struct tw_trie_key *keys, size_t n);

void tw_trie_free(struct tw_trie *t);

/*
 * Looks up name[0..len). The values of all matching keys are written to
 * out[0..cap): suffix keys from the shortest to the longest, then exact keys.
 * Returns the number of matches, which may exceed cap (only the first cap are
 * written; the caller can tell it missed some). Does not allocate.
 */
size_t tw_trie_match(const struct tw_trie *t, const char *name, size_t len, uint32_t *out,
                     size_t cap);

/* Bytes held by the built trie, and its node count (for stats and tests). */
size_t tw_trie_memory(const struct tw_trie *t);
size_t tw_trie_nodes(const struct tw_trie *t);

struct tw_blob_w;
struct tw_blob_r;
/* The built trie in flat form (tw_blob_w), and back: NULL when what r holds is not a trie
 * whose values are all below max_value (r is then bad) or on no memory. The restored trie
 * reads its arrays where r's buffer holds them, which must outlive it. */
void tw_trie_save(const struct tw_trie *t, struct tw_blob_w *w);
struct tw_trie *tw_trie_restore(struct tw_blob_r *r, uint32_t max_value);

#endif /* TUNWATCH_TRIE_H */
