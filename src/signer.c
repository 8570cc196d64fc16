// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Keys, certificates and the PKCS#7 signature, built exactly as the
 * kernel's scripts/sign-file does so that RSA output is byte-identical.
 */
/* Tokens go through OpenSSL's pkcs11 ENGINE (libp11): Debian 12 has no
 * pkcs11 provider, so its sign-file cannot use a token at all. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ui.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fwsign/attest.h"
#include "fwsign/fwsign.h"
#include "cache_int.h"
#include "io.h"
#include "signer_int.h"

struct fw_signer {
	EVP_PKEY *key;
	X509 *cert;
	const EVP_MD *md;
	ENGINE *engine;		/* pkcs11 keys only */
	int keyid;
	int serialize;		/* tokens are not known to be thread-safe */
	pthread_mutex_t lock;
	char subject[256];
	/*
	 * RSA keys in a file: PKCS#1 v1.5 signatures are deterministic and
	 * of one length, and without signed attributes the PKCS#7 DER is the
	 * same for every file up to the signature at its end.  So it is made
	 * once (tmpl) and each file needs a digest and an RSA signature only.
	 */
	uint8_t *tmpl;
	size_t tmpl_len;	/* the whole DER, tmpl_len - sig_len: prefix */
	size_t sig_len;
	/* made by the first signature (a worker, not the start-up): */
	int tmpl_want;
	atomic_int tmpl_done;
	pthread_mutex_t tmpl_lock;
	/* signatures shared with other runs (fwsign/cache.h), and what
	 * their keys start with: the certificate's sha256, the digest */
	struct fw_cache *cache;
	uint8_t cache_id[32];
};

void fw_signer_set_cache(struct fw_signer *s, struct fw_cache *c)
{
	unsigned char *der = NULL;
	int n = i2d_X509(s->cert, &der);

	s->cache = NULL;
	if (c && n > 0 &&
	    EVP_Digest(der, (size_t)n, s->cache_id, NULL, EVP_sha256(),
		       NULL) == 1)
		s->cache = c;
	OPENSSL_free(der);
}

/* The cache's key of the signature over a digest. */
static int sig_key(const struct fw_signer *s, const unsigned char *md,
		   unsigned md_len, uint8_t key[FW_CACHE_KEY])
{
	static const char dom[] = "fwsign-rsa-pkcs1/1";
	const char *name = EVP_MD_get0_name(s->md);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && name && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(c, dom, sizeof(dom)) == 1 &&
		 EVP_DigestUpdate(c, s->cache_id, sizeof(s->cache_id)) == 1 &&
		 EVP_DigestUpdate(c, name, strlen(name) + 1) == 1 &&
		 EVP_DigestUpdate(c, md, md_len) == 1 &&
		 EVP_DigestFinal_ex(c, key, NULL) == 1;

	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

/* A cached signature is used only if the certificate's key verifies it
 * over this digest. */
static int sig_cached(struct fw_signer *s, const uint8_t key[FW_CACHE_KEY],
		      const unsigned char *md, unsigned md_len, uint8_t *sig)
{
	EVP_PKEY *pub = X509_get0_pubkey(s->cert);
	EVP_PKEY_CTX *pc;
	size_t n;
	int raw, ok;

	if (!fw_cache_get(s->cache, key, sig, s->sig_len, &n, &raw))
		return 0;
	pc = pub ? EVP_PKEY_CTX_new(pub, NULL) : NULL;
	ok = !raw && n == s->sig_len && pc &&
	     EVP_PKEY_verify_init(pc) == 1 &&
	     EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
	     EVP_PKEY_CTX_set_signature_md(pc, s->md) == 1 &&
	     EVP_PKEY_verify(pc, sig, n, md, md_len) == 1;
	EVP_PKEY_CTX_free(pc);
	ERR_clear_error();
	if (!ok)
		fw_cache_count(s->cache, FW_CACHE_SIG_REJECTED);
	return ok;
}

X509 *fw_cert_load(const char *path, struct fw_error *err)
{
	BIO *b = BIO_new_file(path, "rb");
	X509 *x = NULL;

	if (!b) {
		fw_error_ssl(err, FW_EKEY, path, "cannot open certificate");
		return NULL;
	}
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (!x) {
		ERR_clear_error();
		BIO_reset(b);
		x = d2i_X509_bio(b, NULL);
	}
	BIO_free(b);
	if (!x)
		fw_error_ssl(err, FW_EKEY, path,
			     "not an X.509 certificate (PEM or DER)");
	return x;
}

void fw_cert_subject_name(X509_NAME *n, char *buf, size_t len)
{
	buf[0] = '\0';
	if (X509_NAME_get_text_by_NID(n, NID_commonName, buf, (int)len) < 0)
		X509_NAME_oneline(n, buf, (int)len);
}

void fw_cert_subject(X509 *x, char *buf, size_t len)
{
	fw_cert_subject_name(X509_get_subject_name(x), buf, len);
}

/* The checks the tool makes before anything is signed with a certificate. */
static int cert_check(X509 *x, const char *path, int allow_expired,
		      struct fw_error *err)
{
	uint32_t ku;

	if (X509_check_ca(x) != 0 &&
	    (X509_get_extension_flags(x) & EXFLAG_CA))
		return fw_error_set(err, FW_EKEY, path,
				    "is a CA certificate (CA:TRUE); use a "
				    "code-signing certificate");
	if (!allow_expired) {
		if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
			return fw_error_set(err, FW_EKEY, path,
					    "certificate has expired");
		if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
			return fw_error_set(err, FW_EKEY, path,
					    "certificate is not yet valid");
	}
	ku = X509_get_key_usage(x);
	if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
	    !(ku & KU_DIGITAL_SIGNATURE))
		return fw_error_set(err, FW_EKEY, path,
				    "key usage does not allow digitalSignature");
	return FW_OK;
}

