/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OpenWrt's image signatures, for the fwtool signature block (fwtool.c).
 *
 * usign (and OpenBSD's signify, same files): a key or signature file is a
 * line "untrusted comment: ...", then one line of base64 of
 *   public key: "Ed", 8-byte fingerprint, 32-byte Ed25519 public key;
 *   secret key: "Ed", kdf "BK", u32 kdfrounds (0: not encrypted), 16-byte
 *               salt, 8-byte checksum (SHA-512 of the 64 key bytes), the
 *               fingerprint, 32-byte seed + 32-byte public key;
 *   signature:  "Ed", the signer's fingerprint, 64-byte Ed25519 signature.
 *
 * ucert (the block's payload): chain elements one after the other, each a
 * libubox blob attribute (u32 big-endian: bit 31 extended, bits 30-24 id,
 * bits 23-0 length with the 4-byte header, unpadded; the data then zeros
 * to a multiple of 4) holding attributes id 0, a usign signature file as
 * text, and id 1 (certificates only), the signed blobmsg table "ucert"
 * whose "pubkey" string is the usign public key file the next signature
 * is checked with.  The element without id 1 signs the image: every byte
 * before the signature block (image, metadata blocks and their trailers).
 */
#ifndef FWSIGN_USIGN_H
#define FWSIGN_USIGN_H

#include <stddef.h>
#include <stdint.h>

#include "fwsign/fwsign.h"

struct fw_out;

struct fw_usign_key {
	uint8_t fp[8];
	uint8_t seed[32];
	uint8_t pub[32];
};

/* Reads an unencrypted usign or signify secret key; FW_EKEY naming path
 * when it is not one, is damaged or is encrypted. */
int fw_usign_key_load(const char *path, struct fw_usign_key *k,
		      struct fw_error *err);
void fw_usign_key_wipe(struct fw_usign_key *k);

struct fw_ucert {
	uint64_t sig_off, sig_len;	/* the image signature element */
	uint8_t sig_fp[8];		/* the key it names */
	int have_cert;			/* a certificate names the key */
	uint8_t cert_fp[8], cert_pub[32];
};

/* Parses a signature block's payload; 0, or -1 with why set. */
int fw_ucert_parse(const uint8_t *p, size_t len, struct fw_ucert *u,
		   const char **why);

/* The chain element (as ucert -A appends it) holding k's signature of
 * the first len bytes of o, in a new buffer of *n bytes. */
int fw_usign_element(const struct fw_usign_key *k, const struct fw_out *o,
		     uint64_t len, uint8_t **elem, size_t *n,
		     struct fw_error *err);

/* The fingerprint as usign prints it (16 hex digits). */
void fw_usign_fp_hex(const uint8_t fp[8], char out[17]);

#endif
