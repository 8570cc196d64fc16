// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Spill maps (spillmap.h): a shared mapping of a nameless temporary file,
 * reserved large and grown by ftruncate, or moved by mremap when it
 * outgrows its reservation; anonymous memory when no file can be made.
 * Every map is on one list, so that fw_spillmap_trim_all can reach the
 * maps of a format the caller does not know.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spillmap.h"

#if defined(__SANITIZE_ADDRESS__)
#define SPILL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPILL_ASAN 1
#endif
#endif
#ifdef SPILL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/*
 * Address space reserved per map at most: plenty on 64-bit (128 TiB to
 * share), a little on 32-bit, where a map that outgrows it moves instead.
 */
#define RESERVE_MAX ((size_t)1 << (SIZE_MAX > 0xffffffffu ? 32 : 24))
#define RESERVE_MIN ((size_t)64 << 10)
/* The file (or the anonymous part made accessible) grows by at least
 * this, and at least doubles: few ftruncate and mprotect calls. */
#define STEP_MIN ((size_t)64 << 10)

struct fw_spillmap {
	struct fw_spillmap *prev, *next;	/* every map, under maps_lock */
	uint8_t *base;		/* NULL: nothing mapped yet */
	size_t len;		/* the caller's bytes */
	size_t size;		/* accessible: the file's size, or the
				 * anonymous part read-write (pages) */
	size_t room;		/* mapped at base: size plus the reserve */
	int fd;			/* -1: anonymous */
};

/* Guards the list, and each map's base, size and room against a trim. */
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fw_spillmap *maps;

static size_t page_size(void)
{
	static size_t pg;

	if (!pg) {
		long v = sysconf(_SC_PAGESIZE);

		pg = v > 0 ? (size_t)v : 4096;
	}
	return pg;
}

/* n rounded up to pages; 0 when that overflows. */
static size_t pages(size_t n)
{
	size_t pg = page_size();

	return n > SIZE_MAX - pg ? 0 : (n + pg - 1) / pg * pg;
}

/* The temporary file: $TMPDIR, else /tmp, nameless; -1 if none. */
static int spill_fd(void)
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
	if (asprintf(&path, "%s/fwsign-spill.XXXXXX", dir) < 0)
		return -1;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	free(path);
	return fd;
}

/* Maps room bytes: the file shared (no access past its end), or an
 * anonymous reservation that grow opens up; MAP_FAILED if refused. */
