/*
 * The dashboard's API (dash-api.h): an HTTP request becomes a protocol
 * frame on an in-process connection, and the reply lines it gets back
 * become the HTTP answer.
 *
 * A call (struct api_call) is one HTTP request that reached an op:
 *   - API_ONCE: GET /api/<read op> or POST /api/<action>: one frame, one
 *     reply line, one JSON answer;
 *   - API_LIVE: GET /api/live?op=...: the frame is sent again each second
 *     on the same connection; a reply that differs from the last one sent
 *     (their SHA-256 compared: no copy is kept) goes out as an SSE event
 *     "reply";
 *   - API_WATCH: GET /api/watch?...: the protocol's watch; each frame an
 *     SSE event named after its "event", the reply "end" (or "error").
 * Which op may be read (GET) or acted on (POST) is the op table's
 * OP_F_HTTP_READ / OP_F_HTTP_ACTION, found with dispatch_find.
 *
 * Each call owns its connection: conn_new_bev on one end of a
 * bufferevent pair, authenticated (the HTTP side checked who asks), not
 * multiplexed, since nothing else shares it.  It runs through dispatch
 * as a socket client's request does: same checks, same errors, counted
 * in stats.ops and, while it lasts, in stats.connections.  A call ends in
 * one place, api_call_end: its connection closes (a parked watch is
 * abandoned), and the HTTP request is answered or already gone.
 *
 * Bounds: a reply line of at most API_MAX_REPLY_BYTES (a longer one is
 * answered "limit"); at most API_MAX_STREAMS event streams (more: 503); a
 * stream whose HTTP peer has API_PAUSE_UNSENT bytes unread is not given
 * more lines from its connection until it reads them (a watch then drops
 * output and says "lagged", as on a slow socket); one that still has
 * more than API_MAX_UNSENT bytes unread (long replies) is closed; a
 * ": keepalive" comment after API_KEEPALIVE_MS of silence.
 * metrics.c tells us when an HTTP connection goes (metrics_conn_watch),
 * and a stream's socket is watched for the peer's FIN, since evhttp does
 * not read a connection it is streaming to.
 */
#include <sys/queue.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "config.h"
#include "conn.h"
#include "dash-api.h"
#include "dash-history.h"
#include "dash.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "units.h"

#define API_MAX_REPLY_BYTES	(8 * 1024 * 1024)
/*
 * Below the listener's connection bound, so that open pages never keep
 * out a scrape, a login or an action.
 */
#define API_MAX_STREAMS		(METRICS_MAX_CONNS - 16)
#define API_MAX_UNSENT		(1024 * 1024)
/*
 * A stream's peer has this much unread: stop taking lines from its
 * connection until all is out.  The connection's own bounds then act as
 * on a slow socket (a watch drops output frames and says "lagged").
 */
#define API_PAUSE_UNSENT	(64 * 1024)
#define API_KEEPALIVE_MS	15000
/* A stream's last event when its session ends: the page logs in again. */
#define API_SESSION_ENDED	"the session ended (logged out, expired, or " \
				"a new token): log in again"
#define API_TICK_MS		1000

/*
 * Every frame is sent with this id: its replies start with it, and the
 * HTTP side gets them without it (api_line).
 */
#define API_REPLY_ID		"{\"id\":1,"
#define API_REPLY_OK		"{\"ok\":true"

enum api_kind {
	API_ONCE,
	API_LIVE,
	API_WATCH,
};

struct api_call {
	TAILQ_ENTRY(api_call)	 entry;
	struct dash_api		*a;
	enum api_kind		 kind;
	struct dash_api_owner	 owner;		/* streams: whose */
	struct evhttp_request	*req;		/* NULL: gone with its peer */
	struct evhttp_connection *evcon;
	bool			 watched;	/* metrics_conn_watch */
	bool			 started;	/* SSE head sent */
	/* The in-process connection (NULL: none, or closed). */
	struct conn		*conn;
	uint64_t		 conn_id;
	struct bufferevent	*bev;		/* our end of the pair */
	char			*frame;		/* the request line, "\n" */
	size_t			 frame_len;
	bool			 inflight;	/* frame sent, reply due */
	bool			 paused;	/* not reading: peer is slow */
	bool			 history;	/* live op "history" (with stats) */
	/* live: the SHA-256 of the last reply sent (not a copy of it). */
	unsigned char		 last[SHA256_DIGEST_LENGTH];
	bool			 sent;
	struct event		*ev_tick;	/* streams: each second */
	struct event		*ev_closed;	/* streams: the peer's FIN */
	int64_t			 written_ms;	/* streams: last write */
};
TAILQ_HEAD(api_call_list, api_call);

