// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fwsign batch: sign every image of a release into OUTDIR.  Each image is
 * signed by a child `fwsign sign` of its own (one image that crashes or
 * fails does not touch the others, and memory does not grow with the
 * number of images), --jobs of them at a time.  Outputs appear whole (the
 * child writes a temporary name, renamed into place) and a state file per
 * image records the input's, the certificate's, the options' and the
 * output's sha256: a rerun skips an image whose output is complete and
 * matches all of them, so a killed run resumes.  --shard I/N takes the
 * images whose name hashes to I (stable under any reordering of the
 * list); --merge joins the shards' reports and checks that every image of
 * the release was signed exactly once.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "cli.h"
#include "fwsign/cache.h"

#define STATE_DIR ".fwsign-batch"
#define MAX_ARGS 48

static const char help[] =
"usage: fwsign batch (DIR | LIST) -o OUTDIR --key KEY --cert CERT\n"
"                    [--jobs N] [--shard I/N | --shards N] [--report FILE]\n"
"                    [--json] [--attest] [sign options]\n"
"       fwsign batch --merge REPORT... [--report FILE] [--json]\n"
"\n"
"Signs every image of a release into OUTDIR (same names): the regular\n"
"files of DIR, or the paths listed in LIST (one a line, # comments).\n"
"Each image is signed on its own; one that fails does not stop the\n"
"others, and makes the exit status 1.  A rerun skips the images whose\n"
"output is complete and matches their input, key and options.\n"
"\n"
"  -o, --output DIR    where the signed images go (made if missing)\n"
"  -k, --key, -c, --cert, --hash, --keyid, --pass-env, --pass-file,\n"
"  --sign-other, --no-inject-cert, --skip-kernels-without-slot,\n"
"  --drop-image-signature, --fit-keydir, --allow-expired\n"
"                      as for fwsign sign, for every image\n"
"  -j, --jobs N        images signed at a time (default: 2)\n"
"      --shard I/N     take only part I of N (0 <= I < N) of the release,\n"
"                      by a hash of each image's name\n"
"      --shards N      N parts, I from CI_NODE_INDEX (1-based, GitLab)\n"
"                      or JOB_COMPLETION_INDEX (0-based, Kubernetes)\n"
"      --report FILE   the JSON report (default OUTDIR/fwsign-batch.json)\n"
"      --json          the report on stdout too\n"
"      --attest        an in-toto attestation beside each output,\n"
"                      OUTDIR/NAME.intoto.json (see fwsign sign --attest)\n"
"      --cache DIR     the squashfs blocks the images share, compressed\n"
"                      once (see fwsign sign --cache); kept for the next\n"
"                      release (default: OUTDIR/.fwsign-batch/cache,\n"
"                      removed at the end)\n"
"      --no-cache      compress every image's blocks itself\n"
"      --merge R...    join shard reports into one (with --report FILE)\n";

struct image {
	char *in;		/* as listed */
	const char *name;	/* its file name: the output's */
	int mine;		/* in this shard */
	/* outcome */
	enum { I_TODO, I_SIGNED, I_SKIPPED, I_FAILED } st;
	char in_sha[65], out_sha[65], att_sha[65];
	char *error;
	json_object *summary;	/* the child's report summary */
	double seconds;
	pid_t pid;
	int hashed;		/* in_sha: 0 not yet, 1 done, -1 unreadable */
	int hash_errno;
	char errbuf[1024];
	struct timespec t0, t1;	/* the child started, ended */
};

struct batch {
	const char *outdir;
	const char *key, *cert, *report;
	const char *sign_args[MAX_ARGS];
	int n_sign_args;
	int jobs, json;
	int attest;		/* sign --attest: OUTDIR/NAME.intoto.json */
	int shard, shards;
	char cert_sha[65], opts_sha[65];
	struct image *img;
	size_t n;
	/* the inputs' sha256, on a thread of its own while children run */
	pthread_t hasher;
	pthread_mutex_t hlock;
	pthread_cond_t hcond;
	int hasher_on;
};

/* ------------------------------------------------------------------ */

static int sha256_file(const char *path, char out[65])
{
	unsigned char buf[1 << 16], md[32];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;
	ssize_t r;

	if (fd < 0 || !c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL))
		goto out;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(c, buf, (size_t)r);
	if (r == 0 && EVP_DigestFinal_ex(c, md, NULL)) {
		for (int i = 0; i < 32; i++)
			sprintf(out + 2 * i, "%02x", md[i]);
		rc = 0;
	}
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(c);
	return rc;
}

