// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sign --verity: the dm-verity tree after the signed image, the root hash
 * signed, and what a device needs to use them, each in a file beside
 * OUTPUT:
 *   OUTPUT.roothash.p7s  the root hash's detached PKCS#7 (DER), for
 *                        root_hash_sig_key_desc (keyctl padd user DESC)
 *   OUTPUT.verity        shell-sourceable: root hash, salt, sizes, the
 *                        dm table (plain and with the signature), the
 *                        dm-mod.create= boot parameter, veritysetup open
 *   OUTPUT.ipe           an IPE policy: execution only from a volume
 *                        whose root hash signature the kernel checked,
 *                        and from the initramfs
 *   OUTPUT.ipe.p7s       the same signed (PKCS#7 holding it), as IPE
 *                        takes a policy through securityfs
 * Written through temporaries; on any failure OUTPUT and all of them go.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fwsign/verity.h"

static char *path_of(const char *out, const char *ext)
{
	char *p = NULL;

	return asprintf(&p, "%s%s", out, ext) < 0 ? NULL : p;
}

/* Writes n bytes to path through a temporary; 0 or -1 (errno). */
static int write_file(const char *path, const void *p, size_t n)
{
	char *tmp = path_of(path, ".tmp");
	int fd, e;

	if (!tmp)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	if (write(fd, p, n) != (ssize_t)n || fsync(fd)) {
		close(fd);
		goto fail_unlink;
	}
	if (close(fd) || rename(tmp, path))
		goto fail_unlink;
	free(tmp);
	return 0;
fail_unlink:
	e = errno;
	unlink(tmp);
	errno = e;
fail:
	free(tmp);
	return -1;
}

static void hex(char *dst, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(dst + 2 * i, "%02x", p[i]);
	dst[2 * n] = 0;
}

int cli_verity_parse_salt(const char *s, struct cli_verity *v)
{
	size_t n = strlen(s);

	if (!n || n % 2 || n / 2 > sizeof(v->salt))
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned b;

		if (sscanf(s + 2 * i, "%2x", &b) != 1 ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
			return -1;
		v->salt[i] = (uint8_t)b;
	}
	v->salt_len = n / 2;
	return 0;
}

static const char *const exts[] = { ".roothash.p7s", ".verity", ".ipe",
				     ".ipe.p7s" };
#define N_EXTS 4

int cli_verity_check(const char *out)
{
	for (int i = 0; i < N_EXTS; i++) {
		char *p = path_of(out, exts[i]);
		int there = p && access(p, F_OK) == 0;
		int rc = there ? cli_usage("sign: %s exists", p) : 0;

		free(p);
		if (!p)
			return cli_usage("sign: out of memory");
		if (rc)
			return rc;
	}
	return 0;
}

int cli_verity_finish(const struct cli_verity *o, const char *out,
		      struct fw_signer *signer, int json)
{
	const char *dev = o->device ? o->device : "DEVICE";
	struct fw_verity v;
	struct fw_error err;
	uint8_t salt[FW_VERITY_MAX_SALT], uuid[16], *der = NULL, *pol = NULL;
	char salt_hex[2 * FW_VERITY_MAX_SALT + 1], uuid_s[37], desc[32];
	char *paths[N_EXTS] = { 0 }, *env = NULL, *ipe = NULL, *table = NULL;
	size_t salt_len, der_len, pol_len;
	uint64_t hoff, hstart;
	int rc, done = 0;

	fw_error_clear(&err);
	rc = fw_verity_append(out, NULL, o->salt_len ? o->salt : NULL,
			      o->salt_len, &v, &hoff, salt, &salt_len, uuid,
			      &err);
	if (rc)
		goto fail;
	rc = fw_verity_sign_root(signer, v.root_hex, &der, &der_len, &err);
	if (rc)
		goto fail;
	hex(salt_hex, salt, salt_len);
	snprintf(uuid_s, sizeof(uuid_s), "%02x%02x%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x-%02x%02x%02x%02x%02x%02x", uuid[0], uuid[1],
		 uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8],
		 uuid[9], uuid[10], uuid[11], uuid[12], uuid[13], uuid[14],
		 uuid[15]);
	snprintf(desc, sizeof(desc), "fwsign:%.16s", v.root_hex);
	hstart = hoff / v.block + 1;	/* after the superblock's block */
	if (asprintf(&table, "0 %llu verity 1 %s %s %u %u %llu %llu sha256 "
		     "%s %s", (unsigned long long)(hoff / 512), dev, dev,
		     v.block, v.block, (unsigned long long)v.data_blocks,
		     (unsigned long long)hstart, v.root_hex, salt_hex) < 0)
		table = NULL;
	if (!table ||
	    asprintf(&env,
		     "# dm-verity of %s (fwsign sign --verity)\n"
		     "VERITY_ROOT_HASH=%s\n"
		     "VERITY_SALT=%s\n"
		     "VERITY_UUID=%s\n"
		     "VERITY_HASH=sha256\n"
		     "VERITY_BLOCK_SIZE=%u\n"
		     "VERITY_DATA_BLOCKS=%llu\n"
		     "VERITY_HASH_OFFSET=%llu\n"
		     "VERITY_SIG_KEY_DESC='%s'\n"
		     "VERITY_TABLE='%s'\n"
		     "VERITY_TABLE_SIGNED='%s 2 root_hash_sig_key_desc %s'\n"
		     "VERITY_CMDLINE='dm-mod.create=\"fwsign-root,,,ro,%s\" "
		     "root=/dev/dm-0'\n"
		     "VERITY_OPEN='veritysetup open --hash-offset=%llu "
		     "--root-hash-signature=%s.roothash.p7s %s fwsign-root %s "
		     "%s'\n", out, v.root_hex, salt_hex, uuid_s, v.block,
		     (unsigned long long)v.data_blocks,
		     (unsigned long long)hoff, desc, table, table, desc, table,
		     (unsigned long long)hoff, out, dev, dev, v.root_hex) < 0)
		env = NULL;
	if (!env ||
	    asprintf(&ipe,
		     "policy_name=fwsign policy_version=0.0.1\n"
		     "DEFAULT action=ALLOW\n"
		     "DEFAULT op=EXECUTE action=DENY\n"
		     "op=EXECUTE boot_verified=TRUE action=ALLOW\n"
		     "op=EXECUTE dmverity_signature=TRUE action=ALLOW\n") < 0)
		ipe = NULL;
	for (int i = 0; i < N_EXTS; i++)
		if (!(paths[i] = path_of(out, exts[i])))
			break;
	if (!ipe || !paths[N_EXTS - 1]) {
		rc = fw_error_set(&err, FW_EIO, NULL, "out of memory");
		goto fail;
	}
	rc = fw_sign_attached(signer, (const uint8_t *)ipe, strlen(ipe), &pol,
			      &pol_len, &err);
	if (rc)
		goto fail;
	if (write_file(paths[3], pol, pol_len) ||
	    write_file(paths[0], der, der_len) ||
	    write_file(paths[1], env, strlen(env)) ||
	    write_file(paths[2], ipe, strlen(ipe))) {
		rc = fw_error_set(&err, FW_EIO, out, "cannot write beside it: "
				  "%s", strerror(errno));
		goto fail;
	}
	done = 1;
	if (!json)
		printf("dm-verity: root hash %s, %llu data blocks of %u, tree "
		       "at byte %llu (%zu bytes); signature %s, table and boot "
		       "line %s, IPE policy %s (signed: %s)\n", v.root_hex,
		       (unsigned long long)v.data_blocks, v.block,
		       (unsigned long long)hoff, v.area_len, paths[0],
		       paths[1], paths[2], paths[3]);
fail:
	if (!done) {
		unlink(out);
		for (int i = 0; i < N_EXTS; i++)
			if (paths[i])
				unlink(paths[i]);
		rc = cli_error(&err);
	}
	for (int i = 0; i < N_EXTS; i++)
		free(paths[i]);
	fw_verity_free(&v);
	free(der);
	free(pol);
	free(table);
	free(env);
	free(ipe);
	return done ? FW_OK : rc;
}
