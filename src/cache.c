// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The compressed-block cache (fwsign/cache.h): one file per entry,
 * DIR/XX/REST where XXREST is the key in hex, holding a 5-byte header
 * ("FWZ1" and 0 = compressed bytes follow, 1 = the block is stored
 * uncompressed: nothing follows) and the bytes.  Written to a locked
 * temporary beside it and renamed: readers never see half an entry, and
 * two writers of one key write the same bytes.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "fwsign/cache.h"
#include "bytes.h"
#include "cache_int.h"
#include "io.h"

#define MAGIC "FWZ1"
#define HDR 5

struct fw_cache {
	int dfd;
	char *dir;
	atomic_uint_fast64_t hits, misses, rejected, stored, store_failed;
	atomic_uint_fast64_t sig_hits, sig_misses, sig_rejected;
	atomic_uint_fast64_t dig_hits, dig_misses, dig_rejected;
	uint8_t secret[64];	/* file digests' HMAC key */
	size_t secret_len;	/* 0: no file digests */
};

int fw_cache_open(const char *dir, struct fw_cache **out,
		  struct fw_error *err)
{
	struct fw_cache *c;

	*out = NULL;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fw_error_set(err, FW_EIO, dir, "cannot make the cache "
				    "directory: %s", strerror(errno));
	c = calloc(1, sizeof(*c));
	if (!c || !(c->dir = fw_strdup(dir))) {
		free(c);
		return fw_error_set(err, FW_EIO, dir, "out of memory");
	}
	c->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dfd < 0) {
		fw_error_set(err, FW_EIO, dir, "cannot open the cache "
			     "directory: %s", strerror(errno));
		free(c->dir);
		free(c);
		return err->code;
	}
	fw_tmp_sweep_tree(dir);		/* what killed runs left */
	*out = c;
	return FW_OK;
}

void fw_cache_close(struct fw_cache *c)
{
	if (!c)
		return;
	close(c->dfd);
	free(c->dir);
	OPENSSL_cleanse(c->secret, sizeof(c->secret));
	free(c);
}

void fw_cache_stats(const struct fw_cache *c, struct fw_cache_stats *s)
{
	memset(s, 0, sizeof(*s));
	if (!c)
		return;
	s->hits = atomic_load(&c->hits);
	s->misses = atomic_load(&c->misses);
	s->rejected = atomic_load(&c->rejected);
	s->stored = atomic_load(&c->stored);
	s->store_failed = atomic_load(&c->store_failed);
	s->sig_hits = atomic_load(&c->sig_hits);
	s->sig_misses = atomic_load(&c->sig_misses);
	s->sig_rejected = atomic_load(&c->sig_rejected);
	s->dig_hits = atomic_load(&c->dig_hits);
	s->dig_misses = atomic_load(&c->dig_misses);
	s->dig_rejected = atomic_load(&c->dig_rejected);
}

int fw_cache_set_secret(struct fw_cache *c, const uint8_t *key, size_t len)
{
	if (!c || len < 16 || len > sizeof(c->secret))
		return -1;
	memcpy(c->secret, key, len);
	c->secret_len = len;
	return 0;
}

int fw_cache_has_secret(const struct fw_cache *c)
{
	return c && c->secret_len > 0;
}

/* "XX/REST" of the key. */
static void entry_name(const uint8_t key[FW_CACHE_KEY], char name[68])
{
	static const char hx[] = "0123456789abcdef";
	size_t k = 0;

	for (size_t i = 0; i < FW_CACHE_KEY; i++) {
		name[k++] = hx[key[i] >> 4];
		name[k++] = hx[key[i] & 15];
		if (i == 0)
			name[k++] = '/';
	}
	name[k] = 0;
}

