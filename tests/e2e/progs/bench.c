/*
 * bench N PROG [ARG...]: fork and execv PROG N times, one after the other,
 * its output to /dev/null, and print the elapsed time.
 * bench read FILE: the time it takes to read FILE (the I/O part of a first
 * exec that verifies a file).
 * bench mmap N FILE: N times mmap() and munmap() FILE, with PROT_EXEC and
 * without: the difference is what a check of a cached file costs.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec a, b;
	long i, n, bad = 0;
	double us;
	int st;

	if (argc < 3)
		return 2;
	if (strcmp(argv[1], "read") == 0) {
		static char buf[1 << 16];
		long long total = 0;
		ssize_t r;
		int fd = open(argv[2], O_RDONLY);

		clock_gettime(CLOCK_MONOTONIC, &a);
		while (fd >= 0 && (r = read(fd, buf, sizeof(buf))) > 0)
			total += r;
		clock_gettime(CLOCK_MONOTONIC, &b);
		us = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
		printf("read bytes=%lld total_us=%.0f\n", total, us);
		return total > 0 ? 0 : 1;
	}
	if (strcmp(argv[1], "mmap") == 0 && argc == 4) {
		int fd = open(argv[3], O_RDONLY), prot, round;
		double per[2] = { 1e30, 1e30 }, ns;

		n = atol(argv[2]);
		/* Alternate, keep the fastest round of each: no warm-up bias. */
		for (round = 0; round < 6; round++) {
			prot = round & 1;
			clock_gettime(CLOCK_MONOTONIC, &a);
			for (i = 0; i < n; i++) {
				void *p = mmap(NULL, 4096, PROT_READ |
					       (prot ? PROT_EXEC : 0),
					       MAP_PRIVATE, fd, 0);

				if (p == MAP_FAILED)
					return 1;
				munmap(p, 4096);
			}
			clock_gettime(CLOCK_MONOTONIC, &b);
			ns = ((b.tv_sec - a.tv_sec) * 1e9 +
			      (b.tv_nsec - a.tv_nsec)) / n;
			if (ns < per[prot])
				per[prot] = ns;
		}
		printf("runs=%ld failed=0 read_ns=%.0f exec_ns=%.0f check_ns=%.0f\n",
		       n, per[0], per[1], per[1] - per[0]);
		return 0;
	}
	n = atol(argv[1]);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, 1);
			execv(argv[2], argv + 2);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &st, 0) < 0 || st != 0)
			bad++;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	us = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
	printf("runs=%ld failed=%ld total_us=%.0f per_exec_us=%.1f\n",
	       n, bad, us, us / n);
	return bad != 0;
}
