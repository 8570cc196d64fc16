// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * usign keys and signatures, ucert chains (usign.h): what OpenWrt's build
 * does with usign -S, ucert -A and fwtool -S, with OpenSSL's Ed25519.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "fwsign/attest.h"
#include "layer.h"
#include "usign.h"

#define COMMENT "untrusted comment: "
#define SECKEY_LEN 104
#define PUBKEY_LEN 42
#define SIG_LEN 74
#define KEYFILE_MAX 4096

/* A usign file's text: the comment line, then the base64 line decoded;
 * the length, -1 without the comment line, -2 when not base64. */
static long usign_text(const char *t, size_t n, uint8_t *out, size_t cap)
{
	const char *nl, *end;

	if (n < strlen(COMMENT) || memcmp(t, COMMENT, strlen(COMMENT)))
		return -1;
	nl = memchr(t, '\n', n);
	if (!nl)
		return -2;
	nl++;
	end = memchr(nl, '\n', n - (size_t)(nl - t));
	if (!end)
		end = t + n;
	/* a string from a blobmsg ends with its NUL */
	while (end > nl && !end[-1])
		end--;
	{
		size_t len;
		uint8_t *d = fw_base64_decode(nl, (size_t)(end - nl), 0, &len);
		long r = d && len <= cap ? (long)len : -1;

		if (d && r >= 0)
			memcpy(out, d, len);
		free(d);
		return r;
	}
}

void fw_usign_fp_hex(const uint8_t fp[8], char out[17])
{
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", fp[i]);
}

/* ------------------------------------------------------------------ */
/* The secret key                                                      */

int fw_usign_key_load(const char *path, struct fw_usign_key *k,
		      struct fw_error *err)
{
	char text[KEYFILE_MAX + 1];
	uint8_t b[SECKEY_LEN + 8], sum[SHA512_DIGEST_LENGTH], pub[32];
	size_t n, publen = sizeof(pub);
	uint32_t rounds;
	EVP_PKEY *pk;
	FILE *f;
	long got;
	int rc = FW_EKEY;

	memset(k, 0, sizeof(*k));
	f = fopen(path, "rb");
	if (!f)
		return fw_error_set(err, FW_EKEY, path, "cannot read the usign "
				    "key: %s", strerror(errno));
	n = fread(text, 1, sizeof(text), f);
	if (ferror(f)) {
		fclose(f);
		return fw_error_set(err, FW_EKEY, path, "cannot read the "
				    "usign key: %s", strerror(errno));
	}
	fclose(f);
	got = n > KEYFILE_MAX ? -2 : usign_text(text, n, b, sizeof(b));
	if (got == PUBKEY_LEN && !memcmp(b, "Ed", 2)) {
		fw_error_set(err, FW_EKEY, path, "a usign public key: "
			     "the usign secret key is needed");
		goto out;
	}
	if (got != SECKEY_LEN || memcmp(b, "EdBK", 4)) {
		fw_error_set(err, FW_EKEY, path, "not a usign secret key (a "
			     "line \"untrusted comment: ...\", then base64 of "
			     "%d bytes starting \"EdBK\")", SECKEY_LEN);
		goto out;
	}
	/* usign reads the rounds in the host's order, signify big-endian:
	 * 0 is 0 in both */
	rounds = fw_be32(b + 4);
	if (rounds) {
		fw_error_set(err, FW_EKEY, path, "the usign key is encrypted "
			     "with a passphrase (bcrypt-pbkdf, %" PRIu32
			     " rounds), which usign cannot sign with either: "
			     "use a key made by usign -G or signify -G -n",
			     rounds);
		goto out;
	}
	SHA512(b + 40, 64, sum);
	if (memcmp(sum, b + 24, 8)) {
		fw_error_set(err, FW_EKEY, path, "the usign key is damaged: "
			     "its checksum does not match");
		goto out;
	}
	memcpy(k->fp, b + 32, 8);
	memcpy(k->seed, b + 40, 32);
	memcpy(k->pub, b + 72, 32);
	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, k->seed, 32);
	if (!pk || EVP_PKEY_get_raw_public_key(pk, pub, &publen) != 1) {
		EVP_PKEY_free(pk);
		fw_error_ssl(err, FW_EKEY, path, "cannot load the Ed25519 key");
		goto out;
	}
	EVP_PKEY_free(pk);
	if (publen != 32 || memcmp(pub, k->pub, 32)) {
		fw_error_set(err, FW_EKEY, path, "the usign key is damaged: "
			     "its public half is not its secret half's");
		goto out;
	}
	rc = FW_OK;
out:
	OPENSSL_cleanse(text, sizeof(text));
	OPENSSL_cleanse(b, sizeof(b));
	if (rc)
		fw_usign_key_wipe(k);
	return rc;
}

