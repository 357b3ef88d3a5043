/* SPDX-License-Identifier: MIT */
/*
 * Logsources: the event category a rule's logsource stands for, and the event field each of
 * its field names means (Sigma's names; Zeek dns, proxy and firewall names).
 */
#include "rules_impl.h"

#include <string.h>

int rules_logsource(struct lctx *c, const struct ynode *ls)
{
    const char *cat, *svc;

    if (!ls || ls->type != Y_MAP)
        return SKIP(c, "missing logsource");
    cat = scalar(c->doc, rules_map_get(c->doc, ls, "category"));
    svc = scalar(c->doc, rules_map_get(c->doc, ls, "service"));
    c->fmap = FM_SIGMA;
    if (cat && strcmp(cat, "network_connection") == 0) {
        c->cat = TW_CAT_NETWORK_CONNECTION;
    } else if (cat && strcmp(cat, "dns_query") == 0) {
        c->cat = TW_CAT_DNS_QUERY;
    } else if ((cat && strcmp(cat, "dns") == 0) || (!cat && svc && strcmp(svc, "dns") == 0)) {
        c->cat = TW_CAT_DNS_QUERY;
        c->fmap = FM_DNS;
    } else if (cat && strcmp(cat, "proxy") == 0) {
        c->cat = TW_CAT_NETWORK_CONNECTION;
        c->fmap = FM_PROXY;
    } else if (cat && strcmp(cat, "firewall") == 0) {
        c->cat = TW_CAT_NETWORK_CONNECTION;
        c->fmap = FM_FIREWALL;
    } else if (cat) {
        return SKIP(c, "logsource category '%s' not observed", cat);
    } else if (svc) {
        return SKIP(c, "logsource service '%s' not observed", svc);
    } else {
        return SKIP(c, "logsource has no category");
    }
    return 0;
}

struct fname_map {
    const char *name;
    unsigned f;
};

static const struct fname_map dns_names[] = {
    /* QueryType holds the type mnemonic ("TXT"): Zeek's qtype_name, the generic record_type.
     * Zeek's numeric qtype has no counterpart. */
    {"query", TW_F_QUERY_NAME},           {"qtype_name", TW_F_QUERY_TYPE},
    {"record_type", TW_F_QUERY_TYPE},     {"id.orig_h", TW_F_SOURCE_IP},
    {"id.orig_p", TW_F_SOURCE_PORT},      {"id.resp_h", TW_F_DESTINATION_IP},
    {"id.resp_p", TW_F_DESTINATION_PORT}, {"proto", TW_F_PROTOCOL},
    /* The generic dns category's answer: each answer record's text, like Zeek's answers. */
    {"answer", TW_F_ANSWERS},
};

static const struct fname_map proxy_names[] = {
    /* cs-host: the name the client connected to (HTTP Host, TLS SNI, or the name it resolved
     * to the address); the request's fields from a plain HTTP request. */
    {"cs-host", TW_F_DESTINATION_HOSTNAME},
    {"cs-method", TW_F_CS_METHOD},
    {"c-uri", TW_F_C_URI},
    {"cs-uri", TW_F_C_URI},
    {"c-uri-stem", TW_F_C_URI_STEM},
    {"cs-uri-stem", TW_F_C_URI_STEM},
    {"c-uri-query", TW_F_C_URI_QUERY},
    {"c-uri-extension", TW_F_C_URI_EXTENSION},
    {"c-useragent", TW_F_C_USERAGENT},
    {"cs-referrer", TW_F_CS_REFERRER},
    {"cs-version", TW_F_CS_VERSION},
    {"cs-cookie", TW_F_CS_COOKIE},
    {"dst_ip", TW_F_DESTINATION_IP},
    {"c-ip", TW_F_SOURCE_IP},
    {"src_ip", TW_F_SOURCE_IP},
    {"dst_port", TW_F_DESTINATION_PORT},
    {"src_port", TW_F_SOURCE_PORT},
};

static const struct fname_map firewall_names[] = {
    {"src_ip", TW_F_SOURCE_IP},
    {"dst_ip", TW_F_DESTINATION_IP},
    {"src_port", TW_F_SOURCE_PORT},
    {"dst_port", TW_F_DESTINATION_PORT},
};

static const struct fname_map sigma_extra[] = {
    {"SourceIsIpv6", F_SRC_IS_IPV6},
    {"DestinationIsIpv6", F_DST_IS_IPV6},
};

static unsigned map_lookup(const struct fname_map *m, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, name) == 0)
            return m[i].f;
    return F_NONE;
}

static unsigned sigma_lookup(const char *name)
{
    enum tw_field f = tw_field_lookup(name);

    return f == TW_F__COUNT ? F_NONE : (unsigned)f;
}

/* The field a rule's field name means under its logsource, or F_NONE. */
unsigned rules_lookup_field(enum fmap fm, const char *name)
{
    unsigned f;

    switch (fm) {
    case FM_DNS:
        f = map_lookup(dns_names, TW_ARRAY_SIZE(dns_names), name);
        return f != F_NONE ? f : sigma_lookup(name);
    case FM_PROXY:
        return map_lookup(proxy_names, TW_ARRAY_SIZE(proxy_names), name);
    case FM_FIREWALL:
        return map_lookup(firewall_names, TW_ARRAY_SIZE(firewall_names), name);
    default:
        f = map_lookup(sigma_extra, TW_ARRAY_SIZE(sigma_extra), name);
        return f != F_NONE ? f : sigma_lookup(name);
    }
}

bool rules_field_in_category(unsigned f, enum tw_category c)
{
    if (f == F_SRC_IS_IPV6 || f == F_DST_IS_IPV6)
        return c == TW_CAT_NETWORK_CONNECTION;
    return tw_field_in_category((enum tw_field)f, c);
}

bool rules_field_fits(struct lctx *c, unsigned f)
{
    if (rules_field_in_category(f, c->cat))
        return true;
    if (c->cat == TW_CAT_DNS_QUERY && rules_field_in_category(f, TW_CAT_DNS)) {
        c->cat = TW_CAT_DNS; /* every dns_query field is a dns field too */
        return true;
    }
    return false;
}

/* Name of field f for messages. */
const char *rules_field_label(unsigned f)
{
    if (f == F_SRC_IS_IPV6)
        return "SourceIsIpv6";
    if (f == F_DST_IS_IPV6)
        return "DestinationIsIpv6";
    if (f == F_ANY)
        return "keyword";
    return tw_field_name((enum tw_field)f);
}