/* Passphrase from an environment variable or a file, never from argv. */
int fw_passphrase(const char *env, const char *file, char *buf, size_t len,
		  struct fw_error *err)
{
	buf[0] = '\0';
	if (file) {
		FILE *f = fopen(file, "re");

		if (!f)
			return fw_error_set(err, FW_EKEY, file,
					    "cannot read passphrase file: %s",
					    strerror(errno));
		if (!fgets(buf, (int)len, f))
			buf[0] = '\0';
		fclose(f);
		buf[strcspn(buf, "\r\n")] = '\0';
		return FW_OK;
	}
	if (env) {
		const char *v = getenv(env);

		if (!v)
			return fw_error_set(err, FW_EKEY, env,
					    "passphrase variable is not set");
		snprintf(buf, len, "%s", v);
	}
	return FW_OK;
}

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pass = u;
	int n;

	(void)rwflag;
	if (!pass || !*pass)
		return -1;	/* encrypted key, no passphrase given */
	n = (int)strlen(pass);
	if (n > size)
		n = size;
	memcpy(buf, pass, (size_t)n);
	return n;
}

static EVP_PKEY *load_pem_key(const char *path, const char *pass,
			      struct fw_error *err)
{
	BIO *b = BIO_new_file(path, "rb");
	EVP_PKEY *k;

	if (!b) {
		fw_error_ssl(err, FW_EKEY, path, "cannot open key");
		return NULL;
	}
	k = PEM_read_bio_PrivateKey(b, NULL, pass_cb, (void *)pass);
	BIO_free(b);
	if (!k) {
		int enc = fw_file_contains(path, "ENCRYPTED");

		ERR_clear_error();
		if (enc && (!pass || !*pass))
			fw_error_set(err, FW_EKEY, path,
				     "key is encrypted: give its passphrase");
		else if (enc)
			fw_error_set(err, FW_EKEY, path,
				     "cannot decrypt key: wrong passphrase");
		else
			fw_error_set(err, FW_EKEY, path,
				     "not a PEM private key");
	}
	return k;
}

