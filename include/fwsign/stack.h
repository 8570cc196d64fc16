/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Vendor blobs: an input that is a tree of nested layers (fwtool trailers
 * around a sysupgrade tar around a FIT around a compressed kernel, a flash
 * image of a uImage and a squashfs, TRX inside CHK, ...).  fw_stack_open
 * finds the tree by content; sign signs every filesystem and archive in it
 * and puts the certificate in every kernel in it, then rebuilds every layer
 * around its changed parts with its lengths and checksums right.
 */
#ifndef FWSIGN_STACK_H
#define FWSIGN_STACK_H

#include <stdint.h>
#include <stdio.h>

#include "fwsign/fwsign.h"

#ifdef __cplusplus
extern "C" {
#endif

struct fw_stack_opts {
	const char *input;
	const char *output;		/* sign: the new blob (must not exist) */
	const char *layout;		/* a layout file for an unknown wrapper */
	struct fw_signer *signer;	/* sign */
	struct fw_verifier *verifier;	/* verify */
	const char *cert;		/* the certificate for the kernels */
	int jobs;
	int sign_other;
	int dry_run;
	int no_inject_cert;		/* leave the kernels alone */
	int skip_kernels_without_slot;	/* else a kernel without one is an error */
	int drop_image_signature;	/* fwtool: drop a usign signature block */
	const char *fit_keydir;		/* re-sign FIT signature nodes (mkimage -k) */
	const char *usign_key;		/* re-sign an fwtool signature block with
					 * this usign secret key file */
	uint64_t max_size;
	/* a dm-verity tree after every squashfs and ext2/3/4 signed (see
	 * fwsign/verity.h); salt NULL: each derived from its image */
	int verity;
	const uint8_t *verity_salt;
	size_t verity_salt_len;
	fw_progress_fn progress;
	void *progress_arg;
	int ima;			/* as struct fw_run_opts */
	int ima_modules;
	struct fw_cache *cache;		/* as struct fw_run_opts */
};

struct fw_stack;

/* Opens the tree of input.  Cheap for an input that is not a blob. */
FW_API int fw_stack_open(const struct fw_stack_opts *o, struct fw_stack **out,
			 struct fw_error *err);
/* 1 when the input is a blob of layers (its top is a wrapper), 0 when it
 * is a plain filesystem, archive, kernel or file for the other calls. */
FW_API int fw_stack_composite(const struct fw_stack *s);
/* 1 when the blob is just a uImage around a kernel. */
FW_API int fw_stack_lone_kernel(const struct fw_stack *s);
FW_API int fw_stack_sign(struct fw_stack *s, struct fw_error *err);
FW_API int fw_stack_verify(struct fw_stack *s, struct fw_error *err);
FW_API int fw_stack_scan(struct fw_stack *s, struct fw_error *err);
/*
 * Calls fn once per filesystem or archive in the tree, in the tree's
 * order, with the part's path and a private temporary copy of its bytes
 * (removed after fn returns); stops at fn's first error.
 */
typedef int (*fw_stack_fs_fn)(void *arg, const char *part, const char *file,
			      struct fw_error *err);
FW_API int fw_stack_each_fs(struct fw_stack *s, fw_stack_fs_fn fn, void *arg,
			    struct fw_error *err);
/* After sign with verity: fn once per filesystem that got a tree, in the
 * tree's order, with the part's path; stops at fn's first error. */
struct fw_verity_info;
typedef int (*fw_stack_verity_fn)(void *arg, const char *part,
				  const struct fw_verity_info *vi,
				  struct fw_error *err);
FW_API int fw_stack_each_verity(struct fw_stack *s, fw_stack_verity_fn fn,
				void *arg, struct fw_error *err);
/* What the walk found, per file of every filesystem (paths prefixed by
 * the part's path and ':'), summed. */
FW_API const struct fw_report *fw_stack_report(const struct fw_stack *s);
/* Kernels: how many, how many hold the certificate (after sign: got it). */
FW_API void fw_stack_kernels(const struct fw_stack *s, size_t *n,
			     size_t *with_cert, size_t *without_slot);
/* Layers whose checksums do not match (input damaged). */
FW_API size_t fw_stack_bad(const struct fw_stack *s);
/* The tree, as text or JSON (an object with "tree", then the report). */
FW_API void fw_stack_print(const struct fw_stack *s, FILE *f);
FW_API void fw_stack_json(const struct fw_stack *s, const char *command,
			  FILE *f);
FW_API void fw_stack_close(struct fw_stack *s);

#ifdef __cplusplus
}
#endif
#endif