struct dash_api {
	struct server		*server;
	struct dash_history	*history;
	struct api_call_list	 calls;
	size_t			 nstreams;
};

/* Error codes and their HTTP status; any other code answers 409. */
static const struct {
	const char	*code;
	int		 status;
} api_statuses[] = {
	{ "bad_request",	400 },
	{ "unauthorized",	401 },
	{ "not_found",		404 },
	{ "limit",		429 },
	{ "shutting_down",	503 },
};

static int
api_status(const char *code)
{
	size_t	 i;

	for (i = 0; i < sizeof(api_statuses) / sizeof(api_statuses[0]); i++) {
		if (code != NULL && strcmp(api_statuses[i].code, code) == 0)
			return api_statuses[i].status;
	}
	return 409;
}

/*
 * Is the connection made for call still open?  It closes by itself when
 * the token changes or jqd stops; its id tells a reused address apart.
 */
static bool
api_conn_alive(struct api_call *call)
{
	struct conn	*c;

	if (call->conn == NULL)
		return false;
	TAILQ_FOREACH(c, &call->a->server->conns, entry) {
		if (c == call->conn && c->id == call->conn_id)
			return true;
	}
	return false;
}

/*
 * The one end of a call.  The HTTP side: a stream gets its last chunk
 * (and evhttp closes the connection: "Connection: close"); a request
 * whose peer went away is freed here, as evhttp leaves that to us.
 */
static void
api_call_end(struct api_call *call)
{
	struct dash_api	*a = call->a;

	if (api_conn_alive(call))
		conn_close(call->conn, "dashboard request ended");
	if (call->bev != NULL)
		bufferevent_free(call->bev);
	if (call->watched && call->evcon != NULL)
		(void)metrics_conn_watch(a->server, call->evcon, false, NULL,
		    NULL);
	if (call->req != NULL && call->started)
		evhttp_send_reply_end(call->req);
	if (call->kind != API_ONCE)
		a->nstreams--;
	if (call->ev_tick != NULL)
		event_free(call->ev_tick);
	if (call->ev_closed != NULL)
		event_free(call->ev_closed);
	TAILQ_REMOVE(&a->calls, call, entry);
	free(call->frame);
	free(call);
}

/* Answer a call that is not a stream (yet) with an error, and end it. */
static void
api_call_fail(struct api_call *call, int status, const char *code,
    const char *message)
{
	dash_send_error(call->req, status, code, message);
	call->req = NULL;	/* evhttp frees it once sent */
	api_call_end(call);
}

/*
 * The HTTP connection is being freed (metrics_conn_watch).  A request
 * still on it goes with it; one evhttp dropped from it (the peer went
 * away before the answer) is ours to free.
 */
static void
api_http_closed_cb(void *arg)
{
	struct api_call	*call = arg;

	call->watched = false;
	call->evcon = NULL;
	if (call->req != NULL &&
	    evhttp_request_get_connection(call->req) == NULL)
		evhttp_request_free(call->req);
	call->req = NULL;
	api_call_end(call);
}

/* Close a stream's HTTP connection: api_http_closed_cb ends the call. */
static void
api_stream_close(struct api_call *call, const char *why)
{
	log_debug("dashboard: closing an event stream: %s", why);
	evhttp_connection_free(call->evcon);
}

static void
api_peer_fin_cb(evutil_socket_t fd, short what, void *arg)
{
	api_stream_close(arg, "the peer closed");
}

