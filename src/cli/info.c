// SPDX-License-Identifier: GPL-2.0-or-later
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fwsign/stack.h"

static const char help[] =
"usage: fwsign info INPUT [--json] [--jobs N]\n"
"\n"
"Says what INPUT is (its format) and counts what it holds by ELF kind.\n"
"A vendor blob is shown as its tree of layers: each part's offset, size,\n"
"format and checksum state, each filesystem's ELF counts, each kernel's\n"
"certificate slot.\n"
"      --layout FILE  the parts of a wrapper no format knows (see sign)\n";

int cmd_info(struct cli *cx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "layout", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct fw_run_opts ro = { 0 };
	struct fw_report rep;
	struct fw_error err;
	struct fw_stack_opts so = { 0 };
	struct fw_stack *s = NULL;
	int c, rc;

	/* A blob of layers first, unless it is only a kernel in a uImage. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--layout") && i + 1 < argc)
			so.layout = argv[++i];
		else if (!strncmp(argv[i], "--layout=", 9))
			so.layout = argv[i] + 9;
		else if (!strcmp(argv[i], "--jobs") || !strcmp(argv[i], "-j"))
			i++;
		else if (argv[i][0] != '-' && !so.input)
			so.input = argv[i];
	}
	if (so.input && access(so.input, F_OK) == 0) {
		rc = cli_stack_open(&so, &s);
		if (rc > 0)
			return rc;
		if (!rc && fw_stack_lone_kernel(s)) {
			fw_stack_close(s);
			s = NULL;
		}
	}
	if (!s) {
		rc = cmd_kernel_info(cx, argc, argv);
		if (rc >= 0)
			return rc;
	}
	fw_error_clear(&err);
	optind = 1;
	while ((c = cli_getopt(cx, argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'L': break;
		case 'h':
			fw_stack_close(s);
			fputs(help, stdout);
			return 0;
		default:
			fw_stack_close(s);
			return cli_bad_option(cx);
		}
	}
	if (optind != argc - 1) {
		fw_stack_close(s);
		return cli_usage("info: give exactly one INPUT");
	}
	ro.jobs = cx->jobs;
	ro.progress = cx->progress;
	ro.progress_arg = cx->progress_arg;
	if (s) {
		so.progress = ro.progress;
		so.progress_arg = ro.progress_arg;
		return cli_stack_info(s, cx->json);
	}
	ro.input = argv[optind];
	rc = fw_scan_image(&ro, &rep, &err);
	cli_progress_end();
	if (rc) {
		fw_report_free(&rep);
		return cli_error(&err);
	}
	cli_print_warnings(&rep);
	if (cx->json) {
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
		cli_print_ima(&rep);
	}
	fw_report_free(&rep);
	return FW_OK;
}
