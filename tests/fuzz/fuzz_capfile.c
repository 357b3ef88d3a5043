/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the classic pcap reader (capture/capfile.c): the input is a whole file,
 * put in a memory file (memfd: a regular file, read with read(2) into blocks as a capture on
 * disk is) and read to its end. Every frame must be no longer than libpcap's maximum record
 * and its wire length, its bytes readable (copied out: the sanitizer checks the block), and
 * the reader must end with TW_EOF or an error. Frames are held in a ring of 64, so blocks are
 * also read while earlier ones are held.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tunwatch/capture/capfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t sink[262144];
    struct tw_frame held[64];
    char path[64], err[512];
    struct tw_capfile *c;
    struct tw_frame f;
    size_t n = 0;
    int lt, rc;

    int fd = memfd_create("fuzz_capfile", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (tw_capfile_open(path, &c, err, sizeof(err)) == 0) {
        while ((rc = tw_capfile_next(c, &f, &lt, err, sizeof(err))) == 1) {
            if (f.caplen > 262144 || f.wirelen < f.caplen)
                abort();
            memcpy(sink, f.data, f.caplen);
            if (f.hold != NULL) {
                if (n >= 64)
                    tw_hold_put(held[n % 64].hold, 1);
                tw_hold_take(f.hold);
                held[n++ % 64] = f;
            }
        }
        if (rc != TW_EOF && strstr(err, path) == NULL)
            abort();
        for (size_t i = n > 64 ? n - 64 : 0; i < n; i++)
            tw_hold_put(held[i % 64].hold, 1);
        tw_capfile_close(c);
    }
    close(fd);
    return 0;
}
