/* SPDX-License-Identifier: MIT */
#include "tunwatch/proto/dns.h"

#include <stdio.h>
#include <string.h>

#include "tunwatch/base/ascii.h"
#include "tunwatch/base/netaddr.h"

/* Whether one of the eight bytes of x needs escaping in presentation form: below 0x21, above
 * 0x7e, '.' or '\\' (the tests of "Bit Twiddling Hacks", exact as yes/no). */
static inline bool word_escapes(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t dot = x ^ (ones * '.'), bsl = x ^ (ones * '\\');

    return ((((x - ones * 0x21) & ~x) | ((x + ones) | x) | ((dot - ones) & ~dot) |
             ((bsl - ones) & ~bsl)) &
            highs) != 0;
}

/*
 * Appends one label to out[o..] (out has TW_NAME_MAX bytes) in presentation form and returns
 * the new index. The caller guarantees 4 * n output bytes are free (worst case: every byte
 * becomes "\DDD"); `readable` bytes from lab on may be read (the rest of the message).
 */
static size_t label_put(char *out, size_t o, const uint8_t *lab, size_t n, size_t readable)
{
    size_t i = 0;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* The usual label (letters, digits, hyphens: nothing to escape) in whole words, the last
     * one read on past the label, into the message, its bytes past the label taken as letters,
     * and stored whole: what lies past the label in out is written over next (a dot, the next
     * label, the closing NUL). Labels are short: a byte-by-byte tail would cost most. */
    size_t words = (n + 7) & ~(size_t)7;
    if (words <= readable && o + words < TW_NAME_MAX) {
        for (; i < n; i += 8) {
            uint64_t x = tw_load64(lab + i);
            if (n - i < 8) {
                uint64_t keep = (UINT64_C(1) << (8 * (n - i))) - 1;
                x = (x & keep) | (UINT64_C(0x6161616161616161) & ~keep);
            }
            if (word_escapes(x))
                break;
            memcpy(out + o + i, &x, 8);
        }
        if (i >= n)
            return o + n;
        o += i; /* out[..o) holds lab[..i): on from there */
        lab += i;
        n -= i;
        i = 0;
    }
#else
    (void)readable;
#endif
    /* Eight bytes at a time while none needs escaping. */
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, lab + i, 8);
        if (word_escapes(x))
            break;
        memcpy(out + o, lab + i, 8);
        o += 8;
    }
    for (; i < n; i++) {
        uint8_t c = lab[i];
        if (TW_LIKELY(c > 0x20 && c < 0x7f)) {
            if (TW_UNLIKELY(c == '.' || c == '\\'))
                out[o++] = '\\';
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = (char)('0' + c / 100);
            out[o++] = (char)('0' + c / 10 % 10);
            out[o++] = (char)('0' + c % 10);
        }
    }
    return o;
}

/*
 * A name read before, for a later name of the message that is a pointer to where its walk
 * began (a record owned by the question's name, or by a CNAME's target): how that walk went
 * (struct tw_dns_walk) and its text. Following the pointer would walk the same octets to the
 * same end and checks, so such a name is that text, at the cost in steps and in octets looked
 * at that the walk would have (walk_recall). The text lives where the caller put it,
 * unchanged until the walk's end.
 */
struct walk_memo {
    struct tw_dns_walk how;
    const char *text;
    size_t len;
};

#define WALK_MEMOS 8

/*
 * What the names of one message share: the whole message (where pointers may lead), the steps
 * left (one per label and per pointer, summed over the names), the oddities seen, and the
 * names walked so far that later ones may point to (memo[0..n_memo), none unless the caller
 * adds them: walk_remember()).
 */
struct walk {
    const uint8_t *msg;
    size_t msg_len;
    size_t budget;
    unsigned odd; /* 1u << enum tw_dns_oddity */
    bool remember; /* kept answers' names are remembered as they are read */
    unsigned n_memo, memo_next;
    struct walk_memo memo[WALK_MEMOS];
};

static void walk_init(struct walk *w, const uint8_t *msg, size_t msg_len)
{
    /* Field by field: memo[] is read only as far as n_memo says. */
    w->msg = msg;
    w->msg_len = msg_len;
    w->budget = TW_DNS_STEP_BUDGET(msg_len);
    w->odd = 0;
    w->remember = false;
    w->n_memo = w->memo_next = 0;
}

/* The name whose walk went as *how says is text[0..len): later names of the message that
 * point to where it began take it from there. The oldest memo makes room. */
static void walk_remember(struct walk *w, const struct tw_dns_walk *how, const char *text,
                          size_t len)
{
    w->memo[w->memo_next] = (struct walk_memo){.how = *how, .text = text, .len = len};
    w->memo_next = (w->memo_next + 1) % WALK_MEMOS;
    if (w->n_memo < WALK_MEMOS)
        w->n_memo++;
}

/*
 * The name at msg[off] when it is a single pointer to a name remembered (walk_remember), read
 * from the memo into out: the steps, octets looked at and oddities as name_walk() would count
 * them following the pointer (the pointer's own, then the remembered walk's), so its result,
 * w's budget and oddities are those of the walk. -1 when it is not such a name, or when the
 * walk would run out of steps or find a loop (name_walk() then walks it and says so).
 */
