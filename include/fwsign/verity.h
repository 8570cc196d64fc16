/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dm-verity (src/verity.c): the hash tree veritysetup format writes, put
 * after a read-only filesystem image, and the root hash signed for the
 * kernel's root_hash_sig_key_desc.
 */
#ifndef FWSIGN_VERITY_H
#define FWSIGN_VERITY_H

#include <stddef.h>
#include <stdint.h>

#include "fwsign/export.h"
#include "fwsign/fwsign.h"

#define FW_VERITY_MAX_SALT 256
#define FW_VERITY_MAX_LEVELS 63

struct fw_verity_params {
	const char *hash;	/* OpenSSL name; NULL: sha256 */
	uint32_t block;		/* data and hash block size; 0: 4096 */
	const uint8_t *salt;
	size_t salt_len;
	uint8_t uuid[16];	/* the superblock's */
};

struct fw_verity {
	uint64_t data_blocks;
	uint32_t block;
	int levels;
	unsigned digest_len;
	uint8_t root[64];
	char root_hex[129];
	/* the superblock's block, then the tree: what goes at hash_offset */
	uint8_t *area;
	size_t area_len;
};

/* The tree of len bytes of data (whole blocks, two or more). */
FW_API int fw_verity_build(const uint8_t *data, uint64_t len,
			   const struct fw_verity_params *vp,
			   struct fw_verity *v, struct fw_error *err);
FW_API void fw_verity_free(struct fw_verity *v);

/* What a device needs to know of a tree put after an image. */
struct fw_verity_info {
	char root_hex[129];
	uint8_t salt[FW_VERITY_MAX_SALT];
	size_t salt_len;
	uint8_t uuid[16];	/* the superblock's */
	uint32_t block;		/* data and hash block size */
	uint64_t data_blocks;
	uint64_t hash_offset;	/* where the superblock lies */
	size_t tree_len;	/* superblock's block and tree */
};

/*
 * Appends the tree to the image at path (a squashfs or ext2/3/4 made by
 * this run): zeros up to a whole block, then the superblock and the tree.
 * salt NULL: derived from the image (SHA-256 of a label and its bytes),
 * so that the same image gets the same tree; the UUID is derived from the
 * salt.  On failure the file is left as it was.
 */
FW_API int fw_verity_append(const char *path, const uint8_t *salt,
			    size_t salt_len, struct fw_verity_info *vi,
			    struct fw_error *err);
/* 1 when p starts a filesystem --verity takes (squashfs, ext2/3/4). */
FW_API int fw_verity_fs(const uint8_t *p, uint64_t len);

/* The root hash as the table gives it, signed: a detached PKCS#7 (DER,
 * malloc'ed) for root_hash_sig_key_desc. */
FW_API int fw_verity_sign_root(struct fw_signer *s, const char *root_hex,
			       uint8_t **der, size_t *der_len,
			       struct fw_error *err);

#endif
