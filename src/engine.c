// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Walk an image, classify every regular file, and sign or verify the ELF
 * files on all cores.  Output order, and so the report, never depends on
 * the number of threads.  In a vendor blob (fw_run_image_kernels) the
 * kernel files of the image get the certificate in their slot too.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "fwsign/kernel.h"
#include "cache_int.h"
#include "io.h"
#include "codec.h"
#include "signer_int.h"
#include "fw_limits.h"
#include "recstore.h"
#include "spillmap.h"
#include "../formats/format.h"

enum mode { MODE_SCAN, MODE_SIGN, MODE_VERIFY };

struct run {
	const struct fw_run_opts *o;
	enum mode mode;
	struct fw_image *img;
	void *out;
	/* Per entry, 4 bytes each (issue #18: an image's entries cost the
	 * engine no more): */
	uint32_t *work;		/* entry indices done in parallel */
	size_t n_work;
	uint32_t *rec_of;	/* entry index -> record index */
	struct fw_spillmap *work_map, *rec_map;	/* where they lie */
	/* Ordered formats (ordered set): an entry is ready once done; the
	 * results that change something wait in held, a heap on the entry
	 * index, until every entry before them is out; whoever completes
	 * the next one in order puts the run. */
	unsigned char *ready;	/* a bit per entry */
	struct result {
		size_t idx;
		uint64_t keep;	/* as struct fw_signed; tail NULL: unchanged */
		uint8_t *tail;
		size_t len;
		uint8_t *ima;	/* security.ima to set first, or NULL */
		size_t ima_len;
	} *heap;
	size_t n_heap, cap_heap;
	size_t next_put;
	int putting;
	uint64_t held;		/* bytes in res not yet put */
	pthread_cond_t drained;	/* held went down, or the run failed */
	struct fw_report *rep;
	struct fw_kernel_files *kf;	/* blob mode: kernel files */
	atomic_size_t next;
	atomic_size_t done;
	atomic_int failed;
	pthread_mutex_t lock;
	struct fw_error err;	/* the first error */
};

/*
 * Signed results an ordered format may hold before workers wait for the
 * writer: enough to keep every core busy, small against an image.
 */
#define HOLD_MAX ((uint64_t)64 << 20)

static void fail_locked(struct run *r, const struct fw_error *e)
{
	if (!r->failed) {
		r->err = *e;
		r->failed = 1;
	}
	pthread_cond_broadcast(&r->drained);
}

static void fail(struct run *r, const struct fw_error *e)
{
	pthread_mutex_lock(&r->lock);
	fail_locked(r, e);
	pthread_mutex_unlock(&r->lock);
}

/* Sets security.ima on entry idx of the output. */
static int put_ima(struct run *r, size_t idx, uint8_t *v, size_t len,
		   struct fw_error *err)
{
	struct fw_xattr x = { .name = FW_IMA_XATTR, .value = v, .len = len };

	return r->img->fmt->out_xattr(r->out, idx, &x, err);
}

static int is_ready(const struct run *r, size_t i)
{
	return (r->ready[i / 8] >> (i % 8)) & 1;
}

static void set_ready(struct run *r, size_t i)
{
	r->ready[i / 8] |= (unsigned char)(1u << (i % 8));
}

/* The heap of held results (locked): push, or -1 out of memory. */
static int heap_push(struct run *r, const struct result *x)
{
	size_t k;

	if (r->n_heap == r->cap_heap) {
		size_t cap = r->cap_heap ? r->cap_heap * 2 : 64;
		struct result *h = realloc(r->heap, cap * sizeof(*h));

		if (!h)
			return -1;
		r->heap = h;
		r->cap_heap = cap;
	}
	for (k = r->n_heap++; k > 0 && r->heap[(k - 1) / 2].idx > x->idx;
	     k = (k - 1) / 2)
		r->heap[k] = r->heap[(k - 1) / 2];
	r->heap[k] = *x;
	return 0;
}

/* The held result of entry i, taken out of the heap, if there is one. */
static int heap_take(struct run *r, size_t i, struct result *x)
{
	struct result last;
	size_t k = 0;

	if (!r->n_heap || r->heap[0].idx != i)
		return 0;
	*x = r->heap[0];
	last = r->heap[--r->n_heap];
	for (;;) {
		size_t c = 2 * k + 1;

		if (c >= r->n_heap)
			break;
		if (c + 1 < r->n_heap && r->heap[c + 1].idx < r->heap[c].idx)
			c++;
		if (r->heap[c].idx >= last.idx)
			break;
		r->heap[k] = r->heap[c];
		k = c;
	}
	if (r->n_heap)
		r->heap[k] = last;
	return 1;
}

/*
 * Ordered formats: entry idx is done (tail NULL: unchanged).  Puts every
 * entry that is now next in order, unless another thread is already doing
 * so (it will find this one: ready is set under the same lock).
 */
