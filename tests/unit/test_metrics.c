/* Unit tests of metrics.c's shared-memory segment: who may have made it. Each test binds an
 * abstract unix socket of its own onto fd 0, so metrics_create names a segment no other test
 * (or pool) uses; the name is read back from EVENTS_METRICS_SHM. Planting a segment of another
 * owner needs root (fchown); those tests are skipped otherwise. */
#include "metrics.h"
#include "capture.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum { NOBODY = 65534 };

static int saved_stdin = -1;
static char name[64];  /* "/events-metrics-..." */
static char path[128]; /* "/dev/shm/events-metrics-..." */
static off_t good_size;
static char other_file[64];

static const char *
no_label(int i)
{
	(void)i;
	return "x";
}

/* A segment name of this test's own, its path and the size of a good segment; no segment
 * left behind. */
static void
setup(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(s >= 0, "socket");
	snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "events-test-metrics-%d", (int)getpid());
	cr_assert_eq(
	    bind(s, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa.sun_path + 1))),
	    0, "bind: %s", strerror(errno));
	saved_stdin = dup(0);
	cr_assert(saved_stdin >= 0 && dup2(s, 0) == 0, "dup2");
	close(s);
	unsetenv("EVENTS_METRICS_SHM");
	cr_assert_eq(metrics_create(4), 0);
	cr_assert(getenv("EVENTS_METRICS_SHM"), "EVENTS_METRICS_SHM is set");
	snprintf(name, sizeof name, "%s", getenv("EVENTS_METRICS_SHM"));
	snprintf(path, sizeof path, "/dev/shm%s", name);
	cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
	good_size = st.st_size;
	cr_assert_eq(shm_unlink(name), 0);
	unsetenv("EVENTS_METRICS_SHM");
}

static void
teardown(void)
{
	shm_unlink(name);
	if (other_file[0])
		unlink(other_file);
	if (saved_stdin >= 0) {
		dup2(saved_stdin, 0);
		close(saved_stdin);
	}
}

/* Creates the segment as someone else might have: owner, mode, size, and "planted!" in its
 * first bytes. */
static void
plant(uid_t owner, mode_t mode, off_t size)
{
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	cr_assert(fd >= 0, "shm_open %s: %s", name, strerror(errno));
	cr_assert_eq(ftruncate(fd, size), 0);
	if (size >= 8)
		cr_assert_eq(pwrite(fd, "planted!", 8, 0), 8);
	cr_assert_eq(fchown(fd, owner, (gid_t)-1), 0, "fchown: %s", strerror(errno));
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* The planted segment is as it was: not truncated, not re-initialised. */
static void
expect_untouched(off_t size, const char *what)
{
	struct stat st;
	char head[8] = {0};
	int fd = open(path, O_RDONLY);
	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	cr_expect_eq(st.st_size, size, "%s: size %lld, planted %lld", what, (long long)st.st_size,
		     (long long)size);
	if (size >= 8) {
		cr_expect_eq(pread(fd, head, 8, 0), 8);
		cr_expect_eq(memcmp(head, "planted!", 8), 0, "%s: content changed", what);
	}
	close(fd);
}

static void
require_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to give a segment to another owner");
}

