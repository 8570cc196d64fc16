/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What changed between two inputs fwsign reads (trees, filesystem images,
 * archives, vendor blobs and the layers in them): every path classified,
 * and whether the only changes are signatures and what they imply (new
 * checksums and sizes of the layers around them, the vendor certificate in
 * a kernel's slot).
 */
#ifndef FWSIGN_DIFF_H
#define FWSIGN_DIFF_H

#include <stdio.h>

#include "fwsign/fwsign.h"

#ifdef __cplusplus
extern "C" {
#endif

enum fw_change {
	FW_CH_SIG_ADDED,	/* the same content, a signature appended */
	FW_CH_SIG_REPLACED,	/* the same content, another trailer */
	FW_CH_CERT,		/* a kernel: only its certificate slot */
	FW_CH_LAYER,		/* a wrapper: only what its parts imply */
	FW_CH_CONTENT,		/* other bytes */
	FW_CH_METADATA,		/* mode, owner, times, xattrs, link target */
	FW_CH_TYPE,		/* file, directory, symlink, ... */
	FW_CH_ADDED,
	FW_CH_REMOVED,
	FW_CH_FIELD,		/* a filesystem's or a wrapper's own field */
	FW_CH_IMA,		/* security.ima set to an IMA signature */
	FW_CH_N
};

struct fw_change_rec {
	enum fw_change kind;
	char *path;		/* parts '/', then ':' and the file's path */
	char *detail;		/* what, from what to what */
};

struct fw_diff {
	struct fw_change_rec *v;
	size_t n;
	size_t counts[FW_CH_N];
	size_t unchanged;	/* files with nothing changed */
	int only_signatures;	/* every change is a signature or implied */
};

/* 1 for the kinds that signing makes (and that it implies). */
FW_API int fw_change_expected(enum fw_change k);
FW_API const char *fw_change_name(enum fw_change k);

FW_API int fw_diff(const char *old_path, const char *new_path,
		   struct fw_diff *d, struct fw_error *err);
FW_API void fw_diff_free(struct fw_diff *d);
FW_API void fw_diff_json(const struct fw_diff *d, const char *old_path,
			 const char *new_path, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
