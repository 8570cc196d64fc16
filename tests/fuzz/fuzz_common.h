/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every fuzz target does with one input: the readers open paths, so
 * the bytes go to a file in /dev/shm first; then bid, open, peek and read
 * every regular file (and map it, when the format can), and write the
 * image back with every first name of a non-empty regular file changed,
 * as signing does (through out_put_append on odd entries, when the format
 * has it and the change is an append).  Included by one fuzz_*.c each;
 * built by tests/fuzz/CMakeLists.txt (see README.md).
 */
#ifndef FWSIGN_FUZZ_COMMON_H
#define FWSIGN_FUZZ_COMMON_H

#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../formats/format.h"
#include "../../src/signer_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Files are read up to 4 GiB by design (sparse ones from tiny images):
 * bigger than this, the target leaves them unchanged, or every run of
 * such an input would take seconds and gigabytes. */
#define FUZZ_MAX_READ ((off_t)64 << 20)

/* Flags: new content is 16 bytes appended (a signature), but with
 * FUZZ_SHRINK_ODD half of the old one on odd entries; FUZZ_CHECK reads
 * the output back (see fuzz_check_output). */
#define FUZZ_SHRINK_ODD 1u
#define FUZZ_CHECK 2u

#define FUZZ_HASH0 0xcbf29ce484222325ull

