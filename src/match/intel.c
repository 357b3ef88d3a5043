/* SPDX-License-Identifier: MIT */
#include "tunwatch/match/intel.h"
#include "tunwatch/base/alloc.h"
#include "tunwatch/base/ascii.h"
#include "tunwatch/base/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <ldns/ldns.h>

/*
 * Layout. Indicators live in fixed chunks (their tw_rule_info pointers never move) and their
 * strings in an arena. Compiling sorts them by lookup key into `order`, so that the indicators
 * of one key are consecutive, and indexes each key in an open-addressing table (names and
 * addresses apart) of {hash, first, n}.
 *
 * Names are hashed from their last byte to their first (FNV-1a over the reversed, folded
 * bytes), so one right-to-left pass over an event's name yields the hash of every parent
 * suffix at each dot: matching probes the table once per label, never once per indicator.
 * Addresses are keyed by (version, prefix length, masked address) and probed once for each
 * prefix length present.
 */

enum { K_NAME, K_ADDR };
enum { M_EXACT = 1, M_BELOW = 2, M_BOTH = 3 };
enum fmt { FMT_PLAIN, FMT_ZEEK, FMT_RPZ };

#define IND_SHIFT 10
#define IND_CHUNK (1u << IND_SHIFT)
#define ARENA_CHUNK ((size_t)256 * 1024)
#define MAX_REASONS 64
#define MAX_BAD_SHOWN 20
#define MAX_COLUMNS 64
#define RPZ_DECIDED_MAX 32
#define NAME_LEN_MAX 253
#define LABELS_MAX 128
#define TEXT_MAX 200 /* bytes of a source or description kept in a title */
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define RPZ_SENTINEL "origin.tunwatch.invalid."

