// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A kernel's xz payload with a few bytes changed near its end (the
 * certificate slot lies at 99.7% of an x86 vmlinux) need not be compressed
 * again from the start.  An xz stream of one block holds LZMA2 chunks; the
 * range coder restarts at each chunk, so the chunks before the change are
 * kept byte for byte and only the rest is encoded again, as LZMA2 chunks
 * that reset the coder state and keep the dictionary (control 0xc0).  The
 * encoder is given as a preset dictionary what the decoder holds there:
 * the filtered bytes before the cut, decoded from the kept chunks.  The
 * block's check, the index and the footer are written again.
 *
 * Measured on the test kernel (14.1 MB x86 vmlinux, xz_wrap.sh's
 * --x86 --lzma2=dict=32MiB): 1.1 s of CPU against 1.9 s for compressing
 * it all again, and 544 bytes bigger (0.04%).  With less of the file as
 * dictionary (1-8 MiB) the new tail came out 2-5 KB bigger than the old
 * one, more than a bzImage has room for; so the whole window is given,
 * and hash chains (HC4) rather than binary trees make it cheap to load.
 *
 * A branch filter (BCJ) runs before LZMA2, and LZMA2 sees its output.
 * The cut is a chunk start at least 5 bytes before the first change (a
 * branch instruction's reach), and the filter starts again at q, at or
 * just before the cut, where started afresh (start_offset) it does what it
 * did when it ran from the start: the stateless filters (ARM, ARM-Thumb,
 * ARM64, PowerPC, SPARC, IA-64) on their alignment; x86 also with no
 * 0xe8/0xe9 opcode byte in the 5 bytes before q.  Its output from q must
 * equal what the kept chunks hold up to the cut, and go back through the
 * filter's decoder to the new bytes.  LZMA's position bits (pb, lp) count
 * from the start of the dictionary: its start is kept on a multiple of 16.
 *
 * The new tail is decoded again from the same dictionary and compared
 * with the new bytes before it is used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lzma.h>

#include "codec.h"

#define SPLICE_CHUNKS_MAX 65536

struct chunk {
	size_t coff;	/* chunk header, from the block's data start */
	size_t upos;	/* uncompressed (filtered) position */
};

/* The chunk starts of an LZMA2 stream; its total output in *ulen. */
static int lzma2_chunks(const uint8_t *d, size_t len, struct chunk **out,
			size_t *n, size_t *ulen, uint8_t *props)
{
	struct chunk *c = NULL;
	size_t off = 0, upos = 0, k = 0, cap = 0;

	*props = 0;
	for (;;) {
		unsigned ctl;
		size_t usz, csz, hdr;

		if (off >= len)
			goto bad;
		ctl = d[off];
		if (ctl == 0)
			break;
		if (k == cap) {
			struct chunk *t;

			if (cap >= SPLICE_CHUNKS_MAX)
				goto bad;
			cap = cap ? cap * 2 : 256;
			t = realloc(c, cap * sizeof(*c));
			if (!t)
				goto bad;
			c = t;
		}
		c[k].coff = off;
		c[k++].upos = upos;
		if (ctl == 1 || ctl == 2) {
			if (len - off < 3)
				goto bad;
			usz = ((size_t)d[off + 1] << 8 | d[off + 2]) + 1;
			csz = usz;
			hdr = 3;
		} else if (ctl >= 0x80) {
			if (len - off < 5)
				goto bad;
			usz = ((size_t)(ctl & 0x1f) << 16 |
			       (size_t)d[off + 1] << 8 | d[off + 2]) + 1;
			csz = ((size_t)d[off + 3] << 8 | d[off + 4]) + 1;
			hdr = ctl >= 0xc0 ? 6 : 5;
			if (ctl >= 0xc0 && !*props && len - off > 5)
				*props = d[off + 5];
		} else {
			goto bad;
		}
		if (len - off < hdr || len - off - hdr < csz)
			goto bad;
		off += hdr + csz;
		upos += usz;
	}
	*out = c;
	*n = k;
	*ulen = upos;
	return 0;
bad:
	free(c);
	return -1;
}

static int filter_align(lzma_vli id)
{
	switch (id) {
	case LZMA_FILTER_X86: return 1;
	case LZMA_FILTER_ARMTHUMB: return 2;
	case LZMA_FILTER_ARM:
	case LZMA_FILTER_POWERPC:
	case LZMA_FILTER_SPARC: return 4;
#ifdef LZMA_FILTER_ARM64
	case LZMA_FILTER_ARM64: return 4;
#endif
	case LZMA_FILTER_IA64: return 16;
	default: return 0;
	}
}

/* The branch filter, started at pos, acts as it did from the start. */
static int bcj_fresh(lzma_vli bcj, const uint8_t *plain, size_t pos)
{
	int a = bcj ? filter_align(bcj) : 1;

	if (pos == 0)
		return 1;
	if (!a || pos % (size_t)a)
		return 0;
	if (bcj == LZMA_FILTER_X86) {
		if (pos < 5)
			return 0;
		for (size_t i = pos - 5; i < pos; i++)
			if (plain[i] == 0xe8 || plain[i] == 0xe9)
				return 0;
	}
	return 1;
}

/* Raw encode (filters f) of in[0..len) in full, into *out. */
static int raw_encode(const lzma_filter *f, const uint8_t *in, size_t len,
		      uint8_t **out, size_t *out_len)
{
	size_t cap = len + len / 8 + 4096, pos = 0;
	uint8_t *o = malloc(cap);

	if (!o)
		return -1;
	if (lzma_raw_buffer_encode(f, NULL, in, len, o, &pos, cap) != LZMA_OK) {
		free(o);
		return -1;
	}
	*out = o;
	*out_len = pos;
	return 0;
}

/* Raw decode (filters f) of in[0..len) into out[0..want): all of it. */
static int raw_decode(const lzma_filter *f, const uint8_t *in, size_t len,
		      uint8_t *out, size_t want, int finish)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret r;
	size_t got;

	if (lzma_raw_decoder(&s, f) != LZMA_OK)
		return -1;
	s.next_in = in;
	s.avail_in = len;
	s.next_out = out;
	s.avail_out = want;
	r = lzma_code(&s, finish ? LZMA_FINISH : LZMA_RUN);
	got = want - s.avail_out;
	lzma_end(&s);
	if (got != want || s.avail_in ||
	    (finish ? r != LZMA_STREAM_END : r != LZMA_OK))
		return -1;
	return 0;
}

