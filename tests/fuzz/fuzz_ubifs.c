// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for UBIFS volumes (formats/ubifs.c): bid, open (the
 * superblock, master nodes, the index walk), then read and list the
 * xattrs of every entry.  The reader only: the writer runs mkfs.ubifs, a
 * process per input, which a fuzz run cannot afford; tests/cli/ubifs.sh
 * takes it through its cases instead.  Every node header the input has
 * at an 8-byte boundary gets its CRC recomputed first, or nearly every
 * mutation would stop at a CRC check (an input whose superblock header
 * has 0xcc in its last padding byte, 23, is taken as it is, to reach
 * those checks too).  Build and
 * seeds: README.md.
 */
#include "fuzz_common.h"
#include "../../formats/ubifs.h"
#include "../../src/bytes.h"

/* CRCs of the nodes mutation broke, made right again. */
static uint8_t *fix_crcs(const uint8_t *data, size_t size)
{
	uint8_t *b = malloc(size ? size : 1);

	if (!b)
		return NULL;
	memcpy(b, data, size);
	if (size > 23 && b[23] == 0xcc)
		return b;
	for (size_t off = 0; off + UB_CH_SZ <= size; off += 8) {
		uint32_t len = fw_le32(b + off + 16);

		if (fw_le32(b + off) != UB_MAGIC || len < UB_CH_SZ ||
		    len > size - off)
			continue;
		fw_put_le32(b + off + 4, ub_crc(b + off + 8, len - 8));
	}
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fw_image *img;
	struct fw_error err;
	char path[64];
	struct stat st;
	int rc;

	uint8_t *fixed = fix_crcs(data, size);

	(void)fuzz_format;	/* the writer's path: not here, see above */
	if (!fixed)
		return 0;
	data = fixed;
	if (fuzz_input("ubifs", data, size, path, sizeof(path), &st)) {
		free(fixed);
		return 0;
	}
	if (!fw_format_ubifs.bid(path, &st, data, size < 4096 ? size : 4096)) {
		unlink(path);
		free(fixed);
		return 0;
	}
	rc = fuzz_open(&fw_format_ubifs, path, &img, &err);
	for (size_t i = 0; rc == 0 && i < img->n; i++) {
		const struct fw_entry *e = &img->ent[i];
		struct fw_xattr *x = NULL;
		uint8_t *buf = NULL;
		size_t len = 0, nx = 0;

		if (S_ISREG(e->st.st_mode) && e->st.st_size <= FUZZ_MAX_READ &&
		    fw_format_ubifs.read(img, i, &buf, &len, &err) == 0 &&
		    len != (size_t)e->st.st_size)
			abort();	/* read must give the size stat says */
		free(buf);
		if (fw_format_ubifs.xattrs(img, i, &x, &nx, &err) == 0)
			fw_xattrs_free(x, nx);
	}
	if (rc >= 0 && img)
		fw_image_close(img);
	unlink(path);
	free(fixed);
	return 0;
}
