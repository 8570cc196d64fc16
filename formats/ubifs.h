/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * UBIFS on-disk facts (the kernel's fs/ubifs/ubifs-media.h, little-endian,
 * offsets into a node) and what the reader (ubifs.c) shares with the
 * writer (ubifs_write.c).
 */
#ifndef FWSIGN_UBIFS_H
#define FWSIGN_UBIFS_H

#include <stdint.h>

#include "format.h"

#define UB_MAGIC 0x06101831u
#define UB_CH_SZ 24		/* magic, crc, sqnum, len, type, group, pad */
#define UB_SB_MIN 4096		/* the superblock node */
#define UB_MST_SZ 512
#define UB_CS_SZ 32
#define UB_REF_SZ 64
#define UB_INO_SZ 160		/* then data: symlink target, device, xattr value */
#define UB_DATA_SZ 48
#define UB_DENT_SZ 56		/* then the name and a NUL */
#define UB_SK_LEN 8		/* keys in index branches */
#define UB_BLOCK 4096
#define UB_ROOT_INO 1
#define UB_MST_LNUM 1
#define UB_LOG_LNUM 3
#define UB_PAD_SZ 28
#define UB_TRUN_SZ 56
#define UB_PAD_BYTE 0xce
#define UB_MST_DIRTY 1u

enum { UB_INO_NODE, UB_DATA_NODE, UB_DENT_NODE, UB_XENT_NODE, UB_TRUN_NODE,
       UB_PAD_NODE, UB_SB_NODE, UB_MST_NODE, UB_REF_NODE, UB_IDX_NODE,
       UB_CS_NODE, UB_ORPH_NODE };
enum { UB_KEY_INO, UB_KEY_DATA, UB_KEY_DENT, UB_KEY_XENT };
#define UB_KEY_BITS 29
#define UB_KEY_MASK 0x1fffffffu
enum { UB_COMPR_NONE, UB_COMPR_LZO, UB_COMPR_ZLIB, UB_COMPR_ZSTD,
       UB_COMPR_CNT };
#define UB_FLG_BIGLPT 0x02u
#define UB_FLG_SPACE_FIXUP 0x04u
#define UB_FLG_DOUBLE_HASH 0x08u
#define UB_FLG_ENCRYPTION 0x10u
#define UB_FLG_AUTHENTICATION 0x20u
#define UB_XATTR_FL 0x20u	/* inode flag: the inode is an xattr's */

struct ub_super {
	uint8_t key_hash, key_fmt;
	uint32_t flags, min_io, leb_size, leb_cnt, max_leb_cnt;
	uint64_t max_bud_bytes;
	uint32_t log_lebs, lpt_lebs, orph_lebs, jhead_cnt, fanout, lsave_cnt;
	uint32_t fmt_version;
	uint16_t default_compr;
	uint32_t rp_uid, rp_gid;
	uint64_t rp_size;
	uint32_t time_gran;
	uint8_t uuid[16];
	uint32_t ro_compat;
};

/* An index leaf: a node in the mapped image and its key. */
struct ub_leaf {
	uint64_t inum;
	uint32_t type;		/* UB_KEY_* */
	uint32_t low;		/* block number or name hash */
	const uint8_t *node;
	uint64_t sqnum;		/* 0: from the index; else the journal's */
};

/* What the journal (the buds the log names) records since the commit. */
struct ub_jop {
	uint64_t sqnum;
	int kind;		/* UB_JOP_* */
	struct ub_leaf leaf;	/* ADD: the node; DEL_NM: the key and name */
	uint32_t min_blk, max_blk;	/* TRUN: the data blocks cut */
};
enum { UB_JOP_ADD, UB_JOP_DEL_INO, UB_JOP_DEL_NM, UB_JOP_TRUN };

struct ub_priv {
	const char *name;	/* the input, for messages */
	const uint8_t *map;
	uint64_t size;
	struct ub_super sb;
	uint32_t leb_size, leb_cnt;	/* LEBs present in the image */
	const uint8_t *mst;
	uint64_t highest_inum;
	uint32_t log_lnum, root_lnum, root_offs, root_len;
	struct ub_leaf *leaf;	/* sorted by key after open */
	size_t n_leaf, cap_leaf, n_idx;
	uint64_t budget;	/* node bytes node_at may still check */
	uint64_t max_sqnum;	/* the highest of the nodes checked */
	uint64_t cs_sqnum;	/* the commit start node's */
	uint32_t main_first;
	struct ub_jop *jop;	/* the journal, in log order */
	size_t n_jop, cap_jop;
	uint64_t bud_bytes;	/* LEB bytes the buds take, as the kernel counts */
	uint64_t *ent_inum;	/* each entry's inode number */
	size_t cap_inum;
};

uint32_t ub_crc(const uint8_t *p, size_t n);
size_t ub_find(const struct ub_priv *p, uint64_t inum, uint32_t type);
const uint8_t *ub_inode(const struct ub_priv *p, uint64_t inum);
int ub_read_inum(struct ub_priv *p, uint64_t inum, uint8_t **buf,
		 size_t *len, const char *path, struct fw_error *err);
uint32_t ub_key_hash(const struct ub_priv *p, const char *name, size_t len);
int ub_xattrs_inum(struct ub_priv *p, uint64_t inum, struct fw_xattr **v,
		   size_t *n, const char *path, struct fw_error *err);

/* ubifs_write.c */
int ub_out_begin(struct fw_image *img, const struct fw_out_opts *o,
		 void **ctx, struct fw_error *err);
int ub_out_put(void *ctx, size_t idx, const uint8_t *data, size_t len,
	       struct fw_error *err);
int ub_out_xattr(void *ctx, size_t idx, const struct fw_xattr *x,
		 struct fw_error *err);
int ub_out_commit(void *ctx, struct fw_error *err);
void ub_out_abort(void *ctx);

#endif
