// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for ext2/3/4 (formats/ext4.c): bid, open, read every
 * file, then write a copy of the image with every first name of a
 * non-empty file 16 bytes longer.  Build and seeds: README.md.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct stat st;

	if (fuzz_input("ext4", data, size, path, sizeof(path), &st))
		return 0;
	/* FUZZ_CHECK only on sound images (the seeds): the output is the
	 * input edited, so in a damaged image whose files share blocks
	 * (with each other or the metadata) writing one changes another. */
	fuzz_format(&fw_format_ext4, "ext4",
		    getenv("FWSIGN_FUZZ_CHECK") ? FUZZ_CHECK : 0, path, &st,
		    data, size);
	unlink(path);
	return 0;
}