void fw_usign_key_wipe(struct fw_usign_key *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

/* ------------------------------------------------------------------ */
/* ucert chains: libubox blobs and blobmsg                             */

struct attr {
	unsigned id;
	int ext;
	const uint8_t *d;	/* its data */
	size_t n;		/* data bytes */
	size_t pad;		/* header, data and padding */
};

/* The attribute at p, rem bytes left; 0 or -1. */
static int attr_at(const uint8_t *p, size_t rem, struct attr *a)
{
	uint32_t h;
	size_t raw;

	if (rem < 4)
		return -1;
	h = fw_be32(p);
	raw = h & 0xffffff;
	if (raw < 4 || raw > rem)
		return -1;
	a->id = h >> 24 & 0x7f;
	a->ext = !!(h & 0x80000000u);
	a->d = p + 4;
	a->n = raw - 4;
	a->pad = (raw + 3) & ~(size_t)3;
	return 0;
}

/* The blobmsg attribute in [p, p + len) named name of type type. */
static int blobmsg_find(const uint8_t *p, size_t len, const char *name,
			unsigned type, const uint8_t **v, size_t *vn)
{
	size_t nl = strlen(name);
	struct attr a;

	while (!attr_at(p, len, &a) && a.pad <= len) {
		if (a.ext && a.id == type && a.n >= 2) {
			size_t namelen = fw_be16(a.d);
			size_t hdr = (2 + namelen + 1 + 3) & ~(size_t)3;

			if (hdr <= a.n && namelen == nl &&
			    !memcmp(a.d + 2, name, nl)) {
				*v = a.d + hdr;
				*vn = a.n - hdr;
				return 0;
			}
		}
		p += a.pad;
		len -= a.pad;
	}
	return -1;
}

int fw_ucert_parse(const uint8_t *p, size_t len, struct fw_ucert *u,
		   const char **why)
{
	size_t off = 0;
	int n_sig = 0;

	memset(u, 0, sizeof(*u));
	while (off < len) {
		const uint8_t *sig = NULL, *pay = NULL;
		size_t sig_n = 0, pay_n = 0, step, rem;
		struct attr e, c;
		const uint8_t *q;

		if (attr_at(p + off, len - off, &e)) {
			*why = "a chain element's blob header is bad";
			return -1;
		}
		/* its attributes: 0 the signature, 1 the certificate */
		for (q = e.d, rem = e.n; !attr_at(q, rem, &c) && c.pad <= rem;
		     q += c.pad, rem -= c.pad) {
			if (c.id == 0) {
				sig = c.d;
				sig_n = c.n;
			} else if (c.id == 1) {
				pay = c.d;
				pay_n = c.n;
			}
		}
		if (!sig) {
			*why = "a chain element has no signature";
			return -1;
		}
		step = e.pad < len - off ? e.pad : len - off;
		if (pay) {
			const uint8_t *t, *s;
			size_t tn, sn;
			uint8_t b[PUBKEY_LEN + 8];

			/* the key it certifies signs what follows */
			if (!blobmsg_find(pay, pay_n, "ucert", 2, &t, &tn) &&
			    !blobmsg_find(t, tn, "pubkey", 3, &s, &sn) &&
			    usign_text((const char *)s, sn, b, sizeof(b)) ==
			    PUBKEY_LEN && !memcmp(b, "Ed", 2)) {
				u->have_cert = 1;
				memcpy(u->cert_fp, b + 2, 8);
				memcpy(u->cert_pub, b + 10, 32);
			}
		} else {
			uint8_t b[SIG_LEN + 8];

			if (n_sig++) {
				*why = "more than one image signature in the "
				       "chain";
				return -1;
			}
			if (usign_text((const char *)sig, sig_n, b, sizeof(b)) !=
			    SIG_LEN || memcmp(b, "Ed", 2)) {
				*why = "the image signature is not a usign "
				       "signature";
				return -1;
			}
			u->sig_off = off;
			u->sig_len = step;
			memcpy(u->sig_fp, b + 2, 8);
		}
		off += step;
	}
	if (!n_sig) {
		*why = "no image signature in the chain";
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Signing                                                             */

int fw_usign_element(const struct fw_usign_key *k, const struct fw_out *o,
		     uint64_t len, uint8_t **elem, size_t *n,
		     struct fw_error *err)
{
	uint8_t sig[SIG_LEN], *msg, *e;
	char b64[(SIG_LEN + 2) / 3 * 4 + 1], fp[17], text[160];
	size_t sl = 64, tn, raw, pad;
	EVP_PKEY *pk = NULL;
	EVP_MD_CTX *c = NULL;
	int ok;

	*elem = NULL;
	*n = 0;
	if (len > SIZE_MAX - 1)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	/* Ed25519 reads the message twice: it must lie in one buffer */
	msg = malloc(len ? (size_t)len : 1);
	if (!msg)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	fw_out_read(o, 0, msg, (size_t)len);
	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, k->seed, 32);
	c = EVP_MD_CTX_new();
	ok = pk && c && EVP_DigestSignInit(c, NULL, NULL, NULL, pk) == 1 &&
	     EVP_DigestSign(c, sig + 10, &sl, msg, (size_t)len) == 1 &&
	     sl == 64;
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(pk);
	free(msg);
	if (!ok)
		return fw_error_ssl(err, FW_EKEY, NULL, "Ed25519 signing "
				    "failed");
	/* usign -S: the signature file */
	memcpy(sig, "Ed", 2);
	memcpy(sig + 2, k->fp, 8);
	{
		char *enc = fw_base64_encode(sig, sizeof(sig));

		if (!enc)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		snprintf(b64, sizeof(b64), "%s", enc);
		free(enc);
	}
	fw_usign_fp_hex(k->fp, fp);
	tn = (size_t)snprintf(text, sizeof(text), "%ssigned by key %s\n%s\n",
			      COMMENT, fp, b64);
	/* ucert -A: a blob (id 0) holding it as attribute 0, padded */
	raw = 4 + tn;
	pad = (raw + 3) & ~(size_t)3;
	e = calloc(1, 4 + pad);
	if (!e)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	fw_put_be32(e, (uint32_t)(4 + pad));
	fw_put_be32(e + 4, (uint32_t)raw);
	memcpy(e + 8, text, tn);
	*elem = e;
	*n = 4 + pad;
	return FW_OK;
}
