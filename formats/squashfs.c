// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * squashfs 4.0, read in-process with libsquashfs: no mount, no root, no
 * unsquashfs.  open() walks the directory table itself (meta reader +
 * readdir) rather than through sqfs_dir_reader_get_full_hierarchy, because
 * the writer needs every entry's inode reference and because the library's
 * walk recurses without a depth limit and only catches loops by inode
 * number.  Here a directory inode may be entered once, the depth is
 * bounded, and sizes that would make the library allocate absurd amounts
 * are refused before it is asked.  An entry whose name could escape
 * ("..", a slash) is not handed to the engine but stays in the tree, so
 * the writer keeps it unchanged.  File data is read and decompressed here
 * too (per-thread decompressors), since the writer copies the very same
 * on-disk blocks.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <sqfs/compressor.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/meta_reader.h>
#include <sqfs/dir.h>
#include <sqfs/block.h>
#include <sqfs/xattr.h>
#include <sqfs/xattr_reader.h>
#include <lz4.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "squashfs.h"
#include "../src/io.h"
#include "../src/bytes.h"
#include "../src/fw_limits.h"
#include "../src/signer_int.h"
#include "../src/spillmap.h"


/* ---------------------------------------------------------------- */
/* I/O                                                              */

static int io_read_at(sqfs_file_t *f, sqfs_u64 off, void *buf, size_t n)
{
	struct sq_io *io = (struct sq_io *)f;
	ssize_t r;

	if (off > io->size || n > io->size - off)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	r = fw_pread_full(io->fd, buf, n, off);
	if (r < 0)
		return SQFS_ERROR_IO;
	return (size_t)r == n ? 0 : SQFS_ERROR_OUT_OF_BOUNDS;
}

static int io_write_at(sqfs_file_t *f, sqfs_u64 off, const void *buf,
		       size_t n)
{
	struct sq_io *io = (struct sq_io *)f;

	if (fw_pwrite_full(io->fd, buf, n, off))
		return SQFS_ERROR_IO;
	if (off + n > io->size)
		io->size = off + n;
	return 0;
}

static sqfs_u64 io_get_size(const sqfs_file_t *f)
{
	return ((const struct sq_io *)f)->size;
}

static int io_truncate(sqfs_file_t *f, sqfs_u64 size)
{
	struct sq_io *io = (struct sq_io *)f;

	if (ftruncate(io->fd, (off_t)size) < 0)
		return SQFS_ERROR_IO;
	io->size = size;
	return 0;
}

static void io_destroy(sqfs_object_t *o)
{
	struct sq_io *io = (struct sq_io *)o;

	if (io->own_fd)
		close(io->fd);
	free(io);
}

sqfs_file_t *sq_io_new(int fd, int own_fd, uint64_t size)
{
	struct sq_io *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	io->base.base.destroy = io_destroy;
	io->base.read_at = io_read_at;
	io->base.write_at = io_write_at;
	io->base.get_size = io_get_size;
	io->base.truncate = io_truncate;
	io->fd = fd;
	io->own_fd = own_fd;
	io->size = size;
	return &io->base;
}

/* ---------------------------------------------------------------- */
/* Small helpers                                                    */

static const char *sq_strerror(int e)
{
	switch (e) {
	case SQFS_ERROR_ALLOC: return "out of memory";
	case SQFS_ERROR_IO: return "read error";
	case SQFS_ERROR_COMPRESSOR: return "cannot decompress";
	case SQFS_ERROR_CORRUPTED: return "corrupt";
	case SQFS_ERROR_UNSUPPORTED: return "unsupported";
	case SQFS_ERROR_OVERFLOW: return "a size overflows";
	case SQFS_ERROR_OUT_OF_BOUNDS: return "truncated or out of bounds";
	case SFQS_ERROR_SUPER_MAGIC: return "bad magic";
	case SFQS_ERROR_SUPER_VERSION: return "not version 4.0";
	case SQFS_ERROR_SUPER_BLOCK_SIZE: return "bad block size";
	case SQFS_ERROR_NOT_DIR: return "not a directory";
	case SQFS_ERROR_NO_ENTRY: return "no such entry";
	case SQFS_ERROR_LINK_LOOP: return "directory loop";
	default: return "error";
	}
}

static int sq_fail(struct fw_error *err, const char *file, int e,
		   const char *what)
{
	return fw_error_set(err, e == SQFS_ERROR_ALLOC ? FW_EIO : FW_EINPUT,
			    file, "squashfs: %s: %s", what, sq_strerror(e));
}

int sq_is_dir(const struct sq_inode *i)
{
	return i->type == SQFS_INODE_DIR || i->type == SQFS_INODE_EXT_DIR;
}

int sq_is_file(const struct sq_inode *i)
{
	return i->type == SQFS_INODE_FILE || i->type == SQFS_INODE_EXT_FILE;
}

const uint32_t *sq_block_sizes(const struct sq_priv *p,
			       const struct sq_inode *i)
{
	return p->bsz + i->bsz;
}

const char *sq_node_name(const struct sq_priv *p, size_t ino)
{
	uint32_t n;

	if (p->tree_parked || !p->ino || !p->node || !p->names)
		return p->path;	/* parked by the writer */
	n = p->ino[ino].first_node;
	return n == SQ_NONE32 ? "?" : p->names + p->node[n].name;
}

/* A name for messages: unprintable bytes become '?'. */
static void printable(const char *in, char *out, size_t len)
{
	size_t i = 0;

	for (; *in && i + 1 < len; in++)
		out[i++] = isprint((unsigned char)*in) ? *in : '?';
	out[i] = '\0';
}

/* ---------------------------------------------------------------- */
/* Data blocks                                                      */

struct sq_slot *sq_slot_get(struct sq_priv *p, struct fw_error *err)
{
	return sq_slot_get_for(p, SQ_NO_FRAG, err);
}

/* A slot, preferably one that holds fragment block frag decompressed:
 * files in a row share fragment blocks, and threads take them in turn. */
struct sq_slot *sq_slot_get_for(struct sq_priv *p, uint32_t frag,
				struct fw_error *err)
{
	struct sq_slot *s, **pp;
	sqfs_compressor_config_t cfg;
	size_t bs = p->super.block_size;

	pthread_mutex_lock(&p->lock);
	for (pp = &p->slots; frag != SQ_NO_FRAG && *pp &&
	     (*pp)->frag_idx != frag; pp = &(*pp)->next)
		;
	if (frag == SQ_NO_FRAG || !*pp)
		pp = &p->slots;
	s = *pp;
	if (s)
		*pp = s->next;
	pthread_mutex_unlock(&p->lock);
	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s) {
		fw_error_set(err, FW_EIO, NULL, "out of memory");
		return NULL;
	}
	s->frag_idx = SQ_NO_FRAG;
	/* Decompressing needs no options, and libsquashfs refuses some that
	 * mksquashfs writes (an xz dictionary of 4 KiB). */
	sqfs_compressor_config_init(&cfg, p->super.compression_id, bs,
				    SQFS_COMP_FLAG_UNCOMPRESS);
	s->raw = malloc(bs);
	s->blk = malloc(bs);
	s->frag = malloc(bs);
	if (!s->raw || !s->blk || !s->frag ||
	    sqfs_compressor_create(&cfg, &s->dec)) {
		sq_slot_free(s);
		fw_error_set(err, FW_EIO, NULL,
			     "squashfs: cannot create a decompressor");
		return NULL;
	}
	return s;
}

void sq_slot_put(struct sq_priv *p, struct sq_slot *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&p->lock);
	s->next = p->slots;
	p->slots = s;
	pthread_mutex_unlock(&p->lock);
}

void sq_slot_free(struct sq_slot *s)
{
	if (!s)
		return;
	sqfs_destroy(s->dec);
	for (int i = 0; i < SQ_BCACHE; i++)
		free(s->bc[i].buf);
	free(s->raw);
	free(s->blk);
	free(s->frag);
	free(s);
}

#define SQ_TAB_HDR 16	/* its spill map */

void *sq_tab_realloc(void *t, size_t n)
{
	struct fw_spillmap *m;
	uint8_t *b;

	if (n > SIZE_MAX / 2)
		return NULL;
	if (t)
		memcpy(&m, (uint8_t *)t - SQ_TAB_HDR, sizeof(m));
	else if (!(m = fw_spillmap_new(0)))
		return NULL;
	b = fw_spillmap_grow(m, n + SQ_TAB_HDR);
	if (!b) {
		if (!t)
			fw_spillmap_free(m);
		return NULL;
	}
	memcpy(b, &m, sizeof(m));
	return b + SQ_TAB_HDR;
}

int sq_tab_trim(void *t)
{
	struct fw_spillmap *m;

	if (!t)
		return 0;
	memcpy(&m, (uint8_t *)t - SQ_TAB_HDR, sizeof(m));
	if (!fw_spillmap_spilled(m))
		return 0;
	fw_spillmap_trim(m);
	return 1;
}

void sq_tab_free(void *t)
{
	struct fw_spillmap *m;

	if (!t)
		return;
	memcpy(&m, (uint8_t *)t - SQ_TAB_HDR, sizeof(m));
	fw_spillmap_free(m);
}

