/*
 * test-jqclient: libjqclient's typed calls against a real jqd.
 *
 * The daemon named by $JQD (set by `make check`) is started on port 0 with
 * a database and job directory in a fresh temporary directory; its port
 * is read from its "info: listening on tcp 127.0.0.1:PORT" line and the
 * tests begin once it says "info: ready".  Every typed call is exercised,
 * with the error codes a caller branches on (timeout, not_found, closed,
 * exists, ...), a recv blocked on one connection and completed by a send
 * from a second one (in a thread), leases, select and jobs.  A fake server
 * in the test itself produces the two local failures, a malformed reply
 * and a lost connection.  Without $JQD the test is skipped (exit 77).
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-tap.h"
#include "tap.h"

#define START_TIMEOUT_MS	30000	/* sanitizer builds start slowly */
#define TEST_TIMEOUT_S		300	/* the whole run, a hang guard */
#define BLOCK_TIMEOUT_MS	20000	/* blocking calls that must complete */
#define LISTENING		"info: listening on tcp "

static char	 tmpdir[] = "/tmp/test-jqclient-XXXXXX";
static char	 addr[64];
static pid_t	 jqd_pid = -1;
static int	 jqd_stderr = -1;

/*
 * The daemon
 */

static void
die(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	if (jqd_pid > 0)
		kill(jqd_pid, SIGKILL);
	exit(1);
}

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Read jqd's stderr until "info: ready", noting the TCP port on the way.
 * Lines are echoed as TAP comments.
 */
static void
wait_ready(void)
{
	char		 buf[8192], *nl, *p;
	size_t		 len = 0;
	long long	 deadline = now_ms() + START_TIMEOUT_MS;
	struct pollfd	 pfd;
	ssize_t		 n;

	for (;;) {
		pfd.fd = jqd_stderr;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0) {
			printf("Bail out! jqd did not say ready in time\n");
			kill(jqd_pid, SIGKILL);
			exit(1);
		}
		n = read(jqd_stderr, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0) {
			printf("Bail out! jqd exited before it was ready\n");
			exit(1);
		}
		len += n;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			printf("# jqd: %s\n", buf);
			if ((p = strstr(buf, LISTENING)) != NULL)
				snprintf(addr, sizeof(addr), "%s",
				    p + strlen(LISTENING));
			if (strstr(buf, "info: ready") != NULL) {
				if (addr[0] == '\0') {
					printf("Bail out! ready, but no TCP "
					    "address seen\n");
					exit(1);
				}
				return;
			}
			len -= nl + 1 - buf;
			memmove(buf, nl + 1, len + 1);
		}
		if (len == sizeof(buf) - 1)
			len = 0;	/* an endless line: forget it */
	}
}

