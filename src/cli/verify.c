// SPDX-License-Identifier: GPL-2.0-or-later
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "fwsign/stack.h"

static const char help[] =
"usage: fwsign verify INPUT --cert CERT [--jobs N] [--sign-other] [--json]\n"
"       fwsign verify --attestation FILE IMAGE --cert CERT [--quiet]\n"
"\n"
"Checks every ELF executable, shared library and kernel module of INPUT\n"
"with the kernel's rules: each is good (signed by CERT), unsigned,\n"
"foreign-key, bad-signature, or not signable.  Exit status 1 when any\n"
"signable file is not good.\n"
"\n"
"  -c, --cert CERT   the certificate the kernel trusts (PEM or DER)\n"
"  -j, --jobs N      threads (default: all cores)\n"
"      --sign-other  other ELF files (objects, core dumps) must be signed too\n"
"      --json        report as JSON on stdout\n"
"      --ima         every executable and shared library must also carry a\n"
"                    good security.ima (IMA signature v2 by CERT's key);\n"
"                    without it, security.ima is only reported\n"
"      --ima-only    security.ima only: the trailer is not required\n"
"      --ima-modules kernel modules need security.ima too\n"
"  -q, --quiet       print only the summary\n"
"      --attestation FILE\n"
"                    check FILE, the in-toto attestation fwsign sign --attest\n"
"                    wrote, instead: its DSSE envelope and payloadType, its\n"
"                    signature with CERT's key, its subject against IMAGE's\n"
"                    sha256, and every file it lists against IMAGE's; one\n"
"                    line per problem, exit status 1 when there is one\n";

int cmd_verify(struct cli *cx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sign-other", no_argument, NULL, 'O' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "attestation", required_argument, NULL, 'A' },
		{ "ima", no_argument, NULL, 1 },
		{ "ima-only", no_argument, NULL, 2 },
		{ "ima-modules", no_argument, NULL, 3 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct fw_run_opts ro = { 0 };
	struct fw_report rep;
	struct fw_error err;
	const char *cert, *attestation = NULL;
	int c, quiet = 0, rc;

	fw_error_clear(&err);
	while ((c = cli_getopt(cx, argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'O': ro.sign_other = 1; break;
		case 'q': quiet = 1; break;
		case 'A': attestation = optarg; break;
		case 1: ro.ima = FW_IMA_WITH_TRAILER; break;
		case 2: ro.ima = FW_IMA_ONLY; break;
		case 3: ro.ima_modules = 1; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_bad_option(cx);
		}
	}
	cert = cx->key.cert;
	ro.jobs = cx->jobs;
	ro.progress = cx->progress;
	ro.progress_arg = cx->progress_arg;
	if (optind != argc - 1)
		return cli_usage("verify: give exactly one INPUT");
	if (!cert)
		return cli_usage("verify: --cert is required");
	if (attestation) {
		if (cx->json)
			return cli_usage("verify: --attestation has no --json");
		return cli_attest_verify(attestation, argv[optind], cert, quiet);
	}
	ro.input = argv[optind];
	rc = fw_verifier_open(cert, &ro.verifier, &err);
	if (rc)
		return cli_error(&err);
	{
		struct fw_stack_opts so = { .input = ro.input, .cert = cert,
					    .verifier = ro.verifier,
					    .jobs = ro.jobs,
					    .sign_other = ro.sign_other,
					    .ima = ro.ima,
					    .ima_modules = ro.ima_modules };
		struct fw_stack *s;

		rc = cli_stack_open(&so, &s);
		if (rc >= 0) {
			if (!rc) {
				so.progress = ro.progress;
				so.progress_arg = ro.progress_arg;
				rc = cli_stack_verify(s, cx->json, quiet);
			}
			fw_verifier_free(ro.verifier);
			return rc;
		}
	}
	rc = fw_verify_image(&ro, &rep, &err);
	cli_progress_end();
	fw_verifier_free(ro.verifier);
	if (rc) {
		fw_report_free(&rep);
		return cli_error(&err);
	}
	cli_print_warnings(&rep);
	if (cx->json) {
		fw_report_json(&rep, "verify", stdout);
	} else {
		cli_print_verify(&rep, quiet);
	}
	rc = rep.n_error ? FW_EPROBLEM : FW_OK;
	fw_report_free(&rep);
	return rc;
}
