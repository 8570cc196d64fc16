// SPDX-License-Identifier: LGPL-2.1-or-later
/* Every format bids on the input; the highest bid opens it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "../src/spillmap.h"

static const struct fw_format *const builtin[] = {
	&fw_format_dir,
	&fw_format_ext4,
	&fw_format_squashfs,
	&fw_format_ubifs,
#ifdef FWSIGN_ARCHIVE_BUILTIN
	&fw_format_tar,
	&fw_format_cpio,
#endif
	NULL
};

#ifndef FWSIGN_ARCHIVE_BUILTIN
static pthread_once_t plugin_once = PTHREAD_ONCE_INIT;
static const struct fw_format *const *plugin;
static char plugin_why[512];
static const char anchor;	/* where this library lies */

/* Loads the archive module from beside this library, once. */
static void plugin_load(void)
{
	Dl_info di;
	char path[PATH_MAX];
	const char *slash;
	void *h;
	int dir;

	if (!dladdr(&anchor, &di) || !di.dli_fname) {
		snprintf(plugin_why, sizeof(plugin_why),
			 "cannot tell where libfwsign lies");
		return;
	}
	slash = strrchr(di.dli_fname, '/');
	dir = slash ? (int)(slash - di.dli_fname) : 1;
	if (snprintf(path, sizeof(path), "%.*s/%s/%s", dir,
		     slash ? di.dli_fname : ".", FW_PLUGIN_DIR,
		     FW_PLUGIN_ARCHIVE) >= (int)sizeof(path)) {
		snprintf(plugin_why, sizeof(plugin_why), "path too long");
		return;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h)
		plugin = dlsym(h, "fw_plugin_formats");
	if (!plugin) {
		const char *why = dlerror();

		snprintf(plugin_why, sizeof(plugin_why), "%s",
			 why ? why : "no list of formats in it");
		if (h)
			dlclose(h);
	}
}
#endif

/* Asks each format of the list; the highest bid so far in *best. */
static void auction(const struct fw_format *const *list, const char *path,
		    const struct stat *st, const uint8_t *head, size_t n,
		    const struct fw_format **best, int *best_bid)
{
	for (; *list && *best_bid < FW_BID_MAX; list++) {
		int bid = (*list)->bid(path, st, head, n);

		if (bid > *best_bid) {
			*best_bid = bid;
			*best = *list;
		}
	}
}

int fw_image_open(const char *path, const struct fw_out_opts *will_write,
		  struct fw_image **out, struct fw_error *err)
{
	const struct fw_format *best = NULL;
	struct fw_image *img;
	uint8_t head[4096];
	size_t head_len = 0;
	struct stat st;
	int best_bid = 0, rc;

