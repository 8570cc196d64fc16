// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Spill maps (spillmap.h): anonymous memory grown by mremap while small;
 * past FW_SPILL_AFTER, a shared mapping of a nameless temporary file,
 * reserved large and grown by ftruncate, or moved by mremap when it
 * outgrows its reservation.  Every map is on one list, so that
 * fw_spillmap_trim_all can reach the maps of a format the caller does
 * not know.
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
#include "io.h"

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
/* The file (or the anonymous part made accessible) grows by at least
 * this, and at least doubles: few ftruncate and mprotect calls. */
#define STEP_MIN ((size_t)64 << 10)

struct fw_spillmap {
	struct fw_spillmap *prev, *next;	/* every map, under maps_lock */
	uint8_t *base;		/* NULL: nothing mapped yet */
	size_t len;		/* the caller's bytes */
	size_t size;		/* accessible: the file's size, or the
				 * anonymous mapping's */
	size_t room;		/* mapped at base (anonymous: size) */
	size_t want;		/* the reservation to ask for, in the file */
	int fd;			/* -1: anonymous */
	int no_file;		/* no file could be made: stay anonymous */
};

/* Guards the list, and each map's base, size, room and fd against a trim. */
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

struct fw_spillmap *fw_spillmap_new(size_t max)
{
	struct fw_spillmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->fd = -1;
	m->want = max && max < RESERVE_MAX ? pages(max) : RESERVE_MAX;
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

/* For ASan: all of the mapping usable (to move or unmap it), or all but
 * the caller's bytes poisoned. */
static void unpoison_all(struct fw_spillmap *m)
{
	if (m->base)
		UNPOISON(m->base, m->size);
}

static void poison_tail(struct fw_spillmap *m)
{
	if (m->base)
		POISON(m->base + m->len, m->size - m->len);
}

/* Anonymous memory of size bytes, the map's bytes moved into it.  Under
 * maps_lock; 0 or -1 (nothing changed). */
static int anon_resize(struct fw_spillmap *m, size_t size)
{
	void *p;

	if (!m->base)
		p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else
		p = mremap(m->base, m->room, size, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return -1;
	m->base = p;
	m->size = m->room = size;
	return 0;
}

/* Maps the file with as much room as the address space gives, from
 * m->want down to size; MAP_FAILED if not even size. */
static void *map_file(struct fw_spillmap *m, size_t size, size_t *room)
{
	size_t r = m->want > size ? m->want : size;

	for (;; r = r / 2 > size ? r / 2 : size) {
		void *p = mmap(NULL, r, PROT_READ | PROT_WRITE, MAP_SHARED,
			       m->fd, 0);

		if (p != MAP_FAILED) {
			madvise(p, r, MADV_DONTFORK);
			*room = r;
			return p;
		}
		if (r == size)
			return MAP_FAILED;
	}
}

/*
 * Moves an anonymous map into a new file, size bytes long: its bytes are
 * written to the file (not copied through the new mapping, whose pages
 * would then be resident).  Under maps_lock; 0, or -1 with the map as it
 * was, still anonymous.
 */
static int to_file(struct fw_spillmap *m, size_t size)
{
	size_t room;
	void *p;

	m->fd = fw_tmp_anon_fd("fwsign-spill");
	if (m->fd < 0)
		return -1;
	if (ftruncate(m->fd, (off_t)size) ||
	    (m->len && fw_pwrite_full(m->fd, m->base, m->len, 0)))
		goto fail;
	p = map_file(m, size, &room);
	if (p == MAP_FAILED)
		goto fail;
	if (m->base)
		munmap(m->base, m->room);
	m->base = p;
	m->size = size;
	m->room = room;
	return 0;
fail:
	close(m->fd);
	m->fd = -1;
	return -1;
}

/* The file grown to size bytes, the mapping moved if it has no room. */
static int file_resize(struct fw_spillmap *m, size_t size)
{
	void *p;

	if (ftruncate(m->fd, (off_t)size))
		return -1;
	if (size > m->room) {
		p = mremap(m->base, m->room, size, MREMAP_MAYMOVE);
		if (p == MAP_FAILED)
			return -1;	/* the file longer: harmless */
		madvise(p, size, MADV_DONTFORK);
		m->base = p;
		m->room = size;
	}
	m->size = size;
	return 0;
}

/* Makes at least need bytes (pages) accessible, in large steps. */
static int grow_size(struct fw_spillmap *m, size_t need)
{
	size_t size = m->size > SIZE_MAX / 2 ? need : m->size * 2;
	int rc;

	if (size < need)
		size = need;
	if (size < STEP_MIN)
		size = STEP_MIN;
	if (m->fd >= 0 && need <= m->room && size > m->room)
		size = m->room;
	pthread_mutex_lock(&maps_lock);
	unpoison_all(m);
	if (m->fd < 0 && !m->no_file && size > FW_SPILL_AFTER &&
	    to_file(m, size))
		m->no_file = 1;
	if (m->size >= size)
		rc = 0;		/* to_file made it */
	else if (m->fd >= 0)
		rc = file_resize(m, size);
	else
		rc = anon_resize(m, size);
	poison_tail(m);
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
	unpoison_all(m);
	if (m->base)
		munmap(m->base, m->room);
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}
