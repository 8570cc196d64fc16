// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The one place that turns an error into `fwsign: FILE: message`, and the
 * one that parses what commands share (key loading, --jobs, --json,
 * progress: main.c's table says which command takes which).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/*
 * The library's messages name concepts ("give an output file"); the tool
 * adds which of its options give them.  An option may stand for several
 * phrasings.
 */
static const struct {
	const char *concept;
	const char *option;
} hints[] = {
	{ "output file", "-o OUTPUT" },
	{ "sign in place", "--in-place" },
	{ "signed in place", "--in-place" },
	{ "edited in place", "--in-place" },
	{ "not in place", "--in-place" },
	{ "size limit", "--max-size" },
	{ "give its passphrase", "--pass-env VAR, --pass-file FILE" },
	{ "signing key and a certificate", "--key, --cert" },
	{ "FIT keys directory", "--fit-keydir DIR" },
	{ "usign secret key", "--usign-key KEY" },
	{ "drop the image signature", "--drop-image-signature" },
	{ "other ELF files on request", "--sign-other" },
};

/* Whether an earlier hint that msg matched named the same option. */
static int hinted(const char *msg, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (!strcmp(hints[j].option, hints[i].option) &&
		    strstr(msg, hints[j].concept))
			return 1;
	return 0;
}

/* msg, then " (see OPTION, ...)" for the options it speaks of. */
static void put_msg(FILE *f, const char *msg)
{
	const char *sep = " (see ";

	fputs(msg, f);
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
		if (!strstr(msg, hints[i].concept) || hinted(msg, i))
			continue;
		fprintf(f, "%s%s", sep, hints[i].option);
		sep = ", ";
	}
	if (*sep == ',')
		fputc(')', f);
}

int cli_error(const struct fw_error *e)
{
	cli_progress_end();
	if (e->file[0])
		fprintf(stderr, "fwsign: %s: ", e->file);
	else
		fputs("fwsign: ", stderr);
	put_msg(stderr, e->msg);
	fputc('\n', stderr);
	return e->code ? e->code : FW_EIO;
}

int cli_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("fwsign: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	return FW_EUSAGE;
}

int cli_jobs(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);

	if (*end || n < 1 || n > 1024)
		return -1;
	return (int)n;
}

int cli_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long n = strtoull(s, &end, 10);
	unsigned shift = 0;

	if (end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	}
	if (*end || n == 0 || n > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)n << shift;
	return 0;
}

/* The shared options; their getopt codes are above any command's own. */
enum {
	O_KEY = 0x100, O_CERT, O_HASH, O_KEYID, O_EXPIRED, O_PASS_ENV,
	O_PASS_FILE, O_JOBS, O_JSON,
};

static const struct {
	unsigned flags;		/* the commands that take it: any of these */
	int short_opt;		/* 0: none */
	struct option o;
} shared[] = {
#define ARG required_argument
#define NO no_argument
#define SIGNER_PASS (CLI_SIGNER | CLI_PASS)
	{ CLI_SIGNER, 'k', { "key", ARG, NULL, O_KEY } },
	{ CLI_SIGNER | CLI_CERT, 'c', { "cert", ARG, NULL, O_CERT } },
	{ CLI_SIGNER, 0, { "hash", ARG, NULL, O_HASH } },
	{ CLI_SIGNER, 0, { "keyid", NO, NULL, O_KEYID } },
	{ CLI_SIGNER, 0, { "allow-expired", NO, NULL, O_EXPIRED } },
	{ SIGNER_PASS, 0, { "pass-env", ARG, NULL, O_PASS_ENV } },
	{ SIGNER_PASS, 0, { "pass-file", ARG, NULL, O_PASS_FILE } },
	{ CLI_JOBS, 'j', { "jobs", ARG, NULL, O_JOBS } },
	{ CLI_JSON, 0, { "json", NO, NULL, O_JSON } },
#undef ARG
#undef NO
#undef SIGNER_PASS
};
#define N_SHARED (sizeof(shared) / sizeof(shared[0]))
#define OPTS_MAX 64