static uint64_t fuzz_hash(uint64_t h, const uint8_t *p, size_t n)
{
	while (n--)	/* FNV-1a */
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

/* Opens path as format f: 0, -1 out of memory (*img NULL), or the
 * format's error code (*img to be closed). */
static int fuzz_open(const struct fw_format *f, const char *path,
		     struct fw_image **img, struct fw_error *err)
{
	*img = calloc(1, sizeof(**img));
	if (!*img || !((*img)->path = strdup(path))) {
		free(*img);
		*img = NULL;
		return -1;
	}
	(*img)->fmt = f;
	fw_error_clear(err);
	return f->open(*img, err);
}

/* The output the format wrote: its reader takes it, with the same entries
 * in the same order and the new bytes where they were given (want_len[i]
 * >= 0).  Anything else is a writer bug: abort, so that libFuzzer says so. */
static void fuzz_check_output(const struct fw_format *f, const char *out,
			      const struct fw_image *in,
			      const int64_t *want_len,
			      const uint64_t *want_hash)
{
	struct fw_image *img;
	struct fw_error err;
	int rc = fuzz_open(f, out, &img, &err);

	if (rc < 0)
		return;
	if (rc) {
		fprintf(stderr, "fuzz: the output does not open: %s\n",
			err.msg);
		abort();
	}
	if (img->n != in->n) {
		fprintf(stderr, "fuzz: %zu entries in, %zu out\n", in->n,
			img->n);
		abort();
	}
	for (size_t i = 0; i < img->n; i++) {
		const struct fw_entry *a = &in->ent[i], *b = &img->ent[i];
		uint8_t *buf = NULL;
		size_t len = 0;

		if (strcmp(a->path, b->path) || a->st.st_mode != b->st.st_mode) {
			fprintf(stderr, "fuzz: entry %zu: %s 0%o in, %s 0%o "
				"out\n", i, a->path, a->st.st_mode, b->path,
				b->st.st_mode);
			abort();
		}
		if (want_len[i] < 0)
			continue;
		if (f->read(img, i, &buf, &len, &err) ||
		    len != (size_t)want_len[i] ||
		    fuzz_hash(FUZZ_HASH0, buf, len) != want_hash[i]) {
			fprintf(stderr, "fuzz: %s: not the bytes written\n",
				a->path);
			abort();
		}
		free(buf);
	}
	fw_image_close(img);
}

/* fw_put_fn: a segment's feed must hand out the bytes read, in order. */
struct fuzz_cmp {
	const uint8_t *want;
	size_t len, at;
};

static int fuzz_put_cmp(void *ctx, const void *p, size_t n)
{
	struct fuzz_cmp *c = ctx;

	if (n > c->len - c->at || memcmp(p, c->want + c->at, n))
		return -1;
	c->at += n;
	return 0;
}

static void fuzz_format(const struct fw_format *f, const char *tag,
			unsigned flags, const char *path,
			const struct stat *st, const uint8_t *data,
			size_t size)
{
	struct fw_image *img;
	struct fw_error err;
	struct fw_out_opts oo = { 0 };
	char out[64];
	void *ctx = NULL;
	int64_t *want_len = NULL;
	uint64_t *want_hash = NULL;
	int rc;

	if (!f->bid(path, st, data, size < 4096 ? size : 4096))
		return;
	rc = fuzz_open(f, path, &img, &err);
	if (rc) {
		if (rc > 0)
			fw_image_close(img);
		return;
	}
	snprintf(out, sizeof(out), "/dev/shm/fuzz-%s-out.%d", tag,
		 (int)getpid());
	unlink(out);
	oo.path = out;
	want_len = malloc((img->n + 1) * sizeof(*want_len));
	want_hash = malloc((img->n + 1) * sizeof(*want_hash));
	rc = want_len && want_hash ? f->out_begin(img, &oo, &ctx, &err) : -1;
	for (size_t i = 0; i < img->n && rc == 0; i++)
		want_len[i] = -1;	/* unknown: the input's own bytes */
	for (size_t i = 0; i < img->n && rc == 0; i++) {
		const struct fw_entry *e = &img->ent[i];
		uint8_t *buf = NULL, head[8];
		size_t len = 0;

		if (S_ISREG(e->st.st_mode) && e->link_of == FW_NO_LINK &&
		    e->st.st_size <= FUZZ_MAX_READ &&
		    (!f->peek || f->peek(img, i, head, sizeof(head), &err) >= 0) &&
		    f->read(img, i, &buf, &len, &err) == 0 && len > 0) {
			uint8_t *nb;

			if (f->map) {
				/* mapped or not, the same bytes as read */
				struct fw_bytes b = { 0 };

				if (f->map(img, i, &b, &err) == 0 &&
				    (b.len != len || memcmp(b.p, buf, len)))
					abort();
				fw_bytes_release(&b);
				/* for signing: segments that add up to the
				 * bytes, a view that starts with them */
				b.sparse_ok = 1;
				if (f->map(img, i, &b, &err) == 0 && b.seg) {
					size_t at = 0;

					for (size_t k = 0; k < b.n_seg; k++) {
						const struct fw_seg *g = &b.seg[k];
						struct fuzz_cmp c = { buf + at, g->len, 0 };

						if (g->len > len - at)
							abort();
						if (g->feed &&
						    (g->feed(g->ctx, g->len, fuzz_put_cmp,
							     &c) || c.at != g->len))
							abort();
						for (size_t j = 0; !g->p && !g->feed &&
								   j < g->len; j++)
							if (buf[at + j])
								abort();
						if (g->p && memcmp(g->p, buf + at, g->len))
							abort();
						at += g->len;
					}
					if (at != len || b.len != len ||
					    memcmp(b.p, buf, len < 64 ? len : 64))
						abort();
				}
				fw_bytes_release(&b);
			}
			if (f->out_put_append && !(flags & FUZZ_SHRINK_ODD) &&
			    (i & 1)) {
				static const uint8_t tail[16] = "SSSSSSSSSSSSSSSS";

				want_hash[i] = fuzz_hash(fuzz_hash(FUZZ_HASH0, buf,
								   len),
							 tail, sizeof(tail));
				want_len[i] = (int64_t)len + 16;
				free(buf);
				rc = f->out_put_append(ctx, i, len, tail,
						       sizeof(tail), &err);
				continue;
			}
			nb = realloc(buf, len + 16);
			if (nb) {
				buf = nb;
				memset(buf + len, 'S', 16);
				len = (flags & FUZZ_SHRINK_ODD) && (i & 1) ?
				      len / 2 : len + 16;
				want_hash[i] = fuzz_hash(FUZZ_HASH0, buf, len);
				want_len[i] = (int64_t)len;
			}
		} else {
			free(buf);
			buf = NULL;
		}
		rc = f->out_put(ctx, i, buf, len, &err);
		free(buf);
	}
	if (rc == 0)
		rc = f->out_commit(ctx, &err);
	if (ctx)
		f->out_abort(ctx);
	if (rc == 0 && (flags & FUZZ_CHECK))
		fuzz_check_output(f, out, img, want_len, want_hash);
	unlink(out);
	free(want_len);
	free(want_hash);
	fw_image_close(img);
}

/* Writes the input to /dev/shm/fuzz-TAG-in.PID and fills st; 0 on success. */
static int fuzz_input(const char *tag, const uint8_t *data, size_t size,
		      char *path, size_t path_len, struct stat *st)
{
	FILE *f;
	int bad;

	snprintf(path, path_len, "/dev/shm/fuzz-%s-in.%d", tag, (int)getpid());
	f = fopen(path, "wb");
	if (!f)
		return -1;
	bad = fwrite(data, 1, size, f) != size;
	if (fclose(f) != 0 || bad || lstat(path, st) < 0) {
		unlink(path);
		return -1;
	}
	return 0;
}

#endif
