// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What attestations need from the library (fwsign/attest.h): key ids, the
 * digest of raw signatures, and the sha256 of an image and of every
 * regular file in it, read through the formats as signing reads them (in
 * a vendor blob: of every filesystem in it, "part:path").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fwsign/attest.h"
#include "fwsign/stack.h"
#include "signer_int.h"
#include "../formats/format.h"

static void hex(const unsigned char *md, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * n] = '\0';
}

const EVP_MD *fw_raw_md(EVP_PKEY *k)
{
	int bits = EVP_PKEY_get_bits(k);

	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC || bits <= 256)
		return EVP_sha256();
	return bits <= 384 ? EVP_sha384() : EVP_sha512();
}

int fw_cert_keyid(X509 *x, char out[65], struct fw_error *err)
{
	unsigned char *der = NULL, md[32];
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);

	out[0] = '\0';
	if (n <= 0 || !EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(),
				  NULL)) {
		OPENSSL_free(der);
		return fw_error_ssl(err, FW_EKEY, NULL,
				    "cannot encode the certificate's key");
	}
	OPENSSL_free(der);
	hex(md, sizeof(md), out);
	return FW_OK;
}

int fw_sha256_file(const char *path, char out[FW_SHA256_HEX],
		   struct fw_error *err)
{
	unsigned char md[32];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t *buf = malloc(1 << 20);
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = FW_OK;
	ssize_t r = 0;

	out[0] = '\0';
	if (fd < 0) {
		rc = fw_error_set(err, errno == ENOENT ? FW_EINPUT : FW_EIO,
				  path, "cannot open: %s", strerror(errno));
		goto out;
	}
	if (!c || !buf || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	while ((r = read(fd, buf, 1 << 20)) > 0)
		EVP_DigestUpdate(c, buf, (size_t)r);
	if (r < 0 || EVP_DigestFinal_ex(c, md, NULL) != 1) {
		rc = fw_error_set(err, FW_EIO, path, "cannot read: %s",
				  strerror(errno));
		goto out;
	}
	hex(md, sizeof(md), out);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	EVP_MD_CTX_free(c);
	return rc;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct fw_file_digest *)a)->path,
		      ((const struct fw_file_digest *)b)->path);
}

/* The bytes of a regular entry, as the format hands them out. */
static int entry_sha256(struct fw_image *img, size_t idx,
			struct fw_file_digest *d, struct fw_error *err)
{
	const struct fw_format *f = img->fmt;
	struct fw_bytes b;
	unsigned char md[32];
	int rc;

	memset(&b, 0, sizeof(b));
	if (f->map) {
		rc = f->map(img, idx, &b, err);
	} else {
		rc = f->read(img, idx, &b.owned, &b.len, err);
		b.p = b.owned;
	}
	if (rc) {
		fw_bytes_release(&b);
		return rc;
	}
	if (!EVP_Digest(b.len ? b.p : (const uint8_t *)"", b.len, md, NULL,
			EVP_sha256(), NULL)) {
		fw_bytes_release(&b);
		return fw_error_ssl(err, FW_EIO, img->ent[idx].path,
				    "sha256 failed");
	}
	hex(md, sizeof(md), d->sha256);
	d->size = b.len;
	fw_bytes_release(&b);
	return FW_OK;
}

static int image_digests(const char *path, struct fw_digests *d,
			 struct fw_error *err);

/* A blob's filesystems: their files, each path prefixed "part:". */
static int part_digests(void *arg, const char *part, const char *file,
			struct fw_error *err)
{
	struct fw_digests *d = arg, one;
	struct fw_file_digest *v;
	int rc = image_digests(file, &one, err);

	if (rc) {
		/* name the part, not the temporary copy */
		snprintf(err->file, sizeof(err->file), "%s", part);
		return rc;
	}
	v = realloc(d->v, (d->n + one.n + 1) * sizeof(*v));
	if (!v) {
		fw_digests_free(&one);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	d->v = v;
	for (size_t i = 0; i < one.n; i++) {
		struct fw_file_digest x = one.v[i];

		if (asprintf(&x.path, "%s:%s", part, one.v[i].path) < 0) {
			fw_digests_free(&one);
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		}
		d->v[d->n++] = x;
	}
	fw_digests_free(&one);
	return FW_OK;
}

int fw_image_digests(const char *path, struct fw_digests *d,
		     struct fw_error *err)
{
	struct fw_stack_opts so = { .input = path, .no_inject_cert = 1 };
	struct fw_stack *s = NULL;
	struct fw_error e;
	int rc;

	/* a vendor blob: the files of every filesystem in it */
	fw_error_clear(&e);
	if (fw_stack_open(&so, &s, &e) == FW_OK && fw_stack_composite(s)) {
		memset(d, 0, sizeof(*d));
		rc = fw_stack_each_fs(s, part_digests, d, err);
		fw_stack_close(s);
		if (rc) {
			fw_digests_free(d);
			return rc;
		}
		if (d->n)
			qsort(d->v, d->n, sizeof(*d->v), by_path);
		return FW_OK;
	}
	fw_stack_close(s);
	return image_digests(path, d, err);
}

static int image_digests(const char *path, struct fw_digests *d,
			 struct fw_error *err)
{
	struct fw_image *img = NULL;
	size_t *first = NULL;	/* entry index -> digest index */
	int rc;

	memset(d, 0, sizeof(*d));
	rc = fw_image_open(path, NULL, &img, err);
	if (rc)
		return rc;
	d->v = calloc(img->n + 1, sizeof(*d->v));
	first = calloc(img->n + 1, sizeof(*first));
	if (!d->v || !first) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < img->n && !rc; i++) {
		const struct fw_entry *e = &img->ent[i];
		struct fw_file_digest *x = &d->v[d->n];

		if (!S_ISREG(e->st.st_mode))
			continue;
		x->path = strdup(e->path);
		if (!x->path) {
			rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
			break;
		}
		first[i] = d->n++;
		/* a later name of a hard link: the bytes of its first name */
		if (e->link_of != FW_NO_LINK && e->link_of < i &&
		    S_ISREG(img->ent[e->link_of].st.st_mode)) {
			const struct fw_file_digest *o = &d->v[first[e->link_of]];

			memcpy(x->sha256, o->sha256, sizeof(x->sha256));
			x->size = o->size;
			continue;
		}
		rc = entry_sha256(img, i, x, err);
		if (rc && !err->file[0])
			snprintf(err->file, sizeof(err->file), "%s:%s", path,
				 e->path);
	}
	if (!rc)
		qsort(d->v, d->n, sizeof(*d->v), by_path);
out:
	free(first);
	fw_image_close(img);
	if (rc)
		fw_digests_free(d);
	return rc;
}

const struct fw_file_digest *fw_digests_find(const struct fw_digests *d,
					     const char *path)
{
	const struct fw_file_digest key = { .path = (char *)path };

	if (!d->n)
		return NULL;
	return bsearch(&key, d->v, d->n, sizeof(*d->v), by_path);
}

void fw_digests_free(struct fw_digests *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].path);
	free(d->v);
	memset(d, 0, sizeof(*d));
}
