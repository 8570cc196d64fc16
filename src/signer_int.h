/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signing inside the library: certificates and passphrases (signer.c),
 * key ids (attest.c), one file's bytes signed, verified or scanned
 * (blob.c), content given as segments, and the sparse ELF view that lets
 * a big file be signed where it lies (elfview.c).
 */
#ifndef FWSIGN_SIGNER_INT_H
#define FWSIGN_SIGNER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "fwsign/fwsign.h"
#include "io.h"

/* signer.c */
X509 *fw_cert_load(const char *path, struct fw_error *err);
void fw_cert_subject(X509 *x, char *buf, size_t len);
/* The CN of a name, else all of it. */
void fw_cert_subject_name(X509_NAME *n, char *buf, size_t len);
int fw_passphrase(const char *env, const char *file, char *buf, size_t len,
		  struct fw_error *err);
/* Whether RSA signatures come from the proven template. */
int fw_signer_has_template(struct fw_signer *s);

/* attest.c: the digest of raw signatures (fwsign/attest.h) with key k,
 * and the key id of a certificate (hex sha256 of its SubjectPublicKeyInfo
 * DER). */
const EVP_MD *fw_raw_md(EVP_PKEY *k);
int fw_cert_keyid(X509 *x, char out[65], struct fw_error *err);

/* signer.c, verify.c: what ima.c needs of a signer and a verifier */
X509 *fw_signer_cert(const struct fw_signer *s);
const EVP_MD *fw_signer_md(const struct fw_signer *s);
int fw_sign_digest(struct fw_signer *s, const EVP_MD *md, const uint8_t *dg,
		   size_t dg_len, uint8_t **sig, size_t *sig_len,
		   struct fw_error *err);
X509 *fw_verifier_cert(const struct fw_verifier *v);

/*
 * ima.c: security.ima values as evmctl writes them.  fw_ima_sign signs
 * the bytes a then b (the kept content and the trailer after it) into a
 * signature v2 value (malloc'ed).  fw_ima_check judges a value against
 * the file's bytes (v NULL: without a certificate) into rec->ima and
 * rec->ima_keyid.  fw_ima_wanted: whether a file of this kind gets one.
 */
#define FW_IMA_XATTR "security.ima"
int fw_ima_sign(struct fw_signer *s, const uint8_t *a, size_t a_len,
		const uint8_t *b, size_t b_len, uint8_t **val, size_t *len,
		struct fw_error *err);
struct fw_seg;
/* The same, a being the first a_len bytes of the segments. */
int fw_ima_sign_segs(struct fw_signer *s, const struct fw_seg *seg,
		     size_t n_seg, size_t a_len, const uint8_t *b,
		     size_t b_len, uint8_t **val, size_t *len,
		     struct fw_error *err);
void fw_ima_check(struct fw_verifier *v, const uint8_t *val, size_t len,
		  const uint8_t *file, size_t file_len, struct fw_record *rec);
int fw_ima_wanted(enum fw_kind kind, int modules);

/* struct fw_seg, fw_put_fn and fw_feed_fn: module.h (the tar/cpio module
 * hands out segments too). */
/* Hands the first len bytes of the segments to put (signer.c). */
int fw_feed_segs(const struct fw_seg *seg, size_t n_seg, size_t len,
		 fw_put_fn put, void *put_ctx);

/* fw_sign_trailer over the first len bytes of the segments. */
int fw_sign_trailer_segs(struct fw_signer *s, const struct fw_seg *seg,
			 size_t n_seg, size_t len, uint8_t **trailer,
			 size_t *trailer_len, struct fw_error *err);

/* The same, the digest it signed in md_out (FW_MD_MAX bytes; *md_out_len
 * 0 when the signature did not come from the template: CMS). */
#define FW_MD_MAX 64
int fw_sign_trailer_segs_md(struct fw_signer *s, const struct fw_seg *seg,
			    size_t n_seg, size_t len, uint8_t **trailer,
			    size_t *trailer_len, uint8_t *md_out,
			    unsigned *md_out_len, struct fw_error *err);
/* The trailer of content whose digest (the signer's algorithm) is md:
 * template signers only (fw_signer_has_template). */
int fw_sign_trailer_digest(struct fw_signer *s, const uint8_t *md,
			   unsigned md_len, uint8_t **trailer,
			   size_t *trailer_len, struct fw_error *err);

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
	/* the digest of the first keep bytes that the trailer signs, when
	 * the signer has a template (md_len 0: not known) */
	uint8_t md[FW_MD_MAX];
	unsigned md_len;
};
/* seg: the content as segments, in a sparse view (fw_elf_fill); NULL:
 * it is all in. */
int fw_blob_sign(struct fw_signer *s, int sign_other, const uint8_t *in,
		 size_t len, const struct fw_seg *seg, size_t n_seg,
		 struct fw_signed *out, struct fw_record *rec,
		 struct fw_error *err);
void fw_blob_verify(struct fw_verifier *v, int sign_other,
		    const uint8_t *in, size_t len, struct fw_record *rec);
void fw_blob_scan(const uint8_t *in, size_t len, struct fw_record *rec);
/* Whether compressed bytes (the whole file, or just its start) may hold a
 * kernel module: they decompress to the start of a relocatable ELF. */
int fw_blob_maybe_module(const uint8_t *in, size_t len);

/*
 * engine.c: the kernel files of an image (a bzImage or an arm64 Image in
 * /boot, a Pi's kernel8.img) in blob mode: each gets the certificate in
 * its extra-certificate slot (kernel.c) when inject is set, and is counted
 * as the stack counts its kernel layers.
 */
struct fw_kernel_files {
	const uint8_t *der;	/* the certificate (NULL: none given) */
	size_t der_len;
	const unsigned char *der_sha256;
	int inject;		/* sign: put der in each slot */
	int skip_noslot;	/* a kernel without a slot is no error */
	/* out, under the run's lock */
	size_t n, n_cert, n_noslot, n_injected;
};
/* fw_scan_image, fw_sign_image or fw_verify_image (what: 0, 1, 2) with
 * the kernel files done as kf says. */
int fw_run_image_kernels(const struct fw_run_opts *o, int what,
			 struct fw_kernel_files *kf, struct fw_report *rep,
			 struct fw_error *err);

/* fw_elf_fill (elfview.c): module.h. */

#endif
