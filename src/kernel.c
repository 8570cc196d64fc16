// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The extra-certificate slot of a Linux kernel image.
 *
 * CONFIG_SYSTEM_EXTRA_CERTIFICATE reserves, right after the builtin
 * certificate list (certs/system_certificates.S):
 *
 *	system_certificate_list:	builtin certificates (L0 bytes)
 *	system_extra_cert:		the slot (SIZE bytes)
 *	system_extra_cert_used:		int, bytes of the slot in use
 *	system_certificate_list_size:	long, L0 + used
 *
 * The kernel parses system_certificate_list_size bytes, so a certificate
 * written in the slot is loaded once the list size covers it; the "used"
 * word is for tools (scripts/insert-sys-cert.c keeps the same rules).
 *
 * The slot is found through the symbol table, a System.map (addresses
 * turned into file offsets through the program headers, or from _text for
 * a raw image), or, for images without either (a bzImage payload, an
 * Image.gz), by scanning for that layout: the incompressible filler of
 * kernel/0001 or a certificate put there earlier, between the builtin
 * list and the two words.  Every way ends in the same consistency check
 * (list size == L0 + used, the builtin list parses as certificates, the
 * used bytes too, linux_banner where the map says), so a wrong System.map
 * is refused instead of corrupting a kernel.
 *
 * Layers around the plain image are peeled and rebuilt: compressed streams
 * (recompressed with the same codec and settings and checked by
 * decompressing again), U-Boot legacy uImages (data CRC, header CRC), x86
 * bzImages (payload patched in place: it may not grow; payload_length,
 * the decompressor's input_len and the trailing CRC32 fixed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gelf.h>
#include <libelf.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <zlib.h>

#include "fwsign/kernel.h"
#include "bytes.h"
#include "io.h"
#include "codec.h"
#include "signer_int.h"
#include "../formats/layer.h"
#include "../formats/format.h"


/* ------------------------------------------------------------------ */
/* Bytes                                                               */

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

/*
 * The filler kernel/0001 puts in the slot: bits 16..23 of a 31-bit LCG
 * seeded with 1, as the assembler computes it.  Returns how many bytes of
 * p (at most max) follow the sequence.
 */
static size_t filler_run(const uint8_t *p, size_t max)
{
	uint32_t seed = 1;
	size_t i;

	for (i = 0; i < max; i++) {
		seed = (seed * 1103515245u + 12345u) & 0x7fffffff;
		if (p[i] != ((seed >> 16) & 0xff))
			break;
	}
	return i;
}

static void filler_head(uint8_t *out, size_t n)
{
	uint32_t seed = 1;

	for (size_t i = 0; i < n; i++) {
		seed = (seed * 1103515245u + 12345u) & 0x7fffffff;
		out[i] = (seed >> 16) & 0xff;
	}
}

/* ------------------------------------------------------------------ */
/* Certificates                                                        */

/* Length of the DER SEQUENCE at p, header included, or 0. */
static size_t der_seq_len(const uint8_t *p, size_t avail)
{
	size_t n, hl;

	if (avail < 4 || p[0] != 0x30)
		return 0;
	if (p[1] < 0x80) {
		n = p[1];
		hl = 2;
	} else if (p[1] == 0x81) {
		n = p[2];
		hl = 3;
	} else if (p[1] == 0x82) {
		n = (size_t)p[2] << 8 | p[3];
		hl = 4;
	} else if (p[1] == 0x83 && avail >= 5) {
		n = (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
		hl = 5;
	} else {
		return 0;
	}
	return n <= avail - hl ? hl + n : 0;
}

/* A cheap look before d2i: a SEQUENCE holding a SEQUENCE (tbsCertificate). */
static size_t cert_like(const uint8_t *p, size_t avail)
{
	size_t n = der_seq_len(p, avail);

	if (n < 64 || (p[1] == 0x82 ? p[4] : p[3]) != 0x30)
		return 0;
	return n;
}

/* 1 when [p, p+len) is X.509 certificates back to back; counts them. */
static int cert_chain(const uint8_t *p, size_t len, int *count)
{
	size_t pos = 0;
	int n = 0;

	while (pos < len) {
		const uint8_t *q = p + pos;
		size_t cl = cert_like(q, len - pos);
		X509 *x;

		if (!cl)
			return 0;
		x = d2i_X509(NULL, &q, (long)cl);
		if (!x || q != p + pos + cl) {
			X509_free(x);
			ERR_clear_error();
			return 0;
		}
		X509_free(x);
		pos += cl;
		n++;
	}
	if (count)
		*count = n;
	return 1;
}

static void der_subject(const uint8_t *p, size_t len, char *buf, size_t n)
{
	const uint8_t *q = p;
	X509 *x = d2i_X509(NULL, &q, (long)len);

	buf[0] = '\0';
	if (x)
		fw_cert_subject(x, buf, n);
	X509_free(x);
	ERR_clear_error();
}

/* ------------------------------------------------------------------ */
/* Symbols: from .symtab or System.map                                 */

enum { S_LIST, S_EXTRA, S_USED, S_SIZE, S_BANNER, S_TEXT, S_STEXT, S_N };

static const char *const sym_names[S_N] = {
	[S_LIST] = "system_certificate_list",
	[S_EXTRA] = "system_extra_cert",
	[S_USED] = "system_extra_cert_used",
	[S_SIZE] = "system_certificate_list_size",
	[S_BANNER] = "linux_banner",
	[S_TEXT] = "_text",
	[S_STEXT] = "_stext",
};

struct syms {
	uint64_t addr[S_N];
	uint64_t size[S_N];	/* symtab st_size; 0 from a map */
	unsigned have;		/* bit per S_* */
	int addr_bytes;		/* map: 4 or 8 (width of the addresses) */
	int n;			/* symbols seen at all */
};

static void sym_note(struct syms *s, const char *name, uint64_t addr,
		     uint64_t size)
{
	s->n++;
	for (int i = 0; i < S_N; i++)
		if (!(s->have & 1u << i) && !strcmp(name, sym_names[i])) {
			s->addr[i] = addr;
			s->size[i] = size;
			s->have |= 1u << i;
		}
}

static int map_load(const char *path, struct syms *s, struct fw_error *err)
{
	FILE *f = fopen(path, "re");
	char line[512];
	int lines = 0;

	memset(s, 0, sizeof(*s));
	if (!f)
		return fw_error_set(err, errno == ENOENT ? FW_EINPUT : FW_EIO,
				    path, "cannot open System.map: %s",
				    strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *end, name[256], type;
		unsigned long long a = strtoull(line, &end, 16);
		int digits = (int)(end - line);

		if (strstr(line, "real System.map is in")) {
			fclose(f);
			return fw_error_set(err, FW_EINPUT, path,
					    "a placeholder System.map (Debian "
					    "ships the real one in the "
					    "linux-image-*-dbg package)");
		}
		if (digits < 8 || digits > 16 ||
		    sscanf(end, " %c %255s", &type, name) != 2) {
			fclose(f);
			return fw_error_set(err, FW_EINPUT, path,
					    "not a System.map (line %d)",
					    lines + 1);
		}
		if (digits > s->addr_bytes * 2)
			s->addr_bytes = digits > 8 ? 8 : 4;
		sym_note(s, name, a, 0);
		lines++;
	}
	fclose(f);
	if (!lines)
		return fw_error_set(err, FW_EINPUT, path, "empty System.map");
	return FW_OK;
}

/* ------------------------------------------------------------------ */
/* The slot                                                            */

struct slot {
	size_t list, x, u, l;	/* file offsets in the plain image */
	uint64_t size;		/* bytes reserved */
	int w, be;		/* width and byte order of the list size */
	uint64_t used, l0;	/* used bytes; builtin list bytes */
};

/*
 * Reads the words and checks the layout.  s->list, x, u, l, size, w, be
 * set; fills used and l0.  why says what does not hold.
 */
static int slot_check(const uint8_t *b, size_t len, struct slot *s,
		      char *why, size_t wl)
{
	uint64_t lsize;

	if (s->x < s->list || s->x > len || s->size > len - s->x ||
	    s->u > len - 4 || s->l > len - (size_t)s->w) {
		snprintf(why, wl, "the slot's symbols point outside the image");
		return -1;
	}
	s->used = fw_get_uint(b + s->u, 4, s->be);
	lsize = fw_get_uint(b + s->l, s->w, s->be);
	if (s->used > s->size) {
		snprintf(why, wl, "system_extra_cert_used is %llu for a "
			 "%llu-byte slot", (unsigned long long)s->used,
			 (unsigned long long)s->size);
		return -1;
	}
	if (lsize < s->used || lsize - s->used != s->x - s->list) {
		snprintf(why, wl, "system_certificate_list_size (%llu) is not "
			 "the builtin list (%zu bytes) plus the used bytes "
			 "(%llu)", (unsigned long long)lsize, s->x - s->list,
			 (unsigned long long)s->used);
		return -1;
	}
	s->l0 = lsize - s->used;
	if (!cert_chain(b + s->list, s->l0, NULL)) {
		snprintf(why, wl, "the builtin certificate list does not "
			 "parse as X.509 certificates");
		return -1;
	}
	if (s->used && !cert_chain(b + s->x, s->used, NULL)) {
		snprintf(why, wl, "the %llu used bytes of the slot are not "
			 "X.509 certificates", (unsigned long long)s->used);
		return -1;
	}
	return 0;
}

/*
 * How `.align N` places the two words: bytes on x86 and s390, a power of
 * two on arm, arm64, riscv, mips, powerpc... (gas).  0: unknown, try both.
 */
enum { AM_ANY = 0, AM_BYTES, AM_POW2 };

static int align_model(unsigned machine)
{
	switch (machine) {
	case EM_386: case EM_X86_64: case EM_S390: case EM_SPARC:
	case EM_SPARCV9: case EM_68K: case EM_PARISC: case EM_XTENSA:
		return AM_BYTES;
	case EM_ARM: case EM_AARCH64: case EM_RISCV: case EM_MIPS:
	case EM_PPC: case EM_PPC64: case 258 /* EM_LOONGARCH */:
		return AM_POW2;
	default:
		return AM_ANY;
	}
}

struct scan {
	struct slot found[4];
	int n;
};

/* Counts every distinct slot, keeps the first four (n may exceed them). */
static void scan_add(struct scan *sc, const struct slot *s)
{
	for (int i = 0; i < sc->n && i < 4; i++)
		if (sc->found[i].x == s->x && sc->found[i].u == s->u &&
		    sc->found[i].l == s->l)
			return;
	if (sc->n < 4)
		sc->found[sc->n] = *s;
	sc->n++;
}

/*
 * The list-size word at l for a slot at x holding `used` bytes: tries the
 * byte orders and widths allowed.  A little-endian long is read and
 * written through its low 32 bits, the same for 4- and 8-byte longs.
 */
static void scan_try_l(const uint8_t *b, size_t len, struct slot *s,
		       int am, int am_hint, int w_hint, int be_hint,
		       struct scan *sc)
{
	static const size_t a8s[] = { 8, 256 };

	for (int ai = 0; ai < 2; ai++) {
		if ((am == AM_BYTES && ai) || (am == AM_POW2 && !ai))
			continue;
		s->l = align_up(s->u + 4, a8s[ai]);
		for (int be = 0; be < 2; be++) {
			if (be_hint >= 0 && be != be_hint)
				continue;
			for (int w = 4; w <= 8; w += 4) {
				uint64_t v, mv;
				size_t m;
				char why[8];

				if (w_hint && w != w_hint && !(w_hint == 8 && !be))
					continue;
				if ((!be && w == 8) || s->l + (size_t)w > len)
					continue;
				if (s->used != fw_get_uint(b + s->u, 4, be))
					continue;
				v = fw_get_uint(b + s->l, w, be);
				/*
				 * An empty builtin list reads as zeros, like
				 * padding: only trusted for the filler and
				 * when the alignment rules are known.  (A
				 * kernel without a slot whose builtin list is
				 * one certificate looks like a slot holding
				 * it: list size, then module_cert_size.)
				 */
				if (v < s->used || v - s->used > s->x ||
				    (v == s->used &&
				     (am_hint == AM_ANY || s->used)))
					continue;
				s->list = s->x - (v - s->used);
				if (s->list % a8s[ai])
					continue;
				/* module_cert_size: 0 or the first cert's */
				m = align_up(s->l + 4, a8s[ai]);
				if (m + (size_t)w > len)
					continue;
				mv = fw_get_uint(b + m, w, be);
				if (mv && (s->list == s->x ||
					   mv != cert_like(b + s->list,
							   s->x - s->list)))
					continue;
				s->w = w;
				s->be = be;
				if (!slot_check(b, len, s, why, sizeof(why)))
					scan_add(sc, s);
			}
		}
	}
}

/*
 * Finds the slot without symbols: the filler of kernel/0001, or a
 * certificate followed by zeros and its length in the used word.
 */
static void slot_scan(const uint8_t *b, size_t len, int am, int w_hint,
		      int be_hint, struct scan *sc)
{
	uint8_t head[32];
	const uint8_t *p;
	size_t pos;

	memset(sc, 0, sizeof(*sc));
	if (len < sizeof(head))	/* an empty payload has no buffer at all */
		return;
	filler_head(head, sizeof(head));
	for (p = memmem(b, len, head, sizeof(head)); p;
	     p = memmem(p + 1, len - (size_t)(p + 1 - b), head, sizeof(head))) {
		struct slot s = { 0 };
		static const size_t a4s[] = { 4, 16 };

		s.x = (size_t)(p - b);
		s.size = filler_run(p, len - s.x);
		for (int ai = 0; ai < 2; ai++) {
			if ((am == AM_BYTES && ai) || (am == AM_POW2 && !ai))
				continue;
			s.u = align_up(s.x + s.size, a4s[ai]);
			if (s.u + 4 > len || !fw_all_zero(b + s.x + s.size,
						       s.u + 4 - s.x - s.size))
				continue;
			s.used = 0;
			scan_try_l(b, len, &s, ai ? AM_POW2 : AM_BYTES, am,
				   w_hint, be_hint, sc);
		}
	}
	if (sc->n)
		return;
	/* A certificate, zeros, then the used word equal to its length. */
	for (pos = 0; pos + 64 < len; pos++) {
		size_t cl, z;
		struct slot s = { 0 };

		p = memchr(b + pos, 0x30, len - pos);
		if (!p)
			break;
		pos = (size_t)(p - b);
		cl = cert_like(p, len - pos);
		if (!cl)
			continue;
		for (z = pos + cl; z < len && !b[z]; z++)
			;
		s.x = pos;
		s.u = z & ~(size_t)3;
		if (s.u < pos + cl || s.u + 4 > len)
			continue;
		s.size = s.u - s.x;
		s.used = cl;
		if (fw_get_uint(b + s.u, 4, 0) != cl && fw_get_uint(b + s.u, 4, 1) != cl)
			continue;
		scan_try_l(b, len, &s, am, am, w_hint, be_hint, sc);
	}
}

/* ------------------------------------------------------------------ */
/* Layers                                                              */

struct kctx {
	const char *name;
	const struct fw_kernel_opts *o;
	struct syms map;
	int have_map;
	const uint8_t *der;	/* NULL: look only */
	size_t der_len;
	struct fw_kernel_info *info;
	struct fw_error *err;
	int depth;
	int found;		/* the plain image's slot was found */
	uint8_t **cert_out;	/* fw_kernel_cert_buf: a copy of the slot's */
	size_t *cert_out_len;
	int no_slot;		/* a kernel, but it has no slot */
	size_t fit;		/* the next compressed payload's room, or 0 */
	int arm32;		/* the next raw image is a 32-bit ARM one: */
	int arm32_be;		/* 1 + its byte order (zImage's flag) */
};

static void fmt_add(struct kctx *c, const char *what)
{
	size_t n = strlen(c->info->format);

	snprintf(c->info->format + n, sizeof(c->info->format) - n, "%s%s",
		 n ? " > " : "", what);
}

static int layer(struct kctx *c, const uint8_t *in, size_t len,
		 uint8_t **out, size_t *out_len);

/* The slot is found: describe it, and fill it when asked. */
static int slot_use(struct kctx *c, const uint8_t *b, size_t len,
		    const struct slot *s, uint8_t **out, size_t *out_len)
{
	struct fw_kernel_info *inf = c->info;
	uint8_t *o;

	(void)len;
	inf->slot_size = s->size;
	inf->used = s->used;
	inf->builtin_len = s->l0;
	cert_chain(b + s->list, s->l0, &inf->builtin_certs);
	inf->certs = 0;
	inf->subject[0] = '\0';
	if (s->used) {
		inf->state = FW_KSLOT_CERT;
		cert_chain(b + s->x, s->used, &inf->certs);
		der_subject(b + s->x, s->used, inf->subject,
			    sizeof(inf->subject));
		SHA256(b + s->x, s->used, inf->cert_sha256);
		if (c->cert_out && !*c->cert_out &&
		    (*c->cert_out = malloc(s->used))) {
			memcpy(*c->cert_out, b + s->x, s->used);
			*c->cert_out_len = s->used;
		}
	} else if (fw_all_zero(b + s->x, s->size)) {
		inf->state = FW_KSLOT_ZEROS;
	} else if (filler_run(b + s->x, s->size) == s->size) {
		inf->state = FW_KSLOT_FILLER;
	} else {
		inf->state = FW_KSLOT_UNUSED;
	}
	c->found = 1;
	if (!out)
		return FW_OK;
	if (c->der_len > s->size)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "certificate of %zu bytes does not fit the "
				    "%llu-byte extra-certificate slot "
				    "(CONFIG_SYSTEM_EXTRA_CERTIFICATE_SIZE)",
				    c->der_len, (unsigned long long)s->size);
	if (s->used && !c->o->replace) {
		if (s->used == c->der_len && !memcmp(b + s->x, c->der, c->der_len))
			return fw_error_set(c->err, FW_EINPUT, c->name,
					    "the slot already holds this "
					    "certificate ('%s'); --replace "
					    "writes it again", inf->subject);
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "the slot already holds a certificate "
				    "('%s', %llu bytes); use --replace to "
				    "replace it", inf->subject,
				    (unsigned long long)s->used);
	}
	o = malloc(len);
	if (!o)
		return fw_error_set(c->err, FW_EIO, NULL, "out of memory");
	memcpy(o, b, len);
	memcpy(o + s->x, c->der, c->der_len);
	memset(o + s->x + c->der_len, 0, s->size - c->der_len);
	fw_put_uint(o + s->u, 4, s->be, c->der_len);
	fw_put_uint(o + s->l, s->w, s->be, s->l0 + c->der_len);
	*out = o;
	*out_len = len;
	return FW_OK;
}

