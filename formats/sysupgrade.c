// SPDX-License-Identifier: LGPL-2.1-or-later
#define _GNU_SOURCE
/*
 * OpenWrt's sysupgrade tar: one directory sysupgrade-BOARD/ holding
 * CONTROL, kernel, root (and perhaps dtb, ramdisk), as GNU tar writes it.
 * Each regular member is a part.  Rebuilding keeps every header byte for
 * byte but a changed member's size and the header checksum, in the style
 * the input used; the end blocks and the record padding are kept too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "format.h"

#define BLK 512
#define MAX_MEMBERS 4096

struct member {
	uint64_t hdr;		/* offset of its (last) header */
	uint64_t first;		/* offset of its first header (long names) */
	uint64_t data;
	uint64_t size;
	struct fw_node *part;	/* regular files */
};

struct tarc {
	struct member *m;
	size_t n;
	uint64_t end;		/* where the end-of-archive blocks start */
	uint64_t record;	/* the archive is padded to this (0: not) */
};

/* An octal field (or GNU base-256); -1 if bad. */
static int64_t num(const uint8_t *f, size_t w)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		for (i = 1; i < w; i++) {
			if (v >> 55)
				return -1;
			v = v << 8 | f[i];
		}
		return (int64_t)v;
	}
	while (i < w && f[i] == ' ')
		i++;
	for (; i < w && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -1;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	if (i < w && f[i] != ' ' && f[i] != '\0')
		return -1;
	return (int64_t)v;
}

static int hdr_ok(const uint8_t *h)
{
	unsigned sum = 0;
	int64_t want = num(h + 148, 8);

	for (int i = 0; i < BLK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	return want >= 0 && (unsigned)want == sum;
}

static void hdr_name(const uint8_t *h, char *out, size_t n)
{
	char pre[156] = "", nm[101];

	memcpy(nm, h, 100);
	nm[100] = '\0';
	if (!memcmp(h + 257, "ustar\0", 6)) {
		memcpy(pre, h + 345, 155);
		pre[155] = '\0';
	}
	snprintf(out, n, "%s%s%s", pre, pre[0] ? "/" : "", nm);
}

/* Parses the members; 0 or -1 with why. */
static int parse(const uint8_t *p, uint64_t len, struct tarc *t,
		 char *why, size_t why_len)
{
	uint64_t off = 0, first = 0;

	memset(t, 0, sizeof(*t));
	while (off + BLK <= len) {
		const uint8_t *h = p + off;
		int64_t size;
		struct member *m;

		if (fw_all_zero(h, BLK)) {
			t->end = off;
			t->record = len % 10240 == 0 ? 10240 : 0;
			return 0;
		}
		if (!hdr_ok(h)) {
			snprintf(why, why_len, "tar header at %llu: bad "
				 "checksum", (unsigned long long)off);
			return -1;
		}
		size = num(h + 124, 12);
		if (size < 0 || (uint64_t)size > len - off - BLK) {
			snprintf(why, why_len, "tar member at %llu: size past "
				 "the end", (unsigned long long)off);
			return -1;
		}
		if (h[156] == 'L' || h[156] == 'K' || h[156] == 'x' ||
		    h[156] == 'g') {
			/* a long name or pax header for the next member */
			off += BLK + (((uint64_t)size + BLK - 1) & ~(uint64_t)(BLK - 1));
			continue;
		}
		if (t->n == MAX_MEMBERS) {
			snprintf(why, why_len, "more than %d tar members",
				 MAX_MEMBERS);
			return -1;
		}
		if (!(t->n & 63)) {
			void *v = realloc(t->m, (t->n + 64) * sizeof(*t->m));

			if (!v) {
				snprintf(why, why_len, "out of memory");
				return -1;
			}
			t->m = v;
		}
		m = &t->m[t->n++];
		m->first = first;
		m->hdr = off;
		m->data = off + BLK;
		m->size = (h[156] == '0' || h[156] == '\0' || h[156] == '7') ?
			  (uint64_t)size : 0;
		m->part = NULL;
		off += BLK + (((uint64_t)size + BLK - 1) & ~(uint64_t)(BLK - 1));
		first = off;
	}
	snprintf(why, why_len, "tar without its end blocks");
	return -1;
}

/* A sysupgrade tar: sysupgrade-BOARD/CONTROL in it, every member in it. */
static int su_bid(const uint8_t *p, size_t len, const struct fw_node *parent)
{
	struct tarc t;
	char why[128], name[260], dir[260] = "";
	int control = 0, ok = 1;

	(void)parent;
	if (len < 2 * BLK || memcmp(p + 257, "ustar", 5) || !hdr_ok(p))
		return 0;
	/* The first member must be in sysupgrade-BOARD/ too (unless a long
	 * name or pax header comes first): any other tar is turned down here,
	 * not after a walk over all its headers, a page of the input's map
	 * each, which stayed resident (tar 500 MiB: ~40 MiB of RSS). */
	if (p[156] != 'L' && p[156] != 'K' && p[156] != 'x' && p[156] != 'g') {
		hdr_name(p, name, sizeof(name));
		if (strncmp(name, "sysupgrade-", 11) || !strchr(name, '/'))
			return 0;
	}
	if (parse(p, len, &t, why, sizeof(why))) {
		free(t.m);	/* members before the bad one */
		return 0;
	}
	for (size_t i = 0; i < t.n && ok; i++) {
		const char *slash;

		hdr_name(p + t.m[i].hdr, name, sizeof(name));
		slash = strchr(name, '/');
		if (strncmp(name, "sysupgrade-", 11) || !slash) {
			ok = 0;
			break;
		}
		if (!dir[0])
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - name),
				 name);
		else if (strncmp(name, dir, strlen(dir)))
			ok = 0;
		control |= !strcmp(slash + 1, "CONTROL");
	}
	free(t.m);
	return ok && control ? 190 : 0;
}

