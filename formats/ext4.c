// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ext2, ext3 and ext4 images, read and edited with libext2fs.
 *
 * The output is a copy of the input image in which only the data of the
 * signed regular files changed: every inode keeps its number, owner, mode,
 * flags, xattrs and times; the UUID, the features and every other block
 * stay as they were.  Each changed file is rewritten from its first
 * differing byte (usually its old end) and truncated to its new length,
 * through libext2fs, so extents, block maps, inline data, bitmaps, group
 * descriptors and metadata_csum checksums stay right.
 *
 * Times: a file keeps its mtime and atime; its ctime becomes
 * SOURCE_DATE_EPOCH when that is set and is kept otherwise.  The
 * superblock's write time is SOURCE_DATE_EPOCH or, without it, the input's,
 * so the same input, key and SOURCE_DATE_EPOCH give the same bytes.
 *
 * libext2fs is not thread-safe: the engine's reader threads take a mutex,
 * except to map a file whose extents are all in its inode (most files),
 * which libext2fs does without reading or writing anything shared.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <et/com_err.h>
#include <ext2fs/ext2_err.h>
#include <ext2fs/ext2fs.h>
#include <linux/fs.h>

#include "format.h"
#include "../src/io.h"
#include "../src/signer_int.h"
#include "../src/bytes.h"
#include "../src/fw_limits.h"

#define MAX_ENTRIES ((size_t)1 << 24)
#define SB_OFFSET 1024

struct ext4_priv {
	ext2_filsys fs;
	pthread_mutex_t lock;	/* around every use of fs after open, but see
				 * entry_inode */
	int fd;			/* the input, kept open for the copy */
	struct stat st;		/* of the input when it was opened */
	void *early;		/* the output, begun by open (will_write) */
};

struct ext4_out {
	struct fw_image *img;
	struct fw_outfile of;
	uint64_t max_size;
	/*
	 * The image is copied by a thread while the engine signs; the copy
	 * is opened with libext2fs when the first new content comes.
	 */
	pthread_t copier;
	int copying;		/* copier started, not joined */
	int copy_errno;		/* its result */
	atomic_int stop;	/* abort: the copier gives up */
	int ready;		/* fs open */
	io_channel io;		/* on the copy, opened while empty */
	ext2_filsys fs;		/* the copy, read-write */
	int have_epoch;
	int64_t epoch;		/* SOURCE_DATE_EPOCH */
	/* Changes of space used per owner, for the quota files */
	struct qdelta {
		int type;	/* 0 user, 1 group, 2 project */
		uint32_t id;
		int64_t bytes;
	} *qd;
	size_t n_qd;
	/* Out of space: nothing more is written, what is missing is summed. */
	int full;
	uint64_t free_when_full;
	int64_t need_when_full;	/* blocks wanted less blocks given back */
	uint8_t *cmp;		/* CMP_WINDOW bytes to compare */
};

static const char *ext_err(errcode_t rc)
{
	return error_message(rc);
}

static int ext_bid(const char *path, const struct stat *st,
		   const uint8_t *head, size_t n)
{
	(void)path;
	if (!S_ISREG(st->st_mode) || n < SB_OFFSET + 0x3a)
		return 0;
	/* s_magic, then s_log_block_size (1 KiB << n, at most 64 KiB) */
	if (head[SB_OFFSET + 0x38] != 0x53 || head[SB_OFFSET + 0x39] != 0xef)
		return 0;
	if (head[SB_OFFSET + 24] > 6 || head[SB_OFFSET + 25] ||
	    head[SB_OFFSET + 26] || head[SB_OFFSET + 27])
		return 0;
	return FW_BID_MAX;
}

/* ---------------------------------------------------------------- */
/* Inodes to struct stat                                            */

/* The large-inode part holds field [off, off + len) of this inode. */
static int has_extra(ext2_filsys fs, const struct ext2_inode_large *in,
		     size_t off, size_t len)
{
	return EXT2_INODE_SIZE(fs->super) > EXT2_GOOD_OLD_INODE_SIZE &&
	       off + len <= EXT2_GOOD_OLD_INODE_SIZE + (size_t)in->i_extra_isize &&
	       off + len <= (size_t)EXT2_INODE_SIZE(fs->super);
}

#define HAS_EXTRA(fs, in, f) \
	has_extra(fs, in, offsetof(struct ext2_inode_large, f), \
		  sizeof((in)->f))

/* ext4 time: 32 signed bits, plus 2 epoch bits and nanoseconds in extra. */
static struct timespec xtime(uint32_t t, int have, uint32_t extra)
{
	struct timespec ts = { .tv_sec = (int32_t)t, .tv_nsec = 0 };

	if (have) {
		ts.tv_sec += (int64_t)(extra & EXT4_EPOCH_MASK) << 32;
		ts.tv_nsec = (long)(extra >> EXT4_EPOCH_BITS);
		if (ts.tv_nsec > 999999999)
			ts.tv_nsec = 0;
	}
	return ts;
}

static void inode_stat(ext2_filsys fs, ext2_ino_t ino,
		       const struct ext2_inode_large *in, struct stat *st)
{
	const struct ext2_inode *i = (const struct ext2_inode *)in;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = in->i_mode;
	st->st_nlink = in->i_links_count;
	st->st_uid = inode_uid(*in);
	st->st_gid = inode_gid(*in);
	st->st_size = (off_t)EXT2_I_SIZE(in);
	st->st_blksize = fs->blocksize;
	st->st_blocks = (blkcnt_t)ext2fs_get_stat_i_blocks(fs, (struct ext2_inode *)i);
	st->st_atim = xtime(in->i_atime, HAS_EXTRA(fs, in, i_atime_extra),
			    in->i_atime_extra);
	st->st_mtim = xtime(in->i_mtime, HAS_EXTRA(fs, in, i_mtime_extra),
			    in->i_mtime_extra);
	st->st_ctim = xtime(in->i_ctime, HAS_EXTRA(fs, in, i_ctime_extra),
			    in->i_ctime_extra);
	if (LINUX_S_ISCHR(in->i_mode) || LINUX_S_ISBLK(in->i_mode)) {
		/* old 8:8 encoding in i_block[0], else the new one in [1] */
		uint32_t old = in->i_block[0], nw = in->i_block[1];

		if (old)
			st->st_rdev = makedev((old >> 8) & 0xff, old & 0xff);
		else
			st->st_rdev = makedev((nw & 0xfff00) >> 8,
					      (nw & 0xff) | ((nw >> 12) & 0xfff00));
	}
}

