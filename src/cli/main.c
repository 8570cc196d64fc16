// SPDX-License-Identifier: GPL-2.0-or-later
/* fwsign: the command table is the map of the tool. */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/*
 * Each command with the shared options it takes (parsed once, in
 * common.c: the key loaded there too) and what its progress line says.
 */
static const struct cli_command commands[] = {
	{ "sign", cmd_sign, CLI_SIGNER | CLI_JOBS | CLI_JSON, "signing",
	  "sign every ELF and kernel module of a tree or file" },
	{ "verify", cmd_verify, CLI_CERT | CLI_JOBS | CLI_JSON, "verifying",
	  "check every ELF against a certificate" },
	{ "diff", cmd_diff, CLI_JSON, NULL,
	  "what changed between two inputs (signatures only?)" },
	{ "batch", cmd_batch, CLI_SIGNER | CLI_JOBS | CLI_JSON, NULL,
	  "sign every image of a release (resumable, shardable)" },
	{ "info", cmd_info, CLI_JOBS | CLI_JSON, "scanning",
	  "what an input is and what it holds" },
	{ "keygen", cmd_keygen, CLI_PASS, NULL,
	  "make a signing key and certificate" },
	{ "inject-cert", cmd_inject_cert, CLI_CERT | CLI_JSON, NULL,
	  "put a certificate in a kernel's extra-certificate slot" },
	{ "ima-policy", cmd_ima_policy, 0, NULL,
	  "the IMA appraisal policy for an image signed with --ima" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: fwsign COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'fwsign COMMAND --help' for a command's options; "
		   "man fwsign for exit codes.\n");
}

/* A report that was never written is no success: stdout is flushed and
 * closed with its errors checked (ENOSPC, EPIPE, EIO: exit 5). */
static int finish(int rc)
{
	int bad = fflush(stdout) != 0 || ferror(stdout);
	int e = errno;

	if (fclose(stdout) != 0 && !bad) {
		bad = 1;
		e = errno;
	}
	if (bad) {
		fprintf(stderr, "fwsign: standard output: %s\n",
			strerror(e ? e : EIO));
		return FW_EIO;
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return FW_EUSAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("fwsign %s\n", FWSIGN_VERSION);
		return 0;
	}
#ifdef __GLIBC__
	/*
	 * Big blocks mapped, always: by default glibc raises its mmap
	 * threshold to the size of each big block freed (up to 32 MiB),
	 * and from then on such blocks (an xz encoder's tables, made and
	 * freed for every block compressed) come from the threads' arenas,
	 * whose free space fragments and only grows: peak memory then grew
	 * with the number of blocks an image has (issue #18).
	 */
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
#endif
	/* A closed pipe is an error to report (EPIPE), not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return finish(cli_run(&commands[i], argc - 1, argv + 1));
	return cli_usage("unknown command '%s'", argv[1]);
}
