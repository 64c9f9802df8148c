/*
 * Who may use jqd (see access.h).
 */
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "config.h"
#include "jqclient.h"
#include "log.h"

#define TOKEN_MAX	4095		/* PROTOCOL.md 8 */
#define TOKEN_RANDOM	32		/* bytes of a made token, as hex */
/* Supplementary groups read at once; a peer with more costs a malloc. */
#define PEER_GROUPS	64

/* A name, or a number (for ids without a name on this host). */
static int
access_lookup(const char *what, const char *name, bool group, long *id)
{
	struct passwd	*pw;
	struct group	*gr;
	char		*end;
	unsigned long	 n;

	errno = 0;
	n = strtoul(name, &end, 10);
	if (*name >= '0' && *name <= '9' && *end == '\0' && errno == 0 &&
	    n < (unsigned long)INT_MAX) {
		*id = (long)n;
		return 0;
	}
	if (group && (gr = getgrnam(name)) != NULL) {
		*id = (long)gr->gr_gid;
		return 0;
	}
	if (!group && (pw = getpwnam(name)) != NULL) {
		*id = (long)pw->pw_uid;
		return 0;
	}
	log_error("%s: no %s '%s'", what, group ? "group" : "user", name);
	return -1;
}

int
access_init(struct access *a, const struct config *cfg)
{
	size_t	 i;
	long	 id;

	memset(a, 0, sizeof(*a));
	a->uids = calloc(cfg->nallow_user + 2, sizeof(*a->uids));
	a->gids = calloc(cfg->nallow_group + 1, sizeof(*a->gids));
	if (a->uids == NULL || a->gids == NULL)
		fatal("out of memory");
	a->uids[a->nuids++] = 0;
	a->uids[a->nuids++] = geteuid();
	for (i = 0; i < cfg->nallow_user; i++) {
		if (access_lookup("allow-user", cfg->allow_user[i], false,
		    &id) == -1)
			return -1;
		a->uids[a->nuids++] = (uid_t)id;
	}
	for (i = 0; i < cfg->nallow_group; i++) {
		if (access_lookup("allow-group", cfg->allow_group[i], true,
		    &id) == -1)
			return -1;
		a->gids[a->ngids++] = (gid_t)id;
	}
	return 0;
}

void
access_fini(struct access *a)
{
	free(a->uids);
	free(a->gids);
	memset(a, 0, sizeof(*a));
}

void
access_socket_stat(const char *path, struct access_socket *as)
{
	struct stat	 st;

	memset(as, 0, sizeof(*as));
	if (path[0] != '\0' && stat(path, &st) == 0) {
		as->gid = st.st_gid;
		as->group_may = (st.st_mode & S_IWGRP) != 0;
	}
}

static bool
access_gid_ok(const struct access *a, const struct access_socket *as,
    gid_t gid)
{
	size_t	 i;

	if (as->group_may && gid == as->gid)
		return true;
	for (i = 0; i < a->ngids; i++) {
		if (a->gids[i] == gid)
			return true;
	}
	return false;
}

bool
access_unix_peer(const struct access *a, const struct access_socket *as,
    int fd, long *uid)
{
	struct ucred	 cred;
	gid_t		 stack[PEER_GROUPS], *groups = stack;
	socklen_t	 len = sizeof(cred);
	size_t		 i, n;
	bool		 ok = false;

	*uid = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    len != sizeof(cred))
		return false;
	*uid = (long)cred.uid;
	for (i = 0; i < a->nuids; i++) {
		if (a->uids[i] == cred.uid)
			return true;
	}
	if (access_gid_ok(a, as, cred.gid))
		return true;
	/* Supplementary groups, as the kernel saw them at connect (4.13+). */
	len = sizeof(stack);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1) {
		/* len now says how much they take (up to NGROUPS_MAX). */
		if (errno != ERANGE || (groups = malloc(len)) == NULL ||
		    getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups,
		    &len) == -1)
			goto out;
	}
	n = len / sizeof(groups[0]);
	for (i = 0; i < n && !ok; i++)
		ok = access_gid_ok(a, as, groups[i]);
out:
	if (groups != stack)
		free(groups);
	return ok;
}

