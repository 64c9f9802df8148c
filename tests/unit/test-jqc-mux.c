/*
 * test-jqc-mux: libjqclient's 1.1 side -- hello's new members and
 * features, multiplexed requests matched by id, abort and
 * jqc_call_cancelable() -- against a scripted fake server, so every
 * order of replies a real server may produce is produced on purpose.
 *
 * The fake server is a thread that accepts one connection and plays a
 * script: expect a request line containing some text, write a reply line,
 * write to the test's wake-up pipe (the "signal"), or wait until the test
 * says go.  A script step that does not match is a failed check.  The
 * same calls against the real jqd are in tests/integration/test_jqc_mux.py.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-tap.h"
#include "tap.h"

#define TEST_TIMEOUT_S	120	/* the whole run, a hang guard */
#define LINE_MAX_BYTES	4096

/* One step of the fake server's script. */
enum step_kind {
	EXPECT,		/* read a request line; it must contain text */
	REPLY,		/* write text and a newline */
	WAKE,		/* write a byte to the wake-up pipe */
	AWAIT_GO,	/* wait for the test to write to the go pipe */
	REDIAL,		/* close the connection, accept the next */
	REPLY_ID,	/* "{\"id\":ID," text, ID the last request's */
	END,
};

struct step {
	enum step_kind	 kind;
	const char	*text;
};

struct fake {
	int		 lfd;
	int		 wake[2];	/* the test's wake_fd is wake[0] */
	int		 go[2];
	const struct step *script;
	char		 addr[64];
	char		 failure[512];	/* first mismatch; "" when none */
	pthread_t	 thread;
};

static void
die(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(1);
}

/* One line from fd, without its newline; false at EOF. */
static bool
read_line(int fd, char *buf, size_t size)
{
	size_t	n = 0;
	char	ch;

	for (;;) {
		if (read(fd, &ch, 1) != 1)
			return false;
		if (ch == '\n')
			break;
		if (n + 1 < size)
			buf[n++] = ch;
	}
	buf[n] = '\0';
	return true;
}

static void *
fake_run(void *arg)
{
	struct fake		*f = arg;
	const struct step	*s;
	char			 line[LINE_MAX_BYTES], ch, idbuf[32];
	const char		*p;
	long long		 id = 0;
	int			 fd;

	if ((fd = accept(f->lfd, NULL, NULL)) == -1)
		die("accept");
	for (s = f->script; s->kind != END && f->failure[0] == '\0'; s++) {
		switch (s->kind) {
		case EXPECT:
			if (!read_line(fd, line, sizeof(line)))
				snprintf(f->failure, sizeof(f->failure),
				    "EOF, expected '%s'", s->text);
			else if (strstr(line, s->text) == NULL)
				snprintf(f->failure, sizeof(f->failure),
				    "got %.300s, expected '%.150s'", line,
				    s->text);
			else if ((p = strstr(line, "\"id\":")) != NULL)
				id = strtoll(p + 5, NULL, 10);
			break;
		case REDIAL:
			close(fd);
			if ((fd = accept(f->lfd, NULL, NULL)) == -1)
				die("accept");
			break;
		case REPLY_ID:
			snprintf(idbuf, sizeof(idbuf), "{\"id\":%lld,", id);
			if (write(fd, idbuf, strlen(idbuf)) == -1 ||
			    write(fd, s->text, strlen(s->text)) == -1 ||
			    write(fd, "\n", 1) != 1)
				die("fake server write");
			break;
		case REPLY:
			if (write(fd, s->text, strlen(s->text)) == -1 ||
			    write(fd, "\n", 1) != 1)
				die("fake server write");
			break;
		case WAKE:
			if (write(f->wake[1], "!", 1) != 1)
				die("wake");
			break;
		case AWAIT_GO:
			if (read(f->go[0], &ch, 1) != 1)
				die("go");
			break;
		case END:
			break;
		}
	}
	/* Until the client hangs up: replies written stay readable. */
	while (f->failure[0] == '\0' && read(fd, &ch, 1) == 1)
		continue;
	close(fd);
	return NULL;
}

