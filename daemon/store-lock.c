/*
 * The lock file beside a SQLite database (see store-lock.h).
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store-lock.h"

/* Tries when the file is removed under us (its holder just let go). */
#define STORE_LOCK_TRIES	10

struct store_lock {
	char	*path;
	int	 fd;
};

/* The holder's pid as it wrote it, or 0. */
static long
store_lock_holder(int fd)
{
	char	 buf[32];
	ssize_t	 n;
	long	 pid;
	char	*end;

	if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return end != buf && (*end == '\n' || *end == '\0') && pid > 0 ?
	    pid : 0;
}

/* Is fd still the file named path (not removed or replaced)? */
static bool
store_lock_current(int fd, const char *path)
{
	struct stat	 a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

struct store_lock *
store_lock_take(const char *db_path, char *err, size_t errlen)
{
	struct store_lock	*l;
	char			 pid[32];
	long			 holder;
	int			 fd = -1, tries, n;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    asprintf(&l->path, "%s.lock", db_path) == -1)
		fatal("out of memory");
	for (tries = 0; tries < STORE_LOCK_TRIES; tries++) {
		if ((fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC |
		    O_NOFOLLOW, 0644)) == -1) {
			snprintf(err, errlen, "%s: cannot make the lock file: "
			    "%s", l->path, strerror(errno));
			goto fail;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			if (errno != EWOULDBLOCK) {
				snprintf(err, errlen, "%s: cannot lock: %s",
				    l->path, strerror(errno));
			} else if ((holder = store_lock_holder(fd)) > 0) {
				snprintf(err, errlen, "another jqd (pid %ld) "
				    "holds %s (lock file %s)", holder, db_path,
				    l->path);
			} else
				snprintf(err, errlen, "another jqd holds %s "
				    "(lock file %s)", db_path, l->path);
			close(fd);
			goto fail;
		}
		if (store_lock_current(fd, l->path))
			break;
		close(fd);
		fd = -1;
	}
	if (fd == -1) {
		snprintf(err, errlen, "%s: removed each time it was locked",
		    l->path);
		goto fail;
	}
	l->fd = fd;
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("%s: cannot write our pid: %s", l->path,
		    strerror(errno));
	return l;
fail:
	free(l->path);
	free(l);
	return NULL;
}

void
store_lock_release(struct store_lock *l)
{
	if (l == NULL)
		return;
	/* Removed while still held: no one can take the name meanwhile. */
	if (unlink(l->path) == -1 && errno != ENOENT)
		log_warn("%s: cannot remove: %s", l->path, strerror(errno));
	close(l->fd);
	free(l->path);
	free(l);
}