static int walk_recall(struct walk *w, size_t end, size_t off, char *out, size_t *next,
                       struct tw_dns_walk *st)
{
    const uint8_t *msg = w->msg;

    /* (name_walk() has checked off < end <= msg_len.) */
    if (off + 2 > end || (msg[off] & 0xC0) != 0xC0)
        return -1;
    size_t target = (size_t)(msg[off] & 0x3F) << 8 | msg[off + 1];
    const struct walk_memo *m = NULL;
    for (unsigned i = 0; i < w->n_memo && m == NULL; i++)
        if (w->memo[i].how.at == target)
            m = &w->memo[i];
    /* The pointer takes a step and 2 looked-at octets before the remembered walk's. */
    if (m == NULL || w->budget <= m->how.steps || 2 + m->how.looked > w->msg_len)
        return -1;
    unsigned odd = m->how.odd;
    if (target < TW_DNS_HDR_LEN)
        odd |= 1u << TW_DNS_ODD_HEADER_POINTER;
    else if (target >= off)
        odd |= 1u << TW_DNS_ODD_FORWARD_POINTER;
    w->budget -= 1 + m->how.steps;
    w->odd |= odd;
    if (st != NULL)
        *st = (struct tw_dns_walk){
            .at = off, .steps = 1 + m->how.steps, .looked = 2 + m->how.looked, .odd = odd};
    memcpy(out, m->text, m->len + 1);
    *next = off + 2;
    return (int)m->len;
}

/*
 * Walks the name at msg[off], validating it, and writes the presentation form to out (which
 * has room for TW_NAME_MAX bytes) unless out is NULL. Its in-place octets end before `end`
 * (<= the message length: the end of an RDATA, or of the message); a pointer may lead anywhere
 * in the message (see dns.h). Running out of w's budget is malformed. Returns the presentation
 * length or TW_EMALFORMED; *next as in tw_dns_name_read(). With st, a walk that succeeds says
 * in *st how it went (for walk_remember()).
 */
static int name_walk(struct walk *w, size_t end, size_t off, char *out, size_t *next,
                     struct tw_dns_walk *st)
{
    const uint8_t *msg = w->msg;
    struct tw_cur c;
    size_t run_start = off; /* where the label run being read began */
    size_t wire = 1;        /* wire octets so far, counting the final zero */
    size_t looked = 0;      /* octets looked at, as glibc counts them to find a loop */
    size_t looked_ptr = 0;  /* ... at the last pointer */
    size_t o = 0;           /* output index */
    size_t in_place_end = 0;
    size_t budget = w->budget;
    unsigned labels = 0, hops = 0, odd = 0;

    if (off >= end || end > w->msg_len)
        return TW_EMALFORMED;
    if (w->n_memo > 0 && out != NULL) {
        int n = walk_recall(w, end, off, out, next, st);
        if (n >= 0)
            return n;
    }
    tw_cur_init(&c, msg + off, end - off);

    for (;;) {
        uint8_t len = tw_get_u8(&c);
        if (TW_UNLIKELY(c.err))
            return TW_EMALFORMED;
        if (len == 0)
            break;
        if (TW_UNLIKELY(w->budget == 0))
            return TW_EMALFORMED;
        --w->budget;

        switch (len & 0xC0) {
        case 0x00:
            break;
        case 0xC0: {
            uint8_t lo = tw_get_u8(&c);
            if (TW_UNLIKELY(c.err))
                return TW_EMALFORMED;
            size_t target = (size_t)(len & 0x3F) << 8 | lo;
            if (hops++ == 0)
                in_place_end = (size_t)(c.p - msg);
            looked += 2;
            looked_ptr = looked;
            if (TW_UNLIKELY(target >= w->msg_len || looked > w->msg_len))
                return TW_EMALFORMED;
            if (TW_UNLIKELY(target < TW_DNS_HDR_LEN)) {
                w->odd |= 1u << TW_DNS_ODD_HEADER_POINTER;
                odd |= 1u << TW_DNS_ODD_HEADER_POINTER;
            } else if (TW_UNLIKELY(target >= run_start)) {
                w->odd |= 1u << TW_DNS_ODD_FORWARD_POINTER;
                odd |= 1u << TW_DNS_ODD_FORWARD_POINTER;
            }
            run_start = target;
            tw_cur_init(&c, msg + target, w->msg_len - target);
            continue;
        }
        default: /* 0x40 extended label type, 0x80 reserved */
            return TW_EMALFORMED;
        }

        wire += 1u + len;
        looked += 1u + len;
        if (TW_UNLIKELY(wire > TW_DNS_MAX_NAME_WIRE || ++labels > TW_DNS_MAX_LABELS))
            return TW_EMALFORMED;
        const uint8_t *lab = tw_get_bytes(&c, len);
        if (TW_UNLIKELY(lab == NULL))
            return TW_EMALFORMED;
        if (out != NULL) {
            if (o != 0)
                out[o++] = '.';
            o = label_put(out, o, lab, len, w->msg_len - (size_t)(lab - msg));
        }
    }

    *next = hops == 0 ? (size_t)(c.p - msg) : in_place_end;
    if (st != NULL)
        *st = (struct tw_dns_walk){
            .at = off, .steps = budget - w->budget, .looked = looked_ptr, .odd = odd};
    if (out == NULL)
        return 0;
    if (o == 0)
        out[o++] = '.';
    out[o] = '\0';
    return (int)o;
}

