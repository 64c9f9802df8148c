/*
 * Fuzz target: whole requests through the daemon, as a client sends them,
 * with no sockets.
 *
 * Each input gets a fresh server: the real struct server from server_new()
 * with an in-memory SQLite store (":memory:", committed by the real store
 * thread) and no listeners.  NPEERS connections are made with
 * conn_new_bev() on one end of a bufferevent_pair each (deferred callbacks,
 * so bytes move through the event loop as on a socket); the harness holds
 * the other ends.  The job pool is paused, so `submit` queues jobs (and
 * their deadlines, retries and waits work) but never spawns a process.  The
 * lease tag is fixed, so lease strings are "00000000.N" and an input can
 * ack and nack what it received.
 *
 * An input whose first line is "#token" runs against a server that
 * requires the token "fuzz-token" (the line is not sent): connections must
 * `auth` first, and a wrong token closes the connection.
 *
 * The input is split into lines.  A line is a request for connection 0, or
 * for connection N when it starts with "@N " (N in 0-3; the prefix is not
 * sent).  "@N-" and "@N+" make the client of N stop and start reading its
 * replies (back-pressure: max_conn_buffer is 4K); "@N." closes its writing
 * side (end of input: a parked request is abandoned, the connection
 * closes).  Consecutive lines for one connection are written at once
 * (pipelining); before the next connection's line, and after a control
 * line, the loop runs until idle: nothing active, nothing being committed.
 * At the end, parked requests get up to TIMER_BUDGET_MS for timeouts that
 * are due by then, then every client closes its writing side.
 *
 * Checked: every reply is one line of JSON, an object whose first members
 * are "id" and "ok", errors carrying a known code and a message; replies
 * come in request order, one per non-empty line (oversized lines get
 * frame_too_large), their ids echoing the requests' (null when the frame
 * could not be read); when the loop is idle, a connection whose client
 * reads and that has no parked request has answered every line it was
 * sent; the server closes a connection only after a wrong token (and
 * then does close it), and every connection whose client ended its input
 * is closed; the store
 * never fails.  ASan, UBSan and LeakSanitizer watch the rest: each input's
 * server is freed completely.
 *
 * Times are real: a request with a short timeout_ms may time out during a
 * run or only in the final wait, so an input using them may not replay
 * exactly.
 */
#include <sys/queue.h>
#include <sys/time.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>

#include "config.h"
#include "conn.h"
#include "errcode.h"
#include "fuzz.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "waitq.h"

#define NPEERS		4
#define TIMER_BUDGET_MS	5
#define FUZZ_THREAD_STACK	(512 * 1024)

/*
 * ThreadSanitizer keeps its per-thread state in static TLS (hundreds of
 * KiB), which glibc carves out of the thread's stack: with a 512 KiB
 * default stack, pthread_create fails with EINVAL.  The small stack only
 * saves ASan time, so a TSan build keeps the default.
 */
#if defined(__SANITIZE_THREAD__)
#define FUZZ_TSAN	1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FUZZ_TSAN	1
#endif
#endif

struct peer {
	int			 index;
	struct bufferevent	*bev;		/* the client's end */
	uint64_t		 conn_id;
	json_t			*expect;	/* ids of requests sent */
	size_t			 answered;	/* replies received */
	bool			 reading;
	bool			 eof;		/* the client's input ended */
	bool			 refused;	/* "wrong token": closing */
	/* Sent an auth with a wrong token: may be closing, unread. */
	bool			 wrong_auth;
};

struct fuzz {
	struct server	*s;
	struct peer	 peers[NPEERS];
};

/* Small limits, so that inputs of a few KiB reach them. */
static char *fuzz_argv[] = {
	"fuzz-dispatch",
	"--db", ":memory:",
	"--log-level", "error",
	"--sync", "normal",
	"--workers", "1",
	"--max-frame", "1K",
	"--max-value", "512",
	"--max-channels", "16",
	"--max-select-cases", "8",
	"--max-buffered-bytes", "4K",
	"--max-queued-jobs", "16",
	"--max-conn-buffer", "4K",
	"--max-pipeline", "4",
	NULL
};

#define FUZZ_TOKEN	"fuzz-token"

static struct config	 cfg;
/* FUZZ_TRACE set: print requests and replies to stderr. */
static bool		 trace;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
#ifndef FUZZ_TSAN
	pthread_attr_t	 attr;