/* After ready: keep reading jqd's stderr so it never blocks on it. */
static void *
drain_cb(void *arg)
{
	char	buf[4096];

	(void)arg;
	while (read(jqd_stderr, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static void
start_jqd(const char *jqd)
{
	char		 db[sizeof(tmpdir) + 8];
	int		 fds[2];
	pthread_t	 t;

	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp");
	snprintf(db, sizeof(db), "%s/db", tmpdir);
	if (pipe(fds) == -1)
		die("pipe");
	if ((jqd_pid = fork()) == -1)
		die("fork");
	if (jqd_pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execl(jqd, jqd, "--listen", "127.0.0.1:0", "--insecure-tcp",
		    "--db", db,
		    "--job-dir", tmpdir, "--workers", "2", (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", jqd, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	jqd_stderr = fds[0];
	wait_ready();
	if (pthread_create(&t, NULL, drain_cb, NULL) != 0 ||
	    pthread_detach(t) != 0)
		die("pthread_create");
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
stop_jqd(void)
{
	int	status;

	kill(jqd_pid, SIGTERM);
	if (waitpid(jqd_pid, &status, 0) == jqd_pid)
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "jqd stops cleanly on SIGTERM");
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct jqc *
connect_or_die(void)
{
	char		 errbuf[256];
	struct jqc	*c;

	if ((c = jqc_connect(addr, errbuf, sizeof(errbuf))) == NULL) {
		printf("Bail out! cannot connect to %s: %s\n", addr, errbuf);
		kill(jqd_pid, SIGKILL);
		exit(1);
	}
	return c;
}

/*
 * Session
 */

static void
test_session(struct jqc *c)
{
	struct jqc_hello	 h;
	struct jqc_stats	 st;
	char			*json = NULL;

	ok(jqc_last_hello(c) == NULL, "no hello kept before the first");
	succeeds(c, jqc_hello(c, &h), "hello");
	ok(jqc_last_hello(c) != NULL && jqc_last_hello(c)->time_ms ==
	    h.time_ms && jqc_last_hello(c)->features == h.features &&
	    strcmp(jqc_last_hello(c)->build, h.build) == 0,
	    "the hello is kept on the connection");
	ok(h.minor == 4 && h.time_ms > 0 && !h.multiplex &&
	    (h.features & JQC_FEATURE_ABORT), "hello: 1.4, time_ms, features");
	is_str(h.server, "jqd", "hello: server");
	is_int(h.protocol, 1, "hello: protocol 1");
	ok(!h.auth_required && h.version[0] != '\0', "hello: version %s, "
	    "no auth", h.version);
	succeeds(c, jqc_auth(c, "anything"), "auth without a server token");
	succeeds(c, jqc_ping(c), "ping");
	is_str(jqc_error(c), "", "no error message yet");
	ok(jqc_error_code(c) == NULL, "no error code after success");

	succeeds(c, jqc_stats(c, &st, &json), "stats");
	ok(st.connections >= 1 && st.workers_total == 2 &&
	    st.uptime_ms >= 0, "stats: %lld connections, %lld workers",
	    (long long)st.connections, (long long)st.workers_total);
	ok(json != NULL && strstr(json, "\"ops\":{") != NULL &&
	    strstr(json, "\"ok\"") == NULL, "stats: every figure as JSON");
	free(json);
	succeeds(c, jqc_stats(c, &st, NULL), "stats without the JSON");
}

/*
 * Channels
 */

static void
test_make(struct jqc *c)
{
	bool	created = false;

	succeeds(c, jqc_make(c, "jobs", 100, &created), "make jobs 100");
	ok(created, "make: created");
	succeeds(c, jqc_make(c, "jobs", 100, &created), "make it again");
	ok(!created, "make again: not created");
	fails_with(c, jqc_make(c, "jobs", 5, &created), JQC_E_EXISTS,
	    "make with another cap: exists");
	is_str(jqc_error_code(c), "exists", "error code on the wire");
	ok(strstr(jqc_error(c), "cap 100") != NULL, "message: %s",
	    jqc_error(c));
	ok(jqc_last_reply(c) != NULL &&
	    !jqc_reply_ok(jqc_last_reply(c)), "the error reply is kept");
	fails_with(c, jqc_make(c, "no spaces", 0, NULL), JQC_E_BAD_REQUEST,
	    "bad channel name: bad_request");
	fails_with(c, jqc_make(c, NULL, 0, NULL), JQC_E_INVAL,
	    "NULL channel name: inval");
	fails_with(c, jqc_make(c, "caf\xe9", 0, NULL), JQC_E_INVAL,
	    "channel name not UTF-8: inval");
	succeeds(c, jqc_ping(c), "connection usable after local errors");
	succeeds(c, jqc_make(c, "sync", 0, NULL), "make sync (unbuffered)");
}

static void
test_send_recv(struct jqc *c)
{
	char	*v = NULL;
	bool	 closed = true;

	succeeds(c, jqc_make(c, "small", 2, NULL), "make small 2");
	succeeds(c, jqc_send(c, "small", "{\"task\": \"resize\", \"w\": 640}",
	    JQC_FOREVER), "send an object");
	succeeds(c, jqc_send_string(c, "small", "line\n\"quoted\" caf\xc3\xa9",
	    0), "send_string");
	fails_with(c, jqc_send(c, "small", "3", 0), JQC_E_TIMEOUT,
	    "send to a full channel, timeout 0: timeout");
	fails_with(c, jqc_send(c, "small", "3", 100), JQC_E_TIMEOUT,
	    "send to a full channel, timeout 100 ms: timeout");
	fails_with(c, jqc_send(c, "small", "{not json", 0), JQC_E_INVAL,
	    "send of text that is not JSON: inval");
	fails_with(c, jqc_send(c, "small", NULL, 0), JQC_E_INVAL,
	    "send of NULL: inval");
	ok(jqc_last_reply(c) == NULL, "no reply after a local error");

	succeeds(c, jqc_recv(c, "small", JQC_FOREVER, &v, &closed), "recv");
	is_str(v, "{\"task\":\"resize\",\"w\":640}", "recv: compact JSON");
	ok(!closed, "recv: not closed");
	free(v);
	succeeds(c, jqc_recv(c, "small", 0, &v, NULL), "recv the string");
	is_str(v, "\"line\\n\\\"quoted\\\" caf\xc3\xa9\"",
	    "recv: the string as JSON text");
	free(v);
	v = (char *)1;
	fails_with(c, jqc_recv(c, "small", 0, &v, &closed), JQC_E_TIMEOUT,
	    "recv from an empty channel, timeout 0: timeout");
	ok(v == NULL && !closed, "outputs zeroed on failure");
	fails_with(c, jqc_recv(c, "small", 50, &v, NULL), JQC_E_TIMEOUT,
	    "recv, timeout 50 ms: timeout");
	fails_with(c, jqc_recv(c, "missing", 0, &v, NULL), JQC_E_NOT_FOUND,
	    "recv from a missing channel: not_found");
	is_str(jqc_error(c), "not_found: no channel 'missing'",
	    "message: code and server text");
	fails_with(c, jqc_send(c, "missing", "1", 0), JQC_E_NOT_FOUND,
	    "send to a missing channel: not_found");
	fails_with(c, jqc_send(c, "sync", "1", 0), JQC_E_TIMEOUT,
	    "unbuffered send without a receiver, timeout 0: timeout");

	succeeds(c, jqc_send(c, "small", "null", 0), "send null");
	succeeds(c, jqc_recv(c, "small", 0, &v, &closed), "recv null");
	ok(v != NULL && strcmp(v, "null") == 0 && !closed,
	    "null is a value, not closed");
	free(v);
	succeeds(c, jqc_send(c, "small", "[1e2, 0.5, -0, \"\\u0000\"]", 0),
	    "send reals and a NUL escape");
	succeeds(c, jqc_recv(c, "small", 0, &v, NULL), "recv them");
	is_str(v, "[1e2,0.5,-0,\"\\u0000\"]", "recv: the text as sent, "
	    "minified");
	free(v);
	succeeds(c, jqc_send(c, "small", "19.99", 0), "send 19.99");
	succeeds(c, jqc_recv(c, "small", 0, &v, NULL), "recv it");
	is_str(v, "19.99", "19.99 stays 19.99, both ways");
	free(v);
}

static void
test_batch(struct jqc *c)
{
	static const char *const three[] = { "1", "\"two\"", "{\"n\":3}" };
	static const char *const four[] = { "1", "2", "3", "4" };
	static const char *const bad[] = { "1", "nope" };
	struct jqc_values	 vals;

	succeeds(c, jqc_make(c, "batch", 3, NULL), "make batch 3");
	succeeds(c, jqc_send_batch(c, "batch", three, 3, 0), "send a batch");
	fails_with(c, jqc_send_batch(c, "batch", three, 1, 0), JQC_E_TIMEOUT,
	    "a batch into a full channel, timeout 0: timeout");
	succeeds(c, jqc_recv_many(c, "batch", 10, 0, 0, &vals), "recv_many");
	ok(vals.n == 3 && strcmp(vals.values[0], "1") == 0 &&
	    strcmp(vals.values[1], "\"two\"") == 0 &&
	    strcmp(vals.values[2], "{\"n\":3}") == 0,
	    "recv_many: the three values in order");
	ok(vals.leases == NULL && vals.redelivered == NULL && !vals.closed,
	    "recv_many without lease: no leases");
	jqc_values_free(&vals);
	ok(vals.n == 0 && vals.values == NULL, "values_free zeroes");
	fails_with(c, jqc_send_batch(c, "batch", four, 4, 0),
	    JQC_E_BAD_REQUEST, "a batch over cap: bad_request");
	fails_with(c, jqc_send_batch(c, "sync", four, 1, 0),
	    JQC_E_BAD_REQUEST, "a batch to an unbuffered channel: "
	    "bad_request");
	fails_with(c, jqc_send_batch(c, "batch", four, 0, 0), JQC_E_INVAL,
	    "an empty batch: inval");
	fails_with(c, jqc_send_batch(c, "batch", bad, 2, 0), JQC_E_INVAL,
	    "a batch with text that is not JSON: inval");
	ok(strstr(jqc_error(c), "value 1 of the batch") != NULL,
	    "message names the value: %s", jqc_error(c));
	fails_with(c, jqc_recv_many(c, "batch", 2, 0, 0, &vals),
	    JQC_E_TIMEOUT, "recv_many from an empty channel: timeout");
	fails_with(c, jqc_recv_many(c, "batch", 0, 0, 0, &vals),
	    JQC_E_BAD_REQUEST, "recv_many with max 0: bad_request");
}

/* Keyed sends (PROTOCOL.md 6.6); their retry is test_dedup.py's. */
static void
test_keyed(struct jqc *c)
{
	static const char *const two[] = { "1", "2" };
	struct jqc_values	 vals;
	char			*key = jqc_new_key(), *key2 = jqc_new_key();
	bool			 dup = true;

	ok(key != NULL && strlen(key) == 32 && key2 != NULL &&
	    strcmp(key, key2) != 0, "new_key: 32 hex digits, never twice");
	succeeds(c, jqc_make(c, "keyed", 5, NULL), "make keyed 5");
	succeeds(c, jqc_send_keyed(c, "keyed", "\"a\"", key, 0, &dup),
	    "keyed send");
	ok(!dup, "the first is not a duplicate");
	succeeds(c, jqc_send_keyed(c, "keyed", "\"a\"", key, 0, &dup),
	    "the same key again");
	ok(dup, "... is a duplicate");
	succeeds(c, jqc_send_batch_keyed(c, "keyed", two, 2, key2, 0, &dup),
	    "keyed batch");
	ok(!dup, "the batch is not a duplicate");
	succeeds(c, jqc_send_batch_keyed(c, "keyed", two, 2, key2, 0, &dup),
	    "the batch again");
	ok(dup, "... is a duplicate");
	fails_with(c, jqc_send_keyed(c, "keyed", "1", "", 0, NULL),
	    JQC_E_INVAL, "an empty key: inval");
	succeeds(c, jqc_recv_many(c, "keyed", 10, 0, 0, &vals), "recv_many");
	ok(vals.n == 3, "three values, each sent once");
	jqc_values_free(&vals);
	free(key);
	free(key2);
}

static void
test_close_drop(struct jqc *c)
{
	struct jqc_values	 vals;
	struct jqc_chan_stat	 st;
	char			*v;
	bool			 closed;

	succeeds(c, jqc_make(c, "feed", 2, NULL), "make feed 2");
	succeeds(c, jqc_send_string(c, "feed", "x", 0), "send x");
	succeeds(c, jqc_send_string(c, "feed", "y", 0), "send y");
	succeeds(c, jqc_chan_close(c, "feed"), "close feed");
	fails_with(c, jqc_send_string(c, "feed", "late", 0), JQC_E_CLOSED,
	    "send to a closed channel: closed");
	fails_with(c, jqc_chan_close(c, "feed"), JQC_E_CLOSED,
	    "close it again: closed");
	succeeds(c, jqc_recv(c, "feed", 0, &v, &closed), "recv x");
	ok(v != NULL && strcmp(v, "\"x\"") == 0 && !closed,
	    "a closed channel still drains");
	free(v);
	succeeds(c, jqc_recv_many(c, "feed", 5, 0, 0, &vals), "recv_many y");
	ok(vals.n == 1 && !vals.closed, "the last value, not closed yet");
	jqc_values_free(&vals);
	succeeds(c, jqc_recv(c, "feed", 0, &v, &closed), "recv on drained");
	ok(v == NULL && closed, "closed and drained: closed, no value");
	succeeds(c, jqc_recv_many(c, "feed", 5, 0, 0, &vals),
	    "recv_many on drained");
	ok(vals.n == 0 && vals.closed, "recv_many: closed, no values");
	jqc_values_free(&vals);
	succeeds(c, jqc_stat(c, "feed", &st), "stat feed");
	ok(st.closed && st.cap == 2 && st.len == 0 && st.sent == 2 &&
	    st.received == 2, "stat: closed, cap 2, sent 2, received 2");

	succeeds(c, jqc_make(c, "tmp", 0, NULL), "make tmp");
	succeeds(c, jqc_chan_drop(c, "tmp"), "drop tmp");
	fails_with(c, jqc_stat(c, "tmp", &st), JQC_E_NOT_FOUND,
	    "stat of a dropped channel: not_found");
	ok(st.chan[0] == '\0' && st.cap == 0, "stat zeroed on failure");
	fails_with(c, jqc_chan_drop(c, "tmp"), JQC_E_NOT_FOUND,
	    "drop it again: not_found");
}

static void
test_stat_chans(struct jqc *c)
{
	struct jqc_chan_stat	*list = NULL, st;
	size_t			 n = 0;

	succeeds(c, jqc_stat(c, "jobs", &st), "stat jobs");
	ok(strcmp(st.chan, "jobs") == 0 && st.cap == 100 && !st.closed &&
	    st.len == 0 && st.leased == 0 && st.senders_waiting == 0 &&
	    st.receivers_waiting == 0, "stat: every figure");
	succeeds(c, jqc_chans(c, "s", &list, &n), "chans with prefix s");
	ok(n == 2 && strcmp(list[0].chan, "small") == 0 &&
	    strcmp(list[1].chan, "sync") == 0 && list[0].cap == 2,
	    "chans: small and sync, sorted");
	free(list);
	succeeds(c, jqc_chans(c, "zzz", &list, &n), "chans, none match");
	ok(n == 0 && list == NULL, "chans: none, NULL");
	succeeds(c, jqc_chans(c, NULL, &list, &n), "chans, all");
	ok(n >= 5, "chans: %zu channels", n);
	free(list);
}

static void
test_leases(struct jqc *c)
{
	static const char *const abc[] = { "\"a\"", "\"b\"", "\"c\"" };
	struct jqc_lease	 l1, l2;
	struct jqc_values	 vals;
	struct jqc_chan_stat	 st;
	struct jqc		*other;

	succeeds(c, jqc_make(c, "work", 10, NULL), "make work 10");
	succeeds(c, jqc_send_batch(c, "work", abc, 3, 0), "send a, b, c");
	succeeds(c, jqc_recv_lease(c, "work", 30000, 0, &l1), "lease a");
	ok(l1.lease != NULL && l1.value_json != NULL &&
	    strcmp(l1.value_json, "\"a\"") == 0 && l1.redelivered == 0 &&
	    !l1.closed, "lease: a, with a lease string, first delivery");
	succeeds(c, jqc_recv_lease(c, "work", 30000, 0, &l2), "lease b");
	succeeds(c, jqc_stat(c, "work", &st), "stat work");
	ok(st.leased == 2 && st.len == 1, "stat: 2 leased, 1 buffered");

	/* Any connection may ack. */
	other = connect_or_die();
	succeeds(other, jqc_ack(other, "work", l1.lease), "ack a elsewhere");
	jqc_close(other);
	fails_with(c, jqc_ack(c, "work", l1.lease), JQC_E_NOT_FOUND,
	    "ack it again: not_found");
	fails_with(c, jqc_ack(c, "jobs", l2.lease), JQC_E_NOT_FOUND,
	    "ack on another channel: not_found");
	succeeds(c, jqc_nack(c, "work", l2.lease), "nack b");
	jqc_lease_free(&l1);
	jqc_lease_free(&l2);
	ok(l1.lease == NULL && l1.value_json == NULL, "lease_free zeroes");

	succeeds(c, jqc_recv_many(c, "work", 5, 30000, 0, &vals),
	    "recv_many with leases");
	ok(vals.n == 2 && strcmp(vals.values[0], "\"b\"") == 0 &&
	    strcmp(vals.values[1], "\"c\"") == 0, "b came back first");
	ok(vals.leases != NULL && vals.leases[0] != NULL &&
	    vals.leases[1] != NULL && vals.redelivered != NULL &&
	    vals.redelivered[0] == 1 && vals.redelivered[1] == 0,
	    "one lease each; b redelivered once");
	succeeds(c, jqc_nack(c, "work", vals.leases[0]), "nack b again");
	succeeds(c, jqc_ack(c, "work", vals.leases[1]), "ack c");
	jqc_values_free(&vals);
	succeeds(c, jqc_recv_lease(c, "work", 1000, 0, &l1), "lease b again");
	ok(l1.redelivered == 2 && strcmp(l1.value_json, "\"b\"") == 0,
	    "redelivered 2");
	succeeds(c, jqc_ack(c, "work", l1.lease), "ack b");
	jqc_lease_free(&l1);

	fails_with(c, jqc_recv_lease(c, "sync", 1000, 0, &l1),
	    JQC_E_BAD_REQUEST, "lease on an unbuffered channel: bad_request");
	fails_with(c, jqc_recv_lease(c, "work", 0, 0, &l1), JQC_E_INVAL,
	    "lease_ms 0: inval");
	fails_with(c, jqc_recv_lease(c, "work", 1000, 0, &l1), JQC_E_TIMEOUT,
	    "lease from an empty channel: timeout");
	ok(l1.lease == NULL && l1.value_json == NULL, "zeroed on failure");
	fails_with(c, jqc_ack(c, "work", NULL), JQC_E_INVAL,
	    "ack of a NULL lease: inval");
}

/* Redelivery limit, dead letters and nack reasons (protocol 1.1). */
static void
test_dead_letters(struct jqc *c)
{
	struct jqc_make_opts	 o = { .cap = 4, .max_deliveries = 1,
				     .dead_letter = "dlq" };
	struct jqc_chan_stat	 st;
	struct jqc_lease	 l;
	char			*env = NULL;
	bool			 created;

	succeeds(c, jqc_make(c, "dlq", 4, NULL), "make dlq 4");
	succeeds(c, jqc_make_with(c, "poison", &o, &created),
	    "make poison with max_deliveries 1, dead_letter dlq");
	ok(created, "created");
	succeeds(c, jqc_make_with(c, "poison", &o, &created), "again");
	ok(!created, "  not created: the same settings");
	o.max_deliveries = 2;
	fails_with(c, jqc_make_with(c, "poison", &o, NULL), JQC_E_EXISTS,
	    "other settings: exists");
	o.dead_letter = "nowhere";
	fails_with(c, jqc_make_with(c, "poison2", &o, NULL), JQC_E_NOT_FOUND,
	    "a missing dead-letter channel: not_found");
	succeeds(c, jqc_stat(c, "poison", &st), "stat poison");
	ok(st.max_deliveries == 1 && strcmp(st.dead_letter, "dlq") == 0 &&
	    st.dead_lettered == 0, "stat: max_deliveries 1, dead_letter dlq");
	succeeds(c, jqc_stat(c, "dlq", &st), "stat dlq");
	ok(st.max_deliveries == 0 && st.dead_letter[0] == '\0',
	    "stat of a channel without them: 0 and \"\"");

	succeeds(c, jqc_send(c, "poison", "{\"x\":1}", 0), "send");
	succeeds(c, jqc_recv_lease(c, "poison", 30000, 0, &l), "lease it");
	succeeds(c, jqc_nack_reason(c, "poison", l.lease, "it broke"),
	    "nack with a reason");
	jqc_lease_free(&l);
	succeeds(c, jqc_recv(c, "dlq", 0, &env, NULL), "recv the dead letter");
	ok(env != NULL && strstr(env, "\"value\":{\"x\":1}") != NULL &&
	    strstr(env, "\"reason\":\"it broke\"") != NULL &&
	    strstr(env, "\"deliveries\":1") != NULL,
	    "the envelope: value, reason, deliveries");
	free(env);
	succeeds(c, jqc_stat(c, "poison", &st), "stat poison");
	ok(st.dead_lettered == 1 && st.len == 0, "stat: dead_lettered 1");
}

/* The other side of test_blocking: send once the receiver waits. */
struct sender {
	const char	*chan;
	const char	*value;
	int		 rc;
	char		 err[256];
};

static void *
sender_cb(void *arg)
{
	struct sender		*s = arg;
	struct jqc		*c = connect_or_die();
	struct jqc_chan_stat	 st;
	long long		 deadline = now_ms() + BLOCK_TIMEOUT_MS;

	/* Wait for the event (a receiver parked), not for a time. */
	s->rc = -1;
	while (now_ms() < deadline) {
		if (jqc_stat(c, s->chan, &st) == -1)
			break;
		if (st.receivers_waiting == 1) {
			s->rc = jqc_send(c, s->chan, s->value, 0);
			break;
		}
		usleep(5000);
	}
	snprintf(s->err, sizeof(s->err), "%s", jqc_error(c));
	jqc_close(c);
	return NULL;
}

static void
test_blocking(struct jqc *c)
{
	struct sender	 s = { "handoff", "{\"n\":1}", -1, "" };
	pthread_t	 t;
	char		*v = NULL;
	bool		 closed = true;
	int		 rc;

	succeeds(c, jqc_make(c, "handoff", 0, NULL), "make handoff (cap 0)");
	if (pthread_create(&t, NULL, sender_cb, &s) != 0)
		die("pthread_create");
	rc = jqc_recv(c, "handoff", BLOCK_TIMEOUT_MS, &v, &closed);
	pthread_join(t, NULL);
	ok(rc == 0 && v != NULL && strcmp(v, "{\"n\":1}") == 0 && !closed,
	    "a blocked recv is completed by a send from another connection");
	ok(s.rc == 0, "the unbuffered send met the receiver (%s)", s.err);
	free(v);

	/* The same with a buffered channel. */
	s.chan = "later";
	s.value = "\"late\"";
	succeeds(c, jqc_make(c, "later", 1, NULL), "make later 1");
	if (pthread_create(&t, NULL, sender_cb, &s) != 0)
		die("pthread_create");
	rc = jqc_recv(c, "later", BLOCK_TIMEOUT_MS, &v, NULL);
	pthread_join(t, NULL);
	ok(rc == 0 && v != NULL && strcmp(v, "\"late\"") == 0 && s.rc == 0,
	    "a blocked recv on a buffered channel is completed too");
	free(v);
}

static void
test_select(struct jqc *c)
{
	struct jqc_select_case		 cases[2];
	struct jqc_select_result	 r;

	succeeds(c, jqc_make(c, "hi", 1, NULL), "make hi 1");
	succeeds(c, jqc_make(c, "lo", 1, NULL), "make lo 1");
	succeeds(c, jqc_make(c, "quit", 0, NULL), "make quit");
	succeeds(c, jqc_send_string(c, "lo", "job-1", 0), "send to lo");

	cases[0] = (struct jqc_select_case){ JQC_CASE_RECV, "hi", NULL };
	cases[1] = (struct jqc_select_case){ JQC_CASE_RECV, "lo", NULL };
	succeeds(c, jqc_select(c, cases, 2, JQC_FOREVER, &r), "select recv");
	ok(r.index == 1 && r.value_json != NULL &&
	    strcmp(r.value_json, "\"job-1\"") == 0 && !r.closed,
	    "select: case 1 with its value");
	jqc_select_result_free(&r);
	ok(r.index == -1 && r.value_json == NULL, "select_result_free");
	fails_with(c, jqc_select(c, cases, 2, 0, &r), JQC_E_TIMEOUT,
	    "select with nothing ready, timeout 0: timeout");
	ok(r.index == -1, "timeout: no index");
	fails_with(c, jqc_select(c, cases, 2, 100, &r), JQC_E_TIMEOUT,
	    "select, timeout 100 ms: timeout");

	cases[0] = (struct jqc_select_case){ JQC_CASE_SEND, "hi",
	    "[\"job-2\"]" };
	succeeds(c, jqc_select(c, cases, 2, 0, &r), "select send");
	ok(r.index == 0 && r.value_json == NULL && !r.closed,
	    "select: send case 0, no value");
	jqc_select_result_free(&r);

	cases[0] = (struct jqc_select_case){ JQC_CASE_RECV, "lo", NULL };
	cases[1] = (struct jqc_select_case){ JQC_CASE_RECV, "nosuch", NULL };
	fails_with(c, jqc_select(c, cases, 2, 0, &r), JQC_E_NOT_FOUND,
	    "select on a missing channel: not_found");
	is_int(r.index, 1, "not_found: index of the case");

	succeeds(c, jqc_chan_close(c, "lo"), "close lo");
	cases[0] = (struct jqc_select_case){ JQC_CASE_RECV, "quit", NULL };
	cases[1] = (struct jqc_select_case){ JQC_CASE_RECV, "lo", NULL };
	succeeds(c, jqc_select(c, cases, 2, 0, &r), "select on closed lo");
	ok(r.index == 1 && r.closed && r.value_json == NULL,
	    "select: case 1 closed, no value");
	cases[1] = (struct jqc_select_case){ JQC_CASE_SEND, "lo", "1" };
	fails_with(c, jqc_select(c, cases, 2, 0, &r), JQC_E_CLOSED,
	    "select send on a closed channel: closed");
	is_int(r.index, 1, "closed: index of the case");

	cases[1] = (struct jqc_select_case){ JQC_CASE_SEND, "lo", "{" };
	fails_with(c, jqc_select(c, cases, 2, 0, &r), JQC_E_INVAL,
	    "select with a value that is not JSON: inval");
	cases[1] = (struct jqc_select_case){ (enum jqc_case_kind)7, "lo",
	    NULL };
	fails_with(c, jqc_select(c, cases, 2, 0, &r), JQC_E_INVAL,
	    "select with an unknown case kind: inval");
	fails_with(c, jqc_select(c, cases, 0, 0, &r), JQC_E_BAD_REQUEST,
	    "select without cases: bad_request");
}

/*
 * Jobs
 */

static void
test_submit_job(struct jqc *c)
{
	static const char *const echo_argv[] = { "sh", "-c",
	    "echo \"$GREETING $JQ_JOB_ID\"; cat; echo oops >&2", NULL };
	static const char *const env[] = { "GREETING=hi", NULL };
	static const char *const exit3[] = { "sh", "-c", "exit 3", NULL };
	static const char *const nocmd[] = { "no-such-command-jqc", NULL };
	static const char *const progress[] = { "sh", "-c",
	    "echo 3 10 >&$JQ_PROGRESS_FD", NULL };
	static const char *const bad_env[] = { "NOEQUALS", NULL };
	struct jqc_submit_opts	 o;
	struct jqc_job_list	 l;
	struct jqc_job_result	 r;
	int64_t			 id, id2, id3, id4, ids[3];
	bool			 dup = true;
	char			 expect[64];

	memset(&o, 0, sizeof(o));
	o.argv = echo_argv;
	o.env = env;
	o.stdin_data = "from stdin\n";
	o.stdin_len = strlen(o.stdin_data);
	o.name = "greet";
	o.key = "greet-1";
	o.timeout_ms = 60000;
	succeeds(c, jqc_submit(c, &o, &id, &dup), "submit");
	ok(id >= 1 && !dup, "submit: job %lld, not a duplicate",
	    (long long)id);
	succeeds(c, jqc_submit(c, &o, &id2, &dup), "submit the same key");
	ok(id2 == id && dup, "the same key: the same job, duplicate");

	succeeds(c, jqc_wait_jobs(c, &id, 1, BLOCK_TIMEOUT_MS, &l), "wait");
	ok(l.n == 1 && l.pending == 0, "wait: one result");
	if (l.n == 1) {
		snprintf(expect, sizeof(expect), "hi %lld\nfrom stdin\n",
		    (long long)id);
		is_int(l.results[0].job, id, "wait: the job's id");
		ok(l.results[0].state == JQC_JOB_SUCCEEDED &&
		    l.results[0].exit_code == 0 &&
		    l.results[0].signal == 0 && l.results[0].error == NULL,
		    "wait: succeeded, exit 0");
		is_str(l.results[0].stdout_data, expect, "wait: stdout");
		is_int(l.results[0].stdout_len, strlen(expect),
		    "wait: stdout_len");
		is_str(l.results[0].stderr_data, "oops\n", "wait: stderr");
	}
	jqc_job_list_free(&l);

	succeeds(c, jqc_job(c, id, &r), "job");
	ok(r.job == id && r.state == JQC_JOB_SUCCEEDED &&
	    r.name != NULL && strcmp(r.name, "greet") == 0 &&
	    r.group == NULL && r.attempt == 1 && r.parent == 0 &&
	    r.priority == 0 && !r.has_progress, "job: the result object");
	ok(r.submitted_ms > 0 && r.started_ms >= r.submitted_ms &&
	    r.finished_ms >= r.started_ms && r.deadline_ms ==
	    r.submitted_ms + 60000, "job: times, deadline from timeout_ms");
	ok(r.stdout_data != NULL && r.stderr_data != NULL &&
	    !r.stdout_truncated && !r.stderr_truncated, "job: with output");
	jqc_job_result_free(&r);
	ok(r.name == NULL && r.job == 0, "job_result_free zeroes");

	memset(&o, 0, sizeof(o));
	o.argv = exit3;
	o.retries = 0;
	o.priority = 5;
	o.parent = id;
	succeeds(c, jqc_submit(c, &o, &id2, NULL), "submit exit 3");
	o.argv = nocmd;
	o.parent = 0;
	o.priority = 0;
	succeeds(c, jqc_submit(c, &o, &id3, NULL), "submit a missing "
	    "command");
	o.argv = progress;
	succeeds(c, jqc_submit(c, &o, &id4, NULL), "submit with progress");
	ids[0] = id4;
	ids[1] = id2;
	ids[2] = id3;
	succeeds(c, jqc_wait_jobs(c, ids, 3, BLOCK_TIMEOUT_MS, &l),
	    "wait for three");
	ok(l.n == 3 && l.results[0].job == id2 && l.results[1].job == id3 &&
	    l.results[2].job == id4, "wait: ordered by id");
	if (l.n == 3) {
		ok(l.results[0].state == JQC_JOB_FAILED &&
		    l.results[0].exit_code == 3 && l.results[0].priority == 5 &&
		    l.results[0].parent == id, "exit 3: failed, exit_code 3");
		ok(l.results[1].state == JQC_JOB_FAILED &&
		    l.results[1].exit_code == -1 &&
		    l.results[1].error != NULL &&
		    strstr(l.results[1].error, "cannot start") != NULL,
		    "missing command: failed, error '%s'",
		    l.results[1].error != NULL ? l.results[1].error : "");
		ok(l.results[2].has_progress &&
		    l.results[2].progress_done == 3 &&
		    l.results[2].progress_total == 10, "progress 3/10");
	}
	jqc_job_list_free(&l);

	fails_with(c, jqc_job(c, 999999, &r), JQC_E_NOT_FOUND,
	    "job of an unknown id: not_found");
	ok(r.job == 0 && r.stdout_data == NULL, "result zeroed on failure");
	ids[0] = id;
	ids[1] = 999999;
	fails_with(c, jqc_wait_jobs(c, ids, 2, 0, &l), JQC_E_NOT_FOUND,
	    "wait for an unknown id: not_found");
	fails_with(c, jqc_wait_jobs(c, ids, 0, 0, &l), JQC_E_BAD_REQUEST,
	    "wait for no jobs: bad_request");

	memset(&o, 0, sizeof(o));
	fails_with(c, jqc_submit(c, &o, &id, NULL), JQC_E_INVAL,
	    "submit without argv: inval");
	fails_with(c, jqc_submit(c, NULL, &id, NULL), JQC_E_INVAL,
	    "submit without options: inval");
	o.argv = exit3;
	o.env = bad_env;
	fails_with(c, jqc_submit(c, &o, &id, NULL), JQC_E_INVAL,
	    "submit with env not NAME=VALUE: inval");
	o.env = NULL;
	o.priority = 2000000;
	fails_with(c, jqc_submit(c, &o, &id, NULL), JQC_E_BAD_REQUEST,
	    "submit with priority out of range: bad_request");
	ok(strstr(jqc_error(c), "priority") != NULL, "message names the "
	    "field: %s", jqc_error(c));
	o.priority = 0;
	o.result_chan = "nowhere";
	fails_with(c, jqc_submit(c, &o, &id, NULL), JQC_E_NOT_FOUND,
	    "submit with a missing result_chan: not_found");
}

static void
test_groups(struct jqc *c)
{
	static const char *const slow[] = { "sleep", "60", NULL };
	struct jqc_submit_opts	 o;
	struct jqc_group_stat	 g;
	struct jqc_job_list	 l;
	struct jqc_jobs_query	 q;
	int64_t			 id, n = -1;

	memset(&o, 0, sizeof(o));
	o.argv = slow;
	o.group = "slow";
	succeeds(c, jqc_submit(c, &o, &id, NULL), "submit sleep 1 in slow");
	succeeds(c, jqc_submit(c, &o, &id, NULL), "submit sleep 2 in slow");
	succeeds(c, jqc_group(c, "slow", &g), "group slow");
	ok(g.total == 2 && g.queued + g.running == 2 && g.succeeded == 0,
	    "group: 2 jobs, none final");
	fails_with(c, jqc_wait_group(c, "slow", 0, &l), JQC_E_TIMEOUT,
	    "wait for the group, timeout 0: timeout");
	is_int(l.pending, 2, "timeout: 2 pending");
	ok(l.n == 0 && l.results == NULL, "timeout: no results");
	fails_with(c, jqc_wait_jobs(c, &id, 1, 50, &l), JQC_E_TIMEOUT,
	    "wait for a job, timeout 50 ms: timeout");
	is_int(l.pending, 1, "timeout: 1 pending");

	memset(&q, 0, sizeof(q));
	q.group = "slow";
	succeeds(c, jqc_jobs(c, &q, &l), "jobs of group slow");
	ok(l.n == 2 && l.results[0].job == id && l.results[0].job >
	    l.results[1].job, "jobs: 2, newest first");
	ok(l.n == 2 && l.results[0].stdout_data == NULL &&
	    l.results[0].group != NULL &&
	    strcmp(l.results[0].group, "slow") == 0,
	    "jobs: no output, the group");
	jqc_job_list_free(&l);

	succeeds(c, jqc_cancel_group(c, "slow", &n), "cancel group slow");
	is_int(n, 2, "cancel: 2 canceled");
	succeeds(c, jqc_wait_group(c, "slow", BLOCK_TIMEOUT_MS, &l),
	    "wait for the group");
	ok(l.n == 2 && l.results[0].state == JQC_JOB_CANCELED &&
	    l.results[1].state == JQC_JOB_CANCELED &&
	    jqc_job_state_final(l.results[0].state), "wait: both canceled");
	jqc_job_list_free(&l);
	succeeds(c, jqc_cancel_job(c, id, &n), "cancel a canceled job");
	is_int(n, 0, "cancel again: 0");
	fails_with(c, jqc_cancel_job(c, 999999, &n), JQC_E_NOT_FOUND,
	    "cancel an unknown job: not_found");
	succeeds(c, jqc_cancel_group(c, "nobody", NULL), "cancel a group "
	    "nobody has");
	succeeds(c, jqc_group(c, "slow", &g), "group slow again");
	ok(g.total == 2 && g.canceled == 2 && g.queued == 0 &&
	    g.running == 0, "group: 2 canceled");
	succeeds(c, jqc_wait_group(c, "nobody", 0, &l), "wait, unknown group");
	ok(l.n == 0, "unknown group: no results at once");
	fails_with(c, jqc_group(c, "bad group", &g), JQC_E_BAD_REQUEST,
	    "group with a bad name: bad_request");

	memset(&q, 0, sizeof(q));
	q.state = JQC_JOB_SUCCEEDED;
	q.limit = 1;
	succeeds(c, jqc_jobs(c, &q, &l), "jobs: succeeded, limit 1");
	ok(l.n == 1 && l.results[0].state == JQC_JOB_SUCCEEDED,
	    "jobs: one succeeded job");
	if (l.n == 1) {
		q.state = JQC_JOB_UNKNOWN;
		q.before = l.results[0].job;
		q.limit = 0;
	}
	jqc_job_list_free(&l);
	succeeds(c, jqc_jobs(c, &q, &l), "jobs before it");
	ok(l.n >= 1 && l.results[0].job < q.before, "jobs: older ones");
	jqc_job_list_free(&l);
	succeeds(c, jqc_jobs(c, NULL, &l), "jobs, no query");
	ok(l.n >= 6, "jobs: %zu jobs", l.n);
	jqc_job_list_free(&l);
}

/*
 * Raw calls and local failures
 */

static void
test_raw(struct jqc *c)
{
	json_t	*req, *reply = NULL;
	int64_t	 id1 = 0, id2 = 0;

	req = json_pack("{s:s}", "op", "ping");
	ok(jqc_call(c, req, &reply) == 0 && jqc_reply_ok(reply),
	    "raw call: ping");
	json_decref(reply);
	ok(jqc_send_request(c, req, &id1) == 0 &&
	    jqc_send_request(c, req, &id2) == 0 && id2 == id1 + 1 &&
	    jqc_pending(c) == 2, "pipelining: two requests out");
	ok(jqc_read_reply(c, &reply) == 0 && jqc_reply_ok(reply),
	    "pipelining: the first reply");
	json_decref(reply);
	/* A typed call reads and drops the reply nobody read. */
	succeeds(c, jqc_ping(c), "typed call after an unread reply");
	is_int(jqc_pending(c), 0, "nothing pending");
	json_decref(req);

	req = json_pack("{s:s}", "op", "frobnicate");
	ok(jqc_call(c, req, &reply) == 0 && !jqc_reply_ok(reply) &&
	    strcmp(jqc_reply_error_code(reply), "unknown_op") == 0,
	    "raw call: an error reply is a reply");
	json_decref(reply);
	json_decref(req);
	ok(jqc_read_reply(c, &reply) == -1 && jqc_errcode(c) == JQC_E_INVAL,
	    "read_reply with nothing pending: inval");
	succeeds(c, jqc_ping(c), "still usable");
}

/* Raw calls with values as text, at the top and inside a select case. */
static void
test_raw_text(struct jqc *c)
{
	json_t		*req, *cases, *co, *reply = NULL;
	const char	*line, *t;
	char		*v;
	size_t		 len;

	succeeds(c, jqc_make(c, "texts", 4, NULL), "make texts 4");
	req = json_pack("{s:s, s:s}", "op", "send", "chan", "texts");
	t = "[19.99, {\"a\" : 1E+2}]";
	ok(jqc_request_set_text(c, req, "values", t, strlen(t)) == 0,
	    "set_text: a batch");
	ok(jqc_request_set_text(c, req, "value", "[1", 2) == -1 &&
	    jqc_errcode(c) == JQC_E_INVAL && strstr(jqc_error(c), "not JSON"),
	    "set_text: not JSON is refused");
	ok(jqc_request_set_text(NULL, req, "bad key", "1", 1) == -1,
	    "set_text: a key that is not plain is refused");
	ok(jqc_call(c, req, &reply) == 0 && jqc_reply_ok(reply),
	    "raw send of the batch");
	json_decref(reply);
	json_decref(req);

	co = json_pack("{s:s}", "send", "texts");
	t = " \"\\u00e9\" ";
	ok(jqc_request_set_text(c, co, "value", t, strlen(t)) == 0,
	    "set_text: in a select case");
	/* Nobody sends on "sync": the send case is the ready one. */
	cases = json_pack("[{s:s}, o]", "recv", "sync", co);
	req = json_pack("{s:s, s:o}", "op", "select", "cases", cases);
	ok(jqc_call(c, req, &reply) == 0 && jqc_reply_ok(reply) &&
	    json_integer_value(json_object_get(reply, "index")) == 1,
	    "raw select with a send case");
	json_decref(reply);
	json_decref(req);

	req = json_pack("{s:s, s:s, s:i, s:i}", "op", "recv", "chan", "texts",
	    "max", 3, "timeout_ms", 0);
	ok(jqc_call(c, req, &reply) == 0 && jqc_reply_ok(reply),
	    "raw recv of three");
	line = jqc_reply_text(c, reply, &len);
	ok(line != NULL && len == strlen(line) && strstr(line,
	    "\"values\":[19.99,{\"a\":1E+2},\"\\u00e9\"]") != NULL,
	    "reply_text: the line as the server wrote it");
	v = jqc_reply_value_text(c, reply, "values", 0);
	is_str(v, "19.99", "reply_value_text: element 0");
	free(v);
	v = jqc_reply_value_text(c, reply, "values", 1);
	is_str(v, "{\"a\":1E+2}", "reply_value_text: element 1");
	free(v);
	v = jqc_reply_value_text(c, reply, "values", 2);
	is_str(v, "\"\\u00e9\"", "reply_value_text: element 2");
	free(v);
	ok(jqc_reply_value_text(c, reply, "values", 3) == NULL &&
	    jqc_reply_value_text(c, reply, "value", JQC_MEMBER) == NULL,
	    "reply_value_text: none past the end, none absent");
	json_decref(reply);
	json_decref(req);
}

static void
test_names(void)
{
	is_str(jqc_err_name(JQC_OK), "ok", "err_name ok");
	is_str(jqc_err_name(JQC_E_TIMEOUT), "timeout", "err_name timeout");
	is_str(jqc_err_name(JQC_E_SHUTTING_DOWN), "shutting_down",
	    "err_name shutting_down");
	is_str(jqc_err_name(JQC_E_IO), "io", "err_name io");
	is_str(jqc_job_state_name(JQC_JOB_DEADLINE_EXCEEDED),
	    "deadline_exceeded", "job_state_name");
	ok(!jqc_job_state_final(JQC_JOB_RUNNING) &&
	    jqc_job_state_final(JQC_JOB_FAILED), "job_state_final");
}

/* A listening socket on 127.0.0.1:0; its address into buf. */
static int
fake_listen(char *buf, size_t len)
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof(sin);
	int			fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 4) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) == -1)
		die("fake server");
	snprintf(buf, len, "127.0.0.1:%d", ntohs(sin.sin_port));
	return fd;
}

static void
test_broken(void)
{
	char		 a[64], errbuf[256];
	struct jqc	*c;
	int		 lfd, fd;

	/* Garbage for a reply: a protocol failure, and c is broken. */
	lfd = fake_listen(a, sizeof(a));
	if ((c = jqc_connect(a, errbuf, sizeof(errbuf))) == NULL ||
	    (fd = accept(lfd, NULL, NULL)) == -1)
		die("connect to the fake server");
	if (write(fd, "this is not json\n", 17) != 17)
		die("write");
	fails_with(c, jqc_ping(c), JQC_E_PROTO, "a garbled reply: proto");
	fails_with(c, jqc_ping(c), JQC_E_PROTO, "broken: the same again");
	jqc_close(c);
	close(fd);

	/* The server goes away: an I/O failure. */
	if ((c = jqc_connect(a, errbuf, sizeof(errbuf))) == NULL ||
	    (fd = accept(lfd, NULL, NULL)) == -1)
		die("connect to the fake server");
	close(fd);
	/* "closed by server", or a reset: the ping may have crossed the
	 * close. */
	fails_with(c, jqc_ping(c), JQC_E_IO, "connection lost: io");
	ok(jqc_error(c)[0] != '\0', "message: %s", jqc_error(c));
	fails_with(c, jqc_make(c, "x", 0, NULL), JQC_E_IO,
	    "broken: every call fails the same way");
	jqc_close(c);
	close(lfd);

	ok(jqc_connect(a, errbuf, sizeof(errbuf)) == NULL &&
	    errbuf[0] != '\0', "connect refused: %s", errbuf);
}

/* Protocol 1.3: peek, retry, purge, pool; argv and retry_of in results. */
static void
test_admin(struct jqc *c)
{
	const char *const	 fail[] = { "sh", "-c", "exit 4", "it's", NULL };
	const char *const	 two[] = { "1", "\"two\"" };
	struct jqc_submit_opts	 o;
	struct jqc_purge_opts	 po;
	struct jqc_pool_state	 ps;
	struct jqc_job_result	 r;
	struct jqc_job_list	 l;
	struct jqc_values	 vals;
	int64_t			 id, nid, len, n;

	succeeds(c, jqc_make(c, "peeked", 5, NULL), "make peeked 5");
	succeeds(c, jqc_send_batch(c, "peeked", two, 2, 0), "send two");
	succeeds(c, jqc_peek(c, "peeked", 5, &vals, &len), "peek");
	ok(vals.n == 2 && len == 2 && strcmp(vals.values[0], "1") == 0 &&
	    strcmp(vals.values[1], "\"two\"") == 0 && vals.leases == NULL,
	    "peek: both values, head first, no leases");
	jqc_values_free(&vals);
	succeeds(c, jqc_peek(c, "peeked", 0, &vals, NULL), "peek one");
	ok(vals.n == 1, "peek: n 0 is one value");
	jqc_values_free(&vals);
	fails_with(c, jqc_peek(c, "no-such", 1, &vals, NULL), JQC_E_NOT_FOUND,
	    "peek: not_found");

	memset(&o, 0, sizeof(o));
	o.argv = fail;
	o.group = "admin";
	succeeds(c, jqc_submit(c, &o, &id, NULL), "submit a failing job");
	succeeds(c, jqc_wait_jobs(c, &id, 1, BLOCK_TIMEOUT_MS, &l), "wait");
	jqc_job_list_free(&l);
	succeeds(c, jqc_retry(c, id, &nid), "retry");
	ok(nid > id, "retry: a new id");
	succeeds(c, jqc_wait_jobs(c, &nid, 1, BLOCK_TIMEOUT_MS, &l),
	    "wait for the retry");
	ok(l.n == 1 && l.results[0].retry_of == id &&
	    l.results[0].exit_code == 4 && l.results[0].argv != NULL &&
	    strcmp(l.results[0].argv[3], "it's") == 0 &&
	    l.results[0].argv[4] == NULL && l.results[0].not_before_ms == -1,
	    "the retry: retry_of, argv, no not_before_ms");
	jqc_job_list_free(&l);
	succeeds(c, jqc_job(c, id, &r), "job of the retried one");
	ok(r.retry_of == 0 && r.argv != NULL, "retried job: no retry_of");
	jqc_job_result_free(&r);
	fails_with(c, jqc_retry(c, 999999, &nid), JQC_E_NOT_FOUND,
	    "retry: not_found");

	memset(&po, 0, sizeof(po));
	po.group = "admin";
	po.state = JQC_JOB_FAILED;
	succeeds(c, jqc_purge(c, &po, &n), "purge the group's failed jobs");
	ok(n == 2, "purge: %lld deleted", (long long)n);
	fails_with(c, jqc_job(c, id, &r), JQC_E_NOT_FOUND, "purged: gone");
	po.state = JQC_JOB_RUNNING;
	fails_with(c, jqc_purge(c, &po, &n), JQC_E_BAD_REQUEST,
	    "purge of running jobs: bad_request");

	succeeds(c, jqc_pool(c, "gpu", 1, -1, &ps), "pause pool gpu");
	ok(ps.paused && strcmp(ps.pool, "gpu") == 0 && ps.workers == -1,
	    "pool gpu: paused, no slots of jqd");
	succeeds(c, jqc_pool(c, "gpu", 0, -1, &ps), "resume it");
	ok(!ps.paused, "pool gpu: resumed");
	succeeds(c, jqc_pool(c, NULL, -1, -1, &ps), "pool local");
	ok(strcmp(ps.pool, "local") == 0 && !ps.paused && ps.workers >= 0,
	    "pool local: running, jqd's slots");
	fails_with(c, jqc_pool(c, "gpu", -1, 2, &ps), JQC_E_BAD_REQUEST,
	    "workers of another pool: bad_request");
}

int
main(void)
{
	const char	*jqd = getenv("JQD");
	struct jqc	*c;

	if (jqd == NULL || *jqd == '\0') {
		printf("1..0 # SKIP JQD is not set (the jqd to test)\n");
		return 77;
	}
	alarm(TEST_TIMEOUT_S);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	start_jqd(jqd);

	c = connect_or_die();
	test_names();
	test_session(c);
	test_make(c);
	test_send_recv(c);
	test_batch(c);
	test_keyed(c);
	test_close_drop(c);
	test_stat_chans(c);
	test_leases(c);
	test_dead_letters(c);
	test_blocking(c);
	test_select(c);
	test_submit_job(c);
	test_groups(c);
	test_admin(c);
	test_raw(c);
	test_raw_text(c);
	jqc_close(c);
	test_broken();

	stop_jqd();
	return done_testing();
}
