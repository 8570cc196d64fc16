// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Verification with the kernel's rules (mod_check_sig(), pkcs7_verify()
 * for VERIFYING_MODULE_SIGNATURE) followed by OpenSSL CMS verification.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "fwsign/attest.h"
#include "fwsign/fwsign.h"
#include "signer_int.h"

/* The kernel refuses PKCS#7 messages bigger than this for modules. */
#define FW_SIG_MAX (64 * 1024)

struct fw_verifier {
	X509 *cert;
	STACK_OF(X509) *certs;
};

const char *fw_sigstate_name(enum fw_sigstate st)
{
	static const char *const names[] = {
		[FW_SIG_NONE] = "not-signable",
		[FW_SIG_GOOD] = "good",
		[FW_SIG_UNSIGNED] = "unsigned",
		[FW_SIG_FOREIGN] = "foreign-key",
		[FW_SIG_BAD] = "bad-signature",
	};
	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

int fw_verifier_open(const char *cert_path, struct fw_verifier **out,
		     struct fw_error *err)
{
	struct fw_verifier *v = calloc(1, sizeof(*v));

	*out = NULL;
	if (!v)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	v->cert = fw_cert_load(cert_path, err);
	v->certs = sk_X509_new_null();
	if (!v->cert || !v->certs || !sk_X509_push(v->certs, v->cert)) {
		if (v->cert && v->certs)
			fw_error_set(err, FW_EIO, NULL, "out of memory");
		X509_free(v->cert);
		sk_X509_free(v->certs);
		free(v);
		return err->code;
	}
	*out = v;
	return FW_OK;
}

void fw_verifier_free(struct fw_verifier *v)
{
	if (!v)
		return;
	sk_X509_pop_free(v->certs, X509_free);
	free(v);
}

static int digest_allowed(int nid)
{
	/* What the 6.1 kernel's PKCS#7 parser accepts. */
	return nid == NID_sha1 || nid == NID_sha224 || nid == NID_sha256 ||
	       nid == NID_sha384 || nid == NID_sha512;
}

enum fw_sigstate fw_verify_buffer(struct fw_verifier *v, const uint8_t *buf,
				  size_t len, char *why, size_t why_len)
{
	struct fw_modsig ms;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	CMS_SignerInfo *si;
	X509_ALGOR *dig = NULL, *sig = NULL;
	BIO *data = NULL;
	const uint8_t *p;
	enum fw_sigstate st = FW_SIG_BAD;
	int rc;

	why[0] = '\0';
	rc = fw_modsig_find(buf, len, &ms, why, why_len);
	if (rc == 0)
		return FW_SIG_UNSIGNED;
	if (rc < 0)
		return FW_SIG_BAD;
	if (ms.sig_len > FW_SIG_MAX) {
		snprintf(why, why_len, "signature of %zu bytes is too large",
			 ms.sig_len);
		return FW_SIG_BAD;
	}
	p = buf + ms.sig_off;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)ms.sig_len);
	if (!cms || p != buf + ms.sig_off + ms.sig_len) {
		snprintf(why, why_len, "signature is not a DER PKCS#7 message");
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
	    OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data) {
		snprintf(why, why_len, "not pkcs7-data SignedData");
		goto out;
	}
	if (*CMS_get0_content(cms) != NULL) {
		snprintf(why, why_len, "signature is not detached");
		goto out;
	}
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1) {
		snprintf(why, why_len, "%d signers, expected 1",
			 sk_CMS_SignerInfo_num(sis));
		goto out;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);
	if (CMS_signed_get_attr_count(si) > 0) {
		snprintf(why, why_len,
			 "has authenticated attributes (the kernel rejects them)");
		goto out;
	}
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
	if (!dig || !digest_allowed(OBJ_obj2nid(dig->algorithm))) {
		snprintf(why, why_len, "digest algorithm not accepted by the kernel");
		goto out;
	}
	if (CMS_SignerInfo_cert_cmp(si, v->cert) != 0) {
		snprintf(why, why_len, "signed by another key");
		st = FW_SIG_FOREIGN;
		goto out;
	}
	data = BIO_new_mem_buf(buf, (int)ms.content_len);
	if (data && CMS_verify(cms, v->certs, NULL, data, NULL,
			       CMS_BINARY | CMS_NOINTERN |
			       CMS_NO_SIGNER_CERT_VERIFY) == 1) {
		st = FW_SIG_GOOD;
	} else {
		unsigned long e = ERR_peek_last_error();

		snprintf(why, why_len, "signature does not match the content%s%s",
			 e ? ": " : "", e ? ERR_reason_error_string(e) : "");
	}
out:
	ERR_clear_error();
	BIO_free(data);
	CMS_ContentInfo_free(cms);
	return st;
}

/* One try of a raw signature: RSA with the padding given (0: not RSA). */
static int raw_try(EVP_PKEY *k, int pad, const uint8_t *msg, size_t len,
		   const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	int ok = mc && EVP_DigestVerifyInit(mc, &pc, fw_raw_md(k), NULL,
					    k) == 1;

	if (ok && pad)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, pad) == 1 &&
		     (pad != RSA_PKCS1_PSS_PADDING ||
		      EVP_PKEY_CTX_set_rsa_pss_saltlen(pc,
				RSA_PSS_SALTLEN_AUTO) == 1);
	ok = ok && EVP_DigestVerify(mc, sig, sig_len, msg, len) == 1;
	EVP_MD_CTX_free(mc);
	ERR_clear_error();
	return ok;
}

int fw_verify_raw(struct fw_verifier *v, const uint8_t *msg, size_t len,
		  const uint8_t *sig, size_t sig_len)
{
	EVP_PKEY *k = X509_get0_pubkey(v->cert);

	if (!k) {
		ERR_clear_error();
		return 0;
	}
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA)
		return raw_try(k, RSA_PKCS1_PADDING, msg, len, sig, sig_len) ||
		       raw_try(k, RSA_PKCS1_PSS_PADDING, msg, len, sig,
			       sig_len);
	return EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
	       raw_try(k, 0, msg, len, sig, sig_len);
}

int fw_verifier_keyid(const struct fw_verifier *v, char out[FW_SHA256_HEX],
		      struct fw_error *err)
{
	return fw_cert_keyid(v->cert, out, err);
}

X509 *fw_verifier_cert(const struct fw_verifier *v)
{
	return v->cert;
}