static EVP_PKEY *load_pkcs11_key(struct fw_signer *s, const char *uri,
				 const char *pin, struct fw_error *err)
{
	EVP_PKEY *k;

	ENGINE_load_builtin_engines();
	s->engine = ENGINE_by_id("pkcs11");
	if (!s->engine) {
		fw_error_ssl(err, FW_EKEY, uri,
			     "OpenSSL pkcs11 engine not available (install "
			     "libengine-pkcs11-openssl)");
		return NULL;
	}
	/* libp11 prints its own diagnostics to stderr unless told not to */
	ENGINE_ctrl_cmd_string(s->engine, "QUIET", NULL, 1);
	if (!ENGINE_init(s->engine)) {
		fw_error_ssl(err, FW_EKEY, uri, "cannot initialise pkcs11 engine");
		ENGINE_free(s->engine);
		s->engine = NULL;
		return NULL;
	}
	if (pin && *pin && !ENGINE_ctrl_cmd_string(s->engine, "PIN", pin, 0)) {
		fw_error_ssl(err, FW_EKEY, uri, "cannot pass PIN to token");
		return NULL;
	}
	/* Never prompt: a CI job would hang; the PIN comes from --pass-*. */
	k = ENGINE_load_private_key(s->engine, uri, (UI_METHOD *)UI_null(),
				    NULL);
	if (!k)
		fw_error_ssl(err, FW_EKEY, uri, "cannot load key from token");
	s->serialize = 1;
	return k;
}

int fw_signer_open(const struct fw_key_opts *o, struct fw_signer **out,
		   struct fw_error *err)
{
	struct fw_signer *s;
	const char *hash = o->hash ? o->hash : "sha256";
	char pass[1024];
	int rc;

	*out = NULL;
	if (!o->key || !o->cert)
		return fw_error_set(err, FW_EUSAGE, NULL,
				    "a signing key and a certificate are both "
				    "required");
	if (strcmp(hash, "sha256") && strcmp(hash, "sha384") &&
	    strcmp(hash, "sha512"))
		return fw_error_set(err, FW_EUSAGE, hash,
				    "unsupported hash (sha256, sha384, sha512)");
	s = calloc(1, sizeof(*s));
	if (!s)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->tmpl_lock, NULL);
	s->keyid = o->use_keyid;
	s->md = EVP_get_digestbyname(hash);

	s->cert = fw_cert_load(o->cert, err);
	if (!s->cert)
		goto fail;
	if (cert_check(s->cert, o->cert, o->allow_expired, err))
		goto fail;
	fw_cert_subject(s->cert, s->subject, sizeof(s->subject));

	rc = fw_passphrase(o->pass_env, o->pass_file, pass, sizeof(pass), err);
	if (rc)
		goto fail;
	if (!strncmp(o->key, "pkcs11:", 7))
		s->key = load_pkcs11_key(s, o->key, pass, err);
	else
		s->key = load_pem_key(o->key, pass, err);
	OPENSSL_cleanse(pass, sizeof(pass));
	if (!s->key)
		goto fail;
	if (!X509_check_private_key(s->cert, s->key)) {
		ERR_clear_error();
		fw_error_set(err, FW_EKEY, o->key,
			     "key does not match certificate %s", o->cert);
		goto fail;
	}
	if (EVP_PKEY_get_base_id(s->key) != EVP_PKEY_RSA &&
	    EVP_PKEY_get_base_id(s->key) != EVP_PKEY_EC) {
		fw_error_set(err, FW_EKEY, o->key, "key is neither RSA nor EC");
		goto fail;
	}
	s->tmpl_want = !s->serialize && !o->cms_only;
	*out = s;
	return FW_OK;
fail:
	fw_signer_free(s);
	return err->code;
}

void fw_signer_free(struct fw_signer *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->key);
	X509_free(s->cert);
	if (s->engine) {
		ENGINE_finish(s->engine);
		ENGINE_free(s->engine);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->tmpl_lock);
	free(s->tmpl);
	free(s);
}

const char *fw_signer_subject(const struct fw_signer *s)
{
	return s->subject;
}

/*
 * Hands the first len bytes of the segments (zeros where p is NULL, a
 * feed's stream where it is set) to put, in pieces of at most 1 GiB; -1
 * if put or a feed fails or the segments are shorter than len.
 */
