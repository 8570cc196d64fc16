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
 * store.  A volume with any other xattr (security.capability, user.*) is
 * refused rather than written without it.
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

/* The entry's xattrs: a label to keep, or an error for what cannot be. */
static int entry_label(struct ub_out *o, size_t idx, struct fw_xattr **label,
		       struct fw_xattr **all, size_t *n, struct fw_error *err)
{
	const struct fw_entry *e = &o->img->ent[idx];
	const char *shown = *e->path ? e->path : "/";
	int rc;

	*label = NULL;
	rc = ub_xattrs_inum(o->p, o->p->ent_inum[idx], all, n, shown, err);
	for (size_t i = 0; !rc && i < *n; i++) {
		struct fw_xattr *x = &(*all)[i];

		if (strcmp(x->name, SELINUX_XATTR))
			rc = fw_error_set(err, FW_EINPUT, o->img->path,
					  "ubifs: '%s' has xattr %s, which "
					  "mkfs.ubifs cannot store (it keeps "
					  "security.selinux only)", shown,
					  x->name);
		else if (x->len < 2 || x->value[x->len - 1] ||
			 memchr(x->value, '\0', x->len - 1))
			rc = fw_error_set(err, FW_EINPUT, o->img->path,
					  "ubifs: '%s': a security.selinux "
					  "value mkfs.ubifs cannot write "
					  "back", shown);
		else
			*label = x;
	}
	return rc;
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
	const struct stat *st = &e->st;
	struct fw_xattr *all = NULL, *label;
	size_t n = 0;
	int rc = entry_label(o, idx, &label, &all, &n, err);

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
	if (label && (S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode))) {
		fw_xattrs_free(all, n);
		return fw_error_set(err, FW_EINPUT, o->img->path,
				    "ubifs: fifo or socket '%s' has an SELinux "
				    "label, which mkfs.ubifs never writes",
				    e->path);
	}
	if (label) {
		fputc('l', o->man);
		hex(o->man, label->value, label->len - 1);
		o->n_label++;
	} else {
		fputc('-', o->man);
	}
	fputc('\n', o->man);
	fw_xattrs_free(all, n);
	return ferror(o->man) ? fw_error_set(err, FW_EIO, NULL,
					     "ubifs: cannot write the manifest")
			      : FW_OK;
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
	if (!rc && !S_ISFIFO(o->img->ent[idx].st.st_mode) &&
	    !S_ISSOCK(o->img->ent[idx].st.st_mode))
		o->n_labelable++;
	return rc;
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

int ub_out_commit(void *ctx, struct fw_error *err)
{
	struct ub_out *o = ctx;
	char *made = NULL;
	int rc = FW_OK;

	/* mkfs.ubifs labels every inode but fifos and sockets, or none */
	if (o->n_label && o->n_label != o->n_labelable)
		rc = fw_error_set(err, FW_EINPUT, o->img->path,
				  "ubifs: %zu of %zu entries have an SELinux "
				  "label; mkfs.ubifs labels all or none",
				  o->n_label, o->n_labelable);
	if (!rc && (fclose(o->man) != 0))
		rc = fw_error_set(err, FW_EIO, NULL,
				  "ubifs: cannot write the manifest");
	o->man = NULL;
	if (!rc && asprintf(&made, "%s/volume", o->dir) < 0)
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (!rc)
		rc = run_mkfs(o, made, err);
	if (!rc)
		rc = deliver(o, made, err);
	free(made);
	return rc;	/* the engine calls ub_out_abort next: it cleans up */
}
