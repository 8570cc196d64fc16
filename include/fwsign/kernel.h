/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The extra-certificate slot of a Linux kernel image
 * (CONFIG_SYSTEM_EXTRA_CERTIFICATE): find it, show it, put a DER
 * certificate in it, in vmlinux (ELF of any class and byte order, with its
 * symbol table or a System.map), raw images (arm64 Image, ...), compressed
 * images (gzip, xz, lzma, lz4 legacy, zstd), U-Boot legacy uImages around
 * any of these, and x86 bzImages.
 */
#ifndef FWSIGN_KERNEL_H
#define FWSIGN_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "fwsign/fwsign.h"

#ifdef __cplusplus
extern "C" {
#endif

enum fw_kslot_state {
	FW_KSLOT_ZEROS = 0,	/* unused, zero-filled (stock kernel) */
	FW_KSLOT_FILLER,	/* unused, incompressible filler (kernel/0001) */
	FW_KSLOT_UNUSED,	/* unused, other bytes */
	FW_KSLOT_CERT,		/* holds `used` bytes of certificate(s) */
	FW_KSLOT_NONE,		/* info only: a kernel without a slot (note says) */
};

struct fw_kernel_info {
	char format[192];	/* layers, outermost first: "uImage > gzip > ELF64 ..." */
	char located[32];	/* "symbol table", "System.map" or "layout scan" */
	uint64_t slot_size;	/* bytes reserved */
	uint64_t used;		/* system_extra_cert_used */
	uint64_t builtin_len;	/* bytes of the builtin certificate list */
	int builtin_certs;	/* certificates in it */
	enum fw_kslot_state state;
	int certs;		/* certificates in the slot */
	char subject[256];	/* the first one's subject (CN) */
	int64_t room;		/* bzImage: payload bytes left over, else -1 */
	char note[1024];	/* FW_KSLOT_NONE: why */
	unsigned char cert_sha256[32];	/* FW_KSLOT_CERT: of the used bytes */
};

struct fw_kernel_opts {
	const char *system_map;	/* System.map of this kernel, or NULL */
	int replace;		/* replace a certificate already in the slot */
	int cert_pem_ok;	/* take a PEM certificate too (written as DER) */
};

/* The state of a slot as a word ("zeros", "filler", "unused", "certificate"). */
FW_API const char *fw_kslot_state_name(enum fw_kslot_state st);

/*
 * 1 when the file looks like a Linux kernel image (vmlinux, bzImage,
 * uImage, arm64/riscv Image, or one of these compressed), else 0.  Cheap:
 * reads the headers only.
 */
FW_API int fw_kernel_probe(const char *path);
/* The same on bytes in memory. */
FW_API int fw_kernel_probe_buf(const uint8_t *buf, size_t len);

/*
 * Finds and describes the slot of the kernel in path.  A kernel without a
 * slot is not an error here: state FW_KSLOT_NONE, note says why.
 */
FW_API int fw_kernel_info(const char *path, const struct fw_kernel_opts *opts,
			  struct fw_kernel_info *info, struct fw_error *err);

/*
 * Writes to out (which must not exist; it appears whole or not at all) the
 * kernel in with the DER certificate in cert_path in its slot: the
 * certificate, zeros to the end of the slot, system_extra_cert_used and
 * system_certificate_list_size updated; every layer around it rebuilt
 * (recompressed with the same codec and settings, CRCs and lengths fixed).
 * The result is read back and checked before it is committed.  info
 * describes the result.
 */
FW_API int fw_kernel_inject_cert(const char *in, const char *cert_path,
				 const char *out,
				 const struct fw_kernel_opts *opts,
				 struct fw_kernel_info *info,
				 struct fw_error *err);

/* fw_kernel_info on bytes in memory; name is used in messages. */
FW_API int fw_kernel_info_buf(const uint8_t *in, size_t len, const char *name,
			      const struct fw_kernel_opts *opts,
			      struct fw_kernel_info *info,
			      struct fw_error *err);

/* A copy of the certificate(s) in the slot (*der malloc'ed). */
FW_API int fw_kernel_cert_buf(const uint8_t *in, size_t len, const char *name,
			      uint8_t **der, size_t *der_len,
			      struct fw_error *err);

/* The same on buffers; *out is malloc'ed.  name is used in messages. */
FW_API int fw_kernel_inject_buf(const uint8_t *in, size_t len, const char *name,
				const uint8_t *der, size_t der_len,
				const struct fw_kernel_opts *opts,
				uint8_t **out, size_t *out_len,
				struct fw_kernel_info *info,
				struct fw_error *err);

#ifdef __cplusplus
}
#endif
#endif