	*out = NULL;
	if (lstat(path, &st) < 0)
		return fw_error_set(err, errno == ENOENT ? FW_EINPUT : FW_EIO,
				    path, "cannot open: %s", strerror(errno));
	if (S_ISLNK(st.st_mode))
		return fw_error_set(err, FW_EINPUT, path,
				    "is a symlink; name its target instead");
	if (S_ISREG(st.st_mode)) {
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		ssize_t n;

		if (fd < 0)
			return fw_error_set(err, FW_EINPUT, path,
					    "cannot open: %s", strerror(errno));
		n = read(fd, head, sizeof(head));
		close(fd);
		if (n < 0)
			return fw_error_set(err, FW_EIO, path, "cannot read: %s",
					    strerror(errno));
		head_len = (size_t)n;
	}
	auction(builtin, path, &st, head, head_len, &best, &best_bid);
#ifndef FWSIGN_ARCHIVE_BUILTIN
	if (best_bid < FW_BID_MAX) {
		pthread_once(&plugin_once, plugin_load);
		if (plugin)
			auction(plugin, path, &st, head, head_len, &best,
				&best_bid);
	}
	/* Not knowing whether it is an archive, never sign it as a file. */
	if (best && best_bid <= FW_BID_PLAIN && !plugin)
		return fw_error_set(err, FW_EINPUT, path,
				    "cannot tell whether it is a tar or cpio "
				    "archive: %s", plugin_why);
#endif
	if (!best)
		return fw_error_set(err, FW_EINPUT, path,
				    "not a directory, file or known image");
	img = calloc(1, sizeof(*img));
	if (!img || !(img->path = strdup(path))) {
		free(img);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	img->fmt = best;
	img->will_write = will_write;
	rc = best->open(img, err);
	img->will_write = NULL;
	if (rc) {
		fw_image_close(img);
		return rc;
	}
	/* The entries, their names and the format's tables are made: give
	 * their pages back until they are used again. */
	fw_spillmap_trim_all();
	*out = img;
	return FW_OK;
}

void fw_image_warn(struct fw_image *img, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL, **w;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	w = msg ? realloc(img->warnings, (img->n_warnings + 1) * sizeof(*w)) : NULL;
	if (!w) {
		free(msg);
		return;
	}
	img->warnings = w;
	w[img->n_warnings++] = msg;
}

/* Room for cap entries in the entries' map (made on first use). */
static int ent_grow(struct fw_image *img, size_t cap)
{
	void *p;

	if (cap > SIZE_MAX / sizeof(*img->ent))
		return -1;
	if (!img->ent_map && !(img->ent_map = fw_spillmap_new(0)))
		return -1;
	p = fw_spillmap_grow(img->ent_map, cap * sizeof(*img->ent));
	if (!p)
		return -1;
	img->ent = p;
	img->cap = cap;
	return 0;
}

int fw_image_reserve(struct fw_image *img, size_t n)
{
	return n <= img->cap ? 0 : ent_grow(img, n);
}

/*
 * The image's strings, packed in big chunks freed together: no malloc
 * header and no rounding per path (issue #18).  Each chunk is a spill
 * map that grows in place within its room; the first is small and
 * anonymous (a small image makes no file), the next ones start past
 * FW_SPILL_AFTER, in a file, with room for all the rest where the
 * address space allows.
 */
struct fw_arena {
	struct fw_arena *next;
	struct fw_spillmap *map;
	char *data;
	size_t used, cap;
};

#define ARENA_CHUNK ((size_t)64 << 10)

/* A chunk for at least len bytes in front of *a; NULL: no memory. */
static struct fw_arena *arena_chunk(struct fw_arena **a, size_t len)
{
	struct fw_arena *c = calloc(1, sizeof(*c));
	size_t cap = *a ? FW_SPILL_AFTER + 1 : ARENA_CHUNK;

	if (cap < len)
		cap = len;
	if (!c || !(c->map = fw_spillmap_new(0)) ||
	    !(c->data = fw_spillmap_grow(c->map, cap))) {
		if (c)
			fw_spillmap_free(c->map);
		free(c);
		return NULL;
	}
	c->cap = cap;
	c->next = *a;
	*a = c;
	return c;
}

static char *arena_strdup(struct fw_arena **a, const char *s)
{
	size_t len = strlen(s) + 1;
	struct fw_arena *c = *a;
	char *p;

	if (c && c->cap - c->used < len) {
		/* grow in place, never past the room: names point in */
		size_t room = fw_spillmap_room(c->map);
		size_t cap = c->cap * 2 > room ? room : c->cap * 2;

		if (cap < c->used + len)
			cap = c->used + len;
		if (cap <= room && fw_spillmap_grow(c->map, cap) == c->data)
			c->cap = cap;
	}
	if (!c || c->cap - c->used < len)
		c = arena_chunk(a, len);
	if (!c)
		return NULL;
	p = c->data + c->used;
	memcpy(p, s, len);
	c->used += len;
	return p;
}

/* Every this many entries, the pages made so far are given back: an
 * image being opened holds no more than that many entries' worth. */
#define ADD_TRIM 4096

int fw_image_add(struct fw_image *img, const char *path,
		 const struct stat *st, const char *link_target,
		 struct fw_error *err)
{
	struct fw_entry *e;

