// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * UBIFS volumes: a bare volume image as `mkfs.ubifs -o` writes it (LEB 0
 * the superblock node, LEBs 1-2 master nodes, then log, LPT, orphans and
 * the main area), read in-process: the newest master node gives the index
 * root, the index nodes lead to the leaves (inodes, directory entries,
 * data blocks, xattr entries), from which the entry list is built.
 *
 * The journal is replayed over the committed index as the kernel's
 * replay does: the log from the master node's LEB, its reference nodes'
 * buds, their nodes applied in sqnum order (the newest node of a key
 * wins; an inode without links, an entry naming inode 0 and a truncation
 * delete).  fwsign's own output carries xattrs mkfs.ubifs cannot write
 * that way (ubifs_write.c); a volume the kernel has written to may too.
 *
 * Hostile input: every node is bounds- and CRC-checked before use, an
 * index node's children must be exactly one level lower (so the walk
 * cannot loop and its depth is bounded), and the node counts are capped.
 *
 * No library edits UBIFS, so the output is a new volume made by
 * mkfs.ubifs from the signed tree with the original's geometry and
 * settings: ubifs_write.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <lzo/lzo1x.h>
#include <zlib.h>
#include <zstd.h>

#include "ubifs.h"
#include "layer.h"
#include "../src/bytes.h"
#include "../src/fw_limits.h"

/* Caps that keep a hostile image's cost bounded. */
#define UB_MAX_LEAVES ((size_t)1 << 24)
#define UB_MAX_LEVEL 64
#define UB_MAX_LEB_SIZE ((uint32_t)16 << 20)


/* UBIFS's crc32: zlib's without the final inversion. */
uint32_t ub_crc(const uint8_t *p, size_t n)
{
	return fw_crc32(0, p, n) ^ 0xffffffffu;
}

/* The name hash of entry keys: the kernel's key_r5_hash or, with
 * key_hash 1, key_test_hash (the first four bytes). */
uint32_t ub_key_hash(const struct ub_priv *p, const char *name, size_t len)
{
	uint32_t a = 0;

	if (p->sb.key_hash) {
		memcpy(&a, name, len < 4 ? len : 4);
		a = fw_le32((const uint8_t *)&a);
	} else {
		for (size_t i = 0; i < len; i++) {
			int c = (signed char)name[i];

			a += (uint32_t)(c * 16);
			a += (uint32_t)(c >= 0 ? c >> 4 : -((15 - c) >> 4));
			a *= 11;
		}
	}
	a &= UB_KEY_MASK;
	return a <= 2 ? a + 3 : a;
}

static int ub_bid(const char *path, const struct stat *st,
		  const uint8_t *head, size_t n)
{
	(void)path;
	if (!S_ISREG(st->st_mode) || n < UB_SB_MIN)
		return 0;
	if (fw_le32(head) != UB_MAGIC || head[20] != UB_SB_NODE)
		return 0;
	return FW_BID_MAX;
}

/* ---------------------------------------------------------------- */
/* Nodes                                                            */

/*
 * The node at (lnum, offs), len bytes (0: as its header says, at most
 * max) of type want: checked whole.  Returns NULL after setting err.
 */
static const uint8_t *node_at(struct ub_priv *p, uint32_t lnum, uint32_t offs,
			      uint32_t len, uint32_t max, int want,
			      const char *what, struct fw_error *err)
{
	uint64_t at = (uint64_t)lnum * p->leb_size + offs;
	const uint8_t *n;
	uint32_t nlen;

	if (lnum >= p->leb_cnt || offs >= p->leb_size || (offs & 7) ||
	    at + UB_CH_SZ > p->size) {
		fw_error_set(err, FW_EINPUT, p->name,
			     "ubifs: %s at LEB %u offset %u is past the image",
			     what, lnum, offs);
		return NULL;
	}
	n = p->map + at;
	nlen = fw_le32(n + 16);
	if (fw_le32(n) != UB_MAGIC) {
		fw_error_set(err, FW_EINPUT, p->name,
			     "ubifs: no node at LEB %u offset %u (%s)", lnum,
			     offs, what);
		return NULL;
	}
	if (nlen < UB_CH_SZ || (len && nlen != len) || (max && nlen > max) ||
	    offs + (uint64_t)nlen > p->leb_size || at + nlen > p->size) {
		fw_error_set(err, FW_EINPUT, p->name,
			     "ubifs: %s at LEB %u offset %u has a bad length "
			     "(%u)", what, lnum, offs, nlen);
		return NULL;
	}
	if (want >= 0 && n[20] != want) {
		fw_error_set(err, FW_EINPUT, p->name,
			     "ubifs: %s at LEB %u offset %u is a node of type "
			     "%u", what, lnum, offs, n[20]);
		return NULL;
	}
	/* each node once in a sound volume: more means shared or
	 * overlapping nodes, which could make the walk read forever */
	if (nlen > p->budget) {
		fw_error_set(err, FW_EINPUT, p->name,
			     "ubifs: the index refers to more node bytes than "
			     "the image holds (shared or overlapping nodes)");
		return NULL;
	}
	p->budget -= nlen;
	if (fw_le64(n + 8) > p->max_sqnum)
		p->max_sqnum = fw_le64(n + 8);
	if (ub_crc(n + 8, nlen - 8) != fw_le32(n + 4)) {
		fw_error_set(err, FW_EINPUT, p->name,
			     "ubifs: bad CRC in the %s at LEB %u offset %u",
			     what, lnum, offs);
		return NULL;
	}
	return n;
}

