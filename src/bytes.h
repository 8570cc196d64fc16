/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Byte order and the zero check, defined here once for the library, the
 * formats and the tar/cpio module (header only: nothing to export).
 */
#ifndef FWSIGN_BYTES_H
#define FWSIGN_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t fw_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint16_t fw_le16(const uint8_t *p)
{
	return (uint16_t)(p[1] << 8 | p[0]);
}

static inline uint32_t fw_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint32_t fw_le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[1] << 8 | p[0];
}

static inline uint64_t fw_be64(const uint8_t *p)
{
	return (uint64_t)fw_be32(p) << 32 | fw_be32(p + 4);
}

static inline uint64_t fw_le64(const uint8_t *p)
{
	return (uint64_t)fw_le32(p + 4) << 32 | fw_le32(p);
}

/* An unsigned integer of w bytes (1 to 8), big-endian when be. */
static inline uint64_t fw_get_uint(const uint8_t *p, int w, int be)
{
	uint64_t v = 0;

	for (int i = 0; i < w; i++)
		v |= (uint64_t)p[be ? w - 1 - i : i] << (8 * i);
	return v;
}

static inline void fw_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void fw_put_be64(uint8_t *p, uint64_t v)
{
	fw_put_be32(p, (uint32_t)(v >> 32));
	fw_put_be32(p + 4, (uint32_t)v);
}

static inline void fw_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void fw_put_le32(uint8_t *p, uint32_t v)
{
	fw_put_le16(p, (uint16_t)v);
	fw_put_le16(p + 2, (uint16_t)(v >> 16));
}

static inline void fw_put_le64(uint8_t *p, uint64_t v)
{
	fw_put_le32(p, (uint32_t)v);
	fw_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* The low w bytes (1 to 8) of v, big-endian when be. */
static inline void fw_put_uint(uint8_t *p, int w, int be, uint64_t v)
{
	for (int i = 0; i < w; i++)
		p[be ? w - 1 - i : i] = (uint8_t)(v >> (8 * i));
}

/* 1 when the n bytes at p are all zero (n 0 too). */
static inline int fw_all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1));
}

#endif
