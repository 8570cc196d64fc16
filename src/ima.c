// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * IMA signatures: the security.ima value the kernel's appraisal checks
 * (security/integrity/digsig_asymmetric.c), made as evmctl ima_sign makes
 * it, so that mainline Linux can enforce per-file signatures without the
 * elfsig patch.  A signature v2 is
 *
 *   03 (EVM_IMA_XATTR_DIGSIG)  02 (version)  hash algo  key id (4 bytes)
 *   be16 signature length  signature
 *
 * the key id being the last 4 bytes of the certificate's subject key
 * identifier and the signature PKCS#1 v1.5 (RSA) or ECDSA over the file's
 * digest.  A hash-only value is 04 (IMA_XATTR_DIGEST_NG) algo digest, or
 * 01 and a SHA-1 digest.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "signer_int.h"
#include "bytes.h"

#define IMA_DIGSIG 0x03
#define IMA_DIGEST_NG 0x04
#define IMA_DIGEST 0x01
#define IMA_SIG_V2 0x02
#define IMA_HDR 9	/* type, version, algo, key id, length */

/* The kernel's enum hash_algo, for the digests fwsign makes. */
static const struct {
	int nid;
	uint8_t algo;
} algos[] = {
	{ NID_sha1, 2 }, { NID_sha256, 4 }, { NID_sha384, 5 },
	{ NID_sha512, 6 }, { NID_sha224, 7 },
};

static int algo_of(const EVP_MD *md)
{
	for (size_t i = 0; i < sizeof(algos) / sizeof(algos[0]); i++)
		if (algos[i].nid == EVP_MD_get_type(md))
			return algos[i].algo;
	return -1;
}

static const EVP_MD *md_of(uint8_t algo)
{
	for (size_t i = 0; i < sizeof(algos) / sizeof(algos[0]); i++)
		if (algos[i].algo == algo)
			return EVP_get_digestbynid(algos[i].nid);
	return NULL;
}

