// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Spill maps (src/spillmap.h) on real temporary files: growth one byte at
 * a time and in big steps, within the reservation (the base stays) and
 * past it (the map moves), the bytes a map grows by are zero, data
 * survives trims (also while other threads write), a trim gives the
 * pages back (resident set from /proc/self/statm), and the anonymous
 * fallback when no file can be made.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/spillmap.h"
#include "t.h"

#define MIB ((size_t)1 << 20)

/* The process's resident bytes. */
static size_t resident(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static uint8_t pat(size_t i, unsigned seed)
{
	return (uint8_t)((i * 2654435761u) >> 13 ^ seed);
}

/* Bytes [from, to) of p differing from the pattern. */
static size_t bad_bytes(const uint8_t *p, size_t from, size_t to,
			unsigned seed)
{
	size_t bad = 0;

	for (size_t i = from; i < to; i++)
		bad += p[i] != pat(i, seed);
	return bad;
}

/* One byte at a time, as an array of entries grows: data kept, the
 * new bytes zero, the base fixed within the room. */
static void grow_small_steps(void)
{
	struct fw_spillmap *m = fw_spillmap_new(8 * MIB);
	uint8_t *p = NULL, *filed = NULL;
	size_t n = 3 * MIB + 17, zero_bad = 0, moved = 0;

	CHECK(m, "no map");
	if (!m)
		return;
	CHECK(fw_spillmap_base(m) == NULL && fw_spillmap_len(m) == 0,
	      "a new map is not empty");
	for (size_t i = 0; i < n; i++) {
		p = fw_spillmap_grow(m, i + 1);
		if (!p)
			break;
		/* small, it is anonymous; past FW_SPILL_AFTER in its file */
		if (fw_spillmap_spilled(m) != (i >= FW_SPILL_AFTER)) {
			CHECK(0, "spilled %d at %zu bytes",
			      fw_spillmap_spilled(m), i + 1);
			break;
		}
		if (!filed && fw_spillmap_spilled(m))
			filed = p;
		moved += filed && p != filed;
		zero_bad += p[i] != 0;
		p[i] = pat(i, 1);
	}
	CHECK(p && fw_spillmap_len(m) == n, "grew to %zu of %zu",
	      fw_spillmap_len(m), n);
	CHECK(!zero_bad, "%zu grown bytes not zero", zero_bad);
	CHECK(fw_spillmap_room(m) >= 8 * MIB || sizeof(void *) == 4,
	      "room %zu on 64-bit", fw_spillmap_room(m));
	CHECK(!moved || n > fw_spillmap_room(m), "moved within the room");
	CHECK(p && !bad_bytes(p, 0, n, 1), "data lost while growing");
	fw_spillmap_trim(m);
	CHECK(p && !bad_bytes(p, 0, n, 1), "data lost by a trim");
	CHECK(fw_spillmap_grow(m, 10) == p && fw_spillmap_len(m) == n,
	      "a smaller grow changed the map");
	fw_spillmap_free(m);
}

/* A small reservation outgrown many times: the map moves, data kept. */
static void grow_past_room(void)
{
	struct fw_spillmap *m = fw_spillmap_new(64 << 10);
	uint8_t *p;
	size_t len = 0, bad = 0;

	CHECK(m, "no map");
	if (!m)
		return;
	for (size_t want = 1000; want <= 40 * MIB; want = want * 3 + 5) {
		p = fw_spillmap_grow(m, want);
		CHECK(p != NULL, "grow to %zu failed", want);
		if (!p)
			break;
		bad += bad_bytes(p, 0, len, 2);
		for (size_t i = len; i < want; i++) {
			bad += p[i] != 0;
			p[i] = pat(i, 2);
		}
		len = want;
		fw_spillmap_trim_all();
		bad += bad_bytes(p, 0, len, 2);
	}
	CHECK(!bad, "%zu bytes wrong across moves and trims", bad);
	CHECK(fw_spillmap_len(m) == len, "len %zu, not %zu",
	      fw_spillmap_len(m), len);
	fw_spillmap_free(m);
}

/* A trim gives the pages back; reading them brings the data back. */
static void trim_gives_back(void)
{
	struct fw_spillmap *m = fw_spillmap_new(0);
	size_t n = 32 * MIB, before, full, after;
	uint8_t *p;

	if (!m)
		return;
	before = resident();
	p = fw_spillmap_grow(m, n);
	CHECK(p != NULL, "no 32 MiB");
	if (!p) {
		fw_spillmap_free(m);
		return;
	}
	for (size_t i = 0; i < n; i++)
		p[i] = pat(i, 3);
	full = resident();
	fw_spillmap_trim(m);
	after = resident();
	CHECK(full >= before + n - MIB, "writing 32 MiB: %zu -> %zu",
	      before, full);
	CHECK(after + n - MIB <= full, "trim left %zu of %zu resident",
	      after, full);
	CHECK(!bad_bytes(p, 0, n, 3), "data lost by a trim");
	fw_spillmap_free(m);
}

struct writer {
	uint8_t *p;
	size_t n;
	unsigned seed;
};

static void *write_all(void *arg)
{
	struct writer *w = arg;

	for (int round = 0; round < 4; round++)
		for (size_t i = 0; i < w->n; i++)
			w->p[i] = pat(i, w->seed + (unsigned)round);
	return NULL;
}

/* Trims from this thread while another writes: nothing is lost. */
static void trim_while_writing(void)
{
	struct fw_spillmap *m = fw_spillmap_new(0);
	struct writer w = { .n = 8 * MIB, .seed = 40 };
	pthread_t t;
	int trims = 0;

	if (!m)
		return;
	w.p = fw_spillmap_grow(m, w.n);
	CHECK(w.p != NULL, "no map");
	if (!w.p || pthread_create(&t, NULL, write_all, &w)) {
		fw_spillmap_free(m);
		return;
	}
	for (; trims < 2000; trims++)
		fw_spillmap_trim_all();
	pthread_join(t, NULL);
	fw_spillmap_trim(m);
	CHECK(!bad_bytes(w.p, 0, w.n, w.seed + 3),
	      "a write lost during %d trims", trims);
	fw_spillmap_free(m);
}

/* No directory for the file: anonymous memory, everything else alike. */
static void fallback(void)
{
	const char *old = getenv("TMPDIR");
	char *keep = old ? strdup(old) : NULL;
	struct fw_spillmap *m, *small;
	uint8_t *p = NULL;
	size_t n = 5 * MIB + 3, bad = 0;

	setenv("TMPDIR", "/nonexistent/fwsign-spill-test", 1);
	m = fw_spillmap_new(MIB);
	small = fw_spillmap_new(1);
	if (keep)
		setenv("TMPDIR", keep, 1);
	else
		unsetenv("TMPDIR");
	free(keep);
	CHECK(m && small, "no anonymous maps");
	if (!m || !small) {
		fw_spillmap_free(m);
		fw_spillmap_free(small);
		return;
	}
	CHECK(!fw_spillmap_spilled(m), "a map without a directory spills");
	for (size_t len = 1; len <= n; len = len < n && len * 2 > n ? n
								   : len * 2) {
		size_t was = fw_spillmap_len(m);

		p = fw_spillmap_grow(m, len);
		if (!p)
			break;
		bad += bad_bytes(p, 0, was, 5);
		for (size_t i = was; i < len; i++) {
			bad += p[i] != 0;
			p[i] = pat(i, 5);
		}
		fw_spillmap_trim(m);	/* does nothing: the only copy */
		if (len == n)
			break;
	}
	CHECK(p && fw_spillmap_len(m) == n, "anonymous map grew to %zu",
	      fw_spillmap_len(m));
	CHECK(!bad && p && !bad_bytes(p, 0, n, 5),
	      "anonymous map lost data (%zu)", bad);
	p = fw_spillmap_grow(small, 3 * MIB);
	CHECK(p && p[3 * MIB - 1] == 0, "a small anonymous reserve outgrown");
	fw_spillmap_free(m);
	fw_spillmap_free(small);
}

int main(void)
{
	fw_spillmap_free(NULL);
	fw_spillmap_trim(NULL);
	grow_small_steps();
	grow_past_room();
	trim_gives_back();
	trim_while_writing();
	fallback();
	return t_done();
}
