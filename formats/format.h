/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The format interface.  An image is a flat list of entries in pre-order
 * (a directory comes before what it holds).  A format bids on an input,
 * opens it into entries, reads an entry's bytes, and writes an output in
 * which some regular files have new content.  Adding a format is adding a
 * file here and one line in registry.c.
 */
#ifndef FWSIGN_FORMAT_H
#define FWSIGN_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "fwsign/fwsign.h"
#include "module.h"

#define FW_NO_LINK ((size_t)-1)

/*
 * What fwsign keeps of a struct stat, under the same member names: 96
 * bytes against 144, for every entry of an image (issue #18).
 */
struct fw_stat {
	off_t st_size;
	ino_t st_ino;
	dev_t st_dev;
	dev_t st_rdev;
	struct timespec st_atim, st_mtim, st_ctim;
	mode_t st_mode;
	uid_t st_uid;
	gid_t st_gid;
	uint32_t st_nlink;
};

struct fw_entry {
	char *path;		/* relative, '/'-separated; "" is the root;
				 * in the image's name arena, never freed */
	struct fw_stat st;	/* as lstat() would say */
	char *link_target;	/* symlinks; in the arena too */
	size_t link_of;		/* hard link: index of the first name, or FW_NO_LINK */
};

struct fw_arena;		/* registry.c: the strings of an image */

struct fw_out_opts;
struct fw_seg;

/* An extended attribute: "security.capability" and its value. */
struct fw_xattr {
	char *name;
	uint8_t *value;
	size_t len;
};
/* fw_xattrs_add and fw_xattrs_free: module.h. */

struct fw_spillmap;		/* src/spillmap.h */

struct fw_image {
	const struct fw_format *fmt;
	char *path;
	struct fw_entry *ent;	/* in ent_map: its pages can be given back */
	size_t n, cap;
	struct fw_spillmap *ent_map;
	struct fw_arena *names;	/* entries' paths and link targets */
	void *priv;
	char **warnings;	/* entries skipped or oddities; see fw_image_warn */
	size_t n_warnings;
	/* During open only: the output the caller will ask for (NULL: none).
	 * A format may begin it while it reads the input; its out_begin,
	 * called with the same options, then takes that over, and close
	 * aborts it if out_begin never came. */
	const struct fw_out_opts *will_write;
};

/* fw_image_warn, fw_image_add, fw_path_clean, fw_image_link_hardlinks:
 * module.h (the tar/cpio module calls them too). */
/* Room for n entries in all, ahead of the adds; 0 or -1 (no memory). */
int fw_image_reserve(struct fw_image *img, size_t n);

/*
 * Memory a reader thread lends to each file it reads in turn: a fresh
 * allocation for every big file costs a page fault per page.
 */
struct fw_scratch {
	uint8_t *p;
	size_t cap;
};

/*
 * A file's bytes as a format hands them out: in memory it owns (owned),
 * in the caller's scratch, or mapped from the input file (mapped,
 * map_len), so that a big ELF never has to be copied through user memory
 * to be hashed.  fw_bytes_release frees whichever it is; bytes in scratch
 * are good until the scratch is lent again.
 */
struct fw_bytes {
	const uint8_t *p;
	size_t len;
	uint8_t *owned;
	void *mapped;
	size_t map_len;
	struct fw_scratch *scratch;	/* set by the caller, may be NULL */
	/*
	 * Set by a caller that only signs: the format may then hand out a
	 * big ELF file as a sparse view (p holds what fw_elf_fill fills,
	 * mapped) and its content as segments (seg, owned), so that it is
	 * hashed where it lies.
	 */
	int sparse_ok;
	struct fw_seg *seg;
	size_t n_seg;
	void *seg_map;		/* where the segments lie, mapped */
	size_t seg_map_len;
	/* why a segment's feed failed (the format's, in seg's block) */
	const struct fw_error *feed_err;
};
void fw_bytes_release(struct fw_bytes *b);
/* Empty, keeping the scratch lent. */
static inline void fw_bytes_init(struct fw_bytes *b)
{
	*b = (struct fw_bytes){ .scratch = b->scratch,
				.sparse_ok = b->sparse_ok };
}
/* n bytes to fill, in the scratch or owned; NULL: out of memory. */
uint8_t *fw_bytes_alloc(struct fw_bytes *b, size_t n);

/* Options for writing an output. */
struct fw_out_opts {
	const char *path;	/* NULL with in_place */
	int in_place;
	uint64_t max_size;	/* refuse an output bigger than this; 0: no limit */
	int jobs;		/* worker threads; 0: all cores */
	int xattrs;		/* out_xattr will be called (IMA) */
	struct fw_cache *cache;	/* compressed blocks (fwsign/cache.h), or NULL */
};

/* out_put must be called in entry order from one thread (archives, images
 * that are written as a stream).  The engine then signs in parallel and
 * keeps the results until their turn comes. */
#define FW_FMT_ORDERED 1u

