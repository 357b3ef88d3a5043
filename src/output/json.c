/* SPDX-License-Identifier: MIT */
#include "tunwatch/output/json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void tw_jb_raw(struct tw_jb *jb, const char *s, size_t n)
{
    if (jb->overflow || jb->cap - jb->len < n) {
        jb->overflow = true;
        return;
    }
    memcpy(jb->buf + jb->len, s, n);
    jb->len += n;
}

void tw_jb_lit(struct tw_jb *jb, const char *s)
{
    tw_jb_raw(jb, s, strlen(s));
}

size_t tw_utf8_seq_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if (n < len)
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

void tw_jb_str_body(struct tw_jb *jb, const void *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = str;
    size_t i = 0;

    while (i < n && !jb->overflow) {
        size_t run = i;
        /* Copy the longest run of bytes that need no escaping in one go. */
        while (run < n && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            tw_jb_raw(jb, (const char *)s + i, run - i);
            i = run;
            continue;
        }
        uint8_t c = s[i];
        char esc[6];
        size_t ulen;

        switch (c) {
        case '"':
            tw_jb_raw(jb, "\\\"", 2);
            break;
        case '\\':
            tw_jb_raw(jb, "\\\\", 2);
            break;
        case '\n':
            tw_jb_raw(jb, "\\n", 2);
            break;
        case '\r':
            tw_jb_raw(jb, "\\r", 2);
            break;
        case '\t':
            tw_jb_raw(jb, "\\t", 2);
            break;
        case '\b':
            tw_jb_raw(jb, "\\b", 2);
            break;
        case '\f':
            tw_jb_raw(jb, "\\f", 2);
            break;
        default:
            if (c >= 0x80 && (ulen = tw_utf8_seq_len(s + i, n - i)) > 0) {
                tw_jb_raw(jb, (const char *)s + i, ulen);
                i += ulen;
                continue;
            }
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            tw_jb_raw(jb, esc, 6);
            break;
        }
        i++;
    }
}

void tw_jb_str(struct tw_jb *jb, const void *str, size_t n)
{
    tw_jb_raw(jb, "\"", 1);
    tw_jb_str_body(jb, str, n);
    tw_jb_raw(jb, "\"", 1);
}

void tw_jb_cstr(struct tw_jb *jb, const char *s)
{
    tw_jb_str(jb, s, strlen(s));
}

void tw_jb_u64(struct tw_jb *jb, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);

    tw_jb_raw(jb, tmp, (size_t)n);
}

void tw_jb_bool(struct tw_jb *jb, bool v)
{
    if (v)
        tw_jb_raw(jb, "true", 4);
    else
        tw_jb_raw(jb, "false", 5);
}

void tw_jb_key(struct tw_jb *jb, const char *key)
{
    if (jb->len > 0 && jb->buf[jb->len - 1] != '{' && jb->buf[jb->len - 1] != '[')
        tw_jb_raw(jb, ",", 1);
    tw_jb_raw(jb, "\"", 1);
    tw_jb_lit(jb, key);
    tw_jb_raw(jb, "\":", 2);
}

void tw_jb_time(struct tw_jb *jb, int64_t sec, uint32_t nsec)
{
    char tmp[48];
    struct tm tm;
    time_t t = (time_t)sec;
    int n;

    if (gmtime_r(&t, &tm) == NULL) {
        tw_jb_raw(jb, "null", 4);
        return;
    }
    n = snprintf(tmp, sizeof(tmp), "\"%04d-%02d-%02dT%02d:%02d:%02d.%06uZ\"", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (unsigned)(nsec / 1000));
    tw_jb_raw(jb, tmp, (size_t)n);
}
