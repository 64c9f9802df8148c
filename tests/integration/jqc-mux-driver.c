/*
 * jqc-mux-driver: libjqclient's multiplexed calls, driven line by line
 * from stdin by tests/integration/test_jqc_mux.py against a real jqd.
 *
 *   jqc-mux-driver ADDR
 *
 * Commands, one a line; each prints one line of JSON on stdout:
 *   hello              jqc_hello_mux: {"multiplex":..., "minor":...,
 *                      "time_ms":..., "build":..., "abort": has_feature,
 *                      "nonesuch": has_feature}
 *   send ID JSON       jqc_mux_send: {"sent": ID}
 *   abort ID REF       jqc_mux_abort: {"sent": ID}
 *   read               jqc_mux_read: {"id": ID, "reply": REPLY}
 *   call JSON          jqc_call_cancelable with stdin as wake_fd (the
 *                      test writes "wake" to call it off): {"aborted":
 *                      bool, "reply": REPLY}
 *   ping               jqc_ping, a serial call: {"ok": true}
 *   wake               nothing (what woke a call); prints nothing
 * A failure prints {"error": NAME, "message": TEXT}.  Stdin is
 * unbuffered (stdio then reads it a byte at a time), so nothing waits in
 * a buffer of ours while a call polls it.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "jqclient.h"

/* Print obj (stolen) as one line. */
static void
emit(json_t *obj)
{
	if (obj == NULL) {
		puts("{\"error\":\"nomem\"}");
		return;
	}
	json_dumpf(obj, stdout, JSON_COMPACT);
	putchar('\n');
	fflush(stdout);
	json_decref(obj);
}

static void
emit_error(struct jqc *c)
{
	emit(json_pack("{s:s, s:s}", "error", jqc_err_name(jqc_errcode(c)),
	    "message", jqc_error(c)));
}

static json_t *
parse(const char *text)
{
	return json_loads(text, 0, NULL);
}

static void
run(struct jqc *c, char *line)
{
	struct jqc_hello	 h;
	json_t			*req, *reply;
	long long		 id, ref;
	int64_t			 rid;
	bool			 aborted;
	int			 off = 0;

	if (strcmp(line, "hello") == 0) {
		if (jqc_hello_mux(c, &h) == -1)
			emit_error(c);
		else
			emit(json_pack("{s:b, s:I, s:I, s:s, s:b, s:b}",
			    "multiplex", h.multiplex,
			    "minor", (json_int_t)h.minor,
			    "time_ms", (json_int_t)h.time_ms,
			    "build", h.build,
			    "abort", jqc_has_feature(c, "abort"),
			    "nonesuch", jqc_has_feature(c, "nonesuch")));
	} else if (sscanf(line, "send %lld %n", &id, &off) == 1 && off > 0) {
		req = parse(line + off);
		if (jqc_mux_send(c, req, id) == -1)
			emit_error(c);
		else
			emit(json_pack("{s:I}", "sent", (json_int_t)id));
		json_decref(req);
	} else if (sscanf(line, "abort %lld %lld", &id, &ref) == 2) {
		if (jqc_mux_abort(c, id, ref) == -1)
			emit_error(c);
		else
			emit(json_pack("{s:I}", "sent", (json_int_t)id));
	} else if (strcmp(line, "read") == 0) {
		if (jqc_mux_read(c, &reply, &rid) == -1)
			emit_error(c);
		else
			emit(json_pack("{s:I, s:o}", "id", (json_int_t)rid,
			    "reply", reply));
	} else if (strncmp(line, "call ", 5) == 0) {
		req = parse(line + 5);
		if (jqc_call_cancelable(c, req, STDIN_FILENO, &reply,
		    &aborted) == -1)
			emit_error(c);
		else
			emit(json_pack("{s:b, s:o}", "aborted", aborted,
			    "reply", reply));
		json_decref(req);
	} else if (strcmp(line, "ping") == 0) {
		if (jqc_ping(c) == -1)
			emit_error(c);
		else
			emit(json_pack("{s:b}", "ok", true));
	} else if (strcmp(line, "wake") != 0)
		emit(json_pack("{s:s, s:s}", "error", "usage", "message",
		    line));
}

int
main(int argc, char *argv[])
{
	char		 errbuf[512], *line = NULL;
	size_t		 size = 0;
	ssize_t		 len;
	struct jqc	*c;

	struct jqc_tls	 tls = { 0 };

	if (argc != 2 && argc != 3) {
		fputs("usage: jqc-mux-driver ADDR [TLS-CA-FILE]\n", stderr);
		return 2;
	}
	tls.ca_file = argv[2];
	if ((c = jqc_connect_tls(argv[1], argc == 3 ? &tls : NULL, errbuf,
	    sizeof(errbuf))) == NULL) {
		fprintf(stderr, "jqc-mux-driver: %s\n", errbuf);
		return 3;
	}
	setvbuf(stdin, NULL, _IONBF, 0);
	while ((len = getline(&line, &size, stdin)) > 0) {
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		run(c, line);
	}
	free(line);
	jqc_close(c);
	return 0;
}
