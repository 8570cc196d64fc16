/* dlo LIB: dlopen() LIB and call into it. */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	int (*answer)(void);
	void *h;

	if (argc != 2)
		return 2;
	h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		printf("dlopen failed: %s\n", dlerror());
		return 1;
	}
	answer = (int (*)(void))dlsym(h, "elfsig_lib_answer");
	printf("dlopen ok, answer %d\n", answer ? answer() : -1);
	return 0;
}