static int read_super(struct ub_priv *p, struct fw_error *err)
{
	const uint8_t *n = p->map;
	struct ub_super *s = &p->sb;

	if (p->size < UB_SB_MIN || fw_le32(n) != UB_MAGIC || n[20] != UB_SB_NODE)
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: no superblock node");
	if (fw_le32(n + 16) < UB_SB_MIN || fw_le32(n + 16) > p->size ||
	    ub_crc(n + 8, fw_le32(n + 16) - 8) != fw_le32(n + 4))
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: bad CRC in the superblock node");
	s->key_hash = n[26];
	s->key_fmt = n[27];
	s->flags = fw_le32(n + 28);
	s->min_io = fw_le32(n + 32);
	s->leb_size = fw_le32(n + 36);
	s->leb_cnt = fw_le32(n + 40);
	s->max_leb_cnt = fw_le32(n + 44);
	s->max_bud_bytes = fw_le64(n + 48);
	s->log_lebs = fw_le32(n + 56);
	s->lpt_lebs = fw_le32(n + 60);
	s->orph_lebs = fw_le32(n + 64);
	s->jhead_cnt = fw_le32(n + 68);
	s->fanout = fw_le32(n + 72);
	s->lsave_cnt = fw_le32(n + 76);
	s->fmt_version = fw_le32(n + 80);
	s->default_compr = fw_le16(n + 84);
	s->rp_uid = fw_le32(n + 88);
	s->rp_gid = fw_le32(n + 92);
	s->rp_size = fw_le64(n + 96);
	s->time_gran = fw_le32(n + 104);
	memcpy(s->uuid, n + 108, 16);
	s->ro_compat = fw_le32(n + 124);
	if (s->min_io < 8 || (s->min_io & (s->min_io - 1)) ||
	    s->leb_size < 15 * 1024 || s->leb_size > UB_MAX_LEB_SIZE ||
	    s->leb_size % s->min_io || (s->leb_size & 7) ||
	    s->leb_cnt < 8 || s->max_leb_cnt < s->leb_cnt ||
	    s->fanout < 3 || s->fanout > 4096 || s->log_lebs < 2 ||
	    s->key_fmt != 0 || s->key_hash > 1 ||
	    s->default_compr >= UB_COMPR_CNT)
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: the superblock's geometry is not "
				    "sane (min I/O %u, LEB %u bytes, %u LEBs)",
				    s->min_io, s->leb_size, s->leb_cnt);
	if (s->flags & (UB_FLG_ENCRYPTION | UB_FLG_AUTHENTICATION))
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: %s volumes are not supported",
				    s->flags & UB_FLG_ENCRYPTION ? "encrypted"
								 : "authenticated");
	if (s->fmt_version < 4 || s->fmt_version > 5)
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: format version %u is not supported",
				    s->fmt_version);
	p->leb_size = s->leb_size;
	/* mkfs.ubifs writes the used LEBs only; a volume dump has them all */
	p->leb_cnt = p->size / s->leb_size < s->leb_cnt ?
			     (uint32_t)(p->size / s->leb_size) : s->leb_cnt;
	if (p->leb_cnt < UB_LOG_LNUM + s->log_lebs + s->lpt_lebs +
			 s->orph_lebs + 1)
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: truncated: %llu bytes hold %u of %u "
				    "LEBs", (unsigned long long)p->size,
				    p->leb_cnt, s->leb_cnt);
	return FW_OK;
}

/* The valid master node of LEB lnum with the highest sqnum, or NULL. */
static const uint8_t *master_in(struct ub_priv *p, uint32_t lnum)
{
	uint32_t step = (UB_MST_SZ + p->sb.min_io - 1) & ~(p->sb.min_io - 1);
	const uint8_t *best = NULL;
	struct fw_error e = { 0 };

	for (uint32_t offs = 0; offs + UB_MST_SZ <= p->leb_size; offs += step) {
		const uint8_t *n = node_at(p, lnum, offs, UB_MST_SZ, 0,
					   UB_MST_NODE, "master node", &e);

		fw_error_clear(&e);
		if (!n)
			break;
		if (!best || fw_le64(n + 8) > fw_le64(best + 8))
			best = n;
	}
	return best;
}

static int read_master(struct ub_priv *p, struct fw_error *err)
{
	const uint8_t *a = master_in(p, UB_MST_LNUM),
		      *b = master_in(p, UB_MST_LNUM + 1), *m;

	m = a && (!b || fw_le64(a + 8) >= fw_le64(b + 8)) ? a : b;
	if (!m)
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: no valid master node");
	p->mst = m;
	p->highest_inum = fw_le64(m + 24);
	p->log_lnum = fw_le32(m + 44);
	p->root_lnum = fw_le32(m + 48);
	p->root_offs = fw_le32(m + 52);
	p->root_len = fw_le32(m + 56);
	return FW_OK;
}

/* ---------------------------------------------------------------- */
/* The journal                                                      */

#define UB_MAX_JOPS ((size_t)1 << 22)

/*
 * The next node of LEB lnum at or after *offs, padding (padding nodes,
 * padding bytes) skipped; NULL with *offs unchanged at the empty space
 * (checked erased from a min. I/O boundary to the LEB's end, as the
 * kernel's scan does), NULL with err set for anything else.
 */
static const uint8_t *scan_next(struct ub_priv *p, uint32_t lnum,
				uint32_t *offs, const char *what,
				struct fw_error *err)
{
	const uint8_t *leb = p->map + (uint64_t)lnum * p->leb_size;

	while (*offs + 8 <= p->leb_size) {
		const uint8_t *n = leb + *offs;
		uint32_t pad = 0;

		if (fw_le32(n) == 0xffffffffu)
			break;
		if (fw_le32(n) != UB_MAGIC) {
			while (pad < UB_PAD_SZ && *offs + pad < p->leb_size &&
			       n[pad] == UB_PAD_BYTE)
				pad++;
			if (!pad || (pad & 7)) {
				fw_error_set(err, FW_EINPUT, p->name,
					     "ubifs: garbage in the %s at LEB "
					     "%u offset %u", what, lnum, *offs);
				return NULL;
			}
			*offs += pad;
			continue;
		}
		n = node_at(p, lnum, *offs, 0, p->leb_size, -1, what, err);
		if (!n)
			return NULL;
		if (n[20] == UB_PAD_NODE) {
			uint64_t len = fw_le32(n + 16), plen = fw_le32(n + 24);

			if (len != UB_PAD_SZ || ((len + plen) & 7) ||
			    *offs + len + plen > p->leb_size) {
				fw_error_set(err, FW_EINPUT, p->name,
					     "ubifs: a bad padding node at LEB "
					     "%u offset %u", lnum, *offs);
				return NULL;
			}
			*offs += (uint32_t)(len + plen);
			continue;
		}
		return n;
	}
	if (*offs % p->sb.min_io && *offs < p->leb_size) {
		fw_error_set(err, FW_EINPUT, p->name,
			     "ubifs: the %s's empty space at LEB %u starts at "
			     "offset %u, not at a min. I/O unit", what, lnum,
			     *offs);
		return NULL;
	}
	for (uint32_t o = *offs; o < p->leb_size; o++)
		if (leb[o] != 0xff) {
			fw_error_set(err, FW_EINPUT, p->name,
				     "ubifs: corrupt empty space in the %s at "
				     "LEB %u offset %u", what, lnum, o);
			return NULL;
		}
	return NULL;
}

