// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The squashfs writer: a new image in which only what signing changed is
 * compressed again.  The tree-to-image serialiser of squashfs-tools is not
 * in libsquashfs, so the layout is done here, the way mksquashfs does it:
 *
 *   superblock, compressor options (copied), file data and fragment blocks,
 *   inode table, directory table, fragment table, export table, id table,
 *   xattr table, padding to 4 KiB.
 *
 * Data is laid out in the input's order.  An unchanged file's blocks are
 * copied as they are on disk.  A signed file is its old bytes plus a
 * trailer, so its whole blocks before the old end are usually the old
 * ones: each is compared (by the digest noted when the engine read it) and
 * copied when equal; the rest, in practice the old tail and the trailer,
 * is compressed, on all cores.  Fragment blocks that held no changed
 * file's tail are copied; the others are unpacked and their live tails
 * packed again with the new ones, at content-defined boundaries (see
 * frag_add).  The compressors are set up as
 * mksquashfs sets them up from the stored options, so that what is
 * compressed again comes out as mksquashfs would write it, and an image
 * with nothing to sign comes out byte-identical.
 *
 * Metadata: inodes are written children first, in directory order, as
 * mksquashfs does (a directory's listing needs its children's inode
 * references, its inode needs the listing's), with their numbers, owners
 * (same id table order), modes, times and link counts; the xattr table is
 * copied whole, unless signing set xattrs (IMA): then a new one is made
 * with every inode's old xattrs and the new ones.  Nothing depends on the
 * clock: the output is reproducible.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <lz4.h>
#include <lz4hc.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>
#include <sqfs/block.h>
#include <sqfs/compressor.h>
#include <sqfs/dir.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/meta_reader.h>
#include <sqfs/meta_writer.h>
#include <sqfs/table.h>
#include <sqfs/xattr_writer.h>

#include "squashfs.h"
#include "../src/io.h"
#include "../src/bytes.h"
#include "../src/cache_int.h"
#include "../src/spillmap.h"

/* A file's tail: none, in an input fragment block, at a packer serial,
 * or at its final fragment index. */
enum { FK_NONE, FK_ORIG, FK_NEW, FK_IDX };

/* What signing changed of an inode: its content, or its xattrs.  Only
 * the few inodes signing touched have one. */
struct wchg {
	size_t ino;
	int changed;		/* new content */
	uint32_t *sizes;	/* the new block sizes */
	uint32_t nblocks;
	uint64_t size;
	uint64_t sparse;
	uint64_t data_at;	/* new content to compress, in the spill file */
	uint64_t len;		/* the new size */
	uint8_t *bkind;		/* B_* per block */
	struct fw_xattr *nx;	/* xattrs set by signing */
	size_t n_nx;
};

/* Where an inode's data went: kept small, as every inode has one (the
 * rest of the inode is read again from the input's inode table). */
struct wino {
	uint64_t start;
	uint64_t ref;		/* the new inode reference */
	uint32_t frag_a;	/* block, serial or index, as frag_kind says */
	uint32_t frag_off;
	uint32_t share;		/* 1 + the inode whose copied blocks it shares */
	uint8_t frag_kind;
	uint8_t done;		/* data written */
	uint8_t changed;	/* new content (x holds it) */
	uint8_t emitted;	/* inode written */
	struct wchg *x;		/* NULL: signing left it as it was */
};

struct frag_ent {
	uint64_t start;
	uint32_t size;
	uint64_t key;	/* orders the final table; see number_fragments */
};

struct sq_out {
	struct fw_image *img;
	struct sq_priv *p;
	struct fw_outfile of;
	uint64_t max_size;
	int jobs;			/* compressing threads; 0: all cores */
	sqfs_file_t *file;
	sqfs_compressor_t *cmp;		/* data: made early to fail early;
					 * each worker makes its own */
	sqfs_compressor_t *mcmp;	/* metadata: xz differs */
	sqfs_compressor_t store;	/* never compresses: -noI, -noD ... */
	struct sq_slot *slot;
	size_t bs;
	uint64_t pos;			/* where the next data goes */
	struct wino *w;			/* made at commit */
	/* until then, what signing changed: inode -> xs[] */
	struct fw_hmap xmap;
	struct wchg **xs;
	size_t n_xs, cap_xs;
	/* per-inode tables the current step does not need wait in the spill
	 * file: the tree (node, names) until the metadata is written, the
	 * inodes while the data is compressed */
	uint64_t node_at, names_at, ino_at, ioe_at, w_at;
	uint8_t *cbuf;
	uint8_t *nbuf;			/* a block of a signed file's new bytes */
	/* what waits for commit (the new bytes of signed files, packed
	 * fragment blocks) waits in a file, not in memory */
	int spill_fd;
	uint64_t spill_end;
	/* fragment packing */
	uint8_t *pk;
	size_t pk_used;
	uint32_t pk_serial;
	uint32_t pk_origin;		/* the input fragment block the open
					 * block's first tail came from */
	uint32_t cur_origin;		/* ... the tail being packed */
	uint32_t *serial_idx;		/* packer serial -> fragment index */
	size_t cap_serial;
	struct frag_ent *ft;
	size_t n_ft, cap_ft;
	/* the last unchanged file whose blocks were copied: a file after it
	 * (data is laid out in the input's order) at the same place shares
	 * them, as it did in the input */
	int copy_on;
	uint64_t copy_pos;
	size_t copy_ino;
	size_t n_emitted;		/* inodes written */
	struct piece *pieces;		/* the data, planned */
	size_t n_pieces, cap_pieces;
	/* metadata */
	uint16_t *id_map;
	sqfs_id_table_t *ids;
	sqfs_meta_writer_t *im, *dm;
	sqfs_meta_reader_t *ir;		/* the input's inode table */
	/* a new xattr table: some inode got xattrs */
	int new_xattrs;
	sqfs_xattr_writer_t *xw;
	uint32_t *xid;			/* inode -> its new xattr index */
	/* compressed blocks shared with other runs, and what their keys
	 * start with: the codec, its settings, the libraries' versions */
	struct fw_cache *cache;
	uint8_t zc_prefix[512];
	size_t zc_prefix_len;
};

/* ---------------------------------------------------------------- */

static sqfs_s32 store_block(sqfs_compressor_t *c, const sqfs_u8 *in,
			    sqfs_u32 size, sqfs_u8 *out, sqfs_u32 outsize)
{
	(void)c;
	(void)in;
	(void)size;
	(void)out;
	(void)outsize;
	return 0;	/* "does not shrink": the caller stores it as is */
}

static void store_config(const sqfs_compressor_t *c,
			 sqfs_compressor_config_t *cfg)
{
	(void)c;
	memset(cfg, 0, sizeof(*cfg));
}

static int store_options(sqfs_compressor_t *c, sqfs_file_t *f)
{
	(void)c;
	(void)f;
	return 0;
}

static void store_destroy(sqfs_object_t *o)
{
	(void)o;
}

static int no_options(sqfs_compressor_t *c, sqfs_file_t *f)
{
	(void)c;
	(void)f;
	return 0;	/* the input's options block is copied instead */
}

/* A compressor of ours: its own block function, configuration and
 * destructor; options are never written or read through it. */
static void comp_init(sqfs_compressor_t *c,
		      void (*destroy)(sqfs_object_t *),
		      void (*config)(const sqfs_compressor_t *,
				     sqfs_compressor_config_t *),
		      sqfs_s32 (*do_block)(sqfs_compressor_t *, const sqfs_u8 *,
					   sqfs_u32, sqfs_u8 *, sqfs_u32))
{
	c->base.destroy = destroy;
	c->get_configuration = config;
	c->write_options = no_options;
	c->read_options = no_options;
	c->do_block = do_block;
}

/*
 * xz, done here with liblzma rather than by libsquashfs, which refuses
 * dictionaries under 8 KiB while mksquashfs writes 4 KiB ones for 4 KiB
 * blocks; the kernel then sizes its decoder from the stored option, so
 * the dictionary must be exactly that.  Like mksquashfs: preset 6 (the
 * level is not stored), CRC32, and with BCJ filters every one is tried
 * along with none, keeping the smallest; metadata blocks get no BCJ
 * filter and an 8 KiB dictionary (see xz_create for the exception).
 */
#define XZ_KEEP 16

struct sq_xz {
	sqfs_compressor_t base;
	uint32_t dict_size;
	uint32_t preset;
	lzma_vli bcj[7];
	size_t n_bcj;
	uint8_t *tmp;
	size_t tmp_len;
	lzma_allocator alloc;	/* opaque: this */
	uint8_t *keep[XZ_KEEP];	/* what the last encoder freed */
};

/*
 * liblzma makes and frees an encoder for every block: a few MiB, its
 * match finder's tables.  Through malloc they came, after the first
 * free, from the threads' arenas (glibc raises its mmap threshold to the
 * size of a big block freed), whose free space fragmented and grew with
 * the number of blocks compressed (issue #18).  Each compressor (one per
 * thread) keeps what an encoder freed for the next one, which asks for
 * the same sizes: the memory is the same after the first block, and no
 * block pays page faults for fresh tables.  A block's size is in the 16
 * bytes before it.
 */
#define XZ_HDR 16

static void *xz_alloc(void *opaque, size_t nmemb, size_t size)
{
	struct sq_xz *x = opaque;
	size_t n, have;
	uint8_t *p;

	if (size && nmemb > (SIZE_MAX - XZ_HDR) / size)
		return NULL;
	n = nmemb * size;
	for (int i = 0; i < XZ_KEEP; i++) {
		if (!x->keep[i])
			continue;
		memcpy(&have, x->keep[i], sizeof(have));
		if (have == n) {
			p = x->keep[i];
			x->keep[i] = NULL;
			return p + XZ_HDR;
		}
	}
	p = malloc(n + XZ_HDR);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + XZ_HDR;
}

static void xz_free(void *opaque, void *ptr)
{
	struct sq_xz *x = opaque;
	uint8_t *p = ptr ? (uint8_t *)ptr - XZ_HDR : NULL;

	if (!p)
		return;
	for (int i = 0; i < XZ_KEEP; i++) {
		if (!x->keep[i]) {
			x->keep[i] = p;
			return;
		}
	}
	free(p);
}

static sqfs_s32 xz_do_block(sqfs_compressor_t *c, const sqfs_u8 *in,
			    sqfs_u32 size, sqfs_u8 *out, sqfs_u32 outsize)
{
	struct sq_xz *x = (struct sq_xz *)c;
	size_t best = 0;

	if (outsize > x->tmp_len) {
		uint8_t *q = realloc(x->tmp, outsize);

		if (!q)
			return SQFS_ERROR_ALLOC;
		x->tmp = q;
		x->tmp_len = outsize;
	}
	for (size_t i = 0; i < x->n_bcj; i++) {
		lzma_options_lzma opt;
		lzma_filter f[3];
		size_t pos = 0, k = 0;
		lzma_ret r;

		if (lzma_lzma_preset(&opt, x->preset))
			return SQFS_ERROR_COMPRESSOR;
		opt.dict_size = x->dict_size;
		if (x->bcj[i] != LZMA_VLI_UNKNOWN)
			f[k++] = (lzma_filter){ x->bcj[i], NULL };
		f[k++] = (lzma_filter){ LZMA_FILTER_LZMA2, &opt };
		f[k] = (lzma_filter){ LZMA_VLI_UNKNOWN, NULL };
		r = lzma_stream_buffer_encode(f, LZMA_CHECK_CRC32, &x->alloc,
					      in, size, x->tmp, &pos, outsize);
		if (r == LZMA_BUF_ERROR)
			continue;	/* does not fit: try the next */
		if (r != LZMA_OK)
			return SQFS_ERROR_COMPRESSOR;
		if (pos < size && (!best || pos < best)) {
			memcpy(out, x->tmp, pos);
			best = pos;
		}
	}
	return (sqfs_s32)best;
}

static void xz_destroy(sqfs_object_t *o)
{
	struct sq_xz *x = (struct sq_xz *)o;

	for (int i = 0; i < XZ_KEEP; i++)
		free(x->keep[i]);
	free(x->tmp);
	free(x);
}

static void xz_config(const sqfs_compressor_t *c, sqfs_compressor_config_t *cfg)
{
	(void)c;
	memset(cfg, 0, sizeof(*cfg));
	cfg->id = SQFS_COMP_XZ;
}

static sqfs_compressor_t *xz_create(const struct sq_priv *p, int data)
{
	static const struct { unsigned flag; lzma_vli id; } bcj[] = {
		{ SQFS_COMP_FLAG_XZ_X86, LZMA_FILTER_X86 },
		{ SQFS_COMP_FLAG_XZ_POWERPC, LZMA_FILTER_POWERPC },
		{ SQFS_COMP_FLAG_XZ_IA64, LZMA_FILTER_IA64 },
		{ SQFS_COMP_FLAG_XZ_ARM, LZMA_FILTER_ARM },
		{ SQFS_COMP_FLAG_XZ_ARMTHUMB, LZMA_FILTER_ARMTHUMB },
		{ SQFS_COMP_FLAG_XZ_SPARC, LZMA_FILTER_SPARC },
	};
	struct sq_xz *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	comp_init(&x->base, xz_destroy, xz_config, xz_do_block);
	x->alloc = (lzma_allocator){ xz_alloc, xz_free, x };
	/*
	 * mksquashfs compresses metadata with an 8 KiB dictionary; the
	 * kernel sizes its decoder from the stored option, so when that
	 * is smaller (mksquashfs -b 4K -Xbcj writes 4 KiB) mksquashfs's
	 * own image does not mount.  Keep within the stored size then.
	 */
	x->dict_size = p->opt.dict;
	if (!data && (x->dict_size >= 8192 ||
		      !(p->super.flags & SQFS_FLAG_COMPRESSOR_OPTIONS)))
		x->dict_size = 8192;
	if (x->dict_size < LZMA_DICT_SIZE_MIN)
		x->dict_size = LZMA_DICT_SIZE_MIN;
	x->preset = LZMA_PRESET_DEFAULT;
	x->bcj[x->n_bcj++] = LZMA_VLI_UNKNOWN;	/* no BCJ filter */
	for (size_t i = 0; data && i < sizeof(bcj) / sizeof(bcj[0]); i++)
		if (p->opt.flags & bcj[i].flag)
			x->bcj[x->n_bcj++] = bcj[i].id;
	return &x->base;
}

/* gzip (zlib streams) as mksquashfs does it: its level and window, and
 * for data blocks each selected strategy in turn, keeping the smallest. */
struct sq_gzip {
	sqfs_compressor_t base;
	z_stream z;
	int level;
	int strategy[5];
	size_t n;
	uint8_t *tmp;
	size_t tmp_len;
};

static sqfs_s32 gzip_do_block(sqfs_compressor_t *c, const sqfs_u8 *in,
			      sqfs_u32 size, sqfs_u8 *out, sqfs_u32 outsize)
{
	struct sq_gzip *g = (struct sq_gzip *)c;
	size_t best = 0;

	if (g->n > 1 && outsize > g->tmp_len) {
		uint8_t *q = realloc(g->tmp, outsize);

		if (!q)
			return SQFS_ERROR_ALLOC;
		g->tmp = q;
		g->tmp_len = outsize;
	}
	for (size_t i = 0; i < g->n; i++) {
		int r;

		if (deflateReset(&g->z) != Z_OK)
			return SQFS_ERROR_COMPRESSOR;
		g->z.next_in = (Bytef *)in;
		g->z.avail_in = size;
		g->z.next_out = i ? g->tmp : out;
		g->z.avail_out = outsize;
		if (g->n > 1 &&
		    deflateParams(&g->z, g->level, g->strategy[i]) != Z_OK)
			return SQFS_ERROR_COMPRESSOR;
		g->z.total_out = 0;
		r = deflate(&g->z, Z_FINISH);
		if (r != Z_STREAM_END && r != Z_OK && r != Z_BUF_ERROR)
			return SQFS_ERROR_COMPRESSOR;
		if (r == Z_STREAM_END && (!best || g->z.total_out < best)) {
			if (i)	/* the first strategy wrote to out itself */
				memcpy(out, g->tmp, g->z.total_out);
			best = g->z.total_out;
		}
	}
	return best < size ? (sqfs_s32)best : 0;
}

static void gzip_destroy(sqfs_object_t *o)
{
	struct sq_gzip *g = (struct sq_gzip *)o;

	deflateEnd(&g->z);
	free(g->tmp);
	free(g);
}

static void gzip_config(const sqfs_compressor_t *c,
			sqfs_compressor_config_t *cfg)
{
	(void)c;
	memset(cfg, 0, sizeof(*cfg));
	cfg->id = SQFS_COMP_GZIP;
}

static sqfs_compressor_t *gzip_create(const struct sq_priv *p, int data)
{
	static const int strategies[] = { Z_DEFAULT_STRATEGY, Z_FILTERED,
					  Z_HUFFMAN_ONLY, Z_RLE, Z_FIXED };
	struct sq_gzip *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	comp_init(&g->base, gzip_destroy, gzip_config, gzip_do_block);
	g->level = (int)p->opt.level;
	for (size_t i = 0; data && i < 5; i++)
		if (p->opt.strategies & (1u << i))
			g->strategy[g->n++] = strategies[i];
	if (!g->n)
		g->strategy[g->n++] = Z_DEFAULT_STRATEGY;
	if (deflateInit2(&g->z, g->level, Z_DEFLATED, (int)p->opt.window, 8,
			 g->strategy[0]) != Z_OK) {
		free(g);
		return NULL;
	}
	return &g->base;
}

/* zstd at the stored level, as mksquashfs does it. */
struct sq_zstd {
	sqfs_compressor_t base;
	ZSTD_CCtx *cctx;
	int level;
};

static sqfs_s32 zstd_do_block(sqfs_compressor_t *c, const sqfs_u8 *in,
			      sqfs_u32 size, sqfs_u8 *out, sqfs_u32 outsize)
{
	struct sq_zstd *z = (struct sq_zstd *)c;
	size_t r = ZSTD_compressCCtx(z->cctx, out, outsize, in, size, z->level);

	if (ZSTD_isError(r))
		return ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall ?
		       0 : SQFS_ERROR_COMPRESSOR;
	return r < size ? (sqfs_s32)r : 0;
}

static void zstd_destroy(sqfs_object_t *o)
{
	struct sq_zstd *z = (struct sq_zstd *)o;

	ZSTD_freeCCtx(z->cctx);
	free(z);
}

static void zstd_config(const sqfs_compressor_t *c,
			sqfs_compressor_config_t *cfg)
{
	(void)c;
	memset(cfg, 0, sizeof(*cfg));
	cfg->id = SQFS_COMP_ZSTD;
}

static sqfs_compressor_t *zstd_create(const struct sq_priv *p)
{
	struct sq_zstd *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	comp_init(&z->base, zstd_destroy, zstd_config, zstd_do_block);
	z->level = (int)p->opt.level;
	z->cctx = ZSTD_createCCtx();
	if (!z->cctx) {
		free(z);
		return NULL;
	}
	return &z->base;
}

/* lz4 as mksquashfs does it (libsquashfs's HC level differs): the
 * default compressor, or HC at its highest level. */
struct sq_lz4 {
	sqfs_compressor_t base;
	int hc;
};

static sqfs_s32 lz4_do_block(sqfs_compressor_t *c, const sqfs_u8 *in,
			     sqfs_u32 size, sqfs_u8 *out, sqfs_u32 outsize)
{
	int r = ((struct sq_lz4 *)c)->hc ?
		LZ4_compress_HC((const char *)in, (char *)out, (int)size,
				(int)outsize, LZ4HC_CLEVEL_MAX) :
		LZ4_compress_default((const char *)in, (char *)out, (int)size,
				     (int)outsize);

	return r > 0 && (sqfs_u32)r < size ? r : 0;
}

static void lz4_destroy(sqfs_object_t *o)
{
	free(o);
}

static void lz4_config(const sqfs_compressor_t *c, sqfs_compressor_config_t *cfg)
{
	(void)c;
	memset(cfg, 0, sizeof(*cfg));
	cfg->id = SQFS_COMP_LZ4;
}

static sqfs_compressor_t *lz4_create(const struct sq_priv *p)
{
	struct sq_lz4 *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	comp_init(&z->base, lz4_destroy, lz4_config, lz4_do_block);
	z->hc = (p->opt.flags & 1) != 0;	/* LZ4_HC */
	return &z->base;
}

/* libsquashfs's lz4 returns a "compressed" block even when it is longer
 * than the input; mksquashfs then stores the block as it is, and so must
 * we, for metadata too. */
struct sq_nogrow {
	sqfs_compressor_t base;
	sqfs_compressor_t *inner;
};

static sqfs_s32 nogrow_do_block(sqfs_compressor_t *c, const sqfs_u8 *in,
				sqfs_u32 size, sqfs_u8 *out, sqfs_u32 outsize)
{
	struct sq_nogrow *g = (struct sq_nogrow *)c;
	sqfs_s32 r = g->inner->do_block(g->inner, in, size, out, outsize);

	return r > 0 && (sqfs_u32)r >= size ? 0 : r;
}

static void nogrow_destroy(sqfs_object_t *o)
{
	struct sq_nogrow *g = (struct sq_nogrow *)o;

	sqfs_destroy(g->inner);
	free(g);
}

static void nogrow_config(const sqfs_compressor_t *c,
			  sqfs_compressor_config_t *cfg)
{
	const struct sq_nogrow *g = (const struct sq_nogrow *)c;

	g->inner->get_configuration(g->inner, cfg);
}

static sqfs_compressor_t *nogrow_create(const sqfs_compressor_config_t *cfg)
{
	struct sq_nogrow *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	if (sqfs_compressor_create(cfg, &g->inner)) {
		free(g);
		return NULL;
	}
	comp_init(&g->base, nogrow_destroy, nogrow_config, nogrow_do_block);
	return &g->base;
}

/* A compressor for data and fragment blocks (data) or metadata, as
 * mksquashfs would make it for this image. */
static sqfs_compressor_t *make_compressor(const struct sq_priv *p, int data)
{
	sqfs_compressor_config_t cfg = p->cfg;

	switch (p->super.compression_id) {
	case SQFS_COMP_XZ:
		return xz_create(p, data);
	case SQFS_COMP_GZIP:
		return gzip_create(p, data);
	case SQFS_COMP_ZSTD:
		return zstd_create(p);
	case SQFS_COMP_LZ4:
		return lz4_create(p);
	default:	/* lzma: libsquashfs's */
		cfg.flags &= (sqfs_u16)~SQFS_COMP_FLAG_UNCOMPRESS;
		return nogrow_create(&cfg);
	}
}

static sqfs_compressor_t *cmp_for(struct sq_out *o, unsigned flag)
{
	return (o->p->super.flags & flag) ? &o->store : o->mcmp;
}

static int io_fail(struct sq_out *o, struct fw_error *err)
{
	return fw_error_set(err, FW_EIO, o->of.final, "cannot write: %s",
			    strerror(errno ? errno : EIO));
}

static int put(struct sq_out *o, const void *buf, size_t n,
	       struct fw_error *err)
{
	if (n && o->file->write_at(o->file, o->pos, buf, n))
		return io_fail(o, err);
	o->pos += n;
	return FW_OK;
}

/* Copies n bytes of the input at from to the output's end, as they are. */
static int copy_raw(struct sq_out *o, uint64_t from, uint64_t n,
		    const char *name, struct fw_error *err)
{
	struct sq_priv *p = o->p;
	struct sq_io *out = (struct sq_io *)o->file;
	loff_t in_off = (loff_t)from, out_off = (loff_t)o->pos;
	uint64_t left = n;

	if (from > p->super.bytes_used || n > p->super.bytes_used - from)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: data at %llu lies outside the "
				    "image", (unsigned long long)from);
	while (left) {
		ssize_t r = copy_file_range(p->fd, &in_off, out->fd, &out_off,
					    left, 0);

		if (r <= 0)
			break;
		left -= (uint64_t)r;
	}
	while (left) {
		size_t chunk = left < o->bs ? left : o->bs;

		if (p->file->read_at(p->file, (uint64_t)in_off, o->cbuf, chunk))
			return fw_error_set(err, FW_EIO, name, "cannot read data");
		if (o->file->write_at(o->file, (uint64_t)out_off, o->cbuf, chunk))
			return io_fail(o, err);
		in_off += (loff_t)chunk;
		out_off += (loff_t)chunk;
		left -= chunk;
	}
	o->pos += n;
	if (o->pos > out->size)
		out->size = o->pos;
	return FW_OK;
}

