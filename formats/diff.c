// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fwsign diff: two inputs side by side.  Vendor blobs are walked as two
 * trees of layers by part path; a wrapper counts as changed only by what
 * its parts imply when rebuilding the old one around the new parts gives
 * the new bytes exactly (the same code that signs), a kernel only by its
 * certificate when putting the new one's certificate in the old one gives
 * the new one exactly.  Filesystems are compared file by file: type,
 * metadata (mode, owner, mtime, device, link target, hard links, inode
 * number, every xattr), and content, where a signed file whose bytes
 * before its trailer are the old file (or the old file's content before
 * its old trailer) is a signature added or replaced, signers named.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "fwsign/diff.h"
#include "fwsign/kernel.h"
#include "fwsign/stack.h"
#include "format.h"
#include "layer.h"
#include "../src/io.h"
#include "../src/codec.h"
#include "../src/signer_int.h"

struct dctx {
	struct fw_diff *d;
	struct fw_error *err;
	char *tmpdir;
	unsigned seq;
};

static const char *const names[FW_CH_N] = {
	[FW_CH_SIG_ADDED] = "signature added",
	[FW_CH_SIG_REPLACED] = "signature replaced",
	[FW_CH_CERT] = "kernel certificate",
	[FW_CH_LAYER] = "layer rebuilt",
	[FW_CH_CONTENT] = "content changed",
	[FW_CH_METADATA] = "metadata changed",
	[FW_CH_TYPE] = "type changed",
	[FW_CH_ADDED] = "added",
	[FW_CH_REMOVED] = "removed",
	[FW_CH_FIELD] = "field changed",
	[FW_CH_IMA] = "IMA signature",
};

const char *fw_change_name(enum fw_change k)
{
	return k < FW_CH_N ? names[k] : "?";
}

int fw_change_expected(enum fw_change k)
{
	return k == FW_CH_SIG_ADDED || k == FW_CH_SIG_REPLACED ||
	       k == FW_CH_CERT || k == FW_CH_LAYER || k == FW_CH_IMA;
}

static int note(struct dctx *c, enum fw_change k, const char *path,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int note(struct dctx *c, enum fw_change k, const char *path,
		const char *fmt, ...)
{
	struct fw_change_rec *v = realloc(c->d->v, (c->d->n + 1) * sizeof(*v));
	va_list ap;
	char *det = NULL;

	if (!v)
		return fw_error_set(c->err, FW_EIO, NULL, "out of memory");
	c->d->v = v;
	va_start(ap, fmt);
	if (vasprintf(&det, fmt, ap) < 0)
		det = NULL;
	va_end(ap);
	v[c->d->n].kind = k;
	v[c->d->n].path = strdup(path);
	v[c->d->n].detail = det;
	if (!v[c->d->n].path || !det) {
		free(v[c->d->n].path);
		free(det);
		return fw_error_set(c->err, FW_EIO, NULL, "out of memory");
	}
	c->d->n++;
	c->d->counts[k]++;
	if (!fw_change_expected(k))
		c->d->only_signatures = 0;
	return FW_OK;
}

/* ------------------------------------------------------------------ */
/* Signatures                                                          */

/* Who signed a trailer: the issuer and serial, or the key id. */
static void signer_of(const uint8_t *sig, size_t len, char *out, size_t n)
{
	const unsigned char *q = sig;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &q, (long)len);
	STACK_OF(CMS_SignerInfo) *sis = cms ? CMS_get0_SignerInfos(cms) : NULL;
	ASN1_OCTET_STRING *kid = NULL;
	X509_NAME *iss = NULL;
	ASN1_INTEGER *sn = NULL;

	snprintf(out, n, "unknown signer");
	if (sis && sk_CMS_SignerInfo_num(sis) > 0 &&
	    CMS_SignerInfo_get0_signer_id(sk_CMS_SignerInfo_value(sis, 0),
					  &kid, &iss, &sn) == 1) {
		if (iss) {
			char name[256];
			BIGNUM *bn = sn ? ASN1_INTEGER_to_BN(sn, NULL) : NULL;
			char *hex = bn ? BN_bn2hex(bn) : NULL;

			fw_cert_subject_name(iss, name, sizeof(name));
			snprintf(out, n, "'%s' serial %s", name,
				 hex ? hex : "?");
			OPENSSL_free(hex);
			BN_free(bn);
		} else if (kid) {
			size_t k = 0;

			k += (size_t)snprintf(out, n, "key id ");
			for (int i = 0; i < kid->length && k + 3 < n; i++)
				k += (size_t)snprintf(out + k, n - k, "%02x",
						      kid->data[i]);
		}
	}
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
}

