// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer target for vendor blobs of nested layers (formats/stack.c and
 * its layers: fwtool, sysupgrade, uimage, fit, flash, and whatever else
 * stack.c lists): open the tree, scan it and print it (text and JSON, to
 * /dev/null); open it again and plan a signing (dry run, kernels left
 * alone); then sign it for real with a P-256 key made once per process
 * (kernels left alone), so that every container around a filesystem whose
 * files got signed is rebuilt, and open the output again: it must open as
 * a blob, and with FWSIGN_FUZZ_CHECK=1 (the seeds, regress/stack) as the
 * same tree (paths, kinds, formats), with every checksum right when the
 * input's were, and scan.  An input whose first line is "# layout" is a
 * layout file up to its first empty line, then the blob, opened with that
 * layout (--layout: formats/layout.c).
 * Build and seeds: README.md.
 */
/* only fuzz_input of it */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "fuzz_common.h"
#include "fuzz_key.h"

#include "fwsign/stack.h"

static FILE *null_out;
static struct fw_signer *signer;
static int check_out;

/* Once per process: /dev/null, the key, and a TMPDIR for the walk's
 * copies of the filesystems (/dev/shm, as the input). */
static void fuzz_init(void)
{
	static int done;
	struct fuzz_key k;
	struct fw_key_opts so = { .key = k.key, .cert = k.crt };
	struct fw_error err;
	const char *c = getenv("FWSIGN_FUZZ_CHECK");

	if (done)
		return;
	done = 1;
	check_out = c && *c == '1';
	setenv("TMPDIR", "/dev/shm", 1);
	null_out = fopen("/dev/null", "w");
	if (!null_out)
		abort();
	fuzz_key_make("stack", &k);
	fw_error_clear(&err);
	if (fw_signer_open(&so, &signer, &err)) {
		fprintf(stderr, "fuzz: no key: %s\n", err.msg);
		abort();
	}
	fuzz_key_drop(&k);
}

/* Opens and scans (or plans) the tree of path; prints it.  0 when both
 * open and walk went through. */
static int walk(const char *path, const char *layout, int plan)
{
	struct fw_stack_opts so = { .input = path, .layout = layout,
				    .jobs = 1 };
	struct fw_stack *s;
	struct fw_error err;
	int rc;

	so.dry_run = plan;
	so.no_inject_cert = plan;
	fw_error_clear(&err);
	if (fw_stack_open(&so, &s, &err))
		return -1;
	rc = plan ? fw_stack_sign(s, &err) : fw_stack_scan(s, &err);
	fw_stack_print(s, null_out);
	fw_stack_json(s, NULL, null_out);
	fw_stack_close(s);
	return rc ? -1 : 0;
}

/* What the signed output must keep of the input's tree. */
struct tree {
	size_t bad;		/* layers with a bad checksum */
	int composite;
	char *shape;		/* "path kind format" of every node */
};

/* The "path", "kind" and "format" of every node, from the JSON, before
 * any walk (which names filesystems by the format that read them). */
static char *shape(const struct fw_stack *s)
{
	static const char *const keys[] = { "\"path\":\"", "\"kind\":\"",
					    "\"format\":\"" };
	char *j = NULL, *o = NULL;
	size_t jl = 0, ol = 0;
	FILE *f = open_memstream(&j, &jl), *g;

	if (!f)
		return NULL;
	fw_stack_json(s, NULL, f);
	fclose(f);
	g = open_memstream(&o, &ol);
	for (const char *p = j; g && p && *p;) {
		const char *best = NULL;

		for (size_t k = 0; k < 3; k++) {
			const char *q = strstr(p, keys[k]);

			if (q && (!best || q < best))
				best = q;
		}
		if (!best)
			break;
		p = strchr(best, ':') + 2;
		for (; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				fputc(*p++, g);
			fputc(*p, g);
		}
		fputc(' ', g);
	}
	if (g)
		fclose(g);
	free(j);
	return o;
}

/* Signs path into out for real; 0 when it did and something changed. */
static int sign(const char *path, const char *layout, const char *out,
		struct tree *t)
{
	struct fw_stack_opts so = { .input = path, .layout = layout,
				    .output = out, .jobs = 1,
				    .signer = signer, .no_inject_cert = 1,
				    .drop_image_signature = 1 };
	struct fw_stack *s;
	struct fw_error err;
	const struct fw_report *r;
	int rc;

	fw_error_clear(&err);
	if (fw_stack_open(&so, &s, &err))
		return -1;
	t->bad = fw_stack_bad(s);
	t->composite = fw_stack_composite(s);
	t->shape = shape(s);
	rc = t->composite ? fw_stack_sign(s, &err) : -1;
	r = fw_stack_report(s);
	if (!rc)
		rc = r->n_signed + r->n_resigned ? 0 : -1;
	fw_stack_json(s, NULL, null_out);
	fw_stack_close(s);
	return rc;
}

/* The signed output: the same kind of tree, opened and scanned; with
 * FWSIGN_FUZZ_CHECK, the same tree (names, kinds, formats), no bad
 * checksum where the input had none, and a scan that goes through. */
static void check(const char *out, const char *layout, const struct tree *t)
{
	struct fw_stack_opts so = { .input = out, .layout = layout,
				    .jobs = 1 };
	struct fw_stack *s;
	struct fw_error err;
	char *sh;

	fw_error_clear(&err);
	if (fw_stack_open(&so, &s, &err)) {
		fprintf(stderr, "fuzz: the output does not open: %s\n",
			err.msg);
		abort();
	}
	if (fw_stack_composite(s) != t->composite) {
		fprintf(stderr, "fuzz: the output is not a blob\n");
		abort();
	}
	sh = shape(s);
	if (check_out && t->shape && sh && strcmp(t->shape, sh)) {
		fprintf(stderr, "fuzz: another tree out:\n  in:  %s\n  out: "
			"%s\n", t->shape, sh);
		abort();
	}
	free(sh);
	if (check_out && !t->bad && fw_stack_bad(s)) {
		fw_stack_print(s, stderr);
		fprintf(stderr, "fuzz: %zu bad checksums in the output\n",
			fw_stack_bad(s));
		abort();
	}
	if (fw_stack_scan(s, &err) && check_out) {
		fprintf(stderr, "fuzz: the output does not scan: %s\n",
			err.msg);
		abort();
	}
	fw_stack_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char lmagic[] = "# layout\n";
	char path[64], lpath[64], out[64];
	const char *layout = NULL;
	const uint8_t *end;
	struct stat st;
	struct tree t = { 0 };

	fuzz_init();
	/* "# layout", a layout file up to an empty line, then the blob:
	 * opened with --layout (formats/layout.c) */
	if (size > sizeof(lmagic) - 1 &&
	    !memcmp(data, lmagic, sizeof(lmagic) - 1) &&
	    (end = memmem(data, size, "\n\n", 2)) != NULL) {
		size_t k = (size_t)(end - data) + 2;

		if (fuzz_input("stack-layout", data, k - 1, lpath,
			       sizeof(lpath), &st))
			return 0;
		layout = lpath;
		data += k;
		size -= k;
	}
	if (fuzz_input("stack", data, size, path, sizeof(path), &st))
		goto out;
	if (walk(path, layout, 0) == 0) {
		walk(path, layout, 1);
		snprintf(out, sizeof(out), "/dev/shm/fuzz-stack-out.%d",
			 (int)getpid());
		unlink(out);
		if (sign(path, layout, out, &t) == 0)
			check(out, layout, &t);
		free(t.shape);
		unlink(out);
	}
	unlink(path);
out:
	if (layout)
		unlink(layout);
	return 0;
}