/* Make path's directory (and its parent, for ~/.config/jqd), mode 0700. */
static int
access_token_dir(const char *path)
{
	char	 dir[PATH_MAX], *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) ||
	    (slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno == ENOENT && (slash = strrchr(dir, '/')) != NULL &&
	    slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
			goto fail;
		*slash = '/';
		if (mkdir(dir, 0700) == 0 || errno == EEXIST)
			return 0;
	}
fail:
	log_error("token file %s: cannot make its directory: %s", path,
	    strerror(errno));
	return -1;
}

/* A new file holding a random token.  0, 1 if it exists, -1. */
static int
access_token_create(const char *path)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 rnd[TOKEN_RANDOM];
	char			 text[2 * TOKEN_RANDOM + 1];
	size_t			 i;
	int			 fd;

	if (access_token_dir(path) == -1)
		return -1;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1) {
		if (errno == EEXIST)
			return 1;
		log_error("token file %s: cannot create: %s", path,
		    strerror(errno));
		return -1;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		fatal("getrandom: %s", strerror(errno));
	for (i = 0; i < sizeof(rnd); i++) {
		text[2 * i] = hex[rnd[i] >> 4];
		text[2 * i + 1] = hex[rnd[i] & 15];
	}
	text[2 * TOKEN_RANDOM] = '\n';
	if (write(fd, text, sizeof(text)) != (ssize_t)sizeof(text) ||
	    fsync(fd) == -1) {
		log_error("token file %s: cannot write: %s", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	log_warn("token file %s did not exist: made it with a new token; "
	    "TCP clients must send it (jq-client reads it from there, or "
	    "give it with JQ_TOKEN or --token-file)", path);
	return 0;
}

int
access_token_load(const char *path, bool create, char **token, size_t *len)
{
	/* The longest token, surrounded by a CRLF and a little more. */
	char		 buf[TOKEN_MAX + 64];
	struct stat	 st;
	ssize_t		 n;
	size_t		 start = 0, end;
	int		 fd;

	if (create && access_token_create(path) == -1)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		log_error("token file %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH))
		log_warn("token file %s can be read or written by every user "
		    "(mode %04o): anyone may run commands as jqd's user; "
		    "chmod o-rw it", path, (unsigned)(st.st_mode & 07777));
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		log_error("token file %s: %s", path, strerror(errno));
		return -1;
	}
	end = (size_t)n;
	while (start < end && strchr(" \t\r\n", buf[start]) != NULL)
		start++;
	while (end > start && strchr(" \t\r\n", buf[end - 1]) != NULL)
		end--;
	if (end == start || end - start > TOKEN_MAX ||
	    n == (ssize_t)sizeof(buf)) {
		log_error("token file %s: %s", path, end == start ? "empty" :
		    "the token is longer than 4095 bytes");
		return -1;
	}
	if (memchr(buf + start, '\0', end - start) != NULL) {
		/* auth's token is a JSON string without U+0000. */
		log_error("token file %s: the token holds a NUL byte", path);
		return -1;
	}
	*len = end - start;
	if ((*token = malloc(*len + 1)) == NULL)
		fatal("out of memory");
	memcpy(*token, buf + start, *len);
	(*token)[*len] = '\0';
	return 0;
}

int
access_socket_dir(const char *path)
{
	char		 dir[PATH_MAX], *slash;
	struct stat	 st;
	bool		 system = strcmp(path, JQC_SYSTEM_SOCKET) == 0;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) ||
	    (slash = strrchr(dir, '/')) == NULL || slash == dir) {
		log_error("unix %s: no directory", path);
		return -1;
	}
	*slash = '\0';
	if (mkdir(dir, system ? 0755 : 0700) == -1 && errno != EEXIST) {
		log_error("unix %s: cannot make %s: %s", path, dir,
		    strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) == -1) {
		log_error("unix %s: %s: %s", path, dir, strerror(errno));
		return -1;
	}
	/* /tmp/jqd-UID could have been made by somebody else first. */
	if (!system && (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0)) {
		log_error("unix %s: %s must be a directory of uid %lu with "
		    "mode 0700 (it is not: refusing to listen in it)", path,
		    dir, (unsigned long)geteuid());
		return -1;
	}
	return 0;
}
