/* SPDX-License-Identifier: MIT */
/*
 * Plain lists: one name, wildcard, address or subnet a line, '#' comments, and hosts-file
 * lines, whose names are the indicators.
 */
#include "intel_impl.h"

#include <string.h>
#include <strings.h>

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

int intel_load_plain(struct loader *ld, char *buf, size_t len)
{
    size_t pos = 0;
    unsigned line = 0;
    char *s;
    const char *src = intel_intern_source(ld, ld->base);

    if (src == NULL)
        return TW_ENOMEM;
    while ((s = intel_next_line(buf, len, &pos)) != NULL) {
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
            if (intel_parse_addr(tok[0], true, &v, &p, a) == 0)
                rc = intel_add_addr(ld, line, tok[0], true, src, NULL);
            else if (intel_looks_like_cidr(tok[0]))
                rc = intel_add_addr(ld, line, tok[0], true, src, NULL); /* reports the host bits */
            else
                rc = intel_add_name(ld, line, tok[0], src, NULL);
        } else if (intel_parse_addr(tok[0], false, &v, &p, a) == 0) {
            /* hosts file: the address is where the names are sent, the names are listed */
            for (size_t i = 1; i < n && rc != TW_ENOMEM; i++)
                rc = hosts_local_name(tok[i]) ? intel_skip(ld, "local name of a hosts file")
                                              : intel_add_name(ld, line, tok[i], src, NULL);
        } else {
            intel_bad_line(ld, line, "one name or address a line (or 'ADDRESS NAME...'): '%.100s'",
                           tok[0]);
        }
        if (rc == TW_ENOMEM)
            return rc;
    }
    return 0;
}
