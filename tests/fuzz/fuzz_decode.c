/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for tw_decode(): the first byte picks the link type, the rest is the frame,
 * copied into an exact-size buffer so any over-read is caught.
 */
#include "tunwatch/decode/decode.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first ten entries are in the order tests/fuzz/seeds.py writes its selector byte. */
static const int link_types[] = {
    TW_LINK_ETHERNET, TW_LINK_LINUX_SLL, TW_LINK_LINUX_SLL2, TW_LINK_RAW,
    TW_LINK_NULL,     TW_LINK_LOOP,      TW_LINK_DLT_RAW1,   TW_LINK_DLT_RAW2,
    TW_LINK_IPV4,     TW_LINK_IPV6,      TW_LINK_PPP,        TW_LINK_PPP_HDLC,
    TW_LINK_C_HDLC,   TW_LINK_NFLOG,     TW_LINK_IEEE802_11, TW_LINK_RADIOTAP,
    147, /* unsupported */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int link = link_types[data[0] % (sizeof(link_types) / sizeof(link_types[0]))];
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data + 1, len);

    struct tw_decode_stats st;
    memset(&st, 0, sizeof(st));
    struct tw_pkt p;
    int rc = tw_decode(link, buf, len, len, &p, &st);

    uint64_t reasons = 0;
    for (size_t i = 0; i < TW_DR__COUNT; i++)
        reasons += st.reason[i];
    if (rc == 0) {
        /* the payload lies inside the frame and within what the headers declare */
        if (p.payload < buf || p.payload + p.payload_len > buf + len ||
            p.payload_len > p.payload_wire_len || (p.l4_proto != 6 && p.l4_proto != 17) ||
            (p.ip_version != 4 && p.ip_version != 6) || reasons > 1)
            abort();
    } else if ((rc != TW_ESKIP && rc != TW_EMALFORMED) || reasons != 1) {
        abort();
    }
    free(buf);
    return 0;
}
