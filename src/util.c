// SPDX-License-Identifier: LGPL-2.1-or-later
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "../formats/format.h"

int fw_file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "re");
	char line[512];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

int fw_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fw_read_fd(int fd, uint8_t **buf, size_t *len, size_t limit)
{
	struct stat st;
	size_t cap, n = 0;
	uint8_t *b;

	*buf = NULL;
	*len = 0;
	if (fstat(fd, &st) < 0)
		return -1;
	if ((uint64_t)st.st_size > limit) {
		errno = EFBIG;
		return -1;
	}
	cap = (size_t)st.st_size + 1;
	b = malloc(cap);
	if (!b)
		return -1;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			uint8_t *nb;

			if (cap > limit) {
				free(b);
				errno = EFBIG;
				return -1;
			}
			nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				return -1;
			}
			b = nb;
			cap *= 2;
		}
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(b);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*buf = b;
	*len = n;
	return 0;
}

ssize_t fw_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (uint8_t *)buf + done, n - done,
				  (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

/* Writes all n bytes at off: 0, or -1 with errno (EIO for a write of 0). */
int fw_pwrite_full(int fd, const void *buf, size_t n, uint64_t off)
{
	while (n) {
		ssize_t r = pwrite(fd, buf, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			errno = EIO;
		if (r <= 0)
			return -1;
		buf = (const uint8_t *)buf + r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/*
 * Below this size a read costs less than setting up and tearing down a
 * mapping; above it, mapping the page cache saves copying the file.
 */
#define MAP_MIN ((size_t)64 << 10)

int fw_map_fd(int fd, struct fw_bytes *b, size_t limit)
{
	struct stat st;
	void *m;

	fw_bytes_init(b);
	if (fstat(fd, &st) < 0)
		return -1;
	if ((uint64_t)st.st_size > limit) {
		errno = EFBIG;
		return -1;
	}
	if (S_ISREG(st.st_mode) && (size_t)st.st_size >= MAP_MIN) {
		m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
			b->mapped = m;
			b->map_len = (size_t)st.st_size;
			b->p = m;
			b->len = (size_t)st.st_size;
			return 0;
		}
	}
	if (fw_read_fd(fd, &b->owned, &b->len, limit) < 0)
		return -1;
	b->p = b->owned;
	return 0;
}

void fw_bytes_release(struct fw_bytes *b)
{
	if (b->mapped)
		munmap(b->mapped, b->map_len);
	free(b->owned);
	if (b->seg_map)
		munmap(b->seg_map, b->seg_map_len);
	free(b->seg);
	fw_bytes_init(b);
}

/* Bigger files get memory of their own, given back when they are done. */
#define SCRATCH_MAX ((size_t)64 << 20)

uint8_t *fw_bytes_alloc(struct fw_bytes *b, size_t n)
{
	struct fw_scratch *s = b->scratch;

	if (s && n <= SCRATCH_MAX) {
		if (n > s->cap || !s->p) {
			/* Doubling, and realloc: glibc moves the pages of a
			 * big block (mremap) instead of faulting new ones. */
			size_t cap = s->cap > n / 2 ? 2 * s->cap : n;
			uint8_t *p;

			if (cap > SCRATCH_MAX)
				cap = SCRATCH_MAX;
			p = realloc(s->p, cap ? cap : 1);
			if (!p)
				return NULL;
			s->p = p;
			s->cap = cap;
		}
		return s->p;
	}
	free(b->owned);
	b->owned = malloc(n ? n : 1);
	return b->owned;
}

char *fw_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The CPUs this process may run on (taskset, cgroup cpusets), as nproc. */
int fw_ncpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

struct spawn {
	void *(*fn)(void *);
	void *arg;
	cpu_set_t all;		/* the affinity the thread gets back */
	int away;		/* started away from its creator's CPU */
};

static void *spawned(void *p)
{
	struct spawn s = *(struct spawn *)p;

	free(p);
	if (s.away)
		(void)sched_setaffinity(0, sizeof(s.all), &s.all);
	return s.fn(s.arg);
}

/*
 * pthread_create for a thread that works beside its creator: it starts on
 * another CPU, then gets back the affinity its creator had.  Schedulers that pack threads onto
 * few CPUs (seen on a 2-vCPU VM here) otherwise queue it behind its
 * still-busy creator until the next tick moves it: up to 4 ms idle.
 */
int fw_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	struct spawn *s = calloc(1, sizeof(*s));
	pthread_attr_t attr;
	cpu_set_t away;
	int cpu, rc;

	if (!s)
		return ENOMEM;
	s->fn = fn;
	s->arg = arg;
	rc = pthread_attr_init(&attr);
	if (rc) {
		free(s);
		return rc;
	}
	cpu = sched_getcpu();
	if (cpu >= 0 && cpu < CPU_SETSIZE &&
	    sched_getaffinity(0, sizeof(s->all), &s->all) == 0 &&
	    CPU_ISSET(cpu, &s->all) && CPU_COUNT(&s->all) > 1) {
		away = s->all;
		CPU_CLR(cpu, &away);
		s->away = pthread_attr_setaffinity_np(&attr, sizeof(away),
						      &away) == 0;
	}
	rc = pthread_create(t, &attr, spawned, s);
	if (rc && s->away) {	/* the CPUs changed meanwhile: no hint */
		s->away = 0;
		rc = pthread_create(t, NULL, spawned, s);
	}
	pthread_attr_destroy(&attr);
	if (rc)
		free(s);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Temporaries                                                         */

int fw_tmp_anon_fd(const char *stem)
{
	const char *dir = getenv("TMPDIR");
	char *path = NULL;
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* a file system without O_TMPFILE: a name, removed at once */
	if (asprintf(&path, "%s/%s.XXXXXX", dir, stem) < 0)
		return -1;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	free(path);
	return fd;
}

int fw_tmp_lock(int fd)
{
	return flock(fd, LOCK_EX | LOCK_NB);
}

/* ".BASE.fwsign-" then 6 or 8 letters and digits (mkstemp's or ours);
 * base NULL: any BASE. */
static int temp_name(const char *n, const char *base)
{
	const char *t = strstr(n, ".fwsign-"), *x;
	size_t k;

	if (n[0] != '.' || !t || t == n)
		return 0;
	while ((x = strstr(t + 1, ".fwsign-")))
		t = x;
	if (base && ((size_t)(t - n - 1) != strlen(base) ||
		     strncmp(n + 1, base, strlen(base))))
		return 0;
	t += 8;
	for (k = 0; t[k]; k++)
		if (!((t[k] >= 'a' && t[k] <= 'z') || (t[k] >= 'A' && t[k] <= 'Z') ||
		      (t[k] >= '0' && t[k] <= '9')))
			return 0;
	return k == 6 || k == 8;
}

static int sweep_chmod(const char *p, const struct stat *st, int type,
		       struct FTW *f)
{
	(void)f;
	if (type == FTW_D || type == FTW_DNR)
		chmod(p, (st->st_mode & 07777) | 0700);
	return 0;
}

static int sweep_rm(const char *p, const struct stat *st, int type,
		   struct FTW *f)
{
	(void)st;
	(void)f;
	if (type == FTW_DP || type == FTW_D)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

void fw_rm_tree(const char *path)
{
	nftw(path, sweep_chmod, 16, FTW_PHYS);
	nftw(path, sweep_rm, 16, FTW_PHYS | FTW_DEPTH);
}

/* Removes the temporary dir/name if its maker is gone (no lock on it). */
static int sweep_one(int dirfd, const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, stale;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	stale = fw_tmp_lock(fd) == 0;
	if (stale) {
		if (S_ISDIR(st.st_mode) &&
		    snprintf(path, sizeof(path), "%s/%s", dir, name) <
		    (int)sizeof(path)) {
			fw_rm_tree(path);
		} else if (!S_ISDIR(st.st_mode)) {
			unlinkat(dirfd, name, 0);
		}
	}
	close(fd);
	return stale;
}

int fw_tmp_sweep(const char *final)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(final, '/'), *base;
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (slash) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - final), final);
		if (!dir[0])
			snprintf(dir, sizeof(dir), "/");
		base = slash + 1;
	} else {
		snprintf(dir, sizeof(dir), ".");
		base = final;
	}
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (temp_name(e->d_name, base))
			n += sweep_one(dirfd(d), dir, e->d_name);
	closedir(d);
	return n;
}

