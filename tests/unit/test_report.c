// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The report's records out of memory (src/recstore.c), against a plain
 * array as the reference: records written in a shuffled order (as
 * workers finish), some written twice, strings longer than the string
 * buffer, every codec, read back in order through fw_report_rec's window,
 * backwards (a window per record), and one at a time with
 * fw_recstore_get; then a report appended record by record, as a stack
 * merges nested ones.
 */
#include <string.h>

#include "../../src/recstore.h"
#include "t.h"

#define N 3000

static const char *codecs[] = { NULL, "xz", "zstd", "gzip", "lzma", "lz4" };

static char *xstr(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void make(struct fw_record *r, size_t i, int pass)
{
	char buf[64];

	memset(r, 0, sizeof(*r));
	snprintf(buf, sizeof(buf), "usr/lib/file-%zu.so", i);
	r->path = strdup(buf);
	r->elf.kind = (enum fw_kind)(i % (FW_KIND_MALFORMED + 1));
	r->elf.elfclass = i % 2 ? 64 : 32;
	r->elf.big_endian = i % 3 == 0;
	r->elf.machine = (unsigned)(i * 7 + (size_t)pass);
	snprintf(r->elf.why, sizeof(r->elf.why), "why %zu", i);
	r->codec = codecs[i % 6];
	r->action = (enum fw_action)(i % 4);
	r->result = (enum fw_result)(i % 3);
	r->sig = (enum fw_sigstate)(i % 5);
	r->bytes_added = (int64_t)i * 3 - 100 + pass;
	r->size = (int64_t)i * 1000;
	r->ima = (enum fw_imastate)(i % 8);
	r->ima_keyid = (uint32_t)(i * 2654435761u);
	if (i % 5 == 1) {
		snprintf(buf, sizeof(buf), "message %zu pass %d", i, pass);
		r->msg = strdup(buf);
	}
	if (i % 97 == 0) {	/* bigger than the 64 KiB string buffer */
		size_t len = 70000 + i;

		free(r->msg);
		r->msg = malloc(len + 1);
		memset(r->msg, 'a' + (int)(i % 26), len);
		r->msg[len] = '\0';
	}
	if (i % 11 == 2)
		r->link_of = xstr("usr/bin/first");
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int same(const struct fw_record *a, const struct fw_record *b)
{
	return same_str(a->path, b->path) && same_str(a->msg, b->msg) &&
	       same_str(a->link_of, b->link_of) &&
	       same_str(a->codec, b->codec) &&
	       a->elf.kind == b->elf.kind &&
	       a->elf.elfclass == b->elf.elfclass &&
	       a->elf.big_endian == b->elf.big_endian &&
	       a->elf.machine == b->elf.machine &&
	       !strcmp(a->elf.why, b->elf.why) && a->action == b->action &&
	       a->result == b->result && a->sig == b->sig &&
	       a->bytes_added == b->bytes_added && a->size == b->size &&
	       a->ima == b->ima && a->ima_keyid == b->ima_keyid;
}

int main(void)
{
	static struct fw_record ref[N];
	static size_t order[N];
	struct fw_report rep = { 0 }, cat = { 0 };
	struct fw_error err;
	size_t bad = 0, bad_put = 0;
	uint64_t x = 88172645463325252ull;

	fw_error_clear(&err);
	CHECK(fw_recstore_ensure(&rep, &err) == FW_OK, "%s", err.msg);
	rep.n = N;
	for (size_t i = 0; i < N; i++)
		order[i] = i;
	/* nearly in order, as two workers finish, then far apart */
	for (size_t i = 0; i + 1 < N; i += 2)
		if (i % 6 == 0) {
			size_t t = order[i];

			order[i] = order[i + 1];
			order[i + 1] = t;
		}
	for (size_t i = N / 2; i < N; i++) {
		size_t j;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		j = N / 2 + (size_t)(x % (N - N / 2));
		size_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	/* a first version of some records, then the final one */
	for (size_t k = 0; k < N; k++) {
		size_t i = order[k];
		struct fw_record r;

		if (i % 4 == 0) {
			make(&r, i, 1);
			bad_put += fw_recstore_put(&rep, i, &r, &err) != FW_OK;
			fw_record_clear(&r);
		}
		make(&ref[i], i, 0);
		bad_put += fw_recstore_put(&rep, i, &ref[i], &err) != FW_OK;
	}
	CHECK(!bad_put, "%zu puts failed: %s", bad_put, err.msg);
	for (size_t i = 0; i < N; i++) {
		const struct fw_record *r = fw_report_rec(&rep, i);

		bad += !r || !same(r, &ref[i]);
	}
	CHECK(!bad, "%zu records read in order differ", bad);
	bad = 0;
	for (size_t i = N; i-- > 0;) {
		const struct fw_record *r = fw_report_rec(&rep, i);

		bad += !r || !same(r, &ref[i]);
	}
	CHECK(!bad, "%zu records read backwards differ", bad);
	CHECK(fw_report_rec(&rep, N) == NULL, "a record past the end");
	/* a rewrite after reading: the window must not keep the old one */
	CHECK(fw_report_rec(&rep, 5) != NULL, "record 5");
	fw_record_clear(&ref[5]);
	make(&ref[5], 5, 7);
	CHECK(fw_recstore_put(&rep, 5, &ref[5], &err) == FW_OK, "%s", err.msg);
	CHECK(same(fw_report_rec(&rep, 5), &ref[5]), "rewritten record 5");
	bad = 0;
	for (size_t i = 0; i < N; i += 37) {
		struct fw_record r;

		if (fw_recstore_get(&rep, i, &r, &err) || !same(&r, &ref[i]))
			bad++;
		fw_record_clear(&r);
	}
	CHECK(!bad, "%zu records got one at a time differ", bad);
	/* appended, as formats/stack.c merges a nested report */
	bad_put = 0;
	for (size_t i = 0; i < N; i++) {
		bad_put += fw_recstore_put(&cat, cat.n, &ref[i], &err) != FW_OK;
		cat.n++;
	}
	CHECK(!bad_put, "%zu appends failed", bad_put);
	bad = 0;
	for (size_t i = 0; i < N; i++)
		bad += !same(fw_report_rec(&cat, i), &ref[i]);
	CHECK(!bad, "%zu appended records differ", bad);
	for (size_t i = 0; i < N; i++)
		fw_record_clear(&ref[i]);
	fw_report_free(&rep);
	fw_report_free(&cat);
	CHECK(rep.store == NULL && rep.n == 0, "report not cleared");
	return t_done();
}
