/* SPDX-License-Identifier: MIT */
/*
 * Internals of the threat-intel set shared by the files of src/match/intel/: the layout of the
 * set, the state of one file being loaded, the hashes the loader and the index must agree on,
 * and the functions called from one file to another. Not part of the public API.
 */
#ifndef TUNWATCH_INTEL_IMPL_H
#define TUNWATCH_INTEL_IMPL_H

#include "tunwatch/base/alloc.h"
#include "tunwatch/base/ascii.h"
#include "tunwatch/match/intel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Layout. Indicators live in one table, grown while files load (it may move then: nothing
 * points into it until the set is compiled, and loading a file drops what was compiled), their
 * strings in an arena; both are in huge pages once large, so that a feed of a million
 * indicators costs a few hundred page faults, not a hundred thousand. Compiling sorts them by
 * lookup key into `order`, so that the indicators of one key are consecutive, and indexes each
 * key in an open-addressing table (names and addresses apart) of {hash, first, n}.
 *
 * Names are hashed from their last byte to their first (FNV-1a over the reversed, folded
 * bytes), so one right-to-left pass over an event's name yields the hash of every parent
 * suffix at each dot: matching probes the table once per label, never once per indicator.
 * Addresses are keyed by (version, prefix length, masked address) and probed once for each
 * prefix length present.
 */

enum { K_NAME, K_ADDR };
enum { M_EXACT = 1, M_BELOW = 2, M_BOTH = 3 };

#define MAX_REASONS 64
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

struct ind {
    /* What its alerts report. One for every category (an indicator applies to all of them):
     * its category is TW_CAT__COUNT, an alert's is its event's (tw_rule_info). */
    struct tw_rule_info info;
    const char *value;  /* name (lowercase, no "*."), or canonical address / subnet text */
    const char *type;   /* "domain", "addr", "subnet" */
    const char *action; /* RPZ action, NULL for the other formats */
    uint64_t hash;      /* of the lookup key */
    uint32_t value_len;
    uint32_t file;
    uint32_t seq; /* load order */
    uint8_t kind, mode, version, prefix;
    bool allow; /* RPZ passthru */
    uint8_t addr[16];
};

struct ifile {
    bool rpz; /* one decision per name: the most specific trigger */
};

struct reason {
    const char *text;
    size_t count;
};

struct slot {
    uint64_t hash;
    const char *key; /* names: the key, so a probe reads no indicator */
    uint32_t first;  /* into order */
    uint32_t n;      /* 0: empty slot */
};

struct tw_intel {
    struct tw_arena arena; /* texts that live as long as the set (tw_arena_alloc) */
    struct ind *inds; /* a table (tw_table_grow) of inds_cap, n used */
    size_t inds_cap, n;
    struct ifile *files;
    size_t files_cap, n_files;
    struct reason reasons[MAX_REASONS];
    size_t n_reasons;
    struct tw_intel_stats st;

    /* compiled */
    bool compiled;
    const struct ind **order; /* a table of order_cap */
    size_t n_order, order_cap;
    struct slot *nslots, *aslots;
    size_t nmask, amask;
    uint8_t prefixes[2][129]; /* [0] IPv4, [1] IPv6: prefix lengths present, longest first */
    uint8_t n_prefixes[2];
    uint32_t max_labels; /* most labels of a name that matches below itself */
};

struct tagset {
    const char *source, *type, *action;
    const char *const *tags;
    size_t n;
};

/* One file being loaded: counted apart so that a rejected file leaves the set as it was. */
struct loader {
    struct tw_intel *in;
    const char *path; /* arena copy */
    const char *base; /* its last component */
    uint32_t file;
    bool subdomains;
    FILE *errlog;
    size_t start; /* in->n before the file */
    size_t bad, usable;
    size_t names, wildcards, addrs, subnets, allow;
    struct reason reasons[MAX_REASONS];
    size_t n_reasons;
    const char *sources[8];
    unsigned next_source;
    struct tagset tagsets[8];
    unsigned next_tagset;
};

/* What one entry says, before it becomes an indicator. */
struct entry {
    unsigned line;
    uint8_t kind, mode, version, prefix;
    bool allow;
    const char *value; /* names: normalised; addresses: ignored (formatted from addr) */
    size_t value_len;
    uint8_t addr[16];
    const char *type;
    const char *source; /* interned */
    const char *desc;   /* NULL or text */
    const char *action;
};

/* ---- hashes and indicator access -------------------------------------------------------- */

/* One FNV-1a step: h with byte c mixed in. */
static inline uint64_t fnv_step(uint64_t h, uint8_t c)
{
    return (h ^ c) * FNV_PRIME;
}