static int sweep_found;

static int sweep_tree_fn(const char *p, const struct stat *st, int type,
			 struct FTW *f)
{
	const char *name = p + f->base;

	(void)st;
	if (type == FTW_F && temp_name(name, NULL)) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%.*s", f->base ? f->base - 1 : 1,
			 f->base ? p : ".");
		sweep_found += sweep_one(AT_FDCWD, dir, p);
	}
	return 0;
}

int fw_tmp_sweep_tree(const char *root)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	int n;

	pthread_mutex_lock(&lock);
	sweep_found = 0;
	nftw(root, sweep_tree_fn, 16, FTW_PHYS | FTW_MOUNT);
	n = sweep_found;
	pthread_mutex_unlock(&lock);
	return n;
}

/* ------------------------------------------------------------------ */
/* An output file that appears whole or not at all.                    */

int fw_outfile_begin(struct fw_outfile *o, const char *final,
		     struct fw_error *err)
{
	struct stat st;
	const char *slash = strrchr(final, '/');
	int dirlen = slash ? (int)(slash - final) : 0;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (lstat(final, &st) == 0)
		return fw_error_set(err, FW_EUSAGE, final, "output already exists");
	o->final = strdup(final);
	if (!o->final ||
	    asprintf(&o->tmp, "%.*s%s.%s.fwsign-XXXXXX", dirlen, final,
		     slash ? "/" : "", slash ? slash + 1 : final) < 0) {
		o->tmp = NULL;
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	fw_tmp_sweep(final);	/* what a killed run left */
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd >= 0) {
		fw_tmp_lock(o->fd);	/* ours while we live */
		/* mkostemp makes 0600; an image is a normal file: 0666 - umask */
		mode_t mask = umask(0);

		umask(mask);
		fchmod(o->fd, 0666 & ~mask);
	}
	if (o->fd < 0) {
		int e = errno;

		free(o->tmp);
		o->tmp = NULL;
		return fw_error_set(err, e == ENOENT ? FW_EUSAGE : FW_EIO, final,
				    "cannot create: %s", strerror(e));
	}
	return FW_OK;
}