struct ind {
    struct tw_rule_info info[TW_CAT__COUNT];
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

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct tw_intel {
    struct arena_chunk *arena;
    size_t arena_bytes;
    struct ind **chunks;
    size_t chunks_cap, n_chunks, n;
    struct ifile *files;
    size_t files_cap, n_files;
    struct reason reasons[MAX_REASONS];
    size_t n_reasons;
    struct tw_intel_stats st;

    /* compiled */
    bool compiled;
    const struct ind **order;
    size_t n_order;
    struct slot *nslots, *aslots;
    size_t nmask, amask;
    uint8_t prefixes[2][129]; /* [0] IPv4, [1] IPv6: prefix lengths present, longest first */
    uint8_t n_prefixes[2];
    uint32_t max_labels; /* most labels of a name that matches below itself */
};

/* ---- small helpers ---------------------------------------------------------------------- */

static uint64_t fnv_step(uint64_t h, uint8_t c)
{
    return (h ^ c) * FNV_PRIME;
}

/* Hash of a name key: its folded bytes from the last to the first. */
static uint64_t name_hash_raw(const char *s, size_t len)
{
    uint64_t h = FNV_OFFSET;

    for (size_t i = len; i-- > 0;)
        h = fnv_step(h, tw_ascii_lower((uint8_t)s[i]));
    return h;
}

static uint64_t addr_hash(uint8_t version, uint8_t prefix, const uint8_t a[16])
{
    uint64_t h = fnv_step(fnv_step(FNV_OFFSET, version), prefix);

    for (size_t i = 0; i < 16; i++)
        h = fnv_step(h, a[i]);
    return tw_mix64(h);
}

static void mask_addr(const uint8_t in[16], uint8_t prefix, uint8_t out[16])
{
    memset(out, 0, 16);
    memcpy(out, in, prefix / 8);
    if (prefix % 8 != 0)
        out[prefix / 8] = (uint8_t)(in[prefix / 8] & (0xff << (8 - prefix % 8)));
}

static bool covers(const struct ind *e, uint8_t version, const uint8_t a[16])
{
    uint8_t m[16];

    if (e->version != version)
        return false;
    mask_addr(a, e->prefix, m);
    return memcmp(m, e->addr, 16) == 0;
}

/* Key (lowercase, NUL-terminated) equals s[0..len) folded. */
static bool name_eq(const char *key, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (key[i] == '\0' || (uint8_t)key[i] != tw_ascii_lower((uint8_t)s[i]))
            return false;
    return key[len] == '\0';
}

static void *arena_alloc(struct tw_intel *in, size_t n)
{
    struct arena_chunk *c = in->arena;
    size_t need = (n + 7) & ~(size_t)7;

    if (c == NULL || c->cap - c->used < need) {
        size_t cap = need > ARENA_CHUNK ? need : ARENA_CHUNK;

        c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = in->arena;
        in->arena = c;
        in->arena_bytes += sizeof(*c) + cap;
    }
    void *p = (char *)c->data + c->used;
    c->used += need;
    return p;
}

static char *arena_strndup(struct tw_intel *in, const char *s, size_t len)
{
    char *d = arena_alloc(in, len + 1);

    if (d != NULL) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

static struct ind *ind_at(const struct tw_intel *in, size_t i)
{
    return &in->chunks[i >> IND_SHIFT][i & (IND_CHUNK - 1)];
}

static struct ind *ind_new(struct tw_intel *in)
{
    size_t c = in->n >> IND_SHIFT;
    struct ind *e;

    if (in->n >= UINT32_MAX)
        return NULL;
    if (c >= in->n_chunks) {
        if (tw_grow((void **)&in->chunks, &in->chunks_cap, c + 1, sizeof(*in->chunks), 16))
            return NULL;
        in->chunks[c] = malloc(IND_CHUNK * sizeof(struct ind));
        if (in->chunks[c] == NULL)
            return NULL;
        in->n_chunks = c + 1;
    }
    e = ind_at(in, in->n);
    memset(e, 0, sizeof(*e));
    e->seq = (uint32_t)in->n++;
    return e;
}

static void drop_compiled(struct tw_intel *in)
{
    free(in->order);
    free(in->nslots);
    free(in->aslots);
    in->order = NULL;
    in->nslots = in->aslots = NULL;
    in->n_order = 0;
    in->nmask = in->amask = 0;
    in->n_prefixes[0] = in->n_prefixes[1] = 0;
    in->max_labels = 0;
    in->compiled = false;
}

struct tw_intel *tw_intel_new(void)
{
    return calloc(1, sizeof(struct tw_intel));
}

void tw_intel_free(struct tw_intel *in)
{
    if (in == NULL)
        return;
    drop_compiled(in);
    for (size_t i = 0; i < in->n_chunks; i++)
        free(in->chunks[i]);
    free(in->chunks);
    free(in->files);
    while (in->arena != NULL) {
        struct arena_chunk *next = in->arena->next;

        free(in->arena);
        in->arena = next;
    }
    free(in);
}

/* ---- parsing values --------------------------------------------------------------------- */

/*
 * A hostname entry of a Zeek or plain file: out gets it lowercased, without "*." / "." in
 * front and without one trailing dot (capacity NAME_LEN_MAX + 1); *below is set for the
 * wildcard forms. Returns NULL, or why the entry is not a hostname.
 */
static const char *parse_name(const char *s, size_t len, char *out, size_t *outlen, bool *below)
{
    size_t label = 0, n = 0;

    *below = false;
    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len >= 2 && s[0] == '*' && s[1] == '.') {
        *below = true;
        s += 2;
        len -= 2;
    } else if (len >= 1 && s[0] == '.') {
        *below = true;
        s++;
        len--;
    }
    if (len == 0)
        return *below ? "a wildcard of the root would match every name" : "empty name";
    if (len > NAME_LEN_MAX)
        return "name longer than 253 bytes";
    for (size_t i = 0; i < len; i++) {
        uint8_t c = tw_ascii_lower((uint8_t)s[i]);

        if (c == '.') {
            if (label == 0)
                return "empty label";
            label = 0;
        } else if (tw_ascii_alnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return "label longer than 63 bytes";
        } else if (c == '*') {
            return "'*' only as the whole first label";
        } else if (c == '/' || c == ':' || c == '@') {
            return "not a hostname (a URL or an address?)";
        } else if (c >= 0x80) {
            return "non-ASCII name (write it in its xn-- form)";
        } else {
            return "character not allowed in a hostname";
        }
        out[n++] = (char)c;
    }
    if (label == 0)
        return "empty label";
    out[n] = '\0';
    *outlen = n;
    return NULL;
}

/* An address ("192.0.2.1", "2001:db8::1") or, with allow_prefix, a CIDR. 0 or TW_EINVAL. */
static int parse_addr(const char *s, bool allow_prefix, uint8_t *version, uint8_t *prefix,
                      uint8_t addr[16])
{
    struct tw_cidr c;

    if (strchr(s, '/') != NULL && !allow_prefix)
        return TW_EINVAL;
    if (tw_cidr_parse(s, &c) != 0)
        return TW_EINVAL;
    *version = c.version;
    *prefix = c.prefix;
    memcpy(addr, c.addr, 16);
    return 0;
}

static bool looks_like_cidr(const char *s)
{
    const char *slash = strchr(s, '/');
    char buf[64];
    uint8_t a[16];
    size_t n;

    if (slash == NULL)
        return false;
    n = (size_t)(slash - s);
    if (n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET, buf, a) == 1 || inet_pton(AF_INET6, buf, a) == 1;
}

/* ---- loading ---------------------------------------------------------------------------- */

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

__attribute__((format(printf, 3, 4))) static void bad(struct loader *ld, unsigned line,
                                                      const char *fmt, ...)
{
    va_list ap;

    if (++ld->bad > MAX_BAD_SHOWN)
        return;
    fprintf(ld->errlog, "%s:%u: ", ld->path, line);
    va_start(ap, fmt);
    vfprintf(ld->errlog, fmt, ap);
    va_end(ap);
    fputc('\n', ld->errlog);
}

static int skip(struct loader *ld, const char *reason)
{
    ld->usable++;
    for (size_t i = 0; i < ld->n_reasons; i++) {
        if (strcmp(ld->reasons[i].text, reason) == 0) {
            ld->reasons[i].count++;
            return 0;
        }
    }
    if (ld->n_reasons == MAX_REASONS)
        reason = "other reasons";
    for (size_t i = 0; i < ld->n_reasons; i++) {
        if (strcmp(ld->reasons[i].text, reason) == 0) {
            ld->reasons[i].count++;
            return 0;
        }
    }
    const char *copy = arena_strndup(ld->in, reason, strlen(reason));
    if (copy == NULL)
        return TW_ENOMEM;
    ld->reasons[ld->n_reasons].text = copy;
    ld->reasons[ld->n_reasons].count = 1;
    ld->n_reasons++;
    return 0;
}

/* The arena copy of a source name, shared by the lines that repeat it. */
static const char *intern_source(struct loader *ld, const char *s)
{
    for (size_t i = 0; i < TW_ARRAY_SIZE(ld->sources); i++)
        if (ld->sources[i] != NULL && strcmp(ld->sources[i], s) == 0)
            return ld->sources[i];
    const char *copy = arena_strndup(ld->in, s, strnlen(s, TEXT_MAX));
    if (copy != NULL) {
        ld->sources[ld->next_source] = copy;
        ld->next_source = (ld->next_source + 1) % TW_ARRAY_SIZE(ld->sources);
    }
    return copy;
}

static const char *const *get_tags(struct loader *ld, const char *source, const char *type,
                                   const char *action, size_t *n)
{
    struct tagset *ts;
    const char **tags;
    char *tsrc, *ttype, *tact = NULL;
    size_t k = 0;

    for (size_t i = 0; i < TW_ARRAY_SIZE(ld->tagsets); i++) {
        ts = &ld->tagsets[i];
        if (ts->tags != NULL && ts->source == source && ts->type == type && ts->action == action) {
            *n = ts->n;
            return ts->tags;
        }
    }
    size_t lsrc = strlen("intel.source:") + strlen(source) + 1;
    size_t ltype = strlen("intel.type:") + strlen(type) + 1;
    size_t lact = action != NULL ? strlen("intel.rpz_action:") + strlen(action) + 1 : 0;

    tags = arena_alloc(ld->in, 4 * sizeof(*tags));
    tsrc = arena_alloc(ld->in, lsrc);
    ttype = arena_alloc(ld->in, ltype);
    if (action != NULL)
        tact = arena_alloc(ld->in, lact);
    if (tags == NULL || tsrc == NULL || ttype == NULL || (action != NULL && tact == NULL))
        return NULL;
    snprintf(tsrc, lsrc, "intel.source:%s", source);
    snprintf(ttype, ltype, "intel.type:%s", type);
    tags[k++] = "intel";
    tags[k++] = tsrc;
    tags[k++] = ttype;
    if (tact != NULL) {
        snprintf(tact, lact, "intel.rpz_action:%s", action);
        tags[k++] = tact;
    }
    ts = &ld->tagsets[ld->next_tagset];
    ld->next_tagset = (ld->next_tagset + 1) % TW_ARRAY_SIZE(ld->tagsets);
    *ts = (struct tagset){source, type, action, tags, k};
    *n = k;
    return tags;
}

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

static int add(struct loader *ld, const struct entry *en)
{
    struct tw_intel *in = ld->in;
    char canon[TW_NAME_MAX + 8], idbuf[32];
    const char *shown;
    struct ind *e;
    char *title, *id, *value;
    size_t tlen, n_tags = 0;
    const char *const *tags;
    uint64_t h = FNV_OFFSET;

    if (en->kind == K_NAME) {
        snprintf(canon, sizeof(canon), "%s%.*s", en->mode == M_BELOW ? "*." : "",
                 (int)en->value_len, en->value);
        value = arena_strndup(in, en->value, en->value_len);
    } else {
        char a[TW_IPSTR_MAX];

        tw_addr_format(en->version, en->addr, a, sizeof(a));
        if (strcmp(en->type, "subnet") == 0)
            snprintf(canon, sizeof(canon), "%s/%u", a, en->prefix);
        else
            snprintf(canon, sizeof(canon), "%s", a);
        value = arena_strndup(in, canon, strlen(canon));
    }
    shown = canon;
    for (const char *p = ld->path; *p != '\0'; p++)
        h = fnv_step(h, (uint8_t)*p);
    h = fnv_step(h, 0);
    for (const char *p = en->type; *p != '\0'; p++)
        h = fnv_step(h, (uint8_t)*p);
    h = fnv_step(h, 0);
    for (const char *p = canon; *p != '\0'; p++)
        h = fnv_step(h, (uint8_t)*p);
    snprintf(idbuf, sizeof(idbuf), "intel-%016" PRIx64, tw_mix64(h));
    id = arena_strndup(in, idbuf, strlen(idbuf));

    tlen =
        (size_t)snprintf(NULL, 0, "Threat intel: %s (%s)%s%.*s", shown, en->source,
                         en->desc != NULL ? " - " : "", TEXT_MAX, en->desc != NULL ? en->desc : "");
    title = arena_alloc(in, tlen + 1);
    tags = get_tags(ld, en->source, en->type, en->action, &n_tags);
    e = ind_new(in);
    if (value == NULL || id == NULL || title == NULL || tags == NULL || e == NULL)
        return TW_ENOMEM;
    snprintf(title, tlen + 1, "Threat intel: %s (%s)%s%.*s", shown, en->source,
             en->desc != NULL ? " - " : "", TEXT_MAX, en->desc != NULL ? en->desc : "");

    e->value = value;
    e->value_len = (uint32_t)strlen(value);
    e->type = en->type;
    e->action = en->action;
    e->file = ld->file;
    e->kind = en->kind;
    e->mode = en->mode;
    e->allow = en->allow;
    e->version = en->version;
    e->prefix = en->prefix;
    memcpy(e->addr, en->addr, 16);
    if (en->kind == K_NAME)
        e->hash = tw_mix64(name_hash_raw(e->value, e->value_len));
    else
        e->hash = addr_hash(e->version, e->prefix, e->addr);
    for (int c = 0; c < TW_CAT__COUNT; c++) {
        e->info[c] = (struct tw_rule_info){
            .id = id,
            .title = title,
            .level = "high",
            .file = ld->path,
            .line = en->line,
            .tags = tags,
            .n_tags = n_tags,
            .category = (enum tw_category)c,
        };
    }
    ld->usable++;
    if (en->allow)
        ld->allow++;
    else if (en->kind == K_ADDR)
        (*(strcmp(en->type, "subnet") == 0 ? &ld->subnets : &ld->addrs))++;
    else if (en->mode == M_BELOW)
        ld->wildcards++;
    else
        ld->names++;
    return 0;
}

/* A hostname from a Zeek or plain file. 0, TW_ENOMEM, or TW_EMALFORMED (reported). */
static int add_name(struct loader *ld, unsigned line, const char *s, const char *source,
                    const char *desc)
{
    char name[NAME_LEN_MAX + 1];
    size_t len = 0;
    bool below;
    const char *why = parse_name(s, strlen(s), name, &len, &below);

    if (why != NULL) {
        bad(ld, line, "%s: '%.100s'", why, s);
        return TW_EMALFORMED;
    }
    struct entry en = {
        .line = line,
        .kind = K_NAME,
        .mode = below ? M_BELOW : (ld->subdomains ? M_BOTH : M_EXACT),
        .value = name,
        .value_len = len,
        .type = "domain",
        .source = source,
        .desc = desc,
    };
    return add(ld, &en);
}

static int add_addr(struct loader *ld, unsigned line, const char *s, bool subnet,
                    const char *source, const char *desc)
{
    struct entry en = {.line = line, .kind = K_ADDR, .source = source, .desc = desc};

    if (parse_addr(s, subnet, &en.version, &en.prefix, en.addr) != 0) {
        if (!subnet && strchr(s, '/') != NULL)
            bad(ld, line, "Intel::ADDR with a prefix length (use Intel::SUBNET): '%.100s'", s);
        else if (subnet && looks_like_cidr(s))
            bad(ld, line, "host bits set in subnet '%.100s'", s);
        else
            bad(ld, line, "not an IP %s: '%.100s'", subnet ? "subnet" : "address", s);
        return TW_EMALFORMED;
    }
    en.type = subnet && strchr(s, '/') != NULL ? "subnet" : "addr";
    return add(ld, &en);
}

/* Splits buf into lines in place: returns the next one (NUL-terminated, '\r' dropped). */
static char *next_line(char *buf, size_t len, size_t *pos)
{
    char *line, *nl;

    if (*pos >= len)
        return NULL;
    line = buf + *pos;
    nl = memchr(line, '\n', len - *pos);
    if (nl != NULL) {
        *nl = '\0';
        *pos = (size_t)(nl - buf) + 1;
    } else {
        buf[len] = '\0'; /* the buffer has room for it */
        nl = buf + len;
        *pos = len;
    }
    if (nl > line && nl[-1] == '\r')
        nl[-1] = '\0';
    return line;
}

static bool is_empty_value(const char *s)
{
    return s[0] == '\0' || strcmp(s, "-") == 0 || strcmp(s, "(empty)") == 0;
}

static void reject(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reject(struct loader *ld, const char *fmt, ...)
{
    va_list ap;

    fprintf(ld->errlog, "%s: rejected: ", ld->path);
    va_start(ap, fmt);
    vfprintf(ld->errlog, fmt, ap);
    va_end(ap);
    fputc('\n', ld->errlog);
}

/* The separator of a "#separator" line: "\x09" or one character. -1 if neither. */
static int parse_separator(const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    if (v[0] == '\\' && v[1] == 'x' && v[2] != '\0' && v[3] != '\0' && v[4] == '\0') {
        char hex[3] = {v[2], v[3], '\0'};
        char *end;
        long c = strtol(hex, &end, 16);

        return *end == '\0' && c > 0 ? (int)c : -1;
    }
    if (v[0] != '\0' && v[1] == '\0')
        return (uint8_t)v[0];
    return -1;
}

static size_t split(char *s, char sep, char **out, size_t cap)
{
    size_t n = 0;

    for (;;) {
        char *e = strchr(s, sep);

        if (n < cap)
            out[n] = s;
        n++;
        if (e == NULL)
            return n;
        *e = '\0';
        s = e + 1;
    }
}

/* Zeek's other indicator types: valid, but nothing tunwatch observes. */
static bool zeek_known_type(const char *t)
{
    static const char *const types[] = {
        "Intel::URL",       "Intel::SOFTWARE",    "Intel::EMAIL",     "Intel::USER_NAME",
        "Intel::CERT_HASH", "Intel::PUBKEY_HASH", "Intel::FILE_HASH", "Intel::FILE_NAME",
    };

    for (size_t i = 0; i < TW_ARRAY_SIZE(types); i++)
        if (strcmp(t, types[i]) == 0)
            return true;
    return false;
}

static int load_zeek(struct loader *ld, char *buf, size_t len)
{
    char *cols[MAX_COLUMNS];
    char sep = '\t';
    size_t pos = 0, ncols = 0;
    int c_ind = -1, c_type = -1, c_src = -1, c_desc = -1;
    unsigned line = 0;
    char *s;

    while ((s = next_line(buf, len, &pos)) != NULL) {
        line++;
        if (strspn(s, " \t") == strlen(s))
            continue;
        if (strncmp(s, "#separator", 10) == 0 && (s[10] == ' ' || s[10] == '\t')) {
            int c = parse_separator(s + 11);

            if (c < 0)
                bad(ld, line, "unsupported #separator (one character or \\xHH)");
            else
                sep = (char)c;
            continue;
        }
        if (strncmp(s, "#fields", 7) == 0 && s[7] == sep) {
            ncols = split(s + 8, sep, cols, MAX_COLUMNS);
            if (ncols > MAX_COLUMNS) {
                reject(ld, "line %u: more than %d columns", line, MAX_COLUMNS);
                return TW_EMALFORMED;
            }
            c_ind = c_type = c_src = c_desc = -1;
            for (size_t i = 0; i < ncols; i++) {
                if (strcmp(cols[i], "indicator") == 0)
                    c_ind = (int)i;
                else if (strcmp(cols[i], "indicator_type") == 0)
                    c_type = (int)i;
                else if (strcmp(cols[i], "meta.source") == 0)
                    c_src = (int)i;
                else if (strcmp(cols[i], "meta.desc") == 0)
                    c_desc = (int)i;
            }
            if (c_ind < 0 || c_type < 0) {
                reject(ld, "line %u: #fields names no %s column", line,
                       c_ind < 0 ? "indicator" : "indicator_type");
                return TW_EMALFORMED;
            }
            continue;
        }
        if (strncmp(s, "#fields", 7) == 0) {
            reject(ld, "line %u: #fields columns must be separated by tabs", line);
            return TW_EMALFORMED;
        }
        if (s[0] == '#')
            continue;
        if (ncols == 0) {
            reject(ld, "line %u: data before the #fields line", line);
            return TW_EMALFORMED;
        }
        bool spaces = strchr(s, sep) == NULL && strchr(s, ' ') != NULL;
        size_t n = split(s, sep, cols, MAX_COLUMNS);
        if (n != ncols) {
            if (spaces)
                bad(ld, line, "fields must be separated by tabs");
            else
                bad(ld, line, "%zu fields where #fields names %zu", n, ncols);
            continue;
        }
        const char *v = cols[c_ind], *t = cols[c_type];
        const char *src = c_src >= 0 && !is_empty_value(cols[c_src]) ? cols[c_src] : ld->base;
        const char *desc = c_desc >= 0 && !is_empty_value(cols[c_desc]) ? cols[c_desc] : NULL;
        int rc = 0;

        if (is_empty_value(v)) {
            bad(ld, line, "empty indicator");
            continue;
        }
        if (strcmp(t, "Intel::DOMAIN") == 0 || strcmp(t, "Intel::ADDR") == 0 ||
            strcmp(t, "Intel::SUBNET") == 0) {
            src = intern_source(ld, src);
            if (src == NULL)
                return TW_ENOMEM;
        }
        if (strcmp(t, "Intel::DOMAIN") == 0) {
            rc = add_name(ld, line, v, src, desc);
        } else if (strcmp(t, "Intel::ADDR") == 0) {
            rc = add_addr(ld, line, v, false, src, desc);
        } else if (strcmp(t, "Intel::SUBNET") == 0) {
            rc = add_addr(ld, line, v, true, src, desc);
        } else if (zeek_known_type(t)) {
            char why[96];

            snprintf(why, sizeof(why), "%.60s: not observed", t);
            rc = skip(ld, why);
        } else {
            bad(ld, line, "unknown indicator_type '%.60s'", t);
        }
        if (rc == TW_ENOMEM)
            return rc;
    }
    return 0;
}

/* Names of a stock hosts file, which are not indicators. */
static bool hosts_local_name(const char *s)
{
    static const char *const local[] = {
        "localhost",     "localhost.localdomain", "local",        "broadcasthost",
        "ip6-localhost", "ip6-loopback",          "ip6-localnet", "ip6-mcastprefix",
        "ip6-allnodes",  "ip6-allrouters",        "ip6-allhosts", "0.0.0.0",
    };

    for (size_t i = 0; i < TW_ARRAY_SIZE(local); i++)
        if (strcasecmp(s, local[i]) == 0)
            return true;
    return false;
}

static int load_plain(struct loader *ld, char *buf, size_t len)
{
    size_t pos = 0;
    unsigned line = 0;
    char *s;
    const char *src = intern_source(ld, ld->base);

    if (src == NULL)
        return TW_ENOMEM;
    while ((s = next_line(buf, len, &pos)) != NULL) {
        char *tok[64], *hash = strchr(s, '#'), *save = NULL;
        size_t n = 0;
        uint8_t v, p, a[16];
        int rc = 0;

        line++;
        if (hash != NULL)
            *hash = '\0';
        for (char *t = strtok_r(s, " \t", &save); t != NULL; t = strtok_r(NULL, " \t", &save))
            if (n < TW_ARRAY_SIZE(tok))
                tok[n++] = t;
        if (n == 0)
            continue;
        if (n == 1) {
            if (parse_addr(tok[0], true, &v, &p, a) == 0)
                rc = add_addr(ld, line, tok[0], true, src, NULL);
            else if (looks_like_cidr(tok[0]))
                rc = add_addr(ld, line, tok[0], true, src, NULL); /* reports the host bits */
            else
                rc = add_name(ld, line, tok[0], src, NULL);
        } else if (parse_addr(tok[0], false, &v, &p, a) == 0) {
            /* hosts file: the address is where the names are sent, the names are listed */
            for (size_t i = 1; i < n && rc != TW_ENOMEM; i++)
                rc = hosts_local_name(tok[i]) ? skip(ld, "local name of a hosts file")
                                              : add_name(ld, line, tok[i], src, NULL);
        } else {
            bad(ld, line, "one name or address a line (or 'ADDRESS NAME...'): '%.100s'", tok[0]);
        }
        if (rc == TW_ENOMEM)
            return rc;
    }
    return 0;
}

/* Line of the first record at or after line `from` (1-based): skips blank and ';' lines. */
struct line_cursor {
    const char *buf;
    size_t len, off;
    unsigned line;
};

static unsigned record_line(struct line_cursor *lc, unsigned from)
{
    while (lc->off < lc->len) {
        const char *p = lc->buf + lc->off, *nl = memchr(p, '\n', lc->len - lc->off);
        size_t n = nl != NULL ? (size_t)(nl - p) : lc->len - lc->off;
        size_t sp = 0;

        while (sp < n && (p[sp] == ' ' || p[sp] == '\t' || p[sp] == '\r'))
            sp++;
        if (lc->line >= from && sp < n && p[sp] != ';')
            return lc->line;
        lc->off += n + (nl != NULL);
        lc->line++;
    }
    return from;
}

static const char *rpz_skip_reason(const char *rel)
{
    static const struct {
        const char *label, *reason;
    } kinds[] = {
        {"rpz-ip", "rpz-ip trigger: response addresses are not observed"},
        {"rpz-nsdname", "rpz-nsdname trigger: name server names are not observed"},
        {"rpz-nsip", "rpz-nsip trigger: name server addresses are not observed"},
        {"rpz-client-ip", "rpz-client-ip trigger: a policy on the querier, not an indicator"},
    };
    const char *dot = strrchr(rel, '.');
    const char *last = dot != NULL ? dot + 1 : rel;

    for (size_t i = 0; i < TW_ARRAY_SIZE(kinds); i++)
        if (strcmp(last, kinds[i].label) == 0)
            return kinds[i].reason;
    return NULL;
}

/* One RR of a policy zone. apex: lowercased, with its trailing dot. */
static int rpz_record(struct loader *ld, unsigned line, const ldns_rr *rr, const char *apex,
                      const char *source)
{
    char *owner = ldns_rdf2str(ldns_rr_owner(rr)), *target = NULL;
    size_t olen, alen = strlen(apex);
    ldns_rr_type type = ldns_rr_get_type(rr);
    const char *why, *action = "local-data";
    bool allow = false, below = false;
    char *rel;
    int rc = 0;

    if (owner == NULL)
        return TW_ENOMEM;
    olen = strlen(owner);
    tw_ascii_lower_copy(owner, owner, olen);
    if (strcmp(owner, apex) == 0)
        goto out_free; /* SOA, NS and whatever else describes the zone itself */
    if (strcmp(apex, ".") == 0) {
        owner[olen - 1] = '\0';
    } else if (olen > alen && owner[olen - alen - 1] == '.' &&
               strcmp(owner + olen - alen, apex) == 0) {
        owner[olen - alen - 1] = '\0';
    } else {
        if (strcmp(apex, RPZ_SENTINEL) == 0)
            bad(ld, line, "absolute owner %.100s in a zone without $ORIGIN or SOA", owner);
        else
            bad(ld, line, "owner %.100s is outside the zone %s", owner, apex);
        rc = TW_EMALFORMED;
        goto out_free;
    }
    rel = owner;
    why = rpz_skip_reason(rel);
    if (why != NULL) {
        rc = skip(ld, why);
        goto out_free;
    }
    if (strcmp(rel, "*") == 0) {
        bad(ld, line, "a wildcard of the whole zone would match every name");
        rc = TW_EMALFORMED;
        goto out_free;
    }
    if (rel[0] == '*' && rel[1] == '.') {
        below = true;
        rel += 2;
    }
    if (type == LDNS_RR_TYPE_CNAME && ldns_rr_rd_count(rr) > 0) {
        target = ldns_rdf2str(ldns_rr_rdf(rr, 0));
        if (target == NULL) {
            rc = TW_ENOMEM;
            goto out_free;
        }
        tw_ascii_lower_copy(target, target, strlen(target));
        size_t rl = strlen(rel), tl = strlen(target);
        if (strcmp(target, ".") == 0)
            action = "nxdomain";
        else if (strcmp(target, "*.") == 0)
            action = "nodata";
        else if (strcmp(target, "rpz-passthru.") == 0 ||
                 (!below && tl == rl + 1 && strncmp(target, rel, rl) == 0))
            allow = true;
        else if (strcmp(target, "rpz-drop.") == 0)
            action = "drop";
        else if (strcmp(target, "rpz-tcp-only.") == 0)
            action = "tcp-only";
    } else if (type == LDNS_RR_TYPE_SOA || type == LDNS_RR_TYPE_NS) {
        rc = skip(ld, "SOA or NS record below the zone apex");
        goto out_free;
    }
    struct entry en = {
        .line = line,
        .kind = K_NAME,
        .mode = below ? M_BELOW : M_EXACT,
        .allow = allow,
        .value = rel,
        .value_len = strlen(rel),
        .type = "domain",
        .source = source,
        .action = allow ? "passthru" : action,
    };
    rc = add(ld, &en);
out_free:
    free(target);
    free(owner);
    return rc;
}

static int load_rpz(struct loader *ld, char *buf, size_t len)
{
    struct line_cursor lc = {buf, len, 0, 1};
    ldns_rdf *origin = NULL, *prev = NULL;
    char *apex = NULL;
    const char *source = NULL;
    uint32_t ttl = 3600;
    int line_nr = 1, rc = 0;
    FILE *fp;

    if (len == 0)
        return 0;
    fp = fmemopen(buf, len, "r");
    origin = ldns_dname_new_frm_str(RPZ_SENTINEL);
    if (fp == NULL || origin == NULL) {
        rc = TW_ENOMEM;
        goto out_close;
    }
    for (;;) {
        ldns_rr *rr = NULL;
        int from = line_nr;
        long at = ftell(fp);
        ldns_status s = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, &line_nr);
        unsigned line = record_line(&lc, (unsigned)from);

        if (s == LDNS_STATUS_OK && rr != NULL) {
            if (apex == NULL) {
                /* The zone is named by its SOA when it starts with one, else by $ORIGIN. */
                apex = ldns_rdf2str(ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA ? ldns_rr_owner(rr)
                                                                             : origin);
                if (apex == NULL) {
                    ldns_rr_free(rr);
                    rc = TW_ENOMEM;
                    goto out_close;
                }
                tw_ascii_lower_copy(apex, apex, strlen(apex));
                if (strcmp(apex, RPZ_SENTINEL) == 0 || strcmp(apex, ".") == 0) {
                    source = intern_source(ld, ld->base);
                } else {
                    char zone[TW_NAME_MAX];

                    snprintf(zone, sizeof(zone), "%.*s", (int)strlen(apex) - 1, apex);
                    source = intern_source(ld, zone);
                }
                if (source == NULL) {
                    ldns_rr_free(rr);
                    rc = TW_ENOMEM;
                    goto out_close;
                }
            }
            rc = rpz_record(ld, line, rr, apex, source);
            ldns_rr_free(rr);
            if (rc == TW_ENOMEM)
                goto out_close;
            rc = 0;
        } else if (s == LDNS_STATUS_SYNTAX_INCLUDE) {
            bad(ld, line, "$INCLUDE is not followed");
        } else if (s != LDNS_STATUS_SYNTAX_EMPTY && s != LDNS_STATUS_SYNTAX_TTL &&
                   s != LDNS_STATUS_SYNTAX_ORIGIN && s != LDNS_STATUS_OK) {
            bad(ld, line, "%s", ldns_get_errorstr_by_id(s));
            ldns_rr_free(rr);
        }
        if (feof(fp) || (s != LDNS_STATUS_OK && ftell(fp) == at))
            break;
    }
out_close:
    free(apex);
    ldns_rdf_deep_free(origin);
    ldns_rdf_deep_free(prev);
    if (fp != NULL)
        fclose(fp);
    return rc;
}

/* The first line that is not blank or a comment decides; see intel.h. */
static enum fmt detect(const char *buf, size_t len)
{
    size_t off = 0;