/* A fake server on 127.0.0.1:0 (f->addr) playing script. */
static void
fake_listen(struct fake *f, const struct step *script)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);

	memset(f, 0, sizeof(*f));
	f->script = script;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((f->lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(f->lfd, 1) == -1 ||
	    getsockname(f->lfd, (struct sockaddr *)&sin, &slen) == -1 ||
	    pipe(f->wake) == -1 || pipe(f->go) == -1)
		die("fake server");
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d",
	    ntohs(sin.sin_port));
	if (pthread_create(&f->thread, NULL, fake_run, f) != 0)
		die("pthread_create");
}

/* A fake server playing script, and a client of it. */
static struct jqc *
fake_start(struct fake *f, const struct step *script)
{
	char		 errbuf[256];
	struct jqc	*c;

	fake_listen(f, script);
	if ((c = jqc_connect(f->addr, errbuf, sizeof(errbuf))) == NULL) {
		printf("Bail out! connect to the fake server: %s\n", errbuf);
		exit(1);
	}
	return c;
}

static void
fake_go(struct fake *f)
{
	if (write(f->go[1], "g", 1) != 1)
		die("go");
}

/* Join the server, whose client has closed: its script must have played
 * out. */
static void
fake_join(struct fake *f, const char *name)
{
	pthread_join(f->thread, NULL);
	if (!ok(f->failure[0] == '\0', "%s: the server saw what it expected",
	    name))
		printf("#   %s\n", f->failure);
	close(f->lfd);
	close(f->wake[0]);
	close(f->wake[1]);
	close(f->go[0]);
	close(f->go[1]);
}

/* Close the client, join the server. */
static void
fake_finish(struct fake *f, struct jqc *c, const char *name)
{
	jqc_close(c);
	fake_join(f, name);
}

/* The value of a reply member as compact JSON; "" when absent.  Static. */
static const char *
member(const json_t *reply, const char *key)
{
	static char	 buf[256];
	char		*s;

	buf[0] = '\0';
	if ((s = json_dumps(json_object_get(reply, key),
	    JSON_COMPACT | JSON_ENCODE_ANY)) != NULL) {
		snprintf(buf, sizeof(buf), "%s", s);
		free(s);
	}
	return buf;
}

static json_t *
req(const char *op)
{
	json_t	*r;

	if ((r = json_pack("{s:s, s:s}", "op", op, "chan", "c")) == NULL)
		die("json_pack");
	return r;
}

#define HELLO_10 "\"ok\":true,\"server\":\"jqd\",\"version\":\"0.0.9\"," \
	"\"protocol\":1,\"auth_required\":false}"
#define HELLO_11 "\"ok\":true,\"server\":\"jqd\",\"version\":\"0.1.0\"," \
	"\"build\":\"0.1.0+gabc123\",\"protocol\":1,\"minor\":1," \
	"\"features\":[\"multiplex\",\"abort\"],\"multiplex\":true," \
	"\"time_ms\":1796625209766,\"auth_required\":false}"

/* A 1.0 server: no 1.1 members, and multiplex is never on. */
static void
test_server_10(void)
{
	static const struct step script[] = {
		{ EXPECT, "\"op\":\"hello\"" },
		{ REPLY, "{\"id\":1," HELLO_10 },
		{ EXPECT, "\"multiplex\":true" },
		{ REPLY, "{\"id\":2," HELLO_10 },
		{ EXPECT, "{\"id\":3,\"op\":\"ping\"}" },
		{ REPLY, "{\"id\":3,\"ok\":true}" },
		{ END, NULL },
	};
	struct fake		 f;
	struct jqc		*c;
	struct jqc_hello	 h;
	json_t			*r = req("recv"), *reply;

	c = fake_start(&f, script);
	ok(!jqc_has_feature(c, "multiplex"), "no features before hello");
	succeeds(c, jqc_hello(c, &h), "1.0: hello");
	ok(h.minor == 0 && h.time_ms == -1 && h.build[0] == '\0' &&
	    !h.multiplex && h.protocol == 1, "1.0: minor 0, no time_ms, "
	    "no build, not multiplexed");
	ok(!jqc_has_feature(c, "multiplex") && !jqc_has_feature(c, "abort"),
	    "1.0: no features");
	succeeds(c, jqc_hello_mux(c, &h), "1.0: hello multiplex: ok");
	ok(!h.multiplex, "1.0: ... and the connection stays serial");
	fails_with(c, jqc_mux_send(c, r, 1), JQC_E_INVAL,
	    "1.0: jqc_mux_send refused, nothing sent");
	fails_with(c, jqc_call_cancelable(c, r, -1, &reply, NULL),
	    JQC_E_INVAL, "1.0: jqc_call_cancelable refused");
	ok(reply == NULL, "refused: no reply");
	succeeds(c, jqc_ping(c), "1.0: serial calls go on");
	json_decref(r);
	fake_finish(&f, c, "1.0");
}