/* A stream's peer has read everything: take lines again. */
static void
api_drained_cb(struct evhttp_connection *evcon, void *arg)
{
	struct api_call	*call = arg;

	if (call->paused) {
		call->paused = false;
		bufferevent_enable(call->bev, EV_READ);
		/*
		 * The lines api_read_cb left while paused, from the loop
		 * (not inside evhttp's write callback).
		 */
		bufferevent_trigger(call->bev, EV_READ,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	}
}

/*
 * One SSE event (name NULL: a comment line, data the comment).  Returns
 * false when the call ended instead: its peer left more than
 * API_MAX_UNSENT bytes of the events before unread.  (Measured before
 * this one, so that one long reply, up to API_MAX_REPLY_BYTES, still
 * goes out to a peer that reads.)
 */
static bool
api_sse(struct api_call *call, const char *name, const char *data,
    size_t len)
{
	struct evbuffer	*b;

	if (evbuffer_get_length(bufferevent_get_output(
	    evhttp_connection_get_bufferevent(call->evcon))) > API_MAX_UNSENT) {
		api_stream_close(call, "its peer reads too slowly");
		return false;
	}
	if ((b = evbuffer_new()) == NULL)
		fatal("out of memory");
	if (name != NULL)
		evbuffer_add_printf(b, "event: %s\ndata: ", name);
	else
		evbuffer_add_printf(b, ": ");
	if (evbuffer_add(b, data, len) == -1 ||
	    evbuffer_add(b, "\n\n", 2) == -1)
		fatal("out of memory");
	/* api_drained_cb: evhttp wrote all (the last chunk's callback). */
	evhttp_send_reply_chunk_with_cb(call->req, b, api_drained_cb, call);
	evbuffer_free(b);
	call->written_ms = server_now_ms();
	if (call->bev != NULL && !call->paused &&
	    evbuffer_get_length(bufferevent_get_output(
	    evhttp_connection_get_bufferevent(call->evcon))) >
	    API_PAUSE_UNSENT) {
		call->paused = true;
		bufferevent_disable(call->bev, EV_READ);
	}
	return true;
}

/* A stream's last event: then the stream ends. */
static void
api_sse_last(struct api_call *call, const char *name, const char *data,
    size_t len)
{
	if (api_sse(call, name, data, len))
		api_call_end(call);
}

/*
 * End call with an error of the bridge's own: an "error" event on a
 * stream, else an HTTP error answer.
 */
static void
api_call_error(struct api_call *call, int status, const char *code,
    const char *message)
{
	json_t	*v;
	char	*s;

	if (!call->started) {
		api_call_fail(call, status, code, message);
		return;
	}
	if ((v = json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code",
	    code, "message", message)) == NULL ||
	    (s = json_dumps(v, JSON_COMPACT)) == NULL)
		fatal("out of memory");
	json_decref(v);
	api_sse_last(call, "error", s, strlen(s));
	free(s);
}

/* Does the reply line start {"ok":true (jqd writes id, then ok)? */
static bool
api_reply_ok(const char *line, size_t len)
{
	return len >= sizeof(API_REPLY_OK) - 1 &&
	    memcmp(line, API_REPLY_OK, sizeof(API_REPLY_OK) - 1) == 0;
}

/* The "code" of an error reply line (borrowed from *root), or NULL. */
static const char *
api_reply_code(const char *line, size_t len, json_t **root)
{
	const char	*code = NULL;

	*root = json_loadb(line, len, 0, NULL);
	(void)json_unpack(*root, "{s:{s:s}}", "error", "code", &code);
	return code;
}

static void
api_once_reply(struct api_call *call, const char *line, size_t len)
{
	json_t		*root = NULL;
	int		 status = 200;

	if (!api_reply_ok(line, len)) {
		status = api_status(api_reply_code(line, len, &root));
		json_decref(root);
	}
	dash_send_json(call->req, status, line, len);
	call->req = NULL;
	api_call_end(call);
}

/* A live call's reply (ok: a success); false once the call ended. */
static bool
api_live_reply(struct api_call *call, const char *line, size_t len, bool ok)
{
	unsigned char	 digest[SHA256_DIGEST_LENGTH];

	call->inflight = false;
	if (!ok) {
		api_sse_last(call, "error", line, len);
		return false;
	}
	SHA256((const unsigned char *)line, len, digest);
	if (call->sent && memcmp(digest, call->last, sizeof(digest)) == 0)
		return true;
	memcpy(call->last, digest, sizeof(digest));
	call->sent = true;
	return api_sse(call, "reply", line, len);
}