    while (off < len) {
        const char *p = buf + off, *nl = memchr(p, '\n', len - off);
        size_t n = nl != NULL ? (size_t)(nl - p) : len - off;
        size_t i = 0;

        off += n + 1;
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
            i++;
        if (i == n)
            continue;
        if ((n - i >= 7 && memcmp(p + i, "#fields", 7) == 0) ||
            (n - i >= 10 && memcmp(p + i, "#separator", 10) == 0))
            return FMT_ZEEK;
        if (p[i] == '#')
            continue;
        if (p[i] == ';' || p[i] == '$' || p[i] == '@')
            return FMT_RPZ;
        if (memchr(p, '\t', n) != NULL) {
            for (size_t k = 0; k + 7 <= n; k++)
                if (memcmp(p + k, "Intel::", 7) == 0)
                    return FMT_ZEEK;
        }
        /* A zone record names a class or type after its owner; a hosts line starts with an
         * address. */
        char tok[16];
        size_t ntok = 0, k = i;
        bool first_is_addr = false;

        while (k < n) {
            size_t b = k;

            while (k < n && p[k] != ' ' && p[k] != '\t' && p[k] != '\r')
                k++;
            if (k > b && k - b < sizeof(tok)) {
                memcpy(tok, p + b, k - b);
                tok[k - b] = '\0';
                if (ntok == 0) {
                    uint8_t a[16];

                    first_is_addr =
                        inet_pton(AF_INET, tok, a) == 1 || inet_pton(AF_INET6, tok, a) == 1;
                } else if (!first_is_addr) {
                    static const char *const rr[] = {"IN", "SOA",  "NS",  "CNAME",
                                                     "A",  "AAAA", "TXT", "DNAME"};

                    for (size_t r = 0; r < TW_ARRAY_SIZE(rr); r++)
                        if (strcasecmp(tok, rr[r]) == 0)
                            return FMT_RPZ;
                }
            }
            if (k > b)
                ntok++;
            while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
                k++;
        }
        return FMT_PLAIN;
    }
    return FMT_PLAIN;
}

/* The whole file, with one spare byte. 0, or TW_EIO with errno set, or TW_ENOMEM. */
static int read_all(const char *path, char **out, size_t *outlen)
{
    FILE *f = fopen(path, "rb");
    struct stat sb;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;

    *out = NULL;
    if (f == NULL)
        return TW_EIO;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        errno = EISDIR;
        rc = TW_EIO;
        goto out_close;
    }
    for (;;) {
        size_t got;

        if (cap - len < 65536 + 1) {
            if (tw_grow((void **)&buf, &cap, len + 65536 + 1, 1, 65536 * 2)) {
                rc = TW_ENOMEM;
                goto out_close;
            }
        }
        got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rc = TW_EIO;
            break;
        }
    }