/*
 * Laying out the data is planned first, as a list of pieces in output
 * order; the pieces to compress are then compressed on all cores, and
 * finally everything is written in order.  Only then are positions
 * known, so pieces say where their position and size word go.
 */
enum { P_MARK, P_RAW, P_ZIP };

struct piece {
	uint8_t kind;
	uint8_t stored;		/* P_ZIP: written as it is, not compressed */
	uint16_t uflag;		/* P_ZIP: the SQFS_FLAG_UNCOMPRESSED_* that applies */
	uint32_t ft;		/* fragment table entry, UINT32_MAX if none */
	uint64_t src;		/* P_RAW: where in the input; P_ZIP: in the spill
				 * file; P_MARK: the inode */
	uint64_t len;		/* P_RAW, P_ZIP: bytes */
	uint32_t *sw;		/* P_ZIP data block: gets its size word */
};

static struct piece *add_piece(struct sq_out *o, int kind,
			       struct fw_error *err)
{
	struct piece *pc;

	if (o->n_pieces == o->cap_pieces) {
		size_t cap = o->cap_pieces ? o->cap_pieces * 2 : 256;
		void *q = sq_tab_realloc(o->pieces, cap * sizeof(*o->pieces));

		if (!q) {
			fw_error_set(err, FW_EIO, NULL, "out of memory");
			return NULL;
		}
		o->pieces = q;
		o->cap_pieces = cap;
	}
	pc = &o->pieces[o->n_pieces++];
	memset(pc, 0, sizeof(*pc));
	pc->kind = (uint8_t)kind;
	pc->ft = UINT32_MAX;
	return pc;
}