int fw_feed_segs(const struct fw_seg *seg, size_t n_seg, size_t len,
		 fw_put_fn put, void *ctx)
{
	static const uint8_t zeros[65536];

	for (size_t i = 0; i < n_seg && len; i++) {
		size_t left = seg[i].len < len ? seg[i].len : len;
		const uint8_t *p = seg[i].p;

		len -= left;
		if (seg[i].feed) {
			if (seg[i].feed(seg[i].ctx, left, put, ctx) < 0)
				return -1;
			continue;
		}
		while (left) {
			size_t n = left < ((size_t)1 << 30) ? left : (size_t)1 << 30;

			if (!p && n > sizeof(zeros))
				n = sizeof(zeros);
			if (put(ctx, p ? p : zeros, n) < 0)
				return -1;
			if (p)
				p += n;
			left -= n;
		}
	}
	return len ? -1 : 0;
}

static int put_bio(void *ctx, const void *p, size_t n)
{
	return BIO_write(ctx, p, (int)n) == (int)n ? 0 : -1;
}

static int put_digest(void *ctx, const void *p, size_t n)
{
	return EVP_DigestUpdate(ctx, p, n) == 1 ? 0 : -1;
}

/* [DER, sig appended if given][module_signature][magic], malloc'ed. */
static int make_trailer(const uint8_t *der, size_t der_len,
			const uint8_t *sig, size_t sig_len, uint8_t **trailer,
			size_t *trailer_len, struct fw_error *err)
{
	size_t n = der_len + sig_len;
	uint8_t *t = malloc(n + FW_MODSIG_INFO_LEN + FW_MODSIG_MAGIC_LEN);
	uint8_t *info;

	if (!t)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	memcpy(t, der, der_len);
	if (sig)
		memcpy(t + der_len, sig, sig_len);
	info = t + n;
	memset(info, 0, FW_MODSIG_INFO_LEN);
	info[2] = 2;	/* PKEY_ID_PKCS7 */
	info[8] = (uint8_t)(n >> 24);
	info[9] = (uint8_t)(n >> 16);
	info[10] = (uint8_t)(n >> 8);
	info[11] = (uint8_t)n;
	memcpy(info + FW_MODSIG_INFO_LEN, FW_MODSIG_MAGIC, FW_MODSIG_MAGIC_LEN);
	*trailer = t;
	*trailer_len = n + FW_MODSIG_INFO_LEN + FW_MODSIG_MAGIC_LEN;
	return FW_OK;
}

/* The PKCS#7 DER of the content, by OpenSSL's CMS (into out). */
static int cms_der(struct fw_signer *s, const struct fw_seg *seg,
		   size_t n_seg, size_t len, BIO *out, struct fw_error *err)
{
	const unsigned int signer_flags = CMS_NOCERTS | CMS_BINARY |
		CMS_NOSMIMECAP | CMS_NOATTR | (s->keyid ? CMS_USE_KEYID : 0);
	CMS_ContentInfo *cms;
	BIO *digest = NULL;
	int rc = FW_OK;

	cms = CMS_sign(NULL, NULL, NULL, NULL,
		       CMS_NOCERTS | CMS_PARTIAL | CMS_BINARY | CMS_DETACHED |
		       CMS_STREAM);
	/* What CMS_final does, but the content goes to the digest where it
	 * lies instead of being copied through a 4 KiB buffer. */
	if (!cms || !CMS_add1_signer(cms, s->cert, s->key, s->md, signer_flags) ||
	    !(digest = CMS_dataInit(cms, NULL)) ||
	    fw_feed_segs(seg, n_seg, len, put_bio, digest) < 0 ||
	    BIO_flush(digest) != 1 || CMS_dataFinal(cms, digest) != 1 ||
	    i2d_CMS_bio_stream(out, cms, NULL, 0) != 1)
		rc = fw_error_ssl(err, FW_EKEY, NULL, "PKCS#7 signing failed");
	CMS_ContentInfo_free(cms);
	BIO_free_all(digest);
	return rc;
}

/* The RSA signature over a digest of the content, sig_len bytes: from
 * the cache when the certificate's key verifies it, else made. */
