/*
 * pmem: a process writes machine code over one of its own functions
 * through /proc/self/mem, then calls it.  "f returned 2" means the new
 * bytes ran.  With /proc/PID/mem not overriding memory permissions
 * (PROC_MEM_NO_FORCE, which elfsig requires) the write fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int __attribute__((noinline)) f(void)
{
	return 1;
}

int main(void)
{
	static const unsigned char code[] = { 0xb8, 2, 0, 0, 0, 0xc3 };
	int (*volatile fp)(void) = f;
	int fd = open("/proc/self/mem", O_RDWR), r;

	if (fd < 0) {
		printf("open: %s\n", strerror(errno));
		return 1;
	}
	if (pwrite(fd, code, sizeof(code), (off_t)(uintptr_t)fp) !=
	    (ssize_t)sizeof(code))
		printf("write refused: %s\n", strerror(errno));
	r = fp();
	printf("f returned %d\n", r);
	return r == 2 ? 3 : 0;
}