static int plan_mark(struct sq_out *o, size_t ino, struct fw_error *err)
{
	struct piece *pc = add_piece(o, P_MARK, err);

	if (!pc)
		return err->code;
	pc->src = ino;
	return FW_OK;
}

static int plan_raw(struct sq_out *o, uint64_t from, uint64_t n,
		    uint32_t ft, const char *name, struct fw_error *err)
{
	struct sq_priv *p = o->p;
	struct piece *pc;

	if (from > p->super.bytes_used || n > p->super.bytes_used - from)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: data at %llu lies outside the "
				    "image", (unsigned long long)from);
	/* the next block of a run: one copy */
	if (ft == UINT32_MAX && o->n_pieces &&
	    o->pieces[o->n_pieces - 1].kind == P_RAW &&
	    o->pieces[o->n_pieces - 1].ft == UINT32_MAX &&
	    o->pieces[o->n_pieces - 1].src + o->pieces[o->n_pieces - 1].len ==
		    from) {
		o->pieces[o->n_pieces - 1].len += n;
		return FW_OK;
	}
	pc = add_piece(o, P_RAW, err);
	if (!pc)
		return err->code;
	pc->src = from;
	pc->len = n;
	pc->ft = ft;
	return FW_OK;
}

/* n bytes at in_at of the spill file, to compress (unless uflag says
 * they are stored as they are). */
static int plan_zip(struct sq_out *o, uint64_t in_at, size_t n,
		    unsigned uflag, uint32_t *sw, uint32_t ft,
		    struct fw_error *err)
{
	struct piece *pc = add_piece(o, P_ZIP, err);

	if (!pc)
		return err->code;
	pc->src = in_at;
	pc->len = n;
	pc->uflag = (uint16_t)uflag;
	pc->stored = (o->p->super.flags & uflag) != 0;
	pc->sw = sw;
	pc->ft = ft;
	return FW_OK;
}

/* Appends n bytes to the spill file; *at gets where. */
static int spill(struct sq_out *o, const uint8_t *buf, size_t n,
		 uint64_t *at, struct fw_error *err)
{
	if (at)
		*at = o->spill_end;
	if (n && fw_pwrite_full(o->spill_fd, buf, n, o->spill_end))
		return fw_error_set(err, FW_EIO, o->of.final,
				    "cannot write a temporary file: %s",
				    strerror(errno ? errno : EIO));
	o->spill_end += n;
	return FW_OK;
}

static int unspill(struct sq_out *o, uint64_t at, uint8_t *buf, size_t n,
		   struct fw_error *err)
{
	ssize_t r = n ? fw_pread_full(o->spill_fd, buf, n, at) : 0;

	if (r < 0 || (size_t)r != n)
		return fw_error_set(err, FW_EIO, o->of.final,
				    "cannot read a temporary file back: %s",
				    strerror(errno ? errno : EIO));
	return FW_OK;
}

/* Moves a table to the spill file and frees it (*ptr becomes NULL);
 * a table in a spill map of its own only gives its pages back, and
 * stays. */
static int park(struct sq_out *o, void **ptr, size_t n, uint64_t *at,
		struct fw_error *err)
{
	int rc;

	if (sq_tab_trim(*ptr))
		return FW_OK;
	rc = spill(o, *ptr, n, at, err);

	if (!rc) {
		sq_tab_free(*ptr);
		*ptr = NULL;
	}
	return rc;
}

/* ... and back. */
static int unpark(struct sq_out *o, void **ptr, size_t n, uint64_t at,
		  struct fw_error *err)
{
	uint8_t *q = sq_tab_realloc(NULL, n);
	int rc = q ? unspill(o, at, q, n, err)
		   : fw_error_set(err, FW_EIO, NULL, "out of memory");

	if (rc)
		sq_tab_free(q);
	else
		*ptr = q;
	return rc;
}

/*
 * The cache's key of a block: SHA-256 of what the compressor is (codec,
 * every setting, the libraries' versions, fwsign's) and of the bytes.
 */
static void zc_prefix(struct sq_out *o)
{
	const struct sq_priv *p = o->p;
	uint8_t *b = o->zc_prefix;
	size_t n = 0;
	const uint32_t words[] = {
		p->super.compression_id, p->super.flags, p->super.block_size,
		p->opt.level, p->opt.window, p->opt.strategies, p->opt.dict,
		p->opt.flags, p->cfg.id, p->cfg.flags, p->cfg.block_size,
		p->cfg.level,
	};
	int len;

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++, n += 4)
		fw_put_le32(b + n, words[i]);
	memcpy(b + n, &p->cfg.opt, sizeof(p->cfg.opt));
	n += sizeof(p->cfg.opt);
	len = snprintf((char *)b + n, sizeof(o->zc_prefix) - n,
		       "fwsign-squashfs-block/1 %s lzma %s zlib %s zstd %s "
		       "lz4 %s", FWSIGN_VERSION, lzma_version_string(),
		       zlibVersion(), ZSTD_versionString(),
		       LZ4_versionString());
	if (len > 0)
		n += (size_t)len < sizeof(o->zc_prefix) - n
			     ? (size_t)len : sizeof(o->zc_prefix) - n - 1;
	o->zc_prefix_len = n;
}

static int zc_key(const struct sq_out *o, const uint8_t *in, size_t len,
		  uint8_t key[FW_CACHE_KEY])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t n[4];
	int ok;

	fw_put_le32(n, (uint32_t)len);
	ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(c, o->zc_prefix, o->zc_prefix_len) == 1 &&
	     EVP_DigestUpdate(c, n, 4) == 1 &&
	     EVP_DigestUpdate(c, in, len) == 1 &&
	     EVP_DigestFinal_ex(c, key, NULL) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

/* A worker's compressor, and what it checks cache entries with. */
struct zip_tls {
	sqfs_compressor_t *cmp, *dec;
	uint8_t *chk;		/* a block's room */
};

enum { ZC_NONE, ZC_HIT, ZC_BAD };

/* The entry of key, if it decompresses to exactly in: ZC_HIT with *r
 * (the compressed size; 0: stored as it is). */
static int zc_lookup(struct sq_out *o, struct zip_tls *t,
		     const uint8_t key[FW_CACHE_KEY], const uint8_t *in,
		     size_t len, uint8_t *out, sqfs_s32 *r)
{
	size_t n;
	int raw, authentic;
	sqfs_s32 d;

	if (!fw_cache_get_auth(o->cache, key, out, len, &n, &raw, &authentic))
		return ZC_NONE;
	if (raw) {
		*r = 0;
		return ZC_HIT;
	}
	if (n >= len)
		return ZC_BAD;
	if (authentic) {	/* this batch compressed it: no need to check */
		*r = (sqfs_s32)n;
		return ZC_HIT;
	}
	if (!t->dec) {
		sqfs_compressor_config_t cfg;

		sqfs_compressor_config_init(&cfg, o->p->super.compression_id,
					    o->bs, SQFS_COMP_FLAG_UNCOMPRESS);
		if (sqfs_compressor_create(&cfg, &t->dec))
			t->dec = NULL;
	}
	d = t->dec ? t->dec->do_block(t->dec, out, (sqfs_u32)n, t->chk,
				      (sqfs_u32)o->bs)
		   : -1;
	if (d < 0 || (size_t)d != len || memcmp(t->chk, in, len))
		return ZC_BAD;
	*r = (sqfs_s32)n;
	return ZC_HIT;
}

/*
 * One block compressed, through the cache when there is one: an entry is
 * used only if it decompresses to exactly these bytes; a block no entry
 * holds is claimed, compressed and stored.  When another run (or thread)
 * holds the claim and wait is 0, *later is set: the caller does other
 * blocks first and comes back with wait set.  0: stored as it is.
 */
static sqfs_s32 zip_block(struct sq_out *o, struct zip_tls *t,
			  const uint8_t *in, size_t len, uint8_t *out,
			  int wait, int *later)
{
	uint8_t key[FW_CACHE_KEY];
	int st, claim, fd = -1;
	sqfs_s32 r;

	*later = 0;
	if (!o->cache || zc_key(o, in, len, key))
		return t->cmp->do_block(t->cmp, in, (sqfs_u32)len, out,
					(sqfs_u32)len);
	st = zc_lookup(o, t, key, in, len, out, &r);
	if (st == ZC_NONE) {
		claim = fw_cache_claim(o->cache, key, wait, &fd);
		if (claim == 0) {
			*later = 1;
			return 0;
		}
		/* it may have come while we asked */
		if (claim == 1)
			st = zc_lookup(o, t, key, in, len, out, &r);
	}
	if (st == ZC_HIT) {
		if (fd >= 0)
			fw_cache_release(o->cache, key, fd);
		fw_cache_count(o->cache, FW_CACHE_HIT);
		return r;
	}
	fw_cache_count(o->cache, st == ZC_BAD ? FW_CACHE_REJECTED
					      : FW_CACHE_MISS);
	r = t->cmp->do_block(t->cmp, in, (sqfs_u32)len, out, (sqfs_u32)len);
	if (r >= 0)
		fw_cache_put_auth(o->cache, key, out, r > 0 ? (size_t)r : 0,
				  r == 0 || (size_t)r >= len);
	if (fd >= 0)
		fw_cache_release(o->cache, key, fd);
	return r;
}

/*
 * Compressing and writing the pieces: a window of at most ZIP_WINDOW
 * blocks per thread is read back from the spill file and compressed on
 * all cores, then everything up to its last piece is written in order,
 * and so on.  Memory: two blocks per window slot, whatever the image.
 */
#define ZIP_WINDOW 8

struct zip_run {
	struct sq_out *o;
	size_t *todo;		/* the window's P_ZIP pieces, in order */
	size_t n_todo;
	size_t next;		/* the next of todo to take */
	uint8_t **in, **out;	/* per window slot: a block each */
	size_t *out_len;	/* 0: stored as it is */
	struct zip_tls *tls;	/* per thread */
	/* of todo, those another run was compressing: done last, waiting */
	size_t *later;
	size_t n_later, next_later;
	int nt;
	int failed;
	int quit;
	unsigned gen;		/* window number: workers wait for the next */
	size_t busy;		/* workers still on this window */
	pthread_mutex_t lock;
	pthread_cond_t go, idle;
};

static void zip_window(struct zip_run *z, int t)
{
	struct sq_out *o = z->o;
	struct zip_tls *tl = &z->tls[t];

	for (;;) {
		struct piece *pc;
		size_t i;
		sqfs_s32 r;
		uint64_t t0;
		int wait = 0, later;

		pthread_mutex_lock(&z->lock);
		if (z->failed) {
			i = z->n_todo;
		} else if (z->next < z->n_todo) {
			i = z->next++;
		} else if (z->next_later < z->n_later) {
			i = z->later[z->next_later++];
			wait = 1;
		} else {
			i = z->n_todo;
		}
		pthread_mutex_unlock(&z->lock);
		if (i >= z->n_todo)
			return;
		pc = &o->pieces[z->todo[i]];
		if (!wait) {
			z->out_len[i] = 0;
			if (fw_pread_full(o->spill_fd, z->in[i], pc->len,
					  pc->src) != (ssize_t)pc->len)
				goto failed;
		}
		if (pc->stored)
			continue;
		t0 = o->p->prof ? sq_cpu_ns() : 0;
		r = zip_block(o, tl, z->in[i], pc->len, z->out[i], wait, &later);
		if (later) {
			pthread_mutex_lock(&z->lock);
			z->later[z->n_later++] = i;
			pthread_mutex_unlock(&z->lock);
			continue;
		}
		if (o->p->prof) {
			o->p->ns_zip += sq_cpu_ns() - t0;
			o->p->n_zip++;
			o->p->b_zip += pc->len;
		}
		if (r < 0)
			goto failed;
		if (r > 0 && (size_t)r < pc->len)
			z->out_len[i] = (size_t)r;
		continue;
failed:
		pthread_mutex_lock(&z->lock);
		z->failed = 1;
		pthread_mutex_unlock(&z->lock);
		return;
	}
}

struct zip_arg {
	struct zip_run *z;
	int t;
};

