/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A content-addressed cache of compressed blocks (src/cache.c), shared by
 * the runs that sign the images of one release: the variants of a device
 * family hold mostly the same files, so the block a signed file's tail
 * becomes, compressed again with the same compressor and options, is the
 * same in every image.  The first run compresses it and stores it; the
 * others read it back.
 *
 * RSA signatures are kept there too, keyed by the certificate, the
 * digest algorithm and the digest: a release's shared files are signed
 * once (a token or HSM that takes tens of milliseconds a signature makes
 * that most of a run's time).
 *
 * An entry is trusted for nothing: before it is used it is decompressed
 * and compared with the bytes it stands for, so a cache that someone else
 * can write can make a run slower, never change what an image holds.
 * The key covers the codec, its every setting, the library's version and
 * the uncompressed bytes, so an entry gives the bytes that compressing
 * would give.
 *
 * Runs that share a secret (fwsign batch makes one and hands it to its
 * children, fw_cache_set_secret) keep file digests there too: a signed
 * squashfs file's digest, ELF kind and kept length, keyed by how the image
 * stores it (its compressed blocks, its fragment's bytes), so that a file
 * of many images is decompressed and hashed once.  Such an entry cannot be
 * checked without doing that work, so it is used only when its HMAC-SHA256
 * under the secret is right: an entry anyone else wrote (another batch, a
 * forger) is rejected, never signed.  Entries appear whole (a temporary file renamed), so
 * several processes may share one directory; removing it is always safe.
 */
#ifndef FWSIGN_CACHE_H
#define FWSIGN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "fwsign/export.h"
#include "fwsign/fwsign.h"

struct fw_cache;

struct fw_cache_stats {
	uint64_t hits;		/* entries used */
	uint64_t misses;	/* no entry: compressed, then stored */
	uint64_t rejected;	/* an entry that did not decompress to the
				 * bytes it stands for (compressed instead) */
	uint64_t stored;	/* entries written */
	uint64_t store_failed;	/* entries that could not be written (the
				 * run goes on) */
	/* RSA signatures (PKCS#1 v1.5 is deterministic: the same key over
	 * the same digest gives the same bytes), checked with the
	 * certificate's key before use */
	uint64_t sig_hits, sig_misses, sig_rejected;
	/* file digests (with a secret only): used, not found, or found
	 * with a wrong HMAC (another secret's, damaged, forged) */
	uint64_t dig_hits, dig_misses, dig_rejected;
};

/* Opens (and makes, mode 0700) the cache directory. */
FW_API int fw_cache_open(const char *dir, struct fw_cache **out,
			 struct fw_error *err);
FW_API void fw_cache_close(struct fw_cache *c);
FW_API void fw_cache_stats(const struct fw_cache *c, struct fw_cache_stats *s);
/* Removes a cache directory: its entries, temporaries and folders, and
 * nothing else (a folder that holds anything more stays). */
FW_API void fw_cache_remove(const char *dir);
/* The secret file digests are authenticated with (at least 16 bytes);
 * without one, none are looked up or stored. */
FW_API int fw_cache_set_secret(struct fw_cache *c, const uint8_t *key,
			       size_t len);
/* Signatures of s go through the cache c (NULL: none). */
FW_API void fw_signer_set_cache(struct fw_signer *s, struct fw_cache *c);

#endif