static int rsa_sig_md(struct fw_signer *s, const unsigned char *md,
		      unsigned md_len, uint8_t *sig)
{
	size_t sig_len = s->sig_len;
	EVP_PKEY_CTX *pc = NULL;
	uint8_t key[FW_CACHE_KEY];
	int ok, cached = s->cache && !sig_key(s, md, md_len, key);

	if (cached && sig_cached(s, key, md, md_len, sig)) {
		fw_cache_count(s->cache, FW_CACHE_SIG_HIT);
		return 0;
	}
	ok = (pc = EVP_PKEY_CTX_new(s->key, NULL)) != NULL &&
	     EVP_PKEY_sign_init(pc) == 1 &&
	     EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
	     EVP_PKEY_CTX_set_signature_md(pc, s->md) == 1 &&
	     EVP_PKEY_sign(pc, sig, &sig_len, md, md_len) == 1 &&
	     sig_len == s->sig_len;
	EVP_PKEY_CTX_free(pc);
	if (ok && cached) {
		fw_cache_count(s->cache, FW_CACHE_SIG_MISS);
		fw_cache_put(s->cache, key, sig, sig_len, 0);
	}
	return ok ? 0 : -1;
}

/* The RSA signature of the content as CMS makes it: sig_len bytes; the
 * digest it signs in md (EVP_MAX_MD_SIZE), *md_len of them. */
static int rsa_sig(struct fw_signer *s, const struct fw_seg *seg,
		   size_t n_seg, size_t len, uint8_t *sig, unsigned char *md,
		   unsigned *md_len)
{
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	int ok = mc && EVP_DigestInit_ex(mc, s->md, NULL) == 1 &&
		 fw_feed_segs(seg, n_seg, len, put_digest, mc) == 0 &&
		 EVP_DigestFinal_ex(mc, md, md_len) == 1;

	EVP_MD_CTX_free(mc);
	return ok ? rsa_sig_md(s, md, *md_len, sig) : -1;
}

/*
 * Makes the template of an RSA signer and proves it: for a probe content,
 * the template with rsa_sig's signature must be CMS's DER byte for byte.
 * Without it every file goes through CMS.
 */
static void tmpl_init(struct fw_signer *s)
{
	static const uint8_t probe[] = "fwsign template probe";
	const struct fw_seg one = { probe, sizeof(probe), NULL, NULL };
	struct fw_error err;
	BIO *out = BIO_new(BIO_s_mem());
	uint8_t *sig = NULL;
	char *der;
	long der_len;
	int size = EVP_PKEY_get_size(s->key);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;

	if (!out || EVP_PKEY_get_base_id(s->key) != EVP_PKEY_RSA || size <= 0 ||
	    cms_der(s, &one, 1, sizeof(probe), out, &err) != FW_OK)
		goto done;
	s->sig_len = (size_t)size;
	der_len = BIO_get_mem_data(out, &der);
	sig = malloc(s->sig_len);
	if (!sig || der_len <= (long)s->sig_len ||
	    rsa_sig(s, &one, 1, sizeof(probe), sig, md, &md_len) < 0 ||
	    memcmp(der + der_len - (long)s->sig_len, sig, s->sig_len) != 0)
		goto done;
	s->tmpl = malloc((size_t)der_len);
	if (s->tmpl) {
		memcpy(s->tmpl, der, (size_t)der_len);
		s->tmpl_len = (size_t)der_len;
	}
done:
	ERR_clear_error();
	free(sig);
	BIO_free(out);
}

/* The template, made once by whichever thread signs first. */
static const uint8_t *tmpl_get(struct fw_signer *s)
{
	if (!s->tmpl_want)
		return NULL;
	if (!atomic_load(&s->tmpl_done)) {
		pthread_mutex_lock(&s->tmpl_lock);
		if (!atomic_load(&s->tmpl_done))
			tmpl_init(s);
		atomic_store(&s->tmpl_done, 1);
		pthread_mutex_unlock(&s->tmpl_lock);
	}
	return s->tmpl;
}

int fw_signer_has_template(struct fw_signer *s)
{
	return tmpl_get(s) != NULL;
}

int fw_sign_trailer(struct fw_signer *s, const uint8_t *content, size_t len,
		    uint8_t **trailer, size_t *trailer_len,
		    struct fw_error *err)
{
	const struct fw_seg one = { content, len, NULL, NULL };

