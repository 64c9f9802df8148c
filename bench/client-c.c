/*
 * client-c: ping round trips per second through libjqclient from N
 * threads on ONE connection (issue 18's client benchmark):
 *
 *   JQ_ADDR=unix:/path/jqd.sock bench/client-c --callers N --seconds S
 *       --mode mux|v1
 *
 *   mux  a struct jqc_shared: the threads call at once on one multiplexed
 *        connection, each waiting for its own reply;
 *   v1   a plain serial struct jqc shared under a mutex: one ping at a
 *        time, as a program had to before struct jqc_shared.
 *
 * Prints one line: client=c mode=M callers=N ops=TOTAL rps=OPS_PER_S.
 * JQ_TOKEN, when set and not empty, is sent with auth.  Build:
 * make bench/client-c (linked with libjqclient statically).
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "jqclient.h"

static struct jqc_shared	*shared;
static struct jqc		*serial;
static pthread_mutex_t		 serial_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool		 stop;
static atomic_long		 ops;

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "client-c: %s: %s\n", what, why);
	exit(1);
}

static void *
mux_caller(void *arg)
{
	struct jqc_shared_error	 err;
	json_t			*ping = json_pack("{s:s}", "op", "ping"), *r;
	long			 n = 0;

	while (!atomic_load(&stop)) {
		if (jqc_shared_call(shared, ping, 0, &r, &err) == -1)
			die("ping", err.message);
		json_decref(r);
		n++;
	}
	json_decref(ping);
	atomic_fetch_add(&ops, n);
	return NULL;
}

static void *
v1_caller(void *arg)
{
	long	n = 0;
	int	rc;

	while (!atomic_load(&stop)) {
		pthread_mutex_lock(&serial_mu);
		rc = jqc_ping(serial);
		pthread_mutex_unlock(&serial_mu);
		if (rc == -1)
			die("ping", jqc_error(serial));
		n++;
	}
	atomic_fetch_add(&ops, n);
	return NULL;
}

int
main(int argc, char **argv)
{
	const char	*addr = getenv("JQ_ADDR"), *token = getenv("JQ_TOKEN");
	const char	*mode = "mux";
	char		 err[512];
	pthread_t	*t;
	double		 seconds = 5, start, took;
	int		 callers = 1, i;
	struct timespec	 ts;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--callers") == 0)
			callers = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--mode") == 0)
			mode = argv[i + 1];
		else
			break;
	}
	if (i != argc || callers < 1 || seconds <= 0 || addr == NULL ||
	    (strcmp(mode, "mux") != 0 && strcmp(mode, "v1") != 0)) {
		fprintf(stderr, "usage: JQ_ADDR=ADDR client-c --callers N "
		    "--seconds S --mode mux|v1\n");
		return 2;
	}
	if (token != NULL && *token == '\0')
		token = NULL;
	if (strcmp(mode, "mux") == 0) {
		if ((shared = jqc_shared_connect(addr, NULL, token, err,
		    sizeof(err))) == NULL)
			die(addr, err);
	} else {
		if ((serial = jqc_connect(addr, err, sizeof(err))) == NULL)
			die(addr, err);
		if (token != NULL && jqc_auth(serial, token) == -1)
			die("auth", jqc_error(serial));
	}
	if ((t = calloc((size_t)callers, sizeof(*t))) == NULL)
		die("calloc", "out of memory");
	start = now_s();
	for (i = 0; i < callers; i++)
		pthread_create(&t[i], NULL, shared != NULL ? mux_caller :
		    v1_caller, NULL);
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
	atomic_store(&stop, true);
	for (i = 0; i < callers; i++)
		pthread_join(t[i], NULL);
	took = now_s() - start;
	printf("client=c mode=%s callers=%d ops=%ld rps=%.0f\n", mode, callers,
	    atomic_load(&ops), (double)atomic_load(&ops) / took);
	free(t);
	jqc_shared_close(shared);
	jqc_close(serial);
	return 0;
}