/* The MAC of a block entry under the secret: raw flag and bytes. */
static int blk_mac(const struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		   int raw, const uint8_t *data, size_t len, uint8_t mac[32])
{
	static const char dom[] = "fwsign-block-entry/1";
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *x = m ? EVP_MAC_CTX_new(m) : NULL;
	OSSL_PARAM prm[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	uint8_t r = raw ? 1 : 0;
	size_t n = 0;
	int ok = x && EVP_MAC_init(x, c->secret, c->secret_len, prm) == 1 &&
		 EVP_MAC_update(x, (const uint8_t *)dom, sizeof(dom)) == 1 &&
		 EVP_MAC_update(x, key, FW_CACHE_KEY) == 1 &&
		 EVP_MAC_update(x, &r, 1) == 1 &&
		 (!len || EVP_MAC_update(x, data, len) == 1) &&
		 EVP_MAC_final(x, mac, &n, 32) == 1 && n == 32;

	EVP_MAC_CTX_free(x);
	EVP_MAC_free(m);
	return ok ? 0 : -1;
}

int fw_cache_get_auth(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		      uint8_t *buf, size_t cap, size_t *len, int *raw,
		      int *authentic)
{
	char name[68];
	uint8_t hdr[HDR], mac[32], want[32];
	struct stat st;
	int fd, ok = 0, has_mac;
	size_t n;

	*authentic = 0;
	entry_name(key, name);
	fd = openat(c->dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= HDR &&
	    fw_pread_full(fd, hdr, HDR, 0) == HDR &&
	    !memcmp(hdr, MAGIC, 4) && hdr[4] <= 3) {
		/* flags 2 and 3: 0 and 1 with a MAC after the bytes */
		has_mac = hdr[4] >= 2;
		*raw = hdr[4] & 1;
		n = (size_t)st.st_size - HDR;
		if (has_mac && n >= 32)
			n -= 32;
		else if (has_mac)
			n = cap + 1;
		*len = n;
		ok = n <= cap && (*raw ? n == 0 : n > 0) &&
		     fw_pread_full(fd, buf, n, HDR) == (ssize_t)n &&
		     (!has_mac || fw_pread_full(fd, mac, 32, HDR + n) == 32);
		if (ok && has_mac && c->secret_len &&
		    !blk_mac(c, key, *raw, buf, n, want) &&
		    !CRYPTO_memcmp(want, mac, 32))
			*authentic = 1;
	}
	close(fd);
	return ok;
}

int fw_cache_get(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		 uint8_t *buf, size_t cap, size_t *len, int *raw)
{
	int authentic;

	return fw_cache_get_auth(c, key, buf, cap, len, raw, &authentic);
}

static void put_entry(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		      const uint8_t *data, size_t len, int raw, int mac)
{
	char name[68], *path = NULL;
	uint8_t hdr[HDR], macb[32];
	int fd, ok;

	entry_name(key, name);
	name[2] = 0;
	if ((mkdirat(c->dfd, name, 0700) < 0 && errno != EEXIST) ||
	    asprintf(&path, "%s/%s/.e.fwsign-XXXXXX", c->dir, name) < 0) {
		atomic_fetch_add(&c->store_failed, 1);
		return;
	}
	name[2] = '/';
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		free(path);
		atomic_fetch_add(&c->store_failed, 1);
		return;
	}
	fw_tmp_lock(fd);	/* ours while we live */
	memcpy(hdr, MAGIC, 4);
	hdr[4] = raw ? 1 : 0;
	if (raw)
		len = 0;
	ok = 1;
	if (mac && c->secret_len) {
		ok = !blk_mac(c, key, raw, data, len, macb);
		hdr[4] |= 2;
	}
	ok = ok && fw_pwrite_full(fd, hdr, HDR, 0) == 0 &&
	     (!len || fw_pwrite_full(fd, data, len, HDR) == 0) &&
	     (!(hdr[4] & 2) || fw_pwrite_full(fd, macb, 32, HDR + len) == 0);
	ok = close(fd) == 0 && ok &&
	     renameat(AT_FDCWD, path, c->dfd, name) == 0;
	if (!ok)
		unlink(path);
	free(path);
	atomic_fetch_add(ok ? &c->stored : &c->store_failed, 1);
}

void fw_cache_put(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		  const uint8_t *data, size_t len, int raw)
{
	put_entry(c, key, data, len, raw, 0);
}

void fw_cache_put_auth(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		       const uint8_t *data, size_t len, int raw)
{
	put_entry(c, key, data, len, raw, 1);
}

int fw_cache_claim(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		   int wait, int *fd)
{
	char name[74];

	entry_name(key, name);
	strcat(name, ".lock");
	name[2] = 0;
	if (mkdirat(c->dfd, name, 0700) < 0 && errno != EEXIST)
		return -1;
	name[2] = '/';
	*fd = openat(c->dfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		     0600);
	if (*fd < 0)
		return -1;
	while (flock(*fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR)
			continue;
		close(*fd);
		*fd = -1;
		return errno == EWOULDBLOCK ? 0 : -1;
	}
	return 1;
}

void fw_cache_release(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		      int fd)
{
	char name[74];

	entry_name(key, name);
	strcat(name, ".lock");
	unlinkat(c->dfd, name, 0);	/* before the unlock: see cache_int.h */
	close(fd);
}

void fw_cache_count(struct fw_cache *c, enum fw_cache_event e)
{
	switch (e) {
	case FW_CACHE_HIT: atomic_fetch_add(&c->hits, 1); break;
	case FW_CACHE_MISS: atomic_fetch_add(&c->misses, 1); break;
	case FW_CACHE_REJECTED: atomic_fetch_add(&c->rejected, 1); break;
	case FW_CACHE_SIG_HIT: atomic_fetch_add(&c->sig_hits, 1); break;
	case FW_CACHE_SIG_MISS: atomic_fetch_add(&c->sig_misses, 1); break;
	case FW_CACHE_SIG_REJECTED:
		atomic_fetch_add(&c->sig_rejected, 1);
		break;
	case FW_CACHE_DIG_HIT: atomic_fetch_add(&c->dig_hits, 1); break;
	case FW_CACHE_DIG_MISS: atomic_fetch_add(&c->dig_misses, 1); break;
	case FW_CACHE_DIG_REJECTED:
		atomic_fetch_add(&c->dig_rejected, 1);
		break;
	}
}

