/*
 * slowsync.so: an LD_PRELOAD library for tests.  While the file named by
 * JQTEST_SLOW_SYNC_FILE exists, fsync() and fdatasync() first sleep as
 * many milliseconds as the number it holds, so a commit of jqd's stays in
 * flight long enough for a test to watch which replies wait for it and
 * which do not.  Before sleeping they create that name plus ".entered",
 * for the test to know a commit is in flight.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef int sync_fn(int);

static void
slow_down(void)
{
	const char	*path = getenv("JQTEST_SLOW_SYNC_FILE");
	FILE		*fp;
	char		 entered[4096];
	long		 ms = 0;
	struct timespec	 ts;

	if (path == NULL || (fp = fopen(path, "r")) == NULL)
		return;
	if (fscanf(fp, "%ld", &ms) != 1)
		ms = 0;
	fclose(fp);
	snprintf(entered, sizeof(entered), "%s.entered", path);
	if ((fp = fopen(entered, "w")) != NULL)
		fclose(fp);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (ms > 0 && nanosleep(&ts, &ts) == -1)
		continue;
}

static int
call_next(const char *name, int fd)
{
	sync_fn	*next = (sync_fn *)dlsym(RTLD_NEXT, name);

	return next(fd);
}

int
fsync(int fd)
{
	slow_down();
	return call_next("fsync", fd);
}

int
fdatasync(int fd)
{
	slow_down();
	return call_next("fdatasync", fd);
}
