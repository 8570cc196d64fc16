// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * LD_PRELOAD'ed into mkfs.ubifs by formats/ubifs_write.c, never into
 * fwsign.  It lets an unprivileged mkfs.ubifs build a volume whose inodes
 * carry what a host directory could not hold, and build the same bytes
 * every time:
 *
 *   stat, lstat      a staged path's original mode (devices, fifos and
 *                    sockets are staged as empty files), owner, device
 *                    number and times, from the manifest
 *   ioctl FS_IOC_GETFLAGS   the original inode flags, not the staging
 *                    filesystem's (an fd is matched through /proc/self/fd)
 *   readdir          names in byte order, not the host's hash order
 *                    (mkfs.ubifs numbers inodes in readdir order)
 *   uuid_generate_random   the original volume's UUID
 *   selabel_*        the original security.selinux of each path
 *
 * Environment: FWSIGN_UBIFS_MANIFEST, FWSIGN_UBIFS_ROOT (the staged
 * root) and FWSIGN_UBIFS_UUID (32 hex digits).  Manifest lines:
 *   p<hex path> <octal mode> <uid> <gid> <major> <minor> <atime> <mtime>
 *   <ctime> <hex FS_*_FL flags> <l<hex label> or ->
 * A path outside the root, or not in the manifest, is the host's.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/fs.h>

#define EXPORT __attribute__((visibility("default")))

struct rec {
	char *path;		/* relative, "" for the root */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	time_t atime, mtime, ctime;
	unsigned flags;		/* FS_IOC_GETFLAGS */
	char *label;		/* NULL: none */
};

static struct rec *recs;
static size_t n_recs;
static int loaded;
static const char *root;
static size_t root_len;

static int unhex(const char *h, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (char)v;
	}
	out[n] = '\0';
	return 0;
}

static char *hexdup(const char *h)
{
	size_t n = strspn(h, "0123456789abcdef");
	char *s = malloc(n / 2 + 1);

	if (!s || (n & 1) || unhex(h, n / 2, s)) {
		free(s);
		return NULL;
	}
	return s;
}

static int cmp_rec(const void *a, const void *b)
{
	return strcmp(((const struct rec *)a)->path,
		      ((const struct rec *)b)->path);
}

/* Any failure leaves the shim answering nothing: mkfs.ubifs then sees
 * the staged files as they are, and fwsign's tests catch it. */
static void load(void)
{
	const char *m = getenv("FWSIGN_UBIFS_MANIFEST");
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	loaded = 1;
	root = getenv("FWSIGN_UBIFS_ROOT");
	if (!m || !root || !(f = fopen(m, "re")))
		return;
	root_len = strlen(root);
	while (getline(&line, &cap, f) > 0) {
		char lab[8];
		unsigned mode, uid, gid, ma, mi, fl;
		long long at, mt, ct;
		struct rec r = { 0 }, *p;
		char *sp = strchr(line, ' ');

		if (line[0] != 'p' || !sp ||
		    sscanf(sp, " %o %u %u %u %u %lld %lld %lld %x %1s", &mode,
			   &uid, &gid, &ma, &mi, &at, &mt, &ct, &fl, lab) != 10)
			continue;
		*sp = '\0';
		r.path = hexdup(line + 1);
		r.mode = mode;
		r.uid = uid;
		r.gid = gid;
		r.rdev = makedev(ma, mi);
		r.atime = (time_t)at;
		r.mtime = (time_t)mt;
		r.ctime = (time_t)ct;
		r.flags = fl;
		if (lab[0] == 'l') {
			char *l = strrchr(sp + 1, ' ');

			r.label = l ? hexdup(l + 2) : NULL;
		}
		p = realloc(recs, (n_recs + 1) * sizeof(*p));
		if (!r.path || !p) {
			free(r.path);
			free(r.label);
			continue;
		}
		recs = p;
		recs[n_recs++] = r;
	}
	free(line);
	fclose(f);
	qsort(recs, n_recs, sizeof(*recs), cmp_rec);
}

/* The record of a path under the root, or NULL. */
static const struct rec *find(const char *path)
{
	char rel[4096];
	size_t n;
	struct rec key;

	if (!loaded)
		load();
	if (!root || !path || strncmp(path, root, root_len) ||
	    (path[root_len] && path[root_len] != '/'))
		return NULL;
	path += root_len;
	while (*path == '/')
		path++;
	n = strlen(path);
	while (n && path[n - 1] == '/')
		n--;
	if (n >= sizeof(rel))
		return NULL;
	memcpy(rel, path, n);
	rel[n] = '\0';
	key.path = rel;
	return bsearch(&key, recs, n_recs, sizeof(*recs), cmp_rec);
}

