// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * U-Boot legacy images: a 64-byte big-endian header (magic 0x27051956,
 * header CRC with its field zeroed, time, data size, load, entry, data
 * CRC, os, arch, type, compression, name), then the data.  A multi-file
 * image (type 4) starts its data with the sizes of its images, ended by
 * a zero, each image but the last padded to 4 bytes.  Rebuilding writes
 * the new sizes and both CRCs and keeps every other field.  The header
 * checks and the header writer are shared with src/kernel.c (a kernel
 * file that is a uImage): one uImage code for both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "layer.h"
#include "format.h"

#define UIMAGE_MAGIC 0x27051956u
#define HLEN 64
#define MAX_FILES 64

enum { T_KERNEL = 2, T_RAMDISK = 3, T_MULTI = 4, T_FILESYSTEM = 7,
       T_KERNEL_NOLOAD = 14 };

struct uim {
	int nfiles;		/* multi: images in it; 0: single */
};

int fw_uimage_check(const uint8_t *p, size_t len, int data, char *why,
		    size_t why_len)
{
	uint8_t h[HLEN];
	uint32_t size;

	if (len < HLEN || fw_be32(p) != UIMAGE_MAGIC) {
		snprintf(why, why_len, "not a uImage");
		return -1;
	}
	memcpy(h, p, HLEN);
	memset(h + 4, 0, 4);
	if ((uint32_t)crc32(0, h, HLEN) != fw_be32(p + 4)) {
		snprintf(why, why_len, "uImage header CRC does not match: "
			 "corrupt image");
		return -1;
	}
	size = fw_be32(p + 12);
	if (size > len - HLEN) {
		snprintf(why, why_len, "uImage data (%u bytes) is cut short "
			 "(%zu bytes there)", size, len - HLEN);
		return -1;
	}
	if (data && fw_uimage_dcrc(p + HLEN, size) != fw_be32(p + 24)) {
		snprintf(why, why_len, "uImage data CRC does not match: "
			 "corrupt image");
		return -1;
	}
	return 0;
}

uint32_t fw_uimage_dcrc(const uint8_t *p, uint64_t n)
{
	return fw_crc32(0, p, n);
}

void fw_uimage_header(uint8_t *h, const uint8_t *old, uint32_t size,
		      uint32_t dcrc)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");

	memcpy(h, old, HLEN);
	/* ih_time: kept, unless the build asks for a reproducible stamp */
	if (sde && *sde)
		fw_put_be32(h + 8, (uint32_t)strtoull(sde, NULL, 10));
	fw_put_be32(h + 12, size);
	fw_put_be32(h + 24, dcrc);
	memset(h + 4, 0, 4);
	fw_put_be32(h + 4, (uint32_t)crc32(0, h, HLEN));
}

static int header_ok(const uint8_t *p, size_t len)
{
	char why[128];	/* the reason is not wanted here */

	return !fw_uimage_check(p, len, 0, why, sizeof(why));
}

/* The size of the image a valid header describes: header + data. */
uint64_t fw_uimage_size(const uint8_t *p, size_t len)
{
	return header_ok(p, len) ? HLEN + (uint64_t)fw_be32(p + 12) : 0;
}

static int ui_bid(const uint8_t *p, size_t len, const struct fw_node *parent)
{
	(void)parent;
	return header_ok(p, len) ? 150 : 0;
}

static const char *type_name(int t)
{
	switch (t) {
	case T_KERNEL: return "kernel";
	case T_RAMDISK: return "ramdisk";
	case T_MULTI: return "multi";
	case T_FILESYSTEM: return "filesystem";
	case T_KERNEL_NOLOAD: return "kernel_noload";
	case 5: return "firmware";
	case 6: return "script";
	case 8: return "flat_dt";
	default: return "other";
	}
}

