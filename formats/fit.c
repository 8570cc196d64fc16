// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * U-Boot FIT images (.itb): a flattened device tree whose /images nodes
 * hold their data embedded ("data") or after the tree (mkimage -E:
 * "data-offset" from the 4-byte aligned end of the tree, or -p:
 * "data-position" from the start; "data-size").  Each image is a part.
 * Rebuilding puts the new data in (embedded: a new tree, packed; external:
 * the tree keeps its size, the data is laid out again as mkimage lays it,
 * with the alignment the input shows), and recomputes every hash-N value
 * (crc32, md5, sha1, sha256, sha384, sha512).  Signature nodes cannot
 * survive a change: they are made again by mkimage -F -k DIR when the user
 * gives the key directory, else refused before anything is written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libfdt.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "layer.h"
#include "format.h"
#include "../src/io.h"

#define MAX_IMAGES 256

struct fimg {
	int node;		/* offset of the image node in the tree */
	char name[64];
	int external;		/* 0 embedded, 1 data-offset, 2 data-position */
	uint64_t off;		/* of the data in the blob */
	struct fw_node *part;
};

struct fit {
	struct fimg img[MAX_IMAGES];
	int n;
	uint64_t tree;		/* totalsize */
	uint64_t ext_base;	/* data-offset is from here */
	uint64_t align;		/* external data: each image padded to this */
	uint64_t ext_end;	/* end of the laid-out data */
	uint64_t data_start;	/* where the external data begins (mkimage
				 * -p: a fixed position, kept) */
	int signatures;
};

static int hash_algo(const char *algo, const EVP_MD **md)
{
	*md = NULL;
	if (!strcmp(algo, "crc32"))
		return 1;
	if (!strcmp(algo, "md5"))
		*md = EVP_md5();
	else if (!strcmp(algo, "sha1"))
		*md = EVP_sha1();
	else if (!strcmp(algo, "sha256"))
		*md = EVP_sha256();
	else if (!strcmp(algo, "sha384"))
		*md = EVP_sha384();
	else if (!strcmp(algo, "sha512"))
		*md = EVP_sha512();
	return *md ? 1 : 0;
}

static void md_fn(void *arg, const uint8_t *p, size_t len)
{
	EVP_DigestUpdate(arg, p, len);
}

/* The value of hash algo over the data; its length, 0 if unknown algo. */
static int hash_of(const char *algo, const struct fw_out *data, uint8_t *v)
{
	const EVP_MD *md;
	unsigned len = 0;

	if (!hash_algo(algo, &md))
		return 0;
	if (!md) {
		fw_put_be32(v, fw_out_crc32(data, 0, data->len, 0));
		return 4;
	}
	{
		EVP_MD_CTX *c = EVP_MD_CTX_new();

		if (!c || !EVP_DigestInit_ex(c, md, NULL)) {
			EVP_MD_CTX_free(c);
			return 0;
		}
		fw_out_each(data, 0, data->len, md_fn, c);
		EVP_DigestFinal_ex(c, v, &len);
		EVP_MD_CTX_free(c);
	}
	return (int)len;
}

static int is_node(const char *name, const char *base)
{
	size_t k = strlen(base);

	return !strncmp(name, base, k) &&
	       (name[k] == '\0' || name[k] == '-' || name[k] == '@');
}

static int get_u32(const void *fdt, int node, const char *prop, uint32_t *v)
{
	int len;
	const uint8_t *p = fdt_getprop(fdt, node, prop, &len);

	if (!p || len != 4)
		return 0;
	*v = fw_be32(p);
	return 1;
}

static int fit_bid(const uint8_t *p, size_t len, const struct fw_node *parent)
{
	(void)parent;
	if (len < 40 || fw_be32(p) != 0xd00dfeedu || fw_be32(p + 4) > len ||
	    fdt_check_header(p))
		return 0;
	return fdt_path_offset(p, "/images") >= 0 ? 190 : 0;
}

/* Whether a signature node hangs below node (images, configurations). */
static int has_signatures(const void *fdt, int parent)
{
	int n, s;

	fdt_for_each_subnode(n, fdt, parent)
		fdt_for_each_subnode(s, fdt, n)
			if (is_node(fdt_get_name(fdt, s, NULL), "signature"))
				return 1;
	return 0;
}

