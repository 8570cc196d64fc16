// SPDX-License-Identifier: GPL-2.0-or-later
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char help[] =
"usage: fwsign keygen -o PREFIX [--subject CN] [--org O]\n"
"                     [--rsa 2048|3072|4096 | --ec p256|p384] [--days N]\n"
"                     [--pass-env VAR | --pass-file FILE]\n"
"\n"
"Makes PREFIX.key (private key, mode 0600, never overwritten), PREFIX.crt\n"
"(PEM certificate) and PREFIX.der (DER, for the kernel).  The certificate\n"
"is self-signed with CA:FALSE, digitalSignature, codeSigning and a subject\n"
"key identifier.  Default: RSA 4096, 3650 days.  With --pass-env or\n"
"--pass-file the key is encrypted (AES-256).\n";

int cmd_keygen(struct cli *cx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "subject", required_argument, NULL, 's' },
		{ "org", required_argument, NULL, 'O' },
		{ "rsa", required_argument, NULL, 'r' },
		{ "ec", required_argument, NULL, 'e' },
		{ "days", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct fw_keygen_opts ko = { 0 };
	struct fw_error err;
	int c;

	fw_error_clear(&err);
	while ((c = cli_getopt(cx, argc, argv, "o:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': ko.prefix = optarg; break;
		case 's': ko.subject = optarg; break;
		case 'O': ko.org = optarg; break;
		case 'r': ko.rsa_bits = atoi(optarg); break;
		case 'e': ko.ec = optarg; break;
		case 'd': ko.days = atoi(optarg); break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_bad_option(cx);
		}
	}
	ko.pass_env = cx->key.pass_env;
	ko.pass_file = cx->key.pass_file;
	if (!ko.prefix || optind != argc)
		return cli_usage("keygen: give -o PREFIX");
	if (ko.ec && ko.rsa_bits)
		return cli_usage("keygen: --rsa and --ec exclude each other");
	if (fw_keygen(&ko, &err))
		return cli_error(&err);
	printf("%s.key %s.crt %s.der\n", ko.prefix, ko.prefix, ko.prefix);
	return FW_OK;
}