static int no_slot(struct kctx *c, const char *how)
{
	c->no_slot = 1;
	return fw_error_set(c->err, FW_EINPUT, c->name,
			    "no extra-certificate slot: %s (a kernel built "
			    "without CONFIG_SYSTEM_EXTRA_CERTIFICATE has none)",
			    how);
}

/* From symbol addresses to offsets (through to_off) to a checked slot. */
static int slot_from_syms(struct kctx *c, const struct syms *sy,
			  const char *src, int w, int be,
			  int (*to_off)(void *ctx, uint64_t addr, size_t n, size_t *off),
			  void *ctx, const uint8_t *b, size_t len, struct slot *s)
{
	const unsigned need = 1u << S_LIST | 1u << S_EXTRA | 1u << S_USED |
			      1u << S_SIZE;
	char why[256];
	size_t off;
	int bo;

	if (!(sy->have & 1u << S_EXTRA))
		return no_slot(c, !strcmp(src, "System.map")
				  ? "System.map has no system_extra_cert"
				  : "the symbol table has no system_extra_cert");
	if ((sy->have & need) != need)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "%s lacks system_certificate_list, "
				    "system_extra_cert_used or "
				    "system_certificate_list_size", src);
	if (sy->have & 1u << S_BANNER) {
		if (to_off(ctx, sy->addr[S_BANNER], 14, &off) ||
		    memcmp(b + off, "Linux version ", 14))
			return fw_error_set(c->err, FW_EINPUT, c->name,
					    "%s does not belong to this kernel "
					    "(linux_banner is not at its "
					    "address)", src);
	}
	memset(s, 0, sizeof(*s));
	s->size = sy->size[S_EXTRA] ? sy->size[S_EXTRA]
				    : sy->addr[S_USED] - sy->addr[S_EXTRA];
	if (sy->addr[S_USED] < sy->addr[S_EXTRA] + s->size ||
	    sy->addr[S_EXTRA] < sy->addr[S_LIST] ||
	    to_off(ctx, sy->addr[S_LIST], 0, &s->list) ||
	    to_off(ctx, sy->addr[S_EXTRA], s->size, &s->x) ||
	    to_off(ctx, sy->addr[S_USED], 4, &s->u) ||
	    to_off(ctx, sy->addr[S_SIZE], (size_t)w, &s->l) ||
	    s->x - s->list != sy->addr[S_EXTRA] - sy->addr[S_LIST])
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "the slot's symbols from %s do not map "
				    "into the image", src);
	s->w = w;
	/* be < 0: unknown (raw image), the check decides */
	for (bo = be < 0 ? 0 : be; bo <= (be < 0 ? 1 : be); bo++) {
		s->be = bo;
		if (!slot_check(b, len, s, why, sizeof(why)))
			break;
	}
	if (bo > (be < 0 ? 1 : be))
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "the slot found through %s is not "
				    "consistent: %s%s", src, why,
				    !strcmp(src, "System.map")
				    ? " (is it this kernel's System.map?)" : "");
	/*
	 * A map only bounds the slot by the next symbol, alignment padding
	 * included; the filler tells the exact size.
	 */
	if (!sy->size[S_EXTRA] && !s->used) {
		size_t r = filler_run(b + s->x, s->size);

		if (r + 16 > s->size && r >= 64 &&
		    fw_all_zero(b + s->x + r, s->size - r))
			s->size = r;
	}
	snprintf(c->info->located, sizeof(c->info->located), "%s", src);
	return FW_OK;
}

