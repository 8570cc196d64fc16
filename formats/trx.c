// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Broadcom TRX: a little-endian header (magic "HDR0", len of the whole
 * image with the header, CRC, flags u16, version u16, then the offsets of
 * the parts from the start: 3 in v1, 4 in v2), then the parts, each
 * running to the next nonzero offset or to len.  The CRC is zlib's crc32
 * without its final inversion (reflected 0xEDB88320 from ~0) over bytes
 * [12, len); v2 hashes the 8 bytes at offsets[3] + 22 (the bin-header's
 * stable and try flags, which the bootloader rewrites on the device) as
 * 0xff.  Parts may move, since the bootloader and the kernel's partition
 * parser take them from the offsets: each stays where it was while the
 * part before it still fits, else it moves to the next boundary of the
 * alignment its old offset had.  len is padded as the input's was, and
 * bytes after len (trx -F puts a filesystem there) are kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "layer.h"
#include "format.h"

#define TRX_MAGIC 0x30524448u	/* "HDR0" */
#define MAX_PARTS 4
#define MAX_ALIGN 65536u	/* the biggest erase block we pad for */
#define MASK_AT 22		/* v2: in the bin-header at offsets[3] */
#define MASK_LEN 8

static const uint8_t ff[MASK_LEN] = { 0xff, 0xff, 0xff, 0xff,
				      0xff, 0xff, 0xff, 0xff };

struct trx {
	int version;
	uint32_t hlen;		/* 28 (v1) or 32 (v2) */
	uint32_t len;
	uint16_t flags;
	int n;			/* parts */
	int slot[MAX_PARTS];	/* the offsets[] index of each part */
	uint32_t off[MAX_PARTS];
	int mask;		/* v2: hashes the bin-header flags as 0xff */
};

/* Reads the header of p; 0 if it holds, else why not in why.  Every
 * offset lies in the header's len, and len in the bytes. */
static int parse(const uint8_t *p, size_t len, struct trx *t, char *why,
		 size_t why_len)
{
	uint32_t prev = 0;

	memset(t, 0, sizeof(*t));
	if (len < 28 || fw_le32(p) != TRX_MAGIC) {
		snprintf(why, why_len, "no TRX header");
		return -1;
	}
	t->version = p[14] | p[15] << 8;
	t->flags = (uint16_t)(p[12] | p[13] << 8);
	t->hlen = t->version == 2 ? 32 : 28;
	t->len = fw_le32(p + 4);
	if (t->version != 1 && t->version != 2) {
		snprintf(why, why_len, "unknown version %d", t->version);
		return -1;
	}
	if (len < t->hlen) {
		snprintf(why, why_len, "header past the end (%zu bytes)", len);
		return -1;
	}
	if (t->len < t->hlen) {
		snprintf(why, why_len, "len %u is shorter than the header",
			 t->len);
		return -1;
	}
	if (t->len > len) {
		snprintf(why, why_len, "len %u lies past the end (%zu bytes)",
			 t->len, len);
		return -1;
	}
	for (int i = 0; i < t->version + 2; i++) {
		uint32_t o = fw_le32(p + 16 + 4 * i);

		if (!o)
			continue;	/* unused */
		if (o < t->hlen) {
			snprintf(why, why_len, "offset %d (0x%x) lies in the "
				 "header (%u bytes)", i, o, t->hlen);
			return -1;
		}
		if (o >= t->len) {
			snprintf(why, why_len, "offset %d (0x%x) lies at or "
				 "past len (%u bytes)", i, o, t->len);
			return -1;
		}
		if (o <= prev) {
			snprintf(why, why_len, "offset %d (0x%x) is not after "
				 "the previous one (0x%x): parts out of order "
				 "or overlapping", i, o, prev);
			return -1;
		}
		t->slot[t->n] = i;
		t->off[t->n++] = o;
		prev = o;
	}
	if (!t->n) {
		snprintf(why, why_len, "no parts");
		return -1;
	}
	if (t->version == 2) {
		/* trx writes an unused offsets[3] as 0 and still masks at
		 * 22, inside the header: open checks which it was */
		uint64_t m = (uint64_t)fw_le32(p + 28) + MASK_AT + MASK_LEN;

		if (m > t->len) {
			snprintf(why, why_len, "the v2 bin-header at 0x%x is "
				 "cut by len %u", fw_le32(p + 28), t->len);
			return -1;
		}
		t->mask = 1;
	}
	return 0;
}

static int trx_bid(const uint8_t *p, size_t len, const struct fw_node *parent)
{
	struct trx t;
	char why[128];
	int v;

	(void)parent;
	if (len < 28 || fw_le32(p) != TRX_MAGIC)
		return 0;
	v = p[14] | p[15] << 8;
	if (v != 1 && v != 2)
		return 0;	/* an "HDR0" of another make: data to us */
	/* a TRX header that lies still opens, to say what is wrong */
	return parse(p, len, &t, why, sizeof(why)) ? 60 : 180;
}

/* The CRC of bytes [12, len) of p, 8 bytes at m as 0xff (m >= 22; 0:
 * none): parse saw m + 8 <= len. */
static uint32_t trx_crc(const uint8_t *p, uint32_t len, uint64_t m)
{
	uLong crc = crc32(0, NULL, 0);

	if (!m)
		return (uint32_t)~fw_crc32(crc, p + 12, len - 12u);
	crc = fw_crc32(crc, p + 12, m - 12);
	crc = crc32(crc, ff, MASK_LEN);
	crc = fw_crc32(crc, p + m + MASK_LEN, len - m - MASK_LEN);
	return (uint32_t)~crc;
}

