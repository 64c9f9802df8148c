/*
 * xc-submit: the C role of the cross-client test (test_cross_client.py):
 *
 *   JQ_ADDR=unix:/path/jqd.sock xc-submit KEY [SCRIPT]
 *
 * submits ["sh","-c",SCRIPT] (default "sleep 1; echo xc") with key KEY
 * (and one retry, so
 * that a kill -9 of jqd while it runs does not fail it, PROTOCOL.md
 * 11.9), waits for the job and prints "STATE STDOUT" (the job's output, its last newline taken
 * off); exit 0 when it succeeded, 1 otherwise.  jqd may be restarted
 * meanwhile (kill -9 or SIGTERM): both requests are idempotent (a keyed
 * submit, PROTOCOL.md 11.3; a wait), so they go through libjqclient's
 * thread-safe connection with JQC_SHARED_IDEMPOTENT, which dials again
 * with backoff and repeats them for up to 30 s -- a submit whose reply
 * was lost is sent again with the same key, and answers the same job.
 * The first connection is tried the same way, for up to 30 s.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jqclient.h"

#define PATIENCE_MS	30000
#define WAIT_SLICE_MS	5000

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect, trying again with growing pauses for up to PATIENCE_MS. */
static struct jqc_shared *
connect_patiently(const char *addr)
{
	struct jqc_shared	*s;
	char			 err[512];
	long long		 start = now_ms(), pause_ms = 50;

	while ((s = jqc_shared_connect(addr, NULL, getenv("JQ_TOKEN"), err,
	    sizeof(err))) == NULL) {
		if (now_ms() - start > PATIENCE_MS) {
			fprintf(stderr, "xc-submit: %s\n", err);
			exit(1);
		}
		usleep((useconds_t)pause_ms * 1000);
		if ((pause_ms *= 2) > 1000)
			pause_ms = 1000;
	}
	return s;
}

/* An idempotent call that must be answered ok: its reply. */
static json_t *
call_ok(struct jqc_shared *s, json_t *request)
{
	struct jqc_shared_error	 err;
	json_t			*reply;

	if (jqc_shared_call(s, request, JQC_SHARED_IDEMPOTENT, &reply,
	    &err) == -1) {
		fprintf(stderr, "xc-submit: %s: %s\n", jqc_err_name(err.code),
		    err.message);
		exit(1);
	}
	return reply;
}

int
main(int argc, char **argv)
{
	struct jqc_shared	*s;
	json_t			*req, *reply, *result;
	const char		*state, *out;
	json_int_t		 job;
	size_t			 len;
	int			 rc;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: JQ_ADDR=ADDR xc-submit KEY [SCRIPT]\n");
		return 2;
	}
	s = connect_patiently(getenv("JQ_ADDR"));
	req = json_pack("{s:s, s:[s,s,s], s:s, s:i}", "op", "submit", "argv",
	    "sh", "-c", argc == 3 ? argv[2] : "sleep 1; echo xc", "key",
	    argv[1], "retries", 1);
	reply = call_ok(s, req);
	json_decref(req);
	if (!jqc_reply_ok(reply)) {
		fprintf(stderr, "xc-submit: submit: %s\n",
		    jqc_reply_error_message(reply));
		return 1;
	}
	job = json_integer_value(json_object_get(reply, "job"));
	json_decref(reply);
	req = json_pack("{s:s, s:[I], s:i}", "op", "wait", "jobs", job,
	    "timeout_ms", WAIT_SLICE_MS);
	for (;;) {
		reply = call_ok(s, req);
		if (jqc_reply_ok(reply))
			break;
		if (strcmp(jqc_reply_error_code(reply), "timeout") != 0) {
			fprintf(stderr, "xc-submit: wait: %s\n",
			    jqc_reply_error_message(reply));
			return 1;
		}
		json_decref(reply);
	}
	json_decref(req);
	result = json_array_get(json_object_get(reply, "results"), 0);
	state = json_string_value(json_object_get(result, "state"));
	out = json_string_value(json_object_get(result, "stdout"));
	len = out != NULL ? strlen(out) : 0;
	if (len > 0 && out[len - 1] == '\n')
		len--;
	printf("%s %.*s\n", state != NULL ? state : "?", (int)len,
	    out != NULL ? out : "");
	rc = state != NULL && strcmp(state, "succeeded") == 0 ? 0 : 1;
	json_decref(reply);
	jqc_shared_close(s);
	return rc;
}