static int slot_from_scan(struct kctx *c, const uint8_t *b, size_t len,
			  int am, int w, int be, struct slot *s)
{
	struct scan sc;

	slot_scan(b, len, am, w, be, &sc);
	c->no_slot = sc.n == 0;
	if (sc.n == 0)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "no extra-certificate slot found without "
				    "symbols: give the kernel's System.map "
				    "(--system-map); a stock kernel built "
				    "without CONFIG_SYSTEM_EXTRA_CERTIFICATE "
				    "has none");
	if (sc.n > 1)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "%d places look like the "
				    "extra-certificate slot: give the "
				    "kernel's System.map (--system-map)", sc.n);
	*s = sc.found[0];
	snprintf(c->info->located, sizeof(c->info->located), "layout scan");
	return FW_OK;
}

/* ELF: addresses to offsets through PT_LOAD, else allocated sections. */
struct elfmap {
	struct { uint64_t va, off, n; } r[64];
	int n;
};

static int elf_to_off(void *ctx, uint64_t addr, size_t n, size_t *off)
{
	struct elfmap *m = ctx;

	for (int i = 0; i < m->n; i++)
		if (addr >= m->r[i].va && addr - m->r[i].va <= m->r[i].n &&
		    n <= m->r[i].n - (addr - m->r[i].va)) {
			*off = (size_t)(m->r[i].off + (addr - m->r[i].va));
			return 0;
		}
	return -1;
}

