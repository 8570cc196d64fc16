// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * UBI images, as ubinize writes them or as a raw dump of a NAND partition
 * holds them.  Every physical erase block (PEB) starts with a 64-byte
 * erase-counter (EC) header ("UBI#": erase count, the offsets of the VID
 * header and of the data, image_seq); a PEB in use also has a volume-id
 * (VID) header ("UBI!": volume id and type, logical block number, and for
 * static volumes the data size, the LEB count and the data's CRC).  The
 * volume table is a volume of its own (0x7fffefff), two LEBs that each
 * hold every 172-byte record.  All are big-endian; every CRC is crc32
 * from ~0 without the final inversion, over the header less its CRC.
 *
 * A UBI image says nothing of its PEB size: it is the distance to the
 * next EC header of the same image_seq (a power of two, as on flash).
 *
 * Parts are the volumes, by name, each its LEBs end to end (a dynamic
 * volume as many whole LEBs as are mapped, 0xff where one is not; a
 * static one exactly its data_size bytes).  A volume that changed is
 * written back as ubinize writes one: its LEBs in order, each in a PEB
 * whose headers are the ones it had (erase count, image_seq, sqnum, flags
 * kept; lnum, data_size, used_ebs, data_crc and the CRCs new), the data,
 * then 0xff to the end of the PEB.  An image with no free PEB (ubinize's)
 * keeps its PEBs in order and the volume takes as many PEBs as it needs
 * where it lay, so that the output is byte for byte what ubinize makes of
 * the new volumes; an image with free PEBs (a dump) keeps every PEB where
 * it is, takes free PEBs for new LEBs and erases the ones a volume no
 * longer needs.  A volume must fit its reserved PEBs, unless it has the
 * autoresize flag: then its record in both copies of the table grows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "format.h"

#define EC_MAGIC 0x55424923u	/* "UBI#" */
#define VID_MAGIC 0x55424921u	/* "UBI!" */
#define HDR_SIZE 64
#define HDR_CRC_LEN 60
#define LAYOUT_ID 0x7fffefffu
#define REC_SIZE 172
#define REC_CRC_LEN 168
#define MAX_VOLS 128
#define MIN_PEB 1024u
#define MAX_PEB (16u << 20)
#define VOL_DYNAMIC 1
#define VOL_STATIC 2
#define FL_AUTORESIZE 1
#define NO_PEB UINT32_MAX

enum peb_state { PEB_EMPTY, PEB_ERASED, PEB_USED };

struct peb {
	enum peb_state st;
	uint32_t vol_id, lnum;
};

struct vol {
	uint32_t id;
	int rec;		/* its record in the table */
	char name[129];
	uint8_t type;
	uint32_t reserved, data_pad, usable;
	uint8_t flags;
	uint32_t nleb;		/* mapped LEBs: highest lnum + 1 */
	uint32_t *peb;		/* by lnum, NO_PEB: unmapped */
	uint8_t *buf;		/* its bytes, the part's */
	int written;		/* rebuild_shift: its new PEBs are out */
	uint64_t len;
	struct fw_node *part;
};

struct ubi {
	uint32_t peb, vid_off, data_off, leb, image_seq;
	uint32_t npeb;
	struct peb *pe;
	struct vol v[MAX_VOLS];
	int nv;
	uint32_t nrec;		/* records in the table */
	uint32_t layout[2];	/* the PEBs of the table's two LEBs */
	uint64_t max_sqnum;
	int has_free;
};

/* UBI's crc32: from ~0, no final inversion. */
static uint32_t ubi_crc(const uint8_t *p, uint64_t n)
{
	return ~fw_crc32(0, p, n);
}

static int ec_ok(const uint8_t *h)
{
	return fw_be32(h) == EC_MAGIC && h[4] == 1 &&
	       ubi_crc(h, HDR_CRC_LEN) == fw_be32(h + HDR_CRC_LEN);
}

static int all_ff(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0xff && !memcmp(p, p + 1, n - 1));
}

static int ubi_bid(const uint8_t *p, size_t len, const struct fw_node *parent)
{
	(void)parent;
	if (len < 2 * MIN_PEB || fw_be32(p) != EC_MAGIC)
		return 0;
	return ec_ok(p) ? 190 : 60;
}

/* The PEB size: the nearest power of two past the data offset at which
 * the same image's next EC header lies. */
static uint32_t find_peb(const uint8_t *p, uint64_t len, uint32_t data_off,
			 uint32_t seq)
{
	for (uint64_t s = MIN_PEB; s <= MAX_PEB && s < len; s *= 2) {
		if (s <= data_off)
			continue;
		if (ec_ok(p + s) && fw_be32(p + s + 24) == seq &&
		    fw_be32(p + s + 16) == fw_be32(p + 16) &&
		    fw_be32(p + s + 20) == data_off)
			return (uint32_t)s;
	}
	return 0;
}

static struct vol *vol_of(struct ubi *u, uint32_t id)
{
	for (int i = 0; i < u->nv; i++)
		if (u->v[i].id == id)
			return &u->v[i];
	return NULL;
}

static const uint8_t *peb_at(const struct fw_node *n, const struct ubi *u,
			     uint32_t i)
{
	return n->p + (uint64_t)i * u->peb;
}

/* Reads every PEB's headers.  Two PEBs with the same LEB are refused: a
 * dump taken while UBI moved a block would need its sqnum rule, and an
 * image that says so is more likely forged. */
static int scan(struct fw_node *n, struct ubi *u, struct fw_error *err)
{
	uint32_t lay_seen = 0;

	u->pe = calloc(u->npeb, sizeof(*u->pe));
	if (!u->pe)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	u->layout[0] = u->layout[1] = NO_PEB;
	for (uint32_t i = 0; i < u->npeb; i++) {
		const uint8_t *b = peb_at(n, u, i), *vh = b + u->vid_off;
		struct peb *pe = &u->pe[i];

		if (all_ff(b, HDR_SIZE)) {
			pe->st = PEB_EMPTY;
			u->has_free = 1;
			continue;
		}
		if (!ec_ok(b))
			return fw_node_error(n, err, FW_EINPUT, "PEB %u: bad "
					     "EC header (magic or CRC)", i);
		if (fw_be32(b + 24) != u->image_seq ||
		    fw_be32(b + 16) != u->vid_off ||
		    fw_be32(b + 20) != u->data_off)
			return fw_node_error(n, err, FW_EINPUT, "PEB %u: EC "
					     "header of another image "
					     "(image_seq or offsets differ)",
					     i);
		if (all_ff(vh, HDR_SIZE)) {
			pe->st = PEB_ERASED;
			u->has_free = 1;
			continue;
		}
		if (fw_be32(vh) != VID_MAGIC || vh[4] != 1 ||
		    ubi_crc(vh, HDR_CRC_LEN) != fw_be32(vh + HDR_CRC_LEN))
			return fw_node_error(n, err, FW_EINPUT, "PEB %u: bad "
					     "VID header (magic or CRC)", i);
		pe->st = PEB_USED;
		pe->vol_id = fw_be32(vh + 8);
		pe->lnum = fw_be32(vh + 12);
		if (fw_be64(vh + 40) > u->max_sqnum)
			u->max_sqnum = fw_be64(vh + 40);
		if (pe->vol_id == LAYOUT_ID) {
			if (pe->lnum > 1)
				return fw_node_error(n, err, FW_EINPUT, "PEB "
						     "%u: volume table LEB %u",
						     i, pe->lnum);
			if (lay_seen & (1u << pe->lnum))
				return fw_node_error(n, err, FW_EINPUT, "PEB "
						     "%u: volume table LEB %u "
						     "twice", i, pe->lnum);
			lay_seen |= 1u << pe->lnum;
			u->layout[pe->lnum] = i;
		}
	}
	if (lay_seen != 3)
		return fw_node_error(n, err, FW_EINPUT, "no volume table "
				     "(its two LEBs)");
	return FW_OK;
}

static int read_table(struct fw_node *n, struct ubi *u, struct fw_error *err)
{
	const uint8_t *t0 = peb_at(n, u, u->layout[0]) + u->data_off;
	const uint8_t *t1 = peb_at(n, u, u->layout[1]) + u->data_off;

	u->nrec = u->leb / REC_SIZE < MAX_VOLS ? u->leb / REC_SIZE : MAX_VOLS;
	if (memcmp(t0, t1, (size_t)u->nrec * REC_SIZE))
		return fw_node_error(n, err, FW_EINPUT, "the two copies of "
				     "the volume table differ");
	for (uint32_t r = 0; r < u->nrec; r++) {
		const uint8_t *e = t0 + (size_t)r * REC_SIZE;
		struct vol *v;
		uint32_t align, nlen;

		if (ubi_crc(e, REC_CRC_LEN) != fw_be32(e + REC_CRC_LEN))
			return fw_node_error(n, err, FW_EINPUT, "volume table "
					     "record %u: bad CRC", r);
		if (!fw_be32(e))
			continue;	/* empty */
		v = &u->v[u->nv++];
		v->id = r;
		v->rec = (int)r;
		v->reserved = fw_be32(e);
		align = fw_be32(e + 4);
		v->data_pad = fw_be32(e + 8);
		v->type = e[12];
		nlen = fw_be16(e + 14);
		v->flags = e[144];
		if (e[13])
			return fw_node_error(n, err, FW_EINPUT, "volume %u: "
					     "update marker set (an update "
					     "was cut short)", r);
		if (v->type != VOL_DYNAMIC && v->type != VOL_STATIC)
			return fw_node_error(n, err, FW_EINPUT, "volume %u: "
					     "type %u", r, v->type);
		if (!nlen || nlen > 127 || memchr(e + 16, 0, nlen))
			return fw_node_error(n, err, FW_EINPUT, "volume %u: "
					     "bad name", r);
		if (!align || v->data_pad >= u->leb ||
		    (u->leb - v->data_pad) % align)
			return fw_node_error(n, err, FW_EINPUT, "volume %u: "
					     "alignment %u and data_pad %u do "
					     "not fit LEBs of %u", r, align,
					     v->data_pad, u->leb);
		memcpy(v->name, e + 16, nlen);
		v->name[nlen] = 0;
		for (int k = 0; k < u->nv - 1; k++)
			if (!strcmp(u->v[k].name, v->name))
				return fw_node_error(n, err, FW_EINPUT,
						     "volumes %u and %u are "
						     "both '%s'", u->v[k].id,
						     r, v->name);
		v->usable = u->leb - v->data_pad;
	}
	return FW_OK;
}

/* Maps each volume's LEBs to PEBs and checks what the VID headers say. */
static int map_volumes(struct fw_node *n, struct ubi *u, struct fw_error *err)
{
	for (uint32_t i = 0; i < u->npeb; i++) {
		const struct peb *pe = &u->pe[i];
		const uint8_t *vh = peb_at(n, u, i) + u->vid_off;
		struct vol *v;

		if (pe->st != PEB_USED || pe->vol_id == LAYOUT_ID)
			continue;
		v = vol_of(u, pe->vol_id);
		if (!v)
			return fw_node_error(n, err, FW_EINPUT, "PEB %u: "
					     "volume %u is not in the volume "
					     "table", i, pe->vol_id);
		if (vh[5] != v->type || fw_be32(vh + 28) != v->data_pad)
			return fw_node_error(n, err, FW_EINPUT, "PEB %u: type "
					     "or data_pad differ from volume "
					     "%u's record", i, v->id);
		if (pe->lnum >= v->reserved)
			return fw_node_error(n, err, FW_EINPUT, "PEB %u: LEB %u "
					     "of volume %u, which has %u "
					     "reserved", i, pe->lnum, v->id,
					     v->reserved);
		if (!v->peb) {
			v->peb = malloc(v->reserved * sizeof(*v->peb));
			if (!v->peb)
				return fw_error_set(err, FW_EIO, NULL,
						    "out of memory");
			memset(v->peb, 0xff, v->reserved * sizeof(*v->peb));
		}
		if (v->peb[pe->lnum] != NO_PEB)
			return fw_node_error(n, err, FW_EINPUT, "PEBs %u and "
					     "%u both claim LEB %u of volume "
					     "%u", v->peb[pe->lnum], i,
					     pe->lnum, v->id);
		v->peb[pe->lnum] = i;
		if (pe->lnum + 1 > v->nleb)
			v->nleb = pe->lnum + 1;
	}
	return FW_OK;
}

/* A volume's bytes, and for a static one its CRCs checked. */
static int gather(struct fw_node *n, struct ubi *u, struct vol *v,
		  struct fw_error *err)
{
	uint64_t pos = 0, budget = fw_node_decode_budget(n, 0);
	uint32_t used = v->nleb;

	if (v->type == VOL_STATIC && v->nleb) {
		const uint8_t *vh = peb_at(n, u, v->peb[0]) + u->vid_off;

		used = fw_be32(vh + 24);
		if (used != v->nleb)
			return fw_node_error(n, err, FW_EINPUT, "static volume "
					     "'%s': used_ebs %u, %u LEBs mapped",
					     v->name, used, v->nleb);
	}
	if ((uint64_t)v->nleb * v->usable > budget)
		return fw_node_error(n, err, FW_EINPUT, "volume '%s': more "
				     "decoded bytes than the limit", v->name);
	fw_node_decode_budget(n, (uint64_t)v->nleb * v->usable);
	v->buf = malloc(v->nleb ? (size_t)v->nleb * v->usable : 1);
	if (!v->buf)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	for (uint32_t l = 0; l < v->nleb; l++) {
		const uint8_t *b, *vh;
		uint32_t sz = v->usable;

		if (v->peb[l] == NO_PEB) {
			if (v->type == VOL_STATIC)
				return fw_node_error(n, err, FW_EINPUT,
						     "static volume '%s': LEB "
						     "%u missing", v->name, l);
			memset(v->buf + pos, 0xff, sz);
			pos += sz;
			continue;
		}
		b = peb_at(n, u, v->peb[l]);
		vh = b + u->vid_off;
		if (v->type == VOL_STATIC) {
			sz = fw_be32(vh + 20);
			if (fw_be32(vh + 24) != used || sz > v->usable ||
			    (l + 1 < used && sz != v->usable))
				return fw_node_error(n, err, FW_EINPUT,
						     "static volume '%s': LEB "
						     "%u says %u bytes of %u "
						     "LEBs", v->name, l, sz,
						     fw_be32(vh + 24));
			if (ubi_crc(b + u->data_off, sz) != fw_be32(vh + 32))
				n->bad = 1;
		}
		memcpy(v->buf + pos, b + u->data_off, sz);
		pos += sz;
	}
	v->len = pos;
	return FW_OK;
}

static int ubi_open(struct fw_node *n, struct fw_error *err)
{
	struct ubi *u = calloc(1, sizeof(*u));
	const uint8_t *p = n->p;
	int rc;

	if (!u)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	n->priv = u;
	if (!ec_ok(p))
		return fw_node_error(n, err, FW_EINPUT, "bad UBI EC header "
				     "(CRC)");
	u->vid_off = fw_be32(p + 16);
	u->data_off = fw_be32(p + 20);
	u->image_seq = fw_be32(p + 24);
	if (u->vid_off < HDR_SIZE || u->vid_off > MAX_PEB ||
	    u->data_off < u->vid_off + HDR_SIZE || u->data_off > MAX_PEB)
		return fw_node_error(n, err, FW_EINPUT, "bad header offsets "
				     "(VID %u, data %u)", u->vid_off,
				     u->data_off);
	u->peb = find_peb(p, n->len, u->data_off, u->image_seq);
	if (!u->peb)
		return fw_node_error(n, err, FW_EINPUT, "no second PEB: the "
				     "PEB size cannot be found");
	if (n->len % u->peb)
		return fw_node_error(n, err, FW_EINPUT, "%llu bytes are not "
				     "whole PEBs of %u",
				     (unsigned long long)n->len, u->peb);
	u->leb = u->peb - u->data_off;
	u->npeb = (uint32_t)(n->len / u->peb);
	rc = scan(n, u, err);
	if (!rc)
		rc = read_table(n, u, err);
	if (!rc)
		rc = map_volumes(n, u, err);
	for (int i = 0; !rc && i < u->nv; i++)
		rc = gather(n, u, &u->v[i], err);
	if (rc)
		return rc;
	snprintf(n->desc, sizeof(n->desc), "PEB %u, LEB %u, VID header at "
		 "%u, data at %u, image_seq %u, %u PEBs, %d volume%s%s%s",
		 u->peb, u->leb, u->vid_off, u->data_off, u->image_seq,
		 u->npeb, u->nv, u->nv == 1 ? "" : "s",
		 u->has_free ? ", free PEBs" : "",
		 n->bad ? ", static data CRC BAD" : "");
	for (int i = 0; i < u->nv; i++) {
		struct vol *v = &u->v[i];

		if (!v->len)
			continue;
		v->part = fw_node_part_decoded(n, v->name, v->buf, v->len, err);
		if (!v->part)
			return err->code;
		snprintf(v->part->desc, sizeof(v->part->desc), "volume %u, "
			 "%s, %u of %u reserved LEBs%s", v->id,
			 v->type == VOL_STATIC ? "static" : "dynamic", v->nleb,
			 v->reserved,
			 v->flags & FL_AUTORESIZE ? ", autoresize" : "");
	}
	return FW_OK;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */

struct opeb {
	uint32_t src;		/* the input PEB, NO_PEB: b is new */
	uint8_t *b;
};

struct wr {
	struct fw_node *n;
	struct ubi *u;
	uint8_t **patched;	/* by input PEB: new bytes, NULL: as input */
	struct opeb *out;	/* the output PEBs in order */
	uint32_t nout, cap;
};

/* A PEB holding LEB l of v's new bytes: the headers of template PEB tp,
 * lnum, sizes and CRCs new, the data, 0xff to the end. */
static uint8_t *make_peb(struct wr *w, const struct vol *v, uint32_t tp,
			 uint32_t l, uint32_t nleb, uint64_t sqnum)
{
	const struct fw_out *o = &v->part->out;
	struct ubi *u = w->u;
	uint8_t *b = malloc(u->peb), *vh;
	uint64_t at = (uint64_t)l * v->usable;
	uint32_t sz = o->len - at < v->usable ? (uint32_t)(o->len - at) :
						  v->usable;

	if (!b)
		return NULL;
	memset(b, 0xff, u->peb);
	memcpy(b, peb_at(w->n, u, tp), u->data_off);
	vh = b + u->vid_off;
	if (u->pe[tp].st != PEB_USED) {	/* a free PEB: a VID header of v's */
		memcpy(vh, peb_at(w->n, u, v->peb[0]) + u->vid_off, HDR_SIZE);
		if (u->pe[tp].st == PEB_EMPTY)
			memcpy(b, peb_at(w->n, u, v->peb[0]), HDR_SIZE);
	}
	fw_put_be32(vh + 12, l);
	fw_put_be64(vh + 40, sqnum);
	fw_out_read(o, at, b + u->data_off, sz);
	if (v->type == VOL_STATIC) {
		fw_put_be32(vh + 20, sz);
		fw_put_be32(vh + 24, nleb);
		fw_put_be32(vh + 32, ubi_crc(b + u->data_off, sz));
	}
	fw_put_be32(vh + HDR_CRC_LEN, ubi_crc(vh, HDR_CRC_LEN));
	return b;
}

/* An erased PEB: its EC header, 0xff after. */
static uint8_t *erased_peb(struct wr *w, uint32_t i)
{
	uint8_t *b = malloc(w->u->peb);

	if (!b)
		return NULL;
	memset(b, 0xff, w->u->peb);
	if (w->u->pe[i].st != PEB_EMPTY)
		memcpy(b, peb_at(w->n, w->u, i), HDR_SIZE);
	return b;
}

static int oom(struct fw_error *err)
{
	return fw_error_set(err, FW_EIO, NULL, "out of memory");
}

static int emit(struct wr *w, uint32_t src, uint8_t *b)
{
	if (w->nout == w->cap) {
		uint32_t cap = w->cap ? w->cap * 2 : 64;
		struct opeb *o = realloc(w->out, cap * sizeof(*o));

		if (!o)
			return -1;
		w->out = o;
		w->cap = cap;
	}
	w->out[w->nout++] = (struct opeb){ .src = src, .b = b };
	return 0;
}

/* A volume past its reserved PEBs is refused, or with autoresize its
 * record grows in both copies of the table. */
static int grow_record(struct wr *w, struct vol *v, uint32_t nleb,
		       struct fw_error *err)
{
	struct ubi *u = w->u;

	if (nleb <= v->reserved)
		return FW_OK;
	if (!(v->flags & FL_AUTORESIZE))
		return fw_node_error(w->n, err, FW_EINPUT, "volume '%s' grew "
				     "to %u LEBs (%llu bytes), past its %u "
				     "reserved PEBs", v->name, nleb,
				     (unsigned long long)v->part->out.len,
				     v->reserved);
	for (int k = 0; k < 2; k++) {
		uint32_t i = u->layout[k];
		uint8_t *e;

		if (!w->patched[i]) {
			w->patched[i] = malloc(u->peb);
			if (!w->patched[i])
				return oom(err);
			memcpy(w->patched[i], peb_at(w->n, u, i), u->peb);
		}
		e = w->patched[i] + u->data_off + (size_t)v->rec * REC_SIZE;
		fw_put_be32(e, nleb);
		fw_put_be32(e + REC_CRC_LEN, ubi_crc(e, REC_CRC_LEN));
	}
	v->reserved = nleb;
	return FW_OK;
}

static uint32_t new_lebs(const struct vol *v)
{
	return (uint32_t)((v->part->out.len + v->usable - 1) / v->usable);
}

/* A dump: every PEB stays where it is; new LEBs take free PEBs, LEBs no
 * longer needed are erased. */
static int rebuild_in_place(struct wr *w, struct fw_error *err)
{
	struct ubi *u = w->u;
	uint64_t sq = u->max_sqnum;
	uint32_t next_free = 0;

	for (int k = 0; k < u->nv; k++) {
		struct vol *v = &u->v[k];
		uint32_t nleb;

		if (!v->part || !v->part->changed)
			continue;
		nleb = new_lebs(v);
		if (grow_record(w, v, nleb, err))
			return err->code;
		for (uint32_t l = 0; l < nleb; l++) {
			uint32_t tp = l < v->nleb ? v->peb[l] : NO_PEB;
			uint64_t s;

			if (tp == NO_PEB) {
				while (next_free < u->npeb &&
				       (u->pe[next_free].st == PEB_USED ||
					w->patched[next_free]))
					next_free++;
				if (next_free == u->npeb)
					return fw_node_error(w->n, err,
							     FW_EINPUT, "volume "
							     "'%s' needs LEB %u "
							     "and no PEB is "
							     "free", v->name, l);
				tp = next_free;
				s = ++sq;
			} else {
				s = fw_be64(peb_at(w->n, u, tp) + u->vid_off + 40);
			}
			w->patched[tp] = make_peb(w, v, tp, l, nleb, s);
			if (!w->patched[tp])
				return oom(err);
		}
		for (uint32_t l = nleb; l < v->nleb; l++) {
			uint32_t i = v->peb[l];

			if (i == NO_PEB)
				continue;
			w->patched[i] = erased_peb(w, i);
			if (!w->patched[i])
				return oom(err);
		}
	}
	for (uint32_t i = 0; i < u->npeb; i++)
		if (emit(w, i, NULL))
			return oom(err);
	return FW_OK;
}

/* ubinize's image: a changed volume takes as many PEBs as it needs where
 * its first PEB lay, and the PEBs after it move up or down. */
static int rebuild_shift(struct wr *w, struct fw_error *err)
{
	struct ubi *u = w->u;

	for (uint32_t i = 0; i < u->npeb; i++) {
		const struct peb *pe = &u->pe[i];
		struct vol *v = pe->vol_id == LAYOUT_ID ? NULL :
				vol_of(u, pe->vol_id);
		uint32_t nleb;

		if (!v || !v->part || !v->part->changed) {
			if (emit(w, i, NULL))
				return oom(err);
			continue;
		}
		if (v->written)
			continue;
		v->written = 1;
		nleb = new_lebs(v);
		if (grow_record(w, v, nleb, err))
			return err->code;
		for (uint32_t l = 0; l < nleb; l++) {
			uint32_t tp = l < v->nleb && v->peb[l] != NO_PEB ?
				      v->peb[l] : v->peb[v->nleb - 1];
			uint8_t *b = make_peb(w, v, tp, l, nleb,
					      fw_be64(peb_at(w->n, u, tp) +
						   u->vid_off + 40));

			if (!b || emit(w, NO_PEB, b)) {
				free(b);
				return oom(err);
			}
		}
	}
	return FW_OK;
}

static int ubi_rebuild(struct fw_node *n, struct fw_error *err)
{
	struct ubi *u = n->priv;
	struct wr w = { .n = n, .u = u };
	int rc;

	w.patched = calloc(u->npeb, sizeof(*w.patched));
	if (!w.patched)
		return oom(err);
	rc = u->has_free ? rebuild_in_place(&w, err) : rebuild_shift(&w, err);
	for (uint32_t i = 0; !rc && i < w.nout; i++) {
		struct opeb *e = &w.out[i];
		uint8_t **own = e->b ? &e->b : &w.patched[e->src];

		if (*own) {
			if (fw_out_own(&n->out, *own)) {
				rc = oom(err);
				break;
			}
			rc = fw_out_add(&n->out, *own, u->peb) ? oom(err) : 0;
			*own = NULL;
		} else if (fw_out_add(&n->out, peb_at(n, u, e->src), u->peb)) {
			rc = oom(err);
		}
	}
	for (uint32_t i = 0; i < w.nout; i++)
		free(w.out[i].b);
	for (uint32_t i = 0; i < u->npeb; i++)
		free(w.patched[i]);
	free(w.out);
	free(w.patched);
	return rc;
}

static void ubi_close(struct fw_node *n)
{
	struct ubi *u = n->priv;

	if (!u)
		return;
	for (int i = 0; i < u->nv; i++) {
		free(u->v[i].peb);
		free(u->v[i].buf);
	}
	free(u->pe);
	free(u);
}

const struct fw_layer fw_layer_ubi = {
	.name = "UBI",
	.kind = FW_LK_CONTAINER,
	.bid = ubi_bid,
	.open = ubi_open,
	.rebuild = ubi_rebuild,
	.close = ubi_close,
};
