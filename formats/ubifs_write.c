// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * UBIFS output: the volume is regenerated, not edited.  Every entry is
 * staged in a private temporary directory (directories, files with their
 * new or old bytes, hard links, symlinks; devices, fifos and sockets as
 * empty files), and mkfs.ubifs (mtd-utils) builds a new volume from it
 * with the original superblock's min I/O size, LEB size, max LEB count,
 * compressor (favor_lzo where LZO and zlib nodes mix), key hash, fanout,
 * journal, log and orphan sizes, reserved space and free-space-fixup flag.
 *
 * What a host directory cannot hold without root (owners, modes of
 * devices, the original times, SELinux labels) and what makes mkfs.ubifs
 * output differ from run to run (a random UUID, readdir order) are
 * answered by an LD_PRELOAD library (src/ubifs_shim/) from a manifest
 * written here: its stat and lstat report each staged path's original
 * mode, owner, device number and times, its FS_IOC_GETFLAGS the
 * original inode flags (sync, immutable, append, dirsync, compress)
 * rather than the staging filesystem's, readdir returns names sorted,
 * uuid_generate_random the original UUID and selabel_lookup the original
 * security.selinux.  A device table (-D) could set owners and devices but
 * neither times nor labels, and nothing there fixes the UUID or order.
 *
 * Debian's mkfs.ubifs (2.1.5) is built with SELinux, which leaves out its
 * copying of host xattrs: security.selinux is the only xattr it can
 * store, and only on every inode or none.  The others (security.capability,
 * security.ima from --ima, user.*, trusted.*; labels of some inodes only)
 * are added to its volume as the kernel adds them after a mount, without a
 * commit (add_journal): xattr entries, xattr inodes and new versions of
 * their hosts (xattr_cnt, xattr_size, xattr_names; newer sqnums) in new
 * LEBs after mkfs.ubifs's, buds of the base journal head, named by
 * reference nodes in the log right after the commit start node (in its
 * first min. I/O unit).  The superblock, the master node and the LPT
 * count the new LEBs, free space after the nodes and the rest dirty, as a
 * bud LEB garbage-collected before the last commit looks: the free-space
 * fixup (-F), which runs before the replay, rewrites each LEB to what the
 * LPT calls used and the log head to its first unit, so it keeps them;
 * the replay, which runs on read-only mounts too, sets their properties
 * right.  (The LPT's big model is not edited: without -F the kernel then
 * takes the LEBs as grown and empty until the replay; with -F, refused.)
 * fwsign's reader replays the journal the same way.  A volume without
 * such xattrs is mkfs.ubifs's output untouched.  Booted with -F on a
 * simulated NAND chip of 2 KiB pages (tests/e2e/nand-boot.sh): the xattrs
 * read back before and after the fixup; a journal whose buds the LPT
 * calls empty is unmapped by it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ubifs.h"
#include "../src/io.h"
#include "../src/fw_limits.h"
#include "../src/bytes.h"

#define SHIM_NAME "fwsign-ubifs-shim.so"
#define SELINUX_XATTR "security.selinux"

extern char **environ;

struct ub_out {
	struct fw_image *img;
	struct ub_priv *p;
	char *dir;		/* private temporary directory */
	char *root;		/* dir/root: the staged tree */
	FILE *man;		/* dir/manifest */
	const char *final;
	uint64_t max_size;
	size_t n_label;		/* entries with a security.selinux */
	size_t n_labelable;	/* entries mkfs.ubifs labels: not fifos, sockets */
	int favor_lzo;
	/* each inode's xattrs (its first name's entry), for the journal */
	struct ub_ext *ext;
	size_t n_ext, cap_ext;
	size_t pend_idx;	/* out_xattr's entry, put next */
	struct fw_xattr *pend;
	size_t n_pend;
};

/* An inode's xattrs as the output keeps them. */
struct ub_ext {
	size_t idx;
	struct fw_xattr *x;
	size_t n;
	int label;		/* one is security.selinux mkfs.ubifs may write */
	uint64_t inum;		/* in mkfs.ubifs's volume */
};

static const char anchor;	/* where this library lies */

/* The shim, beside the library like the archive module. */
static int shim_path(char *out, size_t len)
{
	Dl_info di;
	const char *slash;
	int dir;

	if (!dladdr(&anchor, &di) || !di.dli_fname)
		return -1;
	slash = strrchr(di.dli_fname, '/');
	dir = slash ? (int)(slash - di.dli_fname) : 1;
	if (snprintf(out, len, "%.*s/%s/%s", dir, slash ? di.dli_fname : ".",
		     FW_PLUGIN_DIR, SHIM_NAME) >= (int)len)
		return -1;
	return access(out, R_OK);
}

/* The staging directory, whatever is in it; never following a link. */
static void rm_tree(const char *path)
{
	fw_rm_tree(path);
}

static void out_free(struct ub_out *o)
{
	for (size_t i = 0; i < o->n_ext; i++)
		fw_xattrs_free(o->ext[i].x, o->ext[i].n);
	free(o->ext);
	fw_xattrs_free(o->pend, o->n_pend);
	if (o->man)
		fclose(o->man);
	if (o->dir)
		rm_tree(o->dir);
	free(o->dir);
	free(o->root);
	free(o);
}

void ub_out_abort(void *ctx)
{
	if (ctx)
		out_free(ctx);
}

/* LZO by default but zlib nodes too: mkfs.ubifs -x favor_lzo made it. */
static int favors_lzo(const struct ub_priv *p)
{
	if (p->sb.default_compr != UB_COMPR_LZO)
		return 0;
	for (size_t i = 0; i < p->n_leaf; i++)
		if (p->leaf[i].type == UB_KEY_DATA &&
		    fw_le16(p->leaf[i].node + 44) == UB_COMPR_ZLIB)
			return 1;
	return 0;
}

/* mkfs.ubifs's scale for -R: its add_space_overhead for the fanout. */
static uint64_t rp_factor(const struct ub_super *s)
{
	uint64_t f = s->fanout > 3 ? s->fanout >> 1 : 2;
	uint64_t idx = 28 + (uint64_t)(12 + UB_SK_LEN) * s->fanout;

	return UB_DATA_SZ + UB_BLOCK + idx * 3 / (f - 1);
}

/*
 * The -R that makes mkfs.ubifs store rp_size: it scales its argument,
 * rounding down, so the smallest argument that reaches rp_size is taken
 * (a few sizes cannot be reached; the next one up is).
 */
