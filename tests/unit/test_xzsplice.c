// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fw_xz_splice: a kernel-like xz stream (one block, a branch filter or
 * none, a 32 MiB dictionary, CRC32: xz_wrap.sh's settings) with bytes
 * changed near its end.  The result must decode (liblzma and xz(1)) to
 * the new bytes, keep the input's chunks before the change byte for byte,
 * and be about as small as compressing it all again.  Streams it cannot
 * splice are declined (1), not mangled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lzma.h>

#include "../../src/codec.h"
#include "t.h"

#define N (1u << 20)

/* Machine-code-like bytes: calls (0xe8 rel32), words, runs, text. */
static void fill(uint8_t *b, size_t n)
{
	uint32_t x = 12345;

	for (size_t i = 0; i < n;) {
		x = x * 1103515245u + 12345u;
		switch (x >> 29) {
		case 0:
		case 1:
			if (i + 5 > n)
				goto one;
			b[i] = 0xe8;
			b[i + 1] = (uint8_t)(x >> 8);
			b[i + 2] = (uint8_t)(x >> 16);
			b[i + 3] = 0;
			b[i + 4] = 0;
			i += 5;
			break;
		case 2:
			for (int k = 0; k < 12 && i < n; k++)
				b[i++] = "mov eax, ebx"[k];
			break;
		case 3:
			for (int k = 0; k < 8 && i < n; k++)
				b[i++] = 0;
			break;
		default:
one:
			b[i++] = (uint8_t)(x >> 20) & 0x3f;
		}
	}
}

static int encode(lzma_vli bcj, lzma_check check, const uint8_t *in,
		  size_t n, uint8_t **out, size_t *out_len, int two_blocks)
{
	lzma_options_lzma lo;
	lzma_filter f[3];
	lzma_stream s = LZMA_STREAM_INIT;
	size_t cap = n + n / 4 + 65536;
	int k = 0;

	lzma_lzma_preset(&lo, 6);
	lo.dict_size = 32u << 20;
	if (bcj) {
		f[k].id = bcj;
		f[k++].options = NULL;
	}
	f[k].id = LZMA_FILTER_LZMA2;
	f[k++].options = &lo;
	f[k].id = LZMA_VLI_UNKNOWN;
	*out = malloc(cap);
	if (!*out || lzma_stream_encoder(&s, f, check) != LZMA_OK)
		return -1;
	s.next_out = *out;
	s.avail_out = cap;
	s.next_in = in;
	s.avail_in = two_blocks ? n / 2 : n;
	if (two_blocks) {
		if (lzma_code(&s, LZMA_FULL_FLUSH) != LZMA_STREAM_END)
			return -1;
		s.avail_in = n - n / 2;
	}
	if (lzma_code(&s, LZMA_FINISH) != LZMA_STREAM_END)
		return -1;
	*out_len = cap - s.avail_out;
	lzma_end(&s);
	return 0;
}

static int xz_cli_ok(const uint8_t *z, size_t zl, const uint8_t *want,
		     size_t n)
{
	char path[] = "/tmp/test_xzsplice.XXXXXX", cmd[128];
	int fd = mkstemp(path), ok;
	uint8_t *got = malloc(n + 1);
	FILE *p;
	size_t r;

	if (fd < 0 || !got || write(fd, z, zl) != (ssize_t)zl)
		return 0;
	close(fd);
	snprintf(cmd, sizeof(cmd), "xz -dc --single-stream %s", path);
	p = popen(cmd, "r");
	r = p ? fread(got, 1, n + 1, p) : 0;
	ok = p && pclose(p) == 0 && r == n && !memcmp(got, want, n);
	unlink(path);
	free(got);
	return ok;
}