static void *zip_thread(void *arg)
{
	struct zip_arg *a = arg;
	struct zip_run *z = a->z;
	unsigned seen = 0;

	for (;;) {
		pthread_mutex_lock(&z->lock);
		while (!z->quit && z->gen == seen)
			pthread_cond_wait(&z->go, &z->lock);
		if (z->quit) {
			pthread_mutex_unlock(&z->lock);
			return NULL;
		}
		seen = z->gen;
		pthread_mutex_unlock(&z->lock);
		zip_window(z, a->t);
		pthread_mutex_lock(&z->lock);
		if (--z->busy == 0)
			pthread_cond_signal(&z->idle);
		pthread_mutex_unlock(&z->lock);
	}
}

/* Writes pieces [from, to), the window's compressed blocks in order. */
static int write_range(struct sq_out *o, struct zip_run *z, size_t from,
		       size_t to, struct fw_error *err)
{
	size_t zi = 0;
	uint64_t t0 = o->p->prof ? sq_cpu_ns() : 0;
	int rc = FW_OK;

	for (size_t i = from; i < to && !rc; i++) {
		struct piece *pc = &o->pieces[i];
		uint64_t at = o->pos;
		uint32_t sw = 0;

		switch (pc->kind) {
		case P_MARK:	/* the inode's start, noted when w is back */
			pc->len = o->pos;
			continue;
		case P_RAW:
			rc = copy_raw(o, pc->src, pc->len, o->img->path, err);
			o->p->b_copy += pc->len;
			break;
		case P_ZIP:
			if (z->out_len[zi]) {
				sw = (uint32_t)z->out_len[zi];
				rc = put(o, z->out[zi], z->out_len[zi], err);
			} else {
				sw = (uint32_t)pc->len | SQ_BLK_UNCOMPRESSED;
				rc = put(o, z->in[zi], pc->len, err);
			}
			zi++;
			if (pc->sw)
				*pc->sw = sw;
			break;
		}
		if (pc->ft != UINT32_MAX) {
			o->ft[pc->ft].start = at;
			if (pc->kind == P_ZIP)
				o->ft[pc->ft].size = sw;
		}
	}
	if (o->p->prof)
		o->p->ns_out += sq_cpu_ns() - t0;
	return rc;
}

/* Compresses the P_ZIP pieces on all cores and writes every piece in
 * order, a window at a time. */
static int zip_write(struct sq_out *o, struct fw_error *err)
{
	struct zip_run z = { .o = o };
	struct zip_arg args[64];
	pthread_t t[64];
	size_t win, started = 0, i = 0;
	int nt = o->jobs > 0 ? o->jobs : fw_ncpus(), rc = FW_OK;

	if (nt > 64)
		nt = 64;
	if (nt < 1)
		nt = 1;
	win = (size_t)nt * ZIP_WINDOW;
	z.nt = nt;
	z.todo = calloc(win, sizeof(*z.todo));
	z.in = calloc(win, sizeof(*z.in));
	z.out = calloc(win, sizeof(*z.out));
	z.out_len = calloc(win, sizeof(*z.out_len));
	z.later = calloc(win, sizeof(*z.later));
	z.tls = calloc((size_t)nt, sizeof(*z.tls));
	if (!z.todo || !z.in || !z.out || !z.out_len || !z.later || !z.tls) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < win; k++) {
		z.in[k] = malloc(o->bs);
		z.out[k] = malloc(o->bs);
		if (!z.in[k] || !z.out[k]) {
			rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
			goto out;
		}
	}
	for (int k = 0; k < nt; k++) {
		z.tls[k].cmp = make_compressor(o->p, 1);
		z.tls[k].chk = o->cache ? malloc(o->bs) : NULL;
		if (!z.tls[k].cmp || (o->cache && !z.tls[k].chk)) {
			rc = fw_error_set(err, FW_EIO, o->of.final,
					  "squashfs: compressing failed");
			goto out;
		}
	}
	pthread_mutex_init(&z.lock, NULL);
	pthread_cond_init(&z.go, NULL);
	pthread_cond_init(&z.idle, NULL);
	for (int k = 1; k < nt; k++) {
		args[started] = (struct zip_arg){ &z, k };
		if (pthread_create(&t[started], NULL, zip_thread,
				   &args[started]) == 0)
			started++;
	}
	while (i < o->n_pieces && !rc) {
		size_t j = i;

		z.n_todo = 0;
		while (j < o->n_pieces && z.n_todo < win) {
			if (o->pieces[j].kind == P_ZIP)
				z.todo[z.n_todo++] = j;
			j++;
		}
		if (z.n_todo) {
			pthread_mutex_lock(&z.lock);
			z.next = 0;
			z.n_later = z.next_later = 0;
			z.busy = started;
			z.gen++;
			pthread_cond_broadcast(&z.go);
			pthread_mutex_unlock(&z.lock);
			zip_window(&z, 0);
			pthread_mutex_lock(&z.lock);
			while (z.busy)
				pthread_cond_wait(&z.idle, &z.lock);
			pthread_mutex_unlock(&z.lock);
			if (z.failed) {
				rc = fw_error_set(err, FW_EIO, o->of.final,
						  "squashfs: compressing failed");
				break;
			}
		}
		rc = write_range(o, &z, i, j, err);
		i = j;
		/* the plan's pieces so far are done with (and whatever
		 * per-inode table was touched since the last trim) */
		fw_spillmap_trim_all();
	}
	pthread_mutex_lock(&z.lock);
	z.quit = 1;
	pthread_cond_broadcast(&z.go);
	pthread_mutex_unlock(&z.lock);
	for (size_t k = 0; k < started; k++)
		pthread_join(t[k], NULL);
	pthread_mutex_destroy(&z.lock);
	pthread_cond_destroy(&z.go);
	pthread_cond_destroy(&z.idle);
out:
	for (size_t k = 0; z.in && k < win; k++) {
		free(z.in[k]);
		free(z.out[k]);
	}
	for (int k = 0; z.tls && k < nt; k++) {
		sqfs_destroy(z.tls[k].cmp);
		sqfs_destroy(z.tls[k].dec);
		free(z.tls[k].chk);
	}
	free(z.todo);
	free(z.in);
	free(z.out);
	free(z.out_len);
	free(z.later);
	free(z.tls);
	return rc;
}

static void free_pieces(struct sq_out *o)
{
	sq_tab_free(o->pieces);
	o->pieces = NULL;
	o->n_pieces = o->cap_pieces = 0;
}

static int frag_append(struct sq_out *o, uint64_t start, uint32_t sw,
		       uint64_t key, uint32_t *idx, struct fw_error *err)
{
	if (o->n_ft == o->cap_ft) {
		size_t cap = o->cap_ft ? o->cap_ft * 2 : 64;
		void *q = realloc(o->ft, cap * sizeof(*o->ft));

		if (!q)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		o->ft = q;
		o->cap_ft = cap;
	}
	o->ft[o->n_ft].start = start;
	o->ft[o->n_ft].size = sw;
	o->ft[o->n_ft].key = key;
	*idx = (uint32_t)o->n_ft++;
	return FW_OK;
}

static int frag_flush(struct sq_out *o, struct fw_error *err)
{
	uint32_t idx = 0;
	uint64_t at = 0;
	int rc;

	if (!o->pk_used)
		return FW_OK;
	rc = spill(o, o->pk, o->pk_used, &at, err);
	if (!rc)
		rc = frag_append(o, 0, 0, ((uint64_t)o->pk_origin << 32) |
				 (1u << 31) | o->pk_serial, &idx, err);
	if (!rc)
		rc = plan_zip(o, at, o->pk_used,
			      SQFS_FLAG_UNCOMPRESSED_FRAGMENTS, NULL, idx, err);
	if (rc)
		return rc;
	if (o->pk_serial >= o->cap_serial) {
		size_t cap = o->cap_serial ? o->cap_serial * 2 : 64;
		void *q = realloc(o->serial_idx, cap * sizeof(*o->serial_idx));

		if (!q)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		o->serial_idx = q;
		o->cap_serial = cap;
	}
	o->serial_idx[o->pk_serial++] = idx;
	o->pk_used = 0;
	return FW_OK;
}

/*
 * Packing the tails again is content-defined, so that images which share
 * runs of files get byte-identical fragment blocks (and the cache hits
 * them): a block is closed after the tail that brings it to CDC_MIN, or
 * after a tail whose hash's low bits are 0 (a run of small tails ends
 * where their bytes say, not where the first of them happened to start),
 * and before a tail that does not fit.  A file added or removed then
 * changes the block that holds its tail and at most the next few, not
 * every block after it, as filling each block to the brim would.
 */
#define CDC_MIN(bs) ((bs) / 32 > 4096 ? (bs) / 32 : (bs) < 4096 ? (bs) : 4096)
#define CDC_MASK 7u

static uint32_t tail_hash(const uint8_t *buf, size_t n)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ buf[i]) * 16777619u;
	return h ^ (h >> 16);
}

/* Packs a tail into the open fragment block. */
static int frag_add(struct sq_out *o, const uint8_t *buf, size_t n,
		    struct wino *w, struct fw_error *err)
{
	int rc;

	if (o->pk_used + n > o->bs) {
		rc = frag_flush(o, err);
		if (rc)
			return rc;
	}
	if (!o->pk_used)
		o->pk_origin = o->cur_origin;
	w->frag_kind = FK_NEW;
	w->frag_a = o->pk_serial;
	w->frag_off = (uint32_t)o->pk_used;
	memcpy(o->pk + o->pk_used, buf, n);
	o->pk_used += n;
	if (o->pk_used >= CDC_MIN(o->bs) || !(tail_hash(buf, n) & CDC_MASK))
		return frag_flush(o, err);
	return FW_OK;
}

/* ---------------------------------------------------------------- */
/* File data                                                        */

static uint64_t run_length(const struct sq_priv *p, const struct sq_inode *si)
{
	uint64_t total = 0;

	for (uint32_t k = 0; k < si->nblocks; k++)
		total += sq_block_sizes(p, si)[k] & SQ_BLK_SIZE_MASK;
	return total;
}

static struct wchg *wchg_find(const struct sq_out *o, size_t ino)
{
	size_t i = fw_hmap_get(&o->xmap, ino);

	return i == FW_HMAP_NONE ? NULL : o->xs[i];
}

/* What signing changed of inode ino, made when first needed. */
static struct wchg *wchg_of(struct sq_out *o, size_t ino, struct fw_error *err)
{
	struct wchg *x = wchg_find(o, ino);

	if (x)
		return x;
	if (o->n_xs == o->cap_xs) {
		size_t cap = o->cap_xs ? o->cap_xs * 2 : 16;
		void *q = realloc(o->xs, cap * sizeof(*o->xs));

		if (!q)
			goto oom;
		o->xs = q;
		o->cap_xs = cap;
	}
	x = calloc(1, sizeof(*x));
	if (!x)
		goto oom;
	x->ino = ino;
	if (fw_hmap_put(&o->xmap, ino, o->n_xs)) {
		free(x);
		goto oom;
	}
	o->xs[o->n_xs++] = x;
	return x;
oom:
	fw_error_set(err, FW_EIO, NULL, "out of memory");
	return NULL;
}

static int write_unchanged(struct sq_out *o, size_t ino, struct fw_error *err)
{
	struct sq_priv *p = o->p;
	const struct sq_inode *si = &p->ino[ino];
	struct wino *w = &o->w[ino];
	const uint32_t *sz = sq_block_sizes(p, si);
	uint64_t total = run_length(p, si);
	int rc;

	w->done = 1;
	w->start = si->blocks_start;
	if (!si->nblocks)
		return FW_OK;
	/* The input shared these blocks with a file already copied. */
	if (total && o->copy_on && o->copy_pos == si->blocks_start) {
		size_t j = o->copy_ino;

		if (p->ino[j].nblocks == si->nblocks &&
		    !memcmp(sq_block_sizes(p, &p->ino[j]), sz,
			    si->nblocks * 4u)) {
			w->share = (uint32_t)(j + 1);
			return FW_OK;
		}
	} else if (total) {
		o->copy_on = 1;
		o->copy_pos = si->blocks_start;
		o->copy_ino = ino;
	}
	rc = plan_mark(o, ino, err);
	if (!rc && total)
		rc = plan_raw(o, si->blocks_start, total, UINT32_MAX,
			      sq_node_name(p, ino), err);
	return rc;
}

/* How a signed file's content splits into blocks, as mksquashfs would
 * store it: a tail goes into a fragment when fragments are on and the
 * file is smaller than a block, or always with -always-use-fragments. */
static void file_shape(const struct sq_out *o, size_t len, size_t *nb,
		       size_t *nfull, size_t *tail, int *use_frag)
{
	unsigned flags = o->p->super.flags;

	*nfull = len / o->bs;
	*tail = len % o->bs;
	*use_frag = *tail && !(flags & SQFS_FLAG_NO_FRAGMENTS) &&
		    (len < o->bs || (flags & SQFS_FLAG_ALWAYS_FRAGMENTS));
	*nb = *nfull + (*tail && !*use_frag);
}

