/*
 * jqc-event: libjqclient-event, a multiplexed connection on a libevent
 * loop (the API is in jqclient-event.h).
 *
 * One bufferevent.  Until the socket connects, requests gather in an
 * evbuffer of our own (pre), so that a failed address can give way to
 * the next of the list with nothing lost; on connect, auth (with a
 * token) and hello {"multiplex": true} go first, then pre.  Replies are
 * lines: each is matched to its call by id through a list of pending
 * calls (a few hundred at most: the server lets max_pending block), the
 * internal ones (auth, hello, abort) included.  A null-id line is a
 * notice (jqc_reply_is_notice) that fails the connection, or the reply
 * to an unreadable request, given to the only call pending if there is
 * just one, else failing the connection (requests over JQC_MUX_FRAME_MAX
 * are refused before they are sent, so that this is rare).
 *
 * Callbacks may close ev: depth counts the callbacks running, and a
 * close during one frees ev when the outermost returns.  fail() is the
 * one way a connection ends on its own: it fails every pending call,
 * then tells the status callback once.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <jansson.h>

#include "jqclient.h"
#include "jqclient-event.h"

enum call_kind {
	CALL_USER,
	CALL_AUTH,
	CALL_HELLO,
	CALL_ABORT,
};

struct ev_call {
	int64_t			 id;
	enum call_kind		 kind;
	jqc_event_reply_cb	*cb;
	void			*arg;
	struct ev_call		*next;
};

struct jqc_event {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct bufferevent	*bev;
	struct evbuffer		*pre;		/* written before connecting */
	struct event		*later;		/* reports a dial failure */
	char			*addr;		/* the list */
	size_t			 addr_next;	/* the next address to try */
	char			 tried[512];	/* why the others failed */
	char			*token;
	jqc_event_status_cb	*status_cb;
	void			*arg;
	struct ev_call		*calls;		/* pending, internal ones too */
	size_t			 ncalls;
	size_t			 nuser;
	int64_t			 next_id;
	bool			 up;		/* the socket connected */
	bool			 failed;	/* ended: nothing more is done */
	bool			 closing;	/* freed when depth is 0 */
	int			 depth;		/* callbacks running */
};

static void	 read_cb(struct bufferevent *, void *);
static void	 event_cb(struct bufferevent *, short, void *);
static int	 dial_next(struct jqc_event *);

/* jqc_event_connect() refuses: msg in errbuf (may be NULL). */
static struct jqc_event *
refuse(char *errbuf, size_t errlen, const char *msg)
{
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s", msg);
	return NULL;
}

static void
ev_free(struct jqc_event *ev)
{
	struct ev_call	*call;

	while ((call = ev->calls) != NULL) {
		ev->calls = call->next;
		free(call);
	}
	if (ev->bev != NULL)
		bufferevent_free(ev->bev);
	if (ev->later != NULL)
		event_free(ev->later);
	evbuffer_free(ev->pre);
	free(ev->addr);
	free(ev->token);
	free(ev);
}

/* Every pending call learns that no reply will come. */
static void
fail_calls(struct jqc_event *ev, const char *why)
{
	struct ev_call	*call;

	ev->depth++;
	while ((call = ev->calls) != NULL) {
		ev->calls = call->next;
		ev->ncalls--;
		if (call->kind == CALL_USER) {
			ev->nuser--;
			call->cb(ev, call->id, NULL, JQC_E_OUTCOME_UNKNOWN, why,
			    call->arg);
		}
		free(call);
	}
	ev->depth--;
}

/* The connection ends: calls fail, then the status callback, once. */
static void
fail(struct jqc_event *ev, enum jqc_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct jqc_event *ev, enum jqc_err code, const char *fmt, ...)
{
	char	msg[600], why[700];
	va_list	ap;

	if (ev->failed)
		return;
	ev->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ev->bev != NULL)
		bufferevent_disable(ev->bev, EV_READ | EV_WRITE);
	snprintf(why, sizeof(why), "connection lost before the reply (the "
	    "request may or may not have been applied): %s", msg);
	fail_calls(ev, why);
	ev->depth++;
	ev->status_cb(ev, code, msg, NULL, ev->arg);
	ev->depth--;
}

