// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A compressed stream around a container: a gzip'ed sysupgrade tar, an
 * xz'ed flash image, a zstd FIT.  One part, the decoded bytes; rebuilt by
 * compressing the new bytes with the codec and the settings the input
 * stream shows (compress.c, the codecs the kernel images and modules use
 * too).  Bytes after the stream are kept.  A compressed filesystem or
 * kernel is not a stream here: the archive formats and the kernel code
 * read their own compression, so this bids only when the decoded start is
 * a container's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "format.h"
#include "../src/codec.h"

struct stream {
	struct fw_codec_params cp;
	uint8_t *dec;
	size_t dec_len;
};

/* Whether decoded bytes start like a container of layer.h. */
static int container_head(const uint8_t *h, size_t n)
{
	if (n >= 4 && (fw_be32(h) == 0x27051956u ||	/* uImage */
		       fw_be32(h) == 0xd00dfeedu ||	/* FIT */
		       fw_be32(h) == 0x2a23245eu ||	/* CHK */
		       !memcmp(h, "HDR0", 4)))		/* TRX */
		return 1;
	if (fw_disk_probe(h, n))
		return 1;
	return n >= 512 && !memcmp(h + 257, "ustar", 5) &&
	       !strncmp((const char *)h, "sysupgrade-", 11);
}

static int st_bid(const uint8_t *p, size_t len, const struct fw_node *parent)
{
	enum fw_codec c = fw_codec_detect_kernel(p, len);
	uint8_t h[512];
	size_t n;

	(void)parent;
	if (c == FW_CODEC_NONE)
		return 0;
	n = fw_decompress_head(c, p, len, h, sizeof(h));
	return container_head(h, n) ? 160 : 0;
}

static int st_open(struct fw_node *n, struct fw_error *err)
{
	struct stream *s = calloc(1, sizeof(*s));
	enum fw_codec c = fw_codec_detect_kernel(n->p, n->len);
	uint64_t left;
	char why[256];

	if (!s)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	n->priv = s;
	left = fw_node_decode_budget(n, 0);
	if (fw_decompress_stream(c, n->p, n->len, (size_t)left, &s->cp,
				 &s->dec, &s->dec_len, why, sizeof(why)))
		return fw_node_error(n, err, FW_EINPUT, "%s stream: %s",
				     fw_codec_name(c), why);
	fw_node_decode_budget(n, s->dec_len);
	snprintf(n->desc, sizeof(n->desc), "%s, %zu bytes decoded%s",
		 fw_codec_name(c), s->dec_len,
		 s->cp.consumed < n->len ? ", data after it kept" : "");
	return fw_node_part_decoded(n, "decoded", s->dec, s->dec_len, err) ?
	       FW_OK : err->code;
}

static int st_rebuild(struct fw_node *n, struct fw_error *err)
{
	struct stream *s = n->priv;
	const struct fw_out *d = &n->part[0]->out;
	uint8_t *flat, *z = NULL;
	size_t zl = 0;
	char why[256];
	int rc;

	flat = malloc(d->len ? d->len : 1);
	if (!flat)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	fw_out_read(d, 0, flat, d->len);
	rc = fw_compress(&s->cp, flat, d->len, &z, &zl, why, sizeof(why));
	free(flat);
	if (rc)
		return fw_node_error(n, err, FW_EIO, "%s: %s",
				     fw_codec_name(s->cp.codec), why);
	if (fw_out_own(&n->out, z)) {
		free(z);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	if (fw_out_add(&n->out, z, zl) ||
	    fw_out_add(&n->out, n->p + s->cp.consumed,
		       n->len - s->cp.consumed))
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	return FW_OK;
}

static void st_close(struct fw_node *n)
{
	struct stream *s = n->priv;

	if (s)
		free(s->dec);
	free(s);
}

const struct fw_layer fw_layer_stream = {
	.name = "compressed",
	.kind = FW_LK_STREAM,
	.bid = st_bid,
	.open = st_open,
	.rebuild = st_rebuild,
	.close = st_close,
};
