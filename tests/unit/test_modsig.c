// SPDX-License-Identifier: GPL-2.0-or-later
/* The trailer parser against the kernel's mod_check_sig() rules. */
#include <string.h>

#include "fwsign/fwsign.h"
#include "t.h"

static size_t make(uint8_t *b, size_t content, size_t sig, const uint8_t *info_over)
{
	uint8_t *info;

	memset(b, 'A', content);
	memset(b + content, 0x30, sig);
	info = b + content + sig;
	memset(info, 0, FW_MODSIG_INFO_LEN);
	info[2] = 2;
	info[8] = (uint8_t)(sig >> 24);
	info[9] = (uint8_t)(sig >> 16);
	info[10] = (uint8_t)(sig >> 8);
	info[11] = (uint8_t)sig;
	if (info_over)
		memcpy(info, info_over, FW_MODSIG_INFO_LEN);
	memcpy(info + FW_MODSIG_INFO_LEN, FW_MODSIG_MAGIC, FW_MODSIG_MAGIC_LEN);
	return content + sig + FW_MODSIG_INFO_LEN + FW_MODSIG_MAGIC_LEN;
}

int main(void)
{
	static uint8_t b[70000];
	struct fw_modsig ms;
	char why[128];
	size_t n;
	int rc;

	n = make(b, 100, 50, NULL);
	rc = fw_modsig_find(b, n, &ms, why, sizeof(why));
	CHECK(rc == 1, "rc %d %s", rc, why);
	CHECK(ms.content_len == 100 && ms.sig_off == 100 && ms.sig_len == 50,
	      "%zu %zu %zu", ms.content_len, ms.sig_off, ms.sig_len);

	/* no magic */
	CHECK(fw_modsig_find(b, 100, &ms, why, sizeof(why)) == 0, "plain");
	CHECK(fw_modsig_find(b, 0, &ms, why, sizeof(why)) == 0, "empty");

	/* magic only: shorter than a trailer */
	memcpy(b, FW_MODSIG_MAGIC, FW_MODSIG_MAGIC_LEN);
	CHECK(fw_modsig_find(b, FW_MODSIG_MAGIC_LEN, &ms, why, sizeof(why)) == -1,
	      "truncated");

	/* sig_len as large as the whole body: rejected like the kernel */
	n = make(b, 0, 50, NULL);
	CHECK(fw_modsig_find(b, n, &ms, why, sizeof(why)) == -1, "no content");
	{
		uint8_t info[12] = { 0, 0, 2, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
		n = make(b, 100, 50, info);
		CHECK(fw_modsig_find(b, n, &ms, why, sizeof(why)) == -1,
		      "huge sig_len");
		uint8_t zero[12] = { 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
		n = make(b, 100, 50, zero);
		CHECK(fw_modsig_find(b, n, &ms, why, sizeof(why)) == -1,
		      "zero sig_len");
	}
	/* wrong id_type and non-zero fields */
	for (int i = 0; i < 8; i++) {
		uint8_t info[12] = { 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 50 };

		if (i == 2)
			info[2] = 1;
		else
			info[i] = 1;
		n = make(b, 100, 50, info);
		CHECK(fw_modsig_find(b, n, &ms, why, sizeof(why)) == -1,
		      "field %d", i);
	}
	return t_done();
}
