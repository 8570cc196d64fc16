// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * FAT12/16/32 boot partitions (a Raspberry Pi's, an EFI system
 * partition): only their kernel files are parts, so that each gets the
 * certificate in its slot as a kernel layer does.  Our own small reader,
 * not mtools: the stack wants byte ranges and a rebuild in memory, and a
 * FAT is three tables (boot sector, FAT, directories) simple enough to
 * walk with bounds checked at every step.
 *
 * A kernel file is rewritten in place, cluster by cluster, at the size
 * it had (a bzImage and a raw Image keep their size when the slot takes
 * the certificate); the directory entries, the FATs and every other byte
 * are copied as they are.  A kernel whose new size differs (a recompressed
 * Image.gz) is refused: growing a FAT file means allocating clusters,
 * which this does not do.  A file in one run of clusters is a range of the
 * volume; a fragmented one is gathered into a copy and scattered back.
 * Names are the long (VFAT) ones where a directory has them, as mdir and
 * Linux's vfat show them: the run of long-name entries before an 8.3
 * entry, last part first, each naming the 8.3 entry's checksum, the
 * UTF-16 in them made UTF-8.  A run that is out of order, broken off,
 * orphaned, of another checksum or that decodes to no usable name (empty,
 * a '/', a control character, a lone surrogate) is ignored and the 8.3
 * name used (with the lower-case flags Windows NT and mtools set).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwsign/kernel.h"
#include "layer.h"
#include "format.h"
#include "../src/codec.h"

#define MAX_DEPTH 16
#define MAX_FILES 4096		/* kernel files taken as parts */
#define HEAD 4096		/* bytes of a file read to tell a kernel */
#define PATH_MAX_LEN 4096	/* a part's path, directories included */
#define LFN_MAX 20		/* long-name entries of one name (255 chars) */

struct ffile {
	uint32_t *clus;		/* its clusters, in order */
	uint32_t n;
	uint64_t size;
	uint8_t *copy;		/* fragmented: gathered here */
};

struct fat {
	int bits;		/* 12, 16, 32 */
	uint32_t bps, spc, csize;
	uint64_t fat_off, root_off, data_off, vol_len;
	uint32_t root_ents, root_clus, clusters;
	uint8_t *seen;		/* directory clusters walked */
	struct ffile *f;	/* one per part, in part order */
	size_t n_f;
	char why[200];
};

/* The boot sector's BIOS parameter block; 0 if it is a FAT's. */
static int bpb(const uint8_t *p, size_t len, struct fat *t)
{
	uint32_t rsvd, nfats, fatsz, tot, rootsec;

	memset(t, 0, sizeof(*t));
	if (len < 512 || (p[0] != 0xeb && p[0] != 0xe9) || p[510] != 0x55 ||
	    p[511] != 0xaa)
		return -1;
	t->bps = fw_le16(p + 11);
	t->spc = p[13];
	rsvd = fw_le16(p + 14);
	nfats = p[16];
	t->root_ents = fw_le16(p + 17);
	tot = fw_le16(p + 19) ? fw_le16(p + 19) : fw_le32(p + 32);
	fatsz = fw_le16(p + 22) ? fw_le16(p + 22) : fw_le32(p + 36);
	if (t->bps < 512 || t->bps > 4096 || (t->bps & (t->bps - 1)) ||
	    !t->spc || (t->spc & (t->spc - 1)) || !rsvd || !nfats ||
	    nfats > 4 || !fatsz || !tot || p[21] < 0xf0)
		return -1;
	t->csize = t->bps * t->spc;
	rootsec = (t->root_ents * 32 + t->bps - 1) / t->bps;
	if ((uint64_t)rsvd + (uint64_t)nfats * fatsz + rootsec >= tot)
		return -1;
	t->clusters = (tot - rsvd - nfats * fatsz - rootsec) / t->spc;
	t->bits = t->clusters < 4085 ? 12 : t->clusters < 65525 ? 16 : 32;
	if (t->bits == 32 && (t->root_ents || fw_le16(p + 22)))
		return -1;
	if (t->bits != 32 && !t->root_ents)
		return -1;
	t->fat_off = (uint64_t)rsvd * t->bps;
	t->root_off = t->fat_off + (uint64_t)nfats * fatsz * t->bps;
	t->data_off = t->root_off + (uint64_t)rootsec * t->bps;
	t->vol_len = (uint64_t)tot * t->bps;
	t->root_clus = t->bits == 32 ? fw_le32(p + 44) : 0;
	/* the FAT must hold an entry for every cluster */
	if ((uint64_t)fatsz * t->bps * 8 / t->bits < t->clusters + 2ull)
		return -1;
	return 0;
}

