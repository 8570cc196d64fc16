// SPDX-License-Identifier: GPL-2.0-or-later
/* Sign and verify buffers with fresh RSA and EC keys; tampering is caught. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fwsign/fwsign.h"
#include "../../src/signer_int.h"
#include "t.h"

/* fw_feed_fn: n zeros in pieces of 777 bytes; fails after the first
 * piece when ctx is set. */
static int feed_zeros(void *ctx, uint64_t n, fw_put_fn put, void *put_ctx)
{
	static const uint8_t z[777];

	while (n) {
		size_t k = n < sizeof(z) ? (size_t)n : sizeof(z);

		if (put(put_ctx, z, k))
			return -1;
		if (ctx)
			return -1;
		n -= k;
	}
	return 0;
}

static struct fw_signer *signer(const char *dir, const char *name,
				int rsa, const char *ec, const char *hash)
{
	char prefix[512], key[600], crt[600];
	struct fw_keygen_opts ko = { .prefix = prefix, .subject = name,
				     .rsa_bits = rsa, .ec = ec };
	struct fw_key_opts so = { .key = key, .cert = crt, .hash = hash };
	struct fw_signer *s = NULL;
	struct fw_error err;

	snprintf(prefix, sizeof(prefix), "%s/%s", dir, name);
	snprintf(key, sizeof(key), "%s.key", prefix);
	snprintf(crt, sizeof(crt), "%s.crt", prefix);
	CHECK(fw_keygen(&ko, &err) == 0, "keygen %s: %s", name, err.msg);
	CHECK(fw_signer_open(&so, &s, &err) == 0, "open %s: %s", name, err.msg);
	return s;
}

static uint8_t *signed_copy(struct fw_signer *s, const uint8_t *c, size_t n,
			    size_t *len)
{
	uint8_t *t = NULL, *out;
	size_t tl = 0;
	struct fw_error err;

	CHECK(fw_sign_trailer(s, c, n, &t, &tl, &err) == 0, "%s", err.msg);
	out = malloc(n + tl);
	memcpy(out, c, n);
	memcpy(out + n, t, tl);
	free(t);
	*len = n + tl;
	return out;
}

/* Both signers (template and CMS) sign the 3 segments S, LEN bytes in
 * all, as WANT (the whole content signed at once). */
static void segs_sign_as(struct fw_signer *fast, struct fw_signer *cms,
			 const struct fw_seg *s, size_t len,
			 const uint8_t *want, size_t lwant, int bits,
			 const char *what)
{
	struct fw_error err = { 0 };
	uint8_t *t1 = NULL, *t2 = NULL;
	size_t l1 = 0, l2 = 0;

	CHECK(fw_sign_trailer_segs(fast, s, 3, len, &t1, &l1, &err) == 0 &&
	      fw_sign_trailer_segs(cms, s, 3, len, &t2, &l2, &err) == 0,
	      "%s", err.msg);
	CHECK(want && l1 == lwant && l2 == lwant && t1 && t2 &&
	      !memcmp(t1, want, lwant) && !memcmp(t2, want, lwant),
	      "RSA-%d: %s signs as the whole", bits, what);
	free(t1);
	free(t2);
}

