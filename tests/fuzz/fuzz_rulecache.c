/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the rule cache's flat form (src/match/rules/cache.c). The first byte
 * picks: a Sigma rule file (the rest, loaded and compiled) written in the flat form and
 * restored, whose matches on a few events must be those of the set it came from, and whose
 * flat form written again must be the same bytes; or the rest itself restored as a flat form,
 * which must be refused or give a set that matches without reading out of bounds (ASan).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tunwatch/match/rules.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct hits {
    char ids[2048];
    size_t n;
};

static void on_match(const struct tw_rule_info *rule, const struct tw_event *ev, void *ctx)
{
    struct hits *h = ctx;
    size_t used = strlen(h->ids);

    (void)ev;
    if (rule->id == NULL || rule->title == NULL || rule->file == NULL)
        abort();
    snprintf(h->ids + used, sizeof(h->ids) - used, "%s,", rule->id);
    h->n++;
}

static void events(struct tw_event ev[3])
{
    fuzz_event(&ev[0], "a1b2.tunnel.localto.net", false);
    fuzz_event(&ev[1], "x.example.com", true);
    fuzz_event(&ev[2], "abc.trycloudflare.com", false);
}

/* What set rs matches on the events, as text. */
static void matches(struct tw_ruleset *rs, struct hits h[3])
{
    struct tw_event ev[3];

    events(ev);
    for (int i = 0; i < 3; i++) {
        memset(&h[i], 0, sizeof(h[i]));
        tw_ruleset_match(rs, &ev[i], on_match, &h[i]);
    }
}

/* The flat form of rs, malloc'd (8-byte aligned), in *buf. */
static size_t flat(const struct tw_ruleset *rs, char **buf)
{
    size_t len = 0;
    FILE *f = open_memstream(buf, &len);

    if (f == NULL)
        abort();
    if (tw_ruleset_save(rs, f) != 0)
        abort();
    fclose(f);
    return len;
}

static void release(void *p)
{
    free(p);
}

static void round_trip(const uint8_t *data, size_t size, bool proc, FILE *devnull)
{
    struct tw_ruleset *rs = tw_ruleset_new(), *back = tw_ruleset_new();
    struct hits a[3], b[3];
    char path[64], *form = NULL, *form2 = NULL;
    int fd = memfd_create("tw-fuzz", 0);

    if (rs == NULL || back == NULL || fd < 0)
        abort();
    if (size > 0 && write(fd, data, size) != (ssize_t)size)
        abort();
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    tw_ruleset_set_process_fields(rs, proc);
    tw_ruleset_set_process_fields(back, proc);
    tw_ruleset_load(rs, path, devnull);
    if (tw_ruleset_compile(rs) != 0)
        goto out;
    size_t len = flat(rs, &form);
    if (tw_ruleset_restore(back, form, len, release, form) != 0)
        abort(); /* a set's own flat form must restore */
    matches(rs, a);
    matches(back, b);
    if (memcmp(a, b, sizeof(a)) != 0)
        abort(); /* the restored set must match as the compiled one */
    size_t len2 = flat(back, &form2);
    if (len2 != len || memcmp(form, form2, len) != 0)
        abort(); /* and write the same flat form */
    free(form2);
    tw_ruleset_free(back);
    back = NULL;
out:
    if (back != NULL)
        tw_ruleset_free(back);
    tw_ruleset_free(rs);
    close(fd);
}

static void raw_form(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    struct tw_ruleset *rs = tw_ruleset_new();
    struct hits h[3];

    if (buf == NULL || rs == NULL)
        abort();
    memcpy(buf, data, size);
    if (tw_ruleset_restore(rs, buf, size, release, buf) == 0) {
        matches(rs, h);
        tw_ruleset_free(rs);
        return;
    }
    tw_ruleset_free(rs);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;

    if (size < 1)
        return 0;
    if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
        return 0;
    if (data[0] & 1)
        raw_form(data + 1, size - 1);
    else
        round_trip(data + 1, size - 1, data[0] & 0x80, devnull);
    return 0;
}
