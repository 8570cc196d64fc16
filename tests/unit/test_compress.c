// SPDX-License-Identifier: GPL-2.0-or-later
/* Codec round trips, truncated streams and the decompression limit. */
#include <stdlib.h>
#include <string.h>

#include "../../src/codec.h"
#include "../../src/signer_int.h"
#include "../../src/fw_limits.h"
#include "t.h"

int main(void)
{
	static uint8_t in[300000];
	enum fw_codec codecs[] = { FW_CODEC_GZIP, FW_CODEC_XZ, FW_CODEC_ZSTD };
	char why[160];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)((i * 2654435761u) >> (i % 13));
	for (size_t c = 0; c < 3; c++) {
		struct fw_codec_params p = { .codec = codecs[c], .xz_check = 1,
					     .zstd_checksum = 1 }, q;
		uint8_t *z, *d;
		size_t zl, dl;

		CHECK(fw_compress(&p, in, sizeof(in), &z, &zl, why, sizeof(why)) == 0,
		      "compress %s: %s", fw_codec_name(codecs[c]), why);
		CHECK(fw_codec_detect(z, zl) == codecs[c], "detect");
		CHECK(fw_decompress(z, zl, 1 << 20, &q, &d, &dl, why, sizeof(why)) == 0,
		      "decompress %s: %s", fw_codec_name(codecs[c]), why);
		CHECK(dl == sizeof(in) && !memcmp(d, in, dl), "round trip");
		CHECK(q.codec == codecs[c], "codec kept");
		if (codecs[c] == FW_CODEC_XZ)
			CHECK(q.xz_check == 1, "xz check kept: %d", q.xz_check);
		if (codecs[c] == FW_CODEC_ZSTD)
			CHECK(q.zstd_checksum == 1, "zstd checksum flag kept");
		free(d);
		CHECK(fw_decompress(z, zl / 2, 1 << 20, &q, &d, &dl, why,
				    sizeof(why)) != 0, "truncated %s accepted",
		      fw_codec_name(codecs[c]));
		CHECK(why[0] != '\0', "truncation reason");
		CHECK(fw_decompress(z, zl, 1000, &q, &d, &dl, why, sizeof(why)) != 0,
		      "limit ignored for %s", fw_codec_name(codecs[c]));
		/* Bytes after the stream would be lost when it is rewritten. */
		uint8_t *zj = malloc(zl + 5);

		memcpy(zj, z, zl);
		memcpy(zj + zl, "junk!", 5);
		CHECK(fw_decompress(zj, zl + 5, 1 << 20, &q, &d, &dl, why,
				    sizeof(why)) != 0 && strstr(why, "5 bytes after"),
		      "trailing data after %s accepted (%s)",
		      fw_codec_name(codecs[c]), why);
		free(zj);
		free(z);
	}
	CHECK(fw_codec_detect((const uint8_t *)"\x7f" "ELF", 4) == FW_CODEC_NONE, "elf");

	/* The engine's peek decides gzip and xz: module or data.  gzip with
	 * a 200-byte name in its header too. */
	static uint8_t ko[100000], data[100000];
	uint32_t x = 1;

	for (size_t i = 0; i < sizeof(data); i++) {
		x = x * 1103515245 + 12345;
		ko[i] = data[i] = (uint8_t)(i % 7 ? i / 13 : x >> 24);
	}
	memcpy(ko, "\x7f" "ELF\x02\x01\x01", 7);
	ko[16] = 1;	/* ET_REL, little-endian */
	ko[17] = 0;
	for (int c = 0; c < 2; c++) {
		struct fw_codec_params p = { .codec = codecs[c], .xz_check = 1 };
		uint8_t *zk = NULL, *zd = NULL;
		size_t zkl = 0, zdl = 0;
		int ok = fw_compress(&p, ko, sizeof(ko), &zk, &zkl, why,
				     sizeof(why)) == 0 &&
			 fw_compress(&p, data, sizeof(data), &zd, &zdl, why,
				     sizeof(why)) == 0;

		CHECK(ok, "compress %s: %s", fw_codec_name(codecs[c]), why);
		if (!ok) {
			free(zk);
			continue;
		}
		CHECK(zkl > FW_PEEK_LEN && zdl > FW_PEEK_LEN, "longer than a peek");
		CHECK(fw_blob_maybe_module(zk, FW_PEEK_LEN) == 1,
		      "%s module from its first %d bytes", fw_codec_name(codecs[c]),
		      FW_PEEK_LEN);
		CHECK(fw_blob_maybe_module(zd, FW_PEEK_LEN) == 0,
		      "%s data from its first %d bytes", fw_codec_name(codecs[c]),
		      FW_PEEK_LEN);
		if (codecs[c] == FW_CODEC_GZIP) {
			/* FNAME: flag 0x08, a NUL-terminated name after the
			 * 10-byte header */
			uint8_t *named = malloc(zdl + 201);

			CHECK(named != NULL, "memory");
			memcpy(named, zd, 10);
			named[3] |= 0x08;
			memset(named + 10, 'n', 200);
			named[210] = 0;
			memcpy(named + 211, zd + 10, zdl - 10);
			CHECK(fw_blob_maybe_module(named, FW_PEEK_LEN) == 0,
			      "gzip data with a name from its first %d bytes",
			      FW_PEEK_LEN);
			free(named);
		}
		free(zk);
		free(zd);
	}
	return t_done();
}