	return fw_sign_trailer_segs(s, &one, 1, len, trailer, trailer_len, err);
}

int fw_sign_trailer_segs(struct fw_signer *s, const struct fw_seg *seg,
			 size_t n_seg, size_t len, uint8_t **trailer,
			 size_t *trailer_len, struct fw_error *err)
{
	return fw_sign_trailer_segs_md(s, seg, n_seg, len, trailer,
				       trailer_len, NULL, NULL, err);
}

int fw_sign_trailer_digest(struct fw_signer *s, const uint8_t *md,
			   unsigned md_len, uint8_t **trailer,
			   size_t *trailer_len, struct fw_error *err)
{
	uint8_t sig[2048];	/* RSA up to 16384 bits */

	*trailer = NULL;
	if (!tmpl_get(s) || md_len != (unsigned)EVP_MD_get_size(s->md) ||
	    s->sig_len > sizeof(sig))
		return fw_error_set(err, FW_EIO, NULL, "internal error: no "
				    "signature template for a digest");
	if (rsa_sig_md(s, md, md_len, sig) < 0)
		return fw_error_ssl(err, FW_EKEY, NULL, "RSA signing failed");
	return make_trailer(s->tmpl, s->tmpl_len - s->sig_len, sig,
			    s->sig_len, trailer, trailer_len, err);
}

int fw_sign_trailer_segs_md(struct fw_signer *s, const struct fw_seg *seg,
			    size_t n_seg, size_t len, uint8_t **trailer,
			    size_t *trailer_len, uint8_t *md_out,
			    unsigned *md_out_len, struct fw_error *err)
{
	BIO *out = NULL;
	int rc;
	char *der;
	long der_len;

	*trailer = NULL;
	if (md_out_len)
		*md_out_len = 0;
	if (len > INT32_MAX)
		return fw_error_set(err, FW_EIO, NULL, "cannot sign %zu bytes",
				    len);
	if (tmpl_get(s)) {
		uint8_t sig[2048];	/* RSA up to 16384 bits */
		size_t prefix = s->tmpl_len - s->sig_len;
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned md_len = 0;

		if (s->sig_len > sizeof(sig) ||
		    rsa_sig(s, seg, n_seg, len, sig, md, &md_len) < 0)
			return fw_error_ssl(err, FW_EKEY, NULL,
					    "RSA signing failed");
		if (md_out) {
			memcpy(md_out, md, md_len);
			*md_out_len = md_len;
		}
		return make_trailer(s->tmpl, prefix, sig, s->sig_len, trailer,
				    trailer_len, err);
	}
	if (s->serialize)
		pthread_mutex_lock(&s->lock);
	out = BIO_new(BIO_s_mem());
	rc = out ? cms_der(s, seg, n_seg, len, out, err)
		 : fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (!rc) {
		der_len = BIO_get_mem_data(out, &der);
		rc = make_trailer((const uint8_t *)der, (size_t)der_len, NULL, 0,
				  trailer, trailer_len, err);
	}
	if (s->serialize)
		pthread_mutex_unlock(&s->lock);
	BIO_free(out);
	return rc;
}

/* The end of a raw signature made under the signer's lock: the lock
 * released, the signature handed out or freed. */
static int sig_done(struct fw_signer *s, int ok, uint8_t *out, size_t n,
		    uint8_t **sig, size_t *sig_len, struct fw_error *err)
{
	if (s->serialize)
		pthread_mutex_unlock(&s->lock);
	if (!ok) {
		free(out);
		return fw_error_ssl(err, FW_EKEY, NULL, "signing failed");
	}
	*sig = out;
	*sig_len = n;
	return FW_OK;
}

/*
 * A signature over plain bytes (a DSSE envelope's pre-authentication
 * encoding): see fwsign/attest.h for the algorithms.
 */
