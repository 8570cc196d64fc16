// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Compressed kernel modules (.ko.gz, .ko.xz, .ko.zst): the signature lives
 * inside the compressed stream, as kbuild does it.  Recompression uses the
 * settings of kbuild's modules_install (gzip -n, xz --lzma2=dict=2MiB,
 * zstd default level) and keeps what the input stream records: the xz
 * integrity check and the zstd checksum flag.
 *
 * Compressed kernel images (Image.gz, the payload of a bzImage or uImage)
 * add lzma and lz4 legacy, and are recompressed with the settings kbuild
 * uses for them (gzip -9, xz_wrap.sh, lzma -9, lz4 -l -9, zstd -22) and
 * what their stream records (dictionary, branch filter, window, ...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lz4hc.h>
#include <lzma.h>
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader */
#include <zstd.h>

#include "codec.h"
#include "bytes.h"
#include "fw_limits.h"

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

#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_CHUNK (8u << 20)	/* lz4 -l: 8 MiB of input per chunk */

/*
 * The .lzma (LZMA_Alone) header has no magic: a properties byte, a
 * dictionary size and the uncompressed size (all ones when unknown).
 * Accept what lzma(1) writes: lc+lp <= 4, a dictionary of 2^n or
 * 2^n + 2^(n-1) bytes, a plausible size.
 */
static int lzma_alone_header(const uint8_t *b, size_t len)
{
	uint32_t dict, d;
	uint64_t size = 0;

	if (len < 13 || b[0] >= 9 * 5 * 5)
		return 0;
	if (b[0] % 9 + b[0] / 9 % 5 > 4)
		return 0;
	dict = fw_le32(b + 1);
	if (dict < 4096)
		return 0;
	d = dict;
	while (!(d & 1))
		d >>= 1;
	if (d != 1 && d != 3)
		return 0;
	for (int i = 0; i < 8; i++)
		size |= (uint64_t)b[5 + i] << (8 * i);
	return size == UINT64_MAX || size < (1ull << 40);
}

enum fw_codec fw_codec_detect_kernel(const uint8_t *b, size_t len)
{
	enum fw_codec c = fw_codec_detect(b, len);

	if (c != FW_CODEC_NONE)
		return c;
	if (len >= 8 && fw_le32(b) == LZ4_LEGACY_MAGIC)
		return FW_CODEC_LZ4;
	if (lzma_alone_header(b, len))
		return FW_CODEC_LZMA;
	return FW_CODEC_NONE;
}

const char *fw_codec_name(enum fw_codec c)
{
	switch (c) {
	case FW_CODEC_GZIP: return "gzip";
	case FW_CODEC_XZ: return "xz";
	case FW_CODEC_ZSTD: return "zstd";
	case FW_CODEC_LZMA: return "lzma";
	case FW_CODEC_LZ4: return "lz4";
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

static int gz_run(int inflate_mode, int level, const uint8_t *in, size_t len,
		  size_t limit, struct obuf *o, size_t *consumed,
		  char *why, size_t why_len)
{
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	/*
	 * 31 = gzip wrapper; deflate writes mtime 0 and no name, like gzip -n.
	 * zlib at gzip's -9 comes out a little smaller than gzip itself on a
	 * kernel (1858564 against 1860919 bytes measured), which a bzImage
	 * payload that may not grow needs.
	 */
	rc = inflate_mode ? inflateInit2(&z, 31)
			  : deflateInit2(&z, level ? level : 6, Z_DEFLATED, 31,
					 8, Z_DEFAULT_STRATEGY);
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
	if (consumed)
		*consumed = len - z.avail_in;
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
		  struct obuf *o, size_t *consumed, char *why, size_t why_len)
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
	if (consumed)
		*consumed = len - s->avail_in;
	lzma_end(s);
	if (r == LZMA_MEMLIMIT_ERROR) {
		snprintf(why, why_len, "xz/lzma stream wants a dictionary of "
			 "over %llu MiB",
			 (unsigned long long)(FW_DECODER_MEM_MAX >> 20));
		return -1;
	}
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
	enum fw_codec c = fw_codec_detect(in, len);

	if (c == FW_CODEC_NONE) {
		memset(p, 0, sizeof(*p));
		snprintf(why, why_len, "not compressed");
		return -1;
	}
	if (fw_decompress_stream(c, in, len, limit, p, out, out_len, why,
				 why_len))
		return -1;
	/* A module is one stream: bytes after it would be lost on rewrite. */
	if (p->consumed != len) {
		free(*out);
		*out = NULL;
		snprintf(why, why_len, "%zu bytes after the %s stream",
			 len - p->consumed, fw_codec_name(c));
		return -1;
	}
	return 0;
}

static int lz4_legacy_compress(int level, const uint8_t *in, size_t len,
			       struct obuf *o, char *why, size_t why_len);

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
		rc = gz_run(0, p->level, in, len, limit, &o, NULL, why, why_len);
		break;
	case FW_CODEC_XZ: {
		lzma_stream s = LZMA_STREAM_INIT;
		lzma_options_lzma opt;
		lzma_filter f[3];
		int n = 0;

		lzma_lzma_preset(&opt, p->level ? (uint32_t)p->level : 6);
		opt.dict_size = 2u << 20;	/* kbuild: --lzma2=dict=2MiB */
		if (p->level && p->dict_size)
			opt.dict_size = p->dict_size;
		if (p->level && p->xz_bcj) {
			f[n].id = p->xz_bcj;
			f[n++].options = NULL;
		}
		f[n].id = LZMA_FILTER_LZMA2;
		f[n++].options = &opt;
		f[n].id = LZMA_VLI_UNKNOWN;
		if (lzma_stream_encoder(&s, f, (lzma_check)p->xz_check) !=
		    LZMA_OK) {
			snprintf(why, why_len, "xz init failed");
			break;
		}
		rc = xz_run(&s, in, len, &o, NULL, why, why_len);
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
				       p->level ? p->level : ZSTD_CLEVEL_DEFAULT);
		ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, p->zstd_checksum);
		if (p->level) {
			/* a decoder sized for the input's window copes */
			if (p->zstd_window_log)
				ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog,
						       p->zstd_window_log);
			ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag,
					       p->zstd_content_size);
		}
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
	case FW_CODEC_LZMA: {
		lzma_stream s = LZMA_STREAM_INIT;
		lzma_options_lzma opt;

		/* lzma -9, with the dictionary and lc/lp/pb of the input */
		lzma_lzma_preset(&opt, p->level ? (uint32_t)p->level : 9);
		if (p->dict_size) {
			opt.dict_size = p->dict_size;
			opt.lc = p->lzma_props % 9;
			opt.lp = p->lzma_props / 9 % 5;
			opt.pb = p->lzma_props / 45;
		}
		if (lzma_alone_encoder(&s, &opt) != LZMA_OK) {
			snprintf(why, why_len, "lzma init failed");
			break;
		}
		rc = xz_run(&s, in, len, &o, NULL, why, why_len);
		break;
	}
	case FW_CODEC_LZ4:
		rc = lz4_legacy_compress(p->level ? p->level : 9, in, len, &o,
					 why, why_len);
		break;
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