/* Reads up to limit bytes of inode ino from offset 0 (caller holds lock). */
static errcode_t read_data(ext2_filsys fs, ext2_ino_t ino, uint64_t limit,
			   uint8_t **buf, size_t *len, int *too_big)
{
	ext2_file_t f;
	__u64 size;
	errcode_t rc;
	uint8_t *b;
	size_t done = 0;

	*buf = NULL;
	*len = 0;
	*too_big = 0;
	rc = ext2fs_file_open(fs, ino, 0, &f);
	if (rc)
		return rc;
	rc = ext2fs_file_get_lsize(f, &size);
	if (!rc && size > limit) {
		*too_big = 1;
		rc = EXT2_ET_FILE_TOO_BIG;
	}
	b = rc ? NULL : malloc(size ? (size_t)size : 1);
	if (!rc && !b)
		rc = EXT2_ET_NO_MEMORY;
	while (!rc && done < size) {
		unsigned int want = size - done > (1u << 30) ? 1u << 30
							      : (unsigned)(size - done);
		unsigned int got = 0;

		rc = ext2fs_file_read(f, b + done, want, &got);
		if (!rc && got == 0)
			rc = EXT2_ET_SHORT_READ;
		done += got;
	}
	ext2fs_file_close(f);
	if (rc) {
		free(b);
		return rc;
	}
	*buf = b;
	*len = done;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Fast reads: a file's blocks mapped once, then read with pread     */

/*
 * libext2fs reads a file one block at a time through a small cache, and
 * is not thread-safe.  So a file is mapped under the lock (inode, extent
 * tree or block map) into runs of contiguous blocks, and its bytes are
 * then read with a few big pread()s of the image, from any thread.
 */
struct xrun {
	uint64_t lblk, pblk, n;	/* n blocks from lblk are at pblk */
	int zero;		/* unwritten extent: reads as zeros */
};

struct xmap {
	struct xrun *v;
	size_t n, cap;
	uint64_t size;		/* the file's size in bytes */
	uint64_t nblk;		/* blocks that size covers */
	ext2_filsys fs;
	errcode_t ec;		/* from the block iterator's callback */
};

#define MAX_RUNS ((size_t)1 << 22)

static void xmap_free(struct xmap *m)
{
	free(m->v);
	m->v = NULL;
	m->n = m->cap = 0;
}

/* Adds n blocks from lblk at pblk; runs come in logical order. */
static errcode_t xmap_add(struct xmap *m, uint64_t lblk, uint64_t pblk,
			  uint64_t n, int zero)
{
	struct xrun *last = m->n ? &m->v[m->n - 1] : NULL;
	ext2_filsys fs = m->fs;

	if (lblk >= m->nblk || !n)
		return 0;	/* past the end: never read */
	if (n > m->nblk - lblk)
		n = m->nblk - lblk;
	if (pblk < fs->super->s_first_data_block ||
	    pblk >= ext2fs_blocks_count(fs->super) ||
	    n > ext2fs_blocks_count(fs->super) - pblk)
		return EXT2_ET_BAD_BLOCK_NUM;
	if (last && lblk < last->lblk + last->n)
		return EXT2_ET_EXTENT_HEADER_BAD;	/* overlapping */
	if (last && last->zero == zero && lblk == last->lblk + last->n &&
	    pblk == last->pblk + last->n) {
		last->n += n;
		return 0;
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct xrun *v;

		if (cap > MAX_RUNS)
			return EXT2_ET_FILE_TOO_BIG;
		v = realloc(m->v, cap * sizeof(*v));
		if (!v)
			return EXT2_ET_NO_MEMORY;
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n++] = (struct xrun){ lblk, pblk, n, zero };
	return 0;
}

static int xmap_block(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
		      blk64_t ref_blk, int ref_offset, void *priv)
{
	struct xmap *m = priv;

	(void)fs;
	(void)ref_blk;
	(void)ref_offset;
	if (blockcnt < 0)
		return 0;
	if ((uint64_t)blockcnt >= m->nblk)
		return BLOCK_ABORT;
	m->ec = xmap_add(m, (uint64_t)blockcnt, *blocknr, 1, 0);
	return m->ec ? BLOCK_ABORT : 0;
}

/*
 * Maps the first limit bytes of regular file ino, whose inode is *inode
 * (a copy libext2fs may change) or read when inode is NULL; the caller
 * holds the lock if fs is shared, unless entry_inode gave the inode.
 * EXT2_ET_INLINE_DATA_CANT_ITERATE: the data is in the inode; read it with
 * libext2fs instead.
 */
static errcode_t xmap_file(ext2_filsys fs, ext2_ino_t ino,
			   struct ext2_inode *inode, uint64_t limit,
			   struct xmap *m)
{
	struct ext2_inode in;
	errcode_t ec;

	memset(m, 0, sizeof(*m));
	m->fs = fs;
	if (inode) {
		in = *inode;
	} else {
		ec = ext2fs_read_inode(fs, ino, &in);
		if (ec)
			return ec;
	}
	if (in.i_flags & EXT4_INLINE_DATA_FL)
		return EXT2_ET_INLINE_DATA_CANT_ITERATE;
	m->size = EXT2_I_SIZE(&in);
	if (limit > m->size)
		limit = m->size;
	m->nblk = limit / fs->blocksize + (limit % fs->blocksize != 0);
	if (in.i_flags & EXT4_EXTENTS_FL) {
		ext2_extent_handle_t h;
		struct ext2fs_extent x;
		int op = EXT2_EXTENT_ROOT;
		size_t steps = 0;

		ec = ext2fs_extent_open2(fs, ino, &in, &h);
		if (ec)
			return ec;
		/* pre-order walk of the tree; leaves are the extents */
		while (!(ec = ext2fs_extent_get(h, op, &x))) {
			op = EXT2_EXTENT_NEXT;
			if (++steps > 4 * MAX_RUNS) {
				ec = EXT2_ET_EXTENT_HEADER_BAD;	/* a loop */
				break;
			}
			if (!(x.e_flags & EXT2_EXTENT_FLAGS_LEAF))
				continue;
			ec = xmap_add(m, x.e_lblk, x.e_pblk, x.e_len,
				      !!(x.e_flags & EXT2_EXTENT_FLAGS_UNINIT));
			if (ec)
				break;
		}
		ext2fs_extent_free(h);
		if (ec == EXT2_ET_EXTENT_NO_NEXT)
			ec = 0;
	} else if (m->nblk) {
		ec = ext2fs_block_iterate3(fs, ino, BLOCK_FLAG_DATA_ONLY |
					   BLOCK_FLAG_READ_ONLY, NULL,
					   xmap_block, m);
		if (!ec)
			ec = m->ec;
	}
	if (ec)
		xmap_free(m);
	return ec;
}

/* Reads bytes [off, off + n) of a mapped file from image fd; holes are
 * zeros.  Thread-safe. */
static errcode_t xmap_read(const struct xmap *m, int fd, uint64_t off,
			   uint8_t *buf, size_t n)
{
	uint64_t bs = m->fs->blocksize, end = off + n, cur = off;
	ssize_t got;

	if (off > m->size || n > m->size - off || end > m->nblk * bs)
		return EXT2_ET_SHORT_READ;	/* past what was mapped */
	for (size_t i = 0; i < m->n && cur < end; i++) {
		const struct xrun *r = &m->v[i];
		uint64_t rs = r->lblk * bs, re = (r->lblk + r->n) * bs;

		if (re <= cur)
			continue;
		if (rs >= end)
			break;
		if (rs > cur) {
			memset(buf + (cur - off), 0, rs - cur);
			cur = rs;
		}
		if (re > end)
			re = end;
		if (r->zero) {
			memset(buf + (cur - off), 0, re - cur);
			cur = re;
			continue;
		}
		got = fw_pread_full(fd, buf + (cur - off), (size_t)(re - cur),
				    r->pblk * bs + (cur - rs));
		if (got < 0)
			return errno;
		if ((uint64_t)got != re - cur)
			return EXT2_ET_SHORT_READ;
		cur = re;
	}
	if (cur < end)
		memset(buf + (cur - off), 0, end - cur);
	return 0;
}

#define MAP_MIN ((uint64_t)64 << 10)	/* smaller files are read */
#define MAP_MAX_RUNS 256

/*
 * Maps a mapped file's blocks of image fd side by side into one area,
 * without copying them, when blocks are whole pages; holes and unwritten
 * extents stay anonymous zeros.  -1: not worth it or not possible (read
 * instead).
 */
static int xmap_mmap(const struct xmap *m, int fd, uint8_t **area,
		     size_t *area_len, size_t *skip)
{
	uint64_t bs = m->fs->blocksize;
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *a;
	size_t len;

	*skip = 0;
	if (page <= 0 || m->n > MAP_MAX_RUNS || m->size < MAP_MIN ||
	    m->nblk * bs > SIZE_MAX)
		return -1;
	if (bs % (uint64_t)page) {
		/* Blocks smaller than a page: only a file in one piece, mapped
		 * from the page its first block is in. */
		const struct xrun *r = m->n == 1 ? &m->v[0] : NULL;
		uint64_t at, start;

		if (!r || r->zero || r->lblk || r->n != m->nblk)
			return -1;
		at = r->pblk * bs;
		start = at - at % (uint64_t)page;
		len = (size_t)(at - start + r->n * bs);
		a = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, (off_t)start);
		if (a == MAP_FAILED)
			return -1;
		*area = a;
		*area_len = len;
		*skip = (size_t)(at - start);
		return 0;
	}
	len = (size_t)(m->nblk * bs);
	a = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		return -1;
	for (size_t i = 0; i < m->n; i++) {
		const struct xrun *r = &m->v[i];

		if (!r->zero &&
		    mmap(a + r->lblk * bs, (size_t)(r->n * bs), PROT_READ,
			 MAP_PRIVATE | MAP_FIXED, fd,
			 (off_t)(r->pblk * bs)) == MAP_FAILED) {
			munmap(a, len);
			return -1;
		}
	}
	*area = a;
	*area_len = len;
	return 0;
}

/*
 * Regular file ino's inode as the image holds it, read where its group's
 * inode table lies without libext2fs, so without the lock: the walk read
 * it through libext2fs already (checksum and all), and the input does not
 * change.  A copy of each kept from the walk cost 128 bytes an inode
 * (issue 18).  0, or -1: let libext2fs read it.
 */
static int raw_inode(const struct ext4_priv *p, ext2_ino_t ino,
		     struct ext2_inode *in)
{
	const struct ext2_super_block *sb = p->fs->super;
	uint32_t ipg = sb->s_inodes_per_group;
	blk64_t tbl;
	uint64_t off;

	if (!ino || ino > sb->s_inodes_count || !ipg)
		return -1;
	tbl = ext2fs_inode_table_loc(p->fs, (dgrp_t)((ino - 1) / ipg));
	if (!tbl || tbl >= ext2fs_blocks_count(p->fs->super))
		return -1;
	off = tbl * (uint64_t)p->fs->blocksize +
	      (uint64_t)((ino - 1) % ipg) * EXT2_INODE_SIZE(sb);
	if (fw_pread_full(p->fd, in, sizeof(*in), off) != (ssize_t)sizeof(*in))
		return -1;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	ext2fs_swap_inode(p->fs, in, in, 0);
#endif
	return 0;
}

/*
 * Regular file ino's inode when its extents are all in it: libext2fs then
 * maps the file from it without reading anything, so no lock is needed.
 * -1: take the lock and let libext2fs read.
 */
static int entry_inode(const struct ext4_priv *p, ext2_ino_t ino,
		       struct ext2_inode *in)
{
	const struct ext3_extent_header *eh;

	if (raw_inode(p, ino, in) < 0)
		return -1;
	eh = (const struct ext3_extent_header *)in->i_block;
	if (!LINUX_S_ISREG(in->i_mode) || !(in->i_flags & EXT4_EXTENTS_FL) ||
	    (in->i_flags & EXT4_INLINE_DATA_FL) ||
	    ext2fs_le16_to_cpu(eh->eh_depth) != 0)
		return -1;
	return 0;
}

/* xmap_file for regular file ino, taking the lock only when it must. */
static errcode_t xmap_entry(struct ext4_priv *p, ext2_ino_t ino,
			    uint64_t limit, struct xmap *m)
{
	struct ext2_inode in;
	errcode_t ec;

	if (entry_inode(p, ino, &in) == 0)
		return xmap_file(p->fs, ino, &in, limit, m);
	pthread_mutex_lock(&p->lock);
	ec = xmap_file(p->fs, ino, NULL, limit, m);
	pthread_mutex_unlock(&p->lock);
	return ec;
}

/* ---------------------------------------------------------------- */
/* Walking the tree                                                 */

struct dent {
	char *name;
	ext2_ino_t ino;
};

struct dlist {
	struct dent *v;
	size_t n, cap;
	int nomem;
	int bad_names;
};

struct walk {
	struct fw_image *img;
	struct ext4_priv *p;
	ext2fs_inode_bitmap seen;	/* directories already walked */
	struct fw_error *err;
};

