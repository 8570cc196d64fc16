/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Spill maps: growable blocks of memory whose pages can be given back to
 * the system at any moment without losing what they hold.  For the tables
 * that grow with an image's inode count (the engine's entries, their
 * paths, a format's per-inode state), so that peak memory does not grow
 * with the image (issue #18).
 *
 * A map is a MAP_SHARED mapping of a nameless temporary file (O_TMPFILE
 * in $TMPDIR, else /tmp, as the report's store).  fw_spillmap_trim drops
 * its resident pages (madvise MADV_DONTNEED): the bytes stay in the file,
 * in the page cache or on disk, and the next access faults the page back.
 * A trim never moves the map, so pointers into it stay valid.  The cost
 * of a trim is the page faults that follow it: trim where the pages just
 * used will not be used again soon (after a pass, every N files).
 *
 * Small maps cost no file: a map is anonymous memory until it grows past
 * FW_SPILL_AFTER bytes, and then moves once into its file (a temporary
 * file and a mapping cost about 0.1 ms, which a tiny image should not
 * pay).  Before that, trim does nothing.
 *
 * Growth: once in its file, where the address space allows (64-bit), a
 * map has room for up to max bytes reserved (address space only: no
 * memory, no file blocks), the file is extended with ftruncate as the map
 * grows, and the base does not move while the length stays within
 * fw_spillmap_room().  Past the room (32-bit, a reservation refused, the
 * anonymous start) the mapping moves, as realloc would: after
 * fw_spillmap_grow, take the base again unless the new length was within
 * the room.  The bytes a map grows by are zero.  Bytes past the length
 * must not be touched: past the file's end that is SIGBUS, and under ASan
 * they are poisoned.
 *
 * Fallback: when no temporary file can be made, the map stays anonymous
 * memory: everything works the same but trim, which does nothing (the
 * pages hold the only copy); fw_spillmap_spilled says which.
 *
 * Threads: the bytes are the caller's to guard.  grow and free must not
 * race with other users of the same map (like realloc); trim and
 * fw_spillmap_trim_all may run at any time from any thread, while other
 * threads read and write the bytes (a page written during a trim is
 * faulted back with what was written, never lost).
 *
 * The mapping is not inherited by a forked child (MADV_DONTFORK): fwsign
 * forks only to exec.
 */
#ifndef FWSIGN_SPILLMAP_H
#define FWSIGN_SPILLMAP_H

#include <stddef.h>

struct fw_spillmap;

/* Anonymous up to here; past it, in a file (see above). */
#define FW_SPILL_AFTER ((size_t)128 << 10)

/* fw_spillmap_new, fw_spillmap_grow, fw_spillmap_free: formats/module.h
 * (the tar/cpio module keeps its entries in a map too). */
#include "../formats/module.h"
/* The first byte (NULL while the map has never grown). */
void *fw_spillmap_base(const struct fw_spillmap *m);
/* The bytes the caller may use: the largest length asked of grow. */
size_t fw_spillmap_len(const struct fw_spillmap *m);
/* How long the map may grow without its base moving. */
size_t fw_spillmap_room(const struct fw_spillmap *m);
/* Gives back the map's resident pages; the bytes stay.  NULL is fine. */
void fw_spillmap_trim(struct fw_spillmap *m);
/* Trims every map the process has (the engine calls it as it goes, so
 * that a format's maps are trimmed without the engine knowing them). */
void fw_spillmap_trim_all(void);
/* 1 if in its file (trim gives pages back), 0 if anonymous. */
int fw_spillmap_spilled(const struct fw_spillmap *m);

#endif