static struct ub_jop *new_jop(struct ub_priv *p, uint64_t sqnum, int kind,
			      struct fw_error *err)
{
	struct ub_jop *j;

	if (p->n_jop == p->cap_jop) {
		size_t cap = p->cap_jop ? p->cap_jop * 2 : 64;

		if (cap > UB_MAX_JOPS) {
			fw_error_set(err, FW_EINPUT, p->name,
				     "ubifs: more than %zu journal nodes",
				     UB_MAX_JOPS);
			return NULL;
		}
		j = realloc(p->jop, cap * sizeof(*j));
		if (!j) {
			fw_error_set(err, FW_EIO, NULL, "out of memory");
			return NULL;
		}
		p->jop = j;
		p->cap_jop = cap;
	}
	j = &p->jop[p->n_jop++];
	memset(j, 0, sizeof(*j));
	j->sqnum = sqnum;
	j->kind = kind;
	return j;
}

/* A directory or xattr entry's name: as the kernel's ubifs_validate_entry
 * checks it. */
static int entry_sane(const uint8_t *d)
{
	uint16_t nlen = fw_le16(d + 50);

	return nlen && nlen <= 255 && UB_DENT_SZ + (uint32_t)nlen + 1 ==
						  fw_le32(d + 16) &&
	       !d[UB_DENT_SZ + nlen] && d[49] <= 6 &&
	       !memchr(d + UB_DENT_SZ, '\0', nlen);
}

static const char *const leaf_what[] = { "inode node", "data node",
					 "directory entry", "xattr entry" };
static const int leaf_min[] = { UB_INO_SZ, UB_DATA_SZ, UB_DENT_SZ + 2,
				UB_DENT_SZ + 2 };
static const uint32_t leaf_max[] = { UB_INO_SZ + UB_BLOCK,
				     UB_DATA_SZ + UB_BLOCK + 64,
				     UB_DENT_SZ + 256, UB_DENT_SZ + 256 };

/* One node of a bud: what it adds or deletes. */
static int bud_node(struct ub_priv *p, uint32_t lnum, uint32_t offs,
		    const uint8_t *n, struct fw_error *err)
{
	uint32_t len = fw_le32(n + 16), type = n[20];
	uint64_t sq = fw_le64(n + 8);
	struct ub_jop *j;

	if (type == UB_TRUN_NODE) {
		uint64_t old = fw_le64(n + 40), new = fw_le64(n + 48);

		if (len != UB_TRUN_SZ || old <= new || old > ((uint64_t)1 << 44))
			return fw_error_set(err, FW_EINPUT, p->name,
					    "ubifs: a bad truncation node at "
					    "LEB %u offset %u", lnum, offs);
		j = new_jop(p, sq, UB_JOP_TRUN, err);
		if (!j)
			return err->code;
		j->leaf.inum = fw_le32(n + 24);
		j->min_blk = (uint32_t)((new + UB_BLOCK - 1) / UB_BLOCK);
		j->max_blk = (uint32_t)((old - 1) / UB_BLOCK);
		return FW_OK;
	}
	if (type > UB_XENT_NODE)
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: a node of type %u in the journal "
				    "(LEB %u offset %u): not yet committed "
				    "changes fwsign cannot read", type, lnum,
				    offs);
	if ((fw_le32(n + 28) >> UB_KEY_BITS) != type ||
	    len < (uint32_t)leaf_min[type] || len > leaf_max[type] ||
	    ((type == UB_DENT_NODE || type == UB_XENT_NODE) && !entry_sane(n)))
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: a bad %s in the journal at LEB %u "
				    "offset %u", leaf_what[type], lnum, offs);
	if (type == UB_INO_NODE && fw_le32(n + 92) == 0)
		j = new_jop(p, sq, UB_JOP_DEL_INO, err);
	else if (type >= UB_DENT_NODE && fw_le64(n + 40) == 0)
		j = new_jop(p, sq, UB_JOP_DEL_NM, err);
	else
		j = new_jop(p, sq, UB_JOP_ADD, err);
	if (!j)
		return err->code;
	j->leaf.inum = fw_le32(n + 24);
	j->leaf.type = type;
	j->leaf.low = fw_le32(n + 28) & UB_KEY_MASK;
	j->leaf.node = n;
	j->leaf.sqnum = sq;
	return FW_OK;
}

/* A bud from offs: its nodes into the journal list. */
static int read_bud(struct ub_priv *p, uint32_t lnum, uint32_t offs,
		    struct fw_error *err)
{
	const uint8_t *n;

	p->bud_bytes += p->leb_size - offs;
	if (lnum >= p->leb_cnt)
		return FW_OK;	/* not in this dump: never written */
	while ((n = scan_next(p, lnum, &offs, "journal", err))) {
		int rc = bud_node(p, lnum, offs, n, err);

		if (rc)
			return rc;
		offs += (fw_le32(n + 16) + 7) & ~7u;
	}
	return err->code;
}

struct bud_ref { uint32_t lnum, offs, jhead; };