static void ordered_done(struct run *r, size_t idx, uint64_t keep,
			 uint8_t *tail, size_t len, uint8_t *ima,
			 size_t ima_len)
{
	const struct fw_format *f = r->img->fmt;

	pthread_mutex_lock(&r->lock);
	if (idx != FW_NO_LINK) {
		const struct result x = { idx, keep, tail, len, ima, ima_len };

		if ((tail || ima) && heap_push(r, &x)) {
			struct fw_error e;

			free(tail);
			free(ima);
			fw_error_set(&e, FW_EIO, NULL, "out of memory");
			fail_locked(r, &e);
		} else {
			r->held += tail ? len : 0;
		}
		set_ready(r, idx);
	}
	if (r->putting) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	r->putting = 1;
	while (!r->failed && r->next_put < r->img->n &&
	       is_ready(r, r->next_put)) {
		size_t i = r->next_put++;
		struct result x = { 0 };
		struct fw_error e;
		int rc;

		heap_take(r, i, &x);
		pthread_mutex_unlock(&r->lock);
		fw_error_clear(&e);
		rc = x.ima ? put_ima(r, i, x.ima, x.ima_len, &e) : FW_OK;
		if (!rc && x.tail && f->out_put_append)
			rc = f->out_put_append(r->out, i, x.keep, x.tail,
					       x.len, &e);
		else if (!rc)
			rc = f->out_put(r->out, i, x.tail, x.len, &e);
		free(x.tail);
		free(x.ima);
		pthread_mutex_lock(&r->lock);
		r->held -= x.len;
		if (rc)
			fail_locked(r, &e);
		pthread_cond_broadcast(&r->drained);
	}
	r->putting = 0;
	pthread_mutex_unlock(&r->lock);
}

/*
 * Before a worker takes more work for an ordered format: wait while too
 * much is held.  Never waits forever: what is held waits only for entries
 * already taken, whose workers do not wait here.
 */
static void ordered_throttle(struct run *r)
{
	pthread_mutex_lock(&r->lock);
	while (!r->failed && r->held > HOLD_MAX)
		pthread_cond_wait(&r->drained, &r->lock);
	pthread_mutex_unlock(&r->lock);
}

static void plan(struct fw_record *rec, int sign_other)
{
	if (rec->elf.kind == FW_KIND_MALFORMED) {
		rec->action = FW_ACT_SKIP;
		rec->result = FW_RES_WARN;
	} else if (rec->elf.kind == FW_KIND_NOT_ELF) {
		rec->action = FW_ACT_NONE;
	} else if (!fw_kind_signable(rec->elf.kind, sign_other)) {
		rec->action = FW_ACT_SKIP;
	} else {
		rec->action = FW_ACT_SIGN;
	}
}

/* The input is one file named on its own, not a tree or an image. */
static int single_file(const struct run *r)
{
	return r->img->n == 1 && !*r->img->ent[0].path;
}

/*
 * What a worker hands to the output: unchanged (tail NULL), or keep bytes
 * of the input and a tail.  An ordered format gets it later: sg->tail is
 * then taken over.
 */
static int put_signed(struct run *r, size_t idx, const struct fw_bytes *b,
		      struct fw_signed *sg, uint8_t **ima, size_t ima_len,
		      struct fw_error *err)
{
	const struct fw_format *f = r->img->fmt;
	uint8_t *whole, *iv = *ima;
	size_t len;
	int rc;

	/* ordered: ordered_done takes *ima and sets it first */
	if (!r->ready && iv && put_ima(r, idx, iv, ima_len, err))
		return err->code;
	if (!sg->tail) {
		if (r->ready) {
			*ima = NULL;
			ordered_done(r, idx, 0, NULL, 0, iv, ima_len);
		}
		return r->ready ? FW_OK : f->out_put(r->out, idx, NULL, 0, err);
	}
	if (f->out_put_append) {
		if (!r->ready)
			return f->out_put_append(r->out, idx, sg->keep,
						 sg->tail, sg->tail_len, err);
		*ima = NULL;
		ordered_done(r, idx, sg->keep, sg->tail, sg->tail_len, iv,
			     ima_len);
		sg->tail = NULL;
		return FW_OK;
	}
	len = sg->keep + sg->tail_len;
	whole = malloc(len ? len : 1);
	if (!whole)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	memcpy(whole, b->p, sg->keep);
	memcpy(whole + sg->keep, sg->tail, sg->tail_len);
	if (r->ready) {
		*ima = NULL;
		ordered_done(r, idx, 0, whole, len, iv, ima_len);
		return FW_OK;
	}
	rc = f->out_put(r->out, idx, whole, len, err);
	free(whole);
	return rc;
}

