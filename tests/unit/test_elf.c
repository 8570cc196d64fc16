// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Classification of hand-made ELF headers of every class and byte order,
 * and of damaged ones.  Real binaries of five architectures are checked
 * by tests/cli/classify.sh against readelf.
 */
#include <elf.h>
#include <string.h>

#include "fwsign/fwsign.h"
#include "t.h"

static void put16(uint8_t *p, int be, unsigned v)
{
	p[be ? 1 : 0] = (uint8_t)v;
	p[be ? 0 : 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, int be, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[be ? 3 - i : i] = (uint8_t)(v >> (8 * i));
}

/* A header-only ELF: no sections, no segments. */
static size_t hdr(uint8_t *b, int c64, int be, unsigned type, unsigned mach)
{
	size_t ehsize = c64 ? 64 : 52;

	memset(b, 0, 128);
	memcpy(b, ELFMAG, SELFMAG);
	b[EI_CLASS] = c64 ? ELFCLASS64 : ELFCLASS32;
	b[EI_DATA] = be ? ELFDATA2MSB : ELFDATA2LSB;
	b[EI_VERSION] = EV_CURRENT;
	put16(b + 16, be, type);
	put16(b + 18, be, mach);
	put32(b + 20, be, EV_CURRENT);
	put16(b + (c64 ? 52 : 40), be, (unsigned)ehsize);
	return ehsize;
}

int main(void)
{
	uint8_t b[256];
	struct fw_elf_info ei;
	size_t n;

	fw_elf_classify((const uint8_t *)"#!/bin/sh\n", 10, &ei);
	CHECK(ei.kind == FW_KIND_NOT_ELF, "script");
	fw_elf_classify((const uint8_t *)"\x7f" "EL", 3, &ei);
	CHECK(ei.kind == FW_KIND_NOT_ELF, "short");

	for (int c64 = 0; c64 <= 1; c64++) {
		for (int be = 0; be <= 1; be++) {
			n = hdr(b, c64, be, ET_EXEC, EM_MIPS);
			fw_elf_classify(b, n, &ei);
			CHECK(ei.kind == FW_KIND_EXEC, "exec %d %d: %s", c64, be,
			      ei.why);
			CHECK(ei.elfclass == (c64 ? 64 : 32), "class");
			CHECK(ei.big_endian == be, "endian");
			CHECK(ei.machine == EM_MIPS, "machine %u", ei.machine);

			n = hdr(b, c64, be, ET_REL, EM_S390);
			fw_elf_classify(b, n, &ei);
			CHECK(ei.kind == FW_KIND_OTHER, "object %d %d", c64, be);

			n = hdr(b, c64, be, ET_CORE, EM_PPC64);
			fw_elf_classify(b, n, &ei);
			CHECK(ei.kind == FW_KIND_OTHER, "core");

			n = hdr(b, c64, be, ET_DYN, EM_AARCH64);
			fw_elf_classify(b, n, &ei);
			CHECK(ei.kind == FW_KIND_SHLIB, "dyn without entry");
		}
	}
	/* Program headers that point past the end of the file. */
	n = hdr(b, 1, 0, ET_EXEC, EM_X86_64);
	b[32] = 64;		/* e_phoff */
	b[54] = 56;		/* e_phentsize */
	b[56] = 1;		/* e_phnum */
	memset(b + 64, 0, 56);
	b[64] = PT_LOAD;
	b[72 + 3] = 0x10;	/* p_offset far away */
	b[96] = 0x10;		/* p_filesz */
	fw_elf_classify(b, 120, &ei);
	CHECK(ei.kind == FW_KIND_MALFORMED, "segment past end: kind %d", ei.kind);
	CHECK(ei.why[0] != '\0', "why");

	/* Section headers promised beyond the end. */
	n = hdr(b, 1, 0, ET_DYN, EM_X86_64);
	b[40] = 0xf0;		/* e_shoff */
	b[58] = 64;		/* e_shentsize */
	b[60] = 20;		/* e_shnum */
	fw_elf_classify(b, n, &ei);
	CHECK(ei.kind == FW_KIND_MALFORMED, "sections past end: kind %d", ei.kind);

	/* A bad class byte. */
	n = hdr(b, 1, 0, ET_EXEC, EM_X86_64);
	b[EI_CLASS] = 7;
	fw_elf_classify(b, n, &ei);
	CHECK(ei.kind == FW_KIND_MALFORMED, "bad class");

	CHECK(!strcmp(fw_machine_name(EM_S390), "s390"), "name");
	CHECK(fw_kind_signable(FW_KIND_MODULE, 0) && !fw_kind_signable(FW_KIND_OTHER, 0) &&
	      fw_kind_signable(FW_KIND_OTHER, 1) && !fw_kind_signable(FW_KIND_MALFORMED, 1),
	      "signable");
	return t_done();
}