int main(void)
{
	char dir[] = "/tmp/fwsign-test-XXXXXX", crt[600], why[200];
	uint8_t content[5000];
	struct fw_verifier *v;
	struct fw_error err;
	struct fw_signer *a, *b, *ec;
	uint8_t *sa, *sa2, *sb, *se;
	size_t la, la2, lb, le;
	struct fw_modsig ms;

	if (!mkdtemp(dir))
		return 2;
	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (uint8_t)(i * 7);
	a = signer(dir, "vendor", 2048, NULL, "sha256");
	b = signer(dir, "other", 2048, NULL, "sha256");
	ec = signer(dir, "ecvendor", 0, "p256", "sha384");
	snprintf(crt, sizeof(crt), "%s/vendor.crt", dir);
	CHECK(fw_verifier_open(crt, &v, &err) == 0, "%s", err.msg);

	sa = signed_copy(a, content, sizeof(content), &la);
	sa2 = signed_copy(a, content, sizeof(content), &la2);
	CHECK(la == la2 && !memcmp(sa, sa2, la), "RSA signatures are deterministic");
	CHECK(fw_modsig_find(sa, la, &ms, why, sizeof(why)) == 1, "%s", why);
	CHECK(ms.content_len == sizeof(content), "content_len %zu", ms.content_len);
	CHECK(fw_verify_buffer(v, sa, la, why, sizeof(why)) == FW_SIG_GOOD, "good: %s", why);

	sa[17] ^= 1;
	CHECK(fw_verify_buffer(v, sa, la, why, sizeof(why)) == FW_SIG_BAD,
	      "changed byte: %s", why);
	sa[17] ^= 1;
	sa[ms.sig_off + ms.sig_len - 3] ^= 0x40;	/* inside the RSA signature */
	CHECK(fw_verify_buffer(v, sa, la, why, sizeof(why)) == FW_SIG_BAD,
	      "changed signature: %s", why);

	sb = signed_copy(b, content, sizeof(content), &lb);
	CHECK(fw_verify_buffer(v, sb, lb, why, sizeof(why)) == FW_SIG_FOREIGN,
	      "foreign: %s", why);
	CHECK(fw_verify_buffer(v, content, sizeof(content), why, sizeof(why)) ==
	      FW_SIG_UNSIGNED, "unsigned");

	se = signed_copy(ec, content, sizeof(content), &le);
	CHECK(!fw_signer_has_template(ec), "EC signatures vary: no template");
	fw_verifier_free(v);
	snprintf(crt, sizeof(crt), "%s/ecvendor.crt", dir);
	CHECK(fw_verifier_open(crt, &v, &err) == 0, "%s", err.msg);
	CHECK(fw_verify_buffer(v, se, le, why, sizeof(why)) == FW_SIG_GOOD,
	      "ec good: %s", why);

	/* A key that does not match the certificate is refused. */
	{
		char key[600];
		struct fw_key_opts so = { .key = key, .cert = crt };
		struct fw_signer *x = NULL;

		snprintf(key, sizeof(key), "%s/vendor.key", dir);
		CHECK(fw_signer_open(&so, &x, &err) == FW_EKEY && !x,
		      "mismatch refused: %s", err.msg);
		CHECK(strstr(err.msg, "does not match") != NULL, "%s", err.msg);
	}
	/* RSA signatures from the template are OpenSSL CMS's, byte for
	 * byte: key sizes, hashes, key id or issuer and serial, content whole
	 * or in segments with holes. */
	{
		static const struct { int bits; const char *hash; int keyid; } t[] = {
			{ 2048, "sha256", 0 }, { 2048, "sha512", 1 },
			{ 3072, "sha384", 0 }, { 4096, "sha256", 1 },
		};
		static uint8_t holes[70000];
		struct fw_seg seg[3] = {
			{ content, sizeof(content), NULL, NULL },
			{ NULL, 60000, NULL, NULL },
			{ content, 5000, NULL, NULL },
		};
		/* the hole streamed by a feed, in odd pieces (squashfs) */
		int fails = 0;
		struct fw_seg fed[3] = {
			{ content, sizeof(content), NULL, NULL },
			{ NULL, 60000, feed_zeros, NULL },
			{ content, 5000, NULL, NULL },
		};
		struct fw_seg bad[3] = {
			{ content, sizeof(content), NULL, NULL },
			{ NULL, 60000, feed_zeros, &fails },
			{ content, 5000, NULL, NULL },
		};

		memcpy(holes, content, sizeof(content));
		memcpy(holes + 65000, content, 5000);
		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			char name[64], key[600], cert[600];
			struct fw_key_opts so = { .key = key, .cert = cert,
						  .hash = t[i].hash,
						  .use_keyid = t[i].keyid };
			struct fw_signer *fast = NULL, *cms = NULL;
			uint8_t *t1 = NULL, *t2 = NULL, *t3 = NULL;
			size_t l1 = 0, l2 = 0, l3 = 0;

			snprintf(name, sizeof(name), "tmpl%zu", i);
			fw_signer_free(signer(dir, name, t[i].bits, NULL, t[i].hash));
			snprintf(key, sizeof(key), "%s/%s.key", dir, name);
			snprintf(cert, sizeof(cert), "%s/%s.crt", dir, name);
			CHECK(fw_signer_open(&so, &fast, &err) == 0, "%s", err.msg);
			so.cms_only = 1;
			CHECK(fw_signer_open(&so, &cms, &err) == 0, "%s", err.msg);
			if (!fast || !cms)
				continue;
			CHECK(fw_signer_has_template(fast) &&
			      !fw_signer_has_template(cms),
			      "RSA-%d: the template is used, and only then",
			      t[i].bits);
			for (size_t n = 0; n <= sizeof(content); n += 2500) {
				CHECK(fw_sign_trailer(fast, content, n, &t1, &l1, &err) == 0 &&
				      fw_sign_trailer(cms, content, n, &t2, &l2, &err) == 0,
				      "%s", err.msg);
				CHECK(l1 == l2 && t1 && t2 && !memcmp(t1, t2, l1),
				      "RSA-%d %s keyid %d, %zu bytes: template and "
				      "CMS differ", t[i].bits, t[i].hash, t[i].keyid, n);
				free(t1);
				free(t2);
				t1 = t2 = NULL;
			}
			CHECK(fw_sign_trailer(cms, holes, sizeof(holes), &t3, &l3, &err) == 0,
			      "%s", err.msg);
			segs_sign_as(fast, cms, seg, sizeof(holes), t3, l3,
				     t[i].bits, "segments with a hole");
			segs_sign_as(fast, cms, fed, sizeof(holes), t3, l3,
				     t[i].bits, "a segment fed in pieces");
			CHECK(fw_sign_trailer_segs(fast, bad, 3, sizeof(holes), &t1, &l1, &err) != 0 &&
			      !t1 && fw_sign_trailer_segs(cms, bad, 3, sizeof(holes), &t2, &l2, &err) != 0 &&
			      !t2, "RSA-%d: a feed that fails fails the signature",
			      t[i].bits);
			free(t3);
			fw_signer_free(fast);
			fw_signer_free(cms);
		}
	}
	/* keygen never overwrites a key */
	{
		char prefix[600];
		struct fw_keygen_opts ko = { .prefix = prefix, .rsa_bits = 2048 };

		snprintf(prefix, sizeof(prefix), "%s/vendor", dir);
		CHECK(fw_keygen(&ko, &err) != 0, "existing key overwritten");
	}
	fw_verifier_free(v);
	fw_signer_free(a);
	fw_signer_free(b);
	fw_signer_free(ec);
	free(sa);
	free(sa2);
	free(sb);
	free(se);
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 2;
	}
	return t_done();
}
