/* SPDX-License-Identifier: MIT */
/*
 * Sigma value modifiers: the modifiers of a "Field|mod|mod" key, and the transforms of a
 * value as tokens (escapes and wildcards; contains, startswith, endswith; windash; wide,
 * utf16le, utf16be, utf16; base64 and base64offset).
 */
#include "rules_impl.h"

#include <stdlib.h>
#include <string.h>

#include "tunwatch/base/ascii.h"

void rules_tset_free(struct tset *ts)
{
    for (size_t i = 0; i < ts->n; i++)
        free(ts->v[i].t);
    ts->n = 0;
}

static bool tstr_special(const struct tstr *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i] >= T_STAR)
            return true;
    return false;
}

/* Parses Sigma escapes: \* \? \\ are literal, any other backslash is literal itself. */
int rules_tstr_parse(const char *s, size_t len, struct tstr *out)
{
    out->n = 0;
    out->t = malloc((len + 1) * sizeof(*out->t));
    if (!out->t)
        return TW_ENOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch == '\\' && i + 1 < len && (s[i + 1] == '*' || s[i + 1] == '?' || s[i + 1] == '\\'))
            out->t[out->n++] = (unsigned char)s[++i];
        else if (ch == '*')
            out->t[out->n++] = T_STAR;
        else if (ch == '?')
            out->t[out->n++] = T_ONE;
        else
            out->t[out->n++] = ch;
    }
    return 0;
}

/* contains / startswith / endswith: a '*' at the start and/or end unless one is there. */
int rules_tstr_wild(struct tstr *s, bool front, bool back)
{
    uint16_t *t = malloc((s->n + 2) * sizeof(*t));
    size_t n = 0;

    if (!t)
        return TW_ENOMEM;
    if (front && (s->n == 0 || s->t[0] != T_STAR))
        t[n++] = T_STAR;
    if (s->n)
        memcpy(t + n, s->t, s->n * sizeof(*t));
    n += s->n;
    if (back && (n == 0 || t[n - 1] != T_STAR))
        t[n++] = T_STAR;
    free(s->t);
    s->t = t;
    s->n = n;
    return 0;
}

static bool word_tok(uint16_t t)
{
    return t < T_STAR && (tw_ascii_alnum((uint8_t)t) || t == '_' || t >= 0x80);
}

/*
 * windash: every '-' or '/' that starts a word (regex \B[-/]\b: no word character
 * before it, one after it) becomes each of '-', '/', en dash, em dash and horizontal
 * bar (UTF-8), all combinations.
 */
int rules_tset_windash(struct lctx *c, struct tset *ts)
{
    static const char *const dash[] = {"-", "/", "\xe2\x80\x93", "\xe2\x80\x94", "\xe2\x80\x95"};
    struct tset in = *ts;
    int rc = 0;

    ts->n = 0;
    for (size_t v = 0; v < in.n && !rc; v++) {
        const struct tstr *s = &in.v[v];
        size_t pos[16], np = 0, combos = 1;

        for (size_t i = 0; i < s->n; i++) {
            if ((s->t[i] == '-' || s->t[i] == '/') && (i == 0 || !word_tok(s->t[i - 1])) &&
                i + 1 < s->n && word_tok(s->t[i + 1])) {
                if (np == TW_ARRAY_SIZE(pos))
                    return SKIP(c, "windash expands to too many values");
                pos[np++] = i;
                combos *= TW_ARRAY_SIZE(dash);
                if (combos > EXPAND_MAX)
                    break;
            }
        }
        if (ts->n + combos > EXPAND_MAX) {
            rc = SKIP(c, "windash expands to too many values");
            break;
        }
        for (size_t k = 0; k < combos; k++) {
            struct tstr *o = &ts->v[ts->n];
            size_t sel = k, p = 0;

            o->n = 0;
            o->t = malloc((s->n * 3 + 1) * sizeof(*o->t));
            if (!o->t) {
                rc = TW_ENOMEM;
                break;
            }
            ts->n++;
            for (size_t i = 0; i < s->n; i++) {
                if (p < np && pos[p] == i) {
                    const char *d = dash[sel % TW_ARRAY_SIZE(dash)];

                    sel /= TW_ARRAY_SIZE(dash);
                    p++;
                    for (; *d; d++)
                        o->t[o->n++] = (unsigned char)*d;
                } else {
                    o->t[o->n++] = s->t[i];
                }
            }
        }
    }
    rules_tset_free(&in);
    return rc;
}

