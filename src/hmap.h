/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one hash map of the library, the formats and the tar/cpio module:
 * keys are 64-bit numbers (u64 maps) or strings (string maps: the map
 * keeps copies), values a size_t other than FW_HMAP_NONE.  Open
 * addressing, linear probing, at most half full.  A map starts zeroed
 * ({ 0 }) and is either a u64 map or a string map, never both.
 */
#ifndef FWSIGN_HMAP_H
#define FWSIGN_HMAP_H

#include <stddef.h>
#include <stdint.h>

#include "../formats/module.h"

#define FW_HMAP_NONE ((size_t)-1)

struct fw_hmap {
	uint64_t *hash;		/* the key, or a string key's hash */
	char **str;		/* a string map's keys; NULL in a u64 map */
	size_t *val;		/* FW_HMAP_NONE: a free slot */
	size_t cap, n;
};

/* The value of k, or FW_HMAP_NONE. */
FW_MODULE_API size_t fw_hmap_get(const struct fw_hmap *h, uint64_t k);
FW_MODULE_API size_t fw_hmap_sget(const struct fw_hmap *h, const char *k);
/* Sets k's value (v is not FW_HMAP_NONE); 0, or -1 when out of memory. */
FW_MODULE_API int fw_hmap_put(struct fw_hmap *h, uint64_t k, size_t v);
FW_MODULE_API int fw_hmap_sput(struct fw_hmap *h, const char *k, size_t v);
/* Frees it (and a string map's keys); it is zeroed, ready for use again. */
FW_MODULE_API void fw_hmap_free(struct fw_hmap *h);

#endif
