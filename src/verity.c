// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * dm-verity hash trees, as `veritysetup format` writes them (format 1).
 *
 * The data is cut in blocks; each block's digest is H(salt || block).  A
 * hash block holds as many digests as fit (128 of SHA-256 in 4 KiB), zero
 * padded; level 0 holds the data blocks' digests, level i+1 those of level
 * i's blocks, up to a level of one block, whose H(salt || block) is the
 * root hash.  On disk the levels lie top first, after a superblock of 512
 * bytes (little-endian: "verity\0\0", version 1, hash type 1, UUID, the
 * algorithm's name, both block sizes, the data block count, the salt) that
 * takes one hash block.  A tree appended to its image (hash device = data
 * device) starts at hash_offset, the image's size rounded up to a block.
 *
 * The kernel checks a signature of the root hash (root_hash_sig_key_desc)
 * over the hash as the table gives it: lower-case hex, no newline.  It is
 * a detached PKCS#7 like a module's, so the signer that signs files signs
 * it too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fwsign/verity.h"
#include "bytes.h"


static int hash_block(const EVP_MD *md, EVP_MD_CTX *base, EVP_MD_CTX *c,
		      const uint8_t *p, size_t n, uint8_t *out)
{
	unsigned len;

	return EVP_MD_CTX_copy_ex(c, base) && EVP_DigestUpdate(c, p, n) &&
	       EVP_DigestFinal_ex(c, out, &len) &&
	       (int)len == EVP_MD_get_size(md) ? 0 : -1;
}

int fw_verity_build(const uint8_t *data, uint64_t len,
		    const struct fw_verity_params *vp, struct fw_verity *v,
		    struct fw_error *err)
{
	const EVP_MD *md = EVP_get_digestbyname(vp->hash ? vp->hash : "sha256");
	EVP_MD_CTX *base = NULL, *c = NULL;
	uint32_t bs = vp->block ? vp->block : 4096;
	uint64_t n[FW_VERITY_MAX_LEVELS], off[FW_VERITY_MAX_LEVELS], total = 0;
	size_t ds, full, hpb;
	int levels = 0, rc = FW_EIO;
	uint8_t *sb;

	memset(v, 0, sizeof(*v));
	if (!md)
		return fw_error_set(err, FW_EUSAGE, NULL, "dm-verity: unknown "
				    "hash '%s'", vp->hash);
	ds = (size_t)EVP_MD_get_size(md);
	for (full = 1; full < ds; full *= 2)
		;
	if (bs < 512 || bs > 65536 || (bs & (bs - 1)) || full > bs / 2)
		return fw_error_set(err, FW_EUSAGE, NULL, "dm-verity: bad "
				    "block size %u", bs);
	if (vp->salt_len > FW_VERITY_MAX_SALT)
		return fw_error_set(err, FW_EUSAGE, NULL, "dm-verity: salt of "
				    "%zu bytes (%d at most)", vp->salt_len,
				    FW_VERITY_MAX_SALT);
	if (len % bs || len / bs < 2)
		return fw_error_set(err, FW_EINPUT, NULL, "dm-verity: %llu "
				    "bytes are not two or more whole blocks "
				    "of %u", (unsigned long long)len, bs);
	hpb = bs / full;
	v->data_blocks = len / bs;
	v->block = bs;
	v->digest_len = (unsigned)ds;
	/* level sizes, bottom up */
	for (uint64_t k = v->data_blocks; k > 1 || !levels;) {
		if (levels == FW_VERITY_MAX_LEVELS)
			return fw_error_set(err, FW_EINPUT, NULL, "dm-verity: "
					    "too many levels");
		k = (k + hpb - 1) / hpb;
		n[levels++] = k;
	}
	/* on disk top first */
	for (int i = levels - 1; i >= 0; i--) {
		off[i] = total;
		total += n[i];
	}
	v->levels = levels;
	v->area_len = (size_t)(total + 1) * bs;	/* superblock's block too */
	v->area = calloc(1, v->area_len);
	base = EVP_MD_CTX_new();
	c = EVP_MD_CTX_new();
	if (!v->area || !base || !c ||
	    !EVP_DigestInit_ex(base, md, NULL) ||
	    !EVP_DigestUpdate(base, vp->salt, vp->salt_len)) {
		fw_error_set(err, FW_EIO, NULL, "dm-verity: out of memory");
		goto out;
	}
	/* level 0 from the data, each level from the one below */
	for (int i = 0; i < levels; i++) {
		uint8_t *dst = v->area + (size_t)(1 + off[i]) * bs;
		uint64_t cnt = i ? n[i - 1] : v->data_blocks;
		const uint8_t *src = i ? v->area + (size_t)(1 + off[i - 1]) * bs :
					 data;

		for (uint64_t b = 0; b < cnt; b++)
			if (hash_block(md, base, c, src + b * bs, bs,
				       dst + b * full)) {
				fw_error_set(err, FW_EIO, NULL, "dm-verity: "
					     "digest failed");
				goto out;
			}
	}
	if (hash_block(md, base, c, v->area + (size_t)(1 + off[levels - 1]) * bs,
		       bs, v->root)) {
		fw_error_set(err, FW_EIO, NULL, "dm-verity: digest failed");
		goto out;
	}
	for (unsigned i = 0; i < ds; i++)
		snprintf(v->root_hex + 2 * i, 3, "%02x", v->root[i]);
	/* the superblock */
	sb = v->area;
	memcpy(sb, "verity\0\0", 8);
	fw_put_le32(sb + 8, 1);
	fw_put_le32(sb + 12, 1);
	memcpy(sb + 16, vp->uuid, 16);
	snprintf((char *)sb + 32, 32, "%s", vp->hash ? vp->hash : "sha256");
	fw_put_le32(sb + 64, bs);
	fw_put_le32(sb + 68, bs);
	fw_put_le64(sb + 72, v->data_blocks);
	fw_put_le16(sb + 80, (uint16_t)vp->salt_len);
	memcpy(sb + 88, vp->salt, vp->salt_len);
	rc = FW_OK;
out:
	EVP_MD_CTX_free(base);
	EVP_MD_CTX_free(c);
	if (rc) {
		free(v->area);
		v->area = NULL;
	}
	return rc;
}

void fw_verity_free(struct fw_verity *v)
{
	free(v->area);
	v->area = NULL;
}

static int digest2(const char *label, const uint8_t *p, uint64_t n,
		   uint8_t out[32])
{
	unsigned len;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
		 EVP_DigestUpdate(c, label, strlen(label) + 1) &&
		 EVP_DigestUpdate(c, p, n) && EVP_DigestFinal_ex(c, out, &len);

	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

int fw_verity_fs(const uint8_t *p, uint64_t n)
{
	if (n >= 4 && !memcmp(p, "hsqs", 4))
		return 1;
	return n >= 1082 && p[1080] == 0x53 && p[1081] == 0xef;
}

int fw_verity_append(const char *path, const uint8_t *salt, size_t salt_len,
		     struct fw_verity_info *vi, struct fw_error *err)
{
	struct fw_verity_params vp = { .block = 4096 };
	struct fw_verity tree, *v = &tree;
	uint8_t derived[32], u[32];
	uint64_t size, padded;
	struct stat st;
	void *map = MAP_FAILED;
	int fd, rc;

	memset(v, 0, sizeof(*v));
	memset(vi, 0, sizeof(*vi));
	fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		rc = fw_error_set(err, FW_EIO, path, "cannot open for the "
				  "dm-verity tree: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	size = (uint64_t)st.st_size;
	padded = (size + vp.block - 1) / vp.block * vp.block;
	if (padded != size && ftruncate(fd, (off_t)padded)) {
		rc = fw_error_set(err, FW_EIO, path, "cannot pad: %s",
				  strerror(errno));
		goto out;
	}
	map = padded ? mmap(NULL, padded, PROT_READ, MAP_SHARED, fd, 0) :
		       MAP_FAILED;
	if (map == MAP_FAILED) {
		rc = fw_error_set(err, FW_EIO, path, "cannot map: %s",
				  strerror(errno));
		goto undo;
	}
	if (!fw_verity_fs(map, padded)) {
		rc = fw_error_set(err, FW_EINPUT, path, "--verity takes a "
				  "squashfs or ext2/3/4 image");
		goto undo;
	}
	if (!salt) {
		if (digest2("fwsign dm-verity salt", map, padded, derived)) {
			rc = fw_error_set(err, FW_EIO, path, "digest failed");
			goto undo;
		}
		salt = derived;
		salt_len = sizeof(derived);
	}
	vp.salt = salt;
	vp.salt_len = salt_len;
	if (digest2("fwsign dm-verity uuid", salt, salt_len, u)) {
		rc = fw_error_set(err, FW_EIO, path, "digest failed");
		goto undo;
	}
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);	/* version 4 */
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);	/* RFC 4122 */
	memcpy(vp.uuid, u, 16);
	rc = fw_verity_build(map, padded, &vp, v, err);
	if (rc) {
		if (!err->file[0])
			snprintf(err->file, sizeof(err->file), "%s", path);
		goto undo;
	}
	if (pwrite(fd, v->area, v->area_len, (off_t)padded) !=
	    (ssize_t)v->area_len || fsync(fd)) {
		rc = fw_error_set(err, FW_EIO, path, "cannot write the "
				  "dm-verity tree: %s", strerror(errno));
		fw_verity_free(v);
		goto undo;
	}
	memcpy(vi->root_hex, v->root_hex, sizeof(vi->root_hex));
	memcpy(vi->salt, salt, salt_len);
	vi->salt_len = salt_len;
	memcpy(vi->uuid, vp.uuid, 16);
	vi->block = v->block;
	vi->data_blocks = v->data_blocks;
	vi->hash_offset = padded;
	vi->tree_len = v->area_len;
	fw_verity_free(v);
	rc = FW_OK;
	goto out;
undo:
	if (ftruncate(fd, (off_t)size))
		rc = fw_error_set(err, FW_EIO, path, "cannot undo the "
				  "dm-verity tree: %s", strerror(errno));
out:
	if (map != MAP_FAILED)
		munmap(map, padded);
	close(fd);
	return rc;
}

int fw_verity_sign_root(struct fw_signer *s, const char *root_hex,
			uint8_t **der, size_t *der_len, struct fw_error *err)
{
	uint8_t *t;
	size_t tl, n;
	int rc;

	*der = NULL;
	rc = fw_sign_trailer(s, (const uint8_t *)root_hex, strlen(root_hex),
			     &t, &tl, err);
	if (rc)
		return rc;
	/* trailer: PKCS#7, 12 bytes of module_signature (sig_len last,
	 * big-endian), the 28-byte magic */
	n = tl >= 40 ? fw_be32(t + tl - 28 - 4) : 0;
	if (!n || n > tl - 40) {
		free(t);
		return fw_error_set(err, FW_EIO, NULL, "dm-verity: bad "
				    "signature block");
	}
	*der = t;
	*der_len = n;
	return FW_OK;
}
