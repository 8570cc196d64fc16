// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Attestations for release audits: `fwsign sign --attest` writes, beside
 * OUTPUT, OUTPUT.intoto.json: an in-toto Statement v1 about the signed
 * image in a DSSE envelope signed with the vendor key; `fwsign verify
 * --attestation FILE IMAGE --cert CERT` checks one.
 *
 * The envelope (DSSE v1, https://github.com/secure-systems-lab/dsse):
 *
 *   {"payloadType": "application/vnd.in-toto+json",
 *    "payload": "<base64 of the Statement>",
 *    "signatures": [{"keyid": "<key id>", "sig": "<base64 signature>"}]}
 *
 * base64 is the standard alphabet with padding (RFC 4648 section 4); the
 * signature is over PAE = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP
 * body, made by fw_sign_raw (RSA PKCS#1 v1.5 with SHA-256, or ECDSA: see
 * fwsign/attest.h, which also defines the key id).  Verification accepts
 * the URL-safe alphabet too, with or without padding, as DSSE requires.
 *
 * The Statement (in-toto attestation framework v1):
 *
 *   {"_type": "https://in-toto.io/Statement/v1",
 *    "subject": [{"name": "<OUTPUT's file name>",
 *                 "digest": {"sha256": "<the signed image>"}}],
 *    "predicateType": "https://fwsign.example/attestation/sign/v1",
 *    "predicate": {
 *      "tool": {"name": "fwsign", "version": "0.1.0"},
 *      "signer": {"keyid": "<key id>", "subject": "<certificate CN>"},
 *      "input": {"name": "<INPUT's file name>",
 *                "digest": {"sha256": "<the image before signing>"}},
 *      "format": "<squashfs, ext4, tar, ...>",
 *      "fileDigests": true,
 *      "files": [{"path": "bin/busybox", "kind": "executable",
 *                 "action": "sign", "bytesAdded": 690,
 *                 "before": {"sha256": "..."}, "after": {"sha256": "..."},
 *                 "keyid": "<key id>"}, ...]}}
 *
 * One entry per regular file of the image (what the sign report lists),
 * in the report's order: kind and action as in the JSON report ("none"
 * for files that are not ELF), keyid only on the files this signing
 * signed, hardlinkOf on later names of a hard link.  before and after are
 * the sha256 of the file's bytes as stored in the input and the output
 * image (a compressed module: its compressed bytes).  In a vendor blob
 * (a tree of layers) a path is the part's path in the tree, ':', and the
 * path in that filesystem, as in the sign report.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "cli.h"
#include "fwsign/attest.h"

#define PAYLOAD_TYPE "application/vnd.in-toto+json"
#define STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define PREDICATE_TYPE "https://fwsign.example/attestation/sign/v1"
#define SUFFIX ".intoto.json"

char *cli_attest_path(const char *output)
{
	char *p;

	return asprintf(&p, "%s%s", output, SUFFIX) < 0 ? NULL : p;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s && s[1] ? s + 1 : path;
}

/* ------------------------------------------------------------------ */
/* base64 and PAE                                                      */

/* PAE(type, body) of DSSE v1, malloc'ed. */
static uint8_t *pae(const char *type, const uint8_t *body, size_t len,
		    size_t *out_len)
{
	char head[128];
	int h = snprintf(head, sizeof(head), "DSSEv1 %zu %s %zu ",
			 strlen(type), type, len);
	uint8_t *p;

	if (h < 0 || (size_t)h >= sizeof(head) || !(p = malloc((size_t)h + len + 1)))
		return NULL;
	memcpy(p, head, (size_t)h);
	if (len)
		memcpy(p + h, body, len);
	*out_len = (size_t)h + len;
	return p;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */

static json_object *digest_set(const char *sha256)
{
	json_object *d = json_object_new_object();

	json_object_object_add(d, "sha256", json_object_new_string(sha256));
	return d;
}

static json_object *descriptor(const char *name, const char *sha256)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "digest", digest_set(sha256));
	return o;
}

/* A report path to the image's: a single file is "" in the image. */
static const struct fw_file_digest *lookup(const struct fw_digests *d,
					   const char *path, size_t n_files)
{
	const struct fw_file_digest *x = fw_digests_find(d, path);

	if (!x && n_files == 1 && d->n == 1 && !d->v[0].path[0])
		x = &d->v[0];
	return x;
}

