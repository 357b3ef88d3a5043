/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the live capture tests on the loopback interface: elapsed time, tagged
 * UDP payloads, sending to 127.0.0.1. Include after cmocka.h (they assert).
 */
#ifndef TUNWATCH_TESTS_LO_UDP_H
#define TUNWATCH_TESTS_LO_UDP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* Milliseconds of CLOCK_MONOTONIC since t0. */
static inline int64_t lo_ms_since(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Payload "<tag> <nonce> <seq>", padded with '.' to len bytes; returns its length. */
static inline size_t lo_make_payload(char *buf, size_t cap, const char *tag, unsigned nonce,
                                     unsigned seq, size_t len)
{
    int n = snprintf(buf, cap, "%s %u %u", tag, nonce, seq);

    assert_true(n > 0 && (size_t)n < cap && len <= cap);
    if ((size_t)n < len)
        memset(buf + n, '.', len - (size_t)n);
    return len > (size_t)n ? len : (size_t)n;
}

static inline void lo_send_to(int fd, uint16_t port, const char *buf, size_t len)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)len);
}

#endif /* TUNWATCH_TESTS_LO_UDP_H */
