/*
 * copyfd.h: the guest programs' one helper.  copy_to(path, fd) copies a
 * file into fd; memfd_of(path, seal) makes a memfd (MFD_ALLOW_SEALING)
 * holding the file, sealed with F_SEAL_WRITE | F_SEAL_GROW |
 * F_SEAL_SHRINK when seal is set.  Both print why and return -1 on error.
 */
#ifndef ELFSIG_TEST_COPYFD_H
#define ELFSIG_TEST_COPYFD_H
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static inline int copy_to(const char *path, int fd)
{
	char buf[65536];
	ssize_t n;
	int in = open(path, O_RDONLY);

	if (in < 0 || fd < 0) {
		printf("setup: %s\n", strerror(errno));
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, n) != n) {
			printf("copy: %s\n", strerror(errno));
			return -1;
		}
	close(in);
	return n < 0 ? -1 : 0;
}

static inline int memfd_of(const char *path, int seal)
{
	int mfd = memfd_create("elfsig-test", MFD_ALLOW_SEALING);

	if (copy_to(path, mfd) < 0)
		return -1;
	if (seal && fcntl(mfd, F_ADD_SEALS,
			  F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK) < 0) {
		printf("seal: %s\n", strerror(errno));
		return -1;
	}
	return mfd;
}
#endif
