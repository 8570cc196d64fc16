// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for squashfs (formats/squashfs.c, squashfs_write.c):
 * bid, open, read every file, then write the image back with every first
 * name of a non-empty file 16 bytes longer, and read the output back.
 * Build and seeds: README.md.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct stat st;

	if (fuzz_input("squashfs", data, size, path, sizeof(path), &st))
		return 0;
	fuzz_format(&fw_format_squashfs, "squashfs", FUZZ_CHECK, path, &st,
		    data, size);
	unlink(path);
	return 0;
}
