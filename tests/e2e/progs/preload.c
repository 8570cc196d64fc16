/*
 * A library that says when its code runs: loaded through LD_PRELOAD or
 * dlopen(), signed or not.
 */
#include <stdio.h>

__attribute__((constructor)) static void announce(void)
{
	printf("LIBRARY-CODE-RAN\n");
	fflush(stdout);
}

int elfsig_lib_answer(void)
{
	return 42;
}