void sq_drop_caches(struct sq_priv *p)
{
	struct sq_slot *idle;

	pthread_mutex_lock(&p->lock);
	idle = p->slots;
	p->slots = NULL;
	for (int i = 0; i < SQ_FCACHE; i++) {
		struct sq_fcache *c = &p->fc[i];

		if (c->refs || c->state == 1)
			continue;
		free(c->buf);
		c->buf = NULL;
		c->state = 0;
	}
	pthread_mutex_unlock(&p->lock);
	while (idle) {
		struct sq_slot *s = idle;

		idle = s->next;
		sq_slot_free(s);
	}
}

uint64_t sq_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reads and decompresses one block; *out_len gets the decompressed size,
 * which must be expect unless expect is 0 (fragment blocks). */
static int read_any(struct sq_priv *p, struct sq_slot *s, uint64_t off,
		    uint32_t sw, uint8_t *out, size_t expect, size_t *out_len,
		    const char *name, struct fw_error *err)
{
	size_t bs = p->super.block_size, n = sw & SQ_BLK_SIZE_MASK;
	int rc;

	if ((sw & ~(SQ_BLK_UNCOMPRESSED | SQ_BLK_SIZE_MASK)) || n > bs)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: data block size 0x%x is corrupt",
				    sw);
	if (off > p->super.bytes_used || n > p->super.bytes_used - off)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: data block at %llu lies outside "
				    "the image", (unsigned long long)off);
	rc = p->file->read_at(p->file, off, s->raw, n);
	if (rc)
		return sq_fail(err, name, rc, "reading a data block");
	if (sw & SQ_BLK_UNCOMPRESSED) {
		memcpy(out, s->raw, n);
		*out_len = n;
	} else {
		uint64_t t0 = p->prof ? sq_cpu_ns() : 0;
		sqfs_s32 r = s->dec->do_block(s->dec, s->raw, (sqfs_u32)n, out,
					      (sqfs_u32)bs);

		if (p->prof) {
			p->ns_dec += sq_cpu_ns() - t0;
			p->n_dec++;
			p->b_dec += r > 0 ? (uint64_t)r : 0;
		}

		if (r <= 0)
			return fw_error_set(err, FW_EINPUT, name,
					    "squashfs: a data block at %llu "
					    "does not decompress",
					    (unsigned long long)off);
		*out_len = (size_t)r;
	}
	if (expect && *out_len != expect)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: a data block at %llu holds %zu "
				    "bytes, not %zu", (unsigned long long)off,
				    *out_len, expect);
	return FW_OK;
}

int sq_read_block(struct sq_priv *p, struct sq_slot *s, uint64_t off,
		  uint32_t sw, size_t expect, size_t *raw_len,
		  const char *name, struct fw_error *err)
{
	size_t got;

	*raw_len = sw & SQ_BLK_SIZE_MASK;
	if ((sw & SQ_BLK_SIZE_MASK) == 0) {
		if (sw)
			return fw_error_set(err, FW_EINPUT, name,
					    "squashfs: data block size 0x%x is "
					    "corrupt", sw);
		memset(s->blk, 0, expect);	/* sparse */
		return FW_OK;
	}
	return read_any(p, s, off, sw, s->blk, expect, &got, name, err);
}

/* Block k of a file as sq_read_block reads it, from the slot's cache of
 * decoded blocks: *out points at it (in the cache when keep, else in
 * s->blk unless the cache had it). */
static int cached_block(struct sq_priv *p, struct sq_slot *s, uint64_t off,
			uint32_t sw, size_t expect, int keep,
			const uint8_t **out, const char *name,
			struct fw_error *err)
{
	struct sq_bcache *c, *old = &s->bc[0];
	size_t raw, got;
	int rc;

	for (int i = 0; i < SQ_BCACHE; i++) {
		c = &s->bc[i];
		if (c->sw && c->off == off && c->sw == sw && c->len == expect) {
			c->tick = ++s->bc_tick;
			*out = c->buf;
			return FW_OK;
		}
		if (c->tick < old->tick)
			old = c;
	}
	if (!keep || !(sw & SQ_BLK_SIZE_MASK)) {
		*out = s->blk;
		return sq_read_block(p, s, off, sw, expect, &raw, name, err);
	}
	if (!old->buf && !(old->buf = malloc(p->super.block_size)))
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	old->sw = 0;
	rc = read_any(p, s, off, sw, old->buf, expect, &got, name, err);
	if (rc)
		return rc;
	old->off = off;
	old->sw = sw;
	old->len = expect;
	old->tick = ++s->bc_tick;
	*out = old->buf;
	return FW_OK;
}

int sq_frag_where(struct sq_priv *p, uint32_t idx, uint64_t *start,
		  uint32_t *sw, const char *name, struct fw_error *err)
{
	sqfs_fragment_t f;

	if (idx >= p->n_frags || sqfs_frag_table_lookup(p->frags, idx, &f))
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: fragment %u does not exist", idx);
	*start = f.start_offset;
	*sw = f.size;
	if ((f.size & SQ_BLK_SIZE_MASK) == 0)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: fragment block %u is empty", idx);
	return FW_OK;
}

int sq_read_frag(struct sq_priv *p, struct sq_slot *s, uint32_t idx,
		 const char *name, struct fw_error *err)
{
	uint64_t start = 0;	/* for gcc: sq_frag_where sets both or fails */
	uint32_t sw = 0;
	int rc;

	if (s->frag_idx == idx)
		return FW_OK;
	s->frag_idx = SQ_NO_FRAG;
	rc = sq_frag_where(p, idx, &start, &sw, name, err);
	if (!rc)
		rc = read_any(p, s, start, sw, s->frag, 0, &s->frag_len, name,
			      err);
	if (!rc)
		s->frag_idx = idx;
	return rc;
}

/* ---------------------------------------------------------------- */
/* Opening                                                          */

static int sq_bid(const char *path, const struct stat *st,
		  const uint8_t *head, size_t n)
{
	(void)path;
	if (!S_ISREG(st->st_mode) || n < 96)
		return 0;
	if (!memcmp(head, "hsqs", 4))
		/* other versions bid too, to be refused by name */
		return head[28] == 4 && head[29] == 0 && head[30] == 0 &&
		       head[31] == 0 ? FW_BID_MAX : 150;
	if (!memcmp(head, "sqsh", 4))
		return 150;	/* big-endian: squashfs 3 and older */
	return 0;
}

struct scan {
	struct fw_image *img;
	struct sq_priv *p;
	sqfs_meta_reader_t *ir;		/* inode table */
	sqfs_meta_reader_t *dr;		/* directory table */
	struct fw_hmap by_ref, by_num;	/* inode reference, number -> ino */
	unsigned char *entered;		/* per inode: directory walked */
	size_t cap_entered;
	uint64_t inode_bytes_max;	/* bound on the uncompressed inode table */
	struct fw_error *err;
};

/*
 * Before libsquashfs reads an extended file inode, check its size: the
 * library allocates 4 bytes per block of the stated size, and a forged
 * size would ask for petabytes.  Each block needs 4 bytes of the inode
 * table, so a real file cannot state more blocks than the table holds.
 */
static int precheck_inode(struct scan *s, uint64_t ref, const char *name)
{
	struct sq_priv *p = s->p;
	sqfs_inode_t base;
	sqfs_inode_file_ext_t fx;
	uint64_t blocks;

	if (sqfs_meta_reader_seek(s->ir, p->super.inode_table_start + (ref >> 16),
				  ref & 0xFFFF) ||
	    sqfs_meta_reader_read(s->ir, &base, sizeof(base)))
		return fw_error_set(s->err, FW_EINPUT, name,
				    "squashfs: inode at 0x%llx cannot be read",
				    (unsigned long long)ref);
	if (le16toh(base.type) == SQFS_INODE_SLINK ||
	    le16toh(base.type) == SQFS_INODE_EXT_SLINK) {
		/* the library allocates the stated target size too */
		sqfs_inode_slink_t sl;

		if (sqfs_meta_reader_read(s->ir, &sl, sizeof(sl)))
			return fw_error_set(s->err, FW_EINPUT, name,
					    "squashfs: inode at 0x%llx cannot "
					    "be read", (unsigned long long)ref);
		if (le32toh(sl.target_size) > 65535)
			return fw_error_set(s->err, FW_EINPUT, name,
					    "squashfs: symlink of %u bytes is "
					    "absurd", le32toh(sl.target_size));
		return FW_OK;
	}
	if (le16toh(base.type) != SQFS_INODE_EXT_FILE)
		return FW_OK;
	if (sqfs_meta_reader_read(s->ir, &fx, sizeof(fx)))
		return fw_error_set(s->err, FW_EINPUT, name,
				    "squashfs: inode at 0x%llx cannot be read",
				    (unsigned long long)ref);
	blocks = le64toh(fx.file_size) / p->super.block_size;
	if (blocks > s->inode_bytes_max / 4)
		return fw_error_set(s->err, FW_EINPUT, name,
				    "squashfs: file size %llu is absurd",
				    (unsigned long long)le64toh(fx.file_size));
	return FW_OK;
}

