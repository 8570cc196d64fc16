// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The tree of nested layers (layer.h): open by bidding at every level,
 * walk (sign, verify, scan) the leaves, rebuild the containers bottom-up,
 * write the result whole or not at all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "fwsign/kernel.h"
#include "fwsign/stack.h"
#include "fwsign/verity.h"
#include "format.h"
#include "layer.h"
#include "../src/io.h"
#include "../src/recstore.h"
#include "../src/codec.h"
#include "../src/signer_int.h"

#define MAX_NODES 100000

/* Every layer that bids on bytes, containers first. */
static const struct fw_layer *const layers[] = {
	&fw_layer_fwtool,
	&fw_layer_chk,
	&fw_layer_trx,
	&fw_layer_ubi,
	&fw_layer_fit,
	&fw_layer_sysupgrade,
	&fw_layer_flash,
	&fw_layer_uimage,
	&fw_layer_disk,
	&fw_layer_fat,
	&fw_layer_stream,
	NULL
};

static const struct fw_layer layer_fs = { .name = "filesystem",
					  .kind = FW_LK_FS };
static const struct fw_layer layer_kernel = { .name = "kernel",
					      .kind = FW_LK_KERNEL };

/* What the walk did to a leaf. */
enum mode { M_SCAN, M_SIGN, M_VERIFY };

struct leaf {
	const char *fs;		/* the format that opened it */
	struct fw_report rep;
	int have_rep;
	struct fw_kernel_info kinfo;
	int have_kinfo;
	int kernel_ok;		/* holds the certificate */
	/* a filesystem's kernel files (engine.c), summed after the walk:
	 * the kernel layers are counted on a thread of their own */
	size_t kn, kn_cert, kn_noslot;
	char note[512];
	void *map;		/* the signed filesystem, mapped */
	size_t map_len;
	struct fw_verity_info *vi;	/* its dm-verity tree (sign --verity) */
	/* walked ahead of the tree's walk (see ahead()), with its outcome */
	int done;
	int done_rc;
	struct fw_error done_err;
};

struct fw_stack {
	const struct fw_stack_opts *o;
	struct fw_node *root;
	void *map;
	size_t map_len;
	uint8_t *der;		/* the certificate, DER */
	size_t der_len;
	unsigned char der_sha[32];
	char *tmpdir;
	int tmpfd;		/* the temporary directory, locked */
	unsigned tmp_seq;
	size_t n_nodes;
	uint64_t decoded;	/* bytes streams decoded, all told */
	struct fw_report rep;	/* summed over the filesystems */
	size_t n_kernels, n_kernels_cert, n_kernels_noslot;
	size_t n_bad;
	int walked;
	const char *command;
	enum mode mode;
	struct fw_node **kernels;	/* the kernel leaves, for the thread */
	size_t n_kq;
};

/* ------------------------------------------------------------------ */
/* Output pieces                                                       */

static int out_grow(struct fw_out *o)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 8;
		void *p = realloc(o->v, cap * sizeof(*o->v));

		if (!p)
			return -1;
		o->v = p;
		o->cap = cap;
	}
	return 0;
}

int fw_out_add(struct fw_out *o, const void *p, uint64_t len)
{
	if (!len)
		return 0;
	if (out_grow(o))
		return -1;
	o->v[o->n++] = (struct fw_piece){ .p = p, .len = len };
	o->len += len;
	return 0;
}

int fw_out_fill(struct fw_out *o, uint8_t byte, uint64_t len)
{
	if (!len)
		return 0;
	if (out_grow(o))
		return -1;
	o->v[o->n++] = (struct fw_piece){ .p = NULL, .len = len, .fill = byte };
	o->len += len;
	return 0;
}

int fw_out_own(struct fw_out *o, void *buf)
{
	void **p = realloc(o->own, (o->n_own + 1) * sizeof(*p));

	if (!p)
		return -1;
	o->own = p;
	o->own[o->n_own++] = buf;
	return 0;
}

int fw_out_dup(struct fw_out *o, const void *p, uint64_t len)
{
	void *c;

	if (!len)
		return 0;
	c = malloc(len);
	if (!c)
		return -1;
	memcpy(c, p, len);
	if (fw_out_own(o, c)) {
		free(c);
		return -1;
	}
	return fw_out_add(o, c, len);
}

int fw_out_cat(struct fw_out *o, const struct fw_out *from)
{
	for (size_t i = 0; i < from->n; i++) {
		const struct fw_piece *pc = &from->v[i];

		if (pc->p ? fw_out_add(o, pc->p, pc->len) :
			    fw_out_fill(o, pc->fill, pc->len))
			return -1;
	}
	return 0;
}

void fw_out_free(struct fw_out *o)
{
	for (size_t i = 0; i < o->n_own; i++)
		free(o->own[i]);
	free(o->own);
	free(o->v);
	memset(o, 0, sizeof(*o));
}

void fw_out_each(const struct fw_out *o, uint64_t off, uint64_t n,
		 void (*fn)(void *arg, const uint8_t *p, size_t len), void *arg)
{
	static const uint8_t zeros[4096];
	uint8_t fill[4096];

	for (size_t i = 0; i < o->n && n; i++) {
		const struct fw_piece *pc = &o->v[i];
		uint64_t take;

		if (off >= pc->len) {
			off -= pc->len;
			continue;
		}
		take = pc->len - off < n ? pc->len - off : n;
		n -= take;
		if (pc->p) {
			fn(arg, pc->p + off, take);
		} else {
			const uint8_t *f = zeros;

			if (pc->fill) {
				memset(fill, pc->fill, sizeof(fill));
				f = fill;
			}
			while (take) {
				size_t k = take < sizeof(fill) ? take : sizeof(fill);

				fn(arg, f, k);
				take -= k;
			}
		}
		off = 0;
	}
}

struct rd {
	uint8_t *b;
};

