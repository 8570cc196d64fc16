/*
 * fuzz_key.h: a P-256 key and certificate made once per fuzz process by
 * fwsign keygen into /dev/shm/fuzz-NAME-key.PID.{key,crt,der}; the
 * caller opens what it needs, then calls fuzz_key_drop().  Aborts when
 * no key can be made: a fuzz run without one tests nothing.
 */
#ifndef FWSIGN_FUZZ_KEY_H
#define FWSIGN_FUZZ_KEY_H
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fwsign/fwsign.h"

struct fuzz_key {
	char prefix[64], key[80], crt[80], der[80];
};

static inline void fuzz_key_drop(const struct fuzz_key *k)
{
	unlink(k->key);
	unlink(k->crt);
	unlink(k->der);
}

static inline void fuzz_key_make(const char *name, struct fuzz_key *k)
{
	struct fw_keygen_opts ko = { .prefix = k->prefix, .ec = "p256",
				     .subject = "fuzz" };
	struct fw_error err;

	snprintf(k->prefix, sizeof(k->prefix), "/dev/shm/fuzz-%s-key.%d",
		 name, (int)getpid());
	snprintf(k->key, sizeof(k->key), "%s.key", k->prefix);
	snprintf(k->crt, sizeof(k->crt), "%s.crt", k->prefix);
	snprintf(k->der, sizeof(k->der), "%s.der", k->prefix);
	fuzz_key_drop(k);
	fw_error_clear(&err);
	if (fw_keygen(&ko, &err)) {
		fprintf(stderr, "fuzz: no key: %s\n", err.msg);
		abort();
	}
}
#endif