out_close:
    fclose(f);
    if (rc != 0) {
        int e = errno;

        free(buf);
        errno = e;
        return rc;
    }
    if (buf == NULL && (buf = malloc(1)) == NULL)
        return TW_ENOMEM;
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

static void merge(struct loader *ld)
{
    struct tw_intel *in = ld->in;

    in->st.files++;
    in->st.bad_lines += ld->bad;
    in->st.names += ld->names;
    in->st.wildcards += ld->wildcards;
    in->st.addrs += ld->addrs;
    in->st.subnets += ld->subnets;
    in->st.allow += ld->allow;
    for (size_t i = 0; i < ld->n_reasons; i++) {
        const struct reason *r = &ld->reasons[i];
        size_t k = 0;

        fprintf(ld->errlog, "%s: %zu entr%s skipped: %s\n", ld->path, r->count,
                r->count == 1 ? "y" : "ies", r->text);
        in->st.skipped += r->count;
        while (k < in->n_reasons && strcmp(in->reasons[k].text, r->text) != 0)
            k++;
        if (k == in->n_reasons && k == MAX_REASONS) {
            k = MAX_REASONS - 1; /* the last one collects the rest */
            in->reasons[k].text = "other reasons";
        } else if (k == in->n_reasons) {
            in->reasons[k].text = r->text;
            in->reasons[k].count = 0;
            in->n_reasons++;
        }
        in->reasons[k].count += r->count;
    }
}

