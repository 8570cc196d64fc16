// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Compressed kernel modules (.ko.gz, .ko.xz, .ko.zst): the signature lives
 * inside the compressed stream, as kbuild does it.  Recompression uses the
 * settings of kbuild's modules_install (gzip -n, xz --lzma2=dict=2MiB,
 * zstd default level) and keeps what the input stream records: the xz
 * integrity check and the zstd checksum flag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lzma.h>
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader */
#include <zstd.h>

#include "internal.h"

enum fw_codec fw_codec_detect(const uint8_t *b, size_t len)
{
	if (len >= 6 && !memcmp(b, "\xfd" "7zXZ\0", 6))
		return FW_CODEC_XZ;
	if (len >= 4 && !memcmp(b, "\x28\xb5\x2f\xfd", 4))
		return FW_CODEC_ZSTD;
	if (len >= 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 8)
		return FW_CODEC_GZIP;
	return FW_CODEC_NONE;
}

const char *fw_codec_name(enum fw_codec c)
{
	switch (c) {
	case FW_CODEC_GZIP: return "gzip";
	case FW_CODEC_XZ: return "xz";
	case FW_CODEC_ZSTD: return "zstd";
	default: return NULL;
	}
}

/* A growing output buffer; fails past limit. */
struct obuf {
	uint8_t *p;
	size_t len, cap, limit;
};

static int obuf_grow(struct obuf *o)
{
	size_t cap = o->cap ? o->cap * 2 : 1 << 16;
	uint8_t *p;

	if (o->cap >= o->limit)
		return -1;
	if (cap > o->limit)
		cap = o->limit;
	p = realloc(o->p, cap);
	if (!p)
		return -1;
	o->p = p;
	o->cap = cap;
	return 0;
}

static int gz_run(int inflate_mode, const uint8_t *in, size_t len,
		  size_t limit, struct obuf *o, char *why, size_t why_len)
{
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	/* 31 = gzip wrapper; deflate writes mtime 0 and no name, like gzip -n */
	rc = inflate_mode ? inflateInit2(&z, 31)
			  : deflateInit2(&z, 6, Z_DEFLATED, 31, 8,
					 Z_DEFAULT_STRATEGY);
	if (rc != Z_OK) {
		snprintf(why, why_len, "zlib init failed");
		return -1;
	}
	o->limit = limit;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	do {
		if (o->len == o->cap && obuf_grow(o)) {
			snprintf(why, why_len, "decompressed size over the limit");
			rc = Z_MEM_ERROR;
			break;
		}
		z.next_out = o->p + o->len;
		z.avail_out = (uInt)(o->cap - o->len);
		rc = inflate_mode ? inflate(&z, Z_NO_FLUSH) : deflate(&z, Z_FINISH);
		o->len = o->cap - z.avail_out;
	} while (rc == Z_OK || (rc == Z_BUF_ERROR && z.avail_out == 0));
	if (inflate_mode)
		inflateEnd(&z);
	else
		deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		if (!why[0])
			snprintf(why, why_len, "gzip stream is corrupt or truncated");
		return -1;
	}
	return 0;
}

static int xz_run(lzma_stream *s, const uint8_t *in, size_t len,
		  struct obuf *o, char *why, size_t why_len)
{
	lzma_ret r;

	s->next_in = in;
	s->avail_in = len;
	do {
		if (o->len == o->cap && obuf_grow(o)) {
			snprintf(why, why_len, "decompressed size over the limit");
			lzma_end(s);
			return -1;
		}
		s->next_out = o->p + o->len;
		s->avail_out = o->cap - o->len;
		r = lzma_code(s, LZMA_FINISH);
		o->len = o->cap - s->avail_out;
	} while (r == LZMA_OK);
	lzma_end(s);
	if (r != LZMA_STREAM_END) {
		snprintf(why, why_len, "xz stream is corrupt or truncated (%d)",
			 (int)r);
		return -1;
	}
	return 0;
}

static int zstd_decompress(const uint8_t *in, size_t len, struct obuf *o,
			   struct fw_codec_params *p, char *why, size_t why_len)
{
	ZSTD_DStream *d = ZSTD_createDStream();
	ZSTD_inBuffer ib = { in, len, 0 };
	ZSTD_frameHeader fh;
	size_t r = 1;

