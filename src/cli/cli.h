/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FWSIGN_CLI_H
#define FWSIGN_CLI_H

#include "fwsign/fwsign.h"

#include <getopt.h>

/*
 * What commands share, declared per command in main.c's table (its flags)
 * and parsed once, by cli_getopt, into the struct cli the command gets.
 */
enum {
	CLI_SIGNER = 1 << 0,	/* -k/--key, -c/--cert, --hash, --keyid,
				 * --allow-expired (and CLI_PASS) */
	CLI_CERT = 1 << 1,	/* -c/--cert alone: a certificate to check
				 * against or put in a kernel */
	CLI_PASS = 1 << 2,	/* --pass-env VAR, --pass-file FILE */
	CLI_JOBS = 1 << 3,	/* -j/--jobs N */
	CLI_JSON = 1 << 4,	/* --json */
};

struct cli {
	const char *name;	/* the command */
	unsigned flags;		/* CLI_* */
	struct fw_key_opts key;	/* key.cert also for CLI_CERT */
	int jobs;		/* 0: not given */
	int json;
	int rc;			/* a shared option's usage error */
	/* the table's progress: for fw_run_opts and fw_stack_opts (NULL off
	 * a terminal) */
	fw_progress_fn progress;
	void *progress_arg;
	struct fw_signer *signer;	/* cli_signer's; freed by main */
};

/*
 * getopt_long over the command's own options (own, shortopts) and the
 * shared ones its flags declare; returns only the command's own, as
 * getopt_long does.  A shared option with a bad value returns '?' with
 * cx->rc set: the command's default case returns cli_bad_option(cx).
 */
int cli_getopt(struct cli *cx, int argc, char **argv, const char *shortopts,
	       const struct option *own, int *longindex);
/* cx->rc, else "NAME: bad option" (exit 2). */
int cli_bad_option(struct cli *cx);
/* Loads the key once, checked against the certificate: 0, or the exit
 * code with the error printed.  missing: the usage message when --key or
 * --cert is not given. */
int cli_signer(struct cli *cx, const char *missing);

/* main.c's table: a command, the shared options it takes (CLI_*), what it
 * is doing while the progress line shows (NULL: no progress line). */
struct cli_command {
	const char *name;
	int (*fn)(struct cli *cx, int argc, char **argv);
	unsigned flags;
	const char *progress;
	const char *help;
};
/* Runs the command on argv (argv[0]: its name); its exit code. */
int cli_run(const struct cli_command *c, int argc, char **argv);

int cmd_sign(struct cli *cx, int argc, char **argv);
int cmd_verify(struct cli *cx, int argc, char **argv);
int cmd_info(struct cli *cx, int argc, char **argv);
int cmd_batch(struct cli *cx, int argc, char **argv);
int cmd_diff(struct cli *cx, int argc, char **argv);
int cmd_keygen(struct cli *cx, int argc, char **argv);
int cmd_inject_cert(struct cli *cx, int argc, char **argv);
int cmd_ima_policy(struct cli *cx, int argc, char **argv);
/* -1: not a kernel */
int cmd_kernel_info(struct cli *cx, int argc, char **argv);

/* common.c */
int cli_error(const struct fw_error *e);
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Clears the progress line, if one is shown. */
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
	/* --json: what each tree is, one JSON object per filesystem
	 * (json_object array; NULL until the first) */
	struct json_object **json;
};
/* Prints the report doc (a JSON object) to f with "verity": ARRAY added
 * when v holds any; frees doc.  Returns nonzero when f failed. */
int cli_verity_json(const struct cli_verity *v, char *doc, FILE *f);
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
