/*
 * jqc-shared-driver: struct jqc_shared (libjqclient's thread-safe
 * connection) under many threads, against a real jqd; driven by
 * test_jqc_shared.py, which checks the server's side.  Usage:
 *
 *   jqc-shared-driver ADDR concurrent CHAN THREADS ITER
 *	a plain recv of CHAN blocks on the shared connection while THREADS
 *	threads make ITER pings each on it; prints "pinged N", then, once
 *	the test has sent a value, "received VALUE".
 *   jqc-shared-driver ADDR abort-race CHAN ITER
 *	ITER times: a cancelable recv of CHAN (cap 1, empty), a send of i
 *	and the recv's wake-up fired; then CHAN drained.  Each value must
 *	have been received exactly once: by the recv (whatever the abort)
 *	or by the drain.  One round in three sends before the wake-up (the
 *	recv must receive), one fires it and waits for the recv's end
 *	before sending (canceled), one races them from two threads at
 *	random moments.  Prints "ok ITER received R canceled C".
 *   jqc-shared-driver ADDR restart CHAN KEYED THREADS
 *	THREADS threads ping with JQC_SHARED_IDEMPOTENT and one sends
 *	keyed values 0, 1, ... to KEYED, idempotent too, while a plain recv
 *	of CHAN blocks; the test kills and restarts jqd meanwhile.  Prints
 *	"ready", then "recv: CODE" when the recv ends; each "count" line on
 *	stdin prints "pings P"; end of input stops and prints "pings P
 *	failures F sent K".
 *   jqc-shared-driver ADDR big CHAN THREADS ITER SIZE
 *	THREADS threads each send a string of SIZE bytes to CHAN and receive
 *	one, ITER times: requests and replies larger than the socket's
 *	buffers, written while others' replies come.  Prints "ok N", N the
 *	values received.
 *   jqc-shared-driver ADDR nullid CHAN
 *	a plain recv of CHAN pending; prints "ready" and reads a line (the
 *	test sees the recv wait); a ping padded to 2 MiB is refused before
 *	it is sent ("big frame_too_large"); one padded to 100000 bytes (the
 *	test's jqd takes 64K) is answered frame_too_large with a null id,
 *	nobody's among two calls: the connection fails ("small CODE" and
 *	"recv: CODE", the message on stderr); then a ping on a new
 *	connection ("ping ok").
 *   jqc-shared-driver ADDR down
 *	prints "ready" and reads a line (the test stops jqd meanwhile); then
 *	a cancelable idempotent ping that keeps trying for 60 s, its wake-up
 *	fired 300 ms after it starts, prints "canceled CODE MS" (MS: how
 *	long it took); then an idempotent ping that tries for 300 ms,
 *	nothing written, prints "retried CODE".
 * Exit status 0, or 1 with a message on stderr.
 */

#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jqclient.h"

static struct jqc_shared *shared;
static const char *nullid_chan;

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "jqc-shared-driver: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static json_t *
req(const char *op, const char *chan)
{
	json_t	*r;

	r = chan != NULL ? json_pack("{s:s, s:s}", "op", op, "chan", chan) :
	    json_pack("{s:s}", "op", op);
	if (r == NULL)
		die("%s", "json_pack");
	return r;
}

/* A call that must get a reply; the reply, a new reference. */
static json_t *
must_call(json_t *request, unsigned flags)
{
	struct jqc_shared_error	 err;
	json_t			*reply;

	if (jqc_shared_call(shared, request, flags, &reply, &err) == -1)
		die("call: %s", err.message);
	return reply;
}

static void
must_ok(json_t *request, unsigned flags)
{
	json_t	*reply = must_call(request, flags);

	if (!jqc_reply_ok(reply))
		die("error reply: %s", jqc_reply_error_message(reply));
	json_decref(reply);
	json_decref(request);
}

