// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A report's records in two unlinked temporary files (recstore.h): slot i
 * of the first holds record i, its strings lie in the second.  Writes go
 * through small buffers (a run of consecutive slots, the strings' tail),
 * so that a run of tens of thousands of files makes a few hundred system
 * calls, not one per record.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recstore.h"
#include "io.h"
#include "codec.h"

enum { S_PATH, S_MSG, S_LINK, S_N };

struct slot {
	struct fw_record r;	/* its pointers NULL */
	uint64_t off[S_N];	/* in the strings file; len 0: NULL */
	uint32_t len[S_N];	/* with the NUL */
	int32_t codec;		/* enum fw_codec, as fw_codec_name says */
};

#define SLOT_RUN 256		/* slots buffered */
#define STR_BUF ((size_t)64 << 10)
#define WIN 64			/* records decoded for fw_report_rec */

struct fw_recstore {
	pthread_mutex_t lock;
	int slot_fd, str_fd;
	/* slots of [run_first, run_first + SLOT_RUN) not yet written:
	 * those with filled set (workers finish nearly in order) */
	struct slot run[SLOT_RUN];
	unsigned char filled[SLOT_RUN];
	size_t run_first, run_n;	/* run_n: how many are filled */
	/* the strings file: [0, str_flushed) written, then str_buf */
	uint64_t str_flushed;
	char *str_buf;
	size_t str_used;
	/* fw_report_rec's window */
	struct fw_record win[WIN];
	size_t win_first, win_n;
	struct fw_record bad;	/* what an unreadable record reads as */
};

int fw_recstore_ensure(struct fw_report *rep, struct fw_error *err)
{
	struct fw_recstore *s;

	if (rep->store)
		return FW_OK;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->str_buf = malloc(STR_BUF))) {
		free(s);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	s->slot_fd = fw_tmp_anon_fd("fwsign-report");
	s->str_fd = s->slot_fd >= 0 ? fw_tmp_anon_fd("fwsign-report") : -1;
	if (s->str_fd < 0) {
		int e = errno;

		if (s->slot_fd >= 0)
			close(s->slot_fd);
		free(s->str_buf);
		free(s);
		return fw_error_set(err, FW_EIO, getenv("TMPDIR"),
				    "cannot make a temporary file for the "
				    "report: %s", strerror(e));
	}
	pthread_mutex_init(&s->lock, NULL);
	rep->store = s;
	return FW_OK;
}

/* All of len bytes at off, or -1 (a short read is a damaged store). */
static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	return fw_pread_full(fd, buf, len, off) == (ssize_t)len ? 0 : -1;
}

/* Writes the filled slots of the run, a stretch at a time. */
static int flush_run(struct fw_recstore *s)
{
	int rc = 0;

	for (size_t k = 0; s->run_n && k < SLOT_RUN;) {
		size_t e = k;

		if (!s->filled[k]) {
			k++;
			continue;
		}
		while (e < SLOT_RUN && s->filled[e])
			e++;
		if (fw_pwrite_full(s->slot_fd, &s->run[k], (e - k) * sizeof(*s->run),
			       (s->run_first + k) * sizeof(*s->run)))
			rc = -1;
		k = e;
	}
	memset(s->filled, 0, sizeof(s->filled));
	s->run_n = 0;
	return rc;
}

static int flush_str(struct fw_recstore *s)
{
	int rc = 0;

	if (s->str_used)
		rc = fw_pwrite_full(s->str_fd, s->str_buf, s->str_used,
				s->str_flushed);
	s->str_flushed += s->str_used;
	s->str_used = 0;
	return rc;
}

