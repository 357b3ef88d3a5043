/* SPDX-License-Identifier: MIT */
/* Configuration file reader: syntax, flags, repeatable keys, every error with its line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

#include "tunwatch/run/config.h"

/* The command line's long options, as tunwatch's main passes them. */
static const struct tw_config_key keys[] = {
    {.name = "read", .takes_value = true},
    {.name = "interface", .takes_value = true, .repeatable = true},
    {.name = "filter", .takes_value = true},
    {.name = "snaplen", .takes_value = true},
    {.name = "buffer-size", .takes_value = true},
    {.name = "immediate"},
    {.name = "no-promisc"},
    {.name = "rules", .takes_value = true, .repeatable = true},
    {.name = "output", .takes_value = true},
    {.name = "events"},
    {.name = "quiet"},
    {.name = "home-net", .takes_value = true},
    {.name = "flows", .takes_value = true},
    {.name = "flow-timeout", .takes_value = true},
    {.name = "stream-buffers", .takes_value = true},
    {.name = "stats-interval", .takes_value = true},
    {.name = "stats-file", .takes_value = true},
    {.name = "pid-file", .takes_value = true},
    {.name = "user", .takes_value = true},
    {.name = "config", .takes_value = true, .cli_only = true},
};

/* Records every call as "LINE key=value|" (or "LINE key|" for a flag). */
struct recorder {
    const char *path;
    char calls[16384];
    size_t n;
    const char *fail_key; /* fail when this key comes */
    int fail_rc;
    const char *fail_msg; /* written into err when not NULL */
};

static int record(void *ctx, const char *key, const char *value, const char *where, char *err,
                  size_t errlen)
{
    struct recorder *rec = ctx;
    size_t plen = strlen(rec->path);
    bool from_table = false;

    /* key is the table's own pointer, so callers may keep it. */
    for (size_t i = 0; i < TW_ARRAY_SIZE(keys); i++)
        from_table |= key == keys[i].name;
    assert_true(from_table);
    assert_int_equal(strncmp(where, rec->path, plen), 0);
    assert_int_equal(where[plen], ':');
    assert_true(rec->n < sizeof(rec->calls));
    rec->n += (size_t)snprintf(rec->calls + rec->n, sizeof(rec->calls) - rec->n, "%s %s%s%s|",
                               where + plen + 1, key, value != NULL ? "=" : "",
                               value != NULL ? value : "");
    if (rec->fail_key != NULL && strcmp(key, rec->fail_key) == 0) {
        if (rec->fail_msg != NULL)
            snprintf(err, errlen, "%s: %s", where, rec->fail_msg);
        return rec->fail_rc;
    }
    return 0;
}

/* Writes len bytes to a new temporary file; returns its name (free it after unlink). */
static char *write_temp(const char *text, size_t len)
{
    const char *dir = getenv("TMPDIR");
    char *path;
    int fd;

    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    assert_true(asprintf(&path, "%s/test_config.XXXXXX", dir) > 0);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    return path;
}

/* Loads text as a file; fills rec and err, returns tw_config_load's result. */
static int load_text(const char *text, size_t len, struct recorder *rec, char *err, size_t errlen,
                     char **path_out)
{
    char *path = write_temp(text, len);
    int rc;

    rec->path = path;
    rc = tw_config_load(path, keys, TW_ARRAY_SIZE(keys), record, rec, err, errlen);
    assert_int_equal(unlink(path), 0);
    *path_out = path;
    return rc;
}

struct load_case {
    int line;
    const char *text;
    size_t len; /* 0: strlen(text) */
    int rc;
    const char *calls; /* settings reported before the end or the error */
    const char *err;   /* the message after "FILE:", "" when rc == 0 */
};

#define BIN(s) .text = (s), .len = sizeof(s) - 1