/* Requests by id, replies out of order, serial calls between. */
static void
test_mux(void)
{
	static const struct step script[] = {
		{ EXPECT, "\"multiplex\":true" },
		{ REPLY, "{\"id\":1," HELLO_11 },
		{ EXPECT, "{\"id\":10,\"op\":\"recv\"" },
		{ EXPECT, "{\"id\":11,\"op\":\"ping\"" },
		{ AWAIT_GO, NULL },
		{ REPLY, "{\"id\":11,\"ok\":true}" },
		{ REPLY, "{\"id\":10,\"ok\":true,\"value\":7}" },
		/* serial calls on a multiplexed connection */
		{ EXPECT, "{\"id\":2,\"op\":\"ping\"}" },
		{ REPLY, "{\"id\":2,\"ok\":true}" },
		{ EXPECT, "{\"id\":3,\"op\":\"ping\"" },
		{ REPLY, "{\"id\":3,\"ok\":true}" },
		/* null ids */
		{ EXPECT, "{\"id\":20," },
		{ REPLY, "{\"id\":null,\"ok\":false,\"error\":{\"code\":"
		    "\"frame_too_large\",\"message\":\"m\"}}" },
		{ EXPECT, "{\"id\":21," },
		{ EXPECT, "{\"id\":22," },
		{ REPLY, "{\"id\":null,\"ok\":false,\"error\":{\"code\":"
		    "\"bad_request\",\"message\":\"m\"}}" },
		{ REPLY, "{\"id\":22,\"ok\":true}" },
		{ REPLY, "{\"id\":21,\"ok\":true}" },
		/* an abort by ref */
		{ EXPECT, "{\"id\":30,\"op\":\"recv\"" },
		{ EXPECT, "{\"id\":31,\"op\":\"abort\",\"ref\":30}" },
		{ REPLY, "{\"id\":30,\"ok\":false,\"error\":{\"code\":"
		    "\"canceled\",\"message\":\"canceled by abort\"}}" },
		{ REPLY, "{\"id\":31,\"ok\":true,\"aborted\":true}" },
		/* a reply to nothing pending */
		{ EXPECT, "{\"id\":40," },
		{ REPLY, "{\"id\":41,\"ok\":true}" },
		{ END, NULL },
	};
	struct fake		 f;
	struct jqc		*c;
	struct jqc_hello	 h;
	json_t			*recv = req("recv"), *ping, *reply;
	int64_t			 id, sid;

	if ((ping = json_pack("{s:s}", "op", "ping")) == NULL)
		die("json_pack");
	c = fake_start(&f, script);
	succeeds(c, jqc_hello_mux(c, &h), "1.1: hello multiplex");
	ok(h.multiplex && h.minor == 1 && h.time_ms == 1796625209766LL &&
	    strcmp(h.build, "0.1.0+gabc123") == 0, "1.1: multiplexed, minor "
	    "1, time_ms, build");
	ok(jqc_has_feature(c, "multiplex") && jqc_has_feature(c, "abort") &&
	    !jqc_has_feature(c, "watch") && !jqc_has_feature(c, NULL),
	    "1.1: has_feature");

	succeeds(c, jqc_mux_send(c, recv, 10), "send recv as 10");
	succeeds(c, jqc_mux_send(c, ping, 11), "send ping as 11");
	fails_with(c, jqc_mux_send(c, ping, 10), JQC_E_INVAL,
	    "an id already pending is refused");
	fails_with(c, jqc_mux_send(c, ping, JQC_MUX_NOID), JQC_E_INVAL,
	    "JQC_MUX_NOID is refused");
	is_int(jqc_mux_pending(c), 2, "two pending");
	fails_with(c, jqc_ping(c), JQC_E_INVAL,
	    "serial calls wait while multiplexed ones are pending");
	is_int(jqc_mux_poll(c, 50, -1), 0, "poll: time passes, no reply");
	fake_go(&f);
	is_int(jqc_mux_poll(c, 30000, -1), 1, "poll: a reply came");
	succeeds(c, jqc_mux_read(c, &reply, &id), "read");
	ok(id == 11 && jqc_reply_ok(reply), "the ping's reply first");
	json_decref(reply);
	succeeds(c, jqc_mux_read(c, &reply, &id), "read");
	ok(id == 10 && strcmp(member(reply, "value"), "7") == 0,
	    "then the recv's, matched by id");
	json_decref(reply);
	is_int(jqc_mux_pending(c), 0, "none pending");
	fails_with(c, jqc_mux_read(c, &reply, &id), JQC_E_INVAL,
	    "read with nothing pending");
	fails_with(c, jqc_mux_poll(c, 0, -1), JQC_E_INVAL,
	    "poll with nothing pending");

	succeeds(c, jqc_ping(c), "a serial call on a multiplexed connection");
	succeeds(c, jqc_send_request(c, ping, &sid), "one serial request");
	fails_with(c, jqc_send_request(c, ping, NULL), JQC_E_INVAL,
	    "a second is refused: replies may come in any order");
	fails_with(c, jqc_mux_send(c, ping, 12), JQC_E_INVAL,
	    "multiplexed requests wait while a serial one is pending");
	succeeds(c, jqc_read_reply(c, &reply), "the serial reply");
	json_decref(reply);

	succeeds(c, jqc_mux_send(c, ping, 20), "send 20");
	succeeds(c, jqc_mux_read(c, &reply, &id), "read a null-id reply");
	ok(id == 20, "one pending: a null id answers it");
	json_decref(reply);
	succeeds(c, jqc_mux_send(c, ping, 21), "send 21");
	succeeds(c, jqc_mux_send(c, ping, 22), "send 22");
	succeeds(c, jqc_mux_read(c, &reply, &id), "read a null-id reply");
	ok(id == JQC_MUX_NOID && jqc_mux_pending(c) == 2,
	    "two pending: JQC_MUX_NOID, both still pending");
	json_decref(reply);
	succeeds(c, jqc_mux_read(c, &reply, &id), "read");
	ok(id == 22, "22");
	json_decref(reply);
	succeeds(c, jqc_mux_read(c, &reply, &id), "read");
	ok(id == 21, "21");
	json_decref(reply);

	succeeds(c, jqc_mux_send(c, recv, 30), "send recv as 30");
	succeeds(c, jqc_mux_abort(c, 31, 30), "abort 30 as 31");
	succeeds(c, jqc_mux_read(c, &reply, &id), "read");
	ok(id == 30 && strcmp(jqc_reply_error_code(reply), "canceled") == 0,
	    "30: canceled");
	json_decref(reply);
	succeeds(c, jqc_mux_read(c, &reply, &id), "read");
	ok(id == 31 && strcmp(member(reply, "aborted"), "true") == 0,
	    "31: aborted");
	json_decref(reply);

	succeeds(c, jqc_mux_send(c, ping, 40), "send 40");
	fails_with(c, jqc_mux_read(c, &reply, &id), JQC_E_PROTO,
	    "a reply to an id not pending: proto");
	fails_with(c, jqc_ping(c), JQC_E_PROTO, "... and c is broken");
	json_decref(recv);
	json_decref(ping);
	fake_finish(&f, c, "mux");
}