static uint64_t reserved_arg(const struct ub_super *s)
{
	uint64_t factor = rp_factor(s);
	uint64_t r = (s->rp_size * UB_BLOCK + factor - 1) / factor;

	while (r && (r - 1) * factor / UB_BLOCK >= s->rp_size)
		r--;
	while (r * factor / UB_BLOCK < s->rp_size)
		r++;
	return r;
}

/* dir (canonical: the shim matches paths from /proc/self/fd), dir/root
 * and dir/manifest; on failure, whatever was made is left to out_free. */
static int make_staging(struct ub_out *o, struct fw_error *err)
{
	const char *tmp = getenv("TMPDIR");
	char *made = NULL, *m = NULL;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (asprintf(&made, "%s/fwsign-ubifs-XXXXXX", tmp) < 0)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (!mkdtemp(made)) {
		free(made);
		return fw_error_set(err, FW_EIO, tmp, "ubifs: cannot make a "
				    "temporary directory: %s", strerror(errno));
	}
	o->dir = realpath(made, NULL);
	if (!o->dir) {
		rm_tree(made);
		free(made);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	free(made);
	if (asprintf(&o->root, "%s/root", o->dir) < 0) {
		o->root = NULL;
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	if (mkdir(o->root, 0700) < 0)
		return fw_error_set(err, FW_EIO, o->root, "ubifs: cannot stage: "
				    "%s", strerror(errno));
	if (asprintf(&m, "%s/manifest", o->dir) < 0)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	o->man = fopen(m, "wxe");
	if (!o->man)
		fw_error_set(err, FW_EIO, m, "ubifs: cannot write the manifest: "
			     "%s", strerror(errno));
	free(m);
	return o->man ? FW_OK : err->code;
}

int ub_out_begin(struct fw_image *img, const struct fw_out_opts *oo,
		 void **ctx, struct fw_error *err)
{
	struct ub_out *o;
	const struct ub_super *s = &((struct ub_priv *)img->priv)->sb;
	char shim[PATH_MAX];
	int rc;

	*ctx = NULL;
	if (oo->in_place || !oo->path)
		return fw_error_set(err, FW_EUSAGE, img->path,
				    "ubifs: a UBIFS volume is regenerated; "
				    "name an output instead of --in-place");
	if (shim_path(shim, sizeof(shim)))
		return fw_error_set(err, FW_EIO, NULL,
				    "ubifs: %s is missing beside libfwsign",
				    SHIM_NAME);
	o = calloc(1, sizeof(*o));
	if (!o)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	o->img = img;
	o->p = img->priv;
	o->final = oo->path;
	o->max_size = oo->max_size;
	o->favor_lzo = favors_lzo(o->p);
	o->pend_idx = (size_t)-1;
	if (s->rp_size &&
	    reserved_arg(s) * rp_factor(s) / UB_BLOCK != s->rp_size)
		fw_image_warn(img, "ubifs: reserved space of %llu bytes becomes "
			      "%llu (mkfs.ubifs rounds it)",
			      (unsigned long long)s->rp_size,
			      (unsigned long long)(reserved_arg(s) *
						   rp_factor(s) / UB_BLOCK));
	rc = make_staging(o, err);
	if (rc) {
		out_free(o);
		return rc;
	}
	*ctx = o;
	return FW_OK;
}

static void hex(FILE *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

/* Namespaces the kernel's UBIFS serves (fs/ubifs/xattr.c). */
static int known_ns(const char *name)
{
	return !strncmp(name, "user.", 5) || !strncmp(name, "trusted.", 8) ||
	       !strncmp(name, "security.", 9);
}

/*
 * The entry's xattrs (the input's, with what out_xattr set replacing or
 * added), checked against what UBIFS can hold; *label: a security.selinux
 * mkfs.ubifs could write (a NUL-terminated string) among them.
 */
static int entry_xattrs(struct ub_out *o, size_t idx, struct fw_xattr **all,
			size_t *n, struct fw_xattr **label, struct fw_error *err)
{
	const struct fw_entry *e = &o->img->ent[idx];
	const char *shown = *e->path ? e->path : "/";
	size_t names = 0;
	int rc;

	*label = NULL;
	rc = ub_xattrs_inum(o->p, o->p->ent_inum[idx], all, n, shown, err);
	for (size_t k = 0; !rc && o->pend_idx == idx && k < o->n_pend; k++) {
		const struct fw_xattr *x = &o->pend[k];
		size_t i;

		for (i = 0; i < *n && strcmp((*all)[i].name, x->name); i++)
			;
		if (i < *n) {
			uint8_t *v = malloc(x->len ? x->len : 1);

			if (!v)
				return fw_error_set(err, FW_EIO, NULL,
						    "out of memory");
			memcpy(v, x->value, x->len);
			free((*all)[i].value);
			(*all)[i].value = v;
			(*all)[i].len = x->len;
		} else if (fw_xattrs_add(all, n, x->name, x->value, x->len) < 0) {
			rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		}
	}
	for (size_t i = 0; !rc && i < *n; i++) {
		const struct fw_xattr *x = &(*all)[i];
		size_t len = strlen(x->name);

		names += len + 1;
		if (!len || len > 255 || !known_ns(x->name))
			rc = fw_error_set(err, FW_EINPUT, o->img->path,
					  "ubifs: '%s' has xattr %s, which "
					  "UBIFS cannot hold (name length or "
					  "namespace)", shown, x->name);
		else if (x->len > UB_BLOCK)
			rc = fw_error_set(err, FW_EINPUT, o->img->path,
					  "ubifs: '%s': xattr %s of %zu bytes, "
					  "more than UBIFS's %d", shown,
					  x->name, x->len, UB_BLOCK);
		else if (names > 65536)
			rc = fw_error_set(err, FW_EINPUT, o->img->path,
					  "ubifs: '%s': xattr names longer "
					  "than 64 KiB in all", shown);
		else if (!strcmp(x->name, SELINUX_XATTR) && x->len >= 2 &&
			 !x->value[x->len - 1] &&
			 !memchr(x->value, '\0', x->len - 1))
			*label = (struct fw_xattr *)x;
	}
	return rc;
}

/* The inode's xattrs kept for the journal (or mkfs.ubifs, the label). */
static int keep_xattrs(struct ub_out *o, size_t idx, struct fw_xattr *all,
		       size_t n, int label, struct fw_error *err)
{
	struct ub_ext *x;

	if (o->n_ext == o->cap_ext) {
		size_t cap = o->cap_ext ? o->cap_ext * 2 : 16;

		x = realloc(o->ext, cap * sizeof(*x));
		if (!x)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		o->ext = x;
		o->cap_ext = cap;
	}
	x = &o->ext[o->n_ext++];
	x->idx = idx;
	x->x = all;
	x->n = n;
	x->label = label;
	x->inum = 0;
	return FW_OK;
}

/* The inode's flags as FS_IOC_GETFLAGS says them (linux/fs.h values),
 * those mkfs.ubifs turns back into UBIFS flags. */
static unsigned fs_flags(const uint8_t *ino)
{
	uint32_t f = fw_le32(ino + 108);

	return (f & 0x01 ? 0x00000004u : 0) |	/* COMPR */
	       (f & 0x02 ? 0x00000008u : 0) |	/* SYNC */
	       (f & 0x04 ? 0x00000010u : 0) |	/* IMMUTABLE */
	       (f & 0x08 ? 0x00000020u : 0) |	/* APPEND */
	       (f & 0x10 ? 0x00010000u : 0);	/* DIRSYNC */
}

static int manifest(struct ub_out *o, size_t idx, struct fw_error *err)
{
	const struct fw_entry *e = &o->img->ent[idx];
	const struct fw_stat *st = &e->st;
	struct fw_xattr *all = NULL, *label;
	size_t n = 0;
	int rc = entry_xattrs(o, idx, &all, &n, &label, err);
	int odd = S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode);

	if (rc) {
		fw_xattrs_free(all, n);
		return rc;
	}
	fputc('p', o->man);
	hex(o->man, (const uint8_t *)e->path, strlen(e->path));
	fprintf(o->man, " %o %u %u %u %u %lld %lld %lld %x ",
		(unsigned)st->st_mode, (unsigned)st->st_uid,
		(unsigned)st->st_gid, major(st->st_rdev), minor(st->st_rdev),
		(long long)st->st_atim.tv_sec, (long long)st->st_mtim.tv_sec,
		(long long)st->st_ctim.tv_sec,
		fs_flags(ub_inode(o->p, o->p->ent_inum[idx])));
	/* mkfs.ubifs never labels fifos and sockets: the journal does */
	if (label && !odd) {
		fputc('l', o->man);
		hex(o->man, label->value, label->len - 1);
		o->n_label++;
	} else {
		fputc('-', o->man);
	}
	fputc('\n', o->man);
	/* a hard link's later names share the first one's inode */
	if (n && e->link_of == FW_NO_LINK)
		rc = keep_xattrs(o, idx, all, n, label && !odd, err);
	else
		fw_xattrs_free(all, n);
	if (!rc && ferror(o->man))
		rc = fw_error_set(err, FW_EIO, NULL,
				  "ubifs: cannot write the manifest");
	return rc;
}

static int write_file(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		      0600);
	int rc;

	if (fd < 0)
		return -1;
	rc = fw_write_all(fd, data, len);
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

static int stage(struct ub_out *o, size_t idx, const char *path,
		 const uint8_t *data, size_t len, struct fw_error *err)
{
	const struct fw_entry *e = &o->img->ent[idx];
	mode_t m = e->st.st_mode;
	uint8_t *old = NULL;
	int r;

	if (!*e->path)
		return FW_OK;	/* the root is there */
	if (S_ISDIR(m)) {
		r = mkdir(path, 0700);
	} else if (S_ISLNK(m)) {
		r = symlink(e->link_target, path);
	} else if (S_ISREG(m) && e->link_of != FW_NO_LINK) {
		char *first;

		if (asprintf(&first, "%s/%s", o->root,
			     o->img->ent[e->link_of].path) < 0)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		r = link(first, path);
		free(first);
	} else if (S_ISREG(m)) {
		if (!data) {
			int rc = ub_read_inum(o->p, o->p->ent_inum[idx], &old,
					      &len, e->path, err);

			if (rc)
				return rc;
			data = old;
		}
		r = write_file(path, data, len);
		free(old);
	} else {
		/* a device, fifo or socket: the shim tells what it is */
		r = write_file(path, NULL, 0);
	}
	if (r < 0)
		return fw_error_set(err, FW_EIO, path, "ubifs: cannot stage "
				    "'%s': %s", e->path, strerror(errno));
	return FW_OK;
}

int ub_out_put(void *ctx, size_t idx, const uint8_t *data, size_t len,
	       struct fw_error *err)
{
	struct ub_out *o = ctx;
	char *path;
	int rc;

	if (idx >= o->img->n)
		return fw_error_set(err, FW_EINPUT, o->img->path,
				    "no such entry");
	if (asprintf(&path, "%s/%s", o->root, o->img->ent[idx].path) < 0)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	rc = stage(o, idx, path, data, len, err);
	free(path);
	if (!rc)
		rc = manifest(o, idx, err);
	if (o->pend_idx == idx) {
		fw_xattrs_free(o->pend, o->n_pend);
		o->pend = NULL;
		o->n_pend = 0;
	}
	if (!rc && !S_ISFIFO(o->img->ent[idx].st.st_mode) &&
	    !S_ISSOCK(o->img->ent[idx].st.st_mode))
		o->n_labelable++;
	return rc;
}

/* An xattr for entry idx, put next (IMA signatures). */
int ub_out_xattr(void *ctx, size_t idx, const struct fw_xattr *x,
		 struct fw_error *err)
{
	struct ub_out *o = ctx;

	if (idx >= o->img->n)
		return fw_error_set(err, FW_EINPUT, o->img->path,
				    "no such entry");
	if (o->pend_idx != idx) {
		fw_xattrs_free(o->pend, o->n_pend);
		o->pend = NULL;
		o->n_pend = 0;
		o->pend_idx = idx;
	}
	if (fw_xattrs_add(&o->pend, &o->n_pend, x->name, x->value, x->len) < 0)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	return FW_OK;
}

/* mkfs.ubifs's arguments: the original superblock's settings. */
static char **mkfs_args(struct ub_out *o, const char *out, const char *man)
{
	static const char *const compr[] = { "none", "lzo", "zlib", "zstd" };
	const struct ub_super *s = &o->p->sb;
	char **a = calloc(40, sizeof(*a));
	int n = 0, bad = 0;

	if (!a)
		return NULL;
#define ARG(...) do { if (asprintf(&a[n++], __VA_ARGS__) < 0) { a[--n] = NULL; bad = 1; } } while (0)
	ARG("mkfs.ubifs");
	ARG("-r");
	ARG("%s", o->root);
	ARG("-m%u", s->min_io);
	ARG("-e%u", s->leb_size);
	ARG("-c%u", s->max_leb_cnt);
	ARG("-x%s", o->favor_lzo ? "favor_lzo" : compr[s->default_compr]);
	ARG("-k%s", s->key_hash ? "test" : "r5");
	ARG("-f%u", s->fanout);
	ARG("-j%llu", (unsigned long long)s->max_bud_bytes);
	ARG("-l%u", s->log_lebs);
	ARG("-p%u", s->orph_lebs);
	if (s->rp_size)
		ARG("-R%llu", (unsigned long long)reserved_arg(s));
	if (s->flags & UB_FLG_SPACE_FIXUP)
		ARG("-F");
	if (o->n_label) {
		/* mkfs.ubifs checks the file exists; the shim answers */
		ARG("--selinux=%s", man);	/* -s is not in its getopt string */
	}
	ARG("-o");
	ARG("%s", out);
#undef ARG
	if (bad) {
		for (int i = 0; a[i]; i++)
			free(a[i]);
		free(a);
		return NULL;
	}
	return a;
}

static void free_args(char **a)
{
	for (int i = 0; a && a[i]; i++)
		free(a[i]);
	free(a);
}

/*
 * environ plus the shim's variables.  MALLOC_PERTURB_=255 makes malloc
 * hand out zeroed memory: mkfs.ubifs copies the --selinux argument
 * without its NUL.
 */
static char **shim_env(struct ub_out *o, const char *shim, const char *man)
{
	size_t n = 0, k = 0;
	char **env, uuid[33];

	while (environ[n])
		n++;
	env = calloc(n + 6, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) &&
		    strncmp(environ[i], "FWSIGN_UBIFS_", 13) &&
		    strncmp(environ[i], "MALLOC_PERTURB_=", 16))
			env[k++] = environ[i];
	for (int i = 0; i < 16; i++)
		snprintf(uuid + 2 * i, 3, "%02x", o->p->sb.uuid[i]);
	if (asprintf(&env[k], "LD_PRELOAD=%s", shim) < 0 ||
	    asprintf(&env[k + 1], "FWSIGN_UBIFS_MANIFEST=%s", man) < 0 ||
	    asprintf(&env[k + 2], "FWSIGN_UBIFS_ROOT=%s", o->root) < 0 ||
	    asprintf(&env[k + 3], "FWSIGN_UBIFS_UUID=%s", uuid) < 0 ||
	    asprintf(&env[k + 4], "MALLOC_PERTURB_=255") < 0) {
		free(env);	/* the few bytes asprintf may hold: leaked */
		return NULL;
	}
	return env;
}

static void free_env(char **env)
{
	size_t n = 0;

	if (!env)
		return;
	while (env[n])
		n++;
	for (size_t i = n - 5; i < n; i++)
		free(env[i]);
	free(env);
}

/* The first line mkfs.ubifs wrote to stderr, for the message. */
static void first_line(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");

	*out = '\0';
	if (!f)
		return;
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

static int run_mkfs(struct ub_out *o, const char *out, struct fw_error *err)
{
	char shim[PATH_MAX], *man = NULL, *log = NULL, **args = NULL,
	     **env = NULL, why[256];
	posix_spawn_file_actions_t fa;
	int rc = FW_OK, st = 0, have_fa = 0;
	pid_t pid;

	if (shim_path(shim, sizeof(shim)))
		return fw_error_set(err, FW_EIO, NULL, "ubifs: %s is missing",
				    SHIM_NAME);
	if (asprintf(&man, "%s/manifest", o->dir) < 0 ||
	    asprintf(&log, "%s/mkfs.log", o->dir) < 0) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	args = mkfs_args(o, out, man);
	env = shim_env(o, shim, man);
	if (!args || !env || posix_spawn_file_actions_init(&fa)) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	have_fa = 1;
	if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) ||
	    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) ||
	    posix_spawn_file_actions_addopen(&fa, 2, log,
					     O_WRONLY | O_CREAT | O_TRUNC, 0600)) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	errno = posix_spawnp(&pid, "mkfs.ubifs", &fa, NULL, args, env);
	if (errno) {
		rc = fw_error_set(err, FW_EIO, o->final,
				  "ubifs: cannot run mkfs.ubifs (mtd-utils): "
				  "%s", strerror(errno));
		goto out;
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		first_line(log, why, sizeof(why));
		rc = fw_error_set(err, FW_EIO, o->final,
				  "ubifs: mkfs.ubifs failed: %s",
				  *why ? why : "no message");
	}
