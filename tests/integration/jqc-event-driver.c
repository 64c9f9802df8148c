/*
 * jqc-event-driver: libjqclient-event (jqclient-event.h) on a libevent
 * loop against a real jqd; driven by test_jqc_event.py, which checks the
 * lines it prints and the server's side.  Usage:
 *
 *   jqc-event-driver ADDR scenario CHAN
 *	a recv of CHAN and a ping written before the connection is up; the
 *	ping answers first ("ping"), a send of 42 from the same connection
 *	completes the recv ("recv 42", "send ok"), a second recv is
 *	aborted ("abort canceled"), a third is pending when the connection
 *	is closed from that callback ("close outcome_unknown"); "done".
 *   jqc-event-driver ADDR lost CHAN
 *	a recv of CHAN pending ("connected"), then the test kills jqd:
 *	"recv outcome_unknown", "status io".
 *   jqc-event-driver ADDR nullid CHAN
 *	a recv of CHAN pending, then a ping padded to 2 MiB, refused before
 *	it is sent ("big frame_too_large"), and one padded to 100000 bytes
 *	(the test's jqd takes 64K): the server's null-id frame_too_large
 *	cannot tell whose it is, so the connection fails ("recv
 *	outcome_unknown", "ping outcome_unknown", "status proto").
 *   jqc-event-driver ADDR refused
 *	"status io" from the loop: nothing listens at ADDR.
 * Exit status 0 once the loop has nothing left to do.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "jqclient.h"
#include "jqclient-event.h"

static const char *chan;
static int replies;	/* of the ping, recv and send of the scenario */

static void
die(const char *what)
{
	fprintf(stderr, "jqc-event-driver: %s\n", what);
	exit(1);
}

static json_t *
req(const char *op, const char *c)
{
	json_t	*r = c != NULL ? json_pack("{s:s, s:s}", "op", op, "chan", c) :
	    json_pack("{s:s}", "op", op);

	if (r == NULL)
		die("json_pack");
	return r;
}

static int64_t
call(struct jqc_event *ev, json_t *r, jqc_event_reply_cb *cb)
{
	enum jqc_err	code;
	int64_t		id;

	if (jqc_event_call(ev, r, cb, NULL, &id, &code) == -1)
		die(jqc_err_name(code));
	json_decref(r);
	return id;
}

/* "WHAT CODE": the error code of reply, or of the failure. */
static void
print_outcome(const char *what, const json_t *reply, enum jqc_err code)
{
	printf("%s %s\n", what, reply != NULL ? jqc_reply_error_code(reply) :
	    jqc_err_name(code));
}

static void
status_cb(struct jqc_event *ev, enum jqc_err code, const char *message,
    const json_t *hello, void *arg)
{
	if (code == JQC_OK) {
		printf("connected %s\n", json_is_true(json_object_get(hello,
		    "multiplex")) ? "multiplex" : "serial");
		return;
	}
	printf("status %s\n", jqc_err_name(code));
	fprintf(stderr, "jqc-event-driver: %s\n", message);
	jqc_event_close(ev);
}

static void
third_cb(struct jqc_event *ev, int64_t id, const json_t *reply,
    enum jqc_err code, const char *message, void *arg)
{
	print_outcome("close", reply, code);
}

static void
second_cb(struct jqc_event *ev, int64_t id, const json_t *reply,
    enum jqc_err code, const char *message, void *arg)
{
	print_outcome("abort", reply, code);
	call(ev, req("recv", chan), third_cb);
	jqc_event_close(ev);
	printf("done\n");
}

/* After the ping, the recv and the send: a recv to abort. */
static void
scenario_next(struct jqc_event *ev)
{
	enum jqc_err	code;
	int64_t		id;

	if (++replies < 3)
		return;
	id = call(ev, req("recv", chan), second_cb);
	if (jqc_event_abort(ev, id, &code) == -1)
		die(jqc_err_name(code));
}

static void
send_cb(struct jqc_event *ev, int64_t id, const json_t *reply,
    enum jqc_err code, const char *message, void *arg)
{
	printf("send %s\n", jqc_reply_ok(reply) ? "ok" : "failed");
	scenario_next(ev);
}

static void
recv_cb(struct jqc_event *ev, int64_t id, const json_t *reply,
    enum jqc_err code, const char *message, void *arg)
{
	char	*v;

	if (!jqc_reply_ok(reply)) {
		print_outcome("recv", reply, code);
		return;
	}
	v = json_dumps(json_object_get(reply, "value"), JSON_ENCODE_ANY);
	printf("recv %s\n", v != NULL ? v : "?");
	free(v);
	scenario_next(ev);
}

static void
ping_cb(struct jqc_event *ev, int64_t id, const json_t *reply,
    enum jqc_err code, const char *message, void *arg)
{
	json_t	*s = req("send", chan);

	printf("ping %s\n", jqc_reply_ok(reply) ? "ok" : "failed");
	json_object_set_new(s, "value", json_integer(42));
	call(ev, s, send_cb);
	scenario_next(ev);
}

static void
padded_ping_cb(struct jqc_event *ev, int64_t id, const json_t *reply,
    enum jqc_err code, const char *message, void *arg)
{
	print_outcome("ping", reply, code);
}

/* A ping with a "pad" of n bytes: its line is a little longer. */
static json_t *
padded_ping(size_t n)
{
	json_t	*r = req("ping", NULL);
	char	*pad;

	if ((pad = malloc(n + 1)) == NULL)
		die("malloc");
	memset(pad, 'x', n);
	pad[n] = '\0';
	json_object_set_new(r, "pad", json_string(pad));
	free(pad);
	return r;
}

static void
nullid(struct jqc_event *ev)
{
	enum jqc_err	 code;
	json_t		*r = padded_ping(2 * 1024 * 1024);

	call(ev, req("recv", chan), recv_cb);
	if (jqc_event_call(ev, r, padded_ping_cb, NULL, NULL, &code) != -1)
		die("a 2 MiB request was taken");
	printf("big %s\n", jqc_err_name(code));
	json_decref(r);
	call(ev, padded_ping(100000), padded_ping_cb);
}

int
main(int argc, char **argv)
{
	struct event_base	*base;
	struct jqc_event	*ev;
	char			 errbuf[512];

	if (argc < 3)
		die("usage: jqc-event-driver ADDR MODE [CHAN]");
	setvbuf(stdout, NULL, _IOLBF, 0);
	chan = argc > 3 ? argv[3] : NULL;
	if ((base = event_base_new()) == NULL)
		die("event_base_new");
	if ((ev = jqc_event_connect(base, NULL, argv[1], NULL, status_cb,
	    NULL, errbuf, sizeof(errbuf))) == NULL)
		die(errbuf);
	if (strcmp(argv[2], "scenario") == 0 && chan != NULL) {
		call(ev, req("recv", chan), recv_cb);
		call(ev, req("ping", NULL), ping_cb);
	} else if (strcmp(argv[2], "lost") == 0 && chan != NULL)
		call(ev, req("recv", chan), recv_cb);
	else if (strcmp(argv[2], "nullid") == 0 && chan != NULL)
		nullid(ev);
	else if (strcmp(argv[2], "refused") != 0)
		die("unknown mode");
	event_base_dispatch(base);
	event_base_free(base);
	return 0;
}
