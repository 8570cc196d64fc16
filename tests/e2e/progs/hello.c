/* The signed program of the elfsig boot test; built dynamic and static. */
#include <stdio.h>

int main(int argc, char **argv)
{
	(void)argc;
	printf("hello from %s\n", argv[0]);
	return 0;
}
