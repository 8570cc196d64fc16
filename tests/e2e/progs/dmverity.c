/*
 * dmverity NAME SIG DESC TABLE: what `veritysetup open
 * --root-hash-signature` does, with nothing but the kernel's interfaces,
 * for a guest without cryptsetup.  The root hash signature SIG (a detached
 * PKCS#7, fwsign's OUTPUT.roothash.p7s) goes into the thread keyring as a
 * user key named DESC, where dm-verity's root_hash_sig_key_desc looks for
 * it; then the device NAME is created, TABLE ("START LEN verity ARGS...")
 * loaded read-only and the device resumed.  A signature the builtin
 * keyring does not vouch for makes the table load fail.
 * Exit: 0 active, 1 refused (errno printed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BUF 16384

static union {
	struct dm_ioctl io;
	char b[BUF];
} u;

static void init(const char *name)
{
	memset(&u, 0, sizeof(u));
	u.io.version[0] = DM_VERSION_MAJOR;
	u.io.data_size = sizeof(u);
	u.io.data_start = sizeof(struct dm_ioctl);
	snprintf(u.io.name, sizeof(u.io.name), "%s", name);
}

static int dm(int fd, unsigned long req, const char *what)
{
	if (ioctl(fd, req, &u) == 0)
		return 0;
	printf("dmverity: %s: %s\n", what, strerror(errno));
	return -1;
}

int main(int argc, char **argv)
{
	static char sig[8192];
	struct dm_target_spec *t;
	unsigned long long start, len;
	char type[16];
	int n, off, fd;
	ssize_t sl;
	long key;

	if (argc != 5)
		return 2;
	fd = open(argv[2], O_RDONLY);
	sl = fd < 0 ? -1 : read(fd, sig, sizeof(sig));
	if (sl <= 0)
		return 2;
	close(fd);
	key = syscall(SYS_add_key, "user", argv[3], sig, (size_t)sl,
		      KEY_SPEC_THREAD_KEYRING);
	if (key < 0) {
		printf("dmverity: add_key: %s\n", strerror(errno));
		return 1;
	}
	if (sscanf(argv[4], "%llu %llu %15s %n", &start, &len, type, &off) != 3)
		return 2;
	fd = open("/dev/mapper/control", O_RDWR);
	if (fd < 0) {
		printf("dmverity: /dev/mapper/control: %s\n", strerror(errno));
		return 1;
	}
	init(argv[1]);
	if (dm(fd, DM_DEV_CREATE, "create"))
		return 1;
	init(argv[1]);
	u.io.flags = DM_READONLY_FLAG;
	u.io.target_count = 1;
	t = (struct dm_target_spec *)(u.b + sizeof(struct dm_ioctl));
	t->sector_start = start;
	t->length = len;
	snprintf(t->target_type, sizeof(t->target_type), "%s", type);
	n = snprintf((char *)(t + 1), BUF - sizeof(struct dm_ioctl) -
		     sizeof(*t), "%s", argv[4] + off);
	t->next = 0;
	u.io.data_size = sizeof(struct dm_ioctl) + sizeof(*t) + n + 1;
	u.io.data_size = (u.io.data_size + 7) & ~7u;
	if (dm(fd, DM_TABLE_LOAD, "load table")) {
		init(argv[1]);
		ioctl(fd, DM_DEV_REMOVE, &u);
		return 1;
	}
	init(argv[1]);
	if (dm(fd, DM_DEV_SUSPEND, "resume"))
		return 1;
	printf("dmverity: %s active\n", argv[1]);
	return 0;
}