out:
	if (have_fa)
		posix_spawn_file_actions_destroy(&fa);
	free_args(args);
	free_env(env);
	free(man);
	free(log);
	return rc;
}

/*
 * The new volume into the output.  An input that was a whole volume
 * (more LEBs than the superblock counts, erased) gets the same length,
 * padded with erased (0xff) LEBs.
 */
static int deliver(struct ub_out *o, const char *made, struct fw_error *err)
{
	const struct ub_priv *p = o->p;
	uint64_t used = (uint64_t)p->sb.leb_cnt * p->leb_size, pad = 0;
	struct fw_outfile of;
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd, rc;

	fd = open(made, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fw_read_fd(fd, &buf, &len, (size_t)FW_READ_MAX)) {
		if (fd >= 0)
			close(fd);
		return fw_error_set(err, FW_EIO, made,
				    "ubifs: cannot read what mkfs.ubifs made");
	}
	close(fd);
	if (p->size > used) {
		if (len > p->size) {
			free(buf);
			return fw_error_set(err, FW_EINPUT, o->final,
					    "ubifs: the signed volume needs "
					    "%zu bytes, more than the %llu of "
					    "the input", len,
					    (unsigned long long)p->size);
		}
		pad = p->size - len;
	}
	rc = fw_outfile_begin(&of, o->final, err);
	if (rc) {
		free(buf);
		return rc;
	}
	if (fw_write_all(of.fd, buf, len))
		rc = fw_error_set(err, FW_EIO, o->final, "cannot write: %s",
				  strerror(errno));
	free(buf);
	if (!rc && pad) {
		uint8_t ff[65536];

		memset(ff, 0xff, sizeof(ff));
		while (!rc && pad) {
			size_t n = pad < sizeof(ff) ? pad : sizeof(ff);

			if (fw_write_all(of.fd, ff, n))
				rc = fw_error_set(err, FW_EIO, o->final,
						  "cannot write: %s",
						  strerror(errno));
			pad -= n;
		}
	}
	if (!rc)
		rc = fw_outfile_commit(&of, o->max_size, err);
	fw_outfile_abort(&of);
	return rc;
}