/* The bytes of entry idx: mapped if the format can, else read. */
static int get_bytes(struct run *r, size_t idx, struct fw_bytes *b,
		     struct fw_error *err)
{
	const struct fw_format *f = r->img->fmt;
	int rc;

	fw_bytes_init(b);
	if (f->map)
		return f->map(r->img, idx, b, err);
	rc = f->read(r->img, idx, &b->owned, &b->len, err);
	b->p = b->owned;
	return rc;
}

static void kernel_msg(struct fw_record *rec, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void kernel_msg(struct fw_record *rec, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(rec->msg);
	rec->msg = fw_strdup(msg);
}

/* A kernel file: its slot read, the certificate put in it when signing
 * (the format writes the new bytes as those of any signed file). */
static int kernel_file(struct run *r, size_t idx, const struct fw_bytes *b,
		       struct fw_record *rec, struct fw_error *err)
{
	struct fw_kernel_files *kf = r->kf;
	struct fw_kernel_opts ko = { .replace = 1 };
	struct fw_kernel_info ki;
	struct fw_signed sg = { 0 };
	uint8_t *no_ima = NULL;		/* a kernel file is not mapped */
	int rc, ours, noslot = 0, inj = 0;

	rec->size = (int64_t)b->len;
	rc = fw_kernel_info_buf(b->p, b->len, rec->path, NULL, &ki, err);
	if (rc == FW_EINPUT) {
		/* kernel-like bytes kernel.c does not take: data */
		kernel_msg(rec, "looks like a kernel, left as it is: %s",
			   err->msg);
		fw_error_clear(err);
		return r->out ? put_signed(r, idx, b, &sg, &no_ima, 0, err) :
				 FW_OK;
	}
	if (rc)
		return rc;
	ours = ki.state == FW_KSLOT_CERT && kf->der &&
	       !memcmp(ki.cert_sha256, kf->der_sha256, 32);
	if (ki.state == FW_KSLOT_NONE) {
		noslot = 1;
		/* the path in the message too: a blob's walk names the
		 * filesystem, not the file, in err->file; a plan (inject set,
		 * mode scan) fails as the signing would */
		if (kf->inject && !kf->skip_noslot)
			return fw_error_set(err, FW_EINPUT, rec->path,
					    "%s: kernel without an extra-"
					    "certificate slot (%s); build it "
					    "with CONFIG_SYSTEM_EXTRA_"
					    "CERTIFICATE, or pass "
					    "--skip-kernels-without-slot",
					    rec->path, ki.note);
		kernel_msg(rec, "kernel (%s) without a certificate slot, "
			   "left as it is", ki.format);
	} else if (!kf->inject || ours || !kf->der) {
		kernel_msg(rec, "kernel (%s), slot: %s%s", ki.format,
			   fw_kslot_state_name(ki.state),
			   ours ? ", our certificate" : "");
	} else if (r->mode != MODE_SIGN) {
		kernel_msg(rec, "kernel (%s): would get the certificate",
			   ki.format);
	} else {
		rc = fw_kernel_inject_buf(b->p, b->len, rec->path, kf->der,
					  kf->der_len, &ko, &sg.tail,
					  &sg.tail_len, &ki, err);
		if (rc) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			return fw_error_set(err, rc, rec->path, "%s: %s",
					    rec->path, msg);
		}
		ours = inj = 1;
		rec->bytes_added = (int64_t)sg.tail_len - (int64_t)b->len;
		kernel_msg(rec, "kernel (%s): certificate put in the slot",
			   ki.format);
	}
	pthread_mutex_lock(&r->lock);
	kf->n++;
	kf->n_cert += ours;
	kf->n_noslot += noslot;
	kf->n_injected += inj;
	pthread_mutex_unlock(&r->lock);
	rc = r->out ? put_signed(r, idx, b, &sg, &no_ima, 0, err) : FW_OK;
	free(sg.tail);
	return rc;
}

/*
 * What security.ima says of an ELF file the format can tell xattrs of
 * (v NULL: no certificate, info).  A file without one is "missing" only
 * when IMA was asked for, so that reports of other images stay as they
 * were.
 */
static void ima_look(struct run *r, size_t idx, struct fw_verifier *v,
		     const struct fw_bytes *b, struct fw_record *rec)
{
	const struct fw_format *f = r->img->fmt;
	struct fw_xattr *x = NULL;
	struct fw_error e;
	size_t n = 0, k;

	if (!f->xattrs || rec->elf.kind == FW_KIND_NOT_ELF ||
	    rec->elf.kind == FW_KIND_MALFORMED)
		return;
	fw_error_clear(&e);
	if (f->xattrs(r->img, idx, &x, &n, &e)) {
		rec->ima = FW_IMA_BAD;
		return;
	}
	for (k = 0; k < n && strcmp(x[k].name, FW_IMA_XATTR); k++)
		;
	if (k < n || (r->o->ima && fw_ima_wanted(rec->elf.kind,
						 r->o->ima_modules)))
		fw_ima_check(v, k < n ? x[k].value : NULL, k < n ? x[k].len : 0,
			     b->p, b->len, rec);
	fw_xattrs_free(x, n);
}