static void apply(const struct rec *r, struct stat *st)
{
	st->st_mode = r->mode;
	st->st_uid = r->uid;
	st->st_gid = r->gid;
	st->st_rdev = r->rdev;
	st->st_atim = (struct timespec){ .tv_sec = r->atime };
	st->st_mtim = (struct timespec){ .tv_sec = r->mtime };
	st->st_ctim = (struct timespec){ .tv_sec = r->ctime };
	if (!S_ISREG(r->mode) && !S_ISDIR(r->mode) && !S_ISLNK(r->mode))
		st->st_size = 0;
}

typedef int (*stat_fn)(const char *, struct stat *);

static int any_stat(const char *name, const char *path, struct stat *st)
{
	stat_fn real = (stat_fn)dlsym(RTLD_NEXT, name);
	const struct rec *r;
	int rc;

	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	rc = real(path, st);
	if (!rc && (r = find(path)))
		apply(r, st);
	return rc;
}

EXPORT int stat(const char *path, struct stat *st)
{
	return any_stat("stat", path, st);
}

EXPORT int lstat(const char *path, struct stat *st)
{
	return any_stat("lstat", path, st);
}

/* FS_IOC_GETFLAGS on a staged file or directory: its original flags. */
EXPORT int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int, unsigned long, ...);
	char link[64], path[4096];
	const struct rec *r;
	void *arg;
	va_list ap;
	ssize_t n;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!real)
		real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT,
								"ioctl");
	if (req == FS_IOC_GETFLAGS) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof(path) - 1);
		if (n > 0) {
			path[n] = '\0';
			r = find(path);
			if (r) {
				*(int *)arg = (int)r->flags;
				return 0;
			}
		}
	}
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	return real(fd, req, arg);
}

/* readdir, sorted: each open directory read whole on its first call. */
struct dcache {
	DIR *d;
	struct dirent *ent;
	size_t n, pos;
};
static struct dcache dirs[1024];

static int cmp_dirent(const void *a, const void *b)
{
	return strcmp(((const struct dirent *)a)->d_name,
		      ((const struct dirent *)b)->d_name);
}

EXPORT struct dirent *readdir(DIR *d)
{
	static struct dirent *(*real)(DIR *);
	struct dcache *c = NULL, *free_slot = NULL;
	struct dirent *e;

	if (!real)
		real = (struct dirent * (*)(DIR *))dlsym(RTLD_NEXT, "readdir");
	if (!real)
		return NULL;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (dirs[i].d == d)
			c = &dirs[i];
		else if (!dirs[i].d && !free_slot)
			free_slot = &dirs[i];
	}
	if (!c) {
		if (!free_slot)
			return real(d);
		c = free_slot;
		c->d = d;
		c->n = c->pos = 0;
		c->ent = NULL;
		errno = 0;
		while ((e = real(d))) {
			struct dirent *p = realloc(c->ent,
						   (c->n + 1) * sizeof(*p));

			if (!p)
				abort();	/* never hand out a partial list */
			c->ent = p;
			c->ent[c->n++] = *e;
		}
		if (errno)
			abort();
		qsort(c->ent, c->n, sizeof(*c->ent), cmp_dirent);
	}
	return c->pos < c->n ? &c->ent[c->pos++] : NULL;
}

EXPORT int closedir(DIR *d)
{
	static int (*real)(DIR *);

	if (!real)
		real = (int (*)(DIR *))dlsym(RTLD_NEXT, "closedir");
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (dirs[i].d == d) {
			free(dirs[i].ent);
			dirs[i] = (struct dcache){ 0 };
		}
	return real ? real(d) : -1;
}

EXPORT void uuid_generate_random(unsigned char out[16])
{
	const char *u = getenv("FWSIGN_UBIFS_UUID");
	char b[17];

	if (u && strlen(u) == 32 && !unhex(u, 16, b)) {
		memcpy(out, b, 16);
		return;
	}
	/* without it mkfs.ubifs must not run: fwsign always sets it */
	abort();
}

/* libselinux's labelling handle, answered from the manifest. */
static char handle;

EXPORT void *selabel_open(unsigned backend, const void *opts, unsigned n)
{
	(void)backend;
	(void)opts;
	(void)n;
	return &handle;
}

EXPORT int selabel_lookup(void *h, char **con, const char *key, int type)
{
	const struct rec *r;
	char *full;

	(void)h;
	(void)type;
	if (!loaded)
		load();
	/* the key is the path from the root, with a leading '/' */
	if (!root || asprintf(&full, "%s/%s", root, key) < 0) {
		errno = ENOMEM;
		return -1;
	}
	r = find(full);
	free(full);
	if (!r || !r->label) {
		errno = ENOENT;
		return -1;
	}
	*con = strdup(r->label);
	return *con ? 0 : -1;
}

EXPORT void selabel_close(void *h)
{
	(void)h;
}
