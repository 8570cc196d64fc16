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

#include <json-c/json.h>

#include "cli.h"
#include "fwsign/stack.h"
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

/* The first file beside base that exists (malloc'ed), or NULL; *oom set
 * when a path could not be made. */
static char *side_existing(const char *base, int *oom)
{
	*oom = 0;
	for (int i = 0; i < N_EXTS; i++) {
		char *p = path_of(base, exts[i]);

		if (!p) {
			*oom = 1;
			return NULL;
		}
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

int cli_verity_check(const char *out)
{
	int oom, rc;
	char *p = side_existing(out, &oom);

	if (oom)
		return cli_usage("sign: out of memory");
	if (!p)
		return 0;
	rc = cli_usage("sign: %s exists", p);
	free(p);
	return rc;
}

/* The files beside base for one image's tree; 0, or an error in err
 * (then none of them is left). */
/* --json: the tree and the files beside the image, as the text says them */
static int add_json(const struct cli_verity *o, const char *image,
		    const struct fw_verity_info *vi, const char *salt_hex,
		    const char *uuid_s, const char *desc, const char *table,
		    char *const *paths, struct fw_error *err)
{
	static const char *const keys[N_EXTS] = { "root_hash_signature",
		"variables", "ipe_policy", "ipe_policy_signed" };
	struct json_object *e = json_object_new_object(), *files;
	int bad = !e;

	if (!bad && !*o->json)
		bad = !(*o->json = json_object_new_array());
#define ADD(obj, k, v) (bad = bad || json_object_object_add(obj, k, v))
	if (!bad) {
		ADD(e, "image", json_object_new_string(image));
		ADD(e, "root_hash", json_object_new_string(vi->root_hex));
		ADD(e, "salt", json_object_new_string(salt_hex));
		ADD(e, "uuid", json_object_new_string(uuid_s));
		ADD(e, "hash", json_object_new_string("sha256"));
		ADD(e, "block_size", json_object_new_int64(vi->block));
		ADD(e, "data_blocks", json_object_new_int64(
				(int64_t)vi->data_blocks));
		ADD(e, "hash_offset", json_object_new_int64(
				(int64_t)vi->hash_offset));
		ADD(e, "tree_bytes", json_object_new_int64(
				(int64_t)vi->tree_len));
		ADD(e, "sig_key_desc", json_object_new_string(desc));
		ADD(e, "table", json_object_new_string(table));
		files = json_object_new_object();
		bad = bad || !files;
		for (int i = 0; !bad && i < N_EXTS; i++)
			ADD(files, keys[i], json_object_new_string(paths[i]));
		if (files)
			ADD(e, "files", files);
	}
#undef ADD
	if (bad || json_object_array_add(*o->json, e)) {
		json_object_put(e);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	return FW_OK;
}

int cli_verity_json(const struct cli_verity *v, char *doc, FILE *f)
{
	const char *end = doc ? strrchr(doc, '}') : NULL;
	int rc;

	if (!doc)
		return -1;
	if (!end || !v || !v->json || !*v->json) {
		rc = fputs(doc, f) < 0;
	} else {
		fwrite(doc, 1, (size_t)(end - doc), f);
		fprintf(f, ",\"verity\":%s", json_object_to_json_string_ext(
				*v->json, JSON_C_TO_STRING_PLAIN |
				JSON_C_TO_STRING_NOSLASHESCAPE));
		fputs(end, f);
		rc = ferror(f);
	}
	free(doc);
	return rc;
}

static int write_side(const struct cli_verity *o, const char *base,
		      const char *image, const struct fw_verity_info *vi,
		      struct fw_signer *signer, int json, struct fw_error *err)
{
	const char *dev = o->device ? o->device : "DEVICE";
	uint8_t *der = NULL, *pol = NULL;
	char salt_hex[2 * FW_VERITY_MAX_SALT + 1], uuid_s[37], desc[32];
	char *paths[N_EXTS] = { 0 }, *env = NULL, *ipe = NULL, *table = NULL;
	const uint8_t *uuid = vi->uuid;
	size_t der_len, pol_len;
	uint64_t hstart = vi->hash_offset / vi->block + 1;
	int rc, done = 0;

	rc = fw_verity_sign_root(signer, vi->root_hex, &der, &der_len, err);
	if (rc)
		goto out;
	hex(salt_hex, vi->salt, vi->salt_len);
	snprintf(uuid_s, sizeof(uuid_s), "%02x%02x%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x-%02x%02x%02x%02x%02x%02x", uuid[0], uuid[1],
		 uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8],
		 uuid[9], uuid[10], uuid[11], uuid[12], uuid[13], uuid[14],
		 uuid[15]);
	snprintf(desc, sizeof(desc), "fwsign:%.16s", vi->root_hex);
	if (asprintf(&table, "0 %llu verity 1 %s %s %u %u %llu %llu sha256 "
		     "%s %s", (unsigned long long)(vi->hash_offset / 512), dev,
		     dev, vi->block, vi->block,
		     (unsigned long long)vi->data_blocks,
		     (unsigned long long)hstart, vi->root_hex, salt_hex) < 0)
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
		     "%s'\n", image, vi->root_hex, salt_hex, uuid_s, vi->block,
		     (unsigned long long)vi->data_blocks,
		     (unsigned long long)vi->hash_offset, desc, table, table,
		     desc, table, (unsigned long long)vi->hash_offset, base,
		     dev, dev, vi->root_hex) < 0)
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
		if (!(paths[i] = path_of(base, exts[i])))
			break;
	if (!ipe || !paths[N_EXTS - 1]) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	rc = fw_sign_attached(signer, (const uint8_t *)ipe, strlen(ipe), &pol,
			      &pol_len, err);
	if (rc)
		goto out;
	if (write_file(paths[3], pol, pol_len) ||
	    write_file(paths[0], der, der_len) ||
	    write_file(paths[1], env, strlen(env)) ||
	    write_file(paths[2], ipe, strlen(ipe))) {
		rc = fw_error_set(err, FW_EIO, base, "cannot write beside it: "
				  "%s", strerror(errno));
		goto out;
	}
	if (o->json && (rc = add_json(o, image, vi, salt_hex, uuid_s, desc,
				      table, paths, err)))
		goto out;
	done = 1;
	if (!json)
		printf("dm-verity: %s: root hash %s, %llu data blocks of %u, "
		       "tree at byte %llu (%zu bytes); signature %s, table and "
		       "boot line %s, IPE policy %s (signed: %s)\n", image,
		       vi->root_hex, (unsigned long long)vi->data_blocks,
		       vi->block, (unsigned long long)vi->hash_offset,
		       vi->tree_len, paths[0], paths[1], paths[2], paths[3]);
out:
	if (!done)
		for (int i = 0; i < N_EXTS; i++)
			if (paths[i])
				unlink(paths[i]);
	for (int i = 0; i < N_EXTS; i++)
		free(paths[i]);
	free(der);
	free(pol);
	free(table);
	free(env);
	free(ipe);
	return done ? FW_OK : rc;
}

