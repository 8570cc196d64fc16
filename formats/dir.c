// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The directory format (and a single file, its degenerate case): the first
 * backend behind the format interface.  Reading never follows a symlink
 * (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS); writing a copy fills a
 * temporary sibling directory that is renamed into place at commit, so an
 * error leaves nothing behind.  In place, each changed file is written to a
 * temporary file beside it and renamed over it, keeping hard links linked.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "format.h"
#include "../src/io.h"
#include "../src/fw_limits.h"


struct dir_priv {
	int rootfd;		/* the input directory, or -1 for a single file */
	int single;
};

struct dir_out {
	struct fw_image *img;
	struct fw_out_opts o;
	char *tmp;		/* temporary output root (copy mode) */
	char *final;		/* where it goes */
	int outfd;		/* fd of tmp (copy mode) */
	unsigned char *changed;	/* in place: entries that were rewritten */
	int root;		/* running as root */
	/* xattrs signing set (IMA), per entry: out_xattr keeps them for
	 * the put of the same entry, on the same thread */
	struct newx {
		struct fw_xattr *v;
		size_t n;
	} *nx;
};

/* ---------------------------------------------------------------- */

static int open_beneath(int dirfd, const char *path, int flags)
{
	static int no_openat2;
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	if (!*path)
		path = ".";
	if (!no_openat2) {
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0 || errno != ENOSYS)
			return fd;
		no_openat2 = 1;
	}
	return openat(dirfd, path, flags | O_NOFOLLOW | O_CLOEXEC);
}

static int dir_bid(const char *path, const struct stat *st,
		   const uint8_t *head, size_t n)
{
	(void)path;
	(void)head;
	(void)n;
	/* Only this format reads directories; anything else that bids wins
	 * over a plain file. */
	return S_ISDIR(st->st_mode) ? FW_BID_MAX
				    : S_ISREG(st->st_mode) ? FW_BID_PLAIN : 0;
}

struct walk {
	struct fw_image *img;
	struct fw_error *err;
};

static int push(struct walk *w, const char *path, const struct stat *st,
		char *target)
{
	int rc = fw_image_add(w->img, path, st, target, w->err);

	free(target);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct walk *w, int dfd, const char *rel, int depth)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = FW_OK;

	if (depth > FW_TREE_DEPTH_MAX)
		return fw_error_set(w->err, FW_EINPUT, rel,
				    "directories nested too deep");
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return fw_error_set(w->err, FW_EIO, rel, "cannot read directory: %s",
				    strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **p = realloc(names, cap * sizeof(*names));
			if (!p) {
				rc = fw_error_set(w->err, FW_EIO, NULL, "out of memory");
				goto out;
			}
			names = p;
		}
		names[n] = strdup(de->d_name);
		if (!names[n++]) {
			rc = fw_error_set(w->err, FW_EIO, NULL, "out of memory");
			goto out;
		}
	}
	/*
	 * Sorted, so that reports and outputs do not depend on readdir order.
	 * An empty directory has no array at all: qsort() must not see NULL.
	 */
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n && rc == FW_OK; i++) {
		char path[PATH_MAX];
		struct stat st;
		char *target = NULL;

		if (snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "",
			     names[i]) >= (int)sizeof(path)) {
			rc = fw_error_set(w->err, FW_EINPUT, rel, "path too long");
			break;
		}
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = fw_error_set(w->err, FW_EIO, path, "cannot stat: %s",
					  strerror(errno));
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			size_t sz = (size_t)st.st_size + 1;
			ssize_t r;

			target = malloc(sz < PATH_MAX ? PATH_MAX : sz);
			if (!target) {
				rc = fw_error_set(w->err, FW_EIO, NULL, "out of memory");
				break;
			}
			r = readlinkat(dirfd(d), names[i], target, PATH_MAX - 1);
			if (r < 0) {
				free(target);
				rc = fw_error_set(w->err, FW_EIO, path,
						  "cannot read link: %s",
						  strerror(errno));
				break;
			}
			target[r] = '\0';
		}
		rc = push(w, path, &st, target);
		if (rc == FW_OK && S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), names[i],
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);
			if (sub < 0)
				rc = fw_error_set(w->err, FW_EIO, path,
						  "cannot open directory: %s",
						  strerror(errno));
			else
				rc = walk_dir(w, sub, path, depth + 1);
		}
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