static const struct load_case load_cases[] = {
    /* Empty files, blank lines, comments. */
    {__LINE__, "", 0, 0, "", ""},
    {__LINE__, "\n\n  \t \n", 0, 0, "", ""},
    {__LINE__, "# only a comment", 0, 0, "", ""},
    {__LINE__, "# comment\n   # indented comment\n\t#tab\n", 0, 0, "", ""},
    /* key = value, whitespace trimmed. */
    {__LINE__, "read = /tmp/a.pcap\n", 0, 0, "1 read=/tmp/a.pcap|", ""},
    {__LINE__, "read=/tmp/a.pcap\n", 0, 0, "1 read=/tmp/a.pcap|", ""},
    {__LINE__, "  \tread \t=\t /tmp/a.pcap  \t\n", 0, 0, "1 read=/tmp/a.pcap|", ""},
    {__LINE__, "filter = tcp port 443 or udp port 53\n", 0, 0,
     "1 filter=tcp port 443 or udp port 53|", ""},
    {__LINE__, "home-net = 10.0.0.0/8, fd00::/8\n", 0, 0, "1 home-net=10.0.0.0/8, fd00::/8|", ""},
    {__LINE__, "user = a = b\n", 0, 0, "1 user=a = b|", ""},
    {__LINE__, "\n# c\nflows = 1000\n\nflow-timeout = 60\n", 0, 0,
     "3 flows=1000|5 flow-timeout=60|", ""},
    /* Comments after a value need whitespace before the '#'. */
    {__LINE__, "filter = port 53 # dns only\n", 0, 0, "1 filter=port 53|", ""},
    {__LINE__, "filter = port 53\t# dns only\n", 0, 0, "1 filter=port 53|", ""},
    {__LINE__, "output = a#b\n", 0, 0, "1 output=a#b|", ""},
    {__LINE__, "output =#b\n", 0, 0, "1 output=#b|", ""},
    {__LINE__, "user = a\"b\n", 0, 0, "1 user=a\"b|", ""},
    /* Quoted values keep spaces and '#'; escapes \" and \\ only. */
    {__LINE__, "filter = \"port 53 # not a comment\"\n", 0, 0, "1 filter=port 53 # not a comment|",
     ""},
    {__LINE__, "user = \"  padded  \"\n", 0, 0, "1 user=  padded  |", ""},
    {__LINE__, "output = \"a \\\"b\\\" c\\\\d\"\n", 0, 0, "1 output=a \"b\" c\\d|", ""},
    {__LINE__, "output = \"x\" # comment\n", 0, 0, "1 output=x|", ""},
    {__LINE__, "output = \"x\"   \n", 0, 0, "1 output=x|", ""},
    {__LINE__, "filter = \"\"\n", 0, 0, "1 filter=|", ""},
    {__LINE__, "output = \"x\" y\n", 0, TW_EINVAL, "", "1: text after the closing quote"},
    {__LINE__, "output = \"x\"#y\n", 0, TW_EINVAL, "", "1: text after the closing quote"},
    {__LINE__, "output = \"abc\n", 0, TW_EINVAL, "", "1: unterminated quote"},
    {__LINE__, "output = \"abc\\\"\n", 0, TW_EINVAL, "", "1: unterminated quote"},
    {__LINE__, "output = \"abc\\", 0, TW_EINVAL, "", "1: unterminated quote"},
    {__LINE__, "read = a\noutput = \"", 0, TW_EINVAL, "1 read=a|", "2: unterminated quote"},
    {__LINE__, "output = \"a\\nb\"\n", 0, TW_EINVAL, "",
     "1: unknown escape '\\n' in quoted value (only \\\" and \\\\)"},
    /* Flags: bare, or true/false in several spellings. */
    {__LINE__, "events\n", 0, 0, "1 events|", ""},
    {__LINE__, "  events  # all names\n", 0, 0, "1 events|", ""},
    {__LINE__, "events = true\nquiet = yes\nimmediate = on\nno-promisc = TRUE\n", 0, 0,
     "1 events|2 quiet|3 immediate|4 no-promisc|", ""},
    {__LINE__, "events = \"On\"\n", 0, 0, "1 events|", ""},
    {__LINE__, "events = false\nquiet = no\nimmediate = off\nno-promisc = False\n", 0, 0, "", ""},
    {__LINE__, "events = maybe\n", 0, TW_EINVAL, "",
     "1: 'events' takes no value other than true/false"},
    {__LINE__, "events =\n", 0, TW_EINVAL, "", "1: 'events' takes no value other than true/false"},
    {__LINE__, "events = 1\n", 0, TW_EINVAL, "",
     "1: 'events' takes no value other than true/false"},
    {__LINE__, "events#x\n", 0, TW_EINVAL, "", "1: unknown key 'events#x'"},
    /* Repeatable keys keep their order; the others may appear once. */
    {__LINE__, "rules = /a\ninterface = eth0\nrules = /b\ninterface = eth1\nrules = \"/c d\"\n", 0,
     0, "1 rules=/a|2 interface=eth0|3 rules=/b|4 interface=eth1|5 rules=/c d|", ""},
    {__LINE__, "read = a\nread = b\n", 0, TW_EINVAL, "1 read=a|",
     "2: key 'read' given twice (first on line 1)"},
    {__LINE__, "flows = 1\n# c\n\nflows = 1\n", 0, TW_EINVAL, "1 flows=1|",
     "4: key 'flows' given twice (first on line 1)"},
    {__LINE__, "quiet = false\nquiet\n", 0, TW_EINVAL, "",
     "2: key 'quiet' given twice (first on line 1)"},
    /* Keys: known, exact, with a value when they need one. */
    {__LINE__, "colour = red\n", 0, TW_EINVAL, "", "1: unknown key 'colour'"},
    {__LINE__, "Read = x\n", 0, TW_EINVAL, "", "1: unknown key 'Read'"},
    {__LINE__, "--read = x\n", 0, TW_EINVAL, "", "1: unknown key '--read'"},
    {__LINE__, "\x01key\\ = 1\n", 0, TW_EINVAL, "", "1: unknown key '\\x01key\\x5c'"},
    {__LINE__, "read\n", 0, TW_EINVAL, "", "1: 'read' needs a value"},
    {__LINE__, "read =\n", 0, TW_EINVAL, "", "1: 'read' needs a value"},
    {__LINE__, "read = \t # none\n", 0, TW_EINVAL, "", "1: 'read' needs a value"},
    {__LINE__, "read # none\n", 0, TW_EINVAL, "", "1: 'read' needs a value"},
    {__LINE__, "config = /etc/other.conf\n", 0, TW_EINVAL, "",
     "1: 'config' is allowed on the command line only"},
    {__LINE__, "read /tmp/a.pcap\n", 0, TW_EINVAL, "", "1: expected '=' after 'read'"},
    {__LINE__, "= /tmp/a.pcap\n", 0, TW_EINVAL, "", "1: missing key before '='"},
    {__LINE__, "  =\n", 0, TW_EINVAL, "", "1: missing key before '='"},
    /* Processing stops at the first error. */
    {__LINE__, "read = a\nbogus\nevents\n", 0, TW_EINVAL, "1 read=a|", "2: unknown key 'bogus'"},
    /* CRLF endings, no newline at the end, a byte order mark. */
    {__LINE__, "read = /x\r\nevents\r\n\r\n# c\r\nfilter = \"a b\"\r\nuser = u # c\r\n", 0, 0,
     "1 read=/x|2 events|5 filter=a b|6 user=u|", ""},
    {__LINE__, "read = /x\r\nevents = false\r\nquiet = on\r", 0, 0, "1 read=/x|3 quiet|", ""},
    {__LINE__, "read = /x", 0, 0, "1 read=/x|", ""},
    {__LINE__, "read = /x\nevents", 0, 0, "1 read=/x|2 events|", ""},
    {__LINE__, "filter = \"a b\"", 0, 0, "1 filter=a b|", ""},
    {__LINE__, "\n\n# trailing comment", 0, 0, "", ""},
    {__LINE__, "\xef\xbb\xbfread = /x\n", 0, 0, "1 read=/x|", ""},
    {__LINE__, "\xef\xbb\xbf", 0, 0, "", ""},
    {__LINE__,
     "read = /x\n\xef\xbb\xbf"
     "events\n",
     0, TW_EINVAL, "1 read=/x|", "2: unknown key '\\xef\\xbb\\xbfevents'"},
    /* A NUL byte cannot be passed on as a C string: refused, not cut. */
    {__LINE__, BIN("read = a\0b\n"), TW_EINVAL, "", "1: NUL byte in line"},
    {__LINE__, BIN("events\n\0"), TW_EINVAL, "1 events|", "2: NUL byte in line"},
};