struct fw_format {
	const char *name;
	unsigned flags;
	/* How sure the format is that it can read this input: 0 = not at all. */
	int (*bid)(const char *path, const struct stat *st,
		   const uint8_t *head, size_t head_len);
	int (*open)(struct fw_image *img, struct fw_error *err);
	/* Reads a regular file's bytes (malloc'ed); NULL when map is
	 * given. Thread-safe. */
	int (*read)(struct fw_image *img, size_t idx, uint8_t **buf,
		    size_t *len, struct fw_error *err);
	/* Optional: the first n bytes of a regular file (less if it is
	 * shorter; returns how many), so that big data files are never read
	 * whole just to learn they are not ELF.  Thread-safe. */
	ssize_t (*peek)(struct fw_image *img, size_t idx, uint8_t *buf,
			size_t n, struct fw_error *err);
	/* Optional, instead of read: the bytes, perhaps mapped.  Thread-safe. */
	int (*map)(struct fw_image *img, size_t idx, struct fw_bytes *b,
		   struct fw_error *err);
	/* Optional: hands put how the image stores regular file idx (its
	 * compressed blocks, its fragment's bytes: all its bytes depend on),
	 * so that a digest of that names its content without decompressing
	 * it (file digests, fwsign/cache.h); 0, or -1: not available (read
	 * the file).  Thread-safe. */
	int (*stored)(struct fw_image *img, size_t idx,
		      int (*put)(void *ctx, const void *p, size_t n),
		      void *ctx);
	/* Optional: the entry's extended attributes, every namespace, in the
	 * order the image keeps them (fw_xattrs_free frees).  Thread-safe. */
	int (*xattrs)(struct fw_image *img, size_t idx, struct fw_xattr **v,
		      size_t *n, struct fw_error *err);
	/* Output: begin, then put every entry (data NULL = unchanged), commit. */
	int (*out_begin)(struct fw_image *img, const struct fw_out_opts *o,
			 void **ctx, struct fw_error *err);
	/* Without FW_FMT_ORDERED, regular files that are not later hard-link
	 * names are put from several threads at once, after every
	 * non-regular entry and before the later hard-link names. */
	int (*out_put)(void *ctx, size_t idx, const uint8_t *data, size_t len,
		       struct fw_error *err);
	/* Optional: like out_put, with the new bytes given as the first keep
	 * bytes of the entry's input followed by tail (a signature appended),
	 * so the format can copy the unchanged part without reading it. */
	int (*out_put_append)(void *ctx, size_t idx, uint64_t keep,
			      const uint8_t *tail, size_t tail_len,
			      struct fw_error *err);
	/* Optional: sets an xattr (added, or replacing one of that name) on
	 * regular file idx; called just before its out_put or out_put_append,
	 * from the same thread.  Without it, a format cannot carry IMA
	 * signatures. */
	int (*out_xattr)(void *ctx, size_t idx, const struct fw_xattr *x,
			 struct fw_error *err);
	int (*out_commit)(void *ctx, struct fw_error *err);
	void (*out_abort)(void *ctx);
	void (*close)(struct fw_image *img);
};

/* registry.c */
int fw_image_open(const char *path, const struct fw_out_opts *will_write,
		  struct fw_image **img, struct fw_error *err);
void fw_image_close(struct fw_image *img);

/*
 * The formats registry.c asks for bids, one per file in formats/.  No bid
 * is higher than FW_BID_MAX: once a format bids it, no later one is asked.
 *
 * What each provides of struct fw_format, in registry.c's order (keep the
 * two in step; tests/format-table.sh checks this table):
 *
 *   format     file         bid open read peek map xattrs out append setx ordered
 *   directory  dir.c         x   x    -    -    x    x     x    x      x    -
 *   ext4       ext4.c        x   x    x    x    x    x     x    x      x    x
 *   squashfs   squashfs.c    x   x    x    x    x    x     x    x      x    x
 *   ubifs      ubifs.c       x   x    x    -    -    x     x    -      x    x
 *   tar        archive.c     x   x    x    x    x    x     x    x      x    x
 *   cpio       archive.c     x   x    x    x    x    x     x    x      -    x
 *
 * out: out_begin, out_put, out_commit, out_abort (squashfs writes in
 * squashfs_write.c, ubifs by mkfs.ubifs in ubifs_write.c); append:
 * out_put_append; setx: out_xattr (IMA); ordered: FW_FMT_ORDERED.
 * Every format has close.  tar and cpio are the module's (below).
 *
 * The layers of a vendor blob (struct fw_layer, layer.h, in stack.c's
 * list) each provide bid, open, rebuild and close: containers fwtool.c,
 * chk.c, trx.c, fit.c, sysupgrade.c, flash.c, uimage.c and layout.c (a
 * layout file's, never bid on), and one stream, stream.c (compressed).
 */
#define FW_BID_MAX 200
#define FW_BID_PLAIN 1		/* a plain file, signed as it is: last resort */
extern const struct fw_format fw_format_dir;
extern const struct fw_format fw_format_ext4;
extern const struct fw_format fw_format_squashfs;
extern const struct fw_format fw_format_ubifs;
/*
 * tar and cpio (archive.c) live in a module of their own, FW_PLUGIN_DIR/
 * fwsign-archive.so beside the library, loaded only when no built-in
 * format is sure: libarchive brings ten more libraries (libxml2, ICU,
 * libstdc++ among them) and 2-3 ms of start-up to every run.  The module
 * exports the NULL-terminated list fw_plugin_formats and calls back into
 * the library only through module.h.
 */
#define FW_PLUGIN_DIR "libfwsign"
#define FW_PLUGIN_ARCHIVE "fwsign-archive.so"
extern const struct fw_format fw_format_tar, fw_format_cpio;

#endif
