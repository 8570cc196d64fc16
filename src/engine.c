// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Walk an image, classify every regular file, and sign or verify the ELF
 * files on all cores.  Output order, and so the report, never depends on
 * the number of threads.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "../formats/format.h"

enum mode { MODE_SCAN, MODE_SIGN, MODE_VERIFY };

struct run {
	const struct fw_run_opts *o;
	enum mode mode;
	struct fw_image *img;
	void *out;
	size_t *work;		/* entry indices done in parallel */
	size_t n_work;
	size_t *rec_of;		/* entry index -> record index */
	struct result { uint8_t *buf; size_t len; } *res;	/* ordered formats */
	struct fw_report *rep;
	atomic_size_t next;
	atomic_size_t done;
	atomic_int failed;
	pthread_mutex_t lock;
	struct fw_error err;	/* the first error */
};

static void fail(struct run *r, const struct fw_error *e)
{
	pthread_mutex_lock(&r->lock);
	if (!r->failed) {
		r->err = *e;
		r->failed = 1;
	}
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

static void do_one(struct run *r, size_t idx)
{
	struct fw_record *rec = &r->rep->rec[r->rec_of[idx]];
	struct fw_error err;
	uint8_t *buf = NULL, *out = NULL;
	size_t len = 0, out_len = 0;
	int rc;

	fw_error_clear(&err);
	if (r->img->fmt->peek) {
		uint8_t head[8];
		ssize_t n = r->img->fmt->peek(r->img, idx, head, sizeof(head), &err);

		if (n < 0) {
			rc = err.code ? err.code : FW_EIO;
			goto read_failed;
		}
		if ((n < 4 || memcmp(head, "\x7f" "ELF", 4) != 0) &&
		    fw_codec_detect(head, (size_t)n) == FW_CODEC_NONE) {
			/* Not ELF, not a compressed module: nothing to read. */
			rec->size = r->img->ent[idx].st.st_size;
			if (r->mode == MODE_SIGN && single_file(r)) {
				fw_error_set(&err, FW_EINPUT, r->o->input,
					     "not-elf: nothing to sign");
				fail(r, &err);
			} else if (r->mode == MODE_SIGN && r->out && !r->res &&
			    (rc = r->img->fmt->out_put(r->out, idx, NULL, 0, &err)))
				fail(r, &err);
			return;
		}
	}
	rc = r->img->fmt->read(r->img, idx, &buf, &len, &err);
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
	rec->size = (int64_t)len;
	switch (r->mode) {
	case MODE_SCAN:
		fw_blob_scan(buf, len, rec);
		plan(rec, r->o->sign_other);
		break;
	case MODE_VERIFY:
		fw_blob_verify(r->o->verifier, r->o->sign_other, buf, len, rec);
		break;
	case MODE_SIGN:
		rc = fw_blob_sign(r->o->signer, r->o->sign_other, buf, len,
				  &out, &out_len, rec, &err);
		if (rc) {
			if (!err.file[0])
				snprintf(err.file, sizeof(err.file), "%s",
					 rec->path);
			fail(r, &err);
			break;
		}
		/* A file named on its own that cannot be signed is bad input. */
		if (!out && single_file(r)) {
			fw_error_set(&err, FW_EINPUT, r->o->input, "%s: %s",
				     fw_kind_name(rec->elf.kind),
				     rec->msg ? rec->msg : "nothing to sign");
			fail(r, &err);
			break;
		}
		if (r->res) {
			r->res[idx].buf = out;
			r->res[idx].len = out_len;
			out = NULL;	/* put in order later */
		} else if (r->out) {
			rc = r->img->fmt->out_put(r->out, idx, out, out_len, &err);
			if (rc)
				fail(r, &err);
		}
		break;
	}
	free(out);
	free(buf);
}

static void *worker(void *arg)
{
	struct run *r = arg;
	size_t i;

	while (!r->failed && (i = atomic_fetch_add(&r->next, 1)) < r->n_work) {
		do_one(r, r->work[i]);
		size_t d = atomic_fetch_add(&r->done, 1) + 1;

		if (r->o->progress) {
			pthread_mutex_lock(&r->lock);
			r->o->progress(r->o->progress_arg, d, r->n_work);
			pthread_mutex_unlock(&r->lock);
		}
	}
	return NULL;
}

static int run_parallel(struct run *r)
{
	int n = r->o->jobs > 0 ? r->o->jobs : fw_ncpus();
	pthread_t *t;
	int started = 0;

	if ((size_t)n > r->n_work)
		n = r->n_work ? (int)r->n_work : 1;
	if (n <= 1) {
		worker(r);
		return FW_OK;
	}
	t = calloc((size_t)n, sizeof(*t));
	if (!t)
		return fw_error_set(&r->err, FW_EIO, NULL, "out of memory");
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, worker, r) == 0)
			started++;
	if (!started)
		worker(r);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	free(t);
	return FW_OK;
}

