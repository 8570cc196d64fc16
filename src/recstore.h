/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A report's records, out of memory (issue #18): fixed-size slots in one
 * unlinked temporary file, their strings (path, message, hard-link name)
 * appended to another, and a small window of decoded records for
 * fw_report_rec.  A record costs the process no memory per file.
 */
#ifndef FWSIGN_RECSTORE_H
#define FWSIGN_RECSTORE_H

#include <stddef.h>

#include "fwsign/fwsign.h"

/* The report's store, made on first use; 0 or an FW_ error. */
int fw_recstore_ensure(struct fw_report *rep, struct fw_error *err);
/*
 * Writes record i (it may be rewritten, last write wins; i == rep->n
 * appends).  The strings are copied.  Thread-safe for distinct i.
 */
int fw_recstore_put(struct fw_report *rep, size_t i,
		    const struct fw_record *rec, struct fw_error *err);
/* Record i into *rec, its strings malloc'ed (fw_record_clear frees). */
int fw_recstore_get(const struct fw_report *rep, size_t i,
		    struct fw_record *rec, struct fw_error *err);
void fw_record_clear(struct fw_record *rec);
void fw_recstore_free(struct fw_recstore *s);

#endif
