// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for one file's bytes as signing sees them: the
 * signature trailer (fw_modsig_find, src/modsig.c), the ELF classifier
 * (fw_elf_classify, src/elf.c) on the whole file and on the sparse view
 * big files get (fw_elf_fill, src/elfview.c), and the engine's per-file
 * step (src/blob.c: a compressed module unwrapped, the trailer parsed as
 * PKCS#7 by fw_blob_verify, a signable file signed by fw_blob_sign).
 * What must hold, or the target aborts:
 *  - a trailer found lies inside the file and ends it;
 *  - the sparse view, when it is taken, reads only inside the file and
 *    gives the same trailer and the same classification as the file;
 *  - a file signed (over the bytes, and over segments with the zero runs
 *    left as holes, as the sparse view hands them) verifies as good with
 *    the signer's certificate, classifies as before, and its trailer
 *    starts where the content ended.
 * The key (P-256) is made once per process in /dev/shm.
 * Build and seeds: README.md.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../src/signer_int.h"
#include "fuzz_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Signing is the slow part: only files up to this size are signed. */
#define SIGN_MAX ((size_t)64 << 10)
/* A zero run at least this long is a hole in the segments signed. */
#define HOLE_MIN 64
#define MAX_SEG 64

static struct fw_signer *signer;
static struct fw_verifier *verifier;

static void fuzz_init(void)
{
	static int done;
	struct fuzz_key k;
	struct fw_key_opts so = { .key = k.key, .cert = k.crt };
	struct fw_error err;

	if (done)
		return;
	done = 1;
	fuzz_key_make("elf", &k);
	fw_error_clear(&err);
	if (fw_signer_open(&so, &signer, &err) ||
	    fw_verifier_open(k.der, &verifier, &err)) {
		fprintf(stderr, "fuzz: no key: %s\n", err.msg);
		abort();
	}
	fuzz_key_drop(&k);
}

struct mem {
	const uint8_t *p;
	size_t len;
};

/* The sparse view reads the file through this: never past its end. */
static int mem_read(void *ctx, uint64_t off, uint8_t *buf, size_t n)
{
	const struct mem *m = ctx;

	if (off > m->len || n > m->len - off) {
		fprintf(stderr, "fuzz: view reads %zu bytes at %llu of %zu\n",
			n, (unsigned long long)off, m->len);
		abort();
	}
	memcpy(buf, m->p + off, n);
	return 0;
}

/* The trailer of buf, checked: the content length (len when none). */
static size_t trailer(const uint8_t *buf, size_t len, int *rc)
{
	struct fw_modsig ms;
	char why[160] = "";

	*rc = fw_modsig_find(buf, len, &ms, why, sizeof(why));
	if (*rc < 0 && !why[0])
		abort();
	if (*rc != 1)
		return len;
	if (ms.sig_len == 0 || ms.sig_off != ms.content_len ||
	    ms.content_len > len || ms.sig_len > len - ms.content_len ||
	    ms.content_len + ms.sig_len + FW_MODSIG_INFO_LEN +
	    FW_MODSIG_MAGIC_LEN != len ||
	    memcmp(ms.info, buf + ms.content_len + ms.sig_len,
		   FW_MODSIG_INFO_LEN)) {
		fprintf(stderr, "fuzz: trailer %zu+%zu in %zu bytes\n",
			ms.content_len, ms.sig_len, len);
		abort();
	}
	return ms.content_len;
}

static void classify_checked(const uint8_t *buf, size_t len,
			     struct fw_elf_info *ei)
{
	fw_elf_classify(buf, len, ei);
	if ((unsigned)ei->kind > FW_KIND_MALFORMED ||
	    !memchr(ei->why, 0, sizeof(ei->why)) ||
	    (ei->kind == FW_KIND_NOT_ELF &&
	     (ei->elfclass || (len >= 4 && !memcmp(buf, "\x7f" "ELF", 4)))))
		abort();
}

static int same_info(const struct fw_elf_info *a, const struct fw_elf_info *b)
{
	return a->kind == b->kind && a->elfclass == b->elfclass &&
	       a->big_endian == b->big_endian && a->machine == b->machine &&
	       !strcmp(a->why, b->why);
}

/* The sparse view of the file, when fw_elf_fill takes it: the same
 * trailer and classification as the whole file. */
static void check_view(const uint8_t *data, size_t size, size_t clen,
		       int src, const struct fw_elf_info *full)
{
	struct mem m = { data, size };
	struct fw_elf_info sparse;
	uint8_t *view;
	size_t vclen;
	int vrc, rc;

	if (size < 64)
		return;
	view = mmap(NULL, size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (view == MAP_FAILED)
		return;
	rc = fw_elf_fill(view, size, mem_read, &m);
	if (rc != 0 && rc != 1)
		abort();
	if (rc == 0) {
		vclen = trailer(view, size, &vrc);
		if (vrc != src || vclen != clen) {
			fprintf(stderr, "fuzz: trailer %d (%zu) whole, %d "
				"(%zu) sparse\n", src, clen, vrc, vclen);
			abort();
		}
		classify_checked(view, vclen, &sparse);
		if (!same_info(full, &sparse)) {
			fprintf(stderr, "fuzz: %s (%s) whole, %s (%s) sparse\n",
				fw_kind_name(full->kind), full->why,
				fw_kind_name(sparse.kind), sparse.why);
			abort();
		}
	}
	munmap(view, size);
}

/* The content as signing over a sparse view hands it: zero runs of
 * HOLE_MIN bytes or more as holes (p NULL). */
static size_t holes(const uint8_t *p, size_t len, struct fw_seg *seg)
{
	size_t n = 0, at = 0;

	while (at < len) {
		size_t s = at, e = at;

		/* the next long enough zero run [s, e) */
		while (s < len && n + 2 < MAX_SEG) {
			if (p[s]) {
				s++;
				continue;
			}
			for (e = s; e < len && !p[e]; e++)
				;
			if (e - s >= HOLE_MIN)
				break;
			s = e;
		}
		if (s >= len || n + 2 >= MAX_SEG) {
			seg[n++] = (struct fw_seg){ .p = p + at, .len = len - at };
			break;
		}
		if (s > at)
			seg[n++] = (struct fw_seg){ .p = p + at, .len = s - at };
		seg[n++] = (struct fw_seg){ .len = e - s };	/* a hole */
		at = e;
	}
	return n;
}

static void rec_free(struct fw_record *r)
{
	free(r->msg);
	r->msg = NULL;
}

/* Signs the file (over seg when given) and checks the result. */
static void sign_checked(const uint8_t *data, size_t size,
			 const struct fw_seg *seg, size_t n_seg,
			 const struct fw_record *before)
{
	struct fw_record rec = { 0 }, vrec = { 0 };
	struct fw_signed out;
	struct fw_error err;
	uint8_t *o;
	size_t olen;
	int rc;

	fw_error_clear(&err);
	rc = fw_blob_sign(signer, 1, data, size, seg, n_seg, &out, &rec, &err);
	if (rc) {
		fprintf(stderr, "fuzz: not signed: %s\n", err.msg);
		abort();
	}
	if (!out.tail)
		goto done;
	if (out.keep > size)
		abort();
	olen = out.keep + out.tail_len;
	o = malloc(olen);
	if (!o)
		goto done;
	memcpy(o, data, out.keep);
	memcpy(o + out.keep, out.tail, out.tail_len);
	fw_blob_verify(verifier, 1, o, olen, &vrec);
	if (vrec.sig != FW_SIG_GOOD || vrec.elf.kind != before->elf.kind) {
		fprintf(stderr, "fuzz: signed (%s, %zu segments): %s, %s: %s\n",
			before->codec ? before->codec : "plain", n_seg,
			fw_sigstate_name(vrec.sig), fw_kind_name(vrec.elf.kind),
			vrec.msg ? vrec.msg : "");
		abort();
	}
	if (!rec.codec) {
		int trc;

		if (trailer(o, olen, &trc) != out.keep || trc != 1)
			abort();
	}
	rec_free(&vrec);
	free(o);
done:
	free(out.tail);
	rec_free(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fw_elf_info full;
	struct fw_record rec = { 0 };
	struct fw_seg seg[MAX_SEG];
	size_t clen, n_seg;
	int src;

	fuzz_init();
	clen = trailer(data, size, &src);
	classify_checked(data, clen, &full);
	check_view(data, size, clen, src, &full);

	/* The engine's step: the same classification for a plain file */
	fw_blob_verify(verifier, 1, data, size, &rec);
	if (!rec.codec && !same_info(&full, &rec.elf))
		abort();
	if (fw_kind_signable(rec.elf.kind, 1) && size <= SIGN_MAX) {
		sign_checked(data, size, NULL, 0, &rec);
		if (!rec.codec && clen) {
			n_seg = holes(data, clen, seg);
			sign_checked(data, size, seg, n_seg, &rec);
		}
	}
	rec_free(&rec);
	return 0;
}
