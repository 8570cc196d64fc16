// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Netgear CHK: a big-endian header (magic 0x2a23245e, header_len = 40 +
 * the board id's length, 8 bytes of region and version, the kernel's and
 * the rootfs' checksums, their lengths, the image's checksum, the
 * header's), the board id without a NUL, then the kernel (usually a TRX)
 * and the rootfs (often none).  The checksum is Netgear's: two running
 * 32-bit sums, c0 of the bytes and c1 of c0, each folded to 16 bits with
 * end-around carry, c1 high.  The image's covers the kernel then the
 * rootfs; the header's covers the 40 bytes with its own field zeroed and
 * the board id.  Rebuilding writes the new lengths and all four sums and
 * keeps every other byte, and whatever followed the rootfs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "format.h"

#define CHK_MAGIC 0x2a23245eu
#define HLEN 40
#define MAX_BOARD 256	/* mkchkimg allows 64 */

enum { O_KSUM = 16, O_RSUM = 20, O_KLEN = 24, O_RLEN = 28, O_ISUM = 32,
       O_HSUM = 36 };

struct chk {
	uint32_t hlen;
	uint64_t klen, rlen;
	uint32_t board_sum;	/* board id bytes the header's sum covers */
};

struct ngsum {
	uint32_t c0, c1;
};

static void ng_add(void *arg, const uint8_t *p, size_t len)
{
	struct ngsum *s = arg;
	uint32_t c0 = s->c0, c1 = s->c1;

	/* both wrap at 32 bits, as in mkchkimg and the bootloader */
	for (size_t i = 0; i < len; i++) {
		c0 += p[i];
		c1 += c0;
	}
	s->c0 = c0;
	s->c1 = c1;
}

static uint32_t ng_fold(uint32_t c)
{
	uint32_t b = (c & 0xffff) + (c >> 16);

	return ((b >> 16) + b) & 0xffff;
}

static uint32_t ng_final(const struct ngsum *s)
{
	return ng_fold(s->c1) << 16 | ng_fold(s->c0);
}

/* The header's sum: its 40 bytes with the field zeroed, then board
 * bytes of the board id. */
static uint32_t header_sum(const uint8_t *h, uint32_t board)
{
	struct ngsum s = { 0, 0 };
	uint8_t b[HLEN];

	memcpy(b, h, HLEN);
	memset(b + O_HSUM, 0, 4);
	ng_add(&s, b, HLEN);
	ng_add(&s, h + HLEN, board);
	return ng_final(&s);
}

/* Reads the header of p; 0 if it holds, else why not in why.  The header,
 * the kernel and the rootfs lie in the bytes. */
static int parse(const uint8_t *p, size_t len, struct chk *c, char *why,
		 size_t why_len)
{
	memset(c, 0, sizeof(*c));
	if (len < HLEN || fw_be32(p) != CHK_MAGIC) {
		snprintf(why, why_len, "no CHK header");
		return -1;
	}
	c->hlen = fw_be32(p + 4);
	c->klen = fw_be32(p + O_KLEN);
	c->rlen = fw_be32(p + O_RLEN);
	if (c->hlen < HLEN || c->hlen > HLEN + MAX_BOARD) {
		snprintf(why, why_len, "header_len %u is not 40 plus a board "
			 "id of up to %d bytes", c->hlen, MAX_BOARD);
		return -1;
	}
	if (!c->klen) {
		snprintf(why, why_len, "no kernel");
		return -1;
	}
	if (c->hlen + c->klen + c->rlen > len) {
		snprintf(why, why_len, "header %u + kernel %llu + rootfs %llu "
			 "bytes lie past the end (%zu bytes)", c->hlen,
			 (unsigned long long)c->klen,
			 (unsigned long long)c->rlen, len);
		return -1;
	}
	c->board_sum = c->hlen - HLEN;
	return 0;
}

static int chk_bid(const uint8_t *p, size_t len, const struct fw_node *parent)
{
	struct chk c;
	char why[128];

	(void)parent;
	if (len < HLEN || fw_be32(p) != CHK_MAGIC)
		return 0;
	/* above TRX, which it wraps; a header that lies still opens, to
	 * say what is wrong */
	return parse(p, len, &c, why, sizeof(why)) ? 60 : 185;
}

