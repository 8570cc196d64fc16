// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * OpenWrt's fwtool trailers: blocks after the image, read backwards from
 * the end.  Each block is its payload then a 16-byte big-endian trailer:
 * magic "FWx0", the CRC (reflected 0xEDB88320, init ~0, no final xor) of
 * every byte before this trailer, the type (0 signature, 1 metadata),
 * three zero bytes and the block's size (payload + 16).  The metadata is
 * kept byte for byte and every CRC recomputed; a usign signature over the
 * image cannot survive a change: it is signed again with the vendor's usign
 * key (--usign-key: the ucert chain kept, its image signature replaced, see
 * usign.h) or dropped when asked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "layer.h"
#include "format.h"
#include "usign.h"

#define FWTOOL_MAGIC 0x46577830u
#define TRAILER 16
#define MAX_BLOCKS 16

struct block {
	uint64_t off;		/* payload */
	uint64_t len;		/* payload bytes */
	uint8_t type;
};

struct fwt {
	struct block b[MAX_BLOCKS];	/* in file order */
	int n;
	int have_key;			/* --usign-key: re-sign */
	struct fw_usign_key key;
	struct fw_ucert uc[MAX_BLOCKS];	/* the signature blocks' chains */
};

/* Walks the chain from the end; number of blocks, 0 if none or bad. */
static int chain(const uint8_t *p, size_t len, struct block *b)
{
	struct block tmp[MAX_BLOCKS];
	uint64_t end = len;
	int n = 0;

	while (end >= TRAILER && n < MAX_BLOCKS) {
		const uint8_t *t = p + end - TRAILER;
		uint32_t size;

		if (fw_be32(t) != FWTOOL_MAGIC)
			break;
		size = fw_be32(t + 12);
		if (size < TRAILER || size > end || t[8] > 1 || t[9] || t[10] ||
		    t[11])
			return 0;
		tmp[n].off = end - size;
		tmp[n].len = size - TRAILER;
		tmp[n].type = t[8];
		n++;
		end -= size;
	}
	for (int i = 0; i < n; i++)
		b[i] = tmp[n - 1 - i];
	return n;
}

static int fwt_bid(const uint8_t *p, size_t len, const struct fw_node *parent)
{
	struct block b[MAX_BLOCKS];

	(void)parent;
	return chain(p, len, b) ? FW_BID_MAX : 0;
}

/* --usign-key: the key, and each signature block's chain, checked now so
 * that a wrong key stops the run before anything is signed. */
static int usign_open(struct fw_node *n, struct fwt *f, struct fw_error *err)
{
	const char *path = fw_node_usign_key(n), *why;
	char have[17], want[17];
	int rc;

	rc = fw_usign_key_load(path, &f->key, err);
	if (rc)
		return rc;
	f->have_key = 1;
	fw_usign_fp_hex(f->key.fp, have);
	for (int i = 0; i < f->n; i++) {
		struct fw_ucert *u = &f->uc[i];

		if (f->b[i].type != 0)
			continue;
		if (fw_ucert_parse(n->p + f->b[i].off, f->b[i].len, u, &why))
			return fw_node_error(n, err, FW_EINPUT, "the usign "
					     "signature block is not a ucert "
					     "chain OpenWrt's tools make: %s",
					     why);
		/* the device checks the image with the key the chain's
		 * certificate names, else with its /etc/opkg/keys/<fp> */
		fw_usign_fp_hex(u->sig_fp, want);
		if (memcmp(u->sig_fp, f->key.fp, 8))
			return fw_error_set(err, FW_EKEY, path, "usign key %s, "
					    "but the image's signature block%s"
					    "%s names key %s: devices check "
					    "the image with that one "
					    "(/etc/opkg/keys/%s)", have,
					    n->path[0] ? " in " : "", n->path,
					    want, want);
		fw_usign_fp_hex(u->cert_fp, want);
		if (u->have_cert && (memcmp(u->cert_fp, f->key.fp, 8) ||
				     memcmp(u->cert_pub, f->key.pub, 32)))
			return fw_error_set(err, FW_EKEY, path, "usign key %s "
					    "is not the key %s the signature "
					    "block's certificate names", have,
					    want);
	}
	return FW_OK;
}