static void tally(struct fw_report *rep)
{
	for (size_t i = 0; i < rep->n; i++) {
		const struct fw_record *c = &rep->rec[i];

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
	       struct fw_report *rep, struct fw_error *err)
{
	struct run r;
	struct timespec t0, t1;
	size_t n_rec = 0;
	int rc, ordered;

	memset(rep, 0, sizeof(*rep));
	memset(&r, 0, sizeof(r));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r.o = o;
	r.mode = mode;
	r.rep = rep;
	pthread_mutex_init(&r.lock, NULL);
	fw_error_clear(&r.err);

	rc = fw_image_open(o->input, &r.img, err);
	if (rc)
		return rc;
	rep->format = r.img->fmt->name;
	rep->warnings = r.img->warnings;	/* the report owns them now */
	rep->n_warnings = r.img->n_warnings;
	r.img->warnings = NULL;
	r.img->n_warnings = 0;
	ordered = (r.img->fmt->flags & FW_FMT_ORDERED) != 0;
	r.work = calloc(r.img->n + 1, sizeof(*r.work));
	r.rec_of = calloc(r.img->n + 1, sizeof(*r.rec_of));
	rep->rec = calloc(r.img->n + 1, sizeof(*rep->rec));
	if (!r.work || !r.rec_of || !rep->rec) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r.img->n; i++) {
		const struct fw_entry *e = &r.img->ent[i];

		if (!S_ISREG(e->st.st_mode))
			continue;
		r.rec_of[i] = n_rec;
		rep->rec[n_rec].path = strdup(*e->path ? e->path : o->input);
		if (!rep->rec[n_rec++].path) {
			rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
			goto out;
		}
		if (e->link_of == FW_NO_LINK)
			r.work[r.n_work++] = i;
	}
	rep->n = n_rec;

	if (mode == MODE_SIGN && !o->dry_run) {
		struct fw_out_opts oo = { o->output, o->in_place, o->max_size };

		rc = r.img->fmt->out_begin(r.img, &oo, &r.out, err);
		if (rc)
			goto out;
		if (ordered) {
			r.res = calloc(r.img->n + 1, sizeof(*r.res));
			if (!r.res) {
				rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
				goto out;
			}
		}
		/* Directories, symlinks and special files first, in order. */
		for (size_t i = 0; !ordered && i < r.img->n && !rc; i++)
			if (!S_ISREG(r.img->ent[i].st.st_mode))
				rc = r.img->fmt->out_put(r.out, i, NULL, 0, err);
		if (rc)
			goto out;
	}
	run_parallel(&r);
	if (r.failed) {
		*err = r.err;
		rc = err->code;
		goto out;
	}
	/* Later names of hard links: same record, linked in the output. */
	for (size_t i = 0; i < r.img->n && !rc; i++) {
		const struct fw_entry *e = &r.img->ent[i];
		struct fw_record *c, *first;

		if (!S_ISREG(e->st.st_mode) || e->link_of == FW_NO_LINK)
			continue;
		c = &rep->rec[r.rec_of[i]];
		first = &rep->rec[r.rec_of[e->link_of]];
		c->elf = first->elf;
		c->codec = first->codec;
		c->action = first->action;
		c->result = first->result;
		c->sig = first->sig;
		c->size = first->size;
		c->link_of = strdup(first->path);
		if (r.out && !ordered)
			rc = r.img->fmt->out_put(r.out, i, NULL, 0, err);
	}
	/* Ordered formats: every entry now, in order, with its new bytes. */
	for (size_t i = 0; ordered && r.out && i < r.img->n && !rc; i++) {
		rc = r.img->fmt->out_put(r.out, i, r.res[i].buf, r.res[i].len, err);
		free(r.res[i].buf);
		r.res[i].buf = NULL;
	}
	if (!rc && r.out)
		rc = r.img->fmt->out_commit(r.out, err);
out:
	if (r.out)
		r.img->fmt->out_abort(r.out);
	tally(rep);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rep->seconds = (double)(t1.tv_sec - t0.tv_sec) +
		       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (size_t i = 0; r.res && i < r.img->n; i++)
		free(r.res[i].buf);
	free(r.res);
	fw_image_close(r.img);
	free(r.work);
	free(r.rec_of);
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
				    "give -o OUTPUT or --in-place");
	return run(o, o->dry_run ? MODE_SCAN : MODE_SIGN, rep, err);
}

int fw_verify_image(const struct fw_run_opts *o, struct fw_report *rep,
		    struct fw_error *err)
{
	if (!o->verifier)
		return fw_error_set(err, FW_EUSAGE, NULL, "no certificate");
	return run(o, MODE_VERIFY, rep, err);
}

int fw_scan_image(const struct fw_run_opts *o, struct fw_report *rep,
		  struct fw_error *err)
{
	return run(o, MODE_SCAN, rep, err);
}

void fw_report_free(struct fw_report *rep)
{
	for (size_t i = 0; i < rep->n; i++) {
		free(rep->rec[i].path);
		free(rep->rec[i].msg);
		free(rep->rec[i].link_of);
	}
	free(rep->rec);
	for (size_t i = 0; i < rep->n_warnings; i++)
		free(rep->warnings[i]);
	free(rep->warnings);
	memset(rep, 0, sizeof(*rep));
}
