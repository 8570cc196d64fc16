// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for kernel images (src/kernel.c and every layer it
 * peels: uImage, bzImage, gzip/xz/lzma/lz4/zstd streams, vmlinux ELF,
 * arm64/riscv Image, raw images): fw_kernel_probe_buf, fw_kernel_info_buf
 * and fw_kernel_cert_buf on the input; when a slot is found,
 * fw_kernel_inject_buf of a P-256 certificate made once per process
 * (--replace), the result written to /dev/shm and read back with
 * fw_kernel_info.  An input whose first line is "# map" is a System.map
 * up to its first empty line, then the kernel (--system-map).
 * What must hold, or the target aborts:
 *  - info describes a slot consistently (a certificate slot has used
 *    bytes within the slot and at least one certificate; an empty one
 *    none; a kernel without a slot says why);
 *  - fw_kernel_cert_buf gives what info describes (length and SHA-256);
 *  - an injected kernel probes as the input did, reads back with the
 *    certificate in its slot (info on the file; cert_buf gives it back),
 *    the same layers and builtin list, and the same slot size (the
 *    layout scan of a slot holding a certificate counts the alignment
 *    padding before the used word in: up to 255 bytes more).
 * Build and seeds: README.md.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "fwsign/kernel.h"
#include "../../src/signer_int.h"
#include "fuzz_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *cert;
static size_t cert_len;
static unsigned char cert_sha[32];

static void fuzz_init(void)
{
	static int done;
	struct fuzz_key k;
	FILE *f;

	if (done)
		return;
	done = 1;
	fuzz_key_make("kernel", &k);
	cert = malloc(4096);
	f = fopen(k.der, "rb");
	if (!cert || !f)
		abort();
	cert_len = fread(cert, 1, 4096, f);
	fclose(f);
	if (cert_len < 64 || cert_len == 4096)
		abort();
	SHA256(cert, cert_len, cert_sha);
	fuzz_key_drop(&k);
}

/* What info says must hold together. */
static void check_info(const struct fw_kernel_info *in, int rc)
{
	if (!memchr(in->format, 0, sizeof(in->format)) ||
	    !memchr(in->subject, 0, sizeof(in->subject)) ||
	    !memchr(in->note, 0, sizeof(in->note)) ||
	    !memchr(in->located, 0, sizeof(in->located)))
		abort();
	if (rc)
		return;
	switch (in->state) {
	case FW_KSLOT_CERT:
		if (!in->used || in->used > in->slot_size || in->certs < 1) {
			fprintf(stderr, "fuzz: %llu of %llu bytes used, %d "
				"certificates\n", (unsigned long long)in->used,
				(unsigned long long)in->slot_size, in->certs);
			abort();
		}
		break;
	case FW_KSLOT_ZEROS:
	case FW_KSLOT_FILLER:
	case FW_KSLOT_UNUSED:
		if (in->used || in->certs)
			abort();
		break;
	case FW_KSLOT_NONE:
		if (!in->note[0])
			abort();
		break;
	default:
		abort();
	}
}

/* The slot's certificate as fw_kernel_cert_buf gives it, against info. */
static void check_cert(const uint8_t *data, size_t size,
		       const struct fw_kernel_info *in)
{
	struct fw_error err;
	uint8_t *der = NULL;
	size_t der_len = 0;
	unsigned char sha[32];
	int rc;

	fw_error_clear(&err);
	rc = fw_kernel_cert_buf(data, size, "fuzz", &der, &der_len, &err);
	if (rc != FW_OK && der)
		abort();
	if (rc == FW_OK) {
		SHA256(der, der_len, sha);
		if (in->state != FW_KSLOT_CERT || der_len != in->used ||
		    memcmp(sha, in->cert_sha256, sizeof(sha))) {
			fprintf(stderr, "fuzz: cert_buf gives %zu bytes, info "
				"says %s, %llu used\n", der_len,
				fw_kslot_state_name(in->state),
				(unsigned long long)in->used);
			abort();
		}
	} else if (in->state == FW_KSLOT_CERT) {
		fprintf(stderr, "fuzz: info sees a certificate, cert_buf: %s\n",
			err.msg);
		abort();
	}
	free(der);
}