int tw_dns_name_read(const uint8_t *msg, size_t msg_len, size_t off, char *out, size_t cap,
                     size_t *next)
{
    char tmp[TW_NAME_MAX];
    size_t nx;
    struct walk w;
    int n;

    if (out == NULL || next == NULL || cap == 0)
        return TW_EINVAL;
    walk_init(&w, msg, msg_len);
    if (cap >= TW_NAME_MAX)
        n = name_walk(&w, msg_len, off, out, &nx, NULL);
    else {
        n = name_walk(&w, msg_len, off, tmp, &nx, NULL);
        if (n >= 0 && (size_t)n >= cap)
            return TW_ENOMEM;
        if (n >= 0)
            memcpy(out, tmp, (size_t)n + 1);
    }
    if (n < 0)
        return n;
    *next = nx;
    return n;
}

int tw_dns_parse(const uint8_t *buf, size_t len, struct tw_dns_msg *out)
{
    struct tw_cur c;

    out->odd = 0;
    out->id = out->flags = 0;
    out->qr = false;
    out->opcode = out->rcode = 0;
    out->qdcount = out->ancount = out->nscount = out->arcount = 0;
    out->n_questions = 0;
    for (unsigned i = 0; i < TW_DNS_MAX_QUESTIONS; i++) {
        out->q[i].name[0] = '\0';
        out->q[i].name_len = 0;
        out->q[i].qtype = out->q[i].qclass = 0;
    }

    if (len < TW_DNS_HDR_LEN)
        return TW_EMALFORMED;
    tw_cur_init(&c, buf, len);
    out->id = tw_get_be16(&c);
    out->flags = tw_get_be16(&c);
    out->qdcount = tw_get_be16(&c);
    out->ancount = tw_get_be16(&c);
    out->nscount = tw_get_be16(&c);
    out->arcount = tw_get_be16(&c);
    out->qr = (out->flags & 0x8000) != 0;
    out->opcode = (uint8_t)(out->flags >> 11 & 0xF);
    out->rcode = (uint8_t)(out->flags & 0xF);

    size_t off = TW_DNS_HDR_LEN;
    struct walk w;
    walk_init(&w, buf, len);
    for (unsigned i = 0; i < out->qdcount; i++) {
        struct tw_dns_question *q = i < TW_DNS_MAX_QUESTIONS ? &out->q[i] : NULL;
        size_t next;
        struct tw_dns_walk st;
        int n = name_walk(&w, len, off, q != NULL ? q->name : NULL, &next, &st);
        out->odd = w.odd; /* also for the questions kept before an error */
        if (n < 0) {
            if (q != NULL)
                q->name[0] = '\0';
            return TW_EMALFORMED;
        }
        tw_cur_init(&c, buf + next, len - next);
        uint16_t qtype = tw_get_be16(&c);
        uint16_t qclass = tw_get_be16(&c);
        if (c.err) {
            if (q != NULL)
                q->name[0] = '\0';
            return TW_EMALFORMED;
        }
        if (q != NULL) {
            q->name_len = (size_t)n;
            q->qtype = qtype;
            q->qclass = qclass;
            out->qwalk[i] = st;
            out->n_questions++;
        }
        off = next + 4;
    }
    return (int)off;
}

#define TYPE_A 1
#define TYPE_CNAME 5
#define TYPE_AAAA 28
#define CLASS_IN 1

static void answer_reset(struct tw_dns_answer *a)
{
    a->name[0] = '\0';
    a->name_len = 0;
    a->type = 0;
    a->ttl = 0;
    memset(a->addr, 0, sizeof(a->addr));
    a->target[0] = '\0';
    a->target_len = 0;
}

/*
 * Validates the record at msg[*off] and, when a is not NULL and the record is
 * a class IN A, AAAA or CNAME, stores it in *a. Sets *kept to whether it is
 * such a record, and *off past the record. Returns 0 or TW_EMALFORMED; *a is
 * left empty unless the record was stored.
 */
/* What every record has after its owner name. */
struct rr_fixed {
    uint16_t type, rclass, rdlen;
    uint32_t ttl;
    size_t rd; /* RDATA offset in the message */
};

static int answer_one(struct walk *w, size_t *off, struct tw_dns_answer *a, bool *kept,
                      struct rr_fixed *fx)
{
    const uint8_t *msg = w->msg;
    size_t len = w->msg_len;
    struct tw_cur c;
    size_t next;
    struct tw_dns_walk owner, target;

    *kept = false;
    int n = name_walk(w, len, *off, a != NULL ? a->name : NULL, &next, &owner);
    if (n < 0)
        goto out_reset;

    tw_cur_init(&c, msg + next, len - next);
    uint16_t type = tw_get_be16(&c);
    uint16_t rclass = tw_get_be16(&c);
    uint32_t ttl = tw_get_be32(&c);
    uint16_t rdlen = tw_get_be16(&c);
    if (c.err || tw_cur_left(&c) < rdlen)
        goto out_reset;
    size_t rd = (size_t)(c.p - msg);
    size_t rd_end = rd + rdlen;
    *fx = (struct rr_fixed){.type = type, .rclass = rclass, .rdlen = rdlen, .ttl = ttl, .rd = rd};

