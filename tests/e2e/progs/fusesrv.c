/*
 * fusesrv MNT FILE...: mounts a FUSE filesystem on MNT whose root holds
 * the FILEs (by their base names, read-only), served by this program from
 * /dev/fuse: a user-space daemon supplies every byte the kernel reads.
 * Returns once the mount is up; a child keeps serving until MNT is
 * unmounted.  Only the requests exec and mmap need are answered
 * (INIT, LOOKUP, GETATTR, OPEN, READ, FLUSH, RELEASE); others get ENOSYS.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FILES 8

static struct {
	const char *name;
	int fd;
	struct stat st;
} files[MAX_FILES];
static int nfiles;
static char req[FUSE_MIN_READ_BUFFER + 65536];
static char data[65536];

static void reply(int dev, uint64_t unique, int error, const void *p,
		  size_t len)
{
	struct fuse_out_header h = {
		.len = sizeof(h) + len, .error = error, .unique = unique,
	};
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, len } };

	if (writev(dev, iov, len ? 2 : 1) < 0 && errno != ENOENT)
		perror("fusesrv: reply");
}

static void fill_attr(struct fuse_attr *a, uint64_t ino)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->nlink = 1;
	a->blksize = 4096;
	if (ino == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0555;
		a->nlink = 2;
		return;
	}
	a->mode = S_IFREG | 0555;
	a->size = files[ino - 2].st.st_size;
	a->blocks = (a->size + 511) / 512;
}

static void serve(int dev)
{
	for (;;) {
		ssize_t n = read(dev, req, sizeof(req));
		struct fuse_in_header *in = (void *)req;
		void *arg = req + sizeof(*in);
		uint64_t id;
		int i;

		if (n < 0 && (errno == EINTR || errno == EAGAIN ||
			      errno == ENOENT))
			continue;
		if (n < (ssize_t)sizeof(*in))
			return;		/* ENODEV: unmounted */
		id = in->nodeid;
		switch (in->opcode) {
		case FUSE_INIT: {
			struct fuse_init_out o = {
				.major = FUSE_KERNEL_VERSION,
				.minor = FUSE_KERNEL_MINOR_VERSION,
				.max_readahead = 65536,
				.max_write = 4096,
			};
			reply(dev, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_LOOKUP: {
			struct fuse_entry_out o;

			memset(&o, 0, sizeof(o));
			for (i = 0; i < nfiles; i++)
				if (id == FUSE_ROOT_ID &&
				    !strcmp(arg, files[i].name))
					break;
			if (i == nfiles) {
				reply(dev, in->unique, -ENOENT, NULL, 0);
				break;
			}
			o.nodeid = i + 2;
			o.entry_valid = 3600;
			o.attr_valid = 3600;
			fill_attr(&o.attr, i + 2);
			reply(dev, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_GETATTR: {
			struct fuse_attr_out o;

			memset(&o, 0, sizeof(o));
			o.attr_valid = 3600;
			fill_attr(&o.attr, id);
			reply(dev, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_OPEN: {
			struct fuse_open_out o = { .fh = id };

			reply(dev, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_READ: {
			struct fuse_read_in *r = arg;
			size_t len = r->size < sizeof(data) ? r->size :
							      sizeof(data);

			n = pread(files[id - 2].fd, data, len, r->offset);
			if (n < 0)
				reply(dev, in->unique, -EIO, NULL, 0);
			else
				reply(dev, in->unique, 0, data, n);
			break;
		}
		case FUSE_FLUSH:
		case FUSE_RELEASE:
			reply(dev, in->unique, 0, NULL, 0);
			break;
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
		case FUSE_INTERRUPT:
			break;		/* no reply */
		default:
			reply(dev, in->unique, -ENOSYS, NULL, 0);
		}
	}
}

int main(int argc, char **argv)
{
	char opts[128];
	int dev, i;

	if (argc < 3 || argc - 2 > MAX_FILES)
		return 2;
	for (i = 2; i < argc; i++) {
		const char *slash = strrchr(argv[i], '/');
		struct stat *st = &files[nfiles].st;

		files[nfiles].name = slash ? slash + 1 : argv[i];
		files[nfiles].fd = open(argv[i], O_RDONLY);
		if (files[nfiles].fd < 0 || fstat(files[nfiles].fd, st) < 0) {
			printf("fusesrv: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		nfiles++;
	}
	dev = open("/dev/fuse", O_RDWR);
	if (dev < 0) {
		printf("fusesrv: /dev/fuse: %s\n", strerror(errno));
		return 1;
	}
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0", dev);
	if (mount("fusesrv", argv[1], "fuse", MS_NOSUID | MS_NODEV | MS_RDONLY,
		  opts) < 0) {
		printf("fusesrv: mount: %s\n", strerror(errno));
		return 1;
	}
	switch (fork()) {
	case -1:
		return 1;
	case 0:
		/* the caller may be waiting for the end of our output */
		i = open("/dev/null", O_RDWR);
		dup2(i, 0);
		dup2(i, 1);
		dup2(i, 2);
		serve(dev);
		_exit(0);
	}
	printf("fusesrv: %d files on %s\n", nfiles, argv[1]);
	return 0;
}
