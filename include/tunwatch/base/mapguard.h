/* SPDX-License-Identifier: MIT */
/*
 * Read-only file mappings guarded against the file shrinking under them. A page past a mapped
 * file's new end raises SIGBUS when touched; for a guarded mapping the handler puts a page of
 * zeros there instead and marks the mapping failed, so the reader goes on (reading zeros) and
 * can tell. A SIGBUS anywhere else goes to the disposition there was before. The handler is
 * installed with the first guard, and again if something replaced it since.
 */
#ifndef TUNWATCH_MAPGUARD_H
#define TUNWATCH_MAPGUARD_H

#include <stdatomic.h>

#include "tunwatch/base/common.h"

/* Guards base[0..len): its slot (>= 0), or -1 when the handler cannot be installed or every
 * slot is taken (64). */
int tw_mapguard_add(const void *base, size_t len);
/* Ends the guard of slot (before the mapping is unmapped). */
void tw_mapguard_remove(int slot);
/* Whether a page of slot's mapping was past its file's end when touched (or the owner said
 * so: tw_mapguard_set_failed(), on finding the file shorter). tw_mapguard_flag() is where that
 * is kept, for a reader that asks for every record (an atomic load, no call). */
bool tw_mapguard_failed(int slot);
void tw_mapguard_set_failed(int slot);
const atomic_bool *tw_mapguard_flag(int slot);
/* The page size the handler replaces pages in. */
size_t tw_mapguard_page(void);

#endif /* TUNWATCH_MAPGUARD_H */