static int collect(ext2_ino_t dir, int entry, struct ext2_dir_entry *d,
		   int offset, int blocksize, char *buf, void *priv)
{
	struct dlist *l = priv;
	int len = ext2fs_dirent_name_len(d);

	(void)dir;
	(void)offset;
	(void)blocksize;
	(void)buf;
	if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE)
		return 0;
	if ((len == 1 && d->name[0] == '.') ||
	    (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
		return 0;
	if (len == 0 || memchr(d->name, '/', (size_t)len) ||
	    memchr(d->name, '\0', (size_t)len)) {
		l->bad_names++;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct dent *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			l->nomem = 1;
			return DIRENT_ABORT;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].name = strndup(d->name, (size_t)len);
	if (!l->v[l->n].name) {
		l->nomem = 1;
		return DIRENT_ABORT;
	}
	l->v[l->n++].ino = d->inode;
	return 0;
}

static int cmp_dent(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name,
		      ((const struct dent *)b)->name);
}

static const char *shown(const struct walk *w, const char *path)
{
	return *path ? path : w->img->path;
}

static int read_inode(struct walk *w, ext2_ino_t ino,
		      struct ext2_inode_large *in, const char *path)
{
	errcode_t rc;

	memset(in, 0, sizeof(*in));
	rc = ext2fs_read_inode_full(w->p->fs, ino, (struct ext2_inode *)in,
				    sizeof(*in));
	if (rc)
		return fw_error_set(w->err, FW_EINPUT, w->img->path,
				    "%s: cannot read inode %u: %s",
				    shown(w, path), ino, ext_err(rc));
	return FW_OK;
}

static int symlink_target(struct walk *w, ext2_ino_t ino,
			  struct ext2_inode_large *in, const char *path,
			  char **target)
{
	uint64_t size = EXT2_I_SIZE(in);
	uint8_t *buf;
	size_t len;
	int too_big;
	errcode_t rc;

	*target = NULL;
	if (size == 0 || size >= PATH_MAX) {
		fw_image_warn(w->img, "%s: symlink of %llu bytes skipped "
			      "(corrupt image?)", path, (unsigned long long)size);
		return FW_OK;
	}
	if (ext2fs_is_fast_symlink((struct ext2_inode *)in)) {
		/* the target is in i_block (also for short inline data) */
		buf = malloc(size + 1);
		if (!buf)
			return fw_error_set(w->err, FW_EIO, NULL, "out of memory");
		memcpy(buf, in->i_block, size);
		len = size;
	} else {
		rc = read_data(w->p->fs, ino, PATH_MAX, &buf, &len, &too_big);
		if (rc)
			return fw_error_set(w->err, FW_EINPUT, w->img->path,
					    "%s: cannot read symlink: %s", path,
					    ext_err(rc));
		if (len != size) {
			free(buf);
			return fw_error_set(w->err, FW_EINPUT, w->img->path,
					    "%s: symlink is shorter than its size",
					    path);
		}
		uint8_t *b2 = realloc(buf, len + 1);

		if (!b2) {
			free(buf);
			return fw_error_set(w->err, FW_EIO, NULL, "out of memory");
		}
		buf = b2;
	}
	buf[len] = '\0';
	if (strlen((char *)buf) != len) {
		free(buf);
		fw_image_warn(w->img, "%s: symlink target holds a NUL byte: "
			      "skipped", path);
		return FW_OK;
	}
	*target = (char *)buf;
	return FW_OK;
}

/*
 * libext2fs iterates a directory whose extent header is corrupt as if it
 * were empty (ext2fs_block_iterate3 drops the error): check it first.
 */
static errcode_t dir_check(ext2_filsys fs, ext2_ino_t dir,
			   const struct ext2_inode_large *din)
{
	struct ext2_inode in;
	ext2_extent_handle_t h;
	errcode_t ec;

	if (!(din->i_flags & EXT4_EXTENTS_FL) ||
	    (din->i_flags & EXT4_INLINE_DATA_FL))
		return 0;
	memcpy(&in, din, sizeof(in));	/* libext2fs may write to it */
	ec = ext2fs_extent_open2(fs, dir, &in, &h);
	if (!ec)
		ext2fs_extent_free(h);
	return ec;
}

static int walk_dir(struct walk *w, ext2_ino_t dir,
		    const struct ext2_inode_large *din, const char *rel,
		    int depth)
{
	struct dlist l = { 0 };
	errcode_t ec;
	int rc = FW_OK;

	if (depth > FW_TREE_DEPTH_MAX)
		return fw_error_set(w->err, FW_EINPUT, w->img->path,
				    "%s: directories nested too deep", rel);
	ec = dir_check(w->p->fs, dir, din);
	if (!ec)
		ec = ext2fs_dir_iterate2(w->p->fs, dir, 0, NULL, collect, &l);
	if (l.nomem)
		rc = fw_error_set(w->err, FW_EIO, NULL, "out of memory");
	else if (ec)
		rc = fw_error_set(w->err, FW_EINPUT, w->img->path,
				  "%s: cannot read directory: %s",
				  shown(w, rel), ext_err(ec));
	if (l.bad_names)
		fw_image_warn(w->img, "%s: %d entries with a '/' or NUL in "
			      "their name skipped (corrupt image?)",
			      shown(w, rel), l.bad_names);
	/* Sorted, so that reports do not depend on the hash order. */
	if (!rc && l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), cmp_dent);
	for (size_t i = 0; i < l.n && !rc; i++) {
		struct ext2_inode_large in;
		char path[PATH_MAX], clean[PATH_MAX];
		char *target = NULL;
		struct stat st;

		if (snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "",
			     l.v[i].name) >= (int)sizeof(path) ||
		    fw_path_clean(path, clean, sizeof(clean)) < 0) {
			fw_image_warn(w->img, "%s: a name in it is too long or "
				      "unsafe: skipped", shown(w, rel));
			continue;
		}
		if (l.v[i].ino < EXT2_ROOT_INO ||
		    l.v[i].ino > w->p->fs->super->s_inodes_count) {
			fw_image_warn(w->img, "%s: bad inode number %u: skipped",
				      clean, l.v[i].ino);
			continue;
		}
		if (w->img->n >= MAX_ENTRIES) {
			rc = fw_error_set(w->err, FW_EINPUT, w->img->path,
					  "more than %zu entries", MAX_ENTRIES);
			break;
		}
		rc = read_inode(w, l.v[i].ino, &in, clean);
		if (rc)
			break;
		if (in.i_links_count == 0 || in.i_mode == 0 ||
		    (in.i_flags & EXT4_EA_INODE_FL)) {
			fw_image_warn(w->img, "%s: names a free or internal inode "
				      "%u: skipped (corrupt image?)", clean,
				      l.v[i].ino);
			continue;
		}
		inode_stat(w->p->fs, l.v[i].ino, &in, &st);
		if (LINUX_S_ISDIR(in.i_mode)) {
			if (ext2fs_test_inode_bitmap2(w->seen, l.v[i].ino)) {
				fw_image_warn(w->img, "%s: directory inode %u seen "
					      "twice (a loop in a corrupt image): "
					      "skipped", clean, l.v[i].ino);
				continue;
			}
			ext2fs_mark_inode_bitmap2(w->seen, l.v[i].ino);
		} else if (LINUX_S_ISLNK(in.i_mode)) {
			if (in.i_flags & EXT4_ENCRYPT_FL) {
				fw_image_warn(w->img, "%s: encrypted symlink "
					      "skipped", clean);
				continue;
			}
			rc = symlink_target(w, l.v[i].ino, &in, clean, &target);
			if (rc)
				break;
			if (!target)
				continue;
		} else if (!LINUX_S_ISREG(in.i_mode) && !LINUX_S_ISCHR(in.i_mode) &&
			   !LINUX_S_ISBLK(in.i_mode) && !LINUX_S_ISFIFO(in.i_mode) &&
			   !LINUX_S_ISSOCK(in.i_mode)) {
			fw_image_warn(w->img, "%s: unknown file type 0%o: skipped",
				      clean, in.i_mode);
			continue;
		}
		rc = fw_image_add(w->img, clean, &st, target, w->err);
		free(target);
		if (rc || !LINUX_S_ISDIR(in.i_mode))
			continue;
		if (in.i_flags & EXT4_ENCRYPT_FL) {
			fw_image_warn(w->img, "%s: encrypted directory: its "
				      "contents are left as they are", clean);
			continue;
		}
		rc = walk_dir(w, l.v[i].ino, &in, clean, depth + 1);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].name);
	free(l.v);
	return rc;
}

static int ext_out_begin(struct fw_image *img, const struct fw_out_opts *oo,
			 void **ctx, struct fw_error *err);
static void ext_out_abort(void *ctx);

/*
 * Room for every inode in use (more names only with hard links): no
 * growing during the walk.  The superblock's counts are a hint: what fits
 * in the image at most.
 */
static int reserve(struct fw_image *img, struct ext4_priv *p)
{
	const struct ext2_super_block *sb = p->fs->super;
	uint64_t used = sb->s_inodes_count > sb->s_free_inodes_count ?
			sb->s_inodes_count - sb->s_free_inodes_count : 0;
	uint64_t fit = (uint64_t)p->st.st_size / EXT2_INODE_SIZE(sb);

	if (used > fit)
		used = fit;
	if (used > ((uint64_t)1 << 20))
		used = (uint64_t)1 << 20;
	return fw_image_reserve(img, (size_t)used + 16);
}