static struct ev_call *
call_add(struct jqc_event *ev, enum call_kind kind, jqc_event_reply_cb *cb,
    void *arg)
{
	struct ev_call	*call, **p;

	if ((call = calloc(1, sizeof(*call))) == NULL)
		return NULL;
	call->id = ev->next_id++;
	call->kind = kind;
	call->cb = cb;
	call->arg = arg;
	for (p = &ev->calls; *p != NULL; p = &(*p)->next)
		continue;
	*p = call;
	ev->ncalls++;
	if (kind == CALL_USER)
		ev->nuser++;
	return call;
}

static void
call_remove(struct jqc_event *ev, struct ev_call *call)
{
	struct ev_call	**p;

	for (p = &ev->calls; *p != NULL; p = &(*p)->next)
		if (*p == call) {
			*p = call->next;
			ev->ncalls--;
			if (call->kind == CALL_USER)
				ev->nuser--;
			return;
		}
}

/*
 * request with "id" as one line, appended to out: JQC_OK, JQC_E_NOMEM,
 * or JQC_E_FRAME_TOO_LARGE (over JQC_MUX_FRAME_MAX, whose null-id reply
 * would name no call).
 */
static enum jqc_err
write_line(struct evbuffer *out, json_t *request, int64_t id)
{
	json_t		*copy;
	char		*text;
	enum jqc_err	 rc = JQC_E_NOMEM;

	if ((copy = json_copy(request)) == NULL)
		return rc;
	if (json_object_set_new(copy, "id", json_integer(id)) == 0 &&
	    (text = json_dumps(copy, JSON_COMPACT)) != NULL) {
		if (strlen(text) > JQC_MUX_FRAME_MAX)
			rc = JQC_E_FRAME_TOO_LARGE;
		else if (evbuffer_add_printf(out, "%s\n", text) >= 0)
			rc = JQC_OK;
		free(text);
	}
	json_decref(copy);
	return rc;
}

/* Where a request goes now: pre until connected, then the socket. */
static struct evbuffer *
out_buffer(struct jqc_event *ev)
{
	return ev->up ? bufferevent_get_output(ev->bev) : ev->pre;
}

static int
set_code(enum jqc_err *code, enum jqc_err value)
{
	if (code != NULL)
		*code = value;
	return value == JQC_OK ? 0 : -1;
}

/* Write request as a new call of kind; NULL with *code on failure. */
static struct ev_call *
send_call(struct jqc_event *ev, json_t *request, enum call_kind kind,
    jqc_event_reply_cb *cb, void *arg, enum jqc_err *code)
{
	struct evbuffer	*out;
	struct ev_call	*call;
	enum jqc_err	 wrc;

	if (ev->failed || ev->closing) {
		set_code(code, JQC_E_IO);
		return NULL;
	}
	out = out_buffer(ev);
	if (evbuffer_get_length(out) > JQC_EVENT_OUTPUT_MAX) {
		set_code(code, JQC_E_LIMIT);
		return NULL;
	}
	if ((call = call_add(ev, kind, cb, arg)) == NULL) {
		set_code(code, JQC_E_NOMEM);
		return NULL;
	}
	if ((wrc = write_line(out, request, call->id)) != JQC_OK) {
		call_remove(ev, call);
		free(call);
		set_code(code, wrc);
		return NULL;
	}
	set_code(code, JQC_OK);
	return call;
}

/* auth (with a token) and hello, written ahead of pre. */
static int
send_greeting(struct jqc_event *ev)
{
	struct evbuffer	*out = bufferevent_get_output(ev->bev);
	struct ev_call	*call;
	json_t		*req;
	int		 rc = 0;

	if (ev->token != NULL) {
		req = json_pack("{s:s, s:s}", "op", "auth", "token", ev->token);
		if (req == NULL || (call = call_add(ev, CALL_AUTH, NULL,
		    NULL)) == NULL || write_line(out, req, call->id) != JQC_OK)
			rc = -1;
		json_decref(req);
	}
	req = json_pack("{s:s, s:b}", "op", "hello", "multiplex", 1);
	if (rc == -1 || req == NULL || (call = call_add(ev, CALL_HELLO, NULL,
	    NULL)) == NULL || write_line(out, req, call->id) != JQC_OK)
		rc = -1;
	json_decref(req);
	return rc;
}