int cli_verity_finish(const struct cli_verity *o, const char *out,
		      struct fw_signer *signer, int json)
{
	struct fw_verity_info vi;
	struct fw_error err;
	int rc;

	fw_error_clear(&err);
	rc = fw_verity_append(out, o->salt_len ? o->salt : NULL, o->salt_len,
			      &vi, &err);
	if (!rc)
		rc = write_side(o, out, out, &vi, signer, json, &err);
	if (rc) {
		unlink(out);
		return cli_error(&err);
	}
	return FW_OK;
}

/* A blob: the files beside OUTPUT.PART for each filesystem's tree, PART
 * its path in the tree with '/' as '_'. */
struct blob_arg {
	const struct cli_verity *o;
	const char *out;
	struct fw_signer *signer;
	int json;
	char **written;
	size_t n;
};

static int blob_one(void *arg, const char *part, const struct fw_verity_info *vi,
		    struct fw_error *err)
{
	struct blob_arg *a = arg;
	char *base = NULL, *img = NULL, **w, *there;
	int oom = 0;

	if (asprintf(&base, "%s.%s", a->out, part) < 0)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	for (char *p = base + strlen(a->out) + 1; *p; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	if (asprintf(&img, "%s:%s", a->out, part) < 0) {
		free(base);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	w = realloc(a->written, (a->n + 1) * sizeof(*w));
	there = w ? side_existing(base, &oom) : NULL;
	if (!w || oom || there) {
		int rc = there ? fw_error_set(err, FW_EUSAGE, there, "exists") :
			 fw_error_set(err, FW_EIO, NULL, "out of memory");
		if (w)
			a->written = w;
		free(there);
		free(base);
		free(img);
		return rc;
	}
	a->written = w;
	if (write_side(a->o, base, img, vi, a->signer, a->json, err)) {
		free(base);
		free(img);
		return err->code;
	}
	a->written[a->n++] = base;
	free(img);
	return FW_OK;
}

int cli_verity_blob(const struct cli_verity *o, struct fw_stack *s,
		    const char *out, struct fw_signer *signer, int json)
{
	struct blob_arg a = { .o = o, .out = out, .signer = signer,
			      .json = json };
	struct fw_error err;
	int rc;

	fw_error_clear(&err);
	rc = fw_stack_each_verity(s, blob_one, &a, &err);
	if (!rc && !a.n)
		rc = fw_error_set(&err, FW_EINPUT, out, "--verity: no squashfs "
				  "or ext2/3/4 filesystem in the blob");
	for (size_t i = 0; i < a.n; i++) {
		if (rc)
			for (int k = 0; k < N_EXTS; k++) {
				char *p = path_of(a.written[i], exts[k]);

				if (p)
					unlink(p);
				free(p);
			}
		free(a.written[i]);
	}
	free(a.written);
	if (rc) {
		unlink(out);
		return cli_error(&err);
	}
	return FW_OK;
}
