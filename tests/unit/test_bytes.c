// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * src/bytes.h: the byte-order readers and writers against known layouts,
 * each writer read back by its reader, and the zero check at its edges.
 */
#include <string.h>

#include "../../src/bytes.h"
#include "t.h"

int main(void)
{
	static const uint8_t b[8] = { 0x01, 0x02, 0x03, 0x04,
				      0x05, 0x06, 0x07, 0x88 };
	uint8_t o[8], z[64] = { 0 };

	CHECK(fw_be16(b) == 0x0102, "be16 %#x", fw_be16(b));
	CHECK(fw_le16(b) == 0x0201, "le16 %#x", fw_le16(b));
	CHECK(fw_be32(b) == 0x01020304u, "be32 %#x", fw_be32(b));
	CHECK(fw_le32(b) == 0x04030201u, "le32 %#x", fw_le32(b));
	CHECK(fw_le32(b + 4) == 0x88070605u, "le32, top bit %#x",
	      fw_le32(b + 4));
	CHECK(fw_le64(b) == 0x8807060504030201ull, "le64 %#llx",
	      (unsigned long long)fw_le64(b));
	CHECK(fw_be64(b) == 0x0102030405060788ull, "be64 %#llx",
	      (unsigned long long)fw_be64(b));
	CHECK(fw_get_uint(b, 3, 1) == 0x010203u, "3 bytes, be");
	CHECK(fw_get_uint(b, 3, 0) == 0x030201u, "3 bytes, le");
	CHECK(fw_get_uint(b, 8, 0) == fw_le64(b), "8 bytes, le");
	CHECK(fw_get_uint(b, 8, 1) == fw_be64(b), "8 bytes, be");
	CHECK(fw_get_uint(b, 4, 1) == fw_be32(b), "4 bytes, be");

	fw_put_be32(o, 0x01020304u);
	CHECK(!memcmp(o, b, 4), "put_be32");
	fw_put_le16(o, 0x0201);
	CHECK(!memcmp(o, b, 2), "put_le16");
	fw_put_le32(o, 0x04030201u);
	CHECK(!memcmp(o, b, 4), "put_le32");
	fw_put_le64(o, 0x8807060504030201ull);
	CHECK(!memcmp(o, b, 8), "put_le64");
	fw_put_be64(o, 0x0102030405060788ull);
	CHECK(!memcmp(o, b, 8), "put_be64");
	memset(o, 0, sizeof(o));
	fw_put_uint(o, 3, 1, 0xff010203u);
	CHECK(!memcmp(o, b, 3) && !o[3], "put 3 bytes be, no more");
	fw_put_uint(o, 4, 0, 0x04030201u);
	CHECK(!memcmp(o, b, 4), "put 4 bytes le");
	fw_put_uint(o, 8, 1, 0x0102030405060788ull);
	CHECK(!memcmp(o, b, 8), "put 8 bytes be");

	CHECK(fw_all_zero(z, 0), "nothing is all zero");
	CHECK(fw_all_zero(z, sizeof(z)), "zeros");
	z[sizeof(z) - 1] = 1;
	CHECK(!fw_all_zero(z, sizeof(z)), "a one at the end");
	CHECK(fw_all_zero(z, sizeof(z) - 1), "up to it");
	z[0] = 1;
	CHECK(!fw_all_zero(z, 1), "a one at the start");
	return t_done();
}