/* ---------------------------------------------------------------- */
/* The xattrs mkfs.ubifs cannot write: a journal after its commit     */

#define ALIGN8(x) (((x) + 7) & ~(uint64_t)7)
#define BASEHD 1		/* the kernel's journal head of inodes, entries */

/* The xattrs of an inode the journal writes. */
static int journal_xattr(const struct ub_out *o, const struct ub_ext *e,
			 size_t i)
{
	return !(o->n_label && e->label &&
		 !strcmp(e->x[i].name, SELINUX_XATTR));
}

static void put_ch(uint8_t *n, uint64_t sqnum, uint32_t len, int type,
		   int group)
{
	fw_put_le32(n, UB_MAGIC);
	fw_put_le64(n + 8, sqnum);
	fw_put_le32(n + 16, len);
	n[20] = (uint8_t)type;
	n[21] = (uint8_t)group;
	n[22] = n[23] = 0;
}

static void seal(uint8_t *n)
{
	fw_put_le32(n + 4, ub_crc(n + 8, fw_le32(n + 16) - 8));
}

/* Pads [from, the next min. I/O unit) of a LEB as the kernel's ubifs_pad. */
static uint32_t pad_to_io(uint8_t *leb, uint32_t from, uint32_t min_io)
{
	uint32_t to = (from + min_io - 1) / min_io * min_io, gap = to - from;

	if (gap >= UB_PAD_SZ) {
		memset(leb + from, 0, gap);
		put_ch(leb + from, 0, UB_PAD_SZ, UB_PAD_NODE, 0);
		fw_put_le32(leb + from + 24, gap - UB_PAD_SZ);
		seal(leb + from);
	} else {
		memset(leb + from, UB_PAD_BYTE, gap);
	}
	return to;
}

