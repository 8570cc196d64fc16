/* A signed dynamic program that stays mapped until it is killed. */
#include <unistd.h>

int main(void)
{
	for (;;)
		pause();
}