int tw_intel_load(struct tw_intel *in, const char *path, bool subdomains, FILE *errlog)
{
    struct loader *ld = NULL;
    char *buf = NULL, *nul;
    size_t len = 0;
    const char *slash;
    int rc;

    if (in == NULL || path == NULL)
        return TW_EINVAL;
    if (errlog == NULL)
        errlog = stderr;
    drop_compiled(in);
    rc = read_all(path, &buf, &len);
    if (rc != 0) {
        int e = errno;

        if (rc == TW_EIO) {
            fprintf(errlog, "%s: cannot read: %s\n", path, strerror(e));
            in->st.errors++;
        }
        errno = e;
        return rc;
    }
    ld = calloc(1, sizeof(*ld));
    if (ld == NULL ||
        tw_grow((void **)&in->files, &in->files_cap, in->n_files + 1, sizeof(*in->files), 8)) {
        rc = TW_ENOMEM;
        goto out_free;
    }
    ld->in = in;
    ld->errlog = errlog;
    ld->subdomains = subdomains;
    ld->start = in->n;
    ld->path = arena_strndup(in, path, strlen(path));
    if (ld->path == NULL) {
        rc = TW_ENOMEM;
        goto out_free;
    }
    slash = strrchr(ld->path, '/');
    ld->base = slash != NULL && slash[1] != '\0' ? slash + 1 : ld->path;
    ld->file = (uint32_t)in->n_files;

    nul = memchr(buf, '\0', len);
    if (nul != NULL) {
        reject(ld, "not a text file (NUL byte at offset %zu)", (size_t)(nul - buf));
        rc = TW_EMALFORMED;
        goto out_reject;
    }
    enum fmt f = detect(buf, len);
    in->files[in->n_files].rpz = f == FMT_RPZ;
    if (f == FMT_ZEEK)
        rc = load_zeek(ld, buf, len);
    else if (f == FMT_RPZ)
        rc = load_rpz(ld, buf, len);
    else
        rc = load_plain(ld, buf, len);
    if (rc == TW_ENOMEM)
        goto out_rollback;
    if (rc != 0)
        goto out_reject;
    if (ld->bad > ld->usable) {
        reject(ld, "%zu of %zu entries malformed", ld->bad, ld->bad + ld->usable);
        rc = TW_EMALFORMED;
        goto out_reject;
    }
    if (ld->bad > MAX_BAD_SHOWN)
        fprintf(errlog, "%s: %zu more malformed lines not shown\n", ld->path,
                ld->bad - MAX_BAD_SHOWN);
    in->n_files++;
    merge(ld);
    rc = 0;
    goto out_free;

out_reject:
    in->st.errors++;
out_rollback:
    in->n = ld->start;
out_free:
    free(ld);
    free(buf);
    return rc;
}

