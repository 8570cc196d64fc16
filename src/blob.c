// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * One file's bytes: unwrap a compressed module, find an old trailer,
 * classify the content and sign or verify it.  Compressed files are only
 * touched when they hold a kernel module: a gzip'ed executable is data.
 */
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "codec.h"
#include "signer_int.h"
#include "bytes.h"
#include "fw_limits.h"


static void set_msg(struct fw_record *rec, const char *msg)
{
	free(rec->msg);
	rec->msg = fw_strdup(msg);
}

/*
 * A compressed file is worth decompressing whole only when its first bytes
 * are those of a relocatable ELF (a module): most are compressed data.
 * The start of the stream is usually enough to tell (FW_PEEK_LEN).
 */
int fw_blob_maybe_module(const uint8_t *in, size_t len)
{
	uint8_t h[18];
	unsigned type;

	/* Too little to tell (zstd decodes whole blocks): maybe. */
	if (fw_decompress_head(fw_codec_detect(in, len), in, len, h,
			       sizeof(h)) < sizeof(h))
		return 1;
	if (memcmp(h, "\x7f" "ELF", 4) != 0)
		return 0;
	type = h[5] == 2 ? fw_be16(h + 16) : fw_le16(h + 16);
	return type == 1;	/* ET_REL */
}

/*
 * The plain view of a file: *raw is in itself or a decompressed copy
 * (*owned set), *content_len excludes any signature trailer that parses.
 */
static void unwrap(const uint8_t *in, size_t len, struct fw_codec_params *cp,
		  uint8_t **owned, const uint8_t **raw, size_t *raw_len,
		  size_t *content_len, int *had_sig, struct fw_record *rec)
{
	struct fw_modsig ms;
	char why[160];
	int rc;

	*owned = NULL;
	*raw = in;
	*raw_len = len;
	memset(cp, 0, sizeof(*cp));
	if (fw_codec_detect(in, len) != FW_CODEC_NONE &&
	    fw_blob_maybe_module(in, len)) {
		uint8_t *d;
		size_t dlen;
		struct fw_elf_info ei;

		if (fw_decompress(in, len, FW_DECOMPRESS_MAX, cp, &d, &dlen, why,
				  sizeof(why)) == 0) {
			size_t clen = dlen;

			if (fw_modsig_find(d, dlen, &ms, why, sizeof(why)) == 1)
				clen = ms.content_len;
			fw_elf_classify(d, clen, &ei);
			if (ei.kind == FW_KIND_MODULE) {
				*owned = d;
				*raw = d;
				*raw_len = dlen;
				rec->codec = fw_codec_name(cp->codec);
			} else {
				free(d);
				cp->codec = FW_CODEC_NONE;
			}
		} else {
			cp->codec = FW_CODEC_NONE;
		}
	}
	*content_len = *raw_len;
	*had_sig = 0;
	rc = fw_modsig_find(*raw, *raw_len, &ms, why, sizeof(why));
	if (rc == 1) {
		*content_len = ms.content_len;
		*had_sig = 1;
	}
	fw_elf_classify(*raw, *content_len, &rec->elf);
	if (rc < 0 && rec->elf.kind != FW_KIND_NOT_ELF) {
		/* A trailer that does not parse is content: a new signature
		 * covers it too (the kernel reads only the last trailer). */
		char msg[256];

		snprintf(msg, sizeof(msg), "a damaged signature trailer (%s) "
			 "is kept as content and signed over", why);
		set_msg(rec, msg);
	}
}

void fw_blob_scan(const uint8_t *in, size_t len, struct fw_record *rec)
{
	struct fw_codec_params cp;
	uint8_t *owned;
	const uint8_t *raw;
	size_t raw_len, clen;
	int had_sig;

	unwrap(in, len, &cp, &owned, &raw, &raw_len, &clen, &had_sig, rec);
	if (rec->elf.kind == FW_KIND_MALFORMED)
		set_msg(rec, rec->elf.why);
	free(owned);
}