/* xz: the stream's check, and the filters of its first block. */
static void xz_settings(const uint8_t *in, size_t len,
			struct fw_codec_params *p)
{
	lzma_stream_flags sf;
	lzma_filter f[LZMA_FILTERS_MAX + 1];
	lzma_block b;

	if (len < LZMA_STREAM_HEADER_SIZE + 1 ||
	    lzma_stream_header_decode(&sf, in) != LZMA_OK)
		return;
	p->xz_check = (int)sf.check;
	memset(&b, 0, sizeof(b));
	b.version = 1;
	b.check = sf.check;
	b.filters = f;
	b.header_size = lzma_block_header_size_decode(in[LZMA_STREAM_HEADER_SIZE]);
	if (in[LZMA_STREAM_HEADER_SIZE] == 0 ||
	    len < LZMA_STREAM_HEADER_SIZE + b.header_size ||
	    lzma_block_header_decode(&b, NULL, in + LZMA_STREAM_HEADER_SIZE) !=
	    LZMA_OK)
		return;
	for (int i = 0; f[i].id != LZMA_VLI_UNKNOWN; i++) {
		if (f[i].id == LZMA_FILTER_LZMA2 && f[i].options)
			p->dict_size = ((lzma_options_lzma *)f[i].options)->dict_size;
		else if (f[i].id >= LZMA_FILTER_X86 &&
			 f[i].id <= LZMA_FILTER_SPARC)
			p->xz_bcj = f[i].id;
		free(f[i].options);
	}
}