/*
 * A live history's reply: the ring with, as "stats", the members of the
 * stats reply line just read ({"ok":true,... from api_line), so that an
 * overview needs no other request.  False once the call ended.
 */
static bool
api_live_history(struct api_call *call, const char *line, size_t len)
{
	static const char	 ok[] = "{\"ok\":true,";
	struct evbuffer		*b;
	size_t			 hlen;
	char			*h, *s;
	bool			 more;

	if (len < sizeof(ok) - 1 || memcmp(line, ok, sizeof(ok) - 1) != 0)
		return api_live_reply(call, line, len, false);
	h = dash_history_dump(call->a->history, &hlen);
	if ((b = evbuffer_new()) == NULL ||
	    evbuffer_add(b, h, hlen - 1) == -1 ||	/* less its '}' */
	    evbuffer_add_printf(b, ",\"stats\":{") == -1 ||
	    evbuffer_add(b, line + sizeof(ok) - 1,
	    len - (sizeof(ok) - 1)) == -1 ||
	    evbuffer_add(b, "}", 1) == -1 ||
	    (s = (char *)evbuffer_pullup(b, -1)) == NULL)
		fatal("out of memory");
	more = api_live_reply(call, s, evbuffer_get_length(b), true);
	evbuffer_free(b);
	free(h);
	return more;
}

/* A watch's line: a frame (its "event" names the SSE event) or the reply. */
static bool
api_watch_line(struct api_call *call, const char *line, size_t len)
{
	json_t		*root;
	const char	*event = NULL;
	bool		 ok = false, more;

	root = json_loadb(line, len, 0, NULL);
	(void)json_unpack(root, "{s:b, s?s}", "ok", &ok, "event", &event);
	if (ok && event != NULL) {
		more = api_sse(call, event, line, len);
	} else {
		api_sse_last(call, ok ? "end" : "error", line, len);
		more = false;
	}
	json_decref(root);
	return more;
}

/*
 * One reply line for call; false once the call ended.  A line of the
 * call's own loses its id (`{"id":1,"ok":...` becomes `{"ok":...`): the
 * HTTP side has no ids.  A notice (`"id":null`, PROTOCOL.md 1) keeps it
 * and, not starting {"ok":true, ends the call as an error.
 */
static bool
api_line(struct api_call *call, char *line, size_t len)
{
	if (len >= sizeof(API_REPLY_ID) - 1 &&
	    memcmp(line, API_REPLY_ID, sizeof(API_REPLY_ID) - 1) == 0) {
		line += sizeof(API_REPLY_ID) - 2;
		len -= sizeof(API_REPLY_ID) - 2;
		line[0] = '{';
	}
	switch (call->kind) {
	case API_ONCE:
		api_once_reply(call, line, len);
		return false;
	case API_LIVE:
		if (call->history)
			return api_live_history(call, line, len);
		return api_live_reply(call, line, len, api_reply_ok(line, len));
	case API_WATCH:
		return api_watch_line(call, line, len);
	}
	return false;
}

static void
api_read_cb(struct bufferevent *bev, void *arg)
{
	struct api_call	*call = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line;
	size_t		 len;
	bool		 more = true;

	/*
	 * A paused stream leaves the lines already here for api_drained_cb:
	 * its peer has API_PAUSE_UNSENT bytes unread, and a snapshot read at
	 * once (a watch of a job with much output) must not pile up past
	 * API_MAX_UNSENT before the peer can read it.
	 */
	while (more && !call->paused &&
	    (line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		more = api_line(call, line, len);
		free(line);
	}
	if (!more || call->paused)
		return;
	if (evbuffer_get_length(in) > API_MAX_REPLY_BYTES)
		api_call_error(call, 429, "limit", "the reply is longer than "
		    "the dashboard takes (8 MiB): narrow the query (limit)");
}

/* The connection closed by itself (the token changed, jqd stops). */
static void
api_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct api_call	*call = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		api_call_error(call, 503, "shutting_down",
		    "the connection closed");
}

