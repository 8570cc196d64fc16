/*
 * mfdrw unsealed|sealed LIB: the memfd attack.  LIB (signed) is copied
 * into a memfd and mapped executable while the descriptor memfd_create()
 * returned is kept; then new bytes are written through that descriptor.
 * A mapping that shows them ran code nobody verified ("MAPPED-CODE-
 * CHANGED").  elfsig refuses the executable mapping of an unsealed memfd;
 * a sealed one maps, and the write fails.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include "copyfd.h"

int main(int argc, char **argv)
{
	struct stat st;
	unsigned char *map;
	int mfd;

	if (argc != 3)
		return 2;
	mfd = memfd_of(argv[2], !strcmp(argv[1], "sealed"));
	if (mfd < 0 || fstat(mfd, &st) < 0)
		return 1;
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
