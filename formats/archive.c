// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * tar (v7, ustar, pax, GNU) and cpio (newc, odc) archives, plain or
 * compressed, through libarchive: the archive is read once, entry by entry,
 * and written again entry by entry in the same order, each entry with the
 * header libarchive read (owner ids and names, mode with setuid, times,
 * pax xattrs, devices, symlinks, hard links), so that only the content of
 * signed files changes.
 *
 * Reading happens in two passes over a file, never over memory: memory
 * does not grow with the archive's data, only by 48 bytes an entry.  The
 * first pass gives the uncompressed archive as a file read with pread: a
 * plain archive is the input itself; a compressed one is decompressed
 * whole (libarchive's "raw" format: gzip, bzip2, xz, lzma, zstd, lz4;
 * never an external program on hostile input) into a nameless temporary
 * file beside the output (else TMPDIR, else /tmp), which gives the exact
 * length of the uncompressed stream: its block padding is reproduced, and
 * anything after the end of the archive (a second cpio appended to an
 * initramfs, say) is copied through unchanged, with a warning.  The
 * second pass parses that file a MiB at a time; an entry's data is kept
 * as where it lies in it (sparse files: expanded, holes and all, into a
 * second temporary file).  No header is kept: the writer reads them again
 * with a reader of its own, in step with the entries it writes, and
 * copies the data from the file.
 *
 * Limits, now on disk, not memory: the decompressed archive and the
 * expanded sparse files are capped at FW_ARCHIVE_MAX (2 GiB) each, so
 * that a small hostile input cannot fill the disk; an entry at
 * FW_READ_MAX (4 GiB: the engine reads a file whole to sign it).  A plain
 * archive, read where it lies, has no cap of its own.  A header claiming
 * more than what is left of the input, a truncated stream or a corrupt
 * header is a one-line error.
 *
 * Written back: the same libarchive format (a tar is as capable as its
 * most capable header: a pax archive has plain ustar headers where no
 * extension was needed), pax xattrs as SCHILY.xattr.* (GNU tar reads only
 * these), plus LIBARCHIVE.xattr.* copies when the input had both (bsdtar's
 * default; libarchive 3.6.2 reads such an archive with every xattr twice,
 * so they are made unique on reading), the same block padding.  The output
 * file gets the input file's permissions.
 *
 * Compression is fwsign's own, streamed as libarchive writes (a zstd or
 * lz4 frame that records the content size: from a temporary file that
 * holds the uncompressed output, up to 2 x FW_ARCHIVE_MAX), not
 * libarchive's filters, which cannot keep what the input records: the
 * gzip header (its mtime, OS byte, name; the level from XFL: 9, 1, else
 * 6), the xz integrity check (CRC32 for a kernel initramfs), the xz filter
 * chain and LZMA2 dictionary size, the zstd checksum and content-size
 * flags and window, the lz4 frame flags and block size, lz4's legacy
 * format (the kernel's).  Levels not recorded in the stream are guessed
 * or defaulted: xz preset 6 (7, 8, 9 for their 16, 32, 64 MiB
 * dictionaries) with the input's dictionary size, zstd level 3, lz4
 * frames level 1 (fast), lz4 legacy HC level 9.  The output depends on
 * nothing but the input and the signatures, so it is reproducible (gzip
 * keeps the input's mtime).  Other compressions (bzip2, lzma, lzip,
 * compress) go through libarchive's writer filters, default levels.
 *
 * Hostile entries -- absolute paths, "..", empty or "." components -- are
 * never given to the engine: they are neither signed nor used as a path
 * anywhere; they are copied through verbatim (header and data) so that
 * the archive stays lossless, and a warning names them.  fwsign never
 * extracts, so copying them is harmless.
 *
 * Hard links: a tar hard-link entry names an earlier entry and carries no
 * data; in newc every name of an inode is a full header with the same
 * ino, and (GNU cpio, bsdtar) only the LAST name carries the data
 * (libarchive issue 1469).  libarchive reports later names as hard links to
 * the first.  Each inode is one engine entry group (first name = the
 * engine's first name, read returns the inode's data wherever it was
 * stored); on output, every name that carried data in the input carries
 * the new data and every other name stays a size-0 link, so the layout is
 * kept in both formats.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <lz4.h>
#include <lz4frame.h>
#include <lz4hc.h>
#include <lzma.h>
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader */
#include <zstd.h>

#include "format.h"
#include "module.h"
#include "../src/bytes.h"
#include "../src/hmap.h"
#include "../src/fw_limits.h"

#define AR_MAX_ENTRY ((int64_t)FW_READ_MAX)
#define AR_MAX_ENTRIES ((size_t)1 << 21)
#define AR_HEAD 65536		/* compressed bytes looked at for settings */
#define AR_NONE UINT32_MAX
#define CHUNK ((size_t)1 << 20)	/* bytes read or written at once */
#define AR_MAP_MIN ((size_t)64 << 10)	/* smaller files are read, not mapped */

enum ar_kind { AR_TAR = 1, AR_CPIO };

enum ar_codec {
	C_NONE, C_GZIP, C_XZ, C_ZSTD, C_LZ4, C_LZ4_LEGACY,
	C_OTHER			/* through libarchive's writer filter */
};

struct ar_comp {
	enum ar_codec codec;
	int filter;		/* libarchive filter code */
	/* gzip */
	int gz_level;
	gz_header gz;
	/* xz */
	lzma_check xz_check;
	lzma_filter xz_filters[LZMA_FILTERS_MAX + 1];
	lzma_options_lzma xz_lzma2;
	/* zstd */
	int zstd_checksum, zstd_csize, zstd_wlog;
	/* lz4 frame */
	LZ4F_preferences_t lz4;
};

/* What few entries have: xattrs, new data on its way out. */
struct aside {
	struct fw_xattr *xv;	/* xattrs in header order, once each */
	size_t nx;
	struct fw_xattr *setx;	/* set by out_xattr, in call order */
	size_t nsetx;
	uint8_t *nd;		/* first name: the new data, the first
				 * nd_keep bytes of the old then nd */
	size_t nd_len, nd_keep;
	int has_nd;
};

/*
 * An entry, as small as it can be: nothing of its header is kept (the
 * writer reads the headers again, in step), so that memory does not grow
 * by a header per entry.
 */
struct aent {
	uint64_t off;		/* data: at off in the archive file, or in
				 * the spill file when spilled */
	size_t len;
	uint32_t fw;		/* engine entry, or AR_NONE: copied through */
	uint32_t group;		/* first name of the inode */
	uint32_t holder;	/* for a first name: the name holding the data */
	uint32_t last;		/* for a first name: the inode's last name */
	uint8_t spilled;	/* not one span of the archive (sparse) */
	uint8_t isdir;
	struct aside *x;	/* NULL: none of that */
};

struct ar_priv {
	enum ar_kind kind;
	int wformat;		/* libarchive format code for the writer */
	int fd;			/* the uncompressed archive: the input itself,
				 * or a nameless temporary file */
	uint64_t raw_len;
	uint64_t tail;		/* bytes after the archive kept from here */
	int spill_fd;		/* sparse files' data with its holes, -1 */
	uint64_t spill_len;
	char *near;		/* temporaries go beside this (the output) */
	int block;		/* bytes per output block, 0: unblocked */
	struct aent *a;
	size_t n, cap;
	uint32_t *fw2a;		/* engine entry -> aent, AR_NONE: root */
	/* where a and fw2a lie: spill maps, given back to the system as
	 * the engine goes (issue #18: 52 bytes an entry) */
	struct fw_spillmap *a_map, *fw2a_map;
	struct ar_comp comp;
	mode_t mode;		/* of the input file */
	int xattr_both;		/* pax xattrs were LIBARCHIVE + SCHILY */
};

/* ---------------------------------------------------------------- */
/* Helpers                                                          */

/*
 * libarchive converts names between the pax headers' UTF-8 and the
 * current locale; in the C locale it cannot, and the pax writer then
 * marks every non-ASCII name hdrcharset=BINARY, a header the input did
 * not have.  So libarchive runs under C.UTF-8, set for this thread only
 * (uselocale), never for the process.
 */
static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static locale_t enter_utf8(void)
{
	pthread_once(&utf8_once, utf8_init);
	return utf8_locale ? uselocale(utf8_locale) : (locale_t)0;
}

static void leave_utf8(locale_t old)
{
	if (old)
		uselocale(old);
}

/* A name from an archive made printable for a one-line warning. */
static const char *vis(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	if (!s)
		s = "(no name)";
	for (; *s && n + 8 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '\\')
			n += (size_t)snprintf(buf + n, len - n, "\\x%02x", c);
		else
			buf[n++] = (char)c;
	}
	if (*s)
		n += (size_t)snprintf(buf + n, len - n, "...");
	buf[n] = '\0';
	return buf;
}

static void aside_free(struct aside *x)
{
	if (!x)
		return;
	fw_xattrs_free(x->xv, x->nx);
	fw_xattrs_free(x->setx, x->nsetx);
	free(x->nd);
	free(x);
}

/* The file an entry's data is in. */
static int afd(const struct ar_priv *p, const struct aent *e)
{
	return e->spilled ? p->spill_fd : p->fd;
}

/* n bytes at off, all of them: 0, or -1 with errno (EIO: short). */
static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	uint8_t *b = buf;

	while (n) {
		ssize_t r = pread(fd, b, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		b += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/*
 * A nameless temporary file (O_TMPFILE: gone with fwsign however it
 * ends): beside near (the output: where there is room for the output,
 * there is for the archive), else in TMPDIR, else /tmp.  -1 with errno.
 */
static int ar_tmpfile(const char *near)
{
	const char *tmp = getenv("TMPDIR");
	const char *dirs[3];
	char dir[PATH_MAX], name[PATH_MAX + 32];
	size_t nd = 0;
	int fd = -1, e = 0;

	if (near) {
		const char *slash = strrchr(near, '/');

		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else
			snprintf(dir, sizeof(dir), "%.*s",
				 slash == near ? 1 : (int)(slash - near), near);
		dirs[nd++] = dir;
	}
	if (tmp && *tmp)
		dirs[nd++] = tmp;
	dirs[nd++] = "/tmp";
	for (size_t i = 0; i < nd && fd < 0; i++) {
		fd = open(dirs[i], O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0 && !e)
			e = errno;
	}
	/* A filesystem without O_TMPFILE: a name, unlinked at once. */
	for (size_t i = 0; i < nd && fd < 0; i++) {
		snprintf(name, sizeof(name), "%s/.fwsign-archive-XXXXXX", dirs[i]);
		fd = mkostemp(name, O_CLOEXEC);
		if (fd >= 0)
			unlink(name);
	}
	if (fd < 0)
		errno = e ? e : EIO;
	return fd;
}

/*
 * The decompressors fwsign uses: only those built into libarchive.  A
 * libarchive built without one of these libraries would run an external
 * program on the input instead (its support call says ARCHIVE_WARN):
 * not on hostile input.  Only one is ever enabled: the one the input's
 * first bytes name (in_filter).
 */
enum { F_GZIP, F_BZIP2, F_XZ, F_LZMA, F_LZIP, F_ZSTD, F_LZ4, F_COMPRESS,
       N_FILTERS, F_NONE = -1 };
static int (*const read_filters[N_FILTERS])(struct archive *) = {
	[F_GZIP] = archive_read_support_filter_gzip,
	[F_BZIP2] = archive_read_support_filter_bzip2,
	[F_XZ] = archive_read_support_filter_xz,
	[F_LZMA] = archive_read_support_filter_lzma,
	[F_LZIP] = archive_read_support_filter_lzip,
	[F_ZSTD] = archive_read_support_filter_zstd,
	[F_LZ4] = archive_read_support_filter_lz4,
	[F_COMPRESS] = archive_read_support_filter_compress,
};
static unsigned char filter_builtin[N_FILTERS];
static pthread_once_t filters_once = PTHREAD_ONCE_INIT;

static void filters_probe(void)
{
	for (size_t i = 0; i < N_FILTERS; i++) {
		struct archive *a = archive_read_new();

		filter_builtin[i] = a && read_filters[i](a) == ARCHIVE_OK;
		archive_read_free(a);
	}
}

/*
 * The decompressor the first bytes of a file name (F_*, F_NONE: none);
 * *c: the codec when fwsign's own (capped) decoders read it too.  lzip
 * says its dictionary in its header: one over FW_DECODER_MEM_MAX is no
 * lzip fwsign reads (libarchive would reserve it).
 */
static enum ar_kind head_kind(const uint8_t *b, size_t n);

static int in_filter(const uint8_t *h, size_t n, enum fw_codec *c)
{
	static const int of_codec[] = {
		[FW_CODEC_GZIP] = F_GZIP, [FW_CODEC_XZ] = F_XZ,
		[FW_CODEC_ZSTD] = F_ZSTD, [FW_CODEC_LZMA] = F_LZMA,
		[FW_CODEC_LZ4] = F_LZ4,
	};

	*c = FW_CODEC_NONE;
	if (head_kind(h, n))	/* not .lzma's loose match */
		return F_NONE;
	*c = fw_codec_detect_kernel(h, n);
	if (*c != FW_CODEC_NONE)
		return of_codec[*c];
	if (n >= 4 && !memcmp(h, "BZh", 3) && h[3] >= '1' && h[3] <= '9')
		return F_BZIP2;
	if (n >= 6 && !memcmp(h, "LZIP", 4)) {
		unsigned b = h[5] & 0x1f;
		uint64_t dict = ((uint64_t)1 << b) -
				(((uint64_t)1 << b) / 16) * ((h[5] >> 5) & 7);

		return dict <= FW_DECODER_MEM_MAX ? F_LZIP : F_NONE;
	}
	if (n >= 4 && !memcmp(h, "\x04\x22\x4d\x18", 4))
		return F_LZ4;
	if (n >= 2 && h[0] == 0x1f && h[1] == 0x9d)
		return F_COMPRESS;
	return F_NONE;
}

static void add_read_filter(struct archive *a, int f)
{
	pthread_once(&filters_once, filters_probe);
	if (f != F_NONE && filter_builtin[f])
		read_filters[f](a);
}

static enum ar_kind kind_of(int format)
{
	switch (format & ARCHIVE_FORMAT_BASE_MASK) {
	case ARCHIVE_FORMAT_TAR: return AR_TAR;
	case ARCHIVE_FORMAT_CPIO: return AR_CPIO;
	default: return 0;
	}
}

/* ---------------------------------------------------------------- */
/* Bidding: by content, the first header of the (decompressed) input.  */

/* A cpio header field as libarchive reads it: fixed-width hex (newc) or
 * octal (odc) digits, up to the first that is not one. */
static uint64_t cpio_num(const uint8_t *f, size_t n, unsigned base)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		int d = f[i] >= '0' && f[i] <= '9' ? f[i] - '0' :
			f[i] >= 'a' && f[i] <= 'f' ? f[i] - 'a' + 10 :
			f[i] >= 'A' && f[i] <= 'F' ? f[i] - 'A' + 10 : -1;

		if (d < 0 || (unsigned)d >= base)
			break;
		v = v * base + (unsigned)d;
	}
	return v;
}

