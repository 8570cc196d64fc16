/*
 * mprot written FILE  map FILE private and writable, write to it, then ask
 *                     for PROT_EXEC: code that is not the file's content.
 * mprot clean FILE    map FILE read-only, then ask for PROT_EXEC.
 * mprot mapx FILE     map FILE with PROT_EXEC directly.
 * mprot wx FILE       map FILE private, writable and executable at once.
 * mprot wxprot FILE   map FILE read-only, then ask for write and exec.
 * mprot wopenx FILE   map FILE with PROT_EXEC while it is open for writing.
 * mprot anon          anonymous memory, written, then PROT_EXEC.
 * mprot many FILE...  maps each FILE executable once (its verdict is then
 *                     cached), then the first page of each read-only, side
 *                     by side, and asks for PROT_EXEC over all of them in
 *                     one mprotect().
 * Prints "ok" or the errno name of the refused call; exit 0 / 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int report(const char *what, int ret)
{
	if (ret) {
		printf("%s: %s\n", what, strerror(errno));
		return 1;
	}
	printf("%s: ok\n", what);
	return 0;
}

static int many(int nr, char **files)
{
	size_t len = 4096;
	char *area, *p, what[64];
	int i, fd;

	area = mmap(NULL, nr * len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (area == MAP_FAILED)
		return report("mmap", -1);
	for (i = 0; i < nr; i++) {
		fd = open(files[i], O_RDONLY);
		if (fd < 0)
			return report(files[i], -1);
		p = mmap(NULL, len, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			return report("mmap exec", -1);
		munmap(p, len);
		p = mmap(area + i * len, len, PROT_READ, MAP_PRIVATE | MAP_FIXED,
			 fd, 0);
		if (p == MAP_FAILED)
			return report("mmap", -1);
		close(fd);
	}
	snprintf(what, sizeof(what), "mprotect of %d files", nr);
	return report(what, mprotect(area, nr * len, PROT_READ | PROT_EXEC));
}

int main(int argc, char **argv)
{
	size_t len = 4096;
	char *p;
	int fd = -1;

	if (argc < 2)
		return 2;
	if (strcmp(argv[1], "anon") == 0) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return report("mmap", -1);
		p[0] = (char)0xc3;	/* ret */
		return report("mprotect", mprotect(p, len, PROT_READ | PROT_EXEC));
	}
	if (strcmp(argv[1], "many") == 0)
		return many(argc - 2, argv + 2);
	if (argc != 3)
		return 2;
	fd = open(argv[2], O_RDONLY);
	if (fd < 0)
		return report("open", -1);
	if (strcmp(argv[1], "mapx") == 0) {
		p = mmap(NULL, len, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
		return report("mmap", p == MAP_FAILED ? -1 : 0);
	}
	if (strcmp(argv[1], "wx") == 0) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE | PROT_EXEC,
			 MAP_PRIVATE, fd, 0);
		return report("mmap", p == MAP_FAILED ? -1 : 0);
	}
	if (strcmp(argv[1], "wopenx") == 0) {
		if (open(argv[2], O_RDWR) < 0)
			return report("open for writing", -1);
		p = mmap(NULL, len, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
		return report("mmap", p == MAP_FAILED ? -1 : 0);
	}
	if (strcmp(argv[1], "written") == 0) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			return report("mmap", -1);
		p[100] ^= 1;
	} else if (strcmp(argv[1], "clean") == 0) {
		p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			return report("mmap", -1);
	} else if (strcmp(argv[1], "wxprot") == 0) {
		p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			return report("mmap", -1);
		return report("mprotect", mprotect(p, len, PROT_READ |
					PROT_WRITE | PROT_EXEC));
	} else {
		return 2;
	}
	return report("mprotect", mprotect(p, len, PROT_READ | PROT_EXEC));
}