int fw_outfile_commit(struct fw_outfile *o, uint64_t max_size,
		      struct fw_error *err)
{
	struct stat st;

	if (fstat(o->fd, &st) < 0)
		return fw_error_set(err, FW_EIO, o->final, "stat: %s",
				    strerror(errno));
	if (max_size && (uint64_t)st.st_size > max_size)
		return fw_error_set(err, FW_EINPUT, o->final,
				    "output of %lld bytes exceeds the size limit %llu "
				    "by %llu bytes", (long long)st.st_size,
				    (unsigned long long)max_size,
				    (unsigned long long)st.st_size - max_size);
	if (close(o->fd) < 0) {
		o->fd = -1;
		return fw_error_set(err, FW_EIO, o->final, "write: %s",
				    strerror(errno));
	}
	o->fd = -1;
	if (renameat2(AT_FDCWD, o->tmp, AT_FDCWD, o->final, RENAME_NOREPLACE) < 0)
		return fw_error_set(err, FW_EIO, o->final, "cannot create: %s",
				    strerror(errno));
	free(o->tmp);
	o->tmp = NULL;
	return FW_OK;
}

void fw_outfile_abort(struct fw_outfile *o)
{
	if (o->fd >= 0)
		close(o->fd);
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->final);
	memset(o, 0, sizeof(*o));
	o->fd = -1;
}
