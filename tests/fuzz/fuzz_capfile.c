/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the capture file reader (capture/capfile.c), classic pcap and pcapng:
 * the input is a whole file, put in a memory file (memfd: a regular file, read with read(2)
 * into blocks and parsed there, as a capture on disk is) and read to its end. Every frame must be no longer than libpcap's maximum record
 * and its wire length, its bytes readable (copied out: the sanitizer checks the block), and
 * the reader must end with TW_EOF or an error. Frames are held in a ring of 64, so blocks are
 * also read while earlier ones are held. The file is read twice: copied with read(2), and
 * mapped (tw_capfile_set_map, the parts let go of made inaccessible, so that a frame read
 * after its hold was let go of faults): the same frames and the same ending.
 *
 * An input that fits a pipe is also read as a stream (the pipe closed after it, so everything
 * has arrived): tw_capfile_ready() must say so before every read, and the stream must give the
 * same frames (times, lengths, bytes) and the same ending as the file. A stream's pcapng goes
 * through the stdio reader (capture/pcapng.c's tw_pcapng_next()), so for pcapng this compares
 * the two readers.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tunwatch/capture/capfile.h"
#include "tunwatch/capture/pcapng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the file gave: a digest of every frame and the ending code. */
struct trace {
    uint64_t frames, digest;
    int end;
};

static void trace_frame(struct trace *t, const struct tw_frame *f, int lt)
{
    uint64_t h = t->digest ^ (uint64_t)f->ts_sec * 0x9e3779b97f4a7c15u ^ f->ts_nsec ^
                 (uint64_t)f->caplen << 32 ^ f->wirelen ^ (uint64_t)(unsigned)lt << 48;
    for (uint32_t i = 0; i < f->caplen; i++)
        h = (h ^ f->data[i]) * 0x100000001b3u;
    t->digest = h;
    t->frames++;
}

/* Reads data through a pipe closed after it; the trace, or end 1 when it does not fit. */
static struct trace read_stream(const uint8_t *data, size_t size)
{
    struct trace t = {.end = 1};
    char path[64], err[512];
    struct tw_capfile *c;
    struct tw_frame f;
    int fds[2], lt, rc;

    if (pipe(fds) != 0)
        return t;
    if (size > (size_t)fcntl(fds[1], F_GETPIPE_SZ) ||
        (size > 0 && write(fds[1], data, size) != (ssize_t)size)) {
        close(fds[0]);
        close(fds[1]);
        return t;
    }
    close(fds[1]);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[0]);
    if ((rc = tw_capfile_open(path, &c, err, sizeof(err))) == 0) {
        for (;;) {
            if (!tw_capfile_ready(c))
                abort(); /* everything has arrived */
            if ((rc = tw_capfile_next(c, &f, &lt, err, sizeof(err))) != 1)
                break;
            trace_frame(&t, &f, lt);
        }
        tw_capfile_close(c);
    }
    t.end = rc;
    close(fds[0]);
    return t;
}

/* The frames of a regular file holding data, read as mode says (mapped or with read(2)),
 * each checked and some held across reads. */
static struct trace read_file(const uint8_t *data, size_t size, enum tw_capfile_map mode)
{
    /* libpcap's largest record for classic pcap (the reader refuses more); pcapng's bound is
     * the block's. */
    static uint8_t sink[TW_PCAPNG_BLOCK_MAX];
    const uint32_t max_caplen = size >= 4 && tw_pcapng_magic(data) ? TW_PCAPNG_BLOCK_MAX : 262144;
    struct tw_frame held[64];
    char path[64], err[512];
    struct tw_capfile *c;
    struct tw_frame f;
    struct trace t = {0};
    size_t n = 0;
    int lt, rc;

    t.end = 1; /* not read */
    int fd = memfd_create("fuzz_capfile", 0);
    if (fd < 0)
        return t;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return t;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    tw_capfile_set_map(mode);
    if ((rc = tw_capfile_open(path, &c, err, sizeof(err))) == 0) {
        while ((rc = tw_capfile_next(c, &f, &lt, err, sizeof(err))) == 1) {
            if (f.caplen > max_caplen || f.wirelen < f.caplen)
                abort();
            trace_frame(&t, &f, lt);
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
    t.end = rc;
    close(fd);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A regular file copied with read(2), the same file mapped (the parts let go of made
     * inaccessible: a frame read after its hold was let go of faults), and a stream. */
    struct trace file = read_file(data, size, TW_CAPFILE_MAP_NEVER);
    struct trace mapped = read_file(data, size, TW_CAPFILE_MAP_CHECK);
    if (file.end == 1 || mapped.end == 1)
        return 0;
    if (mapped.end != file.end || mapped.frames != file.frames || mapped.digest != file.digest)
        abort();
    struct trace stream = read_stream(data, size);
    if (stream.end != 1 && (stream.end != file.end || stream.frames != file.frames ||
                            stream.digest != file.digest))
        abort();
    return 0;
}
