/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the file loaders an operator points tunwatch at: the first byte picks
 * Sigma rules (libyaml), threat-intel indicators (Zeek intel, domain list, RPZ through ldns)
 * or exclusions; the rest is the file's content, handed over as an in-memory file
 * (memfd_create, opened by path like a real file). The loaded set is compiled and matched
 * against a few events, and --explain runs on a name, so what the parsers accept is also
 * exercised.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tunwatch/match/exclude.h"
#include "tunwatch/match/intel.h"
#include "tunwatch/match/rules.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_match(const struct tw_rule_info *rule, const struct tw_event *ev, void *ctx)
{
    (void)ev;
    (void)ctx;
    if (rule->id == NULL || rule->title == NULL || rule->file == NULL)
        abort();
}

static void events(struct tw_event ev[2])
{
    fuzz_event(&ev[0], "a1b2.tunnel.localto.net", true);
    fuzz_event(&ev[1], "x.example.com", false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    struct tw_event ev[2];
    char path[64];
    int fd;

    if (size < 1)
        return 0;
    if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
        return 0;
    fd = memfd_create("tw-fuzz", 0);
    if (fd < 0)
        return 0;
    if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
        close(fd);
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    events(ev);
    switch (data[0] % 3) {
    case 0: {
        struct tw_ruleset *rs = tw_ruleset_new();
        if (rs != NULL) {
            tw_ruleset_set_process_fields(rs, data[0] & 0x80);
            tw_ruleset_load(rs, path, devnull);
            if (tw_ruleset_compile(rs) == 0) {
                tw_ruleset_match(rs, &ev[0], on_match, NULL);
                tw_ruleset_match(rs, &ev[1], on_match, NULL);
                tw_ruleset_explain(rs, "a1b2.tunnel.localto.net", devnull);
            }
            tw_ruleset_free(rs);
        }
        break;
    }
    case 1: {
        struct tw_intel *in = tw_intel_new();
        if (in != NULL) {
            tw_intel_load(in, path, data[0] & 0x80, devnull);
            if (tw_intel_compile(in) == 0) {
                tw_intel_match(in, &ev[0], on_match, NULL);
                tw_intel_match(in, &ev[1], on_match, NULL);
                tw_intel_explain(in, "a1b2.tunnel.localto.net", devnull);
            }
            tw_intel_free(in);
        }
        break;
    }
    default: {
        struct tw_exclusions *ex = tw_exclusions_new();
        if (ex != NULL) {
            tw_exclusions_load(ex, path, devnull);
            tw_exclusions_match(ex, "rule-1", &ev[0], NULL, NULL);
            tw_exclusions_match(ex, NULL, &ev[1], "x.example.com", NULL);
            tw_exclusions_free(ex);
        }
        break;
    }
    }
    close(fd);
    return 0;
}