struct jw {
	const struct ub_priv *p;
	uint8_t *buds;		/* k LEBs */
	uint32_t k, offs;
	uint64_t sq, inum;	/* the last sqnum, inode number given */
	uint64_t ref_sq[64];	/* each bud's reference node's sqnum */
	uint32_t end[64];	/* where each bud's free space starts */
};

static int new_bud(struct jw *w, const struct ub_out *o, struct fw_error *err)
{
	uint32_t leb = w->p->leb_size;
	uint8_t *b;

	if (w->k)
		w->end[w->k - 1] = pad_to_io(w->buds + (size_t)(w->k - 1) * leb,
					     w->offs, w->p->sb.min_io);
	if (w->p->sb.flags & UB_FLG_SPACE_FIXUP &&
	    UB_CS_SZ + (uint64_t)(w->k + 1) * UB_REF_SZ >
		    (UB_CS_SZ + w->p->sb.min_io - 1) / w->p->sb.min_io *
			    w->p->sb.min_io)
		return fw_error_set(err, FW_EINPUT, o->img->path,
				    "ubifs: the xattrs mkfs.ubifs cannot write "
				    "need %u LEBs of journal; with the "
				    "free-space fixup flag (mkfs.ubifs -F) and "
				    "a min. I/O unit of %u bytes the log keeps "
				    "references to %u", w->k + 1,
				    w->p->sb.min_io,
				    ((UB_CS_SZ + w->p->sb.min_io - 1) /
				     w->p->sb.min_io * w->p->sb.min_io -
				     UB_CS_SZ) / UB_REF_SZ);
	if (w->k == 64 || (uint64_t)(w->k + 1) * leb > w->p->sb.max_bud_bytes ||
	    w->p->sb.leb_cnt + w->k + 1 > w->p->sb.max_leb_cnt ||
	    UB_CS_SZ + (uint64_t)(w->k + 1) * UB_REF_SZ > leb)
		return fw_error_set(err, FW_EINPUT, o->img->path,
				    "ubifs: the xattrs mkfs.ubifs cannot write "
				    "need more than %u LEBs of journal, past "
				    "the volume's journal size (%llu bytes) or "
				    "its maximum LEB count (%u)", w->k,
				    (unsigned long long)w->p->sb.max_bud_bytes,
				    w->p->sb.max_leb_cnt);
	b = realloc(w->buds, (size_t)(w->k + 1) * leb);
	if (!b)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	w->buds = b;
	memset(b + (size_t)w->k * leb, 0xff, leb);
	w->ref_sq[w->k++] = ++w->sq;
	w->offs = 0;
	return FW_OK;
}

/* One inode's new xattrs as the kernel's journal writes a change: the
 * entries and xattr inodes, then the host inode, one node group. */
