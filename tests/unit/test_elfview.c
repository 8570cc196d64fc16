// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fw_elf_fill: every ELF file of the fixtures (five architectures, both
 * byte orders, executables, libraries, modules, signed and not) and
 * damaged copies of some classify the same from the sparse view as from
 * the whole file, and the view holds the file's end (the signature
 * trailer).  Usage: test_elfview DIR (the fixtures).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/signer_int.h"
#include "t.h"

static int n_elf, n_filled, n_whole;

struct mem {
	const uint8_t *p;
	size_t len;
	int reads;
};

static int mem_read(void *ctx, uint64_t off, uint8_t *buf, size_t n)
{
	struct mem *m = ctx;

	if (off > m->len || n > m->len - off)
		return -1;
	memcpy(buf, m->p + off, n);
	m->reads++;
	return 0;
}

static void same(const char *what, const uint8_t *buf, size_t len)
{
	struct fw_elf_info full, sparse;
	struct fw_modsig ms1, ms2;
	struct mem m = { buf, len, 0 };
	char why[160];
	uint8_t *view;
	int rc, s1, s2;
	size_t clen1 = len, clen2 = len;

	view = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(view != MAP_FAILED, "mmap");
	if (view == MAP_FAILED)
		return;
	rc = fw_elf_fill(view, len, mem_read, &m);
	CHECK(rc == 0 || rc == 1, "%s: fill %d", what, rc);
	if (rc == 0) {
		n_filled++;
		s1 = fw_modsig_find(buf, len, &ms1, why, sizeof(why));
		s2 = fw_modsig_find(view, len, &ms2, why, sizeof(why));
		CHECK(s1 == s2, "%s: trailer found %d vs %d", what, s1, s2);
		if (s1 == 1 && s2 == 1) {
			clen1 = ms1.content_len;
			clen2 = ms2.content_len;
		}
		CHECK(clen1 == clen2, "%s: content length", what);
		fw_elf_classify(buf, clen1, &full);
		fw_elf_classify(view, clen2, &sparse);
		CHECK(full.kind == sparse.kind && full.machine == sparse.machine &&
		      full.elfclass == sparse.elfclass &&
		      full.big_endian == sparse.big_endian &&
		      !strcmp(full.why, sparse.why),
		      "%s: %s (%s) vs sparse %s (%s)", what,
		      fw_kind_name(full.kind), full.why,
		      fw_kind_name(sparse.kind), sparse.why);
	} else {
		n_whole++;
	}
	munmap(view, len);
}

static int visit(const char *path, const struct stat *st, int type,
		 struct FTW *ftw)
{
	uint8_t *buf, *bad;
	int fd;

	(void)ftw;
	if (type != FTW_F || !S_ISREG(st->st_mode) || st->st_size < 64)
		return 0;
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	buf = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (buf == MAP_FAILED)
		return 0;
	if (!memcmp(buf, "\x7f" "ELF", 4)) {
		size_t len = (size_t)st->st_size;

		n_elf++;
		same(path, buf, len);
		/* damaged: cut short, and the section table moved past the end */
		if (n_elf % 16 == 0 && (bad = malloc(len)) != NULL) {
			same(path, buf, len / 2);
			memcpy(bad, buf, len);
			bad[buf[4] == 2 ? 40 : 32] ^= 0x40;	/* e_shoff */
			same(path, bad, len);
			memcpy(bad, buf, len);
			bad[buf[4] == 2 ? 60 : 48] ^= 0x01;	/* e_shnum */
			same(path, bad, len);
			free(bad);
		}
	}
	munmap(buf, (size_t)st->st_size);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : getenv("FIXTURES");

	CHECK(dir != NULL, "usage: test_elfview FIXTURES_DIR");
	if (!dir)
		return t_done();
	CHECK(nftw(dir, visit, 16, FTW_PHYS) == 0, "walk %s", dir);
	/* the fixtures hold hundreds of ELF files of five architectures */
	CHECK(n_elf > 200, "%d ELF files", n_elf);
	CHECK(n_filled > n_elf / 2, "%d of %d filled", n_filled, n_elf);
	printf("%d ELF files: %d from a sparse view, %d read whole\n", n_elf,
	       n_filled, n_whole);
	return t_done();
}