static int do_elf(struct kctx *c, const uint8_t *in, size_t len,
		  uint8_t **out, size_t *out_len)
{
	struct elfmap m = { .n = 0 };
	struct syms st;
	struct slot s;
	uint8_t *copy;
	Elf *e;
	GElf_Ehdr eh;
	Elf_Scn *scn = NULL;
	size_t np = 0, shstrndx = 0;
	int w, be, rc, sections = 0;
	char what[96];

	memset(&st, 0, sizeof(st));
	/* libelf may convert in place: give it a copy */
	copy = malloc(len);
	if (!copy)
		return fw_error_set(c->err, FW_EIO, NULL, "out of memory");
	memcpy(copy, in, len);
	elf_version(EV_CURRENT);
	e = elf_memory((char *)copy, len);
	if (!e || !gelf_getehdr(e, &eh)) {
		if (e)
			elf_end(e);
		free(copy);
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "malformed ELF: %s", elf_errmsg(-1));
	}
	w = eh.e_ident[EI_CLASS] == ELFCLASS64 ? 8 : 4;
	be = eh.e_ident[EI_DATA] == ELFDATA2MSB;
	snprintf(what, sizeof(what), "ELF%d %s %s vmlinux", w * 8,
		 be ? "big-endian" : "little-endian",
		 fw_machine_name(eh.e_machine));
	fmt_add(c, what);
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
		elf_end(e);
		free(copy);
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "not a kernel: an ELF %s",
				    eh.e_type == ET_REL ? "object or module"
							: "of another type");
	}
	if (elf_getphdrnum(e, &np) == 0)
		for (size_t i = 0; i < np && m.n < 64; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD &&
			    ph.p_offset <= len && ph.p_filesz <= len - ph.p_offset) {
				m.r[m.n].va = ph.p_vaddr;
				m.r[m.n].off = ph.p_offset;
				m.r[m.n++].n = ph.p_filesz;
			}
		}
	elf_getshdrstrndx(e, &shstrndx);
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		const char *sn;

		if (!gelf_getshdr(scn, &sh))
			continue;
		sn = elf_strptr(e, shstrndx, sh.sh_name);
		if (sn && (!strcmp(sn, ".init.text") || !strcmp(sn, ".init.data")))
			sections++;
		if (!m.n && (sh.sh_flags & SHF_ALLOC) && sh.sh_type != SHT_NOBITS &&
		    sh.sh_offset <= len && sh.sh_size <= len - sh.sh_offset &&
		    m.n < 64) {
			m.r[m.n].va = sh.sh_addr;
			m.r[m.n].off = sh.sh_offset;
			m.r[m.n++].n = sh.sh_size;
		}
		if (sh.sh_type != SHT_SYMTAB || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(d, (int)i, &sym))
				break;
			name = elf_strptr(e, sh.sh_link, sym.st_name);
			if (name && *name)
				sym_note(&st, name, sym.st_value, sym.st_size);
		}
	}
	elf_end(e);
	free(copy);

	if (st.have & 1u << S_EXTRA)
		rc = slot_from_syms(c, &st, "symbol table", w, be, elf_to_off,
				    &m, in, len, &s);
	else if (c->have_map)
		rc = slot_from_syms(c, &c->map, "System.map", w, be, elf_to_off,
				    &m, in, len, &s);
	else if (st.n && !(st.have & 1u << S_BANNER) && !sections)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "not a kernel: an ELF executable "
				    "without linux_banner");
	else if (st.n)
		return no_slot(c, "the symbol table has no system_extra_cert");
	else if (!sections)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "not a kernel: an ELF without .init.text "
				    "or symbols");
	else
		rc = slot_from_scan(c, in, len, align_model(eh.e_machine),
				    w, be, &s);
	if (rc)
		return rc;
	return slot_use(c, in, len, &s, out, out_len);
}

/* A raw image (objcopy -O binary): offset = address - _text. */
static int raw_to_off(void *ctx, uint64_t addr, size_t n, size_t *off)
{
	const uint64_t *base_len = ctx;

	if (addr < base_len[0] || addr - base_len[0] > base_len[1] ||
	    n > base_len[1] - (addr - base_len[0]))
		return -1;
	*off = (size_t)(addr - base_len[0]);
	return 0;
}

static int do_raw(struct kctx *c, const uint8_t *in, size_t len,
		  uint8_t **out, size_t *out_len)
{
	int am = AM_ANY, w = 0, be = -1, rc;
	struct slot s;

	if (len >= 64 && !memcmp(in + 0x38, "ARM\x64", 4)) {
		fmt_add(c, "arm64 Image");
		am = AM_POW2;
		w = 8;
		be = in[0x18] & 1;	/* flags bit 0: big-endian kernel */
	} else if (len >= 64 && !memcmp(in + 0x38, "RSC\x05", 4)) {
		fmt_add(c, "riscv Image");
		am = AM_POW2;
		be = 0;
	} else if (c->arm32) {
		/* arch/arm/boot/Image, out of a zImage: 4-byte longs */
		fmt_add(c, "ARM Image");
		am = AM_POW2;
		w = 4;
		be = c->arm32_be;
		c->arm32 = 0;
	} else {
		fmt_add(c, "raw image");
	}
	if (c->have_map) {
		uint64_t base_len[2];

		if (!(c->map.have & 1u << S_EXTRA))
			return no_slot(c, "System.map has no system_extra_cert");
		if (c->map.have & 1u << S_TEXT)
			base_len[0] = c->map.addr[S_TEXT];
		else if (c->map.have & 1u << S_STEXT)
			base_len[0] = c->map.addr[S_STEXT];
		else
			return fw_error_set(c->err, FW_EINPUT, c->o->system_map,
					    "System.map has neither _text nor "
					    "_stext: cannot place a raw image");
		base_len[1] = len;
		rc = slot_from_syms(c, &c->map, "System.map",
				    w ? w : c->map.addr_bytes, be, raw_to_off,
				    base_len, in, len, &s);
	} else {
		if (am == AM_ANY)
			return fw_error_set(c->err, FW_EINPUT, c->name,
					    "not a kernel image this tool "
					    "recognises (a raw kernel needs "
					    "--system-map)");
		rc = slot_from_scan(c, in, len, am, w, be, &s);
	}
	if (rc)
		return rc;
	return slot_use(c, in, len, &s, out, out_len);
}

/* The recompression settings kbuild uses for kernel images. */
static int kernel_level(enum fw_codec codec)
{
	switch (codec) {
	case FW_CODEC_GZIP: return 9;	/* gzip -n -9 */
	case FW_CODEC_XZ: return 6;	/* xz_wrap.sh: preset 6, dict, BCJ */
	case FW_CODEC_LZMA: return 9;	/* lzma -9 */
	case FW_CODEC_LZ4: return 9;	/* lz4 -l -9 */
	case FW_CODEC_ZSTD: return 22;	/* zstd -22 --ultra */
	default: return 0;
	}
}

/* FWSIGN_XZ_SPLICE=0 compresses an xz payload again in full (tests). */
static int xz_splice_off(void)
{
	const char *e = getenv("FWSIGN_XZ_SPLICE");

	return e && !strcmp(e, "0");
}

