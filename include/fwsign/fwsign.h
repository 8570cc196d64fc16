/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libfwsign: sign and verify every ELF executable, shared library and
 * kernel module of a firmware tree with the kernel's module-signature
 * trailer.  The library never prints and never exits: every failure is
 * reported through a struct fw_error.
 */
#ifndef FWSIGN_FWSIGN_H
#define FWSIGN_FWSIGN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fwsign/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FWSIGN_VERSION "0.1.0"

/* Exit codes of the tool; also the error classes of the library. */
enum fw_code {
	FW_OK = 0,
	FW_EPROBLEM = 1,	/* completed, but something is not good */
	FW_EUSAGE = 2,		/* bad command line */
	FW_EINPUT = 3,		/* bad or unsupported input */
	FW_EKEY = 4,		/* key, certificate or passphrase */
	FW_EIO = 5,		/* read/write/space/memory */
};

struct fw_error {
	int code;		/* enum fw_code, FW_OK when clear */
	char file[4096];	/* what it is about; may be empty */
	char msg[1024];
};

FW_API void fw_error_clear(struct fw_error *e);
FW_API int fw_error_set(struct fw_error *e, int code, const char *file,
			const char *fmt, ...)
			__attribute__((format(printf, 4, 5)));
/* Appends OpenSSL's queued errors to e->msg and clears the queue. */
FW_API int fw_error_ssl(struct fw_error *e, int code, const char *file,
			const char *fmt, ...)
			__attribute__((format(printf, 4, 5)));

/* ------------------------------------------------------------------ */
/* ELF classification                                                  */

enum fw_kind {
	FW_KIND_NOT_ELF = 0,
	FW_KIND_EXEC,		/* ET_EXEC, PIE, static-pie */
	FW_KIND_SHLIB,		/* ET_DYN that is not an executable */
	FW_KIND_MODULE,		/* ET_REL with .modinfo and this_module */
	FW_KIND_OTHER,		/* object files, core dumps, ... */
	FW_KIND_MALFORMED,	/* starts with \x7fELF, libelf refuses it */
};

struct fw_elf_info {
	enum fw_kind kind;
	int elfclass;		/* 32 or 64, 0 when not ELF */
	int big_endian;
	unsigned machine;	/* e_machine */
	char why[128];		/* for FW_KIND_MALFORMED */
};

FW_API const char *fw_kind_name(enum fw_kind kind);
FW_API const char *fw_machine_name(unsigned e_machine);
FW_API int fw_kind_signable(enum fw_kind kind, int sign_other);

/* Classifies buf (the unsigned content, without a signature trailer). */
FW_API void fw_elf_classify(const uint8_t *buf, size_t len,
			    struct fw_elf_info *out);

/* ------------------------------------------------------------------ */
/* The module-signature trailer                                        */

#define FW_MODSIG_MAGIC "~Module signature appended~\n"
#define FW_MODSIG_MAGIC_LEN 28
#define FW_MODSIG_INFO_LEN 12

struct fw_modsig {
	size_t content_len;	/* bytes covered by the signature */
	size_t sig_off;		/* offset of the PKCS#7 DER */
	size_t sig_len;
	uint8_t info[FW_MODSIG_INFO_LEN];
};

/*
 * Looks for a trailer at the end of buf.  Returns 1 and fills *ms when the
 * magic is there and the info block passes the kernel's mod_check_sig()
 * rules, 0 when there is no magic, -1 (with why) when the magic is there
 * but the trailer is malformed.
 */
FW_API int fw_modsig_find(const uint8_t *buf, size_t len, struct fw_modsig *ms,
			  char *why, size_t why_len);

/* ------------------------------------------------------------------ */
/* Keys and signing                                                    */

struct fw_signer;
struct fw_cache;