#endif
	char		 err[512];
	int		 n;

	n = (int)(sizeof(fuzz_argv) / sizeof(fuzz_argv[0])) - 1;
	if (config_load(&cfg, n, fuzz_argv, err, sizeof(err)) != CONFIG_OK) {
		fprintf(stderr, "fuzz-dispatch: config: %s\n", err);
		abort();
	}
	/* No listener: the connections are made by hand. */
	while (cfg.nlisten > 0)
		free(cfg.listen[--cfg.nlisten]);
	cfg.unix_default = false;
	log_set_level(cfg.log_level);
	trace = getenv("FUZZ_TRACE") != NULL;
	/* The store thread wakes the loop with event_active(). */
	if (evthread_use_pthreads() == -1)
		abort();
	/*
	 * Speed only (about 15%): each input starts a store thread, and ASan
	 * clears the shadow of its whole stack (8 MiB by default).
	 */
#ifndef FUZZ_TSAN
	if (pthread_attr_init(&attr) != 0 ||
	    pthread_attr_setstacksize(&attr, FUZZ_THREAD_STACK) != 0 ||
	    pthread_setattr_default_np(&attr) != 0)
		abort();
	pthread_attr_destroy(&attr);
#endif
	return 0;
}

static struct conn *
fuzz_conn(struct fuzz *f, const struct peer *p)
{
	struct conn	*c;

	TAILQ_FOREACH(c, &f->s->conns, entry) {
		if (c->id == p->conn_id)
			return c;
	}
	return NULL;
}

/* One reply line of p's connection: valid, and answering the next line. */
static void
fuzz_check_reply(struct peer *p, const char *line, size_t len)
{
	json_error_t	 jerr;
	json_t		*r, *error, *code;
	enum errcode	 ec;
	void		*it;
	size_t		 i;

	if (trace)
		fprintf(stderr, "%d< %.*s\n", p->index, (int)len, line);
	for (i = 0; i < len; i++)
		FUZZ_CHECK((unsigned char)line[i] >= 0x20);
	if ((r = json_loadb(line, len, JSON_ALLOW_NUL, &jerr)) == NULL) {
		fprintf(stderr, "reply is not JSON (%s): %.*s\n", jerr.text,
		    (int)len, line);
		abort();
	}
	FUZZ_CHECK(json_is_object(r));
	it = json_object_iter(r);
	FUZZ_CHECK(it != NULL && strcmp(json_object_iter_key(it), "id") == 0);
	it = json_object_iter_next(r, it);
	FUZZ_CHECK(it != NULL && strcmp(json_object_iter_key(it), "ok") == 0);
	FUZZ_CHECK(json_is_boolean(json_object_iter_value(it)));
	if (json_is_false(json_object_iter_value(it))) {
		error = json_object_get(r, "error");
		FUZZ_CHECK(json_is_object(error));
		code = json_object_get(error, "code");
		FUZZ_CHECK(json_is_string(code) &&
		    errcode_parse(json_string_value(code), &ec) == 0);
		FUZZ_CHECK(json_is_string(json_object_get(error, "message")));
		if (strcmp(json_string_value(code), "unauthorized") == 0 &&
		    strcmp(json_string_value(json_object_get(error,
		    "message")), "wrong token") == 0)
			p->refused = true;
	}
	/* In order: the reply answers the oldest unanswered line. */
	if (p->answered >= json_array_size(p->expect)) {
		fprintf(stderr, "reply to no request: %.*s\n", (int)len, line);
		abort();
	}
	if (!json_equal(json_object_get(r, "id"),
	    json_array_get(p->expect, p->answered))) {
		fprintf(stderr, "reply %zu out of order: %.*s\n", p->answered,
		    (int)len, line);
		abort();
	}
	p->answered++;
	json_decref(r);
}

static void
fuzz_read_replies(struct fuzz *f)
{
	struct peer	*p;
	char		*line;
	size_t		 len;
	int		 i;

	for (i = 0; i < NPEERS; i++) {
		p = &f->peers[i];
		while ((line = evbuffer_readln(bufferevent_get_input(p->bev),
		    &len, EVBUFFER_EOL_LF)) != NULL) {
			fuzz_check_reply(p, line, len);
			free(line);
		}
	}
}

/*
 * A long reply asks for its next piece on a zero timer (conn.c), which
 * is not "active" until the loop looks at its timers.
 */
static bool
fuzz_streaming(struct fuzz *f)
{
	struct conn	*c;

	TAILQ_FOREACH(c, &f->s->conns, entry) {
		if (c->stream != NULL && evtimer_pending(c->ev_stream, NULL))
			return true;
	}
	return false;
}

/* Run the loop until nothing is active and the store has committed all. */
static void
fuzz_run(struct fuzz *f)
{
	struct event_base	*base = f->s->base;

	for (;;) {
		while (event_base_get_num_events(base,
		    EVENT_BASE_COUNT_ACTIVE) > 0 || fuzz_streaming(f))
			event_base_loop(base, EVLOOP_NONBLOCK);
		if (store_failing(f->s->store)) {
			fprintf(stderr, "store commit failed\n");
			abort();
		}
		if (store_idle(f->s->store))
			break;
		/* The store thread wakes the loop when its commit is done. */
		event_base_loop(base, EVLOOP_ONCE);
	}
	fuzz_read_replies(f);
}