/* What a boot loader will read of z is want, and z is one whole stream. */
static int reads_back(enum fw_codec codec, const uint8_t *z, size_t zl,
		      const uint8_t *want, size_t n)
{
	struct fw_codec_params q;
	uint8_t *check = NULL;
	size_t cl;
	char why[200];
	int ok;

	ok = !fw_decompress_stream(codec, z, zl, FW_DECOMPRESS_MAX, &q, &check,
				   &cl, why, sizeof(why)) && cl == n &&
	     !memcmp(check, want, n) && q.consumed == zl;
	free(check);
	return ok;
}

static int do_compressed(struct kctx *c, enum fw_codec codec,
			 const uint8_t *in, size_t len, uint8_t **out,
			 size_t *out_len)
{
	struct fw_codec_params p;
	uint8_t *plain = NULL, *inner = NULL, *z = NULL, *o;
	size_t plen, ilen, zl, tail;
	size_t fit = c->fit;
	char why[200];
	int rc;

	c->fit = 0;
	fmt_add(c, fw_codec_name(codec));
	if (fw_decompress_stream(codec, in, len, FW_DECOMPRESS_MAX, &p, &plain,
				 &plen, why, sizeof(why)))
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "%s stream: %s", fw_codec_name(codec), why);
	rc = layer(c, plain, plen, out ? &inner : NULL, &ilen);
	if (rc || !out) {
		free(plain);
		return rc;
	}
	p.level = kernel_level(codec);
	/*
	 * An xz payload keeps its chunks before the change (src/xzsplice.c,
	 * which reads the new chunks back); if that cannot be done or does
	 * not fit where the payload must fit, all is compressed again.
	 */
	if (codec == FW_CODEC_XZ && ilen == plen && !xz_splice_off() &&
	    fw_xz_splice(in, p.consumed, plain, inner, ilen, &z, &zl) == 0 &&
	    (!fit || zl + (len - p.consumed) <= fit))
		goto keep;
	free(z);
	z = NULL;
	rc = fw_compress(&p, inner, ilen, &z, &zl, why, sizeof(why));
	if (rc) {
		rc = fw_error_set(c->err, FW_EIO, c->name, "recompressing "
				  "with %s: %s", fw_codec_name(codec), why);
		goto out;
	}
	/* Read back what a boot loader will read. */
	if (!reads_back(codec, z, zl, inner, ilen)) {
		rc = fw_error_set(c->err, FW_EIO, c->name, "the recompressed "
				  "%s stream does not read back: not written",
				  fw_codec_name(codec));
		goto out;
	}
keep:
	/* Whatever followed the stream (kbuild's size word, ...) stays. */
	tail = len - p.consumed;
	o = realloc(z, zl + tail);
	if (!o) {
		rc = fw_error_set(c->err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	z = NULL;
	memcpy(o + zl, in + p.consumed, tail);
	*out = o;
	*out_len = zl + tail;
out:
	free(plain);
	free(inner);
	free(z);
	return rc;
}

/* U-Boot legacy image header, big-endian. */
#define UIMAGE_MAGIC 0x27051956u
#define UIMAGE_HLEN 64

static int do_uimage(struct kctx *c, const uint8_t *in, size_t len,
		     uint8_t **out, size_t *out_len)
{
	static const enum fw_codec comp[] = {
		[0] = FW_CODEC_NONE, [1] = FW_CODEC_GZIP, [3] = FW_CODEC_LZMA,
		[5] = FW_CODEC_LZ4, [6] = FW_CODEC_ZSTD,
	};
	static const char *const comp_names[] = {
		"none", "gzip", "bzip2", "lzma", "lzo", "lz4", "zstd",
	};
	uint8_t *inner = NULL, *o;
	uint32_t size = fw_be32(in + 12), type = in[30], cm = in[31];
	size_t ilen, tail;
	char why[160];
	int rc;

	fmt_add(c, "uImage");
	if (fw_uimage_check(in, len, 1, why, sizeof(why)))
		return fw_error_set(c->err, FW_EINPUT, c->name, "%s", why);
	if (type == 4)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "multi-file uImage: not supported");
	if (type != 2 && type != 14)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "not a kernel: uImage of type %u", type);
	if (cm >= sizeof(comp_names) / sizeof(comp_names[0]) ||
	    (cm && comp[cm] == FW_CODEC_NONE))
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "uImage compression %s: not supported",
				    cm < 7 ? comp_names[cm] : "unknown");
	if (cm) {
		if (fw_codec_detect_kernel(in + UIMAGE_HLEN, size) != comp[cm])
			return fw_error_set(c->err, FW_EINPUT, c->name,
					    "uImage says %s, its data is not",
					    comp_names[cm]);
		rc = do_compressed(c, comp[cm], in + UIMAGE_HLEN, size,
				   out ? &inner : NULL, &ilen);
	} else {
		rc = layer(c, in + UIMAGE_HLEN, size, out ? &inner : NULL,
			   &ilen);
	}
	if (rc || !out)
		return rc;
	if (ilen > UINT32_MAX) {
		free(inner);
		return fw_error_set(c->err, FW_EINPUT, c->name, "too big");
	}
	tail = len - UIMAGE_HLEN - size;
	o = malloc(UIMAGE_HLEN + ilen + tail);
	if (!o) {
		free(inner);
		return fw_error_set(c->err, FW_EIO, NULL, "out of memory");
	}
	memcpy(o, in, UIMAGE_HLEN);
	memcpy(o + UIMAGE_HLEN, inner, ilen);
	memcpy(o + UIMAGE_HLEN + ilen, in + UIMAGE_HLEN + size, tail);
	free(inner);
	fw_uimage_header(o, in, (uint32_t)ilen,
			 fw_uimage_dcrc(o + UIMAGE_HLEN, ilen));
	*out = o;
	*out_len = UIMAGE_HLEN + ilen + tail;
	return FW_OK;
}

/* A PE/COFF header (EFI stub) with a certificate table: Secure Boot signed. */
static int pe_signed(const uint8_t *in, size_t len)
{
	uint32_t pe, opt, dd;
	uint16_t magic;

	if (len < 0x40 || in[0] != 'M' || in[1] != 'Z')
		return 0;
	pe = fw_le32(in + 0x3c);
	if (pe > len - 24 - 2 || memcmp(in + pe, "PE\0\0", 4))
		return 0;
	opt = pe + 24;
	magic = (uint16_t)fw_get_uint(in + opt, 2, 0);
	dd = opt + (magic == 0x20b ? 112 : 96);	/* data directories */
	if (dd + 5 * 8 > len)
		return 0;
	return fw_le32(in + dd + 4 * 8 + 4) != 0;	/* [4] = certificate table */
}