struct fw_key_opts {
	const char *key;	/* PEM file or pkcs11: URI */
	const char *cert;	/* PEM or DER X.509 */
	const char *hash;	/* sha256 (default), sha384, sha512 */
	const char *pass_env;	/* name of the env variable with the passphrase */
	const char *pass_file;	/* file whose first line is the passphrase */
	int use_keyid;		/* sign-file -k: identify signer by SKID */
	int allow_expired;	/* accept a certificate outside its validity */
	int cms_only;		/* no RSA template: every signature made by
				 * OpenSSL's CMS (the same bytes; tests) */
};

FW_API int fw_signer_open(const struct fw_key_opts *opts,
			  struct fw_signer **out, struct fw_error *err);
FW_API void fw_signer_free(struct fw_signer *s);
FW_API const char *fw_signer_subject(const struct fw_signer *s);

/*
 * Builds the full trailer (PKCS#7 DER + info + magic) over content.
 * *trailer is malloc'ed.  Thread-safe.
 */
FW_API int fw_sign_trailer(struct fw_signer *s, const uint8_t *content,
			   size_t len, uint8_t **trailer, size_t *trailer_len,
			   struct fw_error *err);
/* A PKCS#7 holding content itself (no certificates, no attributes), as
 * the kernel verifies an IPE policy.  *der is malloc'ed. */
FW_API int fw_sign_attached(struct fw_signer *s, const uint8_t *content,
			    size_t len, uint8_t **der, size_t *der_len,
			    struct fw_error *err);

/* ------------------------------------------------------------------ */
/* Verification                                                        */

enum fw_sigstate {
	FW_SIG_NONE = 0,	/* not checked (not signable) */
	FW_SIG_GOOD,		/* signed by the given certificate, valid */
	FW_SIG_UNSIGNED,
	FW_SIG_FOREIGN,		/* signed, but by another key */
	FW_SIG_BAD,		/* trailer or signature does not verify */
};

FW_API const char *fw_sigstate_name(enum fw_sigstate st);

struct fw_verifier;

FW_API int fw_verifier_open(const char *cert_path, struct fw_verifier **out,
			    struct fw_error *err);
FW_API void fw_verifier_free(struct fw_verifier *v);

/* Checks the trailer of buf (the full file).  why gets the reason. */
FW_API enum fw_sigstate fw_verify_buffer(struct fw_verifier *v,
					 const uint8_t *buf, size_t len,
					 char *why, size_t why_len);

/*
 * IMA: the security.ima xattr of a file, as appraisal would judge it
 * against a certificate (without one, verify is not asked: SIGNED only
 * says it holds a signature v2).
 */
enum fw_imastate {
	FW_IMA_NONE = 0,	/* not looked at (not ELF, or no xattrs) */
	FW_IMA_GOOD,		/* signature v2 by this certificate's key */
	FW_IMA_MISSING,		/* no security.ima */
	FW_IMA_FOREIGN,		/* signature v2, another key id */
	FW_IMA_STALE,		/* this key, but not over these bytes */
	FW_IMA_HASH,		/* a hash only, matching: no signature */
	FW_IMA_BAD,		/* unreadable value, or a stale hash */
	FW_IMA_SIGNED,		/* signature v2, not checked (no cert) */
};

FW_API const char *fw_imastate_name(enum fw_imastate st);

/* ------------------------------------------------------------------ */
/* Key generation                                                      */

struct fw_keygen_opts {
	const char *prefix;	/* writes PREFIX.key, PREFIX.crt, PREFIX.der */
	const char *subject;	/* CN, default "fwsign signing key" */
	const char *org;	/* O, optional */
	int rsa_bits;		/* 2048, 3072, 4096; 0 when ec is set */
	const char *ec;		/* "p256", "p384" or NULL */
	int days;		/* validity, default 3650 */
	const char *pass_env;	/* encrypt the key with this env's value */
	const char *pass_file;
};

FW_API int fw_keygen(const struct fw_keygen_opts *opts, struct fw_error *err);

/* ------------------------------------------------------------------ */
/* Trees and images                                                    */

enum fw_action {
	FW_ACT_NONE = 0,	/* not ELF, or nothing to do */
	FW_ACT_SIGN,
	FW_ACT_RESIGN,		/* an old trailer was replaced */
	FW_ACT_SKIP,		/* ELF that is not signed (why says) */
};