enum { B_NEW, B_SAME, B_SPARSE };

/*
 * Bytes [from, from + n) of a signed file's new content, which is the
 * first keep bytes of the input's file and then tail.
 */
static int new_bytes(struct sq_out *o, size_t ino, uint64_t keep,
		     const uint8_t *tail, const uint8_t *stash, uint64_t from,
		     uint8_t *out, size_t n, struct fw_error *err)
{
	const struct sq_inode *si = &o->p->ino[ino];
	uint64_t st = si->size - si->size % o->bs;	/* where stash starts */
	size_t m = from < keep ? (keep - from < n ? (size_t)(keep - from) : n)
			       : 0;
	int rc = FW_OK;

	if (m && stash && from >= st)
		memcpy(out, stash + (from - st), m);
	else if (m)
		rc = sq_read_file(o->p, ino, o->slot, from, out, m,
				  sq_node_name(o->p, ino), err);
	if (!rc && n > m)
		memcpy(out + m, tail + (from + m - keep), n - m);
	return rc;
}

/*
 * A signed file's new content, when the engine hands it over (the first
 * keep bytes of the input's file, then tail).  A whole block within the
 * first keep bytes is the input's block: copied at commit.  Every other
 * block is compared with the input's block at the same place, and copied
 * too when equal (re-signed with the same key); what differs, and the
 * tail, goes to the spill file until commit.  Memory: a block or two.
 */
static int take_blocks(struct sq_out *o, size_t ino, uint64_t keep,
		       const uint8_t *tail, size_t tail_len,
		       const uint8_t *stash, struct fw_error *err)
{
	struct sq_priv *p = o->p;
	const struct sq_inode *si = &p->ino[ino];
	struct wchg *x;
	const char *name = sq_node_name(p, ino);
	size_t bs = o->bs, nb, nfull, ftail;
	uint64_t orig_off = si->blocks_start, len = keep + tail_len;
	uint32_t orig_full = si->nblocks;
	int use_frag, rc = FW_OK;

	if (keep > si->size)
		return fw_error_set(err, FW_EIO, name,
				    "squashfs: internal error: keep %llu of "
				    "%llu bytes", (unsigned long long)keep,
				    (unsigned long long)si->size);
	if (len > SIZE_MAX / 2)
		return fw_error_set(err, FW_EINPUT, name, "file too large");
	file_shape(o, (size_t)len, &nb, &nfull, &ftail, &use_frag);
	if (nb > UINT32_MAX / 4)
		return fw_error_set(err, FW_EINPUT, name, "file too large");
	if ((uint64_t)orig_full * bs > si->size)
		orig_full = (uint32_t)(si->size / bs);
	x = wchg_of(o, ino, err);
	if (!x)
		return err->code;
	x->changed = 1;
	x->len = len;
	x->data_at = o->spill_end;
	x->bkind = calloc(nb + 1, 1);
	if (!x->bkind)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	for (size_t k = 0; k < nb && !rc; k++) {
		uint64_t b0 = (uint64_t)k * bs;
		size_t n = k < nfull ? bs : ftail;
		uint32_t sw = k < si->nblocks ? sq_block_sizes(p, si)[k] : 0;
		size_t raw = sw & SQ_BLK_SIZE_MASK;

		x->bkind[k] = B_NEW;
		if (n == bs && k < orig_full && b0 + bs <= keep) {
			x->bkind[k] = B_SAME;	/* the input's own bytes */
		} else if (n == bs && k < orig_full) {
			/* the input's block, and the new bytes over it */
			rc = sq_read_block(p, o->slot, orig_off, sw, bs, &raw,
					   name, err);
			if (rc)
				break;
			if (keep > b0)
				memcpy(o->nbuf, o->slot->blk,
				       (size_t)(keep - b0));
			memcpy(o->nbuf + (keep > b0 ? keep - b0 : 0),
			       tail + (keep > b0 ? 0 : b0 - keep),
			       (size_t)(keep > b0 ? bs - (keep - b0) : bs));
			if (!memcmp(o->nbuf, o->slot->blk, bs))
				x->bkind[k] = B_SAME;
		} else {
			rc = new_bytes(o, ino, keep, tail, stash, b0, o->nbuf,
				       n, err);
			if (rc)
				break;
		}
		if (k < si->nblocks)
			orig_off += raw;
		if (x->bkind[k] == B_SAME)
			continue;
		if (n == bs && fw_all_zero(o->nbuf, n))
			x->bkind[k] = B_SPARSE;
		else
			rc = spill(o, o->nbuf, n, NULL, err);
	}
	if (!rc && use_frag) {
		rc = new_bytes(o, ino, keep, tail, stash, (uint64_t)nfull * bs,
			       o->nbuf, ftail, err);
		if (!rc)
			rc = spill(o, o->nbuf, ftail, NULL, err);
	}
	return rc;
}

static int take_changed(struct sq_out *o, size_t ino, uint64_t keep,
			const uint8_t *tail, size_t tail_len,
			struct fw_error *err)
{
	uint8_t *stash = sq_stash_take(o->p, ino);
	int rc = take_blocks(o, ino, keep, tail, tail_len, stash, err);

	free(stash);
	return rc;
}

/* Plans a signed file's blocks: the same ones copied, the rest compressed,
 * the tail packed into a fragment. */
static int write_changed(struct sq_out *o, size_t ino, struct fw_error *err)
{
	struct sq_priv *p = o->p;
	const struct sq_inode *si = &p->ino[ino];
	struct wino *w = &o->w[ino];
	struct wchg *x = w->x;
	uint64_t at = x->data_at;
	const char *name = sq_node_name(p, ino);
	size_t bs = o->bs, nb, nfull, tail;
	uint64_t orig_off = si->blocks_start;
	int use_frag, rc = FW_OK;

	file_shape(o, (size_t)x->len, &nb, &nfull, &tail, &use_frag);
	x->sizes = calloc(nb ? nb : 1, sizeof(uint32_t));
	if (!x->sizes)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	w->done = 1;
	x->size = x->len;
	x->nblocks = (uint32_t)nb;
	w->start = 0;
	w->frag_kind = FK_NONE;
	if (nb)
		rc = plan_mark(o, ino, err);
	for (size_t k = 0; k < nb && !rc; k++) {
		size_t n = k < nfull ? bs : tail;
		uint32_t sw = k < si->nblocks ? sq_block_sizes(p, si)[k] : 0;
		size_t raw = sw & SQ_BLK_SIZE_MASK;

		switch (x->bkind[k]) {
		case B_SAME:	/* the same bytes: the same block */
			x->sizes[k] = sw;
			if (raw)
				rc = plan_raw(o, orig_off, raw, UINT32_MAX,
					      name, err);
			else
				x->sparse += bs;
			break;
		case B_SPARSE:
			x->sizes[k] = 0;
			x->sparse += bs;
			break;
		default:
			rc = plan_zip(o, at, n, SQFS_FLAG_UNCOMPRESSED_DATA,
				      &x->sizes[k], UINT32_MAX, err);
			at += n;
		}
		if (k < si->nblocks)
			orig_off += raw;
	}
	if (!rc && use_frag)
		rc = unspill(o, at, o->nbuf, tail, err);
	if (!rc && use_frag && si->frag_idx != SQ_NO_FRAG)
		o->cur_origin = si->frag_idx;
	if (!rc && use_frag)
		rc = frag_add(o, o->nbuf, tail, w, err);
	return rc;
}

/* The engine hands over every entry in order; of signed content only what
 * must be compressed again is kept (in the spill file) until commit, which
 * lays the data out in the input's order. */
int sq_out_put_append(void *ctx, size_t idx, uint64_t keep,
		      const uint8_t *tail, size_t tail_len,
		      struct fw_error *err)
{
	struct sq_out *o = ctx;
	struct sq_priv *p = o->p;
	size_t ino = p->ino_of_ent[idx];
	struct wchg *x = wchg_find(o, ino);

	if (!tail || !sq_is_file(&p->ino[ino]) || (x && x->changed)) {
		free(sq_stash_take(p, ino));
		return FW_OK;
	}
	return take_changed(o, ino, keep, tail, tail_len, err);
}

int sq_out_put(void *ctx, size_t idx, const uint8_t *data, size_t len,
	       struct fw_error *err)
{
	static const uint8_t none[1];

	if (!data) {
		struct sq_out *o = ctx;

		free(sq_stash_take(o->p, o->p->ino_of_ent[idx]));
		return FW_OK;
	}
	return sq_out_put_append(ctx, idx, 0, len ? data : none, len, err);
}

/* ---------------------------------------------------------------- */
/* Laying out the data                                              */

/* Something that had a place in the input's data area. */
struct item {
	uint64_t pos;
	size_t which;		/* inode, or fragment block */
	int is_frag;
};

static int cmp_items(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	if (x->is_frag != y->is_frag)
		return x->is_frag - y->is_frag;
	return x->which < y->which ? -1 : x->which > y->which;
}