static int su_open(struct fw_node *n, struct fw_error *err)
{
	struct tarc *t = calloc(1, sizeof(*t));
	char why[128], name[260], board[260] = "";

	if (!t)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	n->priv = t;
	if (parse(n->p, n->len, t, why, sizeof(why)))
		return fw_node_error(n, err, FW_EINPUT, "%s", why);
	for (size_t i = 0; i < t->n; i++) {
		const uint8_t *h = n->p + t->m[i].hdr;

		if (h[156] != '0' && h[156] != '\0' && h[156] != '7')
			continue;
		hdr_name(h, name, sizeof(name));
		if (!strcmp(strchr(name, '/') ? strchr(name, '/') + 1 : "",
			    "CONTROL")) {
			const uint8_t *c = n->p + t->m[i].data;
			size_t k = t->m[i].size < 200 ? t->m[i].size : 200;
			const uint8_t *b = memmem(c, k, "BOARD=", 6);

			if (b) {
				size_t j = 0;

				b += 6;
				while (b + j < c + k && b[j] != '\n' && j < 100)
					j++;
				snprintf(board, sizeof(board), "%.*s", (int)j, b);
			}
		}
		t->m[i].part = fw_node_part(n, name, t->m[i].data,
					    t->m[i].size, err);
		if (!t->m[i].part)
			return err->code;
	}
	snprintf(n->desc, sizeof(n->desc), "%zu members%s%.200s", t->n,
		 board[0] ? ", BOARD=" : "", board);
	return FW_OK;
}

static int su_rebuild(struct fw_node *n, struct fw_error *err)
{
	struct tarc *t = n->priv;
	struct fw_out *o = &n->out;
	static const uint8_t zeros[BLK];
	uint64_t tail;

	for (size_t i = 0; i < t->n; i++) {
		const struct member *m = &t->m[i];
		const uint8_t *h = n->p + m->hdr;
		uint64_t size = m->part ? m->part->out.len : m->size;
		uint64_t next = i + 1 < t->n ? t->m[i + 1].first : t->end;
		uint8_t *nh;
		unsigned sum = 0;

		/* long-name headers before it, as they were */
		if (fw_out_add(o, n->p + m->first, m->hdr - m->first))
			goto oom;
		if (!m->part || !m->part->changed) {
			if (fw_out_add(o, h, next - m->hdr))
				goto oom;
			continue;
		}
		if (size > 077777777777ull)
			return fw_node_error(m->part, err, FW_EINPUT, "member "
					     "of %llu bytes is too big for a "
					     "tar header", (unsigned long long)size);
		nh = malloc(BLK);
		if (!nh || fw_out_own(o, nh)) {
			free(nh);
			goto oom;
		}
		memcpy(nh, h, BLK);
		snprintf((char *)nh + 124, 12, "%011llo", (unsigned long long)size);
		memset(nh + 148, ' ', 8);
		for (int k = 0; k < BLK; k++)
			sum += nh[k];
		if (h[154] == '\0' && h[155] == ' ') {
			snprintf((char *)nh + 148, 8, "%06o", sum);
			nh[155] = ' ';
		} else {
			snprintf((char *)nh + 148, 8, "%07o", sum);
		}
		if (fw_out_add(o, nh, BLK) || fw_out_cat(o, &m->part->out) ||
		    fw_out_add(o, zeros, (BLK - size % BLK) % BLK))
			goto oom;
	}
	/* the end blocks and whatever followed them */
	tail = n->len - t->end;
	if (t->record && fw_all_zero(n->p + t->end, tail)) {
		uint64_t total = o->len + 2 * BLK;

		total = (total + t->record - 1) / t->record * t->record;
		if (fw_out_fill(o, 0, total - o->len))
			goto oom;
	} else if (fw_out_add(o, n->p + t->end, tail)) {
		goto oom;
	}
	return FW_OK;
oom:
	return fw_error_set(err, FW_EIO, NULL, "out of memory");
}

static void su_close(struct fw_node *n)
{
	struct tarc *t = n->priv;

	if (t)
		free(t->m);
	free(t);
}

const struct fw_layer fw_layer_sysupgrade = {
	.name = "sysupgrade-tar",
	.kind = FW_LK_CONTAINER,
	.bid = su_bid,
	.open = su_open,
	.rebuild = su_rebuild,
	.close = su_close,
};
