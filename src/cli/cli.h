/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FWSIGN_CLI_H
#define FWSIGN_CLI_H

#include "fwsign/fwsign.h"

int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_batch(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_inject_cert(int argc, char **argv);
int cmd_ima_policy(int argc, char **argv);
int cmd_kernel_info(int argc, char **argv);	/* -1: not a kernel */

/* common.c */
int cli_error(const struct fw_error *e);
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Progress on stderr while the engine runs, if stderr is a terminal. */
void cli_progress(struct fw_run_opts *ro, const char *what);
void cli_progress_end(void);
int cli_jobs(const char *s);
int cli_size(const char *s, uint64_t *out);
void cli_print_warnings(const struct fw_report *r);
/* The files that are not good (unless quiet), then the summary line. */
void cli_print_verify(const struct fw_report *r, int quiet);
void cli_print_ima(const struct fw_report *r);

/* attest.c: an in-toto attestation of a signing in a DSSE envelope,
 * OUTPUT.intoto.json (sign --attest, verify --attestation). */
struct cli_attest {
	const char *input;		/* the image signed */
	const char *output;		/* the signed image */
	const char *name;		/* the subject's name (NULL: OUTPUT's) */
	struct fw_signer *signer;
};
char *cli_attest_path(const char *output);	/* malloc'ed */
/* rep: the signing's report; file_digests: the sha256 of every file
 * before and after (0 for a vendor blob).  Exit code (on failure the
 * error is printed and OUTPUT removed); *written (may be NULL) gets the
 * attestation's path, malloc'ed. */
int cli_attest_write(const struct cli_attest *a, const struct fw_report *rep,
		     int file_digests, char **written);
int cli_attest_verify(const char *att, const char *image, const char *cert,
		      int quiet);

/* blob.c: a vendor blob (fwsign/stack.h).  open: -1 when the input is not
 * a blob, else 0 (then one of the others runs and closes it) or an exit
 * code. */
struct fw_stack;
struct fw_stack_opts;
int cli_stack_open(struct fw_stack_opts *so, struct fw_stack **s);
/* att: also write an attestation (NULL: not asked) */
/* What makes a signing run fail. */
struct cli_policy {
	int strict;		/* any warning */
	int allow_unsigned;	/* else a file that must run, left unsigned */
	int sign_other;
};
/* The exit status a signing report earns; lists each file left unsigned
 * (unless quiet). */
int cli_sign_status(const struct fw_report *r, const struct cli_policy *p);
struct cli_verity;
/* ver: also the dm-verity files of each filesystem (NULL: not asked) */
int cli_stack_sign(struct fw_stack *s, int json, const struct cli_policy *pol,
		   const struct cli_attest *att, const struct cli_verity *ver,
		   const char *output, struct fw_signer *signer);
int cli_stack_verify(struct fw_stack *s, int json, int quiet);
int cli_stack_info(struct fw_stack *s, int json);

/* verity.c: sign --verity, after OUTPUT is written. */
struct cli_verity {
	int on;
	const char *device;	/* in the table; NULL: "DEVICE" */
	uint8_t salt[256];
	size_t salt_len;	/* 0: derived from the image */
};
int cli_verity_parse_salt(const char *s, struct cli_verity *v);
/* 0 when none of the files beside out exists, else an exit code. */
int cli_verity_check(const char *out);
/* Appends the tree, writes the files beside out; on failure removes out
 * and them and returns the exit code. */
int cli_verity_finish(const struct cli_verity *o, const char *out,
		      struct fw_signer *signer, int json);
/* After a blob's signing: the files beside OUTPUT.PART for every
 * filesystem that got a tree; on failure OUTPUT and they are removed. */
int cli_verity_blob(const struct cli_verity *o, struct fw_stack *s,
		    const char *out, struct fw_signer *signer, int json);

#endif
