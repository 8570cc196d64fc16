/*
 * race N SRC DST: copies SRC (this program, signed) to DST, then runs
 * threads at once against DST until each has had its way often enough (N
 * maps and writes, N/2 mprotects, N/5 execs; or 1000 N tries in all):
 *
 *   map      mmap(PROT_READ | PROT_EXEC) of the whole file, calls
 *            answer() in it and reads its bytes while mapped; tries to
 *            make the mapping writable (mprotect with PROT_WRITE, a
 *            write through /proc/self/mem) and a W+X mmap of the file
 *   mprot    mmap(PROT_READ), then mprotect(PROT_READ | PROT_EXEC) and
 *            calls answer() in it
 *   write    opens DST for writing, changes one byte of answer()'s code
 *            (its return value), writes it back, closes; or the same
 *            through a shared writable mapping
 *   exec     fork and execve(DST, "child"): the child returns whether
 *            its own answer() still gives the signed value
 *
 * A changed byte that runs (answer() other than ANSWER, in an executable
 * mapping or an exec'd child), a changed byte seen in an executable
 * mapping, or a mapping of the file that became writable and executable
 * is a failure ("bad").  Prints the counts and "race: ok" when nothing
 * bad happened and every thread got its way often enough.  (Counts, not
 * seconds: a guest's clock under QEMU TCG may run far from the host's.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ANSWER 0x5a5a1234

static int __attribute__((noinline)) answer(void)
{
	return ANSWER;
}

static const char *dst;
static volatile int stop;
static size_t size;
static long off;		/* answer()'s "mov $ANSWER, %eax" in the file */

static struct {
	long maps, map_refused, calls, mprots, mprot_refused;
	long writes, write_busy, execs, exec_refused;
	long wx_refused, changed_ran, changed_seen, wx_ok;
	long tries;
} n;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

#define COUNT(field) do {			\
	pthread_mutex_lock(&lock);		\
	n.field++;				\
	n.tries++;				\
	pthread_mutex_unlock(&lock);		\
} while (0)

static void pause_a_little(unsigned int *seed)
{
	usleep(rand_r(seed) % 2000);
}

/* Calls answer() in an executable mapping of the file at @p. */
static void call_in(unsigned char *p)
{
	int (*fn)(void) = (int (*)(void))(p + off);

	if (p[off + 1] != (ANSWER & 0xff))
		COUNT(changed_seen);
	if (fn() != ANSWER)
		COUNT(changed_ran);
	else
		COUNT(calls);
}

static void *map_thread(void *arg)
{
	unsigned int seed = 1;
	int mem = open("/proc/self/mem", O_RDWR);

	(void)arg;
	while (!stop) {
		int fd = open(dst, O_RDONLY);
		unsigned char *p, b = 0xb8;	/* the byte that is there */

		if (fd < 0)
			continue;
		p = mmap(NULL, size, PROT_READ | PROT_WRITE | PROT_EXEC,
			 MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			COUNT(wx_ok);
			munmap(p, size);
		} else {
			COUNT(wx_refused);
		}
		p = mmap(NULL, size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
		close(fd);
		if (p == MAP_FAILED) {
			COUNT(map_refused);
			pause_a_little(&seed);
			continue;
		}
		COUNT(maps);
		call_in(p);
		if (mprotect(p, size, PROT_READ | PROT_WRITE | PROT_EXEC) == 0)
			COUNT(wx_ok);
		if (mem >= 0 && pwrite(mem, &b, 1, (off_t)(uintptr_t)(p + off)) == 1)
			COUNT(wx_ok);
		call_in(p);
		munmap(p, size);
		pause_a_little(&seed);
	}
	return NULL;
}

static void *mprot_thread(void *arg)
{
	unsigned int seed = 2;

	(void)arg;
	while (!stop) {
		int fd = open(dst, O_RDONLY);
		unsigned char *p;

		if (fd < 0)
			continue;
		p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		close(fd);
		if (p == MAP_FAILED)
			continue;
		if (mprotect(p, size, PROT_READ | PROT_EXEC) == 0) {
			COUNT(mprots);
			call_in(p);
		} else {
			COUNT(mprot_refused);
		}
		munmap(p, size);
		pause_a_little(&seed);
	}
	return NULL;
}

static void *write_thread(void *arg)
{
	unsigned int seed = 3;
	unsigned char orig = ANSWER & 0xff, changed = orig ^ 1;
	int shared = 0;

	(void)arg;
	while (!stop) {
		int fd = open(dst, O_RDWR);
		unsigned char *p;

		if (fd < 0) {
			COUNT(write_busy);
			pause_a_little(&seed);
			continue;
		}
		shared = !shared;
		p = shared ? mmap(NULL, size, PROT_READ | PROT_WRITE,
				  MAP_SHARED, fd, 0) : MAP_FAILED;
		if (p != MAP_FAILED) {
			close(fd);
			p[off + 1] = changed;
			sched_yield();
			p[off + 1] = orig;
			munmap(p, size);
		} else {
			if (pwrite(fd, &changed, 1, off + 1) != 1)
				perror("pwrite");
			sched_yield();
			if (pwrite(fd, &orig, 1, off + 1) != 1)
				perror("pwrite");
			close(fd);
		}
		COUNT(writes);
		pause_a_little(&seed);
	}
	return NULL;
}

static void *exec_thread(void *arg)
{
	unsigned int seed = 4;

	(void)arg;
	while (!stop) {
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			execl(dst, "race", "child", (char *)NULL);
			_exit(errno == ETXTBSY || errno == EACCES ? 100 : 101);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0)
			continue;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			COUNT(execs);
		else if (WIFEXITED(status) && WEXITSTATUS(status) == 7)
			COUNT(changed_ran);
		else
			COUNT(exec_refused);
		pause_a_little(&seed);
	}
	return NULL;
}