    /* Other classes give A and AAAA other RDATA (a CHAOS A is a name and an address). */
    if (rclass != CLASS_IN || (type != TYPE_A && type != TYPE_AAAA && type != TYPE_CNAME)) {
        if (a != NULL)
            answer_reset(a);
        *off = rd_end;
        return 0;
    }

    if (type == TYPE_CNAME) {
        /* The target's in-place labels end with the RDATA; its pointers may go anywhere. */
        int t = name_walk(w, rd_end, rd, a != NULL ? a->target : NULL, &next, &target);
        if (t < 0 || next != rd_end)
            goto out_reset;
        if (a != NULL)
            a->target_len = (size_t)t;
    } else {
        if (rdlen != (type == TYPE_A ? 4 : 16))
            goto out_reset;
        if (a != NULL)
            memcpy(a->addr, msg + rd, rdlen);
    }

    if (a != NULL) {
        a->name_len = (size_t)n;
        a->type = type;
        a->ttl = ttl & 0x80000000u ? 0 : ttl;
        /* Kept: a's names stay as they are for the rest of the section's walk. */
        if (w->remember) {
            walk_remember(w, &owner, a->name, a->name_len);
            if (type == TYPE_CNAME)
                walk_remember(w, &target, a->target, a->target_len);
        }
    }
    *kept = true;
    *off = rd_end;
    return 0;

out_reset:
    if (a != NULL)
        answer_reset(a);
    return TW_EMALFORMED;
}

/* --- RDATA as text --- */

#define TYPE_NS 2
#define TYPE_MD 3
#define TYPE_MF 4
#define TYPE_SOA 6
#define TYPE_MB 7
#define TYPE_MG 8
#define TYPE_MR 9
#define TYPE_PTR 12
#define TYPE_MX 15
#define TYPE_TXT 16
#define TYPE_SRV 33
#define TYPE_DNAME 39
#define TYPE_SVCB 64
#define TYPE_HTTPS 65
#define TYPE_SPF 99

#define SVC_MANDATORY 0
#define SVC_ALPN 1
#define SVC_NO_DEFAULT_ALPN 2
#define SVC_PORT 3
#define SVC_IPV4HINT 4
#define SVC_ECH 5
#define SVC_IPV6HINT 6
#define SVC_DOHPATH 7

/* A bounded text writer: whatever does not fit is left off whole (an escape is never split)
 * and `cut` is set; buf always holds a NUL-terminated string. */
struct txt {
    char *buf;
    size_t cap, len; /* cap >= 1: room for the NUL */
    bool cut;
};

static void txt_put(struct txt *t, const char *s, size_t n)
{
    if (t->cut || n > t->cap - 1 - t->len) {
        t->cut = true;
        return;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void txt_str(struct txt *t, const char *s)
{
    txt_put(t, s, strlen(s));
}

/* Decimal, without the printf machinery (this runs for every answer of every response). */
static size_t fmt_uint(char *b, unsigned long v)
{
    char r[24];
    size_t n = 0, o = 0;

    do {
        r[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        b[o++] = r[--n];
    return o;
}

static void txt_uint(struct txt *t, unsigned long v)
{
    char b[24];

    txt_put(t, b, fmt_uint(b, v));
}

/* TXT bytes: printable ASCII as is, '\' doubled, others "\xHH" (as Zeek's logs show them). */
static void txt_bytes_hex_escaped(struct txt *t, const uint8_t *b, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        uint8_t c = b[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            txt_put(t, (const char *)&b[i], 1);
        } else if (c == '\\') {
            txt_put(t, "\\\\", 2);
        } else {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            txt_put(t, e, 4);
        }
    }
}

/* SvcParam value bytes (RFC 9460 char-string escapes): 0x21..0x7e except '"', '\' (and ','
 * when comma_list, written "\\,") as is, the rest "\DDD". */
static void txt_bytes_ddd(struct txt *t, const uint8_t *b, size_t n, bool comma_list)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = b[i];
        if (comma_list && (c == ',' || c == '\\')) {
            char e[3] = {'\\', '\\', (char)c};
            txt_put(t, e, 3);
        } else if (c > 0x20 && c < 0x7f && c != '"' && c != '\\') {
            txt_put(t, (const char *)&b[i], 1);
        } else {
            char e[5] = {'\\', (char)('0' + c / 100), (char)('0' + c / 10 % 10),
                         (char)('0' + c % 10), '\0'};
            txt_put(t, e, 4);
        }
    }
}

static void txt_base64(struct txt *t, const uint8_t *b, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16;
        size_t k = n - i;
        if (k > 1)
            v |= (uint32_t)b[i + 1] << 8;
        if (k > 2)
            v |= b[i + 2];
        char e[4] = {tab[v >> 18 & 63], tab[v >> 12 & 63], k > 1 ? tab[v >> 6 & 63] : '=',
                     k > 2 ? tab[v & 63] : '='};
        txt_put(t, e, 4);
    }
}