/* The branch filter started at start, then a fast LZMA2 (preset 0). */
static void bcj_chain(lzma_filter f[3], lzma_vli bcj, lzma_options_bcj *bo,
		      size_t start, lzma_options_lzma *lo)
{
	memset(bo, 0, sizeof(*bo));
	bo->start_offset = (uint32_t)start;
	lzma_lzma_preset(lo, 0);
	f[0].id = bcj;
	f[0].options = bo;
	f[1].id = LZMA_FILTER_LZMA2;
	f[1].options = lo;
	f[2].id = LZMA_VLI_UNKNOWN;
}

/*
 * The filtered bytes of plain[from..to) (the branch filter started at
 * from): liblzma runs a branch filter only before LZMA, so encode with a
 * fast LZMA2 behind it and decode the LZMA2 alone.  Used on the tail.
 */
static uint8_t *filtered(lzma_vli bcj, const uint8_t *plain, size_t from,
			 size_t to)
{
	lzma_options_bcj bo;
	lzma_options_lzma lo;
	lzma_filter f[3];
	uint8_t *z = NULL, *r = malloc(to - from);
	size_t zl;

	bcj_chain(f, bcj, &bo, from, &lo);
	if (!r || raw_encode(f, plain + from, to - from, &z, &zl) ||
	    raw_decode(f + 1, z, zl, r, to - from, 1)) {
		free(r);
		r = NULL;
	}
	free(z);
	return r;
}

/*
 * The branch filter's decoder, started at at, makes want[0..n) of the
 * filtered bytes fb: they go through it as LZMA2 chunks stored
 * uncompressed (64 KiB each, the first one resetting the dictionary).
 */
static int bcj_reads_back(lzma_vli bcj, size_t at, const uint8_t *fb,
			  size_t n, const uint8_t *want)
{
	lzma_options_bcj bo;
	lzma_options_lzma lo;
	lzma_filter f[3];
	size_t sl = n + (n / 65536 + 1) * 3 + 1, o = 0;
	uint8_t *st = malloc(sl), *got = malloc(n ? n : 1);
	int ok = 0;

	bcj_chain(f, bcj, &bo, at, &lo);
	if (!st || !got)
		goto out;
	for (size_t i = 0; i < n; i += 65536) {
		size_t c = n - i < 65536 ? n - i : 65536;

		st[o++] = i ? 2 : 1;
		st[o++] = (uint8_t)((c - 1) >> 8);
		st[o++] = (uint8_t)(c - 1);
		memcpy(st + o, fb + i, c);
		o += c;
	}
	st[o++] = 0;
	ok = !raw_decode(f, st, o, got, n, 1) && !memcmp(got, want, n);
out:
	free(st);
	free(got);
	return ok;
}