/* The longest name fwsign takes in a cpio header: far above PATH_MAX. */
#define CPIO_NAME_MAX 65536

/* One cpio header at offset off of an archive of len bytes. */
struct cpio_hdr {
	uint64_t hlen, name, size, name_end, data_end;
};

/* 1: h is a newc/crc or odc header (o filled); 0: no magic (junk);
 * -1: a header cut by the end of the archive. */
static int cpio_hdr(const uint8_t *h, uint64_t off, uint64_t len,
		    struct cpio_hdr *o)
{
	if (!memcmp(h, "070701", 6) || !memcmp(h, "070702", 6)) {
		o->hlen = 110;
		if (off + o->hlen > len)
			return -1;
		o->name = cpio_num(h + 94, 8, 16);
		o->size = cpio_num(h + 54, 8, 16);
		o->name_end = (off + o->hlen + o->name + 3) & ~(uint64_t)3;
		o->data_end = (o->name_end + o->size + 3) & ~(uint64_t)3;
		return 1;
	}
	if (!memcmp(h, "070707", 6)) {
		o->hlen = 76;
		if (off + o->hlen > len)
			return -1;
		o->name = cpio_num(h + 59, 6, 8);
		o->size = cpio_num(h + 65, 11, 8);
		o->name_end = off + o->hlen + o->name;
		o->data_end = o->name_end + o->size;
		return 1;
	}
	return 0;
}

/* What is absurd in header c at off (why filled, -1), else 0. */
static int cpio_hdr_absurd(const struct cpio_hdr *c, uint64_t off,
			   uint64_t len, char *why, size_t why_len)
{
	if (c->name > CPIO_NAME_MAX) {
		snprintf(why, why_len, "cpio entry at byte %llu has a name of "
			 "%llu bytes", (unsigned long long)off,
			 (unsigned long long)c->name);
		return -1;
	}
	if (c->name_end <= len && c->data_end > len) {
		snprintf(why, why_len, "cpio entry at byte %llu claims %llu "
			 "bytes of data, past the end of the archive",
			 (unsigned long long)off, (unsigned long long)c->size);
		return -1;
	}
	return 0;
}

/*
 * Walks the cpio headers in b (the uncompressed archive, or the start of
 * it: whole is 0) as libarchive will, skipping to the next magic after
 * junk, and says what is wrong with the first that claims an absurd name
 * or more bytes than there are: libarchive allocates what a forged name
 * size claims before it finds out.  0 when all is well or b is not cpio.
 */
static int cpio_absurd(const uint8_t *b, size_t len, int whole, char *why,
		       size_t why_len)
{
	size_t off = 0;

	if (len < 6 || (memcmp(b, "070701", 6) && memcmp(b, "070702", 6) &&
			memcmp(b, "070707", 6)))
		return 0;
	while (off + 6 <= len) {
		const uint8_t *h = b + off;
		struct cpio_hdr c;
		int k = cpio_hdr(h, off, len, &c);

		if (k < 0)
			break;
		if (!k) {
			/* junk: libarchive looks for the next header */
			const uint8_t *m = memmem(h + 1, len - off - 1, "07070", 5);

			if (!m)
				break;
			off = (size_t)(m - b);
			continue;
		}
		/* a prefix (whole 0): only the name is known to matter */
		if (!whole && c.name_end <= len)
			c.name_end = len + 1;
		if (cpio_hdr_absurd(&c, off, len, why, why_len))
			return -1;
		if (!whole || c.name_end > len)
			break;
		if (c.name == 11 && !memcmp(h + c.hlen, "TRAILER!!!", 10))
			break;
		off = c.data_end > off ? (size_t)c.data_end : off + 1;
	}
	return 0;
}

/*
 * cpio_absurd over the whole uncompressed archive in file fd (len bytes),
 * read a window at a time: the same walk, the same answers.  -2: a read
 * failed (errno).
 */
#define CPIO_WIN ((size_t)1 << 20)

static int cpio_absurd_fd(int fd, uint64_t len, char *why, size_t why_len)
{
	uint8_t *w;
	uint64_t off = 0, woff = 0, wend = 0;
	int rc = 0;

	if (len < 6)
		return 0;
	w = malloc(CPIO_WIN);
	if (!w) {
		errno = ENOMEM;
		return -2;
	}
	while (off + 6 <= len) {
		const uint8_t *h;
		struct cpio_hdr c;
		int k;

		/* 128 bytes at off in the window: a header and a name's
		 * first 10 */
		if (off < woff || (off + 128 > wend && wend < len)) {
			size_t n = len - off < CPIO_WIN ? (size_t)(len - off)
							: CPIO_WIN;

			if (pread_all(fd, w, n, off) < 0) {
				rc = -2;
				break;
			}
			woff = off;
			wend = off + n;
		}
		h = w + (off - woff);
		if (off == 0 && memcmp(h, "070701", 6) && memcmp(h, "070702", 6) &&
		    memcmp(h, "070707", 6))
			break;
		k = cpio_hdr(h, off, len, &c);
		if (k < 0)
			break;
		if (!k) {
			/* junk: the next "07070" in the window, else on
			 * from its last 5 bytes */
			const uint8_t *m = wend - off > 1 ?
				memmem(h + 1, (size_t)(wend - off - 1), "07070", 5) : NULL;

			if (m) {
				off = woff + (uint64_t)(m - w);
				continue;
			}
			if (wend >= len)
				break;
			off = wend - 5;
			woff = wend;	/* reload */
			continue;
		}
		if (cpio_hdr_absurd(&c, off, len, why, why_len)) {
			rc = -1;
			break;
		}
		if (c.name_end > len)
			break;
		if (c.name == 11 && !memcmp(h + c.hlen, "TRAILER!!!", 10))
			break;
		off = c.data_end > off ? c.data_end : off + 1;
	}
	free(w);
	return rc;
}

/* Fixed-width fields of digits of the base (newc: hex, odc: octal). */
static int all_digits(const uint8_t *f, size_t n, unsigned base)
{
	for (size_t i = 0; i < n; i++)
		if (!(f[i] >= '0' && f[i] <= (base == 8 ? '7' : '9')) &&
		    !(base == 16 && ((f[i] >= 'a' && f[i] <= 'f') ||
				     (f[i] >= 'A' && f[i] <= 'F'))))
			return 0;
	return 1;
}

/*
 * What the first header at the very start of b is: a tar header whose
 * checksum is right, or a newc, crc or odc cpio header of digits only;
 * 0 for anything else.  A bid asks this before libarchive sees a byte:
 * its cpio reader skips junk to any later header, anywhere in the file,
 * and allocates the name size that one claims.
 */
static enum ar_kind head_kind(const uint8_t *b, size_t n)
{
	if (n >= 110 && (!memcmp(b, "070701", 6) || !memcmp(b, "070702", 6)))
		return all_digits(b + 6, 104, 16) ? AR_CPIO : 0;
	if (n >= 76 && !memcmp(b, "070707", 6))
		return all_digits(b + 6, 70, 8) ? AR_CPIO : 0;
	if (n >= 512) {
		uint64_t want = 0, sum = 0;
		int64_t ssum = 0;
		size_t i = 148;

		while (i < 156 && b[i] == ' ')
			i++;
		if (i == 156 || b[i] < '0' || b[i] > '7')
			return 0;
		for (; i < 156 && b[i] >= '0' && b[i] <= '7'; i++)
			want = want * 8 + (b[i] - '0');
		if (i < 156 && b[i] != ' ' && b[i] != '\0')
			return 0;
		for (i = 0; i < 512; i++) {
			uint8_t c = i >= 148 && i < 156 ? ' ' : b[i];

			sum += c;
			ssum += (int8_t)c;
		}
		/* some old tars summed signed chars */
		if (want == sum || (int64_t)want == ssum)
			return AR_TAR;
	}
	return 0;
}

/*
 * Up to want bytes of the start of what the file holds (decompressed
 * through filter f), into out; how many.  fwsign's own decoders peek
 * where they can (their decoder memory is capped); the others (bzip2,
 * lz4 frames, lzip, compress: small or checked decoder memory) through
 * libarchive with that one filter.
 */
#define PEEK_IN ((size_t)256 << 10)	/* compressed bytes a peek reads */

static size_t peek(const char *path, const uint8_t *h, size_t n, int f,
		   enum fw_codec c, uint8_t *out, size_t want)
{
	struct archive *a;
	struct archive_entry *ae;
	la_ssize_t r;
	size_t got = 0;

	if (f == F_NONE) {
		got = n < want ? n : want;
		memcpy(out, h, got);
		return got;
	}
	if (c != FW_CODEC_NONE) {
		/* a zstd block is up to 128 KiB: decoded only whole */
		uint8_t *z = malloc(PEEK_IN);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t zn = fd >= 0 && z ? pread(fd, z, PEEK_IN, 0) : -1;

		if (fd >= 0)
			close(fd);
		if (zn > 0)
			got = fw_decompress_head(c, z, (size_t)zn, out, want);
		free(z);
		return got;
	}
	a = archive_read_new();
	if (!a)
		return 0;
	add_read_filter(a, f);
	archive_read_support_format_raw(a);
	if (archive_read_open_filename(a, path, 16384) == ARCHIVE_OK &&
	    archive_read_next_header(a, &ae) == ARCHIVE_OK)
		while (got < want &&
		       (r = archive_read_data(a, out + got, want - got)) > 0)
			got += (size_t)r;
	archive_read_free(a);
	return got;
}

/*
 * A bid: libarchive (with only the input's one decompressor) reads the
 * first header only of what starts with one (head_kind), so that what
 * it is handed is bounded: no decoder memory past FW_DECODER_MEM_MAX, no
 * junk skipped to a header further on.
 */