static int add_ref(struct ub_priv *p, const uint8_t *n, struct bud_ref **refs,
		   size_t *cnt, struct fw_error *err)
{
	uint32_t lnum = fw_le32(n + 24), offs = fw_le32(n + 28), jhead = fw_le32(n + 32);
	struct bud_ref *r;

	if (lnum < p->main_first || lnum >= p->sb.leb_cnt ||
	    offs >= p->leb_size || offs % p->sb.min_io ||
	    jhead >= p->sb.jhead_cnt + 2)	/* and the GC and base heads */
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: a bad log reference (LEB %u offset "
				    "%u head %u)", lnum, offs, jhead);
	for (size_t i = 0; i < *cnt; i++)
		if ((*refs)[i].lnum == lnum) {
			if ((*refs)[i].jhead == jhead && (*refs)[i].offs <= offs)
				return FW_OK;	/* the kernel's: had it */
			return fw_error_set(err, FW_EINPUT, p->name,
					    "ubifs: two log references to LEB "
					    "%u", lnum);
		}
	r = realloc(*refs, (*cnt + 1) * sizeof(*r));
	if (!r)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	*refs = r;
	r[*cnt].lnum = lnum;
	r[*cnt].offs = offs;
	r[*cnt].jhead = jhead;
	(*cnt)++;
	return FW_OK;
}

/*
 * The log from the commit start node, as the kernel's replay walks it:
 * its LEBs in turn (circular) while they hold nodes of this commit;
 * reference nodes name the buds, whose nodes make the journal.
 */
static int read_journal(struct ub_priv *p, struct fw_error *err)
{
	uint32_t first = UB_LOG_LNUM, last = UB_LOG_LNUM + p->sb.log_lebs;
	uint32_t lnum = p->log_lnum;
	struct bud_ref *refs = NULL;
	size_t n_ref = 0;
	int rc = FW_OK;

	p->main_first = last + p->sb.lpt_lebs + p->sb.orph_lebs;
	if (lnum < first || lnum >= last)
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: the master node's log LEB %u is not "
				    "in the log", lnum);
	for (uint32_t k = 0; k < p->sb.log_lebs && !rc; k++) {
		uint32_t offs = 0;
		const uint8_t *n;

		if (k == 0) {
			n = node_at(p, lnum, 0, UB_CS_SZ, 0, UB_CS_NODE,
				    "commit start node", err);
			if (!n)
				return err->code;
			if (fw_le64(n + 24) != fw_le64(p->mst + 32))
				return fw_error_set(err, FW_EINPUT, p->name,
						    "ubifs: the commit start "
						    "node's commit number is "
						    "not the master node's");
			p->cs_sqnum = fw_le64(n + 8);
			offs = UB_CS_SZ;
		} else {
			n = p->map + (uint64_t)lnum * p->leb_size;
			if (fw_le32(n) != UB_MAGIC || fw_le64(n + 8) < p->cs_sqnum)
				break;	/* the log ends */
		}
		while (!rc && (n = scan_next(p, lnum, &offs, "log", err))) {
			if (fw_le64(n + 8) < p->cs_sqnum)
				rc = fw_error_set(err, FW_EINPUT, p->name,
						  "ubifs: a log node older than "
						  "the commit (LEB %u)", lnum);
			else if (n[20] == UB_REF_NODE &&
				 fw_le32(n + 16) == UB_REF_SZ)
				rc = add_ref(p, n, &refs, &n_ref, err);
			else if (!(n[20] == UB_CS_NODE && offs == 0))
				rc = fw_error_set(err, FW_EINPUT, p->name,
						  "ubifs: node type %u in the "
						  "log", n[20]);
			offs += (fw_le32(n + 16) + 7) & ~7u;
		}
		if (!rc && err->code)
			rc = err->code;
		if (offs == 0)
			break;
		lnum = lnum + 1 == last ? first : lnum + 1;
		if (lnum == p->log_lnum)
			break;
	}
	for (size_t i = 0; i < n_ref && !rc; i++)
		rc = read_bud(p, refs[i].lnum, refs[i].offs, err);
	free(refs);
	return rc;
}

/* ---------------------------------------------------------------- */
/* The index                                                        */

static int add_leaf(struct ub_priv *p, const uint8_t *n, const uint8_t *key,
		    struct fw_error *err)
{
	struct ub_leaf *l;

	if (p->n_leaf == p->cap_leaf) {
		size_t cap = p->cap_leaf ? p->cap_leaf * 2 : 256;

		if (cap > UB_MAX_LEAVES)
			return fw_error_set(err, FW_EINPUT, p->name,
					    "ubifs: more than %zu index "
					    "leaves", UB_MAX_LEAVES);
		l = realloc(p->leaf, cap * sizeof(*l));
		if (!l)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		p->leaf = l;
		p->cap_leaf = cap;
	}
	l = &p->leaf[p->n_leaf++];
	l->inum = fw_le32(key);
	l->type = fw_le32(key + 4) >> UB_KEY_BITS;
	l->low = fw_le32(key + 4) & UB_KEY_MASK;
	l->node = n;
	l->sqnum = 0;
	/* the node's own key must be the one the index gave */
	if (memcmp(n + UB_CH_SZ, key, UB_SK_LEN))
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: a node's key is not the one its "
				    "index branch gives");
	return FW_OK;
}

static int walk_index(struct ub_priv *p, uint32_t lnum, uint32_t offs,
		      uint32_t len, int level, struct fw_error *err)
{
	const uint8_t *n = node_at(p, lnum, offs, len, 0, UB_IDX_NODE,
				   "index node", err);
	uint32_t cnt, blen = 12 + UB_SK_LEN;
	int lvl;

	if (!n)
		return err->code;
	cnt = fw_le16(n + 24);
	lvl = fw_le16(n + 26);
	if ((level >= 0 && lvl != level) || lvl > UB_MAX_LEVEL)
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: index node at LEB %u offset %u has "
				    "level %d where %d belongs (a loop?)", lnum,
				    offs, lvl, level);
	if (cnt == 0 || cnt > p->sb.fanout || 28 + (uint64_t)cnt * blen > len)
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: index node at LEB %u offset %u has "
				    "%u branches", lnum, offs, cnt);
	if (++p->n_idx > UB_MAX_LEAVES)
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: more than %zu index nodes",
				    UB_MAX_LEAVES);
	for (uint32_t i = 0; i < cnt; i++) {
		const uint8_t *b = n + 28 + (size_t)i * blen;
		uint32_t bl = fw_le32(b), bo = fw_le32(b + 4), bn = fw_le32(b + 8);
		uint32_t type = fw_le32(b + 16) >> UB_KEY_BITS;
		const uint8_t *leaf;
		int rc;

		if (lvl > 0) {
			rc = walk_index(p, bl, bo, bn, lvl - 1, err);
			if (rc)
				return rc;
			continue;
		}
		if (type > UB_KEY_XENT)
			return fw_error_set(err, FW_EINPUT, p->name,
					    "ubifs: a key of unknown type %u",
					    type);
		if (bn < (uint32_t)leaf_min[type] || bn > leaf_max[type])
			return fw_error_set(err, FW_EINPUT, p->name,
					    "ubifs: %s at LEB %u offset %u has "
					    "a bad length (%u)",
					    leaf_what[type], bl, bo, bn);
		leaf = node_at(p, bl, bo, bn, 0, (int)type, leaf_what[type],
			       err);
		if (!leaf)
			return err->code;
		rc = add_leaf(p, leaf, b + 12, err);
		if (rc)
			return rc;
	}
	return FW_OK;
}