static int dir_open(struct fw_image *img, struct fw_error *err)
{
	struct dir_priv *p = calloc(1, sizeof(*p));
	struct walk w = { img, err };
	struct stat st;
	int fd, rc;

	if (!p)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	img->priv = p;
	p->rootfd = -1;
	fd = open(img->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = fw_error_set(err, errno == ENOENT ? FW_EINPUT : FW_EIO,
				  img->path, "cannot open: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		close(fd);
		p->single = 1;
		return push(&w, "", &st, NULL);
	}
	p->rootfd = fd;
	rc = push(&w, "", &st, NULL);
	if (rc == FW_OK) {
		int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

		rc = dup_fd < 0 ? fw_error_set(err, FW_EIO, img->path, "dup: %s",
					       strerror(errno))
				: walk_dir(&w, dup_fd, "", 0);
	}
	if (rc == FW_OK)
		rc = fw_image_link_hardlinks(img, err);
	return rc;
}

/* Opens entry idx of the input, checking it is still what was listed. */
static int open_entry(struct fw_image *img, size_t idx, struct fw_error *err)
{
	struct dir_priv *p = img->priv;
	const struct fw_entry *e = &img->ent[idx];
	struct stat st;
	int fd;

	if (p->single)
		fd = open(img->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	else
		fd = open_beneath(p->rootfd, e->path, O_RDONLY);
	if (fd < 0)
		return -fw_error_set(err, errno == EACCES ? FW_EINPUT : FW_EIO,
				     p->single ? img->path : e->path,
				     "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) < 0 || st.st_ino != e->st.st_ino ||
	    st.st_dev != e->st.st_dev) {
		close(fd);
		return -fw_error_set(err, FW_EIO, e->path,
				     "changed while fwsign was running");
	}
	return fd;
}

static int dir_map(struct fw_image *img, size_t idx, struct fw_bytes *b,
		   struct fw_error *err)
{
	int fd = open_entry(img, idx, err), rc = FW_OK;

	if (fd < 0)
		return -fd;
	if (fw_map_fd(fd, b, FW_READ_MAX) < 0)
		rc = fw_error_set(err, FW_EIO, img->ent[idx].path,
				  "cannot read: %s", strerror(errno));
	close(fd);
	return rc;
}

/* ---------------------------------------------------------------- */
/* Extended attributes                                              */

/*
 * Where an entry's xattrs are read from: an fd of the entry itself, or a
 * path that names exactly that inode.
 */
struct xsrc {
	int fd;
	const char *path;	/* NULL: use fd */
};

static ssize_t xs_list(const struct xsrc *s, char *buf, size_t n)
{
	return s->path ? listxattr(s->path, buf, n) : flistxattr(s->fd, buf, n);
}

static ssize_t xs_get(const struct xsrc *s, const char *k, void *buf,
		      size_t n)
{
	return s->path ? getxattr(s->path, k, buf, n)
		       : fgetxattr(s->fd, k, buf, n);
}

/* Every xattr of src, in the order listxattr gives them. */
static int read_xattrs(const struct xsrc *s, const char *name,
		       struct fw_xattr **v, size_t *n, struct fw_error *err)
{
	char *list = NULL;
	uint8_t *val = NULL;
	size_t val_cap = 0;
	ssize_t len = -1;
	int rc = FW_OK;

	/* The list may grow between asking its size and reading it. */
	for (int tries = 0; tries < 8; tries++) {
		char *l;

		len = xs_list(s, NULL, 0);
		if (len <= 0)
			break;
		l = realloc(list, (size_t)len + 1);
		if (!l) {
			free(list);
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		}
		list = l;
		len = xs_list(s, list, (size_t)len);
		if (len >= 0 || errno != ERANGE)
			break;
	}
	if (len < 0) {
		int e = errno;

		free(list);
		if (e == ENOTSUP)	/* a filesystem without xattrs */
			return FW_OK;
		return fw_error_set(err, FW_EIO, name, "cannot list xattrs: %s",
				    strerror(e));
	}
	if (len > 0)
		list[len] = '\0';	/* the last name ends in NUL anyway */
	for (char *k = list; len > 0 && k < list + len; k += strlen(k) + 1) {
		ssize_t got = -1;

		if (!*k)
			continue;
		for (int tries = 0; tries < 8; tries++) {
			ssize_t want = xs_get(s, k, NULL, 0);

			if (want < 0) {
				got = -1;
				break;
			}
			if ((size_t)want + 1 > val_cap) {
				uint8_t *nv = realloc(val, (size_t)want + 1);

				if (!nv) {
					rc = fw_error_set(err, FW_EIO, NULL,
							  "out of memory");
					goto out;
				}
				val = nv;
				val_cap = (size_t)want + 1;
			}
			got = xs_get(s, k, val, val_cap - 1);
			if (got >= 0 || errno != ERANGE)
				break;
		}
		if (got < 0 && errno == ENODATA)
			continue;	/* removed since it was listed */
		if (got < 0) {
			rc = fw_error_set(err, FW_EIO, name,
					  "cannot read xattr %s: %s", k,
					  strerror(errno));
			goto out;
		}
		if (fw_xattrs_add(v, n, k, val, (size_t)got) < 0) {
			rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
			goto out;
		}
	}
out:
	free(list);
	free(val);
	return rc;
}

/*
 * The entry's xattrs, never through a symlink: the entry is opened O_PATH
 * beneath the root (RESOLVE_NO_SYMLINKS; a symlink entry gives an fd of
 * the link itself), checked to be the inode that was listed, and read
 * through /proc/self/fd/N, a magic link that lands on that very inode and
 * goes no further, so a symlink's own xattrs (trusted.*, security.*) are
 * read, not its target's.  The f*xattr calls refuse O_PATH fds, and
 * opening a device or fifo for reading could have side effects.  Without
 * /proc, regular files and directories are opened for reading (no side
 * effects, O_NONBLOCK) and read by fd; symlinks, devices, fifos and
 * sockets then cannot be read safely and are given no xattrs.
 */
static int dir_xattrs(struct fw_image *img, size_t idx, struct fw_xattr **v,
		      size_t *n, struct fw_error *err)
{
	struct dir_priv *p = img->priv;
	const struct fw_entry *e;
	const char *name;
	char proc[64];
	struct xsrc s;
	struct stat st;
	int fd, rc;

	*v = NULL;
	*n = 0;
	if (idx >= img->n)
		return fw_error_set(err, FW_EINPUT, img->path, "no such entry");
	e = &img->ent[idx];
	name = *e->path ? e->path : img->path;
	if (p->single)
		fd = open(img->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	else
		fd = open_beneath(p->rootfd, e->path, O_PATH);
	if (fd < 0)
		return fw_error_set(err, errno == EACCES ? FW_EINPUT : FW_EIO,
				    name, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) < 0 || st.st_ino != e->st.st_ino ||
	    st.st_dev != e->st.st_dev ||
	    (st.st_mode & S_IFMT) != (e->st.st_mode & S_IFMT)) {
		close(fd);
		return fw_error_set(err, FW_EIO, name,
				    "changed while fwsign was running");
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	s = (struct xsrc){ .fd = -1, .path = proc };
	if (xs_list(&s, NULL, 0) < 0 && errno == ENOENT) {
		/* no /proc */
		int rfd = -1;

		close(fd);
		if (!S_ISREG(e->st.st_mode) && !S_ISDIR(e->st.st_mode))
			return FW_OK;	/* cannot be read safely: none */
		if (p->single)
			rfd = open(img->path, O_RDONLY | O_NONBLOCK |
					      O_NOFOLLOW | O_CLOEXEC);
		else
			rfd = open_beneath(p->rootfd, e->path,
					   O_RDONLY | O_NONBLOCK);
		if (rfd < 0)
			return fw_error_set(err, errno == EACCES ? FW_EINPUT
								 : FW_EIO,
					    name, "cannot open: %s",
					    strerror(errno));
		if (fstat(rfd, &st) < 0 || st.st_ino != e->st.st_ino ||
		    st.st_dev != e->st.st_dev) {
			close(rfd);
			return fw_error_set(err, FW_EIO, name,
					    "changed while fwsign was running");
		}
		s = (struct xsrc){ .fd = rfd, .path = NULL };
		rc = read_xattrs(&s, name, v, n, err);
		close(rfd);
	} else {
		rc = read_xattrs(&s, name, v, n, err);
		close(fd);
	}
	if (rc) {
		fw_xattrs_free(*v, *n);
		*v = NULL;
		*n = 0;
	}
	return rc;
}

/* ---------------------------------------------------------------- */
/* Writing                                                          */

static const char *disp(const struct dir_out *o, size_t idx)
{
	const char *p = o->img->ent[idx].path;

	return *p ? p : o->img->path;
}

static int copy_xattrs(int from, int to, const char *name,
		       struct fw_error *err)
{
	char list[65536], val[65536];
	ssize_t n = flistxattr(from, list, sizeof(list));

	if (n < 0)
		return errno == ENOTSUP ? FW_OK
					: fw_error_set(err, FW_EIO, name,
						       "cannot list xattrs: %s",
						       strerror(errno));
	for (char *k = list; k < list + n; k += strlen(k) + 1) {
		ssize_t v = fgetxattr(from, k, val, sizeof(val));

		if (v < 0)
			return fw_error_set(err, FW_EIO, name,
					    "cannot read xattr %s: %s", k,
					    strerror(errno));
		if (fsetxattr(to, k, val, (size_t)v, 0) < 0)
			return fw_error_set(err, FW_EIO, name,
					    "cannot set xattr %s: %s", k,
					    strerror(errno));
	}
	return FW_OK;
}

/* The xattrs signing set on entry idx, onto fd. */
static int set_new_xattrs(const struct dir_out *o, size_t idx, int fd,
			  const char *name, struct fw_error *err)
{
	const struct newx *x = o->nx ? &o->nx[idx] : NULL;

	for (size_t k = 0; x && k < x->n; k++) {
		if (fsetxattr(fd, x->v[k].name, x->v[k].value, x->v[k].len,
			      0) == 0)
			continue;
		return fw_error_set(err, FW_EIO, name, "cannot set %s: %s%s",
				    x->v[k].name, strerror(errno),
				    errno == EPERM ? " (security.* xattrs on a "
				    "host tree need CAP_SYS_ADMIN; fwsign writes "
				    "them into squashfs, ext2/3/4 and pax tar "
				    "images without it)" : "");
	}
	return FW_OK;
}

/*
 * Owner, then mode (chown clears setuid), then xattrs (chown and writes
 * clear security.capability), then times.
 */
static int apply_meta(const struct dir_out *o, size_t idx, int fd, int from,
		      const struct fw_stat *st, const char *name,
		      struct fw_error *err)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	int rc;

	if (fchown(fd, st->st_uid, st->st_gid) < 0 && (o->root || errno != EPERM))
		return fw_error_set(err, FW_EIO, name, "cannot set owner: %s",
				    strerror(errno));
	if (fchmod(fd, st->st_mode & 07777) < 0)
		return fw_error_set(err, FW_EIO, name, "cannot set mode: %s",
				    strerror(errno));
	rc = copy_xattrs(from, fd, name, err);
	if (!rc)
		rc = set_new_xattrs(o, idx, fd, name, err);
	if (rc)
		return rc;
	if (futimens(fd, ts) < 0)
		return fw_error_set(err, FW_EIO, name, "cannot set times: %s",
				    strerror(errno));
	return FW_OK;
}

/* Copies the first n bytes of in (all of it: UINT64_MAX) to out, in the
 * kernel when it can; a shorter input is an error (EIO) unless n is all. */
static int copy_fd(int in, int out, uint64_t n)
{
	int all = n == UINT64_MAX;

	while (n) {
		ssize_t c = copy_file_range(in, NULL, out, NULL,
					    n < (1u << 30) ? (size_t)n : 1u << 30, 0);

		if (c > 0) {
			n -= (uint64_t)c;
			continue;
		}
		if (c == 0)
			goto short_input;
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL &&
		    errno != EOPNOTSUPP)
			return -1;
		break;
	}
	char buf[1 << 16];

	while (n) {
		ssize_t r = read(in, buf, n < sizeof(buf) ? (size_t)n : sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			goto short_input;
		if (fw_write_all(out, buf, (size_t)r) < 0)
			return -1;
		n -= (uint64_t)r;
	}
	return 0;
short_input:
	if (all)
		return 0;
	errno = EIO;
	return -1;
}

/* Creates a new temporary file in dirfd, named after base. */
static int tmpfile_at(int dirfd, const char *base, char *name, size_t len)
{
	for (int tries = 0; tries < 100; tries++) {
		unsigned r;
		int fd;

		if (getentropy(&r, sizeof(r)) < 0)
			r = (unsigned)rand();
		snprintf(name, len, ".%.40s.fwsign-%08x", base, r);
		fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL |
				   O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			fw_tmp_lock(fd);	/* ours while we live */
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

static int split_parent(const char *path, char *dir, size_t dlen,
			const char **base)
{
	const char *s = strrchr(path, '/');

	if (!s) {
		snprintf(dir, dlen, ".");
		*base = path;
	} else {
		if ((size_t)(s - path) >= dlen)
			return -1;
		memcpy(dir, path, (size_t)(s - path));
		dir[s - path] = '\0';
		*base = s + 1;
	}
	return 0;
}

/* Writes the first keep bytes of the input (UINT64_MAX: all of it), then
 * tail, to a new file named name in dirfd, with the metadata of entry idx. */
static int write_file(struct dir_out *o, size_t idx, int dirfd,
		      const char *name, uint64_t keep, const uint8_t *tail,
		      size_t tail_len, struct fw_error *err)
{
	const struct fw_entry *e = &o->img->ent[idx];
	char where[4096];
	int in, out, rc;

	/* what is written is named as the output, not the input */
	snprintf(where, sizeof(where), "%s/%s", o->final ? o->final :
		 o->img->path, *e->path ? e->path : ".");

	in = open_entry(o->img, idx, err);
	if (in < 0)
		return -in;
	out = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				   O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return fw_error_set(err, FW_EIO, where, "cannot create: %s",
				    strerror(errno));
	}
	if (copy_fd(in, out, keep) || fw_write_all(out, tail, tail_len))
		rc = fw_error_set(err, FW_EIO, where, "cannot write: %s",
				  strerror(errno));
	else
		rc = apply_meta(o, idx, out, in, &e->st, disp(o, idx), err);
	if (close(out) < 0 && rc == FW_OK)
		rc = fw_error_set(err, FW_EIO, where, "cannot write: %s",
				  strerror(errno));
	close(in);
	if (rc)
		unlinkat(dirfd, name, 0);
	return rc;
}

static int is_within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);

	return !strncmp(inner, outer, n) &&
	       (inner[n] == '/' || inner[n] == '\0' || !strcmp(outer, "/"));
}

static int dir_out_begin(struct fw_image *img, const struct fw_out_opts *oo,
			 void **ctx, struct fw_error *err)
{
	struct dir_priv *p = img->priv;
	struct dir_out *o = calloc(1, sizeof(*o));
	char parent[PATH_MAX], real_in[PATH_MAX], real_parent[PATH_MAX];
	const char *base;
	struct stat st;

	if (!o)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	*ctx = o;
	o->img = img;
	o->o = *oo;
	o->outfd = -1;
	o->root = geteuid() == 0;
	if (oo->xattrs && !(o->nx = calloc(img->n + 1, sizeof(*o->nx))))
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (oo->in_place) {
		o->changed = calloc(img->n ? img->n : 1, 1);
		return o->changed ? FW_OK
				  : fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	if (fstatat(AT_FDCWD, oo->path, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return fw_error_set(err, FW_EUSAGE, oo->path,
				    "output already exists");
	if (split_parent(oo->path, parent, sizeof(parent), &base) < 0 ||
	    !*base || !strcmp(base, ".") || !strcmp(base, ".."))
		return fw_error_set(err, FW_EUSAGE, oo->path, "bad output name");
	if (!*parent)
		snprintf(parent, sizeof(parent), "/");
	if (!realpath(parent, real_parent))
		return fw_error_set(err, FW_EUSAGE, oo->path,
				    "output directory does not exist");
	if (!realpath(img->path, real_in))
		return fw_error_set(err, FW_EIO, img->path, "realpath: %s",
				    strerror(errno));
	if (!p->single && is_within(real_parent, real_in))
		return fw_error_set(err, FW_EUSAGE, oo->path,
				    "output is inside the input %s", img->path);
	o->final = strdup(oo->path);
	fw_tmp_sweep(oo->path);	/* what a killed run left */
	if (asprintf(&o->tmp, "%s/.%.60s.fwsign-XXXXXX", real_parent, base) < 0)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (!o->final || !mkdtemp(o->tmp))
		return fw_error_set(err, FW_EIO, oo->path,
				    "cannot create temporary directory: %s",
				    strerror(errno));
	o->outfd = open(o->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->outfd < 0)
		return fw_error_set(err, FW_EIO, o->tmp, "cannot open: %s",
				    strerror(errno));
	fw_tmp_lock(o->outfd);
	return FW_OK;
}

static int put_in_place(struct dir_out *o, size_t idx, uint64_t keep,
			const uint8_t *tail, size_t tail_len,
			struct fw_error *err)
{
	struct dir_priv *p = o->img->priv;
	const struct fw_entry *e = &o->img->ent[idx];
	char dir[PATH_MAX], tmp[NAME_MAX + 1];
	const char *base;
	int dfd, fd, rc = FW_OK;

	if (p->single) {
		if (split_parent(o->img->path, dir, sizeof(dir), &base) < 0)
			return fw_error_set(err, FW_EIO, o->img->path, "bad path");
		dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		if (split_parent(e->path, dir, sizeof(dir), &base) < 0)
			return fw_error_set(err, FW_EIO, e->path, "bad path");
		dfd = open_beneath(p->rootfd, dir, O_RDONLY | O_DIRECTORY);
	}
	if (dfd < 0)
		return fw_error_set(err, FW_EIO, disp(o, idx), "cannot open parent: %s",
				    strerror(errno));
	if (e->link_of != FW_NO_LINK) {
		/* A later name of a rewritten inode: link it to the new one. */
		const struct fw_entry *first = &o->img->ent[e->link_of];
		int fdr = p->single ? -1 : p->rootfd;

		if (!o->changed[e->link_of])
			goto out;
		for (int tries = 0; tries < 100; tries++) {
			unsigned r = (unsigned)rand();

			snprintf(tmp, sizeof(tmp), ".%.40s.fwsign-%08x", base, r);
			if (linkat(fdr, first->path, dfd, tmp, 0) == 0 ||
			    errno != EEXIST)
				break;
		}
		if (renameat(dfd, tmp, dfd, base) < 0) {
			unlinkat(dfd, tmp, 0);
			rc = fw_error_set(err, FW_EIO, e->path,
					  "cannot relink hard link: %s",
					  strerror(errno));
		}
		goto out;
	}
	fd = tmpfile_at(dfd, base, tmp, sizeof(tmp));
	if (fd < 0) {
		rc = fw_error_set(err, FW_EIO, disp(o, idx),
				  "cannot create temporary file: %s",
				  strerror(errno));
		goto out;
	}
	close(fd);
	unlinkat(dfd, tmp, 0);
	rc = write_file(o, idx, dfd, tmp, keep, tail, tail_len, err);
	if (rc == FW_OK && renameat(dfd, tmp, dfd, base) < 0) {
		rc = fw_error_set(err, FW_EIO, disp(o, idx), "cannot replace: %s",
				  strerror(errno));
		unlinkat(dfd, tmp, 0);
	}
	if (rc == FW_OK)
		o->changed[idx] = 1;
out:
	close(dfd);
	return rc;
}

/* In place, content unchanged (--ima-only): the new xattrs on the file. */
static int xattrs_in_place(struct dir_out *o, size_t idx, struct fw_error *err)
{
	int fd = open_entry(o->img, idx, err), rc;

	if (fd < 0)
		return -fd;
	rc = set_new_xattrs(o, idx, fd, disp(o, idx), err);
	close(fd);
	return rc;
}

/* Keeps an xattr for the put of entry idx. */
static int dir_out_xattr(void *ctx, size_t idx, const struct fw_xattr *x,
			 struct fw_error *err)
{
	struct dir_out *o = ctx;

	if (!o->nx || idx >= o->img->n)
		return fw_error_set(err, FW_EIO, NULL, "bad xattr call");
	if (fw_xattrs_add(&o->nx[idx].v, &o->nx[idx].n, x->name, x->value,
			  x->len) < 0)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	return FW_OK;
}

/* Entry idx with its input's first keep bytes (UINT64_MAX: unchanged)
 * followed by tail. */
static int put(void *ctx, size_t idx, uint64_t keep, const uint8_t *tail,
	       size_t tail_len, struct fw_error *err)
{
	struct dir_out *o = ctx;
	struct dir_priv *p = o->img->priv;
	const struct fw_entry *e = &o->img->ent[idx];
	const char *path = e->path;
	mode_t m = e->st.st_mode;

	if (o->o.in_place) {
		if (S_ISREG(m) && (keep != UINT64_MAX || e->link_of != FW_NO_LINK))
			return put_in_place(o, idx, keep, tail, tail_len, err);
		if (S_ISREG(m) && o->nx && o->nx[idx].n)
			return xattrs_in_place(o, idx, err);
		return FW_OK;
	}
	if (p->single) {
		/* the temporary directory holds the one file */
		return write_file(o, idx, o->outfd, "f", keep, tail, tail_len,
				  err);
	}
	if (!*path)
		return FW_OK;	/* the root is the temporary directory */
	if (S_ISREG(m) && e->link_of != FW_NO_LINK) {
		if (linkat(o->outfd, o->img->ent[e->link_of].path, o->outfd,
			   path, 0) < 0)
			return fw_error_set(err, FW_EIO, path,
					    "cannot create hard link: %s",
					    strerror(errno));
		return FW_OK;
	}
	if (S_ISREG(m))
		return write_file(o, idx, o->outfd, path, keep, tail, tail_len,
				  err);
	if (S_ISDIR(m)) {
		if (mkdirat(o->outfd, path, 0700) < 0)
			return fw_error_set(err, FW_EIO, path, "cannot create: %s",
					    strerror(errno));
		return FW_OK;	/* metadata at commit, children first */
	}
	if (S_ISLNK(m)) {
		struct timespec ts[2] = { e->st.st_atim, e->st.st_mtim };

		if (symlinkat(e->link_target, o->outfd, path) < 0)
			return fw_error_set(err, FW_EIO, path,
					    "cannot create symlink: %s",
					    strerror(errno));
		if (fchownat(o->outfd, path, e->st.st_uid, e->st.st_gid,
			     AT_SYMLINK_NOFOLLOW) < 0 &&
		    (o->root || errno != EPERM))
			return fw_error_set(err, FW_EIO, path,
					    "cannot set owner: %s", strerror(errno));
		utimensat(o->outfd, path, ts, AT_SYMLINK_NOFOLLOW);
		return FW_OK;
	}
	/* devices, fifos, sockets */
	if (mknodat(o->outfd, path, m, e->st.st_rdev) < 0)
		return fw_error_set(err, FW_EIO, path,
				    "cannot create special file: %s%s",
				    strerror(errno),
				    errno == EPERM ? " (devices need root, "
						     "or sign in place)" : "");
	{
		struct timespec ts[2] = { e->st.st_atim, e->st.st_mtim };

		if (fchownat(o->outfd, path, e->st.st_uid, e->st.st_gid,
			     AT_SYMLINK_NOFOLLOW) < 0 &&
		    (o->root || errno != EPERM))
			return fw_error_set(err, FW_EIO, path,
					    "cannot set owner: %s", strerror(errno));
		fchmodat(o->outfd, path, m & 07777, 0);
		utimensat(o->outfd, path, ts, AT_SYMLINK_NOFOLLOW);
	}
	return FW_OK;
}

static int dir_out_put(void *ctx, size_t idx, const uint8_t *data,
		       size_t len, struct fw_error *err)
{
	return data ? put(ctx, idx, 0, data, len, err)
		    : put(ctx, idx, UINT64_MAX, NULL, 0, err);
}

static int dir_out_put_append(void *ctx, size_t idx, uint64_t keep,
			      const uint8_t *tail, size_t tail_len,
			      struct fw_error *err)
{
	return put(ctx, idx, keep, tail, tail_len, err);
}

static int dir_out_commit(void *ctx, struct fw_error *err)
{
	struct dir_out *o = ctx;
	struct dir_priv *p = o->img->priv;
	int rc;

	if (o->o.in_place) {
		/* Replacing files touched their directories: put times back. */
		for (size_t i = 0; !p->single && i < o->img->n; i++) {
			const struct fw_entry *e = &o->img->ent[i];
			struct timespec ts[2] = { e->st.st_atim, e->st.st_mtim };
			int dfd;

			if (!S_ISDIR(e->st.st_mode))
				continue;
			dfd = open_beneath(p->rootfd, e->path, O_RDONLY | O_DIRECTORY);
			if (dfd < 0 || futimens(dfd, ts) < 0) {
				if (dfd >= 0)
					close(dfd);
				return fw_error_set(err, FW_EIO, disp(o, i),
						    "cannot set times: %s",
						    strerror(errno));
			}
			close(dfd);
		}
		return FW_OK;
	}
	if (p->single) {
		if (renameat2(o->outfd, "f", AT_FDCWD, o->final,
			      RENAME_NOREPLACE) < 0)
			return fw_error_set(err, FW_EIO, o->final,
					    "cannot create: %s", strerror(errno));
		return FW_OK;
	}
	/* Directory metadata, deepest first, so that writes into them and
	 * their own mtimes come out as in the input. */
	for (size_t i = o->img->n; i-- > 0;) {
		const struct fw_entry *e = &o->img->ent[i];
		int dfd, in;

		if (!S_ISDIR(e->st.st_mode))
			continue;
		dfd = *e->path ? open_beneath(o->outfd, e->path,
					      O_RDONLY | O_DIRECTORY)
			       : fcntl(o->outfd, F_DUPFD_CLOEXEC, 0);
		in = open_beneath(p->rootfd, e->path, O_RDONLY | O_DIRECTORY);
		if (dfd < 0 || in < 0) {
			if (dfd >= 0)
				close(dfd);
			if (in >= 0)
				close(in);
			return fw_error_set(err, FW_EIO, disp(o, i),
					    "cannot open directory: %s",
					    strerror(errno));
		}
		rc = apply_meta(o, i, dfd, in, &e->st, disp(o, i), err);
		close(dfd);
		close(in);
		if (rc)
			return rc;
	}
	if (renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->final,
		      RENAME_NOREPLACE) < 0)
		return fw_error_set(err, FW_EIO, o->final, "cannot create: %s",
				    strerror(errno));
	free(o->tmp);
	o->tmp = NULL;
	return FW_OK;
}

static void dir_out_abort(void *ctx)
{
	struct dir_out *o = ctx;

	if (!o)
		return;
	if (o->tmp) {
		fw_rm_tree(o->tmp);
	}
	if (o->outfd >= 0)
		close(o->outfd);
	free(o->tmp);
	free(o->final);
	free(o->changed);
	for (size_t i = 0; o->nx && i < o->img->n; i++)
		fw_xattrs_free(o->nx[i].v, o->nx[i].n);
	free(o->nx);
	free(o);
}

static void dir_close(struct fw_image *img)
{
	struct dir_priv *p = img->priv;

	if (p && p->rootfd >= 0)
		close(p->rootfd);
	free(p);
}

const struct fw_format fw_format_dir = {
	.name = "directory",
	.bid = dir_bid,
	.open = dir_open,
	.map = dir_map,
	.xattrs = dir_xattrs,
	.out_begin = dir_out_begin,
	.out_put = dir_out_put,
	.out_put_append = dir_out_put_append,
	.out_xattr = dir_out_xattr,
	.out_commit = dir_out_commit,
	.out_abort = dir_out_abort,
	.close = dir_close,
};