/*
 * lz4 legacy (lz4 -l, what the kernel's unlz4 reads): the magic, then
 * chunks of [le32 compressed size][LZ4 block] each holding up to 8 MiB.
 * It ends at the end of the input, at a zero size, or before a last word
 * that cannot be a chunk (kbuild appends the uncompressed size).
 */
static int lz4_legacy_decompress(const uint8_t *in, size_t len, struct obuf *o,
				 size_t *consumed, char *why, size_t why_len)
{
	size_t pos = 4;

	while (len - pos >= 4) {
		uint32_t n = fw_le32(in + pos);
		int r;

		if (n == LZ4_LEGACY_MAGIC) {
			pos += 4;
			continue;
		}
		if (n == 0 || (n > len - pos - 4 && len - pos == 4))
			break;
		if (n > len - pos - 4 || n > (uint32_t)LZ4_compressBound(LZ4_LEGACY_CHUNK)) {
			snprintf(why, why_len, "lz4 stream is corrupt or truncated");
			return -1;
		}
		while (o->cap - o->len < LZ4_LEGACY_CHUNK) {
			if (obuf_grow(o)) {
				snprintf(why, why_len,
					 "decompressed size over the limit");
				return -1;
			}
		}
		r = LZ4_decompress_safe((const char *)in + pos + 4,
					(char *)o->p + o->len, (int)n,
					LZ4_LEGACY_CHUNK);
		if (r < 0) {
			snprintf(why, why_len, "lz4 stream is corrupt");
			return -1;
		}
		o->len += (size_t)r;
		pos += 4 + n;
	}
	*consumed = pos;
	return 0;
}

static int lz4_legacy_compress(int level, const uint8_t *in, size_t len,
			       struct obuf *o, char *why, size_t why_len)
{
	size_t chunks = len / LZ4_LEGACY_CHUNK + 1;
	size_t cap = 4 + chunks * (4 + (size_t)LZ4_compressBound(LZ4_LEGACY_CHUNK));
	size_t pos;