static void sha256_str(const char *s, char out[65])
{
	unsigned char md[32];

	EVP_Digest(s, strlen(s), md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* The shard an image falls in: by its name only, so that the order of
 * the list does not matter. */
static int shard_of(const char *name, int shards)
{
	unsigned char md[32];
	uint64_t v = 0;

	EVP_Digest(name, strlen(name), md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 8; i++)
		v = v << 8 | md[i];
	return (int)(v % (uint64_t)shards);
}

static int cmp_img(const void *a, const void *b)
{
	return strcmp(((const struct image *)a)->name,
		      ((const struct image *)b)->name);
}

static int add_image(struct batch *b, const char *path)
{
	struct image *v = realloc(b->img, (b->n + 1) * sizeof(*v));
	const char *slash;

	if (!v)
		return -1;
	b->img = v;
	memset(&v[b->n], 0, sizeof(v[b->n]));
	v[b->n].in = strdup(path);
	if (!v[b->n].in)
		return -1;
	slash = strrchr(v[b->n].in, '/');
	v[b->n].name = slash ? slash + 1 : v[b->n].in;
	b->n++;
	return 0;
}

/* The images: the regular files of a directory, or the lines of a list. */
static int load_images(struct batch *b, const char *src)
{
	struct stat st;

	if (stat(src, &st) < 0) {
		fprintf(stderr, "fwsign: %s: cannot open: %s\n", src,
			strerror(errno));
		return FW_EINPUT;
	}
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(src);
		struct dirent *e;
		char path[PATH_MAX];

		if (!d) {
			fprintf(stderr, "fwsign: %s: cannot open: %s\n", src,
				strerror(errno));
			return FW_EINPUT;
		}
		while ((e = readdir(d))) {
			struct stat es;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", src, e->d_name);
			if (lstat(path, &es) == 0 && S_ISREG(es.st_mode) &&
			    add_image(b, path)) {
				closedir(d);
				return FW_EIO;
			}
		}
		closedir(d);
	} else {
		FILE *f = fopen(src, "re");
		char line[PATH_MAX];

		if (!f) {
			fprintf(stderr, "fwsign: %s: cannot open: %s\n", src,
				strerror(errno));
			return FW_EINPUT;
		}
		while (fgets(line, sizeof(line), f)) {
			char *p = line, *e;

			line[strcspn(line, "#\n")] = '\0';
			while (*p == ' ' || *p == '\t')
				p++;
			e = p + strlen(p);
			while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
				*--e = '\0';
			if (*p && add_image(b, p)) {
				fclose(f);
				return FW_EIO;
			}
		}
		fclose(f);
	}
	if (!b->n) {
		fprintf(stderr, "fwsign: %s: no images in it\n", src);
		return FW_EINPUT;
	}
	qsort(b->img, b->n, sizeof(*b->img), cmp_img);
	for (size_t i = 1; i < b->n; i++)
		if (!strcmp(b->img[i].name, b->img[i - 1].name)) {
			fprintf(stderr, "fwsign: %s: two images named '%s' "
				"(%s and %s): their outputs would collide\n", src,
				b->img[i].name, b->img[i - 1].in, b->img[i].in);
			return FW_EINPUT;
		}
	return FW_OK;
}

/* ------------------------------------------------------------------ */
/* The inputs' sha256                                                  */

/*
 * Every input of this shard is hashed, in the order the children start,
 * on a thread beside them: the first child need not wait for all inputs
 * to be read.  Only a rerun's check (done_before) and the end of a child
 * wait for an image's hash.
 */
static void *hash_inputs(void *arg)
{
	struct batch *b = arg;

	for (size_t i = 0; i < b->n; i++) {
		struct image *im = &b->img[i];
		char sha[65];
		int r, e;

		if (!im->mine)
			continue;
		r = sha256_file(im->in, sha);
		e = errno;
		pthread_mutex_lock(&b->hlock);
		if (r) {
			im->hashed = -1;
			im->hash_errno = e ? e : EIO;
		} else {
			memcpy(im->in_sha, sha, sizeof(sha));
			im->hashed = 1;
		}
		pthread_cond_broadcast(&b->hcond);
		pthread_mutex_unlock(&b->hlock);
	}
	return NULL;
}

/* Waits for im's hash: 0, or -1 and why in errbuf (its input is
 * unreadable). */
static int input_hashed(struct batch *b, struct image *im)
{
	if (b->hasher_on) {
		pthread_mutex_lock(&b->hlock);
		while (!im->hashed)
			pthread_cond_wait(&b->hcond, &b->hlock);
		pthread_mutex_unlock(&b->hlock);
	} else if (!im->hashed) {
		im->hashed = sha256_file(im->in, im->in_sha) ? -1 : 1;
		im->hash_errno = errno ? errno : EIO;
	}
	if (im->hashed > 0)
		return 0;
	snprintf(im->errbuf, sizeof(im->errbuf), "%s: cannot read: %s",
		 im->in, strerror(im->hash_errno));
	return -1;
}

/* ------------------------------------------------------------------ */
/* State: a rerun skips what is done                                   */

static char *state_path(const struct batch *b, const struct image *im)
{
	char *p;

	return asprintf(&p, "%s/%s/%s.json", b->outdir, STATE_DIR,
			im->name) < 0 ? NULL : p;
}

static int done_before(const struct batch *b, struct image *im)
{
	char *sp = state_path(b, im), *out = NULL, sha[65];
	json_object *j = sp ? json_object_from_file(sp) : NULL, *v;
	int done = 0;

	if (!j || asprintf(&out, "%s/%s", b->outdir, im->name) < 0)
		goto out;
#define SAME(key, want) (json_object_object_get_ex(j, key, &v) && \
			 !strcmp(json_object_get_string(v), want))
	done = SAME("input_sha256", im->in_sha) &&
	       SAME("cert_sha256", b->cert_sha) &&
	       SAME("options_sha256", b->opts_sha) &&
	       !sha256_file(out, sha) && SAME("output_sha256", sha);
	if (done && b->attest) {
		char *att = cli_attest_path(out), asha[65];

		done = att && !sha256_file(att, asha) &&
		       SAME("attestation_sha256", asha);
		if (done)
			memcpy(im->att_sha, asha, sizeof(asha));
		free(att);
	}
#undef SAME
	if (done) {
		memcpy(im->out_sha, sha, sizeof(sha));
		if (json_object_object_get_ex(j, "summary", &v))
			im->summary = json_object_get(v);
	}
out:
	json_object_put(j);
	free(sp);
	free(out);
	return done;
}

