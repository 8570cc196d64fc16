/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What an attestation of a signing needs from the library (fwsign sign
 * --attest, fwsign verify --attestation): signatures over plain bytes with
 * the signer's key (a DSSE envelope signs its pre-authentication encoding,
 * not a file), the key id, and the sha256 of an image and of every regular
 * file in it.  The in-toto Statement and the DSSE envelope themselves are
 * JSON, built and read by the tool (src/cli/attest.c).
 *
 * Raw signatures: SHA-256 and RSA PKCS#1 v1.5 for an RSA key
 * (deterministic; securesystemslib's "rsa-pkcs1v15-sha256"), ECDSA with a
 * DER-encoded signature for an EC key, SHA-256 for curves of up to 256
 * bits ("ecdsa-sha2-nistp256"), SHA-384 up to 384 bits
 * ("ecdsa-sha2-nistp384"), SHA-512 beyond.  Verification also accepts
 * RSASSA-PSS with SHA-256 ("rsassa-pss-sha256").
 *
 * Key id: the lowercase hex sha256 of the DER SubjectPublicKeyInfo of the
 * certificate's key, what
 *   openssl x509 -in CERT -pubkey -noout | openssl pkey -pubin -outform DER |
 *   sha256sum
 * prints.
 */
#ifndef FWSIGN_ATTEST_H
#define FWSIGN_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include "fwsign/fwsign.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FW_SHA256_HEX 65	/* 64 hex digits and a NUL */

/* Signs msg (*sig malloc'ed).  Thread-safe. */
FW_API int fw_sign_raw(struct fw_signer *s, const uint8_t *msg, size_t len,
		       uint8_t **sig, size_t *sig_len, struct fw_error *err);
FW_API int fw_signer_keyid(const struct fw_signer *s, char out[FW_SHA256_HEX],
			   struct fw_error *err);

/* 1 when sig is a signature of msg by the verifier's certificate's key,
 * else 0. */
FW_API int fw_verify_raw(struct fw_verifier *v, const uint8_t *msg, size_t len,
			 const uint8_t *sig, size_t sig_len);
FW_API int fw_verifier_keyid(const struct fw_verifier *v,
			     char out[FW_SHA256_HEX], struct fw_error *err);

/* The sha256 of a whole file. */
FW_API int fw_sha256_file(const char *path, char out[FW_SHA256_HEX],
			  struct fw_error *err);

/* The regular files of an image fwsign reads (a tree, a filesystem image,
 * an archive, a single file: its path is then ""), sorted by path. */
struct fw_file_digest {
	char *path;
	char sha256[FW_SHA256_HEX];
	uint64_t size;
};

struct fw_digests {
	struct fw_file_digest *v;
	size_t n;
};

FW_API int fw_image_digests(const char *path, struct fw_digests *d,
			    struct fw_error *err);
/* NULL when the image has no regular file of that path. */
FW_API const struct fw_file_digest *fw_digests_find(const struct fw_digests *d,
						    const char *path);
FW_API void fw_digests_free(struct fw_digests *d);

/* Base64 (RFC 4648) as DSSE envelopes (and usign files) carry it: encode
 * with the standard alphabet and padding (malloc'ed, NUL-terminated);
 * decode n characters, padding optional, the URL-safe alphabet too when
 * url is set (malloc'ed; NULL when it is not base64). */
FW_API char *fw_base64_encode(const uint8_t *p, size_t n);
FW_API uint8_t *fw_base64_decode(const char *s, size_t n, int url,
				 size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif
