// SPDX-License-Identifier: GPL-2.0
/* The module the elfsig boot test loads signed and unsigned. */
#include <linux/module.h>

static int __init elfsig_test_init(void)
{
	pr_info("elfsig_test_mod: loaded\n");
	return 0;
}

static void __exit elfsig_test_exit(void)
{
}

module_init(elfsig_test_init);
module_exit(elfsig_test_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("elfsig boot test module");