/* The bytes a signature covers: before the trailer, or all of them when
 * there is none (or it does not parse: a new signature covers it all). */
static size_t content_len(const uint8_t *p, size_t len, struct fw_modsig *ms,
			  int *has)
{
	char why[64];

	*has = fw_modsig_find(p, len, ms, why, sizeof(why)) == 1;
	return *has ? ms->content_len : len;
}

/* Two versions of a file's bytes. */
static int cmp_bytes(struct dctx *c, const char *path, const uint8_t *a,
		     size_t al, const uint8_t *b, size_t bl, const char *where)
{
	struct fw_modsig ma, mb;
	size_t ca, cb;
	int ha, hb;
	char sa[320], sb[320];

	if (al == bl && !memcmp(a, b, al)) {
		c->d->unchanged++;
		return FW_OK;
	}
	ca = content_len(a, al, &ma, &ha);
	cb = content_len(b, bl, &mb, &hb);
	if (hb && ca == cb && !memcmp(a, b, ca)) {
		signer_of(b + mb.sig_off, mb.sig_len, sb, sizeof(sb));
		if (!ha)
			return note(c, FW_CH_SIG_ADDED, path, "%sby %s", where,
				    sb);
		signer_of(a + ma.sig_off, ma.sig_len, sa, sizeof(sa));
		return note(c, FW_CH_SIG_REPLACED, path, "%s%s -> %s", where,
			    sa, sb);
	}
	/* a damaged old trailer is content: the new signature covers it */
	if (hb && !ha && al == cb && !memcmp(a, b, al))
		return note(c, FW_CH_SIG_ADDED, path, "%sby %s", where, sb);
	return note(c, FW_CH_CONTENT, path, "%s%zu -> %zu bytes", where, al,
		    bl);
}

/* ------------------------------------------------------------------ */
/* Files                                                               */

static int get_bytes(struct fw_image *img, size_t idx, struct fw_bytes *b,
		     struct fw_error *err)
{
	const struct fw_format *f = img->fmt;
	int rc;

	memset(b, 0, sizeof(*b));
	if (f->map)
		return f->map(img, idx, b, err);
	rc = f->read(img, idx, &b->owned, &b->len, err);
	b->p = b->owned;
	return rc;
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symlink";
	case S_IFCHR: return "character device";
	case S_IFBLK: return "block device";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	}
	return "?";
}

/* security.capability and security.ima, said in words. */
static void xattr_words(const char *name, const uint8_t *v, size_t len,
			char *out, size_t n)
{
	if (!strcmp(name, "security.capability") && len >= 20) {
		uint32_t magic = fw_le32(v);
		uint64_t perm = fw_le32(v + 4) | (uint64_t)fw_le32(v + 12) << 32;
		uint64_t inh = fw_le32(v + 8) | (uint64_t)fw_le32(v + 16) << 32;

		snprintf(out, n, "capabilities v%u permitted=0x%llx "
			 "inheritable=0x%llx%s", magic >> 24,
			 (unsigned long long)perm, (unsigned long long)inh,
			 magic & 1 ? " effective" : "");
		return;
	}
	if (!strcmp(name, "security.ima") && len >= 2) {
		static const char *const algo[] = { "md4", "md5", "sha1",
			"rmd160", "sha256", "sha384", "sha512", "sha224" };

		if (v[0] == 3 && len >= 9)
			snprintf(out, n, "IMA signature v%u, %s, key id "
				 "%02x%02x%02x%02x", v[1],
				 v[2] < 8 ? algo[v[2]] : "?", v[3], v[4], v[5],
				 v[6]);
		else if (v[0] == 4)
			snprintf(out, n, "IMA digest, %s",
				 v[1] < 8 ? algo[v[1]] : "?");
		else
			snprintf(out, n, "IMA type %u, %zu bytes", v[0], len);
		return;
	}
	{
		size_t k = 0;
		int text = 1;

		for (size_t i = 0; i < len; i++)
			if (v[i] < 0x20 || v[i] > 0x7e)
				text = i + 1 == len && !v[i];
		if (text) {
			snprintf(out, n, "\"%.*s\"", (int)(len < 200 ? len : 200),
				 (const char *)v);
			return;
		}
		for (size_t i = 0; i < len && k + 3 < n && i < 64; i++)
			k += (size_t)snprintf(out + k, n - k, "%02x", v[i]);
	}
}