static int journal_inode(struct jw *w, const struct ub_out *o,
			 const struct ub_ext *e, struct fw_error *err)
{
	const struct ub_priv *p = w->p;
	const uint8_t *host = ub_inode(p, e->inum);
	uint32_t hlen = host ? fw_le32(host + 16) : 0, cnt = 0, names = 0;
	uint64_t group = ALIGN8(hlen), size = 0;
	uint8_t *n;

	if (!host)
		return fw_error_set(err, FW_EIO, o->final, "ubifs: an inode of "
				    "mkfs.ubifs's volume is missing");
	for (size_t i = 0; i < e->n; i++)
		if (journal_xattr(o, e, i))
			group += ALIGN8(UB_DENT_SZ + strlen(e->x[i].name) + 1) +
				 ALIGN8(UB_INO_SZ + e->x[i].len);
	if (group > p->leb_size)
		return fw_error_set(err, FW_EINPUT, o->img->path,
				    "ubifs: '%s': its xattrs take more than a "
				    "LEB", o->img->ent[e->idx].path);
	if (group == ALIGN8(hlen))
		return FW_OK;
	if (!w->k || w->offs + group > p->leb_size) {
		int rc = new_bud(w, o, err);

		if (rc)
			return rc;
	}
	n = w->buds + (size_t)(w->k - 1) * p->leb_size + w->offs;
	memset(n, 0, group);
	for (size_t i = 0; i < e->n; i++) {
		const struct fw_xattr *x = &e->x[i];
		size_t nlen = strlen(x->name);
		uint64_t xinum, sq;
		uint32_t len = UB_DENT_SZ + (uint32_t)nlen + 1;

		if (!journal_xattr(o, e, i))
			continue;
		xinum = ++w->inum;
		sq = ++w->sq;
		put_ch(n, sq, len, UB_XENT_NODE, 1);
		fw_put_le32(n + 24, (uint32_t)e->inum);
		fw_put_le32(n + 28, ub_key_hash(p, x->name, nlen) |
				    (uint32_t)UB_KEY_XENT << UB_KEY_BITS);
		fw_put_le64(n + 40, xinum);
		n[49] = 0;	/* UBIFS_ITYPE_REG, as the kernel writes */
		fw_put_le16(n + 50, (uint16_t)nlen);
		memcpy(n + UB_DENT_SZ, x->name, nlen + 1);
		seal(n);
		n += ALIGN8(len);
		/* the xattr's inode: the host's owner and times, like
		 * mkfs.ubifs's own; the kernel's mode */
		len = UB_INO_SZ + (uint32_t)x->len;
		sq = ++w->sq;
		put_ch(n, sq, len, UB_INO_NODE, 1);
		fw_put_le32(n + 24, (uint32_t)xinum);
		fw_put_le64(n + 40, sq);
		fw_put_le64(n + 48, x->len);
		memcpy(n + 56, host + 56, 36);	/* times */
		fw_put_le32(n + 92, 1);
		memcpy(n + 96, host + 96, 8);	/* uid, gid */
		fw_put_le32(n + 104, S_IFREG | 0777);
		fw_put_le32(n + 108, UB_XATTR_FL);
		fw_put_le32(n + 112, (uint32_t)x->len);
		fw_put_le16(n + 132, p->sb.default_compr);
		memcpy(n + UB_INO_SZ, x->value, x->len);
		seal(n);
		n += ALIGN8(len);
		cnt++;
		names += (uint32_t)nlen;
		size += ALIGN8(UB_DENT_SZ + nlen + 1) +
			ALIGN8(UB_INO_SZ + x->len + 1);
	}
	memcpy(n, host, hlen);
	put_ch(n, ++w->sq, hlen, UB_INO_NODE, 2);
	fw_put_le32(n + 116, fw_le32(host + 116) + cnt);
	fw_put_le32(n + 120, fw_le32(host + 120) + (uint32_t)size);
	fw_put_le32(n + 128, fw_le32(host + 128) + names);
	seal(n);
	w->offs += (uint32_t)group;
	return FW_OK;
}

/*
 * The LPT (its small model, as mkfs.ubifs writes it): the LEB properties
 * the kernel reads at mount.  The free-space fixup runs before the replay
 * and rewrites each main LEB to its used part as the LPT gives it (erasing
 * an empty one), so the buds must be in the LPT before: free space after
 * their nodes, the rest dirty, as a bud LEB the garbage collector took
 * before the last commit looks (the replay then sets them right).
 */
struct lpt {
	uint8_t *vol;
	const struct ub_priv *p;
	uint32_t first, lebs, main_first, hght;
	uint32_t space_bits, lnum_bits, offs_bits, spc_bits;
	uint32_t pnode_sz, nnode_sz, ltab_sz;
	uint32_t head_lnum, head_offs;	/* where new LPT nodes go */
};

enum { LPT_PNODE, LPT_NNODE, LPT_LTAB };

static uint32_t fls32(uint32_t x)
{
	uint32_t n = 0;

	while (x) {
		n++;
		x >>= 1;
	}
	return n;
}

/* The LPT's bit fields: least significant bit first. */
static uint32_t get_bits(const uint8_t *b, uint32_t *pos, uint32_t n)
{
	uint32_t v = 0;

	for (uint32_t i = 0; i < n; i++, (*pos)++)
		v |= (uint32_t)((b[*pos >> 3] >> (*pos & 7)) & 1) << i;
	return v;
}

static void put_bits(uint8_t *b, uint32_t *pos, uint32_t n, uint32_t v)
{
	for (uint32_t i = 0; i < n; i++, (*pos)++) {
		uint8_t m = (uint8_t)(1u << (*pos & 7));

		if ((v >> i) & 1)
			b[*pos >> 3] |= m;
		else
			b[*pos >> 3] &= (uint8_t)~m;
	}
}

/* The kernel's crc16 (lib/crc16.c, 0xa001), from 0xffff. */
static uint16_t crc16(const uint8_t *p, size_t n)
{
	uint16_t c = 0xffff;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (uint16_t)((c >> 1) ^ 0xa001) : (uint16_t)(c >> 1);
	}
	return c;
}

static void lpt_seal(uint8_t *n, uint32_t sz)
{
	fw_put_le16(n, crc16(n + 2, sz - 2));
}

/* The LPT node at lnum:offs of type and size, checked; NULL if not. */
static uint8_t *lpt_node(const struct lpt *l, uint32_t lnum, uint32_t offs,
			 uint32_t sz, uint32_t type)
{
	uint8_t *n;
	uint32_t pos = 16;

	if (lnum < l->first || lnum >= l->first + l->lebs ||
	    (uint64_t)offs + sz > l->p->leb_size)
		return NULL;
	n = l->vol + (uint64_t)lnum * l->p->leb_size + offs;
	if (crc16(n + 2, sz - 2) != fw_le16(n) ||
	    get_bits(n, &pos, 4) != type)
		return NULL;
	return n;
}

/* A new node at the LPT head: an nnode without branches or a pnode of
 * empty LEBs, as the kernel takes the ones never written. */
static uint8_t *lpt_new(struct lpt *l, uint32_t type, uint32_t *lnum,
			uint32_t *offs)
{
	uint32_t sz = type == LPT_PNODE ? l->pnode_sz : l->nnode_sz, pos = 16;
	uint8_t *n;

	if (l->head_offs + sz > l->p->leb_size)
		return NULL;
	*lnum = l->head_lnum;
	*offs = l->head_offs;
	n = l->vol + (uint64_t)*lnum * l->p->leb_size + *offs;
	memset(n, 0, sz);
	put_bits(n, &pos, 4, type);
	for (int i = 0; i < 4; i++) {
		if (type == LPT_PNODE) {
			put_bits(n, &pos, l->space_bits, l->p->leb_size >> 3);
			put_bits(n, &pos, l->space_bits, 0);
			put_bits(n, &pos, 1, 0);
		} else {
			put_bits(n, &pos, l->lnum_bits, l->lebs);	/* none */
			put_bits(n, &pos, l->offs_bits, 0);
		}
	}
	lpt_seal(n, sz);
	l->head_offs += sz;
	return n;
}