/*
 * The greeting's ids come first on the wire but are numbered after the
 * calls already in pre: ids need only be unique while pending.
 */
static void
connected(struct jqc_event *ev)
{
	ev->up = true;
	if (send_greeting(ev) == -1 ||
	    bufferevent_write_buffer(ev->bev, ev->pre) == -1) {
		fail(ev, JQC_E_NOMEM, "out of memory");
		return;
	}
	bufferevent_enable(ev->bev, EV_READ | EV_WRITE);
}

/* Split "HOST:PORT", "[ADDR]:PORT", "HOST" (checked by jqc_check_addr). */
static void
split_host_port(char *a, char **host, int *port)
{
	struct servent	*se;
	char		*p, *service = NULL;

	*host = a;
	if (*a == '[') {
		*host = a + 1;
		if ((p = strchr(a, ']')) != NULL) {
			*p = '\0';
			if (p[1] == ':')
				service = p + 2;
		}
	} else if ((p = strrchr(a, ':')) != NULL) {
		*p = '\0';
		service = p + 1;
	}
	if (service == NULL)
		service = JQC_DEFAULT_PORT;
	*port = atoi(service);
	if (*port == 0 && (se = getservbyname(service, "tcp")) != NULL)
		*port = ntohs(se->s_port);
}

/* Start connecting bev to address a (one of the list). */
static int
dial(struct jqc_event *ev, char *a)
{
	struct sockaddr_un	 sun;
	const char		*path;
	char			*host;
	int			 port;

	if (strncmp(a, "unix:", 5) == 0 || strchr(a, '/') != NULL) {
		path = strncmp(a, "unix:", 5) == 0 ? a + 5 : a;
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(path) >= sizeof(sun.sun_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		strcpy(sun.sun_path, path);
		return bufferevent_socket_connect(ev->bev,
		    (struct sockaddr *)&sun, sizeof(sun));
	}
	split_host_port(a, &host, &port);
	return bufferevent_socket_connect_hostname(ev->bev, ev->dns,
	    AF_UNSPEC, host, port);
}

static void
note_failure(struct jqc_event *ev, const char *a, const char *why)
{
	size_t	len = strlen(ev->tried);

	snprintf(ev->tried + len, sizeof(ev->tried) - len, "%s%s: %s",
	    len > 0 ? "; " : "", a, why);
}

static void
dial_failed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jqc_event	*ev = arg;

	ev->depth++;
	fail(ev, JQC_E_IO, "cannot connect: %s", ev->tried);
	if (--ev->depth == 0 && ev->closing)
		ev_free(ev);
}

