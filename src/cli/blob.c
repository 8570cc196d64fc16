// SPDX-License-Identifier: GPL-2.0-or-later
/* sign, verify and info on a vendor blob: the tree of layers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fwsign/stack.h"

int cli_stack_open(struct fw_stack_opts *so, struct fw_stack **s)
{
	struct fw_error err;

	fw_error_clear(&err);
	*s = NULL;
	if (fw_stack_open(so, s, &err))
		return cli_error(&err);
	if (!so->layout && !fw_stack_composite(*s)) {
		fw_stack_close(*s);
		*s = NULL;
		return -1;
	}
	return 0;
}

static void kernels_line(const struct fw_stack *s, const char *verb)
{
	size_t n, cert, noslot;

	fw_stack_kernels(s, &n, &cert, &noslot);
	if (n)
		printf("%zu kernel%s: %zu %s the certificate, %zu without a "
		       "slot\n", n, n == 1 ? "" : "s", cert, verb, noslot);
}

int cli_stack_sign(struct fw_stack *s, int json, const struct cli_policy *pol,
		   const struct cli_attest *att, const struct cli_verity *ver,
		   const char *output, struct fw_signer *signer)
{
	const struct fw_report *r;
	struct fw_error err;
	char *att_path = NULL;
	int rc;

	fw_error_clear(&err);
	rc = fw_stack_sign(s, &err);
	cli_progress_end();
	if (rc) {
		fw_stack_close(s);
		return cli_error(&err);
	}
	r = fw_stack_report(s);
	if (ver && ver->on && (rc = cli_verity_blob(ver, s, output, signer,
						    json))) {
		fw_stack_close(s);
		return rc;
	}
	/* a blob's files: the report and the whole image's sha256 only */
	if (att && (rc = cli_attest_write(att, r, 1, &att_path))) {
		fw_stack_close(s);
		return rc;
	}
	cli_print_warnings(r);
	if (json && ver && ver->json && *ver->json) {
		char *doc = NULL;
		size_t len;
		FILE *m = open_memstream(&doc, &len);

		if (m) {
			fw_stack_json(s, NULL, m);
			fclose(m);
		}
		cli_verity_json(ver, doc, stdout);
	} else if (json) {
		fw_stack_json(s, NULL, stdout);
	} else {
		fw_stack_print(s, stdout);
		printf("signed %zu, re-signed %zu, skipped %zu ELF files "
		       "(%zu executables, %zu shared libraries, %zu kernel "
		       "modules) of %zu files; %zu warnings, %.2f s\n",
		       r->n_signed, r->n_resigned, r->n_skipped,
		       r->counts[FW_KIND_EXEC], r->counts[FW_KIND_SHLIB],
		       r->counts[FW_KIND_MODULE], r->n,
		       r->n_warn + r->n_warnings, r->seconds);
		kernels_line(s, "hold");
		if (att_path)
			printf("attestation: %s\n", att_path);
	}
	free(att_path);
	rc = cli_sign_status(r, pol);
	fw_stack_close(s);
	return rc;
}

int cli_stack_verify(struct fw_stack *s, int json, int quiet)
{
	const struct fw_report *r;
	struct fw_error err;
	size_t n, cert, noslot;
	int rc;

	fw_error_clear(&err);
	rc = fw_stack_verify(s, &err);
	cli_progress_end();
	if (rc) {
		fw_stack_close(s);
		return cli_error(&err);
	}
	r = fw_stack_report(s);
	fw_stack_kernels(s, &n, &cert, &noslot);
	cli_print_warnings(r);
	if (json) {
		fw_stack_json(s, NULL, stdout);
	} else {
		if (!quiet)
			fw_stack_print(s, stdout);
		cli_print_verify(r, quiet);
		kernels_line(s, "hold");
		if (fw_stack_bad(s))
			printf("%zu layer%s with a checksum that does not "
			       "match\n", fw_stack_bad(s),
			       fw_stack_bad(s) == 1 ? "" : "s");
	}
	rc = r->n_error || cert < n || fw_stack_bad(s) ? FW_EPROBLEM : FW_OK;
	fw_stack_close(s);
	return rc;
}

int cli_stack_info(struct fw_stack *s, int json)
{
	struct fw_error err;
	int rc;

	fw_error_clear(&err);
	rc = fw_stack_scan(s, &err);
	cli_progress_end();
	if (rc) {
		fw_stack_close(s);
		return cli_error(&err);
	}
	cli_print_warnings(fw_stack_report(s));
	if (json)
		fw_stack_json(s, NULL, stdout);
	else
		fw_stack_print(s, stdout);
	fw_stack_close(s);
	return FW_OK;
}