static void rd_fn(void *arg, const uint8_t *p, size_t len)
{
	struct rd *r = arg;

	memcpy(r->b, p, len);
	r->b += len;
}

void fw_out_read(const struct fw_out *o, uint64_t off, void *buf, size_t n)
{
	struct rd r = { buf };

	memset(buf, 0, n);
	fw_out_each(o, off, n, rd_fn, &r);
}

uint32_t fw_crc32(uint32_t crc, const uint8_t *p, uint64_t n)
{
	uLong c = crc;

	while (n) {
		uInt k = n > (1u << 30) ? 1u << 30 : (uInt)n;

		c = crc32(c, p, k);
		p += k;
		n -= k;
	}
	return (uint32_t)c;
}

static void crc_fn(void *arg, const uint8_t *p, size_t len)
{
	uint32_t *c = arg;

	*c = fw_crc32(*c, p, len);
}

uint32_t fw_out_crc32(const struct fw_out *o, uint64_t off, uint64_t n,
		      uint32_t crc)
{
	fw_out_each(o, off, n, crc_fn, &crc);
	return crc;
}

/* ------------------------------------------------------------------ */
/* Nodes                                                               */

int fw_node_error(const struct fw_node *n, struct fw_error *err, int code,
		  const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	char file[sizeof(err->file)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n->stack && n->path[0])
		snprintf(file, sizeof(file), "%s: %s", n->stack->o->input,
			 n->path);
	else
		snprintf(file, sizeof(file), "%s",
			 n->stack ? n->stack->o->input : "");
	return fw_error_set(err, code, file, "%s", msg);
}

int fw_node_drop_image_signature(const struct fw_node *n)
{
	return n->stack->o->drop_image_signature;
}

const char *fw_node_fit_keydir(const struct fw_node *n)
{
	return n->stack->o->fit_keydir;
}

const char *fw_node_usign_key(const struct fw_node *n)
{
	return n->stack->o->usign_key;
}

uint64_t fw_node_decode_budget(struct fw_node *n, uint64_t spent)
{
	struct fw_stack *s = n->stack;

	s->decoded += spent;
	return s->decoded >= FW_DECODE_LIMIT ? 0 : FW_DECODE_LIMIT - s->decoded;
}

const char *fw_node_layout_file(const struct fw_node *n)
{
	return n->stack->o->layout;
}

static struct fw_node *node_new(struct fw_node *parent, const char *name,
				const uint8_t *p, uint64_t len,
				struct fw_error *err)
{
	struct fw_node *c = calloc(1, sizeof(*c)), **v;
	struct fw_stack *s = parent->stack;

	if (!c)
		goto oom;
	c->name = strdup(name);
	if (!c->name ||
	    asprintf(&c->path, "%s%s%s", parent->path,
		     parent->path[0] ? "/" : "", name) < 0) {
		c->path = NULL;
		goto oom;
	}
	c->p = p;
	c->len = len;
	c->parent = parent;
	c->stack = s;
	c->depth = parent->depth + 1;
	v = realloc(parent->part, (parent->n_part + 1) * sizeof(*v));
	if (!v)
		goto oom;
	parent->part = v;
	v[parent->n_part++] = c;
	if (++s->n_nodes > MAX_NODES) {
		fw_node_error(parent, err, FW_EINPUT, "more than %d parts",
			      MAX_NODES);
		return NULL;
	}
	return c;
oom:
	if (c) {
		free(c->name);
		free(c->path);
		free(c);
	}
	fw_error_set(err, FW_EIO, NULL, "out of memory");
	return NULL;
}

struct fw_node *fw_node_part(struct fw_node *n, const char *name,
			     uint64_t off, uint64_t len, struct fw_error *err)
{
	struct fw_node *c;

	if (off > n->len || len > n->len - off) {
		fw_node_error(n, err, FW_EINPUT, "part '%s' (%llu bytes at "
			      "%llu) lies past the end (%llu bytes)", name,
			      (unsigned long long)len, (unsigned long long)off,
			      (unsigned long long)n->len);
		return NULL;
	}
	c = node_new(n, name, n->p + off, len, err);
	if (c) {
		c->off = off;
		c->abs = n->abs == UINT64_MAX ? UINT64_MAX : n->abs + off;
	}
	return c;
}

struct fw_node *fw_node_part_decoded(struct fw_node *n, const char *name,
				     const uint8_t *p, uint64_t len,
				     struct fw_error *err)
{
	struct fw_node *c = node_new(n, name, p, len, err);

	if (c)
		c->off = c->abs = UINT64_MAX;
	return c;
}

static void node_free(struct fw_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_part; i++)
		node_free(n->part[i]);
	free(n->part);
	if (n->lay && n->lay->close)
		n->lay->close(n);
	else
		free(n->priv);
	if (n->leaf) {
		struct leaf *l = n->leaf;

		fw_report_free(&l->rep);
		if (l->map)
			munmap(l->map, l->map_len);
		free(l->vi);
		free(l);
	}
	fw_out_free(&n->out);
	free(n->name);
	free(n->path);
	free(n);
}

/* ------------------------------------------------------------------ */
/* Bids                                                                */

/* A filesystem or archive the engine's formats read, by its magic. */
static const char *fs_magic(const uint8_t *p, size_t len)
{
	uint8_t h[512];
	enum fw_codec c;

	if (len >= 96 && !memcmp(p, "hsqs", 4))
		return "squashfs";
	if (len >= 2048 && p[1024 + 0x38] == 0x53 && p[1024 + 0x39] == 0xef &&
	    p[1024 + 24] <= 6)
		return "ext2/3/4";
	/* a UBIFS volume: its superblock node (formats/ubifs.c) */
	if (len >= 4096 && !memcmp(p, "\x31\x18\x10\x06", 4) && p[20] == 6)
		return "ubifs";
	if (len >= 512 && !memcmp(p + 257, "ustar", 5))
		return "tar";
	if (len >= 6 && (!memcmp(p, "070701", 6) || !memcmp(p, "070702", 6) ||
			 !memcmp(p, "070707", 6)))
		return "cpio";
	c = fw_codec_detect_kernel(p, len);
	if (c != FW_CODEC_NONE && c != FW_CODEC_LZ4 &&
	    fw_decompress_head(c, p, len, h, sizeof(h)) == sizeof(h)) {
		if (!memcmp(h + 257, "ustar", 5))
			return "tar (compressed)";
		if (!memcmp(h, "070701", 6) || !memcmp(h, "070702", 6))
			return "cpio (compressed)";
	}
	return NULL;
}

