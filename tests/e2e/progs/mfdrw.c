/*
 * mfdrw unsealed|sealed LIB: the memfd attack.  LIB (signed) is copied
 * into a memfd and mapped executable while the descriptor memfd_create()
 * returned is kept; then new bytes are written through that descriptor.
 * A mapping that shows them ran code nobody verified ("MAPPED-CODE-
 * CHANGED").  elfsig refuses the executable mapping of an unsealed memfd;
 * a sealed one maps, and the write fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char buf[65536];
	struct stat st;
	unsigned char *map;
	ssize_t n;
	int in, mfd, seal;

	if (argc != 3)
		return 2;
	seal = !strcmp(argv[1], "sealed");
	in = open(argv[2], O_RDONLY);
	mfd = memfd_create("elfsig-rw", MFD_ALLOW_SEALING);
	if (in < 0 || mfd < 0 || fstat(in, &st) < 0) {
		printf("setup: %s\n", strerror(errno));
		return 1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(mfd, buf, n) != n)
			return 1;
	if (seal && fcntl(mfd, F_ADD_SEALS,
			  F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK) < 0) {
		printf("seal: %s\n", strerror(errno));
		return 1;
	}
	map = mmap(NULL, st.st_size, PROT_READ | PROT_EXEC, MAP_PRIVATE, mfd, 0);
	if (map == MAP_FAILED) {
		printf("mmap exec: %s\n", strerror(errno));
		return 1;
	}
	printf("mapped executable\n");
	if (pwrite(mfd, "\xcc\xcc\xcc\xcc", 4, 0) != 4)
		printf("write refused: %s\n", strerror(errno));
	if (!memcmp(map, "\xcc\xcc\xcc\xcc", 4)) {
		printf("MAPPED-CODE-CHANGED\n");
		return 3;
	}
	printf("mapped code unchanged\n");
	return 0;
}