static int do_bzimage(struct kctx *c, const uint8_t *in, size_t len,
		      uint8_t **out, size_t *out_len)
{
	unsigned setup = in[0x1f1] ? in[0x1f1] : 4;
	unsigned version = (unsigned)fw_get_uint(in + 0x206, 2, 0);
	size_t pm = (size_t)(setup + 1) * 512, poff, plen, ilen, il_at = 0;
	uint8_t pat[8], *inner = NULL, *o;
	const uint8_t *p;
	int is_signed = pe_signed(in, len), n, rc;
	enum fw_codec codec;

	fmt_add(c, "bzImage");
	if (version < 0x208)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "bzImage boot protocol %u.%02u has no "
				    "payload fields (2.08 or later needed)",
				    version >> 8, version & 0xff);
	poff = pm + fw_le32(in + 0x248);
	plen = fw_le32(in + 0x24c);
	if (pm > len || poff > len - 4 || plen > len - 4 - poff || plen < 8)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "bzImage payload lies outside the file: "
				    "truncated or corrupt");
	/* build.c's CRC32 over all but the last 4 bytes (no final xor) */
	if (!is_signed && (~crc32(0, in, (uInt)(len - 4)) & 0xffffffffu) !=
	    fw_le32(in + len - 4))
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "bzImage CRC32 does not match: corrupt or "
				    "truncated image");
	codec = fw_codec_detect_kernel(in + poff, plen);
	if (codec == FW_CODEC_NONE)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "bzImage payload compressed with a codec "
				    "this tool does not rebuild (bzip2, lzo?)");
	/*
	 * The decompressor reads its input length from .rodata (mkpiggy's
	 * input_len, followed by output_len = the payload's last word).
	 */
	memcpy(pat, in + 0x24c, 4);
	memcpy(pat + 4, in + poff + plen - 4, 4);
	n = 0;
	for (p = memmem(in + pm, len - pm, pat, 8); p;
	     p = memmem(p + 1, len - (size_t)(p + 1 - in), pat, 8)) {
		size_t at = (size_t)(p - in);

		if (at + 8 <= poff || at >= poff + plen) {
			il_at = at;
			n++;
		}
	}
	c->fit = plen;
	rc = do_compressed(c, codec, in + poff, plen, out ? &inner : NULL,
			   &ilen);
	if (rc || !out)
		return rc;
	rc = FW_EINPUT;
	if (is_signed) {
		fw_error_set(c->err, FW_EINPUT, c->name,
			     "bzImage is signed for Secure Boot (Authenticode): "
			     "inject the certificate before signing it");
		goto fail;
	}
	if (n != 1) {
		fw_error_set(c->err, FW_EINPUT, c->name,
			     "cannot find the decompressor's input length in "
			     "this bzImage (%d candidates): not patched", n);
		goto fail;
	}
	if (ilen > plen) {
		if (c->info->state == FW_KSLOT_ZEROS)
			fw_error_set(c->err, FW_EINPUT, c->name,
				     "with the certificate the compressed "
				     "kernel grows by %zu bytes and no longer "
				     "fits this bzImage: its slot is zero-filled "
				     "(built without kernel/0001-certs-fill-"
				     "extra-certificate-slot-with-incompressible-"
				     "bytes.patch).  Inject into vmlinux instead "
				     "(fwsign inject-cert vmlinux --cert CERT -o "
				     "vmlinux.new), put vmlinux.new in place of "
				     "vmlinux in the kernel build tree and run "
				     "'make bzImage'; or rebuild with that patch",
				     ilen - plen);
		else
			fw_error_set(c->err, FW_EINPUT, c->name,
				     "with the certificate the compressed "
				     "kernel grows by %zu bytes and no longer "
				     "fits this bzImage; inject into vmlinux "
				     "instead, put it in place of vmlinux in the "
				     "kernel build tree and run 'make bzImage'",
				     ilen - plen);
		goto fail;
	}
	o = malloc(len);
	if (!o) {
		fw_error_set(c->err, FW_EIO, NULL, "out of memory");
		goto fail;
	}
	memcpy(o, in, len);
	memcpy(o + poff, inner, ilen);
	memset(o + poff + ilen, 0, plen - ilen);
	fw_put_uint(o + 0x24c, 4, 0, ilen);
	fw_put_uint(o + il_at, 4, 0, ilen);
	fw_put_uint(o + len - 4, 4, 0, ~crc32(0, o, (uInt)(len - 4)) & 0xffffffffu);
	c->info->room = (int64_t)(plen - ilen);
	free(inner);
	*out = o;
	*out_len = len;
	return FW_OK;
fail:
	free(inner);
	return rc;
}

/*
 * ARM zImage (arch/arm/boot/compressed/head.S, vmlinux.lds.S): the
 * decompressor, then the piggy, the compressed arch/arm/boot/Image whose
 * last 4 bytes are its decompressed size, read by head.S at run time;
 * maybe a DTB appended after its end (_edata).  The header words (at
 * 0x24: magic, start, end, endianness flag, 0x45454545, the offset of a
 * table) are little-endian in every kernel; the table's "KLSZ" record
 * gives where the size word is, so where the piggy ends.  The piggy starts
 * with a stream of one of the codecs (gzip, lzma, xz, lzo, lz4) the
 * decompressor was built with, somewhere after its .rodata: the first
 * place where one decodes and ends at the size word (gzip: at the piggy's
 * end, its trailer holding the size).
 *
 * The stream is patched in place, as in a bzImage: the Image keeps its
 * length, so the decompressor, the size word and anything after the piggy
 * stay; a stream that comes out shorter is followed by zeros up to the
 * size word, which every decompressor in lib/ ignores (they stop at their
 * stream's end).  A zImage has no checksum; a uImage or FIT around it
 * gets its own fixed by its layer.
 */
#define ZIMAGE_MAGIC 0x016f2818u
#define ZIMAGE_KLSZ 0x5a534c4bu

static int is_zimage(const uint8_t *in, size_t len)
{
	return len >= 0x40 && fw_le32(in + 0x24) == ZIMAGE_MAGIC;
}

/* A codec's stream at p (the piggy's start)?  Names the ones we cannot
 * rebuild too. */
static const char *zimage_other_codec(const uint8_t *p, size_t n)
{
	if (n >= 9 && !memcmp(p, "\x89LZO\0\r\n\x1a\n", 9))
		return "lzo";
	if (n >= 3 && !memcmp(p, "BZh", 3))
		return "bzip2";
	return NULL;
}