/* Writes n bytes of p to path; 0 on success. */
static int put_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int bad;

	if (!f)
		return -1;
	bad = fwrite(p, 1, n, f) != n;
	if (fclose(f) != 0 || bad) {
		unlink(path);
		return -1;
	}
	return 0;
}

static void inject(const uint8_t *data, size_t size,
		   const struct fw_kernel_opts *ko,
		   const struct fw_kernel_info *before)
{
	struct fw_kernel_opts o = *ko;
	struct fw_kernel_info got, back;
	struct fw_error err;
	uint8_t *out = NULL;
	size_t out_len = 0;
	char path[64];
	int rc;

	o.replace = 1;
	fw_error_clear(&err);
	rc = fw_kernel_inject_buf(data, size, "fuzz", cert, cert_len, &o,
				  &out, &out_len, &got, &err);
	if (rc) {
		if (out)
			abort();
		return;
	}
	check_info(&got, 0);
	if (got.state != FW_KSLOT_CERT || got.used != cert_len ||
	    memcmp(got.cert_sha256, cert_sha, sizeof(cert_sha)) ||
	    fw_kernel_probe_buf(out, out_len) != fw_kernel_probe_buf(data, size))
		abort();
	snprintf(path, sizeof(path), "/dev/shm/fuzz-kernel-out.%d",
		 (int)getpid());
	if (put_file(path, out, out_len) == 0) {
		fw_error_clear(&err);
		rc = fw_kernel_info(path, &o, &back, &err);
		check_info(&back, rc);
		if (rc || back.state != FW_KSLOT_CERT || back.used != cert_len ||
		    back.slot_size < before->slot_size ||
		    back.slot_size - before->slot_size >= 256 ||
		    back.builtin_len != before->builtin_len ||
		    strcmp(back.format, before->format) ||
		    memcmp(back.cert_sha256, cert_sha, sizeof(cert_sha))) {
			fprintf(stderr, "fuzz: injected (%s, slot %llu, "
				"builtin %llu) reads back: %s: %s, slot %llu, "
				"builtin %llu, %s\n", before->format,
				(unsigned long long)before->slot_size,
				(unsigned long long)before->builtin_len,
				rc ? err.msg : "ok", back.format,
				(unsigned long long)back.slot_size,
				(unsigned long long)back.builtin_len,
				fw_kslot_state_name(back.state));
			abort();
		}
		unlink(path);
	}
	if (!o.system_map)
		check_cert(out, out_len, &got);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char mmagic[] = "# map\n";
	struct fw_kernel_opts ko = { 0 };
	struct fw_kernel_info info;
	struct fw_error err;
	char map[64];
	const uint8_t *end;
	int rc;

	fuzz_init();
	/* "# map", a System.map up to an empty line, then the kernel */
	if (size > sizeof(mmagic) - 1 &&
	    !memcmp(data, mmagic, sizeof(mmagic) - 1) &&
	    (end = memmem(data, size, "\n\n", 2)) != NULL) {
		size_t k = (size_t)(end - data) + 2;

		snprintf(map, sizeof(map), "/dev/shm/fuzz-kernel-map.%d",
			 (int)getpid());
		if (put_file(map, data + sizeof(mmagic) - 1,
			     k - 1 - (sizeof(mmagic) - 1)))
			return 0;
		ko.system_map = map;
		data += k;
		size -= k;
	}
	(void)fw_kernel_probe_buf(data, size);
	fw_error_clear(&err);
	rc = fw_kernel_info_buf(data, size, "fuzz", &ko, &info, &err);
	check_info(&info, rc);
	if (!ko.system_map)
		check_cert(data, size, &info);
	if (rc == FW_OK && info.state != FW_KSLOT_NONE)
		inject(data, size, &ko, &info);
	if (ko.system_map)
		unlink(map);
	return 0;
}