/* What a new value of an xattr is: an IMA signature is what signing
 * with --ima makes; anything else is metadata. */
static enum fw_change xattr_change(const struct fw_xattr *x)
{
	return !strcmp(x->name, "security.ima") && x->len >= 9 &&
	       x->value[0] == 3 ? FW_CH_IMA : FW_CH_METADATA;
}

static int cmp_xattrs(struct dctx *c, const char *path, struct fw_image *ia,
		      size_t a, struct fw_image *ib, size_t b)
{
	struct fw_xattr *xa = NULL, *xb = NULL;
	size_t na = 0, nb = 0;
	char wa[512], wb[512];
	int rc = FW_OK;

	if (!ia->fmt->xattrs || !ib->fmt->xattrs)
		return FW_OK;
	if (ia->fmt->xattrs(ia, a, &xa, &na, c->err) ||
	    ib->fmt->xattrs(ib, b, &xb, &nb, c->err)) {
		rc = c->err->code;
		goto out;
	}
	for (size_t i = 0; i < na && !rc; i++) {
		size_t j;

		for (j = 0; j < nb; j++)
			if (!strcmp(xa[i].name, xb[j].name))
				break;
		xattr_words(xa[i].name, xa[i].value, xa[i].len, wa, sizeof(wa));
		if (j == nb) {
			rc = note(c, FW_CH_METADATA, path, "xattr %s removed "
				  "(was %s)", xa[i].name, wa);
			continue;
		}
		if (xa[i].len == xb[j].len &&
		    !memcmp(xa[i].value, xb[j].value, xa[i].len))
			continue;
		xattr_words(xb[j].name, xb[j].value, xb[j].len, wb, sizeof(wb));
		rc = note(c, xattr_change(&xb[j]), path, "xattr %s: %s -> %s",
			  xa[i].name, wa, wb);
	}
	for (size_t j = 0; j < nb && !rc; j++) {
		size_t i;

		for (i = 0; i < na; i++)
			if (!strcmp(xa[i].name, xb[j].name))
				break;
		if (i < na)
			continue;
		xattr_words(xb[j].name, xb[j].value, xb[j].len, wb, sizeof(wb));
		rc = note(c, xattr_change(&xb[j]), path, "xattr %s added (%s)",
			  xb[j].name, wb);
	}
out:
	fw_xattrs_free(xa, na);
	fw_xattrs_free(xb, nb);
	return rc;
}

/* A module compressed the way kbuild does: compare what is inside. */
static int cmp_compressed(struct dctx *c, const char *path,
			  const uint8_t *a, size_t al, const uint8_t *b,
			  size_t bl, int *done)
{
	enum fw_codec ca = fw_codec_detect(a, al), cb = fw_codec_detect(b, bl);
	struct fw_codec_params pa, pb;
	uint8_t *da = NULL, *db = NULL;
	size_t dal, dbl;
	char why[128], where[32];
	int rc = FW_OK;

	*done = 0;
	if (ca == FW_CODEC_NONE || ca != cb ||
	    !fw_blob_maybe_module(a, al) || !fw_blob_maybe_module(b, bl))
		return FW_OK;
	if (fw_decompress(a, al, FW_DECOMPRESS_MAX, &pa, &da, &dal, why,
			  sizeof(why)) ||
	    fw_decompress(b, bl, FW_DECOMPRESS_MAX, &pb, &db, &dbl, why,
			  sizeof(why)))
		goto out;
	snprintf(where, sizeof(where), "inside %s: ", fw_codec_name(ca));
	rc = cmp_bytes(c, path, da, dal, db, dbl, where);
	*done = 1;
out:
	free(da);
	free(db);
	return rc;
}