/* The three ways a cancelable call ends. */
static void
test_cancelable(void)
{
	static const struct step script[] = {
		{ EXPECT, "\"multiplex\":true" },
		{ REPLY, "{\"id\":1," HELLO_11 },
		/* answered, no wake-up */
		{ EXPECT, "{\"id\":1,\"op\":\"recv\"" },
		{ REPLY, "{\"id\":1,\"ok\":true,\"value\":\"v\"}" },
		/* woken while blocked: canceled, then the abort's reply */
		{ EXPECT, "{\"id\":1,\"op\":\"recv\"" },
		{ WAKE, NULL },
		{ EXPECT, "{\"id\":2,\"op\":\"abort\",\"ref\":1}" },
		{ REPLY, "{\"id\":1,\"ok\":false,\"error\":{\"code\":"
		    "\"canceled\",\"message\":\"canceled by abort\"}}" },
		{ REPLY, "{\"id\":2,\"ok\":true,\"aborted\":true}" },
		/* woken too late: the value held for its commit comes after
		 * the abort's "aborted": false */
		{ EXPECT, "{\"id\":1,\"op\":\"recv\"" },
		{ WAKE, NULL },
		{ EXPECT, "{\"id\":2,\"op\":\"abort\",\"ref\":1}" },
		{ REPLY, "{\"id\":2,\"ok\":true,\"aborted\":false}" },
		{ REPLY, "{\"id\":1,\"ok\":true,\"value\":\"kept\"}" },
		/* woken, and the request's reply has a null id */
		{ EXPECT, "{\"id\":1,\"op\":\"recv\"" },
		{ WAKE, NULL },
		{ EXPECT, "{\"id\":2,\"op\":\"abort\",\"ref\":1}" },
		{ REPLY, "{\"id\":null,\"ok\":false,\"error\":{\"code\":"
		    "\"frame_too_large\",\"message\":\"m\"}}" },
		{ REPLY, "{\"id\":2,\"ok\":true,\"aborted\":false}" },
		{ EXPECT, "{\"id\":2,\"op\":\"ping\"}" },
		{ REPLY, "{\"id\":2,\"ok\":true}" },
		{ END, NULL },
	};
	struct fake		 f;
	struct jqc		*c;
	struct jqc_hello	 h;
	json_t			*recv = req("recv"), *reply;
	bool			 aborted;
	char			 ch;

	c = fake_start(&f, script);
	succeeds(c, jqc_hello_mux(c, &h), "hello multiplex");

	succeeds(c, jqc_call_cancelable(c, recv, f.wake[0], &reply,
	    &aborted), "cancelable: answered");
	ok(!aborted && strcmp(member(reply, "value"), "\"v\"") == 0,
	    "the value, no abort");
	json_decref(reply);

	succeeds(c, jqc_call_cancelable(c, recv, f.wake[0], &reply,
	    &aborted), "cancelable: woken while blocked");
	ok(aborted && strcmp(jqc_reply_error_code(reply), "canceled") == 0,
	    "abort sent, the request's reply is canceled");
	ok(jqc_mux_pending(c) == 0, "both replies read");
	json_decref(reply);
	if (read(f.wake[0], &ch, 1) != 1)
		die("drain wake");

	succeeds(c, jqc_call_cancelable(c, recv, f.wake[0], &reply,
	    &aborted), "cancelable: woken too late");
	ok(aborted && strcmp(member(reply, "value"), "\"kept\"") == 0,
	    "the value taken is returned, not lost");
	json_decref(reply);
	if (read(f.wake[0], &ch, 1) != 1)
		die("drain wake");

	succeeds(c, jqc_call_cancelable(c, recv, f.wake[0], &reply,
	    &aborted), "cancelable: a null-id reply");
	ok(aborted && strcmp(jqc_reply_error_code(reply),
	    "frame_too_large") == 0 && jqc_mux_pending(c) == 0,
	    "it answers the request, not the abort");
	json_decref(reply);
	succeeds(c, jqc_ping(c), "nothing left pending");
	json_decref(recv);
	fake_finish(&f, c, "cancelable");
}