static int check_inode(struct scan *s, struct sq_inode *si,
		       const sqfs_inode_generic_t *in, const char *name)
{
	struct sq_priv *p = s->p;
	uint32_t num = in->base.inode_number, dummy;

	if (num == 0 || num > p->super.inode_count)
		return fw_error_set(s->err, FW_EINPUT, name,
				    "squashfs: inode number %u is out of range",
				    num);
	if (sqfs_id_table_index_to_id(p->ids, in->base.uid_idx, &dummy) ||
	    sqfs_id_table_index_to_id(p->ids, in->base.gid_idx, &dummy))
		return fw_error_set(s->err, FW_EINPUT, name,
				    "squashfs: inode %u has a bad owner index",
				    num);
	si->num = num;
	si->type = in->base.type;
	si->xattr = SQ_NO_XATTR;
	sqfs_inode_get_xattr_index(in, &si->xattr);
	si->frag_idx = SQ_NO_FRAG;
	if (!sq_is_file(si))
		return FW_OK;
	sqfs_inode_get_file_size(in, &si->size);
	sqfs_inode_get_file_block_start(in, &si->blocks_start);
	sqfs_inode_get_frag_location(in, &si->frag_idx, &si->frag_off);
	si->nblocks = (uint32_t)sqfs_inode_get_file_block_count(in);
	/* the block sizes, kept in one table for all files */
	if (si->nblocks > UINT32_MAX - p->n_bsz)
		return fw_error_set(s->err, FW_EINPUT, name,
				    "squashfs: too many blocks");
	if (p->n_bsz + si->nblocks > p->cap_bsz) {
		size_t cap = (p->cap_bsz ? p->cap_bsz * 2 : 1024) + si->nblocks;
		void *q = sq_tab_realloc(p->bsz, cap * sizeof(*p->bsz));

		if (!q)
			return fw_error_set(s->err, FW_EIO, NULL, "out of memory");
		p->bsz = q;
		p->cap_bsz = cap;
	}
	si->bsz = (uint32_t)p->n_bsz;
	if (si->nblocks)
		memcpy(p->bsz + p->n_bsz, in->extra, si->nblocks * 4u);
	p->n_bsz += si->nblocks;
	if (si->frag_idx != SQ_NO_FRAG && si->frag_off == 0xFFFFFFFF)
		si->frag_idx = SQ_NO_FRAG;
	if (si->size % p->super.block_size == 0)
		si->frag_idx = SQ_NO_FRAG;	/* nothing would be in it */
	if (si->frag_idx != SQ_NO_FRAG &&
	    (si->frag_idx >= p->n_frags ||
	     si->frag_off >= p->super.block_size))
		return fw_error_set(s->err, FW_EINPUT, name,
				    "squashfs: inode %u points at a fragment "
				    "that does not exist", num);
	for (uint32_t k = 0; k < si->nblocks; k++) {
		uint32_t sw = sq_block_sizes(p, si)[k];

		if ((sw & ~(SQ_BLK_UNCOMPRESSED | SQ_BLK_SIZE_MASK)) ||
		    (sw & SQ_BLK_SIZE_MASK) > p->super.block_size)
			return fw_error_set(s->err, FW_EINPUT, name,
					    "squashfs: inode %u has a corrupt "
					    "block size", num);
	}
	return FW_OK;
}

/* The inode at ref, noted once: later references (hard links) share it.
 * *inp gets it as libsquashfs reads it (free it with sqfs_free). */
static int load_inode(struct scan *s, uint64_t ref, const char *name,
		      size_t *out, sqfs_inode_generic_t **inp)
{
	struct sq_priv *p = s->p;
	struct sq_inode *si;
	sqfs_inode_generic_t *in = NULL;
	size_t i = fw_hmap_get(&s->by_ref, ref);
	int rc;

	*inp = NULL;
	if (i != FW_HMAP_NONE) {
		/* checked when it was first read */
		rc = sqfs_meta_reader_read_inode(s->ir, &p->super, ref >> 16,
						 ref & 0xFFFF, inp);
		if (rc)
			return sq_fail(s->err, name, rc, "reading an inode");
		*out = i;
		return FW_OK;
	}
	if ((ref & 0xFFFF) >= 8192 ||
	    (ref >> 16) >= p->super.directory_table_start -
			   p->super.inode_table_start)
		return fw_error_set(s->err, FW_EINPUT, name,
				    "squashfs: inode reference 0x%llx points "
				    "outside the inode table",
				    (unsigned long long)ref);
	rc = precheck_inode(s, ref, name);
	if (rc)
		return rc;
	rc = sqfs_meta_reader_read_inode(s->ir, &p->super, ref >> 16,
					 ref & 0xFFFF, &in);
	if (rc)
		return sq_fail(s->err, name, rc, "reading an inode");
	if (p->n_ino == p->cap_ino) {
		size_t cap = p->cap_ino ? p->cap_ino * 2 : 64;
		void *q = sq_tab_realloc(p->ino, cap * sizeof(*p->ino));

		if (!q) {
			sqfs_free(in);
			return fw_error_set(s->err, FW_EIO, NULL, "out of memory");
		}
		p->ino = q;
		p->cap_ino = cap;
	}
	if (p->n_ino >= SQ_NONE32) {
		sqfs_free(in);
		return fw_error_set(s->err, FW_EINPUT, name,
				    "squashfs: too many inodes");
	}
	si = &p->ino[p->n_ino];
	memset(si, 0, sizeof(*si));
	si->ref = ref;
	si->first_node = SQ_NONE32;
	p->n_ino++;
	*inp = in;	/* the caller's from here on */
	rc = check_inode(s, si, in, name);
	if (rc)
		return rc;
	if (fw_hmap_get(&s->by_num, in->base.inode_number) != FW_HMAP_NONE)
		return fw_error_set(s->err, FW_EINPUT, name,
				    "squashfs: inode number %u is used by two "
				    "different inodes", in->base.inode_number);
	if (fw_hmap_put(&s->by_ref, ref, p->n_ino - 1) ||
	    fw_hmap_put(&s->by_num, in->base.inode_number, p->n_ino - 1))
		return fw_error_set(s->err, FW_EIO, NULL, "out of memory");
	*out = p->n_ino - 1;
	return FW_OK;
}

static int new_node(struct sq_priv *p, const char *name, size_t ino,
		    size_t *out, struct fw_error *err)
{
	struct sq_node *n;
	size_t len = strlen(name) + 1;

	if (p->n_node == p->cap_node) {
		size_t cap = p->cap_node ? p->cap_node * 2 : 64;
		void *q = sq_tab_realloc(p->node, cap * sizeof(*p->node));

		if (!q)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		p->node = q;
		p->cap_node = cap;
	}
	if (p->n_names + len > p->cap_names) {
		size_t cap = (p->cap_names ? p->cap_names * 2 : 4096) + len;
		void *q = sq_tab_realloc(p->names, cap);

		if (!q)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		p->names = q;
		p->cap_names = cap;
	}
	if (p->n_names + len > SQ_NONE32 || p->n_node >= SQ_NONE32)
		return fw_error_set(err, FW_EINPUT, NULL,
				    "squashfs: too many directory entries");
	n = &p->node[p->n_node];
	n->name = (uint32_t)p->n_names;
	memcpy(p->names + p->n_names, name, len);
	p->n_names += len;
	n->ino = (uint32_t)ino;
	n->child = n->next = n->ent = SQ_NONE32;
	if (p->ino[ino].first_node == SQ_NONE32)
		p->ino[ino].first_node = (uint32_t)p->n_node;
	*out = p->n_node++;
	return FW_OK;
}

static int fill_stat(struct sq_priv *p, const struct sq_inode *si,
		     const sqfs_inode_generic_t *in, struct stat *st)
{
	uint32_t uid = 0, gid = 0, dev = 0;

	memset(st, 0, sizeof(*st));
	sqfs_id_table_index_to_id(p->ids, in->base.uid_idx, &uid);
	sqfs_id_table_index_to_id(p->ids, in->base.gid_idx, &gid);
	st->st_mode = in->base.mode;
	st->st_ino = in->base.inode_number;
	st->st_dev = 1;
	st->st_uid = uid;
	st->st_gid = gid;
	st->st_mtim.tv_sec = in->base.mod_time;
	st->st_atim = st->st_ctim = st->st_mtim;
	st->st_nlink = 1;
	st->st_blksize = (blksize_t)p->super.block_size;
	switch (in->base.type) {
	case SQFS_INODE_DIR:
		st->st_nlink = in->data.dir.nlink;
		st->st_size = in->data.dir.size;
		break;
	case SQFS_INODE_EXT_DIR:
		st->st_nlink = in->data.dir_ext.nlink;
		st->st_size = in->data.dir_ext.size;
		break;
	case SQFS_INODE_FILE:
		st->st_size = (off_t)si->size;
		break;
	case SQFS_INODE_EXT_FILE:
		st->st_nlink = in->data.file_ext.nlink;
		st->st_size = (off_t)si->size;
		break;
	case SQFS_INODE_SLINK:
	case SQFS_INODE_EXT_SLINK:
		st->st_nlink = in->data.slink.nlink;
		st->st_size = in->data.slink.target_size;
		break;
	case SQFS_INODE_BDEV:
	case SQFS_INODE_CDEV:
		st->st_nlink = in->data.dev.nlink;
		dev = in->data.dev.devno;
		break;
	case SQFS_INODE_EXT_BDEV:
	case SQFS_INODE_EXT_CDEV:
		st->st_nlink = in->data.dev_ext.nlink;
		dev = in->data.dev_ext.devno;
		break;
	case SQFS_INODE_FIFO:
	case SQFS_INODE_SOCKET:
		st->st_nlink = in->data.ipc.nlink;
		break;
	case SQFS_INODE_EXT_FIFO:
	case SQFS_INODE_EXT_SOCKET:
		st->st_nlink = in->data.ipc_ext.nlink;
		break;
	}
	/* the kernel's new_encode_dev() layout */
	st->st_rdev = makedev((dev & 0xFFF00) >> 8,
			      (dev & 0xFF) | ((dev >> 12) & 0xFFF00));
	st->st_blocks = (st->st_size + 511) / 512;
	return FW_OK;
}

