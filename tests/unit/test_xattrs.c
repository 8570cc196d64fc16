// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The formats' xattrs op on images built by the real tools: a directory
 * tree given xattrs with setfattr and setcap (a file capability, which
 * diffoscope and sqfsdiff do not show; user.*, trusted.* on a symlink, a
 * binary value, an ACL in system.*, a hard link), then mksquashfs, mke2fs
 * -d (inodes of 256 bytes: xattrs in the inode; of 128: in an xattr
 * block), GNU tar --xattrs (SCHILY.xattr), bsdtar pax (LIBARCHIVE.xattr
 * and SCHILY.xattr, every xattr twice) and bsdtar newc cpio (none).  Each
 * entry must have exactly the xattrs that were set and that its format
 * keeps, names and bytes, once each; the tars in the order of their
 * headers, the directory in llistxattr's; every entry is also read from
 * four threads at once.  Runs as root (setcap, trusted.*); what cannot be
 * set here is left out, with a message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../formats/format.h"
#include "t.h"

/* cap_net_raw+ep: VFS_CAP_REVISION_2 | effective, permitted bit 13. */
static const uint8_t cap_net_raw[20] = { 0x01, 0x00, 0x00, 0x02,
					 0x00, 0x20, 0x00, 0x00 };

/*
 * An access ACL (u::rw-,u:1000:r--,g::r--,m::r--,o::r--) as getxattr gives
 * it: version 2, then tag, perm and id (-1 but for named users and
 * groups), little-endian.
 */
static const uint8_t acl[] = {
	0x02, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x06, 0x00, 0xff, 0xff, 0xff, 0xff,
	0x02, 0x00, 0x04, 0x00, 0xe8, 0x03, 0x00, 0x00,
	0x04, 0x00, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff,
	0x10, 0x00, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff,
	0x20, 0x00, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff,
};

/* The kinds of image, for what each keeps. */
enum kind { K_DIR = 1, K_SQFS = 2, K_EXT4 = 4, K_GNUTAR = 8, K_BSDTAR = 16,
	    K_CPIO = 32 };

struct want {
	const char *path;	/* entry */
	const char *name;
	const void *val;
	size_t len;
	unsigned not_in;	/* kinds that cannot keep it */
	int set;		/* could be set in the tree */
};

static struct want wants[] = {
	{ "plain.txt", "user.test", "hello", 5, K_CPIO, 0 },
	{ "bin", "user.dirattr", "d", 1, K_CPIO, 0 },
	{ "bin/tool", "user.bin", "\0\377\n", 3, K_CPIO, 0 },
	{ "bin/tool", "security.capability", cap_net_raw, 20, K_CPIO, 0 },
	{ "bin/tool2", "user.bin", "\0\377\n", 3, K_CPIO, 0 },
	{ "bin/tool2", "security.capability", cap_net_raw, 20, K_CPIO, 0 },
	{ "link", "trusted.link", "1", 1, K_CPIO, 0 },
	/* squashfs has no system.* (mksquashfs drops it); bsdtar keeps
	 * ACLs as SCHILY.acl.access, not as an xattr. */
	{ "empty.txt", "system.posix_acl_access", acl, sizeof(acl),
	  K_SQFS | K_BSDTAR | K_CPIO, 0 },
};
#define N_WANTS (sizeof(wants) / sizeof(wants[0]))

/* Entries that must be in every image (the xattrs are checked on all). */
static const char *const paths[] = { "", "plain.txt", "empty.txt", "bin",
				     "bin/tool", "bin/tool2", "link" };
#define N_PATHS (sizeof(paths) / sizeof(paths[0]))

static char dir[64];

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* Whether entry path of an image of this kind must have want w. */
static int expected(const struct want *w, const char *path, unsigned kind)
{
	return w->set && !strcmp(w->path, path) && !(w->not_in & kind);
}

/* Checks one entry's list against the table; returns mismatches and, if
 * why is given, describes the first. */