int main(void)
{
	static const struct {
		lzma_vli id;
		const char *name;
	} filt[] = {
		{ 0, "none" }, { LZMA_FILTER_X86, "x86" },
		{ LZMA_FILTER_ARM, "arm" }, { LZMA_FILTER_ARMTHUMB, "armthumb" },
		{ LZMA_FILTER_POWERPC, "powerpc" },
		{ LZMA_FILTER_SPARC, "sparc" }, { LZMA_FILTER_IA64, "ia64" },
	};
	uint8_t *a = malloc(N), *b = malloc(N);

	CHECK(a && b, "memory");
	fill(a, N);
	for (size_t i = 0; i < sizeof(filt) / sizeof(filt[0]); i++) {
		lzma_check checks[] = { LZMA_CHECK_CRC32, LZMA_CHECK_CRC64,
					LZMA_CHECK_NONE };
		lzma_check ck = checks[i % 3];
		uint8_t *z, *zs, *zf;
		size_t zl, zsl, zfl, same;
		struct fw_codec_params p;
		uint8_t *d;
		size_t dl;
		char why[160];

		/* A certificate's worth of new bytes at 95% of the file. */
		memcpy(b, a, N);
		for (size_t j = 0; j < 773; j++)
			b[N / 100 * 95 + j] = (uint8_t)(j * 7 + 1);
		CHECK(encode(filt[i].id, ck, a, N, &z, &zl, 0) == 0,
		      "%s: encode", filt[i].name);
		CHECK(fw_xz_splice(z, zl, a, b, N, &zs, &zsl) == 0,
		      "%s: not spliced", filt[i].name);
		CHECK(fw_decompress_stream(FW_CODEC_XZ, zs, zsl, N + 1, &p, &d,
					   &dl, why, sizeof(why)) == 0 &&
		      dl == N && !memcmp(d, b, N) && p.consumed == zsl,
		      "%s: the spliced stream does not decode to the new bytes"
		      " (%s)", filt[i].name, why);
		CHECK(p.xz_check == (int)ck && (p.xz_bcj == filt[i].id),
		      "%s: check or filter not kept", filt[i].name);
		free(d);
		CHECK(xz_cli_ok(zs, zsl, b, N), "%s: xz -dc disagrees",
		      filt[i].name);
		for (same = 0; same < zl && same < zsl && z[same] == zs[same];
		     same++)
			;
		CHECK(same > zl / 2, "%s: only %zu of %zu bytes kept",
		      filt[i].name, same, zl);
		CHECK(encode(filt[i].id, ck, b, N, &zf, &zfl, 0) == 0, "full");
		CHECK(zsl <= zfl + zfl / 100, "%s: spliced %zu, in full %zu",
		      filt[i].name, zsl, zfl);
		printf("%-9s %zu bytes, %zu kept, in full %zu\n", filt[i].name,
		       zsl, same, zfl);
		free(zs);
		free(zf);
		/* Nothing changed: spliced all the same, and decodes. */
		zs = NULL;
		CHECK(fw_xz_splice(z, zl, a, a, N, &zs, &zsl) == 0 &&
		      xz_cli_ok(zs, zsl, a, N),
		      "%s: unchanged input", filt[i].name);
		free(zs);
		free(z);
	}
	/* A change in the first chunk, two blocks, a cut stream: declined. */
	{
		uint8_t *z, *zs = NULL;
		size_t zl, zsl;

		memcpy(b, a, N);
		b[100] ^= 1;
		CHECK(encode(LZMA_FILTER_X86, LZMA_CHECK_CRC32, a, N, &z, &zl,
			     0) == 0, "encode");
		CHECK(fw_xz_splice(z, zl, a, b, N, &zs, &zsl) == 1,
		      "a change in the first chunk was spliced");
		CHECK(fw_xz_splice(z, zl - 1, a, b, N, &zs, &zsl) == 1,
		      "a cut stream was spliced");
		CHECK(fw_xz_splice(z, zl, a, b, N - 1, &zs, &zsl) == 1,
		      "a stream of another size was spliced");
		free(z);
		memcpy(b, a, N);
		b[N - 10] ^= 1;
		CHECK(encode(LZMA_FILTER_X86, LZMA_CHECK_CRC32, a, N, &z, &zl,
			     1) == 0, "encode two blocks");
		CHECK(fw_xz_splice(z, zl, a, b, N, &zs, &zsl) == 1,
		      "a stream of two blocks was spliced");
		free(z);
	}
	free(a);
	free(b);
	return t_done();
}