/* The index's order: inode number, key type, then the key's low bits
 * (block number or name hash). */
static int key_order(const struct ub_leaf *x, const struct ub_leaf *y)
{
	if (x->inum != y->inum)
		return x->inum < y->inum ? -1 : 1;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	if (x->low != y->low)
		return x->low < y->low ? -1 : 1;
	return 0;
}

static int cmp_leaf(const void *a, const void *b)
{
	const struct ub_leaf *x = a, *y = b;
	int c = key_order(x, y);

	if (c)
		return c;
	return x->node < y->node ? -1 : x->node > y->node;
}

/* The first leaf of (inum, type), or n_leaf. */
size_t ub_find(const struct ub_priv *p, uint64_t inum, uint32_t type)
{
	size_t lo = 0, hi = p->n_leaf;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ub_leaf *l = &p->leaf[mid];

		if (l->inum < inum || (l->inum == inum && l->type < type))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < p->n_leaf && p->leaf[lo].inum == inum &&
	    p->leaf[lo].type == type)
		return lo;
	return p->n_leaf;
}

const uint8_t *ub_inode(const struct ub_priv *p, uint64_t inum)
{
	size_t i = ub_find(p, inum, UB_KEY_INO);

	return i < p->n_leaf ? p->leaf[i].node : NULL;
}

/* Inode and data keys are unique; entries may share a hash. */
static int check_unique(struct ub_priv *p, struct fw_error *err)
{
	for (size_t i = 1; i < p->n_leaf; i++) {
		const struct ub_leaf *a = &p->leaf[i - 1], *b = &p->leaf[i];

		if (a->inum == b->inum && a->type == b->type &&
		    a->low == b->low &&
		    (b->type <= UB_KEY_DATA || a->node == b->node))
			return fw_error_set(err, FW_EINPUT, p->name,
					    "ubifs: two index leaves with the "
					    "same key (inode %llu)",
					    (unsigned long long)a->inum);
	}
	return FW_OK;
}

/* ---------------------------------------------------------------- */
/* The journal over the index                                       */

/* An entry node's name length, never past the node. */
static uint32_t nm_len(const uint8_t *d)
{
	uint32_t n = fw_le16(d + 50), room = fw_le32(d + 16) - UB_DENT_SZ;

	return n < room ? n : room;
}

/* Same key and, for entries (whose keys hash names), the same name. */
static int cmp_key_nm(const struct ub_leaf *x, const struct ub_leaf *y)
{
	uint32_t a, b;
	int c = key_order(x, y);

	if (c || x->type < UB_KEY_DENT)
		return c;
	a = nm_len(x->node);
	b = nm_len(y->node);
	c = memcmp(x->node + UB_DENT_SZ, y->node + UB_DENT_SZ, a < b ? a : b);
	return c ? c : (a > b) - (a < b);
}

static int cmp_key_sq(const void *a, const void *b)
{
	const struct ub_leaf *x = a, *y = b;
	int c = cmp_key_nm(x, y);

	return c ? c : (x->sqnum > y->sqnum) - (x->sqnum < y->sqnum);
}

static int cmp_jop_inum(const void *a, const void *b)
{
	const struct ub_jop *x = a, *y = b;

	if (x->leaf.inum != y->leaf.inum)
		return x->leaf.inum < y->leaf.inum ? -1 : 1;
	return (x->sqnum > y->sqnum) - (x->sqnum < y->sqnum);
}

/* Deleted by a later journal node: the inode, the entry, the block. */
static int deleted(const struct ub_leaf *l, const struct ub_jop *d, size_t n)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d[mid].leaf.inum < l->inum)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && d[lo].leaf.inum == l->inum; lo++) {
		const struct ub_jop *j = &d[lo];

		if (j->sqnum <= l->sqnum)
			continue;
		if (j->kind == UB_JOP_DEL_INO ||
		    (j->kind == UB_JOP_DEL_NM && !cmp_key_nm(&j->leaf, l)) ||
		    (j->kind == UB_JOP_TRUN && l->type == UB_KEY_DATA &&
		     l->low >= j->min_blk && l->low <= j->max_blk))
			return 1;
	}
	return 0;
}

/*
 * The journal applied to the index leaves, as the kernel's replay does in
 * sqnum order: per key (and name) the newest node wins, unless a newer
 * deletion (an inode with no links, an entry naming inode 0, a
 * truncation) removes it.  The journal's own sqnums are all newer than
 * the index's (0 here).
 */