	if (img->n == img->cap &&
	    ent_grow(img, img->cap ? img->cap * 2 : 64))
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (img->n && img->n % ADD_TRIM == 0)
		fw_spillmap_trim_all();
	e = &img->ent[img->n];
	memset(e, 0, sizeof(*e));
	e->path = arena_strdup(&img->names, path);
	e->st = (struct fw_stat){
		.st_size = st->st_size, .st_ino = st->st_ino,
		.st_dev = st->st_dev, .st_rdev = st->st_rdev,
		.st_atim = st->st_atim, .st_mtim = st->st_mtim,
		.st_ctim = st->st_ctim,
		.st_mode = st->st_mode, .st_uid = st->st_uid,
		.st_gid = st->st_gid,
		.st_nlink = st->st_nlink > UINT32_MAX ? UINT32_MAX
						       : (uint32_t)st->st_nlink,
	};
	e->link_of = FW_NO_LINK;
	e->link_target = link_target ? arena_strdup(&img->names, link_target)
				     : NULL;
	if (!e->path || (link_target && !e->link_target))
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	img->n++;
	return FW_OK;
}

int fw_path_clean(const char *in, char *out, size_t out_len)
{
	size_t n = 0;

	while (*in == '/' || (in[0] == '.' && in[1] == '/'))
		in += *in == '/' ? 1 : 2;
	if (!strcmp(in, "."))
		in = "";
	for (const char *c = in; *c;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);

		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return -1;
		if (n + len + 2 > out_len)
			return -1;
		if (n)
			out[n++] = '/';
		memcpy(out + n, c, len);
		n += len;
		c += len;
		if (*c == '/') {
			c++;
			if (!*c)
				break;	/* a trailing slash is fine */
		}
	}
	if (out_len == 0)
		return -1;
	out[n] = '\0';
	return 0;
}

/* Hard links: every later name of an inode points at its first name. */
struct ino_ref {
	dev_t dev;
	ino_t ino;
	size_t idx;
};

static int cmp_ino(const void *a, const void *b)
{
	const struct ino_ref *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int fw_image_link_hardlinks(struct fw_image *img, struct fw_error *err)
{
	struct ino_ref *r;
	size_t n = 0;

	r = malloc((img->n ? img->n : 1) * sizeof(*r));
	if (!r)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	for (size_t i = 0; i < img->n; i++) {
		const struct fw_stat *st = &img->ent[i].st;

		if (!S_ISDIR(st->st_mode) && st->st_nlink > 1)
			r[n++] = (struct ino_ref){ st->st_dev, st->st_ino, i };
	}
	qsort(r, n, sizeof(*r), cmp_ino);
	for (size_t i = 1; i < n; i++) {
		size_t first = i;

		while (first > 0 && r[first - 1].dev == r[i].dev &&
		       r[first - 1].ino == r[i].ino)
			first--;
		if (first != i)
			img->ent[r[i].idx].link_of = r[first].idx;
	}
	free(r);
	return FW_OK;
}

void fw_image_close(struct fw_image *img)
{
	if (!img)
		return;
	if (img->fmt && img->fmt->close)
		img->fmt->close(img);
	while (img->names) {
		struct fw_arena *c = img->names;

		img->names = c->next;
		fw_spillmap_free(c->map);
		free(c);
	}
	fw_spillmap_free(img->ent_map);
	for (size_t i = 0; i < img->n_warnings; i++)
		free(img->warnings[i]);
	free(img->warnings);
	free(img->path);
	free(img);
}

void fw_xattrs_free(struct fw_xattr *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}

int fw_xattrs_add(struct fw_xattr **v, size_t *n, const char *name,
		  const void *value, size_t len)
{
	struct fw_xattr *p = realloc(*v, (*n + 1) * sizeof(*p));

	if (!p)
		return -1;
	*v = p;
	p[*n].name = strdup(name);
	p[*n].value = malloc(len ? len : 1);
	if (!p[*n].name || !p[*n].value) {
		free(p[*n].name);
		free(p[*n].value);
		return -1;
	}
	memcpy(p[*n].value, value, len);
	p[*n].len = len;
	(*n)++;
	return 0;
}