static int ext_open(struct fw_image *img, struct fw_error *err)
{
	struct ext4_priv *p = calloc(1, sizeof(*p));
	struct walk w = { img, p, NULL, err };
	struct ext2_inode_large in;
	struct stat st;
	errcode_t ec;
	uint64_t need;
	int rc;

	if (!p)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	img->priv = p;
	p->fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	initialize_ext2_error_table();
	p->fd = open(img->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (p->fd < 0 || fstat(p->fd, &p->st) < 0)
		return fw_error_set(err, FW_EINPUT, img->path, "cannot open: %s",
				    strerror(errno));
	ec = ext2fs_open2(img->path, NULL, EXT2_FLAG_64BITS, 0, 0,
			  unix_io_manager, &p->fs);
	if (ec) {
		p->fs = NULL;
		return fw_error_set(err, FW_EINPUT, img->path,
				    "not a usable ext2/3/4 image: %s", ext_err(ec));
	}
	need = ext2fs_blocks_count(p->fs->super) * (uint64_t)p->fs->blocksize;
	if ((uint64_t)p->st.st_size < need)
		return fw_error_set(err, FW_EINPUT, img->path,
				    "truncated: %lld bytes, the filesystem needs %llu",
				    (long long)p->st.st_size,
				    (unsigned long long)need);
	if (ext2fs_has_feature_journal_needs_recovery(p->fs->super))
		return fw_error_set(err, FW_EINPUT, img->path,
				    "the journal needs recovery (not cleanly "
				    "unmounted): run e2fsck on it first");
	if (ext2fs_has_feature_journal_dev(p->fs->super))
		return fw_error_set(err, FW_EINPUT, img->path,
				    "an external journal, not a filesystem");
	if (p->fs->super->s_state & EXT2_ERROR_FS)
		fw_image_warn(img, "%s: the filesystem is marked as having "
			      "errors: run e2fsck on it", img->path);
	/* The image copy runs while the tree is walked. */
	if (img->will_write && !img->will_write->in_place) {
		rc = ext_out_begin(img, img->will_write, &p->early, err);
		if (rc)
			return rc;
	}
	if (reserve(img, p) < 0)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	ec = ext2fs_allocate_inode_bitmap(p->fs, "walked directories", &w.seen);
	if (ec)
		return fw_error_set(err, FW_EIO, img->path, "%s", ext_err(ec));
	rc = read_inode(&w, EXT2_ROOT_INO, &in, "");
	if (!rc && !LINUX_S_ISDIR(in.i_mode))
		rc = fw_error_set(err, FW_EINPUT, img->path,
				  "the root inode is not a directory");
	if (!rc) {
		inode_stat(p->fs, EXT2_ROOT_INO, &in, &st);
		ext2fs_mark_inode_bitmap2(w.seen, EXT2_ROOT_INO);
		rc = fw_image_add(img, "", &st, NULL, err);
	}
	if (!rc)
		rc = walk_dir(&w, EXT2_ROOT_INO, &in, "", 0);
	ext2fs_free_inode_bitmap(w.seen);
	if (!rc)
		rc = fw_image_link_hardlinks(img, err);
	return rc;
}

#define SPARSE_MIN ((uint64_t)256 << 10)	/* smaller files are read */
#define SPARSE_FEED ((size_t)256 << 10)	/* bytes hashed at once */

/*
 * A big ELF file, when the caller only signs: a sparse view (its headers
 * and end, fw_elf_fill) and its content as one segment that ext_feed
 * reads from the image SPARSE_FEED bytes at a time as it is hashed.
 * Mapped instead, every page the hash had passed stayed resident until
 * the file was done (two jobs, 16 MiB libraries: 32 MiB, depending on
 * which files met); read, the page cache keeps them, not us.
 */
struct ext_stream {
	struct fw_seg seg;	/* first: fw_bytes_release frees the block */
	struct xmap m;		/* the file's runs, in v below */
	int fd;
	const char *path, *image;	/* for errors */
	errcode_t ec;		/* of the read that failed */
	struct fw_error err;	/* the same, for the engine */
	struct xrun v[];
};

static int stream_read_at(void *ctx, uint64_t off, uint8_t *buf, size_t n)
{
	struct ext_stream *st = ctx;

	st->ec = xmap_read(&st->m, st->fd, off, buf, n);
	if (st->ec)
		fw_error_set(&st->err, FW_EINPUT, st->path,
			     "cannot read from %s: %s", st->image,
			     ext_err(st->ec));
	return st->ec ? -1 : 0;
}

/* fw_feed_fn: the first n bytes of the file, SPARSE_FEED at a time. */
static int ext_feed(void *ctx, uint64_t n, fw_put_fn put, void *put_ctx)
{
	struct ext_stream *st = ctx;
	int rc = fw_feed_reads(n, SPARSE_FEED, stream_read_at, st, put, put_ctx);

	if (rc == -2)
		fw_error_set(&st->err, FW_EIO, NULL, "out of memory");
	return rc < 0 ? -1 : 0;
}

/*
 * The sparse view and the stream of a mapped file (m, whose runs are
 * copied): 0.  1: not an ELF file or not worth it, read it instead; -1: a
 * read failed (*ec).
 */
static int sparse_view(const struct fw_image *img, size_t idx,
		       const struct xmap *m, struct fw_bytes *b,
		       errcode_t *ec)
{
	const struct ext4_priv *p = img->priv;
	struct ext_stream *st;
	uint8_t *view;
	int rc;

	if (m->size < SPARSE_MIN || m->size > SIZE_MAX)
		return 1;
	st = malloc(sizeof(*st) + m->n * sizeof(st->v[0]));
	if (!st)
		return 1;
	*st = (struct ext_stream){ .m = *m, .fd = p->fd,
				   .path = img->ent[idx].path,
				   .image = img->path };
	memcpy(st->v, m->v, m->n * sizeof(st->v[0]));
	st->m.v = st->v;
	st->m.cap = m->n;
	fw_error_clear(&st->err);
	view = mmap(NULL, (size_t)m->size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	rc = view == MAP_FAILED ? 1
				: fw_elf_fill(view, m->size, stream_read_at, st);
	if (rc) {
		if (rc < 0)
			*ec = st->ec;
		if (view != MAP_FAILED)
			munmap(view, (size_t)m->size);
		free(st);
		return rc;
	}
	st->seg = (struct fw_seg){ NULL, (size_t)m->size, ext_feed, st };
	b->p = view;
	b->len = (size_t)m->size;
	b->mapped = view;
	b->map_len = (size_t)m->size;
	b->seg = &st->seg;
	b->n_seg = 1;
	b->feed_err = &st->err;
	return 0;
}

/*
 * The bytes of a file: a sparse view and a stream where the caller only
 * signs a big ELF file, else mapped from the image where its blocks allow
 * and may_map, else read outside the lock in big runs (inline data:
 * through libext2fs).
 */
static int ext_bytes(struct fw_image *img, size_t idx, struct fw_bytes *b,
		     int may_map, struct fw_error *err)
{
	struct ext4_priv *p = img->priv;
	const struct fw_entry *e = &img->ent[idx];
	ext2_ino_t ino = (ext2_ino_t)e->st.st_ino;
	struct xmap m;
	uint8_t *area;
	size_t area_len, skip;
	errcode_t ec;
	int too_big = 0;

	fw_bytes_init(b);
	ec = xmap_entry(p, ino, FW_READ_MAX, &m);
	if (ec == EXT2_ET_INLINE_DATA_CANT_ITERATE) {
		pthread_mutex_lock(&p->lock);
		ec = read_data(p->fs, ino, FW_READ_MAX, &b->owned, &b->len,
			       &too_big);
		pthread_mutex_unlock(&p->lock);
		b->p = b->owned;
	} else if (!ec && m.size > FW_READ_MAX) {
		too_big = 1;
	} else if (!ec && b->sparse_ok && m.size == (uint64_t)e->st.st_size &&
		   sparse_view(img, idx, &m, b, &ec) <= 0) {
		/* ec: set if a read failed */
	} else if (!ec && may_map && m.size == (uint64_t)e->st.st_size &&
		   xmap_mmap(&m, p->fd, &area, &area_len, &skip) == 0) {
		b->mapped = area;
		b->map_len = area_len;
		b->p = area + skip;
		b->len = (size_t)m.size;
	} else if (!ec) {
		uint8_t *buf = fw_bytes_alloc(b, (size_t)m.size);

		ec = buf ? xmap_read(&m, p->fd, 0, buf, (size_t)m.size)
			 : EXT2_ET_NO_MEMORY;
		b->p = buf;
		b->len = (size_t)m.size;
	}
	xmap_free(&m);
	if (ec || too_big)
		fw_bytes_release(b);
	if (too_big)
		return fw_error_set(err, FW_EINPUT, e->path,
				    "larger than %llu bytes",
				    (unsigned long long)FW_READ_MAX);
	if (ec == EXT2_ET_NO_MEMORY)
		return fw_error_set(err, FW_EIO, e->path, "out of memory");
	if (ec)
		return fw_error_set(err, FW_EINPUT, e->path,
				    "cannot read from %s: %s", img->path,
				    ext_err(ec));
	if (b->len != (size_t)e->st.st_size) {
		size_t len = b->len;

		fw_bytes_release(b);
		return fw_error_set(err, FW_EINPUT, e->path,
				    "read %zu bytes of %lld from %s", len,
				    (long long)e->st.st_size, img->path);
	}
	return FW_OK;
}

static int ext_read(struct fw_image *img, size_t idx, uint8_t **buf,
		    size_t *len, struct fw_error *err)
{
	struct fw_bytes b = { 0 };	/* no scratch: owned */
	int rc = ext_bytes(img, idx, &b, 0, err);

	*buf = b.owned;
	*len = b.len;
	return rc;
}

static int ext_map(struct fw_image *img, size_t idx, struct fw_bytes *b,
		   struct fw_error *err)
{
	return ext_bytes(img, idx, b, 1, err);
}

/* The first bytes of a file, so that data files are not read whole. */
static ssize_t ext_peek(struct fw_image *img, size_t idx, uint8_t *buf,
			size_t n, struct fw_error *err)
{
	struct ext4_priv *p = img->priv;
	const struct fw_entry *e = &img->ent[idx];
	ext2_ino_t ino = (ext2_ino_t)e->st.st_ino;
	unsigned int got = 0;
	struct xmap m;
	errcode_t ec;
	int inl;

	ec = xmap_entry(p, ino, n, &m);
	inl = ec == EXT2_ET_INLINE_DATA_CANT_ITERATE;
	if (inl) {
		ext2_file_t f;

		pthread_mutex_lock(&p->lock);
		ec = ext2fs_file_open(p->fs, ino, 0, &f);
		if (!ec) {
			ec = ext2fs_file_read(f, buf, n > UINT_MAX ? UINT_MAX
							  : (unsigned)n, &got);
			ext2fs_file_close(f);
		}
		pthread_mutex_unlock(&p->lock);
	} else if (!ec) {
		got = (unsigned)(m.size < n ? m.size : n);
	}
	if (!ec && !inl)
		ec = xmap_read(&m, p->fd, 0, buf, got);
	xmap_free(&m);
	if (ec) {
		fw_error_set(err, ec == EXT2_ET_NO_MEMORY ? FW_EIO : FW_EINPUT,
			     e->path, "cannot read from %s: %s", img->path,
			     ext_err(ec));
		return -1;
	}
	return (ssize_t)got;
}

/* ---------------------------------------------------------------- */
/* Writing                                                          */

/*
 * Moves want bytes at *off of in to the same offset of out through the
 * pipe: pages of in are lent to the pipe, then written to out with one
 * copy, as copy_file_range does, but 256 KiB at a time where
 * copy_file_range's own pipe takes 64 KiB: ext4 (Linux 6.16+) then writes
 * larger folios.  Here, 186 MiB: 55 ms instead of 68-73; 829 MiB: 189-318
 * instead of 263-751.  A 1 MiB pipe was faster still on the small image
 * (48-50 ms) but on the big one took 650-1050 ms in 5 runs of 8, all in
 * memcpy: on this VM fresh memory in big blocks is slow to touch (free
 * page reporting to the host).
 * 0, or -1 with errno.
 */
static int splice_run(int in, int out, const int pipefd[2], off_t *off,
		      size_t want)
{
	loff_t a = *off, b = *off;
	ssize_t got;

	do
		got = splice(in, &a, pipefd[1], NULL, want, SPLICE_F_MOVE);
	while (got < 0 && errno == EINTR);
	if (got == 0)
		errno = EIO;	/* shrank under us */
	if (got <= 0)
		return -1;
	for (ssize_t put = 0; put < got;) {
		ssize_t n = splice(pipefd[0], NULL, out, &b, (size_t)(got - put),
				   SPLICE_F_MOVE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		put += n;
	}
	*off += got;
	return 0;
}

#define COPY_PIPE (256 << 10)

/* splice_run for files that cannot splice: through buf (want bytes). */
static int rw_run(int in, int out, uint8_t *buf, off_t *off, size_t want)
{
	ssize_t n = fw_pread_full(in, buf, want, (uint64_t)*off);

	if (n >= 0 && (size_t)n < want)
		errno = EIO;	/* shrank under us */
	if ((size_t)n != want || fw_pwrite_full(out, buf, want, (uint64_t)*off))
		return -1;
	*off += (off_t)want;
	return 0;
}

/* splice refused for these files, or by a sandbox: read and write */
static int no_splice(int e)
{
	return e == EINVAL || e == ENOSYS || e == EOPNOTSUPP || e == EPERM ||
	       e == EXDEV;
}

/*
 * Copies in to out, leaving the holes of in as holes; gives up (ECANCELED)
 * once *stop is set.
 */
static int copy_image(int in, int out, off_t size, atomic_int *stop)
{
	off_t pos = 0;
	int pipefd[2] = { -1, -1 }, rc = 0;
	size_t chunk = 1u << 16;
	uint8_t *buf = NULL;

	/* btrfs and XFS share the extents: no copy at all. */
	if (ioctl(out, FICLONE, in) == 0)
		return ftruncate(out, size);
	if (pipe2(pipefd, O_CLOEXEC) == 0) {
		int sz = fcntl(pipefd[1], F_SETPIPE_SZ, COPY_PIPE);

		if (sz > 0)
			chunk = (size_t)sz;
	}
	while (pos < size && !rc) {
		off_t data = lseek(in, pos, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break;		/* a hole to the end */
		if (data < 0) {
			data = pos;	/* no SEEK_DATA here: copy it all */
			hole = size;
		} else {
			hole = lseek(in, data, SEEK_HOLE);
			if (hole < 0 || hole > size)
				hole = size;
		}
		/* Allocated ahead, the copy's pages skip delayed allocation
		 * (77 -> 63 ms CPU for 186 MiB).  Not every filesystem can:
		 * no matter. */
		(void)fallocate(out, FALLOC_FL_KEEP_SIZE, data, hole - data);
		while (data < hole && !rc) {
			size_t want = hole - data > (off_t)chunk
					      ? chunk : (size_t)(hole - data);

			if (atomic_load_explicit(stop, memory_order_relaxed)) {
				errno = ECANCELED;
				rc = -1;
				break;
			}
			if (!buf && pipefd[0] >= 0) {
				rc = splice_run(in, out, pipefd, &data, want);
				if (!rc || !no_splice(errno))
					continue;
				rc = 0;
			}
			if (!buf && !(buf = malloc(chunk)))
				rc = -1;
			else
				rc = rw_run(in, out, buf, &data, want);
		}
		pos = hole;
	}
	if (pipefd[0] >= 0) {
		close(pipefd[0]);
		close(pipefd[1]);
	}
	free(buf);
	return rc ? -1 : ftruncate(out, size);
}

static int parse_epoch(struct ext4_out *o, struct fw_error *err)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (!s || !*s)
		return FW_OK;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0 || v > ((1LL << 34) - 1) + INT32_MIN)
		return fw_error_set(err, FW_EUSAGE, NULL,
				    "SOURCE_DATE_EPOCH=%s is not a time fwsign "
				    "can store in ext4", s);
	o->have_epoch = 1;
	o->epoch = v;
	return FW_OK;
}

static void *copier(void *arg)
{
	struct ext4_out *o = arg;
	struct ext4_priv *p = o->img->priv;

	if (copy_image(p->fd, o->of.fd, p->st.st_size, &o->stop) < 0)
		o->copy_errno = errno ? errno : EIO;
	return NULL;
}

/*
 * ext2fs_open2 takes an io_manager, not a channel: this one hands it the
 * channel opened on the empty copy (and unix_io does all the rest).
 */
static pthread_mutex_t preopen_lock = PTHREAD_MUTEX_INITIALIZER;
static io_channel preopened;

static errcode_t preopen_open(const char *name, int flags, io_channel *ch)
{
	(void)name;
	(void)flags;
	if (!preopened)
		return EXT2_ET_BAD_DEVICE_NAME;
	*ch = preopened;
	preopened = NULL;
	return 0;
}

static struct struct_io_manager preopen_manager = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "fwsign pre-opened channel",
	.open = preopen_open,
};

static int ext_out_begin(struct fw_image *img, const struct fw_out_opts *oo,
			 void **ctx, struct fw_error *err)
{
	struct ext4_priv *p = img->priv;
	struct ext4_out *o;
	struct stat st;
	errcode_t ec;
	int rc;

	*ctx = NULL;
	if (p->early) {
		*ctx = p->early;	/* begun by open, same options */
		p->early = NULL;
		return FW_OK;
	}
	if (oo->in_place)
		return fw_error_set(err, FW_EUSAGE, img->path,
				    "images are never edited in place: give an "
				    "output file");
	if (oo->max_size && (uint64_t)p->st.st_size > oo->max_size)
		return fw_error_set(err, FW_EINPUT, oo->path,
				    "output of %lld bytes exceeds the size limit %llu "
				    "by %llu bytes", (long long)p->st.st_size,
				    (unsigned long long)oo->max_size,
				    (unsigned long long)p->st.st_size - oo->max_size);
	if (ext2fs_has_feature_shared_blocks(p->fs->super))
		return fw_error_set(err, FW_EINPUT, img->path,
				    "its files share blocks (shared_blocks): "
				    "changing one would change others");
	o = calloc(1, sizeof(*o));
	if (!o)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	o->of.fd = -1;
	o->img = img;
	o->max_size = oo->max_size;
	*ctx = o;
	rc = parse_epoch(o, err);
	if (rc)
		return rc;
	rc = fw_outfile_begin(&o->of, oo->path, err);
	if (rc)
		return rc;
	if (fstat(p->fd, &st) < 0 || st.st_size != p->st.st_size ||
	    st.st_mtim.tv_sec != p->st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != p->st.st_mtim.tv_nsec)
		return fw_error_set(err, FW_EIO, img->path,
				    "changed while fwsign was running");
	/* unix_io fsyncs what it opens: open the copy while it is empty */
	ec = unix_io_manager->open(o->of.tmp, IO_FLAG_RW, &o->io);
	if (ec) {
		o->io = NULL;
		return fw_error_set(err, FW_EIO, oo->path, "cannot open: %s",
				    ext_err(ec));
	}
	o->copy_errno = fw_thread_create(&o->copier, copier, o);
	if (o->copy_errno)
		return fw_error_set(err, FW_EIO, NULL,
				    "cannot start a thread: %s",
				    strerror(o->copy_errno));
	o->copying = 1;
	return FW_OK;
}

/* Waits for the copy and opens it; before the first change and commit. */
static int out_ready(struct ext4_out *o, struct fw_error *err)
{
	struct fw_image *img = o->img;
	struct ext4_priv *p = img->priv;
	errcode_t ec;

	if (o->ready)
		return FW_OK;
	if (o->copying) {
		pthread_join(o->copier, NULL);
		o->copying = 0;
	}
	if (o->copy_errno)
		return fw_error_set(err, FW_EIO, o->of.final, "cannot write: %s",
				    strerror(o->copy_errno));
	/*
	 * The copy only: no MMP block update, and the backup superblocks and
	 * group descriptors are left as they are, as the kernel does.
	 */
	pthread_mutex_lock(&preopen_lock);
	preopened = o->io;
	o->io = NULL;
	ec = ext2fs_open2(o->of.tmp, NULL,
			  EXT2_FLAG_RW | EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP |
			  EXT2_FLAG_MASTER_SB_ONLY, 0, 0, &preopen_manager,
			  &o->fs);
	if (preopened)
		io_channel_close(preopened);	/* not taken */
	preopened = NULL;
	pthread_mutex_unlock(&preopen_lock);
	if (ec) {
		o->fs = NULL;
		return fw_error_set(err, FW_EINPUT, img->path,
				    "cannot open the copy for writing: %s",
				    ext_err(ec));
	}
	if (memcmp(o->fs->super, p->fs->super, SUPERBLOCK_SIZE))
		return fw_error_set(err, FW_EIO, img->path,
				    "changed while fwsign was running");
	ec = ext2fs_read_bitmaps(o->fs);
	if (ec)
		return fw_error_set(err, FW_EINPUT, img->path,
				    "cannot read the block bitmaps: %s",
				    ext_err(ec));
	/* The superblock's write time; 0 would mean "now". */
	o->fs->now = o->have_epoch ? (time_t)o->epoch
				   : (time_t)o->fs->super->s_wtime;
	if (!o->fs->now)
		o->fs->now = 1;
	o->ready = 1;
	return FW_OK;
}

static uint64_t free_blocks(ext2_filsys fs)
{
	uint64_t n = 0;

	for (dgrp_t g = 0; g < fs->group_desc_count; g++)
		n += ext2fs_bg_free_blocks_count(fs, g);
	return n * EXT2FS_CLUSTER_RATIO(fs);
}

/* Counts the blocks of [first, end) the file has, and those it has not. */
static int count_blocks(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode *in,
			blk64_t first, blk64_t end, uint64_t *mapped,
			uint64_t *holes)
{
	*mapped = *holes = 0;
	for (blk64_t b = first; b < end; b++) {
		blk64_t phys = 0;
		int flags = 0;

		if (ext2fs_bmap2(fs, ino, in, NULL, 0, b, &flags, &phys))
			return -1;
		*mapped += phys != 0;
		*holes += phys == 0;
	}
	return 0;
}

/*
 * Data blocks that writing new bytes from offset at to len takes from the
 * free space, and those a shorter file gives back.  Extent and indirect
 * blocks may come on top when the file's map grows.
 */
static int blocks_needed(ext2_filsys fs, ext2_ino_t ino,
			 struct ext2_inode *in, uint64_t at, uint64_t len,
			 uint64_t old, uint64_t *need, uint64_t *freed)
{
	uint64_t bs = fs->blocksize, unused;

	*need = *freed = 0;
	if (in->i_flags & EXT4_INLINE_DATA_FL) {
		/* stays inline when it fits in i_block; else all of it moves */
		if (len > sizeof(in->i_block))
			*need = (len + bs - 1) / bs;
		return 0;
	}
	if (len > at && count_blocks(fs, ino, in, at / bs, (len + bs - 1) / bs,
				     &unused, need) < 0)
		return -1;
	if (old > len && count_blocks(fs, ino, in, (len + bs - 1) / bs,
				      (old + bs - 1) / bs, freed, &unused) < 0)
		return -1;
	return 0;
}

/* ctime := SOURCE_DATE_EPOCH; everything else of the inode stays. */
static errcode_t set_ctime(struct ext4_out *o, ext2_ino_t ino)
{
	struct ext2_inode_large in;
	int extra;
	errcode_t ec;

	memset(&in, 0, sizeof(in));
	ec = ext2fs_read_inode_full(o->fs, ino, (struct ext2_inode *)&in,
				    sizeof(in));
	if (ec)
		return ec;
	extra = HAS_EXTRA(o->fs, &in, i_ctime_extra);
	if (extra) {
		in.i_ctime = (uint32_t)o->epoch;
		in.i_ctime_extra = (uint32_t)(((o->epoch - (int32_t)o->epoch) >> 32) &
					      EXT4_EPOCH_MASK);
	} else {
		in.i_ctime = (uint32_t)(o->epoch > INT32_MAX ? INT32_MAX : o->epoch);
	}
	return ext2fs_write_inode_full(o->fs, ino, (struct ext2_inode *)&in,
				       sizeof(in));
}

/* The first offset below n where the file's bytes differ from data. */
static errcode_t first_difference(ext2_file_t f, const uint8_t *data,
				  uint64_t n, uint64_t *at)
{
	uint8_t buf[1 << 16];
	uint64_t pos = 0;
	errcode_t ec;

	ec = ext2fs_file_llseek(f, 0, EXT2_SEEK_SET, NULL);
	while (!ec && pos < n) {
		unsigned int want = n - pos > sizeof(buf) ? sizeof(buf)
							  : (unsigned)(n - pos);
		unsigned int got = 0;

		ec = ext2fs_file_read(f, buf, want, &got);
		if (ec)
			break;
		if (got == 0) {
			ec = EXT2_ET_SHORT_READ;
			break;
		}
		if (memcmp(buf, data + pos, got)) {
			for (unsigned int i = 0; i < got; i++)
				if (buf[i] != data[pos + i]) {
					*at = pos + i;
					return 0;
				}
		}
		pos += got;
	}
	*at = pos;
	return ec;
}

#define CMP_WINDOW ((size_t)1 << 20)

/* The same, reading the copy's blocks in big runs (inline data: as above). */
static errcode_t out_first_difference(struct ext4_out *o, ext2_ino_t ino,
				      ext2_file_t f, const uint8_t *data,
				      uint64_t n, uint64_t *at)
{
	struct xmap m;
	uint64_t pos = 0;
	uint8_t *area;
	size_t area_len, skip;
	errcode_t ec;

	ec = xmap_file(o->fs, ino, NULL, n, &m);
	if (ec == EXT2_ET_INLINE_DATA_CANT_ITERATE)
		return first_difference(f, data, n, at);
	if (!ec && xmap_mmap(&m, o->of.fd, &area, &area_len, &skip) == 0) {
		const uint8_t *cur = area + skip;

		/* the copy's pages, compared where they are */
		if (memcmp(cur, data, (size_t)n))
			while (pos < n && cur[pos] == data[pos])
				pos++;
		else
			pos = n;
		munmap(area, area_len);
		xmap_free(&m);
		*at = pos;
		return 0;
	}
	if (!ec && !o->cmp) {
		o->cmp = malloc(CMP_WINDOW);
		if (!o->cmp)
			ec = EXT2_ET_NO_MEMORY;
	}
	while (!ec && pos < n) {
		size_t want = n - pos > CMP_WINDOW ? CMP_WINDOW
						   : (size_t)(n - pos);

		ec = xmap_read(&m, o->of.fd, pos, o->cmp, want);
		if (ec || !memcmp(o->cmp, data + pos, want)) {
			pos += want;
			continue;
		}
		for (size_t i = 0; i < want; i++)
			if (o->cmp[i] != data[pos + i]) {
				pos += i;
				break;
			}
		break;
	}
	xmap_free(&m);
	*at = pos;
	return ec;
}

/* ---------------------------------------------------------------- */
/* Quota                                                            */

/*
 * With the quota feature the quota files count the space of every owner;
 * e2fsck checks them.  A file that grew or shrank moves its owner's
 * dqb_curspace by as much.  The files are in the kernel's v2r1 format: a
 * radix tree of 1 KiB blocks, four levels indexed by the bytes of the id,
 * then data blocks of 72-byte entries after a 16-byte header.
 */
#define QT_BLK 1024
#define QT_DEPTH 4
#define QT_DATA_HDR 16
#define QT_ENTRY 72
#define QT_CURSPACE 48

static int add_qdelta(struct ext4_out *o, int type, uint32_t id,
		      int64_t bytes)
{
	struct qdelta *q;

	for (size_t i = 0; i < o->n_qd; i++)
		if (o->qd[i].type == type && o->qd[i].id == id) {
			o->qd[i].bytes += bytes;
			return 0;
		}
	q = realloc(o->qd, (o->n_qd + 1) * sizeof(*q));
	if (!q)
		return -1;
	o->qd = q;
	o->qd[o->n_qd++] = (struct qdelta){ type, id, bytes };
	return 0;
}

/* A change of bytes an inode takes, charged to its user, group and
 * project quotas; -1: no memory. */
static int charge_inode(struct ext4_out *o, struct ext2_inode_large *large,
			uint64_t delta)
{
	int64_t d = (int64_t)delta;

	return add_qdelta(o, 0, inode_uid(*large), d) < 0 ||
	       add_qdelta(o, 1, inode_gid(*large), d) < 0 ||
	       add_qdelta(o, 2, HAS_EXTRA(o->fs, large, i_projid) ?
			  large->i_projid : 0, d) < 0 ? -1 : 0;
}

static errcode_t qread(ext2_file_t f, uint64_t off, uint8_t *buf, unsigned n)
{
	unsigned int got = 0;
	errcode_t ec = ext2fs_file_llseek(f, off, EXT2_SEEK_SET, NULL);

	if (!ec)
		ec = ext2fs_file_read(f, buf, n, &got);
	return ec ? ec : got == n ? 0 : EXT2_ET_SHORT_READ;
}

/* Moves id's dqb_curspace in quota file ino by bytes. */
static errcode_t quota_move(ext2_filsys fs, ext2_ino_t ino, int type,
			    uint32_t id, int64_t bytes, int *found)
{
	static const uint32_t magic[] = { 0xd9c01f11, 0xd9c01927, 0xd9c03f14 };
	uint8_t buf[QT_BLK];
	uint32_t blk = 1;
	ext2_file_t f;
	errcode_t ec;

	*found = 0;
	ec = ext2fs_file_open(fs, ino, EXT2_FILE_WRITE, &f);
	if (ec)
		return ec;
	ec = qread(f, 0, buf, 8);
	if (!ec && (fw_le32(buf) != magic[type] || fw_le32(buf + 4) != 1))
		ec = EXT2_ET_BAD_MAGIC;	/* not v2r1: left alone */
	for (int depth = 0; !ec && depth < QT_DEPTH && blk; depth++) {
		unsigned i = (id >> ((QT_DEPTH - depth - 1) * 8)) & 0xff;

		ec = qread(f, (uint64_t)blk * QT_BLK, buf, QT_BLK);
		if (!ec)
			blk = fw_le32(buf + 4 * i);
	}
	if (!ec && blk)
		ec = qread(f, (uint64_t)blk * QT_BLK, buf, QT_BLK);
	for (unsigned e = 0; !ec && blk && !*found &&
			     QT_DATA_HDR + (e + 1) * QT_ENTRY <= QT_BLK; e++) {
		uint8_t *d = buf + QT_DATA_HDR + e * QT_ENTRY;
		static const uint8_t zero[QT_ENTRY];
		uint64_t space = fw_le64(d + QT_CURSPACE);
		unsigned int put = 0;

		/* an unused entry is all zeros; id 0 has dqb_itime = 1 */
		if (fw_le32(d) != id || !memcmp(d, zero, QT_ENTRY))
			continue;
		*found = 1;
		space = bytes < 0 && (uint64_t)-bytes > space ? 0 : space + (uint64_t)bytes;
		fw_put_le64(d + QT_CURSPACE, space);
		ec = ext2fs_file_llseek(f, (uint64_t)blk * QT_BLK + QT_DATA_HDR +
					   e * QT_ENTRY + QT_CURSPACE,
					EXT2_SEEK_SET, NULL);
		if (!ec)
			ec = ext2fs_file_write(f, d + QT_CURSPACE, 8, &put);
		if (!ec && put != 8)
			ec = EXT2_ET_SHORT_WRITE;
	}
	if (ec) {
		ext2fs_file_close(f);
		return ec;
	}
	return ext2fs_file_close(f);
}

static int quota_update(struct ext4_out *o, struct fw_error *err)
{
	static const char *const what[] = { "user", "group", "project" };
	const struct ext2_super_block *sb = o->fs->super;
	const ext2_ino_t qino[] = { sb->s_usr_quota_inum, sb->s_grp_quota_inum,
				    sb->s_prj_quota_inum };

	if (!ext2fs_has_feature_quota(o->fs->super))
		return FW_OK;
	for (size_t i = 0; i < o->n_qd; i++) {
		const struct qdelta *q = &o->qd[i];
		errcode_t ec;
		int found;

		if (!q->bytes || !qino[q->type])
			continue;
		ec = quota_move(o->fs, qino[q->type], q->type, q->id, q->bytes,
				&found);
		if (ec)
			return fw_error_set(err, FW_EINPUT, o->img->path,
					    "cannot update the %s quota file: %s",
					    what[q->type],
					    ec == EXT2_ET_BAD_MAGIC
						    ? "not in the v2r1 format"
						    : ext_err(ec));
		if (!found)
			return fw_error_set(err, FW_EINPUT, o->img->path,
					    "the %s quota file has no entry for "
					    "id %u: run e2fsck -f on the image",
					    what[q->type], q->id);
	}
	return FW_OK;
}

/* Space charged to the inode's owners, in bytes. */
static errcode_t inode_space(ext2_filsys fs, ext2_ino_t ino,
			     struct ext2_inode_large *in, uint64_t *bytes)
{
	errcode_t ec;

	memset(in, 0, sizeof(*in));
	ec = ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)in,
				    sizeof(*in));
	if (!ec)
		*bytes = ext2fs_get_stat_i_blocks(fs, (struct ext2_inode *)in) * 512;
	return ec;
}