static int ui_open(struct fw_node *n, struct fw_error *err)
{
	const uint8_t *h = n->p;
	uint32_t size = fw_be32(h + 12), dcrc;
	struct uim *u = calloc(1, sizeof(*u));
	char name[33];
	int type = h[30];

	if (!u)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	n->priv = u;
	memcpy(name, h + 32, 32);
	name[32] = '\0';
	for (char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	dcrc = fw_uimage_dcrc(h + HLEN, size);
	n->bad = dcrc != fw_be32(h + 24);
	snprintf(n->desc, sizeof(n->desc), "%s '%s', data crc %s",
		 type_name(type), name, n->bad ? "BAD" : "ok");
	if (type == T_MULTI) {
		uint64_t off = HLEN, data;
		uint32_t sz[MAX_FILES];
		int k = 0;

		while (1) {
			if (off + 4 > HLEN + (uint64_t)size)
				return fw_node_error(n, err, FW_EINPUT, "multi-"
						     "file uImage: size list "
						     "past the end");
			if (!(sz[k] = fw_be32(n->p + off)))
				break;
			off += 4;
			if (++k == MAX_FILES)
				return fw_node_error(n, err, FW_EINPUT,
						     "multi-file uImage of "
						     "more than %d images",
						     MAX_FILES);
		}
		data = off + 4;
		u->nfiles = k;
		for (int i = 0; i < k; i++) {
			char nm[24];	/* "image-" and an int */
			struct fw_node *c;

			if (sz[i] > HLEN + (uint64_t)size - data)
				return fw_node_error(n, err, FW_EINPUT, "multi-"
						     "file uImage: image %d "
						     "past the end", i);
			snprintf(nm, sizeof(nm), "image-%d", i);
			c = fw_node_part(n, nm, data, sz[i], err);
			if (!c)
				return err->code;
			/* by U-Boot's convention the first is the kernel */
			c->hint_kernel = i == 0;
			data += (sz[i] + 3u) & ~3u;
		}
		return FW_OK;
	}
	{
		struct fw_node *c = fw_node_part(n, "data", HLEN, size, err);

		if (!c)
			return err->code;
		c->hint_kernel = type == T_KERNEL || type == T_KERNEL_NOLOAD;
	}
	return FW_OK;
}

static int ui_rebuild(struct fw_node *n, struct fw_error *err)
{
	struct uim *u = n->priv;
	struct fw_out *o = &n->out, body = { 0 };
	uint8_t *h, *tab = NULL;
	static const uint8_t pad[4];
	int rc = FW_OK;

	h = malloc(HLEN);
	if (!h || fw_out_own(o, h)) {
		free(h);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	if (u->nfiles) {
		tab = malloc(4 * ((size_t)u->nfiles + 1));
		if (!tab || fw_out_own(o, tab)) {
			free(tab);
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		}
		for (int i = 0; i < u->nfiles; i++) {
			uint64_t l = n->part[i]->out.len;

			if (l > UINT32_MAX)
				return fw_node_error(n->part[i], err, FW_EINPUT,
						     "image too big for a "
						     "uImage");
			fw_put_be32(tab + 4 * i, (uint32_t)l);
		}
		fw_put_be32(tab + 4 * u->nfiles, 0);
		if (fw_out_add(&body, tab, 4 * ((size_t)u->nfiles + 1)))
			goto oom;
		for (int i = 0; i < u->nfiles; i++) {
			uint64_t l = n->part[i]->out.len;

			if (fw_out_cat(&body, &n->part[i]->out) ||
			    (i + 1 < u->nfiles &&
			     fw_out_add(&body, pad, (4 - l % 4) % 4)))
				goto oom;
		}
	} else if (fw_out_cat(&body, &n->part[0]->out)) {
		goto oom;
	}
	if (body.len > UINT32_MAX) {
		rc = fw_node_error(n, err, FW_EINPUT, "data of %llu bytes is "
				   "too big for a uImage",
				   (unsigned long long)body.len);
		goto out;
	}
	fw_uimage_header(h, n->p, (uint32_t)body.len,
			 fw_out_crc32(&body, 0, body.len, 0));
	if (fw_out_add(o, h, HLEN) || fw_out_cat(o, &body))
		goto oom;
	/* whatever followed the image inside this part */
	if (fw_out_add(o, n->p + HLEN + fw_be32(n->p + 12),
		       n->len - HLEN - fw_be32(n->p + 12)))
		goto oom;
out:
	free(body.v);
	return rc;
oom:
	rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
	goto out;
}

const struct fw_layer fw_layer_uimage = {
	.name = "uImage",
	.kind = FW_LK_CONTAINER,
	.bid = ui_bid,
	.open = ui_open,
	.rebuild = ui_rebuild,
};