enum fw_result {
	FW_RES_OK = 0,
	FW_RES_WARN,		/* reported, left as it was */
	FW_RES_ERROR,
};

struct fw_record {
	char *path;		/* inside the image, '/'-separated */
	struct fw_elf_info elf;
	const char *codec;	/* "xz", "zstd", "gzip" or NULL */
	enum fw_action action;
	enum fw_result result;
	enum fw_sigstate sig;	/* verify */
	int64_t bytes_added;
	int64_t size;		/* input size */
	char *msg;		/* why, for warnings and errors */
	char *link_of;		/* hard link: the path signed for it */
	enum fw_imastate ima;	/* security.ima, when looked at */
	uint32_t ima_keyid;	/* its key id (signature v2) */
};

/*
 * A run's report.  Its records are not in memory (an image can hold a
 * million files): read record i, i < n, with fw_report_rec.  Before
 * issue #18 the records were an array, rec[i]; code that read
 * rep->rec[i] now calls fw_report_rec(rep, i).
 */
struct fw_recstore;

struct fw_report {
	struct fw_recstore *store;	/* the records, in temporary files */
	size_t n;
	const char *format;	/* name of the image format */
	char **warnings;	/* about the image itself (entries skipped ...) */
	size_t n_warnings;
	double seconds;
	size_t counts[FW_KIND_MALFORMED + 1];
	size_t n_signed, n_resigned, n_skipped, n_warn, n_error;
	size_t sig_counts[FW_SIG_BAD + 1];
	uint64_t bytes_in;
	int64_t bytes_added;	/* negative when a bigger old trailer was replaced */
};

FW_API void fw_report_free(struct fw_report *r);
/*
 * Record i (i < r->n), or NULL past the end.  It stays good until the
 * next call on the same report (records are read a window at a time:
 * going through them in order is cheap); not for two threads at once.
 * A record that cannot be read back (the temporary file's disk failed)
 * comes out as path "?", result error, and a message saying so.
 */
FW_API const struct fw_record *fw_report_rec(const struct fw_report *r,
					     size_t i);
/* "sign", "re-sign", "skip" or "none", as reports say it. */
FW_API const char *fw_action_name(enum fw_action a);

typedef void (*fw_progress_fn)(void *arg, size_t done, size_t total);

struct fw_run_opts {
	const char *input;
	const char *output;	/* NULL with in_place */
	int in_place;
	int dry_run;
	int jobs;		/* 0: all cores */
	int sign_other;		/* also sign FW_KIND_OTHER */
	uint64_t max_size;	/* refuse an output bigger than this (0: any) */
	struct fw_signer *signer;	/* sign */
	struct fw_verifier *verifier;	/* verify */
	fw_progress_fn progress;
	void *progress_arg;
	/* IMA: also write security.ima (FW_IMA_WITH_TRAILER, after the
	 * trailer), or only it (FW_IMA_ONLY); verify: require it. */
	int ima;
	int ima_modules;	/* kernel modules get one too */
	/* compressed blocks shared with other runs (fwsign/cache.h); NULL:
	 * none */
	struct fw_cache *cache;
};

#define FW_IMA_WITH_TRAILER 1
#define FW_IMA_ONLY 2

/* Signs every signable ELF of opts->input into opts->output. */
FW_API int fw_sign_image(const struct fw_run_opts *opts, struct fw_report *rep,
			 struct fw_error *err);
/* Verifies every ELF of opts->input against opts->verifier. */
FW_API int fw_verify_image(const struct fw_run_opts *opts,
			   struct fw_report *rep, struct fw_error *err);
/* Classifies only (info, dry runs). */
FW_API int fw_scan_image(const struct fw_run_opts *opts, struct fw_report *rep,
			 struct fw_error *err);

/* Writes the report as JSON (one object) to the stream. */
FW_API void fw_report_json(const struct fw_report *r, const char *command,
			   FILE *f);

#ifdef __cplusplus
}
#endif
#endif