/* Adds node n (already read) to the entries the engine sees. */
static int list_node(struct scan *s, size_t n, const sqfs_inode_generic_t *in,
		     const char *path)
{
	struct sq_priv *p = s->p;
	struct sq_inode *si = &p->ino[p->node[n].ino];
	char *target = NULL;
	struct stat st;
	int rc;

	fill_stat(p, si, in, &st);
	if (S_ISLNK(st.st_mode)) {
		size_t len = in->data.slink.target_size;

		target = malloc(len + 1);
		if (!target)
			return fw_error_set(s->err, FW_EIO, NULL, "out of memory");
		memcpy(target, in->extra, len);
		target[len] = '\0';
	}
	rc = fw_image_add(s->img, path, &st, target, s->err);
	free(target);
	if (!rc)
		p->node[n].ent = (uint32_t)(s->img->n - 1);
	return rc;
}

struct dent {
	char *name;
	uint64_t ref;
	uint16_t type;
};

static int safe_name(const char *n)
{
	return *n && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..");
}

/* Reads directory node d's entries and, depth first, everything below. */
static int scan_dir(struct scan *s, size_t d, const sqfs_inode_generic_t *din,
		    const char *path, int listed, int depth)
{
	struct sq_priv *p = s->p;
	sqfs_readdir_state_t st;
	sqfs_dir_entry_t *e;
	struct dent *ents = NULL;
	size_t n = 0, cap = 0, last = SQ_NONE;
	sqfs_inode_generic_t *in = NULL;
	sqfs_u32 inum;
	sqfs_u64 iref;
	int rc = FW_OK, r;
	const char *disp = *path ? path : s->img->path;

	if (depth > FW_TREE_DEPTH_MAX)
		return fw_error_set(s->err, FW_EINPUT, disp,
				    "squashfs: directories nested deeper than %d",
				    FW_TREE_DEPTH_MAX);
	r = sqfs_readdir_state_init(&st, &p->super, din);
	if (r)
		return sq_fail(s->err, disp, r, "reading a directory");
	while ((r = sqfs_meta_reader_readdir(s->dr, &st, &e, &inum, &iref)) == 0) {
		size_t len = (size_t)e->size + 1;

		if (memchr(e->name, '\0', len)) {
			sqfs_free(e);
			rc = fw_error_set(s->err, FW_EINPUT, disp,
					  "squashfs: a directory entry name "
					  "holds a NUL byte");
			goto out;
		}
		if (n == cap) {
			void *q;

			cap = cap ? cap * 2 : 16;
			q = realloc(ents, cap * sizeof(*ents));
			if (!q) {
				sqfs_free(e);
				rc = fw_error_set(s->err, FW_EIO, NULL,
						  "out of memory");
				goto out;
			}
			ents = q;
		}
		ents[n].name = strndup((const char *)e->name, len);
		ents[n].ref = iref;
		ents[n].type = e->type;
		sqfs_free(e);
		if (!ents[n++].name) {
			rc = fw_error_set(s->err, FW_EIO, NULL, "out of memory");
			goto out;
		}
	}
	if (r < 0) {
		rc = sq_fail(s->err, disp, r, "reading a directory");
		goto out;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		size_t ino, c;
		char *cpath = NULL;
		int clisted = listed && safe_name(ents[i].name);

		if (asprintf(&cpath, "%s%s%s", path, *path ? "/" : "",
			     ents[i].name) < 0) {
			rc = fw_error_set(s->err, FW_EIO, NULL, "out of memory");
			break;
		}
		sqfs_free(in);
		in = NULL;
		rc = load_inode(s, ents[i].ref, cpath, &ino, &in);
		if (!rc && (in->base.type - 1) % 7 + 1 != ents[i].type)
			rc = fw_error_set(s->err, FW_EINPUT, cpath,
					  "squashfs: directory entry and inode "
					  "disagree on the file type");
		if (!rc)
			rc = new_node(p, ents[i].name, ino, &c, s->err);
		if (rc) {
			free(cpath);
			break;
		}
		if (last == SQ_NONE)
			p->node[d].child = (uint32_t)c;
		else
			p->node[last].next = (uint32_t)c;
		last = c;
		if (listed && !clisted) {
			char buf[256];

			printable(cpath, buf, sizeof(buf));
			fw_image_warn(s->img, "%s: squashfs entry with an unsafe "
				      "name skipped (kept unchanged)", buf);
		}
		if (clisted)
			rc = list_node(s, c, in, cpath);
		if (!rc && sq_is_dir(&p->ino[ino])) {
			if (ino >= s->cap_entered) {
				size_t ncap = (ino + 1) * 2;
				unsigned char *q = realloc(s->entered, ncap);

				if (!q) {
					free(cpath);
					rc = fw_error_set(s->err, FW_EIO, NULL,
							  "out of memory");
					break;
				}
				memset(q + s->cap_entered, 0, ncap - s->cap_entered);
				s->entered = q;
				s->cap_entered = ncap;
			}
			if (s->entered[ino])
				rc = fw_error_set(s->err, FW_EINPUT, cpath,
						  "squashfs: directory loop (a "
						  "directory is listed twice)");
			else {
				s->entered[ino] = 1;
				rc = scan_dir(s, c, in, cpath, clisted,
					      depth + 1);
			}
		}
		free(cpath);
	}
out:
	sqfs_free(in);
	for (size_t i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
	return rc;
}

static void sq_close(struct fw_image *img);

/* The first table after the directory table: where its reader stops. */
static uint64_t dir_table_end(const sqfs_super_t *sb)
{
	uint64_t end = sb->bytes_used;
	const uint64_t t[] = { sb->fragment_table_start, sb->export_table_start,
			       sb->id_table_start, sb->xattr_id_table_start };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i] > sb->directory_table_start && t[i] < end)
			end = t[i];
	return end;
}

static int check_super(struct sq_priv *p, const char *name,
		       struct fw_error *err)
{
	const sqfs_super_t *sb = &p->super;

	if (sb->bytes_used > p->file_size)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs is truncated: the superblock says "
				    "%llu bytes, the file has %llu",
				    (unsigned long long)sb->bytes_used,
				    (unsigned long long)p->file_size);
	if (sb->inode_table_start < 96 ||
	    sb->inode_table_start >= sb->directory_table_start ||
	    sb->directory_table_start >= sb->bytes_used ||
	    sb->id_table_start >= sb->bytes_used || sb->id_count == 0 ||
	    sb->inode_count == 0 ||
	    (sb->fragment_entry_count &&
	     sb->fragment_table_start >= sb->bytes_used) ||
	    (sb->root_inode_ref >> 16) >=
		    sb->directory_table_start - sb->inode_table_start)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs superblock is corrupt "
				    "(tables out of place)");
	/* libsquashfs allocates the whole fragment table up front: a forged
	 * count must not ask for gigabytes.  Each entry names a block of
	 * the data area, and its index must fit before the image's end. */
	if (sb->fragment_entry_count &&
	    !(sb->flags & SQFS_FLAG_NO_FRAGMENTS) &&
	    (sb->fragment_entry_count > sb->inode_table_start ||
	     ((uint64_t)sb->fragment_entry_count + 511) / 512 >
		     (sb->bytes_used - sb->fragment_table_start) / 8))
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs superblock is corrupt (%u "
				    "fragments)", sb->fragment_entry_count);
	return FW_OK;
}

static int open_compressor(struct sq_priv *p, const char *name,
			   struct fw_error *err)
{
	sqfs_compressor_config_t cfg;
	int rc;

	if (p->super.compression_id == SQFS_COMP_LZO)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs uses lzo, which this libsquashfs "
				    "cannot write");
	if (sqfs_compressor_config_init(&cfg, p->super.compression_id,
					p->super.block_size,
					SQFS_COMP_FLAG_UNCOMPRESS))
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs uses compressor %u, which this "
				    "libsquashfs does not know",
				    p->super.compression_id);
	rc = sqfs_compressor_create(&cfg, &p->cmp);
	if (rc)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs uses %s, which this libsquashfs "
				    "cannot handle",
				    sqfs_compressor_name_from_id(p->super.compression_id) ?
				    sqfs_compressor_name_from_id(p->super.compression_id) :
				    "an unknown compressor");
	/* mksquashfs's defaults, for options it did not store */
	p->opt.level = p->super.compression_id == SQFS_COMP_ZSTD ? 15 : 9;
	p->opt.window = 15;
	p->opt.dict = p->super.block_size;
	if (p->super.flags & SQFS_FLAG_COMPRESSOR_OPTIONS) {
		uint8_t raw[8192], *o = raw + 2;
		uint16_t hdr;
		size_t len;

		rc = p->cmp->read_options(p->cmp, p->file);
		if (rc)
			return sq_fail(err, name, rc,
				       "reading the compressor options");
		if (p->file->read_at(p->file, 96, &hdr, 2))
			return fw_error_set(err, FW_EINPUT, name,
					    "squashfs is truncated");
		len = le16toh(hdr) & 0x7FFF;
		p->opts_len = 2 + (uint32_t)len;
		if (96 + (uint64_t)p->opts_len > p->super.inode_table_start ||
		    len + 2 > sizeof(raw) || !(le16toh(hdr) & 0x8000) ||
		    p->file->read_at(p->file, 96, raw, len + 2))
			return fw_error_set(err, FW_EINPUT, name,
					    "squashfs compressor options are "
					    "corrupt");
		switch (p->super.compression_id) {
		case SQFS_COMP_GZIP:	/* level, window, strategies */
			if (len >= 8) {
				p->opt.level = fw_le32(o);
				p->opt.window = fw_le16(o + 4);
				p->opt.strategies = fw_le16(o + 6);
			}
			break;
		case SQFS_COMP_ZSTD:	/* level */
			if (len >= 4)
				p->opt.level = fw_le32(o);
			break;
		case SQFS_COMP_XZ:	/* dictionary, BCJ filters */
		case SQFS_COMP_LZ4:	/* version, flags */
			if (len >= 8) {
				if (p->super.compression_id == SQFS_COMP_XZ)
					p->opt.dict = fw_le32(o);
				p->opt.flags = fw_le32(o + 4);
			}
			break;
		}
	}
	p->cmp->get_configuration(p->cmp, &p->cfg);
	return FW_OK;
}