static void test_load_cases(void **state)
{
    (void)state;

    for (size_t i = 0; i < TW_ARRAY_SIZE(load_cases); i++) {
        const struct load_case *c = &load_cases[i];
        struct recorder rec = {0};
        char err[512], want[600];
        char *path;
        size_t len = c->len != 0 ? c->len : strlen(c->text);
        int rc = load_text(c->text, len, &rec, err, sizeof(err), &path);

        if (c->rc == 0)
            snprintf(want, sizeof(want), "%s", "");
        else
            snprintf(want, sizeof(want), "%s:%s", path, c->err);
        free(path);
        if (rc != c->rc || strcmp(rec.calls, c->calls) != 0 || strcmp(err, want) != 0)
            fail_msg("case at line %d: rc %d (want %d), calls '%s' (want '%s'), err '%s' "
                     "(want '%s')",
                     c->line, rc, c->rc, rec.calls, c->calls, err, want);
    }
}

/* Lines of exactly TW_CONFIG_LINE_MAX bytes pass (with either ending); one more byte fails. */
static void test_line_length(void **state)
{
    (void)state;
    static const struct {
        int line;
        size_t value_len; /* "filter = " + value */
        const char *ending;
        bool ok;
    } cases[] = {
        {__LINE__, TW_CONFIG_LINE_MAX - 9, "\n", true},
        {__LINE__, TW_CONFIG_LINE_MAX - 9, "\r\n", true},
        {__LINE__, TW_CONFIG_LINE_MAX - 9, "", true},
        {__LINE__, TW_CONFIG_LINE_MAX - 9, "\r", true},
        {__LINE__, TW_CONFIG_LINE_MAX - 8, "\n", false},
        {__LINE__, TW_CONFIG_LINE_MAX - 8, "\r\n", false},
        {__LINE__, TW_CONFIG_LINE_MAX - 8, "", false},
        {__LINE__, TW_CONFIG_LINE_MAX - 7, "\r\n", false},
        {__LINE__, 3 * TW_CONFIG_LINE_MAX, "\n", false},
    };

    for (size_t i = 0; i < TW_ARRAY_SIZE(cases); i++) {
        size_t vlen = cases[i].value_len;
        size_t cap = vlen + 64;
        char *text = malloc(cap);
        struct recorder rec = {0};
        char err[256], want[512];
        char *path;
        int n, rc;

        assert_non_null(text);
        n = snprintf(text, cap, "# long line next\nfilter = ");
        memset(text + n, 'x', vlen);
        n += (int)vlen;
        n += snprintf(text + n, cap - (size_t)n, "%s", cases[i].ending);
        rc = load_text(text, (size_t)n, &rec, err, sizeof(err), &path);
        if (cases[i].ok) {
            if (rc != 0 || rec.n != strlen("2 filter=|") + vlen || err[0] != '\0')
                fail_msg("case at line %d: rc %d, %zu bytes recorded, err '%s'", cases[i].line, rc,
                         rec.n, err);
        } else {
            snprintf(want, sizeof(want), "%s:2: line longer than %d bytes", path,
                     TW_CONFIG_LINE_MAX);
            if (rc != TW_EINVAL || rec.n != 0 || strcmp(err, want) != 0)
                fail_msg("case at line %d: rc %d, err '%s'", cases[i].line, rc, err);
        }
        free(path);
        free(text);
    }
}

