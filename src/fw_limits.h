/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The library's limits, in one place: how much it reads or decodes into
 * memory at once and how deep it follows nesting, so that a hostile image
 * costs bounded memory and stack.  Each says who applies it.
 */
#ifndef FWSIGN_LIMITS_H
#define FWSIGN_LIMITS_H

#include <stdint.h>

/* A file read from a tree or a filesystem image (dir.c, ext4.c,
 * squashfs.c), an entry of an archive (archive.c). */
#define FW_READ_MAX ((uint64_t)4 << 30)
/* A compressed tar or cpio archive decompressed into a temporary file,
 * and the sparse files of one expanded into another (archive.c): disk a
 * small hostile input may take, not memory. */
#define FW_ARCHIVE_MAX ((size_t)2 << 30)
/* A kernel image read whole, and any stream decoded from it or from a
 * compressed module (kernel.c, blob.c, diff.c). */
#define FW_DECOMPRESS_MAX ((size_t)1 << 30)
/* Bytes decoded over a whole tree of layers, a stream in a stream in ...
 * included (stack.c: fw_node_decode_budget). */
#define FW_DECODE_LIMIT ((uint64_t)4 << 30)

/* Decoder memory an xz, lzma or lzip header may ask for (compress.c's
 * decoders and peeks, archive.c's bids): kernels and filesystems use
 * dictionaries of 64 MiB at most (xz -9, lzma -9); a header that asks for
 * gigabytes is refused instead of reserved. */
#define FW_DECODER_MEM_MAX ((uint64_t)256 << 20)

/* Directories inside directories, in a tree or a filesystem image (dir.c
 * holds a descriptor for each level: below the usual 1024 files). */
#define FW_TREE_DEPTH_MAX 512
/* Layers inside layers of a vendor blob (stack.c). */
#define FW_LAYER_DEPTH_MAX 16
/* Wrappers around a kernel image: uImage, compression, ... (kernel.c). */
#define FW_KERNEL_DEPTH_MAX 4

/* How much of a file the engine looks at before reading it whole: enough
 * for gzip and xz to decide fw_blob_maybe_module (tested). */
#define FW_PEEK_LEN 512

#endif