/*
 * New content for an inline-data file.  libext2fs 1.47 writes inline data
 * wrongly from an offset inside it (a short write, or a wild memcpy when
 * less is written than the offset), so the content is set whole; when it
 * no longer fits, the file moves to a block and *f is opened on it, at at.
 */
/* exported by libext2fs since 1.43 but declared in its private header */
errcode_t ext2fs_inline_data_expand(ext2_filsys fs, ext2_ino_t ino);

static errcode_t inline_put(ext2_filsys fs, ext2_ino_t ino,
			    const uint8_t *data, size_t len, uint64_t at,
			    ext2_file_t *f)
{
	struct ext2_inode in;
	errcode_t ec;

	*f = NULL;
	ec = ext2fs_read_inode(fs, ino, &in);
	if (!ec)
		ec = ext2fs_inline_data_set(fs, ino, &in, (void *)data, len);
	if (!ec) {
		ec = ext2fs_read_inode(fs, ino, &in);
		if (!ec)
			ec = ext2fs_inode_size_set(fs, &in, len);
		return ec ? ec : ext2fs_write_inode(fs, ino, &in);
	}
	if (ec != EXT2_ET_INLINE_DATA_NO_SPACE)
		return ec;
	ec = ext2fs_inline_data_expand(fs, ino);
	if (!ec)
		ec = ext2fs_file_open(fs, ino, EXT2_FILE_WRITE, f);
	return ec ? ec : ext2fs_file_llseek(*f, at, EXT2_SEEK_SET, NULL);
}

