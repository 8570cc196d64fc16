// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Partitioned disk images (x86 and Raspberry Pi sdcard images): an MBR
 * (four primary entries at 446, an extended partition's logical ones in
 * a chain of EBRs) or a GPT (a protective MBR, the header at LBA 1 with
 * its entry array, a backup header at the last LBA; 512-byte sectors, or
 * 4096 when the header lies at 4096).  The parts are the partitions, "p1"
 * and up as Linux numbers them (logical ones from p5).
 *
 * Partitions never move: the bootloader, firmware and the tables' own
 * checksums point at them, and a GPT is rewritten only if it must be,
 * which it never must here.  A partition's new bytes go at its start and
 * must fit in it; the rest of it keeps the bytes that were there (a
 * filesystem that shrank leaves its old tail, which nothing points at,
 * and whatever lay after the filesystem in the partition, as OpenWrt's
 * overlay after its squashfs, is the device's, not ours to erase).  Every
 * byte outside the partitions (tables, EBRs, the gap where GRUB keeps
 * core.img) is copied as it is, so the tables stay byte-identical.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "format.h"

#define MBR_SIG_AT 510
#define MBR_ENT_AT 446
#define MAX_PARTS 128		/* GPT's usual array; EBR chains too */
#define MAX_GPT_ENTRIES 1024
#define MAX_GPT_TABLE (1u << 20)
#define GPT_HDR_MIN 92

struct dpart {
	unsigned num;		/* Linux's partition number */
	uint64_t lba, sectors;
	char label[40];		/* GPT name, ASCII */
	uint8_t type;		/* MBR type (0 on GPT) */
};

struct disk {
	int gpt;
	unsigned ss;		/* sector size */
	uint64_t lbas;		/* whole sectors in the image */
	int n;
	struct dpart v[MAX_PARTS];
};

static int is_extended(uint8_t type)
{
	return type == 0x05 || type == 0x0f || type == 0x85;
}

/* A FAT (or NTFS/exFAT) boot sector ends in 55 aa too: it has a BIOS
 * parameter block where an MBR has boot code. */
static int fat_vbr(const uint8_t *p)
{
	unsigned bps = fw_le16(p + 11), spc = p[13];

	if (!memcmp(p + 3, "NTFS    ", 8) || !memcmp(p + 3, "EXFAT   ", 8))
		return 1;
	if (p[0] != 0xeb && p[0] != 0xe9)
		return 0;
	if (bps < 512 || bps > 4096 || (bps & (bps - 1)))
		return 0;
	if (!spc || (spc & (spc - 1)) || !fw_le16(p + 14) || !p[16] ||
	    p[16] > 2)
		return 0;
	return !memcmp(p + 54, "FAT", 3) || !memcmp(p + 82, "FAT", 3) ||
	       p[21] >= 0xf0;	/* media descriptor */
}

int fw_disk_probe(const uint8_t *p, size_t len)
{
	int used = 0;

	if (len < 512 || p[MBR_SIG_AT] != 0x55 || p[MBR_SIG_AT + 1] != 0xaa)
		return 0;
	if (!memcmp(p, "hsqs", 4) || fat_vbr(p))
		return 0;
	for (int i = 0; i < 4; i++) {
		const uint8_t *e = p + MBR_ENT_AT + 16 * i;

		if (e[0] != 0 && e[0] != 0x80)
			return 0;
		if (!e[4])
			continue;
		if (!fw_le32(e + 12))
			return 0;
		used++;
	}
	return used > 0;
}

/*
 * stack.c takes a filesystem by its magic only while no layer bids 100 or
 * more, so this bids 150: a disk's first sectors hold boot code and GRUB's
 * core.img, where an ext superblock's magic (at 1080) may lie by chance.
 * What else ends its first sector in 55 aa is told apart by fw_disk_probe:
 * a bare ext2/3/4 does not (its first 1 KiB is zeros, or an extlinux boot
 * sector whose "entries" are code), a FAT, NTFS or exFAT boot sector has a
 * BIOS parameter block, a squashfs starts with its magic; and an MBR's
 * four entries must each be unused or boot flag 0 or 0x80 with a size.
 */
static int disk_bid(const uint8_t *p, size_t len, const struct fw_node *parent)
{
	(void)parent;
	return fw_disk_probe(p, len) ? 150 : 0;
}

static struct dpart *add(struct disk *d, char *why, size_t why_len)
{
	if (d->n == MAX_PARTS) {
		snprintf(why, why_len, "more than %d partitions", MAX_PARTS);
		return NULL;
	}
	memset(&d->v[d->n], 0, sizeof(d->v[d->n]));
	return &d->v[d->n++];
}

/* A partition lies on the disk, past the table at LBA 0. */
static int in_disk(const struct disk *d, const struct dpart *e, char *why,
		   size_t why_len)
{
	if (e->lba == 0) {
		snprintf(why, why_len, "p%u starts at LBA 0, over the "
			 "partition table", e->num);
		return -1;
	}
	if (e->lba > d->lbas || e->sectors > d->lbas - e->lba) {
		uint64_t end = e->lba + e->sectors;

		snprintf(why, why_len, "p%u (LBA %llu-%llu) lies past the end "
			 "of the disk (%llu sectors of %u bytes): %llu bytes "
			 "missing", e->num, (unsigned long long)e->lba,
			 (unsigned long long)(end - 1),
			 (unsigned long long)d->lbas, d->ss,
			 (unsigned long long)((end - d->lbas) * d->ss));
		return -1;
	}
	return 0;
}

/* The logical partitions: a chain of EBRs, each with the partition
 * (relative to the EBR) and the link to the next (relative to the
 * extended partition's start). */
static int mbr_ebr(const uint8_t *p, struct disk *d, uint64_t ext,
		   uint64_t ext_len, char *why, size_t why_len)
{
	uint64_t seen[MAX_PARTS], cur = ext;
	unsigned num = 5;

	for (int k = 0;; k++) {
		const uint8_t *b, *e0, *e1;
		struct dpart *e;

		for (int j = 0; j < k; j++)
			if (seen[j] == cur) {
				snprintf(why, why_len, "the EBR chain loops "
					 "back to LBA %llu",
					 (unsigned long long)cur);
				return -1;
			}
		if (k == MAX_PARTS) {
			snprintf(why, why_len, "more than %d EBRs", MAX_PARTS);
			return -1;
		}
		seen[k] = cur;
		if (cur >= d->lbas) {
			snprintf(why, why_len, "an EBR at LBA %llu lies past "
				 "the end of the disk",
				 (unsigned long long)cur);
			return -1;
		}
		b = p + cur * 512;
		if (b[MBR_SIG_AT] != 0x55 || b[MBR_SIG_AT + 1] != 0xaa) {
			snprintf(why, why_len, "the EBR at LBA %llu has no 55 "
				 "aa signature", (unsigned long long)cur);
			return -1;
		}
		e0 = b + MBR_ENT_AT;
		e1 = e0 + 16;
		if (e0[4] && fw_le32(e0 + 12)) {
			e = add(d, why, why_len);
			if (!e)
				return -1;
			e->num = num++;
			e->type = e0[4];
			e->lba = cur + fw_le32(e0 + 8);
			e->sectors = fw_le32(e0 + 12);
			if (fw_le32(e0 + 8) == 0 || e->lba < ext ||
			    e->lba + e->sectors > ext + ext_len) {
				snprintf(why, why_len, "logical p%u (LBA "
					 "%llu-%llu) is not inside the "
					 "extended partition after its EBR",
					 e->num, (unsigned long long)e->lba,
					 (unsigned long long)(e->lba +
							      e->sectors - 1));
				return -1;
			}
		}
		if (!e1[4] || !fw_le32(e1 + 12))
			return 0;
		cur = ext + fw_le32(e1 + 8);
		if (cur >= ext + ext_len) {
			snprintf(why, why_len, "an EBR link (LBA %llu) points "
				 "out of the extended partition",
				 (unsigned long long)cur);
			return -1;
		}
	}
}

static int mbr_parse(const uint8_t *p, struct disk *d, char *why,
		     size_t why_len)
{
	struct dpart *n;
	int ext_seen = 0;

	for (int i = 0; i < 4; i++) {
		const uint8_t *e = p + MBR_ENT_AT + 16 * i;
		struct dpart pe = { .num = (unsigned)i + 1, .type = e[4],
				    .lba = fw_le32(e + 8),
				    .sectors = fw_le32(e + 12) };

		if (!pe.type || !pe.sectors)
			continue;
		if (in_disk(d, &pe, why, why_len))
			return -1;
		if (is_extended(pe.type)) {
			if (ext_seen++) {
				snprintf(why, why_len, "two extended "
					 "partitions");
				return -1;
			}
			if (mbr_ebr(p, d, pe.lba, pe.sectors, why, why_len))
				return -1;
			continue;
		}
		n = add(d, why, why_len);
		if (!n)
			return -1;
		*n = pe;
	}
	return 0;
}

/* A GPT header at LBA lba: signature, size, CRC, where it says it is,
 * its entry array on the disk with the CRC it gives. */
static int gpt_header(const uint8_t *p, const struct disk *d, uint64_t lba,
		      const char *which, char *why, size_t why_len)
{
	const uint8_t *h = p + lba * d->ss;
	uint8_t c[512];
	uint32_t hs, n, es;
	uint64_t at;

	if (memcmp(h, "EFI PART", 8)) {
		snprintf(why, why_len, "no %s GPT header at LBA %llu", which,
			 (unsigned long long)lba);
		return -1;
	}
	hs = fw_le32(h + 12);
	if (hs < GPT_HDR_MIN || hs > sizeof(c) || hs > d->ss) {
		snprintf(why, why_len, "%s GPT header: size %u", which, hs);
		return -1;
	}
	memcpy(c, h, hs);
	memset(c + 16, 0, 4);
	if (fw_crc32(0, c, hs) != fw_le32(h + 16)) {
		snprintf(why, why_len, "%s GPT header: CRC mismatch", which);
		return -1;
	}
	if (fw_le64(h + 24) != lba) {
		snprintf(why, why_len, "%s GPT header at LBA %llu says it is "
			 "at LBA %llu", which, (unsigned long long)lba,
			 (unsigned long long)fw_le64(h + 24));
		return -1;
	}
	n = fw_le32(h + 80);
	es = fw_le32(h + 84);
	if (es < 128 || es % 8 || n > MAX_GPT_ENTRIES ||
	    (uint64_t)n * es > MAX_GPT_TABLE) {
		snprintf(why, why_len, "%s GPT header: %u entries of %u bytes",
			 which, n, es);
		return -1;
	}
	at = fw_le64(h + 72);
	if (at >= d->lbas || (uint64_t)n * es > (d->lbas - at) * d->ss) {
		snprintf(why, why_len, "%s GPT entries (LBA %llu) lie past the "
			 "end of the disk", which, (unsigned long long)at);
		return -1;
	}
	if (fw_crc32(0, p + at * d->ss, (uint64_t)n * es) !=
	    fw_le32(h + 88)) {
		snprintf(why, why_len, "%s GPT entries: CRC mismatch", which);
		return -1;
	}
	return 0;
}

static void gpt_name(const uint8_t *u, char *out, size_t len)
{
	size_t k = 0;

	for (int i = 0; i < 36 && k + 1 < len; i++) {
		uint16_t ch = fw_le16(u + 2 * i);

		if (!ch)
			break;
		out[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	out[k] = 0;
}

static int gpt_parse(const uint8_t *p, size_t len, struct disk *d, char *why,
		     size_t why_len)
{
	const uint8_t *h, *t;
	uint64_t alt, first, last, tab, pt, bt;
	uint32_t n, es;

	d->gpt = 1;
	d->ss = 512;
	if (len >= 1024 && memcmp(p + 512, "EFI PART", 8) && len >= 8192 &&
	    !memcmp(p + 4096, "EFI PART", 8))
		d->ss = 4096;
	d->lbas = len / d->ss;
	if (d->lbas < 3) {
		snprintf(why, why_len, "a protective MBR, but %zu bytes is too "
			 "small for a GPT", len);
		return -1;
	}
	if (gpt_header(p, d, 1, "primary", why, why_len))
		return -1;
	h = p + d->ss;
	alt = fw_le64(h + 32);
	if (alt != d->lbas - 1) {
		snprintf(why, why_len, "the backup GPT header is at LBA %llu, "
			 "not at the disk's last (%llu)",
			 (unsigned long long)alt,
			 (unsigned long long)(d->lbas - 1));
		return -1;
	}
	if (gpt_header(p, d, alt, "backup", why, why_len))
		return -1;
	first = fw_le64(h + 40);
	last = fw_le64(h + 48);
	if (first > last || last >= d->lbas) {
		snprintf(why, why_len, "usable LBAs %llu-%llu: not on the "
			 "disk (%llu sectors)", (unsigned long long)first,
			 (unsigned long long)last,
			 (unsigned long long)d->lbas);
		return -1;
	}
	n = fw_le32(h + 80);
	es = fw_le32(h + 84);
	/* the entry arrays (gpt_header saw them on the disk) and both
	 * headers lie outside the usable LBAs */
	tab = ((uint64_t)n * es + d->ss - 1) / d->ss;
	pt = fw_le64(h + 72);
	bt = fw_le64(p + alt * d->ss + 72);
	if (first < 2 || last >= alt ||
	    (tab && pt <= last && pt + tab > first) ||
	    (tab && bt <= last && bt + tab > first)) {
		snprintf(why, why_len, "usable LBAs %llu-%llu overlap the "
			 "GPT's own headers or entries",
			 (unsigned long long)first, (unsigned long long)last);
		return -1;
	}
	t = p + pt * d->ss;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = t + (uint64_t)i * es;
		uint64_t a = fw_le64(e + 32), b = fw_le64(e + 40);
		struct dpart *pe;

		if (fw_all_zero(e, 16))
			continue;	/* unused */
		if (b < a || a < first || b > last) {
			snprintf(why, why_len, "p%u (LBA %llu-%llu) lies "
				 "outside the usable LBAs %llu-%llu%s", i + 1,
				 (unsigned long long)a, (unsigned long long)b,
				 (unsigned long long)first,
				 (unsigned long long)last,
				 b >= d->lbas ? ", past the end of the disk" :
				 "");
			return -1;
		}
		pe = add(d, why, why_len);
		if (!pe)
			return -1;
		pe->num = i + 1;
		pe->lba = a;
		pe->sectors = b - a + 1;
		gpt_name(e + 56, pe->label, sizeof(pe->label));
	}
	return 0;
}

static int cmp_lba(const void *a, const void *b)
{
	const struct dpart *x = a, *y = b;

	return x->lba < y->lba ? -1 : x->lba > y->lba;
}

static int parse(const uint8_t *p, size_t len, struct disk *d, char *why,
		 size_t why_len)
{
	int prot = 0;

	memset(d, 0, sizeof(*d));
	for (int i = 0; i < 4; i++)
		prot |= p[MBR_ENT_AT + 16 * i + 4] == 0xee;
	if (prot) {
		if (gpt_parse(p, len, d, why, why_len))
			return -1;
	} else {
		d->ss = 512;
		d->lbas = len / 512;
		if (mbr_parse(p, d, why, why_len))
			return -1;
	}
	qsort(d->v, (size_t)d->n, sizeof(d->v[0]), cmp_lba);
	for (int i = 0; i + 1 < d->n; i++) {
		const struct dpart *a = &d->v[i], *b = &d->v[i + 1];

		if (a->lba + a->sectors > b->lba) {
			snprintf(why, why_len, "partitions p%u (LBA %llu-%llu) "
				 "and p%u (LBA %llu-%llu) overlap", a->num,
				 (unsigned long long)a->lba,
				 (unsigned long long)(a->lba + a->sectors - 1),
				 b->num, (unsigned long long)b->lba,
				 (unsigned long long)(b->lba + b->sectors - 1));
			return -1;
		}
	}
	if (!d->n) {
		snprintf(why, why_len, "no partitions");
		return -1;
	}
	return 0;
}

static int disk_open(struct fw_node *n, struct fw_error *err)
{
	struct disk *d = calloc(1, sizeof(*d));
	char why[200];
	size_t at;

	if (!d)
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	n->priv = d;
	if (parse(n->p, n->len, d, why, sizeof(why)))
		return fw_node_error(n, err, FW_EINPUT, "bad %s partition "
				     "table: %s", d->gpt ? "GPT" : "MBR", why);
	at = (size_t)snprintf(n->desc, sizeof(n->desc), "%s, %u-byte sectors, "
			      "%d partition%s", d->gpt ? "GPT" : "MBR", d->ss,
			      d->n, d->n == 1 ? "" : "s");
	for (int i = 0; i < d->n; i++) {
		const struct dpart *e = &d->v[i];
		char name[16];
		struct fw_node *c;

		snprintf(name, sizeof(name), "p%u", e->num);
		c = fw_node_part(n, name, e->lba * d->ss, e->sectors * d->ss,
				 err);
		if (!c)
			return err->code;
		if (d->gpt)
			snprintf(c->desc, sizeof(c->desc), "name '%s'",
				 e->label);
		else
			snprintf(c->desc, sizeof(c->desc), "type 0x%02x",
				 e->type);
		if (at < sizeof(n->desc))
			at += (size_t)snprintf(n->desc + at,
					       sizeof(n->desc) - at, "%s%s %s",
					       i ? ", " : ": ", name, c->desc);
	}
	return FW_OK;
}

static int disk_rebuild(struct fw_node *n, struct fw_error *err)
{
	struct fw_out *o = &n->out;
	uint64_t pos = 0;

	/* the parts were added in LBA order */
	for (size_t i = 0; i < n->n_part; i++) {
		const struct fw_node *c = n->part[i];
		const struct fw_out *b = &c->out;

		if (b->len > c->len)
			return fw_node_error(c, err, FW_EINPUT, "the new "
					     "content (%llu bytes) grew past "
					     "the partition's end (%llu "
					     "bytes): %llu bytes missing",
					     (unsigned long long)b->len,
					     (unsigned long long)c->len,
					     (unsigned long long)(b->len -
								  c->len));
		if (fw_out_add(o, n->p + pos, c->off - pos) ||
		    fw_out_cat(o, b) ||
		    fw_out_add(o, c->p + b->len, c->len - b->len))
			goto oom;
		pos = c->off + c->len;
	}
	if (fw_out_add(o, n->p + pos, n->len - pos))
		goto oom;
	return FW_OK;
oom:
	return fw_error_set(err, FW_EIO, NULL, "out of memory");
}

const struct fw_layer fw_layer_disk = {
	.name = "disk",
	.kind = FW_LK_CONTAINER,
	.bid = disk_bid,
	.open = disk_open,
	.rebuild = disk_rebuild,
};