static char *
value_of(const json_t *reply)
{
	char	*s;

	if ((s = json_dumps(json_object_get(reply, "value"),
	    JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		die("%s", "json_dumps");
	return s;
}

static void
random_pause(unsigned *seed)
{
	struct timespec	ts = { 0, (long)(rand_r(seed) % 2000) * 1000 };

	nanosleep(&ts, NULL);
}

/* -- concurrent --------------------------------------------------------- */

static const char *conc_chan;
static int conc_iter;

static void *
pinger(void *arg)
{
	int	i;

	(void)arg;
	for (i = 0; i < conc_iter; i++)
		must_ok(req(i % 2 ? "ping" : "stat", i % 2 ? NULL : conc_chan),
		    0);
	return NULL;
}

static void *
receiver(void *arg)
{
	json_t	*r = req("recv", conc_chan), *reply;

	reply = must_call(r, 0);
	json_decref(r);
	*(json_t **)arg = reply;
	return NULL;
}

static int
concurrent(char **argv)
{
	pthread_t	 rt, *pt;
	json_t		*reply = NULL;
	char		*v;
	int		 n = atoi(argv[1]), i;

	conc_chan = argv[0];
	conc_iter = atoi(argv[2]);
	if ((pt = calloc((size_t)n, sizeof(*pt))) == NULL)
		die("%s", "calloc");
	pthread_create(&rt, NULL, receiver, &reply);
	for (i = 0; i < n; i++)
		pthread_create(&pt[i], NULL, pinger, NULL);
	for (i = 0; i < n; i++)
		pthread_join(pt[i], NULL);
	printf("pinged %d\n", n * conc_iter);
	fflush(stdout);
	pthread_join(rt, NULL);
	if (!jqc_reply_ok(reply))
		die("recv: %s", jqc_reply_error_message(reply));
	v = value_of(reply);
	printf("received %s\n", v);
	free(v);
	json_decref(reply);
	free(pt);
	return 0;
}

/* -- abort-race --------------------------------------------------------- */

struct race {
	const char	*chan;
	int		 i;
	int		 wake[2];
	unsigned	 seed;
	json_t		*reply;
	bool		 aborted;
};

static void *
race_recv(void *arg)
{
	struct race		*r = arg;
	struct jqc_shared_error	 err;
	json_t			*q = req("recv", r->chan);

	if (jqc_shared_call_cancelable(shared, q, r->wake[0], 0, &r->reply,
	    &r->aborted, &err) == -1)
		die("cancelable recv: %s", err.message);
	json_decref(q);
	return NULL;
}

static void *
race_send(void *arg)
{
	struct race	*r = arg;
	json_t		*q = req("send", r->chan);
	unsigned	 seed = r->seed * 7 + 1;

	random_pause(&seed);
	json_object_set_new(q, "value", json_integer(r->i));
	must_ok(q, 0);
	return NULL;
}

static int
abort_race(char **argv)
{
	struct race	 r;
	pthread_t	 rt, st;
	json_t		*q, *reply;
	char		 ch, *v;
	unsigned	 seed;
	int		 iter = atoi(argv[1]), received = 0, canceled = 0;
	bool		*seen;

	memset(&r, 0, sizeof(r));
	r.chan = argv[0];
	if (pipe(r.wake) == -1)
		die("pipe: %s", strerror(errno));
	if ((seen = calloc((size_t)iter, 1)) == NULL)
		die("%s", "calloc");
	for (r.i = 0; r.i < iter; r.i++) {
		r.seed = seed = (unsigned)r.i;
		pthread_create(&rt, NULL, race_recv, &r);
		if (r.i % 3 == 0)
			race_send(&r);	/* the abort, sent after, is late */
		else if (r.i % 3 == 2)
			pthread_create(&st, NULL, race_send, &r);
		random_pause(&seed);
		if (write(r.wake[1], "!", 1) != 1)
			die("%s", "wake");
		if (r.i % 3 == 2)
			pthread_join(st, NULL);
		pthread_join(rt, NULL);
		if (r.i % 3 == 1)
			race_send(&r);	/* the recv has ended: canceled */
		if (read(r.wake[0], &ch, 1) != 1)
			die("%s", "wake read");
		if (jqc_reply_ok(r.reply)) {
			if (json_integer_value(json_object_get(r.reply,
			    "value")) != r.i)
				die("received %s", value_of(r.reply));
			received++;
			seen[r.i] = true;
		} else if (strcmp(jqc_reply_error_code(r.reply), "canceled")
		    == 0)
			canceled++;
		else
			die("recv: %s", jqc_reply_error_message(r.reply));
		json_decref(r.reply);
		/* What the recv did not take is still there. */
		q = req("recv", r.chan);
		json_object_set_new(q, "timeout_ms", json_integer(0));
		reply = must_call(q, 0);
		json_decref(q);
		if (jqc_reply_ok(reply)) {
			v = value_of(reply);
			if (seen[r.i] || json_integer_value(json_object_get(
			    reply, "value")) != r.i)
				die("drained %s: twice, or not this one", v);
			seen[r.i] = true;
			free(v);
		}
		json_decref(reply);
		if (!seen[r.i])
			die("%s", "a value was lost");
	}
	printf("ok %d received %d canceled %d\n", iter, received, canceled);
	free(seen);
	return 0;
}

/* -- big ---------------------------------------------------------------- */

static const char *big_chan;
static char *big_value;
static int big_iter;
static atomic_long big_received;

static void *
big_worker(void *arg)
{
	json_t	*q, *reply;
	int	 i;

	(void)arg;
	for (i = 0; i < big_iter; i++) {
		q = req("send", big_chan);
		json_object_set_new(q, "value", json_string(big_value));
		must_ok(q, 0);
		q = req("recv", big_chan);
		reply = must_call(q, 0);
		json_decref(q);
		if (!jqc_reply_ok(reply) || strcmp(json_string_value(
		    json_object_get(reply, "value")), big_value) != 0)
			die("%s", "recv: not the value sent");
		json_decref(reply);
		atomic_fetch_add(&big_received, 1);
	}
	return NULL;
}

static int
big(char **argv)
{
	pthread_t	*pt;
	size_t		 size = (size_t)atol(argv[3]);
	int		 n = atoi(argv[1]), i;

	big_chan = argv[0];
	big_iter = atoi(argv[2]);
	if ((pt = calloc((size_t)n, sizeof(*pt))) == NULL ||
	    (big_value = malloc(size + 1)) == NULL)
		die("%s", "calloc");
	memset(big_value, 'v', size);
	big_value[size] = '\0';
	for (i = 0; i < n; i++)
		pthread_create(&pt[i], NULL, big_worker, NULL);
	for (i = 0; i < n; i++)
		pthread_join(pt[i], NULL);
	printf("ok %ld\n", atomic_load(&big_received));
	free(big_value);
	free(pt);
	return 0;
}

/* -- down --------------------------------------------------------------- */

static void *
fire_later(void *arg)
{
	struct timespec	ts = { 0, 300 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	if (write(*(int *)arg, "!", 1) != 1)
		die("%s", "wake");
	return NULL;
}

static int
down(void)
{
	struct jqc_shared_error	 err;
	struct timespec		 t0, t1;
	pthread_t		 t;
	json_t			*q = req("ping", NULL), *reply;
	char			 line[64];
	int			 wake[2];

	printf("ready\n");
	if (fgets(line, sizeof(line), stdin) == NULL || pipe(wake) == -1)
		die("%s", "stdin or pipe");
	jqc_shared_set_retry_ms(shared, 60000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_create(&t, NULL, fire_later, &wake[1]);
	if (jqc_shared_call_cancelable(shared, q, wake[0],
	    JQC_SHARED_IDEMPOTENT, &reply, NULL, &err) == 0)
		die("%s", "a ping with jqd down answered");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(t, NULL);
	printf("canceled %s %ld\n", jqc_err_name(err.code),
	    (long)((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000));
	jqc_shared_set_retry_ms(shared, 300);
	if (jqc_shared_call(shared, q, JQC_SHARED_IDEMPOTENT, &reply,
	    &err) == 0)
		die("%s", "a ping with jqd down answered");
	printf("retried %s\n", jqc_err_name(err.code));
	json_decref(q);
	return 0;
}

/* -- nullid ------------------------------------------------------------- */

static void *
nullid_recv(void *arg)
{
	struct jqc_shared_error	*err = arg;
	json_t			*q = req("recv", nullid_chan);
	json_t			*reply = NULL;

	if (jqc_shared_call(shared, q, 0, &reply, err) == 0)
		die("recv answered: %s", jqc_reply_error_code(reply));
	json_decref(q);
	return NULL;
}

/* A ping with a "pad" of n bytes. */
static json_t *
padded_ping(size_t n)
{
	json_t	*r = req("ping", NULL);
	char	*pad;

	if ((pad = malloc(n + 1)) == NULL)
		die("%s", "malloc");
	memset(pad, 'x', n);
	pad[n] = '\0';
	json_object_set_new(r, "pad", json_string(pad));
	free(pad);
	return r;
}

static int
nullid(char **argv)
{
	struct jqc_shared_error	 err, rerr;
	pthread_t		 t;
	json_t			*q, *reply;
	char			 line[64];

	nullid_chan = argv[0];
	pthread_create(&t, NULL, nullid_recv, &rerr);
	printf("ready\n");
	if (fgets(line, sizeof(line), stdin) == NULL)
		die("%s", "stdin");
	q = padded_ping(2 * 1024 * 1024);
	if (jqc_shared_call(shared, q, 0, &reply, &err) == 0)
		die("%s", "a 2 MiB request was taken");
	printf("big %s\n", jqc_err_name(err.code));
	json_decref(q);
	q = padded_ping(100000);
	if (jqc_shared_call(shared, q, 0, &reply, &err) == 0)
		die("%s", "a request over max_frame answered");
	printf("small %s\n", jqc_err_name(err.code));
	fprintf(stderr, "%s\n", err.message);
	json_decref(q);
	pthread_join(t, NULL);
	printf("recv: %s\n", jqc_err_name(rerr.code));
	must_ok(req("ping", NULL), 0);
	printf("ping ok\n");
	return 0;
}

/* -- restart ------------------------------------------------------------ */

static atomic_bool stop;
static atomic_long pings, failures, sent;
static const char *keyed_chan;

static void
count_call(json_t *request, atomic_long *ok)
{
	struct jqc_shared_error	 err;
	json_t			*reply;

	if (jqc_shared_call(shared, request, JQC_SHARED_IDEMPOTENT, &reply,
	    &err) == -1 || !jqc_reply_ok(reply)) {
		fprintf(stderr, "jqc-shared-driver: idempotent call failed: "
		    "%s\n", reply != NULL ? jqc_reply_error_message(reply) :
		    err.message);
		atomic_fetch_add(&failures, 1);
	} else
		atomic_fetch_add(ok, 1);
	json_decref(reply);
}

static void *
restart_pinger(void *arg)
{
	json_t	*q = req("ping", NULL);

	(void)arg;
	while (!atomic_load(&stop))
		count_call(q, &pings);
	json_decref(q);
	return NULL;
}

static void *
restart_sender(void *arg)
{
	json_t	*q;
	char	 key[32];
	long	 i;

	(void)arg;
	for (i = 0; !atomic_load(&stop); i++) {
		q = req("send", keyed_chan);
		snprintf(key, sizeof(key), "k-%ld", i);
		json_object_set_new(q, "value", json_integer(i));
		json_object_set_new(q, "key", json_string(key));
		count_call(q, &sent);
		json_decref(q);
	}
	return NULL;
}

static void *
restart_recv(void *arg)
{
	struct jqc_shared_error	 err;
	json_t			*q = req("recv", (const char *)arg), *reply;

	if (jqc_shared_call(shared, q, 0, &reply, &err) == -1)
		printf("recv: %s\n", jqc_err_name(err.code));
	else
		printf("recv: %s\n", jqc_reply_ok(reply) ? "ok" :
		    jqc_reply_error_code(reply));
	fflush(stdout);
	json_decref(reply);
	json_decref(q);
	return NULL;
}

static int
restart(char **argv)
{
	pthread_t	 rt, st, *pt;
	char		 line[64];
	int		 n = atoi(argv[2]), i;

	keyed_chan = argv[1];
	if ((pt = calloc((size_t)n, sizeof(*pt))) == NULL)
		die("%s", "calloc");
	pthread_create(&rt, NULL, restart_recv, argv[0]);
	pthread_create(&st, NULL, restart_sender, NULL);
	for (i = 0; i < n; i++)
		pthread_create(&pt[i], NULL, restart_pinger, NULL);
	while (atomic_load(&pings) == 0 || atomic_load(&sent) == 0)
		usleep(1000);
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		printf("pings %ld\n", atomic_load(&pings));
		fflush(stdout);
	}
	atomic_store(&stop, true);
	for (i = 0; i < n; i++)
		pthread_join(pt[i], NULL);
	pthread_join(st, NULL);
	pthread_join(rt, NULL);
	printf("pings %ld failures %ld sent %ld\n", atomic_load(&pings),
	    atomic_load(&failures), atomic_load(&sent));
	free(pt);
	return 0;
}

int
main(int argc, char **argv)
{
	char	 errbuf[512];
	int	 rc;

	if (argc < 3)
		die("%s", "usage: jqc-shared-driver ADDR MODE ARGS...");
	if ((shared = jqc_shared_connect(argv[1], NULL, NULL, errbuf,
	    sizeof(errbuf))) == NULL)
		die("connect: %s", errbuf);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[2], "concurrent") == 0 && argc == 6)
		rc = concurrent(argv + 3);
	else if (strcmp(argv[2], "abort-race") == 0 && argc == 5)
		rc = abort_race(argv + 3);
	else if (strcmp(argv[2], "restart") == 0 && argc == 6)
		rc = restart(argv + 3);
	else if (strcmp(argv[2], "nullid") == 0 && argc == 4)
		rc = nullid(argv + 3);
	else if (strcmp(argv[2], "down") == 0 && argc == 3)
		rc = down();
	else if (strcmp(argv[2], "big") == 0 && argc == 7)
		rc = big(argv + 3);
	else
		die("unknown mode or arguments: %s", argv[2]);
	jqc_shared_close(shared);
	return rc;
}
