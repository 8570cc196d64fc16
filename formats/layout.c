// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A layout the user describes (--layout FILE) for a vendor wrapper that no
 * bid recognises: one part a line, "NAME OFFSET SIZE [FORMAT]", numbers in
 * decimal or 0x hex with an optional K/M/G suffix, SIZE "rest" for up to
 * the next part (or the end), FORMAT "auto" (the default: found by
 * content) or "data" (copied, never opened); '#' starts a comment.  The
 * parts keep their offsets and the file its size; a part that grew must
 * fit before the next one (or the end of the file, unless it ended the
 * file: then the file grows), its old place is filled with the byte that
 * filled the gap after it (0xff when there was none; the file's last byte
 * for the last part).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer.h"
#include "format.h"

#define MAX_PARTS 64

struct lpart {
	char name[64];
	uint64_t off, size;
	int rest, data;
};

struct layout {
	struct lpart v[MAX_PARTS];
	int n;
};

static int number(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'K': case 'k': x <<= 10; end++; break;
	case 'M': case 'm': x <<= 20; end++; break;
	case 'G': case 'g': x <<= 30; end++; break;
	}
	if (*end)
		return -1;
	*v = x;
	return 0;
}

static int cmp_off(const void *a, const void *b)
{
	const struct lpart *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static int parse(const char *file, uint64_t len, struct layout *l,
		 struct fw_error *err)
{
	char line[512];
	FILE *f = fopen(file, "re");
	int ln = 0;

	if (!f)
		return fw_error_set(err, FW_EUSAGE, file, "cannot open layout: "
				    "%s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char name[64], off[64], size[64], fmt[64], extra[8];
		char *hash = strchr(line, '#');
		struct lpart *p;
		int k;

		ln++;
		if (hash)
			*hash = '\0';
		k = sscanf(line, "%63s %63s %63s %63s %7s", name, off, size,
			   fmt, extra);
		if (k <= 0)
			continue;
		if (k < 3 || k > 4)
			goto bad;
		if (l->n == MAX_PARTS) {
			fclose(f);
			return fw_error_set(err, FW_EUSAGE, file, "more than "
					    "%d parts", MAX_PARTS);
		}
		p = &l->v[l->n];
		memset(p, 0, sizeof(*p));
		snprintf(p->name, sizeof(p->name), "%s", name);
		if (number(off, &p->off))
			goto bad;
		if (!strcmp(size, "rest"))
			p->rest = 1;
		else if (number(size, &p->size))
			goto bad;
		if (k == 4 && strcmp(fmt, "auto") && strcmp(fmt, "data"))
			goto bad;
		p->data = k == 4 && !strcmp(fmt, "data");
		for (char *c = p->name; *c; c++)
			if (*c == '/' || !isprint((unsigned char)*c))
				goto bad;
		l->n++;
	}
	fclose(f);
	if (!l->n)
		return fw_error_set(err, FW_EUSAGE, file, "no parts in it");
	qsort(l->v, (size_t)l->n, sizeof(l->v[0]), cmp_off);
	for (int i = 0; i < l->n; i++) {
		struct lpart *p = &l->v[i];
		uint64_t lim = i + 1 < l->n ? l->v[i + 1].off : len;

		if (p->rest)
			p->size = lim > p->off ? lim - p->off : 0;
		if (p->off > len || p->size > len - p->off)
			return fw_error_set(err, FW_EUSAGE, file, "part '%s' "
					    "lies past the end of the input "
					    "(%llu bytes)", p->name,
					    (unsigned long long)len);
	}
	return FW_OK;
bad:
	fclose(f);
	return fw_error_set(err, FW_EUSAGE, file, "line %d: want NAME OFFSET "
			    "SIZE|rest [auto|data]", ln);
}

static int lay_bid(const uint8_t *p, size_t len, const struct fw_node *parent)
{
	(void)p;
	(void)len;
	(void)parent;
	return 0;	/* only by --layout */
}

static int lay_open(struct fw_node *n, struct fw_error *err)
{
	struct layout *l = calloc(1, sizeof(*l));
	int rc;

	if (!l)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	n->priv = l;
	rc = parse(fw_node_layout_file(n), n->len, l, err);
	if (rc)
		return rc;
	for (int i = 0; i < l->n; i++) {
		struct fw_node *c = fw_node_part(n, l->v[i].name, l->v[i].off,
						 l->v[i].size, err);

		if (!c)
			return err->code;
		c->opaque = l->v[i].data;
	}
	snprintf(n->desc, sizeof(n->desc), "%d parts from %s", l->n,
		 fw_node_layout_file(n));
	return FW_OK;
}

static int lay_rebuild(struct fw_node *n, struct fw_error *err)
{
	struct layout *l = n->priv;
	struct fw_out *o = &n->out;
	uint64_t at = 0;

	for (int i = 0; i < l->n; i++) {
		const struct lpart *p = &l->v[i];
		const struct fw_node *c = n->part[i];
		uint64_t next = i + 1 < l->n ? l->v[i + 1].off : n->len;
		uint64_t end = p->off + p->size, cur;
		uint8_t fill = end < next ? n->p[end] : 0xff;

		if (fw_out_add(o, n->p + at, p->off - at) ||
		    fw_out_cat(o, &c->out))
			goto oom;
		cur = p->off + c->out.len;
		if (i + 1 == l->n && end == n->len) {
			/* it ended the file: the file keeps its size when the
			 * part fits, filled with the byte the file ended in,
			 * and grows when it does not */
			if (cur < n->len &&
			    fw_out_fill(o, n->p[n->len - 1], n->len - cur))
				goto oom;
			at = n->len;
			continue;
		}
		if (cur > next)
			return fw_node_error(c, err, FW_EINPUT, "part grew to "
					     "%llu bytes, past %s at 0x%llx: "
					     "%llu bytes missing",
					     (unsigned long long)c->out.len,
					     i + 1 < l->n ? "the next part" :
							    "the end of the file",
					     (unsigned long long)next,
					     (unsigned long long)(cur - next));
		if (c->out.len == p->size) {
			at = end;
			continue;
		}
		if (fw_out_fill(o, fill, next - cur))
			goto oom;
		at = next;
	}
	if (at < n->len && fw_out_add(o, n->p + at, n->len - at))
		goto oom;
	return FW_OK;
oom:
	return fw_error_set(err, FW_EIO, NULL, "out of memory");
}

const struct fw_layer fw_layer_layout = {
	.name = "layout",
	.kind = FW_LK_CONTAINER,
	.bid = lay_bid,
	.open = lay_open,
	.rebuild = lay_rebuild,
};
