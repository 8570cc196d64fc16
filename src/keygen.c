// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fwsign keygen: a key and a self-signed code-signing certificate with what
 * the kernel's X.509 parser needs (subject key identifier) and what a
 * careful verifier expects (digitalSignature, CA:FALSE, codeSigning).
 * The private key is created O_EXCL with mode 0600.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fwsign/fwsign.h"
#include "signer_int.h"

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

static X509 *make_cert(EVP_PKEY *k, const struct fw_keygen_opts *o,
		       const EVP_MD *md)
{
	X509 *x = X509_new();
	X509_NAME *n;
	unsigned char serial[16];
	BIGNUM *bn = NULL;

	if (!x || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f;	/* positive */
	serial[0] |= 0x40;	/* and of full length */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto fail;
	if (!X509_set_version(x, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), o->days, 0, NULL) ||
	    !X509_set_pubkey(x, k))
		goto fail;
	n = X509_get_subject_name(x);
	if (o->org && !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
						  (const unsigned char *)o->org,
						  -1, -1, 0))
		goto fail;
	if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
					(const unsigned char *)o->subject,
					-1, -1, 0) ||
	    !X509_set_issuer_name(x, n))
		goto fail;
	if (!add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext(x, NID_ext_key_usage, "codeSigning") ||
	    !add_ext(x, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, NID_authority_key_identifier, "keyid"))
		goto fail;
	if (!X509_sign(x, k, md))
		goto fail;
	BN_free(bn);
	return x;
fail:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

/* A new file, never an existing one or a symlink. */
static BIO *create_excl(const char *path, mode_t mode, struct fw_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		      mode);
	BIO *b;

	if (fd < 0) {
		fw_error_set(err, errno == EEXIST ? FW_EUSAGE : FW_EIO, path,
			     "cannot create: %s", strerror(errno));
		return NULL;
	}
	b = BIO_new_fd(fd, BIO_CLOSE);
	if (!b)
		close(fd);
	return b;
}

int fw_keygen(const struct fw_keygen_opts *o, struct fw_error *err)
{
	char kpath[4096], cpath[4096], dpath[4096], pass[1024];
	struct fw_keygen_opts opts = *o;
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	BIO *b = NULL;
	const EVP_MD *md = EVP_sha256();
	int made = 0, rc;

	if (!opts.subject)
		opts.subject = "fwsign signing key";
	if (opts.days <= 0)
		opts.days = 3650;
	if (snprintf(kpath, sizeof(kpath), "%s.key", o->prefix) >=
		    (int)sizeof(kpath) ||
	    snprintf(cpath, sizeof(cpath), "%s.crt", o->prefix) >=
		    (int)sizeof(cpath) ||
	    snprintf(dpath, sizeof(dpath), "%s.der", o->prefix) >=
		    (int)sizeof(dpath))
		return fw_error_set(err, FW_EUSAGE, o->prefix, "name too long");
	rc = fw_passphrase(o->pass_env, o->pass_file, pass, sizeof(pass), err);
	if (rc)
		return rc;

	if (opts.ec) {
		const char *curve = !strcmp(opts.ec, "p256") ? "P-256" :
				    !strcmp(opts.ec, "p384") ? "P-384" : NULL;
		if (!curve)
			return fw_error_set(err, FW_EUSAGE, opts.ec,
					    "unknown curve (p256, p384)");
		if (!strcmp(opts.ec, "p384"))
			md = EVP_sha384();
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
	} else {
		size_t bits = opts.rsa_bits ? (size_t)opts.rsa_bits : 4096;

		if (bits != 2048 && bits != 3072 && bits != 4096)
			return fw_error_set(err, FW_EUSAGE, NULL,
					    "RSA size must be 2048, 3072 or 4096");
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
	}
	if (!k) {
		rc = fw_error_ssl(err, FW_EKEY, NULL, "key generation failed");
		goto out;
	}
	x = make_cert(k, &opts, md);
	if (!x) {
		rc = fw_error_ssl(err, FW_EKEY, NULL, "certificate creation failed");
		goto out;
	}

	b = create_excl(kpath, 0600, err);
	if (!b) {
		rc = err->code;
		goto out;
	}
	made = 1;
	if (!PEM_write_bio_PrivateKey(b, k, pass[0] ? EVP_aes_256_cbc() : NULL,
				      NULL, 0, NULL, pass[0] ? pass : NULL)) {
		rc = fw_error_ssl(err, FW_EIO, kpath, "cannot write key");
		goto out;
	}
	BIO_free_all(b);
	b = create_excl(cpath, 0644, err);
	if (!b) {
		rc = err->code;
		goto out;
	}
	made = 2;
	if (!PEM_write_bio_X509(b, x)) {
		rc = fw_error_ssl(err, FW_EIO, cpath, "cannot write certificate");
		goto out;
	}
	BIO_free_all(b);
	b = create_excl(dpath, 0644, err);
	if (!b) {
		rc = err->code;
		goto out;
	}
	made = 3;
	if (!i2d_X509_bio(b, x)) {
		rc = fw_error_ssl(err, FW_EIO, dpath, "cannot write certificate");
		goto out;
	}
	rc = FW_OK;
out:
	OPENSSL_cleanse(pass, sizeof(pass));
	if (b && BIO_flush(b) != 1 && rc == FW_OK)
		rc = fw_error_set(err, FW_EIO, o->prefix, "write failed");
	BIO_free_all(b);
	if (rc) {
		/* Leave nothing half-made behind. */
		if (made >= 1)
			unlink(kpath);
		if (made >= 2)
			unlink(cpath);
		if (made >= 3)
			unlink(dpath);
	}
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}