static void save_state(const struct batch *b, const struct image *im)
{
	char *sp = state_path(b, im), *tmp = NULL;
	json_object *j = json_object_new_object();

	if (!sp || !j || asprintf(&tmp, "%s.tmp", sp) < 0)
		goto out;
	json_object_object_add(j, "input_sha256",
			       json_object_new_string(im->in_sha));
	json_object_object_add(j, "cert_sha256",
			       json_object_new_string(b->cert_sha));
	json_object_object_add(j, "options_sha256",
			       json_object_new_string(b->opts_sha));
	json_object_object_add(j, "output_sha256",
			       json_object_new_string(im->out_sha));
	if (b->attest)
		json_object_object_add(j, "attestation_sha256",
				       json_object_new_string(im->att_sha));
	if (im->summary)
		json_object_object_add(j, "summary",
				       json_object_get(im->summary));
	if (json_object_to_file_ext(tmp, j, JSON_C_TO_STRING_PLAIN) == 0)
		rename(tmp, sp);
	else
		unlink(tmp);
out:
	json_object_put(j);
	free(sp);
	free(tmp);
}

/* ------------------------------------------------------------------ */
/* Children                                                            */

/* The child's files: its temporary output, its report, its stderr. */
static int child_paths(const struct batch *b, const struct image *im,
		       char **tmp, char **rep, char **errf)
{
	*tmp = *rep = *errf = NULL;
	if (asprintf(tmp, "%s/.%s.batch-out", b->outdir, im->name) < 0 ||
	    asprintf(rep, "%s/%s/%s.report", b->outdir, STATE_DIR,
		     im->name) < 0 ||
	    asprintf(errf, "%s/%s/%s.err", b->outdir, STATE_DIR,
		     im->name) < 0) {
		free(*tmp);
		free(*rep);
		*tmp = *rep = *errf = NULL;
		return -1;
	}
	return 0;
}

/*
 * Where batch's own cache goes (removed at its end; NULL: beside the
 * outputs): a tmpfs, /dev/shm, when the release is small against the
 * memory available (the cache holds compressed tails, a few percent of
 * the images).  Its entries are a thousand small files for 20 images, and
 * making a file costs far more on disk (on ext4 without a journal each
 * one scans for recently deleted inodes: 0.2 ms of CPU, 1 ms of wall).
 * A killed batch's leftover there (fwsign-batch-PID-*, PID gone) goes
 * first.
 */
static char *shm_cache(const struct batch *b)
{
	static const char shm[] = "/dev/shm";
	unsigned long long avail = 0, total = 0;
	struct statfs sf;
	struct stat st;
	char line[128], *dir = NULL;
	FILE *f = fopen("/proc/meminfo", "re");
	DIR *d;
	struct dirent *e;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &avail) == 1)
			break;
	if (f)
		fclose(f);
	for (size_t i = 0; i < b->n; i++)
		if (stat(b->img[i].in, &st) == 0)
			total += (unsigned long long)st.st_size;
	if (statfs(shm, &sf) < 0 || sf.f_type != TMPFS_MAGIC ||
	    access(shm, W_OK) < 0 || !avail || total / 1024 > avail / 8)
		return NULL;
	d = opendir(shm);
	while (d && (e = readdir(d))) {
		long pid;
		char *path;

		if (sscanf(e->d_name, "fwsign-batch-%ld-", &pid) != 1 ||
		    pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH) ||
		    asprintf(&path, "%s/%s", shm, e->d_name) < 0)
			continue;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
		    st.st_uid == geteuid())
			fw_cache_remove(path);
		free(path);
	}
	if (d)
		closedir(d);
	if (asprintf(&dir, "%s/fwsign-batch-%ld-XXXXXX", shm,
		     (long)getpid()) < 0)
		return NULL;
	if (!mkdtemp(dir)) {
		free(dir);
		return NULL;
	}
	return dir;
}

/*
 * The secret this run's children authenticate file digests with in the
 * cache (fwsign/cache.h): random, in a memory file that only they inherit
 * (its number in FWSIGN_CACHE_SECRET_FD), never on disk.  Without it the
 * children share blocks and signatures only.
 */
static void batch_secret(void)
{
	uint8_t k[32];
	char num[16];
	int fd = memfd_create("fwsign-batch-secret", 0);

	if (fd < 0)
		return;
	if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k) ||
	    write(fd, k, sizeof(k)) != (ssize_t)sizeof(k)) {
		close(fd);
		return;
	}
	snprintf(num, sizeof(num), "%d", fd);
	setenv("FWSIGN_CACHE_SECRET_FD", num, 1);
	memset(k, 0, sizeof(k));
}

