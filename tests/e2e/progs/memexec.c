/*
 * memexec [-s] FILE [ARG...]: copy FILE into a memfd and execveat() it,
 * the way fileless loaders run a program that is on no filesystem.  With
 * -s the memfd is sealed first (F_SEAL_WRITE, F_SEAL_GROW and
 * F_SEAL_SHRINK), which elfsig requires of a memfd whose code runs.  The
 * memfd is reopened read-only through /proc and the descriptor
 * memfd_create() returned is closed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	char buf[65536], path[64];
	ssize_t n;
	int in, mfd, rfd, seal = argc > 1 && !strcmp(argv[1], "-s");

	argv += seal;
	argc -= seal;
	if (argc < 2)
		return 2;
	in = open(argv[1], O_RDONLY);
	mfd = memfd_create("elfsig-test", MFD_ALLOW_SEALING);
	if (in < 0 || mfd < 0) {
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
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	rfd = open(path, O_RDONLY);
	if (rfd < 0) {
		printf("reopen: %s\n", strerror(errno));
		return 1;
	}
	close(mfd);
	close(in);
	syscall(SYS_execveat, rfd, "", argv + 1, environ, AT_EMPTY_PATH);
	printf("execveat: %s\n", strerror(errno));
	return 1;
}