	if (ZSTD_getFrameHeader(&fh, in, len) == 0)
		p->zstd_checksum = fh.checksumFlag;
	while (d) {
		ZSTD_outBuffer ob;

		if (o->len == o->cap && obuf_grow(o)) {
			snprintf(why, why_len, "decompressed size over the limit");
			break;
		}
		ob.dst = o->p;
		ob.size = o->cap;
		ob.pos = o->len;
		r = ZSTD_decompressStream(d, &ob, &ib);
		o->len = ob.pos;
		if (ZSTD_isError(r)) {
			snprintf(why, why_len, "zstd stream is corrupt: %s",
				 ZSTD_getErrorName(r));
			break;
		}
		if (r == 0 && ib.pos == ib.size)
			break;
		if (ib.pos == ib.size && ob.pos < ob.size) {
			snprintf(why, why_len, "zstd stream is truncated");
			r = 1;
			break;
		}
	}
	ZSTD_freeDStream(d);
	return r == 0 && ib.pos == ib.size ? 0 : -1;
}

int fw_decompress(const uint8_t *in, size_t len, size_t limit,
		  struct fw_codec_params *p, uint8_t **out, size_t *out_len,
		  char *why, size_t why_len)
{
	struct obuf o = { 0 };
	int rc = -1;

	o.limit = limit;
	why[0] = '\0';
	memset(p, 0, sizeof(*p));
	p->codec = fw_codec_detect(in, len);
	switch (p->codec) {
	case FW_CODEC_GZIP:
		rc = gz_run(1, in, len, limit, &o, why, why_len);
		break;
	case FW_CODEC_XZ: {
		lzma_stream s = LZMA_STREAM_INIT;
		lzma_stream_flags f;

		if (len >= LZMA_STREAM_HEADER_SIZE &&
		    lzma_stream_header_decode(&f, in) == LZMA_OK)
			p->xz_check = (int)f.check;
		if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK) {
			snprintf(why, why_len, "xz init failed");
			break;
		}
		rc = xz_run(&s, in, len, &o, why, why_len);
		break;
	}
	case FW_CODEC_ZSTD:
		rc = zstd_decompress(in, len, &o, p, why, why_len);
		break;
	default:
		snprintf(why, why_len, "not compressed");
	}
	if (rc) {
		free(o.p);
		return -1;
	}
	*out = o.p;
	*out_len = o.len;
	return 0;
}

int fw_compress(const struct fw_codec_params *p, const uint8_t *in,
		size_t len, uint8_t **out, size_t *out_len,
		char *why, size_t why_len)
{
	struct obuf o = { 0 };
	size_t limit = len + len / 2 + (1 << 16);
	int rc = -1;

	why[0] = '\0';
	o.limit = limit;
	switch (p->codec) {
	case FW_CODEC_GZIP:
		rc = gz_run(0, in, len, limit, &o, why, why_len);
		break;
	case FW_CODEC_XZ: {
		lzma_stream s = LZMA_STREAM_INIT;
		lzma_options_lzma opt;
		lzma_filter f[2];

		lzma_lzma_preset(&opt, 6);
		opt.dict_size = 2u << 20;	/* kbuild: --lzma2=dict=2MiB */
		f[0].id = LZMA_FILTER_LZMA2;
		f[0].options = &opt;
		f[1].id = LZMA_VLI_UNKNOWN;
		if (lzma_stream_encoder(&s, f, (lzma_check)p->xz_check) !=
		    LZMA_OK) {
			snprintf(why, why_len, "xz init failed");
			break;
		}
		rc = xz_run(&s, in, len, &o, why, why_len);
		break;
	}
	case FW_CODEC_ZSTD: {
		ZSTD_CCtx *c = ZSTD_createCCtx();
		size_t n, bound = ZSTD_compressBound(len);

		o.p = malloc(bound);
		if (!c || !o.p) {
			ZSTD_freeCCtx(c);
			snprintf(why, why_len, "out of memory");
			break;
		}
		ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel,
				       ZSTD_CLEVEL_DEFAULT);
		ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, p->zstd_checksum);
		n = ZSTD_compress2(c, o.p, bound, in, len);
		ZSTD_freeCCtx(c);
		if (ZSTD_isError(n)) {
			snprintf(why, why_len, "zstd: %s", ZSTD_getErrorName(n));
			break;
		}
		o.len = n;
		rc = 0;
		break;
	}
	default:
		snprintf(why, why_len, "no codec");
	}
	if (rc) {
		free(o.p);
		return -1;
	}
	*out = o.p;
	*out_len = o.len;
	return 0;
}