/*
 * A file digest entry: "FWD1", size and keep (le64), had_sig, md_len,
 * md[64], kind, elfclass, big_endian, machine (le32), then the
 * HMAC-SHA256 under the secret of a domain string, the key and all that.
 */
#define DIG_MAGIC "FWD1"
#define DIG_BODY (4 + 8 + 8 + 1 + 1 + 64 + 16)
#define DIG_LEN (DIG_BODY + 32)

static int dig_mac(const struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
		   const uint8_t *body, uint8_t mac[32])
{
	static const char dom[] = "fwsign-file-digest-entry/1";
	uint8_t msg[sizeof(dom) + FW_CACHE_KEY + DIG_BODY];
	size_t n = 0;

	memcpy(msg, dom, sizeof(dom));
	memcpy(msg + sizeof(dom), key, FW_CACHE_KEY);
	memcpy(msg + sizeof(dom) + FW_CACHE_KEY, body, DIG_BODY);
	return EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, c->secret,
			 c->secret_len, msg, sizeof(msg), mac, 32, &n) &&
	       n == 32 ? 0 : -1;
}

int fw_cache_digest_get(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
			struct fw_digest_entry *e)
{
	uint8_t buf[DIG_LEN], mac[32];
	size_t n = 0;
	int raw = 0;

	if (!fw_cache_has_secret(c))
		return 0;
	if (!fw_cache_get(c, key, buf, sizeof(buf), &n, &raw)) {
		fw_cache_count(c, FW_CACHE_DIG_MISS);
		return 0;
	}
	/* the MAC first: nothing of an entry is looked at before */
	if (raw || n != DIG_LEN || dig_mac(c, key, buf, mac) ||
	    CRYPTO_memcmp(mac, buf + DIG_BODY, 32) ||
	    memcmp(buf, DIG_MAGIC, 4) || buf[21] > 64) {
		fw_cache_count(c, FW_CACHE_DIG_REJECTED);
		return 0;
	}
	memset(e, 0, sizeof(*e));
	e->size = fw_le64(buf + 4);
	e->keep = fw_le64(buf + 12);
	e->had_sig = buf[20];
	e->md_len = buf[21];
	memcpy(e->md, buf + 22, 64);
	e->kind = fw_le32(buf + 86);
	e->elfclass = fw_le32(buf + 90);
	e->big_endian = fw_le32(buf + 94);
	e->machine = fw_le32(buf + 98);
	fw_cache_count(c, FW_CACHE_DIG_HIT);
	return 1;
}

void fw_cache_digest_put(struct fw_cache *c, const uint8_t key[FW_CACHE_KEY],
			 const struct fw_digest_entry *e)
{
	uint8_t buf[DIG_LEN];

	if (!fw_cache_has_secret(c) || e->md_len > 64)
		return;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, DIG_MAGIC, 4);
	fw_put_le64(buf + 4, e->size);
	fw_put_le64(buf + 12, e->keep);
	buf[20] = e->had_sig;
	buf[21] = e->md_len;
	memcpy(buf + 22, e->md, e->md_len);
	fw_put_le32(buf + 86, e->kind);
	fw_put_le32(buf + 90, e->elfclass);
	fw_put_le32(buf + 94, e->big_endian);
	fw_put_le32(buf + 98, e->machine);
	if (dig_mac(c, key, buf, buf + DIG_BODY)) {
		atomic_fetch_add(&c->store_failed, 1);
		return;
	}
	fw_cache_put(c, key, buf, sizeof(buf), 0);
}

static int all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == 0;
}

static int is_lock(const char *s)
{
	const size_t n = 2 * FW_CACHE_KEY - 2;

	return strlen(s) == n + 5 && !strcmp(s + n, ".lock") &&
	       strspn(s, "0123456789abcdef") == n;
}

void fw_cache_remove(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	struct dirent *e;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((e = readdir(d))) {
		int sfd;
		DIR *s;
		struct dirent *f;

		if (!all_hex(e->d_name, 2))
			continue;
		sfd = openat(dfd, e->d_name,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		s = sfd < 0 ? NULL : fdopendir(sfd);
		if (!s) {
			if (sfd >= 0)
				close(sfd);
			continue;
		}
		while ((f = readdir(s)))
			if (all_hex(f->d_name, 2 * FW_CACHE_KEY - 2) ||
			    is_lock(f->d_name) ||
			    !strncmp(f->d_name, ".e.fwsign-", 10))
				unlinkat(sfd, f->d_name, 0);
		closedir(s);
		unlinkat(dfd, e->d_name, AT_REMOVEDIR);
	}
	closedir(d);
	rmdir(dir);
}