int fw_sign_raw(struct fw_signer *s, const uint8_t *msg, size_t len,
		uint8_t **sig, size_t *sig_len, struct fw_error *err)
{
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	uint8_t *out = NULL;
	size_t n = 0;
	int ok;

	*sig = NULL;
	*sig_len = 0;
	if (s->serialize)
		pthread_mutex_lock(&s->lock);
	ok = mc && EVP_DigestSignInit(mc, &pc, fw_raw_md(s->key), NULL,
				      s->key) == 1;
	if (ok && EVP_PKEY_get_base_id(s->key) == EVP_PKEY_RSA)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1;
	ok = ok && EVP_DigestSign(mc, NULL, &n, msg, len) == 1 &&
	     (out = malloc(n ? n : 1)) != NULL &&
	     EVP_DigestSign(mc, out, &n, msg, len) == 1;
	EVP_MD_CTX_free(mc);
	return sig_done(s, ok, out, n, sig, sig_len, err);
}

int fw_signer_keyid(const struct fw_signer *s, char out[FW_SHA256_HEX],
		    struct fw_error *err)
{
	return fw_cert_keyid(s->cert, out, err);
}

/*
 * A PKCS#7 (CMS SignedData) that holds the content itself, signed by the
 * key, no certificates and no attributes: what the kernel's
 * verify_pkcs7_signature() takes without detached data (an IPE policy).
 */
int fw_sign_attached(struct fw_signer *s, const uint8_t *content, size_t len,
		     uint8_t **der, size_t *der_len, struct fw_error *err)
{
	const unsigned int flags = CMS_NOCERTS | CMS_BINARY | CMS_NOSMIMECAP |
		CMS_NOATTR | CMS_PARTIAL | (s->keyid ? CMS_USE_KEYID : 0);
	CMS_ContentInfo *cms = NULL;
	BIO *in = BIO_new_mem_buf(content, (int)len);
	unsigned char *p = NULL;
	int n = -1;

	*der = NULL;
	*der_len = 0;
	if (len > INT_MAX)
		goto fail;
	if (s->serialize)
		pthread_mutex_lock(&s->lock);
	cms = in ? CMS_sign(NULL, NULL, NULL, NULL, flags) : NULL;
	if (cms && CMS_add1_signer(cms, s->cert, s->key, s->md, flags) &&
	    CMS_final(cms, in, NULL, flags) == 1)
		n = i2d_CMS_ContentInfo(cms, &p);
	if (s->serialize)
		pthread_mutex_unlock(&s->lock);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	if (n <= 0)
		goto fail;
	*der = malloc((size_t)n);
	if (!*der) {
		OPENSSL_free(p);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	memcpy(*der, p, (size_t)n);
	*der_len = (size_t)n;
	OPENSSL_free(p);
	return FW_OK;
fail:
	return fw_error_ssl(err, FW_EKEY, NULL, "PKCS#7 signing failed");
}

X509 *fw_signer_cert(const struct fw_signer *s)
{
	return s->cert;
}

const EVP_MD *fw_signer_md(const struct fw_signer *s)
{
	return s->md;
}

/* A PKCS#1 v1.5 (RSA) or ECDSA signature of a digest made with md. */
int fw_sign_digest(struct fw_signer *s, const EVP_MD *md, const uint8_t *dg,
		   size_t dg_len, uint8_t **sig, size_t *sig_len,
		   struct fw_error *err)
{
	EVP_PKEY_CTX *pc = NULL;
	uint8_t *out = NULL;
	size_t n = 0;
	int ok;

	*sig = NULL;
	*sig_len = 0;
	if (s->serialize)
		pthread_mutex_lock(&s->lock);
	ok = (pc = EVP_PKEY_CTX_new(s->key, NULL)) != NULL &&
	     EVP_PKEY_sign_init(pc) == 1;
	if (ok && EVP_PKEY_get_base_id(s->key) == EVP_PKEY_RSA)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1;
	ok = ok && EVP_PKEY_CTX_set_signature_md(pc, md) == 1 &&
	     EVP_PKEY_sign(pc, NULL, &n, dg, dg_len) == 1 &&
	     (out = malloc(n ? n : 1)) != NULL &&
	     EVP_PKEY_sign(pc, out, &n, dg, dg_len) == 1;
	EVP_PKEY_CTX_free(pc);
	return sig_done(s, ok, out, n, sig, sig_len, err);
}