/*
 * A struct jqc_shared's idempotent keyed send whose connection is lost
 * while it is blocked: sent again on a new connection, it is answered
 * "exists" (the server has not yet seen the old connection close), and
 * waits and tries again (PROTOCOL.md 13 item 23) until "duplicate".
 */
static void
test_shared_exists(void)
{
	static const struct step script[] = {
		{ EXPECT, "\"multiplex\":true" },
		{ REPLY_ID, HELLO_11 },
		{ EXPECT, "\"op\":\"send\"" },
		{ REDIAL, NULL },
		{ EXPECT, "\"multiplex\":true" },
		{ REPLY_ID, HELLO_11 },
		{ EXPECT, "\"key\":\"k1\"" },
		{ REPLY_ID, "\"ok\":false,\"error\":{\"code\":\"exists\","
		    "\"message\":\"a send with key k1 is blocked\"}}" },
		{ EXPECT, "\"key\":\"k1\"" },
		{ REPLY_ID, "\"ok\":true,\"duplicate\":true}" },
		{ END, NULL },
	};
	struct fake		 f;
	struct jqc_shared	*s;
	struct jqc_shared_error	 err;
	json_t			*send, *reply = NULL;
	char			 errbuf[256];

	fake_listen(&f, script);
	if ((s = jqc_shared_connect(f.addr, NULL, NULL, errbuf,
	    sizeof(errbuf))) == NULL) {
		printf("Bail out! jqc_shared_connect: %s\n", errbuf);
		exit(1);
	}
	send = json_pack("{s:s, s:s, s:i, s:s}", "op", "send", "chan", "c",
	    "value", 1, "key", "k1");
	ok(jqc_shared_call(s, send, JQC_SHARED_IDEMPOTENT, &reply, &err) ==
	    0 && jqc_reply_ok(reply) && json_is_true(json_object_get(reply,
	    "duplicate")), "shared keyed send: exists after a lost attempt "
	    "is retried");
	if (reply != NULL && !jqc_reply_ok(reply))
		printf("#   %s\n", jqc_reply_error_code(reply));
	json_decref(reply);
	json_decref(send);
	jqc_shared_close(s);
	fake_join(&f, "shared exists");
}

