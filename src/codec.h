/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compress.c: the codecs a compressed kernel module may use (gzip, xz,
 * zstd: fw_codec_detect, fw_decompress), plus those of compressed kernel
 * images (also lzma and lz4 legacy: fw_codec_detect_kernel,
 * fw_decompress_stream).  enum fw_codec, fw_codec_detect,
 * fw_codec_detect_kernel and fw_decompress_head are in module.h (the
 * tar/cpio module peeks too).
 */
#ifndef FWSIGN_CODEC_H
#define FWSIGN_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "../formats/module.h"

struct fw_codec_params {
	enum fw_codec codec;
	int xz_check;		/* lzma_check of the input stream */
	int zstd_checksum;	/* content checksum flag of the input frame */
	/*
	 * Kernel images: fw_decompress_stream records what the input stream
	 * says about its settings; fw_compress uses them when level is set
	 * (level 0 means kbuild's module settings).
	 */
	int level;		/* gzip, xz/lzma preset, zstd, lz4 HC level */
	uint32_t dict_size;	/* xz LZMA2 and lzma dictionary size */
	uint8_t lzma_props;	/* lzma: the lc/lp/pb byte */
	uint64_t xz_bcj;	/* xz: branch filter before LZMA2, 0 if none */
	int zstd_window_log;	/* zstd: window of the input frame, 0 unknown */
	int zstd_content_size;	/* zstd: frame header records the size */
	size_t consumed;	/* input bytes the stream took (trailing data) */
};

const char *fw_codec_name(enum fw_codec c);
int fw_decompress(const uint8_t *in, size_t len, size_t limit,
		  struct fw_codec_params *p, uint8_t **out, size_t *out_len,
		  char *why, size_t why_len);
/*
 * Decodes exactly one stream (gzip member, xz stream, zstd frame, lzma
 * stream, lz4 legacy chunks) of the given codec from the start of in;
 * p->consumed tells where it ended.  Fills p with the input's settings.
 */
int fw_decompress_stream(enum fw_codec codec, const uint8_t *in, size_t len,
			 size_t limit, struct fw_codec_params *p,
			 uint8_t **out, size_t *out_len,
			 char *why, size_t why_len);
int fw_compress(const struct fw_codec_params *p, const uint8_t *in,
		size_t len, uint8_t **out, size_t *out_len,
		char *why, size_t why_len);
/*
 * src/xzsplice.c: the xz stream in (one stream, len bytes) of oldp, made
 * into one of newp (n bytes each) by keeping the LZMA2 chunks before the
 * first difference and encoding only the rest.  0 with *out, 1 when the
 * stream does not allow it (compress in full), -1 on an error.
 */
int fw_xz_splice(const uint8_t *in, size_t len, const uint8_t *oldp,
		 const uint8_t *newp, size_t n, uint8_t **out, size_t *out_len);

/*
 * A kernel file inside a filesystem, by its first bytes (a few KiB): a
 * bzImage's setup header ("HdrS" at 0x202), or what fw_kernel_probe_buf
 * takes (an arm64 or riscv Image, a uImage of a kernel, one of these
 * compressed).  Not a vmlinux: an ELF file is signed as one.  (kernel.c)
 */
int fw_kernel_file_head(const uint8_t *h, size_t n);

#endif