/* Copies @src to @dst; returns its size, or 0. */
static size_t copy(const char *src)
{
	static char buf[1 << 20];
	int in = open(src, O_RDONLY);
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	ssize_t r;
	size_t total = 0;

	if (in < 0 || out < 0)
		return 0;
	while ((r = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, r) != r)
			return 0;
		total += r;
	}
	close(in);
	return close(out) || r < 0 ? 0 : total;
}

/* Where answer()'s code is in the file: the one "mov $ANSWER, %eax; ret". */
static long find_answer(void)
{
	/* built here, so that the pattern is in no data section */
	volatile unsigned int v = ANSWER;
	unsigned char code[6] = { 0xb8, v, v >> 8, v >> 16, v >> 24, 0xc3 };
	int fd = open(dst, O_RDONLY);
	unsigned char *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	long at = -1;
	size_t i;

	if (fd < 0 || p == MAP_FAILED)
		return -1;
	for (i = 0; i + sizeof(code) <= size; i++)
		if (!memcmp(p + i, code, sizeof(code))) {
			if (at >= 0)
				return -1;	/* not unique */
			at = i;
		}
	munmap(p, size);
	close(fd);
	return at;
}

static int enough(long want)
{
	int done;

	pthread_mutex_lock(&lock);
	done = (n.maps >= want && n.writes >= want && n.mprots >= want / 2 &&
		n.execs >= want / 5) || n.tries >= 1000 * want;
	pthread_mutex_unlock(&lock);
	return done;
}

int main(int argc, char **argv)
{
	void *(*fns[])(void *) = {
		map_thread, mprot_thread, write_thread, exec_thread
	};
	pthread_t t[4];
	long bad, want;
	int i;

	if (argc == 2 && !strcmp(argv[1], "child"))
		return answer() == ANSWER ? 0 : 7;
	if (argc != 4)
		return 2;
	dst = argv[3];
	size = copy(argv[2]);
	off = size ? find_answer() : -1;
	if (off < 0) {
		printf("race: cannot copy %s or find answer() in it\n", argv[2]);
		return 1;
	}
	for (i = 0; i < 4; i++)
		if (pthread_create(&t[i], NULL, fns[i], NULL)) {
			printf("race: pthread_create failed\n");
			return 1;
		}
	while (!enough(atol(argv[1])))
		usleep(10000);
	stop = 1;
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	want = atol(argv[1]);
	bad = n.changed_ran + n.changed_seen + n.wx_ok;
	printf("race: maps=%ld map_refused=%ld calls=%ld mprots=%ld mprot_refused=%ld writes=%ld write_busy=%ld execs=%ld exec_refused=%ld wx_refused=%ld changed_ran=%ld changed_seen=%ld wx_ok=%ld\n",
	       n.maps, n.map_refused, n.calls, n.mprots, n.mprot_refused,
	       n.writes, n.write_busy, n.execs, n.exec_refused, n.wx_refused,
	       n.changed_ran, n.changed_seen, n.wx_ok);
	if (bad || n.maps < want || n.writes < want || n.mprots < want / 2 ||
	    n.execs < want / 5) {
		printf("race: FAILED\n");
		return 1;
	}
	printf("race: ok\n");
	return 0;
}