static int do_zimage(struct kctx *c, const uint8_t *in, size_t len,
		     uint8_t **out, size_t *out_len)
{
	uint32_t zlen, tab, size_at, isize;
	size_t pstart = 0, pend, slen = 0, room, ilen, i;
	const char *other = NULL;
	uint8_t *inner = NULL, *o;
	enum fw_codec codec = FW_CODEC_NONE;
	int be, rc;

	fmt_add(c, "ARM zImage");
	if (fw_le32(in + 0x2c) < fw_le32(in + 0x28) ||
	    (zlen = fw_le32(in + 0x2c) - fw_le32(in + 0x28)) > len ||
	    zlen < 0x40)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "ARM zImage: its header says %u bytes "
				    "(start 0x%x, end 0x%x), the file has %zu: "
				    "truncated or corrupt", fw_le32(in + 0x2c) -
				    fw_le32(in + 0x28), fw_le32(in + 0x28),
				    fw_le32(in + 0x2c), len);
	be = fw_le32(in + 0x30) == 0x01020304u;
	if (!be && fw_le32(in + 0x30) != 0x04030201u)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "ARM zImage: bad endianness flag 0x%08x",
				    fw_le32(in + 0x30));
	tab = fw_le32(in + 0x38);
	if (fw_le32(in + 0x34) != 0x45454545u || tab < 0x40 ||
	    tab > zlen - 12 || fw_le32(in + tab + 4) != ZIMAGE_KLSZ)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "ARM zImage without the table that says "
				    "where its compressed kernel ends (a kernel "
				    "before 3.17?): not supported");
	size_at = fw_le32(in + tab + 8);
	if (size_at <= tab || size_at > zlen - 4)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "ARM zImage: the size word at 0x%x is "
				    "outside the image (%u bytes)", size_at,
				    zlen);
	pend = (size_t)size_at + 4;
	isize = fw_le32(in + size_at);
	/* the piggy: the first stream that decodes and ends right */
	for (i = tab + 12; i + 16 <= pend && !slen; i++) {
		struct fw_codec_params q;
		uint8_t *plain = NULL;
		size_t pl, end, k;
		char why[160];
		enum fw_codec cc;

		if (!other)
			other = zimage_other_codec(in + i, pend - i);
		cc = fw_codec_detect_kernel(in + i, pend - i);
		if (cc == FW_CODEC_NONE || cc == FW_CODEC_ZSTD)
			continue;
		if (fw_decompress_stream(cc, in + i, pend - i,
					 FW_DECOMPRESS_MAX, &q, &plain, &pl,
					 why, sizeof(why)))
			continue;
		free(plain);
		end = i + q.consumed;
		if (pl != isize)
			continue;
		/* after the stream: nothing (gzip), or zeros and the size */
		if (end != pend) {
			if (end > pend - 4)
				continue;
			for (k = end; k < pend - 4 && !in[k]; k++)
				;
			if (k != pend - 4)
				continue;
		}
		pstart = i;
		slen = q.consumed;
		codec = cc;
	}
	if (!slen && other)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "ARM zImage compressed with %s: this tool "
				    "does not rebuild %s streams (build the "
				    "kernel with CONFIG_KERNEL_GZIP or "
				    "CONFIG_KERNEL_XZ)", other, other);
	if (!slen)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "ARM zImage: no compressed kernel (gzip, "
				    "xz, lzma, lz4) ending at its size word "
				    "0x%x: corrupt, or a codec this tool does "
				    "not read", size_at);
	room = pend - 4 - pstart;	/* a shorter stream keeps the size word */
	c->fit = room;
	c->arm32 = 1;
	c->arm32_be = be;
	rc = do_compressed(c, codec, in + pstart, slen, out ? &inner : NULL,
			   &ilen);
	c->arm32 = 0;
	if (rc || !out)
		return rc;
	if (pe_signed(in, len)) {
		free(inner);
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "ARM zImage is signed for Secure Boot "
				    "(Authenticode): inject the certificate "
				    "before signing it");
	}
	if (ilen != slen && ilen > room) {
		free(inner);
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "with the certificate the compressed kernel "
				    "grows by %zu bytes and no longer fits this "
				    "zImage%s; inject into vmlinux instead, put "
				    "it in place of vmlinux in the kernel build "
				    "tree and run 'make zImage'", ilen - room,
				    c->info->state == FW_KSLOT_ZEROS ?
				    " (its slot is zero-filled: built without "
				    "kernel/0001-certs-fill-extra-certificate-"
				    "slot-with-incompressible-bytes.patch)" : "");
	}
	o = malloc(len);
	if (!o) {
		free(inner);
		return fw_error_set(c->err, FW_EIO, NULL, "out of memory");
	}
	memcpy(o, in, len);
	memcpy(o + pstart, inner, ilen);
	if (ilen != slen) {
		memset(o + pstart + ilen, 0, pend - 4 - pstart - ilen);
		fw_put_uint(o + pend - 4, 4, 0, isize);
	}
	c->info->room = ilen < room ? (int64_t)(room - ilen) : 0;
	free(inner);
	*out = o;
	*out_len = len;
	return FW_OK;
}

static int is_bzimage(const uint8_t *in, size_t len)
{
	return len > 0x400 && in[0x1fe] == 0x55 && in[0x1ff] == 0xaa &&
	       !memcmp(in + 0x202, "HdrS", 4);
}