/* An octet in decimal (up to 3 digits, no leading zero) at b; its length. No division. */
static size_t fmt_octet(char *b, unsigned v)
{
    unsigned h = v * 41 >> 12; /* v / 100 for v < 256 (41 / 4096 = 1 / 99.9) */
    unsigned r = v - h * 100;
    unsigned t = r * 103 >> 10; /* r / 10 for r < 100 (103 / 1024 = 1 / 9.94) */
    size_t o = 0;

    if (h > 0)
        b[o++] = (char)('0' + h);
    if (h > 0 || t > 0)
        b[o++] = (char)('0' + t);
    b[o++] = (char)('0' + r - t * 10);
    return o;
}

static size_t fmt_v4(char *b, const uint8_t *a)
{
    size_t o = fmt_octet(b, a[0]);

    for (int i = 1; i < 4; i++) {
        b[o++] = '.';
        o += fmt_octet(b + o, a[i]);
    }
    return o;
}

/*
 * An address as inet_ntop() writes it (RFC 5952 for IPv6: lowercase hex without leading
 * zeros, the first longest run of two or more zero groups as "::", "::a.b.c.d" and
 * "::ffff:a.b.c.d" for IPv4-compatible and -mapped addresses), without its printf calls.
 */
static void txt_addr(struct txt *t, uint8_t version, const uint8_t *a)
{
    static const char hex[] = "0123456789abcdef";
    char b[48];
    size_t o = 0;
    uint16_t w[8];
    int best = -1, best_len = 0;

    if (version == 4) {
        txt_put(t, b, fmt_v4(b, a));
        return;
    }
    for (int i = 0; i < 8; i++)
        w[i] = (uint16_t)(a[2 * i] << 8 | a[2 * i + 1]);
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && w[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    if (best_len < 2)
        best = -1;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            b[o++] = ':';
            if (i + best_len == 8)
                b[o++] = ':';
            i += best_len - 1;
            continue;
        }
        if (i > 0)
            b[o++] = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
            o += fmt_v4(b + o, a + 12);
            break;
        }
        bool lead = true;
        for (int k = 12; k >= 0; k -= 4) {
            unsigned d = w[i] >> k & 15;
            if (d == 0 && lead && k > 0)
                continue;
            lead = false;
            b[o++] = hex[d];
        }
    }
    txt_put(t, b, o);
}

/* The name at off, in place inside the RDATA [.., rd_end); *next past it. */
static bool txt_name(struct txt *t, struct walk *w, size_t rd_end, size_t off, size_t *next)
{
    char name[TW_NAME_MAX];

    if (name_walk(w, rd_end, off, name, next, NULL) < 0)
        return false;
    txt_str(t, name);
    return true;
}

static const char *svc_key_name(uint16_t key)
{
    // clang-format off
    switch (key) {
    case SVC_MANDATORY: return "mandatory";
    case SVC_ALPN: return "alpn";
    case SVC_NO_DEFAULT_ALPN: return "no-default-alpn";
    case SVC_PORT: return "port";
    case SVC_IPV4HINT: return "ipv4hint";
    case SVC_ECH: return "ech";
    case SVC_IPV6HINT: return "ipv6hint";
    case SVC_DOHPATH: return "dohpath";
    default: return NULL;
    }
    // clang-format on
}

static void txt_svc_key(struct txt *t, uint16_t key)
{
    const char *kn = svc_key_name(key);

    if (kn != NULL) {
        txt_str(t, kn);
    } else {
        txt_str(t, "key");
        txt_uint(t, key);
    }
}

/* One SvcParam value (RFC 9460 section 7) of key; false when it does not parse. */
static bool txt_svc_value(struct txt *t, uint16_t key, const uint8_t *v, size_t n, bool *ech)
{
    switch (key) {
    case SVC_MANDATORY:
        if (n == 0 || n % 2 != 0)
            return false;
        txt_put(t, "=", 1);
        for (size_t i = 0; i < n; i += 2) {
            if (i > 0)
                txt_put(t, ",", 1);
            txt_svc_key(t, (uint16_t)(v[i] << 8 | v[i + 1]));
        }
        return true;
    case SVC_ALPN: {
        if (n == 0)
            return false;
        txt_put(t, "=", 1);
        for (size_t i = 0; i < n;) {
            size_t l = v[i++];
            if (l == 0 || l > n - i)
                return false;
            if (i > 1)
                txt_put(t, ",", 1);
            txt_bytes_ddd(t, v + i, l, true);
            i += l;
        }
        return true;
    }
    case SVC_NO_DEFAULT_ALPN:
        return n == 0;
    case SVC_PORT:
        if (n != 2)
            return false;
        txt_put(t, "=", 1);
        txt_uint(t, (unsigned long)(v[0] << 8 | v[1]));
        return true;
    case SVC_IPV4HINT:
    case SVC_IPV6HINT: {
        size_t al = key == SVC_IPV4HINT ? 4 : 16;
        if (n == 0 || n % al != 0)
            return false;
        txt_put(t, "=", 1);
        for (size_t i = 0; i < n; i += al) {
            if (i > 0)
                txt_put(t, ",", 1);
            txt_addr(t, key == SVC_IPV4HINT ? 4 : 6, v + i);
        }
        return true;
    }
    case SVC_ECH:
        /* The ECHConfigList a client encrypts its real ClientHello to (RFC 9848). */
        *ech = true;
        if (n == 0)
            return true; /* an empty value: written as the key alone */
        txt_put(t, "=", 1);
        txt_base64(t, v, n);
        return true;
    default:
        if (n > 0) {
            txt_put(t, "=", 1);
            txt_bytes_ddd(t, v, n, false);
        }
        return true;
    }
}

