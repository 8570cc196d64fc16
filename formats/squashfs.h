/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The squashfs backend's private state, shared by the reader (squashfs.c)
 * and the writer (squashfs_write.c).  An image is read in-process with
 * libsquashfs into a tree of nodes (every directory entry, including those
 * the engine never sees because their names are unsafe) over a table of
 * inodes (one per inode reference, so hard links share one).
 */
#ifndef FWSIGN_SQUASHFS_H
#define FWSIGN_SQUASHFS_H

#include <pthread.h>
#include <stdint.h>

#include <sqfs/compressor.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>

#include "format.h"
#include "../src/hmap.h"

#define SQ_NONE ((size_t)-1)
#define SQ_NO_FRAG 0xFFFFFFFFu
#define SQ_NO_XATTR 0xFFFFFFFFu
#define SQ_BLK_UNCOMPRESSED (1u << 24)
#define SQ_BLK_SIZE_MASK ((1u << 24) - 1)

/* An sqfs_file_t over a file descriptor: pread/pwrite, so that several
 * threads can read at once. */
struct sq_io {
	sqfs_file_t base;
	int fd;
	int own_fd;
	uint64_t size;
};

/* What is kept of an inode after the image is opened: the rest (owner,
 * mode, times, link count, symlink target, device) is read again from the
 * input's inode table when the writer needs it, so that memory per inode
 * stays small. */
struct sq_inode {
	uint64_t ref;			/* where it was: block << 16 | offset */
	/* regular files */
	uint64_t size;
	uint64_t blocks_start;
	/* while signing: the file's last partial block as the engine read
	 * it, so that the writer need not decompress it again (guarded by
	 * sq_priv.lock; at most SQ_STASH_MAX bytes in all) */
	uint8_t *stash;
	uint32_t bsz;			/* its block sizes: sq_priv.bsz[bsz...] */
	uint32_t nblocks;
	uint32_t frag_idx;		/* SQ_NO_FRAG: none */
	uint32_t frag_off;
	uint32_t xattr;			/* SQ_NO_XATTR: none */
	uint32_t num;			/* inode number */
	uint32_t first_node;		/* SQ_NONE32: none */
	uint16_t type;			/* SQFS_INODE_* */
};

#define SQ_NONE32 0xFFFFFFFFu

struct sq_node {
	uint32_t name;		/* offset into sq_priv.names; "" for the root */
	uint32_t ino;		/* index into sq_priv.ino */
	uint32_t child;		/* first child, SQ_NONE32 if none */
	uint32_t next;		/* next sibling */
	uint32_t ent;		/* fw entry index, SQ_NONE32 if not listed */
};

/* Decoded data blocks a slot keeps while a big file is looked at and then
 * streamed (its first block, its last, its dynamic segment): keyed by
 * where the block lies in the input, so any thread may use them. */
#define SQ_BCACHE 3
struct sq_bcache {
	uint64_t off;		/* the block's offset in the input */
	uint32_t sw;		/* its size word; 0: empty */
	size_t len;
	uint64_t tick;
	uint8_t *buf;		/* block_size bytes, made when first used */
};

/* Per-thread decompression state. */
struct sq_slot {
	struct sq_slot *next;
	sqfs_compressor_t *dec;
	uint8_t *raw;		/* an on-disk block */
	uint8_t *blk;		/* a decompressed block */
	uint8_t *frag;		/* the cached fragment block */
	uint32_t frag_idx;	/* which one, SQ_NO_FRAG if none */
	size_t frag_len;
	struct sq_bcache bc[SQ_BCACHE];
	uint64_t bc_tick;
};

/* A fragment block decompressed, shared by the threads that read files
 * (files in a row share fragment blocks, and threads take them in turn). */
#define SQ_FCACHE 8
struct sq_fcache {
	uint32_t idx;
	int state;		/* 0 empty, 1 being decompressed, 2 ready */
	unsigned refs;
	uint64_t tick;		/* last use, for eviction */
	uint8_t *buf;
	size_t len;
};

struct sq_priv {
	const char *path;		/* the image, for messages */
	int fd;
	uint64_t file_size;
	sqfs_file_t *file;		/* the input, an sq_io */
	sqfs_super_t super;
	sqfs_compressor_config_t cfg;	/* with the options read from the image */
	sqfs_compressor_t *cmp;		/* decompressor for metadata */
	sqfs_id_table_t *ids;
	sqfs_frag_table_t *frags;
	uint32_t n_frags;
	uint32_t opts_len;		/* compressor options block after the super */
	/* the compressor options as mksquashfs means them (libsquashfs
	 * forgets some: the zstd level, lz4's HC flag) */
	struct {
		uint32_t level;		/* gzip, zstd */
		uint32_t window;	/* gzip */
		uint32_t strategies;	/* gzip: bit 0 default, 1 filtered, ... */
		uint32_t dict;		/* xz */
		uint32_t flags;		/* xz: BCJ filters; lz4: 1 = HC */
	} opt;