static int compare(const char *path, const struct fw_xattr *v, size_t n,
		   unsigned kind, char *why, size_t why_len)
{
	size_t want_n = 0;

	for (size_t i = 0; i < n; i++) {
		size_t k;

		for (size_t j = 0; j < i; j++)
			if (!strcmp(v[i].name, v[j].name)) {
				snprintf(why, why_len, "%s: %s twice", path,
					 v[i].name);
				return 1;
			}
		for (k = 0; k < N_WANTS; k++)
			if (expected(&wants[k], path, kind) &&
			    !strcmp(wants[k].name, v[i].name))
				break;
		if (k == N_WANTS) {
			snprintf(why, why_len, "%s: unexpected %s (%zu bytes)",
				 path, v[i].name, v[i].len);
			return 1;
		}
		if (v[i].len != wants[k].len ||
		    memcmp(v[i].value, wants[k].val, v[i].len)) {
			snprintf(why, why_len, "%s: %s has %zu bytes, not the "
				 "%zu set", path, v[i].name, v[i].len,
				 wants[k].len);
			return 1;
		}
	}
	for (size_t k = 0; k < N_WANTS; k++)
		want_n += expected(&wants[k], path, kind);
	if (want_n != n) {
		snprintf(why, why_len, "%s: %zu xattrs, %zu were set", path, n,
			 want_n);
		return 1;
	}
	return 0;
}

struct worker {
	struct fw_image *img;
	unsigned kind;
	int bad;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	char why[256];

	for (int round = 0; round < 20; round++)
		for (size_t i = 0; i < w->img->n; i++) {
			struct fw_xattr *v = NULL;
			size_t n = 0;
			struct fw_error err = { 0 };

			if (w->img->fmt->xattrs(w->img, i, &v, &n, &err) ||
			    compare(w->img->ent[i].path, v, n, w->kind, why,
				    sizeof(why)))
				w->bad++;
			fw_xattrs_free(v, n);
		}
	return NULL;
}

/* Where the first "xattr.NAME=" record of a tar lies (SIZE_MAX: none). */
static size_t record_at(const uint8_t *tar, size_t len, const char *name)
{
	char pat[128];
	const uint8_t *at;

	snprintf(pat, sizeof(pat), "xattr.%s=", name);
	at = memmem(tar, len, pat, strlen(pat));
	return at ? (size_t)(at - tar) : SIZE_MAX;
}

/*
 * The order in which the tar's first header with both records keeps
 * them: 1 user.bin first, -1 security.capability first, 0 unknown.
 */
static int tar_order(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t len, a, b;
	int order = 0;

	if (!f)
		return 0;
	buf = malloc(1 << 20);
	len = buf ? fread(buf, 1, 1 << 20, f) : 0;
	fclose(f);
	a = record_at(buf, len, "user.bin");
	b = record_at(buf, len, "security.capability");
	if (a != SIZE_MAX && b != SIZE_MAX)
		order = a < b ? 1 : -1;
	free(buf);
	return order;
}

/*
 * Opens an image and checks every entry.  order: for a tar, which of
 * bin/tool's two xattrs comes first (0: not checked); for the directory,
 * 2: the order llistxattr gives.
 */