Test(metrics, refuses_planted_segment, .init = setup, .fini = teardown)
{
	require_root();
	uid_t me = geteuid();
	struct {
		const char *what;
		uid_t owner;
		mode_t mode;
		off_t size; /* 0: a good segment's size */
		const char *says;
	} cases[] = {
	    {"another user's", NOBODY, 0600, 0, "uid 65534"},
	    {"another user's, other size", NOBODY, 0600, 100, "uid 65534"},
	    {"another user's, empty", NOBODY, 0600, -1, "uid 65534"},
	    {"ours, group-readable", me, 0640, 0, "0640"},
	    {"ours, world-writable", me, 0606, 0, "0606"},
	    {"ours, group-writable, other size", me, 0660, 100, "0660"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct capture cap;
		char owner[32];
		off_t size = cases[i].size == 0 ? good_size : cases[i].size < 0 ? 0 : cases[i].size;
		shm_unlink(name);
		plant(cases[i].owner, cases[i].mode, size);
		capture_begin(&cap);
		int rc = metrics_create(4);
		const char *err = capture_end(&cap);
		cr_expect_eq(rc, -1, "case %zu (%s): accepted", i, cases[i].what);
		cr_expect_eq(capture_lines(err), 1, "case %zu (%s): one line, got:\n%s", i,
			     cases[i].what, err);
		cr_expect(strstr(err, path), "case %zu (%s): names %s:\n%s", i, cases[i].what, path,
			  err);
		snprintf(owner, sizeof owner, "uid %d", (int)cases[i].owner);
		cr_expect(strstr(err, owner), "case %zu (%s): names the owner (%s):\n%s", i,
			  cases[i].what, owner, err);
		cr_expect(strstr(err, cases[i].says), "case %zu (%s): says %s:\n%s", i,
			  cases[i].what, cases[i].says, err);
		cr_expect_null(getenv("EVENTS_METRICS_SHM"), "case %zu: no segment for workers", i);
		expect_untouched(size, cases[i].what);
	}
}

Test(metrics, refuses_symlink_and_fifo, .init = setup, .fini = teardown)
{
	struct capture cap;
	int fd, rc;
	snprintf(other_file, sizeof other_file, "/tmp/events-test-metrics-%d", (int)getpid());
	fd = open(other_file, O_RDWR | O_CREAT | O_EXCL, 0600);
	cr_assert(fd >= 0 && ftruncate(fd, good_size) == 0);
	close(fd);
	cr_assert_eq(symlink(other_file, path), 0);
	capture_begin(&cap);
	rc = metrics_create(4);
	capture_end(&cap);
	cr_expect_eq(rc, -1, "a symlink is not followed");
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(mkfifo(path, 0600), 0);
	capture_begin(&cap);
	rc = metrics_create(4);
	capture_end(&cap);
	cr_expect_eq(rc, -1, "a FIFO is not a segment");
}

Test(metrics, fresh_segment_is_private, .init = setup, .fini = teardown)
{
	struct stat st;
	mode_t old = umask(0);
	int rc = metrics_create(4);
	umask(old);
	cr_assert_eq(rc, 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect(S_ISREG(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0600, "mode %04o", (unsigned)(st.st_mode & 07777));
	cr_expect_eq(st.st_uid, geteuid());
	cr_expect_eq(st.st_size, good_size);
}

Test(metrics, reuses_own_segment_with_counters, .init = setup, .fini = teardown)
{
	size_t len;
	char *text;
	cr_assert_eq(metrics_create(4), 0);
	cr_assert_eq(metrics_attach(0), 0);
	metrics_add(METRIC_EVENTS_ACCEPTED, 7);
	/* the supervisor restarts: same name, same owner */
	cr_assert_eq(metrics_create(4), 0);
	cr_assert_eq(metrics_attach(1), 0);
	metrics_add(METRIC_EVENTS_ACCEPTED, 1);
	text = metrics_render(&len, 0, no_label);
	cr_assert(text);
	cr_expect(strstr(text, "\nevents_accepted_total 8\n"), "counters kept:\n%s", text);
	free(text);
}

Test(metrics, reinitialises_own_segment_of_another_layout, .init = setup, .fini = teardown)
{
	struct stat st;
	size_t len;
	char *text;
	struct capture cap;
	plant(geteuid(), 0600, 100);
	capture_begin(&cap);
	int rc = metrics_create(4);
	capture_end(&cap);
	cr_assert_eq(rc, 0, "%s", cap.text);
	cr_expect(strstr(cap.text, "another layout"), "says it starts afresh:\n%s", cap.text);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_size, good_size);
	cr_assert_eq(metrics_attach(0), 0);
	text = metrics_render(&len, 0, no_label);
	cr_assert(text);
	cr_expect(strstr(text, "\nevents_accepted_total 0\n"), "fresh counters:\n%s", text);
	free(text);
}

Test(metrics, attach_checks_the_segment, .init = setup, .fini = teardown)
{
	require_root();
	struct {
		const char *what;
		uid_t owner;
		mode_t mode;
		int half; /* truncated to half its size after creation */
		int ok;
	} cases[] = {
	    {"good", 0, 0600, 0, 1},
	    {"another user's", NOBODY, 0600, 0, 0},
	    {"group-readable", 0, 0640, 0, 0},
	    {"world-readable", 0, 0604, 0, 0},
	    {"shorter than a segment", 0, 0600, 1, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct capture cap;
		shm_unlink(name);
		cr_assert_eq(metrics_create(4), 0);
		cr_assert_eq(chown(path, cases[i].owner, (gid_t)-1), 0);
		cr_assert_eq(chmod(path, cases[i].mode), 0);
		if (cases[i].half)
			cr_assert_eq(truncate(path, good_size / 2), 0);
		capture_begin(&cap);
		int rc = metrics_attach(0);
		const char *err = capture_end(&cap);
		cr_expect_eq(rc == 0, cases[i].ok, "case %zu (%s): rc %d", i, cases[i].what, rc);
		if (!cases[i].ok) {
			cr_expect_eq(capture_lines(err), 1, "case %zu (%s): one line:\n%s", i,
				     cases[i].what, err);
			cr_expect(strstr(err, path), "case %zu (%s): names %s:\n%s", i,
				  cases[i].what, path, err);
		}
	}
}
