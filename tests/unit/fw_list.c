// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fw_list INPUT [DIR]: what a format reads from an image, one line per entry,
 * for command tests to compare with the tree the image was built from:
 *
 *   path TAB mode(octal) TAB uid:gid TAB mtime TAB size-or-major:minor
 *   TAB link target TAB sha256 of the bytes or - TAB xattrs (name=hex,...)
 *   TAB hard-link group (the first name) or -
 *
 * With DIR, every regular file's bytes are also written to DIR/path
 * (the directories made as needed).
 *
 * Exit status: fwsign's codes, the error on stderr as the tool prints it.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../../formats/format.h"

static const char *dump_dir;

/* b into dump_dir/path, making the directories. */
static int dump(const char *path, const uint8_t *b, size_t n)
{
	char *p, *s;
	FILE *f;
	int rc = 0;

	if (asprintf(&p, "%s/%s", dump_dir, path) < 0)
		return -1;
	for (s = strchr(p + strlen(dump_dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	f = fopen(p, "wb");
	if (!f || fwrite(b, 1, n, f) != n)
		rc = -1;
	if (f && fclose(f))
		rc = -1;
	free(p);
	return rc;
}

static int one(struct fw_image *img, size_t i, struct fw_error *err)
{
	const struct fw_entry *e = &img->ent[i];
	const struct fw_stat *st = &e->st;
	unsigned char md[32];
	struct fw_xattr *x = NULL;
	size_t nx = 0;
	int rc;

	printf("%s\t%o\t%u:%u\t%lld\t", *e->path ? e->path : ".",
	       (unsigned)st->st_mode, (unsigned)st->st_uid,
	       (unsigned)st->st_gid, (long long)st->st_mtim.tv_sec);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		printf("%u:%u\t", major(st->st_rdev), minor(st->st_rdev));
	else if (S_ISREG(st->st_mode) || S_ISLNK(st->st_mode))
		printf("%lld\t", (long long)st->st_size);
	else
		printf("-\t");
	printf("%s\t", e->link_target ? e->link_target : "-");
	if (S_ISREG(st->st_mode)) {
		uint8_t *b;
		size_t n;

		rc = img->fmt->read(img, i, &b, &n, err);
		if (rc)
			return rc;
		EVP_Digest(b, n, md, NULL, EVP_sha256(), NULL);
		if (dump_dir && dump(e->path, b, n)) {
			free(b);
			return fw_error_set(err, FW_EIO, e->path,
					    "cannot write a copy");
		}
		free(b);
		for (int k = 0; k < 32; k++)
			printf("%02x", md[k]);
	} else {
		printf("-");
	}
	putchar('\t');
	if (img->fmt->xattrs) {
		rc = img->fmt->xattrs(img, i, &x, &nx, err);
		if (rc)
			return rc;
	}
	for (size_t k = 0; k < nx; k++) {
		printf("%s%s=", k ? "," : "", x[k].name);
		for (size_t j = 0; j < x[k].len; j++)
			printf("%02x", x[k].value[j]);
	}
	fw_xattrs_free(x, nx);
	printf("%s\t%s\n", nx ? "" : "-",
	       e->link_of != FW_NO_LINK ? img->ent[e->link_of].path : "-");
	return FW_OK;
}

int main(int argc, char **argv)
{
	struct fw_error err = { 0 };
	struct fw_image *img = NULL;
	int rc;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: fw_list INPUT [DIR]\n");
		return FW_EUSAGE;
	}
	dump_dir = argc == 3 ? argv[2] : NULL;
	if (dump_dir)
		mkdir(dump_dir, 0755);
	rc = fw_image_open(argv[1], NULL, &img, &err);
	for (size_t i = 0; !rc && i < img->n; i++)
		rc = one(img, i, &err);
	if (img)
		fw_image_close(img);
	if (rc)
		fprintf(stderr, "fwsign: %s%s%s\n", err.file,
			*err.file ? ": " : "", err.msg);
	fw_error_clear(&err);
	return rc;
}
