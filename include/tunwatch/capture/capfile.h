/* SPDX-License-Identifier: MIT */
/*
 * Capture files read packet by packet, and many of them merged into one stream.
 *
 * tw_capfile: one file, classic pcap (read in 2 MiB blocks, records parsed in place; frames
 * carry a tw_hold so that a reader can hand them to workers without a copy) or pcapng through
 * tw_pcapng (every packet with its interface's link type and time).
 *
 * tw_merge: a k-way merge of several files on the time of each file's next packet, so that
 * flows and the DNS answer cache carry from one file to the next as if they were one capture.
 * Files are opened lazily, in order of their first packet's time, when the merge reaches that
 * time, so rotated captures (one after another) keep one or two open at once. Equal times keep
 * the order in which the files were added.
 */
#ifndef TUNWATCH_CAPFILE_H
#define TUNWATCH_CAPFILE_H

#include "tunwatch/capture/capture.h"

struct tw_capfile;

/* True if the 4 bytes at b are a pcap (any of its magics) or pcapng file's start. */
bool tw_capfile_magic(const uint8_t *b);

/* Opens path ("-": standard input; a FIFO or a socket are read as streams too). 0, or TW_EIO
 * (open failed, errno-style reason), TW_EMALFORMED (not a capture, or a broken header) with
 * "PATH: reason" in err. */
int tw_capfile_open(const char *path, struct tw_capfile **out, char *err, size_t errlen);
/*
 * The blocks of one regular file read once for several readers, each in its own thread, that
 * read the whole file (replay workers): each block is read into memory they share by one of
 * them (they take turns), and every reader parses it there. A reader runs at most a few
 * blocks ahead of the slowest. Made for `readers` readers (NULL when out of memory); each
 * opening with tw_capfile_open_shared() takes a reader's place. Counted references: freed
 * with the last tw_capshare_unref().
 */
struct tw_capshare;
struct tw_capshare *tw_capshare_new(unsigned readers);
struct tw_capshare *tw_capshare_ref(struct tw_capshare *sh);
void tw_capshare_unref(struct tw_capshare *sh);
/* A reader that will not read the file gives its place up: the others do not wait for it. */
void tw_capshare_skip(struct tw_capshare *sh);

/* As tw_capfile_open(), reading a regular file's blocks with the other readers of sh (NULL:
 * alone). A file that is not the one the first reader opened (replaced since), or a stream,
 * is read alone; its place in sh is given up. While it waits for a slower reader, c's stall
 * callback is called (tw_capfile_set_stall): the caller lets go of the frames it holds. */
int tw_capfile_open_shared(const char *path, struct tw_capshare *sh, struct tw_capfile **out,
                           char *err, size_t errlen);

/*
 * How regular files are read: mapped whole and parsed in place where that is faster than
 * copying them with read(2) (AUTO, the default: files of 1 MiB and more whose first window
 * maps fast enough), always mapped (ALWAYS), or always read with read(2) (NEVER). CHECK is
 * ALWAYS for tests: the parts of the file a reader lets go of are made inaccessible instead
 * of dropped, so that a frame read after its hold was let go of faults. Process-wide; set
 * before files are opened.
 */
enum tw_capfile_map {
    TW_CAPFILE_MAP_AUTO,
    TW_CAPFILE_MAP_ALWAYS,
    TW_CAPFILE_MAP_NEVER,
    TW_CAPFILE_MAP_CHECK
};
void tw_capfile_set_map(enum tw_capfile_map mode);

/* True if c is a regular file (it can be opened again); false for a stream read once. */
bool tw_capfile_regular(const struct tw_capfile *c);

/* The next packet: 1 (f->data valid until the next call on c, or while f->hold is held),
 * TW_EOF, or a negative
 * code with "PATH: reason" in err (a file cut short, a broken block, a read error). */
int tw_capfile_next(struct tw_capfile *c, struct tw_frame *f, int *linktype, char *err,
                    size_t errlen);

/*
 * Whether tw_capfile_next() returns without waiting: always for a regular file; for a stream,
 * once its next packet has arrived whole, or the stream ended or failed (what has arrived is
 * read here, without waiting). A reader of a stream that goes quiet (tcpdump -w - | tunwatch
 * -r -) does its other work meanwhile and waits on tw_capfile_fd(). */
bool tw_capfile_ready(struct tw_capfile *c);
/* The descriptor a stream is read from, -1 for a regular file. */
int tw_capfile_fd(const struct tw_capfile *c);

