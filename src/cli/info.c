// SPDX-License-Identifier: GPL-2.0-or-later
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static const char help[] =
"usage: fwsign info INPUT [--json] [--jobs N]\n"
"\n"
"Says what INPUT is (its format) and counts what it holds by ELF kind.\n";

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct fw_run_opts ro = { 0 };
	struct fw_report rep;
	struct fw_error err;
	int c, json = 0, rc;

	rc = cmd_kernel_info(argc, argv);
	if (rc >= 0)
		return rc;
	fw_error_clear(&err);
	optind = 1;
	while ((c = getopt_long(argc, argv, "j:h", opts, NULL)) != -1) {
		switch (c) {
		case 'J': json = 1; break;
		case 'j':
			ro.jobs = cli_jobs(optarg);
			if (ro.jobs < 0)
				return cli_usage("bad --jobs '%s'", optarg);
			break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_usage("info: bad option");
		}
	}
	if (optind != argc - 1)
		return cli_usage("info: give exactly one INPUT");
	ro.input = argv[optind];
	cli_progress(&ro, "scanning");
	rc = fw_scan_image(&ro, &rep, &err);
	cli_progress_end();
	if (rc) {
		fw_report_free(&rep);
		return cli_error(&err);
	}
	cli_print_warnings(&rep);
	if (json) {
		fw_report_json(&rep, "info", stdout);
	} else {
		printf("%s: %s\n", ro.input, rep.format);
		printf("  files:            %zu\n", rep.n);
		printf("  executables:      %zu\n", rep.counts[FW_KIND_EXEC]);
		printf("  shared libraries: %zu\n", rep.counts[FW_KIND_SHLIB]);
		printf("  kernel modules:   %zu\n", rep.counts[FW_KIND_MODULE]);
		printf("  other ELF:        %zu\n", rep.counts[FW_KIND_OTHER]);
		printf("  malformed ELF:    %zu\n", rep.counts[FW_KIND_MALFORMED]);
		printf("  not ELF:          %zu\n", rep.counts[FW_KIND_NOT_ELF]);
	}
	fw_report_free(&rep);
	return FW_OK;
}