	struct sq_inode *ino;
	size_t n_ino, cap_ino;
	uint32_t *bsz;			/* every file's block sizes */
	size_t n_bsz, cap_bsz;
	struct sq_node *node;
	size_t n_node, cap_node;
	char *names;			/* every node's name, NUL-terminated */
	size_t n_names, cap_names;
	uint32_t *ino_of_ent;		/* fw entry -> inode */
	/* while the writer has node and names (or ino) parked in its spill
	 * file they are NULL (or, in spill maps, only trimmed), and
	 * sq_node_name gives the image's path */
	int tree_parked;

	pthread_mutex_t lock;		/* guards slots and fc */
	struct sq_slot *slots;
	struct sq_fcache fc[SQ_FCACHE];
	int stash_on;			/* a writer takes stashes */
	size_t stash_bytes;
	uint64_t fc_tick;
	pthread_cond_t fc_cond;		/* an fc entry is ready or failed */

	/* FWSIGN_SQFS_PROFILE set: thread CPU nanoseconds and counts of
	 * what the backend did, printed to stderr at close (bench/) */
	int prof;
	_Atomic uint64_t ns_dec, n_dec, b_dec;	/* decompressing blocks */
	_Atomic uint64_t ns_zip, n_zip, b_zip;	/* compressing blocks */
	_Atomic uint64_t ns_out;		/* writing the output */
	_Atomic uint64_t b_copy;		/* bytes copied as they were */
};

/* Thread CPU time in nanoseconds, for FWSIGN_SQFS_PROFILE. */
uint64_t sq_cpu_ns(void);

extern const struct fw_format fw_format_squashfs;

#define SQ_STASH_MAX ((size_t)8 << 20)

/* squashfs.c */
/* The tables that grow with the number of inodes are spill maps
 * (src/spillmap.h), not taken from malloc: freed (or parked by the
 * writer), their memory goes back to the system at once, and in between
 * fw_spillmap_trim_all gives back their pages.  n bytes; a table never
 * shrinks (what it does not use is never touched, so costs nothing); the
 * bytes it grows by are zero; NULL when out of memory. */
void *sq_tab_realloc(void *t, size_t n);
void sq_tab_free(void *t);
/* Gives back a table's pages, keeping its bytes: 1, or 0 if it is
 * anonymous memory (too small for a file, or no file could be made). */
int sq_tab_trim(void *t);
/* Frees the decompressed blocks kept for the engine's reads (once it has
 * read everything: the writer needs its own slot only). */
void sq_drop_caches(struct sq_priv *p);
/* The stash of inode ino, taken (free it), or NULL. */
uint8_t *sq_stash_take(struct sq_priv *p, size_t ino);
sqfs_file_t *sq_io_new(int fd, int own_fd, uint64_t size);
struct sq_slot *sq_slot_get(struct sq_priv *p, struct fw_error *err);
struct sq_slot *sq_slot_get_for(struct sq_priv *p, uint32_t frag,
				struct fw_error *err);
void sq_slot_put(struct sq_priv *p, struct sq_slot *s);
void sq_slot_free(struct sq_slot *s);
int sq_is_dir(const struct sq_inode *i);
int sq_is_file(const struct sq_inode *i);
const uint32_t *sq_block_sizes(const struct sq_priv *p,
			       const struct sq_inode *i);
/* On-disk block k of a file: reads it into s->raw, decompresses it into
 * s->blk (expect bytes; a sparse block is zeros).  *raw_len gets its
 * on-disk size. */
int sq_read_block(struct sq_priv *p, struct sq_slot *s, uint64_t off,
		  uint32_t size_word, size_t expect, size_t *raw_len,
		  const char *name, struct fw_error *err);
/* The decompressed fragment block idx, cached in the slot. */
int sq_read_frag(struct sq_priv *p, struct sq_slot *s, uint32_t idx,
		 const char *name, struct fw_error *err);
/* Bytes [from, from + n) of regular file ino, decompressed with the
 * slot's buffers (name: for messages). */
int sq_read_file(struct sq_priv *p, size_t ino, struct sq_slot *s,
		 uint64_t from, uint8_t *out, size_t n, const char *name,
		 struct fw_error *err);
/* Where fragment block idx is and its size word. */
int sq_frag_where(struct sq_priv *p, uint32_t idx, uint64_t *start,
		  uint32_t *size_word, const char *name, struct fw_error *err);
const char *sq_node_name(const struct sq_priv *p, size_t ino);
/* An inode's xattrs, in the image's order (name: for messages). */
int sq_ino_xattrs(struct sq_priv *p, size_t ino, const char *name,
		  struct fw_xattr **v, size_t *n, struct fw_error *err);

/* squashfs_write.c */
int sq_out_begin(struct fw_image *img, const struct fw_out_opts *o,
		 void **ctx, struct fw_error *err);
int sq_out_put(void *ctx, size_t idx, const uint8_t *data, size_t len,
	       struct fw_error *err);
int sq_out_put_append(void *ctx, size_t idx, uint64_t keep,
		      const uint8_t *tail, size_t tail_len,
		      struct fw_error *err);
int sq_out_xattr(void *ctx, size_t idx, const struct fw_xattr *x,
		 struct fw_error *err);
int sq_out_commit(void *ctx, struct fw_error *err);
void sq_out_abort(void *ctx);

#endif