/*
 * verify --ima: security.ima must be good on every file that gets one;
 * --ima-only: and the trailer does not count.
 */
static void ima_judge(struct run *r, struct fw_record *rec)
{
	char msg[64];

	if (r->o->ima == FW_IMA_ONLY && rec->sig != FW_SIG_NONE) {
		rec->sig = FW_SIG_NONE;
		rec->result = FW_RES_OK;
		free(rec->msg);
		rec->msg = NULL;
	}
	if (!r->o->ima || rec->ima == FW_IMA_GOOD ||
	    !fw_ima_wanted(rec->elf.kind, r->o->ima_modules) ||
	    rec->result == FW_RES_ERROR)
		return;
	snprintf(msg, sizeof(msg), "security.ima: %s",
		 fw_imastate_name(rec->ima == FW_IMA_NONE ? FW_IMA_MISSING
							  : rec->ima));
	rec->result = FW_RES_ERROR;
	free(rec->msg);
	rec->msg = fw_strdup(msg);
}

/*
 * File digests (fwsign/cache.h): a signed file whose stored form another
 * run of this batch has hashed is signed from the entry, without reading
 * it.  Only where the outcome is a trailer over the file as it lies
 * (template RSA signers, no IMA, a format that appends).
 */
static int digest_ok(const struct run *r)
{
	const struct fw_run_opts *o = r->o;

	return r->mode == MODE_SIGN && r->out && o->cache &&
	       fw_cache_has_secret(o->cache) && !o->ima && o->signer &&
	       r->img->fmt->stored && r->img->fmt->out_put_append &&
	       !single_file(r) && fw_signer_has_template(o->signer);
}

static int put_evp(void *ctx, const void *p, size_t n)
{
	return EVP_DigestUpdate(ctx, p, n) == 1 ? 0 : -1;
}