/* SVCB and HTTPS (RFC 9460 2.2): SvcPriority, TargetName, then SvcParams in increasing key
 * order, each key, length, value. */
static bool txt_svcb(struct txt *t, struct walk *w, size_t rd, size_t rd_end, bool *ech)
{
    const uint8_t *msg = w->msg;
    struct tw_cur c;
    size_t next;
    long prev = -1;

    if (rd_end - rd < 3)
        return false;
    txt_uint(t, (unsigned long)(msg[rd] << 8 | msg[rd + 1]));
    txt_put(t, " ", 1);
    if (!txt_name(t, w, rd_end, rd + 2, &next))
        return false;
    tw_cur_init(&c, msg + next, rd_end - next);
    while (tw_cur_left(&c) > 0) {
        uint16_t key = tw_get_be16(&c);
        uint16_t vlen = tw_get_be16(&c);
        const uint8_t *v = tw_get_bytes(&c, vlen);
        if (c.err || (long)key <= prev)
            return false;
        prev = key;
        txt_put(t, " ", 1);
        txt_svc_key(t, key);
        if (!txt_svc_value(t, key, v, vlen, ech))
            return false;
    }
    return true;
}

/* RFC 3597: "\# LEN HEX" (just "\# 0" for empty RDATA). */
static void txt_generic(struct txt *t, const uint8_t *b, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";

    txt_str(t, "\\# ");
    txt_uint(t, n);
    if (n > 0)
        txt_put(t, " ", 1);
    for (size_t i = 0; i < n; i++) {
        char e[2] = {hex[b[i] >> 4], hex[b[i] & 15]};
        txt_put(t, e, 2);
    }
}

/* The typed text of one record; false when the RDATA does not parse as its type. */
static bool txt_typed(struct txt *t, struct walk *w, size_t rd, size_t rd_end, uint16_t type,
                      uint16_t rclass, bool *ech)
{
    const uint8_t *msg = w->msg;
    size_t n = rd_end - rd, next;

    if (rclass != CLASS_IN && type != TYPE_TXT) {
        /* Other classes give the same types other RDATA (a CHAOS A is a name and an address). */
        txt_generic(t, msg + rd, n);
        return true;
    }
    switch (type) {
    case TYPE_A:
    case TYPE_AAAA:
        if (n != (type == TYPE_A ? 4u : 16u))
            return false;
        txt_addr(t, type == TYPE_A ? 4 : 6, msg + rd);
        return true;
    case TYPE_NS:
    case TYPE_MD:
    case TYPE_MF:
    case TYPE_CNAME:
    case TYPE_MB:
    case TYPE_MG:
    case TYPE_MR:
    case TYPE_PTR:
    case TYPE_DNAME:
        return txt_name(t, w, rd_end, rd, &next) && next == rd_end;
    case TYPE_MX: /* preference, exchange: the exchange */
        return n > 2 && txt_name(t, w, rd_end, rd + 2, &next) && next == rd_end;
    case TYPE_SRV: /* priority, weight, port, target: the target */
        return n > 6 && txt_name(t, w, rd_end, rd + 6, &next) && next == rd_end;
    case TYPE_SOA: { /* mname, rname, five 32-bit numbers: mname */
        size_t after;
        if (!txt_name(t, w, rd_end, rd, &next))
            return false;
        if (name_walk(w, rd_end, next, NULL, &after, NULL) < 0)
            return false;
        return rd_end - after == 20;
    }
    case TYPE_TXT:
    case TYPE_SPF:
        /* One or more character-strings, each a length and that many bytes. */
        if (n == 0)
            return false;
        for (size_t i = rd; i < rd_end;) {
            size_t l = msg[i++];
            if (l > rd_end - i)
                return false;
            txt_bytes_hex_escaped(t, msg + i, l);
            i += l;
        }
        return true;
    case TYPE_SVCB:
    case TYPE_HTTPS:
        return txt_svcb(t, w, rd, rd_end, ech);
    default:
        txt_generic(t, msg + rd, n);
        return true;
    }
}

static int rdata_text(struct walk *w, size_t rd, uint16_t rdlen, uint16_t type, uint16_t rclass,
                      char *out, size_t cap, bool *ech)
{
    const uint8_t *msg = w->msg;
    size_t len = w->msg_len;
    struct txt t = {.buf = out, .cap = cap};
    bool svc_ech = false;

    *ech = false;
    if (cap == 0)
        return TW_EINVAL;
    out[0] = '\0';
    if (rd > len || rdlen > len - rd)
        return TW_EINVAL;
    if (!txt_typed(&t, w, rd, rd + rdlen, type, rclass, &svc_ech)) {
        t.len = 0;
        t.cut = false;
        out[0] = '\0';
        txt_generic(&t, msg + rd, rdlen);
        return t.cut ? TW_ENOMEM : TW_EMALFORMED;
    }
    *ech = svc_ech;
    return t.cut ? TW_ENOMEM : (int)t.len;
}