static void
api_connect(struct api_call *call)
{
	struct server		*s = call->a->server;
	struct bufferevent	*pair[2];

	if (bufferevent_pair_new(s->base, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS, pair) == -1)
		fatal("out of memory");
	call->conn = conn_new_bev(s, pair[0], "dashboard");
	call->conn_id = call->conn->id;
	/* dash.c let the HTTP peer in: the token, a session or none needed. */
	conn_authenticate(call->conn);
	call->bev = pair[1];
	bufferevent_setcb(call->bev, api_read_cb, NULL, api_event_cb, call);
	bufferevent_enable(call->bev, EV_READ);
}

static void
api_send_frame(struct api_call *call)
{
	if (bufferevent_write(call->bev, call->frame, call->frame_len) == -1)
		fatal("out of memory");
	call->inflight = true;
}

static void
api_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_call	*call = arg;
	int64_t		 now = server_now_ms();

	if (call->owner.expires_ms != 0 && now >= call->owner.expires_ms) {
		api_call_error(call, 401, "unauthorized", API_SESSION_ENDED);
		return;
	}
	if (now - call->written_ms >= API_KEEPALIVE_MS &&
	    !api_sse(call, NULL, "keepalive", 9))
		return;
	if (call->kind != API_LIVE)
		return;
	if (!call->inflight)
		api_send_frame(call);
}

/*
 * Make call's frame {"id":1,"op":op,...fields} (fields stolen).  0, or -1
 * after ending the call, when fields holds "id" or "op" (the bridge's).
 */
static int
api_frame(struct api_call *call, const char *op, json_t *fields)
{
	char	*s;
	size_t	 len;

	if (json_object_get(fields, "id") != NULL ||
	    json_object_get(fields, "op") != NULL) {
		json_decref(fields);
		api_call_fail(call, 400, "bad_request",
		    "\"id\" and \"op\" are not fields of an op");
		return -1;
	}
	if (json_object_set_new(fields, "id", json_integer(1)) == -1 ||
	    json_object_set_new(fields, "op", json_string(op)) == -1 ||
	    (s = json_dumps(fields, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	    NULL)
		fatal("out of memory");
	json_decref(fields);
	len = strlen(s);
	if ((s = realloc(s, len + 2)) == NULL)
		fatal("out of memory");
	s[len++] = '\n';
	s[len] = '\0';
	call->frame = s;
	call->frame_len = len;
	return 0;
}

/*
 * A query value: a JSON number, true, false, null or a double-quoted
 * string is that value; anything else the string itself.  NULL: not
 * UTF-8.
 */
static json_t *
api_query_value(const char *v)
{
	json_t	*j;

	j = json_loads(v, JSON_DECODE_ANY, NULL);
	if (j != NULL && (json_is_number(j) || json_is_boolean(j) ||
	    json_is_null(j) || (json_is_string(j) && v[0] == '"')))
		return j;
	json_decref(j);
	return json_string(v);
}

/*
 * One NAME=VALUE of a query, percent-decoded ("+" a space), into fields;
 * NULL, or what is wrong with it.  Decoded here, not by
 * evhttp_parse_query_str: that leaves names encoded and cuts a value
 * short at a %00, so that "chan=a%00b" would read channel "a".
 */
static const char *
api_query_pair(json_t *fields, char *pair, const char *skip, char *name,
    size_t len, int *nskip)
{
	char		*value = pair, *k, *v;
	const char	*err = NULL;
	size_t		 klen, vlen;
	json_t		*j;

	(void)strsep(&value, "=");
	if (value == NULL || *pair == '\0')
		return "the query string is malformed";
	if ((k = evhttp_uridecode(pair, 1, &klen)) == NULL ||
	    (v = evhttp_uridecode(value, 1, &vlen)) == NULL)
		fatal("out of memory");
	if (klen != strlen(k) || vlen != strlen(v))
		err = "a field holds a NUL byte (%00)";
	else if (skip != NULL && strcmp(k, skip) == 0) {
		if ((*nskip)++ == 0)
			snprintf(name, len, "%s", v);
	} else if (json_object_get(fields, k) != NULL)
		err = "a field is given twice";
	else if ((j = api_query_value(v)) == NULL)
		err = "a field is not UTF-8";
	else if (json_object_set_new(fields, k, j) == -1)
		err = "a field's name is not UTF-8";
	free(k);
	free(v);
	return err;
}

/*
 * The query's fields as an object (new reference).  skip: a name that is
 * not a field but names the op (live's "op"): its value, exactly once, in
 * name (len bytes).  NULL after answering.
 */
static json_t *
api_query_fields(struct api_call *call, const char *skip, char *name,
    size_t len)
{
	const char	*query, *err = NULL;
	char		*line, *rest, *pair;
	json_t		*fields;
	int		 nskip = 0;

	query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(call->req));
	if ((line = strdup(query != NULL ? query : "")) == NULL ||
	    (fields = json_object()) == NULL)
		fatal("out of memory");
	for (rest = line; err == NULL && (pair = strsep(&rest, "&")) != NULL;) {
		if (*pair != '\0')	/* "a=1&" */
			err = api_query_pair(fields, pair, skip, name, len,
			    &nskip);
	}
	free(line);
	if (err == NULL && skip != NULL && nskip != 1)
		err = "name one op: ?op=NAME";
	if (err != NULL) {
		json_decref(fields);
		api_call_fail(call, 400, "bad_request", err);
		return NULL;
	}
	return fields;
}

/* A POST's body: a JSON object.  NULL after answering. */
static json_t *
api_body_fields(struct api_call *call)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(call->req);
	json_t		*fields;

	fields = json_loadb((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in), JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(fields)) {
		json_decref(fields);
		api_call_fail(call, 400, "bad_request",
		    "the body must be a JSON object of the op's fields");
		return NULL;
	}
	return fields;
}

