// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fwsign ima-policy: the IMA appraisal rules for an image signed with
 * --ima, for a stock kernel.  Only what runs from the image's filesystems
 * is appraised: squashfs by its magic (it has no UUID), ext2/3/4 by UUID,
 * so that writable filesystems and the initramfs (ramfs or tmpfs; a cpio
 * carries no xattrs) are left out.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fwsign/stack.h"
#include "../bytes.h"

#define SQUASHFS_MAGIC 0x73717368u
#define UBIFS_NODE_MAGIC 0x06101831u	/* a UBIFS volume's superblock node */
#define EXT_SB 1024
#define EXT_MAGIC 0xEF53u

static const char help[] =
"usage: fwsign ima-policy IMAGE [--modules]\n"
"\n"
"Prints the IMA policy that appraises every program and every executable\n"
"mapping (BPRM_CHECK, MMAP_CHECK mask=MAY_EXEC) run from the filesystems\n"
"of IMAGE, signed with fwsign sign --ima: squashfs and UBIFS by fsmagic,\n"
"ext2/3/4 by fsuuid; appraise_type=imasig, so only a signature will do.  The\n"
"initramfs is left out (a cpio carries no xattrs).  Write it to\n"
"/sys/kernel/security/ima/policy and boot with ima_appraise=enforce; the\n"
"key goes in the .ima keyring (kernel/README).\n"
"\n"
"      --modules   kernel modules loaded from those filesystems too\n"
"                  (MODULE_CHECK; sign with --ima-modules)\n";

struct policy {
	int modules;
	int squashfs;		/* its rules are out already */
	int ubifs;		/* the same */
	int n;			/* filesystems */
};

static void rules(const struct policy *p, const char *cond)
{
	printf("appraise func=BPRM_CHECK %s appraise_type=imasig\n", cond);
	printf("appraise func=MMAP_CHECK mask=MAY_EXEC %s "
	       "appraise_type=imasig\n", cond);
	if (p->modules)
		printf("appraise func=MODULE_CHECK %s appraise_type=imasig\n",
		       cond);
}

/* One filesystem: its rules, from its first bytes. */
static int one_fs(void *arg, const char *part, const char *file,
		  struct fw_error *err)
{
	struct policy *p = arg;
	uint8_t b[EXT_SB + 128];
	char cond[64];
	ssize_t n;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fw_error_set(err, FW_EIO, file, "cannot open: %s",
				    strerror(errno));
	n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n >= 4 && fw_le32(b) == SQUASHFS_MAGIC) {
		if (!p->squashfs) {
			printf("# %s: squashfs\n", part);
			rules(p, "fsmagic=0x73717368");
		} else {
			printf("# %s: squashfs, as above\n", part);
		}
		p->squashfs = 1;
		p->n++;
	} else if (n >= 21 && b[20] == 6 &&
		   (uint32_t)(b[0] | b[1] << 8 | b[2] << 16 |
			      (uint32_t)b[3] << 24) == UBIFS_NODE_MAGIC) {
		printf("# %s: UBIFS%s\n", part, p->ubifs ? ", as above" : "");
		if (!p->ubifs)
			rules(p, "fsmagic=0x24051905");
		p->ubifs = 1;
		p->n++;
	} else if (n == (ssize_t)sizeof(b) &&
		   fw_le16(b + EXT_SB + 56) == EXT_MAGIC) {
		const uint8_t *u = b + EXT_SB + 104;

		snprintf(cond, sizeof(cond), "fsuuid=%02x%02x%02x%02x-%02x%02x-"
			 "%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
			 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
			 u[10], u[11], u[12], u[13], u[14], u[15]);
		printf("# %s: ext2/3/4\n", part);
		rules(p, cond);
		p->n++;
	} else {
		printf("# %s: left out (no xattrs at run time: an archive, "
		       "or an initramfs)\n", part);
	}
	return FW_OK;
}

int cmd_ima_policy(struct cli *cx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "modules", no_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct policy p = { 0 };
	struct fw_stack_opts so = { 0 };
	struct fw_stack *s = NULL;
	struct fw_error err;
	struct stat st;
	int c, rc;

	fw_error_clear(&err);
	while ((c = cli_getopt(cx, argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': p.modules = 1; break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_bad_option(cx);
		}
	}
	if (optind != argc - 1)
		return cli_usage("ima-policy: give exactly one IMAGE");
	so.input = argv[optind];
	if (stat(so.input, &st) == 0 && S_ISDIR(st.st_mode))
		return cli_usage("ima-policy: %s is a directory: give the image "
				 "it goes into (its filesystem type or UUID "
				 "is what the policy names)", so.input);
	printf("# IMA appraisal for %s (fwsign ima-policy)\n", so.input);
	rc = fw_stack_open(&so, &s, &err);
	if (rc)
		return cli_error(&err);
	if (fw_stack_composite(s))
		rc = fw_stack_each_fs(s, one_fs, &p, &err);
	else
		rc = one_fs(&p, ".", so.input, &err);
	fw_stack_close(s);
	if (rc)
		return cli_error(&err);
	if (!p.n) {
		fw_error_set(&err, FW_EINPUT, so.input, "no squashfs, "
			     "UBIFS or ext2/3/4 filesystem: nothing IMA can "
			     "appraise (sign it without --ima)");
		return cli_error(&err);
	}
	return FW_OK;
}
