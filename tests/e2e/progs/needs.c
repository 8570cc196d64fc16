/*
 * A program that needs libpreload.so (DT_NEEDED), found through its
 * RUNPATH, where the test puts an unsigned copy.
 */
#include <stdio.h>

int elfsig_lib_answer(void);

int main(void)
{
	printf("needs: answer %d\n", elfsig_lib_answer());
	return 0;
}