static int fwt_open(struct fw_node *n, struct fw_error *err)
{
	struct fwt *f = calloc(1, sizeof(*f));
	uint64_t done = 0;
	uLong crc;
	int meta = 0, sig = 0, bad = 0;

	if (!f)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	n->priv = f;
	f->n = chain(n->p, n->len, f->b);
	if (!f->n)
		return fw_node_error(n, err, FW_EINPUT, "bad fwtool trailer");
	/* each trailer holds the CRC of every byte before it */
	crc = crc32(0, NULL, 0);
	for (int i = 0; i < f->n; i++) {
		uint64_t t = f->b[i].off + f->b[i].len;

		crc = fw_crc32(crc, n->p + done, t - done);
		bad |= (uint32_t)~crc != fw_be32(n->p + t + 4);
		crc = crc32(crc, n->p + t, TRAILER);
		done = t + TRAILER;
		meta += f->b[i].type == 1;
		sig += f->b[i].type == 0;
	}
	n->bad = bad;
	if (sig && fw_node_usign_key(n) && usign_open(n, f, err))
		return err->code;
	snprintf(n->desc, sizeof(n->desc), "%d metadata block%s, %d "
		 "signature block%s, crc %s", meta, meta == 1 ? "" : "s", sig,
		 sig == 1 ? "" : "s", bad ? "BAD" : "ok");
	return fw_node_part(n, "image", 0, f->b[0].off, err) ? FW_OK :
	       err->code;
}

/* A signature block's new payload: its chain with the image signature
 * replaced by one of every byte of o so far (usign -S, ucert -A). */
static int usign_block(struct fwt *f, const struct fw_ucert *u,
		       const uint8_t *pay, struct fw_out *o,
		       const uint8_t **np, uint64_t *nlen, struct fw_error *err)
{
	uint8_t *e, *b;
	size_t en;
	uint64_t tail = u->sig_off + u->sig_len, len;
	int rc;

	rc = fw_usign_element(&f->key, o, o->len, &e, &en, err);
	if (rc)
		return rc;
	len = u->sig_off + en + (*nlen - tail);
	if (len + TRAILER > UINT32_MAX || !(b = malloc(len))) {
		free(e);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	if (fw_out_own(o, b)) {
		free(b);
		free(e);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	memcpy(b, pay, u->sig_off);
	memcpy(b + u->sig_off, e, en);
	memcpy(b + u->sig_off + en, pay + tail, *nlen - tail);
	free(e);
	*np = b;
	*nlen = len;
	return FW_OK;
}

static int fwt_rebuild(struct fw_node *n, struct fw_error *err)
{
	struct fwt *f = n->priv;
	struct fw_out *o = &n->out;
	uint8_t *t;
	uLong crc;

	for (int i = 0; i < f->n; i++)
		if (f->b[i].type == 0 && !f->have_key &&
		    !fw_node_drop_image_signature(n))
			return fw_node_error(n, err, FW_EINPUT,
					     "a usign signature block covers "
					     "the image and cannot survive "
					     "signing: give the vendor's usign "
					     "secret key, or drop the image "
					     "signature (and sign the result "
					     "with usign and fwtool -S)");
	if (fw_out_cat(o, &n->part[0]->out))
		goto oom;
	t = malloc((size_t)f->n * TRAILER);
	if (!t || fw_out_own(o, t)) {
		free(t);
		goto oom;
	}
	crc = fw_out_crc32(o, 0, o->len, 0);
	for (int i = 0; i < f->n; i++) {
		uint8_t *tr = t + i * TRAILER;
		const uint8_t *pay = n->p + f->b[i].off;
		uint64_t len = f->b[i].len;

		if (f->b[i].type == 0) {
			int rc;

			if (!f->have_key)
				continue;
			rc = usign_block(f, &f->uc[i], pay, o, &pay, &len,
					 err);
			if (rc)
				return rc;
		}
		if (fw_out_add(o, pay, len))
			goto oom;
		crc = fw_crc32(crc, pay, len);
		memcpy(tr, n->p + f->b[i].off + f->b[i].len, TRAILER);
		fw_put_be32(tr + 4, (uint32_t)~crc);
		fw_put_be32(tr + 12, (uint32_t)(len + TRAILER));
		crc = crc32(crc, tr, TRAILER);
		if (fw_out_add(o, tr, TRAILER))
			goto oom;
	}
	return FW_OK;
oom:
	return fw_error_set(err, FW_EIO, NULL, "out of memory");
}

static void fwt_close(struct fw_node *n)
{
	struct fwt *f = n->priv;

	if (f)
		fw_usign_key_wipe(&f->key);
	free(f);
}

const struct fw_layer fw_layer_fwtool = {
	.name = "fwtool",
	.kind = FW_LK_CONTAINER,
	.bid = fwt_bid,
	.open = fwt_open,
	.rebuild = fwt_rebuild,
	.close = fwt_close,
};