static struct api_call *
api_call_new(struct dash_api *a, struct evhttp_request *req,
    enum api_kind kind, const struct dash_api_owner *owner)
{
	struct api_call	*call;

	if ((call = calloc(1, sizeof(*call))) == NULL)
		fatal("out of memory");
	call->a = a;
	call->req = req;
	call->kind = kind;
	if (owner != NULL)
		call->owner = *owner;
	call->evcon = evhttp_request_get_connection(req);
	TAILQ_INSERT_TAIL(&a->calls, call, entry);
	if (kind != API_ONCE)
		a->nstreams++;
	if (call->evcon == NULL || metrics_conn_watch(a->server, call->evcon,
	    kind != API_ONCE, api_http_closed_cb, call) == -1) {
		api_call_fail(call, 503, "shutting_down",
		    "the connection is not ready; try again");
		return NULL;
	}
	call->watched = true;
	return call;
}

/* Send the SSE head and start the stream's timers. */
static void
api_stream_start(struct api_call *call)
{
	struct server		*s = call->a->server;
	struct evkeyvalq	*out = evhttp_request_get_output_headers(
				    call->req);
	struct timeval		 tv = units_ms_timeval(API_TICK_MS);
	evutil_socket_t		 fd;

	evhttp_add_header(out, "Content-Type", "text/event-stream");
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "Connection", "close");
	evhttp_send_reply_start(call->req, 200, "OK");
	call->started = true;
	call->written_ms = server_now_ms();
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(call->evcon));
	if ((call->ev_tick = event_new(s->base, -1, EV_PERSIST, api_tick_cb,
	    call)) == NULL || (call->ev_closed = event_new(s->base, fd,
	    EV_CLOSED, api_peer_fin_cb, call)) == NULL ||
	    event_add(call->ev_closed, NULL) == -1)
		fatal("out of memory");
	evtimer_add(call->ev_tick, &tv);
}

static void
api_live(struct dash_api *a, struct evhttp_request *req,
    const struct dash_api_owner *owner)
{
	struct api_call	*call;
	const struct op	*op;
	char		 name[64];
	json_t		*fields;

	if ((call = api_call_new(a, req, API_LIVE, owner)) == NULL ||
	    (fields = api_query_fields(call, "op", name, sizeof(name))) ==
	    NULL)
		return;
	/* history: each second's stats read with it (api_live_history). */
	if (strcmp(name, "history") == 0) {
		call->history = true;
		json_decref(fields);
		if ((fields = json_object()) == NULL)
			fatal("out of memory");
		snprintf(name, sizeof(name), "stats");
	}
	op = dispatch_find(name);
	if (op == NULL || !(op->flags & OP_F_HTTP_READ)) {
		json_decref(fields);
		api_call_fail(call, 404, "not_found",
		    "live takes a read op (stats, chans, ...) or history");
		return;
	}
	if (api_frame(call, op->name, fields) == -1)
		return;
	api_connect(call);
	api_stream_start(call);
	api_send_frame(call);
}