static void test_unreadable(void **state)
{
    (void)state;
    struct recorder rec = {.path = "/nonexistent/tunwatch.conf"};
    const char *dir = getenv("TMPDIR");
    char err[256], want[512];
    int rc;

    rc = tw_config_load(rec.path, keys, TW_ARRAY_SIZE(keys), record, &rec, err, sizeof(err));
    assert_int_equal(rc, TW_EIO);
    assert_int_equal(errno, ENOENT);
    assert_string_equal(err, "/nonexistent/tunwatch.conf: No such file or directory");

    /* A directory opens but cannot be read. */
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    rec.path = dir;
    rc = tw_config_load(dir, keys, TW_ARRAY_SIZE(keys), record, &rec, err, sizeof(err));
    assert_int_equal(rc, TW_EIO);
    snprintf(want, sizeof(want), "%s: Is a directory", dir);
    assert_string_equal(err, want);
    assert_int_equal(rec.n, 0);
}

/* The callback's failure stops loading and comes back unchanged, with its message. */
static void test_callback_error(void **state)
{
    (void)state;
    static const char text[] = "read = a\nquiet\nflows = lots\nevents\n";
    struct recorder rec = {.fail_key = "flows", .fail_rc = TW_ENOTSUP};
    char err[256], want[512];
    char *path;
    int rc;

    /* Without a message from the callback, a generic one naming the line. */
    rc = load_text(text, sizeof(text) - 1, &rec, err, sizeof(err), &path);
    assert_int_equal(rc, TW_ENOTSUP);
    assert_string_equal(rec.calls, "1 read=a|2 quiet|3 flows=lots|");
    snprintf(want, sizeof(want), "%s:3: invalid value for 'flows'", path);
    assert_string_equal(err, want);
    free(path);

    memset(&rec, 0, sizeof(rec));
    rec.fail_key = "flows";
    rec.fail_rc = TW_EINVAL;
    rec.fail_msg = "not a number: 'lots'";
    rc = load_text(text, sizeof(text) - 1, &rec, err, sizeof(err), &path);
    assert_int_equal(rc, TW_EINVAL);
    snprintf(want, sizeof(want), "%s:3: not a number: 'lots'", path);
    assert_string_equal(err, want);
    free(path);

    /* A positive return is not an error. */
    memset(&rec, 0, sizeof(rec));
    rec.fail_key = "quiet";
    rec.fail_rc = 1;
    rc = load_text(text, sizeof(text) - 1, &rec, err, sizeof(err), &path);
    assert_int_equal(rc, 0);
    assert_string_equal(rec.calls, "1 read=a|2 quiet|3 flows=lots|4 events|");
    assert_string_equal(err, "");
    free(path);
}