/* ---- compiling -------------------------------------------------------------------------- */

static int key_cmp(const struct ind *x, const struct ind *y)
{
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    if (x->kind == K_NAME) {
        if (x->value_len != y->value_len)
            return x->value_len < y->value_len ? -1 : 1;
        return memcmp(x->value, y->value, x->value_len);
    }
    if (x->version != y->version)
        return x->version < y->version ? -1 : 1;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    return memcmp(x->addr, y->addr, 16);
}

static int ind_cmp(const void *a, const void *b)
{
    const struct ind *x = *(const struct ind *const *)a, *y = *(const struct ind *const *)b;
    int c = key_cmp(x, y);

    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static int table_new(struct slot **t, size_t *mask, size_t groups)
{
    size_t cap = 16;

    while (cap < groups * 2)
        cap *= 2;
    *t = calloc(cap, sizeof(**t));
    if (*t == NULL)
        return TW_ENOMEM;
    *mask = cap - 1;
    return 0;
}

static void table_put(struct slot *t, size_t mask, const struct ind *e, uint32_t first, uint32_t n)
{
    size_t i = (size_t)e->hash & mask;

    while (t[i].n != 0)
        i = (i + 1) & mask;
    t[i] = (struct slot){e->hash, e->kind == K_NAME ? e->value : NULL, first, n};
}

int tw_intel_compile(struct tw_intel *in)
{
    const struct ind **all = NULL;
    size_t groups[2] = {0, 0}, n = 0, dups = 0;
    bool seen_prefix[2][129] = {{false}};

    drop_compiled(in);
    all = malloc((in->n ? in->n : 1) * sizeof(*all));
    if (all == NULL)
        goto out_nomem;
    for (size_t i = 0; i < in->n; i++)
        all[i] = ind_at(in, i);
    qsort(all, in->n, sizeof(*all), ind_cmp);

    /* Drop an indicator its file already holds (same key, same mode); count the groups. */
    for (size_t i = 0, g = 0; i < in->n; i++) {
        const struct ind *e = all[i];
        bool dup = false;

        if (i == 0 || key_cmp(all[i - 1], e) != 0) {
            g = n;
            groups[e->kind]++;
        }
        for (size_t k = g; k < n && !dup; k++)
            dup = all[k]->file == e->file && all[k]->mode == e->mode && all[k]->allow == e->allow;
        if (dup)
            dups++;
        else
            all[n++] = e;
    }
    in->order = all;
    in->n_order = n;
    all = NULL;
    if (table_new(&in->nslots, &in->nmask, groups[K_NAME]) ||
        table_new(&in->aslots, &in->amask, groups[K_ADDR]))
        goto out_nomem;
    for (size_t i = 0; i < n;) {
        const struct ind *e = in->order[i];
        size_t j = i + 1;

        while (j < n && key_cmp(in->order[j], e) == 0)
            j++;
        if (e->kind == K_NAME) {
            table_put(in->nslots, in->nmask, e, (uint32_t)i, (uint32_t)(j - i));
        } else {
            table_put(in->aslots, in->amask, e, (uint32_t)i, (uint32_t)(j - i));
            seen_prefix[e->version == 6][e->prefix] = true;
        }
        for (size_t k = i; k < j; k++) {
            const struct ind *x = in->order[k];

            if (x->kind == K_NAME && (x->mode & M_BELOW)) {
                uint32_t labels = 1;

                for (uint32_t c = 0; c < x->value_len; c++)
                    labels += x->value[c] == '.';
                in->max_labels = TW_MAX(in->max_labels, labels);
            }
        }
        i = j;
    }
    for (int v = 0; v < 2; v++)
        for (int p = 128; p >= 0; p--)
            if (seen_prefix[v][p])
                in->prefixes[v][in->n_prefixes[v]++] = (uint8_t)p;
    in->st.duplicates = dups;
    in->compiled = true;
    return 0;

out_nomem:
    free(all);
    drop_compiled(in);
    return TW_ENOMEM;
}

/* ---- matching --------------------------------------------------------------------------- */

/* How a visited indicator relates to the name or address looked up. */
struct hit {
    const struct ind *e;
    bool exact;                /* names: the whole name (else a parent) */
    bool fires;                /* reported by tw_intel_match */
    const struct ind *decider; /* RPZ entries that do not fire: what decided their zone */
};

typedef void (*visit_fn)(const struct tw_intel *in, const struct hit *h, void *ctx);

struct decided {
    uint32_t file[RPZ_DECIDED_MAX];
    const struct ind *by[RPZ_DECIDED_MAX];
    size_t n;
};

static size_t visit(const struct tw_intel *in, struct decided *d, const struct ind *e, bool exact,
                    visit_fn fn, void *ctx)
{
    struct hit h = {e, exact, true, NULL};

    if (in->files[e->file].rpz) {
        for (size_t i = 0; i < d->n; i++)
            if (d->file[i] == e->file)
                h.decider = d->by[i];
        if (h.decider == NULL && d->n < RPZ_DECIDED_MAX) {
            d->file[d->n] = e->file;
            d->by[d->n++] = e;
        }
        if (h.decider == NULL && e->allow)
            h.decider = e;
        h.fires = h.decider == NULL;
    }
    fn(in, &h, ctx);
    return h.fires;
}

/* The slot of name key s[0..len), whose reversed-byte hash is raw; NULL if none. */
static const struct slot *find_name(const struct tw_intel *in, uint64_t raw, const char *s,
                                    size_t len)
{
    uint64_t hash = tw_mix64(raw);

    for (size_t i = (size_t)hash & in->nmask; in->nslots[i].n != 0; i = (i + 1) & in->nmask)
        if (in->nslots[i].hash == hash && name_eq(in->nslots[i].key, s, len))
            return &in->nslots[i];
    return NULL;
}

static size_t walk_name(const struct tw_intel *in, const char *name, size_t len, visit_fn fn,
                        void *ctx)
{
    struct {
        uint64_t h;
        size_t off;
    } par[LABELS_MAX];
    struct decided d = {.n = 0};
    size_t np = 0, count = 0;
    uint64_t h = FNV_OFFSET;
    uint32_t dots = 0;
    const struct slot *s;

    if (!in->compiled || len == 0)
        return 0;
    for (size_t i = len; i-- > 0;) {
        uint8_t c = tw_ascii_lower((uint8_t)name[i]);

        if (c == '.') {
            /* name[i+1..len) is a parent with dots + 1 labels */
            if (dots + 1 <= in->max_labels && np < LABELS_MAX && i + 1 < len) {
                par[np].h = h;
                par[np++].off = i + 1;
            }
            dots++;
        }
        h = fnv_step(h, c);
    }
    s = find_name(in, h, name, len);
    if (s != NULL)
        for (uint32_t k = 0; k < s->n; k++)
            if (in->order[s->first + k]->mode & M_EXACT)
                count += visit(in, &d, in->order[s->first + k], true, fn, ctx);
    /* Parents from the nearest outwards: the last one found is the longest. */
    while (np-- > 0) {
        s = find_name(in, par[np].h, name + par[np].off, len - par[np].off);
        if (s == NULL)
            continue;
        for (uint32_t k = 0; k < s->n; k++)
            if (in->order[s->first + k]->mode & M_BELOW)
                count += visit(in, &d, in->order[s->first + k], false, fn, ctx);
    }
    return count;
}

/* Address indicators covering a (skipping those that also cover `other`, already reported). */
static size_t walk_addr(const struct tw_intel *in, uint8_t version, const uint8_t a[16],
                        const uint8_t *other, visit_fn fn, void *ctx)
{
    int v = version == 6;
    size_t count = 0;
    struct decided d = {.n = 0};

    if (!in->compiled || (version != 4 && version != 6))
        return 0;
    for (size_t i = 0; i < in->n_prefixes[v]; i++) {
        uint8_t m[16];
        uint8_t p = in->prefixes[v][i];
        uint64_t h;

        if (p > (version == 4 ? 32 : 128))
            continue;
        mask_addr(a, p, m);
        h = addr_hash(version, p, m);
        for (size_t j = (size_t)h & in->amask; in->aslots[j].n != 0; j = (j + 1) & in->amask) {
            const struct slot *s = &in->aslots[j];
            const struct ind *e = in->order[s->first];

            if (s->hash != h || e->version != version || e->prefix != p ||
                memcmp(e->addr, m, 16) != 0)
                continue;
            for (uint32_t k = 0; k < s->n; k++) {
                e = in->order[s->first + k];
                if (other == NULL || !covers(e, version, other))
                    count += visit(in, &d, e, true, fn, ctx);
            }
            break;
        }
    }
    return count;
}

struct match_ctx {
    const struct tw_event *ev;
    tw_match_fn fn;
    void *ctx;
};

static void match_visit(const struct tw_intel *in, const struct hit *h, void *ctx)
{
    struct match_ctx *m = ctx;

    (void)in;
    if (h->fires && m->fn != NULL)
        m->fn(&h->e->info[m->ev->category], m->ev, m->ctx);
}

size_t tw_intel_match(const struct tw_intel *in, const struct tw_event *ev, tw_match_fn fn,
                      void *ctx)
{
    struct match_ctx m = {ev, fn, ctx};
    size_t count = 0;

    if (in == NULL || ev == NULL || !in->compiled || (unsigned)ev->category >= TW_CAT__COUNT)
        return 0;
    if (ev->norm != NULL)
        count += walk_name(in, ev->norm, ev->norm_len, match_visit, &m);
    if (in->n_prefixes[0] + in->n_prefixes[1] > 0) {
        count += walk_addr(in, ev->ip_version, ev->dst_addr, NULL, match_visit, &m);
        count += walk_addr(in, ev->ip_version, ev->src_addr, ev->dst_addr, match_visit, &m);
    }
    return count;
}

static void explain_visit(const struct tw_intel *in, const struct hit *h, void *ctx)
{
    FILE *out = ctx;
    const struct ind *e = h->e;
    const struct tw_rule_info *ri = &e->info[0];

    fprintf(out, "%s:%u: %s%s%s %s%s: ", ri->file, ri->line, e->type,
            e->action != NULL ? " rpz " : "", e->action != NULL ? e->action : "",
            e->kind == K_NAME && e->mode == M_BELOW ? "*." : "", e->value);
    if (e->kind == K_ADDR)
        fputs(strcmp(e->type, "subnet") == 0 ? "in subnet" : "address", out);
    else if (h->exact)
        fputs("exact", out);
    else
        fprintf(out, "subdomain of %s", e->value);
    if (h->decider == e)
        fputs(", allow-list entry (rpz-passthru): the zone reports nothing for this name", out);
    else if (h->decider != NULL)
        fprintf(out, ", not applied: %s:%u decides for its zone", h->decider->info[0].file,
                h->decider->info[0].line);
    (void)in;
    fprintf(out, " (%s)\n", ri->id);
}

size_t tw_intel_explain(const struct tw_intel *in, const char *name, FILE *out)
{
    char buf[TW_NAME_MAX];
    size_t len;
    uint8_t a[16] = {0};

    if (in == NULL || name == NULL || !in->compiled)
        return 0;
    if (out == NULL)
        out = stdout;
    len = strlen(name);
    if (len >= sizeof(buf))
        return 0;
    tw_ascii_lower_copy(buf, name, len);
    if (len > 1 && buf[len - 1] == '.')
        len--;
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, a) == 1)
        return walk_addr(in, 4, a, NULL, explain_visit, out);
    if (inet_pton(AF_INET6, buf, a) == 1)
        return walk_addr(in, 6, a, NULL, explain_visit, out);
    return walk_name(in, buf, len, explain_visit, out);
}

void tw_intel_get_stats(const struct tw_intel *in, struct tw_intel_stats *st)
{
    *st = in->st;
    st->skipped = 0;
    for (size_t i = 0; i < in->n_reasons; i++)
        st->skipped += in->reasons[i].count;
    st->memory = sizeof(*in) + in->arena_bytes +
                 in->n_chunks * (IND_CHUNK * sizeof(struct ind) + sizeof(*in->chunks)) +
                 in->files_cap * sizeof(*in->files) + in->n_order * sizeof(*in->order) +
                 (in->nslots != NULL ? (in->nmask + 1) * sizeof(struct slot) : 0) +
                 (in->aslots != NULL ? (in->amask + 1) * sizeof(struct slot) : 0);
}

bool tw_intel_skip_reason(const struct tw_intel *in, size_t i, const char **reason, size_t *count)
{
    if (in == NULL || i >= in->n_reasons)
        return false;
    *reason = in->reasons[i].text;
    *count = in->reasons[i].count;
    return true;
}