/*
 * A reader that waits for a stream (opening it, its header, a packet tw_capfile_ready() did
 * not promise) asks stop() every 100 ms and after every signal, and gives up when it says
 * so: the call fails with "Interrupted system call" (errno EINTR). Process-wide; NULL (the
 * default): wait as long as it takes.
 */
void tw_capfile_set_stop(bool (*stop)(void));

/* Bytes read so far and the file's size (0 if unknown). */
void tw_capfile_progress(const struct tw_capfile *c, uint64_t *done, uint64_t *total);

/* Called by a reader that waits for frames it handed out (struct tw_hold) to be let go of:
 * the caller wakes whoever holds them. */
typedef void (*tw_stall_fn)(void *ctx);
void tw_capfile_set_stall(struct tw_capfile *c, tw_stall_fn fn, void *ctx);

/* Link type of a classic pcap file, or -1 for pcapng (per interface). */
int tw_capfile_linktype(const struct tw_capfile *c);

void tw_capfile_close(struct tw_capfile *c);

struct tw_merge;

struct tw_merge_stats {
    uint64_t files;       /* added */
    uint64_t files_open;  /* open now */
    uint64_t files_done;  /* read to their end */
    uint64_t files_failed; /* stopped by an error (its packets before the error were read) */
    uint64_t frames;
    uint64_t bytes_done, bytes_total;
};

/* An empty merge; NULL when out of memory. */
struct tw_merge *tw_merge_new(void);

/*
 * Adds a file: opens it, reads its first packet (for its time), closes it. Returns 0, or a
 * negative code with "PATH: reason" in err (the file is not added). A file without packets
 * is added and ends at once. path must stay valid while m is used.
 */
int tw_merge_add(struct tw_merge *m, const char *path, char *err, size_t errlen);

/*
 * The next packet over every file, in time order: 1 with *f, *linktype and *file (the index of
 * its file, in the order of tw_merge_add) set, f->data valid until the next call; TW_EOF when
 * every file is read; or a negative code with "PATH: reason" in err when one file failed (it
 * is dropped: call again for the others).
 */
int tw_merge_next(struct tw_merge *m, struct tw_frame *f, int *linktype, size_t *file,
                  char *err, size_t errlen);

/* Whether tw_merge_next() returns without waiting (tw_capfile_ready of the file it reads
 * next), and if not, the descriptor to wait on; -1 when it would not wait. */
bool tw_merge_ready(struct tw_merge *m);
int tw_merge_wait_fd(const struct tw_merge *m);
/* Whether one of m's files is a stream (tw_merge_ready can be false). */
bool tw_merge_has_stream(const struct tw_merge *m);

/* A merge of the same files as m, in the same order, read from their start by its own
 * caller (another thread), without opening them again; NULL when out of memory, when m has
 * started, or when one of its files is a stream (it can be read only once). */
struct tw_merge *tw_merge_copy(const struct tw_merge *m);

/* Makes m's regular files read once for `readers` copies of m (tw_merge_copy), each read by
 * its own thread: see struct tw_capshare. Before the copies are made. 0, or TW_ENOMEM. */
int tw_merge_share(struct tw_merge *m, unsigned readers);
/* This copy of a merge reads no more (its reader stopped): it lets go of the blocks it shares
 * with the other copies, which no longer wait for it. The caller holds no frame of it. */
void tw_merge_leave(struct tw_merge *m);
/* For a copy of a merge whose reader has to wait for another thread: reads one block of its
 * shared files ahead of its readers, one that no reader has read yet and whose slot is free,
 * whichever reader it falls to (the one it falls to skips it). Returns whether it read one;
 * false when there is nothing to read ahead. */
bool tw_merge_read_ahead(struct tw_merge *m);

/* The stall callback of every file of m (tw_capfile_set_stall). */
void tw_merge_set_stall(struct tw_merge *m, tw_stall_fn fn, void *ctx);

/* Whether the file m handed out its last packet from is mapped (see tw_capfile_set_map), not
 * read into blocks. */
bool tw_merge_mapped(const struct tw_merge *m);

/* The link type of file (index of tw_merge_add) if it is a classic pcap file, else -1 (pcapng:
 * per interface). */
int tw_merge_linktype(const struct tw_merge *m, size_t file);

void tw_merge_get_stats(const struct tw_merge *m, struct tw_merge_stats *st);

void tw_merge_free(struct tw_merge *m);

#endif /* TUNWATCH_CAPFILE_H */