static int fat_bid(const uint8_t *p, size_t len, const struct fw_node *parent)
{
	struct fat t;

	(void)parent;
	/* a volume cut short still opens, to say so */
	return bpb(p, len, &t) ? 0 : 120;
}

/* The FAT entry of cluster c (bounds checked by bpb: c <= clusters + 1). */
static uint32_t next_of(const uint8_t *p, const struct fat *t, uint32_t c)
{
	const uint8_t *f = p + t->fat_off;

	if (t->bits == 12) {
		uint32_t v = fw_le16(f + c + c / 2);

		return c & 1 ? v >> 4 : v & 0xfff;
	}
	if (t->bits == 16)
		return fw_le16(f + 2 * (uint64_t)c);
	return fw_le32(f + 4 * (uint64_t)c) & 0x0fffffff;
}

static int is_eoc(const struct fat *t, uint32_t v)
{
	return v >= (t->bits == 12 ? 0xff8u : t->bits == 16 ? 0xfff8u :
		     0x0ffffff8u);
}

static uint64_t clus_off(const struct fat *t, uint32_t c)
{
	return t->data_off + (uint64_t)(c - 2) * t->csize;
}

/* The chain from c: want clusters (0: up to its end, a directory).
 * Refuses a free, bad or out-of-range link, a loop, a short chain. */
static int chain(const uint8_t *p, struct fat *t, uint32_t c, uint32_t want,
		 uint32_t **out, uint32_t *n, const char *what)
{
	uint32_t *v = NULL, k = 0, cap = 0;

	*out = NULL;
	*n = 0;
	while (!want || k < want) {
		if (c < 2 || c > t->clusters + 1) {
			snprintf(t->why, sizeof(t->why), "%s: cluster %u%s "
				 "is not on the volume", what, c,
				 k ? " (linked)" : "");
			goto bad;
		}
		if (k >= t->clusters) {
			snprintf(t->why, sizeof(t->why), "%s: its cluster "
				 "chain loops", what);
			goto bad;
		}
		if (k == cap) {
			uint32_t *w;

			cap = cap ? cap * 2 : 16;
			w = realloc(v, cap * sizeof(*v));
			if (!w)
				goto oom;
			v = w;
		}
		v[k++] = c;
		c = next_of(p, t, c);
		if (is_eoc(t, c))
			break;
	}
	if (want && k < want) {
		snprintf(t->why, sizeof(t->why), "%s: its cluster chain ends "
			 "after %u of %u clusters", what, k, want);
		goto bad;
	}
	*out = v;
	*n = k;
	return 0;
oom:
	snprintf(t->why, sizeof(t->why), "out of memory");
bad:
	free(v);
	return -1;
}

/* "NAME.EXT" of an entry, lower-cased as its NT flags say. */
static void short_name(const uint8_t *e, char *out)
{
	int k = 0, i;

	for (i = 0; i < 8 && e[i] != ' '; i++)
		out[k++] = (char)((e[12] & 0x08) && e[i] >= 'A' && e[i] <= 'Z' ?
				  e[i] + 32 : e[i]);
	if (e[0] == 0x05)
		out[0] = (char)0xe5;
	if (e[8] != ' ')
		out[k++] = '.';
	for (i = 8; i < 11 && e[i] != ' '; i++)
		out[k++] = (char)((e[12] & 0x10) && e[i] >= 'A' && e[i] <= 'Z' ?
				  e[i] + 32 : e[i]);
	out[k] = 0;
	for (i = 0; i < k; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == '/' ||
		    (unsigned char)out[i] >= 0x7f)
			out[i] = '_';
}

/*
 * A run of long-name entries being read, directory entry by entry (it may
 * cross a cluster boundary).  want: the ordinal the next entry must have
 * (0: no run, or the run is complete when done is set).
 */
struct lfn {
	uint16_t u[LFN_MAX * 13];
	int n;			/* entries in the run */
	int want;
	int done;
	uint8_t sum;		/* the 8.3 entry's checksum they name */
};