static void
api_watch(struct dash_api *a, struct evhttp_request *req,
    const struct dash_api_owner *owner)
{
	struct api_call	*call;
	json_t		*fields;

	if ((call = api_call_new(a, req, API_WATCH, owner)) == NULL ||
	    (fields = api_query_fields(call, NULL, NULL, 0)) == NULL ||
	    api_frame(call, "watch", fields) == -1)
		return;
	api_connect(call);
	api_stream_start(call);
	api_send_frame(call);
}

static void
api_once(struct dash_api *a, struct evhttp_request *req, const char *name)
{
	const struct op	*op = dispatch_find(name);
	struct api_call	*call;
	json_t		*fields;
	bool		 post;

	post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
	if (op == NULL || !(op->flags & (OP_F_HTTP_READ | OP_F_HTTP_ACTION))) {
		dash_send_error(req, 404, "not_found", "no such API call");
		return;
	}
	if (!(op->flags & (post ? OP_F_HTTP_ACTION : OP_F_HTTP_READ))) {
		dash_send_error(req, 405, "bad_request", post ?
		    "a read: use GET" : "an action: use POST");
		return;
	}
	if (post && a->server->cfg->http_readonly) {
		dash_send_error(req, 403, "forbidden",
		    "the dashboard is read-only (http-readonly)");
		return;
	}
	if ((call = api_call_new(a, req, API_ONCE, NULL)) == NULL ||
	    (fields = post ? api_body_fields(call) :
	    api_query_fields(call, NULL, NULL, 0)) == NULL ||
	    api_frame(call, op->name, fields) == -1)
		return;
	api_connect(call);
	api_send_frame(call);
}

void
dash_api_serve(struct dash_api *a, struct evhttp_request *req,
    const char *name, const struct dash_api_owner *owner)
{
	bool	 get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
	size_t	 len;
	char	*s;

	if (strcmp(name, "history") == 0 || strcmp(name, "live") == 0 ||
	    strcmp(name, "watch") == 0) {
		if (!get) {
			dash_send_error(req, 405, "bad_request", "use GET");
			return;
		}
		if (strcmp(name, "history") == 0) {
			s = dash_history_dump(a->history, &len);
			dash_send_json(req, 200, s, len);
			free(s);
			return;
		}
		if (a->nstreams >= API_MAX_STREAMS) {
			log_warn_limited("dashboard: refusing an event stream: "
			    "%d open (the limit)", (int)API_MAX_STREAMS);
			dash_send_error(req, 503, "limit", "too many event "
			    "streams open");
			return;
		}
		if (strcmp(name, "live") == 0)
			api_live(a, req, owner);
		else
			api_watch(a, req, owner);
		return;
	}
	api_once(a, req, name);
}

void
dash_api_end_streams(struct dash_api *a, const void *session)
{
	struct api_call	*call, *next;

	for (call = TAILQ_FIRST(&a->calls); call != NULL; call = next) {
		next = TAILQ_NEXT(call, entry);
		if (call->kind != API_ONCE && call->started &&
		    (session == NULL || call->owner.session == session)) {
			/* Ends call (a last event, the last chunk). */
			api_call_error(call, 401, "unauthorized",
			    API_SESSION_ENDED);
		}
	}
}

struct dash_api *
dash_api_new(struct server *s)
{
	struct dash_api	*a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("out of memory");
	a->server = s;
	a->history = dash_history_new(s);
	TAILQ_INIT(&a->calls);
	return a;
}

void
dash_api_free(struct dash_api *a)
{
	struct api_call	*call;

	if (a == NULL)
		return;
	/* metrics_stop freed the HTTP side first: nothing should be left. */
	while ((call = TAILQ_FIRST(&a->calls)) != NULL) {
		call->req = NULL;
		api_call_end(call);
	}
	dash_history_free(a->history);
	free(a);
}