static void put_check(lzma_check check, const uint8_t *b, size_t n,
		      uint8_t *out)
{
	if (check == LZMA_CHECK_CRC32) {
		uint32_t v = lzma_crc32(b, n, 0);

		for (int i = 0; i < 4; i++)
			out[i] = (uint8_t)(v >> (8 * i));
	} else if (check == LZMA_CHECK_CRC64) {
		uint64_t v = lzma_crc64(b, n, 0);

		for (int i = 0; i < 8; i++)
			out[i] = (uint8_t)(v >> (8 * i));
	}
}

int fw_xz_splice(const uint8_t *in, size_t len, const uint8_t *oldp,
		 const uint8_t *newp, size_t n, uint8_t **out, size_t *out_len)
{
	lzma_stream_flags sh, sf;
	lzma_filter bf[LZMA_FILTERS_MAX + 1];
	lzma_block blk;
	lzma_index *idx = NULL;
	lzma_index_iter it;
	lzma_options_lzma lo;
	lzma_vli bcj = 0;
	lzma_filter lz[2];
	struct chunk *ch = NULL;
	size_t nch = 0, ulen, d, k, hsz, csz, csize, dstart, pos, q, from;
	size_t tl = 0, isz, olen, o, index_at;
	uint8_t props, *dict = NULL, *tail = NULL, *res = NULL, *back = NULL;
	uint8_t *fnew = NULL;
	const uint8_t *ftail;
	uint64_t memlimit = UINT64_MAX;
	uint32_t lzma2_dict = 0;
	int nf = 0, rc = 1;

	memset(bf, 0, sizeof(bf));
	for (int i = 0; i <= LZMA_FILTERS_MAX; i++)
		bf[i].id = LZMA_VLI_UNKNOWN;
	/* One stream (no padding after it: the caller cut it), one block. */
	if (len < 2 * LZMA_STREAM_HEADER_SIZE + 8 ||
	    lzma_stream_header_decode(&sh, in) != LZMA_OK ||
	    lzma_stream_footer_decode(&sf, in + len - LZMA_STREAM_HEADER_SIZE)
	    != LZMA_OK || lzma_stream_flags_compare(&sh, &sf) != LZMA_OK)
		return 1;
	if (sh.check != LZMA_CHECK_NONE && sh.check != LZMA_CHECK_CRC32 &&
	    sh.check != LZMA_CHECK_CRC64)
		return 1;
	if (sf.backward_size > len - 2 * LZMA_STREAM_HEADER_SIZE)
		return 1;
	index_at = len - LZMA_STREAM_HEADER_SIZE - (size_t)sf.backward_size;
	{
		size_t ip = index_at;

		if (lzma_index_buffer_decode(&idx, &memlimit, NULL, in, &ip,
					     len - LZMA_STREAM_HEADER_SIZE) !=
		    LZMA_OK)
			return 1;
	}
	lzma_index_iter_init(&it, idx);
	if (lzma_index_block_count(idx) != 1 ||
	    lzma_index_iter_next(&it, LZMA_INDEX_ITER_BLOCK) ||
	    it.block.uncompressed_size != n ||
	    it.block.unpadded_size > index_at - LZMA_STREAM_HEADER_SIZE)
		goto out;
	/* The block header: no size fields, filters [BCJ] LZMA2. */
	memset(&blk, 0, sizeof(blk));
	blk.version = 1;
	blk.check = sh.check;
	blk.filters = bf;
	blk.header_size = lzma_block_header_size_decode(
		in[LZMA_STREAM_HEADER_SIZE]);
	hsz = blk.header_size;
	if (in[LZMA_STREAM_HEADER_SIZE] == 0 ||
	    hsz > index_at - LZMA_STREAM_HEADER_SIZE ||
	    lzma_block_header_decode(&blk, NULL, in + LZMA_STREAM_HEADER_SIZE)
	    != LZMA_OK)
		goto out;
	if (blk.compressed_size != LZMA_VLI_UNKNOWN ||
	    blk.uncompressed_size != LZMA_VLI_UNKNOWN)
		goto out;
	for (int i = 0; bf[i].id != LZMA_VLI_UNKNOWN; i++)
		nf++;
	if (nf == 2 && filter_align(bf[0].id) && !bf[0].options)
		bcj = bf[0].id;
	else if (nf != 1)
		goto out;
	if (bf[nf - 1].id != LZMA_FILTER_LZMA2 || !bf[nf - 1].options)
		goto out;
	lzma2_dict = ((lzma_options_lzma *)bf[nf - 1].options)->dict_size;
	csize = (size_t)it.block.unpadded_size - hsz -
		lzma_check_size(sh.check);
	dstart = LZMA_STREAM_HEADER_SIZE + hsz;
	if ((size_t)it.block.unpadded_size < hsz + lzma_check_size(sh.check) ||
	    lzma2_chunks(in + dstart, csize, &ch, &nch, &ulen, &props) ||
	    ulen != n || !props)
		goto out;
	/*
	 * The first byte that differs, and the last chunk start that the
	 * branch filter's reach (4 bytes) keeps clear of it.
	 */
	for (d = 0; d < n && oldp[d] == newp[d]; d++)
		;
	for (k = nch; k-- > 1;)
		if (ch[k].upos + 5 <= d)
			break;
	if (k == 0 || k == (size_t)-1)
		goto out;
	pos = ch[k].upos;
	/* Where the branch filter can start afresh, at or before pos. */
	for (q = pos; !bcj_fresh(bcj, oldp, q); q--)
		;
	/*
	 * The dictionary the decoder holds at pos (its last dict_size bytes,
	 * starting on a multiple of 16): the filtered bytes, from the kept
	 * chunks; without a branch filter, the old bytes themselves.  And
	 * the new filtered bytes from q on.
	 */
	from = pos > lzma2_dict ? (pos - lzma2_dict + 15) & ~(size_t)15 : 0;
	lzma_lzma_preset(&lo, 6);
	lo.dict_size = lzma2_dict;
	lo.lc = props % 9;
	lo.lp = props / 9 % 5;
	lo.pb = props / 45;
	lz[0].id = LZMA_FILTER_LZMA2;
	lz[0].options = &lo;
	lz[1].id = LZMA_VLI_UNKNOWN;
	if (bcj) {
		dict = malloc(pos);
		fnew = filtered(bcj, newp, q, n);
		if (!dict || !fnew ||
		    raw_decode(lz, in + dstart, ch[k].coff, dict, pos, 0)) {
			rc = -1;
			goto out;
		}
		/* The kept chunks hold what the filter makes of the new bytes. */
		if (memcmp(dict + q, fnew, pos - q))
			goto out;
		if (!bcj_reads_back(bcj, q, fnew, n - q, newp + q))
			goto out;
	}
	lo.preset_dict = (bcj ? dict : oldp) + from;
	lo.preset_dict_size = (uint32_t)(pos - from);
	lo.mf = LZMA_MF_HC4;
	lo.nice_len = 273;
	lo.depth = 0;
	ftail = bcj ? fnew + (pos - q) : newp + pos;
	if (raw_encode(lz, ftail, n - pos, &tail, &tl)) {
		rc = -1;
		goto out;
	}
	/* What a decoder holding that dictionary makes of the new chunks. */
	back = malloc(n - pos);
	if (!back || raw_decode(lz, tail, tl, back, n - pos, 1) ||
	    memcmp(back, ftail, n - pos)) {
		rc = back ? 1 : -1;
		goto out;
	}
	/* Stream header, block header, kept chunks, new chunks, padding,
	 * check, index, footer. */
	csz = ch[k].coff + tl;
	{
		lzma_index *ni = lzma_index_init(NULL);
		lzma_vli unpadded = hsz + csz + lzma_check_size(sh.check);
		size_t blk_end = dstart + csz, pad = (4 - blk_end % 4) % 4;
		size_t ip = 0;

		if (!ni || lzma_index_append(ni, NULL, unpadded, n) != LZMA_OK) {
			lzma_index_end(ni, NULL);
			rc = -1;
			goto out;
		}
		isz = (size_t)lzma_index_size(ni);
		olen = blk_end + pad + lzma_check_size(sh.check) + isz +
		       LZMA_STREAM_HEADER_SIZE;
		res = malloc(olen);
		if (!res) {
			lzma_index_end(ni, NULL);
			rc = -1;
			goto out;
		}
		memcpy(res, in, dstart + ch[k].coff);
		memcpy(res + dstart + ch[k].coff, tail, tl);
		o = blk_end;
		memset(res + o, 0, pad);
		o += pad;
		put_check(sh.check, newp, n, res + o);
		o += lzma_check_size(sh.check);
		ip = o;
		if (lzma_index_buffer_encode(ni, res, &ip, olen) != LZMA_OK ||
		    ip != o + isz) {
			lzma_index_end(ni, NULL);
			rc = -1;
			goto out;
		}
		lzma_index_end(ni, NULL);
		o += isz;
		sf.backward_size = isz;
		if (lzma_stream_footer_encode(&sf, res + o) != LZMA_OK) {
			rc = -1;
			goto out;
		}
	}
	*out = res;
	*out_len = olen;
	res = NULL;
	rc = 0;
out:
	for (int i = 0; bf[i].id != LZMA_VLI_UNKNOWN; i++)
		free(bf[i].options);
	lzma_index_end(idx, NULL);
	free(ch);
	free(dict);
	free(fnew);
	free(tail);
	free(back);
	free(res);
	return rc;
}