const char *fw_imastate_name(enum fw_imastate st)
{
	static const char *const names[] = {
		[FW_IMA_NONE] = "-",
		[FW_IMA_GOOD] = "good",
		[FW_IMA_MISSING] = "missing",
		[FW_IMA_FOREIGN] = "foreign-key",
		[FW_IMA_STALE] = "stale",
		[FW_IMA_HASH] = "hash-only",
		[FW_IMA_BAD] = "bad",
		[FW_IMA_SIGNED] = "signed",
	};
	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

int fw_ima_wanted(enum fw_kind kind, int modules)
{
	return kind == FW_KIND_EXEC || kind == FW_KIND_SHLIB ||
	       (modules && kind == FW_KIND_MODULE);
}

/*
 * The key id evmctl puts in a signature: the last 4 bytes of the subject
 * key identifier, or, for a certificate without one, of the SHA-1 of the
 * public key as i2d_PublicKey gives it (what evmctl hashes for a bare
 * key, and what subjectKeyIdentifier=hash is for RSA).
 */
static int cert_ima_keyid(X509 *x, uint8_t id[4])
{
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(x);
	EVP_PKEY *k = X509_get0_pubkey(x);
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	int n;

	if (skid && ASN1_STRING_length(skid) >= 4) {
		memcpy(id, ASN1_STRING_get0_data(skid) +
			   ASN1_STRING_length(skid) - 4, 4);
		return 0;
	}
	if (!k || (n = i2d_PublicKey(k, &der)) <= 0)
		return -1;
	n = EVP_Digest(der, (size_t)n, md, &md_len, EVP_sha1(), NULL) == 1 &&
	    md_len >= 4;
	OPENSSL_free(der);
	if (!n)
		return -1;
	memcpy(id, md + md_len - 4, 4);
	return 0;
}

static int put_md(void *ctx, const void *p, size_t n)
{
	return EVP_DigestUpdate(ctx, p, n) == 1 ? 0 : -1;
}

/* The digest of the first a_len bytes of the segments, then b. */
static int digest2(const EVP_MD *md, const struct fw_seg *seg, size_t n_seg,
		   size_t a_len, const uint8_t *b, size_t b_len, uint8_t *out,
		   unsigned int *out_len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, md, NULL) == 1 &&
		 fw_feed_segs(seg, n_seg, a_len, put_md, c) == 0 &&
		 (!b_len || EVP_DigestUpdate(c, b, b_len) == 1) &&
		 EVP_DigestFinal_ex(c, out, out_len) == 1;

	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

int fw_ima_sign(struct fw_signer *s, const uint8_t *a, size_t a_len,
		const uint8_t *b, size_t b_len, uint8_t **val, size_t *len,
		struct fw_error *err)
{
	const struct fw_seg one = { a, a_len, NULL, NULL };

	return fw_ima_sign_segs(s, &one, 1, a_len, b, b_len, val, len, err);
}

int fw_ima_sign_segs(struct fw_signer *s, const struct fw_seg *seg,
		     size_t n_seg, size_t a_len, const uint8_t *b,
		     size_t b_len, uint8_t **val, size_t *len,
		     struct fw_error *err)
{
	const EVP_MD *md = fw_signer_md(s);
	uint8_t dg[EVP_MAX_MD_SIZE], id[4], *sig = NULL, *v;
	unsigned int dg_len = 0;
	size_t sig_len = 0;
	int algo = algo_of(md), rc;

	*val = NULL;
	*len = 0;
	if (algo < 0)
		return fw_error_set(err, FW_EKEY, NULL, "IMA: digest %s has no "
				    "kernel hash algorithm number",
				    EVP_MD_get0_name(md));
	if (cert_ima_keyid(fw_signer_cert(s), id))
		return fw_error_ssl(err, FW_EKEY, NULL,
				    "IMA: no key id for the certificate");
	if (digest2(md, seg, n_seg, a_len, b, b_len, dg, &dg_len))
		return fw_error_ssl(err, FW_EIO, NULL, "IMA: hashing failed");
	rc = fw_sign_digest(s, md, dg, dg_len, &sig, &sig_len, err);
	if (rc)
		return rc;
	if (sig_len > 0xffff) {
		free(sig);
		return fw_error_set(err, FW_EKEY, NULL, "IMA: signature too long");
	}
	v = malloc(IMA_HDR + sig_len);
	if (!v) {
		free(sig);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	v[0] = IMA_DIGSIG;
	v[1] = IMA_SIG_V2;
	v[2] = (uint8_t)algo;
	memcpy(v + 3, id, 4);
	v[7] = (uint8_t)(sig_len >> 8);
	v[8] = (uint8_t)sig_len;
	memcpy(v + IMA_HDR, sig, sig_len);
	free(sig);
	*val = v;
	*len = IMA_HDR + sig_len;
	return FW_OK;
}

/* A hash-only value: 01 sha1, or 04 algo digest. */
static enum fw_imastate check_hash(const uint8_t *val, size_t len,
				   const uint8_t *file, size_t file_len)
{
	const EVP_MD *md;
	uint8_t dg[EVP_MAX_MD_SIZE];
	unsigned int dg_len = 0;
	size_t off = 2;

	if (val[0] == IMA_DIGEST) {
		md = EVP_sha1();
		off = 1;
	} else {
		md = len >= 2 ? md_of(val[1]) : NULL;
	}
	const struct fw_seg one = { file, file_len, NULL, NULL };

	if (!md || digest2(md, &one, 1, file_len, NULL, 0, dg, &dg_len) ||
	    len != off + dg_len)
		return FW_IMA_BAD;
	return memcmp(val + off, dg, dg_len) ? FW_IMA_BAD : FW_IMA_HASH;
}

void fw_ima_check(struct fw_verifier *v, const uint8_t *val, size_t len,
		  const uint8_t *file, size_t file_len, struct fw_record *rec)
{
	X509 *x = v ? fw_verifier_cert(v) : NULL;
	const EVP_MD *md;
	uint8_t dg[EVP_MAX_MD_SIZE], id[4];
	unsigned int dg_len = 0;
	EVP_PKEY_CTX *pc = NULL;
	size_t sig_len;
	int ok;

	rec->ima_keyid = 0;
	if (!val) {
		rec->ima = FW_IMA_MISSING;
		return;
	}
	if (len >= 1 && (val[0] == IMA_DIGEST || val[0] == IMA_DIGEST_NG)) {
		rec->ima = check_hash(val, len, file, file_len);
		return;
	}
	if (len < IMA_HDR || val[0] != IMA_DIGSIG || val[1] != IMA_SIG_V2 ||
	    (sig_len = fw_be16(val + 7)) != len - IMA_HDR ||
	    !(md = md_of(val[2]))) {
		rec->ima = FW_IMA_BAD;
		return;
	}
	rec->ima_keyid = fw_be32(val + 3);
	if (!x) {
		rec->ima = FW_IMA_SIGNED;
		return;
	}
	if (cert_ima_keyid(x, id) || memcmp(id, val + 3, 4)) {
		rec->ima = FW_IMA_FOREIGN;
		ERR_clear_error();
		return;
	}
	const struct fw_seg one = { file, file_len, NULL, NULL };

	ok = digest2(md, &one, 1, file_len, NULL, 0, dg, &dg_len) == 0 &&
	     (pc = EVP_PKEY_CTX_new(X509_get0_pubkey(x), NULL)) != NULL &&
	     EVP_PKEY_verify_init(pc) == 1 &&
	     (EVP_PKEY_get_base_id(X509_get0_pubkey(x)) != EVP_PKEY_RSA ||
	      EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1) &&
	     EVP_PKEY_CTX_set_signature_md(pc, md) == 1 &&
	     EVP_PKEY_verify(pc, val + IMA_HDR, sig_len, dg, dg_len) == 1;
	EVP_PKEY_CTX_free(pc);
	ERR_clear_error();
	rec->ima = ok ? FW_IMA_GOOD : FW_IMA_STALE;
}
