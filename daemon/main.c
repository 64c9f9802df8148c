/*
 * jqd: configuration, start-up, exit status.
 *
 * Exit status: 0 after a clean stop, 1 when start-up fails (the reason is
 * logged), 2 for a bad command line or config file.
 */
#include <dirent.h>
#include <fcntl.h>
#ifdef HAVE_LINUX_CLOSE_RANGE_H
#include <linux/close_range.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/thread.h>

#include "config.h"
#include "fdlimit.h"
#include "log.h"
#include "server.h"

/*
 * Descriptors we inherited must not leak into jobs (systemd's LISTEN_FDS
 * sockets are taken over later and stay open here).  close_range() marks
 * them all at once (Linux 5.11); older kernels get each one marked.
 */
static void
main_cloexec_inherited(void)
{
	DIR		*d;
	struct dirent	*e;
	int		 fd;

#if defined(HAVE_CLOSE_RANGE) && defined(CLOSE_RANGE_CLOEXEC)
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
#endif
	if ((d = opendir("/proc/self/fd")) == NULL) {
		fprintf(stderr, "jqd: /proc/self/fd: cannot mark inherited "
		    "descriptors close-on-exec\n");
		exit(1);
	}
	while ((e = readdir(d)) != NULL) {
		fd = atoi(e->d_name);
		if (fd > 2 && fd != dirfd(d))
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	struct config	 cfg;
	struct server	*s;
	char		 err[512];
	int		 rc;

	rc = config_load(&cfg, argc, argv, err, sizeof(err));
	if (rc == CONFIG_HELP) {
		config_usage(stdout);
		config_fini(&cfg);
		return 0;
	}
	if (rc == CONFIG_VERSION) {
		printf("jqd %s\n", PACKAGE_VERSION);
		config_fini(&cfg);
		return 0;
	}
	if (rc == CONFIG_ERROR) {
		fprintf(stderr, "jqd: %s\n", err);
		fprintf(stderr, "Try 'jqd --help'.\n");
		config_fini(&cfg);
		return 2;
	}
	log_init();
	log_set_level(cfg.log_level);
	fdlimit_fit(&cfg);
	main_cloexec_inherited();
	/* The store thread wakes the loop with event_active(). */
	if (evthread_use_pthreads() == -1) {
		fprintf(stderr, "jqd: libevent without thread support\n");
		return 1;
	}
	/* A peer that vanishes must not kill us while we write to it. */
	signal(SIGPIPE, SIG_IGN);

	if ((s = server_new(&cfg, argc, argv)) == NULL) {
		config_fini(&cfg);
		return 1;
	}
	rc = server_run(s);
	server_free(s);
	config_fini(&cfg);
	return rc;
}