int tw_dns_rdata_text(const uint8_t *msg, size_t len, size_t rd, uint16_t rdlen, uint16_t type,
                      uint16_t rclass, char *out, size_t cap, bool *ech)
{
    struct walk w;

    walk_init(&w, msg, len);
    return rdata_text(&w, rd, rdlen, type, rclass, out, cap, ech);
}

/* The text of record i (RDATA at msg[rd..rd + rdlen)) into out's text space. */
static void record_text(struct walk *wk, const struct rr_fixed *fx, struct tw_dns_answers *out)
{
    bool ech = false;
    size_t room = sizeof(out->text) - out->text_len;

    if (out->n_text >= TW_DNS_MAX_ANSWERS) {
        out->text_flags |= TW_DNS_TEXT_SKIPPED;
        return;
    }
    if (room == 0 || (out->text_flags & TW_DNS_TEXT_CUT)) {
        /* The text space is used up: later records get no text. */
        out->text_flags |= TW_DNS_TEXT_CUT;
        return;
    }
    char *w = out->text + out->text_len;
    int n = rdata_text(wk, fx->rd, fx->rdlen, fx->type, fx->rclass, w, room, &ech);
    if (n == TW_EMALFORMED)
        out->text_flags |= TW_DNS_TEXT_BAD_RDATA;
    else if (n == TW_ENOMEM)
        out->text_flags |= TW_DNS_TEXT_CUT;
    if (ech)
        out->text_flags |= TW_DNS_TEXT_ECH;
    out->text_type[out->n_text] = fx->type;
    out->text_ttl[out->n_text] = fx->ttl & 0x80000000u ? 0 : fx->ttl;
    out->text_off[out->n_text] = (uint16_t)out->text_len;
    out->n_text++;
    out->text_len += strlen(w) + 1;
}

/* tw_dns_parse_answers(); with m (the message's header and questions), names that point to
 * a question's or a kept answer's name are read from it (walk_recall). */
static int parse_answers(const uint8_t *msg, size_t len, size_t off, uint16_t ancount,
                         const struct tw_dns_msg *m, struct tw_dns_answers *out)
{
    out->n = out->skipped = out->odd = 0;
    out->n_text = out->text_flags = 0;
    out->text_len = 0;
    /* Only the records the last call wrote: the rest of a[] is reset already. */
    for (unsigned i = 0; i < out->dirty; i++)
        answer_reset(&out->a[i]);
    out->dirty = 0;

    if (off < TW_DNS_HDR_LEN || off > len)
        return TW_EMALFORMED;
    struct walk w;
    walk_init(&w, msg, len);
    if (m != NULL) {
        w.remember = true;
        for (unsigned i = 0; i < m->n_questions && i < WALK_MEMOS / 2; i++)
            walk_remember(&w, &m->qwalk[i], m->q[i].name, m->q[i].name_len);
    }
    for (unsigned i = 0; i < ancount; i++) {
        struct tw_dns_answer *a = out->n < TW_DNS_MAX_ANSWERS ? &out->a[out->n] : NULL;
        struct rr_fixed fx;
        bool kept;
        if (a != NULL)
            out->dirty = out->n + 1;
        if (answer_one(&w, &off, a, &kept, &fx) < 0) {
            out->odd = w.odd; /* also for the records kept before the error */
            return TW_EMALFORMED;
        }
        if (kept && a != NULL)
            out->n++;
        else
            out->skipped++;
        if (!out->no_text)
            record_text(&w, &fx, out);
    }
    out->odd = w.odd;
    return 0;
}

int tw_dns_parse_answers(const uint8_t *msg, size_t len, size_t off, uint16_t ancount,
                         struct tw_dns_answers *out)
{
    return parse_answers(msg, len, off, ancount, NULL, out);
}

int tw_dns_parse_answers_of(const uint8_t *msg, size_t len, size_t off,
                            const struct tw_dns_msg *m, struct tw_dns_answers *out)
{
    return parse_answers(msg, len, off, m->ancount, m, out);
}

void tw_dns_answers_init(struct tw_dns_answers *a)
{
    memset(a, 0, sizeof(*a));
}

/* Whether name x (xn bytes) is one of names[0..n) (lengths lens): ASCII case-insensitive,
 * presentation-form escapes being digits and punctuation. */
static bool name_in(const char *x, size_t xn, const char *const *names, const size_t *lens,
                    size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lens[i] == xn && tw_ascii_eq_nocase(x, names[i], xn))
            return true;
    return false;
}

size_t tw_dns_cname_chain(const struct tw_dns_answers *ans, const char *qname, const char **chain,
                          size_t max,
                          void (*fn)(void *ctx, const uint8_t *addr, uint8_t version, uint32_t ttl),
                          void *ctx)
{
    /* Every name after qname is the target of a distinct CNAME record. */
    const char *names[TW_DNS_MAX_ANSWERS + 1];
    size_t lens[TW_DNS_MAX_ANSWERS + 1];
    size_t n = 0;

    if (ans == NULL || qname == NULL || (chain == NULL && max > 0))
        return 0;
    unsigned count = TW_MIN(ans->n, (unsigned)TW_DNS_MAX_ANSWERS);
    names[n] = qname;
    lens[n++] = strlen(qname);
    while (n < TW_ARRAY_SIZE(names)) {
        const struct tw_dns_answer *t = NULL;
        for (unsigned i = 0; i < count && t == NULL; i++)
            if (ans->a[i].type == TYPE_CNAME &&
                name_in(ans->a[i].name, ans->a[i].name_len, &names[n - 1], &lens[n - 1], 1))
                t = &ans->a[i];
        if (t == NULL || name_in(t->target, t->target_len, names, lens, n))
            break;
        names[n] = t->target;
        lens[n++] = t->target_len;
    }

    for (size_t i = 0; i < n && i < max; i++)
        chain[i] = names[i];

    if (fn != NULL) {
        for (unsigned i = 0; i < count; i++) {
            const struct tw_dns_answer *a = &ans->a[i];
            if ((a->type == TYPE_A || a->type == TYPE_AAAA) &&
                name_in(a->name, a->name_len, names, lens, n))
                fn(ctx, a->addr, a->type == TYPE_A ? 4 : 6, a->ttl);
        }
    }
    return TW_MIN(n, max);
}