/* Appending: *at is where the file first differs from keep bytes of its
 * own plus tail (its end when nothing differs: a re-signed file). */
static errcode_t same_tail(ext2_file_t f, uint64_t keep, const uint8_t *tail,
			   size_t tail_len, uint64_t old, uint64_t *at)
{
	uint8_t *cur;
	unsigned int got = 0;
	errcode_t ec;

	*at = keep;
	if (old != keep + tail_len || !tail_len || tail_len > (1u << 20))
		return 0;
	cur = malloc(tail_len);
	if (!cur)
		return EXT2_ET_NO_MEMORY;
	ec = ext2fs_file_llseek(f, keep, EXT2_SEEK_SET, NULL);
	if (!ec)
		ec = ext2fs_file_read(f, cur, (unsigned)tail_len, &got);
	if (!ec && got == tail_len && !memcmp(cur, tail, tail_len))
		*at = old;
	free(cur);
	return ec;
}

/*
 * New content for entry idx: head (keep bytes) then tail.  head NULL: the
 * first keep bytes are the file's own (a signature appended), so writing
 * starts at keep without comparing anything.
 */
static int put_bytes(struct ext4_out *o, size_t idx, const uint8_t *head,
		     uint64_t keep, const uint8_t *tail, size_t tail_len,
		     struct fw_error *err)
{
	uint64_t len = keep + tail_len;
	const struct fw_entry *e = &o->img->ent[idx];
	ext2_ino_t ino = (ext2_ino_t)e->st.st_ino;
	ext2_file_t f = NULL;
	struct ext2_inode *in;
	uint64_t old, at = 0, need, freed, nfree = 0, space0, space1;
	struct ext2_inode_large large;
	errcode_t ec;