/*
 * Hash of a name key: its folded bytes from the last to the first. The index probes with
 * tw_mix64() of it, computed from an event's name in one right-to-left pass.
 */
static inline uint64_t name_hash_raw(const char *s, size_t len)
{
    uint64_t h = FNV_OFFSET;

    for (size_t i = len; i-- > 0;)
        h = fnv_step(h, tw_ascii_lower((uint8_t)s[i]));
    return h;
}

/* Hash of an address key: version, prefix length and the masked address (16 bytes). */
static inline uint64_t addr_hash(uint8_t version, uint8_t prefix, const uint8_t a[16])
{
    uint64_t h = fnv_step(fnv_step(FNV_OFFSET, version), prefix);

    for (size_t i = 0; i < 16; i++)
        h = fnv_step(h, a[i]);
    return tw_mix64(h);
}

/* The i-th indicator loaded (i < in->n). */
static inline struct ind *ind_at(const struct tw_intel *in, size_t i)
{
    return &in->inds[i];
}

/* ---- set.c: storage --------------------------------------------------------------------- */

/* A zeroed indicator appended to the set, its seq set to its load order; NULL if memory ran
 * out or the set is full. The others may move (see Layout): valid until the next call. */
struct ind *intel_ind_new(struct tw_intel *in);

/* ---- index.c: lookup tables ------------------------------------------------------------- */

/* Frees the compiled tables: the set matches nothing until compiled again. */
void intel_drop_compiled(struct tw_intel *in);

/* ---- load.c: reading a file, reporting problems ----------------------------------------- */

/* Splits buf[0..len) into lines in place (buf has room for a NUL at len): returns the line at
 * *pos, NUL-terminated with a final '\r' dropped, and moves *pos past it; NULL at the end. */
char *intel_next_line(char *buf, size_t len, size_t *pos);

/* Reports "PATH:LINE: MESSAGE" for a malformed line and counts it in ld->bad; only the first
 * 20 of a file are printed. */
void intel_bad_line(struct loader *ld, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports "PATH: rejected: MESSAGE"; the caller then returns TW_EMALFORMED. */
void intel_reject(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counts a usable entry that is not an indicator under reason (copied; past MAX_REASONS
 * reasons, under "other reasons"). 0 or TW_ENOMEM. */
int intel_skip(struct loader *ld, const char *reason);

/* ---- indicator.c: entries to indicators ------------------------------------------------- */

/* An address ("192.0.2.1", "2001:db8::1") or, with allow_prefix, a CIDR with no host bits.
 * 0 or TW_EINVAL. */
int intel_parse_addr(const char *s, bool allow_prefix, uint8_t *version, uint8_t *prefix,
                     uint8_t addr[16]);

/* Whether s is an address, a '/' and anything: a CIDR refused for its prefix part (host bits
 * set), as opposed to no address at all. */
bool intel_looks_like_cidr(const char *s);

/* The arena copy of source name s (its first 200 bytes), shared by the lines that repeat it;
 * NULL if memory ran out. */
const char *intel_intern_source(struct loader *ld, const char *s);

/* Makes en an indicator of the file: id, title and tags built, counted in the loader.
 * 0 or TW_ENOMEM. */
int intel_add_entry(struct loader *ld, const struct entry *en);

/* A hostname from a Zeek or plain file ("*." or "." in front: subdomains only). 0, TW_ENOMEM,
 * or TW_EMALFORMED (reported). */
int intel_add_name(struct loader *ld, unsigned line, const char *s, const char *source,
                   const char *desc);

/* An address, or with subnet an address or a CIDR, from a Zeek or plain file. 0, TW_ENOMEM,
 * or TW_EMALFORMED (reported). */
int intel_add_addr(struct loader *ld, unsigned line, const char *s, bool subnet, const char *source,
                   const char *desc);

/* ---- the format readers: buf[0..len) has no NUL byte and room for one at len ------------ */

/* A Zeek intel file (zeek.c). 0, TW_ENOMEM, or TW_EMALFORMED (rejected, reported). */
int intel_load_zeek(struct loader *ld, char *buf, size_t len);

/* A plain list: names, addresses, subnets, hosts-file lines (plain_list.c). 0 or TW_ENOMEM. */
int intel_load_plain(struct loader *ld, char *buf, size_t len);

/* An RPZ zone, read with ldns (rpz.c). 0 or TW_ENOMEM. */
int intel_load_rpz(struct loader *ld, char *buf, size_t len);

#endif /* TUNWATCH_INTEL_IMPL_H */