static int cmp_frag_users(const void *a, const void *b, void *arg)
{
	const struct sq_priv *p = arg;
	const struct sq_inode *x = &p->ino[*(const size_t *)a];
	const struct sq_inode *y = &p->ino[*(const size_t *)b];
	uint64_t tx = x->size % p->super.block_size;
	uint64_t ty = y->size % p->super.block_size;

	if (x->frag_idx != y->frag_idx)
		return x->frag_idx < y->frag_idx ? -1 : 1;
	if (x->frag_off != y->frag_off)
		return x->frag_off < y->frag_off ? -1 : 1;
	if (tx != ty)
		return tx < ty ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

struct layout {
	struct item *items;
	size_t n_items;
	size_t *users;		/* unchanged inodes with an input fragment */
	size_t n_users;
	size_t *first;		/* per fragment block: its first user */
	unsigned char *dirty;	/* per fragment block: held a changed tail */
};

/* A fragment block that only holds unchanged tails is copied as it is;
 * one that also held a changed file's old tail is unpacked and its live
 * tails packed again, so that no dead bytes stay behind. */
static int place_fragment(struct sq_out *o, struct layout *l, uint32_t f,
			  struct fw_error *err)
{
	struct sq_priv *p = o->p;
	size_t a = l->first[f], b = l->first[f + 1];
	const char *name = sq_node_name(p, l->users[a]);
	int rc = FW_OK;

	if (a == b)
		return FW_OK;	/* no file uses it: dropped */
	if (!l->dirty[f]) {
		uint64_t start;
		uint32_t sw, idx = 0;

		rc = sq_frag_where(p, f, &start, &sw, name, err);
		if (!rc)
			rc = frag_append(o, 0, sw, (uint64_t)f << 32, &idx, err);
		if (!rc)
			rc = plan_raw(o, start, sw & SQ_BLK_SIZE_MASK, idx, name,
				      err);
		for (size_t k = a; k < b && !rc; k++) {
			o->w[l->users[k]].frag_kind = FK_IDX;
			o->w[l->users[k]].frag_a = idx;
		}
		return rc;
	}
	rc = sq_read_frag(p, o->slot, f, name, err);
	o->cur_origin = f;
	for (size_t k = a; k < b && !rc; k++) {
		const struct sq_inode *si = &p->ino[l->users[k]];
		struct wino *w = &o->w[l->users[k]];
		size_t t = si->size % o->bs;

		if (si->frag_off > o->slot->frag_len ||
		    t > o->slot->frag_len - si->frag_off)
			return fw_error_set(err, FW_EINPUT,
					    sq_node_name(p, l->users[k]),
					    "squashfs: a fragment lies outside "
					    "its block");
		if (k > a) {
			const struct sq_inode *pi = &p->ino[l->users[k - 1]];

			if (pi->frag_off == si->frag_off &&
			    pi->size % o->bs == t) {
				/* one tail shared by duplicate files */
				const struct wino *pw = &o->w[l->users[k - 1]];

				w->frag_kind = pw->frag_kind;
				w->frag_a = pw->frag_a;
				w->frag_off = pw->frag_off;
				continue;
			}
		}
		rc = frag_add(o, o->slot->frag + si->frag_off, t, w, err);
	}
	return rc;
}

static int cmp_frag_keys(const void *a, const void *b, void *arg)
{
	const struct frag_ent *ft = arg;
	uint64_t x = ft[*(const uint32_t *)a].key, y = ft[*(const uint32_t *)b].key;

	return x < y ? -1 : x > y;
}

/*
 * mksquashfs numbers a fragment block when it starts filling it and
 * writes it when it is full, so the table's order is not the blocks'
 * order on disk.  Copied blocks keep the input's relative order (the
 * same indices when none was dropped); a new block follows the input
 * block its first tail came from (and the copied one of that index), in
 * packing order, so that signing a signed image again gives it back
 * byte for byte.  Indices handed out while writing are renumbered to
 * match.
 */
static int number_fragments(struct sq_out *o, struct fw_error *err)
{
	uint32_t *perm = malloc((o->n_ft + 1) * sizeof(*perm));
	uint32_t *rank = malloc((o->n_ft + 1) * sizeof(*rank));
	struct frag_ent *ft = malloc((o->n_ft + 1) * sizeof(*ft));

	if (!perm || !rank || !ft) {
		free(perm);
		free(rank);
		free(ft);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	for (uint32_t i = 0; i < o->n_ft; i++)
		perm[i] = i;
	qsort_r(perm, o->n_ft, sizeof(*perm), cmp_frag_keys, o->ft);
	for (uint32_t i = 0; i < o->n_ft; i++) {
		rank[perm[i]] = i;
		ft[i] = o->ft[perm[i]];
	}
	for (size_t i = 0; i < o->p->n_ino; i++)
		if (o->w[i].frag_kind == FK_IDX)
			o->w[i].frag_a = rank[o->w[i].frag_a];
	for (uint32_t i = 0; i < o->pk_serial; i++)
		o->serial_idx[i] = rank[o->serial_idx[i]];
	free(o->ft);
	o->ft = ft;
	free(perm);
	free(rank);
	return FW_OK;
}

static int layout_data(struct sq_out *o, struct fw_error *err)
{
	struct sq_priv *p = o->p;
	struct layout l = { 0 };
	uint64_t end = UINT64_MAX;
	int rc = FW_OK;

	/* the engine has read everything: its caches go, and each inode gets
	 * its place in the output */
	sq_drop_caches(p);
	o->w = sq_tab_realloc(NULL, (p->n_ino + 1) * sizeof(*o->w));
	if (!o->w)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	for (size_t k = 0; k < o->n_xs; k++) {
		o->w[o->xs[k]->ino].x = o->xs[k];
		o->w[o->xs[k]->ino].changed = (uint8_t)o->xs[k]->changed;
	}
	l.items = sq_tab_realloc(NULL, ((size_t)p->n_ino + p->n_frags + 1) *
				 sizeof(*l.items));
	l.users = sq_tab_realloc(NULL, (p->n_ino + 1) * sizeof(*l.users));
	l.first = calloc((size_t)p->n_frags + 2, sizeof(*l.first));
	l.dirty = calloc((size_t)p->n_frags + 1, 1);
	if (!l.items || !l.users || !l.first || !l.dirty) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < p->n_ino; i++) {
		const struct sq_inode *si = &p->ino[i];
		struct item *it = &l.items[l.n_items];

		if (!sq_is_file(si))
			continue;
		if (o->w[i].changed && si->frag_idx != SQ_NO_FRAG)
			l.dirty[si->frag_idx] = 1;
		if (!o->w[i].changed && si->frag_idx != SQ_NO_FRAG) {
			l.users[l.n_users++] = i;
			o->w[i].frag_kind = FK_ORIG;
			o->w[i].frag_a = si->frag_idx;
			o->w[i].frag_off = si->frag_off;
		}
		it->which = i;
		if (si->nblocks) {
			it->pos = si->blocks_start;
		} else if (o->w[i].changed && si->frag_idx != SQ_NO_FRAG) {
			uint32_t sw;

			/* a small file that was all tail: where its
			 * fragment block was */
			if (sq_frag_where(p, si->frag_idx, &it->pos, &sw,
					  sq_node_name(p, i), err)) {
				rc = err->code;
				goto out;
			}
		} else if (o->w[i].changed) {
			it->pos = end;
		} else {
			continue;	/* nothing on disk */
		}
		l.n_items++;
	}
	qsort_r(l.users, l.n_users, sizeof(*l.users), cmp_frag_users, p);
	for (size_t k = 0, f = 0; f <= p->n_frags; f++) {
		while (k < l.n_users && p->ino[l.users[k]].frag_idx < f)
			k++;
		l.first[f] = k;
	}
	l.first[p->n_frags + 1] = l.n_users;
	for (uint32_t f = 0; f < p->n_frags; f++) {
		uint32_t sw;

		if (l.first[f] == l.first[f + 1])
			continue;
		if (sq_frag_where(p, f, &l.items[l.n_items].pos, &sw,
				  sq_node_name(p, l.users[l.first[f]]), err)) {
			rc = err->code;
			goto out;
		}
		l.items[l.n_items].which = f;
		l.items[l.n_items++].is_frag = 1;
	}
	qsort(l.items, l.n_items, sizeof(*l.items), cmp_items);
	for (size_t k = 0; k < l.n_items && !rc; k++) {
		const struct item *it = &l.items[k];

		if (it->is_frag)
			rc = place_fragment(o, &l, (uint32_t)it->which, err);
		else if (o->w[it->which].changed)
			rc = write_changed(o, it->which, err);
		else
			rc = write_unchanged(o, it->which, err);
	}
	/* the plan is made: what it was made from goes before the data is
	 * compressed and written */
	sq_tab_free(l.items);
	sq_tab_free(l.users);
	free(l.first);
	free(l.dirty);
	l = (struct layout){ 0 };
	/* unchanged files with nothing on disk: a tail, or empty */
	for (size_t i = 0; i < p->n_ino && !rc; i++)
		if (sq_is_file(&p->ino[i]) && !o->w[i].done)
			rc = write_unchanged(o, i, err);
	if (!rc)
		rc = frag_flush(o, err);
	/* compressing and writing the data needs the plan, not the inodes */
	if (!rc)
		rc = park(o, (void **)&p->ino, p->n_ino * sizeof(*p->ino),
			  &o->ino_at, err);
	if (!rc)
		rc = park(o, (void **)&p->ino_of_ent,
			  o->img->n * sizeof(*p->ino_of_ent), &o->ioe_at, err);
	if (!rc)
		rc = park(o, (void **)&o->w, p->n_ino * sizeof(*o->w), &o->w_at,
			  err);
	/* the layout touched every inode's tables: not needed while the
	 * data is compressed */
	fw_spillmap_trim_all();
	if (!rc)
		rc = zip_write(o, err);
	if (!rc && !o->w)
		rc = unpark(o, (void **)&o->w, p->n_ino * sizeof(*o->w),
			    o->w_at, err);
	for (size_t k = 0; !rc && k < o->n_pieces; k++)
		if (o->pieces[k].kind == P_MARK)
			o->w[o->pieces[k].src].start = o->pieces[k].len;
	free_pieces(o);
	if (!rc && !p->ino)
		rc = unpark(o, (void **)&p->ino, p->n_ino * sizeof(*p->ino),
			    o->ino_at, err);
	if (!rc && !p->ino_of_ent)
		rc = unpark(o, (void **)&p->ino_of_ent,
			    o->img->n * sizeof(*p->ino_of_ent), o->ioe_at, err);
	for (size_t i = 0; i < p->n_ino && !rc; i++) {
		struct wino *w = &o->w[i];

		if (w->share)
			w->start = o->w[w->share - 1].start;
	}
	if (!rc)
		rc = number_fragments(o, err);
	for (size_t i = 0; i < p->n_ino && !rc; i++) {
		if (o->w[i].frag_kind == FK_NEW) {
			o->w[i].frag_kind = FK_IDX;
			o->w[i].frag_a = o->serial_idx[o->w[i].frag_a];
		} else if (o->w[i].frag_kind == FK_ORIG) {
			rc = fw_error_set(err, FW_EINPUT, sq_node_name(p, i),
					  "squashfs: a fragment was left behind");
		}
	}
out:
	sq_tab_free(l.items);
	sq_tab_free(l.users);
	free(l.first);
	free(l.dirty);
	return rc;
}

/* ---------------------------------------------------------------- */
/* Metadata                                                         */

/*
 * The xattr table is copied as it is: signing changes no xattr, inodes
 * keep their xattr indices, and its only absolute offsets are in the
 * small header at its end, fixed here.  So every namespace, out-of-line
 * values and the sizes mksquashfs recorded survive byte for byte.
 */
static int copy_xattrs(struct sq_out *o, sqfs_super_t *sb,
		       struct fw_error *err)
{
	struct sq_priv *p = o->p;
	uint64_t at = p->super.xattr_id_table_start, kv, delta, *loc;
	const char *name = o->img->path;
	struct {
		uint64_t kv_start;
		uint32_t count;
		uint32_t unused;
	} hdr;
	size_t nblk;
	int rc;

	sb->xattr_id_table_start = UINT64_MAX;
	if ((p->super.flags & SQFS_FLAG_NO_XATTRS) || at == UINT64_MAX)
		return FW_OK;
	if (at > p->super.bytes_used - sizeof(hdr) ||
	    p->file->read_at(p->file, at, &hdr, sizeof(hdr)))
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: the xattr table is truncated");
	kv = le64toh(hdr.kv_start);
	nblk = ((uint64_t)le32toh(hdr.count) * 16 + 8191) / 8192;
	if (nblk > (p->super.bytes_used - at - sizeof(hdr)) / 8 || kv > at)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: the xattr table is corrupt");
	loc = malloc((nblk + 1) * sizeof(*loc));
	if (!loc)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (p->file->read_at(p->file, at + sizeof(hdr), loc, nblk * 8)) {
		free(loc);
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: the xattr table is truncated");
	}
	o->pos = o->file->get_size(o->file);
	delta = o->pos - kv;
	for (size_t i = 0; i < nblk; i++) {
		uint64_t l = le64toh(loc[i]);

		if (l < kv || l >= at) {
			free(loc);
			return fw_error_set(err, FW_EINPUT, name,
					    "squashfs: the xattr table is corrupt");
		}
		loc[i] = htole64(l + delta);
	}
	rc = copy_raw(o, kv, at - kv, name, err);
	hdr.kv_start = htole64(kv + delta);
	sb->xattr_id_table_start = o->pos;
	if (!rc)
		rc = put(o, &hdr, sizeof(hdr), err);
	if (!rc)
		rc = put(o, loc, nblk * 8, err);
	free(loc);
	return rc;
}

static int map_ids(struct sq_out *o, struct fw_error *err)
{
	struct sq_priv *p = o->p;

	o->ids = sqfs_id_table_create(0);
	o->id_map = calloc((size_t)p->super.id_count + 1, sizeof(uint16_t));
	if (!o->ids || !o->id_map)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	for (uint32_t i = 0; i < p->super.id_count; i++) {
		uint32_t id;

		if (sqfs_id_table_index_to_id(p->ids, (sqfs_u16)i, &id) ||
		    sqfs_id_table_id_to_index(o->ids, id, &o->id_map[i]))
			return fw_error_set(err, FW_EINPUT, o->img->path,
					    "squashfs: the id table is corrupt");
	}
	return FW_OK;
}

/* An inode's xattr index in the output. */
static uint32_t new_xattr(const struct sq_out *o, size_t ino)
{
	/* a copied table keeps the indices */
	return o->xid ? o->xid[ino] : o->p->ino[ino].xattr;
}

/* Adds (or replaces) an xattr of an inode, before the inodes are written. */
int sq_out_xattr(void *ctx, size_t idx, const struct fw_xattr *x,
		 struct fw_error *err)
{
	struct sq_out *o = ctx;
	struct wchg *w;
	size_t k;

	if (idx >= o->img->n || strncmp(x->name, "security.", 9))
		return fw_error_set(err, FW_EIO, NULL, "bad xattr for squashfs");
	w = wchg_of(o, o->p->ino_of_ent[idx], err);
	if (!w)
		return err->code;
	for (k = 0; k < w->n_nx && strcmp(w->nx[k].name, x->name); k++)
		;
	if (k < w->n_nx) {
		uint8_t *v = malloc(x->len ? x->len : 1);

		if (!v)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		memcpy(v, x->value, x->len);
		free(w->nx[k].value);
		w->nx[k].value = v;
		w->nx[k].len = x->len;
	} else if (fw_xattrs_add(&w->nx, &w->n_nx, x->name, x->value,
				 x->len) < 0) {
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	o->new_xattrs = 1;
	return FW_OK;
}

/* One inode's key/value block: its old xattrs (a new value replacing
 * one of the same name, in place) and then the new ones. */
static int inode_xattrs(struct sq_out *o, size_t ino, struct fw_error *err)
{
	static const struct wchg none;
	const struct wchg *w = o->w[ino].x ? o->w[ino].x : &none;
	struct fw_xattr *v = NULL;
	size_t n = 0;
	int r = 0, rc;

	o->xid[ino] = SQ_NO_XATTR;
	rc = sq_ino_xattrs(o->p, ino, sq_node_name(o->p, ino), &v, &n, err);
	if (rc || (!n && !w->n_nx))
		return rc;
	r = sqfs_xattr_writer_begin(o->xw, 0);
	for (size_t i = 0; i < n && !r; i++) {
		const struct fw_xattr *x = &v[i];

		for (size_t k = 0; k < w->n_nx; k++)
			if (!strcmp(w->nx[k].name, v[i].name))
				x = &w->nx[k];
		r = sqfs_xattr_writer_add(o->xw, x->name, x->value, x->len);
	}
	for (size_t k = 0; k < w->n_nx && !r; k++) {
		size_t i;

		for (i = 0; i < n && strcmp(w->nx[k].name, v[i].name); i++)
			;
		if (i == n)
			r = sqfs_xattr_writer_add(o->xw, w->nx[k].name,
						  w->nx[k].value, w->nx[k].len);
	}
	if (!r)
		r = sqfs_xattr_writer_end(o->xw, &o->xid[ino]);
	fw_xattrs_free(v, n);
	if (r)
		return fw_error_set(err, FW_EINPUT, o->img->path,
				    "squashfs: cannot write the xattrs of %s "
				    "(%d)", sq_node_name(o->p, ino), r);
	return FW_OK;
}

/* The new xattr table's blocks, in inode order (so reproducible). */
static int plan_xattrs(struct sq_out *o, struct fw_error *err)
{
	int rc = FW_OK;

	if (!o->new_xattrs)
		return FW_OK;
	o->xw = sqfs_xattr_writer_create(0);
	o->xid = calloc(o->p->n_ino + 1, sizeof(*o->xid));
	if (!o->xw || !o->xid)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	for (size_t i = 0; i < o->p->n_ino && !rc; i++)
		rc = inode_xattrs(o, i, err);
	return rc;
}

static sqfs_inode_generic_t *alloc_inode(size_t payload)
{
	return calloc(1, sizeof(sqfs_inode_generic_t) + payload + 1);
}

/* Inode ino as the input has it, read again from its inode table (it was
 * checked when the image was opened). */
static int input_inode(struct sq_out *o, size_t ino, sqfs_inode_generic_t **in,
		       struct fw_error *err)
{
	uint64_t ref = o->p->ino[ino].ref;
	int r = sqfs_meta_reader_read_inode(o->ir, &o->p->super, ref >> 16,
					    ref & 0xFFFF, in);

	if (r)
		return fw_error_set(err, r == SQFS_ERROR_ALLOC ? FW_EIO : FW_EINPUT,
				    sq_node_name(o->p, ino),
				    "squashfs: inode at 0x%llx cannot be read "
				    "again (%d)", (unsigned long long)ref, r);
	return FW_OK;
}

/* The inode of a file, device, fifo, socket or symlink, with its new data
 * location, ids and xattrs (in: the input's). */
static sqfs_inode_generic_t *build_leaf(struct sq_out *o, size_t ino,
					const sqfs_inode_generic_t *in)
{
	const struct sq_inode *si = &o->p->ino[ino];
	const struct wino *w = &o->w[ino];
	const struct wchg *x = w->changed ? w->x : NULL;
	uint32_t xattr = new_xattr(o, ino);
	sqfs_inode_generic_t *n;

	if (!sq_is_file(si)) {
		n = alloc_inode(in->payload_bytes_used);
		if (!n)
			return NULL;
		memcpy(n, in, sizeof(*n) + in->payload_bytes_used);
		n->payload_bytes_available = in->payload_bytes_used;
		if (xattr != SQ_NO_XATTR || si->xattr != SQ_NO_XATTR)
			sqfs_inode_set_xattr_index(n, xattr);
	} else {
		uint32_t nblocks = x ? x->nblocks : si->nblocks;
		uint64_t size = x ? x->size : si->size;
		uint64_t sparse = x ? x->sparse :
				  in->base.type == SQFS_INODE_EXT_FILE ?
				  in->data.file_ext.sparse : 0;
		size_t pl = (size_t)nblocks * 4;
		uint32_t fidx = SQ_NO_FRAG, foff = 0;
		int ext;

		n = alloc_inode(pl);
		if (!n)
			return NULL;
		n->base = in->base;
		n->payload_bytes_available = n->payload_bytes_used = (sqfs_u32)pl;
		if (pl)
			memcpy(n->extra, x ? x->sizes : sq_block_sizes(o->p, si),
			       pl);
		if (w->frag_kind != FK_NONE) {
			fidx = w->frag_a;
			foff = w->frag_off;
		}
		ext = in->base.type == SQFS_INODE_EXT_FILE ||
		      w->start > 0xFFFFFFFFu || size > 0xFFFFFFFFu ||
		      xattr != SQ_NO_XATTR;
		if (ext) {
			n->base.type = SQFS_INODE_EXT_FILE;
			if (in->base.type == SQFS_INODE_EXT_FILE)
				n->data.file_ext = in->data.file_ext;
			else
				n->data.file_ext.nlink = 1;
			n->data.file_ext.blocks_start = w->start;
			n->data.file_ext.file_size = size;
			n->data.file_ext.sparse = sparse;
			n->data.file_ext.fragment_idx = fidx;
			n->data.file_ext.fragment_offset = foff;
			n->data.file_ext.xattr_idx = xattr;
		} else {
			n->data.file.blocks_start = (sqfs_u32)w->start;
			n->data.file.file_size = (sqfs_u32)size;
			n->data.file.fragment_index = fidx;
			n->data.file.fragment_offset = foff;
		}
	}
	n->base.uid_idx = o->id_map[in->base.uid_idx];
	n->base.gid_idx = o->id_map[in->base.gid_idx];
	return n;
}

/* Every this many inodes written, the per-inode tables give back their
 * pages: the metadata is written in tree order, which is nearly their
 * order. */
#define EMIT_TRIM 256

static int emit(struct sq_out *o, size_t ino, sqfs_inode_generic_t *n,
		struct fw_error *err)
{
	sqfs_u64 block;
	sqfs_u32 off;
	int r;

	if (!n)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	sqfs_meta_writer_get_position(o->im, &block, &off);
	r = sqfs_meta_writer_write_inode(o->im, n);
	free(n);
	if (r)
		return fw_error_set(err, FW_EIO, o->of.final,
				    "squashfs: writing an inode failed (%d)", r);
	o->w[ino].ref = (block << 16) | off;
	o->w[ino].emitted = 1;
	/* the tree is walked once: what it touched is done with */
	if (++o->n_emitted % EMIT_TRIM == 0)
		fw_spillmap_trim_all();
	return FW_OK;
}

/* A directory listing, built as mksquashfs's add_dir() builds it. */
struct listing {
	uint8_t *buf;
	size_t len, cap;
	size_t hdr;		/* the open header, SQ_NONE before the first */
	size_t index_p;		/* where the last index point is */
	uint32_t count, start_block, inum;
	struct lidx {
		uint32_t at;	/* offset of its header in the listing */
		uint32_t block;	/* directory table block it lands in */
		const char *name;
	} *idx;
	size_t n_idx, cap_idx;
};

static void close_header(struct listing *l)
{
	if (l->hdr == SQ_NONE)
		return;
	fw_put_le32(l->buf + l->hdr, l->count - 1);
	fw_put_le32(l->buf + l->hdr + 4, l->start_block);
	fw_put_le32(l->buf + l->hdr + 8, l->inum);
}

/*
 * A new header every 256 entries, when the inode block changes, when the
 * inode numbers drift too far apart, and when the listing has grown 8 KiB
 * past the last index point; an index entry goes there.
 */
static int listing_add(struct listing *l, const char *name, uint32_t inum,
		       uint64_t ref, uint16_t type)
{
	size_t size = strlen(name);
	uint32_t block = (uint32_t)(ref >> 16);
	int64_t diff = (int64_t)inum - (int64_t)l->inum;
	int past = l->hdr != SQ_NONE && l->len + 8 + size - l->index_p > 8192;

	if (!size || size > 65536)
		return -1;
	if (l->len + 8 + size + 12 > l->cap) {
		size_t cap = (l->cap + 8 + size + 12) * 2;
		uint8_t *q = realloc(l->buf, cap);

		if (!q)
			return -1;
		l->buf = q;
		l->cap = cap;
	}
	if (l->count == 256 || block != l->start_block || past ||
	    diff > 32767 || diff < -32768) {
		if (past) {
			if (l->n_idx == l->cap_idx) {
				size_t cap = l->cap_idx ? l->cap_idx * 2 : 8;
				void *q = realloc(l->idx, cap * sizeof(*l->idx));

				if (!q)
					return -1;
				l->idx = q;
				l->cap_idx = cap;
			}
			l->idx[l->n_idx].at = (uint32_t)l->len;
			l->idx[l->n_idx++].name = name;
			l->index_p = l->len;
		}
		close_header(l);
		l->hdr = l->len;
		l->start_block = block;
		l->count = 0;
		l->inum = inum;
		l->len += 12;
	}
	fw_put_le16(l->buf + l->len, ref & 0xFFFF);
	fw_put_le16(l->buf + l->len + 2, (uint16_t)(int16_t)(inum - l->inum));
	fw_put_le16(l->buf + l->len + 4, type);
	fw_put_le16(l->buf + l->len + 6, (uint32_t)(size - 1));
	memcpy(l->buf + l->len + 8, name, size);
	l->len += 8 + size;
	l->count++;
	return 0;
}

/* Appends the listing to the directory table, noting where each index
 * point lands. */
static int listing_write(struct sq_out *o, struct listing *l, uint64_t *dref)
{
	sqfs_u64 block;
	sqfs_u32 off;
	size_t at = 0;
	int r = 0;

	close_header(l);
	sqfs_meta_writer_get_position(o->dm, &block, &off);
	*dref = (block << 16) | off;
	for (size_t i = 0; i < l->n_idx && !r; i++) {
		r = sqfs_meta_writer_append(o->dm, l->buf + at, l->idx[i].at - at);
		at = l->idx[i].at;
		sqfs_meta_writer_get_position(o->dm, &block, &off);
		l->idx[i].block = (uint32_t)block;
	}
	/* an empty directory has no buffer: NULL + 0 is undefined */
	if (!r && l->len > at)
		r = sqfs_meta_writer_append(o->dm, l->buf + at, l->len - at);
	return r;
}

/* Children first, then the listing, then the directory's own inode. */
static int emit_dir(struct sq_out *o, size_t d, struct fw_error *err)
{
	struct sq_priv *p = o->p;
	size_t ino = p->node[d].ino, payload = 0;
	sqfs_inode_generic_t *in = NULL;
	uint32_t xattr = new_xattr(o, ino), nlink, parent;
	struct listing l = { .hdr = SQ_NONE, .count = 256 };
	sqfs_inode_generic_t *n;
	size_t size;
	uint64_t dref = 0;
	int rc = FW_OK, ext;

	for (uint32_t c = p->node[d].child; c != SQ_NONE32 && !rc;
	     c = p->node[c].next) {
		size_t ci = p->node[c].ino;
		sqfs_inode_generic_t *cin = NULL;

		if (sq_is_dir(&p->ino[ci])) {
			rc = emit_dir(o, c, err);
		} else if (!o->w[ci].emitted) {
			rc = input_inode(o, ci, &cin, err);
			if (!rc)
				rc = emit(o, ci, build_leaf(o, ci, cin), err);
			sqfs_free(cin);
		}
	}
	if (rc)
		return rc;
	for (uint32_t c = p->node[d].child; c != SQ_NONE32 && !rc;
	     c = p->node[c].next) {
		const struct sq_inode *csi = &p->ino[p->node[c].ino];

		if (listing_add(&l, p->names + p->node[c].name, csi->num,
				o->w[p->node[c].ino].ref,
				(uint16_t)((csi->type - 1) % 7 + 1)))
			rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	if (!rc)
		rc = input_inode(o, ino, &in, err);
	if (!rc && listing_write(o, &l, &dref))
		rc = fw_error_set(err, FW_EIO, o->of.final,
				  "squashfs: writing a directory failed");
	if (rc)
		goto out;
	size = l.len + 3;	/* "." and ".." */
	if (in->base.type == SQFS_INODE_EXT_DIR) {
		nlink = in->data.dir_ext.nlink;
		parent = in->data.dir_ext.parent_inode;
	} else {
		nlink = in->data.dir.nlink;
		parent = in->data.dir.parent_inode;
	}
	ext = in->base.type == SQFS_INODE_EXT_DIR || xattr != SQ_NO_XATTR ||
	      l.n_idx || size > 0xFFFF || (dref >> 16) > 0xFFFFFFFFu;
	for (size_t i = 0; i < l.n_idx; i++)
		payload += sizeof(sqfs_dir_index_t) + strlen(l.idx[i].name);
	n = alloc_inode(payload);
	if (!n) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	n->base = in->base;
	n->base.uid_idx = o->id_map[in->base.uid_idx];
	n->base.gid_idx = o->id_map[in->base.gid_idx];
	if (ext) {
		uint8_t *q = (uint8_t *)n->extra;

		n->base.type = SQFS_INODE_EXT_DIR;
		n->data.dir_ext.nlink = nlink;
		n->data.dir_ext.size = (sqfs_u32)size;
		n->data.dir_ext.start_block = (sqfs_u32)(dref >> 16);
		n->data.dir_ext.parent_inode = parent;
		n->data.dir_ext.offset = dref & 0xFFFF;
		n->data.dir_ext.xattr_idx = xattr;
		n->data.dir_ext.inodex_count = (sqfs_u16)l.n_idx;
		/* the index, in the form libsquashfs's inode writer takes */
		for (size_t i = 0; i < l.n_idx; i++) {
			sqfs_dir_index_t e = {
				.index = l.idx[i].at,
				.start_block = l.idx[i].block,
				.size = (sqfs_u32)strlen(l.idx[i].name) - 1,
			};

			memcpy(q, &e, sizeof(e));
			memcpy(q + sizeof(e), l.idx[i].name, e.size + 1);
			q += sizeof(e) + e.size + 1;
		}
		n->payload_bytes_used = n->payload_bytes_available =
			(sqfs_u32)payload;
	} else {
		n->base.type = SQFS_INODE_DIR;
		n->data.dir.start_block = (sqfs_u32)(dref >> 16);
		n->data.dir.nlink = nlink;
		n->data.dir.size = (sqfs_u16)size;
		n->data.dir.offset = dref & 0xFFFF;
		n->data.dir.parent_inode = parent;
	}
	rc = emit(o, ino, n, err);
out:
	sqfs_free(in);
	free(l.buf);
	free(l.idx);
	return rc;
}

static int write_le_table(struct sq_out *o, const void *data, size_t size,
			  unsigned flag, uint64_t *start, struct fw_error *err)
{
	int r = sqfs_write_table(o->file, cmp_for(o, flag), data, size, start);

	if (r)
		return fw_error_set(err, FW_EIO, o->of.final,
				    "squashfs: writing a table failed (%d)", r);
	return FW_OK;
}

static int write_metadata(struct sq_out *o, struct fw_error *err)
{
	struct sq_priv *p = o->p;
	sqfs_super_t sb = p->super;
	size_t root = 0;	/* node 0 is the root */
	uint64_t *tbl = NULL;
	int rc, r;

	/* the tree, parked since the writer began */
	rc = p->node ? FW_OK
		     : unpark(o, (void **)&p->node,
			      p->n_node * sizeof(*p->node), o->node_at, err);
	if (!rc && !p->names)
		rc = unpark(o, (void **)&p->names, p->n_names, o->names_at, err);
	if (!rc)
		p->tree_parked = 0;
	if (!rc)
		rc = map_ids(o, err);
	if (!rc)
		rc = plan_xattrs(o, err);
	if (rc)
		return rc;
	o->im = sqfs_meta_writer_create(o->file,
					cmp_for(o, SQFS_FLAG_UNCOMPRESSED_INODES),
					SQFS_META_WRITER_KEEP_IN_MEMORY);
	o->dm = sqfs_meta_writer_create(o->file,
					cmp_for(o, SQFS_FLAG_UNCOMPRESSED_INODES),
					SQFS_META_WRITER_KEEP_IN_MEMORY);
	o->ir = sqfs_meta_reader_create(p->file, p->cmp,
					p->super.inode_table_start,
					p->super.directory_table_start);
	if (!o->im || !o->dm || !o->ir)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	rc = emit_dir(o, root, err);
	if (rc)
		return rc;
	sb.root_inode_ref = o->w[p->node[root].ino].ref;

	r = sqfs_meta_writer_flush(o->im);
	if (!r)
		r = sqfs_meta_writer_flush(o->dm);
	sb.inode_table_start = o->file->get_size(o->file);
	if (!r)
		r = sqfs_meta_write_write_to_file(o->im);
	sb.directory_table_start = o->file->get_size(o->file);
	if (!r)
		r = sqfs_meta_write_write_to_file(o->dm);
	if (r)
		return fw_error_set(err, FW_EIO, o->of.final,
				    "squashfs: writing the inode and directory "
				    "tables failed (%d)", r);

	/* fragment table */
	sb.fragment_entry_count = (sqfs_u32)o->n_ft;
	if (o->n_ft) {
		struct { uint64_t start; uint32_t size, pad; } *ft;

		ft = calloc(o->n_ft, sizeof(*ft));
		if (!ft)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		for (size_t i = 0; i < o->n_ft; i++) {
			ft[i].start = htole64(o->ft[i].start);
			ft[i].size = htole32(o->ft[i].size);
		}
		rc = write_le_table(o, ft, o->n_ft * sizeof(*ft),
				    SQFS_FLAG_UNCOMPRESSED_FRAGMENTS,
				    &sb.fragment_table_start, err);
		free(ft);
		if (rc)
			return rc;
	} else {
		sb.fragment_table_start = o->file->get_size(o->file);
	}

	/* export table: inode number -> inode reference */
	if (p->super.flags & SQFS_FLAG_EXPORTABLE) {
		tbl = calloc(p->super.inode_count, sizeof(*tbl));
		if (!tbl)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		for (size_t i = 0; i < p->n_ino; i++)
			tbl[p->ino[i].num - 1] =
				htole64(o->w[i].ref);
		rc = write_le_table(o, tbl, p->super.inode_count * sizeof(*tbl),
				    SQFS_FLAG_UNCOMPRESSED_INODES,
				    &sb.export_table_start, err);
		free(tbl);
		if (rc)
			return rc;
	} else {
		sb.export_table_start = UINT64_MAX;
	}

	r = sqfs_id_table_write(o->ids, o->file, &sb,
				cmp_for(o, SQFS_FLAG_UNCOMPRESSED_IDS));
	if (r)
		return fw_error_set(err, FW_EIO, o->of.final,
				    "squashfs: writing the id table failed (%d)",
				    r);
	if (o->xw) {
		r = sqfs_xattr_writer_flush(o->xw, o->file, &sb,
				cmp_for(o, SQFS_FLAG_UNCOMPRESSED_XATTRS));
		if (r)
			return fw_error_set(err, FW_EIO, o->of.final,
					    "squashfs: writing the xattr table "
					    "failed (%d)", r);
		rc = FW_OK;
	} else {
		rc = copy_xattrs(o, &sb, err);
	}
	if (rc)
		return rc;
	sb.flags = p->super.flags;	/* as the input said, whatever wrote */
	if (o->xw)
		sb.flags &= (sqfs_u16)~SQFS_FLAG_NO_XATTRS;
	sb.bytes_used = o->file->get_size(o->file);

	/* mksquashfs pads to 4 KiB unless -nopad */
	if (p->file_size > p->super.bytes_used && sb.bytes_used % 4096) {
		static const uint8_t zero[4096];
		size_t pad = 4096 - sb.bytes_used % 4096;

		if (o->file->write_at(o->file, sb.bytes_used, zero, pad))
			return io_fail(o, err);
	}
	r = sqfs_super_write(&sb, o->file);
	if (r)
		return io_fail(o, err);
	return FW_OK;
}

/* ---------------------------------------------------------------- */

/*
 * The spill file: nameless, beside the output (where there is room for
 * the output, there is for a fraction of it), else in TMPDIR or /tmp.
 * Gone when fwsign is, however it ends.
 */
static int spill_open(struct sq_out *o, struct fw_error *err)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = strdup(o->of.final), *slash;

	if (!dir)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	o->spill_fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	free(dir);
	if (o->spill_fd < 0 && tmp && *tmp)
		o->spill_fd = open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (o->spill_fd < 0)
		o->spill_fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC,
				   0600);
	if (o->spill_fd < 0)
		return fw_error_set(err, FW_EIO, o->of.final,
				    "cannot make a temporary file: %s",
				    strerror(errno));
	return FW_OK;
}

int sq_out_begin(struct fw_image *img, const struct fw_out_opts *oo,
		 void **ctx, struct fw_error *err)
{
	struct sq_priv *p = img->priv;
	struct sq_out *o;
	const char *cname;
	uint8_t *opts = NULL;
	int rc;

	*ctx = NULL;
	if (oo->in_place)
		return fw_error_set(err, FW_EUSAGE, img->path,
				    "a squashfs image cannot be signed in "
				    "place; give an output file");
	o = calloc(1, sizeof(*o));
	if (!o)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	o->of.fd = -1;
	o->spill_fd = -1;
	*ctx = o;
	o->img = img;
	o->p = p;
	o->bs = p->super.block_size;
	o->max_size = oo->max_size;
	o->jobs = oo->jobs;
	o->cache = oo->cache;
	if (o->cache)
		zc_prefix(o);
	o->store.base.destroy = store_destroy;
	o->store.get_configuration = store_config;
	o->store.write_options = store_options;
	o->store.read_options = store_options;
	o->store.do_block = store_block;
	o->pk = malloc(o->bs);
	o->cbuf = malloc(o->bs);
	o->nbuf = malloc(o->bs);
	if (!o->pk || !o->cbuf || !o->nbuf)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	o->cmp = make_compressor(p, 1);
	o->mcmp = make_compressor(p, 0);
	cname = sqfs_compressor_name_from_id(p->super.compression_id);
	if (!o->cmp || !o->mcmp)
		return fw_error_set(err, FW_EINPUT, img->path,
				    "squashfs uses %s, which fwsign cannot "
				    "write", cname ? cname : "?");
	o->slot = sq_slot_get(p, err);
	if (!o->slot)
		return err->code;
	p->stash_on = 1;
	rc = fw_outfile_begin(&o->of, oo->path, err);
	if (rc)
		return rc;
	rc = spill_open(o, err);
	/* the tree waits in the spill file until the metadata is written */
	if (!rc)
		rc = park(o, (void **)&p->node, p->n_node * sizeof(*p->node),
			  &o->node_at, err);
	if (!rc)
		rc = park(o, (void **)&p->names, p->n_names, &o->names_at, err);
	if (rc)
		return rc;
	p->tree_parked = 1;
	o->file = sq_io_new(o->of.fd, 0, 0);
	if (!o->file)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	/* room for the superblock, then the input's compressor options */
	opts = calloc(1, 96 + p->opts_len);
	if (!opts)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (p->opts_len && p->file->read_at(p->file, 96, opts + 96, p->opts_len)) {
		free(opts);
		return fw_error_set(err, FW_EINPUT, img->path,
				    "squashfs compressor options cannot be read");
	}
	rc = put(o, opts, 96 + p->opts_len, err);
	free(opts);
	return rc;
}

int sq_out_commit(void *ctx, struct fw_error *err)
{
	struct sq_out *o = ctx;
	int rc = layout_data(o, err);

	if (!rc)
		rc = write_metadata(o, err);
	if (!rc)
		rc = fw_outfile_commit(&o->of, o->max_size, err);
	return rc;
}

void sq_out_abort(void *ctx)
{
	struct sq_out *o = ctx;

	if (!o)
		return;
	fw_outfile_abort(&o->of);
	/* give back what is parked: the image outlives its writer */
	if (o->spill_fd >= 0) {
		struct sq_priv *p = o->p;
		struct fw_error e = { 0 };

		p->tree_parked = 0;
		if (!p->node && p->n_node)
			unpark(o, (void **)&p->node,
			       p->n_node * sizeof(*p->node), o->node_at, &e);
		if (!p->names && p->n_names)
			unpark(o, (void **)&p->names, p->n_names, o->names_at,
			       &e);
		if (!p->ino && p->n_ino)
			unpark(o, (void **)&p->ino, p->n_ino * sizeof(*p->ino),
			       o->ino_at, &e);
		if (!p->ino_of_ent && o->img->n)
			unpark(o, (void **)&p->ino_of_ent,
			       o->img->n * sizeof(*p->ino_of_ent), o->ioe_at,
			       &e);
	}
	sqfs_destroy(o->file);
	sqfs_destroy(o->cmp);
	sqfs_destroy(o->mcmp);
	sq_slot_put(o->p, o->slot);
	for (size_t i = 0; i < o->n_xs; i++) {
		struct wchg *x = o->xs[i];

		free(x->sizes);
		free(x->bkind);
		fw_xattrs_free(x->nx, x->n_nx);
		free(x);
	}
	sqfs_destroy(o->xw);
	free(o->xid);
	free(o->xs);
	fw_hmap_free(&o->xmap);
	sq_tab_free(o->w);
	free(o->pk);
	free(o->cbuf);
	free(o->nbuf);
	if (o->spill_fd >= 0)
		close(o->spill_fd);
	free(o->serial_idx);
	free(o->ft);
	free_pieces(o);
	free(o->id_map);
	sqfs_destroy(o->ids);
	sqfs_destroy(o->im);
	sqfs_destroy(o->dm);
	sqfs_destroy(o->ir);
	free(o);
}
