// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A sparse view of a big ELF file: memory the size of the file in which
 * only what fw_elf_classify and fw_modsig_find read is filled - the ELF
 * header, the program and section header tables, the dynamic segments,
 * the section name table and the end of the file.  The rest stays zero
 * pages nobody touches, and the content is hashed where it lies (struct
 * fw_seg), so a 10 MiB library inside an image is not copied to be signed.
 *
 * Only the offsets and sizes of those tables are read here, for both
 * classes and byte orders; libelf still does all the checking, on the
 * view.  tests/unit/test_elf.c classifies every fixture both ways.
 */
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "signer_int.h"

#define HEAD_LEN 4096		/* ELF header, usually the program headers */
#define TAIL_LEN 4096		/* the signature trailer's end */
#define TABLE_MAX ((uint64_t)16 << 20)

struct view {
	uint8_t *p;
	uint64_t len;
	fw_read_at rd;
	void *ctx;
	int be;
	int is64;
};

static uint64_t num(const struct view *v, uint64_t off, int n)
{
	const uint8_t *b = v->p + off;
	uint64_t x = 0;

	for (int i = 0; i < n; i++)
		x |= (uint64_t)b[v->be ? i : n - 1 - i] << (8 * (n - 1 - i));
	return x;
}

/* Fills [off, off + n) from the file, clipped to its end. */
static int fill(struct view *v, uint64_t off, uint64_t n)
{
	if (off >= v->len || !n)
		return 0;
	if (n > v->len - off)
		n = v->len - off;
	return v->rd(v->ctx, off, v->p + off, (size_t)n);
}

/* The n-byte number at file offset off, when it lies inside the file. */
static int field(const struct view *v, uint64_t off, int n, uint64_t *x)
{
	if (off > v->len || (uint64_t)n > v->len - off)
		return -1;
	*x = num(v, off, n);
	return 0;
}

int fw_feed_reads(uint64_t n, size_t chunk, fw_read_at rd, void *ctx,
		  fw_put_fn put, void *put_ctx)
{
	size_t cap = n < chunk ? (size_t)n : chunk;
	uint8_t *buf = malloc(cap ? cap : 1);
	int rc = 0;

	if (!buf)
		return -2;
	for (uint64_t at = 0; at < n && !rc; at += cap) {
		if (n - at < cap)
			cap = (size_t)(n - at);
		rc = rd(ctx, at, buf, cap) < 0 || put(put_ctx, buf, cap) ? -1 : 0;
	}
	free(buf);
	return rc;
}

int fw_elf_fill(uint8_t *p, uint64_t len, fw_read_at rd, void *ctx)
{
	struct view v = { p, len, rd, ctx, 0, 0 };
	uint64_t phoff, shoff, phent, shent, phnum, shnum, strndx;
	int w, h;

	if (len < 64)
		return 1;
	if (fill(&v, 0, HEAD_LEN) < 0)
		return -1;
	if (memcmp(p, "\x7f" "ELF", 4) != 0 || (p[4] != 1 && p[4] != 2) ||
	    (p[5] != 1 && p[5] != 2))
		return 1;
	v.is64 = p[4] == 2;
	v.be = p[5] == 2;
	/* e_phoff and e_shoff are words; e_phentsize to e_shstrndx follow
	 * e_ehsize, 2 bytes each */
	w = v.is64 ? 8 : 4;
	h = v.is64 ? 54 : 42;
	phoff = num(&v, v.is64 ? 32 : 28, w);
	shoff = num(&v, v.is64 ? 40 : 32, w);
	phent = num(&v, h, 2);
	phnum = num(&v, h + 2, 2);
	shent = num(&v, h + 4, 2);
	shnum = num(&v, h + 6, 2);
	strndx = num(&v, h + 8, 2);
	/* Section 0 holds the counts that do not fit in the header. */
	if (shoff && shent && fill(&v, shoff, shent) < 0)
		return -1;
	if (shoff && shent && (shnum == 0 || phnum == 0xffff || strndx == 0xffff)) {
		uint64_t size, link, info;

		if (field(&v, shoff + (v.is64 ? 32 : 20), v.is64 ? 8 : 4, &size) ||
		    field(&v, shoff + (v.is64 ? 40 : 24), 4, &link) ||
		    field(&v, shoff + (v.is64 ? 44 : 28), 4, &info))
			return 1;	/* malformed: let libelf see all */
		if (shnum == 0)
			shnum = size;
		if (phnum == 0xffff)
			phnum = info;
		if (strndx == 0xffff)
			strndx = link;
	}
	if ((phent && phnum > TABLE_MAX / phent) ||
	    (shent && shnum > TABLE_MAX / shent))
		return 1;
	if ((phoff && fill(&v, phoff, phnum * phent) < 0) ||
	    (shoff && fill(&v, shoff, shnum * shent) < 0) ||
	    fill(&v, len > TAIL_LEN ? len - TAIL_LEN : 0, TAIL_LEN) < 0)
		return -1;
	/* The dynamic segments (executable or library?) */
	for (uint64_t i = 0; phoff && phent && i < phnum; i++) {
		uint64_t e = phoff + i * phent, type, off, size;

		if (field(&v, e, 4, &type))
			break;
		if (type != 2)	/* PT_DYNAMIC */
			continue;
		if (field(&v, e + (v.is64 ? 8 : 4), v.is64 ? 8 : 4, &off) ||
		    field(&v, e + (v.is64 ? 32 : 16), v.is64 ? 8 : 4, &size))
			break;
		if (size > TABLE_MAX)
			return 1;
		if (fill(&v, off, size) < 0)
			return -1;
	}
	/* The section names (a module?) */
	if (shoff && shent && strndx < shnum) {
		uint64_t e = shoff + strndx * shent, type, off, size;

		if (!field(&v, e + 4, 4, &type) && type != 8 &&	/* SHT_NOBITS */
		    !field(&v, e + (v.is64 ? 24 : 16), v.is64 ? 8 : 4, &off) &&
		    !field(&v, e + (v.is64 ? 32 : 20), v.is64 ? 8 : 4, &size)) {
			if (size > TABLE_MAX)
				return 1;
			if (fill(&v, off, size) < 0)
				return -1;
		}
	}
	return 0;
}