static int sq_open(struct fw_image *img, struct fw_error *err)
{
	struct sq_priv *p = calloc(1, sizeof(*p));
	struct scan s = { .img = img, .err = err };
	struct stat st;
	size_t root, root_node;
	sqfs_inode_generic_t *rin = NULL;
	int rc;

	if (!p)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	img->priv = p;
	p->path = img->path;
	p->fd = -1;
	p->prof = getenv("FWSIGN_SQFS_PROFILE") != NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->fc_cond, NULL);
	p->fd = open(img->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (p->fd < 0 || fstat(p->fd, &st) < 0)
		return fw_error_set(err, errno == ENOENT ? FW_EINPUT : FW_EIO,
				    img->path, "cannot open: %s", strerror(errno));
	p->file_size = (uint64_t)st.st_size;
	p->file = sq_io_new(p->fd, 0, p->file_size);
	if (!p->file)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (p->file_size < 96)
		return fw_error_set(err, FW_EINPUT, img->path,
				    "squashfs is truncated: %llu bytes",
				    (unsigned long long)p->file_size);
	rc = sqfs_super_read(&p->super, p->file);
	if (rc == SFQS_ERROR_SUPER_MAGIC)
		return fw_error_set(err, FW_EINPUT, img->path,
				    "big-endian squashfs (version 3 or older) "
				    "is not supported");
	if (rc == SFQS_ERROR_SUPER_VERSION) {
		uint16_t v[2] = { 0, 0 };

		p->file->read_at(p->file, 28, v, sizeof(v));
		return fw_error_set(err, FW_EINPUT, img->path,
				    "squashfs version %u.%u is not supported "
				    "(only 4.0)", le16toh(v[0]), le16toh(v[1]));
	}
	if (rc)
		return sq_fail(err, img->path, rc, "superblock");
	rc = check_super(p, img->path, err);
	if (!rc)
		rc = open_compressor(p, img->path, err);
	if (rc)
		return rc;
	p->ids = sqfs_id_table_create(0);
	p->frags = sqfs_frag_table_create(0);
	if (!p->ids || !p->frags)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	rc = sqfs_id_table_read(p->ids, p->file, &p->super, p->cmp);
	if (rc)
		return sq_fail(err, img->path, rc, "reading the id table");
	if (p->super.fragment_entry_count &&
	    !(p->super.flags & SQFS_FLAG_NO_FRAGMENTS)) {
		rc = sqfs_frag_table_read(p->frags, p->file, &p->super, p->cmp);
		if (rc)
			return sq_fail(err, img->path, rc,
				       "reading the fragment table");
		p->n_frags = (uint32_t)sqfs_frag_table_get_size(p->frags);
	}

	s.p = p;
	s.inode_bytes_max = (p->super.directory_table_start -
			     p->super.inode_table_start) * 4096 + 8192;
	s.ir = sqfs_meta_reader_create(p->file, p->cmp,
				       p->super.inode_table_start,
				       p->super.directory_table_start);
	s.dr = sqfs_meta_reader_create(p->file, p->cmp,
				       p->super.directory_table_start,
				       dir_table_end(&p->super));
	if (!s.ir || !s.dr) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	rc = load_inode(&s, p->super.root_inode_ref, img->path, &root, &rin);
	if (!rc && !sq_is_dir(&p->ino[root]))
		rc = fw_error_set(err, FW_EINPUT, img->path,
				  "squashfs: the root inode is not a directory");
	if (!rc)
		rc = new_node(p, "", root, &root_node, err);
	if (!rc)
		rc = list_node(&s, root_node, rin, "");
	if (!rc) {
		s.entered = calloc(p->n_ino + 1, 1);
		s.cap_entered = s.entered ? p->n_ino + 1 : 0;
		if (s.entered)
			s.entered[root] = 1;
		rc = s.entered ? scan_dir(&s, root_node, rin, "", 1, 0)
			       : fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	/* An inode named twice is a hard link, whatever its link count says,
	 * so that the engine reads and signs it once. */
	if (!rc) {
		uint32_t *refs = calloc(p->n_ino + 1, sizeof(*refs));

		if (!refs)
			rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		for (size_t i = 0; !rc && i < p->n_node; i++)
			refs[p->node[i].ino]++;
		for (size_t i = 0; !rc && i < p->n_node; i++) {
			struct fw_entry *e;

			if (p->node[i].ent == SQ_NONE32)
				continue;
			e = &img->ent[p->node[i].ent];
			if (!S_ISDIR(e->st.st_mode) &&
			    e->st.st_nlink < refs[p->node[i].ino])
				e->st.st_nlink = refs[p->node[i].ino];
		}
		free(refs);
	}
	/* The tables are final: give back what doubling left unused (a
	 * third of them, on average). */
	if (!rc && p->cap_ino > p->n_ino + 1) {
		void *t = sq_tab_realloc(p->ino, (p->n_ino + 1) * sizeof(*p->ino));

		if (t) {
			p->ino = t;
			p->cap_ino = p->n_ino + 1;
		}
	}
	if (!rc && p->cap_names > p->n_names + 1) {
		void *t = sq_tab_realloc(p->names, p->n_names + 1);

		if (t) {
			p->names = t;
			p->cap_names = p->n_names + 1;
		}
	}
	if (!rc && p->cap_bsz > p->n_bsz + 1) {
		void *t = sq_tab_realloc(p->bsz, (p->n_bsz + 1) * sizeof(*p->bsz));

		if (t) {
			p->bsz = t;
			p->cap_bsz = p->n_bsz + 1;
		}
	}
	if (!rc && p->cap_node > p->n_node + 1) {
		void *t = sq_tab_realloc(p->node, (p->n_node + 1) * sizeof(*p->node));

		if (t) {
			p->node = t;
			p->cap_node = p->n_node + 1;
		}
	}
	if (!rc) {
		p->ino_of_ent = sq_tab_realloc(NULL, (img->n + 1) *
					       sizeof(*p->ino_of_ent));
		if (!p->ino_of_ent)
			rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		for (size_t i = 0; !rc && i < p->n_node; i++)
			if (p->node[i].ent != SQ_NONE32)
				p->ino_of_ent[p->node[i].ent] = p->node[i].ino;
	}
	/* The export table the writer keeps has an entry per number. */
	if (!rc && p->super.inode_count > 2 * p->n_ino + 1024)
		rc = fw_error_set(err, FW_EINPUT, img->path,
				  "squashfs superblock claims %u inodes, the "
				  "tree holds %zu", p->super.inode_count,
				  p->n_ino);
	if (!rc)
		rc = fw_image_link_hardlinks(img, err);
out:
	sqfs_free(rin);
	sqfs_destroy(s.ir);
	sqfs_destroy(s.dr);
	fw_hmap_free(&s.by_ref);
	fw_hmap_free(&s.by_num);
	free(s.entered);
	return rc;
}

/* ---------------------------------------------------------------- */
/* Reading a file                                                   */

/*
 * Fragment block idx, decompressed, from the shared cache (*fc; put it
 * back with frag_put) or, when every entry is in use, in the slot (*fc
 * NULL).  A block another thread is decompressing is waited for.
 */
static int frag_get(struct sq_priv *p, struct sq_slot *s, uint32_t idx,
		    const char *name, struct sq_fcache **fc,
		    struct fw_error *err)
{
	struct sq_fcache *e, *v;
	uint64_t start = 0;
	uint32_t sw = 0;
	int rc;

	*fc = NULL;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		e = v = NULL;
		for (int i = 0; i < SQ_FCACHE; i++) {
			struct sq_fcache *c = &p->fc[i];

			if (c->state && c->idx == idx)
				e = c;
			else if (c->state != 1 && !c->refs &&
				 (!v || !c->state ||
				  (v->state && c->tick < v->tick)))
				v = c;
		}
		if (!e || e->state == 2)
			break;
		pthread_cond_wait(&p->fc_cond, &p->lock);
	}
	if (e) {
		e->refs++;
		e->tick = ++p->fc_tick;
		pthread_mutex_unlock(&p->lock);
		*fc = e;
		return FW_OK;
	}
	if (!v) {
		pthread_mutex_unlock(&p->lock);
		return sq_read_frag(p, s, idx, name, err);
	}
	v->state = 1;
	v->idx = idx;
	v->refs = 1;
	pthread_mutex_unlock(&p->lock);
	if (!v->buf)
		v->buf = malloc(p->super.block_size);
	rc = v->buf ? sq_frag_where(p, idx, &start, &sw, name, err)
		    : fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (!rc)
		rc = read_any(p, s, start, sw, v->buf, 0, &v->len, name, err);
	pthread_mutex_lock(&p->lock);
	v->state = rc ? 0 : 2;
	v->refs = rc ? 0 : 1;
	v->tick = ++p->fc_tick;
	pthread_cond_broadcast(&p->fc_cond);
	pthread_mutex_unlock(&p->lock);
	if (!rc)
		*fc = v;
	return rc;
}