static int fit_open(struct fw_node *n, struct fw_error *err)
{
	const void *fdt = n->p;
	struct fit *f = calloc(1, sizeof(*f));
	int images, node, bad = 0, nhash = 0, ext = 0;
	uint64_t first_ext = UINT64_MAX;

	if (!f)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	n->priv = f;
	/* libfdt trusts offsets inside the header: check them all first */
	if (fdt_check_full(fdt, n->len))
		return fw_node_error(n, err, FW_EINPUT, "FIT: the device tree "
				     "is damaged (%s)",
				     fdt_strerror(fdt_check_full(fdt, n->len)));
	f->tree = fdt_totalsize(fdt);
	f->ext_base = (f->tree + 3) & ~3ull;
	images = fdt_path_offset(fdt, "/images");
	fdt_for_each_subnode(node, fdt, images) {
		struct fimg *im;
		const uint8_t *d;
		const char *type;
		uint32_t size, off;
		int len, h;

		if (f->n == MAX_IMAGES)
			return fw_node_error(n, err, FW_EINPUT, "FIT: more than "
					     "%d images", MAX_IMAGES);
		im = &f->img[f->n];
		im->node = node;
		snprintf(im->name, sizeof(im->name), "%s",
			 fdt_get_name(fdt, node, NULL));
		d = fdt_getprop(fdt, node, "data", &len);
		if (d) {
			im->off = (uint64_t)(d - n->p);
			size = (uint32_t)len;
		} else if (get_u32(fdt, node, "data-size", &size) &&
			   get_u32(fdt, node, "data-offset", &off)) {
			im->external = 1;
			im->off = f->ext_base + off;
		} else if (get_u32(fdt, node, "data-size", &size) &&
			   get_u32(fdt, node, "data-position", &off)) {
			im->external = 2;
			im->off = off;
		} else {
			continue;	/* no data: nothing to sign */
		}
		/* rebuilding finds it again by name: the first of that name */
		if (fdt_subnode_offset(fdt, images, im->name) != node)
			return fw_node_error(n, err, FW_EINPUT, "FIT image "
					     "'%s': another image has its name, "
					     "or the name is too long",
					     im->name);
		if (im->external) {
			ext++;
			if (im->off < f->tree || im->off > n->len ||
			    size > n->len - im->off)
				return fw_node_error(n, err, FW_EINPUT, "FIT "
						     "image '%s': data outside "
						     "the file", im->name);
			if (im->off < first_ext)
				first_ext = im->off;
			if (im->off + size > f->ext_end)
				f->ext_end = im->off + size;
		}
		{
			char pname[80];

			snprintf(pname, sizeof(pname), "images/%s", im->name);
			im->part = fw_node_part(n, pname, im->off, size, err);
		}
		if (!im->part)
			return err->code;
		type = fdt_getprop(fdt, node, "type", &len);
		im->part->hint_kernel = type && len > 0 &&
					(!strcmp(type, "kernel") ||
					 !strcmp(type, "kernel_noload"));
		f->n++;
		/* the hashes as they are */
		fdt_for_each_subnode(h, fdt, node) {
			const char *algo;
			const uint8_t *val;
			uint8_t want[64];
			struct fw_out one = { 0 };
			int vl, wl;

			if (!is_node(fdt_get_name(fdt, h, NULL), "hash"))
				continue;
			algo = fdt_getprop(fdt, h, "algo", NULL);
			val = fdt_getprop(fdt, h, "value", &vl);
			if (!algo || !val)
				continue;
			if (fw_out_add(&one, n->p + im->off, size))
				return fw_error_set(err, FW_EIO, NULL,
						    "out of memory");
			wl = hash_of(algo, &one, want);
			free(one.v);
			nhash++;
			if (!wl || wl != vl || memcmp(want, val, (size_t)wl))
				bad++;
		}
	}
	f->signatures = has_signatures(fdt, images) ||
			(fdt_path_offset(fdt, "/configurations") >= 0 &&
			 has_signatures(fdt, fdt_path_offset(fdt,
							     "/configurations")));
	/* external data: the alignment mkimage -B used, as the input shows */
	if (ext) {
		uint64_t a;

		for (a = 65536; a > 4; a /= 2) {
			uint64_t at = (f->tree + a - 1) & ~(a - 1);
			int ok = 1;

			/* -E lays the data from the aligned end of the tree */
			for (int i = 0; i < f->n && ok; i++)
				if (f->img[i].external)
					ok = !((f->img[i].off - at) % a) &&
					     f->img[i].off >= at;
			if (ok && first_ext == at)
				break;
		}
		f->align = a;
		f->data_start = first_ext;
	}
	n->bad = bad > 0;
	snprintf(n->desc, sizeof(n->desc), "%d images%s, %d hashes %s%s",
		 f->n, ext ? " (data external)" : "", nhash,
		 bad ? "BAD" : "ok", f->signatures ? ", signed" : "");
	return FW_OK;
}