static void check_image(const char *path, const char *label, unsigned kind,
			int order)
{
	struct fw_image *img = NULL;
	struct fw_error err = { 0 };
	int found[N_PATHS] = { 0 };
	char why[256];

	if (fw_image_open(path, NULL, &img, &err)) {
		CHECK(0, "%s: cannot open %s: %s", label, path, err.msg);
		return;
	}
	CHECK(img->fmt->xattrs != NULL, "%s: format %s has no xattrs op",
	      label, img->fmt->name);
	if (!img->fmt->xattrs) {
		fw_image_close(img);
		return;
	}
	for (size_t i = 0; i < img->n; i++) {
		const char *p = img->ent[i].path;
		struct fw_xattr *v = NULL;
		size_t n = 0;
		int rc;

		for (size_t k = 0; k < N_PATHS; k++)
			if (!strcmp(paths[k], p))
				found[k] = 1;
		rc = img->fmt->xattrs(img, i, &v, &n, &err);
		CHECK(rc == FW_OK, "%s: %s: %s", label, p, err.msg);
		if (rc)
			continue;
		why[0] = '\0';
		CHECK(!compare(p, v, n, kind, why, sizeof(why)), "%s: %s",
		      label, why);
		if (order && !strncmp(p, "bin/tool", 8) && n == 2) {
			int user_first = !strcmp(v[0].name, "user.bin");

			if (order == 2) {
				char list[256];
				char full[256];
				ssize_t l;

				snprintf(full, sizeof(full), "%s/tree/%s", dir, p);
				l = llistxattr(full, list, sizeof(list));
				CHECK(l > 0 && !strcmp(list, v[0].name),
				      "%s: %s: %s first, llistxattr says %s",
				      label, p, v[0].name, l > 0 ? list : "?");
			} else {
				CHECK(user_first == (order == 1),
				      "%s: %s: %s first, not in header order",
				      label, p, v[0].name);
			}
		}
		fw_xattrs_free(v, n);
	}
	for (size_t k = 0; k < N_PATHS; k++)
		CHECK(found[k], "%s: no entry \"%s\"", label, paths[k]);
	{
		struct worker w[4];
		pthread_t t[4];
		int bad = 0;

		for (int i = 0; i < 4; i++) {
			w[i] = (struct worker){ img, kind, 0 };
			CHECK(pthread_create(&t[i], NULL, hammer, &w[i]) == 0,
			      "pthread_create");
		}
		for (int i = 0; i < 4; i++) {
			pthread_join(t[i], NULL);
			bad += w[i].bad;
		}
		CHECK(bad == 0, "%s: %d wrong answers from 4 threads at once",
		      label, bad);
	}
	/* Out of range is an error, not a crash. */
	{
		struct fw_xattr *v = NULL;
		size_t n = 0;

		CHECK(img->fmt->xattrs(img, img->n, &v, &n, &err) != FW_OK &&
		      v == NULL && n == 0, "%s: entry %zu of %zu", label,
		      img->n, img->n);
	}
	printf("%s: %zu entries checked%s\n", label, img->n,
	       order == 2 ? ", in llistxattr order"
	       : order == 1 ? ", user.bin before security.capability as in "
			      "the header"
	       : order == -1 ? ", security.capability before user.bin as "
			       "in the header" : "");
	fw_image_close(img);
}

/* Sets one xattr row (and its hard-link twin) with cmd; notes failures. */
static void set(size_t row, const char *what, const char *cmd)
{
	int ok = run("%s >/dev/null 2>&1", cmd) == 0;

	for (size_t k = 0; k < N_WANTS; k++)
		if (!strcmp(wants[k].name, wants[row].name) &&
		    (k == row || !strcmp(wants[row].path, "bin/tool")))
			wants[k].set = ok;
	if (!ok)
		printf("cannot set %s here (%s): not tested\n", what, cmd);
}

static int have(const char *tool)
{
	return run("command -v %s >/dev/null 2>&1", tool) == 0;
}