#define NOTICE_AUTH "{\"id\":null,\"ok\":false,\"error\":{\"code\":" \
	"\"unauthorized\",\"message\":\"not authenticated in time; closing\"}}"
#define NOTICE_LIMIT "{\"id\":null,\"ok\":false,\"error\":{\"code\":" \
	"\"limit\",\"message\":\"max_connections (1) reached\"}}"
#define NULL_TOO_LARGE "{\"id\":null,\"ok\":false,\"error\":{\"code\":" \
	"\"frame_too_large\",\"message\":\"request over max_frame\"}}"
#define NULL_BAD "{\"id\":null,\"ok\":false,\"error\":{\"code\":" \
	"\"bad_request\",\"message\":\"request is not JSON\"}}"

/* c broke on a notice: the code and words of the server's, for good. */
static void
check_notice(struct jqc *c, enum jqc_err code, const char *words,
    const char *name)
{
	ok(jqc_broken(c) && jqc_errcode(c) == code &&
	    strstr(jqc_error(c), "(the server closed the connection)") != NULL &&
	    jqc_error_code(c) != NULL && jqc_last_reply(c) != NULL &&
	    strstr(jqc_error(c), words) != NULL, "%s: broken, %s, the "
	    "server's words", name, jqc_err_name(code));
	printf("#   %s\n", jqc_error(c));
	fails_with(c, jqc_ping(c), code, "... and the next call fails alike");
}

/*
 * PROTOCOL.md 13 item 2: a null id answers the oldest request only for
 * bad_request and frame_too_large; "limit" and "unauthorized" are
 * notices of a connection about to close, answering nothing.
 */
