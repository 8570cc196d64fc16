// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel's module-signature trailer:
 *   [content][PKCS#7 DER][struct module_signature][FW_MODSIG_MAGIC]
 * struct module_signature is 12 bytes: algo, hash, id_type, signer_len,
 * key_id_len, pad[3], be32 sig_len.  The checks mirror mod_check_sig().
 */
#include <stdio.h>
#include <string.h>

#include "fwsign/fwsign.h"
#include "bytes.h"

#define PKEY_ID_PKCS7 2

int fw_modsig_find(const uint8_t *buf, size_t len, struct fw_modsig *ms,
		   char *why, size_t why_len)
{
	const size_t tail = FW_MODSIG_INFO_LEN + FW_MODSIG_MAGIC_LEN;
	const uint8_t *info;
	size_t body, sig_len;

	if (len < FW_MODSIG_MAGIC_LEN ||
	    memcmp(buf + len - FW_MODSIG_MAGIC_LEN, FW_MODSIG_MAGIC,
		   FW_MODSIG_MAGIC_LEN) != 0)
		return 0;
	if (len < tail) {
		snprintf(why, why_len, "signature trailer truncated");
		return -1;
	}
	body = len - tail;
	info = buf + body;
	sig_len = fw_be32(info + 8);
	/* mod_check_sig(): sig_len >= file_len - sizeof(*ms) is rejected */
	if (sig_len == 0 || sig_len >= body) {
		snprintf(why, why_len, "signature length %zu out of bounds",
			 sig_len);
		return -1;
	}
	if (info[2] != PKEY_ID_PKCS7) {
		snprintf(why, why_len, "not a PKCS#7 signature (id_type %u)",
			 info[2]);
		return -1;
	}
	if (info[0] || info[1] || info[3] || info[4] || info[5] || info[6] ||
	    info[7]) {
		snprintf(why, why_len,
			 "signature info has unexpected non-zero fields");
		return -1;
	}
	ms->content_len = body - sig_len;
	ms->sig_off = ms->content_len;
	ms->sig_len = sig_len;
	memcpy(ms->info, info, FW_MODSIG_INFO_LEN);
	return 1;
}
