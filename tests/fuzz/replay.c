// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Runs files through a fuzz target's LLVMFuzzerTestOneInput without
 * libFuzzer, so that any compiler builds it: a test replays the seeds and
 * the inputs that once crashed (tests/fuzz/regress/).  Arguments are files
 * or directories (their files, not recursively), after an optional
 * -timeout=N as libFuzzer's: an input that takes more than N seconds
 * (here of CPU time, the process's, so that a loaded machine does not
 * count) stops the replay with exit status 70, libFuzzer's for a timeout.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long timeout_s;			/* 0: none */

static void on_timeout(int sig)
{
	static const char msg[] = "replay: timeout: the input above took "
				  "longer than -timeout\n";

	(void)sig;
	/* async-signal-safe: write and _exit only */
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to say */
	}
	_exit(70);
}

/* The CPU-time alarm for one input (0 s: off). */
static void arm(long s)
{
	struct itimerval t = { { 0, 0 }, { s, 0 } };

	setitimer(ITIMER_PROF, &t, NULL);
}

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		perror(path);
		return -1;
	}
	do {
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap ? cap * 2 : 65536);

			if (!nb) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
			cap = cap ? cap * 2 : 65536;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		perror(path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* named first: a sanitizer report that follows is about this one */
	printf("%s (%zu bytes)\n", path, len);
	fflush(stdout);
	arm(timeout_s);
	LLVMFuzzerTestOneInput(buf, len);
	arm(0);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int bad = 0, done = 0, first = 1;

	if (argc > 1 && !strncmp(argv[1], "-timeout=", 9)) {
		char *end;

		timeout_s = strtol(argv[1] + 9, &end, 10);
		if (*end || timeout_s < 1) {
			fprintf(stderr, "replay: bad %s\n", argv[1]);
			return 2;
		}
		signal(SIGPROF, on_timeout);
		first = 2;
	}
	for (int i = first; i < argc; i++) {
		struct stat st;
		struct dirent **ents;
		int n;

		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			bad = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= replay_file(argv[i]) < 0;
			done++;
			continue;
		}
		n = scandir(argv[i], &ents, NULL, alphasort);
		if (n < 0) {
			perror(argv[i]);
			bad = 1;
			continue;
		}
		for (int k = 0; k < n; k++) {
			char *p = NULL;

			if (ents[k]->d_name[0] != '.' &&
			    asprintf(&p, "%s/%s", argv[i], ents[k]->d_name) > 0 &&
			    stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
				bad |= replay_file(p) < 0;
				done++;
			}
			free(p);
			free(ents[k]);
		}
		free(ents);
	}
	printf("%d inputs replayed\n", done);
	return bad;
}