	o->p = malloc(cap);
	if (!o->p) {
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	o->cap = cap;
	fw_put_le32(o->p, LZ4_LEGACY_MAGIC);
	o->len = 4;
	for (pos = 0; pos < len; pos += LZ4_LEGACY_CHUNK) {
		size_t n = len - pos < LZ4_LEGACY_CHUNK ? len - pos : LZ4_LEGACY_CHUNK;
		int r = LZ4_compress_HC((const char *)in + pos,
					(char *)o->p + o->len + 4, (int)n,
					(int)(o->cap - o->len - 4), level);

		if (r <= 0) {
			snprintf(why, why_len, "lz4 compression failed");
			return -1;
		}
		fw_put_le32(o->p + o->len, (uint32_t)r);
		o->len += 4 + (size_t)r;
	}
	return 0;
}

int fw_decompress_stream(enum fw_codec codec, const uint8_t *in, size_t len,
			 size_t limit, struct fw_codec_params *p,
			 uint8_t **out, size_t *out_len,
			 char *why, size_t why_len)
{
	struct obuf o = { 0 };
	int rc = -1;

	o.limit = limit;
	why[0] = '\0';
	memset(p, 0, sizeof(*p));
	p->codec = codec;
	switch (codec) {
	case FW_CODEC_GZIP:
		rc = gz_run(1, 0, in, len, limit, &o, &p->consumed, why, why_len);
		break;
	case FW_CODEC_XZ:
	case FW_CODEC_LZMA: {
		lzma_stream s = LZMA_STREAM_INIT;
		lzma_ret r;

		if (codec == FW_CODEC_XZ) {
			xz_settings(in, len, p);
			/* one stream, no LZMA_CONCATENATED: it stops at its end */
			r = lzma_stream_decoder(&s, FW_DECODER_MEM_MAX, 0);
		} else {
			if (!lzma_alone_header(in, len)) {
				snprintf(why, why_len, "not an lzma stream");
				break;
			}
			p->lzma_props = in[0];
			p->dict_size = fw_le32(in + 1);
			r = lzma_alone_decoder(&s, FW_DECODER_MEM_MAX);
		}
		if (r != LZMA_OK) {
			snprintf(why, why_len, "lzma init failed");
			break;
		}
		rc = xz_run(&s, in, len, &o, &p->consumed, why, why_len);
		break;
	}
	case FW_CODEC_ZSTD: {
		ZSTD_frameHeader fh;
		size_t n = ZSTD_findFrameCompressedSize(in, len);

		if (ZSTD_isError(n) || ZSTD_getFrameHeader(&fh, in, len) != 0) {
			snprintf(why, why_len, "zstd stream is corrupt or truncated");
			break;
		}
		p->zstd_content_size = fh.frameContentSize != ZSTD_CONTENTSIZE_UNKNOWN;
		for (p->zstd_window_log = 10;
		     (1ull << p->zstd_window_log) < fh.windowSize &&
		     p->zstd_window_log < 31; p->zstd_window_log++)
			;
		p->consumed = n;
		rc = zstd_decompress(in, n, &o, p, why, why_len);
		break;
	}
	case FW_CODEC_LZ4:
		if (len < 4 || fw_le32(in) != LZ4_LEGACY_MAGIC) {
			snprintf(why, why_len, "not an lz4 legacy stream");
			break;
		}
		rc = lz4_legacy_decompress(in, len, &o, &p->consumed, why, why_len);
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

/* A peek takes at most FW_DECODER_MEM_MAX too: the lzma header is a
 * loose match, and one that asks for a 2 GiB dictionary (13 bytes of
 * anything) made every bid of a blob allocate it. */
size_t fw_decompress_head(enum fw_codec codec, const uint8_t *in, size_t len,
			  uint8_t *out, size_t want)
{
	size_t got = 0;

	switch (codec) {
	case FW_CODEC_GZIP: {
		z_stream z;
		int rc;

		memset(&z, 0, sizeof(z));
		if (inflateInit2(&z, 31) != Z_OK)
			return 0;
		z.next_in = (Bytef *)in;
		z.avail_in = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
		z.next_out = out;
		z.avail_out = (uInt)want;
		do
			rc = inflate(&z, Z_SYNC_FLUSH);
		while (rc == Z_OK && z.avail_out && z.avail_in);
		got = want - z.avail_out;
		inflateEnd(&z);
		break;
	}
	case FW_CODEC_XZ:
	case FW_CODEC_LZMA: {
		lzma_stream s = LZMA_STREAM_INIT;
		lzma_ret r;

		r = codec == FW_CODEC_XZ ?
		    lzma_stream_decoder(&s, FW_DECODER_MEM_MAX, 0) :
		    lzma_alone_decoder(&s, FW_DECODER_MEM_MAX);
		if (r != LZMA_OK)
			return 0;
		s.next_in = in;
		s.avail_in = len;
		s.next_out = out;
		s.avail_out = want;
		do
			r = lzma_code(&s, LZMA_RUN);
		while (r == LZMA_OK && s.avail_out && s.avail_in);
		got = want - s.avail_out;
		lzma_end(&s);
		break;
	}
	case FW_CODEC_ZSTD: {
		ZSTD_DStream *d = ZSTD_createDStream();
		ZSTD_inBuffer ib = { in, len, 0 };
		ZSTD_outBuffer ob = { out, want, 0 };
		size_t r;

		if (!d)
			return 0;
		do
			r = ZSTD_decompressStream(d, &ob, &ib);
		while (!ZSTD_isError(r) && r && ob.pos < ob.size &&
		       ib.pos < ib.size);
		got = ob.pos;
		ZSTD_freeDStream(d);
		break;
	}
	case FW_CODEC_LZ4: {
		uint32_t n;
		int r;

		if (len < 8 || fw_le32(in) != LZ4_LEGACY_MAGIC)
			return 0;
		n = fw_le32(in + 4);
		if (n > len - 8)
			n = (uint32_t)(len - 8);
		r = LZ4_decompress_safe_partial((const char *)in + 8, (char *)out,
						(int)n, (int)want, (int)want);
		got = r > 0 ? (size_t)r : 0;
		break;
	}
	default:
		break;
	}
	return got;
}