static int ar_bid_kind(const char *path, const struct stat *st,
		       const uint8_t *head, size_t n, enum ar_kind want)
{
	struct archive *a;
	struct archive_entry *ae;
	uint8_t plain[4096];
	char why[160];
	enum fw_codec c;
	int bid = 0, r, f;
	size_t got;

	if (!S_ISREG(st->st_mode) || st->st_size < 32)
		return 0;
	f = in_filter(head, n, &c);
	got = peek(path, head, n, f, c, plain, sizeof(plain));
	/* A forged first cpio header, plain or compressed: open says why. */
	if (cpio_absurd(plain, got, 0, why, sizeof(why)))
		return want == AR_CPIO ? 150 : 0;
	if (head_kind(plain, got) != want)
		return 0;
	a = archive_read_new();
	if (!a)
		return 0;
	add_read_filter(a, f);
	archive_read_support_format_tar(a);
	archive_read_support_format_cpio(a);
	if (archive_read_open_filename(a, path, 16384) == ARCHIVE_OK) {
		r = archive_read_next_header(a, &ae);
		if ((r == ARCHIVE_OK || r == ARCHIVE_WARN) &&
		    kind_of(archive_format(a)) == want)
			bid = 150;
	}
	archive_read_free(a);
	return bid;
}

static int tar_bid(const char *path, const struct stat *st,
		   const uint8_t *head, size_t n)
{
	return ar_bid_kind(path, st, head, n, AR_TAR);
}

static int cpio_bid(const char *path, const struct stat *st,
		    const uint8_t *head, size_t n)
{
	/* Binary cpio has a 2-byte magic and cannot be written: leave it. */
	if (n >= 2 && ((head[0] == 0xc7 && head[1] == 0x71) ||
		       (head[0] == 0x71 && head[1] == 0xc7)))
		return 0;
	return ar_bid_kind(path, st, head, n, AR_CPIO);
}

/* ---------------------------------------------------------------- */
/* Compression settings, from the first bytes of the file.          */

static void comp_free(struct ar_comp *c)
{
	free(c->gz.name);
	free(c->gz.comment);
	free(c->gz.extra);
	memset(&c->gz, 0, sizeof(c->gz));
	for (int i = 0; c->codec == C_XZ && i < LZMA_FILTERS_MAX &&
			c->xz_filters[i].id != LZMA_VLI_UNKNOWN; i++)
		if (c->xz_filters[i].options != &c->xz_lzma2)
			free(c->xz_filters[i].options);
	c->xz_filters[0].id = LZMA_VLI_UNKNOWN;
}

static char *gz_string(const uint8_t *h, size_t n, size_t *pos)
{
	const uint8_t *z = memchr(h + *pos, 0, n - *pos);
	char *s;

	if (!z)
		return NULL;
	s = strdup((const char *)h + *pos);
	*pos = (size_t)(z - h) + 1;
	return s;
}

/* The gzip header, kept whole but for XFL, which zlib derives from the
 * level: 2 is level 9, 4 is level 1, 0 anything else (6 is used). */
static void gzip_settings(struct ar_comp *c, const uint8_t *h, size_t n)
{
	size_t pos = 10;
	int flg;

	c->gz_level = Z_DEFAULT_COMPRESSION;
	c->gz.os = 3;
	if (n < 10 || h[0] != 0x1f || h[1] != 0x8b)
		return;
	flg = h[3];
	c->gz.text = flg & 1;
	c->gz.time = fw_le32(h + 4);
	c->gz_level = h[8] == 2 ? 9 : h[8] == 4 ? 1 : Z_DEFAULT_COMPRESSION;
	c->gz.os = h[9];
	if ((flg & 4) && pos + 2 <= n) {
		unsigned xlen = h[pos] | (unsigned)h[pos + 1] << 8;

		pos += 2;
		if (pos + xlen <= n && (c->gz.extra = malloc(xlen ? xlen : 1))) {
			memcpy(c->gz.extra, h + pos, xlen);
			c->gz.extra_len = xlen;
			c->gz.extra_max = xlen;
		}
		pos += xlen;
	}
	if ((flg & 8) && pos < n)
		c->gz.name = (Bytef *)gz_string(h, n, &pos);
	if ((flg & 16) && pos < n)
		c->gz.comment = (Bytef *)gz_string(h, n, &pos);
	c->gz.hcrc = (flg & 2) != 0;
}

/* The integrity check and the first block's filter chain; the LZMA2
 * preset is not recorded, only its dictionary size. */
static void xz_settings(struct ar_comp *c, const uint8_t *h, size_t n)
{
	lzma_filter f[LZMA_FILTERS_MAX + 1];
	lzma_block b;
	uint32_t dict = LZMA_DICT_SIZE_DEFAULT;
	size_t k = 0;

	c->xz_check = LZMA_CHECK_CRC64;
	if (n >= 12 && lzma_check_is_supported((lzma_check)(h[7] & 0x0f)))
		c->xz_check = (lzma_check)(h[7] & 0x0f);
	memset(&b, 0, sizeof(b));
	b.version = 0;
	b.check = c->xz_check;
	b.filters = f;
	f[0].id = LZMA_VLI_UNKNOWN;
	if (n > 12 && h[12] != 0) {
		b.header_size = lzma_block_header_size_decode(h[12]);
		if (12 + b.header_size > n ||
		    lzma_block_header_decode(&b, NULL, h + 12) != LZMA_OK)
			f[0].id = LZMA_VLI_UNKNOWN;
	}
	for (size_t i = 0; i < LZMA_FILTERS_MAX && f[i].id != LZMA_VLI_UNKNOWN; i++) {
		if (f[i].id == LZMA_FILTER_LZMA2) {
			if (f[i].options)
				dict = ((lzma_options_lzma *)f[i].options)->dict_size;
			free(f[i].options);
			continue;
		}
		c->xz_filters[k++] = f[i];	/* BCJ, delta: keep options */
	}
	lzma_lzma_preset(&c->xz_lzma2, dict >= (64u << 20) ? 9 :
			 dict >= (32u << 20) ? 8 : dict >= (16u << 20) ? 7 : 6);
	c->xz_lzma2.dict_size = dict;
	c->xz_filters[k].id = LZMA_FILTER_LZMA2;
	c->xz_filters[k++].options = &c->xz_lzma2;
	c->xz_filters[k].id = LZMA_VLI_UNKNOWN;
}

static void zstd_settings(struct ar_comp *c, const uint8_t *h, size_t n)
{
	ZSTD_frameHeader fh;

	c->zstd_checksum = 1;
	if (ZSTD_getFrameHeader(&fh, h, n) != 0 || fh.frameType != ZSTD_frame)
		return;
	c->zstd_checksum = fh.checksumFlag != 0;
	c->zstd_csize = fh.frameContentSize != ZSTD_CONTENTSIZE_UNKNOWN;
	/* A single-segment frame's window is its content size. */
	if (!(h[4] & 0x20)) {
		int wlog = 10;

		while (wlog < ZSTD_WINDOWLOG_MAX_64 &&
		       ((unsigned long long)1 << wlog) < fh.windowSize)
			wlog++;
		c->zstd_wlog = wlog;
	}
}

static void lz4_settings(struct ar_comp *c, const uint8_t *h, size_t n)
{
	LZ4F_preferences_t *pr = &c->lz4;

	memset(pr, 0, sizeof(*pr));
	pr->frameInfo.blockSizeID = LZ4F_max4MB;
	pr->frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	if (n < 6)
		return;
	if (((h[5] >> 4) & 7) >= 4)
		pr->frameInfo.blockSizeID = (LZ4F_blockSizeID_t)((h[5] >> 4) & 7);
	pr->frameInfo.blockMode = (h[4] & 0x20) ? LZ4F_blockIndependent
						 : LZ4F_blockLinked;
	pr->frameInfo.blockChecksumFlag = (h[4] & 0x10) ? LZ4F_blockChecksumEnabled
						       : LZ4F_noBlockChecksum;
	pr->frameInfo.contentChecksumFlag = (h[4] & 0x04) ?
		LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum;
	/* content size: set at write time when the input had one */
	pr->frameInfo.contentSize = (h[4] & 0x08) ? 1 : 0;
}

static int comp_settings(struct ar_priv *p, int filter, const char *path,
			 struct fw_error *err)
{
	struct ar_comp *c = &p->comp;
	uint8_t *h;
	ssize_t n;
	int fd;

	c->filter = filter;
	c->xz_filters[0].id = LZMA_VLI_UNKNOWN;
	switch (filter) {
	case ARCHIVE_FILTER_NONE: c->codec = C_NONE; return FW_OK;
	case ARCHIVE_FILTER_GZIP: c->codec = C_GZIP; break;
	case ARCHIVE_FILTER_XZ: c->codec = C_XZ; break;
	case ARCHIVE_FILTER_ZSTD: c->codec = C_ZSTD; break;
	case ARCHIVE_FILTER_LZ4: c->codec = C_LZ4; break;
	default: c->codec = C_OTHER; return FW_OK;
	}
	h = malloc(AR_HEAD);
	if (!h)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	n = fd < 0 ? -1 : pread(fd, h, AR_HEAD, 0);
	if (fd >= 0)
		close(fd);
	if (n < 0) {
		free(h);
		return fw_error_set(err, FW_EIO, path, "cannot read: %s",
				    strerror(errno));
	}
	switch (c->codec) {
	case C_GZIP: gzip_settings(c, h, (size_t)n); break;
	case C_XZ: xz_settings(c, h, (size_t)n); break;
	case C_ZSTD: zstd_settings(c, h, (size_t)n); break;
	default:
		if (n >= 4 && !memcmp(h, "\x02\x21\x4c\x18", 4))
			c->codec = C_LZ4_LEGACY;
		else
			lz4_settings(c, h, (size_t)n);
		break;
	}
	free(h);
	return FW_OK;
}

/* ---------------------------------------------------------------- */
/* Reading                                                          */

/* The decompressor the file's first bytes name (in_filter). */
static int path_filter(const char *path)
{
	uint8_t h[4096];
	enum fw_codec c;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return F_NONE;	/* open says why */
	n = pread(fd, h, sizeof(h), 0);
	close(fd);
	return n > 0 ? in_filter(h, (size_t)n, &c) : F_NONE;
}

/*
 * Pass 1: the uncompressed archive, in a file read with pread from then
 * on.  A plain archive is the input itself; a compressed one is
 * decompressed into a nameless temporary file (ar_tmpfile), capped at
 * FW_ARCHIVE_MAX: a decompression bomb must not fill the disk.
 */
static int ar_decompress(struct fw_image *img, struct ar_priv *p,
			 struct fw_error *err)
{
	struct archive *a;
	struct archive_entry *ae;
	struct stat st;
	uint8_t *buf = NULL;
	int rc = FW_OK, nf, f = path_filter(img->path);

	if (f == F_NONE) {
		p->fd = open(img->path, O_RDONLY | O_CLOEXEC);
		if (p->fd < 0 || fstat(p->fd, &st) < 0)
			return fw_error_set(err, FW_EINPUT, img->path,
					    "cannot read: %s", strerror(errno));
		p->mode = st.st_mode;
		p->raw_len = (uint64_t)st.st_size;
		return comp_settings(p, ARCHIVE_FILTER_NONE, img->path, err);
	}
	a = archive_read_new();
	if (!a)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	add_read_filter(a, f);
	archive_read_support_format_raw(a);
	if (stat(img->path, &st) == 0)
		p->mode = st.st_mode;
	if (archive_read_open_filename(a, img->path, 65536) != ARCHIVE_OK ||
	    archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		rc = fw_error_set(err, FW_EINPUT, img->path, "cannot read: %s",
				  archive_error_string(a) ? archive_error_string(a)
							  : "unknown error");
		goto out;
	}
	buf = malloc(CHUNK);
	if (!buf) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	p->fd = ar_tmpfile(p->near);
	if (p->fd < 0) {
		rc = fw_error_set(err, FW_EIO, p->near ? p->near : img->path,
				  "cannot make a temporary file: %s",
				  strerror(errno));
		goto out;
	}
	for (;;) {
		la_ssize_t r = archive_read_data(a, buf, CHUNK);

		if (r == 0)
			break;
		if (r < 0) {
			rc = fw_error_set(err, FW_EINPUT, img->path,
					  "truncated or corrupt %s data: %s",
					  archive_filter_name(a, 0),
					  archive_error_string(a) ?
					  archive_error_string(a) : "read error");
			goto out;
		}
		if (p->raw_len + (uint64_t)r > FW_ARCHIVE_MAX) {
			rc = fw_error_set(err, FW_EINPUT, img->path,
					  "archive is bigger than %zu MiB "
					  "uncompressed", FW_ARCHIVE_MAX >> 20);
			goto out;
		}
		if (fw_write_all(p->fd, buf, (size_t)r) < 0) {
			rc = fw_error_set(err, FW_EIO, p->near ? p->near : img->path,
					  "cannot write a temporary file: %s",
					  strerror(errno));
			goto out;
		}
		p->raw_len += (uint64_t)r;
	}
	nf = archive_filter_count(a);
	if (nf > 2) {
		rc = fw_error_set(err, FW_EINPUT, img->path,
				  "nested compression (%s inside %s) is not "
				  "supported", archive_filter_name(a, 0),
				  archive_filter_name(a, 1));
		goto out;
	}
	rc = comp_settings(p, nf == 2 ? archive_filter_code(a, 0)
				      : ARCHIVE_FILTER_NONE, img->path, err);
out:
	free(buf);
	archive_read_free(a);
	return rc;
}