static json_object *statement(const struct cli_attest *a,
			      const struct fw_report *rep,
			      const struct fw_digests *before,
			      const struct fw_digests *after,
			      const char *keyid, const char *in_sha,
			      const char *out_sha, struct fw_error *err)
{
	json_object *st = json_object_new_object(), *subj, *pred, *o, *files;

	json_object_object_add(st, "_type",
			       json_object_new_string(STATEMENT_TYPE));
	subj = json_object_new_array();
	json_object_array_add(subj, descriptor(a->name ? a->name :
					       base_name(a->output), out_sha));
	json_object_object_add(st, "subject", subj);
	json_object_object_add(st, "predicateType",
			       json_object_new_string(PREDICATE_TYPE));
	pred = json_object_new_object();
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string("fwsign"));
	json_object_object_add(o, "version",
			       json_object_new_string(FWSIGN_VERSION));
	json_object_object_add(pred, "tool", o);
	o = json_object_new_object();
	json_object_object_add(o, "keyid", json_object_new_string(keyid));
	json_object_object_add(o, "subject", json_object_new_string(
				       fw_signer_subject(a->signer)));
	json_object_object_add(pred, "signer", o);
	json_object_object_add(pred, "input",
			       descriptor(base_name(a->input), in_sha));
	json_object_object_add(pred, "format", rep->format ?
			       json_object_new_string(rep->format) : NULL);
	json_object_object_add(pred, "fileDigests",
			       json_object_new_boolean(before != NULL));
	files = json_object_new_array();
	for (size_t i = 0; i < rep->n; i++) {
		const struct fw_record *r = fw_report_rec(rep, i);
		json_object *f = json_object_new_object();

		json_object_object_add(f, "path", json_object_new_string(r->path));
		json_object_object_add(f, "kind", json_object_new_string(
					       fw_kind_name(r->elf.kind)));
		json_object_object_add(f, "action", json_object_new_string(
					       fw_action_name(r->action)));
		json_object_object_add(f, "bytesAdded",
				       json_object_new_int64(r->bytes_added));
		if (before) {
			const struct fw_file_digest *b, *n;

			b = lookup(before, r->path, rep->n);
			n = lookup(after, r->path, rep->n);
			if (!b || !n) {
				fw_error_set(err, FW_EIO, r->path, "not in the "
					     "%s image: cannot attest it",
					     b ? "signed" : "input");
				json_object_put(f);
				json_object_put(files);
				json_object_put(pred);
				json_object_put(st);
				return NULL;
			}
			json_object_object_add(f, "before", digest_set(b->sha256));
			json_object_object_add(f, "after", digest_set(n->sha256));
		}
		if ((r->action == FW_ACT_SIGN || r->action == FW_ACT_RESIGN) &&
		    r->result == FW_RES_OK)
			json_object_object_add(f, "keyid",
					       json_object_new_string(keyid));
		if (r->link_of)
			json_object_object_add(f, "hardlinkOf",
					       json_object_new_string(r->link_of));
		json_object_array_add(files, f);
	}
	json_object_object_add(pred, "files", files);
	json_object_object_add(st, "predicate", pred);
	return st;
}

