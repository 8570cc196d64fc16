// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The hash map (src/hmap.h), against a plain array as the reference: u64
 * keys that differ only in their high bits, string keys, overwrites,
 * growth through many sizes, keys never put, free and reuse.
 */
#include <string.h>

#include "../../src/hmap.h"
#include "t.h"

#define N 20000

int main(void)
{
	static size_t ref[N];
	struct fw_hmap h = { 0 }, s = { 0 };
	char k[32];
	size_t bad = 0;

	CHECK(fw_hmap_get(&h, 1) == FW_HMAP_NONE, "empty map has a key");
	CHECK(fw_hmap_sget(&s, "a") == FW_HMAP_NONE, "empty map has a string");
	/* keys 2^40 apart: the same low bits */
	for (size_t i = 0; i < N; i++) {
		ref[i] = i * 7;
		if (fw_hmap_put(&h, (uint64_t)i << 40, ref[i]))
			bad++;
	}
	CHECK(!bad, "put failed %zu times", bad);
	CHECK(h.n == N, "%zu keys, not %d", h.n, N);
	for (size_t i = 0; i < N; i += 2)
		fw_hmap_put(&h, (uint64_t)i << 40, ref[i] = i + 1);
	CHECK(h.n == N, "an overwrite added a key (%zu)", h.n);
	bad = 0;
	for (size_t i = 0; i < N; i++)
		bad += fw_hmap_get(&h, (uint64_t)i << 40) != ref[i];
	bad += fw_hmap_get(&h, (uint64_t)N << 40) != FW_HMAP_NONE;
	bad += fw_hmap_get(&h, 1) != FW_HMAP_NONE;
	CHECK(!bad, "%zu u64 lookups wrong", bad);

	bad = 0;
	for (size_t i = 0; i < N; i++) {
		snprintf(k, sizeof(k), "dir/%zu", i);
		bad += fw_hmap_sput(&s, k, i) != 0;
	}
	fw_hmap_sput(&s, "dir/5", 99);
	CHECK(!bad && s.n == N, "string puts: %zu failed, %zu keys", bad, s.n);
	for (size_t i = 0; i < N; i++) {
		snprintf(k, sizeof(k), "dir/%zu", i);
		bad += fw_hmap_sget(&s, k) != (i == 5 ? 99 : i);
	}
	bad += fw_hmap_sget(&s, "dir/") != FW_HMAP_NONE;
	bad += fw_hmap_sget(&s, "") != FW_HMAP_NONE;
	CHECK(!bad, "%zu string lookups wrong", bad);

	fw_hmap_free(&h);
	fw_hmap_free(&s);
	CHECK(!h.cap && !h.n && fw_hmap_get(&h, 0) == FW_HMAP_NONE,
	      "freed map not empty");
	CHECK(fw_hmap_put(&h, 3, 4) == 0 && fw_hmap_get(&h, 3) == 4,
	      "freed map not reusable");
	fw_hmap_free(&h);
	return t_done();
}
