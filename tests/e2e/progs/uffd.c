/*
 * uffd LIB: LIB (signed) is copied to /tmp (tmpfs) and one page of it is
 * mapped executable, not yet touched; a userfaultfd registered on it then
 * fills the page with chosen bytes (UFFDIO_COPY), and they are called:
 * "CHOSEN-CODE-RAN 42".  elfsig with anon_exec=deny refuses userfaultfd.
 */
#define _GNU_SOURCE
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "copyfd.h"

int main(int argc, char **argv)
{
	static const unsigned char code[] = { 0xb8, 42, 0, 0, 0, 0xc3 };
	long pg = sysconf(_SC_PAGESIZE);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct uffdio_copy cp;
	unsigned char *map, *page;
	int (*fn)(void);
	int out, uffd;

	if (argc != 2)
		return 2;
	out = open("/tmp/uffd-lib.so", O_RDWR | O_CREAT | O_TRUNC, 0755);
	if (copy_to(argv[1], out) < 0)
		return 1;
	close(out);
	out = open("/tmp/uffd-lib.so", O_RDONLY);
	map = mmap(NULL, pg, PROT_READ | PROT_EXEC, MAP_PRIVATE, out, 0);
	if (map == MAP_FAILED) {
		printf("mmap exec: %s\n", strerror(errno));
		return 1;
	}
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0) {
		printf("userfaultfd: %s\n", strerror(errno));
		return 1;
	}
	if (ioctl(uffd, UFFDIO_API, &api) < 0) {
		printf("UFFDIO_API: %s\n", strerror(errno));
		return 1;
	}
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (unsigned long)map;
	reg.range.len = pg;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
		printf("UFFDIO_REGISTER: %s\n", strerror(errno));
		return 1;
	}
	page = aligned_alloc(pg, pg);
	if (!page)
		return 1;
	memset(page, 0xcc, pg);
	memcpy(page, code, sizeof(code));
	memset(&cp, 0, sizeof(cp));
	cp.dst = (unsigned long)map;
	cp.src = (unsigned long)page;
	cp.len = pg;
	if (ioctl(uffd, UFFDIO_COPY, &cp) < 0) {
		printf("UFFDIO_COPY: %s\n", strerror(errno));
		return 1;
	}
	fn = (int (*)(void))map;
	printf("CHOSEN-CODE-RAN %d\n", fn());
	return 3;
}
