// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sqfs-blocks IMAGE: prints "offset size" (on disk) of every data block of
 * every file and of every fragment block of a squashfs image, one per line,
 * each place once.  bench/squashfs.sh compares the blocks of an input and
 * its signed output to count what was compressed again.  Independent of
 * fwsign: it only uses libsquashfs.
 */
#include <stdio.h>
#include <stdlib.h>

#include <sqfs/compressor.h>
#include <sqfs/dir.h>
#include <sqfs/frag_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_reader.h>
#include <sqfs/super.h>
#include <sqfs/block.h>

static sqfs_super_t sb;
static sqfs_meta_reader_t *ir, *dr;

static int walk(const sqfs_inode_generic_t *dir, int depth)
{
	sqfs_readdir_state_t st;
	sqfs_dir_entry_t *e;
	sqfs_u32 inum;
	sqfs_u64 ref;

	if (depth > 256 || sqfs_readdir_state_init(&st, &sb, dir))
		return -1;
	while (sqfs_meta_reader_readdir(dr, &st, &e, &inum, &ref) == 0) {
		sqfs_inode_generic_t *in;
		sqfs_readdir_state_t save = st;

		sqfs_free(e);
		if (sqfs_meta_reader_read_inode(ir, &sb, ref >> 16, ref & 0xFFFF,
						&in))
			return -1;
		if (in->base.type == SQFS_INODE_DIR ||
		    in->base.type == SQFS_INODE_EXT_DIR) {
			if (walk(in, depth + 1))
				return -1;
			st = save;	/* the reader moved: go back */
		} else if (in->base.type == SQFS_INODE_FILE ||
			   in->base.type == SQFS_INODE_EXT_FILE) {
			sqfs_u64 off;
			size_t n = sqfs_inode_get_file_block_count(in);

			sqfs_inode_get_file_block_start(in, &off);
			for (size_t k = 0; k < n; k++) {
				sqfs_u32 sz = SQFS_ON_DISK_BLOCK_SIZE(in->extra[k]);

				if (sz)
					printf("%llu %u\n", (unsigned long long)off, sz);
				off += sz;
			}
		}
		sqfs_free(in);
	}
	return 0;
}

int main(int argc, char **argv)
{
	sqfs_compressor_config_t cfg;
	sqfs_compressor_t *cmp;
	sqfs_frag_table_t *ft;
	sqfs_inode_generic_t *root;
	sqfs_file_t *f;

	if (argc != 2 || !(f = sqfs_open_file(argv[1], SQFS_FILE_OPEN_READ_ONLY)) ||
	    sqfs_super_read(&sb, f))
		return 2;
	sqfs_compressor_config_init(&cfg, sb.compression_id, sb.block_size,
				    SQFS_COMP_FLAG_UNCOMPRESS);
	if (sqfs_compressor_create(&cfg, &cmp))
		return 2;
	ir = sqfs_meta_reader_create(f, cmp, sb.inode_table_start,
				     sb.directory_table_start);
	dr = sqfs_meta_reader_create(f, cmp, sb.directory_table_start,
				     sb.bytes_used);
	if (sqfs_meta_reader_read_inode(ir, &sb, sb.root_inode_ref >> 16,
					sb.root_inode_ref & 0xFFFF, &root) ||
	    walk(root, 0))
		return 1;
	ft = sqfs_frag_table_create(0);
	if (sb.fragment_entry_count && !(sb.flags & SQFS_FLAG_NO_FRAGMENTS) &&
	    !sqfs_frag_table_read(ft, f, &sb, cmp)) {
		for (size_t i = 0; i < sqfs_frag_table_get_size(ft); i++) {
			sqfs_fragment_t fr;

			if (!sqfs_frag_table_lookup(ft, (sqfs_u32)i, &fr))
				printf("%llu %u\n",
				       (unsigned long long)fr.start_offset,
				       SQFS_ON_DISK_BLOCK_SIZE(fr.size));
		}
	}
	return 0;
}