/* The loop is idle: what every connection must have done by now. */
static void
fuzz_check_idle(struct fuzz *f)
{
	struct peer	*p;
	struct conn	*c;
	int		 i;

	for (i = 0; i < NPEERS; i++) {
		p = &f->peers[i];
		c = fuzz_conn(f, p);
		if (trace && c != NULL && conn_parked(c) != NULL)
			fprintf(stderr, "%d: parked\n", i);
		if (p->eof) {
			/* Unless replies wait for a client not reading. */
			if (p->reading)
				FUZZ_CHECK(c == NULL);
			continue;
		}
		/*
		 * Only a wrong token closes a connection, and then it does;
		 * a client that reads nothing may not have seen the refusal.
		 */
		if (p->refused) {
			if (p->reading)
				FUZZ_CHECK(c == NULL);
			continue;
		}
		if (p->wrong_auth && !p->reading)
			continue;
		FUZZ_CHECK(c != NULL && !c->closing);
		if (conn_parked(c) == NULL && p->reading &&
		    p->answered != json_array_size(p->expect)) {
			fprintf(stderr, "connection %d idle with %zu of %zu "
			    "requests answered\n", i, p->answered,
			    json_array_size(p->expect));
			abort();
		}
	}
}

/*
 * The id the reply to this line must carry, or NULL if the line gets no
 * reply (it is empty once its "\r" is removed).
 */