/* LEB lnum of the main area: free bytes free, the rest dirty. */
static int lpt_set(struct lpt *l, uint32_t lnum, uint32_t free)
{
	uint32_t i = lnum - l->main_first, pi = i >> 2, nl, no;
	uint8_t *n = lpt_node(l, fw_le32(l->p->mst + 120),
			      fw_le32(l->p->mst + 124), l->nnode_sz, LPT_NNODE);

	for (uint32_t h = l->hght; n && h >= 1; h--) {
		uint32_t iip = (pi >> (2 * (h - 1))) & 3, type =
			h == 1 ? LPT_PNODE : LPT_NNODE, sz = h == 1 ?
			l->pnode_sz : l->nnode_sz;
		uint32_t pos = 20 + iip * (l->lnum_bits + l->offs_bits), at;
		uint8_t *c;

		at = pos;
		nl = get_bits(n, &pos, l->lnum_bits);
		no = get_bits(n, &pos, l->offs_bits);
		if (nl == l->lebs) {
			c = lpt_new(l, type, &nl, &no);
			if (!c)
				return -1;
			put_bits(n, &at, l->lnum_bits, nl - l->first);
			put_bits(n, &at, l->offs_bits, no);
			lpt_seal(n, l->nnode_sz);
		} else {
			c = lpt_node(l, nl + l->first, no, sz, type);
		}
		n = c;
	}
	if (!n)
		return -1;
	{
		uint32_t pos = 20 + (i & 3) * (2 * l->space_bits + 1);

		put_bits(n, &pos, l->space_bits, free >> 3);
		put_bits(n, &pos, l->space_bits, (l->p->leb_size - free) >> 3);
		put_bits(n, &pos, 1, 0);
		lpt_seal(n, l->pnode_sz);
	}
	return 0;
}

/* The geometry as the kernel's do_calc_lpt_geom computes it. */
static int lpt_geom(struct lpt *l)
{
	const struct ub_super *s = &l->p->sb;
	uint32_t max_pnodes, m = 4;

	if (s->flags & UB_FLG_BIGLPT)
		return -1;
	l->first = UB_LOG_LNUM + s->log_lebs;
	l->lebs = s->lpt_lebs;
	l->main_first = l->first + s->lpt_lebs + s->orph_lebs;
	l->space_bits = fls32(s->leb_size) - 3;
	l->lnum_bits = fls32(s->lpt_lebs);
	l->offs_bits = fls32(s->leb_size - 1);
	l->spc_bits = fls32(s->leb_size);
	l->pnode_sz = (20 + (2 * l->space_bits + 1) * 4 + 7) / 8;
	l->nnode_sz = (20 + (l->lnum_bits + l->offs_bits) * 4 + 7) / 8;
	l->ltab_sz = (20 + s->lpt_lebs * l->spc_bits * 2 + 7) / 8;
	max_pnodes = (s->max_leb_cnt - l->main_first + 3) / 4;
	l->hght = 1;
	while (m < max_pnodes) {
		l->hght++;
		m <<= 2;
	}
	l->head_lnum = fw_le32(l->p->mst + 128);
	l->head_offs = fw_le32(l->p->mst + 132);
	return l->head_lnum >= l->first && l->head_lnum < l->first + l->lebs &&
	       l->head_offs <= s->leb_size && !(l->head_offs % s->min_io) &&
	       !(s->leb_size & 7) ? 0 : -1;
}

/*
 * The buds into the LPT and the master node (more LEBs, their free and
 * dirty space): what the kernel reads before its replay agrees with the
 * LEBs.  -1: an LPT this code does not edit (the big model, or no room at
 * its head); nothing is changed then.
 */
static int lpt_buds(uint8_t *vol, const struct jw *w)
{
	const struct ub_priv *p = w->p;
	struct lpt l = { .vol = vol, .p = p };
	uint64_t nfree = 0, dirty = 0, dark;
	uint32_t dark_wm = (UB_INO_SZ + UB_BLOCK + p->sb.min_io - 1) /
			   p->sb.min_io * p->sb.min_io, io = p->sb.min_io;
	uint32_t pos, ltab_lnum, ltab_offs, d, head, idx;
	uint8_t *ltab, *save;
	size_t len = (size_t)p->sb.leb_cnt * p->leb_size;

	if (lpt_geom(&l))
		return -1;
	ltab_lnum = fw_le32(p->mst + 136);
	ltab_offs = fw_le32(p->mst + 140);
	if (!lpt_node(&l, ltab_lnum, ltab_offs, l.ltab_sz, LPT_LTAB))
		return -1;
	save = malloc(len);
	if (!save)
		return -1;
	memcpy(save, vol, len);
	for (uint32_t i = 0; i < w->k; i++) {
		if (lpt_set(&l, p->sb.leb_cnt + i, p->leb_size - w->end[i])) {
			memcpy(vol, save, len);
			free(save);
			return -1;
		}
		nfree += p->leb_size - w->end[i];
		dirty += w->end[i];
	}
	free(save);
	/* the LPT's own LEB: its head moved over the new nodes */
	head = (l.head_offs + io - 1) / io * io;
	ltab = vol + (uint64_t)ltab_lnum * p->leb_size + ltab_offs;
	idx = l.head_lnum - l.first;
	pos = 20 + idx * 2 * l.spc_bits + l.spc_bits;
	d = get_bits(ltab, &pos, l.spc_bits);
	pos = 20 + idx * 2 * l.spc_bits;
	put_bits(ltab, &pos, l.spc_bits, p->leb_size - head);
	put_bits(ltab, &pos, l.spc_bits, d + (head - l.head_offs));
	lpt_seal(ltab, l.ltab_sz);
	/* the master nodes (LEBs 1 and 2): the LEB count and totals */
	/* the kernel's ubifs_calc_dark of a LEB all free or dirty */
	dark = (uint64_t)w->k * (p->leb_size < dark_wm ? p->leb_size :
				 p->leb_size - dark_wm < UB_DATA_SZ + 8 ?
				 p->leb_size - (UB_DATA_SZ + 8) : dark_wm);
	for (uint32_t lnum = UB_MST_LNUM; lnum < UB_LOG_LNUM; lnum++)
		for (uint32_t o = 0; o + UB_MST_SZ <= p->leb_size;
		     o += (UB_MST_SZ + io - 1) / io * io) {
			uint8_t *m = vol + (uint64_t)lnum * p->leb_size + o;

			if (fw_le32(m) != UB_MAGIC || m[20] != UB_MST_NODE)
				break;
			fw_put_le64(m + 80, fw_le64(m + 80) + nfree);
			fw_put_le64(m + 88, fw_le64(m + 88) + dirty);
			fw_put_le64(m + 112, fw_le64(m + 112) + dark);
			fw_put_le32(m + 132, head);
			fw_put_le32(m + 164, p->sb.leb_cnt + w->k);
			seal(m);
		}
	return 0;
}