/* Appends a string (locked); its offset and length in *off, *len. */
static int add_str(struct fw_recstore *s, const char *str, uint64_t *off,
		   uint32_t *len)
{
	size_t n;

	*off = 0;
	*len = 0;
	if (!str)
		return 0;
	n = strlen(str) + 1;
	if (n > UINT32_MAX)
		n = UINT32_MAX;	/* cut, never seen */
	if (s->str_used + n > STR_BUF && flush_str(s))
		return -1;
	*off = s->str_flushed + s->str_used;
	*len = (uint32_t)n;
	if (n > STR_BUF) {
		s->str_flushed += n;
		return fw_pwrite_full(s->str_fd, str, n, *off);
	}
	memcpy(s->str_buf + s->str_used, str, n);
	s->str_used += n;
	return 0;
}

static void win_drop(struct fw_recstore *s)
{
	for (size_t k = 0; k < s->win_n; k++)
		fw_record_clear(&s->win[k]);
	s->win_n = 0;
}

int fw_recstore_put(struct fw_report *rep, size_t i,
		    const struct fw_record *rec, struct fw_error *err)
{
	struct fw_recstore *s;
	struct slot sl;
	int rc = FW_OK;

	rc = fw_recstore_ensure(rep, err);
	if (rc)
		return rc;
	s = rep->store;
	memset(&sl, 0, sizeof(sl));
	sl.r.elf = rec->elf;
	sl.r.action = rec->action;
	sl.r.result = rec->result;
	sl.r.sig = rec->sig;
	sl.r.bytes_added = rec->bytes_added;
	sl.r.size = rec->size;
	sl.r.ima = rec->ima;
	sl.r.ima_keyid = rec->ima_keyid;
	for (int c = FW_CODEC_GZIP; rec->codec && c <= FW_CODEC_LZ4; c++)
		if (!strcmp(rec->codec, fw_codec_name((enum fw_codec)c)))
			sl.codec = c;
	pthread_mutex_lock(&s->lock);
	if (s->win_n && i < s->win_first + s->win_n && i >= s->win_first)
		win_drop(s);
	if (add_str(s, rec->path, &sl.off[S_PATH], &sl.len[S_PATH]) ||
	    add_str(s, rec->msg, &sl.off[S_MSG], &sl.len[S_MSG]) ||
	    add_str(s, rec->link_of, &sl.off[S_LINK], &sl.len[S_LINK])) {
		rc = -1;
	} else {
		if (!s->run_n || i < s->run_first ||
		    i >= s->run_first + SLOT_RUN) {
			if (flush_run(s))
				rc = -1;
			/* room for a few that come late */
			s->run_first = i >= SLOT_RUN / 16 ? i - SLOT_RUN / 16
							   : 0;
		}
		s->run[i - s->run_first] = sl;
		s->run_n += !s->filled[i - s->run_first];
		s->filled[i - s->run_first] = 1;
	}
	pthread_mutex_unlock(&s->lock);
	if (rc)
		return fw_error_set(err, FW_EIO, NULL, "cannot write the "
				    "report's temporary file: %s",
				    strerror(errno));
	return FW_OK;
}

/* Strings [off, off + len) of the file read at once, for a window. */
struct span {
	char *p;
	uint64_t off;
	size_t len;
};

#define SPAN_MAX ((size_t)256 << 10)

/* A string of the store (locked), malloc'ed into *out; 0 or -1. */
static int get_str(struct fw_recstore *s, const struct span *sp,
		   uint64_t off, uint32_t len, char **out)
{
	*out = NULL;
	if (!len)
		return 0;
	*out = malloc(len);
	if (!*out)
		return -1;
	if (off >= s->str_flushed)
		memcpy(*out, s->str_buf + (off - s->str_flushed), len);
	else if (sp->p && off >= sp->off && off + len <= sp->off + sp->len)
		memcpy(*out, sp->p + (off - sp->off), len);
	else if (pread_all(s->str_fd, *out, len, off))
		return -1;
	(*out)[len - 1] = '\0';
	return 0;
}