static void frag_put(struct sq_priv *p, struct sq_fcache *fc)
{
	if (!fc)
		return;
	pthread_mutex_lock(&p->lock);
	fc->refs--;
	pthread_mutex_unlock(&p->lock);
}

/* A regular file whose bytes can be read whole to be signed. */
static int signable(const struct sq_priv *p, const struct sq_inode *si,
		    const char *path, struct fw_error *err)
{
	if (!sq_is_file(si))
		return fw_error_set(err, FW_EINPUT, path, "not a regular file");
	if (si->size > FW_READ_MAX)
		return fw_error_set(err, FW_EINPUT, path,
				    "squashfs: file of %llu bytes is too large "
				    "to sign", (unsigned long long)si->size);
	if ((uint64_t)si->nblocks * p->super.block_size < si->size &&
	    si->frag_idx == SQ_NO_FRAG)
		return fw_error_set(err, FW_EINPUT, path,
				    "squashfs: file data is missing");
	return FW_OK;
}

/*
 * Bytes [from, from + n) of a regular file, decompressed block by block
 * with one slot's buffers: memory is a block or two, whatever the file's
 * size.  Every byte is checked to lie where the inode says.
 */
static int read_range_c(struct sq_priv *p, const struct sq_inode *si,
			struct sq_slot *s, uint64_t from, uint8_t *out,
			size_t n, int keep, const char *name,
			struct fw_error *err)
{
	size_t bs = p->super.block_size, raw;
	uint64_t off = si->blocks_start, at = 0;
	int rc = FW_OK;

	if ((uint64_t)si->nblocks * bs < si->size && si->frag_idx == SQ_NO_FRAG)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: file data is missing");
	for (uint32_t k = 0; k < si->nblocks && n && at < si->size; k++) {
		size_t want = si->size - at < bs ? (size_t)(si->size - at) : bs;
		uint32_t sw = sq_block_sizes(p, si)[k];

		if (at + want <= from) {	/* before the range: skipped */
			off += sw & SQ_BLK_SIZE_MASK;
			at += want;
			continue;
		}
		const uint8_t *blk = NULL;

		raw = sw & SQ_BLK_SIZE_MASK;
		rc = cached_block(p, s, off, sw, want, keep, &blk, name, err);
		if (rc)
			return rc;
		{
			size_t skip = (size_t)(from - at), take = want - skip;

			if (take > n)
				take = n;
			memcpy(out, blk + skip, take);
			out += take;
			from += take;
			n -= take;
		}
		at += want;
		off += raw;
	}
	if (n) {
		size_t skip, tail = (size_t)(si->size - at), flen;
		struct sq_fcache *fc = NULL;
		const uint8_t *fb;

		rc = frag_get(p, s, si->frag_idx, name, &fc, err);
		if (rc)
			return rc;
		fb = fc ? fc->buf : s->frag;
		flen = fc ? fc->len : s->frag_len;
		skip = (size_t)(from - at);
		if (si->frag_off > flen || tail > flen - si->frag_off)
			rc = fw_error_set(err, FW_EINPUT, name,
					  "squashfs: a fragment lies outside "
					  "its block");
		else if (skip > tail || n > tail - skip)
			rc = fw_error_set(err, FW_EINPUT, name,
					  "squashfs: file data is missing");
		else
			memcpy(out, fb + si->frag_off + skip, n);
		frag_put(p, fc);
	}
	return rc;
}

static int read_range(struct sq_priv *p, const struct sq_inode *si,
		      struct sq_slot *s, uint64_t from, uint8_t *out,
		      size_t n, const char *name, struct fw_error *err)
{
	return read_range_c(p, si, s, from, out, n, 0, name, err);
}

int sq_read_file(struct sq_priv *p, size_t ino, struct sq_slot *s,
		 uint64_t from, uint8_t *out, size_t n, const char *name,
		 struct fw_error *err)
{
	const struct sq_inode *si = &p->ino[ino];

	if (!sq_is_file(si) || from > si->size || n > si->size - from)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: read outside a file");
	return read_range(p, si, s, from, out, n, name, err);
}

/* Keeps a copy of the last partial block of a file (at tail) just read,
 * for the writer, within the budget. */
static void stash(struct sq_priv *p, size_t ino, const uint8_t *tail)
{
	struct sq_inode *si = &p->ino[ino];
	size_t n = (size_t)(si->size % p->super.block_size);
	uint8_t *c;

	if (!p->stash_on || !n)
		return;
	pthread_mutex_lock(&p->lock);
	if (si->stash || p->stash_bytes + n > SQ_STASH_MAX) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	p->stash_bytes += n;
	pthread_mutex_unlock(&p->lock);
	c = malloc(n);
	if (c)
		memcpy(c, tail, n);
	pthread_mutex_lock(&p->lock);
	si->stash = c;
	if (!c)
		p->stash_bytes -= n;
	pthread_mutex_unlock(&p->lock);
}

uint8_t *sq_stash_take(struct sq_priv *p, size_t ino)
{
	struct sq_inode *si = &p->ino[ino];
	uint8_t *c;

	pthread_mutex_lock(&p->lock);
	c = si->stash;
	si->stash = NULL;
	if (c)
		p->stash_bytes -= (size_t)(si->size % p->super.block_size);
	pthread_mutex_unlock(&p->lock);
	return c;
}

/* Inode INO's content, whole, into OUT (its size), through the slot of
 * its fragment; its tail stashed for the next reader of that block. */
static int read_whole(struct sq_priv *p, size_t ino, uint8_t *out,
		      const char *path, struct fw_error *err)
{
	const struct sq_inode *si = &p->ino[ino];
	struct sq_slot *s = sq_slot_get_for(p, si->frag_idx, err);
	int rc;

	if (!s)
		return err->code;
	rc = read_range(p, si, s, 0, out, (size_t)si->size, path, err);
	sq_slot_put(p, s);
	if (!rc)
		stash(p, ino, out + (si->size - si->size % p->super.block_size));
	return rc;
}

static int sq_read(struct fw_image *img, size_t idx, uint8_t **buf,
		   size_t *len, struct fw_error *err)
{
	struct sq_priv *p = img->priv;
	const struct fw_entry *e = &img->ent[idx];
	size_t ino = p->ino_of_ent[idx];
	const struct sq_inode *si = &p->ino[ino];
	uint8_t *out;
	int rc;

	*buf = NULL;
	*len = 0;
	if ((rc = signable(p, si, e->path, err)))
		return rc;
	out = malloc(si->size ? si->size : 1);
	if (!out)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if ((rc = read_whole(p, ino, out, e->path, err))) {
		free(out);
		return rc;
	}
	*buf = out;
	*len = si->size;
	return FW_OK;
}

/*
 * A big ELF file, when the caller only signs: a sparse view (its headers
 * and end, fw_elf_fill, read through the slot's block cache) and its
 * content as one segment that sq_feed decodes block by block as it is
 * hashed.  Memory is a few blocks, whatever the file's size.
 */
#define SQ_SPARSE_MIN ((uint64_t)256 << 10)	/* smaller files are read */

struct sq_stream {
	struct sq_priv *p;
	size_t ino;
	const char *name;
	struct fw_error err;	/* why a feed failed */
};

/* The segment and its stream, one block: fw_bytes_release frees both. */
struct sq_sparse {
	struct fw_seg seg;
	struct sq_stream st;
};

static int sparse_read_at(void *ctx, uint64_t off, uint8_t *buf, size_t n)
{
	struct sq_stream *st = ctx;
	struct sq_priv *p = st->p;
	const struct sq_inode *si = &p->ino[st->ino];
	struct sq_slot *s = sq_slot_get_for(p, si->frag_idx, &st->err);
	int rc;

	if (!s)
		return -1;
	rc = read_range_c(p, si, s, off, buf, n, 1, st->name, &st->err);
	sq_slot_put(p, s);
	return rc ? -1 : 0;
}