/* Reads the volume, ends the journal, writes it back. */
static int journal_write(struct jw *w, const struct ub_out *o,
			 const char *made, struct fw_error *err)
{
	const struct ub_priv *p = w->p;
	uint64_t used = (uint64_t)p->sb.leb_cnt * p->leb_size;
	uint8_t *vol = NULL, *log;
	size_t len = 0;
	uint32_t at = UB_CS_SZ;
	int fd, rc = FW_OK;

	w->end[w->k - 1] = pad_to_io(w->buds + (size_t)(w->k - 1) * p->leb_size,
				     w->offs, p->sb.min_io);
	fd = open(made, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fw_read_fd(fd, &vol, &len, (size_t)FW_READ_MAX) ||
	    len != used) {
		rc = fw_error_set(err, FW_EIO, made, "ubifs: cannot read what "
				  "mkfs.ubifs made");
		goto out;
	}
	/* the log: the reference nodes after the commit start node, in its
	 * min. I/O unit as the kernel's commit writes them (the free-space
	 * fixup keeps that unit of the log head) */
	log = vol + (uint64_t)p->log_lnum * p->leb_size;
	memset(log + UB_CS_SZ, 0xff, p->leb_size - UB_CS_SZ);
	for (uint32_t i = 0; i < w->k; i++, at += UB_REF_SZ) {
		memset(log + at, 0, UB_REF_SZ);
		put_ch(log + at, w->ref_sq[i], UB_REF_SZ, UB_REF_NODE, 0);
		fw_put_le32(log + at + 24, p->sb.leb_cnt + i);
		fw_put_le32(log + at + 28, 0);
		fw_put_le32(log + at + 32, BASEHD);
		seal(log + at);
	}
	pad_to_io(log, at, p->sb.min_io);
	/* the superblock counts the buds' LEBs; so do the LPT and master
	 * node, or (the LPT's big model) the kernel takes them as grown,
	 * empty until the replay, which only a volume without the
	 * free-space fixup can afford */
	fw_put_le32(vol + 40, p->sb.leb_cnt + w->k);
	seal(vol);
	if (lpt_buds(vol, w) && (p->sb.flags & UB_FLG_SPACE_FIXUP)) {
		rc = fw_error_set(err, FW_EINPUT, o->img->path, "ubifs: xattrs "
				  "mkfs.ubifs cannot write, on a volume with "
				  "the free-space fixup flag (mkfs.ubifs -F) "
				  "and the LPT's big model: not supported");
		goto out;
	}
	if (pwrite(fd, vol, len, 0) != (ssize_t)len ||
	    pwrite(fd, w->buds, (size_t)w->k * p->leb_size, (off_t)len) !=
		    (ssize_t)((size_t)w->k * p->leb_size))
		rc = fw_error_set(err, FW_EIO, made, "ubifs: cannot write the "
				  "journal: %s", strerror(errno));
out:
	if (fd >= 0 && close(fd) < 0 && !rc)
		rc = fw_error_set(err, FW_EIO, made, "cannot write");
	free(vol);
	return rc;
}

/*
 * The xattrs mkfs.ubifs did not write, added to its volume as the kernel
 * would after mounting it: the entries, xattr inodes and new versions of
 * their hosts in new LEBs after the volume's (buds of the base journal
 * head, with newer sqnums), reference nodes to them in the log after the
 * commit start node.  The kernel's replay, on any mount, and fwsign's
 * reader take them.  Without such xattrs the volume is left as it is.
 */
static int add_journal(struct ub_out *o, const char *made,
		       struct fw_error *err)
{
	struct fw_image *img = NULL;
	struct jw w = { 0 };
	size_t todo = 0;
	int rc;

	for (size_t i = 0; i < o->n_ext; i++)
		for (size_t k = 0; k < o->ext[i].n; k++)
			todo += journal_xattr(o, &o->ext[i], k);
	if (!todo)
		return FW_OK;
	rc = fw_image_open(made, NULL, &img, err);
	if (rc)
		return rc;
	w.p = img->priv;
	if (img->fmt != &fw_format_ubifs || img->n != o->img->n ||
	    w.p->n_jop)
		rc = fw_error_set(err, FW_EIO, o->final, "ubifs: mkfs.ubifs "
				  "made a volume fwsign did not expect");
	for (size_t i = 0; !rc && i < img->n; i++)
		if (strcmp(img->ent[i].path, o->img->ent[i].path))
			rc = fw_error_set(err, FW_EIO, o->final,
					  "ubifs: mkfs.ubifs's volume has "
					  "'%s' where '%s' belongs",
					  img->ent[i].path,
					  o->img->ent[i].path);
	w.sq = w.p->max_sqnum;
	w.inum = w.p->highest_inum;
	for (size_t i = 0; !rc && i < w.p->n_leaf; i++)
		if (w.p->leaf[i].inum > w.inum)
			w.inum = w.p->leaf[i].inum;
	for (size_t i = 0; !rc && i < o->n_ext; i++) {
		o->ext[i].inum = w.p->ent_inum[o->ext[i].idx];
		rc = journal_inode(&w, o, &o->ext[i], err);
	}
	if (!rc)
		rc = journal_write(&w, o, made, err);
	free(w.buds);
	fw_image_close(img);
	return rc;
}

int ub_out_commit(void *ctx, struct fw_error *err)
{
	struct ub_out *o = ctx;
	char *made = NULL;
	int rc = FW_OK;

	/* mkfs.ubifs labels every inode but fifos and sockets, or none:
	 * labels of some go into the journal with the other xattrs */
	if (o->n_label && o->n_label != o->n_labelable)
		o->n_label = 0;
	if (fclose(o->man) != 0)
		rc = fw_error_set(err, FW_EIO, NULL,
				  "ubifs: cannot write the manifest");
	o->man = NULL;
	if (!rc && asprintf(&made, "%s/volume", o->dir) < 0)
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (!rc)
		rc = run_mkfs(o, made, err);
	if (!rc)
		rc = add_journal(o, made, err);
	if (!rc)
		rc = deliver(o, made, err);
	free(made);
	return rc;	/* the engine calls ub_out_abort next: it cleans up */
}
