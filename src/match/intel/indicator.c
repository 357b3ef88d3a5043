/* SPDX-License-Identifier: MIT */
/*
 * From an entry of an indicator file to an indicator: hostname and address syntax, the
 * source, id, title and tags each indicator reports, and the per-file counts.
 */
#include "intel_impl.h"
#include "tunwatch/base/netaddr.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <string.h>

#define NAME_LEN_MAX 253
#define TEXT_MAX 200 /* bytes of a source or description kept in a title */

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

int intel_parse_addr(const char *s, bool allow_prefix, uint8_t *version, uint8_t *prefix,
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

bool intel_looks_like_cidr(const char *s)
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

const char *intel_intern_source(struct loader *ld, const char *s)
{
    for (size_t i = 0; i < TW_ARRAY_SIZE(ld->sources); i++)
        if (ld->sources[i] != NULL && strcmp(ld->sources[i], s) == 0)
            return ld->sources[i];
    const char *copy = tw_arena_strndup(&ld->in->arena, s, strnlen(s, TEXT_MAX));
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

    tags = tw_arena_alloc(&ld->in->arena, 4 * sizeof(*tags), _Alignof(const char *));
    tsrc = tw_arena_alloc(&ld->in->arena, lsrc, 1);
    ttype = tw_arena_alloc(&ld->in->arena, ltype, 1);
    if (action != NULL)
        tact = tw_arena_alloc(&ld->in->arena, lact, 1);
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

int intel_add_entry(struct loader *ld, const struct entry *en)
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
        value = tw_arena_strndup(&in->arena, en->value, en->value_len);
    } else {
        char a[TW_IPSTR_MAX];

        tw_addr_format(en->version, en->addr, a, sizeof(a));
        if (strcmp(en->type, "subnet") == 0)
            snprintf(canon, sizeof(canon), "%s/%u", a, en->prefix);
        else
            snprintf(canon, sizeof(canon), "%s", a);
        value = tw_arena_strndup(&in->arena, canon, strlen(canon));
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
    id = tw_arena_strndup(&in->arena, idbuf, strlen(idbuf));

    tlen =
        (size_t)snprintf(NULL, 0, "Threat intel: %s (%s)%s%.*s", shown, en->source,
                         en->desc != NULL ? " - " : "", TEXT_MAX, en->desc != NULL ? en->desc : "");
    title = tw_arena_alloc(&in->arena, tlen + 1, 1);
    tags = get_tags(ld, en->source, en->type, en->action, &n_tags);
    e = intel_ind_new(in);
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
    e->info = (struct tw_rule_info){
        .id = id,
        .title = title,
        .level = "high",
        .file = ld->path,
        .line = en->line,
        .tags = tags,
        .n_tags = n_tags,
        .category = TW_CAT__COUNT,
    };
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

int intel_add_name(struct loader *ld, unsigned line, const char *s, const char *source,
                   const char *desc)
{
    char name[NAME_LEN_MAX + 1];
    size_t len = 0;
    bool below;
    const char *why = parse_name(s, strlen(s), name, &len, &below);

    if (why != NULL) {
        intel_bad_line(ld, line, "%s: '%.100s'", why, s);
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
    return intel_add_entry(ld, &en);
}

int intel_add_addr(struct loader *ld, unsigned line, const char *s, bool subnet, const char *source,
                   const char *desc)
{
    struct entry en = {.line = line, .kind = K_ADDR, .source = source, .desc = desc};

    if (intel_parse_addr(s, subnet, &en.version, &en.prefix, en.addr) != 0) {
        if (!subnet && strchr(s, '/') != NULL)
            intel_bad_line(ld, line,
                           "Intel::ADDR with a prefix length (use Intel::SUBNET): '%.100s'", s);
        else if (subnet && intel_looks_like_cidr(s))
            intel_bad_line(ld, line, "host bits set in subnet '%.100s'", s);
        else
            intel_bad_line(ld, line, "not an IP %s: '%.100s'", subnet ? "subnet" : "address", s);
        return TW_EMALFORMED;
    }
    en.type = subnet && strchr(s, '/') != NULL ? "subnet" : "addr";
    return intel_add_entry(ld, &en);
}
