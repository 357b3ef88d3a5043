/* SPDX-License-Identifier: MIT */
/*
 * A fast reader for the block-style YAML rule files are written in: block maps and sequences,
 * one-line plain, single-quoted and double-quoted scalars, literal and folded block scalars
 * (`|`, `>`, with a chomping indicator), comments and `---` between documents. It builds the same document tree libyaml's events build (rules_ydoc_*), about
 * ten times faster, which is what makes 100,000 rules load in a fraction of a second.
 *
 * It never decides what YAML means on its own: anything outside that subset (flow
 * collections, anchors, aliases, tags, multi-line flow scalars, block scalars with an indentation
 * indicator, leading or over-indented blank lines or (folded) more-indented lines, complex keys,
 * directives, tabs, carriage returns, a byte order mark, escapes other than the simple ones,
 * characters YAML treats as line breaks or refuses, keys over 1,000 bytes, nesting beyond
 * YAML_DEPTH_MAX, anything YAML would call an error) ends it with TW_ENOTSUP, and the caller
 * reads the file again with libyaml, whose tree and error messages are then the answer. So the
 * subset only has to be right about what it accepts: tests/test_rules_yaml.c compares both
 * readers' trees over every rule file at hand and over generated and mutated documents.
 */
#include "rules_impl.h"

#include <string.h>

#define NOPE TW_ENOTSUP
#define KEY_MAX 1000 /* libyaml refuses implicit keys over 1024 characters */

struct fblk {
    uint8_t type; /* Y_MAP or Y_SEQ */
    int indent;
};

struct fparse {
    struct ydoc *d;
    struct fblk st[YAML_DEPTH_MAX];
    int n;            /* open blocks */
    bool root_seen;   /* the document's root node has started */
    bool pending;     /* a "key:" or "-" whose value is on a later line (or null) */
    bool pend_seq;    /* ... after "-" (else after "key:") */
    int pend_indent;  /* ... at this indent */
    char *tmp;        /* unescaped double-quoted scalars, block scalars */
    size_t tmp_cap;
    const char *next; /* the line after the one being read (block scalars read on) */
    const char *end;
};

/* Whether every byte of a line (without its LF) is one the subset reads as it is: printable
 * ASCII, or well-formed UTF-8 for a character YAML accepts that is not a line break (U+0085,
 * U+2028, U+2029) and not U+FEFF. */
static bool plain_text(const unsigned char *s, size_t len)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t x;
    size_t i = 0;
#define ASCII_WORD(p) (memcpy(&x, (p), 8), (((x - ones * 0x20) | (x + ones * 0x01) | x) & high) == 0)

    /* eight bytes at a time while they are all printable ASCII (none below 0x20, none at or
     * above 0x7f), the last eight overlapping */
    if (len >= 8) {
        while (len - i >= 8 && ASCII_WORD(s + i))
            i += 8;
        if (len - i < 8 && (i == len || ASCII_WORD(s + len - 8)))
            return true;
    }