static int apply_journal(struct ub_priv *p, struct fw_error *err)
{
	size_t n_add = 0, n_del = 0, n = 0;
	struct ub_leaf *all;
	struct ub_jop *del;

	if (!p->n_jop)
		return FW_OK;
	if (p->bud_bytes > p->sb.max_bud_bytes &&
	    !(fw_le32(p->mst + 40) & UB_MST_DIRTY))
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: the journal's buds take %llu bytes, "
				    "more than its %llu",
				    (unsigned long long)p->bud_bytes,
				    (unsigned long long)p->sb.max_bud_bytes);
	for (size_t i = 0; i < p->n_jop; i++) {
		if (p->jop[i].sqnum <= p->cs_sqnum)
			return fw_error_set(err, FW_EINPUT, p->name,
					    "ubifs: a journal node older than "
					    "the commit");
		if (p->jop[i].kind == UB_JOP_ADD)
			n_add++;
		else
			n_del++;
	}
	all = malloc((p->n_leaf + n_add + 1) * sizeof(*all));
	del = malloc((n_del + 1) * sizeof(*del));
	if (!all || !del) {
		free(all);
		free(del);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	memcpy(all, p->leaf, p->n_leaf * sizeof(*all));
	n = p->n_leaf;
	n_del = 0;
	for (size_t i = 0; i < p->n_jop; i++) {
		if (p->jop[i].kind == UB_JOP_ADD)
			all[n++] = p->jop[i].leaf;
		else
			del[n_del++] = p->jop[i];
	}
	for (size_t i = 0; i < n_del; i++)
		del[i].leaf.sqnum = del[i].sqnum;
	qsort(all, n, sizeof(*all), cmp_key_sq);
	qsort(del, n_del, sizeof(*del), cmp_jop_inum);
	free(p->leaf);
	p->leaf = all;
	p->cap_leaf = p->n_leaf + n_add + 1;
	p->n_leaf = 0;
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && !cmp_key_nm(&all[i], &all[i + 1]))
			continue;	/* a newer node of this key follows */
		if (!deleted(&all[i], del, n_del))
			all[p->n_leaf++] = all[i];
	}
	free(del);
	qsort(p->leaf, p->n_leaf, sizeof(*p->leaf), cmp_leaf);
	return FW_OK;
}

/* ---------------------------------------------------------------- */
/* Entries                                                          */

static int ino_stat(struct ub_priv *p, uint64_t inum, struct stat *st,
		    const char *path, struct fw_error *err)
{
	const uint8_t *n = ub_inode(p, inum);
	uint32_t data_len;

	if (!n)
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: '%s' names inode %llu, which is "
				    "not in the index", path,
				    (unsigned long long)inum);
	data_len = fw_le32(n + 112);
	if (UB_INO_SZ + (uint64_t)data_len != fw_le32(n + 16) ||
	    (fw_le32(n + 108) & UB_XATTR_FL))
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: inode %llu is not sane",
				    (unsigned long long)inum);
	memset(st, 0, sizeof(*st));
	st->st_ino = inum;
	st->st_size = (off_t)fw_le64(n + 48);
	st->st_atim.tv_sec = (time_t)fw_le64(n + 56);
	st->st_ctim.tv_sec = (time_t)fw_le64(n + 64);
	st->st_mtim.tv_sec = (time_t)fw_le64(n + 72);
	st->st_atim.tv_nsec = fw_le32(n + 80) % 1000000000;
	st->st_ctim.tv_nsec = fw_le32(n + 84) % 1000000000;
	st->st_mtim.tv_nsec = fw_le32(n + 88) % 1000000000;
	st->st_nlink = fw_le32(n + 92);
	st->st_uid = fw_le32(n + 96);
	st->st_gid = fw_le32(n + 100);
	st->st_mode = fw_le32(n + 104);
	st->st_blksize = UB_BLOCK;
	st->st_blocks = (blkcnt_t)((fw_le64(n + 48) + 511) / 512);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		uint32_t d;

		if (data_len == 8)
			d = (uint32_t)fw_le64(n + UB_INO_SZ);
		else if (data_len == 4)
			d = fw_le32(n + UB_INO_SZ);
		else
			return fw_error_set(err, FW_EINPUT, p->name,
					    "ubifs: device '%s' has %u bytes of "
					    "device number", path, data_len);
		/* the kernel's new_encode_dev */
		st->st_rdev = makedev((d & 0xfff00) >> 8,
				      (d & 0xff) | ((d >> 12) & 0xfff00));
		st->st_size = 0;
	}
	if (S_ISREG(st->st_mode) && (uint64_t)st->st_size > FW_READ_MAX * 4)
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: '%s' claims %llu bytes", path,
				    (unsigned long long)st->st_size);
	return FW_OK;
}

/* The ubifs directory entry type of a mode. */
static int dent_type(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return 0;
	case S_IFDIR: return 1;
	case S_IFLNK: return 2;
	case S_IFBLK: return 3;
	case S_IFCHR: return 4;
	case S_IFIFO: return 5;
	case S_IFSOCK: return 6;
	}
	return -1;
}

struct child {
	const char *name;
	uint16_t nlen;
	uint64_t inum;
	uint8_t type;
};

static int cmp_child(const void *a, const void *b)
{
	const struct child *x = a, *y = b;
	int c = memcmp(x->name, y->name, x->nlen < y->nlen ? x->nlen : y->nlen);

	return c ? c : (x->nlen > y->nlen) - (x->nlen < y->nlen);
}

/* The directory entries of dir, sorted by name; checked. */
static int children(struct ub_priv *p, uint64_t dir, struct child **out,
		    size_t *n_out, struct fw_error *err)
{
	size_t i = ub_find(p, dir, UB_KEY_DENT), n = 0;
	struct child *c;

	*out = NULL;
	*n_out = 0;
	for (size_t j = i; j < p->n_leaf && p->leaf[j].inum == dir &&
			   p->leaf[j].type == UB_KEY_DENT; j++)
		n++;
	c = calloc(n ? n : 1, sizeof(*c));
	if (!c)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	for (size_t k = 0; k < n; k++) {
		const uint8_t *d = p->leaf[i + k].node;
		uint16_t nlen = fw_le16(d + 50);

		c[k].inum = fw_le64(d + 40);
		c[k].type = d[49];
		c[k].nlen = nlen;
		c[k].name = (const char *)d + UB_DENT_SZ;
		if (nlen == 0 || UB_DENT_SZ + (uint32_t)nlen + 1 != fw_le32(d + 16) ||
		    c[k].name[nlen] || memchr(c[k].name, '\0', nlen) ||
		    memchr(c[k].name, '/', nlen) ||
		    (nlen == 1 && c[k].name[0] == '.') ||
		    (nlen == 2 && !memcmp(c[k].name, "..", 2)) ||
		    c[k].type > 6 || c[k].inum == 0) {
			free(c);
			return fw_error_set(err, FW_EINPUT, p->name,
					    "ubifs: a bad directory entry in "
					    "directory inode %llu",
					    (unsigned long long)dir);
		}
	}
	qsort(c, n, sizeof(*c), cmp_child);
	for (size_t k = 1; k < n; k++)
		if (!cmp_child(&c[k - 1], &c[k])) {
			free(c);
			return fw_error_set(err, FW_EINPUT, p->name,
					    "ubifs: two entries of one name in "
					    "directory inode %llu",
					    (unsigned long long)dir);
		}
	*out = c;
	*n_out = n;
	return FW_OK;
}