static void lfn_entry(struct lfn *l, const uint8_t *e)
{
	static const uint8_t at[13] = { 1, 3, 5, 7, 9, 14, 16, 18, 20, 22,
					24, 28, 30 };
	int ord = e[0] & 0x3f;

	l->done = 0;
	if (e[0] & 0x40) {		/* the last part, read first */
		l->want = ord >= 1 && ord <= LFN_MAX ? ord : 0;
		l->n = l->want;
		l->sum = e[13];
	} else if (!l->want || ord != l->want || e[13] != l->sum) {
		l->want = 0;		/* out of order or another name's */
	}
	if (!l->want)
		return;
	for (int i = 0; i < 13; i++)
		l->u[(ord - 1) * 13 + i] = fw_le16(e + at[i]);
	l->want--;
	l->done = !l->want;
}

static uint8_t sfn_sum(const uint8_t *e)
{
	uint8_t s = 0;

	for (int i = 0; i < 11; i++)
		s = (uint8_t)(((s & 1) << 7) + (s >> 1) + e[i]);
	return s;
}

/*
 * The long name of the 8.3 entry e, UTF-8, if the run before it is
 * complete and names it; 0 if there is none to use.
 */
static int long_name(const struct lfn *l, const uint8_t *e, char *out,
		     size_t cap)
{
	size_t k = 0;
	int n = l->n * 13;

	if (!l->done || sfn_sum(e) != l->sum)
		return 0;
	for (int i = 0; i < n && l->u[i]; i++) {
		uint32_t c = l->u[i];

		if (c >= 0xdc00 && c <= 0xdfff)
			return 0;	/* a low surrogate first */
		if (c >= 0xd800 && c <= 0xdbff) {
			if (i + 1 >= n || l->u[i + 1] < 0xdc00 ||
			    l->u[i + 1] > 0xdfff)
				return 0;
			c = 0x10000 + ((c - 0xd800) << 10) +
			    (l->u[++i] - 0xdc00);
		}
		if (c < 0x20 || c == '/' || c == 0x7f || k + 5 > cap)
			return 0;
		if (c < 0x80) {
			out[k++] = (char)c;
		} else if (c < 0x800) {
			out[k++] = (char)(0xc0 | c >> 6);
			out[k++] = (char)(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			out[k++] = (char)(0xe0 | c >> 12);
			out[k++] = (char)(0x80 | ((c >> 6) & 0x3f));
			out[k++] = (char)(0x80 | (c & 0x3f));
		} else {
			out[k++] = (char)(0xf0 | c >> 18);
			out[k++] = (char)(0x80 | ((c >> 12) & 0x3f));
			out[k++] = (char)(0x80 | ((c >> 6) & 0x3f));
			out[k++] = (char)(0x80 | (c & 0x3f));
		}
	}
	out[k] = 0;
	return k && strcmp(out, ".") && strcmp(out, "..");
}

/* The first bytes of a file, through its clusters. */
static size_t head_of(const uint8_t *p, const struct fat *t,
		      const struct ffile *f, uint8_t *h)
{
	size_t want = f->size < HEAD ? (size_t)f->size : HEAD, got = 0;

	for (uint32_t i = 0; i < f->n && got < want; i++) {
		size_t k = want - got < t->csize ? want - got : t->csize;

		memcpy(h + got, p + clus_off(t, f->clus[i]), k);
		got += k;
	}
	return got;
}

static int add_file(struct fw_node *n, struct fat *t, const char *path,
		    struct ffile *f, struct fw_error *err)
{
	const uint8_t *p = n->p;
	struct fw_node *c;
	uint8_t *h = malloc(HEAD);
	int contiguous = 1, kernel;

	if (!h)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	kernel = fw_kernel_file_head(h, head_of(p, t, f, h));
	free(h);
	if (!kernel) {
		free(f->clus);
		return FW_OK;
	}
	if (t->n_f == MAX_FILES) {
		free(f->clus);
		return fw_node_error(n, err, FW_EINPUT, "more than %d kernel "
				     "files", MAX_FILES);
	}
	/* written back cluster by cluster: none may be another's */
	for (uint32_t i = 0; i < f->n; i++) {
		uint32_t k = f->clus[i];

		if (t->seen[k / 8] & (1u << (k % 8))) {
			free(f->clus);
			return fw_node_error(n, err, FW_EINPUT, "bad FAT: %s "
					     "shares cluster %u with another "
					     "file or directory", path, k);
		}
		t->seen[k / 8] |= (uint8_t)(1u << (k % 8));
		if (i)
			contiguous &= k == f->clus[i - 1] + 1;
	}
	t->f[t->n_f++] = *f;
	f = &t->f[t->n_f - 1];
	if (contiguous) {
		c = fw_node_part(n, path, clus_off(t, f->clus[0]), f->size,
				 err);
	} else {
		uint64_t got = 0;

		f->copy = malloc(f->size);
		if (!f->copy)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		for (uint32_t i = 0; i < f->n; i++) {
			uint64_t k = f->size - got < t->csize ?
				     f->size - got : t->csize;

			memcpy(f->copy + got, p + clus_off(t, f->clus[i]), k);
			got += k;
		}
		c = fw_node_part_decoded(n, path, f->copy, f->size, err);
	}
	if (!c)
		return err->code;
	c->hint_kernel = 1;
	snprintf(c->desc, sizeof(c->desc), "%u cluster%s%s", f->n,
		 f->n == 1 ? "" : "s", contiguous ? "" : ", fragmented");
	return FW_OK;
}

static int walk_dir(struct fw_node *n, struct fat *t, uint32_t clus,
		    const char *dir, int depth, struct fw_error *err);

/* The 32-byte entries of one directory, len bytes at off. */
static int entries(struct fw_node *n, struct fat *t, uint64_t off,
		   uint64_t len, const char *dir, int depth, int *end,
		   struct lfn *l, struct fw_error *err)
{
	const uint8_t *p = n->p;
	char name[LFN_MAX * 13 * 3 + 1], *path;
	int rc = FW_OK;

	for (uint64_t i = 0; i + 32 <= len && !*end; i += 32) {
		const uint8_t *e = p + off + i;
		uint32_t c;

		if (!e[0]) {
			*end = 1;	/* no entries after this one */
			break;
		}
		if (e[0] != 0xe5 && (e[11] & 0x3f) == 0x0f) {
			lfn_entry(l, e);
			continue;
		}
		if (e[0] == 0xe5 || (e[11] & 0x08)) {
			l->want = l->done = 0;
			continue;	/* deleted, label */
		}
		if (!long_name(l, e, name, sizeof(name)))
			short_name(e, name);
		l->want = l->done = 0;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (strlen(dir) + 1 + strlen(name) >= PATH_MAX_LEN)
			return fw_node_error(n, err, FW_EINPUT, "bad FAT: a "
					     "path in %s is longer than %d "
					     "bytes", *dir ? dir : "/",
					     PATH_MAX_LEN - 1);
		path = malloc(PATH_MAX_LEN);
		if (!path)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		{
			size_t dl = strlen(dir);

			memcpy(path, dir, dl);
			if (dl)
				path[dl++] = '/';
			strcpy(path + dl, name);
		}
		c = fw_le16(e + 26) |
		    (t->bits == 32 ? (uint32_t)fw_le16(e + 20) << 16 : 0);
		if (e[11] & 0x10) {
			rc = walk_dir(n, t, c, path, depth + 1, err);
		} else {
			struct ffile f = { .size = fw_le32(e + 28) };

			if (!f.size)
				rc = FW_OK;
			else if (chain(p, t, c, (uint32_t)((f.size +
							     t->csize - 1) /
							    t->csize),
				       &f.clus, &f.n, path))
				rc = fw_node_error(n, err, FW_EINPUT, "bad "
						   "FAT: %s", t->why);
			else
				rc = add_file(n, t, path, &f, err);
		}
		free(path);
		if (rc)
			return rc;
	}
	return FW_OK;
}

static int walk_dir(struct fw_node *n, struct fat *t, uint32_t clus,
		    const char *dir, int depth, struct fw_error *err)
{
	uint32_t *v, nv;
	int end = 0, rc = FW_OK;
	struct lfn *l;

	if (depth > MAX_DEPTH)
		return fw_node_error(n, err, FW_EINPUT, "bad FAT: directories "
				     "nested deeper than %d at %s", MAX_DEPTH,
				     dir);
	l = calloc(1, sizeof(*l));
	if (!l)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (!clus && t->bits != 32 && !depth) {	/* the FAT12/16 root */
		rc = entries(n, t, t->root_off, (uint64_t)t->root_ents * 32,
			     dir, depth, &end, l, err);
		free(l);
		return rc;
	}
	if (chain(n->p, t, clus, 0, &v, &nv, *dir ? dir : "/")) {
		free(l);
		return fw_node_error(n, err, FW_EINPUT, "bad FAT: %s", t->why);
	}
	for (uint32_t i = 0; i < nv && !end && !rc; i++) {
		if (t->seen[v[i] / 8] & (1u << (v[i] % 8))) {
			rc = fw_node_error(n, err, FW_EINPUT, "bad FAT: "
					   "directory %s shares cluster %u with "
					   "another", *dir ? dir : "/", v[i]);
			break;
		}
		t->seen[v[i] / 8] |= (uint8_t)(1u << (v[i] % 8));
		rc = entries(n, t, clus_off(t, v[i]), t->csize, dir, depth,
			     &end, l, err);
	}
	free(v);
	free(l);
	return rc;
}

static int fat_open(struct fw_node *n, struct fw_error *err)
{
	struct fat *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	n->priv = t;
	if (bpb(n->p, n->len, t))
		return fw_node_error(n, err, FW_EINPUT, "bad FAT boot sector");
	if (t->vol_len > n->len)
		return fw_node_error(n, err, FW_EINPUT, "bad FAT: the volume "
				     "(%llu bytes) is cut short at %llu",
				     (unsigned long long)t->vol_len,
				     (unsigned long long)n->len);
	t->seen = calloc(t->clusters / 8 + 2, 1);
	t->f = calloc(MAX_FILES, sizeof(*t->f));
	if (!t->seen || !t->f)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	rc = walk_dir(n, t, t->root_clus, "", 0, err);
	if (rc)
		return rc;
	snprintf(n->desc, sizeof(n->desc), "FAT%d, %u clusters of %u bytes, "
		 "%zu kernel file%s", t->bits, t->clusters, t->csize, t->n_f,
		 t->n_f == 1 ? "" : "s");
	return FW_OK;
}

/* A range of the volume that gets new bytes. */
struct patch {
	uint64_t off, len;
	const struct fw_out *src;	/* contiguous: the part's bytes */
	const uint8_t *p;		/* fragmented: from the flat copy */
};

static int cmp_patch(const void *a, const void *b)
{
	const struct patch *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static int fat_rebuild(struct fw_node *n, struct fw_error *err)
{
	struct fat *t = n->priv;
	struct fw_out *o = &n->out;
	struct patch *v = NULL;
	size_t nv = 0, cap = 0;
	uint64_t pos = 0;
	int rc = FW_OK;

	for (size_t i = 0; i < n->n_part; i++) {
		const struct fw_node *c = n->part[i];
		const struct ffile *f = &t->f[i];
		uint8_t *flat;

		if (c->out.len != f->size) {
			rc = fw_node_error(c, err, FW_EINPUT, "the kernel is "
					   "%llu bytes now, the file %llu: a "
					   "FAT file is rewritten in place, "
					   "at its size",
					   (unsigned long long)c->out.len,
					   (unsigned long long)f->size);
			goto out;
		}
		if (nv + f->n > cap) {
			struct patch *w;

			cap = (nv + f->n) * 2;
			w = realloc(v, cap * sizeof(*v));
			if (!w)
				goto oom;
			v = w;
		}
		if (c->off != UINT64_MAX) {
			v[nv++] = (struct patch){ c->off, f->size, &c->out,
						  NULL };
			continue;
		}
		flat = malloc(f->size);
		if (!flat || fw_out_own(o, flat)) {
			free(flat);
			goto oom;
		}
		fw_out_read(&c->out, 0, flat, f->size);
		for (uint32_t k = 0; k < f->n; k++) {
			uint64_t at = (uint64_t)k * t->csize;

			v[nv++] = (struct patch){
				clus_off(t, f->clus[k]),
				f->size - at < t->csize ? f->size - at :
							  t->csize,
				NULL, flat + at };
		}
	}
	qsort(v, nv, sizeof(*v), cmp_patch);
	for (size_t i = 0; i < nv; i++) {
		if (v[i].off < pos) {	/* open saw no cluster twice */
			rc = fw_node_error(n, err, FW_EINPUT, "internal error: "
					   "kernel files overlap");
			goto out;
		}
		if (fw_out_add(o, n->p + pos, v[i].off - pos) ||
		    (v[i].src ? fw_out_cat(o, v[i].src) :
				fw_out_add(o, v[i].p, v[i].len)))
			goto oom;
		pos = v[i].off + v[i].len;
	}
	if (fw_out_add(o, n->p + pos, n->len - pos))
		goto oom;
	goto out;
oom:
	rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
out:
	free(v);
	return rc;
}

static void fat_close(struct fw_node *n)
{
	struct fat *t = n->priv;

	if (!t)
		return;
	for (size_t i = 0; i < t->n_f; i++) {
		free(t->f[i].clus);
		free(t->f[i].copy);
	}
	free(t->f);
	free(t->seen);
	free(t);
}

const struct fw_layer fw_layer_fat = {
	.name = "FAT",
	.kind = FW_LK_CONTAINER,
	.bid = fat_bid,
	.open = fat_open,
	.rebuild = fat_rebuild,
	.close = fat_close,
};
