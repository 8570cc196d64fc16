/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Library-internal helpers shared between the modules of libfwsign. */
#ifndef FWSIGN_INTERNAL_H
#define FWSIGN_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/x509.h>

#include "fwsign/fwsign.h"
#include "../formats/module.h"

/* signer.c */
X509 *fw_cert_load(const char *path, struct fw_error *err);
void fw_cert_subject(X509 *x, char *buf, size_t len);
/* The CN of a name, else all of it. */
void fw_cert_subject_name(X509_NAME *n, char *buf, size_t len);
int fw_passphrase(const char *env, const char *file, char *buf, size_t len,
		  struct fw_error *err);

/* attest.c: the digest of raw signatures (fwsign/attest.h) with key k,
 * and the key id of a certificate (hex sha256 of its SubjectPublicKeyInfo
 * DER). */
const EVP_MD *fw_raw_md(EVP_PKEY *k);
int fw_cert_keyid(X509 *x, char out[65], struct fw_error *err);

/* report.c: s as a JSON string ("null" for NULL). */
void fw_json_str(FILE *f, const char *s);

/* util.c */
int fw_file_contains(const char *path, const char *needle);
/* Reads a whole file (opened by the caller) into a malloc'ed buffer. */
int fw_read_fd(int fd, uint8_t **buf, size_t *len, size_t limit);
/* n bytes at off, fewer only at the end of the file; -1 and errno. */
ssize_t fw_pread_full(int fd, void *buf, size_t n, uint64_t off);
int fw_pwrite_full(int fd, const void *buf, size_t n, uint64_t off);
struct fw_bytes;
/* A file's bytes (opened by the caller): mapped when it is big enough to
 * be worth it, else read; fw_bytes_release (format.h) frees. */
int fw_map_fd(int fd, struct fw_bytes *b, size_t limit);
char *fw_strdup(const char *s);
/* 1 when the n bytes at p are all zero. */
int fw_all_zero(const uint8_t *p, size_t n);

/*
 * Temporaries: every one fwsign makes is named .BASE.fwsign-XXXXXX (or
 * eight hex digits for a file replaced in place) and held with an flock
 * for as long as its maker lives.  fw_tmp_sweep removes the temporaries
 * of a dead maker beside final (a killed run's); fw_tmp_sweep_tree those
 * inside a tree (a killed --in-place run's).  Both return how many.
 */
int fw_tmp_lock(int fd);
int fw_tmp_sweep(const char *final);
int fw_tmp_sweep_tree(const char *root);

/* struct fw_outfile, fw_write_all: module.h. */
int fw_ncpus(void);
/* pthread_create, the thread started on another CPU than the caller's. */
int fw_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);

/*
 * compress.c: the codecs a compressed kernel module may use (gzip, xz,
 * zstd: fw_codec_detect, fw_decompress), plus those of compressed kernel
 * images (also lzma and lz4 legacy: fw_codec_detect_kernel,
 * fw_decompress_stream).
 */
/* enum fw_codec, fw_codec_detect, fw_decompress_head: module.h. */

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

enum fw_codec fw_codec_detect_kernel(const uint8_t *buf, size_t len);
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
 * formats/uimage.c: U-Boot legacy image headers, for the layer and for
 * kernel.c.  check: magic, header CRC, size (and the data CRC when data
 * is set); 0 or -1 with why.  header: a new 64-byte header from the old
 * one for new data (ih_time from SOURCE_DATE_EPOCH when it is set).
 */
int fw_uimage_check(const uint8_t *p, size_t len, int data, char *why,
		    size_t why_len);
uint32_t fw_uimage_dcrc(const uint8_t *p, uint64_t n);
void fw_uimage_header(uint8_t *h, const uint8_t *old, uint32_t size,
		      uint32_t dcrc);

/* A piece of a file's content: len bytes at p, or len zeros (p NULL). */
struct fw_seg {
	const uint8_t *p;
	size_t len;
};

/*
 * blob.c: one file's bytes in, the signed bytes out.  The new file is the
 * first keep bytes of the input followed by tail (keep is the content
 * without an old trailer; 0 when a compressed module was rewritten whole);
 * tail NULL: leave the file alone.
 */
struct fw_signed {
	size_t keep;
	uint8_t *tail;
	size_t tail_len;
};
/* seg: the content as segments, in a sparse view (fw_elf_fill); NULL:
 * it is all in. */
int fw_blob_sign(struct fw_signer *s, int sign_other, const uint8_t *in,
		 size_t len, const struct fw_seg *seg, size_t n_seg,
		 struct fw_signed *out, struct fw_record *rec,
		 struct fw_error *err);
void fw_blob_verify(struct fw_verifier *v, int sign_other, const uint8_t *in, size_t len,
		    struct fw_record *rec);
void fw_blob_scan(const uint8_t *in, size_t len, struct fw_record *rec);
/* Whether compressed bytes (the whole file, or just its start) may hold a
 * kernel module: they decompress to the start of a relocatable ELF. */
int fw_blob_maybe_module(const uint8_t *in, size_t len);
/* Whether RSA signatures come from the proven template (signer.c). */
int fw_signer_has_template(struct fw_signer *s);
/* fw_sign_trailer over the first len bytes of the segments. */
int fw_sign_trailer_segs(struct fw_signer *s, const struct fw_seg *seg,
			 size_t n_seg, size_t len, uint8_t **trailer,
			 size_t *trailer_len, struct fw_error *err);

/* Reads n bytes at off of a file into buf; 0 or -1. */
typedef int (*fw_read_at)(void *ctx, uint64_t off, uint8_t *buf, size_t n);

/*
 * Fills what fw_elf_classify and fw_modsig_find read of an ELF file of len
 * bytes into view (len bytes of zeros): 0.  1: not an ELF file or tables
 * too odd or big, read it whole instead.  -1: rd failed.  (elfview.c)
 */
int fw_elf_fill(uint8_t *view, uint64_t len, fw_read_at rd, void *ctx);

/* How much of a file the engine looks at before reading it whole: enough
 * for gzip and xz to decide fw_blob_maybe_module (tested). */
#define FW_PEEK_LEN 512

#endif
