// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A legacy flash image: a uImage kernel at 0, then the root filesystem at
 * an erase-block boundary, the gap filled with one byte (0xff or 0), and
 * perhaps padding to a fixed total size.  The rootfs stays where it is (the
 * bootloader and the kernel's partition table expect it there): a kernel
 * that grew past it is an error.  Padding after the rootfs keeps the total
 * size, so a rootfs that grew must fit in it; without padding the image
 * grows, to the alignment the input had.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "format.h"

struct flash {
	uint64_t kend;		/* end of the uImage */
	uint64_t root;		/* offset of the rootfs */
	uint64_t rend;		/* end of its bytes */
	uint8_t fill;
	int padded;		/* fill from rend to the end */
	uint64_t align;		/* of the image length, when not padded */
};

/* Bytes of the filesystem at p (its own idea of its size), 0: none. */
static uint64_t fs_size(const uint8_t *p, uint64_t len)
{
	if (len >= 96 && !memcmp(p, "hsqs", 4)) {
		uint64_t used = fw_le64(p + 40);

		return used && used <= len ? used : 0;
	}
	if (len >= 2048 && p[1024 + 0x38] == 0x53 && p[1024 + 0x39] == 0xef &&
	    p[1024 + 24] <= 6) {
		uint64_t blocks = fw_le32(p + 1024 + 4);
		uint64_t bs = 1024ull << p[1024 + 24];

		return blocks * bs <= len ? blocks * bs : 0;
	}
	return 0;
}

static int find(const uint8_t *p, size_t len, struct flash *f)
{
	uint64_t kend = fw_uimage_size(p, len);

	memset(f, 0, sizeof(*f));
	if (!kend || kend == len)
		return 0;
	/* erase blocks of 4 KiB to 256 KiB, the smallest that holds one */
	for (uint64_t a = 4096; a <= 262144; a *= 2) {
		uint64_t off = (kend + a - 1) & ~(a - 1), used;

		if (off >= len)
			break;
		used = fs_size(p + off, len - off);
		if (!used)
			continue;
		f->kend = kend;
		f->root = off;
		f->rend = off + used;
		f->fill = off > kend ? p[kend] : 0xff;
		for (uint64_t i = kend; i < off; i++)
			if (p[i] != f->fill)
				return 0;
		/* the filesystem's own padding (mksquashfs: zeros to 4 KiB) */
		for (uint64_t e = (f->rend + 4095) & ~4095ull;
		     e <= len && f->rend < e && !p[f->rend];)
			if (++f->rend == e)
				break;
		if (f->rend & 4095)
			f->rend = off + used;
		f->padded = f->rend < len;
		for (uint64_t i = f->rend; i < len && f->padded; i++)
			f->padded = p[i] == p[f->rend];
		f->align = 1;
		while (f->align < 65536 && !(len % (f->align * 2)))
			f->align *= 2;
		return 1;
	}
	return 0;
}

static int fl_bid(const uint8_t *p, size_t len, const struct fw_node *parent)
{
	struct flash f;

	(void)parent;
	return find(p, len, &f) ? 170 : 0;
}

static int fl_open(struct fw_node *n, struct fw_error *err)
{
	struct flash *f = calloc(1, sizeof(*f));

	if (!f)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	n->priv = f;
	if (!find(n->p, n->len, f))
		return fw_node_error(n, err, FW_EINPUT, "not a flash layout");
	if (!fw_node_part(n, "kernel", 0, f->kend, err) ||
	    !fw_node_part(n, "rootfs", f->root, f->rend - f->root, err))
		return err->code;
	if (!f->padded && f->rend < n->len &&
	    !fw_node_part(n, "tail", f->rend, n->len - f->rend, err))
		return err->code;
	snprintf(n->desc, sizeof(n->desc), "kernel + rootfs at 0x%llx, "
		 "fill 0x%02x%s", (unsigned long long)f->root, f->fill,
		 f->padded ? ", padded to a fixed size" : "");
	return FW_OK;
}

static int fl_rebuild(struct fw_node *n, struct fw_error *err)
{
	struct flash *f = n->priv;
	struct fw_out *o = &n->out;
	const struct fw_out *k = &n->part[0]->out, *r = &n->part[1]->out;
	uint64_t end;

	if (k->len > f->root)
		return fw_node_error(n->part[0], err, FW_EINPUT, "the kernel "
				     "grew to %llu bytes, past the rootfs at "
				     "0x%llx: %llu bytes missing",
				     (unsigned long long)k->len,
				     (unsigned long long)f->root,
				     (unsigned long long)(k->len - f->root));
	if (fw_out_cat(o, k) || fw_out_fill(o, f->fill, f->root - k->len) ||
	    fw_out_cat(o, r))
		goto oom;
	end = o->len;
	if (f->padded) {
		if (end > n->len)
			return fw_node_error(n->part[1], err, FW_EINPUT,
					     "the signed rootfs (%llu bytes) "
					     "no longer fits its partition of "
					     "%llu bytes at 0x%llx: %llu bytes "
					     "missing; signatures added %lld",
					     (unsigned long long)r->len,
					     (unsigned long long)(n->len - f->root),
					     (unsigned long long)f->root,
					     (unsigned long long)(end - n->len),
					     (long long)(r->len -
							 (f->rend - f->root)));
		if (fw_out_fill(o, n->p[f->rend], n->len - end))
			goto oom;
	} else if (n->n_part > 2) {
		if (fw_out_cat(o, &n->part[2]->out))
			goto oom;
	} else if (f->align > 1 &&
		   fw_out_fill(o, f->fill, (f->align - end % f->align) %
					   f->align)) {
		goto oom;
	}
	return FW_OK;
oom:
	return fw_error_set(err, FW_EIO, NULL, "out of memory");
}

const struct fw_layer fw_layer_flash = {
	.name = "flash-image",
	.kind = FW_LK_CONTAINER,
	.bid = fl_bid,
	.open = fl_open,
	.rebuild = fl_rebuild,
};