/* Keeps xattrs once each: libarchive 3.6.2 reads a pax archive that has
 * both LIBARCHIVE.xattr and SCHILY.xattr records (bsdtar's default) with
 * every xattr twice.  Returns 1 when it saw such a pair, -1 when out of
 * memory. */
static int dedup_xattrs(struct archive_entry *ae)
{
	struct { char *name; void *val; size_t len; } *x;
	const char *name;
	const void *val;
	size_t len, n = 0, cnt = (size_t)archive_entry_xattr_reset(ae);
	int dup = 0, rc = 0;

	if (cnt < 2)
		return 0;
	x = calloc(cnt, sizeof(*x));
	if (!x)
		return -1;
	while (n < cnt && archive_entry_xattr_next(ae, &name, &val, &len) ==
			  ARCHIVE_OK) {
		size_t i;

		for (i = 0; i < n; i++)
			if (!strcmp(x[i].name, name))
				break;
		if (i < n) {
			dup = 1;
			continue;
		}
		x[n].name = strdup(name);
		x[n].val = malloc(len ? len : 1);
		x[n].len = len;
		if (!x[n].name || !x[n].val) {
			free(x[n].name);
			free(x[n].val);
			rc = -1;
			break;
		}
		memcpy(x[n++].val, val, len);
	}
	if (dup && rc == 0) {
		archive_entry_xattr_clear(ae);
		for (size_t i = 0; i < n; i++)
			archive_entry_xattr_add_entry(ae, x[i].name, x[i].val,
						      x[i].len);
	}
	for (size_t i = 0; i < n; i++) {
		free(x[i].name);
		free(x[i].val);
	}
	free(x);
	return rc ? rc : dup;
}

/*
 * libarchive hands an entry's xattrs out in the reverse of the order they
 * were added (3.6.2 prepends to its list; archive_entry_clone reverses
 * again): which way this libarchive goes is asked once, so that
 * record_xattrs can give them in the order of the pax header.
 */
static pthread_once_t xattr_order_once = PTHREAD_ONCE_INIT;
static int xattr_lifo;

static void xattr_order_probe(void)
{
	struct archive_entry *ae = archive_entry_new();
	const char *name;
	const void *val;
	size_t len;

	if (!ae)
		return;
	archive_entry_xattr_add_entry(ae, "a", "", 0);
	archive_entry_xattr_add_entry(ae, "b", "", 0);
	if (archive_entry_xattr_reset(ae) == 2 &&
	    archive_entry_xattr_next(ae, &name, &val, &len) == ARCHIVE_OK &&
	    !strcmp(name, "b"))
		xattr_lifo = 1;
	archive_entry_free(ae);
}

/* Keeps the xattrs of ae, as read from the header, in e: in header order,
 * the first of each name (LIBARCHIVE.xattr and SCHILY.xattr copies are one
 * xattr, as dedup_xattrs makes them).  0 or -1 (no memory). */
static int record_xattrs(struct aent *e, struct archive_entry *ae)
{
	struct { const char *name; const void *val; size_t len; } *x;
	size_t cnt = (size_t)archive_entry_xattr_reset(ae), n = 0;
	const char *name;
	const void *val;
	size_t len;
	int rc = 0;

	if (cnt == 0)
		return 0;
	pthread_once(&xattr_order_once, xattr_order_probe);
	if (!e->x && !(e->x = calloc(1, sizeof(*e->x))))
		return -1;
	x = calloc(cnt, sizeof(*x));
	if (!x)
		return -1;
	while (n < cnt && archive_entry_xattr_next(ae, &name, &val, &len) ==
			  ARCHIVE_OK) {
		if (!name)
			continue;
		x[n].name = name;
		x[n].val = val ? val : "";
		x[n++].len = val ? len : 0;
	}
	for (size_t k = 0; k < n && rc == 0; k++) {
		size_t i = xattr_lifo ? n - 1 - k : k, j;

		for (j = 0; j < e->x->nx; j++)
			if (!strcmp(e->x->xv[j].name, x[i].name))
				break;
		if (j == e->x->nx)
			rc = fw_xattrs_add(&e->x->xv, &e->x->nx, x[i].name, x[i].val,
					   x[i].len);
	}
	free(x);
	return rc;
}

/*
 * Pass 2 reads the archive file a CHUNK at a time, through this buffer:
 * libarchive hands out an entry's data in place in it (no copy) where the
 * data is in one client block, so where that data lies in the file is
 * known.
 */
struct rd {
	int fd;
	uint64_t pos, end;	/* next read; the archive's length */
	uint8_t *buf;
	uint64_t at;		/* the file offset of buf */
	size_t len;
};

static la_ssize_t rd_read(struct archive *a, void *ctx, const void **out)
{
	struct rd *r = ctx;
	size_t n = r->end - r->pos < CHUNK ? (size_t)(r->end - r->pos) : CHUNK;

	if (n && pread_all(r->fd, r->buf, n, r->pos) < 0) {
		archive_set_error(a, errno, "read: %s", strerror(errno));
		return -1;
	}
	r->at = r->pos;
	r->len = n;
	r->pos += n;
	*out = r->buf;
	return (la_ssize_t)n;
}

/* Where a block libarchive handed out lies in the archive file: 1 when it
 * is in place in the client buffer. */
static int rd_where(const struct rd *r, const void *blk, size_t sz,
		    uint64_t *at)
{
	const uint8_t *b = blk;

	if (b < r->buf || b + sz > r->buf + r->len)
		return 0;
	*at = r->at + (uint64_t)(b - r->buf);
	return 1;
}

/* Copies n bytes from fd at from to the spill file at to. */
static int spill_copy(struct ar_priv *p, int fd, uint64_t from, uint64_t to,
		      size_t n)
{
	uint8_t *b = malloc(n < CHUNK ? (n ? n : 1) : CHUNK);
	int rc = 0;

	if (!b)
		return -1;
	while (n && rc == 0) {
		size_t k = n < CHUNK ? n : CHUNK;

		rc = pread_all(fd, b, k, from) < 0 ||
		     pwrite(p->spill_fd, b, k, (off_t)to) != (ssize_t)k ? -1 : 0;
		from += k;
		to += k;
		n -= k;
	}
	free(b);
	return rc;
}

/*
 * Entry e's data, which is the last in the spill file or not spilled yet,
 * grows to total bytes there (holes read as zeros).  Sparse holes are
 * expanded on disk: a sparse bomb must not fill it (holes: capped).  Data
 * that is all in the archive (libarchive handed it out of place) is
 * bounded by the archive.
 */
static int spill_grow(struct ar_priv *p, struct aent *e, size_t total,
		      int holes, const char *name, const char *path,
		      struct fw_error *err)
{
	if (p->spill_fd < 0) {
		p->spill_fd = ar_tmpfile(p->near);
		if (p->spill_fd < 0)
			return fw_error_set(err, FW_EIO, p->near ? p->near : path,
					    "cannot make a temporary file: %s",
					    strerror(errno));
	}
	if (!e->spilled) {
		uint64_t base = p->spill_len;

		if (holes && base + total > FW_ARCHIVE_MAX)
			goto bomb;
		if (e->len && spill_copy(p, p->fd, e->off, base, e->len) < 0)
			goto io;
		e->off = base;
		e->spilled = 1;
	}
	if (total > e->len) {
		if (holes && e->off + total > FW_ARCHIVE_MAX)
			goto bomb;
		if (ftruncate(p->spill_fd, (off_t)(e->off + total)) < 0)
			goto io;
		e->len = total;
		p->spill_len = e->off + total;
	}
	return FW_OK;
bomb:
	return fw_error_set(err, FW_EINPUT, path, "%s: sparse files expand to "
			    "more than %zu MiB", name, FW_ARCHIVE_MAX >> 20);
io:
	return fw_error_set(err, FW_EIO, p->near ? p->near : path,
			    "cannot write a temporary file: %s",
			    strerror(errno));
}

/* An entry's data: a span of the archive file when it is one (no copy),
 * else a copy in the spill file with holes (sparse files) as zeros. */
static int read_data(struct archive *a, struct ar_priv *p, struct rd *rd,
		     struct aent *e, struct archive_entry *ae,
		     const char *name, const char *path, struct fw_error *err)
{
	int64_t size = archive_entry_size_is_set(ae) ?
		       archive_entry_size(ae) : 0;
	size_t got = 0, total;
	const void *blk;
	size_t sz;
	la_int64_t off;
	uint64_t at;
	int r, rc;

	if (size < 0)
		size = 0;
	for (;;) {
		r = archive_read_data_block(a, &blk, &sz, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return fw_error_set(err, FW_EINPUT, path,
					    "%s: truncated or corrupt archive: %s",
					    name, archive_error_string(a) ?
					    archive_error_string(a) : "read error");
		if (sz == 0)
			continue;
		if (off < 0 || (uint64_t)off + sz > (uint64_t)AR_MAX_ENTRY)
			return fw_error_set(err, FW_EINPUT, path,
					    "%s: data at an absurd offset", name);
		if (!e->spilled && (size_t)off == got &&
		    rd_where(rd, blk, sz, &at) &&
		    (got == 0 || at == e->off + got)) {
			if (got == 0)
				e->off = at;
			got += sz;
			e->len = got;
			continue;
		}
		total = (size_t)off + sz;
		if (total < (size_t)size)
			total = (size_t)size;
		rc = spill_grow(p, e, total, archive_entry_sparse_count(ae) > 0,
				name, path, err);
		if (rc)
			return rc;
		if (pwrite(p->spill_fd, blk, sz, (off_t)(e->off + (uint64_t)off)) !=
		    (ssize_t)sz)
			return fw_error_set(err, FW_EIO, p->near ? p->near : path,
					    "cannot write a temporary file: %s",
					    strerror(errno));
	}
	/* a trailing hole */
	if (archive_entry_sparse_count(ae) && e->len < (size_t)size)
		return spill_grow(p, e, (size_t)size, 1, name, path, err);
	return FW_OK;
}

static int writer_format(enum ar_kind kind, int rank, int cpio_fmt)
{
	static const int tar[] = { ARCHIVE_FORMAT_TAR, ARCHIVE_FORMAT_TAR_USTAR,
				   ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE,
				   ARCHIVE_FORMAT_TAR_GNUTAR };

	return kind == AR_TAR ? tar[rank] : cpio_fmt;
}

/* A tar's variant is the most capable of its headers: a pax archive has
 * plain ustar headers wherever no extension was needed. */
static int tar_rank(int format)
{
	switch (format) {
	case ARCHIVE_FORMAT_TAR_USTAR: return 1;
	case ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE:
	case ARCHIVE_FORMAT_TAR_PAX_RESTRICTED: return 2;
	case ARCHIVE_FORMAT_TAR_GNUTAR: return 3;
	default: return 0;
	}
}

/* Adds the engine entry of aent i. */
static int expose(struct fw_image *img, struct ar_priv *p, size_t i,
		  struct archive_entry *ae, const char *clean,
		  size_t *next_ino, struct fw_error *err)
{
	struct aent *e = &p->a[i];
	struct stat st = *archive_entry_stat(ae);
	const char *target = archive_entry_symlink(ae);
	int rc;

	st.st_dev = 1;
	st.st_ino = e->group == i ? (*next_ino)++ : 0;	/* members: below */
	if (e->group != i)	/* tar hard links carry no file type */
		st.st_mode = (st.st_mode & 07777) |
			     (img->ent[p->a[e->group].fw].st.st_mode & S_IFMT);
	st.st_size = (off_t)e->len;
	if (!S_ISDIR(st.st_mode))
		st.st_nlink = 1;
	if (S_ISLNK(st.st_mode) && !target)
		target = "";
	rc = fw_image_add(img, clean, &st, S_ISLNK(st.st_mode) ? target : NULL,
			  err);
	if (rc)
		return rc;
	e->fw = (uint32_t)(img->n - 1);
	p->fw2a[e->fw] = (uint32_t)i;
	return FW_OK;
}

static int add_aent(struct ar_priv *p, struct fw_error *err)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		void *np;

		if ((!p->a_map && !(p->a_map = fw_spillmap_new(0))) ||
		    (!p->fw2a_map && !(p->fw2a_map = fw_spillmap_new(0))))
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		np = fw_spillmap_grow(p->a_map, cap * sizeof(*p->a));
		if (!np)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		p->a = np;
		/* engine entries: a made-up root and the entries */
		np = fw_spillmap_grow(p->fw2a_map, (cap + 1) * sizeof(*p->fw2a));
		if (!np)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		p->fw2a = np;
		p->cap = cap;
	}
	memset(&p->a[p->n], 0, sizeof(p->a[p->n]));
	p->a[p->n].fw = AR_NONE;
	p->a[p->n].group = (uint32_t)p->n;
	p->a[p->n].holder = (uint32_t)p->n;
	p->a[p->n].last = (uint32_t)p->n;
	p->n++;
	return FW_OK;
}