int fw_blob_sign(struct fw_signer *s, int sign_other, const uint8_t *in,
		 size_t len, const struct fw_seg *seg, size_t n_seg,
		 struct fw_signed *out, struct fw_record *rec,
		 struct fw_error *err)
{
	struct fw_codec_params cp;
	uint8_t *owned, *trailer = NULL, *whole = NULL;
	const uint8_t *raw;
	size_t raw_len, clen, tlen;
	int had_sig, rc = FW_OK;
	char why[160];

	memset(out, 0, sizeof(*out));
	rec->action = FW_ACT_NONE;
	rec->result = FW_RES_OK;
	unwrap(in, len, &cp, &owned, &raw, &raw_len, &clen, &had_sig, rec);
	if (rec->elf.kind == FW_KIND_MALFORMED) {
		rec->action = FW_ACT_SKIP;
		rec->result = FW_RES_WARN;
		set_msg(rec, rec->elf.why);
		goto done;
	}
	if (rec->elf.kind == FW_KIND_NOT_ELF)
		goto done;
	if (!fw_kind_signable(rec->elf.kind, sign_other)) {
		rec->action = FW_ACT_SKIP;
		set_msg(rec, "not signed by default (other ELF files on request)");
		goto done;
	}
	const struct fw_seg all = { raw, raw_len, NULL, NULL };

	if (seg && raw != in) {
		/* a sparse view is only handed out for a plain ELF file */
		rc = fw_error_set(err, FW_EIO, NULL,
				  "internal error: compressed sparse view");
		goto done;
	}
	if (!seg) {
		seg = &all;
		n_seg = 1;
	}
	rc = fw_sign_trailer_segs_md(s, seg, n_seg, clen, &trailer, &tlen,
				     out->md, &out->md_len, err);
	if (rc)
		goto done;
	if (cp.codec == FW_CODEC_NONE) {
		/* The content stays where it is; only the trailer is new. */
		out->keep = clen;
		out->tail = trailer;
		out->tail_len = tlen;
		trailer = NULL;
	} else {
		whole = malloc(clen + tlen);
		if (!whole) {
			rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
			goto done;
		}
		memcpy(whole, raw, clen);
		memcpy(whole + clen, trailer, tlen);
		if (fw_compress(&cp, whole, clen + tlen, &out->tail,
				&out->tail_len, why, sizeof(why))) {
			rc = fw_error_set(err, FW_EIO, NULL, "recompress: %s", why);
			goto done;
		}
	}
	rec->action = had_sig ? FW_ACT_RESIGN : FW_ACT_SIGN;
	rec->bytes_added = (int64_t)(out->keep + out->tail_len) - (int64_t)len;
done:
	if (rc)
		rec->result = FW_RES_ERROR;
	free(whole);
	free(trailer);
	free(owned);
	return rc;
}

void fw_blob_verify(struct fw_verifier *v, int sign_other, const uint8_t *in, size_t len,
		    struct fw_record *rec)
{
	struct fw_codec_params cp;
	uint8_t *owned;
	const uint8_t *raw;
	size_t raw_len, clen;
	int had_sig;
	char why[200];

	rec->sig = FW_SIG_NONE;
	rec->result = FW_RES_OK;
	unwrap(in, len, &cp, &owned, &raw, &raw_len, &clen, &had_sig, rec);
	if (rec->elf.kind == FW_KIND_MALFORMED) {
		rec->result = FW_RES_WARN;
		set_msg(rec, rec->elf.why);
		goto done;
	}
	if (!fw_kind_signable(rec->elf.kind, sign_other))
		goto done;
	rec->sig = fw_verify_buffer(v, raw, raw_len, why, sizeof(why));
	if (rec->sig != FW_SIG_GOOD) {
		rec->result = FW_RES_ERROR;
		if (why[0])
			set_msg(rec, why);
	}
done:
	free(owned);
}