/* The written strings of n slots, if they lie close: one read. */
static void span_read(struct fw_recstore *s, const struct slot *sl, size_t n,
		      struct span *sp)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	memset(sp, 0, sizeof(*sp));
	for (size_t k = 0; k < n; k++)
		for (int j = 0; j < S_N; j++) {
			uint64_t end = sl[k].off[j] + sl[k].len[j];

			if (!sl[k].len[j] || end > s->str_flushed)
				continue;
			lo = sl[k].off[j] < lo ? sl[k].off[j] : lo;
			hi = end > hi ? end : hi;
		}
	if (hi <= lo || hi - lo > SPAN_MAX || !(sp->p = malloc(hi - lo)))
		return;
	if (pread_all(s->str_fd, sp->p, hi - lo, lo)) {
		free(sp->p);
		sp->p = NULL;
		return;
	}
	sp->off = lo;
	sp->len = hi - lo;
}

/* Slots [i, i + n) decoded into rec (locked); 0 or -1. */
static int get_locked(struct fw_recstore *s, size_t i, size_t n,
		      struct fw_record *rec)
{
	struct slot sl[WIN];
	size_t k;

	/* whatever is buffered goes out first: one place to read from */
	if (flush_run(s))
		return -1;
	struct span sp;

	if (pread_all(s->slot_fd, sl, n * sizeof(*sl), i * sizeof(*sl)))
		return -1;
	span_read(s, sl, n, &sp);
	for (k = 0; k < n; k++) {
		char *p, *m, *l;

		rec[k] = sl[k].r;
		rec[k].codec = sl[k].codec ?
			fw_codec_name((enum fw_codec)sl[k].codec) : NULL;
		if (get_str(s, &sp, sl[k].off[S_PATH], sl[k].len[S_PATH], &p) ||
		    (rec[k].path = p, 0) ||
		    get_str(s, &sp, sl[k].off[S_MSG], sl[k].len[S_MSG], &m) ||
		    (rec[k].msg = m, 0) ||
		    get_str(s, &sp, sl[k].off[S_LINK], sl[k].len[S_LINK], &l) ||
		    (rec[k].link_of = l, 0)) {
			for (size_t j = 0; j <= k; j++)
				fw_record_clear(&rec[j]);
			free(sp.p);
			return -1;
		}
	}
	free(sp.p);
	return 0;
}

int fw_recstore_get(const struct fw_report *rep, size_t i,
		    struct fw_record *rec, struct fw_error *err)
{
	struct fw_recstore *s = rep->store;
	int rc;

	memset(rec, 0, sizeof(*rec));
	if (!s)
		return fw_error_set(err, FW_EIO, NULL, "no such record");
	pthread_mutex_lock(&s->lock);
	rc = get_locked(s, i, 1, rec);
	pthread_mutex_unlock(&s->lock);
	if (rc)
		return fw_error_set(err, FW_EIO, NULL, "cannot read the "
				    "report's temporary file: %s",
				    strerror(errno));
	return FW_OK;
}

const struct fw_record *fw_report_rec(const struct fw_report *rep, size_t i)
{
	struct fw_recstore *s = rep->store;
	const struct fw_record *r;

	if (!s || i >= rep->n)
		return NULL;
	pthread_mutex_lock(&s->lock);
	if (!s->win_n || i < s->win_first || i >= s->win_first + s->win_n) {
		size_t n = rep->n - i < WIN ? rep->n - i : WIN;

		win_drop(s);
		if (get_locked(s, i, n, s->win)) {
			s->bad.path = (char *)"?";
			s->bad.msg = (char *)"cannot read the report's "
					     "temporary file";
			s->bad.result = FW_RES_ERROR;
			pthread_mutex_unlock(&s->lock);
			return &s->bad;
		}
		s->win_first = i;
		s->win_n = n;
	}
	r = &s->win[i - s->win_first];
	pthread_mutex_unlock(&s->lock);
	return r;
}

void fw_record_clear(struct fw_record *rec)
{
	free(rec->path);
	free(rec->msg);
	free(rec->link_of);
	memset(rec, 0, sizeof(*rec));
}

void fw_recstore_free(struct fw_recstore *s)
{
	if (!s)
		return;
	win_drop(s);
	close(s->slot_fd);
	close(s->str_fd);
	free(s->str_buf);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