static json_t *
fuzz_expected_id(const char *line, size_t len, size_t max_frame)
{
	json_error_t	 jerr;
	json_t		*root, *id = NULL;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return NULL;
	if (len > max_frame)
		return json_null();
	root = json_loadb(line, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
	if (json_is_object(root)) {
		id = json_object_get(root, "id");
		if (id != NULL && !json_is_array(id) && !json_is_object(id))
			json_incref(id);
		else
			id = NULL;
	}
	json_decref(root);
	return id != NULL ? id : json_null();
}

/* Is line an auth with a token the server will refuse (and close)? */
static bool
fuzz_wrong_auth(struct fuzz *f, const char *line, size_t len)
{
	json_error_t	 jerr;
	json_t		*root, *op, *token;
	bool		 wrong = false;

	if (f->s->token == NULL || len > cfg.max_frame)
		return false;
	root = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
	op = json_object_get(root, "op");
	token = json_object_get(root, "token");
	if (json_is_string(op) && strcmp(json_string_value(op), "auth") == 0 &&
	    json_is_string(token) &&
	    memchr(json_string_value(token), '\0',
	    json_string_length(token)) == NULL)
		wrong = strcmp(json_string_value(token), FUZZ_TOKEN) != 0;
	json_decref(root);
	return wrong;
}

static void
fuzz_send(struct fuzz *f, struct peer *p, const char *line, size_t len)
{
	json_t	*id;

	if (trace)
		fprintf(stderr, "%d> %.*s%s\n", p->index, (int)len, line,
		    p->eof ? " (not sent: input ended)" : "");
	if (p->eof)
		return;
	if ((id = fuzz_expected_id(line, len, cfg.max_frame)) != NULL)
		json_array_append_new(p->expect, id);
	if (fuzz_wrong_auth(f, line, len))
		p->wrong_auth = true;
	if (bufferevent_write(p->bev, line, len) == -1 ||
	    bufferevent_write(p->bev, "\n", 1) == -1)
		abort();
}

static void
fuzz_set_reading(struct peer *p, bool on)
{
	p->reading = on;
	if (on)
		bufferevent_enable(p->bev, EV_READ);
	else
		bufferevent_disable(p->bev, EV_READ);
}

static void
fuzz_end_input(struct peer *p)
{
	if (p->eof)
		return;
	p->eof = true;
	/* The pair's way of saying EOF: the other end gets BEV_EVENT_EOF. */
	bufferevent_flush(p->bev, EV_WRITE, BEV_FINISHED);
}

/*
 * Give parked requests whose timeout is due within the budget the time to
 * expire (and the requests behind them the time to run).
 */
static void
fuzz_wait_timers(struct fuzz *f)
{
	struct timeval	 start, now, due, limit, budget = { 0,
	    TIMER_BUDGET_MS * 1000 };
	struct conn	*c;
	struct call	*call;
	bool		 waiting;

	gettimeofday(&start, NULL);
	timeradd(&start, &budget, &limit);
	for (;;) {
		waiting = false;
		TAILQ_FOREACH(c, &f->s->conns, entry) {
			call = conn_parked(c);
			if (call != NULL && call->waiter != NULL &&
			    call->waiter->timer != NULL &&
			    event_pending(call->waiter->timer, EV_TIMEOUT,
			    &due) && timercmp(&due, &limit, <=))
				waiting = true;
		}
		gettimeofday(&now, NULL);
		if (!waiting || timercmp(&now, &limit, >))
			break;
		/* Blocks until the next timer, the nearest being due soon. */
		event_base_loop(f->s->base, EVLOOP_ONCE);
		fuzz_run(f);
	}
}

static void
fuzz_setup(struct fuzz *f, bool token)
{
	struct bufferevent	*pair[2];
	struct conn		*c;
	char			 peer[32];
	int			 i;

	memset(f, 0, sizeof(*f));
	if ((f->s = server_new(&cfg, 0, NULL)) == NULL)
		abort();
	jobs_pause(&f->s->jobs);
	f->s->lease_boot = 0;
	/* As if read from a token file (before any connection exists). */
	if (token) {
		if ((f->s->token = strdup(FUZZ_TOKEN)) == NULL)
			abort();
		f->s->token_len = strlen(FUZZ_TOKEN);
	}
	for (i = 0; i < NPEERS; i++) {
		if (bufferevent_pair_new(f->s->base, BEV_OPT_CLOSE_ON_FREE |
		    BEV_OPT_DEFER_CALLBACKS, pair) == -1)
			abort();
		snprintf(peer, sizeof(peer), "fuzz:%d", i);
		c = conn_new_bev(f->s, pair[0], peer);
		f->peers[i].index = i;
		f->peers[i].bev = pair[1];
		f->peers[i].conn_id = c->id;
		if ((f->peers[i].expect = json_array()) == NULL)
			abort();
		fuzz_set_reading(&f->peers[i], true);
	}
}

static void
fuzz_teardown(struct fuzz *f)
{
	int	 i;

	FUZZ_CHECK(f->s->nconns == 0);
	/* Jobs are paused: nothing may have been started. */
	FUZZ_CHECK(f->s->jobs.running == 0 && f->s->jobs.started_total == 0);
	for (i = 0; i < NPEERS; i++) {
		/* Nothing but whole lines. */
		FUZZ_CHECK(evbuffer_get_length(bufferevent_get_input(
		    f->peers[i].bev)) == 0);
		bufferevent_free(f->peers[i].bev);
		json_decref(f->peers[i].expect);
	}
	server_free(f->s);
}

/*
 * One input line: a request for *peer (*kind 'r', the bytes to send in
 * *payload), or a control line (*kind '-', '+' or '.').
 */
static void
fuzz_parse_line(const char *line, size_t len, int *peer, char *kind,
    const char **payload, size_t *plen)
{
	*peer = 0;
	*kind = 'r';
	*payload = line;
	*plen = len;
	if (len < 3 || line[0] != '@' || line[1] < '0' ||
	    line[1] >= '0' + NPEERS)
		return;
	if (line[2] == ' ') {
		*peer = line[1] - '0';
		*payload = line + 3;
		*plen = len - 3;
	} else if (len == 3 && strchr("-+.", line[2]) != NULL) {
		*peer = line[1] - '0';
		*kind = line[2];
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz	 f;
	const char	*line = (const char *)data, *end = line + size, *nl;
	const char	*payload;
	size_t		 len, plen;
	int		 cur = 0, peer, i;
	char		 kind;

	if (size >= 7 && memcmp(data, "#token\n", 7) == 0) {
		fuzz_setup(&f, true);
		line += 7;
	} else
		fuzz_setup(&f, false);
	for (; line < end; line += len + 1) {
		nl = memchr(line, '\n', (size_t)(end - line));
		len = nl != NULL ? (size_t)(nl - line) : (size_t)(end - line);
		fuzz_parse_line(line, len, &peer, &kind, &payload, &plen);
		/* Another connection's turn: let the previous one settle. */
		if (kind != 'r' || peer != cur) {
			fuzz_run(&f);
			fuzz_check_idle(&f);
			cur = peer;
		}
		switch (kind) {
		case '-':
			fuzz_set_reading(&f.peers[peer], false);
			break;
		case '+':
			fuzz_set_reading(&f.peers[peer], true);
			break;
		case '.':
			fuzz_end_input(&f.peers[peer]);
			break;
		default:
			fuzz_send(&f, &f.peers[peer], payload, plen);
			continue;
		}
		fuzz_run(&f);
		fuzz_check_idle(&f);
	}

	/* The end: every client reads, timeouts due soon expire, EOF. */
	for (i = 0; i < NPEERS; i++)
		fuzz_set_reading(&f.peers[i], true);
	fuzz_run(&f);
	fuzz_check_idle(&f);
	fuzz_wait_timers(&f);
	fuzz_check_idle(&f);
	for (i = 0; i < NPEERS; i++)
		fuzz_end_input(&f.peers[i]);
	fuzz_run(&f);
	fuzz_check_idle(&f);
	fuzz_teardown(&f);
	return 0;
}
