/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A tiny test harness: CHECK() counts, main prints "N passed, N failed". */
#ifndef FWSIGN_T_H
#define FWSIGN_T_H

#include <stdio.h>
#include <stdlib.h>

static int t_pass, t_fail;

#define CHECK(cond, ...)                                                 \
	do {                                                             \
		if (cond) {                                              \
			t_pass++;                                        \
		} else {                                                 \
			t_fail++;                                        \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__,    \
				__LINE__, #cond);                        \
			fprintf(stderr, __VA_ARGS__);                    \
			fputc('\n', stderr);                             \
		}                                                        \
	} while (0)

static inline int t_done(void)
{
	printf("%d passed, %d failed\n", t_pass, t_fail);
	return t_fail ? 1 : 0;
}

#endif