/* UTF-16 (le, be, or le with a byte order mark) of the UTF-8 in the literal runs. */
int rules_tstr_utf16(struct lctx *c, struct tstr *s, char mode)
{
    uint16_t *t = malloc((s->n * 4 + 2) * sizeof(*t));
    size_t n = 0;

    if (!t)
        return TW_ENOMEM;
    if (mode == 'b') { /* utf16: byte order mark, then little endian */
        t[n++] = 0xff;
        t[n++] = 0xfe;
    }
    for (size_t i = 0; i < s->n;) {
        uint32_t cp;
        size_t need;
        uint16_t u[2];
        size_t nu = 1;

        if (s->t[i] >= T_STAR) {
            t[n++] = s->t[i++];
            continue;
        }
        cp = s->t[i];
        need = cp < 0x80             ? 0
               : (cp & 0xe0) == 0xc0 ? 1
               : (cp & 0xf0) == 0xe0 ? 2
               : (cp & 0xf8) == 0xf0 ? 3
                                     : 4;
        if (need == 4 || i + need >= s->n + (need ? 0 : 1)) {
            free(t);
            return SKIP(c, "value is not valid UTF-8 for a utf16 modifier");
        }
        cp = need ? cp & (0x3fu >> need) : cp;
        for (size_t j = 1; j <= need; j++) {
            if (s->t[i + j] >= T_STAR || (s->t[i + j] & 0xc0) != 0x80) {
                free(t);
                return SKIP(c, "value is not valid UTF-8 for a utf16 modifier");
            }
            cp = cp << 6 | (s->t[i + j] & 0x3fu);
        }
        i += need + 1;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            u[0] = (uint16_t)(0xd800 | (cp >> 10));
            u[1] = (uint16_t)(0xdc00 | (cp & 0x3ff));
            nu = 2;
        } else {
            u[0] = (uint16_t)cp;
        }
        for (size_t j = 0; j < nu; j++) {
            if (mode == 'B') {
                t[n++] = u[j] >> 8;
                t[n++] = u[j] & 0xff;
            } else {
                t[n++] = u[j] & 0xff;
                t[n++] = u[j] >> 8;
            }
        }
    }
    free(s->t);
    s->t = t;
    s->n = n;
    return 0;
}

/* Standard base64 with padding of in[0..n) into out (4 * ((n + 2) / 3) tokens). */
static size_t b64(const uint8_t *in, size_t n, uint16_t *out)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t r = n - i;

        if (r > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (r > 2)
            v |= in[i + 2];
        out[o++] = (unsigned char)al[v >> 18 & 63];
        out[o++] = (unsigned char)al[v >> 12 & 63];
        out[o++] = r > 1 ? (unsigned char)al[v >> 6 & 63] : '=';
        out[o++] = r > 2 ? (unsigned char)al[v & 63] : '=';
    }
    return o;
}

/*
 * base64: the encoding of the value. base64offset: the three encodings of the value
 * at offsets 0, 1 and 2 of a longer text, trimmed to the characters that do not
 * depend on its neighbours (Sigma's definition: start offsets 0, 2, 3; end offsets
 * none, -3, -2 chosen by (len + offset) % 3).
 */
