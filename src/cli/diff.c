// SPDX-License-Identifier: GPL-2.0-or-later
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "fwsign/diff.h"

static const char help[] =
"usage: fwsign diff OLD NEW [--json] [--all]\n"
"\n"
"What changed from OLD to NEW (trees, filesystem images, archives, vendor\n"
"blobs and every layer in them), path by path: signature added, signature\n"
"replaced (signers named), kernel certificate, layer rebuilt (only the\n"
"sizes and checksums its parts imply), content, metadata (mode, owner,\n"
"mtime, device, link target, hard links, inode number, each xattr), type,\n"
"added, removed, a filesystem's or wrapper's own field.\n"
"Exit status: 0 when the only changes are signatures and what they imply,\n"
"1 otherwise, 2 when an input cannot be read.\n"
"\n"
"      --json   the changes as JSON\n"
"      --all    also list the expected changes (signatures, certificates,\n"
"               rebuilt layers); the default lists them only when the\n"
"               verdict is that something else changed too\n";

int cmd_diff(struct cli *cx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct fw_diff d;
	struct fw_error err;
	int c, all = 0;

	fw_error_clear(&err);
	while ((c = cli_getopt(cx, argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': all = 1; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_bad_option(cx);
		}
	}
	if (optind != argc - 2)
		return cli_usage("diff: give OLD and NEW");
	if (fw_diff(argv[optind], argv[optind + 1], &d, &err)) {
		fw_diff_free(&d);
		cli_error(&err);
		return 2;	/* as diff(1): trouble */
	}
	if (cx->json) {
		fw_diff_json(&d, argv[optind], argv[optind + 1], stdout);
	} else {
		size_t expected = 0;

		for (size_t i = 0; i < d.n; i++) {
			const struct fw_change_rec *r = &d.v[i];

			expected += fw_change_expected(r->kind);
			if (!all && fw_change_expected(r->kind) &&
			    d.only_signatures)
				continue;
			printf("%-18s %s: %s\n", fw_change_name(r->kind),
			       r->path, r->detail);
		}
		printf("%zu unchanged, %zu signatures added, %zu replaced, %zu "
		       "kernel certificates, %zu layers rebuilt, %zu IMA "
		       "signatures; %zu other changes: %s\n", d.unchanged,
		       d.counts[FW_CH_SIG_ADDED], d.counts[FW_CH_SIG_REPLACED],
		       d.counts[FW_CH_CERT], d.counts[FW_CH_LAYER],
		       d.counts[FW_CH_IMA],
		       d.n - expected, d.only_signatures ?
		       "only signatures and what they imply" :
		       "NOT only signatures");
	}
	c = d.only_signatures ? 0 : 1;
	fw_diff_free(&d);
	return c;
}