/* mkimage -F -k DIR over the rebuilt FIT in file path, as the input was
 * made (-E -B for external data). */
static int resign(struct fw_node *n, const char *path, struct fw_error *err)
{
	struct fit *f = n->priv;
	char align[32];
	const char *argv[12];
	int k = 0, st;
	pid_t pid;

	argv[k++] = "mkimage";
	argv[k++] = "-F";
	argv[k++] = "-k";
	argv[k++] = fw_node_fit_keydir(n);
	if (f->align) {
		snprintf(align, sizeof(align), "0x%llx",
			 (unsigned long long)f->align);
		argv[k++] = "-E";
		argv[k++] = "-B";
		argv[k++] = align;
	}
	argv[k++] = path;
	argv[k] = NULL;
	pid = fork();
	if (pid < 0)
		return fw_error_set(err, FW_EIO, NULL, "fork: %s",
				    strerror(errno));
	if (!pid) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 1);
		execvp("mkimage", (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return fw_node_error(n, err, FW_EINPUT, "mkimage -F -k %s "
				     "could not sign the FIT again (exit %d)",
				     fw_node_fit_keydir(n),
				     WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return FW_OK;
}

static void wr_fn(void *arg, const uint8_t *p, size_t len)
{
	int *fd = arg;

	if (*fd >= 0 && fw_write_all(*fd, p, len)) {
		close(*fd);
		*fd = -1;
	}
}

/* The rebuilt FIT through mkimage -F -k: n->out becomes its result. */
static int resign_out(struct fw_node *n, struct fw_error *err)
{
	const char *tmp = getenv("TMPDIR");
	char *path = NULL;
	uint8_t *b = NULL;
	size_t len;
	int fd, rc;

	if (asprintf(&path, "%s/.fwsign-fit-XXXXXX",
		     tmp && *tmp ? tmp : "/tmp") < 0)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		rc = fw_error_set(err, FW_EIO, path, "cannot create: %s",
				  strerror(errno));
		free(path);
		return rc;
	}
	fw_out_each(&n->out, 0, n->out.len, wr_fn, &fd);
	if (fd < 0 || close(fd) < 0) {
		rc = fw_error_set(err, FW_EIO, path, "write: %s",
				  strerror(errno));
		goto out;
	}
	rc = resign(n, path, err);
	if (rc)
		goto out;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fw_read_fd(fd, &b, &len, (size_t)1 << 31)) {
		rc = fw_error_set(err, FW_EIO, path, "cannot read: %s",
				  strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	fw_out_free(&n->out);
	if (fw_out_own(&n->out, b)) {
		free(b);
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	if (fw_out_add(&n->out, b, len))
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
out:
	unlink(path);
	free(path);
	return rc;
}

static int fit_rebuild(struct fw_node *n, struct fw_error *err)
{
	struct fit *f = n->priv;
	struct fw_out *o = &n->out;
	uint8_t *t;
	size_t room = f->tree + 64;
	int rc, grows = 0;

	if (f->signatures && !fw_node_fit_keydir(n))
		return fw_node_error(n, err, FW_EINPUT, "FIT with signature "
				     "nodes: its signatures cannot survive "
				     "signing; give the FIT keys directory, "
				     "with the keys mkimage -k signed it with");
	for (int i = 0; i < f->n; i++)
		if (!f->img[i].external)
			room += f->img[i].part->out.len + 64;
	/* the tree is repacked only when embedded data changed size */
	for (int i = 0; i < f->n; i++)
		grows |= !f->img[i].external && f->img[i].part->changed &&
			 f->img[i].part->out.len != f->img[i].part->len;
	if (!grows)
		room = f->tree;	/* edited in place: the tree keeps its bytes */
	t = calloc(1, room);
	if (!t || fw_out_own(o, t)) {
		free(t);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	if (grows) {
		rc = fdt_open_into(n->p, t, (int)room);
	} else {
		memcpy(t, n->p, f->tree);
		rc = 0;
	}
	for (int i = 0; i < f->n && !rc; i++) {
		struct fimg *im = &f->img[i];
		const struct fw_out *d = &im->part->out;
		int node = fdt_subnode_offset(t, fdt_path_offset(t, "/images"),
					      im->name), h;

		if (node < 0) {
			rc = node;
			break;
		}
		if (!im->external && im->part->changed) {
			uint8_t *flat;
			int have;

			/* same size: in place; else room, then the bytes */
			flat = fdt_getprop_w(t, node, "data", &have);
			if (!flat || (uint64_t)have != d->len)
				rc = fdt_setprop_placeholder(t, node, "data",
							     (int)d->len,
							     (void **)&flat);
			if (rc)
				break;
			fw_out_read(d, 0, flat, d->len);
		} else if (im->external) {
			rc = fdt_setprop_inplace_u32(t, node, "data-size",
						     (uint32_t)d->len);
		}
		fdt_for_each_subnode(h, t, node) {
			const char *algo;
			uint8_t v[64];
			int vl, wl;

			if (!is_node(fdt_get_name(t, h, NULL), "hash") ||
			    !(algo = fdt_getprop(t, h, "algo", NULL)) ||
			    !fdt_getprop(t, h, "value", &vl))
				continue;
			wl = hash_of(algo, d, v);
			if (!wl || wl != vl)
				return fw_node_error(n, err, FW_EINPUT, "FIT "
						     "image '%s': hash algo "
						     "'%s' unknown", im->name,
						     algo);
			rc = fdt_setprop_inplace(t, h, "value", v, wl);
			if (rc)
				break;
		}
	}
	if (!rc && f->align) {
		/* external data laid out again from where it began, each
		 * padded to the alignment */
		uint64_t pos = f->data_start;

		for (int i = 0; i < f->n && !rc; i++) {
			struct fimg *im = &f->img[i];
			int node;

			if (!im->external)
				continue;
			node = fdt_subnode_offset(t, fdt_path_offset(t, "/images"),
						  im->name);
			if (im->external == 1)
				rc = fdt_setprop_inplace_u32(t, node,
							     "data-offset",
							     (uint32_t)(pos - f->ext_base));
			else
				rc = fdt_setprop_inplace_u32(t, node,
							     "data-position",
							     (uint32_t)pos);
			pos += (im->part->out.len + f->align - 1) &
			       ~(f->align - 1);
		}
	}
	if (!rc && grows)
		rc = fdt_pack(t);
	if (rc)
		return fw_node_error(n, err, FW_EINPUT, "FIT: %s",
				     fdt_strerror(rc));
	if (f->align && fdt_totalsize(t) != f->tree)
		return fw_node_error(n, err, FW_EINPUT, "FIT: the tree changed "
				     "size with external data");
	if (fw_out_add(o, t, fdt_totalsize(t)))
		goto oom;
	if (f->align) {
		if (fw_out_fill(o, 0, f->data_start - f->tree))
			goto oom;
		for (int i = 0; i < f->n; i++) {
			const struct fw_out *d = &f->img[i].part->out;

			if (!f->img[i].external)
				continue;
			if (fw_out_cat(o, d) ||
			    fw_out_fill(o, 0, (f->align - d->len % f->align) %
						      f->align))
				goto oom;
		}
		/* anything after the data (and its padding), as it was */
		{
			uint64_t old_end = (f->ext_end + f->align - 1) &
					   ~(f->align - 1);

			if (old_end < n->len &&
			    fw_out_add(o, n->p + old_end, n->len - old_end))
				goto oom;
		}
	} else if (f->tree < n->len &&
		   fw_out_add(o, n->p + f->tree, n->len - f->tree)) {
		goto oom;
	}
	if (f->signatures)
		return resign_out(n, err);
	return FW_OK;
oom:
	return fw_error_set(err, FW_EIO, NULL, "out of memory");
}

const struct fw_layer fw_layer_fit = {
	.name = "FIT",
	.kind = FW_LK_CONTAINER,
	.bid = fit_bid,
	.open = fit_open,
	.rebuild = fit_rebuild,
};