const char *tw_dns_oddity_name(enum tw_dns_oddity o)
{
    static const char *const names[TW_DNS_ODD__COUNT] = {TW_DNS_ODDITIES(TW_X_NAME)};

    return (unsigned)o < TW_DNS_ODD__COUNT ? names[o] : "?";
}

const char *tw_dns_oddity_counter(enum tw_dns_oddity o)
{
#define TW_DNS_ODD_COUNTER(id, name) [id] = "dns_" name,
    static const char *const names[TW_DNS_ODD__COUNT] = {TW_DNS_ODDITIES(TW_DNS_ODD_COUNTER)};
#undef TW_DNS_ODD_COUNTER

    return (unsigned)o < TW_DNS_ODD__COUNT ? names[o] : "dns_?";
}

/* IANA "Resource Record (RR) TYPEs" registry, the types seen in queries. */
const char *tw_dns_qtype_name(uint16_t qtype)
{
    // clang-format off
    switch (qtype) {
    case 1: return "A";
    case 2: return "NS";
    case 3: return "MD";
    case 4: return "MF";
    case 5: return "CNAME";
    case 6: return "SOA";
    case 7: return "MB";
    case 8: return "MG";
    case 9: return "MR";
    case 10: return "NULL";
    case 11: return "WKS";
    case 12: return "PTR";
    case 13: return "HINFO";
    case 14: return "MINFO";
    case 15: return "MX";
    case 16: return "TXT";
    case 17: return "RP";
    case 18: return "AFSDB";
    case 19: return "X25";
    case 20: return "ISDN";
    case 21: return "RT";
    case 22: return "NSAP";
    case 23: return "NSAP-PTR";
    case 24: return "SIG";
    case 25: return "KEY";
    case 26: return "PX";
    case 27: return "GPOS";
    case 28: return "AAAA";
    case 29: return "LOC";
    case 30: return "NXT";
    case 33: return "SRV";
    case 35: return "NAPTR";
    case 36: return "KX";
    case 37: return "CERT";
    case 38: return "A6";
    case 39: return "DNAME";
    case 41: return "OPT";
    case 42: return "APL";
    case 43: return "DS";
    case 44: return "SSHFP";
    case 45: return "IPSECKEY";
    case 46: return "RRSIG";
    case 47: return "NSEC";
    case 48: return "DNSKEY";
    case 49: return "DHCID";
    case 50: return "NSEC3";
    case 51: return "NSEC3PARAM";
    case 52: return "TLSA";
    case 53: return "SMIMEA";
    case 55: return "HIP";
    case 59: return "CDS";
    case 60: return "CDNSKEY";
    case 61: return "OPENPGPKEY";
    case 62: return "CSYNC";
    case 63: return "ZONEMD";
    case 64: return "SVCB";
    case 65: return "HTTPS";
    case 99: return "SPF";
    case 104: return "NID";
    case 105: return "L32";
    case 106: return "L64";
    case 107: return "LP";
    case 108: return "EUI48";
    case 109: return "EUI64";
    case 249: return "TKEY";
    case 250: return "TSIG";
    case 251: return "IXFR";
    case 252: return "AXFR";
    case 253: return "MAILB";
    case 254: return "MAILA";
    case 255: return "ANY";
    case 256: return "URI";
    case 257: return "CAA";
    case 32768: return "TA";
    case 32769: return "DLV";
    default: return NULL;
    }
    // clang-format on
}

int tw_dns_tcp_frame(const uint8_t *buf, size_t len, const uint8_t **msg, size_t *msg_len)
{
    struct tw_cur c;
    size_t n;

    *msg = NULL;
    *msg_len = 0;
    tw_cur_init(&c, buf, len);
    n = tw_get_be16(&c);
    if (c.err)
        return TW_EINCOMPLETE;
    *msg_len = n;
    if (tw_cur_left(&c) < n)
        return TW_EINCOMPLETE;
    *msg = c.p;
    return (int)(n + 2);
}

/* Zeek's base_errors (scripts/base/protocols/dns/consts.zeek) for the 4-bit header RCODE. */
const char *tw_dns_rcode_name(uint8_t rcode)
{
    static const char *const names[16] = {
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSet", "NOTAUTH", "NOTZONE", "unassigned-11",
        "unassigned-12", "unassigned-13", "unassigned-14", "unassigned-15",
    };

    return names[rcode & 0xF];
}