static int add_entry(struct fw_image *img, struct ub_priv *p, const char *path,
		     uint64_t inum, const struct stat *st, struct fw_error *err)
{
	char *target = NULL;
	uint64_t *ei;
	int rc;

	if (S_ISLNK(st->st_mode)) {
		const uint8_t *n = ub_inode(p, inum);
		uint32_t len = fw_le32(n + 112);

		if (len == 0 || memchr(n + UB_INO_SZ, '\0', len))
			return fw_error_set(err, FW_EINPUT, p->name,
					    "ubifs: symlink '%s' has a bad "
					    "target", path);
		target = strndup((const char *)n + UB_INO_SZ, len);
		if (!target)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	if (img->n == p->cap_inum) {
		size_t cap = p->cap_inum ? p->cap_inum * 2 : 64;

		ei = realloc(p->ent_inum, cap * sizeof(*ei));
		if (!ei) {
			free(target);
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		}
		p->ent_inum = ei;
		p->cap_inum = cap;
	}
	p->ent_inum[img->n] = inum;
	rc = fw_image_add(img, path, st, target, err);
	free(target);
	return rc;
}

/* Adds dir's entries under path, depth first (pre-order). */
static int walk_dir(struct fw_image *img, struct ub_priv *p, uint64_t dir,
		    const char *path, int depth, struct fw_error *err)
{
	struct child *c;
	size_t n;
	int rc;

	if (depth > FW_TREE_DEPTH_MAX)
		return fw_error_set(err, FW_EINPUT, p->name,
				    "ubifs: directories nested deeper than %d",
				    FW_TREE_DEPTH_MAX);
	rc = children(p, dir, &c, &n, err);
	for (size_t k = 0; k < n && !rc; k++) {
		struct stat st;
		char *sub;

		if (asprintf(&sub, "%s%s%.*s", path, *path ? "/" : "",
			     (int)c[k].nlen, c[k].name) < 0) {
			rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
			break;
		}
		rc = ino_stat(p, c[k].inum, &st, sub, err);
		if (!rc && dent_type(st.st_mode) != c[k].type)
			rc = fw_error_set(err, FW_EINPUT, p->name,
					  "ubifs: '%s': entry and inode types "
					  "differ", sub);
		if (!rc && S_ISDIR(st.st_mode)) {
			/* a directory has one name: entering it twice is a loop */
			size_t i = ub_find(p, c[k].inum, UB_KEY_INO);

			if (p->leaf[i].low)
				rc = fw_error_set(err, FW_EINPUT, p->name,
						  "ubifs: directory '%s' has "
						  "two names (a loop?)", sub);
			p->leaf[i].low = 1;
		}
		if (!rc)
			rc = add_entry(img, p, sub, c[k].inum, &st, err);
		if (!rc && S_ISDIR(st.st_mode))
			rc = walk_dir(img, p, c[k].inum, sub, depth + 1, err);
		free(sub);
	}
	free(c);
	return rc;
}

static void ub_close(struct fw_image *img);

static int map_input(struct ub_priv *p, const char *path, struct fw_error *err)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return fw_error_set(err, FW_EINPUT, path, "cannot open: %s",
				    strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fw_error_set(err, FW_EINPUT, path, "not a file");
	}
	if ((uint64_t)st.st_size > FW_READ_MAX) {
		close(fd);
		return fw_error_set(err, FW_EINPUT, path,
				    "ubifs: volume too large");
	}
	p->size = (uint64_t)st.st_size;
	p->budget = 2 * p->size + ((uint64_t)1 << 20);
	p->map = p->size ? mmap(NULL, p->size, PROT_READ, MAP_PRIVATE, fd, 0)
			 : MAP_FAILED;
	close(fd);
	if (p->map == MAP_FAILED) {
		p->map = NULL;
		return fw_error_set(err, FW_EIO, path, "cannot map: %s",
				    strerror(errno));
	}
	return FW_OK;
}

static int ub_open(struct fw_image *img, struct fw_error *err)
{
	struct ub_priv *p = calloc(1, sizeof(*p));
	struct stat st;
	int rc;

	if (!p)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	img->priv = p;
	p->name = img->path;
	if (lzo_init() != LZO_E_OK)
		return fw_error_set(err, FW_EIO, NULL, "ubifs: lzo_init failed");
	rc = map_input(p, img->path, err);
	if (!rc)
		rc = read_super(p, err);
	if (!rc)
		rc = read_master(p, err);
	if (!rc)
		rc = read_journal(p, err);
	if (!rc)
		rc = walk_index(p, p->root_lnum, p->root_offs, p->root_len, -1,
				err);
	if (rc)
		return rc;
	qsort(p->leaf, p->n_leaf, sizeof(*p->leaf), cmp_leaf);
	rc = check_unique(p, err);
	if (!rc)
		rc = apply_journal(p, err);
	/* low of an inode leaf: 1 once its directory is entered */
	for (size_t i = 0; i < p->n_leaf && !rc; i++)
		if (p->leaf[i].type == UB_KEY_INO)
			p->leaf[i].low = 0;
	if (!rc)
		rc = ino_stat(p, UB_ROOT_INO, &st, "/", err);
	if (!rc && !S_ISDIR(st.st_mode))
		rc = fw_error_set(err, FW_EINPUT, img->path,
				  "ubifs: the root inode is not a directory");
	if (!rc) {
		p->leaf[ub_find(p, UB_ROOT_INO, UB_KEY_INO)].low = 1;
		rc = add_entry(img, p, "", UB_ROOT_INO, &st, err);
	}
	if (!rc)
		rc = walk_dir(img, p, UB_ROOT_INO, "", 0, err);
	if (!rc)
		rc = fw_image_link_hardlinks(img, err);
	return rc;
}

/* ---------------------------------------------------------------- */
/* File data                                                        */