int rules_tstr_base64(struct lctx *c, struct tset *ts, bool offset)
{
    static const size_t start[3] = {0, 2, 3};
    static const size_t endcut[3] = {0, 3, 2};
    struct tset in = *ts;
    int rc = 0;

    ts->n = 0;
    for (size_t v = 0; v < in.n && !rc; v++) {
        const struct tstr *s = &in.v[v];
        uint8_t *bytes;

        if (tstr_special(s)) {
            rc = SKIP(c, "base64 of a value with wildcards");
            break;
        }
        if (ts->n + (offset ? 3 : 1) > EXPAND_MAX) {
            rc = SKIP(c, "value expands to too many values");
            break;
        }
        bytes = malloc(s->n + 3);
        if (!bytes) {
            rc = TW_ENOMEM;
            break;
        }
        for (size_t i = 0; i < (offset ? 3u : 1u) && !rc; i++) {
            struct tstr *o = &ts->v[ts->n];
            size_t n = i + s->n, enc, cut = endcut[(s->n + i) % 3], from = offset ? start[i] : 0;

            memset(bytes, ' ', i);
            for (size_t j = 0; j < s->n; j++)
                bytes[i + j] = (uint8_t)s->t[j];
            o->t = malloc((4 * ((n + 2) / 3) + 1) * sizeof(*o->t));
            if (!o->t) {
                rc = TW_ENOMEM;
                break;
            }
            ts->n++;
            enc = b64(bytes, n, o->t);
            if (!offset)
                cut = 0;
            if (from + cut > enc)
                from = enc, cut = 0;
            memmove(o->t, o->t + from, (enc - from - cut) * sizeof(*o->t));
            o->n = enc - from - cut;
        }
        free(bytes);
    }
    rules_tset_free(&in);
    return rc;
}

int rules_parse_mods(struct lctx *c, const char *key, const char *bar, struct mods *md)
{
    while (bar) {
        const char *mod = bar + 1;
        size_t ml;
        char t = 0;

        bar = strchr(mod, '|');
        ml = bar ? (size_t)(bar - mod) : strlen(mod);
#define IS(w) (ml == sizeof(w) - 1 && memcmp(mod, w, ml) == 0)
        if (IS("all")) {
            md->all = true;
            continue;
        }
        if (IS("cased")) {
            md->cased = true;
            continue;
        }
        if (md->re && (IS("i") || IS("ignorecase"))) {
            md->re_opts |= PCRE2_CASELESS;
            continue;
        }
        if (md->re && (IS("m") || IS("multiline"))) {
            md->re_opts |= PCRE2_MULTILINE;
            continue;
        }
        if (md->re && (IS("s") || IS("dotall"))) {
            md->re_opts |= PCRE2_DOTALL;
            continue;
        }
        if (IS("contains"))
            t = 'c';
        else if (IS("startswith"))
            t = 's';
        else if (IS("endswith"))
            t = 'e';
        else if (IS("windash"))
            t = 'w';
        else if (IS("base64"))
            t = '6';
        else if (IS("base64offset"))
            t = 'o';
        else if (IS("wide") || IS("utf16le"))
            t = 'l';
        else if (IS("utf16be"))
            t = 'B';
        else if (IS("utf16"))
            t = 'b';
        if (t) {
            if (md->cidr || md->exists || md->num || (md->re && !strchr("cse", t)) ||
                (md->strmod && strchr("cse", t)) || (md->fieldref && !strchr("cse", t)))
                return SKIP(c, "conflicting modifiers in '%s'", key);
            if (t == 'c' || t == 's' || t == 'e')
                md->strmod = t;
            if (md->n_chain == sizeof(md->chain))
                return SKIP(c, "too many modifiers in '%s'", key);
            md->chain[md->n_chain++] = t;
            continue;
        }
        if (md->n_chain || md->cidr || md->exists || md->re || md->num || md->fieldref)
            return SKIP(c, "conflicting modifiers in '%s'", key);
        if (IS("cidr"))
            md->cidr = true;
        else if (IS("exists"))
            md->exists = true;
        else if (IS("re"))
            md->re = true;
        else if (IS("fieldref"))
            md->fieldref = true;
        else if (IS("gt") || IS("gte") || IS("lt") || IS("lte") || IS("neq")) {
            md->num = true;
            md->op = IS("gt")    ? OP_GT
                     : IS("gte") ? OP_GTE
                     : IS("lt")  ? OP_LT
                     : IS("lte") ? OP_LTE
                                 : OP_NEQ;
        } else if (IS("expand"))
            return SKIP(c, "modifier 'expand' needs placeholder values, which are not configured");
        else
            return SKIP(c, "unsupported modifier '%.*s'", (int)(ml > 64 ? 64 : ml), mod);
#undef IS
    }
    if (md->cased && (md->cidr || md->exists || md->re || md->num))
        return SKIP(c, "conflicting modifiers in '%s'", key);
    return 0;
}