	if (!S_ISREG(e->st.st_mode) || e->link_of != FW_NO_LINK)
		return fw_error_set(err, FW_EIO, e->path,
				    "new content for an entry that is not a file");
	if (out_ready(o, err))
		return err->code;
	ec = inode_space(o->fs, ino, &large, &space0);
	if (ec)
		return fw_error_set(err, FW_EINPUT, e->path,
				    "cannot read inode %u in %s: %s", ino,
				    o->img->path, ext_err(ec));
	ec = ext2fs_file_open(o->fs, ino, EXT2_FILE_WRITE, &f);
	if (ec)
		return fw_error_set(err, FW_EINPUT, e->path,
				    "cannot open in %s: %s", o->img->path,
				    ext_err(ec));
	in = ext2fs_file_get_inode(f);
	old = EXT2_I_SIZE(in);
	if (in->i_flags & (EXT4_VERITY_FL | EXT4_ENCRYPT_FL)) {
		const char *what = in->i_flags & EXT4_VERITY_FL ? "fs-verity"
								: "encrypted";

		ext2fs_file_close(f);
		return fw_error_set(err, FW_EINPUT, e->path,
				    "is an %s file in %s: its data cannot change",
				    what, o->img->path);
	}
	if (!head && (keep > old || (in->i_flags & EXT4_INLINE_DATA_FL))) {
		/* inline data is set whole: have the caller pass it whole */
		ext2fs_file_close(f);
		return keep > old ? fw_error_set(err, FW_EIO, e->path,
						 "kept length beyond the file")
				  : -1;
	}
	if (head)
		ec = out_first_difference(o, ino, f, head,
					  old < keep ? old : keep, &at);
	else
		ec = same_tail(f, keep, tail, tail_len, old, &at);
	if (ec)
		goto fail;
	if (at == len && len == old)
		return ext2fs_file_close(f) ? fw_error_set(err, FW_EIO, e->path,
							    "close failed")
					    : FW_OK;
	if (blocks_needed(o->fs, ino, in, at, len, old, &need, &freed) < 0) {
		ec = EXT2_ET_BAD_BLOCK_NUM;
		goto fail;
	}
	if (o->full) {
		o->need_when_full += (int64_t)need - (int64_t)freed;
		ext2fs_file_close(f);
		return FW_OK;
	}
	nfree = free_blocks(o->fs);
	if (need > nfree)
		goto full;
	if (in->i_flags & EXT4_INLINE_DATA_FL) {
		ext2fs_file_close(f);
		ec = inline_put(o->fs, ino, head, len, at, &f);
	} else {
		ec = ext2fs_file_llseek(f, at, EXT2_SEEK_SET, NULL);
	}
	for (uint64_t pos = at; !ec && f && pos < len;) {
		const uint8_t *src = pos < keep ? head + pos : tail + (pos - keep);
		uint64_t end = pos < keep ? keep : len;
		unsigned int want = end - pos > (1u << 30) ? 1u << 30
							   : (unsigned)(end - pos);
		unsigned int put = 0;

		ec = ext2fs_file_write(f, src, want, &put);
		if (!ec && put == 0)
			ec = EXT2_ET_SHORT_WRITE;
		pos += put;
	}
	if (!ec && f && len < old)
		ec = ext2fs_file_set_size2(f, len);
	if (!ec && f) {
		ec = ext2fs_file_close(f);
		f = NULL;
	}
	if (ec == EXT2_ET_BLOCK_ALLOC_FAIL || ec == EXT2_ET_INLINE_DATA_NO_SPACE)
		goto full;
	if (ec)
		goto fail;
	if (o->have_epoch) {
		ec = set_ctime(o, ino);
		if (ec)
			return fw_error_set(err, FW_EIO, e->path,
					    "cannot set ctime in %s: %s",
					    o->img->path, ext_err(ec));
	}
	ec = inode_space(o->fs, ino, &large, &space1);
	if (ec)
		return fw_error_set(err, FW_EINPUT, e->path,
				    "cannot read inode %u in %s: %s", ino,
				    o->img->path, ext_err(ec));
	if (space1 != space0 && charge_inode(o, &large, space1 - space0))
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	return FW_OK;

full:
	/* Keep going without writing, to tell how much is missing in all. */
	if (f)
		ext2fs_file_close(f);
	o->full = 1;
	o->free_when_full = nfree;
	o->need_when_full = need ? (int64_t)need : 1;
	return FW_OK;
fail:
	if (f)
		ext2fs_file_close(f);
	return fw_error_set(err, ec == EXT2_ET_NO_MEMORY ? FW_EIO : FW_EINPUT,
			    e->path, "cannot write into %s: %s", o->img->path,
			    ext_err(ec));
}

