// SPDX-License-Identifier: LGPL-2.1-or-later
/* Every format bids on the input; the highest bid opens it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"

static const struct fw_format *const formats[] = {
	&fw_format_dir,
};

int fw_image_open(const char *path, struct fw_image **out,
		  struct fw_error *err)
{
	const struct fw_format *best = NULL;
	struct fw_image *img;
	uint8_t head[4096];
	size_t head_len = 0;
	struct stat st;
	int best_bid = 0, rc;

	*out = NULL;
	if (lstat(path, &st) < 0)
		return fw_error_set(err, errno == ENOENT ? FW_EINPUT : FW_EIO,
				    path, "cannot open: %s", strerror(errno));
	if (S_ISLNK(st.st_mode))
		return fw_error_set(err, FW_EINPUT, path,
				    "is a symlink; name its target instead");
	if (S_ISREG(st.st_mode)) {
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		ssize_t n;

		if (fd < 0)
			return fw_error_set(err, FW_EINPUT, path,
					    "cannot open: %s", strerror(errno));
		n = read(fd, head, sizeof(head));
		close(fd);
		if (n < 0)
			return fw_error_set(err, FW_EIO, path, "cannot read: %s",
					    strerror(errno));
		head_len = (size_t)n;
	}
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		int bid = formats[i]->bid(path, &st, head, head_len);

		if (bid > best_bid) {
			best_bid = bid;
			best = formats[i];
		}
	}
	if (!best)
		return fw_error_set(err, FW_EINPUT, path,
				    "not a directory, file or known image");
	img = calloc(1, sizeof(*img));
	if (!img || !(img->path = strdup(path))) {
		free(img);
		return fw_error_set(err, FW_EIO, NULL, "out of memory");
	}
	img->fmt = best;
	rc = best->open(img, err);
	if (rc) {
		fw_image_close(img);
		return rc;
	}
	*out = img;
	return FW_OK;
}

void fw_image_close(struct fw_image *img)
{
	if (!img)
		return;
	if (img->fmt && img->fmt->close)
		img->fmt->close(img);
	for (size_t i = 0; i < img->n; i++) {
		free(img->ent[i].path);
		free(img->ent[i].link_target);
	}
	free(img->ent);
	free(img->path);
	free(img);
}
