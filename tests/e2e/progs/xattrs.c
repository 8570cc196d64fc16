// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * xattrs TAG PATH...: every xattr of each PATH (not following a symlink)
 * as the kernel returns it (llistxattr, lgetxattr), one line each,
 * "UBI-XATTR TAG PATH NAME HEXVALUE" (a value over 1 KiB as
 * "fnv1a64:HEX" of its bytes), names sorted; "UBI-XATTR TAG PATH error
 * ERRNO" when the kernel refuses.  Built static for the guest of
 * tests/e2e/ubi-boot.sh (busybox has no getfattr).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void one(const char *tag, const char *path)
{
	char list[65536], *names[1024];
	static unsigned char v[65536];
	ssize_t n = llistxattr(path, list, sizeof(list)), len;
	size_t k = 0;

	if (n < 0) {
		printf("UBI-XATTR %s %s error %d\n", tag, path, errno);
		return;
	}
	for (char *p = list; p < list + n && k < 1024; p += strlen(p) + 1)
		names[k++] = p;
	qsort(names, k, sizeof(*names), cmp);
	for (size_t i = 0; i < k; i++) {
		len = lgetxattr(path, names[i], v, sizeof(v));
		if (len < 0) {
			printf("UBI-XATTR %s %s %s error %d\n", tag, path,
			       names[i], errno);
			continue;
		}
		printf("UBI-XATTR %s %s %s ", tag, path, names[i]);
		if (len > 1024) {
			unsigned long long h = 0xcbf29ce484222325ull;

			for (ssize_t j = 0; j < len; j++)
				h = (h ^ v[j]) * 0x100000001b3ull;
			printf("fnv1a64:%016llx", h);
		} else {
			for (ssize_t j = 0; j < len; j++)
				printf("%02x", v[j]);
		}
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: xattrs TAG PATH...\n");
		return 2;
	}
	for (int i = 2; i < argc; i++)
		one(argv[1], argv[i]);
	return fflush(stdout) ? 1 : 0;
}