/* What bcm47xxpart (the kernel's parser) calls the parts, by slot: a
 * third one means the first is the lzma loader. */
static const char *part_name(const struct trx *t, int i, char *buf,
			     size_t len)
{
	static const char *const three[] = { "loader", "kernel", "rootfs" };
	unsigned used = 0;

	for (int k = 0; k < t->n; k++)
		used |= 1u << t->slot[k];
	if (t->slot[i] == 3 && t->version == 2)
		return "bin-header";
	used &= 7;
	if (used == 7)
		return three[t->slot[i]];
	if (used == 3)
		return t->slot[i] ? "rootfs" : "kernel";
	snprintf(buf, len, "part%d", t->slot[i]);
	return buf;
}

static int trx_open(struct fw_node *n, struct fw_error *err)
{
	struct trx *t = calloc(1, sizeof(*t));
	char why[160];
	uint32_t want;
	uint64_t m;
	int bad;

	if (!t)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	n->priv = t;
	if (parse(n->p, n->len, t, why, sizeof(why)))
		return fw_node_error(n, err, FW_EINPUT, "bad TRX header: %s",
				     why);
	want = fw_le32(n->p + 8);
	m = t->mask ? (uint64_t)fw_le32(n->p + 28) + MASK_AT : 0;
	bad = trx_crc(n->p, t->len, m) != want;
	if (bad && t->mask && !fw_le32(n->p + 28) &&
	    trx_crc(n->p, t->len, 0) == want) {
		t->mask = 0;	/* a v2 image hashed as v1 */
		bad = 0;
	}
	n->bad = bad;
	snprintf(n->desc, sizeof(n->desc), "v%d, %d part%s, crc %s",
		 t->version, t->n, t->n == 1 ? "" : "s", bad ? "BAD" : "ok");
	if (t->flags)
		snprintf(n->desc + strlen(n->desc),
			 sizeof(n->desc) - strlen(n->desc), ", flags 0x%04x",
			 t->flags);
	if (t->len < n->len)
		snprintf(n->desc + strlen(n->desc),
			 sizeof(n->desc) - strlen(n->desc),
			 ", %llu bytes after len",
			 (unsigned long long)(n->len - t->len));
	for (int i = 0; i < t->n; i++) {
		uint32_t end = i + 1 < t->n ? t->off[i + 1] : t->len;
		char buf[16];

		if (!fw_node_part(n, part_name(t, i, buf, sizeof(buf)),
				  t->off[i], end - t->off[i], err))
			return err->code;
	}
	return FW_OK;
}

/* The biggest power of two (up to MAX_ALIGN) that divides x. */
static uint64_t align_of(uint64_t x)
{
	uint64_t a = 1;

	while (a < MAX_ALIGN && !(x % (a * 2)))
		a *= 2;
	return a;
}

static int trx_rebuild(struct fw_node *n, struct fw_error *err)
{
	struct trx *t = n->priv;
	struct fw_out *o = &n->out;
	uint64_t pos, a, m = 0, len;
	uint32_t crc;
	uint8_t *h;

	h = malloc(t->hlen);
	if (!h || fw_out_own(o, h)) {
		free(h);
		goto oom;
	}
	memcpy(h, n->p, t->hlen);
	/* the header, then whatever lay between it and the first part */
	if (fw_out_add(o, h, t->hlen) ||
	    fw_out_add(o, n->p + t->hlen, t->off[0] - t->hlen))
		goto oom;
	pos = t->off[0];
	for (int i = 0; i < t->n; i++) {
		const struct fw_out *c = &n->part[i]->out;
		uint64_t at = t->off[i];

		if (pos > at) {
			a = align_of(at);
			at = (pos + a - 1) / a * a;
		}
		if (at > UINT32_MAX)
			goto big;
		if (fw_out_fill(o, 0, at - pos) || fw_out_cat(o, c))
			goto oom;
		fw_put_le32(h + 16 + 4 * t->slot[i], (uint32_t)at);
		pos = at + c->len;
	}
	/* trx and otrx pad to 4 KiB: pad as the input was */
	a = align_of(t->len);
	if (fw_out_fill(o, 0, (a - pos % a) % a))
		goto oom;
	len = o->len;
	if (len > UINT32_MAX)
		goto big;
	fw_put_le32(h + 4, (uint32_t)len);
	if (t->mask) {
		m = (uint64_t)fw_le32(h + 28) + MASK_AT;
		if (m + MASK_LEN > len)
			return fw_node_error(n, err, FW_EINPUT, "the v2 "
					     "bin-header at 0x%x is cut by len "
					     "%llu", fw_le32(h + 28),
					     (unsigned long long)len);
	}
	if (m) {
		crc = fw_out_crc32(o, 12, m - 12, 0);
		crc = (uint32_t)crc32(crc, ff, MASK_LEN);
		crc = fw_out_crc32(o, m + MASK_LEN, len - m - MASK_LEN, crc);
	} else {
		crc = fw_out_crc32(o, 12, len - 12, 0);
	}
	fw_put_le32(h + 8, ~crc);
	/* whatever followed len */
	if (fw_out_add(o, n->p + t->len, n->len - t->len))
		goto oom;
	return FW_OK;
big:
	return fw_node_error(n, err, FW_EINPUT, "the parts grew past the "
			     "4 GiB a TRX can hold");
oom:
	return fw_error_set(err, FW_EIO, NULL, "out of memory");
}

const struct fw_layer fw_layer_trx = {
	.name = "TRX",
	.kind = FW_LK_CONTAINER,
	.bid = trx_bid,
	.open = trx_open,
	.rebuild = trx_rebuild,
};