static int cmp_entry(struct dctx *c, const char *prefix, struct fw_image *ia,
		     size_t a, struct fw_image *ib, size_t b)
{
	const struct fw_entry *ea = &ia->ent[a], *eb = &ib->ent[b];
	const struct fw_stat *sa = &ea->st, *sb = &eb->st;
	char *path;
	int rc = FW_OK, same_fs = !strcmp(ia->fmt->name, ib->fmt->name);

	if (asprintf(&path, "%s%s", prefix, *ea->path ? ea->path : ".") < 0)
		return fw_error_set(c->err, FW_EIO, NULL, "out of memory");
	if ((sa->st_mode & S_IFMT) != (sb->st_mode & S_IFMT)) {
		rc = note(c, FW_CH_TYPE, path, "%s -> %s",
			  type_name(sa->st_mode), type_name(sb->st_mode));
		goto out;
	}
	if ((sa->st_mode & 07777) != (sb->st_mode & 07777))
		rc = note(c, FW_CH_METADATA, path, "mode %04o -> %04o",
			  sa->st_mode & 07777, sb->st_mode & 07777);
	if (!rc && (sa->st_uid != sb->st_uid || sa->st_gid != sb->st_gid))
		rc = note(c, FW_CH_METADATA, path, "owner %u:%u -> %u:%u",
			  sa->st_uid, sa->st_gid, sb->st_uid, sb->st_gid);
	if (!rc && sa->st_mtime != sb->st_mtime)
		rc = note(c, FW_CH_METADATA, path, "mtime %lld -> %lld",
			  (long long)sa->st_mtime, (long long)sb->st_mtime);
	if (!rc && (S_ISCHR(sa->st_mode) || S_ISBLK(sa->st_mode)) &&
	    sa->st_rdev != sb->st_rdev)
		rc = note(c, FW_CH_METADATA, path, "device %llx -> %llx",
			  (unsigned long long)sa->st_rdev,
			  (unsigned long long)sb->st_rdev);
	if (!rc && S_ISLNK(sa->st_mode) &&
	    strcmp(ea->link_target ? ea->link_target : "",
		   eb->link_target ? eb->link_target : ""))
		rc = note(c, FW_CH_METADATA, path, "link target '%s' -> '%s'",
			  ea->link_target ? ea->link_target : "",
			  eb->link_target ? eb->link_target : "");
	/* inode numbers: what an image keeps (not two trees on a disk) */
	if (!rc && same_fs && strcmp(ia->fmt->name, "directory") &&
	    sa->st_ino != sb->st_ino)
		rc = note(c, FW_CH_METADATA, path, "inode %llu -> %llu",
			  (unsigned long long)sa->st_ino,
			  (unsigned long long)sb->st_ino);
	if (!rc && (ea->link_of == FW_NO_LINK) != (eb->link_of == FW_NO_LINK))
		rc = note(c, FW_CH_METADATA, path, "hard link %s",
			  ea->link_of == FW_NO_LINK ? "made" : "broken");
	if (!rc)
		rc = cmp_xattrs(c, path, ia, a, ib, b);
	if (!rc && S_ISREG(sa->st_mode) && ea->link_of == FW_NO_LINK) {
		struct fw_bytes ba, bb;
		int done;

		rc = get_bytes(ia, a, &ba, c->err);
		if (rc)
			goto out;
		rc = get_bytes(ib, b, &bb, c->err);
		if (rc) {
			fw_bytes_release(&ba);
			goto out;
		}
		rc = cmp_compressed(c, path, ba.p, ba.len, bb.p, bb.len, &done);
		if (!rc && !done)
			rc = cmp_bytes(c, path, ba.p, ba.len, bb.p, bb.len, "");
		fw_bytes_release(&ba);
		fw_bytes_release(&bb);
	}
out:
	free(path);
	return rc;
}