static int loops(const struct fw_node *n, const struct fw_layer *l)
{
	/* the same bytes opened again by the same layer further up */
	for (const struct fw_node *a = n->parent; a; a = a->parent)
		if (a->lay == l && a->p == n->p && a->len == n->len)
			return 1;
	return 0;
}

static int node_open(struct fw_node *n, struct fw_error *err);

static int node_bid(struct fw_node *n, struct fw_error *err)
{
	const struct fw_layer *best = NULL;
	int best_bid = 0, rc;
	const char *fs;

	if (n->depth > FW_LAYER_DEPTH_MAX)
		return fw_node_error(n, err, FW_EINPUT, "layers nested deeper "
				     "than %d", FW_LAYER_DEPTH_MAX);
	if (n->opaque)
		return FW_OK;
	for (const struct fw_layer *const *l = layers; *l; l++) {
		int bid;

		if (loops(n, *l))
			continue;
		bid = (*l)->bid(n->p, n->len, n->parent);
		if (bid > best_bid) {
			best_bid = bid;
			best = *l;
		}
	}
	fs = fs_magic(n->p, n->len);
	if (fs && best_bid < 100) {
		struct leaf *lf = calloc(1, sizeof(*lf));

		if (!lf)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		lf->fs = fs;
		n->leaf = lf;
		n->lay = &layer_fs;
		snprintf(n->desc, sizeof(n->desc), "%s", fs);
		return FW_OK;
	}
	if ((!best || n->hint_kernel) &&
	    (n->hint_kernel || fw_kernel_probe_buf(n->p, n->len))) {
		n->lay = &layer_kernel;
		n->leaf = calloc(1, sizeof(struct leaf));
		return n->leaf ? FW_OK :
		       fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	if (!best)
		return FW_OK;	/* data */
	n->lay = best;
	rc = best->open(n, err);
	if (rc)
		return rc;
	return node_open(n, err);
}

static int cmp_part(const void *a, const void *b)
{
	const struct fw_node *x = *(struct fw_node *const *)a;
	const struct fw_node *y = *(struct fw_node *const *)b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* The parts of a container: inside it, none over another; then each
 * bid on in turn. */
static int node_open(struct fw_node *n, struct fw_error *err)
{
	struct fw_node **v;
	int rc;

	if (n->n_part > 1) {
		v = malloc(n->n_part * sizeof(*v));
		if (!v)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		memcpy(v, n->part, n->n_part * sizeof(*v));
		qsort(v, n->n_part, sizeof(*v), cmp_part);
		for (size_t i = 1; i < n->n_part; i++) {
			if (v[i]->off == UINT64_MAX || v[i - 1]->off == UINT64_MAX)
				continue;
			if (v[i - 1]->off + v[i - 1]->len > v[i]->off) {
				rc = fw_node_error(n, err, FW_EINPUT,
						   "parts '%s' and '%s' overlap",
						   v[i - 1]->name, v[i]->name);
				free(v);
				return rc;
			}
		}
		free(v);
	}
	if (n->bad)
		n->stack->n_bad++;
	for (size_t i = 0; i < n->n_part; i++) {
		rc = node_bid(n->part[i], err);
		if (rc)
			return rc;
	}
	return FW_OK;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                      */

static int load_cert(struct fw_stack *s, struct fw_error *err)
{
	const uint8_t *q;
	uint8_t *b = NULL, *der = NULL;
	size_t len;
	X509 *x;
	int fd, n;

	fd = open(s->o->cert, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fw_error_set(err, FW_EKEY, s->o->cert, "cannot open "
				    "certificate: %s", strerror(errno));
	n = fw_read_fd(fd, &b, &len, 1 << 20);
	close(fd);
	if (n)
		return fw_error_set(err, FW_EKEY, s->o->cert, "cannot read "
				    "certificate: %s", strerror(errno));
	if (memmem(b, len, "-----BEGIN", 10)) {
		BIO *bio = BIO_new_mem_buf(b, (int)len);

		x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
	} else {
		q = b;
		x = d2i_X509(NULL, &q, (long)len);
	}
	free(b);
	n = x ? i2d_X509(x, &der) : -1;
	X509_free(x);
	if (n <= 0)
		return fw_error_ssl(err, FW_EKEY, s->o->cert,
				    "not an X.509 certificate");
	s->der = malloc((size_t)n);
	if (!s->der) {
		OPENSSL_free(der);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	memcpy(s->der, der, (size_t)n);
	OPENSSL_free(der);
	s->der_len = (size_t)n;
	SHA256(s->der, s->der_len, s->der_sha);
	return FW_OK;
}

int fw_stack_open(const struct fw_stack_opts *o, struct fw_stack **out,
		  struct fw_error *err)
{
	struct fw_stack *s;
	struct fw_node *r;
	struct stat st;
	int fd, rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	r = calloc(1, sizeof(*r));
	if (!s || !r) {
		free(s);
		free(r);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	s->o = o;
	s->root = r;
	s->tmpfd = -1;
	r->stack = s;
	r->path = strdup("");
	r->name = strdup("");
	if (!r->path || !r->name) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto fail;
	}
	if (lstat(o->input, &st) == 0 && !S_ISREG(st.st_mode)) {
		*out = s;	/* a tree, a device: not a blob */
		return FW_OK;
	}
	fd = open(o->input, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = fw_error_set(err, errno == ENOENT ? FW_EINPUT : FW_EIO,
				  o->input, "cannot open: %s", strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) < 0 || st.st_size == 0) {
		close(fd);
		*out = s;
		return FW_OK;
	}
	s->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		rc = fw_error_set(err, FW_EIO, o->input, "cannot map: %s",
				  strerror(errno));
		goto fail;
	}
	s->map_len = (size_t)st.st_size;
	r->p = s->map;
	r->len = s->map_len;
	r->abs = 0;
	if (o->layout) {
		r->lay = &fw_layer_layout;
		rc = fw_layer_layout.open(r, err);
		if (!rc)
			rc = node_open(r, err);
	} else {
		rc = node_bid(r, err);
	}
	if (rc)
		goto fail;
	if (o->cert && (rc = load_cert(s, err)))
		goto fail;
	*out = s;
	return FW_OK;
fail:
	fw_stack_close(s);
	return rc;
}

struct fw_node *fw_stack_root(struct fw_stack *s)
{
	return s->root;
}

int fw_stack_composite(const struct fw_stack *s)
{
	const struct fw_layer *l = s->root->lay;

	return l && (l->kind == FW_LK_CONTAINER || l->kind == FW_LK_STREAM);
}

int fw_stack_lone_kernel(const struct fw_stack *s)
{
	const struct fw_node *r = s->root;

	return r->lay == &fw_layer_uimage && r->n_part == 1 &&
	       r->part[0]->lay == &layer_kernel;
}

void fw_stack_close(struct fw_stack *s)
{
	if (!s)
		return;
	node_free(s->root);
	if (s->map)
		munmap(s->map, s->map_len);
	if (s->tmpdir) {
		rmdir(s->tmpdir);
		free(s->tmpdir);
	}
	if (s->tmpfd >= 0)
		close(s->tmpfd);
	free(s->der);
	fw_report_free(&s->rep);
	free(s);
}

/* ------------------------------------------------------------------ */
/* The walk                                                            */


/* A private directory for the filesystems' bytes: beside the output when
 * signing (same filesystem, cleaned by name), else in TMPDIR. */
static int tmp_dir(struct fw_stack *s, struct fw_error *err)
{
	const char *out = s->o->output, *slash;
	const char *tmp = getenv("TMPDIR");

	if (s->tmpdir)
		return FW_OK;
	if (out && !s->o->dry_run) {
		slash = strrchr(out, '/');
		if (asprintf(&s->tmpdir, "%.*s%s.%s.fwsign-XXXXXX",
			     slash ? (int)(slash - out) : 0, out,
			     slash ? "/" : "", slash ? slash + 1 : out) < 0)
			s->tmpdir = NULL;
	} else if (asprintf(&s->tmpdir, "%s/.fwsign-XXXXXX",
			    tmp && *tmp ? tmp : "/tmp") < 0) {
		s->tmpdir = NULL;
	}
	if (!s->tmpdir)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (out && !s->o->dry_run)
		fw_tmp_sweep(out);	/* what a killed run left */
	if (!mkdtemp(s->tmpdir)) {
		int e = errno;

		free(s->tmpdir);
		s->tmpdir = NULL;
		return fw_error_set(err, FW_EIO, out ? out : "TMPDIR",
				    "cannot make a temporary directory: %s",
				    strerror(e));
	}
	/* held locked while we live: a later run removes it if we die */
	s->tmpfd = open(s->tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->tmpfd >= 0)
		fw_tmp_lock(s->tmpfd);
	return FW_OK;
}

static int write_file(const char *path, const uint8_t *p, uint64_t len,
		      struct fw_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0 || fw_write_all(fd, p, len)) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		unlink(path);
		return fw_error_set(err, FW_EIO, path, "write: %s",
				    strerror(e));
	}
	if (close(fd) < 0) {
		unlink(path);
		return fw_error_set(err, FW_EIO, path, "write: %s",
				    strerror(errno));
	}
	return FW_OK;
}

/* Adds a filesystem's report to the stack's, paths prefixed. */
static int merge(struct fw_stack *s, const struct fw_node *n,
		 struct fw_report *r)
{
	struct fw_report *t = &s->rep;
	struct fw_error e;

	fw_error_clear(&e);
	for (size_t i = 0; i < r->n; i++) {
		struct fw_record c;
		char *p = NULL, *l = NULL;
		int rc = fw_recstore_get(r, i, &c, &e);

		if (!rc && (asprintf(&p, "%s:%s", n->path, c.path) < 0 ||
			    (c.link_of && asprintf(&l, "%s:%s", n->path,
						   c.link_of) < 0)))
			rc = -1;
		free(c.path);
		free(c.link_of);
		c.path = p;
		c.link_of = l;
		if (!rc)
			rc = fw_recstore_put(t, t->n, &c, &e);
		fw_record_clear(&c);
		if (rc)
			return -1;
		t->n++;
	}
	for (size_t i = 0; i < r->n_warnings; i++) {
		char **w = realloc(t->warnings,
				   (t->n_warnings + 1) * sizeof(*w));
		char *m;

		if (!w)
			return -1;
		t->warnings = w;
		if (asprintf(&m, "%s: %s", n->path, r->warnings[i]) < 0)
			return -1;
		w[t->n_warnings++] = m;
	}
	for (size_t k = 0; k <= FW_KIND_MALFORMED; k++)
		t->counts[k] += r->counts[k];
	for (size_t k = 0; k <= FW_SIG_BAD; k++)
		t->sig_counts[k] += r->sig_counts[k];
	t->n_signed += r->n_signed;
	t->n_resigned += r->n_resigned;
	t->n_skipped += r->n_skipped;
	t->n_warn += r->n_warn;
	t->n_error += r->n_error;
	t->bytes_in += r->bytes_in;
	t->bytes_added += r->bytes_added;
	return 0;
}

static int walk_fs(struct fw_stack *s, struct fw_node *n, enum mode m,
		   struct fw_error *err)
{
	struct leaf *l = n->leaf;
	struct fw_run_opts ro = { 0 };
	struct fw_kernel_files kf = {
		.der = s->der, .der_len = s->der_len, .der_sha256 = s->der_sha,
		.inject = m == M_SIGN && !s->o->no_inject_cert,
		.skip_noslot = s->o->skip_kernels_without_slot,
	};
	char *in = NULL, *out = NULL;
	int rc, verity;

	rc = tmp_dir(s, err);
	if (rc)
		return rc;
	s->tmp_seq++;
	if (asprintf(&in, "%s/in-%u", s->tmpdir, s->tmp_seq) < 0 ||
	    asprintf(&out, "%s/out-%u", s->tmpdir, s->tmp_seq) < 0) {
		free(in);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	rc = write_file(in, n->p, n->len, err);
	if (rc)
		goto done;
	ro.input = in;
	ro.jobs = s->o->jobs;
	ro.sign_other = s->o->sign_other;
	ro.cache = s->o->cache;
	ro.ima = s->o->ima;
	ro.ima_modules = s->o->ima_modules;
	ro.progress = s->o->progress;
	ro.progress_arg = s->o->progress_arg;
	if (m == M_SIGN) {
		ro.dry_run = s->o->dry_run;
		ro.output = ro.dry_run ? NULL : out;
		ro.signer = s->o->signer;
		rc = fw_run_image_kernels(&ro, 1, &kf, &l->rep, err);
	} else if (m == M_VERIFY) {
		ro.verifier = s->o->verifier;
		rc = fw_run_image_kernels(&ro, 2, &kf, &l->rep, err);
	} else {
		rc = fw_run_image_kernels(&ro, 0, &kf, &l->rep, err);
	}
	l->have_rep = 1;
	l->kn = kf.n;
	l->kn_cert = kf.n_cert;
	l->kn_noslot = kf.n_noslot;
	if (rc) {
		/* the message names the part, not the temporary file */
		char msg[sizeof(err->msg)];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		fw_node_error(n, err, err->code, "%s", msg);
		goto done;
	}
	l->fs = l->rep.format;
	snprintf(n->desc, sizeof(n->desc), "%s", l->rep.format);
	if (merge(s, n, &l->rep)) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto done;
	}
	/* a dm-verity tree after a read-only filesystem, changed or not */
	verity = m == M_SIGN && !s->o->dry_run && s->o->verity &&
		 fw_verity_fs(n->p, n->len);
	if (verity) {
		if (!(l->rep.n_signed + l->rep.n_resigned + kf.n_injected))
			rc = write_file(out, n->p, n->len, err);
		l->vi = rc ? NULL : calloc(1, sizeof(*l->vi));
		if (!rc && !l->vi)
			rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		if (!rc)
			rc = fw_verity_append(out, s->o->verity_salt,
					      s->o->verity_salt_len, l->vi,
					      err);
		if (rc) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			fw_node_error(n, err, err->code, "%s", msg);
			goto done;
		}
	}
	if (m == M_SIGN && !s->o->dry_run &&
	    (verity || l->rep.n_signed + l->rep.n_resigned + kf.n_injected)) {
		int fd = open(out, O_RDONLY | O_CLOEXEC);
		struct stat st;

		if (fd < 0 || fstat(fd, &st) < 0) {
			rc = fw_error_set(err, FW_EIO, out, "cannot open: %s",
					  strerror(errno));
			if (fd >= 0)
				close(fd);
			goto done;
		}
		l->map_len = (size_t)st.st_size;
		l->map = l->map_len ? mmap(NULL, l->map_len, PROT_READ,
					   MAP_PRIVATE, fd, 0) : NULL;
		close(fd);
		if (l->map == MAP_FAILED) {
			l->map = NULL;
			rc = fw_error_set(err, FW_EIO, out, "cannot map: %s",
					  strerror(errno));
			goto done;
		}
		if (fw_out_add(&n->out, l->map, l->map_len)) {
			rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
			goto done;
		}
		n->changed = 1;
	}
done:
	unlink(in);
	unlink(out);
	free(in);
	free(out);
	return rc;
}

static int walk_kernel(struct fw_stack *s, struct fw_node *n, enum mode m,
		       struct fw_error *err)
{
	struct leaf *l = n->leaf;
	struct fw_kernel_opts ko = { .replace = 1 };
	struct fw_kernel_info ki;
	uint8_t *o = NULL;
	size_t ol = 0;
	int rc;

	s->n_kernels++;
	rc = fw_kernel_info_buf(n->p, n->len, n->path, NULL, &l->kinfo, err);
	if (rc == FW_EINPUT && n->hint_kernel) {
		/* its wrapper says kernel, but no slot can be found in it */
		l->kinfo.state = FW_KSLOT_NONE;
		snprintf(l->kinfo.format, sizeof(l->kinfo.format), "unknown");
		snprintf(l->kinfo.note, sizeof(l->kinfo.note), "%s", err->msg);
		fw_error_clear(err);
	} else if (rc) {
		return fw_node_error(n, err, rc, "%s", err->msg);
	}
	l->have_kinfo = 1;
	snprintf(n->desc, sizeof(n->desc), "kernel: %s", l->kinfo.format);
	l->kernel_ok = l->kinfo.state == FW_KSLOT_CERT && s->der &&
		       !memcmp(l->kinfo.cert_sha256, s->der_sha, 32);
	if (l->kinfo.state == FW_KSLOT_NONE) {
		s->n_kernels_noslot++;
		snprintf(l->note, sizeof(l->note), "%.500s", l->kinfo.note);
		if (m == M_SIGN && !s->o->no_inject_cert &&
		    !s->o->skip_kernels_without_slot)
			return fw_node_error(n, err, FW_EINPUT,
					     "kernel without an extra-"
					     "certificate slot (%s); build it "
					     "with CONFIG_SYSTEM_EXTRA_"
					     "CERTIFICATE, or pass "
					     "--skip-kernels-without-slot",
					     l->kinfo.note);
		return FW_OK;
	}
	if (m != M_SIGN || s->o->no_inject_cert || l->kernel_ok) {
		s->n_kernels_cert += l->kernel_ok;
		if (m == M_SIGN && l->kernel_ok)
			snprintf(l->note, sizeof(l->note),
				 "already holds the certificate");
		return FW_OK;
	}
	if (s->o->dry_run) {
		snprintf(l->note, sizeof(l->note), "would get the certificate");
		return FW_OK;
	}
	rc = fw_kernel_inject_buf(n->p, n->len, n->path, s->der, s->der_len,
				  &ko, &o, &ol, &ki, err);
	if (rc)
		return fw_node_error(n, err, rc, "%s", err->msg);
	if (fw_out_own(&n->out, o) || fw_out_add(&n->out, o, ol)) {
		free(o);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	l->kinfo = ki;
	l->kernel_ok = 1;
	s->n_kernels_cert++;
	snprintf(l->note, sizeof(l->note), "certificate put in the slot");
	n->changed = 1;
	return FW_OK;
}

static int each_fs(struct fw_stack *s, struct fw_node *n, fw_stack_fs_fn fn,
		   void *arg, struct fw_error *err)
{
	char *file = NULL;
	int rc;

	if (!n->lay)
		return FW_OK;
	if (n->lay->kind != FW_LK_FS) {
		for (size_t i = 0; i < n->n_part; i++) {
			rc = each_fs(s, n->part[i], fn, arg, err);
			if (rc)
				return rc;
		}
		return FW_OK;
	}
	rc = tmp_dir(s, err);
	if (rc)
		return rc;
	s->tmp_seq++;
	if (asprintf(&file, "%s/part-%u", s->tmpdir, s->tmp_seq) < 0)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	rc = write_file(file, n->p, n->len, err);
	if (!rc)
		rc = fn(arg, n->path, file, err);
	unlink(file);
	free(file);
	return rc;
}

/* The private directory goes once a walk is over. */
static void tmp_dir_end(struct fw_stack *s)
{
	if (s->tmpdir) {
		rmdir(s->tmpdir);
		free(s->tmpdir);
		s->tmpdir = NULL;
	}
	if (s->tmpfd >= 0)
		close(s->tmpfd);
	s->tmpfd = -1;
}

static int each_verity(struct fw_node *n, fw_stack_verity_fn fn, void *arg,
		       struct fw_error *err)
{
	const struct leaf *l = n->leaf;

	if (l && l->vi)
		return fn(arg, n->path, l->vi, err);
	for (size_t i = 0; i < n->n_part; i++) {
		int rc = each_verity(n->part[i], fn, arg, err);

		if (rc)
			return rc;
	}
	return FW_OK;
}

int fw_stack_each_verity(struct fw_stack *s, fw_stack_verity_fn fn, void *arg,
			 struct fw_error *err)
{
	return each_verity(s->root, fn, arg, err);
}

int fw_stack_each_fs(struct fw_stack *s, fw_stack_fs_fn fn, void *arg,
		     struct fw_error *err)
{
	int rc = each_fs(s, s->root, fn, arg, err);

	tmp_dir_end(s);
	return rc;
}

/*
 * The kernels are walked on a thread of their own while the filesystems
 * are walked: a kernel's payload is decompressed and compressed again on
 * one core (about 0.6 s of CPU for a 14 MB xz vmlinux), and signing a
 * filesystem keeps the cores busy for longer.  Both record their outcome
 * in the leaf; the tree's walk then takes them in its order, so the first
 * error in that order is the one reported, as without the thread.
 */
static int collect(struct fw_node *n, struct fw_node ***v, size_t *nv,
		   size_t *cap, size_t *n_fs)
{
	if (!n->lay)
		return 0;
	if (n->lay->kind == FW_LK_FS) {
		(*n_fs)++;
		return 0;
	}
	if (n->lay->kind == FW_LK_KERNEL) {
		if (*nv == *cap) {
			size_t c = *cap ? *cap * 2 : 4;
			struct fw_node **t = realloc(*v, c * sizeof(*t));

			if (!t)
				return -1;
			*v = t;
			*cap = c;
		}
		(*v)[(*nv)++] = n;
		return 0;
	}
	for (size_t i = 0; i < n->n_part; i++)
		if (collect(n->part[i], v, nv, cap, n_fs))
			return -1;
	return 0;
}

static void *kernel_thread(void *arg)
{
	struct fw_stack *s = arg;

	for (size_t i = 0; i < s->n_kq; i++) {
		struct leaf *l = s->kernels[i]->leaf;

		fw_error_clear(&l->done_err);
		l->done_rc = walk_kernel(s, s->kernels[i], s->mode,
					 &l->done_err);
		l->done = 1;
	}
	return NULL;
}

/* Every filesystem leaf in the tree's order, up to the first error. */
static void fs_ahead(struct fw_stack *s, struct fw_node *n, int *stop)
{
	struct leaf *l;

	if (!n->lay || *stop)
		return;
	if (n->lay->kind == FW_LK_FS) {
		l = n->leaf;
		fw_error_clear(&l->done_err);
		l->done_rc = walk_fs(s, n, s->mode, &l->done_err);
		l->done = 1;
		*stop = l->done_rc != FW_OK;
		return;
	}
	for (size_t i = 0; i < n->n_part; i++)
		fs_ahead(s, n->part[i], stop);
}

static void ahead(struct fw_stack *s)
{
	struct fw_node **v = NULL;
	size_t nv = 0, cap = 0, n_fs = 0;
	pthread_t t;
	int stop = 0;

	if (collect(s->root, &v, &nv, &cap, &n_fs) || !nv || !n_fs) {
		free(v);
		return;
	}
	s->kernels = v;
	s->n_kq = nv;
	if (pthread_create(&t, NULL, kernel_thread, s)) {
		s->kernels = NULL;
		s->n_kq = 0;
		free(v);
		return;
	}
	fs_ahead(s, s->root, &stop);
	pthread_join(t, NULL);
	s->kernels = NULL;
	s->n_kq = 0;
	free(v);
}

static int walk(struct fw_stack *s, struct fw_node *n, enum mode m,
		struct fw_error *err)
{
	int rc, any = 0;

	if (!n->lay)
		return FW_OK;
	if (n->lay->kind == FW_LK_FS || n->lay->kind == FW_LK_KERNEL) {
		struct leaf *l = n->leaf;

		if (l->done) {
			if (l->done_rc)
				*err = l->done_err;
			return l->done_rc;
		}
	}
	if (n->lay->kind == FW_LK_FS)
		return walk_fs(s, n, m, err);
	if (n->lay->kind == FW_LK_KERNEL)
		return walk_kernel(s, n, m, err);
	for (size_t i = 0; i < n->n_part; i++) {
		rc = walk(s, n->part[i], m, err);
		if (rc)
			return rc;
		any |= n->part[i]->changed;
	}
	if (!any || m != M_SIGN || s->o->dry_run)
		return FW_OK;
	/* every part's out holds its bytes now, new or not */
	for (size_t i = 0; i < n->n_part; i++) {
		struct fw_node *c = n->part[i];

		if (!c->changed && !c->out.n &&
		    fw_out_add(&c->out, c->p, c->len))
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	rc = n->lay->rebuild(n, err);
	if (rc)
		return rc;
	n->changed = 1;
	return FW_OK;
}

static int commit(struct fw_stack *s, struct fw_error *err)
{
	struct fw_out one = { 0 };
	const struct fw_out *o = &s->root->out;
	struct fw_outfile of;
	struct stat st;
	int rc = FW_OK;

	if (!s->root->changed) {
		if (fw_out_add(&one, s->root->p, s->root->len))
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		o = &one;
	}
	rc = fw_outfile_begin(&of, s->o->output, err);
	if (rc)
		goto out;
	if (stat(s->o->input, &st) == 0)
		fchmod(of.fd, st.st_mode & 0777);
	for (size_t i = 0; i < o->n && !rc; i++) {
		const struct fw_piece *pc = &o->v[i];

		if (pc->p) {
			if (fw_write_all(of.fd, pc->p, pc->len))
				rc = fw_error_set(err, FW_EIO, s->o->output,
						  "write: %s", strerror(errno));
		} else {
			uint8_t b[65536];

			memset(b, pc->fill, sizeof(b));
			for (uint64_t left = pc->len; left && !rc;) {
				size_t k = left < sizeof(b) ? left : sizeof(b);

				if (fw_write_all(of.fd, b, k))
					rc = fw_error_set(err, FW_EIO,
							  s->o->output,
							  "write: %s",
							  strerror(errno));
				left -= k;
			}
		}
	}
	if (!rc)
		rc = fw_outfile_commit(&of, s->o->max_size, err);
	fw_outfile_abort(&of);
out:
	if (o == &one)
		fw_out_free(&one);
	return rc;
}

/* The filesystems' kernel files, counted as the kernel layers are. */
static void fs_kernels(struct fw_stack *s, const struct fw_node *n)
{
	const struct leaf *l = n->leaf;

	if (n->lay && n->lay->kind == FW_LK_FS && l) {
		s->n_kernels += l->kn;
		s->n_kernels_cert += l->kn_cert;
		s->n_kernels_noslot += l->kn_noslot;
	}
	for (size_t i = 0; i < n->n_part; i++)
		fs_kernels(s, n->part[i]);
}

static const struct fw_node *first_bad(const struct fw_node *n)
{
	if (n->bad)
		return n;
	for (size_t i = 0; i < n->n_part; i++) {
		const struct fw_node *b = first_bad(n->part[i]);

		if (b)
			return b;
	}
	return NULL;
}

static int run(struct fw_stack *s, enum mode m, const char *command,
	       struct fw_error *err)
{
	struct timespec t0, t1;
	int rc;

	if (s->walked)
		return fw_error_set(err, FW_EUSAGE, NULL, "walked twice");
	s->walked = 1;
	s->command = command;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!s->root->lay)
		return fw_error_set(err, FW_EINPUT, s->o->input,
				    "no known layer in it");
	if (m == M_SIGN && !s->o->dry_run && !s->o->output)
		return fw_error_set(err, FW_EUSAGE, s->o->input,
				    "a blob is signed into a new file: give -o "
				    "OUTPUT (--in-place is for trees)");
	if (m == M_SIGN && !s->o->no_inject_cert && !s->der)
		return fw_error_set(err, FW_EUSAGE, NULL, "no certificate");
	/* a checksum that does not match is damage: signing would hide it */
	if (m == M_SIGN && s->n_bad) {
		const struct fw_node *b = first_bad(s->root);

		return fw_node_error(b, err, FW_EINPUT, "%s: its checksum does "
				     "not match (%s): a damaged image is not "
				     "signed", b->lay->name, b->desc);
	}
	s->mode = m;
	ahead(s);
	rc = walk(s, s->root, m, err);
	fs_kernels(s, s->root);
	if (!rc && m == M_SIGN && !s->o->dry_run)
		rc = commit(s, err);
	tmp_dir_end(s);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s->rep.seconds = (double)(t1.tv_sec - t0.tv_sec) +
			 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return rc;
}

int fw_stack_sign(struct fw_stack *s, struct fw_error *err)
{
	if (!s->o->dry_run && !s->o->signer)
		return fw_error_set(err, FW_EUSAGE, NULL, "no signing key");
	return run(s, M_SIGN, s->o->dry_run ? "plan" : "sign", err);
}

int fw_stack_verify(struct fw_stack *s, struct fw_error *err)
{
	return run(s, M_VERIFY, "verify", err);
}

int fw_stack_scan(struct fw_stack *s, struct fw_error *err)
{
	return run(s, M_SCAN, "info", err);
}

const struct fw_report *fw_stack_report(const struct fw_stack *s)
{
	return &s->rep;
}

void fw_stack_kernels(const struct fw_stack *s, size_t *n, size_t *with_cert,
		      size_t *without_slot)
{
	*n = s->n_kernels;
	*with_cert = s->n_kernels_cert;
	*without_slot = s->n_kernels_noslot;
}

size_t fw_stack_bad(const struct fw_stack *s)
{
	return s->n_bad;
}

/* ------------------------------------------------------------------ */
/* Printing                                                            */

static const char *node_format(const struct fw_node *n)
{
	if (!n->lay)
		return "data";
	if (n->lay->kind == FW_LK_FS)
		return ((struct leaf *)n->leaf)->fs;
	return n->lay->name;
}

static void print_node(const struct fw_stack *s, const struct fw_node *n,
		       FILE *f, int indent)
{
	const struct leaf *l = n->leaf;

	fprintf(f, "%*s%s  %s", indent, "",
		n->parent ? n->name : s->o->input, node_format(n));
	if (n->off != UINT64_MAX && n->parent)
		fprintf(f, "  at 0x%llx", (unsigned long long)n->off);
	else if (n->parent)
		fputs("  decoded", f);
	fprintf(f, ", %llu bytes", (unsigned long long)n->len);
	if (n->desc[0] && (!n->lay || n->lay->kind != FW_LK_FS))
		fprintf(f, "  (%s)", n->desc);
	if (l && l->have_rep)
		fprintf(f, "  [%zu files: %zu executables, %zu libraries, "
			   "%zu modules]", l->rep.n,
			l->rep.counts[FW_KIND_EXEC],
			l->rep.counts[FW_KIND_SHLIB],
			l->rep.counts[FW_KIND_MODULE]);
	if (l && l->have_kinfo) {
		fprintf(f, "  [slot: %s", fw_kslot_state_name(l->kinfo.state));
		if (l->kinfo.state == FW_KSLOT_CERT)
			fprintf(f, " '%s'%s", l->kinfo.subject,
				s->der ? (l->kernel_ok ? ", ours" : ", not ours")
				       : "");
		fputc(']', f);
	}
	if (l && l->note[0])
		fprintf(f, "  %s", l->note);
	if (n->changed)
		fprintf(f, "  -> %llu bytes", (unsigned long long)n->out.len);
	fputc('\n', f);
	for (size_t i = 0; i < n->n_part; i++)
		print_node(s, n->part[i], f, indent + 2);
}

void fw_stack_print(const struct fw_stack *s, FILE *f)
{
	print_node(s, s->root, f, 0);
}

static void json_node(const struct fw_stack *s, const struct fw_node *n,
		      FILE *f)
{
	const struct leaf *l = n->leaf;
	static const char *const kinds[] = { "container", "stream",
					     "filesystem", "kernel", "data" };

	fputs("{\"name\":", f);
	fw_json_str(f, n->parent ? n->name : s->o->input);
	fputs(",\"path\":", f);
	fw_json_str(f, n->path);
	fputs(",\"format\":", f);
	fw_json_str(f, node_format(n));
	fputs(",\"kind\":", f);
	fw_json_str(f, n->lay ? kinds[n->lay->kind] : "data");
	if (n->off != UINT64_MAX)
		fprintf(f, ",\"offset\":%llu", (unsigned long long)n->off);
	else
		fputs(",\"offset\":null", f);
	fprintf(f, ",\"size\":%llu", (unsigned long long)n->len);
	fputs(",\"detail\":", f);
	fw_json_str(f, n->desc);
	fprintf(f, ",\"checksums\":\"%s\"", n->bad ? "bad" : "ok");
	if (n->changed)
		fprintf(f, ",\"new_size\":%llu", (unsigned long long)n->out.len);
	if (l && l->have_rep)
		fprintf(f, ",\"files\":%zu,\"executables\":%zu,"
			   "\"shared_libraries\":%zu,\"kernel_modules\":%zu,"
			   "\"signed\":%zu,\"resigned\":%zu",
			l->rep.n, l->rep.counts[FW_KIND_EXEC],
			l->rep.counts[FW_KIND_SHLIB],
			l->rep.counts[FW_KIND_MODULE], l->rep.n_signed,
			l->rep.n_resigned);
	if (l && l->have_kinfo) {
		fputs(",\"slot\":", f);
		fw_json_str(f, fw_kslot_state_name(l->kinfo.state));
		fprintf(f, ",\"slot_size\":%llu,\"slot_used\":%llu",
			(unsigned long long)l->kinfo.slot_size,
			(unsigned long long)l->kinfo.used);
		fputs(",\"certificate\":", f);
		if (l->kinfo.state == FW_KSLOT_CERT)
			fw_json_str(f, l->kinfo.subject);
		else
			fputs("null", f);
		if (s->der)
			fprintf(f, ",\"holds_cert\":%s",
				l->kernel_ok ? "true" : "false");
	}
	if (l && l->note[0]) {
		fputs(",\"note\":", f);
		fw_json_str(f, l->note);
	}
	if (n->n_part) {
		fputs(",\"parts\":[", f);
		for (size_t i = 0; i < n->n_part; i++) {
			if (i)
				fputc(',', f);
			json_node(s, n->part[i], f);
		}
		fputc(']', f);
	}
	fputc('}', f);
}

void fw_stack_json(const struct fw_stack *s, const char *command, FILE *f)
{
	fputs("{\"tree\":", f);
	json_node(s, s->root, f);
	fprintf(f, ",\"kernels\":%zu,\"kernels_with_cert\":%zu,"
		   "\"kernels_without_slot\":%zu,\"bad_checksums\":%zu,"
		   "\"report\":", s->n_kernels, s->n_kernels_cert,
		s->n_kernels_noslot, s->n_bad);
	fw_report_json(&s->rep, command ? command : s->command, f);
	fputs("}\n", f);
}
