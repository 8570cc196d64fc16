// SPDX-License-Identifier: GPL-2.0-or-later
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli.h"
#include "fwsign/cache.h"
#include "fwsign/kernel.h"
#include "fwsign/stack.h"

static const char help[] =
"usage: fwsign sign INPUT (-o OUTPUT | --in-place) --key KEY --cert CERT\n"
"                   [--hash sha256|sha384|sha512] [--keyid] [--jobs N]\n"
"                   [--pass-env VAR | --pass-file FILE] [--sign-other]\n"
"                   [--dry-run] [--json] [--strict] [--attest] [--cache DIR]\n"
"\n"
"Signs every ELF executable, shared library and kernel module (also\n"
".ko.gz/.ko.xz/.ko.zst) of INPUT, a directory tree or a single file, with\n"
"the kernel's module-signature trailer.  An old trailer is replaced.\n"
"\n"
"  -o, --output PATH   write a signed copy to PATH (must not exist)\n"
"      --in-place      rewrite the signed files of INPUT itself\n"
"  -k, --key KEY       PEM private key, or a pkcs11: URI\n"
"  -c, --cert CERT     X.509 certificate (PEM or DER) matching the key\n"
"      --hash NAME     digest: sha256 (default), sha384, sha512\n"
"      --keyid         identify the signer by subject key id (sign-file -k)\n"
"      --pass-env VAR  passphrase or PIN from environment variable VAR\n"
"      --pass-file F   passphrase or PIN from the first line of file F\n"
"      --sign-other    also sign other ELF files (objects, core dumps)\n"
"      --allow-expired sign with a certificate outside its validity\n"
"  -j, --jobs N        threads (default: all cores)\n"
"  -n, --dry-run       print the plan, change nothing\n"
"      --json          report as JSON on stdout\n"
"      --strict        exit 1 on any warning (a malformed ELF file too)\n"
"      --allow-unsigned  exit 0 even when an executable, library or module\n"
"                      is left unsigned (each is still listed); without\n"
"                      it that is exit 1\n"
"      --attest        also write OUTPUT.intoto.json: an in-toto attestation\n"
"                      (subject: OUTPUT's sha256; every file's sha256 before\n"
"                      and after) in a DSSE envelope signed with KEY; check\n"
"                      it with fwsign verify --attestation\n"
"      --attest-name N the attestation subject's name (default: OUTPUT's\n"
"                      file name)\n"
"      --ima           also write each executable's and shared library's\n"
"                      security.ima xattr (evmctl's signature v2 over the\n"
"                      signed file) for stock-kernel IMA appraisal: in\n"
"                      squashfs, ext2/3/4, pax tar and directory trees\n"
"      --ima-only      the xattr only, no appended trailer\n"
"      --ima-modules   kernel modules get security.ima too\n"
"      --cache DIR     reuse the squashfs blocks and RSA signatures that\n"
"                      other runs with DIR made (each checked before use)\n"
"                      and store this run's: the images of one release\n"
"                      share most files (fwsign batch does this itself)\n"
"      --max-size N    refuse an output image bigger than N bytes (K, M, G\n"
"                      suffixes: powers of 1024), e.g. the flash partition\n"
"      --verity        append a dm-verity hash tree to the signed squashfs\n"
"                      or ext2/3/4 image (as veritysetup format writes it)\n"
"                      and write OUTPUT.roothash.p7s (the root hash signed\n"
"                      with KEY), OUTPUT.verity (table, dm-mod.create=,\n"
"                      veritysetup open) and OUTPUT.ipe (an IPE policy);\n"
"                      in a blob, for each such filesystem, OUTPUT.PART.*\n"
"      --verity-salt HEX  the salt (default: derived from the image)\n"
"      --verity-device DEV  the block device in the table (default DEVICE)\n"
"      --kernel IN --kernel-out OUT\n"
"                      also put CERT in the kernel IN's extra-certificate\n"
"                      slot, written to OUT (see fwsign inject-cert); with\n"
"                      --system-map FILE and --replace-cert as there\n"
"\n"
"A vendor blob (fwtool trailers, sysupgrade tar, FIT, uImage, a flash image\n"
"of a uImage and a rootfs, TRX, CHK, nested to any depth) is signed whole:\n"
"every filesystem in it is signed, every kernel in it gets CERT, and every\n"
"layer is rebuilt with its lengths and checksums right (fwsign info shows\n"
"the tree).\n"
"      --no-inject-cert    leave the kernels in a blob as they are\n"
"      --skip-kernels-without-slot\n"
"                          a kernel without a certificate slot is left as\n"
"                          it is (else it is an error)\n"
"      --drop-image-signature\n"
"                          drop an fwtool usign signature block (it cannot\n"
"                          survive signing)\n"
"      --usign-key FILE    sign an fwtool usign signature block again with\n"
"                          the vendor's usign secret key FILE (unencrypted:\n"
"                          usign -G, signify -G -n); the ucert chain is kept\n"
"      --fit-keydir DIR    sign a FIT's signature nodes again (mkimage -k)\n"
"      --layout FILE       the parts of a wrapper no format knows: lines of\n"
"                          NAME OFFSET SIZE|rest [auto|data]\n";