static int by_path(const void *x, const void *y, void *arg)
{
	const struct fw_image *img = arg;

	return strcmp(img->ent[*(const size_t *)x].path,
		      img->ent[*(const size_t *)y].path);
}

static size_t *sorted(struct fw_image *img)
{
	size_t *v = malloc((img->n + 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < img->n; i++)
		v[i] = i;
	qsort_r(v, img->n, sizeof(*v), by_path, img);
	return v;
}

/* Two filesystems, archives or trees, file by file. */
static int cmp_images(struct dctx *c, const char *prefix, const char *pa,
		      const char *pb)
{
	struct fw_image *ia = NULL, *ib = NULL;
	size_t *va = NULL, *vb = NULL, i = 0, j = 0;
	int rc;

	rc = fw_image_open(pa, NULL, &ia, c->err);
	if (!rc)
		rc = fw_image_open(pb, NULL, &ib, c->err);
	if (rc)
		goto out;
	if (strcmp(ia->fmt->name, ib->fmt->name)) {
		rc = note(c, FW_CH_FIELD, *prefix ? prefix : ".", "format %s "
			  "-> %s", ia->fmt->name, ib->fmt->name);
		goto out;
	}
	va = sorted(ia);
	vb = sorted(ib);
	if (!va || !vb) {
		rc = fw_error_set(c->err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	while (!rc && (i < ia->n || j < ib->n)) {
		int k = i == ia->n ? 1 : j == ib->n ? -1 :
			strcmp(ia->ent[va[i]].path, ib->ent[vb[j]].path);
		char *path;

		if (k == 0) {
			rc = cmp_entry(c, prefix, ia, va[i++], ib, vb[j++]);
			continue;
		}
		if (asprintf(&path, "%s%s", prefix, k < 0 ?
			     ia->ent[va[i]].path : ib->ent[vb[j]].path) < 0)
			return fw_error_set(c->err, FW_EIO, NULL,
					    "out of memory");
		rc = note(c, k < 0 ? FW_CH_REMOVED : FW_CH_ADDED, path, "%s",
			  type_name(k < 0 ? ia->ent[va[i]].st.st_mode :
					    ib->ent[vb[j]].st.st_mode));
		free(path);
		if (k < 0)
			i++;
		else
			j++;
	}
out:
	free(va);
	free(vb);
	fw_image_close(ia);
	fw_image_close(ib);
	return rc;
}

/* A filesystem image's own fields, as one line (empty: not one). */
static void fs_fields(const uint8_t *p, size_t len, char *out, size_t n)
{
	static const char *const comp[] = { "?", "gzip", "lzma", "lzo",
					     "xz", "lz4", "zstd" };

	out[0] = '\0';
	if (len >= 96 && !memcmp(p, "hsqs", 4)) {
		unsigned c = p[20] | p[21] << 8, flags = p[24] | p[25] << 8;
		size_t k = (size_t)snprintf(out, n, "squashfs compressor %s, "
					    "block size %u, flags 0x%04x, "
					    "mkfs time %u, %u inodes",
					    c < 7 ? comp[c] : "?",
					    fw_le32(p + 12), flags,
					    fw_le32(p + 8), fw_le32(p + 4));

		/* the compressor's options: a metadata block after it */
		if ((flags & 0x400) && len >= 98) {
			unsigned h = p[96] | p[97] << 8, sz = h & 0x7fff;

			k += (size_t)snprintf(out + k, n - k, ", options");
			for (unsigned i = 0; i < sz && 98 + i < len &&
			     k + 3 < n && i < 32; i++)
				k += (size_t)snprintf(out + k, n - k, " %02x",
						      p[98 + i]);
		}
		return;
	}
	if (len >= 2048 && p[1024 + 0x38] == 0x53 && p[1024 + 0x39] == 0xef) {
		const uint8_t *sb = p + 1024, *u = sb + 0x68;

		snprintf(out, n, "ext2/3/4 UUID %02x%02x%02x%02x-%02x%02x-"
			 "%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x, features "
			 "0x%x/0x%x/0x%x, block size %u, %u blocks, %u "
			 "inodes, label '%.16s'", u[0], u[1], u[2], u[3], u[4],
			 u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
			 u[13], u[14], u[15], fw_le32(sb + 0x5c),
			 fw_le32(sb + 0x60), fw_le32(sb + 0x64),
			 1024u << (sb[0x18] & 7), fw_le32(sb + 4),
			 fw_le32(sb), (const char *)sb + 0x78);
	}
}

static int cmp_fields(struct dctx *c, const char *path, const uint8_t *a,
		      size_t al, const uint8_t *b, size_t bl)
{
	char fa[512], fb[512];

	fs_fields(a, al, fa, sizeof(fa));
	fs_fields(b, bl, fb, sizeof(fb));
	if (!strcmp(fa, fb))
		return FW_OK;
	return note(c, FW_CH_FIELD, path, "%s -> %s", fa[0] ? fa : "(none)",
		    fb[0] ? fb : "(none)");
}

/* The same for two files by name (the head is enough). */
static int cmp_fields_files(struct dctx *c, const char *pa, const char *pb)
{
	uint8_t ha[4096], hb[4096];
	ssize_t na = 0, nb = 0;
	int fa = open(pa, O_RDONLY | O_CLOEXEC), fb = open(pb, O_RDONLY | O_CLOEXEC);

	if (fa >= 0)
		na = fw_pread_full(fa, ha, sizeof(ha), 0);
	if (fb >= 0)
		nb = fw_pread_full(fb, hb, sizeof(hb), 0);
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	if (na <= 0 || nb <= 0)
		return FW_OK;	/* directories: no fields */
	return cmp_fields(c, ".", ha, (size_t)na, hb, (size_t)nb);
}

/* ------------------------------------------------------------------ */
/* Layers                                                              */

static int tmp_file(struct dctx *c, const struct fw_node *n, char **path)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	*path = NULL;
	if (!c->tmpdir) {
		if (asprintf(&c->tmpdir, "%s/.fwsign-diff-XXXXXX",
			     tmp && *tmp ? tmp : "/tmp") < 0)
			c->tmpdir = NULL;
		if (!c->tmpdir || !mkdtemp(c->tmpdir)) {
			free(c->tmpdir);
			c->tmpdir = NULL;
			return fw_error_set(c->err, FW_EIO, "TMPDIR", "cannot "
					    "make a temporary directory: %s",
					    strerror(errno));
		}
	}
	if (asprintf(path, "%s/%u", c->tmpdir, ++c->seq) < 0) {
		*path = NULL;
		return fw_error_set(c->err, FW_EIO, NULL, "out of memory");
	}
	fd = open(*path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || fw_write_all(fd, n->p, n->len) || close(fd) < 0) {
		int e = errno;

		unlink(*path);
		return fw_error_set(c->err, FW_EIO, *path, "write: %s",
				    strerror(e));
	}
	return FW_OK;
}

static const char *fmt_of(const struct fw_node *n)
{
	return n->lay ? n->lay->name : "data";
}

static int same_out(const struct fw_out *o, const uint8_t *p, uint64_t len)
{
	uint8_t buf[65536];

	if (o->len != len)
		return 0;
	for (uint64_t off = 0; off < len; off += sizeof(buf)) {
		size_t k = len - off < sizeof(buf) ? len - off : sizeof(buf);

		fw_out_read(o, off, buf, k);
		if (memcmp(buf, p + off, k))
			return 0;
	}
	return 1;
}

static int cmp_node(struct dctx *c, struct fw_node *a, struct fw_node *b);

static int cmp_kernel(struct dctx *c, struct fw_node *a, struct fw_node *b)
{
	struct fw_kernel_info ia, ib, ki;
	struct fw_kernel_opts ko = { .replace = 1 };
	struct fw_error e;
	uint8_t *der = NULL, *o = NULL;
	size_t der_len, ol;
	const char *path = b->path[0] ? b->path : ".";
	int rc;

	fw_error_clear(&e);
	if (fw_kernel_info_buf(a->p, a->len, a->path, NULL, &ia, &e) ||
	    fw_kernel_info_buf(b->p, b->len, b->path, NULL, &ib, &e) ||
	    fw_kernel_cert_buf(b->p, b->len, b->path, &der, &der_len, &e))
		return note(c, FW_CH_CONTENT, path, "kernel changed (%s)",
			    e.msg);
	rc = fw_kernel_inject_buf(a->p, a->len, a->path, der, der_len, &ko,
				  &o, &ol, &ki, &e);
	if (!rc && ol == b->len && !memcmp(o, b->p, ol))
		rc = note(c, FW_CH_CERT, path, "slot: %s%s%s%s -> '%s'; "
			  "nothing else changed",
			  fw_kslot_state_name(ia.state),
			  ia.state == FW_KSLOT_CERT ? " '" : "",
			  ia.state == FW_KSLOT_CERT ? ia.subject : "",
			  ia.state == FW_KSLOT_CERT ? "'" : "", ib.subject);
	else
		rc = note(c, FW_CH_CONTENT, path, "kernel changed beyond its "
			  "certificate slot (slot: %s -> %s)",
			  fw_kslot_state_name(ia.state),
			  fw_kslot_state_name(ib.state));
	free(der);
	free(o);
	return rc;
}

/* The old container rebuilt around the new parts: the new one exactly? */
static int cmp_container(struct dctx *c, struct fw_node *a,
			 struct fw_node *b)
{
	const char *path = b->path[0] ? b->path : ".";
	struct fw_error e;
	int rc, same;

	if (a->n_part != b->n_part)
		return note(c, FW_CH_FIELD, path, "%s: %zu parts -> %zu",
			    fmt_of(a), a->n_part, b->n_part);
	for (size_t i = 0; i < a->n_part; i++)
		if (strcmp(a->part[i]->name, b->part[i]->name))
			return note(c, FW_CH_FIELD, path, "%s: part '%s' -> "
				    "'%s'", fmt_of(a), a->part[i]->name,
				    b->part[i]->name);
	for (size_t i = 0; i < a->n_part; i++) {
		rc = cmp_node(c, a->part[i], b->part[i]);
		if (rc)
			return rc;
	}
	if (a->len == b->len && !memcmp(a->p, b->p, a->len))
		return FW_OK;
	for (size_t i = 0; i < a->n_part; i++) {
		fw_out_free(&a->part[i]->out);
		if (fw_out_add(&a->part[i]->out, b->part[i]->p,
			       b->part[i]->len))
			return fw_error_set(c->err, FW_EIO, NULL,
					    "out of memory");
		a->part[i]->changed = 1;
	}
	fw_out_free(&a->out);
	fw_error_clear(&e);
	if (a->lay->rebuild(a, &e))
		return note(c, FW_CH_FIELD, path, "%s: cannot be rebuilt to "
			    "check it (%s)", fmt_of(a), e.msg);
	same = same_out(&a->out, b->p, b->len);
	return note(c, same ? FW_CH_LAYER : FW_CH_FIELD, path, "%s: %s",
		    fmt_of(a), same ? "only the sizes, offsets and checksums "
		    "its parts imply" : "header or padding bytes changed "
		    "beyond what its parts imply");
}

static int cmp_node(struct dctx *c, struct fw_node *a, struct fw_node *b)
{
	const char *path = b->path[0] ? b->path : ".";
	char *pa = NULL, *pb = NULL, *prefix = NULL;
	int rc;

	if (a->lay != b->lay)
		return note(c, FW_CH_TYPE, path, "%s -> %s", fmt_of(a),
			    fmt_of(b));
	if (!a->lay) {
		if (a->len == b->len && !memcmp(a->p, b->p, a->len))
			return FW_OK;
		return note(c, FW_CH_CONTENT, path, "%llu -> %llu bytes",
			    (unsigned long long)a->len,
			    (unsigned long long)b->len);
	}
	if (a->len == b->len && !memcmp(a->p, b->p, a->len) &&
	    a->lay->kind != FW_LK_FS)
		return FW_OK;
	switch (a->lay->kind) {
	case FW_LK_KERNEL:
		return cmp_kernel(c, a, b);
	case FW_LK_FS:
		rc = cmp_fields(c, path, a->p, a->len, b->p, b->len);
		if (!rc)
			rc = tmp_file(c, a, &pa);
		if (!rc)
			rc = tmp_file(c, b, &pb);
		if (!rc && asprintf(&prefix, "%s:", path) < 0)
			rc = fw_error_set(c->err, FW_EIO, NULL, "out of memory");
		if (!rc)
			rc = cmp_images(c, prefix, pa, pb);
		if (pa)
			unlink(pa);
		if (pb)
			unlink(pb);
		free(pa);
		free(pb);
		free(prefix);
		return rc;
	default:
		return cmp_container(c, a, b);
	}
}

int fw_diff(const char *old_path, const char *new_path, struct fw_diff *d,
	    struct fw_error *err)
{
	struct fw_stack_opts oa = { .input = old_path };
	struct fw_stack_opts ob = { .input = new_path };
	struct fw_stack *sa = NULL, *sb = NULL;
	struct dctx c = { .d = d, .err = err };
	int rc;

	memset(d, 0, sizeof(*d));
	d->only_signatures = 1;
	rc = fw_stack_open(&oa, &sa, err);
	if (!rc)
		rc = fw_stack_open(&ob, &sb, err);
	if (rc)
		goto out;
	if (fw_stack_composite(sa) != fw_stack_composite(sb)) {
		rc = note(&c, FW_CH_TYPE, ".", "%s -> %s",
			  fw_stack_composite(sa) ? "a vendor blob" :
						   "a filesystem or file",
			  fw_stack_composite(sb) ? "a vendor blob" :
						   "a filesystem or file");
	} else if (fw_stack_composite(sa)) {
		rc = cmp_node(&c, fw_stack_root(sa), fw_stack_root(sb));
	} else {
		rc = cmp_fields_files(&c, old_path, new_path);
		if (!rc)
			rc = cmp_images(&c, "", old_path, new_path);
	}
out:
	fw_stack_close(sa);
	fw_stack_close(sb);
	if (c.tmpdir) {
		rmdir(c.tmpdir);
		free(c.tmpdir);
	}
	return rc;
}

void fw_diff_free(struct fw_diff *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].path);
		free(d->v[i].detail);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

void fw_diff_json(const struct fw_diff *d, const char *old_path,
		  const char *new_path, FILE *f)
{
	fprintf(f, "{\"fwsign\":\"%s\",\"command\":\"diff\",\"old\":",
		FWSIGN_VERSION);
	fw_json_str(f, old_path);
	fputs(",\"new\":", f);
	fw_json_str(f, new_path);
	fprintf(f, ",\"only_signatures\":%s,\"summary\":{\"unchanged\":%zu",
		d->only_signatures ? "true" : "false", d->unchanged);
	for (int k = 0; k < FW_CH_N; k++) {
		fputc(',', f);
		fw_json_str(f, names[k]);
		fprintf(f, ":%zu", d->counts[k]);
	}
	fputs("},\"changes\":[", f);
	for (size_t i = 0; i < d->n; i++) {
		fputs(i ? ",\n{\"path\":" : "\n{\"path\":", f);
		fw_json_str(f, d->v[i].path);
		fputs(",\"change\":", f);
		fw_json_str(f, names[d->v[i].kind]);
		fprintf(f, ",\"expected\":%s,\"detail\":",
			fw_change_expected(d->v[i].kind) ? "true" : "false");
		fw_json_str(f, d->v[i].detail);
		fputc('}', f);
	}
	fputs("\n]}\n", f);
}