static int decompress(int type, const uint8_t *in, size_t in_len,
		      uint8_t *out, size_t want)
{
	switch (type) {
	case UB_COMPR_NONE:
		if (in_len != want)
			return -1;
		memcpy(out, in, want);
		return 0;
	case UB_COMPR_LZO: {
		lzo_uint n = want;

		if (lzo1x_decompress_safe(in, in_len, out, &n, NULL) != LZO_E_OK)
			return -1;
		return n == want ? 0 : -1;
	}
	case UB_COMPR_ZLIB: {
		/* raw deflate, as the kernel's crypto "deflate" */
		z_stream z = { 0 };
		int r;

		if (inflateInit2(&z, -15) != Z_OK)
			return -1;
		z.next_in = (Bytef *)in;
		z.avail_in = (uInt)in_len;
		z.next_out = out;
		z.avail_out = (uInt)want;
		r = inflate(&z, Z_FINISH);
		inflateEnd(&z);
		return r == Z_STREAM_END && z.total_out == want ? 0 : -1;
	}
	case UB_COMPR_ZSTD: {
		size_t n = ZSTD_decompress(out, want, in, in_len);

		return !ZSTD_isError(n) && n == want ? 0 : -1;
	}
	}
	return -1;
}

int ub_read_inum(struct ub_priv *p, uint64_t inum, uint8_t **buf,
		 size_t *len, const char *path, struct fw_error *err)
{
	const uint8_t *ino = ub_inode(p, inum);
	uint64_t size = ino ? fw_le64(ino + 48) : 0;
	size_t i = ub_find(p, inum, UB_KEY_DATA);
	uint8_t *out;

	*buf = NULL;
	*len = 0;
	if (!ino)
		return fw_error_set(err, FW_EINPUT, path, "ubifs: no inode");
	if (size > FW_READ_MAX)
		return fw_error_set(err, FW_EINPUT, path,
				    "ubifs: file of %llu bytes is too large "
				    "to sign", (unsigned long long)size);
	out = calloc(1, size ? size : 1);	/* holes read as zeros */
	if (!out)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	for (; i < p->n_leaf && p->leaf[i].inum == inum &&
	       p->leaf[i].type == UB_KEY_DATA; i++) {
		const uint8_t *d = p->leaf[i].node;
		uint64_t off = (uint64_t)p->leaf[i].low * UB_BLOCK;
		uint32_t usize = fw_le32(d + 40);
		int ct = fw_le16(d + 44);

		if (off >= size)
			continue;	/* past the end: truncated away */
		if (usize > UB_BLOCK || usize > size - off ||
		    decompress(ct, d + UB_DATA_SZ, fw_le32(d + 16) - UB_DATA_SZ,
			       out + off, usize)) {
			free(out);
			return fw_error_set(err, FW_EINPUT, path,
					    "ubifs: data block %u does not "
					    "decompress (compressor %d)",
					    p->leaf[i].low, ct);
		}
	}
	*buf = out;
	*len = size;
	return FW_OK;
}

static int ub_read(struct fw_image *img, size_t idx, uint8_t **buf,
		   size_t *len, struct fw_error *err)
{
	struct ub_priv *p = img->priv;

	if (idx >= img->n || !S_ISREG(img->ent[idx].st.st_mode))
		return fw_error_set(err, FW_EINPUT, img->path,
				    "not a regular file");
	return ub_read_inum(p, p->ent_inum[idx], buf, len, img->ent[idx].path,
			    err);
}

int ub_xattrs_inum(struct ub_priv *p, uint64_t inum, struct fw_xattr **v,
		   size_t *n, const char *path, struct fw_error *err)
{
	size_t i = ub_find(p, inum, UB_KEY_XENT);

	*v = NULL;
	*n = 0;
	for (; i < p->n_leaf && p->leaf[i].inum == inum &&
	       p->leaf[i].type == UB_KEY_XENT; i++) {
		const uint8_t *x = p->leaf[i].node, *xi;
		uint16_t nlen = fw_le16(x + 50);
		const char *name = (const char *)x + UB_DENT_SZ;
		uint32_t vlen;

		xi = ub_inode(p, fw_le64(x + 40));
		if (nlen == 0 || UB_DENT_SZ + (uint32_t)nlen + 1 != fw_le32(x + 16) ||
		    name[nlen] || memchr(name, '\0', nlen) || !xi ||
		    !(fw_le32(xi + 108) & UB_XATTR_FL) ||
		    UB_INO_SZ + (uint64_t)fw_le32(xi + 112) != fw_le32(xi + 16)) {
			fw_xattrs_free(*v, *n);
			*v = NULL;
			*n = 0;
			return fw_error_set(err, FW_EINPUT, path,
					    "ubifs: a bad xattr entry");
		}
		vlen = fw_le32(xi + 112);
		if (fw_xattrs_add(v, n, name, xi + UB_INO_SZ, vlen) < 0) {
			fw_xattrs_free(*v, *n);
			*v = NULL;
			*n = 0;
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		}
	}
	return FW_OK;
}

static int ub_xattrs(struct fw_image *img, size_t idx, struct fw_xattr **v,
		     size_t *n, struct fw_error *err)
{
	struct ub_priv *p = img->priv;

	*v = NULL;
	*n = 0;
	if (idx >= img->n)
		return fw_error_set(err, FW_EINPUT, img->path, "no such entry");
	return ub_xattrs_inum(p, p->ent_inum[idx], v, n,
			      *img->ent[idx].path ? img->ent[idx].path
						  : img->path, err);
}

static void ub_close(struct fw_image *img)
{
	struct ub_priv *p = img->priv;

	if (!p)
		return;
	if (p->map)
		munmap((void *)p->map, p->size);
	free(p->leaf);
	free(p->jop);
	free(p->ent_inum);
	free(p);
	img->priv = NULL;
}

const struct fw_format fw_format_ubifs = {
	.name = "ubifs",
	.flags = FW_FMT_ORDERED,
	.bid = ub_bid,
	.open = ub_open,
	.read = ub_read,
	.xattrs = ub_xattrs,
	.out_begin = ub_out_begin,
	.out_put = ub_out_put,
	.out_xattr = ub_out_xattr,
	.out_commit = ub_out_commit,
	.out_abort = ub_out_abort,
	.close = ub_close,
};
