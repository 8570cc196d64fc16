/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Files in and out (util.c): whole files and ranges read under a cap,
 * mapped when worth it, output files that appear whole or not at all
 * (struct fw_outfile and fw_write_all: module.h, the tar/cpio module
 * writes with them too), temporaries and their sweep; threads; JSON
 * strings (report.c).  The caps themselves: fw_limits.h.
 */
#ifndef FWSIGN_IO_H
#define FWSIGN_IO_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "fwsign/fwsign.h"
#include "../formats/module.h"

int fw_file_contains(const char *path, const char *needle);
/* Reads a whole file (opened by the caller) into a malloc'ed buffer. */
int fw_read_fd(int fd, uint8_t **buf, size_t *len, size_t limit);
/* n bytes at off, fewer only at the end of the file; -1 and errno. */
ssize_t fw_pread_full(int fd, void *buf, size_t n, uint64_t off);
int fw_pwrite_full(int fd, const void *buf, size_t n, uint64_t off);
struct fw_bytes;
/* A file's bytes (opened by the caller): mapped when it is big enough to
 * be worth it, else read; fw_bytes_release (format.h) frees. */
int fw_map_fd(int fd, struct fw_bytes *b, size_t limit);
char *fw_strdup(const char *s);

/* fw_read_at: module.h. */

/*
 * Temporaries: every one fwsign makes is named .BASE.fwsign-XXXXXX (or
 * eight hex digits for a file replaced in place) and held with an flock
 * for as long as its maker lives.  fw_tmp_sweep removes the temporaries
 * of a dead maker beside final (a killed run's); fw_tmp_sweep_tree those
 * inside a tree (a killed in-place run's).  Both return how many.
 */
int fw_tmp_lock(int fd);
/* A nameless read-write file in $TMPDIR, else /tmp (O_TMPFILE, or a
 * name made from stem and removed at once): its fd, or -1. */
int fw_tmp_anon_fd(const char *stem);
int fw_tmp_sweep(const char *final);
/* Removes the tree at path (directories made writable first), never
 * following a link. */
void fw_rm_tree(const char *path);
int fw_tmp_sweep_tree(const char *root);

int fw_ncpus(void);
/* pthread_create, the thread started on another CPU than the caller's. */
int fw_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);

/* report.c: s as a JSON string ("null" for NULL). */
void fw_json_str(FILE *f, const char *s);

#endif