static void *map_room(int fd, size_t room)
{
	if (fd >= 0)
		return mmap(NULL, room, PROT_READ | PROT_WRITE, MAP_SHARED,
			    fd, 0);
	return mmap(NULL, room, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
}

/* Reserves as much of want as the address space gives, halving. */
static void reserve(struct fw_spillmap *m, size_t want)
{
	for (size_t r = want; r >= RESERVE_MIN; r /= 2) {
		void *p = map_room(m->fd, r);

		if (p != MAP_FAILED) {
			madvise(p, r, MADV_DONTFORK);
			m->base = p;
			m->room = r;
			return;
		}
	}
}

struct fw_spillmap *fw_spillmap_new(size_t max)
{
	struct fw_spillmap *m = calloc(1, sizeof(*m));
	size_t want = max && max < RESERVE_MAX ? pages(max) : RESERVE_MAX;

	if (!m)
		return NULL;
	m->fd = spill_fd();
	reserve(m, want < RESERVE_MIN ? RESERVE_MIN : want);
	pthread_mutex_lock(&maps_lock);
	m->next = maps;
	if (maps)
		maps->prev = m;
	maps = m;
	pthread_mutex_unlock(&maps_lock);
	return m;
}

void *fw_spillmap_base(const struct fw_spillmap *m)
{
	return m->len ? m->base : NULL;
}

size_t fw_spillmap_len(const struct fw_spillmap *m)
{
	return m->len;
}

size_t fw_spillmap_room(const struct fw_spillmap *m)
{
	return m->room;
}

int fw_spillmap_spilled(const struct fw_spillmap *m)
{
	return m->fd >= 0;
}

/* Makes [0, size) accessible within the room: the file's size, or the
 * anonymous pages read-write.  0 or -1 (nothing changed). */
static int open_up(struct fw_spillmap *m, size_t size)
{
	if (m->fd >= 0)
		return ftruncate(m->fd, (off_t)size) ? -1 : 0;
	return mprotect(m->base + m->size, size - m->size,
			PROT_READ | PROT_WRITE) ? -1 : 0;
}

/* The map moved or first made to hold size bytes: the whole of it
 * accessible, no reserve left.  0 or -1 (nothing changed). */
static int move_to(struct fw_spillmap *m, size_t size)
{
	void *p;

	if (m->fd >= 0 && ftruncate(m->fd, (off_t)size))
		return -1;
	if (!m->base) {
		p = m->fd >= 0 ? map_room(m->fd, size)
			       : mmap(NULL, size, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	} else {
		/* the anonymous reserve is all read-write by now (size ==
		 * room), so the mapping is one piece, as mremap wants */
		UNPOISON(m->base, m->size);
		p = mremap(m->base, m->room, size, MREMAP_MAYMOVE);
	}
	if (p == MAP_FAILED) {
		if (m->base)
			POISON(m->base + m->len, m->size - m->len);
		return -1;
	}
	madvise(p, size, MADV_DONTFORK);
	m->base = p;
	m->room = size;
	POISON(m->base + m->len, m->size - m->len);
	return 0;
}

/* Grows what is accessible to at least need bytes (pages). */
static int grow_size(struct fw_spillmap *m, size_t need)
{
	size_t size = m->size > SIZE_MAX / 2 ? need : m->size * 2;
	int rc;

	if (size < need)
		size = need;
	if (size < STEP_MIN)
		size = STEP_MIN;
	if (need <= m->room && size > m->room)
		size = m->room;
	pthread_mutex_lock(&maps_lock);
	if (size <= m->room) {
		rc = open_up(m, size);
	} else {
		/* moving: anonymous memory must be all usable first */
		if (m->fd < 0 && m->room > m->size)
			rc = open_up(m, m->room);
		else
			rc = 0;
		if (!rc)
			m->size = m->room;
		rc = rc ? rc : move_to(m, size);
	}
	if (!rc) {
		POISON(m->base + m->size, size - m->size);
		m->size = size;
	}
	pthread_mutex_unlock(&maps_lock);
	return rc;
}

void *fw_spillmap_grow(struct fw_spillmap *m, size_t len)
{
	if (len <= m->len)
		return m->base;
	if (len > m->size) {
		size_t need = pages(len);

		if (!need || grow_size(m, need))
			return NULL;
	}
	UNPOISON(m->base + m->len, len - m->len);
	m->len = len;
	return m->base;
}

/* Under maps_lock. */
static void trim_locked(struct fw_spillmap *m)
{
	if (m->fd >= 0 && m->base && m->size)
		madvise(m->base, m->size, MADV_DONTNEED);
}

void fw_spillmap_trim(struct fw_spillmap *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&maps_lock);
	trim_locked(m);
	pthread_mutex_unlock(&maps_lock);
}

void fw_spillmap_trim_all(void)
{
	pthread_mutex_lock(&maps_lock);
	for (struct fw_spillmap *m = maps; m; m = m->next)
		trim_locked(m);
	pthread_mutex_unlock(&maps_lock);
}

void fw_spillmap_free(struct fw_spillmap *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&maps_lock);
	if (m->prev)
		m->prev->next = m->next;
	else
		maps = m->next;
	if (m->next)
		m->next->prev = m->prev;
	pthread_mutex_unlock(&maps_lock);
	if (m->base) {
		UNPOISON(m->base, m->size);
		munmap(m->base, m->room);
	}
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}
