// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for the tar/cpio format (formats/archive.c): bid, open,
 * read and peek every file, then write the archive back with every first
 * name of a non-empty file changed (as signing does: longer or shorter).
 * Not built by CMake; by hand, from the top of the tree:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
 *     tests/fuzz/fuzz_archive.c $(find formats src -maxdepth 1 -name '*.c') \
 *     $(pkg-config --cflags --libs libelf liblzma libzstd zlib libsquashfs1 \
 *       ext2fs com_err libarchive liblz4 openssl) -lpthread -o fuzz_archive
 *   mkdir -p corpus && cp some.tar some.cpio.gz corpus/
 *   ./fuzz_archive -max_len=65536 -rss_limit_mb=4096 corpus
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../formats/format.h"

extern const struct fw_format fw_format_tar, fw_format_cpio;

static void run(const struct fw_format *f, const char *path,
		const struct stat *st, const uint8_t *data, size_t size)
{
	struct fw_image *img;
	struct fw_error err;
	struct fw_out_opts oo = { 0 };
	char out[64];
	void *ctx = NULL;
	int rc;

	if (!f->bid(path, st, data, size < 4096 ? size : 4096))
		return;
	img = calloc(1, sizeof(*img));
	if (!img || !(img->path = strdup(path))) {
		free(img);
		return;
	}
	img->fmt = f;
	fw_error_clear(&err);
	if (f->open(img, &err)) {
		fw_image_close(img);
		return;
	}
	snprintf(out, sizeof(out), "/dev/shm/fuzz-archive-out.%d", (int)getpid());
	unlink(out);
	oo.path = out;
	rc = f->out_begin(img, &oo, &ctx, &err);
	for (size_t i = 0; i < img->n && rc == 0; i++) {
		const struct fw_entry *e = &img->ent[i];
		uint8_t *buf = NULL, head[8];
		size_t len = 0;

		if (S_ISREG(e->st.st_mode) && e->link_of == FW_NO_LINK &&
		    f->peek(img, i, head, sizeof(head), &err) >= 0 &&
		    f->read(img, i, &buf, &len, &err) == 0 && len > 0) {
			/* longer on even entries, shorter on odd ones */
			uint8_t *nb = realloc(buf, len + 16);

			if (nb) {
				buf = nb;
				memset(buf + len, 'S', 16);
				len = i & 1 ? len / 2 : len + 16;
			}
		} else {
			free(buf);
			buf = NULL;
		}
		rc = f->out_put(ctx, i, buf, len, &err);
		free(buf);
	}
	if (rc == 0)
		f->out_commit(ctx, &err);
	if (ctx)
		f->out_abort(ctx);
	unlink(out);
	fw_image_close(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct stat st;
	FILE *f;

	snprintf(path, sizeof(path), "/dev/shm/fuzz-archive-in.%d", (int)getpid());
	f = fopen(path, "wb");
	if (!f)
		return 0;
	if (fwrite(data, 1, size, f) != size || fclose(f) != 0 ||
	    lstat(path, &st) < 0) {
		unlink(path);
		return 0;
	}
	run(&fw_format_tar, path, &st, data, size);
	run(&fw_format_cpio, path, &st, data, size);
	unlink(path);
	return 0;
}
