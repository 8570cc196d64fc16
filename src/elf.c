// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * elf_classify: what kind of ELF a buffer holds, decided by libelf for any
 * class and byte order, whatever the host is.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <gelf.h>
#include <libelf.h>

#include "fwsign/fwsign.h"

static pthread_once_t elf_once = PTHREAD_ONCE_INIT;

static void elf_init(void)
{
	elf_version(EV_CURRENT);
}

const char *fw_kind_name(enum fw_kind kind)
{
	static const char *const names[] = {
		[FW_KIND_NOT_ELF] = "not-elf",
		[FW_KIND_EXEC] = "executable",
		[FW_KIND_SHLIB] = "shared-library",
		[FW_KIND_MODULE] = "kernel-module",
		[FW_KIND_OTHER] = "other-elf",
		[FW_KIND_MALFORMED] = "malformed-elf",
	};
	return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind]
								 : "?";
}

const char *fw_machine_name(unsigned m)
{
	switch (m) {
	case EM_386: return "i386";
	case EM_X86_64: return "x86_64";
	case EM_ARM: return "arm";
	case EM_AARCH64: return "aarch64";
	case EM_MIPS: return "mips";
	case EM_PPC: return "ppc";
	case EM_PPC64: return "ppc64";
	case EM_S390: return "s390";
	case EM_RISCV: return "riscv";
	case EM_SPARC: return "sparc";
	case EM_SPARCV9: return "sparc64";
	case EM_SH: return "sh";
	case EM_68K: return "m68k";
	case EM_ALPHA: return "alpha";
	case EM_IA_64: return "ia64";
	case EM_PARISC: return "parisc";
	case 258: return "loongarch";	/* EM_LOONGARCH */
	case EM_ARC_COMPACT: return "arc";
	case EM_XTENSA: return "xtensa";
	case EM_MICROBLAZE: return "microblaze";
	case EM_NONE: return "none";
	default: return "unknown";
	}
}

int fw_kind_signable(enum fw_kind kind, int sign_other)
{
	return kind == FW_KIND_EXEC || kind == FW_KIND_SHLIB ||
	       kind == FW_KIND_MODULE || (sign_other && kind == FW_KIND_OTHER);
}

static void malformed(struct fw_elf_info *out, const char *what)
{
	/* libelf says "no error" when it has none to say: then say nothing */
	int en = elf_errno();
	const char *e = en ? elf_errmsg(en) : NULL;

	out->kind = FW_KIND_MALFORMED;
	snprintf(out->why, sizeof(out->why), "%s%s%s", what,
		 e ? ": " : "", e ? e : "");
}

/* Executable or library?  PIE executables are ET_DYN too. */
static enum fw_kind dyn_kind(Elf *elf, const GElf_Ehdr *eh, size_t phnum)
{
	int interp = 0, soname = 0, pie = 0, have_dyn = 0;

	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph))
			continue;
		if (ph.p_type == PT_INTERP)
			interp = 1;
		if (ph.p_type != PT_DYNAMIC)
			continue;
		have_dyn = 1;
		Elf_Data *d = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset,
						   ph.p_filesz, ELF_T_DYN);
		if (!d)
			continue;
		size_t ent = gelf_fsize(elf, ELF_T_DYN, 1, EV_CURRENT);
		for (size_t j = 0; ent && j < d->d_size / ent; j++) {
			GElf_Dyn dyn;

			if (!gelf_getdyn(d, (int)j, &dyn) ||
			    dyn.d_tag == DT_NULL)
				break;
			if (dyn.d_tag == DT_SONAME)
				soname = 1;
			if (dyn.d_tag == DT_FLAGS_1 && (dyn.d_un.d_val & DF_1_PIE))
				pie = 1;
		}
	}
	if (pie || (interp && !soname))
		return FW_KIND_EXEC;
	if (!have_dyn && eh->e_entry)
		return FW_KIND_EXEC;
	return FW_KIND_SHLIB;
}

static enum fw_kind rel_kind(Elf *elf, size_t shstrndx)
{
	int modinfo = 0, this_module = 0;
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name)
			continue;
		if (!strcmp(name, ".modinfo"))
			modinfo = 1;
		else if (!strcmp(name, ".gnu.linkonce.this_module"))
			this_module = 1;
	}
	return modinfo && this_module ? FW_KIND_MODULE : FW_KIND_OTHER;
}

void fw_elf_classify(const uint8_t *buf, size_t len, struct fw_elf_info *out)
{
	Elf *elf;
	GElf_Ehdr eh;
	size_t shnum, phnum, shstrndx = 0;

	memset(out, 0, sizeof(*out));
	if (len < 4 || memcmp(buf, ELFMAG, SELFMAG) != 0)
		return;
	pthread_once(&elf_once, elf_init);
	/* an error an earlier call left is not this file's */
	(void)elf_errno();

	/* libelf only reads the buffer (ELF_C_READ_MMAP_PRIVATE semantics). */
	elf = elf_memory((char *)buf, len);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		malformed(out, "not a valid ELF header");
		goto done;
	}
	if (!gelf_getehdr(elf, &eh)) {
		malformed(out, "bad ELF header");
		goto done;
	}
	out->elfclass = eh.e_ident[EI_CLASS] == ELFCLASS64 ? 64 : 32;
	out->big_endian = eh.e_ident[EI_DATA] == ELFDATA2MSB;
	out->machine = eh.e_machine;

	if (elf_getshdrnum(elf, &shnum) != 0 ||
	    elf_getphdrnum(elf, &phnum) != 0) {
		malformed(out, "bad section or program header count");
		goto done;
	}
	if (shnum > 0 && elf_getshdrstrndx(elf, &shstrndx) != 0) {
		malformed(out, "bad section name table index");
		goto done;
	}
	/* Every header must lie inside the file (libelf may hide a table
	 * that lies outside by reporting no sections). */
	if (eh.e_shnum > shnum)
		shnum = eh.e_shnum;
	if (shnum > 0 && (eh.e_shoff > len || eh.e_shentsize == 0 ||
			  shnum > (len - eh.e_shoff) / eh.e_shentsize)) {
		malformed(out, "section headers extend past the end of the file");
		goto done;
	}
	if (phnum > 0 && (eh.e_phoff > len || eh.e_phentsize == 0 ||
			  phnum > (len - eh.e_phoff) / eh.e_phentsize)) {
		malformed(out, "program headers extend past the end of the file");
		goto done;
	}
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph)) {
			malformed(out, "unreadable program header");
			goto done;
		}
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset) {
			malformed(out, "segment extends past the end of the file");
			goto done;
		}
	}
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh)) {
			malformed(out, "unreadable section header");
			goto done;
		}
		if (sh.sh_type != SHT_NOBITS &&
		    (sh.sh_offset > len || sh.sh_size > len - sh.sh_offset)) {
			malformed(out, "section extends past the end of the file");
			goto done;
		}
	}

	switch (eh.e_type) {
	case ET_EXEC:
		out->kind = FW_KIND_EXEC;
		break;
	case ET_DYN:
		out->kind = dyn_kind(elf, &eh, phnum);
		break;
	case ET_REL:
		out->kind = rel_kind(elf, shstrndx);
		break;
	default:
		out->kind = FW_KIND_OTHER;
		break;
	}
done:
	if (elf)
		elf_end(elf);
}