/* fw_feed_fn: the first n bytes of the file, a block at a time. */
static int sq_feed(void *ctx, uint64_t n, fw_put_fn put, void *put_ctx)
{
	struct sq_stream *st = ctx;
	struct sq_priv *p = st->p;
	const struct sq_inode *si = &p->ino[st->ino];
	size_t bs = p->super.block_size;
	uint64_t off = si->blocks_start, at = 0;
	struct sq_slot *s;
	int rc = FW_OK;

	if (n > si->size) {
		fw_error_set(&st->err, FW_EINPUT, st->name,
			     "squashfs: read outside a file");
		return -1;
	}
	s = sq_slot_get_for(p, si->frag_idx, &st->err);
	if (!s)
		return -1;
	for (uint32_t k = 0; k < si->nblocks && at < n && !rc; k++) {
		size_t want = si->size - at < bs ? (size_t)(si->size - at) : bs;
		uint32_t sw = sq_block_sizes(p, si)[k];
		const uint8_t *blk;

		rc = cached_block(p, s, off, sw, want, 0, &blk, st->name,
				  &st->err);
		if (rc)
			break;
		if (want < bs)
			stash(p, st->ino, blk);
		if (put(put_ctx, blk, n - at < want ? (size_t)(n - at) : want))
			rc = -1;
		at += want;
		off += sw & SQ_BLK_SIZE_MASK;
	}
	if (!rc && at < n) {
		size_t tail = (size_t)(si->size - at), flen;
		struct sq_fcache *fc = NULL;
		const uint8_t *fb;

		rc = frag_get(p, s, si->frag_idx, st->name, &fc, &st->err);
		if (!rc) {
			fb = fc ? fc->buf : s->frag;
			flen = fc ? fc->len : s->frag_len;
			if (si->frag_off > flen || tail > flen - si->frag_off)
				rc = fw_error_set(&st->err, FW_EINPUT, st->name,
						  "squashfs: a fragment lies "
						  "outside its block");
			else {
				stash(p, st->ino, fb + si->frag_off);
				if (put(put_ctx, fb + si->frag_off,
					(size_t)(n - at)))
					rc = -1;
			}
			frag_put(p, fc);
		}
	}
	sq_slot_put(p, s);
	return rc ? -1 : 0;
}

/* 0: b holds the sparse view; 1: not worth it or not ELF, read it whole;
 * -1: a read failed (err). */
static int sparse_view(struct sq_priv *p, size_t ino, const char *name,
		       struct fw_bytes *b, struct fw_error *err)
{
	const struct sq_inode *si = &p->ino[ino];
	struct sq_sparse *x;
	uint8_t *view;
	int rc;

	if (!b->sparse_ok || si->size < SQ_SPARSE_MIN || si->size > SIZE_MAX)
		return 1;
	x = calloc(1, sizeof(*x));
	if (!x)
		return 1;
	x->st.p = p;
	x->st.ino = ino;
	x->st.name = name;
	fw_error_clear(&x->st.err);
	view = mmap(NULL, (size_t)si->size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	rc = view == MAP_FAILED ? 1
				: fw_elf_fill(view, si->size, sparse_read_at,
					      &x->st);
	if (rc) {
		if (rc < 0)
			*err = x->st.err;
		if (view != MAP_FAILED)
			munmap(view, (size_t)si->size);
		free(x);
		return rc;
	}
	x->seg = (struct fw_seg){ NULL, (size_t)si->size, sq_feed, &x->st };
	b->p = view;
	b->len = (size_t)si->size;
	b->mapped = view;
	b->map_len = (size_t)si->size;
	b->seg = &x->seg;
	b->n_seg = 1;
	b->feed_err = &x->st.err;
	return 0;
}

/* fw_format.map: a big ELF file as a sparse view and a stream when the
 * caller only signs, else the whole file read (in the caller's scratch). */
static int sq_map(struct fw_image *img, size_t idx, struct fw_bytes *b,
		  struct fw_error *err)
{
	struct sq_priv *p = img->priv;
	const struct fw_entry *e = &img->ent[idx];
	size_t ino = p->ino_of_ent[idx];
	const struct sq_inode *si = &p->ino[ino];
	uint8_t *out;
	int rc;

	fw_bytes_init(b);
	if ((rc = signable(p, si, e->path, err)))
		return rc;
	rc = sparse_view(p, ino, e->path, b, err);
	if (rc <= 0)
		return rc ? err->code : FW_OK;
	out = fw_bytes_alloc(b, (size_t)si->size);
	if (!out)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if ((rc = read_whole(p, ino, out, e->path, err))) {
		fw_bytes_release(b);
		return rc;
	}
	b->p = out;
	b->len = (size_t)si->size;
	return FW_OK;
}

/*
 * fw_format.stored: what a file's bytes are made of, as the image holds
 * them: the codec and its settings, the file's size, each block's size
 * word and compressed bytes (read, never decompressed), and the bytes of
 * its tail in its fragment block (decompressed: that block is shared and
 * cached, and the writer needs the tail anyway, so it is stashed).
 */
static int sq_stored(struct fw_image *img, size_t idx,
		     int (*put)(void *ctx, const void *p, size_t n),
		     void *ctx)
{
	struct sq_priv *p = img->priv;
	size_t ino = p->ino_of_ent[idx];
	const struct sq_inode *si = &p->ino[ino];
	size_t bs = p->super.block_size;
	uint64_t off = si->blocks_start, at = 0;
	uint8_t hdr[13 * 4], *buf;
	const uint32_t words[] = {
		p->super.compression_id, p->super.block_size, p->opt.level,
		p->opt.window, p->opt.strategies, p->opt.dict, p->opt.flags,
		(uint32_t)si->size, (uint32_t)(si->size >> 32), si->nblocks,
		si->frag_idx == SQ_NO_FRAG, (uint32_t)(si->size % bs),
		(uint32_t)sizeof(hdr),
	};
	struct fw_error err;
	int rc = 0;

	if (!sq_is_file(si) || si->size > FW_READ_MAX ||
	    ((uint64_t)si->nblocks * bs < si->size &&
	     si->frag_idx == SQ_NO_FRAG))
		return -1;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		fw_put_le32(hdr + 4 * i, words[i]);
	if (put(ctx, hdr, sizeof(hdr)) || !(buf = malloc(bs)))
		return -1;
	for (uint32_t k = 0; k < si->nblocks && at < si->size && !rc; k++) {
		size_t want = si->size - at < bs ? (size_t)(si->size - at) : bs;
		uint32_t sw = sq_block_sizes(p, si)[k];
		size_t raw = sw & SQ_BLK_SIZE_MASK;
		uint8_t w[4];

		fw_put_le32(w, sw);
		if (raw > bs || (sw & ~(SQ_BLK_UNCOMPRESSED | SQ_BLK_SIZE_MASK)) ||
		    off > p->super.bytes_used || raw > p->super.bytes_used - off ||
		    put(ctx, w, 4) ||
		    (raw && (p->file->read_at(p->file, off, buf, raw) ||
			     put(ctx, buf, raw))))
			rc = -1;
		at += want;
		off += raw;
	}
	free(buf);
	if (!rc && at < si->size) {
		size_t tail = (size_t)(si->size - at), flen;
		struct sq_fcache *fc = NULL;
		struct sq_slot *sl;
		const uint8_t *fb;

		fw_error_clear(&err);
		sl = sq_slot_get_for(p, si->frag_idx, &err);
		if (!sl)
			return -1;
		rc = frag_get(p, sl, si->frag_idx, "", &fc, &err) ? -1 : 0;
		if (!rc) {
			fb = fc ? fc->buf : sl->frag;
			flen = fc ? fc->len : sl->frag_len;
			if (si->frag_off > flen || tail > flen - si->frag_off ||
			    put(ctx, fb + si->frag_off, tail))
				rc = -1;
			else
				stash(p, ino, fb + si->frag_off);
			frag_put(p, fc);
		}
		sq_slot_put(p, sl);
	}
	return rc;
}

/*
 * The first n bytes of a file's first block, decoding no further than
 * they need: most files looked at are data, and a whole block costs a
 * hundred times more.  -1: not done (the whole block is decoded then,
 * with its checks).
 */
static int peek_block(struct sq_priv *p, const struct sq_inode *si,
		      struct sq_slot *s, uint8_t *buf, size_t n)
{
	uint32_t sw = sq_block_sizes(p, si)[0];
	size_t raw = sw & SQ_BLK_SIZE_MASK, got = 0;
	uint64_t off = si->blocks_start, t0 = p->prof ? sq_cpu_ns() : 0;