static int ext_out_put(void *ctx, size_t idx, const uint8_t *data,
		       size_t len, struct fw_error *err)
{
	return data ? put_bytes(ctx, idx, data, len, NULL, 0, err) : FW_OK;
}

static int ext_out_put_append(void *ctx, size_t idx, uint64_t keep,
			      const uint8_t *tail, size_t tail_len,
			      struct fw_error *err)
{
	struct ext4_out *o = ctx;
	uint8_t *old = NULL, *whole;
	size_t old_len = 0;
	int rc = put_bytes(o, idx, NULL, keep, tail, tail_len, err);

	if (rc >= 0)
		return rc;
	/* An inline-data file: a few bytes, read and written whole. */
	rc = ext_read(o->img, idx, &old, &old_len, err);
	if (rc)
		return rc;
	whole = keep <= old_len ? malloc(keep + tail_len + 1) : NULL;
	if (!whole) {
		free(old);
		return fw_error_set(err, FW_EIO, o->img->ent[idx].path,
				    keep > old_len ? "changed while fwsign ran"
						   : "out of memory");
	}
	memcpy(whole, old, keep);
	memcpy(whole + keep, tail, tail_len);
	rc = put_bytes(o, idx, whole, keep + tail_len, NULL, 0, err);
	free(whole);
	free(old);
	return rc;
}

/*
 * Sets an xattr (IMA) through libext2fs: in the inode's extra space when
 * it fits, else in an xattr block, charged to the owners' quota as the
 * kernel would charge it.
 */
static int ext_out_xattr(void *ctx, size_t idx, const struct fw_xattr *x,
			 struct fw_error *err)
{
	struct ext4_out *o = ctx;
	const struct fw_entry *e = &o->img->ent[idx];
	ext2_ino_t ino = (ext2_ino_t)e->st.st_ino;
	struct ext2_xattr_handle *h = NULL;
	struct ext2_inode_large large;
	uint64_t space0 = 0, space1 = 0;
	errcode_t ec, ec2;

	if (out_ready(o, err))
		return err->code;
	if (o->full)
		return FW_OK;	/* nothing more is written */
	if (!ext2fs_has_feature_xattr(o->fs->super))
		return fw_error_set(err, FW_EINPUT, o->img->path,
				    "the image has no ext_attr feature, so no "
				    "xattrs: sign it without --ima (appended "
				    "signatures), or make it with ext_attr");
	ec = inode_space(o->fs, ino, &large, &space0);
	if (!ec)
		ec = ext2fs_xattrs_open(o->fs, ino, &h);
	if (!ec)
		ec = ext2fs_xattrs_read(h);
	if (!ec)
		ec = ext2fs_xattr_set(h, x->name, x->value, x->len);
	if (h) {
		ec2 = ext2fs_xattrs_close(&h);
		if (!ec)
			ec = ec2;
	}
	if (!ec && o->have_epoch)
		ec = set_ctime(o, ino);
	if (!ec)
		ec = inode_space(o->fs, ino, &large, &space1);
	if (ec)
		return fw_error_set(err, ec == EXT2_ET_NO_MEMORY ? FW_EIO
								 : FW_EINPUT,
				    e->path, "cannot set %s in %s: %s", x->name,
				    o->img->path, ext_err(ec));
	if (space1 != space0 && charge_inode(o, &large, space1 - space0))
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	return FW_OK;
}

static int ext_out_commit(void *ctx, struct fw_error *err)
{
	struct ext4_out *o = ctx;
	errcode_t ec;
	int rc;

	rc = out_ready(o, err);
	if (rc)
		return rc;
	if (o->full) {
		int64_t miss = o->need_when_full - (int64_t)o->free_when_full;

		if (miss < 1)
			miss = 1;	/* extent or indirect blocks */

		return fw_error_set(err, FW_EIO, o->img->path,
				    "not enough free space: the signed files need "
				    "at least %llu more blocks of %u bytes",
				    (unsigned long long)miss, o->fs->blocksize);
	}
	rc = quota_update(o, err);
	if (rc)
		return rc;
	/* No fsync, like every other output (and cp). */
	ec = ext2fs_close2(o->fs, EXT2_FLAG_FLUSH_NO_SYNC);
	if (ec)
		ext2fs_free(o->fs);
	o->fs = NULL;
	if (ec)
		return fw_error_set(err, FW_EIO, o->of.final, "cannot write: %s",
				    ext_err(ec));
	return fw_outfile_commit(&o->of, o->max_size, err);
}

static void ext_out_abort(void *ctx)
{
	struct ext4_out *o = ctx;

	if (!o)
		return;
	atomic_store(&o->stop, 1);	/* not a whole image for nothing */
	if (o->copying)
		pthread_join(o->copier, NULL);
	if (o->io)
		io_channel_close(o->io);
	if (o->fs)
		ext2fs_free(o->fs);	/* nothing flushed */
	fw_outfile_abort(&o->of);
	free(o->qd);
	free(o->cmp);
	free(o);
}

/* ---------------------------------------------------------------- */
/* Extended attributes                                              */

struct xattr_walk {
	struct ext2_xattr_handle *h;
	struct fw_xattr **v;
	size_t *n;
	errcode_t ec;
};

static int xattr_one(char *name, char *value, size_t len, void *data)
{
	struct xattr_walk *x = data;
	void *acl = NULL;
	size_t acl_len = 0;
	int rc;

	/* Inline data: the file's bytes, which the kernel does not list. */
	if (!strcmp(name, "system.data"))
		return 0;
	/*
	 * POSIX ACLs as getxattr gives them on the mounted filesystem, not in
	 * ext4's disk format: libext2fs converts (in xattr_get only) but
	 * leaves the id of the owner, group, mask and other entries 0 where
	 * the kernel says ACL_UNDEFINED_ID.  A corrupt ACL stays raw.
	 */
	if ((!strcmp(name, "system.posix_acl_access") ||
	     !strcmp(name, "system.posix_acl_default")) &&
	    !ext2fs_xattr_get(x->h, name, &acl, &acl_len)) {
		uint8_t *a = acl;

		/* version (4 bytes), then tag (2), perm (2), id (4) each */
		for (size_t off = 4; off + 8 <= acl_len; off += 8) {
			unsigned tag = a[off] | a[off + 1] << 8;

			/* not ACL_USER, ACL_GROUP */
			if (tag != 0x02 && tag != 0x08)
				memset(a + off + 4, 0xff, 4);
		}
		value = acl;
		len = acl_len;
	}
	rc = fw_xattrs_add(x->v, x->n, name, value ? value : "",
			   value ? len : 0);
	if (acl)
		ext2fs_free_mem(&acl);
	if (rc < 0) {
		x->ec = EXT2_ET_NO_MEMORY;
		return XATTR_ABORT;
	}
	return 0;
}

/*
 * The inode's xattrs as libext2fs reads them: those in the inode's extra
 * space first, then those of its xattr block (and values in EA inodes),
 * each in the order it is stored.  libext2fs is not thread-safe: all of it
 * under the lock.
 */
static int ext_xattrs(struct fw_image *img, size_t idx, struct fw_xattr **v,
		      size_t *n, struct fw_error *err)
{
	struct ext4_priv *p = img->priv;
	struct xattr_walk x = { .v = v, .n = n };
	const struct fw_entry *e;
	errcode_t ec;

	*v = NULL;
	*n = 0;
	if (idx >= img->n)
		return fw_error_set(err, FW_EINPUT, img->path, "no such entry");
	e = &img->ent[idx];
	pthread_mutex_lock(&p->lock);
	ec = ext2fs_xattrs_open(p->fs, (ext2_ino_t)e->st.st_ino, &x.h);
	if (ec == EXT2_ET_MISSING_EA_FEATURE) {
		/* no ext_attr (nor inline_data): no xattrs */
		pthread_mutex_unlock(&p->lock);
		return FW_OK;
	}
	if (!ec)
		ec = ext2fs_xattrs_read(x.h);
	if (!ec)
		ec = ext2fs_xattrs_iterate(x.h, xattr_one, &x);
	if (!ec)
		ec = x.ec;
	if (x.h)
		ext2fs_xattrs_close(&x.h);
	pthread_mutex_unlock(&p->lock);
	if (ec) {
		fw_xattrs_free(*v, *n);
		*v = NULL;
		*n = 0;
		if (ec == EXT2_ET_NO_MEMORY)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		return fw_error_set(err, FW_EINPUT, img->path,
				    "%s: cannot read xattrs: %s",
				    *e->path ? e->path : "/", ext_err(ec));
	}
	return FW_OK;
}

static void ext_close(struct fw_image *img)
{
	struct ext4_priv *p = img->priv;

	if (!p)
		return;
	ext_out_abort(p->early);	/* before fd: the copy reads it */
	if (p->fs)
		ext2fs_free(p->fs);
	if (p->fd >= 0)
		close(p->fd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

const struct fw_format fw_format_ext4 = {
	.name = "ext4",
	.flags = FW_FMT_ORDERED,
	.bid = ext_bid,
	.open = ext_open,
	.read = ext_read,
	.peek = ext_peek,
	.map = ext_map,
	.xattrs = ext_xattrs,
	.out_begin = ext_out_begin,
	.out_put = ext_out_put,
	.out_put_append = ext_out_put_append,
	.out_xattr = ext_out_xattr,
	.out_commit = ext_out_commit,
	.out_abort = ext_out_abort,
	.close = ext_close,
};
