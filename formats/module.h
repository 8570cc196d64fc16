/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Between libfwsign and its tar/cpio module (archive.c, loaded from
 * FW_PLUGIN_DIR: see format.h).  Besides the public API, the module may
 * call only what this header and src/hmap.h (the hash map) declare:
 * these functions are exported for it (FW_MODULE_API), everything else
 * in the library is hidden, and the module is linked with
 * --no-undefined, so reaching for anything else fails when it is built.  The library's own headers (format.h, io.h,
 * codec.h) take these declarations from here.  tests/abi.sh checks both
 * sides: the library exports FW_API and FW_MODULE_API names, the module
 * only fw_plugin_formats.
 */
#ifndef FWSIGN_MODULE_H
#define FWSIGN_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "fwsign/fwsign.h"

#define FW_MODULE_API FW_API

struct fw_format;
struct fw_image;
struct fw_xattr;
struct stat;

/* The module's formats, NULL-terminated: all it exports. */
FW_API extern const struct fw_format *const fw_plugin_formats[];

/* registry.c: building an image's entries (struct fw_image, format.h). */

/* Records a warning (an entry skipped, an option that could not be kept);
 * the engine hands them to the report, the tool prints them. */
FW_MODULE_API void fw_image_warn(struct fw_image *img, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends an entry (path and link_target are copied); FW_OK or FW_EIO. */
FW_MODULE_API int fw_image_add(struct fw_image *img, const char *path,
			       const struct stat *st, const char *link_target,
			       struct fw_error *err);
/* A path from inside an image is safe: relative, no "." or ".." or empty
 * components, no NUL; leading "./" and "/" are stripped into out. */
FW_MODULE_API int fw_path_clean(const char *in, char *out, size_t out_len);
/* Points later names of an inode (same st_dev/st_ino, not directories)
 * at their first name through link_of. */
FW_MODULE_API int fw_image_link_hardlinks(struct fw_image *img,
					  struct fw_error *err);
FW_MODULE_API void fw_xattrs_free(struct fw_xattr *v, size_t n);
/* Appends one (name and value copied); 0 or -1 (no memory). */
FW_MODULE_API int fw_xattrs_add(struct fw_xattr **v, size_t *n,
				const char *name, const void *value,
				size_t len);

/* util.c: output files (the rest of io.h is the library's). */

/*
 * An output file that appears whole or not at all: written to a temporary
 * sibling, renamed into place by commit (which checks max_size first);
 * abort removes the temporary.  Call abort after commit too, to free.
 */
struct fw_outfile {
	char *final;
	char *tmp;
	int fd;
};
FW_MODULE_API int fw_outfile_begin(struct fw_outfile *o, const char *final,
				   struct fw_error *err);
FW_MODULE_API int fw_outfile_commit(struct fw_outfile *o, uint64_t max_size,
				    struct fw_error *err);
FW_MODULE_API void fw_outfile_abort(struct fw_outfile *o);
FW_MODULE_API int fw_write_all(int fd, const void *buf, size_t len);

/*
 * elfview.c: a big file handed out to be signed where it lies, never all
 * in memory (struct fw_bytes's sparse_ok, format.h).
 */

/* Reads n bytes at off of a file into buf; 0 or -1. */
typedef int (*fw_read_at)(void *ctx, uint64_t off, uint8_t *buf, size_t n);

/* fw_seg's feed: hands put the first n bytes of ctx's stream, in order
 * and in pieces; 0, or -1 (put failed, or the bytes cannot be read). */
typedef int (*fw_put_fn)(void *put_ctx, const void *p, size_t n);
typedef int (*fw_feed_fn)(void *ctx, uint64_t n, fw_put_fn put,
			  void *put_ctx);

/* A piece of a file's content: len bytes at p, or len zeros (p NULL and
 * no feed), or streamed by feed (a format that reads or decodes the
 * content piece by piece: it is never all in memory). */
struct fw_seg {
	const uint8_t *p;
	size_t len;
	fw_feed_fn feed;
	void *ctx;
};

/*
 * Fills what fw_elf_classify and fw_modsig_find read of an ELF file of len
 * bytes into view (len bytes of zeros): 0.  1: not an ELF file or tables
 * too odd or big, read it whole instead.  -1: rd failed.
 */
FW_MODULE_API int fw_elf_fill(uint8_t *view, uint64_t len, fw_read_at rd,
			      void *ctx);

/*
 * Spill maps (src/spillmap.h, where the rest is): growable memory whose
 * pages the engine gives back to the system as it goes without losing
 * what they hold, for tables that grow with the entry count.
 * fw_spillmap_new: an empty map that will hold at most about max bytes
 * (0: no bound known); NULL: out of memory.  fw_spillmap_grow: at least
 * len bytes, zeros past the old length, never shrinks; returns the base,
 * which may move (take it again, as after realloc); NULL when out of
 * memory or file space (the map is then as it was).  fw_spillmap_free:
 * unmaps it and closes its file; NULL is fine.
 */
struct fw_spillmap;
FW_MODULE_API struct fw_spillmap *fw_spillmap_new(size_t max);
FW_MODULE_API void *fw_spillmap_grow(struct fw_spillmap *m, size_t len);
FW_MODULE_API void fw_spillmap_free(struct fw_spillmap *m);

/*
 * A fw_feed_fn's body: bytes [0, n) read with rd, chunk at a time, each
 * handed to put.  0; -1 rd or put failed; -2 no memory for the buffer.
 */
FW_MODULE_API int fw_feed_reads(uint64_t n, size_t chunk, fw_read_at rd,
				void *ctx, fw_put_fn put, void *put_ctx);

/* compress.c: recognising a compressed start (the rest of codec.h is the
 * library's). */
enum fw_codec { FW_CODEC_NONE = 0, FW_CODEC_GZIP, FW_CODEC_XZ, FW_CODEC_ZSTD,
		FW_CODEC_LZMA, FW_CODEC_LZ4 };

FW_MODULE_API enum fw_codec fw_codec_detect(const uint8_t *buf, size_t len);
/* Also lz4 legacy and lzma (.lzma has no magic: a loose match on what
 * lzma(1) writes), as kernels and initramfs images use them. */
FW_MODULE_API enum fw_codec fw_codec_detect_kernel(const uint8_t *buf,
						   size_t len);
/* Up to want bytes of the start of a stream (a peek); returns how many. */
FW_MODULE_API size_t fw_decompress_head(enum fw_codec codec,
					const uint8_t *in, size_t len,
					uint8_t *out, size_t want);

#endif