/* No err buffer, or a short one: the result is the same, the message cut and terminated. */
static void test_err_buffer(void **state)
{
    (void)state;
    static const char text[] = "read = a\nbogus\n";
    struct recorder rec = {0};
    char err[8];
    char *path = write_temp(text, sizeof(text) - 1);

    rec.path = path;
    assert_int_equal(tw_config_load(path, keys, TW_ARRAY_SIZE(keys), record, &rec, NULL, 0),
                     TW_EINVAL);
    memset(err, 'z', sizeof(err));
    assert_int_equal(
        tw_config_load(path, keys, TW_ARRAY_SIZE(keys), record, &rec, err, sizeof(err)), TW_EINVAL);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_int_equal(strncmp(err, path, sizeof(err) - 1), 0);
    /* An empty key table knows no key. */
    assert_int_equal(tw_config_load(path, keys, 0, record, &rec, err, sizeof(err)), TW_EINVAL);
    assert_int_equal(unlink(path), 0);
    free(path);
}

/* Loading the same file twice gives the same settings (reload on SIGHUP). */
static void test_reload(void **state)
{
    (void)state;
    static const char text[] = "rules = /a\nread = x\nrules = /b\nevents\n";
    struct recorder a = {0}, b = {0};
    char err[256];
    char *path = write_temp(text, sizeof(text) - 1);

    a.path = b.path = path;
    assert_int_equal(tw_config_load(path, keys, TW_ARRAY_SIZE(keys), record, &a, err, sizeof(err)),
                     0);
    assert_int_equal(tw_config_load(path, keys, TW_ARRAY_SIZE(keys), record, &b, err, sizeof(err)),
                     0);
    assert_string_equal(a.calls, "1 rules=/a|2 read=x|3 rules=/b|4 events|");
    assert_string_equal(a.calls, b.calls);
    assert_int_equal(unlink(path), 0);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_cases), cmocka_unit_test(test_line_length),
        cmocka_unit_test(test_unreadable), cmocka_unit_test(test_callback_error),
        cmocka_unit_test(test_err_buffer), cmocka_unit_test(test_reload),
    };
    return tw_run_tests(tests, NULL, NULL);
}
