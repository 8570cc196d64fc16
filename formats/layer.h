/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Nested layers: a vendor blob is a tree of nodes.  A node is a byte range
 * (in its parent's bytes, or bytes it decoded) plus the layer that bid on
 * it: a container (parts at offsets: fwtool trailers, a sysupgrade tar, a
 * FIT, a uImage, a flash layout, TRX, CHK), a stream (one decoded child), a
 * filesystem or archive (signed by the engine through the formats of
 * format.h), a kernel (a leaf with a certificate slot) or data (copied).
 *
 * Every layer bids on bytes; the highest bid opens the node.  A container's
 * open adds its parts with fw_node_part(); stack.c then bids on each part,
 * recursively, with a depth limit and a loop check.  Writing is bottom-up:
 * each changed leaf gets new bytes, and each container whose parts changed
 * is asked to rebuild itself around them (fit, move, pad, fix its lengths
 * and checksums) or to refuse with the part's path and the bytes missing.
 * A new wrapper is one file in formats/ plus one line in stack.c's list.
 */
#ifndef FWSIGN_LAYER_H
#define FWSIGN_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "fwsign/fwsign.h"
#include "../src/bytes.h"
#include "../src/fw_limits.h"

/* Output bytes as a list of pieces, so that big parts are never copied. */
struct fw_piece {
	const uint8_t *p;	/* NULL: len bytes of fill */
	uint64_t len;
	uint8_t fill;
};

struct fw_out {
	struct fw_piece *v;
	size_t n, cap;
	uint64_t len;
	void **own;		/* buffers freed with the node */
	size_t n_own;
};

int fw_out_add(struct fw_out *o, const void *p, uint64_t len);
int fw_out_fill(struct fw_out *o, uint8_t byte, uint64_t len);
/* Adds a copy of len bytes (small headers); the node's out owns it. */
int fw_out_dup(struct fw_out *o, const void *p, uint64_t len);
/* Hands buf to o to free (buf may be added as pieces before or after). */
int fw_out_own(struct fw_out *o, void *buf);
int fw_out_cat(struct fw_out *o, const struct fw_out *from);
void fw_out_free(struct fw_out *o);
/* Copies bytes [off, off + n) of o into buf. */
void fw_out_read(const struct fw_out *o, uint64_t off, void *buf, size_t n);
/* Feeds bytes [off, off + n) of o to fn. */
void fw_out_each(const struct fw_out *o, uint64_t off, uint64_t n,
		 void (*fn)(void *arg, const uint8_t *p, size_t len),
		 void *arg);
/* zlib's crc32 of n bytes, chained from crc (0 to start), any size. */
uint32_t fw_crc32(uint32_t crc, const uint8_t *p, uint64_t n);
/* zlib's crc32 of bytes [off, off + n) of o, chained from crc. */
uint32_t fw_out_crc32(const struct fw_out *o, uint64_t off, uint64_t n,
		      uint32_t crc);

enum fw_layer_kind {
	FW_LK_CONTAINER,
	FW_LK_STREAM,
	FW_LK_FS,
	FW_LK_KERNEL,
	FW_LK_DATA,
};

struct fw_node;
struct fw_stack;

struct fw_layer {
	const char *name;
	enum fw_layer_kind kind;
	/* 0: not this; higher is surer (FW_BID_MAX at most).  parent may be
	 * NULL (the whole input). */
	int (*bid)(const uint8_t *p, size_t len, const struct fw_node *parent);
	/* Parses the node; a container adds its parts (fw_node_part). */
	int (*open)(struct fw_node *n, struct fw_error *err);
	/* Some parts changed (each part's out holds its bytes now):
	 * fill n->out, or refuse naming the part and the bytes missing. */
	int (*rebuild)(struct fw_node *n, struct fw_error *err);
	/* Frees what open kept; NULL: n->priv is freed (one malloc'ed
	 * block, or NULL). */
	void (*close)(struct fw_node *n);
};

struct fw_node {
	const struct fw_layer *lay;	/* NULL: data, copied as it is */
	char *name;		/* its name in its parent */
	char *path;		/* names from the root, '/'-separated */
	const uint8_t *p;	/* its bytes */
	uint64_t len;
	uint64_t off;		/* where they lie in the parent's bytes;
				 * UINT64_MAX: decoded, not a range */
	uint64_t abs;		/* in the input, UINT64_MAX when decoded */
	struct fw_node *parent;
	struct fw_node **part;
	size_t n_part;
	struct fw_stack *stack;
	int depth;
	void *priv;		/* the layer's */
	char desc[256];		/* what the layer says of it ("crc32 ok, ...") */
	int bad;		/* a checksum in it does not match */
	int hint_kernel;	/* its container says it is a kernel */
	int opaque;		/* copied, never opened (layout "data") */
	/* During the walk: new bytes when changed; when a container is
	 * rebuilt, every part's out holds its bytes, new or not. */
	int changed;
	struct fw_out out;
	/* Leaves: what the walk did (stack.c). */
	void *leaf;
};

/* Adds a part of n: len bytes at off of n's bytes. */
struct fw_node *fw_node_part(struct fw_node *n, const char *name,
			     uint64_t off, uint64_t len, struct fw_error *err);
/* Adds a part whose bytes n decoded (n's priv keeps them alive). */
struct fw_node *fw_node_part_decoded(struct fw_node *n, const char *name,
				     const uint8_t *p, uint64_t len,
				     struct fw_error *err);
/* Error helper: "PATH: ..." about a node. */
int fw_node_error(const struct fw_node *n, struct fw_error *err, int code,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The stack's options a layer may need. */
int fw_node_drop_image_signature(const struct fw_node *n);
const char *fw_node_fit_keydir(const struct fw_node *n);
/* The usign secret key that re-signs an fwtool signature block (NULL:
 * not asked). */
const char *fw_node_usign_key(const struct fw_node *n);
const char *fw_node_layout_file(const struct fw_node *n);
/* Decoded bytes are budgeted over the whole tree (a stream in a stream in
 * ... cannot take all memory, FW_DECODE_LIMIT): records spent, returns
 * what is left. */
uint64_t fw_node_decode_budget(struct fw_node *n, uint64_t spent);

/* The tree's root (diff.c walks two trees side by side). */
struct fw_node *fw_stack_root(struct fw_stack *s);

/*
 * uimage.c: U-Boot legacy image headers, for the layer and for kernel.c.
 * check: magic, header CRC, size (and the data CRC when data is set); 0 or
 * -1 with why.  header: a new 64-byte header from the old one for new
 * data (ih_time from SOURCE_DATE_EPOCH when it is set).
 */
int fw_uimage_check(const uint8_t *p, size_t len, int data, char *why,
		    size_t why_len);
uint32_t fw_uimage_dcrc(const uint8_t *p, uint64_t n);
/* The size of the image a valid header describes: header + data. */
uint64_t fw_uimage_size(const uint8_t *p, size_t len);
void fw_uimage_header(uint8_t *h, const uint8_t *old, uint32_t size,
		      uint32_t dcrc);

/* The layers, one per file in formats/. */
extern const struct fw_layer fw_layer_fwtool, fw_layer_sysupgrade,
	fw_layer_uimage, fw_layer_fit, fw_layer_flash, fw_layer_trx,
	fw_layer_chk, fw_layer_layout, fw_layer_stream, fw_layer_disk,
	fw_layer_fat, fw_layer_ubi;

/* disk.c: whether p starts with an MBR (or a GPT's protective MBR), not
 * a FAT boot sector: for the stream layer's look at decoded bytes. */
int fw_disk_probe(const uint8_t *p, size_t len);

#endif