static int chk_open(struct fw_node *n, struct fw_error *err)
{
	struct chk *c = calloc(1, sizeof(*c));
	const uint8_t *h = n->p;
	struct ngsum k = { 0, 0 }, r = { 0, 0 }, img;
	char why[160], board[65], bad[64] = "";
	const uint8_t *nul;
	size_t bl;

	if (!c)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	n->priv = c;
	if (parse(n->p, n->len, c, why, sizeof(why)))
		return fw_node_error(n, err, FW_EINPUT, "bad CHK header: %s",
				     why);
	ng_add(&k, h + c->hlen, c->klen);
	img = k;		/* the image's sum goes on over the rootfs */
	ng_add(&r, h + c->hlen + c->klen, c->rlen);
	ng_add(&img, h + c->hlen + c->klen, c->rlen);
	if (ng_final(&k) != fw_be32(h + O_KSUM))
		strcat(bad, ", kernel");
	if (ng_final(&r) != fw_be32(h + O_RSUM))
		strcat(bad, ", rootfs");
	if (ng_final(&img) != fw_be32(h + O_ISUM))
		strcat(bad, ", image");
	if (header_sum(h, c->board_sum) != fw_be32(h + O_HSUM)) {
		/* a board id padded with NULs, summed by its strlen */
		nul = memchr(h + HLEN, 0, c->board_sum);
		if (nul && header_sum(h, (uint32_t)(nul - h - HLEN)) ==
			   fw_be32(h + O_HSUM))
			c->board_sum = (uint32_t)(nul - h - HLEN);
		else
			strcat(bad, ", header");
	}
	n->bad = bad[0] != '\0';
	bl = c->hlen - HLEN < sizeof(board) - 1 ? c->hlen - HLEN :
						    sizeof(board) - 1;
	memcpy(board, h + HLEN, bl);
	board[bl] = '\0';
	for (char *s = board; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
	snprintf(n->desc, sizeof(n->desc), "board '%s', region %u, "
		 "checksums %s%s", board, h[8], n->bad ? "BAD: " : "ok",
		 n->bad ? bad + 2 : "");
	if (!fw_node_part(n, "kernel", c->hlen, c->klen, err))
		return err->code;
	if (c->rlen &&
	    !fw_node_part(n, "rootfs", c->hlen + c->klen, c->rlen, err))
		return err->code;
	return FW_OK;
}

static int chk_rebuild(struct fw_node *n, struct fw_error *err)
{
	struct chk *c = n->priv;
	struct fw_out *o = &n->out;
	const struct fw_out *ko = &n->part[0]->out;
	const struct fw_out *ro = n->n_part > 1 ? &n->part[1]->out : NULL;
	struct ngsum k = { 0, 0 }, r = { 0, 0 }, img;
	uint64_t end = c->hlen + c->klen + c->rlen;
	uint8_t *h;

	if (ko->len > UINT32_MAX || (ro && ro->len > UINT32_MAX))
		return fw_node_error(n, err, FW_EINPUT, "a part grew past the "
				     "4 GiB a CHK can hold");
	h = malloc(c->hlen);
	if (!h || fw_out_own(o, h)) {
		free(h);
		goto oom;
	}
	memcpy(h, n->p, c->hlen);
	fw_out_each(ko, 0, ko->len, ng_add, &k);
	img = k;
	fw_put_be32(h + O_KSUM, ng_final(&k));
	fw_put_be32(h + O_KLEN, (uint32_t)ko->len);
	if (ro) {
		fw_out_each(ro, 0, ro->len, ng_add, &r);
		fw_out_each(ro, 0, ro->len, ng_add, &img);
		fw_put_be32(h + O_RSUM, ng_final(&r));
		fw_put_be32(h + O_RLEN, (uint32_t)ro->len);
	}
	fw_put_be32(h + O_ISUM, ng_final(&img));
	fw_put_be32(h + O_HSUM, header_sum(h, c->board_sum));
	if (fw_out_add(o, h, c->hlen) || fw_out_cat(o, ko) ||
	    (ro && fw_out_cat(o, ro)) ||
	    fw_out_add(o, n->p + end, n->len - end))
		goto oom;
	return FW_OK;
oom:
	return fw_error_set(err, FW_EIO, NULL, "out of memory");
}

const struct fw_layer fw_layer_chk = {
	.name = "CHK",
	.kind = FW_LK_CONTAINER,
	.bid = chk_bid,
	.open = chk_open,
	.rebuild = chk_rebuild,
};