static int layer(struct kctx *c, const uint8_t *in, size_t len,
		 uint8_t **out, size_t *out_len)
{
	enum fw_codec codec;
	int rc;

	if (c->depth >= FW_KERNEL_DEPTH_MAX)
		return fw_error_set(c->err, FW_EINPUT, c->name,
				    "layers nested too deep");
	c->depth++;
	if (len >= UIMAGE_HLEN && fw_be32(in) == UIMAGE_MAGIC)
		rc = do_uimage(c, in, len, out, out_len);
	else if (is_bzimage(in, len))
		rc = do_bzimage(c, in, len, out, out_len);
	else if (is_zimage(in, len))
		rc = do_zimage(c, in, len, out, out_len);
	else if (len >= 52 && !memcmp(in, ELFMAG, SELFMAG))
		rc = do_elf(c, in, len, out, out_len);
	else if ((codec = fw_codec_detect_kernel(in, len)) != FW_CODEC_NONE)
		rc = do_compressed(c, codec, in, len, out, out_len);
	else
		rc = do_raw(c, in, len, out, out_len);
	c->depth--;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                        */

const char *fw_kslot_state_name(enum fw_kslot_state st)
{
	switch (st) {
	case FW_KSLOT_ZEROS: return "empty (zeros)";
	case FW_KSLOT_FILLER: return "empty (incompressible filler)";
	case FW_KSLOT_UNUSED: return "empty";
	case FW_KSLOT_CERT: return "certificate";
	case FW_KSLOT_NONE: return "no slot";
	}
	return "?";
}

static int run(const uint8_t *in, size_t len, const char *name,
	       const uint8_t *der, size_t der_len,
	       const struct fw_kernel_opts *o, uint8_t **out, size_t *out_len,
	       struct fw_kernel_info *info, struct fw_error *err)
{
	static const struct fw_kernel_opts none = { 0 };
	struct kctx c;
	int rc;

	memset(&c, 0, sizeof(c));
	memset(info, 0, sizeof(*info));
	info->room = -1;
	c.name = name;
	c.o = o ? o : &none;
	c.der = der;
	c.der_len = der_len;
	c.info = info;
	c.err = err;
	if (c.o->system_map) {
		rc = map_load(c.o->system_map, &c.map, err);
		if (rc)
			return rc;
		c.have_map = 1;
	}
	rc = layer(&c, in, len, out, out_len);
	if (rc == FW_OK && !c.found)
		rc = fw_error_set(err, FW_EINPUT, name, "no slot found");
	if (rc && c.no_slot && !der) {
		info->state = FW_KSLOT_NONE;
		snprintf(info->note, sizeof(info->note), "%s", err->msg);
		fw_error_clear(err);
		rc = FW_OK;
	}
	return rc;
}

int fw_kernel_info(const char *path, const struct fw_kernel_opts *opts,
		   struct fw_kernel_info *info, struct fw_error *err)
{
	uint8_t *buf;
	size_t len;
	int fd, rc;

	memset(info, 0, sizeof(*info));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fw_error_set(err, errno == ENOENT ? FW_EINPUT : FW_EIO,
				    path, "cannot open: %s", strerror(errno));
	rc = fw_read_fd(fd, &buf, &len, FW_DECOMPRESS_MAX);
	close(fd);
	if (rc)
		return fw_error_set(err, FW_EIO, path, "cannot read: %s",
				    strerror(errno));
	rc = run(buf, len, path, NULL, 0, opts, NULL, NULL, info, err);
	free(buf);
	return rc;
}

int fw_kernel_cert_buf(const uint8_t *in, size_t len, const char *name,
		       uint8_t **der, size_t *der_len, struct fw_error *err)
{
	static const struct fw_kernel_opts none = { 0 };
	struct fw_kernel_info info;
	struct kctx c;
	int rc;

	*der = NULL;
	*der_len = 0;
	memset(&c, 0, sizeof(c));
	memset(&info, 0, sizeof(info));
	c.name = name;
	c.o = &none;
	c.info = &info;
	c.err = err;
	c.cert_out = der;
	c.cert_out_len = der_len;
	rc = layer(&c, in, len, NULL, NULL);
	if (rc == FW_OK && !c.found)
		rc = fw_error_set(err, FW_EINPUT, name, "no slot found");
	if (rc == FW_OK && !*der)
		rc = fw_error_set(err, FW_EINPUT, name, "the slot holds no "
				  "certificate");
	if (rc) {
		free(*der);
		*der = NULL;
	}
	return rc;
}

int fw_kernel_info_buf(const uint8_t *in, size_t len, const char *name,
		       const struct fw_kernel_opts *opts,
		       struct fw_kernel_info *info, struct fw_error *err)
{
	return run(in, len, name, NULL, 0, opts, NULL, NULL, info, err);
}

int fw_kernel_inject_buf(const uint8_t *in, size_t len, const char *name,
			 const uint8_t *der, size_t der_len,
			 const struct fw_kernel_opts *opts, uint8_t **out,
			 size_t *out_len, struct fw_kernel_info *info,
			 struct fw_error *err)
{
	struct fw_kernel_info after;
	struct fw_kernel_opts ro = { 0 };
	uint8_t *o = NULL;
	size_t ol = 0;
	int rc;

	*out = NULL;
	*out_len = 0;
	rc = run(in, len, name, der, der_len, opts, &o, &ol, info, err);
	if (rc)
		return rc;
	/* Read the result back as a boot would: the certificate is there. */
	ro.system_map = opts ? opts->system_map : NULL;
	rc = run(o, ol, name, NULL, 0, &ro, NULL, NULL, &after, err);
	if (rc || after.state != FW_KSLOT_CERT || after.used != der_len) {
		free(o);
		if (!rc)
			rc = fw_error_set(err, FW_EIO, name, "the patched kernel "
					  "does not read back: not written");
		return rc;
	}
	after.room = info->room;
	*info = after;
	*out = o;
	*out_len = ol;
	return FW_OK;
}

/* The certificate: one X.509 certificate in DER, nothing else. */
static int load_der(const char *path, int pem_ok, uint8_t **der,
		    size_t *der_len, struct fw_error *err)
{
	const uint8_t *q;
	uint8_t *b;
	size_t len;
	X509 *x;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fw_error_set(err, FW_EKEY, path, "cannot open "
				    "certificate: %s", strerror(errno));
	if (fw_read_fd(fd, &b, &len, 1 << 20)) {
		close(fd);
		return fw_error_set(err, FW_EKEY, path, "cannot read "
				    "certificate: %s", strerror(errno));
	}
	close(fd);
	if (len > 10 && memmem(b, len, "-----BEGIN", 10) && pem_ok) {
		BIO *bio = BIO_new_mem_buf(b, (int)len);
		int n;

		x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
		free(b);
		b = NULL;
		n = x ? i2d_X509(x, &b) : -1;
		X509_free(x);
		ERR_clear_error();
		if (n <= 0)
			return fw_error_set(err, FW_EKEY, path,
					    "not a PEM X.509 certificate");
		*der = malloc((size_t)n);
		if (*der)
			memcpy(*der, b, (size_t)n);
		OPENSSL_free(b);
		if (!*der)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		*der_len = (size_t)n;
		return FW_OK;
	}
	if (len > 10 && memmem(b, len, "-----BEGIN", 10)) {
		free(b);
		return fw_error_set(err, FW_EKEY, path,
				    "certificate is PEM; the kernel takes DER "
				    "(fwsign keygen writes PREFIX.der, or "
				    "openssl x509 -in CERT -outform DER)");
	}
	q = b;
	x = d2i_X509(NULL, &q, (long)len);
	if (!x || q != b + len) {
		X509_free(x);
		ERR_clear_error();
		free(b);
		return fw_error_set(err, FW_EKEY, path,
				    "not one DER X.509 certificate");
	}
	X509_free(x);
	*der = b;
	*der_len = len;
	return FW_OK;
}

int fw_kernel_inject_cert(const char *in, const char *cert_path,
			  const char *out, const struct fw_kernel_opts *opts,
			  struct fw_kernel_info *info, struct fw_error *err)
{
	struct fw_outfile of;
	uint8_t *der = NULL, *buf = NULL, *res = NULL;
	size_t der_len = 0, len, rl;
	struct stat st;
	int fd, rc;

	memset(info, 0, sizeof(*info));
	rc = load_der(cert_path, opts && opts->cert_pem_ok, &der, &der_len, err);
	if (rc)
		return rc;
	fd = open(in, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = fw_error_set(err, errno == ENOENT ? FW_EINPUT : FW_EIO, in,
				  "cannot open: %s", strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0)
		st.st_mode = 0644;
	rc = fw_read_fd(fd, &buf, &len, FW_DECOMPRESS_MAX);
	close(fd);
	if (rc) {
		rc = fw_error_set(err, FW_EIO, in, "cannot read: %s",
				  strerror(errno));
		goto out;
	}
	rc = fw_kernel_inject_buf(buf, len, in, der, der_len, opts, &res, &rl,
				  info, err);
	if (rc)
		goto out;
	rc = fw_outfile_begin(&of, out, err);
	if (rc)
		goto out;
	/* the kernel keeps its mode (the temporary file is 0600) */
	if (fchmod(of.fd, st.st_mode & 07777) < 0 || fw_write_all(of.fd, res, rl))
		rc = fw_error_set(err, FW_EIO, out, "write: %s",
				  strerror(errno));
	else
		rc = fw_outfile_commit(&of, 0, err);
	fw_outfile_abort(&of);
out:
	free(der);
	free(buf);
	free(res);
	return rc;
}

int fw_kernel_file_head(const uint8_t *h, size_t n)
{
	if (n >= 4 && !memcmp(h, "\x7f" "ELF", 4))
		return 0;
	if (n >= 0x206 && !memcmp(h + 0x202, "HdrS", 4))
		return 1;
	return fw_kernel_probe_buf(h, n);
}

int fw_kernel_probe_buf(const uint8_t *b, size_t len)
{
	uint8_t h[64];
	size_t hl;
	enum fw_codec codec;
	int kernel = 0;

	if (len >= UIMAGE_HLEN && fw_be32(b) == UIMAGE_MAGIC) {
		kernel = b[30] == 2 || b[30] == 14 || b[30] == 4;
	} else if (len > 0x400 && is_bzimage(b, len)) {
		kernel = 1;
	} else if (is_zimage(b, len)) {
		kernel = 1;
	} else if (len >= 64 && (!memcmp(b + 0x38, "ARM\x64", 4) ||
				 !memcmp(b + 0x38, "RSC\x05", 4))) {
		kernel = 1;
	} else if (len >= 52 && !memcmp(b, ELFMAG, SELFMAG)) {
		Elf *e;
		Elf_Scn *scn = NULL;
		size_t shstrndx;

		elf_version(EV_CURRENT);
		/* libelf only reads what it is given: the const is kept */
		e = elf_memory((char *)(uintptr_t)b, len);
		if (e && elf_kind(e) == ELF_K_ELF &&
		    !elf_getshdrstrndx(e, &shstrndx))
			while (!kernel && (scn = elf_nextscn(e, scn))) {
				GElf_Shdr sh;
				const char *sn;

				if (gelf_getshdr(scn, &sh) &&
				    (sn = elf_strptr(e, shstrndx, sh.sh_name)) &&
				    !strcmp(sn, ".init.text"))
					kernel = 1;
			}
		if (e)
			elf_end(e);
	} else if ((codec = fw_codec_detect_kernel(b, len)) != FW_CODEC_NONE) {
		/* Image.gz & co: the image header is in the first bytes */
		hl = fw_decompress_head(codec, b, len, h, sizeof(h));
		kernel = hl == sizeof(h) &&
			 (!memcmp(h + 0x38, "ARM\x64", 4) ||
			  !memcmp(h + 0x38, "RSC\x05", 4));
	}
	return kernel;
}

int fw_kernel_probe(const char *path)
{
	struct fw_bytes b = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC), kernel = 0;

	if (fd < 0)
		return 0;
	if (!fw_map_fd(fd, &b, FW_DECOMPRESS_MAX))
		kernel = fw_kernel_probe_buf(b.p, b.len);
	fw_bytes_release(&b);
	close(fd);
	return kernel;
}