/* A shared option: 0 when taken, else its usage error's exit code. */
static int take(struct cli *cx, int c, const char *arg)
{
	switch (c) {
	case O_KEY: cx->key.key = arg; break;
	case O_CERT: cx->key.cert = arg; break;
	case O_HASH: cx->key.hash = arg; break;
	case O_KEYID: cx->key.use_keyid = 1; break;
	case O_EXPIRED: cx->key.allow_expired = 1; break;
	case O_PASS_ENV: cx->key.pass_env = arg; break;
	case O_PASS_FILE: cx->key.pass_file = arg; break;
	case O_JOBS:
		cx->jobs = cli_jobs(arg);
		if (cx->jobs < 0)
			return cli_usage("bad --jobs '%s'", arg);
		break;
	case O_JSON: cx->json = 1; break;
	}
	return 0;
}

int cli_getopt(struct cli *cx, int argc, char **argv, const char *shortopts,
	       const struct option *own, int *longindex)
{
	struct option all[OPTS_MAX];
	char sopts[128];
	size_t n = 0, sn = strlen(shortopts);
	int c;

	/* the command's own first: a longindex into own stays one */
	for (; own[n].name; n++)
		all[n] = own[n];
	if (sn + 2 * N_SHARED + 1 > sizeof(sopts) || n + N_SHARED >= OPTS_MAX)
		abort();	/* the tables are fixed: a programming error */
	memcpy(sopts, shortopts, sn);
	for (size_t i = 0; i < N_SHARED; i++) {
		if (!(shared[i].flags & cx->flags))
			continue;
		all[n++] = shared[i].o;
		if (shared[i].short_opt) {
			sopts[sn++] = (char)shared[i].short_opt;
			sopts[sn++] = ':';
		}
	}
	memset(&all[n], 0, sizeof(all[n]));
	sopts[sn] = '\0';
	for (;;) {
		c = getopt_long(argc, argv, sopts, all, longindex);
		for (size_t i = 0; i < N_SHARED; i++)	/* -k, -c, -j */
			if (shared[i].short_opt && c == shared[i].short_opt &&
			    (shared[i].flags & cx->flags))
				c = shared[i].o.val;
		if (c < O_KEY)
			return c;
		if ((cx->rc = take(cx, c, optarg)))
			return '?';
	}
}

int cli_bad_option(struct cli *cx)
{
	return cx->rc ? cx->rc : cli_usage("%s: bad option", cx->name);
}

int cli_signer(struct cli *cx, const char *missing)
{
	struct fw_error err;

	if (missing && (!cx->key.key || !cx->key.cert))
		return cli_usage("%s", missing);
	fw_error_clear(&err);
	if (fw_signer_open(&cx->key, &cx->signer, &err))
		return cli_error(&err);
	return FW_OK;
}

static int progress_shown;

/* At most ten updates a second. */
static void progress(void *arg, size_t done, size_t total)
{
	static struct timespec last;
	struct timespec now;
	const char *what = arg;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (done != total && now.tv_sec == last.tv_sec &&
	    now.tv_nsec - last.tv_nsec < 100000000L)
		return;
	last = now;
	fprintf(stderr, "\r%s %zu/%zu files (%zu%%)", what, done, total,
		total ? done * 100 / total : 100);
	progress_shown = 1;
}

int cli_run(const struct cli_command *c, int argc, char **argv)
{
	struct cli cx = { .name = c->name, .flags = c->flags };
	int rc;

	/* On a terminal only: in a pipe the engine is not even asked. */
	if (c->progress && isatty(STDERR_FILENO)) {
		cx.progress = progress;
		cx.progress_arg = (void *)c->progress;
	}
	optind = 1;
	rc = c->fn(&cx, argc, argv);
	fw_signer_free(cx.signer);
	return rc;
}

