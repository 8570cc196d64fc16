// SPDX-License-Identifier: GPL-2.0-or-later
/* fwsign inject-cert, and fwsign info on a kernel. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "fwsign/kernel.h"

static const char inject_help[] =
"usage: fwsign inject-cert KERNEL --cert CERT -o OUT [--system-map FILE]\n"
"                          [--replace] [--json]\n"
"\n"
"Puts the DER certificate CERT in the kernel's extra-certificate slot\n"
"(CONFIG_SYSTEM_EXTRA_CERTIFICATE), so that the kernel trusts it for\n"
"module (and fwsign) signatures, and writes the result to OUT.\n"
"\n"
"KERNEL: vmlinux (ELF, any class and byte order), a raw image (arm64\n"
"Image, ...) with --system-map, gzip/xz/lzma/lz4/zstd compressed images\n"
"(Image.gz, ...), a U-Boot legacy uImage around any of these, an x86\n"
"bzImage or an ARM zImage (gzip, xz, lzma, lz4 payload; both patched in\n"
"place).  Without a symbol table or System.map the slot is found by its\n"
"layout (kernels built with kernel/0001, or a certificate already there).\n"
"\n"
"  --cert CERT        X.509 certificate, DER (fwsign keygen's PREFIX.der)\n"
"  -o, --output OUT   output file (must not exist)\n"
"  --system-map FILE  the kernel's System.map (stripped or raw kernels)\n"
"  --replace          replace a certificate already in the slot\n"
"  --json             print the result as JSON\n";

static const char info_help[] =
"usage: fwsign info KERNEL [--system-map FILE] [--json]\n"
"\n"
"Shows the kernel's extra-certificate slot: size, bytes used, the\n"
"certificate in it.\n";

static void print_info(const char *path, const struct fw_kernel_info *k,
		       int json, double secs)
{
	if (json) {
		printf("{\"input\":\"");
		for (const char *p = path; *p; p++)
			printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
		printf("\",\"format\":\"kernel\",\"layers\":\"%s\","
		       "\"located_by\":\"%s\",\"slot_size\":%llu,\"used\":%llu,"
		       "\"state\":\"%s\",\"certificates\":%d,\"subject\":\"",
		       k->format, k->located, (unsigned long long)k->slot_size,
		       (unsigned long long)k->used,
		       fw_kslot_state_name(k->state), k->certs);
		for (const char *p = k->subject; *p; p++)
			printf(*p == '"' || *p == '\\' ? "\\%c" :
			       (unsigned char)*p < 0x20 ? "?" : "%c", *p);
		printf("\",\"note\":\"");
		for (const char *p = k->note; *p; p++)
			printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
		printf("\",\"builtin_bytes\":%llu,\"builtin_certificates\":%d",
		       (unsigned long long)k->builtin_len, k->builtin_certs);
		if (k->room >= 0)
			printf(",\"bzimage_room\":%lld", (long long)k->room);
		if (secs >= 0)
			printf(",\"seconds\":%.3f", secs);
		printf("}\n");
		return;
	}
	printf("%s: kernel\n", path);
	printf("  layers:           %s\n", k->format);
	if (k->state == FW_KSLOT_NONE) {
		printf("  slot:             none: %s\n", k->note);
		return;
	}
	printf("  slot found by:    %s\n", k->located);
	printf("  slot size:        %llu bytes\n",
	       (unsigned long long)k->slot_size);
	printf("  bytes used:       %llu\n", (unsigned long long)k->used);
	printf("  slot holds:       %s\n", fw_kslot_state_name(k->state));
	if (k->state == FW_KSLOT_CERT)
		printf("  certificate:      %s%s\n", k->subject,
		       k->certs > 1 ? " (and more)" : "");
	printf("  builtin certs:    %d (%llu bytes)\n", k->builtin_certs,
	       (unsigned long long)k->builtin_len);
	if (k->room >= 0)
		printf("  %s room:     %lld bytes left in the payload\n",
		       strstr(k->format, "ARM zImage") ? " zImage" : "bzImage",
		       (long long)k->room);
}

int cmd_inject_cert(struct cli *cx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "system-map", required_argument, NULL, 'm' },
		{ "replace", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct fw_kernel_opts ko = { 0 };
	struct fw_kernel_info k;
	struct fw_error err;
	struct timespec t0, t1;
	const char *cert, *out = NULL;
	int c;

	fw_error_clear(&err);
	while ((c = cli_getopt(cx, argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'm': ko.system_map = optarg; break;
		case 'r': ko.replace = 1; break;
		case 'h': fputs(inject_help, stdout); return 0;
		default: return cli_bad_option(cx);
		}
	}
	cert = cx->key.cert;
	if (optind != argc - 1)
		return cli_usage("inject-cert: give exactly one KERNEL");
	if (!cert)
		return cli_usage("inject-cert: --cert is required");
	if (!out)
		return cli_usage("inject-cert: -o OUT is required");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (fw_kernel_inject_cert(argv[optind], cert, out, &ko, &k, &err))
		return cli_error(&err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (cx->json) {
		print_info(out, &k, 1, (double)(t1.tv_sec - t0.tv_sec) +
		       (t1.tv_nsec - t0.tv_nsec) / 1e9);
	} else {
		printf("%s: certificate '%s' (%llu of %llu bytes) in the "
		       "slot of %s\n", out, k.subject,
		       (unsigned long long)k.used,
		       (unsigned long long)k.slot_size, k.format);
		if (k.room >= 0)
			printf("%s: %s payload patched in place, %lld "
			       "bytes to spare\n", out,
			       strstr(k.format, "ARM zImage") ? "zImage" :
							       "bzImage",
			       (long long)k.room);
	}
	return FW_OK;
}

/*
 * fwsign info on a kernel: returns -1 when argv is not about one (then
 * cmd_info goes on), else the exit code.
 */
int cmd_kernel_info(struct cli *cx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "system-map", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct fw_kernel_opts ko = { 0 };
	struct fw_kernel_info k;
	struct fw_error err;
	const char *input = NULL;
	int c, map = 0;

	/* A kernel when --system-map is given or the input looks like one. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--system-map") ||
		    !strncmp(argv[i], "--system-map=", 13))
			map = 1;
		else if (!strcmp(argv[i], "--jobs") || !strcmp(argv[i], "-j"))
			i++;
		else if (argv[i][0] != '-' && !input)
			input = argv[i];
	}
	if (!map && (!input || !fw_kernel_probe(input)))
		return -1;

	fw_error_clear(&err);
	optind = 1;
	while ((c = cli_getopt(cx, argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': ko.system_map = optarg; break;
		case 'h': fputs(info_help, stdout); return 0;
		default: return cli_bad_option(cx);
		}
	}
	if (optind != argc - 1)
		return cli_usage("info: give exactly one INPUT");
	if (fw_kernel_info(argv[optind], &ko, &k, &err))
		return cli_error(&err);
	print_info(argv[optind], &k, cx->json, -1);
	return FW_OK;
}