/* Connect to the next address of the list; fail when none is left. */
static int
dial_next(struct jqc_event *ev)
{
	static const struct timeval	now = { 0, 0 };
	char				a[400];

	while (jqc_addr_nth(ev->addr, ev->addr_next, a, sizeof(a)) == 0) {
		ev->addr_next++;
		if (ev->bev != NULL)
			bufferevent_free(ev->bev);
		ev->bev = bufferevent_socket_new(ev->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
		if (ev->bev == NULL) {
			fail(ev, JQC_E_NOMEM, "out of memory");
			return -1;
		}
		bufferevent_setcb(ev->bev, read_cb, NULL, event_cb, ev);
		if (dial(ev, a) == 0)
			return 0;
		note_failure(ev, a, strerror(errno));
	}
	/* From the loop: this may run inside jqc_event_connect(). */
	if (ev->later == NULL)
		ev->later = evtimer_new(ev->base, dial_failed_cb, ev);
	if (ev->later == NULL || evtimer_add(ev->later, &now) == -1)
		fail(ev, JQC_E_IO, "cannot connect: %s", ev->tried);
	return -1;
}

static void
on_greeting(struct jqc_event *ev, struct ev_call *call, const json_t *r)
{
	const char	*msg = jqc_reply_error_message(r);

	if (!jqc_reply_ok(r)) {
		fail(ev, jqc_err_parse(jqc_reply_error_code(r)), "%s: %s",
		    jqc_reply_error_code(r), msg != NULL ? msg : "");
		return;
	}
	if (call->kind != CALL_HELLO)
		return;
	if (!json_is_true(json_object_get(r, "multiplex"))) {
		fail(ev, JQC_E_PROTO, "the server cannot multiplex a "
		    "connection");
		return;
	}
	ev->depth++;
	ev->status_cb(ev, JQC_OK, "", r, ev->arg);
	ev->depth--;
}

/* One line from the server. */
static void
dispatch(struct jqc_event *ev, const json_t *r)
{
	const json_t	*rid = json_object_get(r, "id");
	const char	*code, *msg;
	struct ev_call	*call = NULL;

	if (jqc_reply_is_notice(r)) {
		code = jqc_reply_error_code(r);
		msg = jqc_reply_error_message(r);
		fail(ev, code != NULL ? jqc_err_parse(code) : JQC_E_PROTO,
		    "%s: %s (the server closed the connection)",
		    code != NULL ? code : "a line with a null id",
		    msg != NULL ? msg : "no message");
		return;
	}
	if (json_is_integer(rid)) {
		for (call = ev->calls; call != NULL; call = call->next)
			if (call->id == json_integer_value(rid))
				break;
		if (call == NULL) {
			fail(ev, JQC_E_PROTO, "reply to id %lld, which is not "
			    "pending", (long long)json_integer_value(rid));
			return;
		}
	} else if (rid == NULL || json_is_null(rid)) {
		/* An unreadable request among several (those over
		 * JQC_MUX_FRAME_MAX are refused before sending): whose
		 * reply it is nobody can tell, and that call would wait
		 * for ever. */
		if (ev->ncalls != 1) {
			code = jqc_reply_error_code(r);
			msg = jqc_reply_error_message(r);
			fail(ev, JQC_E_PROTO, "a reply with a null id (%s: %s) "
			    "while %zu calls were pending: which one it "
			    "answers is unknown", code != NULL ? code : "?",
			    msg != NULL ? msg : "no message", ev->ncalls);
			return;
		}
		call = ev->calls;
	} else {
		fail(ev, JQC_E_PROTO, "reply with an id this client never "
		    "sent");
		return;
	}
	if (call->kind == CALL_USER && jqc_reply_ok(r) &&
	    json_object_get(r, "event") != NULL) {
		ev->depth++;
		call->cb(ev, call->id, r, JQC_OK, "", call->arg);
		ev->depth--;
		return;	/* a watch frame: the reply is still to come */
	}
	call_remove(ev, call);
	ev->depth++;
	if (call->kind == CALL_USER)
		call->cb(ev, call->id, r, JQC_OK, "", call->arg);
	else if (call->kind != CALL_ABORT)
		on_greeting(ev, call, r);
	ev->depth--;
	free(call);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct jqc_event	*ev = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	json_error_t		 jerr;
	json_t			*r;
	size_t			 len;
	char			*line;

	ev->depth++;
	while (!ev->failed && !ev->closing &&
	    (line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		if (len == 0) {
			free(line);
			continue;
		}
		r = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
		free(line);
		if (!json_is_object(r))
			fail(ev, JQC_E_PROTO, "reply is not a JSON object%s%s",
			    r == NULL ? ": " : "", r == NULL ? jerr.text : "");
		else
			dispatch(ev, r);
		json_decref(r);
	}
	if (!ev->failed && evbuffer_get_length(in) > JQC_REPLY_MAX)
		fail(ev, JQC_E_PROTO, "reply line over %d bytes",
		    JQC_REPLY_MAX);
	if (--ev->depth == 0 && ev->closing)
		ev_free(ev);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct jqc_event	*ev = arg;
	char			 a[400];
	int			 err = EVUTIL_SOCKET_ERROR();

	ev->depth++;
	if (what & BEV_EVENT_CONNECTED)
		connected(ev);
	else if (!ev->up) {
		if (jqc_addr_nth(ev->addr, ev->addr_next - 1, a, sizeof(a)) ==
		    -1)
			a[0] = '\0';
		note_failure(ev, a, (what & BEV_EVENT_ERROR) && err != 0 ?
		    evutil_socket_error_to_string(err) : (what &
		    BEV_EVENT_EOF) ? "connection closed" :
		    "cannot resolve");
		dial_next(ev);
	} else {
		/* Lines that came with the end first. */
		read_cb(bev, ev);
		fail(ev, JQC_E_IO, "%s", (what & BEV_EVENT_EOF) ?
		    "connection closed by server" :
		    evutil_socket_error_to_string(err));
	}
	if (--ev->depth == 0 && ev->closing)
		ev_free(ev);
}

struct jqc_event *
jqc_event_connect(struct event_base *base, struct evdns_base *dns,
    const char *addr, const char *token, jqc_event_status_cb *status_cb,
    void *arg, char *errbuf, size_t errlen)
{
	struct jqc_event	*ev;
	char			 dflt[256], why[300];

	if (addr == NULL) {
		if (jqc_default_addr(dflt, sizeof(dflt)) == -1)
			return refuse(errbuf, errlen, "no default address");
		addr = dflt;
	}
	if (jqc_check_addr(addr, why, sizeof(why)) == -1)
		return refuse(errbuf, errlen, why);
	if (strncmp(addr, "tls:", 4) == 0 || strstr(addr, ",tls:") != NULL ||
	    strstr(addr, " tls:") != NULL) {
		snprintf(why, sizeof(why), "TLS is not supported by "
		    "libjqclient-event: %s", addr);
		return refuse(errbuf, errlen, why);
	}
	if ((ev = calloc(1, sizeof(*ev))) == NULL ||
	    (ev->pre = evbuffer_new()) == NULL ||
	    (ev->addr = strdup(addr)) == NULL ||
	    (token != NULL && (ev->token = strdup(token)) == NULL)) {
		if (ev != NULL) {
			if (ev->pre != NULL)
				evbuffer_free(ev->pre);
			free(ev->addr);
			free(ev);
		}
		return refuse(errbuf, errlen, "out of memory");
	}
	ev->base = base;
	ev->dns = dns;
	ev->status_cb = status_cb;
	ev->arg = arg;
	ev->next_id = 1;
	dial_next(ev);	/* a failure is reported from the loop */
	return ev;
}

int
jqc_event_call(struct jqc_event *ev, json_t *request, jqc_event_reply_cb *cb,
    void *arg, int64_t *id, enum jqc_err *code)
{
	struct ev_call	*call;

	if (id != NULL)
		*id = 0;
	if (!json_is_string(json_object_get(request, "op")) || cb == NULL)
		return set_code(code, JQC_E_INVAL);
	if ((call = send_call(ev, request, CALL_USER, cb, arg, code)) == NULL)
		return -1;
	if (id != NULL)
		*id = call->id;
	return 0;
}

int
jqc_event_abort(struct jqc_event *ev, int64_t id, enum jqc_err *code)
{
	struct ev_call	*call;
	json_t		*req;

	for (call = ev->calls; call != NULL; call = call->next)
		if (call->id == id && call->kind == CALL_USER)
			break;
	if (call == NULL)
		return set_code(code, JQC_E_INVAL);
	if ((req = json_pack("{s:s, s:I}", "op", "abort", "ref",
	    (json_int_t)id)) == NULL)
		return set_code(code, JQC_E_NOMEM);
	call = send_call(ev, req, CALL_ABORT, NULL, NULL, code);
	json_decref(req);
	return call != NULL ? 0 : -1;
}

size_t
jqc_event_pending(const struct jqc_event *ev)
{
	return ev->nuser;
}

void
jqc_event_close(struct jqc_event *ev)
{
	if (ev == NULL || ev->closing)
		return;
	ev->closing = true;
	if (ev->bev != NULL)
		bufferevent_disable(ev->bev, EV_READ | EV_WRITE);
	fail_calls(ev, "connection closed by the caller before the reply "
	    "(the request may or may not have been applied)");
	if (ev->depth == 0)
		ev_free(ev);
}
