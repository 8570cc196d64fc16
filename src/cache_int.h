/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The compressed-block cache's inside (src/cache.c), for the writers. */
#ifndef FWSIGN_CACHE_INT_H
#define FWSIGN_CACHE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "fwsign/cache.h"

#define FW_CACHE_KEY 32		/* SHA-256 */

enum fw_cache_event {
	FW_CACHE_HIT, FW_CACHE_MISS, FW_CACHE_REJECTED,
	FW_CACHE_SIG_HIT, FW_CACHE_SIG_MISS, FW_CACHE_SIG_REJECTED,
	FW_CACHE_DIG_HIT, FW_CACHE_DIG_MISS, FW_CACHE_DIG_REJECTED,
};

/* The entry of key: 1 and its bytes (at most cap) in buf, *len of them,
 * *raw set when the block is stored uncompressed (then *len is 0); 0:
 * none.  What it holds is unchecked: the caller decompresses it and
 * compares before use. */
int fw_cache_get(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		 uint8_t *buf, size_t cap, size_t *len, int *raw);
/* Stores an entry; failing to is counted, never an error. */
void fw_cache_put(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		  const uint8_t *data, size_t len, int raw);
/*
 * Block entries with a MAC: put_auth adds an HMAC-SHA256 under the
 * cache's secret (none without one: then as fw_cache_put); get_auth sets
 * *authentic when the entry has one and it is right (made by a run that
 * shares the secret, which compressed the bytes itself: no need to
 * decompress it to check).  fw_cache_get reads both kinds.
 */
void fw_cache_put_auth(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		       const uint8_t *data, size_t len, int raw);
int fw_cache_get_auth(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		      uint8_t *buf, size_t cap, size_t *len, int *raw,
		      int *authentic);
void fw_cache_count(struct fw_cache *c, enum fw_cache_event e);
/*
 * Claims a key before compressing it, so that runs sharing the cache
 * split the work instead of doing it twice: 1 and *fd when claimed (the
 * caller looks the key up again, then compresses, stores and releases),
 * 0 when another claim holds it (without wait: do something else and come
 * back; with wait: never), -1 when no claim can be made (compress
 * anyway).  A claim is an flock on DIR/XX/REST.lock, which the release
 * removes: whoever waited on it then finds the entry.
 */
int fw_cache_claim(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		   int wait, int *fd);
void fw_cache_release(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		      int fd);

/*
 * File digests (fwsign/cache.h): what signing a file needs of its bytes,
 * under a key naming how the image stores them.  Entries carry an
 * HMAC-SHA256 under the cache's secret over the key and all the rest.
 */
struct fw_digest_entry {
	uint64_t size;		/* the file's */
	uint64_t keep;		/* the content without an old trailer */
	uint8_t had_sig;	/* an old trailer was there (re-sign) */
	uint8_t md_len;
	uint8_t md[64];		/* the digest of the first keep bytes */
	uint32_t kind, elfclass, big_endian, machine;
};
/* Whether the cache has a secret (digests may be looked up). */
int fw_cache_has_secret(const struct fw_cache *c);
/* 1 and *e: an entry whose HMAC is right (counted as a hit); 0: none, or
 * rejected (counted). */
int fw_cache_digest_get(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
			struct fw_digest_entry *e);
void fw_cache_digest_put(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
			 const struct fw_digest_entry *e);

#endif
