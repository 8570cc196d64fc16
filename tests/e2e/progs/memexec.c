/*
 * memexec [-s] FILE [ARG...]: copy FILE into a memfd and execveat() it,
 * the way fileless loaders run a program that is on no filesystem.  With
 * -s the memfd is sealed first (F_SEAL_WRITE, F_SEAL_GROW and
 * F_SEAL_SHRINK), which elfsig requires of a memfd whose code runs.  The
 * memfd is reopened read-only through /proc and the descriptor
 * memfd_create() returned is closed.
 */
#define _GNU_SOURCE
#include <sys/syscall.h>

#include "copyfd.h"

extern char **environ;

int main(int argc, char **argv)
{
	char path[64];
	int mfd, rfd, seal = argc > 1 && !strcmp(argv[1], "-s");

	argv += seal;
	argc -= seal;
	if (argc < 2)
		return 2;
	mfd = memfd_of(argv[1], seal);
	if (mfd < 0)
		return 1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	rfd = open(path, O_RDONLY);
	if (rfd < 0) {
		printf("reopen: %s\n", strerror(errno));
		return 1;
	}
	close(mfd);
	syscall(SYS_execveat, rfd, "", argv + 1, environ, AT_EMPTY_PATH);
	printf("execveat: %s\n", strerror(errno));
	return 1;
}