/* What cmd_sign closes after the run: the cache (fwsign/cache.h). */
struct sign_after {
	struct fw_cache *cache;
	int quiet;		/* --json */
};

/*
 * fwsign batch's children: the secret of the file digests in the cache
 * (fwsign/cache.h), read from the memory file FWSIGN_CACHE_SECRET_FD
 * names, which is closed then.
 */
static void cache_secret(struct fw_cache *c)
{
	const char *v = getenv("FWSIGN_CACHE_SECRET_FD");
	char *end;
	long fd = v ? strtol(v, &end, 10) : -1;
	unsigned char k[64];
	ssize_t n;

	if (!v || !*v || *end || fd < 3 || fd > INT32_MAX)
		return;
	unsetenv("FWSIGN_CACHE_SECRET_FD");
	n = pread((int)fd, k, sizeof(k), 0);
	close((int)fd);
	if (c && n >= 16 && n < (ssize_t)sizeof(k))
		fw_cache_set_secret(c, k, (size_t)n);
	memset(k, 0, sizeof(k));
}

static int sign_main(struct cli *cx, int argc, char **argv,
		     struct sign_after *after)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "in-place", no_argument, NULL, 'I' },
		{ "sign-other", no_argument, NULL, 'O' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "strict", no_argument, NULL, 'S' },
		{ "allow-unsigned", no_argument, NULL, 'U' },
		{ "max-size", required_argument, NULL, 'M' },
		{ "kernel", required_argument, NULL, 1 },
		{ "kernel-out", required_argument, NULL, 2 },
		{ "system-map", required_argument, NULL, 3 },
		{ "replace-cert", no_argument, NULL, 4 },
		{ "no-inject-cert", no_argument, NULL, 5 },
		{ "skip-kernels-without-slot", no_argument, NULL, 6 },
		{ "drop-image-signature", no_argument, NULL, 7 },
		{ "fit-keydir", required_argument, NULL, 8 },
		{ "layout", required_argument, NULL, 9 },
		{ "usign-key", required_argument, NULL, 10 },
		{ "attest", no_argument, NULL, 11 },
		{ "attest-name", required_argument, NULL, 12 },
		{ "ima", no_argument, NULL, 13 },
		{ "ima-only", no_argument, NULL, 14 },
		{ "ima-modules", no_argument, NULL, 15 },
		{ "verity", no_argument, NULL, 16 },
		{ "verity-salt", required_argument, NULL, 17 },
		{ "verity-device", required_argument, NULL, 18 },
		{ "cache", required_argument, NULL, 19 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct fw_run_opts ro = { 0 };
	struct fw_stack_opts so = { 0 };
	struct fw_stack *stack;
	struct fw_report rep;
	struct fw_error err;
	struct fw_kernel_opts kopt = { .cert_pem_ok = 1 };
	struct fw_kernel_info kinfo;
	const char *kin = NULL, *kout = NULL;
	struct cli_attest att = { 0 };
	char *att_path = NULL;
	struct cli_policy pol = { 0 };
	struct cli_verity ver = { 0 };
	struct json_object *vjson = NULL;	/* --verity --json */
	const char *cache_dir = NULL;
	int c, attest = 0, rc;

	fw_error_clear(&err);
	while ((c = cli_getopt(cx, argc, argv, "o:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': ro.output = optarg; break;
		case 'I': ro.in_place = 1; break;
		case 'O': ro.sign_other = 1; break;
		case 13: ro.ima = FW_IMA_WITH_TRAILER; break;
		case 14: ro.ima = FW_IMA_ONLY; break;
		case 15: ro.ima_modules = 1; break;
		case 'n': ro.dry_run = 1; break;
		case 'S': pol.strict = 1; break;
		case 'U': pol.allow_unsigned = 1; break;
		case 'M':
			if (cli_size(optarg, &ro.max_size) < 0)
				return cli_usage("bad --max-size '%s'", optarg);
			break;
		case 1: kin = optarg; break;
		case 2: kout = optarg; break;
		case 3: kopt.system_map = optarg; break;
		case 4: kopt.replace = 1; break;
		case 5: so.no_inject_cert = 1; break;
		case 6: so.skip_kernels_without_slot = 1; break;
		case 7: so.drop_image_signature = 1; break;
		case 8: so.fit_keydir = optarg; break;
		case 9: so.layout = optarg; break;
		case 10: so.usign_key = optarg; break;
		case 11: attest = 1; break;
		case 12: att.name = optarg; break;
		case 16: ver.on = 1; break;
		case 17:
			if (cli_verity_parse_salt(optarg, &ver))
				return cli_usage("bad --verity-salt '%s': hex, "
						 "256 bytes at most", optarg);
			break;
		case 18: ver.device = optarg; break;
		case 19: cache_dir = optarg; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_bad_option(cx);
		}
	}
	pol.sign_other = ro.sign_other;
	ro.jobs = cx->jobs;
	ro.progress = cx->progress;
	ro.progress_arg = cx->progress_arg;
	if (ro.ima_modules && !ro.ima)
		return cli_usage("sign: --ima-modules goes with --ima or "
				 "--ima-only");
	if (optind != argc - 1)
		return cli_usage("sign: give exactly one INPUT");
	ro.input = argv[optind];
	if (!kin != !kout)
		return cli_usage("sign: --kernel and --kernel-out go together");
	if (so.usign_key && so.drop_image_signature)
		return cli_usage("sign: --usign-key signs the image signature "
				 "again, --drop-image-signature drops it: not "
				 "both");
	if (so.usign_key && (ro.in_place || kin))
		return cli_usage("sign: --usign-key takes -o OUTPUT, not "
				 "--in-place or --kernel");
	if ((ver.salt_len || ver.device) && !ver.on)
		return cli_usage("sign: --verity-salt and --verity-device go "
				 "with --verity");
	if (ver.on && cx->json)
		ver.json = &vjson;
	if (ver.on) {
		struct stat st;

		if (ro.dry_run || ro.in_place || !ro.output || kin)
			return cli_usage("sign: --verity takes -o OUTPUT, not "
					 "--in-place, --dry-run or --kernel");
		if (stat(ro.input, &st) == 0 && S_ISDIR(st.st_mode))
			return cli_usage("sign: --verity takes a filesystem "
					 "image; %s is a directory", ro.input);
		if ((rc = cli_verity_check(ro.output)))
			return rc;
	}
	if (att.name && !attest)
		return cli_usage("sign: --attest-name goes with --attest");
	if (attest) {
		struct stat st;

		if (ro.dry_run || ro.in_place || !ro.output)
			return cli_usage("sign: --attest takes -o OUTPUT, not "
					 "--in-place or --dry-run");
		if (stat(ro.input, &st) == 0 && S_ISDIR(st.st_mode))
			return cli_usage("sign: --attest attests an image "
					 "file; %s is a directory", ro.input);
		att_path = cli_attest_path(ro.output);
		if (!att_path)
			return cli_usage("sign: out of memory");
		if (access(att_path, F_OK) == 0) {
			rc = cli_usage("sign: %s exists", att_path);
			free(att_path);
			return rc;
		}
		free(att_path);
		att_path = NULL;
		att.input = ro.input;
		att.output = ro.output;
	}
	if (!ro.dry_run) {
		if (!ro.output == !ro.in_place)
			return cli_usage("sign: give either -o OUTPUT or --in-place");
		/* The key is checked against the certificate before any file. */
		if ((rc = cli_signer(cx, "sign: --key and --cert are required")))
			return rc;
		ro.signer = att.signer = cx->signer;
		after->quiet = cx->json;
		if (cache_dir && fw_cache_open(cache_dir, &ro.cache, &err))
			return cli_error(&err);
		cache_secret(ro.cache);
		so.cache = after->cache = ro.cache;
		fw_signer_set_cache(ro.signer, ro.cache);
	}
	/* A vendor blob: the tree of layers, signed whole. */
	if (!ro.in_place && !kin) {
		so.input = ro.input;
		so.output = ro.output;
		so.signer = ro.signer;
		so.cert = cx->key.cert;
		so.jobs = ro.jobs;
		so.sign_other = ro.sign_other;
		so.ima = ro.ima;
		so.ima_modules = ro.ima_modules;
		so.dry_run = ro.dry_run;
		so.max_size = ro.max_size;
		if (so.dry_run)
			so.no_inject_cert = !cx->key.cert;
		so.verity = ver.on;
		so.verity_salt = ver.salt_len ? ver.salt : NULL;
		so.verity_salt_len = ver.salt_len;
		rc = cli_stack_open(&so, &stack);
		if (rc >= 0) {
			if (!rc) {
				so.progress = ro.progress;
				so.progress_arg = ro.progress_arg;
				rc = cli_stack_sign(stack, cx->json, &pol,
						    attest ? &att : NULL, &ver,
						    ro.output, ro.signer);
			}
			json_object_put(vjson);
			return rc;
		}
	} else if (so.layout) {
		return cli_usage("sign: --layout takes -o OUTPUT, not "
				 "--in-place or --kernel");
	}
	/* The kernel first: a refused kernel leaves nothing written. */
	if (kin && !ro.dry_run &&
	    fw_kernel_inject_cert(kin, cx->key.cert, kout, &kopt, &kinfo, &err))
		return cli_error(&err);
	rc = fw_sign_image(&ro, &rep, &err);
	cli_progress_end();
	if (rc) {
		if (kin && !ro.dry_run)
			unlink(kout);
		fw_report_free(&rep);
		return cli_error(&err);
	}
	if (ver.on && (rc = cli_verity_finish(&ver, ro.output, ro.signer,
					      cx->json))) {
		fw_report_free(&rep);
		return rc;
	}
	/* the attestation reads both images: every file before and after */
	if (attest && (rc = cli_attest_write(&att, &rep, 1, &att_path))) {
		if (kin)
			unlink(kout);
		fw_report_free(&rep);
		json_object_put(vjson);
		return rc;
	}
	if (kin && !ro.dry_run && !cx->json)
		printf("%s: certificate '%s' in the kernel's slot (%llu of "
		       "%llu bytes)\n", kout, kinfo.subject,
		       (unsigned long long)kinfo.used,
		       (unsigned long long)kinfo.slot_size);
	cli_print_warnings(&rep);
	if (cx->json && vjson) {
		char *doc = NULL;
		size_t len;
		FILE *m = open_memstream(&doc, &len);

		if (m) {
			fw_report_json(&rep, "sign", m);
			fclose(m);
		}
		cli_verity_json(&ver, doc, stdout);
	} else if (cx->json) {
		fw_report_json(&rep, ro.dry_run ? "plan" : "sign", stdout);
	} else if (ro.dry_run) {
		for (size_t i = 0; i < rep.n; i++) {
			const struct fw_record *r = fw_report_rec(&rep, i);

			if (r->elf.kind == FW_KIND_NOT_ELF)
				continue;
			printf("%-6s %-15s %-8s %s%s%s\n",
			       r->action == FW_ACT_SIGN ? "sign" : "skip",
			       fw_kind_name(r->elf.kind),
			       fw_machine_name(r->elf.machine), r->path,
			       r->link_of ? " => " : "",
			       r->link_of ? r->link_of : "");
		}
	} else {
		printf("signed %zu, re-signed %zu, skipped %zu ELF files "
		       "(%zu executables, %zu shared libraries, %zu kernel "
		       "modules) of %zu files; %lld bytes added, %zu warnings, "
		       "%.2f s\n",
		       rep.n_signed, rep.n_resigned, rep.n_skipped,
		       rep.counts[FW_KIND_EXEC], rep.counts[FW_KIND_SHLIB],
		       rep.counts[FW_KIND_MODULE], rep.n,
		       (long long)rep.bytes_added, rep.n_warn + rep.n_warnings,
		       rep.seconds);
		if (att_path)
			printf("attestation: %s\n", att_path);
	}
	free(att_path);
	json_object_put(vjson);
	rc = ro.dry_run ? FW_OK : cli_sign_status(&rep, &pol);
	fw_report_free(&rep);
	return rc;
}

int cmd_sign(struct cli *cx, int argc, char **argv)
{
	struct sign_after after = { 0 };
	int rc = sign_main(cx, argc, argv, &after);

	if (after.cache && !after.quiet && rc != FW_EUSAGE) {
		struct fw_cache_stats st;

		fw_cache_stats(after.cache, &st);
		printf("cache: %llu blocks reused, %llu compressed (%llu "
		       "stored), %llu entries rejected; %llu signatures "
		       "reused, %llu made, %llu rejected\n",
		       (unsigned long long)st.hits,
		       (unsigned long long)(st.misses + st.rejected),
		       (unsigned long long)st.stored,
		       (unsigned long long)st.rejected,
		       (unsigned long long)st.sig_hits,
		       (unsigned long long)st.sig_misses,
		       (unsigned long long)st.sig_rejected);
		if (st.dig_hits + st.dig_misses + st.dig_rejected)
			printf("cache: %llu file digests reused, %llu not "
			       "found, %llu rejected\n",
			       (unsigned long long)st.dig_hits,
			       (unsigned long long)st.dig_misses,
			       (unsigned long long)st.dig_rejected);
	}
	fw_cache_close(after.cache);
	return rc;
}
