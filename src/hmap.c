// SPDX-License-Identifier: LGPL-2.1-or-later
/* The hash map (hmap.h). */
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

/* FNV-1a */
static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* murmur3's finalizer: every key bit moves the low bits, so that keys
 * that differ only high up (inode references, 2^40 apart) spread too. */
static size_t first_slot(const struct fw_hmap *h, uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return (size_t)k & (h->cap - 1);
}

/* The slot of the key (hash, and s in a string map), or the free slot
 * where it would go; the map has at least one free slot. */
static size_t find(const struct fw_hmap *h, uint64_t hash, const char *s)
{
	size_t i = first_slot(h, hash);

	while (h->val[i] != FW_HMAP_NONE &&
	       (h->hash[i] != hash || (s && strcmp(h->str[i], s))))
		i = (i + 1) & (h->cap - 1);
	return i;
}

/* Twice the slots (256 at first); keys move, strings are not copied. */
static int grow(struct fw_hmap *h, int strings)
{
	struct fw_hmap g = { .cap = h->cap ? h->cap * 2 : 256, .n = h->n };

	if (g.cap < h->cap)
		return -1;
	g.hash = malloc(g.cap * sizeof(*g.hash));
	g.val = malloc(g.cap * sizeof(*g.val));
	g.str = strings ? calloc(g.cap, sizeof(*g.str)) : NULL;
	if (!g.hash || !g.val || (strings && !g.str)) {
		free(g.hash);
		free(g.val);
		free(g.str);
		return -1;
	}
	for (size_t i = 0; i < g.cap; i++)
		g.val[i] = FW_HMAP_NONE;
	for (size_t i = 0; i < h->cap; i++) {
		size_t j;

		if (h->val[i] == FW_HMAP_NONE)
			continue;
		/* keys are unique: the first free slot */
		for (j = first_slot(&g, h->hash[i]); g.val[j] != FW_HMAP_NONE;
		     j = (j + 1) & (g.cap - 1))
			;
		g.hash[j] = h->hash[i];
		g.val[j] = h->val[i];
		if (strings)
			g.str[j] = h->str[i];
	}
	free(h->hash);
	free(h->val);
	free(h->str);
	*h = g;
	return 0;
}

static size_t get(const struct fw_hmap *h, uint64_t hash, const char *s)
{
	return h->cap ? h->val[find(h, hash, s)] : FW_HMAP_NONE;
}

static int put(struct fw_hmap *h, uint64_t hash, const char *s, size_t v)
{
	size_t i;

	if ((h->n + 1) * 2 > h->cap && grow(h, s != NULL))
		return -1;
	i = find(h, hash, s);
	if (h->val[i] == FW_HMAP_NONE) {
		if (s && !(h->str[i] = strdup(s)))
			return -1;
		h->hash[i] = hash;
		h->n++;
	}
	h->val[i] = v;
	return 0;
}

size_t fw_hmap_get(const struct fw_hmap *h, uint64_t k)
{
	return get(h, k, NULL);
}

size_t fw_hmap_sget(const struct fw_hmap *h, const char *k)
{
	return get(h, str_hash(k), k);
}

int fw_hmap_put(struct fw_hmap *h, uint64_t k, size_t v)
{
	return put(h, k, NULL, v);
}

int fw_hmap_sput(struct fw_hmap *h, const char *k, size_t v)
{
	return put(h, str_hash(k), k, v);
}

void fw_hmap_free(struct fw_hmap *h)
{
	if (h->str)
		for (size_t i = 0; i < h->cap; i++)
			if (h->val[i] != FW_HMAP_NONE)
				free(h->str[i]);
	free(h->hash);
	free(h->str);
	free(h->val);
	memset(h, 0, sizeof(*h));
}
