/* SPDX-License-Identifier: MIT */
/*
 * Aho-Corasick multi-pattern matcher for hostname indicators that the suffix
 * trie cannot index: `contains` (the pattern anywhere in the name),
 * `startswith` (the pattern at offset 0), and the literal parts of wildcard
 * values. One walk over the name finds every pattern that occurs in it, so
 * the cost of a lookup is O(length of the name + matches), whatever the
 * number of patterns.
 *
 * Patterns and names are compared on ASCII-lowercased bytes: patterns are
 * lowered when added, names as they are read (callers normally pass names
 * already lowercased; other bytes, NUL included, compare as they are).
 *
 * Life cycle: tw_acm_new(), any number of tw_acm_add(), one tw_acm_compile(),
 * then tw_acm_match*() from any number of threads without locking: a
 * compiled matcher is never written again. tw_acm_free() when no thread uses
 * it any more.
 *
 * Memory: while adding, the pattern bytes plus 16 bytes per pattern. After
 * compiling, 21 bytes per automaton state (one state per distinct prefix of
 * the patterns, so at most the total pattern length) plus 4 bytes per
 * distinct (pattern, value) pair plus a 1 KiB root table; the added patterns
 * are released. 50,000 hostname-like patterns of 10-30 bytes take about
 * 5 MiB (tests/test_acm.c prints the figure).
 */
#ifndef TUNWATCH_ACM_H
#define TUNWATCH_ACM_H

#include <stddef.h>
#include <stdint.h>

#include "tunwatch/base/common.h"

struct tw_acm;

/* tw_acm_add() flags. */
#define TW_ACM_ANCHOR_START 0x1u /* the pattern must start at offset 0 (startswith) */

/* An empty matcher, or NULL if memory ran out. */
struct tw_acm *tw_acm_new(void);

void tw_acm_free(struct tw_acm *a);

/*
 * Adds pat[0..len) (any bytes, copied and ASCII-lowercased) reporting value
 * when it occurs in a name: anywhere (flags 0: contains) or at offset 0
 * (TW_ACM_ANCHOR_START: startswith). Adding the same (pattern, flags, value)
 * twice is harmless; the same pattern with another value reports both.
 * Returns 0, TW_EINVAL (empty pattern, unknown flag, or the matcher is already
 * compiled) or TW_ENOMEM.
 */
int tw_acm_add(struct tw_acm *a, const char *pat, size_t len, uint32_t value, unsigned flags);

/*
 * Builds the automaton from the patterns added (possibly none) and frees
 * them. Returns 0, TW_EINVAL if already compiled, or TW_ENOMEM (the matcher
 * is then left empty: it matches nothing and can only be freed).
 */
int tw_acm_compile(struct tw_acm *a);

/*
 * Calls fn(ctx, value) once per distinct value among the patterns found in
 * text[0..len) (each satisfying its anchoring), in the order of the end of
 * their first occurrence. Returns the number of calls. Distinctness is kept
 * for the first TW_ACM_DEDUP distinct values of one name; past that a value
 * may be reported again (a name hitting that many distinct values is
 * pathological; the candidate set stays correct, only repeated). Does not
 * allocate. A matcher not compiled matches nothing.
 */
#define TW_ACM_DEDUP 256
size_t tw_acm_match(const struct tw_acm *a, const char *text, size_t len,
                    void (*fn)(void *ctx, uint32_t value), void *ctx);

/*
 * The set form: writes the distinct values of the patterns found in
 * text[0..len) to out[0..cap), in the order of the end of their first
 * occurrence, and returns how many were written. If more than cap distinct
 * values match, the first cap are written and cap + 1 is returned, so the
 * caller knows the set is incomplete (and can fall back to evaluating every
 * candidate). Does not allocate; out may be NULL when cap is 0.
 */
size_t tw_acm_match_values(const struct tw_acm *a, const char *text, size_t len, uint32_t *out,
                           size_t cap);

/* Patterns added (distinct (pattern, flags, value) triples once compiled), automaton states,
 * and bytes held (for stats and tests). */
size_t tw_acm_patterns(const struct tw_acm *a);
size_t tw_acm_states(const struct tw_acm *a);
size_t tw_acm_memory(const struct tw_acm *a);

/*
 * For a Sigma wildcard value (`*` any run, `?` one byte, backslash escapes
 * `\*`, `\?`, `\\`; a backslash before another byte is itself), finds the
 * most selective run of literal bytes (the longest, a run that ends the
 * value after a wildcard counting half: in a host name that is the shared
 * parent domain), unescaped into buf[0..cap), a necessary
 * condition for the value to match: every name the glob matches contains it
 * (and starts with it when *flags gets TW_ACM_ANCHOR_START: the glob begins
 * with that literal). Returns the literal's length (> 0), or TW_ENOTSUP when
 * the glob has no literal byte (`*`, `?*`: no prefilter possible), or
 * TW_ENOMEM when the literal does not fit in cap.
 */
int tw_acm_glob_literal(const char *glob, size_t len, char *buf, size_t cap, unsigned *flags);

struct tw_blob_w;
struct tw_blob_r;
/* A compiled automaton in flat form (tw_blob_w), and back, compiled: NULL when what r holds is
 * not one whose values are all below max_value (r is then bad) or on no memory. The restored
 * automaton reads its arrays where r's buffer holds them, which must outlive it. */
void tw_acm_save(const struct tw_acm *a, struct tw_blob_w *w);
struct tw_acm *tw_acm_restore(struct tw_blob_r *r, uint32_t max_value);

#endif /* TUNWATCH_ACM_H */
