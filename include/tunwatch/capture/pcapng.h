/* SPDX-License-Identifier: MIT */
/*
 * A bounded pcapng reader (draft-ietf-opsawg-pcapng): Section Header, Interface Description,
 * Enhanced Packet, Simple Packet and (obsolete) Packet blocks; every other block is skipped
 * and counted. Both byte orders, several sections per file, and per interface its own link
 * type, snap length, timestamp resolution (if_tsresol, a power of 10 or of 2) and offset
 * (if_tsoffset). libpcap refuses a file whose interfaces have different link types (dumpcap
 * and mergecap write those); here every packet comes with the link type of its interface.
 *
 *   0                   1                   2                   3
 *   +---------------------------------------------------------------+
 *   |                          Block Type                           |
 *   +---------------------------------------------------------------+
 *   |                      Block Total Length                       |
 *   +---------------------------------------------------------------+
 *   /                          Block Body                           /
 *   +---------------------------------------------------------------+
 *   |                      Block Total Length                       |
 *   +---------------------------------------------------------------+
 *
 * A block's total length is a multiple of 4, at least 12, at most TW_PCAPNG_BLOCK_MAX, and
 * repeated after the body; anything else is malformed. Blocks are parsed where they lie in
 * memory (tw_pcapng_head(), tw_pcapng_block()): capfile.c reads a regular file into large
 * blocks and parses them in place, the packets pointing into them. tw_pcapng_open() and
 * tw_pcapng_next() read one block at a time from a stdio stream into a buffer that grows up
 * to TW_PCAPNG_BLOCK_MAX (a stream, the tests).
 */
#ifndef TUNWATCH_PCAPNG_H
#define TUNWATCH_PCAPNG_H

#include <stdio.h>

#include "tunwatch/capture/capture.h"

#define TW_PCAPNG_BLOCK_MAX (16u << 20) /* libpcap's bound too */
#define TW_PCAPNG_MAX_IFS 4096           /* interfaces per section */

#define TW_PCAPNG_SHB 0x0A0D0D0Au
#define TW_PCAPNG_IDB 1u
#define TW_PCAPNG_PB 2u  /* obsolete Packet Block */
#define TW_PCAPNG_SPB 3u
#define TW_PCAPNG_EPB 6u
#define TW_PCAPNG_BOM 0x1A2B3C4Du

struct tw_pcapng_if {
    int linktype;
    uint32_t snaplen;
    bool binary;     /* if_tsresol: 2^-exp instead of 10^-exp */
    uint8_t exp;     /* default 6 (microseconds) */
    int64_t offset;  /* if_tsoffset, seconds */
};

struct tw_pcapng {
    FILE *fp;
    bool big;           /* the section is big-endian (integers are read from bytes) */
    uint8_t *buf;       /* the current block */
    size_t cap;
    struct tw_pcapng_if *ifs;
    size_t n_ifs, ifs_cap;
    uint64_t offset;    /* file offset of the next block (for messages) */
    int64_t last_sec;   /* time of the last timestamped packet (Simple Packet Blocks have none) */
    uint32_t last_nsec;
    uint64_t sections, blocks_skipped, packets;
    int failed;         /* the sticky error code, 0 while the stream is good */
};

/* True if b (4 bytes) starts a pcapng file (a Section Header Block). */
bool tw_pcapng_magic(const uint8_t *b);

/*
 * The block that starts at b (12 bytes at hand, at a block boundary of a section read in byte
 * order *big): its type in *type and its total length returned as written, unchecked (the
 * reader checks it). A Section Header Block sets *big from its byte-order magic; with a bad
 * one, 0. For a reader that waits until a whole block has arrived before it reads it.
 */
uint32_t tw_pcapng_peek_block(const uint8_t *b, bool *big, uint32_t *type);

/*
 * The header of the block at h, avail bytes at hand (at least 12 unless the input ends
 * first; a block is never shorter): 1 with its type and total length checked (a Section
 * Header Block sets the section's byte order), or TW_EINCOMPLETE (cut in the header) /
 * TW_EMALFORMED with the reason and r->offset (the block's file offset) in err. The error is
 * sticky, as tw_pcapng_next()'s.
 */
int tw_pcapng_head(struct tw_pcapng *r, const uint8_t *h, size_t avail, uint32_t *type,
                   uint32_t *len, char *err, size_t errlen);

/*
 * The whole block at blk (len bytes, as tw_pcapng_head() read them): 1 for a packet, with
 * *f and *linktype set and f->data pointing into blk (f->hold NULL: the caller's to set); 0
 * for a block that holds none (section, interface, or skipped and counted); or TW_EMALFORMED
 * / TW_ENOMEM with the reason in err. r->offset moves past the block unless it failed.
 */
int tw_pcapng_block(struct tw_pcapng *r, const uint8_t *blk, uint32_t type, uint32_t len,
                    struct tw_frame *f, int *linktype, char *err, size_t errlen);

/* The input ends inside the block at r->offset: TW_EINCOMPLETE with the reason in err
 * (sticky). */
int tw_pcapng_cut(struct tw_pcapng *r, char *err, size_t errlen);

/*
 * Reads the first Section Header Block and sets r up to read fp (which stays the caller's).
 * Returns 0, or TW_EMALFORMED / TW_EINCOMPLETE (cut short) / TW_EIO / TW_ENOMEM with a reason
 * in err (without the file name).
 */
int tw_pcapng_open(struct tw_pcapng *r, FILE *fp, char *err, size_t errlen);

/*
 * The next packet: 1 with *f and *linktype set (f->data valid until the next call), TW_EOF at
 * the end of the file (at a block boundary), or TW_EMALFORMED (bad block length, trailer,
 * interface id, captured length, version), TW_EINCOMPLETE (file cut inside a block), TW_EIO,
 * TW_ENOMEM with the reason and the block's file offset in err. After an error the stream is
 * not read further (every later call returns the same code).
 */
int tw_pcapng_next(struct tw_pcapng *r, struct tw_frame *f, int *linktype, char *err,
                   size_t errlen);

/* Frees what r holds (not fp). */
void tw_pcapng_close(struct tw_pcapng *r);

#endif /* TUNWATCH_PCAPNG_H */