/* path whole or not at all: a temporary beside it, renamed. */
static int write_atomic(const char *path, const char *text,
			struct fw_error *err)
{
	char *tmp = NULL;
	size_t len = strlen(text);
	int fd, rc = FW_OK;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = fw_error_set(err, FW_EIO, path, "cannot create: %s",
				  strerror(errno));
		free(tmp);
		return rc;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = fw_error_set(err, FW_EIO, path, "cannot write: %s",
					  strerror(errno));
			break;
		}
		off += (size_t)w;
	}
	if (!rc && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
		rc = fw_error_set(err, FW_EIO, path, "cannot write: %s",
				  strerror(errno));
	if (close(fd) < 0 && !rc)
		rc = fw_error_set(err, FW_EIO, path, "cannot write: %s",
				  strerror(errno));
	if (!rc && rename(tmp, path) < 0)
		rc = fw_error_set(err, FW_EIO, path, "cannot rename into "
				  "place: %s", strerror(errno));
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

int cli_attest_write(const struct cli_attest *a, const struct fw_report *rep,
		     int file_digests, char **written)
{
	struct fw_digests before = { 0 }, after = { 0 };
	struct fw_error err;
	char keyid[FW_SHA256_HEX], in_sha[FW_SHA256_HEX], out_sha[FW_SHA256_HEX];
	char *path = NULL, *b64 = NULL, *sig64 = NULL;
	uint8_t *msg = NULL, *sig = NULL;
	size_t msg_len = 0, sig_len = 0;
	const char *payload;
	json_object *st = NULL, *env = NULL, *sigs, *so;
	int rc;

	fw_error_clear(&err);
	if (written)
		*written = NULL;
	path = cli_attest_path(a->output);
	if (!path) {
		fw_error_set(&err, FW_EIO, NULL, "out of memory");
		return cli_error(&err);
	}
	rc = fw_signer_keyid(a->signer, keyid, &err);
	if (!rc)
		rc = fw_sha256_file(a->input, in_sha, &err);
	if (!rc)
		rc = fw_sha256_file(a->output, out_sha, &err);
	if (!rc && file_digests)
		rc = fw_image_digests(a->input, &before, &err);
	if (!rc && file_digests)
		rc = fw_image_digests(a->output, &after, &err);
	if (rc)
		goto out;
	st = statement(a, rep, file_digests ? &before : NULL, &after, keyid,
		       in_sha, out_sha, &err);
	if (!st) {
		rc = err.code;
		goto out;
	}
	payload = json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE);
	msg = pae(PAYLOAD_TYPE, (const uint8_t *)payload, strlen(payload),
		  &msg_len);
	b64 = fw_base64_encode((const uint8_t *)payload, strlen(payload));
	if (!msg || !b64) {
		rc = fw_error_set(&err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	rc = fw_sign_raw(a->signer, msg, msg_len, &sig, &sig_len, &err);
	if (rc)
		goto out;
	sig64 = fw_base64_encode(sig, sig_len);
	if (!sig64) {
		rc = fw_error_set(&err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	env = json_object_new_object();
	json_object_object_add(env, "payloadType",
			       json_object_new_string(PAYLOAD_TYPE));
	json_object_object_add(env, "payload", json_object_new_string(b64));
	sigs = json_object_new_array();
	so = json_object_new_object();
	json_object_object_add(so, "keyid", json_object_new_string(keyid));
	json_object_object_add(so, "sig", json_object_new_string(sig64));
	json_object_array_add(sigs, so);
	json_object_object_add(env, "signatures", sigs);
	{
		const char *text = json_object_to_json_string_ext(env,
			JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			JSON_C_TO_STRING_NOSLASHESCAPE);
		char *line = NULL;

		if (asprintf(&line, "%s\n", text) < 0) {
			rc = fw_error_set(&err, FW_EIO, NULL, "out of memory");
			goto out;
		}
		rc = write_atomic(path, line, &err);
		free(line);
	}
out:
	fw_digests_free(&before);
	fw_digests_free(&after);
	json_object_put(st);
	json_object_put(env);
	free(msg);
	free(b64);
	free(sig);
	free(sig64);
	if (rc) {
		/* the image without the attestation asked for is no output */
		unlink(a->output);
		free(path);
		return cli_error(&err);
	}
	if (written)
		*written = path;
	else
		free(path);
	return FW_OK;
}

/* ------------------------------------------------------------------ */
/* Verifying                                                           */

struct vctx {
	const char *att, *image;
	int quiet;
	size_t problems;
};

static void problem(struct vctx *c, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void problem(struct vctx *c, const char *what, const char *fmt, ...)
{
	va_list ap;

	c->problems++;
	if (c->quiet)
		return;
	printf("%s: ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	return o && json_object_object_get_ex(o, key, &v) &&
	       json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

static json_object *get_type(json_object *o, const char *key, json_type t)
{
	json_object *v;

	return o && json_object_object_get_ex(o, key, &v) &&
	       json_object_is_type(v, t) ? v : NULL;
}

/* The envelope: its payload (decoded) when a signature verifies with the
 * certificate; every problem counted.  *payload is set even when no
 * signature verifies, so that the rest can still be checked. */
static void check_envelope(struct vctx *c, json_object *env,
			   struct fw_verifier *v, const char *cert,
			   uint8_t **payload, size_t *payload_len)
{
	const char *type = get_str(env, "payloadType");
	const char *p64 = get_str(env, "payload");
	json_object *sigs = get_type(env, "signatures", json_type_array);
	char keyid[FW_SHA256_HEX];
	struct fw_error err;
	uint8_t *msg = NULL;
	size_t msg_len = 0, good = 0, n;

	*payload = NULL;
	if (!type)
		problem(c, c->att, "envelope: no payloadType");
	else if (strcmp(type, PAYLOAD_TYPE))
		problem(c, c->att, "envelope: payloadType is '%s', not '%s'",
			type, PAYLOAD_TYPE);
	if (!p64) {
		problem(c, c->att, "envelope: no payload");
		return;
	}
	*payload = fw_base64_decode(p64, strlen(p64), 1, payload_len);
	if (!*payload) {
		problem(c, c->att, "envelope: the payload is not base64");
		return;
	}
	n = sigs ? json_object_array_length(sigs) : 0;
	if (!n) {
		problem(c, c->att, "envelope: no signatures");
		return;
	}
	fw_error_clear(&err);
	if (fw_verifier_keyid(v, keyid, &err))
		keyid[0] = '\0';
	msg = type ? pae(type, *payload, *payload_len, &msg_len) : NULL;
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(sigs, i);
		const char *s64 = get_str(s, "sig");
		uint8_t *sig;
		size_t sig_len;

		if (!s64) {
			problem(c, c->att, "envelope: signature %zu has no sig",
				i + 1);
			continue;
		}
		sig = fw_base64_decode(s64, strlen(s64), 1, &sig_len);
		if (!sig) {
			problem(c, c->att, "envelope: signature %zu is not "
				"base64", i + 1);
			continue;
		}
		/* keyid is a hint only (DSSE): every signature is tried */
		if (msg && fw_verify_raw(v, msg, msg_len, sig, sig_len))
			good++;
		free(sig);
	}
	if (!good && msg)
		problem(c, c->att, "envelope: no signature verifies with %s "
			"(key id %s)", cert, keyid);
	free(msg);
}

/* The Statement: its type, the subject against IMAGE's sha256, and every
 * file against IMAGE's files. */
static int check_statement(struct vctx *c, const uint8_t *payload,
			   size_t len, char *keyid_out, size_t *n_files)
{
	json_object *st, *subj, *pred, *files;
	const char *s;
	char sha[FW_SHA256_HEX];
	struct fw_digests d = { 0 };
	struct fw_error err;
	int found = 0, digests;
	size_t n;
	char *text = malloc(len + 1);

	*n_files = 0;
	if (!text)
		return FW_EIO;
	memcpy(text, payload, len);
	text[len] = '\0';
	st = strlen(text) == len ? json_tokener_parse(text) : NULL;
	free(text);
	if (!st || !json_object_is_type(st, json_type_object)) {
		problem(c, c->att, "statement: the payload is not a JSON object");
		json_object_put(st);
		return FW_OK;
	}
	s = get_str(st, "_type");
	if (!s || strcmp(s, STATEMENT_TYPE))
		problem(c, c->att, "statement: _type is '%s', not '%s'",
			s ? s : "", STATEMENT_TYPE);
	s = get_str(st, "predicateType");
	if (!s || strcmp(s, PREDICATE_TYPE))
		problem(c, c->att, "statement: predicateType is '%s', not '%s'",
			s ? s : "", PREDICATE_TYPE);
	pred = get_type(st, "predicate", json_type_object);
	s = get_str(get_type(pred, "signer", json_type_object), "keyid");
	snprintf(keyid_out, FW_SHA256_HEX, "%s", s ? s : "");

	/* the subject: IMAGE's sha256 */
	fw_error_clear(&err);
	if (fw_sha256_file(c->image, sha, &err)) {
		json_object_put(st);
		return cli_error(&err);
	}
	subj = get_type(st, "subject", json_type_array);
	n = subj ? json_object_array_length(subj) : 0;
	for (size_t i = 0; i < n && !found; i++) {
		s = get_str(get_type(json_object_array_get_idx(subj, i),
				     "digest", json_type_object), "sha256");
		found = s && !strcasecmp(s, sha);
	}
	if (!n) {
		problem(c, c->att, "statement: no subject");
	} else if (!found) {
		s = get_str(get_type(json_object_array_get_idx(subj, 0),
				     "digest", json_type_object), "sha256");
		problem(c, c->image, "subject: the image's sha256 is %s, the "
			"statement's subject's %s", sha, s ? s : "(none)");
	}

	/* the files: each one's sha256 after signing, against IMAGE */
	files = get_type(pred, "files", json_type_array);
	n = files ? json_object_array_length(files) : 0;
	digests = json_object_get_boolean(get_type(pred, "fileDigests",
						   json_type_boolean));
	if (!files)
		problem(c, c->att, "statement: no predicate.files");
	if (digests && files) {
		char *seen;

		fw_error_clear(&err);
		if (fw_image_digests(c->image, &d, &err)) {
			problem(c, c->image, "cannot read its files: %s",
				err.msg);
			json_object_put(st);
			return FW_OK;
		}
		seen = calloc(d.n + 1, 1);
		if (!seen) {
			fw_digests_free(&d);
			json_object_put(st);
			return FW_EIO;
		}
		for (size_t i = 0; i < n; i++) {
			json_object *f = json_object_array_get_idx(files, i);
			const char *path = get_str(f, "path");
			const char *want = get_str(get_type(f, "after",
					json_type_object), "sha256");
			const struct fw_file_digest *x;

			if (!path || !want) {
				problem(c, c->att, "statement: file %zu has no "
					"path or after.sha256", i + 1);
				continue;
			}
			x = lookup(&d, path, n);
			if (!x) {
				problem(c, path, "in the statement, not in %s",
					c->image);
				continue;
			}
			seen[x - d.v] = 1;
			if (strcasecmp(x->sha256, want))
				problem(c, path, "sha256 is %s, the statement "
					"says %s", x->sha256, want);
			else
				(*n_files)++;
		}
		for (size_t i = 0; i < d.n; i++)
			if (!seen[i])
				problem(c, d.v[i].path[0] ? d.v[i].path :
					c->image, "in %s, not in the statement",
					c->image);
		free(seen);
		fw_digests_free(&d);
	}
	json_object_put(st);
	return FW_OK;
}

int cli_attest_verify(const char *att, const char *image, const char *cert,
		      int quiet)
{
	struct vctx c = { .att = att, .image = image, .quiet = quiet };
	struct fw_verifier *v = NULL;
	struct fw_error err;
	json_object *env;
	uint8_t *payload = NULL;
	size_t payload_len = 0, n_files = 0;
	char keyid[FW_SHA256_HEX] = "", stated[FW_SHA256_HEX] = "";
	int rc;

	fw_error_clear(&err);
	if (access(att, R_OK) < 0) {
		fw_error_set(&err, errno == ENOENT ? FW_EINPUT : FW_EIO, att,
			     "cannot open: %s", strerror(errno));
		return cli_error(&err);
	}
	if (access(image, R_OK) < 0) {
		fw_error_set(&err, errno == ENOENT ? FW_EINPUT : FW_EIO, image,
			     "cannot open: %s", strerror(errno));
		return cli_error(&err);
	}
	rc = fw_verifier_open(cert, &v, &err);
	if (rc)
		return cli_error(&err);
	fw_verifier_keyid(v, keyid, &err);
	env = json_object_from_file(att);
	if (!env || !json_object_is_type(env, json_type_object)) {
		problem(&c, att, "envelope: not a JSON object");
	} else {
		check_envelope(&c, env, v, cert, &payload, &payload_len);
		if (payload)
			rc = check_statement(&c, payload, payload_len, stated,
					     &n_files);
	}
	json_object_put(env);
	free(payload);
	fw_verifier_free(v);
	if (rc)
		return rc;
	if (c.problems) {
		printf("%s: attestation of %s does not verify: %zu problem%s\n",
		       att, image, c.problems, c.problems == 1 ? "" : "s");
		return FW_EPROBLEM;
	}
	printf("%s: attestation of %s good: signed by key id %s, subject "
	       "sha256 matches, %zu file%s match%s\n", att, image, keyid,
	       n_files, n_files == 1 ? "" : "s", n_files == 1 ? "es" : "");
	return FW_OK;
}