static int start(struct batch *b, struct image *im, int child_jobs)
{
	const char *argv[MAX_ARGS + 16];
	char *tmp, *rep, *errf, jobs[16];
	int k = 0;

	if (child_paths(b, im, &tmp, &rep, &errf))
		return -1;
	unlink(tmp);	/* a killed run's leftover */
	snprintf(jobs, sizeof(jobs), "%d", child_jobs);
	argv[k++] = "fwsign";
	argv[k++] = "sign";
	argv[k++] = im->in;
	argv[k++] = "-o";
	argv[k++] = tmp;
	argv[k++] = "--json";
	argv[k++] = "--jobs";
	argv[k++] = jobs;
	for (int i = 0; i < b->n_sign_args; i++)
		argv[k++] = b->sign_args[i];
	if (b->attest) {
		/* the subject is the output's final name, not the temporary's */
		argv[k++] = "--attest-name";
		argv[k++] = im->name;
	}
	argv[k] = NULL;
	clock_gettime(CLOCK_MONOTONIC, &im->t0);
	fflush(NULL);
	im->pid = fork();
	if (im->pid == 0) {
		int fd = open(rep, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		int fe = open(errf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd < 0 || fe < 0 || dup2(fd, 1) < 0 || dup2(fe, 2) < 0)
			_exit(FW_EIO);
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	free(tmp);
	free(rep);
	free(errf);
	return im->pid < 0 ? -1 : 0;
}

/* The child ended: its report, its output in place, its state. */
static void finish(struct batch *b, struct image *im, int status)
{
	char *tmp = NULL, *out = NULL, *rep = NULL, *errf = NULL;
	json_object *j = NULL, *src, *v;
	FILE *f;

	im->seconds = (double)(im->t1.tv_sec - im->t0.tv_sec) +
		      (double)(im->t1.tv_nsec - im->t0.tv_nsec) / 1e9;
	im->errbuf[0] = '\0';
	if (child_paths(b, im, &tmp, &rep, &errf) ||
	    asprintf(&out, "%s/%s", b->outdir, im->name) < 0)
		goto fail;
	if (input_hashed(b, im))
		goto fail;	/* as if it had not started */
	/* the first line the child said on stderr: fwsign: FILE: why */
	f = fopen(errf, "re");
	if (f) {
		while (fgets(im->errbuf, sizeof(im->errbuf), f) &&
		       strstr(im->errbuf, ": warning: "))
			im->errbuf[0] = '\0';
		fclose(f);
		im->errbuf[strcspn(im->errbuf, "\n")] = '\0';
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		if (!im->errbuf[0])
			snprintf(im->errbuf, sizeof(im->errbuf), "fwsign sign "
				 "%s %d", WIFEXITED(status) ? "exited" :
				 "killed by signal", WIFEXITED(status) ?
				 WEXITSTATUS(status) : WTERMSIG(status));
		goto fail;
	}
	/* a blob's report holds the files' report under "report" */
	j = json_object_from_file(rep);
	src = j;
	if (j && json_object_object_get_ex(j, "report", &v))
		src = v;
	if (src && json_object_object_get_ex(src, "summary", &v))
		im->summary = json_object_get(v);
	if (j && im->summary && json_object_object_get_ex(j, "kernels", &v))
		json_object_object_add(im->summary, "kernels",
				       json_object_get(v));
	if (j && im->summary &&
	    json_object_object_get_ex(j, "kernels_with_cert", &v))
		json_object_object_add(im->summary, "kernels_with_cert",
				       json_object_get(v));
	if (rename(tmp, out) < 0) {
		snprintf(im->errbuf, sizeof(im->errbuf), "%s: cannot rename "
			 "into place: %s", out, strerror(errno));
		goto fail;
	}
	if (sha256_file(out, im->out_sha)) {
		snprintf(im->errbuf, sizeof(im->errbuf), "%s: cannot read: %s",
			 out, strerror(errno));
		goto fail;
	}
	if (b->attest) {
		char *ta = cli_attest_path(tmp), *oa = cli_attest_path(out);
		int ok = ta && oa && rename(ta, oa) == 0 &&
			 !sha256_file(oa, im->att_sha);

		if (!ok)
			snprintf(im->errbuf, sizeof(im->errbuf), "%s: cannot "
				 "rename into place: %s", oa ? oa : out,
				 strerror(errno));
		if (ta)
			unlink(ta);
		free(ta);
		free(oa);
		if (!ok)
			goto fail;
	}
	im->st = I_SIGNED;
	save_state(b, im);
	goto out;
fail:
	im->st = I_FAILED;
	im->error = strdup(!im->errbuf[0] ? "out of memory" :
			   !strncmp(im->errbuf, "fwsign: ", 8) ? im->errbuf + 8 :
			   im->errbuf);
	if (tmp) {
		char *ta = cli_attest_path(tmp);

		unlink(tmp);
		if (ta)
			unlink(ta);
		free(ta);
	}
out:
	if (rep)
		unlink(rep);
	if (errf)
		unlink(errf);
	json_object_put(j);
	free(tmp);
	free(out);
	free(rep);
	free(errf);
}

/* A rerun's image: skipped when its output is done (1), or unreadable
 * (1, failed); 0: to sign.  Only an image with a state file waits for
 * its input's hash here. */
static int rerun(struct batch *b, struct image *im)
{
	char *sp = state_path(b, im);
	struct stat st;
	int had = sp && stat(sp, &st) == 0;

	free(sp);
	if (!had)
		return 0;
	if (input_hashed(b, im)) {
		im->st = I_FAILED;
		im->error = strdup(im->errbuf);
		return 1;
	}
	if (!done_before(b, im))
		return 0;
	im->st = I_SKIPPED;
	return 1;
}

/*
 * A child that ended is finished (its output renamed and hashed, its
 * state saved) only after the next child has taken its slot: the slot
 * does not wait for the parent.
 */
static void run_all(struct batch *b)
{
	int running = 0, child_jobs = 1, ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	int ended_status = 0;
	size_t next = 0;
	struct image *ended = NULL;

	if (ncpu > b->jobs)
		child_jobs = ncpu / b->jobs;
	for (;;) {
		while (running < b->jobs && next < b->n) {
			struct image *im = &b->img[next++];

			if (!im->mine || im->st != I_TODO)
				continue;
			if (rerun(b, im))
				continue;	/* skipped, or unreadable */
			if (start(b, im, child_jobs)) {
				im->st = I_FAILED;
				im->error = strdup(strerror(errno));
				continue;
			}
			running++;
		}
		if (ended) {
			finish(b, ended, ended_status);
			if (isatty(STDERR_FILENO))
				fprintf(stderr, "\r\033[K%s: %s", ended->name,
					ended->st == I_SIGNED ? "signed" :
					"failed");
			ended = NULL;
			continue;
		}
		if (!running)
			break;
		{
			int status;
			pid_t pid = wait(&status);

			if (pid < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			for (size_t i = 0; i < b->n; i++)
				if (b->img[i].pid == pid && b->img[i].st == I_TODO) {
					ended = &b->img[i];
					ended_status = status;
					clock_gettime(CLOCK_MONOTONIC, &ended->t1);
					ended->pid = 0;
					running--;
					break;
				}
		}
	}
	if (isatty(STDERR_FILENO))
		fputs("\r\033[K", stderr);
}

/* ------------------------------------------------------------------ */
/* Reports                                                             */

static int64_t sum_get(json_object *s, const char *key)
{
	json_object *v;

	return s && json_object_object_get_ex(s, key, &v) ?
	       json_object_get_int64(v) : 0;
}

static const char *status_name(int st)
{
	return st == I_SIGNED ? "signed" : st == I_SKIPPED ? "skipped" :
	       st == I_FAILED ? "failed" : "not in this shard";
}

static json_object *report(const struct batch *b)
{
	json_object *r = json_object_new_object(), *rel = json_object_new_array();
	json_object *imgs = json_object_new_array(), *sh = json_object_new_object();
	size_t n[4] = { 0 };

	json_object_object_add(r, "fwsign", json_object_new_string(FWSIGN_VERSION));
	json_object_object_add(r, "command", json_object_new_string("batch"));
	json_object_object_add(sh, "index", json_object_new_int(b->shard));
	json_object_object_add(sh, "total", json_object_new_int(b->shards));
	json_object_object_add(r, "shard", sh);
	json_object_object_add(r, "cert_sha256", json_object_new_string(b->cert_sha));
	for (size_t i = 0; i < b->n; i++) {
		const struct image *im = &b->img[i];
		json_object *o;

		json_object_array_add(rel, json_object_new_string(im->name));
		if (!im->mine)
			continue;
		n[im->st]++;
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(im->name));
		json_object_object_add(o, "input", json_object_new_string(im->in));
		json_object_object_add(o, "status",
				       json_object_new_string(status_name((int)im->st)));
		json_object_object_add(o, "input_sha256",
				       json_object_new_string(im->in_sha));
		json_object_object_add(o, "output_sha256", im->out_sha[0] ?
				       json_object_new_string(im->out_sha) : NULL);
		if (b->attest) {
			char *ap = NULL;

			if (im->att_sha[0] &&
			    asprintf(&ap, "%s/%s.intoto.json", b->outdir,
				     im->name) < 0)
				ap = NULL;
			json_object_object_add(o, "attestation", ap ?
					       json_object_new_string(ap) : NULL);
			json_object_object_add(o, "attestation_sha256",
					       im->att_sha[0] ?
					       json_object_new_string(im->att_sha) :
					       NULL);
			free(ap);
		}
		json_object_object_add(o, "seconds",
				       json_object_new_double(im->seconds));
		json_object_object_add(o, "summary", im->summary ?
				       json_object_get(im->summary) : NULL);
		json_object_object_add(o, "error", im->error ?
				       json_object_new_string(im->error) : NULL);
		json_object_array_add(imgs, o);
	}
	json_object_object_add(r, "release", rel);
	json_object_object_add(r, "images", imgs);
	{
		json_object *s = json_object_new_object();

		json_object_object_add(s, "signed", json_object_new_int64((int64_t)n[I_SIGNED]));
		json_object_object_add(s, "skipped", json_object_new_int64((int64_t)n[I_SKIPPED]));
		json_object_object_add(s, "failed", json_object_new_int64((int64_t)n[I_FAILED]));
		json_object_object_add(r, "summary", s);
	}
	return r;
}

static int write_report(json_object *r, const char *path, int json)
{
	char *tmp = NULL;
	int rc = FW_OK;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return FW_EIO;
	if (json_object_to_file_ext(tmp, r, JSON_C_TO_STRING_PRETTY) ||
	    rename(tmp, path) < 0) {
		fprintf(stderr, "fwsign: %s: cannot write the report: %s\n",
			path, strerror(errno));
		unlink(tmp);
		rc = FW_EIO;
	}
	free(tmp);
	if (json)
		puts(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PRETTY));
	return rc;
}

static void table(const struct batch *b)
{
	printf("%-32s %-9s %8s %8s %7s  %s\n", "image", "status", "signed",
	       "files", "seconds", "output sha256 / error");
	for (size_t i = 0; i < b->n; i++) {
		const struct image *im = &b->img[i];

		if (!im->mine)
			continue;
		printf("%-32s %-9s %8lld %8lld %7.2f  %s\n", im->name,
		       status_name((int)im->st),
		       (long long)(sum_get(im->summary, "signed") +
				   sum_get(im->summary, "resigned")),
		       (long long)sum_get(im->summary, "files"), im->seconds,
		       im->st == I_FAILED ? im->error : im->out_sha);
	}
}

/* --merge: every image of the release exactly once. */
static int merge(int n, char **files, const char *out, int json)
{
	json_object *all = NULL, *imgs = json_object_new_array();
	json_object *m = json_object_new_object(), *s;
	size_t n_signed = 0, n_skipped = 0, n_failed = 0;
	int rc = FW_OK;

	for (int i = 0; i < n; i++) {
		json_object *r = json_object_from_file(files[i]), *rel, *v;

		if (!r || !json_object_object_get_ex(r, "release", &rel) ||
		    !json_object_object_get_ex(r, "images", &v)) {
			fprintf(stderr, "fwsign: %s: not a batch report\n",
				files[i]);
			json_object_put(r);
			rc = FW_EINPUT;
			goto out;
		}
		if (!all) {
			all = json_object_get(rel);
		} else if (strcmp(json_object_to_json_string(all),
				  json_object_to_json_string(rel))) {
			fprintf(stderr, "fwsign: %s: a report of another "
				"release (its list of images differs)\n",
				files[i]);
			json_object_put(r);
			rc = FW_EINPUT;
			goto out;
		}
		for (size_t k = 0; k < json_object_array_length(v); k++) {
			json_object *im = json_object_array_get_idx(v, k), *nm;
			const char *name;

			json_object_object_get_ex(im, "name", &nm);
			name = json_object_get_string(nm);
			for (size_t q = 0; q < json_object_array_length(imgs); q++) {
				json_object *o = json_object_array_get_idx(imgs, q), *on;

				json_object_object_get_ex(o, "name", &on);
				if (!strcmp(json_object_get_string(on), name)) {
					fprintf(stderr, "fwsign: %s: image '%s' "
						"is in two reports: signed "
						"twice\n", files[i], name);
					rc = FW_EPROBLEM;
				}
			}
			json_object_array_add(imgs, json_object_get(im));
		}
		json_object_put(r);
	}
	for (size_t k = 0; all && k < json_object_array_length(all); k++) {
		const char *name = json_object_get_string(
			json_object_array_get_idx(all, k));
		int found = 0;

		for (size_t q = 0; q < json_object_array_length(imgs); q++) {
			json_object *o = json_object_array_get_idx(imgs, q), *on, *st;
			const char *sts;

			json_object_object_get_ex(o, "name", &on);
			if (strcmp(json_object_get_string(on), name))
				continue;
			found = 1;
			json_object_object_get_ex(o, "status", &st);
			sts = json_object_get_string(st);
			n_signed += !strcmp(sts, "signed");
			n_skipped += !strcmp(sts, "skipped");
			n_failed += !strcmp(sts, "failed");
		}
		if (!found) {
			fprintf(stderr, "fwsign: image '%s' is in no report: "
				"a shard is missing\n", name);
			rc = FW_EPROBLEM;
		}
	}
	json_object_object_add(m, "fwsign", json_object_new_string(FWSIGN_VERSION));
	json_object_object_add(m, "command", json_object_new_string("batch"));
	json_object_object_add(m, "merged", json_object_new_int(n));
	json_object_object_add(m, "release", all ? json_object_get(all) : NULL);
	json_object_object_add(m, "images", json_object_get(imgs));
	s = json_object_new_object();
	json_object_object_add(s, "signed", json_object_new_int64((int64_t)n_signed));
	json_object_object_add(s, "skipped", json_object_new_int64((int64_t)n_skipped));
	json_object_object_add(s, "failed", json_object_new_int64((int64_t)n_failed));
	json_object_object_add(m, "summary", s);
	if (out && write_report(m, out, json))
		rc = FW_EIO;
	else if (!out && json)
		puts(json_object_to_json_string_ext(m, JSON_C_TO_STRING_PRETTY));
	if (!rc && n_failed)
		rc = FW_EPROBLEM;
	if (!json)
		printf("%zu reports: %zu signed, %zu skipped, %zu failed of %zu "
		       "images\n", (size_t)n, n_signed, n_skipped, n_failed,
		       all ? json_object_array_length(all) : 0);
out:
	json_object_put(all);
	json_object_put(imgs);
	json_object_put(m);
	return rc;
}

static int parse_shard(const char *s, int *i, int *n)
{
	char *end;
	long a = strtol(s, &end, 10), c;

	if (end == s || *end != '/')
		return -1;
	c = strtol(end + 1, &end, 10);
	if (*end || c < 1 || c > 100000 || a < 0 || a >= c)
		return -1;
	*i = (int)a;
	*n = (int)c;
	return 0;
}

int cmd_batch(struct cli *cx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "shard", required_argument, NULL, 1 },
		{ "shards", required_argument, NULL, 2 },
		{ "report", required_argument, NULL, 3 },
		{ "merge", no_argument, NULL, 5 },
		{ "attest", no_argument, NULL, 6 },
		{ "cache", required_argument, NULL, 7 },
		{ "no-cache", no_argument, NULL, 8 },
		/* passed to each fwsign sign */
		{ "fit-keydir", required_argument, NULL, 'H' },
		{ "sign-other", no_argument, NULL, 'F' },
		{ "no-inject-cert", no_argument, NULL, 'F' },
		{ "skip-kernels-without-slot", no_argument, NULL, 'F' },
		{ "drop-image-signature", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct batch b = { .shards = 1 };
	const struct fw_key_opts *ko = &cx->key;
	char optstr[4096] = "", flags[MAX_ARGS][40], *own_cache = NULL;
	const char *cache = NULL;
	int no_cache = 0;
	int c, li = 0, do_merge = 0, rc;
	json_object *r;

	while ((c = cli_getopt(cx, argc, argv, "o:h", opts, &li)) != -1) {
		switch (c) {
		case 'o': b.outdir = optarg; break;
		case 1:
			if (parse_shard(optarg, &b.shard, &b.shards))
				return cli_usage("bad --shard '%s' (I/N, 0 <= I "
						 "< N)", optarg);
			break;
		case 2: {
			const char *gl = getenv("CI_NODE_INDEX");
			const char *k8 = getenv("JOB_COMPLETION_INDEX");

			b.shards = cli_jobs(optarg);
			if (b.shards < 0)
				return cli_usage("bad --shards '%s'", optarg);
			if (gl && *gl)
				b.shard = atoi(gl) - 1;	/* GitLab: 1..N */
			else if (k8 && *k8)
				b.shard = atoi(k8);	/* Kubernetes: 0..N-1 */
			else
				return cli_usage("--shards: neither "
						 "CI_NODE_INDEX nor "
						 "JOB_COMPLETION_INDEX is set");
			if (b.shard < 0 || b.shard >= b.shards)
				return cli_usage("--shards %d: index %d is out "
						 "of range", b.shards, b.shard);
			break;
		}
		case 3: b.report = optarg; break;
		case 5: do_merge = 1; break;
		case 7: cache = optarg; break;
		case 8: no_cache = 1; break;
		case 6:
			b.attest = 1;
			if (b.n_sign_args + 2 > MAX_ARGS - 6)
				return cli_usage("too many options");
			b.sign_args[b.n_sign_args++] = "--attest";
			break;
		case 'H':
		case 'F':
			if (b.n_sign_args + 2 > MAX_ARGS - 6)
				return cli_usage("too many options");
			snprintf(flags[b.n_sign_args], sizeof(flags[0]), "--%s",
				 opts[li].name);
			b.sign_args[b.n_sign_args] = flags[b.n_sign_args];
			b.n_sign_args++;
			if (c == 'H')
				b.sign_args[b.n_sign_args++] = optarg;
			break;
		case 'h': fputs(help, stdout); return 0;
		default: return cli_bad_option(cx);
		}
	}
	b.key = ko->key;
	b.cert = ko->cert;
	b.jobs = cx->jobs ? cx->jobs : 2;
	b.json = cx->json;
	{	/* the signer's options, passed to each fwsign sign first */
		const char *key_args[] = {
			ko->hash ? "--hash" : NULL, ko->hash,
			ko->pass_env ? "--pass-env" : NULL, ko->pass_env,
			ko->pass_file ? "--pass-file" : NULL, ko->pass_file,
			ko->use_keyid ? "--keyid" : NULL,
			ko->allow_expired ? "--allow-expired" : NULL,
		};
		size_t nk = 0;

		for (size_t i = 0; i < sizeof(key_args) / sizeof(*key_args); i++)
			nk += key_args[i] != NULL;
		if (b.n_sign_args + (int)nk > MAX_ARGS - 6)
			return cli_usage("too many options");
		memmove(b.sign_args + nk, b.sign_args,
			(size_t)b.n_sign_args * sizeof(*b.sign_args));
		nk = 0;
		for (size_t i = 0; i < sizeof(key_args) / sizeof(*key_args); i++)
			if (key_args[i])
				b.sign_args[nk++] = key_args[i];
		b.n_sign_args += (int)nk;
	}
	if (!getenv("CI_NODE_TOTAL") || b.shards > 1) {
		/* --shard given, or none */
	} else if (getenv("CI_NODE_INDEX")) {
		/* GitLab parallel: CI_NODE_INDEX/CI_NODE_TOTAL, 1-based */
		b.shards = atoi(getenv("CI_NODE_TOTAL"));
		b.shard = atoi(getenv("CI_NODE_INDEX")) - 1;
		if (b.shards < 1 || b.shard < 0 || b.shard >= b.shards)
			return cli_usage("CI_NODE_INDEX/CI_NODE_TOTAL out of "
					 "range");
	}
	if (do_merge) {
		if (optind >= argc)
			return cli_usage("batch --merge: give the reports");
		return merge(argc - optind, argv + optind, b.report, b.json);
	}
	if (optind != argc - 1)
		return cli_usage("batch: give one DIR or LIST");
	if (cache && no_cache)
		return cli_usage("batch: --cache or --no-cache, not both");
	if (!b.outdir || !b.key || !b.cert)
		return cli_usage("batch: -o OUTDIR, --key and --cert are required");
	/* the key and certificate are checked once, before any image (and
	 * let go: each fwsign sign opens them again) */
	if ((rc = cli_signer(cx, NULL)))
		return rc;
	fw_signer_free(cx->signer);
	cx->signer = NULL;
	b.sign_args[b.n_sign_args++] = "--key";
	b.sign_args[b.n_sign_args++] = b.key;
	b.sign_args[b.n_sign_args++] = "--cert";
	b.sign_args[b.n_sign_args++] = b.cert;
	for (int i = 0; i < b.n_sign_args; i++) {
		strncat(optstr, b.sign_args[i], sizeof(optstr) - strlen(optstr) - 2);
		strcat(optstr, "\n");
	}
	sha256_str(optstr, b.opts_sha);
	if (sha256_file(b.cert, b.cert_sha)) {
		fprintf(stderr, "fwsign: %s: cannot read: %s\n", b.cert,
			strerror(errno));
		return FW_EKEY;
	}
	rc = load_images(&b, argv[optind]);
	if (rc)
		goto out;
	{
		char *sd;

		if ((mkdir(b.outdir, 0777) < 0 && errno != EEXIST) ||
		    asprintf(&sd, "%s/%s", b.outdir, STATE_DIR) < 0) {
			fprintf(stderr, "fwsign: %s: cannot create: %s\n",
				b.outdir, strerror(errno));
			rc = FW_EIO;
			goto out;
		}
		if (mkdir(sd, 0777) < 0 && errno != EEXIST) {
			fprintf(stderr, "fwsign: %s: cannot create: %s\n", sd,
				strerror(errno));
			free(sd);
			rc = FW_EIO;
			goto out;
		}
		/* the cache changes no output: not part of the options' hash */
		if (!no_cache && !cache &&
		    ((own_cache = shm_cache(&b)) ||
		     asprintf(&own_cache, "%s/cache", sd) >= 0))
			cache = own_cache;
		free(sd);
		if (cache) {
			b.sign_args[b.n_sign_args++] = "--cache";
			b.sign_args[b.n_sign_args++] = cache;
			batch_secret();
		}
	}
	for (size_t i = 0; i < b.n; i++) {
		struct image *im = &b.img[i];

		im->mine = shard_of(im->name, b.shards) == b.shard;
		if (!im->mine)
			continue;
		{
			/* a killed run's half-written output goes first */
			char *tmp, *rep, *errf;

			if (!child_paths(&b, im, &tmp, &rep, &errf)) {
				char *ta = cli_attest_path(tmp);

				if (ta)
					unlink(ta);
				free(ta);
				unlink(tmp);
				unlink(rep);
				unlink(errf);
				free(tmp);
				free(rep);
				free(errf);
			}
		}
	}
	pthread_mutex_init(&b.hlock, NULL);
	pthread_cond_init(&b.hcond, NULL);
	b.hasher_on = !pthread_create(&b.hasher, NULL, hash_inputs, &b);
	run_all(&b);
	if (b.hasher_on)
		pthread_join(b.hasher, NULL);
	pthread_mutex_destroy(&b.hlock);
	pthread_cond_destroy(&b.hcond);
	r = report(&b);
	{
		char *def = NULL;
		const char *path = b.report;

		if (!path && asprintf(&def, "%s/fwsign-batch.json", b.outdir) >= 0)
			path = def;
		rc = path ? write_report(r, path, b.json) : FW_EIO;
		free(def);
	}
	if (!b.json)
		table(&b);
	{
		size_t failed = 0, mine = 0;

		for (size_t i = 0; i < b.n; i++) {
			failed += b.img[i].mine && b.img[i].st == I_FAILED;
			mine += b.img[i].mine;
		}
		if (!b.json)
			printf("%zu images (shard %d/%d of %zu): %zu failed\n",
			       mine, b.shard, b.shards, b.n, failed);
		if (!rc && failed)
			rc = FW_EPROBLEM;
	}
	json_object_put(r);
	if (own_cache)
		fw_cache_remove(own_cache);
out:
	free(own_cache);
	for (size_t i = 0; i < b.n; i++) {
		free(b.img[i].in);
		free(b.img[i].error);
		json_object_put(b.img[i].summary);
	}
	free(b.img);
	return rc;
}
