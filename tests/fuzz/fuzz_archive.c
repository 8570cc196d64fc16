// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for the tar/cpio format (formats/archive.c): bid, open,
 * read and peek every file, then write the archive back with every first
 * name of a non-empty file changed (as signing does: longer or shorter),
 * and read the output back.
 * Build and seeds: README.md.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct stat st;

	if (fuzz_input("archive", data, size, path, sizeof(path), &st))
		return 0;
	fuzz_format(&fw_format_tar, "archive", FUZZ_SHRINK_ODD | FUZZ_CHECK,
		    path, &st, data, size);
	fuzz_format(&fw_format_cpio, "archive", FUZZ_SHRINK_ODD | FUZZ_CHECK,
		    path, &st, data, size);
	unlink(path);
	return 0;
}