/* The key of file idx's digest entry: 0, or -1 (none). */
static int digest_key(struct run *r, size_t idx, uint8_t key[FW_CACHE_KEY])
{
	static const char dom[] = "fwsign-file-digest/1 " FWSIGN_VERSION;
	const char *md = EVP_MD_get0_name(fw_signer_md(r->o->signer));
	const char *fmt = r->img->fmt->name;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && md && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(c, dom, sizeof(dom)) == 1 &&
		 EVP_DigestUpdate(c, fmt, strlen(fmt) + 1) == 1 &&
		 EVP_DigestUpdate(c, md, strlen(md) + 1) == 1 &&
		 r->img->fmt->stored(r->img, idx, put_evp, c) == 0 &&
		 EVP_DigestFinal_ex(c, key, NULL) == 1;

	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

/* File idx signed from its digest entry: 1 (done, or failed: r->failed),
 * 0 when the entry does not fit (sign it as usual). */
static int digest_sign(struct run *r, size_t idx, const uint8_t *key,
		       struct fw_record *rec)
{
	struct fw_digest_entry e;
	struct fw_signed sg = { 0 };
	struct fw_bytes b = { 0 };
	struct fw_error err;
	uint8_t *no_ima = NULL;

	if (!fw_cache_digest_get(r->o->cache, key, &e))
		return 0;
	if (e.size != (uint64_t)r->img->ent[idx].st.st_size ||
	    e.keep > e.size || e.kind > FW_KIND_MALFORMED ||
	    (int)e.md_len != EVP_MD_get_size(fw_signer_md(r->o->signer)) ||
	    !fw_kind_signable((enum fw_kind)e.kind, r->o->sign_other))
		return 0;
	fw_error_clear(&err);
	if (fw_sign_trailer_digest(r->o->signer, e.md, e.md_len, &sg.tail,
				   &sg.tail_len, &err)) {
		snprintf(err.file, sizeof(err.file), "%s", rec->path);
		fail(r, &err);
		return 1;
	}
	sg.keep = (size_t)e.keep;
	rec->size = (int64_t)e.size;
	memset(&rec->elf, 0, sizeof(rec->elf));
	rec->elf.kind = (enum fw_kind)e.kind;
	rec->elf.elfclass = (int)e.elfclass;
	rec->elf.big_endian = (int)e.big_endian;
	rec->elf.machine = e.machine;
	rec->action = e.had_sig ? FW_ACT_RESIGN : FW_ACT_SIGN;
	rec->result = FW_RES_OK;
	rec->bytes_added = (int64_t)(sg.keep + sg.tail_len) - (int64_t)e.size;
	if (put_signed(r, idx, &b, &sg, &no_ima, 0, &err))
		fail(r, &err);
	free(sg.tail);
	return 1;
}

/* After file idx was signed the usual way: its digest entry. */
static void digest_store(struct run *r, const uint8_t *key,
			 const struct fw_bytes *b, const struct fw_signed *sg,
			 const struct fw_record *rec)
{
	struct fw_digest_entry e = { 0 };

	if (!sg->tail || !sg->md_len || sg->md_len > sizeof(e.md) ||
	    rec->codec || rec->msg || rec->result != FW_RES_OK ||
	    (rec->action != FW_ACT_SIGN && rec->action != FW_ACT_RESIGN))
		return;
	e.size = b->len;
	e.keep = sg->keep;
	e.had_sig = rec->action == FW_ACT_RESIGN;
	e.md_len = (uint8_t)sg->md_len;
	memcpy(e.md, sg->md, sg->md_len);
	e.kind = rec->elf.kind;
	e.elfclass = (uint32_t)rec->elf.elfclass;
	e.big_endian = (uint32_t)rec->elf.big_endian;
	e.machine = rec->elf.machine;
	fw_cache_digest_put(r->o->cache, key, &e);
}

static void do_one_rec(struct run *r, size_t idx, struct fw_scratch *scratch,
		       struct fw_record *rec)
{
	struct fw_error err;
	struct fw_bytes b = {
		.scratch = scratch,
		/* the bytes are only hashed: ext4 hands out big ELF files as
		 * segments of the image, squashfs as a stream it decodes
		 * block by block (put_append never reads them) */
		.sparse_ok = r->mode == MODE_SIGN &&
			     r->img->fmt->out_put_append,
	};
	struct fw_signed sg = { 0 };
	uint8_t *ima = NULL;
	size_t ima_len = 0;
	int rc, kernel = 0, elf_head = 0, dig = 0;
	uint8_t dkey[FW_CACHE_KEY];

	fw_error_clear(&err);
	/* Most files of an image are data: their first bytes say so, and
	 * the rest is never read (formats without peek map cheaply). */
	if (r->img->fmt->peek) {
		/* a bzImage says so at 0x202: look that far for kernels */
		uint8_t head[2 * FW_PEEK_LEN];
		ssize_t n = r->img->fmt->peek(r->img, idx, head,
					      r->kf ? sizeof(head) :
						      FW_PEEK_LEN, &err);
		/* compressed: a module only if its start says so */
		int data = n >= 0 &&
			   (n < 4 || memcmp(head, "\x7f" "ELF", 4) != 0) &&
			   (fw_codec_detect(head, (size_t)n) == FW_CODEC_NONE ||
			    !fw_blob_maybe_module(head, (size_t)n));

		if (n < 0) {
			rc = err.code ? err.code : FW_EIO;
			goto read_failed;
		}
		elf_head = n >= 4 && !memcmp(head, "\x7f" "ELF", 4);
		if (data && r->kf && fw_kernel_file_head(head, (size_t)n))
			data = 0, kernel = 1;
		if (data) {
			/* Not ELF, not a compressed module: nothing to read. */
			rec->size = r->img->ent[idx].st.st_size;
			if (r->mode == MODE_SIGN && single_file(r)) {
				fw_error_set(&err, FW_EINPUT, r->o->input,
					     "not-elf: nothing to sign");
				fail(r, &err);
			} else if (r->mode == MODE_SIGN && r->out &&
				   put_signed(r, idx, &b, &sg, &ima, 0, &err)) {
				fail(r, &err);
			}
			return;
		}
	}
	if (elf_head && !kernel && digest_ok(r) &&
	    digest_key(r, idx, dkey) == 0) {
		dig = 1;
		if (digest_sign(r, idx, dkey, rec))
			return;
	}
	rc = get_bytes(r, idx, &b, &err);
read_failed:
	if (rc) {
		if (r->mode == MODE_SIGN) {
			fail(r, &err);
			return;
		}
		rec->result = FW_RES_ERROR;
		rec->msg = fw_strdup(err.msg);
		return;
	}
	rec->size = (int64_t)b.len;
	if (r->kf && (kernel || (!r->img->fmt->peek &&
				 fw_kernel_file_head(b.p, b.len)))) {
		rc = kernel_file(r, idx, &b, rec, &err);
		if (rc) {
			if (!err.file[0])
				snprintf(err.file, sizeof(err.file), "%s",
					 rec->path);
			fail(r, &err);
		}
		fw_bytes_release(&b);
		return;
	}
	switch (r->mode) {
	case MODE_SCAN:
		fw_blob_scan(b.p, b.len, rec);
		plan(rec, r->o->sign_other);
		ima_look(r, idx, NULL, &b, rec);
		break;
	case MODE_VERIFY:
		fw_blob_verify(r->o->verifier, r->o->sign_other, b.p, b.len, rec);
		ima_look(r, idx, r->o->verifier, &b, rec);
		ima_judge(r, rec);
		break;
	case MODE_SIGN:
		if (r->o->ima == FW_IMA_ONLY) {
			fw_blob_scan(b.p, b.len, rec);
			plan(rec, r->o->sign_other);
			if (rec->action == FW_ACT_SIGN &&
			    !fw_ima_wanted(rec->elf.kind, r->o->ima_modules))
				rec->action = FW_ACT_SKIP;
			rc = FW_OK;
		} else {
			rc = fw_blob_sign(r->o->signer, r->o->sign_other, b.p,
					  b.len, b.seg, b.n_seg, &sg, rec,
					  &err);
		}
		if (!rc && r->o->ima && r->out &&
		    fw_ima_wanted(rec->elf.kind, r->o->ima_modules) &&
		    (rec->action == FW_ACT_SIGN || rec->action == FW_ACT_RESIGN)) {
			const struct fw_seg all = { b.p, b.len, NULL, NULL };

			rc = fw_ima_sign_segs(r->o->signer,
					      b.seg ? b.seg : &all,
					      b.seg ? b.n_seg : 1,
					      sg.tail ? sg.keep : b.len,
					      sg.tail, sg.tail_len, &ima,
					      &ima_len, &err);
			if (!rc)
				rec->ima = FW_IMA_GOOD;
		}
		/* a stream that failed says why better than the signer */
		if (rc && b.feed_err && b.feed_err->code) {
			err = *b.feed_err;
			rc = err.code;
			rec->result = FW_RES_ERROR;
		}
		if (rc) {
			if (!err.file[0])
				snprintf(err.file, sizeof(err.file), "%s",
					 rec->path);
			fail(r, &err);
			break;
		}
		/* A file named on its own that cannot be signed is bad input. */
		if (!sg.tail && !ima && single_file(r)) {
			fw_error_set(&err, FW_EINPUT, r->o->input, "%s: %s",
				     fw_kind_name(rec->elf.kind),
				     rec->msg ? rec->msg : "nothing to sign");
			fail(r, &err);
			break;
		}
		if (dig)
			digest_store(r, dkey, &b, &sg, rec);
		if (r->out && put_signed(r, idx, &b, &sg, &ima, ima_len, &err))
			fail(r, &err);
		break;
	}
	free(ima);
	free(sg.tail);
	fw_bytes_release(&b);
}

/* The path of entry idx as its record says it. */
static char *rec_path(const struct run *r, size_t idx)
{
	const char *p = r->img->ent[idx].path;

	return (char *)(*p ? p : r->o->input);	/* never freed */
}

/* Entry idx done into its record, which goes to the report's store. */
static void do_one(struct run *r, size_t idx, struct fw_scratch *scratch)
{
	struct fw_record rec = { .path = rec_path(r, idx) };
	struct fw_error err;

	do_one_rec(r, idx, scratch, &rec);
	fw_error_clear(&err);
	if (fw_recstore_put(r->rep, r->rec_of[idx], &rec, &err))
		fail(r, &err);
	free(rec.msg);
}

/*
 * Every this many files handed out, the spill maps (the entries, their
 * names, a format's per-inode tables) give back their pages: what was
 * used for the files before is not used again, so the resident part of
 * those tables stays about this many files' worth.
 */
#define TRIM_EVERY 1024

static void *worker(void *arg)
{
	struct run *r = arg;
	struct fw_scratch scratch = { 0 };
	size_t i;

	for (;;) {
		if (r->ready)
			ordered_throttle(r);
		if (r->failed || (i = atomic_fetch_add(&r->next, 1)) >= r->n_work)
			break;
		if (i % TRIM_EVERY == TRIM_EVERY - 1)
			fw_spillmap_trim_all();
		do_one(r, r->work[i], &scratch);
		size_t d = atomic_fetch_add(&r->done, 1) + 1;

		if (r->o->progress) {
			pthread_mutex_lock(&r->lock);
			r->o->progress(r->o->progress_arg, d, r->n_work);
			pthread_mutex_unlock(&r->lock);
		}
	}
	free(scratch.p);
	return NULL;
}

static int run_parallel(struct run *r)
{
	int n = r->o->jobs > 0 ? r->o->jobs : fw_ncpus();
	pthread_t *t;
	int started = 0;

	if ((size_t)n > r->n_work)
		n = r->n_work ? (int)r->n_work : 1;
	/* This thread is one of the n workers (the only one if even this
	 * calloc fails: slower, never wrong). */
	t = n > 1 ? calloc((size_t)n - 1, sizeof(*t)) : NULL;
	for (int i = 0; t && i < n - 1; i++)
		if (fw_thread_create(&t[started], worker, r) == 0)
			started++;
	worker(r);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	free(t);
	return FW_OK;
}

static void tally(struct fw_report *rep)
{
	for (size_t i = 0; i < rep->n; i++) {
		const struct fw_record *c = fw_report_rec(rep, i);

		rep->counts[c->elf.kind]++;
		rep->bytes_in += (uint64_t)c->size;
		if (c->link_of)
			continue;
		rep->sig_counts[c->sig]++;
		rep->bytes_added += c->bytes_added;
		rep->n_signed += c->action == FW_ACT_SIGN;
		rep->n_resigned += c->action == FW_ACT_RESIGN;
		rep->n_skipped += c->action == FW_ACT_SKIP;
		rep->n_warn += c->result == FW_RES_WARN;
		rep->n_error += c->result == FW_RES_ERROR;
	}
}

static int run(const struct fw_run_opts *o, enum mode mode,
	       struct fw_kernel_files *kf, struct fw_report *rep,
	       struct fw_error *err)
{
	struct run r;
	struct timespec t0, t1;
	size_t n_rec = 0, n_reg = 0;
	int rc, ordered;

	memset(rep, 0, sizeof(*rep));
	memset(&r, 0, sizeof(r));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r.o = o;
	r.mode = mode;
	r.rep = rep;
	r.kf = kf;
	pthread_mutex_init(&r.lock, NULL);
	pthread_cond_init(&r.drained, NULL);
	fw_error_clear(&r.err);

	const struct fw_out_opts oo = {
		.path = o->output, .in_place = o->in_place,
		.max_size = o->max_size, .jobs = o->jobs,
		.xattrs = o->ima != 0, .cache = o->cache,
	};
	const int writing = mode == MODE_SIGN && !o->dry_run;

	/* a killed --in-place run's temporaries are not files of the tree */
	if (writing && o->in_place) {
		struct stat ist;

		if (lstat(o->input, &ist) == 0 && S_ISDIR(ist.st_mode))
			fw_tmp_sweep_tree(o->input);
	}
	rc = fw_image_open(o->input, writing ? &oo : NULL, &r.img, err);
	if (rc)
		return rc;
	rep->format = r.img->fmt->name;
	rep->warnings = r.img->warnings;	/* the report owns them now */
	rep->n_warnings = r.img->n_warnings;
	r.img->warnings = NULL;
	r.img->n_warnings = 0;
	ordered = (r.img->fmt->flags & FW_FMT_ORDERED) != 0;
	/* A record per regular file (directories get none). */
	for (size_t i = 0; i < r.img->n; i++)
		n_reg += S_ISREG(r.img->ent[i].st.st_mode) != 0;
	if (r.img->n >= UINT32_MAX) {
		rc = fw_error_set(err, FW_EINPUT, o->input, "more than %u "
				  "entries", UINT32_MAX - 1);
		goto out;
	}
	r.work_map = fw_spillmap_new(0);
	r.rec_map = fw_spillmap_new(0);
	r.work = r.work_map ? fw_spillmap_grow(r.work_map, (n_reg + 1) *
					       sizeof(*r.work)) : NULL;
	r.rec_of = r.rec_map ? fw_spillmap_grow(r.rec_map, (r.img->n + 1) *
					       sizeof(*r.rec_of)) : NULL;
	if (!r.work || !r.rec_of) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	rc = fw_recstore_ensure(rep, err);
	if (rc)
		goto out;
	/* Each record is written once its file is done (do_one, and the
	 * hard links below): the report holds none in memory. */
	for (size_t i = 0; i < r.img->n; i++) {
		const struct fw_entry *e = &r.img->ent[i];

		if (!S_ISREG(e->st.st_mode))
			continue;
		r.rec_of[i] = (uint32_t)n_rec++;
		if (e->link_of == FW_NO_LINK)
			r.work[r.n_work++] = (uint32_t)i;
	}
	rep->n = n_rec;

	if (writing && o->ima && !r.img->fmt->out_xattr) {
		rc = fw_error_set(err, FW_EINPUT, o->input, "%s cannot carry "
				  "xattrs%s, so no IMA signatures: sign it "
				  "without --ima (appended signatures)",
				  r.img->fmt->name,
				  strcmp(r.img->fmt->name, "cpio") ? ""
				  : " (nor can an initramfs)");
		goto out;
	}
	if (writing) {
		rc = r.img->fmt->out_begin(r.img, &oo, &r.out, err);
		if (rc)
			goto out;
		if (ordered) {
			r.ready = malloc(r.img->n / 8 + 1);
			if (!r.ready) {
				rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
				goto out;
			}
			/* Only the files workers sign are not ready yet. */
			memset(r.ready, 0xff, r.img->n / 8 + 1);
			for (size_t i = 0; i < r.n_work; i++)
				r.ready[r.work[i] / 8] &=
					(unsigned char)~(1u << (r.work[i] % 8));
		}
		/* Directories, symlinks and special files first, in order. */
		for (size_t i = 0; !ordered && i < r.img->n && !rc; i++)
			if (!S_ISREG(r.img->ent[i].st.st_mode))
				rc = r.img->fmt->out_put(r.out, i, NULL, 0, err);
		if (rc)
			goto out;
	}
	/* the passes above touched every entry */
	fw_spillmap_trim_all();
	run_parallel(&r);
	if (r.ready)
		ordered_done(&r, FW_NO_LINK, 0, NULL, 0, NULL, 0);	/* after the last file */
	if (r.ready && !r.failed && r.next_put != r.img->n) {
		fw_error_set(&r.err, FW_EIO, NULL, "internal error: entry %zu "
			     "of %zu not written", r.next_put, r.img->n);
		r.failed = 1;
	}
	if (r.failed) {
		*err = r.err;
		rc = err->code;
		goto out;
	}
	/* Later names of hard links: same record, linked in the output. */
	for (size_t i = 0; i < r.img->n && !rc; i++) {
		const struct fw_entry *e = &r.img->ent[i];
		struct fw_record first, c;

		if (!S_ISREG(e->st.st_mode) || e->link_of == FW_NO_LINK)
			continue;
		rc = fw_recstore_get(rep, r.rec_of[e->link_of], &first, err);
		if (rc)
			break;
		c = (struct fw_record){
			.path = rec_path(&r, i), .elf = first.elf,
			.codec = first.codec, .action = first.action,
			.result = first.result, .sig = first.sig,
			.ima = first.ima, .ima_keyid = first.ima_keyid,
			.size = first.size, .link_of = first.path,
		};
		rc = fw_recstore_put(rep, r.rec_of[i], &c, err);
		fw_record_clear(&first);
		if (rc)
			break;
		if (r.out && !ordered)
			rc = r.img->fmt->out_put(r.out, i, NULL, 0, err);
	}
	if (!rc && r.out) {
		/* the pass above touched every entry again */
		fw_spillmap_trim_all();
		rc = r.img->fmt->out_commit(r.out, err);
	}
out:
	if (r.out)
		r.img->fmt->out_abort(r.out);
	if (!rc)	/* a failed run's records are not all written */
		tally(rep);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rep->seconds = (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (size_t i = 0; i < r.n_heap; i++) {
		free(r.heap[i].tail);
		free(r.heap[i].ima);
	}
	free(r.heap);
	free(r.ready);
	fw_image_close(r.img);
	fw_spillmap_free(r.work_map);
	fw_spillmap_free(r.rec_map);
	pthread_cond_destroy(&r.drained);
	pthread_mutex_destroy(&r.lock);
	return rc;
}

int fw_sign_image(const struct fw_run_opts *o, struct fw_report *rep,
		  struct fw_error *err)
{
	if (!o->dry_run && !o->signer)
		return fw_error_set(err, FW_EUSAGE, NULL, "no signing key");
	if (!o->dry_run && !o->in_place && !o->output)
		return fw_error_set(err, FW_EUSAGE, NULL,
				    "give an output file, or sign in place");
	return run(o, o->dry_run ? MODE_SCAN : MODE_SIGN, NULL, rep, err);
}

int fw_verify_image(const struct fw_run_opts *o, struct fw_report *rep,
		    struct fw_error *err)
{
	if (!o->verifier)
		return fw_error_set(err, FW_EUSAGE, NULL, "no certificate");
	return run(o, MODE_VERIFY, NULL, rep, err);
}

int fw_scan_image(const struct fw_run_opts *o, struct fw_report *rep,
		  struct fw_error *err)
{
	return run(o, MODE_SCAN, NULL, rep, err);
}

int fw_run_image_kernels(const struct fw_run_opts *o, int what,
			 struct fw_kernel_files *kf, struct fw_report *rep,
			 struct fw_error *err)
{
	if (what == 2 && !o->verifier)
		return fw_error_set(err, FW_EUSAGE, NULL, "no certificate");
	if (what == 2)
		return run(o, MODE_VERIFY, kf, rep, err);
	if (what == 1 && !o->dry_run) {
		if (!o->signer)
			return fw_error_set(err, FW_EUSAGE, NULL,
					    "no signing key");
		if (!o->in_place && !o->output)
			return fw_error_set(err, FW_EUSAGE, NULL, "give an "
					    "output file, or sign in place");
		return run(o, MODE_SIGN, kf, rep, err);
	}
	return run(o, MODE_SCAN, kf, rep, err);
}

void fw_report_free(struct fw_report *rep)
{
	fw_recstore_free(rep->store);
	for (size_t i = 0; i < rep->n_warnings; i++)
		free(rep->warnings[i]);
	free(rep->warnings);
	memset(rep, 0, sizeof(*rep));
}
