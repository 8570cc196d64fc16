/*
 * wopen FILE          open FILE for writing and close it again.
 * wopen FILE OFFSET   ... and flip the byte at OFFSET.
 * wopen -t FILE       truncate(FILE) to its own size (changes nothing).
 * Prints "ok" or the errno name; exit 0 / 1.  Built static, so it maps no
 * library itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned char c;
	off_t off;
	int fd;

	if (argc != 2 && argc != 3)
		return 2;
	if (strcmp(argv[1], "-t") == 0 && argc == 3) {
		struct stat st;

		if (stat(argv[2], &st) || truncate(argv[2], st.st_size)) {
			printf("truncate: %s\n", errno == ETXTBSY ? "ETXTBSY" :
			       strerror(errno));
			return 1;
		}
		printf("truncate: ok\n");
		return 0;
	}
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		printf("open for writing: %s\n", errno == ETXTBSY ? "ETXTBSY" :
		       strerror(errno));
		return 1;
	}
	if (argc == 3) {
		off = strtoll(argv[2], NULL, 0);
		if (pread(fd, &c, 1, off) != 1)
			return 1;
		c ^= 0xff;
		if (pwrite(fd, &c, 1, off) != 1) {
			printf("write: %s\n", strerror(errno));
			return 1;
		}
	}
	close(fd);
	printf("open for writing: ok\n");
	return 0;
}