#undef ASCII_WORD
    while (i < len) {
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x7f) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t w;
        if (c >= 0xc2 && c <= 0xdf) {
            cp = c & 0x1f;
            w = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            cp = c & 0x0f;
            w = 3;
        } else if (c >= 0xf0 && c <= 0xf4) {
            cp = c & 0x07;
            w = 4;
        } else {
            return false; /* controls, DEL, stray continuation bytes, overlong leads */
        }
        if (len - i < w)
            return false;
        for (size_t k = 1; k < w; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((w == 3 && cp < 0x800) || (w == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return false; /* overlong or out of range */
        if (cp < 0xa0 || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0x2028 || cp == 0x2029 ||
            cp == 0xfeff || cp == 0xfffe || cp == 0xffff)
            return false;
        i += w;
    }
    return true;
}

static bool blank_or_comment(const char *p, const char *le)
{
    while (p < le && *p == ' ')
        p++;
    return p == le || *p == '#';
}

/* Skips the spaces from *v; when nothing but a comment follows, the value of the "KEY:" or
 * "-" at `indent` is on a later line (or null): that is noted and true returned. */
static bool value_later(struct fparse *f, const char **v, const char *le, int indent, bool seq)
{
    while (*v < le && **v == ' ')
        (*v)++;
    if (*v < le && **v != '#')
        return false;
    f->pending = true;
    f->pend_seq = seq;
    f->pend_indent = indent;
    return true;
}

/* Whether a plain scalar may start at c: not with an indicator YAML gives a meaning to there
 * ("-", "?" and ":" only when a non-space follows). */
static bool plain_start(const char *c, const char *le)
{
    switch (*c) {
    case '[': case ']': case '{': case '}': case ',': case '&': case '*': case '!':
    case '|': case '>': case '%': case '@': case '`': case '#': case '\'': case '"':
        return false;
    case '-': case '?': case ':':
        return c + 1 < le && c[1] != ' ';
    default:
        return true;
    }
}

/* Where the plain key starting at c ends (its ':'), or NULL when the line from c is not
 * "KEY: ..." with a plain key. */
static const char *plain_key_end(const char *c, const char *le)
{
    const char *p = c;

    while ((p = memchr(p, ':', (size_t)(le - p))) != NULL) {
        if (p + 1 == le || p[1] == ' ')
            break;
        p++;
    }
    if (p == NULL)
        return NULL;
    /* a comment before it ends the line: " #" */
    for (const char *h = c; (h = memchr(h, '#', (size_t)(p - h))) != NULL; h++)
        if (h > c && h[-1] == ' ')
            return NULL;
    return p;
}

/* Reads the quoted scalar at c (c[0] is the quote) into f->tmp; *after is past its closing
 * quote. 0, NOPE (not closed on this line, an escape left to libyaml) or TW_ENOMEM. */
static int quoted(struct fparse *f, const char *c, const char *le, size_t *len, const char **after)
{
    char q = *c;
    size_t n = 0;

    if ((size_t)(le - c) > f->tmp_cap && grow((void **)&f->tmp, &f->tmp_cap, (size_t)(le - c), 1))
        return TW_ENOMEM;
    for (const char *p = c + 1; p < le; p++) {
        char ch = *p;
        if (ch == q) {
            if (q == '\'' && p + 1 < le && p[1] == '\'') {
                f->tmp[n++] = '\'';
                p++;
                continue;
            }
            *len = n;
            *after = p + 1;
            return 0;
        }
        if (q == '"' && ch == '\\') {
            if (++p == le)
                return NOPE; /* an escaped line break */
            switch (*p) {
            case '\\': ch = '\\'; break;
            case '"': ch = '"'; break;
            case '/': ch = '/'; break;
            case ' ': ch = ' '; break;
            case '0': ch = '\0'; break;
            case 'a': ch = '\a'; break;
            case 'b': ch = '\b'; break;
            case 't': ch = '\t'; break;
            case 'n': ch = '\n'; break;
            case 'v': ch = '\v'; break;
            case 'f': ch = '\f'; break;
            case 'r': ch = '\r'; break;
            case 'e': ch = '\x1b'; break;
            default: return NOPE; /* \x \u \U \N \_ \L \P and errors: libyaml's */
            }
        }
        f->tmp[n++] = ch;
    }
    return NOPE; /* a quoted scalar that goes on to the next line */
}

/* Appends n bytes (or n copies of ch when s is NULL) to f->tmp at *len. */
static int put(struct fparse *f, size_t *len, const char *s, size_t n, char ch)
{
    if (n > f->tmp_cap - *len && grow((void **)&f->tmp, &f->tmp_cap, *len + n, 1))
        return TW_ENOMEM;
    if (s != NULL)
        memcpy(f->tmp + *len, s, n);
    else
        memset(f->tmp + *len, ch, n);
    *len += n;
    return 0;
}

/* A literal (|) or folded (>) block scalar whose header is at c, in a block indented by
 * `indent`: reads its lines from f->next on. The content's indent is the first line's;
 * libyaml's rules for lines and chomping (clip, strip -, keep +). */
static int block_scalar(struct fparse *f, int indent, const char *c, const char *le)
{
    bool folded = *c == '>';
    char chomp = 'c';
    const char *h = c + 1;
    size_t len = 0, empties = 0;
    int cind = 0, rc;
    bool any = false, broken = false; /* a content line read; the last one had a line break */

    if (h < le && (*h == '-' || *h == '+'))
        chomp = *h++;
    if (h < le && *h != ' ')
        return NOPE; /* an indentation indicator, or something YAML refuses */
    if (!blank_or_comment(h, le))
        return NOPE;
    const char *p = f->next;
    while (p < f->end) {
        const char *e = memchr(p, '\n', (size_t)(f->end - p));
        if (e == NULL)
            e = f->end;
        if (!plain_text((const unsigned char *)p, (size_t)(e - p)))
            return NOPE;
        int sp = 0;
        while (p + sp < e && p[sp] == ' ')
            sp++;
        if (p + sp == e) { /* an empty line */
            if (!any || sp > cind)
                return NOPE; /* leading, or with spaces that would be content */
            empties += e < f->end; /* the last line of the file may have no break */
        } else {
            if (!any) {
                if (sp <= indent)
                    return NOPE; /* an empty scalar */
                cind = sp;
            } else if (sp < cind) {
                break; /* the scalar ends before this line */
            }
            if (folded && sp > cind)
                return NOPE; /* a more-indented line keeps its breaks: libyaml's */
            if (any) {
                if (!folded || empties)
                    rc = put(f, &len, NULL, folded ? empties : empties + 1, '\n');
                else
                    rc = put(f, &len, " ", 1, 0);
                if (rc)
                    return rc;
            }
            if ((rc = put(f, &len, p + cind, (size_t)(e - p - cind), 0)))
                return rc;
            any = true;
            broken = e < f->end;
            empties = 0;
        }
        p = e < f->end ? e + 1 : e;
    }
    if (!any)
        return NOPE;
    if (chomp != '-' && broken &&
        (rc = put(f, &len, NULL, chomp == '+' ? empties + 1 : 1, '\n')))
        return rc;
    f->next = p;
    return rules_ydoc_scalar(f->d, f->tmp, len, false);
}

/* The value starting at the non-blank c: a one-line scalar, with nothing but a comment after
 * it, or a block scalar. `indent` is the block's the value is in. */
static int value(struct fparse *f, int indent, const char *c, const char *le)
{
    switch (*c) {
    case '|':
    case '>':
        return block_scalar(f, indent, c, le);
    case '\'':
    case '"': {
        size_t len;
        const char *after;
        int rc = quoted(f, c, le, &len, &after);
        if (rc)
            return rc;
        if (after < le && (*after != ' ' || !blank_or_comment(after, le)))
            return NOPE;
        return rules_ydoc_scalar(f->d, f->tmp, len, false);
    }
    default:
        break;
    }
    if (!plain_start(c, le))
        return NOPE;
    const char *end = le; /* c is not '#': a comment starts after a space */
    for (const char *h = c; (h = memchr(h, '#', (size_t)(le - h))) != NULL; h++) {
        if (h[-1] == ' ') {
            end = h;
            break;
        }
    }
    for (const char *p = c; (p = memchr(p, ':', (size_t)(end - p))) != NULL; p++)
        if (p + 1 == le || p[1] == ' ')
            return NOPE; /* a map where YAML allows none */
    while (end > c && end[-1] == ' ')
        end--;
    return rules_ydoc_scalar(f->d, c, (size_t)(end - c), true);
}

/* Where the key of the line from c ends (its ':') when the line is "KEY: ..." or "KEY:" with a
 * plain or quoted KEY, else NULL. */
static const char *key_colon(struct fparse *f, const char *c, const char *le)
{
    if (*c == '\'' || *c == '"') {
        size_t len;
        const char *after;
        if (quoted(f, c, le, &len, &after) == 0 && after < le && *after == ':' &&
            (after + 1 == le || after[1] == ' '))
            return after;
        return NULL;
    }
    return plain_key_end(c, le);
}

/* "KEY: VALUE", "KEY:" (value on later lines, or null), at c; colon from key_colon(). */
static int pair(struct fparse *f, int indent, const char *c, const char *colon, const char *le)
{
    int rc;

    if (colon == NULL || colon - c > KEY_MAX)
        return NOPE;
    if (*c == '\'' || *c == '"') {
        size_t len;
        const char *after;
        if ((rc = quoted(f, c, le, &len, &after)))
            return rc;
        rc = rules_ydoc_scalar(f->d, f->tmp, len, false);
    } else {
        if (!plain_start(c, le) || colon == c || colon[-1] == ' ')
            return NOPE;
        rc = rules_ydoc_scalar(f->d, c, (size_t)(colon - c), true);
    }
    if (rc)
        return rc;
    const char *v = colon + 1;
    if (value_later(f, &v, le, indent, false))
        return 0;
    return value(f, indent, v, le);
}

static int open_blk(struct fparse *f, enum ytype type, int indent)
{
    if (f->n >= YAML_DEPTH_MAX)
        return NOPE; /* libyaml's reading reports it */
    int rc = rules_ydoc_open(f->d, type);
    if (rc)
        return rc;
    f->st[f->n++] = (struct fblk){(uint8_t)type, indent};
    f->root_seen = true;
    return 0;
}

static int close_blk(struct fparse *f)
{
    f->n--;
    return rules_ydoc_close(f->d);
}

/* "- VALUE", "- KEY: VALUE" (a map whose keys line up after the dash), "-" at c. */
static int entry(struct fparse *f, int indent, const char *c, const char *le)
{
    const char *q = c + 1;

    if (value_later(f, &q, le, indent, true))
        return 0;
    if (*q == '-' && (q + 1 == le || q[1] == ' '))
        return NOPE; /* "- - x" */
    const char *colon = key_colon(f, q, le);
    if (colon != NULL) {
        int col = indent + (int)(q - c);
        int rc = open_blk(f, Y_MAP, col);
        return rc ? rc : pair(f, col, q, colon, le);
    }
    return value(f, indent, q, le);
}

/* One line with content, indented by `indent` spaces, from c to le. */
static int line(struct fparse *f, int indent, const char *c, const char *le)
{
    bool dash = *c == '-' && (c + 1 == le || c[1] == ' ');
    bool nest = false;
    int rc;

    if (f->pending) {
        f->pending = false;
        if (indent > f->pend_indent || (indent == f->pend_indent && dash && !f->pend_seq))
            nest = true; /* the value is a block on this line */
        else if ((rc = rules_ydoc_scalar(f->d, "", 0, true)))
            return rc; /* nothing followed: null */
    }
    if (!nest) {
        if (f->n == 0) {
            if (f->root_seen)
                return NOPE; /* a second root node */
            nest = true;
        } else {
            while (f->n > 0 && f->st[f->n - 1].indent > indent)
                if ((rc = close_blk(f)))
                    return rc;
            /* a sequence that is a map's value may sit at the key's indent */
            if (f->n > 0 && f->st[f->n - 1].type == Y_SEQ && f->st[f->n - 1].indent == indent &&
                !dash && (rc = close_blk(f)))
                return rc;
            if (f->n == 0 || f->st[f->n - 1].indent != indent ||
                (f->st[f->n - 1].type == Y_SEQ) != dash)
                return NOPE; /* YAML says it is an error: libyaml says which */
        }
    }
    const char *colon = dash ? NULL : key_colon(f, c, le);
    if (!dash && colon == NULL)
        return NOPE; /* a scalar on a line of its own, or what YAML refuses */
    if (nest && (rc = open_blk(f, dash ? Y_SEQ : Y_MAP, indent)))
        return rc;
    return dash ? entry(f, indent, c, le) : pair(f, indent, c, colon, le);
}

static int doc_finish(struct fparse *f)
{
    int rc;

    if (f->pending) {
        f->pending = false;
        if ((rc = rules_ydoc_scalar(f->d, "", 0, true)))
            return rc;
    }
    if (!f->root_seen) /* an explicit document with nothing in it is a null scalar */
        return rules_ydoc_scalar(f->d, "", 0, true);
    while (f->n > 0)
        if ((rc = close_blk(f)))
            return rc;
    return 0;
}

size_t rules_yaml_fast_cut(const char *buf, size_t len)
{
    const char *p;

    for (size_t n = len; n > 1 && (p = memrchr(buf, '\n', n - 1)) != NULL; n = (size_t)(p - buf)) {
        size_t at = (size_t)(p - buf) + 1;

        if (len - at >= 4 && memcmp(buf + at, "---", 3) == 0 &&
            (buf[at + 3] == '\n' || buf[at + 3] == ' '))
            return at;
    }
    return 0;
}

int rules_yaml_fast(struct ydoc *d, const char *buf, size_t len, size_t *docnop,
                    int (*doc_end)(void *ctx, size_t docno), void *ctx)
{
    struct fparse f = {.d = d, .next = buf, .end = buf + len};
    const char *p, *end = buf + len;
    bool in_doc = false, marker;
    size_t docno = *docnop;
    int rc = 0;

    while ((p = f.next) < end && rc == 0) {
        const char *le = memchr(p, '\n', (size_t)(end - p));
        if (le == NULL)
            le = end;
        if (!plain_text((const unsigned char *)p, (size_t)(le - p))) {
            rc = NOPE; /* every line is checked here or in block_scalar() */
            break;
        }
        const char *c = p;
        while (c < le && *c == ' ')
            c++;
        int indent = (int)(c - p);
        f.next = le < end ? le + 1 : end;
        if (c == le || *c == '#')
            continue; /* blank or comment */
        marker = indent == 0 && le - c >= 3 && (c[0] == '-' || c[0] == '.') && c[1] == c[0] &&
                 c[2] == c[0] && (le - c == 3 || c[3] == ' ');
        if (marker) {
            if (c[0] == '.' || !blank_or_comment(c + 3, le)) {
                rc = NOPE; /* "..." or content after "---" */
                break;
            }
            if (in_doc && ((rc = doc_finish(&f)) || (rc = doc_end(ctx, docno))))
                break;
            in_doc = false; /* an explicit start: below */
        } else if (indent == 0 && *c == '%') {
            rc = NOPE; /* a directive */
            break;
        } else if (in_doc) {
            rc = line(&f, indent, c, le);
            continue;
        }
        /* a document starts: explicitly here, or implicitly with this line */
        docno++;
        rules_ydoc_reset(d);
        f.n = 0;
        f.root_seen = f.pending = false;
        in_doc = true;
        if (!marker)
            rc = line(&f, indent, c, le);
    }
    if (rc == 0 && in_doc && !(rc = doc_finish(&f)))
        rc = doc_end(ctx, docno);
    free(f.tmp);
    *docnop = docno;
    return rc;
}