/* An archive has no root entry, or not first: the engine gets one, which
 * is never written. */
static int add_root(struct fw_image *img, struct ar_priv *p,
		    struct fw_error *err)
{
	struct stat st = { 0 };

	st.st_mode = S_IFDIR | 0755;
	st.st_nlink = 2;
	st.st_dev = 1;
	st.st_ino = 1;
	p->fw2a[0] = AR_NONE;
	return fw_image_add(img, "", &st, NULL, err);
}

/* A cleaned path's key in the map of paths: FNV-1a.  A collision (a
 * forged one, say) only makes a hard link look like one to no earlier
 * entry: it is then copied unchanged, with a warning. */
static uint64_t path_key(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* Warnings about names, said after the one about the archive's end, as
 * they always were: kept until then (few: only odd entries have one). */
struct later {
	char **v;
	size_t n;
};

static void later_add(struct later *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void later_add(struct later *l, const char *fmt, ...)
{
	char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
	va_list ap;

	if (!nv)
		return;
	l->v = nv;
	va_start(ap, fmt);
	if (vasprintf(&l->v[l->n], fmt, ap) >= 0)
		l->n++;
	va_end(ap);
}

/*
 * Each cleaned path's latest entry, for hard links to look up the name
 * they give.  Made at the first hard link, from the engine entries before
 * it, so that an archive without any never holds it (32 to 64 bytes an
 * entry, issue 18); then kept up to date entry by entry.
 */
struct paths {
	struct fw_hmap map;
	int live;
};

/* The map of the aents before upto: 0 or -1 (no memory). */
static int paths_start(const struct fw_image *img, const struct ar_priv *p,
		       size_t upto, struct paths *m)
{
	for (size_t k = 0; k < upto; k++)
		if (p->a[k].fw != AR_NONE &&
		    fw_hmap_put(&m->map, path_key(img->ent[p->a[k].fw].path), k))
			return -1;
	m->live = 1;
	return 0;
}

/*
 * An entry as the engine sees it (aent i, header ae): a safe name is one
 * engine entry, a hard link joins its inode's group; unsafe ones are
 * copied through.
 */
static int add_entry(struct fw_image *img, struct ar_priv *p, size_t i,
		     struct archive_entry *ae, struct paths *map,
		     size_t *next_ino, struct later *w, struct fw_error *err)
{
	struct aent *e = &p->a[i];
	const char *name = archive_entry_pathname(ae);
	const char *hl = archive_entry_hardlink(ae);
	mode_t type = archive_entry_filetype(ae);
	char clean[PATH_MAX * 2], v1[256], v2[256];
	int rc;

	e->isdir = type == AE_IFDIR;
	if (!name || name[0] == '/' ||
	    fw_path_clean(name, clean, sizeof(clean)) < 0 ||
	    (!*clean && type != AE_IFDIR)) {
		later_add(w, "%s: unsafe path, copied unchanged and not signed",
			  vis(name, v1, sizeof(v1)));
		return FW_OK;
	}
	if (i == 0 && !*clean) {
		/* the archive's own "./" is the root */
	} else if (img->n == 0 && (rc = add_root(img, p, err))) {
		return rc;
	}
	if (hl && type != AE_IFDIR) {
		char ct[PATH_MAX * 2];
		size_t t;

		if (!map->live && paths_start(img, p, i, map) < 0)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		t = fw_path_clean(hl, ct, sizeof(ct)) == 0 && hl[0] != '/' ?
		    fw_hmap_get(&map->map, path_key(ct)) : FW_HMAP_NONE;

		if (t != FW_HMAP_NONE &&
		    strcmp(img->ent[p->a[t].fw].path, ct))
			t = FW_HMAP_NONE;	/* another path, same key */
		if (t != FW_HMAP_NONE && !p->a[t].isdir) {
			e->group = p->a[t].group;
			p->a[e->group].last = (uint32_t)i;
			if (e->len > 0)
				p->a[e->group].holder = (uint32_t)i;
		} else if (p->kind == AR_TAR) {
			later_add(w, "%s: hard link to %s, which is not an "
				  "earlier entry: copied unchanged",
				  vis(name, v1, sizeof(v1)), vis(hl, v2, sizeof(v2)));
			return FW_OK;
		} else {
			later_add(w, "%s: hard link to %s, which is not a safe "
				  "earlier entry: kept as a file of its own",
				  vis(name, v1, sizeof(v1)), vis(hl, v2, sizeof(v2)));
		}
	}
	rc = expose(img, p, i, ae, clean, next_ino, err);
	if (rc)
		return rc;
	if (map->live && fw_hmap_put(&map->map, path_key(clean), i))
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	return FW_OK;
}

/*
 * Pass 2: the entries, from the archive file, each made an engine entry
 * as it comes.  What is kept of an entry is where its data lies, how it
 * is linked, and its xattrs if it has any: not its header.
 */
static int ar_parse(struct fw_image *img, struct ar_priv *p,
		    struct fw_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae, *c = NULL;
	struct paths map = { 0 };
	struct rd rd = { 0 };
	struct later w = { 0 };
	char v1[256];
	size_t next_ino = 2;
	int rc = FW_OK, rank = 0, cpio_fmt = 0, r;

	if (!a)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	archive_read_support_format_tar(a);
	archive_read_support_format_cpio(a);
	rd.fd = p->fd;
	rd.end = p->raw_len;
	rd.buf = malloc(CHUNK);
	if (!rd.buf) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	if (archive_read_open(a, &rd, NULL, rd_read, NULL) != ARCHIVE_OK) {
		rc = fw_error_set(err, FW_EINPUT, img->path, "not a %s archive: %s",
				  img->fmt->name, archive_error_string(a) ?
				  archive_error_string(a) : "unknown format");
		goto out;
	}
	for (;;) {
		struct aent *e;
		const char *name;
		int64_t size, pos;

		r = archive_read_next_header(a, &ae);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rc = fw_error_set(err, FW_EINPUT, img->path,
					  "truncated or corrupt %s after %zu "
					  "entries: %s", img->fmt->name, p->n,
					  archive_error_string(a) ?
					  archive_error_string(a) : "read error");
			goto out;
		}
		if (!p->kind) {
			p->kind = kind_of(archive_format(a));
			if (!p->kind || p->kind != (img->fmt == &fw_format_tar ?
						    AR_TAR : AR_CPIO)) {
				rc = fw_error_set(err, FW_EINPUT, img->path,
						  "not a %s archive",
						  img->fmt->name);
				goto out;
			}
			cpio_fmt = archive_format(a);
			if (p->kind == AR_CPIO &&
			    cpio_fmt != ARCHIVE_FORMAT_CPIO_SVR4_NOCRC &&
			    cpio_fmt != ARCHIVE_FORMAT_CPIO_POSIX) {
				rc = fw_error_set(err, FW_EINPUT, img->path,
						  "%s: only newc and odc cpio "
						  "archives can be written",
						  archive_format_name(a));
				goto out;
			}
		}
		if (p->kind == AR_TAR && tar_rank(archive_format(a)) > rank)
			rank = tar_rank(archive_format(a));
		if (p->n >= AR_MAX_ENTRIES) {
			rc = fw_error_set(err, FW_EINPUT, img->path,
					  "more than %zu entries", AR_MAX_ENTRIES);
			goto out;
		}
		name = archive_entry_pathname(ae);
		size = archive_entry_size(ae);
		pos = archive_read_header_position(a);
		/* A sparse file's size is its logical size, holes and all. */
		if (size < 0 || size > AR_MAX_ENTRY ||
		    (pos >= 0 && !archive_entry_sparse_count(ae) &&
		     (uint64_t)size > p->raw_len - (uint64_t)pos)) {
			rc = fw_error_set(err, FW_EINPUT, img->path,
					  "truncated or corrupt: entry %s claims "
					  "%lld bytes, only %llu are left",
					  vis(name, v1, sizeof(v1)),
					  (long long)size, (unsigned long long)
					  (pos >= 0 ? p->raw_len - (uint64_t)pos : 0));
			goto out;
		}
		rc = add_aent(p, err);
		if (rc)
			goto out;
		e = &p->a[p->n - 1];
		/* what the writer will do to its own copy of the header */
		r = record_xattrs(e, ae) == 0 ? 0 : -1;
		if (r == 0 && archive_entry_xattr_count(ae) >= 2) {
			c = archive_entry_clone(ae);
			r = c ? dedup_xattrs(c) : -1;
			archive_entry_free(c);
			c = NULL;
		}
		if (r < 0) {
			rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
			goto out;
		}
		p->xattr_both |= r;
		rc = read_data(a, p, &rd, e, ae, vis(name, v1, sizeof(v1)),
			       img->path, err);
		if (rc)
			goto out;
		if (archive_entry_sparse_count(ae) &&
		    archive_format(a) == ARCHIVE_FORMAT_TAR_GNUTAR)
			fw_image_warn(img, "%s: GNU sparse file written without "
				      "its holes (same content)", v1);
		rc = add_entry(img, p, p->n - 1, ae, &map, &next_ino, &w, err);
		if (rc)
			goto out;
	}
	/* Where the archive ends; what follows it. */
	p->tail = archive_filter_bytes(a, 0) > 0 ?
		  (uint64_t)archive_filter_bytes(a, 0) : 0;
	if (p->tail > p->raw_len)
		p->tail = p->raw_len;
	while (p->tail < p->raw_len) {	/* the zeros that pad it */
		size_t n = p->raw_len - p->tail < CHUNK ?
			   (size_t)(p->raw_len - p->tail) : CHUNK, k = 0;

		if (pread_all(p->fd, rd.buf, n, p->tail) < 0) {
			rc = fw_error_set(err, FW_EIO, img->path,
					  "cannot read: %s", strerror(errno));
			goto out;
		}
		while (k < n && rd.buf[k] == 0)
			k++;
		p->tail += k;
		if (k < n)
			break;
	}
	{
		uint64_t end = p->tail;

		p->block = end % 10240 == 0 ? 10240 : end % 512 == 0 ? 512 : 0;
		if (end < p->raw_len)
			fw_image_warn(img, "%llu bytes after the end of the "
				      "archive are copied unchanged and not "
				      "signed",
				      (unsigned long long)(p->raw_len - end));
	}
	for (size_t k = 0; k < w.n; k++)
		fw_image_warn(img, "%s", w.v[k]);
	p->wformat = writer_format(p->kind, rank, cpio_fmt);
	if (!p->fw2a && ((!p->fw2a_map && !(p->fw2a_map = fw_spillmap_new(0))) ||
			 !(p->fw2a = fw_spillmap_grow(p->fw2a_map,
						      sizeof(*p->fw2a))))) {
		rc = fw_error_set(err, FW_EIO, NULL, "out of memory");
		goto out;
	}
	if (img->n == 0 && (rc = add_root(img, p, err)))
		goto out;
	/* Inodes: every name gets the first name's ino, link count and the
	 * size of the data, wherever it was stored. */
	for (size_t i = 0; i < p->n; i++) {
		struct aent *e = &p->a[i];
		struct aent *g = &p->a[e->group];

		if (e->fw == AR_NONE)
			continue;
		if (e->group != i) {
			img->ent[e->fw].st.st_ino = img->ent[g->fw].st.st_ino;
			img->ent[g->fw].st.st_nlink++;
		}
		img->ent[e->fw].st.st_size = (off_t)p->a[g->holder].len;
	}
	for (size_t i = 0; i < p->n; i++) {
		struct aent *e = &p->a[i];

		if (e->fw != AR_NONE && e->group != i)
			img->ent[e->fw].st.st_nlink =
				img->ent[p->a[e->group].fw].st.st_nlink;
	}
	rc = fw_image_link_hardlinks(img, err);
out:
	for (size_t k = 0; k < w.n; k++)
		free(w.v[k]);
	free(w.v);
	fw_hmap_free(&map.map);
	archive_read_free(a);
	free(rd.buf);
	return rc;
}

static void ar_close(struct fw_image *img)
{
	struct ar_priv *p = img->priv;

	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		aside_free(p->a[i].x);
	fw_spillmap_free(p->a_map);
	fw_spillmap_free(p->fw2a_map);
	if (p->fd >= 0)
		close(p->fd);
	if (p->spill_fd >= 0)
		close(p->spill_fd);
	free(p->near);
	comp_free(&p->comp);
	free(p);
	img->priv = NULL;
}

static int ar_open_u8(struct fw_image *img, struct fw_error *err)
{
	struct ar_priv *p = calloc(1, sizeof(*p));
	char why[160];
	int rc;

	if (!p)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	img->priv = p;
	p->fd = -1;
	p->spill_fd = -1;
	p->comp.xz_filters[0].id = LZMA_VLI_UNKNOWN;
	if (img->will_write && img->will_write->path &&
	    !(p->near = strdup(img->will_write->path)))
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	rc = ar_decompress(img, p, err);
	if (rc == FW_OK) {
		int r = cpio_absurd_fd(p->fd, p->raw_len, why, sizeof(why));

		if (r == -1)
			rc = fw_error_set(err, FW_EINPUT, img->path, "%s", why);
		else if (r < 0)
			rc = fw_error_set(err, FW_EIO, img->path,
					  "cannot read: %s", strerror(errno));
	}
	if (rc == FW_OK)
		rc = ar_parse(img, p, err);
	return rc;
}

/* The inode's data, wherever in the group it was stored. */
static const struct aent *data_of(const struct fw_image *img, size_t idx,
				  struct fw_error *err)
{
	const struct ar_priv *p = img->priv;
	size_t i;

	if (idx >= img->n || (i = p->fw2a[idx]) == AR_NONE) {
		fw_error_set(err, FW_EINPUT, img->path, "no such entry");
		return NULL;
	}
	return &p->a[p->a[p->a[i].group].holder];
}

static int ar_read(struct fw_image *img, size_t idx, uint8_t **buf,
		   size_t *len, struct fw_error *err)
{
	const struct aent *e = data_of(img, idx, err);

	if (!e)
		return err->code;
	*buf = malloc(e->len ? e->len : 1);
	if (!*buf)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (pread_all(afd(img->priv, e), *buf, e->len, e->off) < 0) {
		free(*buf);
		*buf = NULL;
		return fw_error_set(err, FW_EIO, img->path, "cannot read: %s",
				    strerror(errno));
	}
	*len = e->len;
	return FW_OK;
}

/*
 * A big ELF file, when the caller only signs: a sparse view (its headers
 * and end, fw_elf_fill) and its content as one segment that ar_feed reads
 * AR_FEED bytes at a time as it is hashed.  Mapped whole, every page of
 * the file the hash had passed stayed resident until the file was done:
 * two jobs hashing 16 MiB libraries held 32 MiB, and the peak depended on
 * which files happened to meet.  Read, the page cache keeps them, not us.
 */
#define AR_SPARSE_MIN ((size_t)256 << 10)	/* smaller files: below */
#define AR_FEED ((size_t)256 << 10)

/* The segment and what its feed reads, one block: fw_bytes_release
 * frees it as the segment. */
struct ar_stream {
	struct fw_seg seg;
	int fd;
	uint64_t off;		/* the file's first byte in fd */
	size_t len;
	const char *path;	/* the archive, for errors */
	struct fw_error err;	/* why a feed failed */
};

static int stream_read_at(void *ctx, uint64_t off, uint8_t *buf, size_t n)
{
	struct ar_stream *st = ctx;

	if (off > st->len || n > st->len - off) {
		fw_error_set(&st->err, FW_EINPUT, st->path,
			     "read outside an entry");
		return -1;
	}
	if (pread_all(st->fd, buf, n, st->off + off) < 0) {
		fw_error_set(&st->err, FW_EIO, st->path, "cannot read: %s",
			     strerror(errno));
		return -1;
	}
	return 0;
}

/* fw_feed_fn: the first n bytes of the file, AR_FEED at a time. */
static int ar_feed(void *ctx, uint64_t n, fw_put_fn put, void *put_ctx)
{
	struct ar_stream *st = ctx;
	int rc = fw_feed_reads(n, AR_FEED, stream_read_at, st, put, put_ctx);

	if (rc == -2)
		fw_error_set(&st->err, FW_EIO, NULL, "out of memory");
	return rc < 0 ? -1 : 0;
}

/* 0: b holds the sparse view; 1: not worth it or not ELF (map or read
 * it); -1: a read failed (err). */
static int sparse_view(const struct fw_image *img, const struct aent *e,
		       struct fw_bytes *b, struct fw_error *err)
{
	struct ar_stream *st;
	uint8_t *view;
	int rc;

	if (!b->sparse_ok || e->len < AR_SPARSE_MIN)
		return 1;
	st = calloc(1, sizeof(*st));
	if (!st)
		return 1;
	*st = (struct ar_stream){ .fd = afd(img->priv, e), .off = e->off,
				  .len = e->len, .path = img->path };
	fw_error_clear(&st->err);
	view = mmap(NULL, e->len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	rc = view == MAP_FAILED ? 1 : fw_elf_fill(view, e->len,
						  stream_read_at, st);
	if (rc) {
		if (rc < 0)
			*err = st->err;
		if (view != MAP_FAILED)
			munmap(view, e->len);
		free(st);
		return rc;
	}
	st->seg = (struct fw_seg){ NULL, e->len, ar_feed, st };
	b->p = view;
	b->len = e->len;
	b->mapped = view;
	b->map_len = e->len;
	b->seg = &st->seg;
	b->n_seg = 1;
	b->feed_err = &st->err;
	return 0;
}

/* A big ELF file to be signed: a sparse view and a stream (above).  Else
 * the data mapped from the archive file (only while it is in use: the
 * memory is the page cache's), or read when it is small. */
static int ar_map(struct fw_image *img, size_t idx, struct fw_bytes *b,
		  struct fw_error *err)
{
	const struct aent *e = data_of(img, idx, err);
	long page = sysconf(_SC_PAGESIZE);
	int rc;

	if (!e)
		return err->code;
	fw_bytes_init(b);
	rc = sparse_view(img, e, b, err);
	if (rc <= 0)
		return rc ? err->code : FW_OK;
	if (e->len >= AR_MAP_MIN && page > 0) {
		uint64_t start = e->off - e->off % (uint64_t)page;
		size_t skip = (size_t)(e->off - start);
		void *m = mmap(NULL, skip + e->len, PROT_READ, MAP_PRIVATE,
			       afd(img->priv, e), (off_t)start);

		if (m != MAP_FAILED) {
			b->mapped = m;
			b->map_len = skip + e->len;
			b->p = (const uint8_t *)m + skip;
			b->len = e->len;
			return FW_OK;
		}
	}
	b->owned = malloc(e->len ? e->len : 1);
	if (!b->owned)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (pread_all(afd(img->priv, e), b->owned, e->len, e->off) < 0) {
		free(b->owned);
		b->owned = NULL;
		return fw_error_set(err, FW_EIO, img->path, "cannot read: %s",
				    strerror(errno));
	}
	b->p = b->owned;
	b->len = e->len;
	return FW_OK;
}

static ssize_t ar_peek(struct fw_image *img, size_t idx, uint8_t *buf,
		       size_t n, struct fw_error *err)
{
	const struct aent *e = data_of(img, idx, err);

	if (!e)
		return -1;
	if (n > e->len)
		n = e->len;
	if (pread_all(afd(img->priv, e), buf, n, e->off) < 0) {
		fw_error_set(err, FW_EIO, img->path, "cannot read: %s",
			     strerror(errno));
		return -1;
	}
	return (ssize_t)n;
}

/*
 * The xattrs recorded at open (pax SCHILY.xattr / LIBARCHIVE.xattr; cpio
 * has none): read-only from then on, so any thread may ask.  A later name
 * of a hard link whose header records none has its inode's, those of the
 * first name.
 */
static int ar_xattrs(struct fw_image *img, size_t idx, struct fw_xattr **v,
		     size_t *n, struct fw_error *err)
{
	const struct ar_priv *p = img->priv;
	const struct aent *e;
	size_t i;

	*v = NULL;
	*n = 0;
	if (idx >= img->n)
		return fw_error_set(err, FW_EINPUT, img->path, "no such entry");
	i = p->fw2a[idx];
	if (i == AR_NONE)
		return FW_OK;	/* the root fwsign made up */
	e = &p->a[i];
	if ((!e->x || !e->x->nx) && e->group != i)
		e = &p->a[e->group];
	for (size_t k = 0; e->x && k < e->x->nx; k++)
		if (fw_xattrs_add(v, n, e->x->xv[k].name, e->x->xv[k].value,
				  e->x->xv[k].len) < 0) {
			fw_xattrs_free(*v, *n);
			*v = NULL;
			*n = 0;
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		}
	return FW_OK;
}

/* ---------------------------------------------------------------- */
/* Writing                                                          */

/*
 * The output stream: what libarchive writes goes through the compressor
 * straight into the output file.  zstd and lz4 frames that record the
 * content size need it before the first byte: those are kept whole, in
 * a nameless temporary file (buffered), and compressed at the end.
 */
struct sink {
	const struct ar_comp *c;
	int fd;
	int started, buffered, failed;
	int spill;		/* buffered: the whole stream, uncompressed */
	uint64_t slen;
	uint8_t *buf;		/* lz4 legacy block */
	size_t len;
	uint8_t *ob;		/* compressed bytes on their way out */
	size_t ob_cap;
	z_stream z;
	int z_init;
	lzma_stream x;
	ZSTD_CCtx *zs;
	LZ4F_cctx *l4;
};

#define LZ4_STEP ((size_t)1 << 16)
#define LZ4_LEGACY_BLOCK ((size_t)8 << 20)

static int sink_out(struct sink *s, size_t n)
{
	if (fw_write_all(s->fd, s->ob, n) < 0) {
		s->failed = errno ? errno : EIO;
		return -1;
	}
	return 0;
}

static int sink_start(struct sink *s, uint64_t size)
{
	const struct ar_comp *c = s->c;
	LZ4F_preferences_t pr;
	size_t n;

	s->started = 1;
	switch (c->codec) {
	case C_GZIP:
		if (deflateInit2(&s->z, c->gz_level, Z_DEFLATED, 31, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		s->z_init = 1;
		return deflateSetHeader(&s->z, (gz_headerp)&c->gz) == Z_OK ? 0 : -1;
	case C_XZ:
		return lzma_stream_encoder(&s->x, c->xz_filters, c->xz_check) ==
		       LZMA_OK ? 0 : -1;
	case C_ZSTD:
		s->zs = ZSTD_createCCtx();
		if (!s->zs)
			return -1;
		ZSTD_CCtx_setParameter(s->zs, ZSTD_c_compressionLevel,
				       ZSTD_CLEVEL_DEFAULT);
		ZSTD_CCtx_setParameter(s->zs, ZSTD_c_checksumFlag, c->zstd_checksum);
		ZSTD_CCtx_setParameter(s->zs, ZSTD_c_contentSizeFlag, c->zstd_csize);
		if (c->zstd_wlog)
			ZSTD_CCtx_setParameter(s->zs, ZSTD_c_windowLog, c->zstd_wlog);
		if (c->zstd_csize)
			ZSTD_CCtx_setPledgedSrcSize(s->zs, size);
		return 0;
	case C_LZ4:
		pr = c->lz4;
		if (pr.frameInfo.contentSize)
			pr.frameInfo.contentSize = size;
		s->ob_cap = LZ4F_compressBound(LZ4_STEP, &pr) + LZ4F_HEADER_SIZE_MAX;
		free(s->ob);
		s->ob = malloc(s->ob_cap);
		if (!s->ob ||
		    LZ4F_isError(LZ4F_createCompressionContext(&s->l4, LZ4F_VERSION)))
			return -1;
		n = LZ4F_compressBegin(s->l4, s->ob, s->ob_cap, &pr);
		return LZ4F_isError(n) ? -1 : sink_out(s, n);
	case C_LZ4_LEGACY:
		return fw_write_all(s->fd, "\x02\x21\x4c\x18", 4);
	default:
		return 0;
	}
}

static int lz4_legacy_block(struct sink *s)
{
	int n;

	if (!s->len)
		return 0;
	n = LZ4_compress_HC((const char *)s->buf, (char *)s->ob + 4,
			    (int)s->len, (int)s->ob_cap - 4, LZ4HC_CLEVEL_DEFAULT);
	if (n <= 0)
		return -1;
	s->ob[0] = (uint8_t)n;
	s->ob[1] = (uint8_t)(n >> 8);
	s->ob[2] = (uint8_t)(n >> 16);
	s->ob[3] = (uint8_t)(n >> 24);
	s->len = 0;
	return sink_out(s, (size_t)n + 4);
}

/* Compresses in; with fin, ends the stream. */
static int sink_code(struct sink *s, const uint8_t *in, size_t n, int fin)
{
	size_t r;
	int zr;

	switch (s->c->codec) {
	case C_GZIP:
		s->z.next_in = (Bytef *)in;
		s->z.avail_in = (uInt)n;
		do {
			s->z.next_out = s->ob;
			s->z.avail_out = (uInt)s->ob_cap;
			zr = deflate(&s->z, fin ? Z_FINISH : Z_NO_FLUSH);
			if (zr == Z_STREAM_ERROR ||
			    sink_out(s, s->ob_cap - s->z.avail_out) < 0)
				return -1;
		} while (s->z.avail_out == 0 || (fin && zr != Z_STREAM_END));
		return 0;
	case C_XZ:
		s->x.next_in = in;
		s->x.avail_in = n;
		for (;;) {
			lzma_ret lr;

			s->x.next_out = s->ob;
			s->x.avail_out = s->ob_cap;
			lr = lzma_code(&s->x, fin ? LZMA_FINISH : LZMA_RUN);
			if ((lr != LZMA_OK && lr != LZMA_STREAM_END) ||
			    sink_out(s, s->ob_cap - s->x.avail_out) < 0)
				return -1;
			if (fin ? lr == LZMA_STREAM_END
				: s->x.avail_in == 0 && s->x.avail_out != 0)
				return 0;
		}
	case C_ZSTD: {
		ZSTD_inBuffer ib = { in, n, 0 };

		do {
			ZSTD_outBuffer obuf = { s->ob, s->ob_cap, 0 };

			r = ZSTD_compressStream2(s->zs, &obuf, &ib,
						 fin ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(r) || sink_out(s, obuf.pos) < 0)
				return -1;
		} while (fin ? r != 0 : ib.pos < ib.size);
		return 0;
	}
	case C_LZ4:
		for (size_t pos = 0; pos < n; pos += LZ4_STEP) {
			size_t k = n - pos < LZ4_STEP ? n - pos : LZ4_STEP;

			r = LZ4F_compressUpdate(s->l4, s->ob, s->ob_cap, in + pos,
						k, NULL);
			if (LZ4F_isError(r) || sink_out(s, r) < 0)
				return -1;
		}
		if (fin) {
			r = LZ4F_compressEnd(s->l4, s->ob, s->ob_cap, NULL);
			if (LZ4F_isError(r) || sink_out(s, r) < 0)
				return -1;
		}
		return 0;
	case C_LZ4_LEGACY:
		while (n) {
			size_t k = LZ4_LEGACY_BLOCK - s->len;

			if (k > n)
				k = n;
			memcpy(s->buf + s->len, in, k);
			s->len += k;
			in += k;
			n -= k;
			if (s->len == LZ4_LEGACY_BLOCK && lz4_legacy_block(s) < 0)
				return -1;
		}
		return fin ? lz4_legacy_block(s) : 0;
	default:
		if (n && fw_write_all(s->fd, in, n) < 0) {
			s->failed = errno ? errno : EIO;
			return -1;
		}
		return 0;
	}
}

static int sink_open(struct sink *s, const struct ar_comp *c, int fd,
		     const char *near)
{
	memset(s, 0, sizeof(*s));
	s->c = c;
	s->fd = fd;
	s->spill = -1;
	s->x = (lzma_stream)LZMA_STREAM_INIT;
	s->buffered = (c->codec == C_ZSTD && c->zstd_csize) ||
		      (c->codec == C_LZ4 && c->lz4.frameInfo.contentSize);
	if (s->buffered && (s->spill = ar_tmpfile(near)) < 0) {
		s->failed = errno;
		return -1;
	}
	s->ob_cap = c->codec == C_LZ4_LEGACY ?
		    (size_t)LZ4_compressBound((int)LZ4_LEGACY_BLOCK) + 4 : CHUNK;
	s->ob = malloc(s->ob_cap);
	if (c->codec == C_LZ4_LEGACY)
		s->buf = malloc(LZ4_LEGACY_BLOCK);
	if (!s->ob || (c->codec == C_LZ4_LEGACY && !s->buf))
		return -1;
	return s->buffered ? 0 : sink_start(s, 0);
}

static int sink_write(struct sink *s, const uint8_t *in, size_t n)
{
	if (!s->buffered)
		return sink_code(s, in, n, 0);
	if (s->slen + n > (uint64_t)FW_ARCHIVE_MAX * 2) {
		s->failed = EFBIG;
		return -1;
	}
	if (fw_write_all(s->spill, in, n) < 0) {
		s->failed = errno ? errno : EIO;
		return -1;
	}
	s->slen += n;
	return 0;
}

static int sink_close(struct sink *s)
{
	if (s->buffered) {
		uint8_t *b;
		uint64_t at = 0;
		int rc = 0;

		s->buffered = 0;
		if (sink_start(s, s->slen) < 0 || !(b = malloc(CHUNK)))
			return -1;
		/* CHUNK is a multiple of LZ4_STEP: the frames are cut
		 * where one call over the whole stream would cut them */
		do {
			size_t k = s->slen - at < CHUNK ? (size_t)(s->slen - at)
							: CHUNK;

			if (pread_all(s->spill, b, k, at) < 0) {
				s->failed = errno;
				rc = -1;
				break;
			}
			at += k;
			rc = sink_code(s, b, k, at == s->slen);
		} while (rc == 0 && at < s->slen);
		free(b);
		return rc;
	}
	return sink_code(s, NULL, 0, 1);
}

static void sink_free(struct sink *s)
{
	if (s->z_init)
		deflateEnd(&s->z);
	lzma_end(&s->x);
	ZSTD_freeCCtx(s->zs);
	LZ4F_freeCompressionContext(s->l4);
	free(s->buf);
	free(s->ob);
	if (s->spill >= 0)
		close(s->spill);
}

struct ar_out {
	struct fw_image *img;
	struct ar_priv *p;
	struct fw_outfile of;
	uint64_t max_size;
	struct archive *w;
	struct sink s;
	int sink_open;
	size_t next;		/* next aent to write */
	/* The headers, read again in step with the writing: entry next's
	 * is the next one this reader reads. */
	struct archive *r;
	struct rd rd;
	uint8_t *cbuf;		/* CHUNK: old data on its way out */
};

/* The writer's reader skips the data: it is copied from the file. */
static la_int64_t rd_skip(struct archive *a, void *ctx, la_int64_t n)
{
	struct rd *r = ctx;

	(void)a;
	if (n < 0)
		return 0;
	if ((uint64_t)n > r->end - r->pos)
		n = (la_int64_t)(r->end - r->pos);
	r->pos += (uint64_t)n;
	r->len = 0;
	return n;
}

static la_ssize_t wr_cb(struct archive *a, void *ctx, const void *b, size_t n)
{
	struct ar_out *o = ctx;

	if (sink_write(&o->s, b, n) < 0) {
		archive_set_error(a, o->s.failed ? o->s.failed : EIO,
				  "%s", o->s.failed ? strerror(o->s.failed)
						    : "compression failed");
		return -1;
	}
	return (la_ssize_t)n;
}

static int ar_out_begin_u8(struct fw_image *img, const struct fw_out_opts *oo,
			void **ctx, struct fw_error *err)
{
	struct ar_priv *p = img->priv;
	struct ar_out *o;
	int r;

	*ctx = NULL;
	if (oo->in_place || !oo->path)
		return fw_error_set(err, FW_EUSAGE, img->path,
				    "a %s archive is signed into a new file: "
				    "give an output file, not in place",
				    img->fmt->name);
	o = calloc(1, sizeof(*o));
	if (!o)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	*ctx = o;
	o->img = img;
	o->p = p;
	o->of.fd = -1;
	o->max_size = oo->max_size;
	o->w = archive_write_new();
	o->r = archive_read_new();
	o->rd.buf = malloc(CHUNK);
	if (!o->w || !o->r || !o->rd.buf)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	o->rd.fd = p->fd;
	o->rd.end = p->raw_len;
	archive_read_support_format_tar(o->r);
	archive_read_support_format_cpio(o->r);
	if (archive_read_open2(o->r, &o->rd, NULL, rd_read, rd_skip, NULL) !=
	    ARCHIVE_OK)
		return fw_error_set(err, FW_EIO, img->path, "cannot read: %s",
				    archive_error_string(o->r));
	r = fw_outfile_begin(&o->of, oo->path, err);
	if (r)
		return r;
	o->sink_open = 1;
	o->cbuf = malloc(CHUNK);
	if (!o->cbuf)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	if (sink_open(&o->s, &p->comp, o->of.fd, oo->path) < 0)
		return fw_error_set(err, FW_EIO, oo->path, "cannot write: %s",
				    o->s.failed ? strerror(o->s.failed)
						: "compressor setup failed");
	/* IMA xattrs: a ustar archive becomes pax, which writes plain
	 * ustar headers where no xattr is added; older tars cannot. */
	if (oo->xattrs && p->kind == AR_TAR &&
	    p->wformat == ARCHIVE_FORMAT_TAR_USTAR)
		p->wformat = ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE;
	if (oo->xattrs && p->kind == AR_TAR &&
	    p->wformat != ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE)
		return fw_error_set(err, FW_EINPUT, img->path,
				    "a %s tar cannot carry xattrs, so no IMA "
				    "signatures: sign it without --ima "
				    "(appended signatures), or make it a pax "
				    "tar", p->wformat == ARCHIVE_FORMAT_TAR_GNUTAR
					   ? "GNU" : "v7");
	r = archive_write_set_format(o->w, p->wformat);
	if (r == ARCHIVE_OK && p->wformat == ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE)
		r = archive_write_set_format_option(o->w, "pax", "xattrheader",
						    p->xattr_both ? "ALL" : "SCHILY");
	if (r == ARCHIVE_OK && p->comp.codec == C_OTHER)
		r = archive_write_add_filter(o->w, p->comp.filter);
	if (r == ARCHIVE_OK) {
		/* Blocking applies after libarchive's own filters. */
		int b = p->comp.codec == C_OTHER ? 0 : p->block;

		archive_write_set_bytes_per_block(o->w, b);
		archive_write_set_bytes_in_last_block(o->w, b ? b : 1);
		r = archive_write_open2(o->w, o, NULL, wr_cb, NULL, NULL);
	}
	if (r != ARCHIVE_OK)
		return fw_error_set(err, FW_EIO, img->path, "cannot write %s: %s",
				    img->fmt->name, archive_error_string(o->w));
	return FW_OK;
}

static int write_data(struct ar_out *o, const char *name, const uint8_t *data,
		      size_t len, struct fw_error *err)
{
	char v[256];
	la_ssize_t w;

	if (!len)
		return FW_OK;
	w = archive_write_data(o->w, data, len);
	if (w < 0 || (size_t)w != len)
		return fw_error_set(err, o->s.failed ? FW_EIO : FW_EINPUT,
				    o->img->path, "%s: cannot write data: %s",
				    vis(name, v, sizeof(v)),
				    archive_error_string(o->w));
	return FW_OK;
}

/* len bytes of the data of entry d, at its start, a CHUNK at a time. */
static int write_old(struct ar_out *o, const char *name,
		     const struct aent *d, size_t len, struct fw_error *err)
{
	uint64_t at = d->off;
	int rc = FW_OK;

	while (len && rc == FW_OK) {
		size_t k = len < CHUNK ? len : CHUNK;

		if (pread_all(afd(o->p, d), o->cbuf, k, at) < 0)
			return fw_error_set(err, FW_EIO, o->img->path,
					    "cannot read: %s", strerror(errno));
		rc = write_data(o, name, o->cbuf, k, err);
		at += k;
		len -= k;
	}
	return rc;
}

/* Sets xattr x on header ae (replacing one of that name, else last),
 * the others keeping their order.  0 or -1 (no memory). */
static int set_xattr(struct archive_entry *ae, const struct fw_xattr *x)
{
	struct fw_xattr *v = NULL;
	const char *name;
	const void *val;
	size_t len, n = 0, cnt, i, k;
	int rc = 0;

	cnt = (size_t)archive_entry_xattr_reset(ae);
	while (n < cnt && rc == 0 &&
	       archive_entry_xattr_next(ae, &name, &val, &len) == ARCHIVE_OK) {
		int same = !strcmp(name, x->name);

		if (fw_xattrs_add(&v, &n, name, same ? x->value : val,
				  same ? x->len : len) < 0)
			rc = -1;
	}
	for (k = 0; k < n && strcmp(v[k].name, x->name); k++)
		;
	if (rc == 0 && k == n &&
	    fw_xattrs_add(&v, &n, x->name, x->value, x->len) < 0)
		rc = -1;
	if (rc == 0) {
		pthread_once(&xattr_order_once, xattr_order_probe);
		archive_entry_xattr_clear(ae);
		/* so that reading them back gives this order again */
		for (k = 0; k < n; k++) {
			i = xattr_lifo ? n - 1 - k : k;
			archive_entry_xattr_add_entry(ae, v[i].name,
						      v[i].value, v[i].len);
		}
	}
	fw_xattrs_free(v, n);
	return rc;
}

/*
 * Entry i's header, read again: a copy of it as parsing made it (its
 * xattrs once each), with the xattrs out_xattr set.  NULL: error set.
 */
static struct archive_entry *header_again(struct ar_out *o, size_t i,
					  struct fw_error *err)
{
	struct aside *x = o->p->a[i].x;
	struct archive_entry *fresh, *ae;
	int r = archive_read_next_header(o->r, &fresh);

	if (r < ARCHIVE_WARN || r == ARCHIVE_EOF) {
		fw_error_set(err, FW_EIO, o->img->path, "reading entry %zu "
			     "again: %s", i, r == ARCHIVE_EOF ? "gone" :
			     archive_error_string(o->r) ?
			     archive_error_string(o->r) : "read error");
		return NULL;
	}
	/* a clone, as parsing kept it: libarchive's clone reverses the
	 * xattrs, and the output has always had them in that order */
	ae = archive_entry_clone(fresh);
	if (!ae || dedup_xattrs(ae) < 0)
		goto oom;
	for (size_t k = 0; x && k < x->nsetx; k++)
		if (set_xattr(ae, &x->setx[k]) < 0)
			goto oom;
	return ae;
oom:
	archive_entry_free(ae);
	fw_error_set(err, FW_EIO, NULL, "out of memory");
	return NULL;
}

static int write_one(struct ar_out *o, size_t i, struct fw_error *err)
{
	struct ar_priv *p = o->p;
	struct aent *e = &p->a[i];
	struct aside *gx = p->a[e->group].x;
	const struct aent *data = e;
	const uint8_t *tail = NULL;
	size_t len = e->len, tail_len = 0;
	struct archive_entry *ae = header_again(o, i, err);
	const char *name;
	char v[256];
	int r;

	if (!ae)
		return err->code;
	name = archive_entry_pathname(ae);
	if (e->fw != AR_NONE && gx && gx->has_nd && e->len > 0) {
		/* This name carried the inode's data: it carries the new. */
		data = &p->a[p->a[e->group].holder];
		len = gx->nd_keep;
		tail = gx->nd;
		tail_len = gx->nd_len;
		archive_entry_sparse_clear(ae);
		archive_entry_set_size(ae, (la_int64_t)(len + tail_len));
	}
	r = archive_write_header(o->w, ae);
	if (r < ARCHIVE_WARN) {
		r = fw_error_set(err, o->s.failed ? FW_EIO : FW_EINPUT,
				 o->img->path, "%s: cannot write entry: %s",
				 vis(name, v, sizeof(v)),
				 archive_error_string(o->w));
		goto out;
	}
	/* Writers drop the bytes of entries their format gives none. */
	if ((int64_t)(len + tail_len) > archive_entry_size(ae)) {
		size_t room = archive_entry_size(ae) > 0 ?
			      (size_t)archive_entry_size(ae) : 0;

		len = len < room ? len : room;
		tail_len = room - len < tail_len ? room - len : tail_len;
	}
	r = write_old(o, name, data, len, err);
	if (r == FW_OK)
		r = write_data(o, name, tail, tail_len, err);
	if (r)
		goto out;
	if (archive_write_finish_entry(o->w) < ARCHIVE_WARN) {
		r = fw_error_set(err, FW_EIO, o->img->path, "%s: %s",
				 vis(name, v, sizeof(v)),
				 archive_error_string(o->w));
		goto out;
	}
	/* No later name needs the new data: do not hold it to the end. */
	if (p->a[e->group].last == i && gx && gx->has_nd) {
		free(gx->nd);
		gx->nd = NULL;
		gx->has_nd = 0;
	}
	if (e->x) {
		fw_xattrs_free(e->x->setx, e->x->nsetx);
		e->x->setx = NULL;
		e->x->nsetx = 0;
	}
out:
	archive_entry_free(ae);
	return r;
}

/* Writes aents up to and including `upto` (copied-through ones between). */
static int write_upto(struct ar_out *o, size_t upto, struct fw_error *err)
{
	int rc = FW_OK;

	while (o->next <= upto && o->next < o->p->n && rc == FW_OK)
		rc = write_one(o, o->next++, err);
	return rc;
}

/* Entry idx; changed (tail not NULL): the first keep bytes of its data,
 * then tail. */
static int ar_out_put_u8(void *ctx, size_t idx, uint64_t keep,
			 const uint8_t *tail, size_t len, struct fw_error *err)
{
	struct ar_out *o = ctx;
	struct ar_priv *p = o->p;
	size_t i;

	if (idx >= o->img->n)
		return fw_error_set(err, FW_EIO, NULL, "bad entry index");
	i = p->fw2a[idx];
	if (i == AR_NONE)
		return FW_OK;	/* the root made up for the engine */
	if (tail) {
		size_t g = p->a[i].group;

		struct aside *x;

		if (keep > p->a[p->a[g].holder].len)
			return fw_error_set(err, FW_EIO, NULL, "bad data length");
		/* Kept until the name that holds the data comes (newc: the
		 * last); the engine frees its buffer after this call. */
		if (!p->a[g].x && !(p->a[g].x = calloc(1, sizeof(*x))))
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		x = p->a[g].x;
		free(x->nd);
		x->nd = malloc(len ? len : 1);
		if (!x->nd)
			return fw_error_set(err, FW_EIO, NULL, "out of memory");
		memcpy(x->nd, tail, len);
		x->nd_len = len;
		x->nd_keep = (size_t)keep;
		x->has_nd = 1;
	}
	return write_upto(o, i, err);
}

/*
 * Sets an xattr (IMA) on an entry's header: written as SCHILY.xattr.NAME
 * (and LIBARCHIVE.xattr when the input had both).  The entry's other
 * xattrs keep their order; a new name comes last.
 */
static int ar_out_xattr(void *ctx, size_t idx, const struct fw_xattr *x,
			struct fw_error *err)
{
	struct ar_out *o = ctx;
	struct aent *e;

	if (idx >= o->img->n)
		return fw_error_set(err, FW_EIO, NULL, "bad entry index");
	if (o->p->fw2a[idx] == AR_NONE)
		return FW_OK;
	/* set on the header when it is written (read again then) */
	e = &o->p->a[o->p->fw2a[idx]];
	if ((!e->x && !(e->x = calloc(1, sizeof(*e->x)))) ||
	    fw_xattrs_add(&e->x->setx, &e->x->nsetx, x->name, x->value,
			  x->len) < 0)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	return FW_OK;
}

static int ar_out_commit_u8(void *ctx, struct fw_error *err)
{
	struct ar_out *o = ctx;
	struct ar_priv *p = o->p;
	int rc;

	rc = write_upto(o, p->n, err);
	if (rc)
		return rc;
	if (archive_write_close(o->w) != ARCHIVE_OK)
		return fw_error_set(err, FW_EIO, o->img->path, "cannot write: %s",
				    archive_error_string(o->w));
	/* What followed the archive in the input follows it here. */
	errno = 0;
	for (uint64_t at = p->tail; at < p->raw_len;) {
		size_t k = p->raw_len - at < CHUNK ? (size_t)(p->raw_len - at)
						   : CHUNK;

		if (pread_all(p->fd, o->cbuf, k, at) < 0)
			return fw_error_set(err, FW_EIO, o->img->path,
					    "cannot read: %s", strerror(errno));
		if (sink_write(&o->s, o->cbuf, k) < 0)
			return fw_error_set(err, FW_EIO, o->of.final,
					    "cannot write: %s", o->s.failed ?
					    strerror(o->s.failed) :
					    "compression failed");
		at += k;
	}
	if (sink_close(&o->s) < 0)
		return fw_error_set(err, FW_EIO, o->of.final, "cannot write: %s",
				    o->s.failed ? strerror(o->s.failed)
						: "compression failed");
	/* The output file gets the input's permissions, not mkstemp's. */
	if (fchmod(o->of.fd, p->mode & 0777) < 0)
		return fw_error_set(err, FW_EIO, o->of.final, "chmod: %s",
				    strerror(errno));
	return fw_outfile_commit(&o->of, o->max_size, err);
}

static void ar_out_abort_u8(void *ctx)
{
	struct ar_out *o = ctx;

	if (!o)
		return;
	if (o->w)
		archive_write_free(o->w);
	if (o->r)
		archive_read_free(o->r);
	free(o->rd.buf);
	fw_outfile_abort(&o->of);
	free(o->cbuf);
	if (o->sink_open)
		sink_free(&o->s);
	free(o);
}

static int ar_open(struct fw_image *img, struct fw_error *err)
{
	locale_t old = enter_utf8();
	int rc = ar_open_u8(img, err);

	leave_utf8(old);
	return rc;
}

static int ar_out_begin(struct fw_image *img, const struct fw_out_opts *oo,
			void **ctx, struct fw_error *err)
{
	locale_t old = enter_utf8();
	int rc = ar_out_begin_u8(img, oo, ctx, err);

	leave_utf8(old);
	return rc;
}

static int ar_out_put_append(void *ctx, size_t idx, uint64_t keep,
			     const uint8_t *tail, size_t len,
			     struct fw_error *err)
{
	locale_t old = enter_utf8();
	int rc = ar_out_put_u8(ctx, idx, keep, tail, len, err);

	leave_utf8(old);
	return rc;
}

static int ar_out_put(void *ctx, size_t idx, const uint8_t *data, size_t len,
		      struct fw_error *err)
{
	return ar_out_put_append(ctx, idx, 0, data, len, err);
}

static int ar_out_commit(void *ctx, struct fw_error *err)
{
	locale_t old = enter_utf8();
	int rc = ar_out_commit_u8(ctx, err);

	leave_utf8(old);
	return rc;
}

static void ar_out_abort(void *ctx)
{
	locale_t old = enter_utf8();

	ar_out_abort_u8(ctx);
	leave_utf8(old);
}

const struct fw_format fw_format_tar = {
	.name = "tar",
	.flags = FW_FMT_ORDERED,
	.bid = tar_bid,
	.open = ar_open,
	.read = ar_read,
	.peek = ar_peek,
	.map = ar_map,
	.xattrs = ar_xattrs,
	.out_begin = ar_out_begin,
	.out_put = ar_out_put,
	.out_put_append = ar_out_put_append,
	.out_xattr = ar_out_xattr,
	.out_commit = ar_out_commit,
	.out_abort = ar_out_abort,
	.close = ar_close,
};

/* cpio has no xattrs: no out_xattr, and the engine says so. */
const struct fw_format fw_format_cpio = {
	.name = "cpio",
	.flags = FW_FMT_ORDERED,
	.bid = cpio_bid,
	.open = ar_open,
	.read = ar_read,
	.peek = ar_peek,
	.map = ar_map,
	.xattrs = ar_xattrs,
	.out_begin = ar_out_begin,
	.out_put = ar_out_put,
	.out_put_append = ar_out_put_append,
	.out_commit = ar_out_commit,
	.out_abort = ar_out_abort,
	.close = ar_close,
};

const struct fw_format *const fw_plugin_formats[] = {
	&fw_format_tar, &fw_format_cpio, NULL
};