	if (!raw || (sw & SQ_BLK_UNCOMPRESSED) || raw > p->super.block_size ||
	    (sw & ~(SQ_BLK_UNCOMPRESSED | SQ_BLK_SIZE_MASK)) ||
	    off > p->super.bytes_used || raw > p->super.bytes_used - off ||
	    p->file->read_at(p->file, off, s->raw, raw))
		return -1;
	switch (p->super.compression_id) {
	case SQFS_COMP_XZ: {
		lzma_stream st = LZMA_STREAM_INIT;
		lzma_ret r;

		if (lzma_stream_decoder(&st, (uint64_t)256 << 20, 0) != LZMA_OK)
			return -1;
		st.next_in = s->raw;
		st.avail_in = raw;
		st.next_out = buf;
		st.avail_out = n;
		r = lzma_code(&st, LZMA_FINISH);
		got = n - st.avail_out;
		lzma_end(&st);
		if (r != LZMA_OK && r != LZMA_STREAM_END)
			return -1;
		break;
	}
	case SQFS_COMP_GZIP: {
		z_stream z = { 0 };
		int r;

		if (inflateInit(&z) != Z_OK)
			return -1;
		z.next_in = s->raw;
		z.avail_in = (uInt)raw;
		z.next_out = buf;
		z.avail_out = (uInt)n;
		r = inflate(&z, Z_SYNC_FLUSH);
		got = n - z.avail_out;
		inflateEnd(&z);
		if (r != Z_OK && r != Z_STREAM_END)
			return -1;
		break;
	}
	case SQFS_COMP_ZSTD: {
		ZSTD_DStream *d = ZSTD_createDStream();
		ZSTD_inBuffer in = { s->raw, raw, 0 };
		ZSTD_outBuffer out = { buf, n, 0 };
		size_t r = 1;

		if (!d)
			return -1;
		while (out.pos < n && in.pos < in.size && !ZSTD_isError(r) && r)
			r = ZSTD_decompressStream(d, &out, &in);
		ZSTD_freeDStream(d);
		if (ZSTD_isError(r))
			return -1;
		got = out.pos;
		break;
	}
	case SQFS_COMP_LZ4: {
		int r = LZ4_decompress_safe_partial((const char *)s->raw,
						    (char *)buf, (int)raw,
						    (int)n, (int)n);

		if (r < 0)
			return -1;
		got = (size_t)r;
		break;
	}
	default:
		return -1;
	}
	if (p->prof) {
		p->ns_dec += sq_cpu_ns() - t0;
		p->n_dec++;
		p->b_dec += got;
	}
	return got == n ? 0 : -1;
}

/* The first bytes of a file: its first block (or its fragment) only. */
static ssize_t sq_peek(struct fw_image *img, size_t idx, uint8_t *buf,
		       size_t n, struct fw_error *err)
{
	struct sq_priv *p = img->priv;
	const struct fw_entry *e = &img->ent[idx];
	size_t ino = p->ino_of_ent[idx];
	const struct sq_inode *si = &p->ino[ino];
	struct sq_slot *s;
	int rc;

	if (!sq_is_file(si)) {
		fw_error_set(err, FW_EINPUT, e->path, "not a regular file");
		return -1;
	}
	if (n > si->size)
		n = (size_t)si->size;
	if (!n)
		return 0;
	s = sq_slot_get_for(p, si->frag_idx, err);
	if (!s)
		return -1;
	rc = si->nblocks ? peek_block(p, si, s, buf, n) : -1;
	if (rc)
		rc = read_range(p, si, s, 0, buf, n, e->path, err);
	sq_slot_put(p, s);
	return rc ? -1 : (ssize_t)n;
}

/* ---------------------------------------------------------------- */
/* Extended attributes                                              */

/* More than the kernel would ever list for one inode (64 KiB of names,
 * values of 64 KiB): a forged table cannot make one entry cost more. */
#define SQ_XATTR_MAX_COUNT 65536u
#define SQ_XATTR_MAX_BYTES ((size_t)64 << 20)

/*
 * An inode's key/value pairs, in the order of the image's list.  Each call
 * has a reader of its own over a decompressor of the slot pool, so that
 * several threads can ask at once (libsquashfs readers keep a position and
 * a cached block; a gzip decompressor keeps a stream).  Like the kernel, an
 * image without an xattr table has no xattrs; squashfs keeps only the
 * user., trusted. and security. namespaces.
 */
int sq_ino_xattrs(struct sq_priv *p, size_t ino, const char *name,
		  struct fw_xattr **v, size_t *n, struct fw_error *err)
{
	const sqfs_super_t *sb = &p->super;
	const struct sq_inode *si = &p->ino[ino];
	sqfs_xattr_reader_t *xr = NULL;
	struct sq_slot *s = NULL;
	sqfs_xattr_id_t desc;
	uint64_t at = sb->xattr_id_table_start;
	size_t total = 0;
	struct {
		uint64_t kv_start;
		uint32_t count;
		uint32_t unused;
	} hdr;
	int rc = FW_OK, r;

	*v = NULL;
	*n = 0;
	if (si->xattr == SQ_NO_XATTR || (sb->flags & SQFS_FLAG_NO_XATTRS) ||
	    at == UINT64_MAX)
		return FW_OK;
	/* What sqfs_xattr_reader_load allocates, checked first. */
	if (at > sb->bytes_used || sb->bytes_used - at < sizeof(hdr) ||
	    p->file->read_at(p->file, at, &hdr, sizeof(hdr)))
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: the xattr table is truncated");
	if (si->xattr >= le32toh(hdr.count) ||
	    ((uint64_t)le32toh(hdr.count) * 16 + 8191) / 8192 >
		    (sb->bytes_used - at - sizeof(hdr)) / 8)
		return fw_error_set(err, FW_EINPUT, name,
				    "squashfs: xattr index %u is not in the "
				    "xattr table", si->xattr);
	s = sq_slot_get(p, err);
	if (!s)
		return err->code;
	xr = sqfs_xattr_reader_create(0);
	if (!xr) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	r = sqfs_xattr_reader_load(xr, sb, p->file, s->dec);
	if (!r)
		r = sqfs_xattr_reader_get_desc(xr, si->xattr, &desc);
	if (r) {
		rc = sq_fail(err, name, r, "reading the xattr table");
		goto out;
	}
	if (desc.count > SQ_XATTR_MAX_COUNT) {
		rc = fw_error_set(err, FW_EINPUT, name,
				  "squashfs: %u xattrs on one inode",
				  desc.count);
		goto out;
	}
	r = sqfs_xattr_reader_seek_kv(xr, &desc);
	if (r) {
		rc = sq_fail(err, name, r, "reading xattrs");
		goto out;
	}
	for (uint32_t i = 0; i < desc.count && !rc; i++) {
		sqfs_xattr_entry_t *key = NULL;
		sqfs_xattr_value_t *val = NULL;
		const char *prefix;
		size_t klen;

		r = sqfs_xattr_reader_read_key(xr, &key);
		if (!r)
			r = sqfs_xattr_reader_read_value(xr, key, &val);
		if (r) {
			rc = sq_fail(err, name, r, "reading xattrs");
		} else {
			/* the key comes with its prefix ("user.") */
			prefix = sqfs_get_xattr_prefix(key->type &
						       SQFS_XATTR_PREFIX_MASK);
			klen = (prefix ? strlen(prefix) : 0) + key->size;
			total += klen + val->size;
			if (memchr(key->key, '\0', klen))
				rc = fw_error_set(err, FW_EINPUT, name,
						  "squashfs: an xattr name holds "
						  "a NUL byte");
			else if (total > SQ_XATTR_MAX_BYTES)
				rc = fw_error_set(err, FW_EINPUT, name,
						  "squashfs: more than %zu MiB "
						  "of xattrs on one inode",
						  SQ_XATTR_MAX_BYTES >> 20);
			else if (fw_xattrs_add(v, n, (const char *)key->key,
					       val->value, val->size) < 0)
				rc = fw_error_set(err, FW_EIO, NULL,
						  "out of memory");
		}
		sqfs_free(key);
		sqfs_free(val);
	}
out:
	sqfs_destroy(xr);	/* before its decompressor goes back */
	sq_slot_put(p, s);
	if (rc) {
		fw_xattrs_free(*v, *n);
		*v = NULL;
		*n = 0;
	}
	return rc;
}

static int sq_xattrs(struct fw_image *img, size_t idx, struct fw_xattr **v,
		     size_t *n, struct fw_error *err)
{
	struct sq_priv *p = img->priv;

	*v = NULL;
	*n = 0;
	if (idx >= img->n)
		return fw_error_set(err, FW_EINPUT, img->path, "no such entry");
	return sq_ino_xattrs(p, p->ino_of_ent[idx],
			     *img->ent[idx].path ? img->ent[idx].path
						 : img->path, v, n, err);
}

static void sq_close(struct fw_image *img)
{
	struct sq_priv *p = img->priv;

	if (!p)
		return;
	if (p->prof)
		fprintf(stderr, "fwsign: squashfs profile: decompress %.3f s "
			"(%llu blocks, %llu bytes), compress %.3f s (%llu blocks, "
			"%llu bytes), write %.3f s (%llu bytes copied as they "
			"were)\n", (double)p->ns_dec / 1e9,
			(unsigned long long)p->n_dec, (unsigned long long)p->b_dec,
			(double)p->ns_zip / 1e9, (unsigned long long)p->n_zip,
			(unsigned long long)p->b_zip, (double)p->ns_out / 1e9,
			(unsigned long long)p->b_copy);
	while (p->slots) {
		struct sq_slot *s = p->slots;

		p->slots = s->next;
		sq_slot_free(s);
	}
	for (size_t i = 0; p->ino && i < p->n_ino; i++)	/* NULL: parked */
		free(p->ino[i].stash);
	sq_tab_free(p->ino);
	sq_tab_free(p->bsz);
	sq_tab_free(p->node);
	sq_tab_free(p->names);
	sq_tab_free(p->ino_of_ent);
	sqfs_destroy(p->ids);
	sqfs_destroy(p->frags);
	sqfs_destroy(p->cmp);
	sqfs_destroy(p->file);
	if (p->fd >= 0)
		close(p->fd);
	for (int i = 0; i < SQ_FCACHE; i++)
		free(p->fc[i].buf);
	pthread_cond_destroy(&p->fc_cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
	img->priv = NULL;
}

const struct fw_format fw_format_squashfs = {
	.name = "squashfs",
	.flags = FW_FMT_ORDERED,
	.bid = sq_bid,
	.open = sq_open,
	.read = sq_read,
	.peek = sq_peek,
	.map = sq_map,
	.stored = sq_stored,
	.xattrs = sq_xattrs,
	.out_begin = sq_out_begin,
	.out_put = sq_out_put,
	.out_put_append = sq_out_put_append,
	.out_xattr = sq_out_xattr,
	.out_commit = sq_out_commit,
	.out_abort = sq_out_abort,
	.close = sq_close,
};