static void
test_unsolicited(void)
{
	static const struct step auth_serial[] = {
		{ EXPECT, "\"op\":\"ping\"" },
		{ REPLY, NOTICE_AUTH },
		{ END, NULL },
	};
	static const struct step limit_first[] = {
		{ REPLY, NOTICE_LIMIT },
		{ EXPECT, "\"op\":\"hello\"" },
		{ END, NULL },
	};
	static const struct step answers_oldest[] = {
		{ EXPECT, "{\"id\":1,\"op\":\"ping\"}" },
		{ REPLY, NULL_TOO_LARGE },
		{ EXPECT, "{\"id\":2,\"op\":\"ping\"}" },
		{ EXPECT, "{\"id\":3,\"op\":\"ping\"}" },
		{ REPLY, NULL_BAD },
		{ REPLY, "{\"id\":3,\"ok\":true}" },
		{ END, NULL },
	};
	static const struct step mux_notice[] = {
		{ EXPECT, "\"multiplex\":true" },
		{ REPLY, "{\"id\":1," HELLO_11 },
		{ EXPECT, "{\"id\":7," },
		{ REPLY, NULL_TOO_LARGE },
		{ EXPECT, "{\"id\":8," },
		{ EXPECT, "{\"id\":9," },
		{ REPLY, NOTICE_AUTH },
		{ END, NULL },
	};
	struct fake		 f;
	struct jqc		*c;
	struct jqc_hello	 h;
	json_t			*ping, *r = req("recv"), *reply;
	int64_t			 id;

	c = fake_start(&f, auth_serial);
	fails_with(c, jqc_ping(c), JQC_E_UNAUTHORIZED,
	    "serial: a notice fails the waiting call");
	check_notice(c, JQC_E_UNAUTHORIZED, "not authenticated in time",
	    "serial unauthorized");
	fake_finish(&f, c, "serial unauthorized");

	c = fake_start(&f, limit_first);
	fails_with(c, jqc_hello(c, &h), JQC_E_LIMIT,
	    "limit after connecting fails the first call");
	check_notice(c, JQC_E_LIMIT, "max_connections (1) reached",
	    "limit");
	fake_finish(&f, c, "limit");

	c = fake_start(&f, answers_oldest);
	fails_with(c, jqc_ping(c), JQC_E_FRAME_TOO_LARGE,
	    "serial: a null-id frame_too_large answers the call");
	ok(!jqc_broken(c), "... and c is not broken");
	if ((ping = json_pack("{s:s}", "op", "ping")) == NULL)
		die("json_pack");
	succeeds(c, jqc_send_request(c, ping, NULL), "pipelined ping 2");
	succeeds(c, jqc_send_request(c, ping, NULL), "pipelined ping 3");
	succeeds(c, jqc_read_reply(c, &reply), "a null-id bad_request...");
	is_str(jqc_reply_error_code(reply), "bad_request",
	    "... answers the oldest (ping 2)");
	json_decref(reply);
	succeeds(c, jqc_read_reply(c, &reply), "ping 3's reply");
	ok(jqc_reply_ok(reply) && jqc_pending(c) == 0 && !jqc_broken(c),
	    "... is its own, nothing pending, not broken");
	json_decref(reply);
	json_decref(ping);
	fake_finish(&f, c, "null id answers");

	c = fake_start(&f, mux_notice);
	succeeds(c, jqc_hello_mux(c, &h), "mux: hello");
	succeeds(c, jqc_mux_send(c, r, 7), "mux: one request");
	succeeds(c, jqc_mux_read(c, &reply, &id), "mux: a null-id "
	    "frame_too_large...");
	ok(id == 7 && !jqc_reply_ok(reply), "... answers the only one "
	    "pending");
	json_decref(reply);
	succeeds(c, jqc_mux_send(c, r, 8), "mux: request 8");
	succeeds(c, jqc_mux_send(c, r, 9), "mux: request 9");
	fails_with(c, jqc_mux_read(c, &reply, &id), JQC_E_UNAUTHORIZED,
	    "mux: a notice answers neither");
	ok(reply == NULL && id == JQC_MUX_NOID, "... no reply, no id");
	check_notice(c, JQC_E_UNAUTHORIZED, "not authenticated in time",
	    "mux unauthorized");
	json_decref(r);
	fake_finish(&f, c, "mux notice");
}

int
main(void)
{
	alarm(TEST_TIMEOUT_S);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	is_str(jqc_err_name(JQC_E_CANCELED), "canceled", "err_name canceled");
	test_server_10();
	test_mux();
	test_cancelable();
	test_unsolicited();
	test_shared_exists();
	return done_testing();
}