int main(void)
{
	char cmd[1024], path[256];
	int any = 0;

	snprintf(dir, sizeof(dir), "/tmp/fwsign-xattrs-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	if (run("set -e; cd %s; mkdir -p tree/bin; printf 'hello\\n' > "
		"tree/plain.txt; : > tree/empty.txt; cp /bin/true tree/bin/tool; "
		"ln tree/bin/tool tree/bin/tool2; ln -s plain.txt tree/link",
		dir)) {
		CHECK(0, "cannot build the tree in %s", dir);
		return t_done();
	}
	if (!have("setfattr")) {
		printf("no setfattr (package attr): skipped\n");
		run("rm -rf %s", dir);
		return t_done();
	}
	snprintf(cmd, sizeof(cmd),
		 "setfattr -n user.test -v hello %s/tree/plain.txt", dir);
	set(0, "user.test", cmd);
	snprintf(cmd, sizeof(cmd),
		 "setfattr -n user.dirattr -v d %s/tree/bin", dir);
	set(1, "user.dirattr", cmd);
	snprintf(cmd, sizeof(cmd),
		 "setfattr -n user.bin -v 0x00ff0a %s/tree/bin/tool", dir);
	set(2, "user.bin", cmd);
	/* Last on the file: writes and chown clear a capability. */
	snprintf(cmd, sizeof(cmd), "setcap cap_net_raw+ep %s/tree/bin/tool",
		 dir);
	set(3, "security.capability (setcap, needs root)", cmd);
	snprintf(cmd, sizeof(cmd),
		 "setfattr -h -n trusted.link -v 1 %s/tree/link", dir);
	set(6, "trusted.link on a symlink (needs root)", cmd);
	{
		size_t o;

		o = (size_t)snprintf(cmd, sizeof(cmd), "setfattr -n "
				     "system.posix_acl_access -v 0x");
		for (size_t i = 0; i < sizeof(acl); i++)
			o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, "%02x",
					      acl[i]);
		snprintf(cmd + o, sizeof(cmd) - o, " %s/tree/empty.txt", dir);
		set(7, "an ACL (system.posix_acl_access)", cmd);
	}
	for (size_t k = 0; k < N_WANTS; k++)
		any |= wants[k].set;
	if (!any) {
		printf("no xattr can be set in %s: skipped\n", dir);
		run("rm -rf %s", dir);
		return t_done();
	}

	snprintf(path, sizeof(path), "%s/tree", dir);
	check_image(path, "directory", K_DIR, 2);
	/* A single file is an image of one entry, "". */
	{
		struct fw_image *img = NULL;
		struct fw_error err = { 0 };
		struct fw_xattr *v = NULL;
		size_t n = 0;
		char why[256] = "";

		snprintf(path, sizeof(path), "%s/tree/bin/tool", dir);
		CHECK(fw_image_open(path, NULL, &img, &err) == FW_OK,
		      "single file: %s", err.msg);
		if (img) {
			CHECK(img->fmt->xattrs &&
			      img->fmt->xattrs(img, 0, &v, &n, &err) == FW_OK,
			      "single file: %s", err.msg);
			/* the same xattrs as bin/tool */
			CHECK(!compare("bin/tool", v, n, K_DIR, why,
				       sizeof(why)),
			      "single file: %s", why);
			fw_xattrs_free(v, n);
			fw_image_close(img);
		}
	}

	if (have("mksquashfs")) {
		/* (it says it drops the ACL: squashfs has no system.*) */
		CHECK(run("mksquashfs %s/tree %s/t.sqfs -quiet -no-progress "
			  ">/dev/null 2>&1", dir, dir) == 0, "mksquashfs");
		snprintf(path, sizeof(path), "%s/t.sqfs", dir);
		check_image(path, "squashfs", K_SQFS, 0);
	} else {
		printf("no mksquashfs: squashfs not tested\n");
	}

	if (have("mke2fs")) {
		/* mke2fs -d copies xattrs (llistxattr, lgetxattr) */
		CHECK(run("mke2fs -q -F -t ext4 -I 256 -d %s/tree %s/t256.img 8M "
			  ">/dev/null 2>&1", dir, dir) == 0, "mke2fs -I 256");
		snprintf(path, sizeof(path), "%s/t256.img", dir);
		check_image(path, "ext4, in-inode xattrs", K_EXT4, 0);
		CHECK(run("mke2fs -q -F -t ext4 -I 128 -d %s/tree %s/t128.img 8M "
			  ">/dev/null 2>&1", dir, dir) == 0, "mke2fs -I 128");
		snprintf(path, sizeof(path), "%s/t128.img", dir);
		check_image(path, "ext4, xattr blocks", K_EXT4, 0);
	} else {
		printf("no mke2fs: ext4 not tested\n");
	}

	if (run("tar --version 2>/dev/null | grep -q 'GNU tar'") == 0) {
		CHECK(run("tar --xattrs --xattrs-include='*' -cf %s/gnu.tar -C "
			  "%s/tree .", dir, dir) == 0, "tar --xattrs");
		snprintf(path, sizeof(path), "%s/gnu.tar", dir);
		check_image(path, "GNU tar (SCHILY.xattr)", K_GNUTAR,
			    tar_order(path));
	} else {
		printf("no GNU tar: its pax xattrs not tested\n");
	}
	if (have("bsdtar")) {
		CHECK(run("bsdtar --format pax -cf %s/bsd.tar -C %s/tree .", dir,
			  dir) == 0, "bsdtar pax");
		snprintf(path, sizeof(path), "%s/bsd.tar", dir);
		check_image(path, "bsdtar pax (LIBARCHIVE + SCHILY)", K_BSDTAR,
			    tar_order(path));
		CHECK(run("bsdtar --format newc -cf %s/t.cpio -C %s/tree .", dir,
			  dir) == 0, "bsdtar newc");
		snprintf(path, sizeof(path), "%s/t.cpio", dir);
		check_image(path, "cpio (no xattrs)", K_CPIO, 0);
	} else {
		printf("no bsdtar: bsdtar pax and cpio not tested\n");
	}

	run("rm -rf %s", dir);
	return t_done();
}
