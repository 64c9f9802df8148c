/*
 * jqc-paths: where a jqd and its clients meet when nobody says where
 * (jqclient.h, "Default address and token").  The daemon links this file
 * too, so that it listens exactly where a client looks first.
 */

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jqclient.h"

/* A variable that is set to an absolute path (XDG's rule), else NULL. */
static const char *
env_dir(const char *name)
{
	const char	*v = getenv(name);

	return v != NULL && v[0] == '/' ? v : NULL;
}

static int
fits(int n, size_t len)
{
	return n > 0 && (size_t)n < len ? 0 : -1;
}

int
jqc_user_socket_path(char *buf, size_t len)
{
	const char	*dir;

	if (geteuid() == 0)
		return fits(snprintf(buf, len, "%s", JQC_SYSTEM_SOCKET),
		    len);
	if ((dir = env_dir("XDG_RUNTIME_DIR")) != NULL)
		return fits(snprintf(buf, len, "%s/jqd/jqd.sock", dir), len);
	return fits(snprintf(buf, len, "/tmp/jqd-%lu/jqd.sock",
	    (unsigned long)geteuid()), len);
}

int
jqc_default_addr(char *buf, size_t len)
{
	char		 path[108];
	struct stat	 st;

	/* The user's own jqd if one is listening, else the system's. */
	if (jqc_user_socket_path(path, sizeof(path)) == -1 ||
	    stat(path, &st) == -1 || !S_ISSOCK(st.st_mode))
		snprintf(path, sizeof(path), "%s", JQC_SYSTEM_SOCKET);
	return fits(snprintf(buf, len, "unix:%s", path), len);
}

int
jqc_default_token_file(char *buf, size_t len)
{
	const char	*dir;

	if ((dir = env_dir("XDG_CONFIG_HOME")) != NULL)
		return fits(snprintf(buf, len, "%s/jqd/token", dir), len);
	if ((dir = env_dir("HOME")) != NULL)
		return fits(snprintf(buf, len, "%s/.config/jqd/token", dir),
		    len);
	return -1;
}