void cli_progress_end(void)
{
	if (progress_shown)
		fputs("\r\033[K", stderr);
	progress_shown = 0;
}

void cli_print_warnings(const struct fw_report *r)
{
	for (size_t i = 0; i < r->n_warnings; i++)
		fprintf(stderr, "fwsign: warning: %s\n", r->warnings[i]);
	for (size_t i = 0; i < r->n; i++) {
		const struct fw_record *c = fw_report_rec(r, i);

		if (c->result != FW_RES_WARN || c->link_of)
			continue;
		fprintf(stderr, "fwsign: %s: warning: %s: ", c->path,
			fw_kind_name(c->elf.kind));
		put_msg(stderr, c->msg ? c->msg : "left unchanged");
		fputc('\n', stderr);
	}
}

/* One line on security.ima, when any file was looked at. */
void cli_print_ima(const struct fw_report *r)
{
	size_t n[FW_IMA_SIGNED + 1] = { 0 }, any = 0;
	const char *sep = "";

	for (size_t i = 0; i < r->n; i++) {
		const struct fw_record *c = fw_report_rec(r, i);

		if (c->ima != FW_IMA_NONE &&
		    (unsigned)c->ima <= FW_IMA_SIGNED && !c->link_of) {
			n[c->ima]++;
			any++;
		}
	}
	if (!any)
		return;
	printf("security.ima:");
	for (int s = FW_IMA_GOOD; s <= FW_IMA_SIGNED; s++) {
		if (!n[s])
			continue;
		printf("%s %zu %s", sep, n[s], fw_imastate_name(s));
		sep = ",";
	}
	putchar('\n');
}

void cli_print_verify(const struct fw_report *r, int quiet)
{
	for (size_t i = 0; i < r->n && !quiet; i++) {
		const struct fw_record *c = fw_report_rec(r, i);

		if (c->result == FW_RES_OK || c->link_of)
			continue;
		printf("%s: %s%s", c->path,
		       c->sig != FW_SIG_NONE ? fw_sigstate_name(c->sig)
					     : fw_kind_name(c->elf.kind),
		       c->msg ? ": " : "");
		put_msg(stdout, c->msg ? c->msg : "");
		putchar('\n');
	}
	cli_print_ima(r);
	printf("%zu good, %zu unsigned, %zu foreign-key, %zu bad-signature, "
	       "%zu not signable, %zu errors\n",
	       r->sig_counts[FW_SIG_GOOD], r->sig_counts[FW_SIG_UNSIGNED],
	       r->sig_counts[FW_SIG_FOREIGN], r->sig_counts[FW_SIG_BAD],
	       r->counts[FW_KIND_OTHER] + r->counts[FW_KIND_MALFORMED],
	       r->n_error);
}

int cli_sign_status(const struct fw_report *r, const struct cli_policy *p)
{
	size_t left = 0;

	for (size_t i = 0; i < r->n; i++) {
		const struct fw_record *c = fw_report_rec(r, i);

		if (c->action != FW_ACT_SKIP || c->link_of ||
		    !fw_kind_signable(c->elf.kind, p->sign_other))
			continue;
		left++;
		fprintf(stderr, "fwsign: %s: %s left unsigned%s", c->path,
			fw_kind_name(c->elf.kind), c->msg ? ": " : "");
		put_msg(stderr, c->msg ? c->msg : "");
		fputc('\n', stderr);
	}
	if (left && !p->allow_unsigned) {
		fprintf(stderr, "fwsign: %zu file%s that must run on the device "
			"%s unsigned (--allow-unsigned accepts that)\n", left,
			left == 1 ? "" : "s", left == 1 ? "is" : "are");
		return FW_EPROBLEM;
	}
	return p->strict && r->n_warn ? FW_EPROBLEM : FW_OK;
}
