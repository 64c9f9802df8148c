/*
 * Connections: bytes to frames to calls, calls to replies, in order.
 * See conn.h for the rules; the flow is:
 *
 *   socket_read_cb (read_cb without a socket)/resume -> conn_process:
 *     while the connection may progress, take the next frame (feeding
 *     the frame reader from the input buffer only when it has no whole
 *     line), make a call, dispatch it;
 *   handlers and waiter callbacks -> call_reply -> conn_flush: write the
 *     replies at the head of the queue whose commit is durable;
 *   write_cb: the peer drained our output -> conn_process again.
 *
 * A call parks by joining conn->parked; on a serial connection
 * conn_process does nothing until call_unpark() takes it off and schedules
 * ev_resume.  A multiplexed connection goes on with the requests behind;
 * its answered calls wait on conn->ready, not at the head of conn->calls,
 * and conn_flush writes whichever of them is durable.  Waiter callbacks
 * run inside other connections' operations (or this one's: a send may
 * wake a recv parked on its own multiplexed connection), so they never
 * process input or close anything themselves.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "tls.h"
#include "units.h"
#include "value.h"
#include "waitq.h"

/* Bytes read from the socket ahead of the frame reader. */
#define CONN_READ_HIGH	(64 * 1024)
/* Bytes asked of the socket in one read. */
#define CONN_READ_BYTES	(16 * 1024)
/* Bytes handed to the frame reader at a time. */
#define CONN_FEED_BYTES	(16 * 1024)

static void	conn_process(struct conn *c);
static void	conn_watch_closed(struct conn *c);
static void	conn_update_read(struct conn *c);
static void	conn_stream_kick(struct conn *c);
static struct call *conn_stream_next(const struct conn *c);

static struct call *
call_new(struct conn *c)
{
	struct call	*call;

	call = calloc(1, sizeof(*call));
	if (call == NULL)
		fatal("out of memory");
	call->conn = c;
	TAILQ_INSERT_TAIL(&c->calls, call, entry);
	c->ncalls++;
	return call;
}

static void
call_free(struct call *call)
{
	struct conn	*c = call->conn;

	TAILQ_REMOVE(&c->calls, call, entry);
	c->ncalls--;
	if (call->on_ready)
		TAILQ_REMOVE(&c->ready, call, ready_entry);
	if (call->id_key != NULL) {
		map_remove(&c->ids, &call->id_entry);
		free(call->id_key);
	}
	if (call->waiter != NULL) {
		TAILQ_REMOVE(&c->parked, call, park_entry);
		c->nparked--;
		c->server->nparked--;
		waiter_free(call->waiter);
	}
	value_sender_untie(&call->sent);
	if (call->produce != NULL) {
		if (c->stream == call)
			c->stream = conn_stream_next(c);
		call->stream_free(call->stream_state);
		strbuf_fini(&call->piece);
	}
	if (call->frame)
		c->frame_bytes -= call->reply_len;
	request_fini(&call->req);
	free(call->reply);
	free(call);
}

static bool
call_answered(const struct call *call)
{
	return call->reply != NULL || call->produce != NULL;
}

json_t *
call_id(const struct call *call)
{
	return call->req.id;
}

struct worker *
conn_worker(const struct conn *c)
{
	return c->worker;
}

bool
conn_worker_lost(const struct conn *c)
{
	return c->worker_lost;
}

void
conn_set_worker(struct conn *c, struct worker *w, bool lost)
{
	c->worker = w;
	c->worker_lost = lost;
}

struct server *
call_server(const struct call *call)
{
	return call->conn->server;
}

/* The commit a reply (or a piece of one) made now must wait for. */
static uint64_t
call_seq_now(const struct call *call)
{
	struct store	*st = call->conn->server->store;

	if (st == NULL)
		return 0;
	/* Reads while the disk fails: see call_set_seq. */
	if (call->readonly && store_failing(st))
		return 0;
	return store_barrier(st);
}

/* Decide which commit the answer of call waits for; returns it. */
static uint64_t
call_set_seq(struct call *call)
{
	struct conn	*c = call->conn;
	struct store	*st = c->server->store;

	assert(!call_answered(call));
	/*
	 * Whatever this reply says may rest on changes not yet on disk:
	 * it leaves after every change recorded so far is committed, unless
	 * the handler said on which it rests.
	 */
	if (st != NULL)
		call->commit_seq = call->depends_set ? call->depends :
		    store_barrier(st);
	/*
	 * Except while the disk fails: then reads are answered at once
	 * (they may show changes still being retried), so that jqd stays
	 * readable; the changes themselves stay unacknowledged.
	 */
	if (call->readonly && st != NULL && store_failing(st))
		call->commit_seq = 0;
	/*
	 * Replies leave in order: this one goes after those before it.  On a
	 * multiplexed connection each leaves on its own.
	 */
	if (!c->multiplex && call->commit_seq < c->last_seq)
		call->commit_seq = c->last_seq;
	c->last_seq = call->commit_seq;
	return call->commit_seq;
}

/* Multiplexed: an answered call waits on conn->ready to be written. */
static void
call_ready(struct call *call)
{
	struct conn	*c = call->conn;

	if (!c->multiplex)
		return;
	TAILQ_INSERT_TAIL(&c->ready, call, ready_entry);
	call->on_ready = true;
}

/*
 * Answer with text (taken): it leaves once what it rests on is committed,
 * the sequence returned.  The call may be freed on return.
 */
static uint64_t
call_answer(struct call *call, char *text, size_t len)
{
	uint64_t	 seq = call_set_seq(call);

	call->reply = text;
	call->reply_len = len;
	call_ready(call);
	conn_flush(call->conn);
	return seq;
}

/*
 * The streamed reply to produce after the one that ended: the first
 * answered with one (a multiplexed connection's parked calls, a watch
 * and a wait of one job say, may be answered with one at the same time).
 */
static struct call *
conn_stream_next(const struct conn *c)
{
	struct call	*call;

	TAILQ_FOREACH(call, &c->ready, ready_entry)
		if (call->produce != NULL)
			return call;
	return NULL;
}

/*
 * Answer with a reply produced in pieces.  One is produced at a time:
 * a later one waits on the ready list, where the replies behind it wait
 * too (conn_flush_ready), until conn_stream_next makes it the stream.
 * Only a multiplexed connection can have two (serial: one call runs).
 */
void
call_reply_stream(struct call *call, call_produce_cb *produce,
    call_stream_free_cb *free_cb, void *state)
{
	struct conn	*c = call->conn;

	assert(c->multiplex || c->stream == NULL);
	(void)call_set_seq(call);
	call->produce = produce;
	call->stream_free = free_cb;
	call->stream_state = state;
	if (c->stream == NULL)
		c->stream = call;
	call_ready(call);
	conn_flush(c);
}

uint64_t
call_reply(struct call *call, json_t *reply, const struct reply_raw *raw,
    size_t nraw)
{
	char	*text;
	size_t	 len;

	text = reply_serialize(reply, raw, nraw, &len);
	json_decref(reply);
	return call_answer(call, text, len);
}

uint64_t
call_reply_ok(struct call *call, const struct reply_raw *raw, size_t nraw)
{
	char	*text;
	size_t	 len;

	text = reply_ok_serialize(call_id(call), raw, nraw, &len);
	return call_answer(call, text, len);
}

void
call_sent_track(struct call *call, struct value *v)
{
	assert(call->reply == NULL);
	value_sender_tie(&call->sent, v, call);
}

void
call_sent_delivered(struct value *v, uint64_t after)
{
	struct call	*call, *prev;
	uint64_t	 seq = after;

	if (v->sender == NULL)
		return;
	call = v->sender->call;
	value_sender_untie(v->sender);
	prev = call->conn->multiplex ? NULL :
	    TAILQ_PREV(call, call_list, entry);
	if (prev != NULL && prev->commit_seq > seq)
		seq = prev->commit_seq;
	if (seq < call->commit_seq) {
		call->commit_seq = seq;
		conn_flush(call->conn);
	}
}

void
call_depend(struct call *call, uint64_t seq)
{
	call->depends = seq;
	call->depends_set = true;
}

int
call_emit(struct call *call, json_t *frame, bool needs_commit,
    size_t max_unsent)
{
	struct conn	*c = call->conn;
	struct call	*f;
	char		*text;
	size_t		 len, unsent;

	assert(!call_answered(call));
	text = reply_serialize(frame, NULL, 0, &len);
	json_decref(frame);
	unsent = evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    c->frame_bytes;
	if (max_unsent > 0 && unsent + len > max_unsent) {
		free(text);
		return -1;
	}
	/* A call without a request, answered at once, just before call. */
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		fatal("out of memory");
	f->conn = c;
	f->frame = true;
	TAILQ_INSERT_BEFORE(call, f, entry);
	c->ncalls++;
	c->frame_bytes += len;
	/*
	 * A frame never overtakes the call's frames before it: serial
	 * replies leave in order anyway, multiplexed ones each on its own.
	 */
	if (!needs_commit)
		call_depend(f, call->emit_seq);
	call->emit_seq = call_answer(f, text, len);
	return 0;
}

void
call_ok(struct call *call)
{
	call_reply_ok(call, NULL, 0);
}

void
call_error(struct call *call, enum errcode code, const char *fmt, ...)
{
	struct proto_error	 err;
	va_list			 ap;

	err.code = code;
	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	call_fail(call, &err);
}

void
call_fail(struct call *call, const struct proto_error *err)
{
	call_reply(call, reply_error(call_id(call), err->code, "%s",
	    err->message), NULL, 0);
}

void
call_canceled(struct call *call)
{
	call_error(call, ERRCODE_CANCELED, "canceled by abort");
}

void
call_park(struct call *call, struct waiter *w, int64_t timeout_ms)
{
	struct conn	*c = call->conn;

	assert((c->multiplex || c->nparked == 0) && call->waiter == NULL);
	call->waiter = w;
	TAILQ_INSERT_TAIL(&c->parked, call, park_entry);
	c->nparked++;
	c->parks++;
	c->server->nparked++;
	waiter_park(w, c->server->base, timeout_ms);
	conn_watch_closed(c);
}

void
call_unpark(struct call *call)
{
	struct conn	*c = call->conn;

	assert(call->waiter != NULL);
	/* The waiter frees itself once its callback returns. */
	call->waiter = NULL;
	TAILQ_REMOVE(&c->parked, call, park_entry);
	c->nparked--;
	c->server->nparked--;
	if (c->nparked == 0)
		event_del(c->ev_closed);
	event_active(c->ev_resume, EV_WRITE, 0);
}

/*
 * Output is written once a loop turn, by conn_write_pending (the server's
 * ev_write runs after the callbacks already due, so the replies all of
 * them made leave in one write per connection), straight to the socket.
 * Only what the socket does not take at once is left to the bufferevent,
 * whose write event is enabled just for that: no epoll change per reply.
 */
static void
conn_want_write(struct conn *c)
{
	if (c->want_write)
		return;
	c->want_write = true;
	TAILQ_INSERT_TAIL(&c->server->writing, c, write_entry);
	event_active(c->server->ev_write, EV_WRITE, 0);
}

static void
conn_write_now(struct conn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	evutil_socket_t	 fd = bufferevent_getfd(c->bev);
	size_t		 before = evbuffer_get_length(out);

	/* A TLS bufferevent has a socket too, but writes only records. */
	if (c->ev_read != NULL &&
	    !(bufferevent_get_enabled(c->bev) & EV_WRITE)) {
		/*
		 * A socket bufferevent keeps the start of its output frozen
		 * against others draining it; it is not writing now.
		 */
		evbuffer_unfreeze(out, 1);
		(void)evbuffer_write(out, fd);
		evbuffer_freeze(out, 1);
	}
	if (evbuffer_get_length(out) > 0) {
		/* Full socket, an error, or no socket: the bufferevent. */
		bufferevent_enable(c->bev, EV_WRITE);
		return;
	}
	/* All out: whatever waited for room, or to close, goes on. */
	if (c->closing || before >= c->server->cfg->max_conn_buffer / 2)
		event_active(c->ev_resume, EV_WRITE, 0);
}

void
conn_write_pending(struct server *s)
{
	struct conn_list	 todo = TAILQ_HEAD_INITIALIZER(todo);
	struct conn		*c;

	TAILQ_CONCAT(&todo, &s->writing, write_entry);
	while ((c = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, c, write_entry);
		c->want_write = false;
		conn_write_now(c);
	}
}

/*
 * Write the produced piece of the streamed reply at the head if what it
 * shows is committed.  True if the call is over (its last piece is out).
 */
static bool
conn_flush_piece(struct conn *c, struct call *call, bool *wait)
{
	uint64_t	 durable = c->server->durable_seq;

	if (call->piece.len > 0 && call->piece_seq <= durable) {
		if (bufferevent_write(c->bev, call->piece.data,
		    call->piece.len) == -1)
			fatal("out of memory");
		strbuf_reset(&call->piece);
		call->stream_started = true;
		conn_want_write(c);
	}
	*wait = call->piece.len > 0;
	return call->piece.len == 0 && call->stream_done;
}

/*
 * Write the answer of call, which is durable: the reply, or the produced
 * piece of a streamed one (*wait, *ended as conn_flush_piece says).  True
 * if the call is over and freed.
 */
static bool
conn_write_call(struct conn *c, struct call *call, bool *wait, bool *ended)
{
	if (call->produce != NULL) {
		if (!conn_flush_piece(c, call, wait))
			return false;
		*ended = true;
	} else if (bufferevent_write(c->bev, call->reply,
	    call->reply_len) == -1)
		fatal("out of memory");
	call_free(call);
	return true;
}

/* Wait on server->held for the next commit. */
static void
conn_hold(struct conn *c)
{
	if (c->held)
		return;
	TAILQ_INSERT_TAIL(&c->server->held, c, held_entry);
	c->held = true;
}

/*
 * conn_flush on a multiplexed connection: write every answered call whose
 * commit is durable, in the order they were answered.  A streamed reply
 * is one line: once its first piece is out, nothing else is written until
 * its last.  True if a streamed reply ended.
 */
static bool
conn_flush_ready(struct conn *c)
{
	struct call	*call, *next, *stream = c->stream;
	bool		 wrote = false, ended = false, wait = false;
	bool		 hold = false;

	if (stream != NULL && stream->stream_started) {
		if (!conn_flush_piece(c, stream, &wait)) {
			if (wait)
				conn_hold(c);
			return false;
		}
		call_free(stream);
		ended = true;
	}
	for (call = TAILQ_FIRST(&c->ready); call != NULL; call = next) {
		next = TAILQ_NEXT(call, ready_entry);
		if (call->commit_seq > c->server->durable_seq) {
			hold = true;
			continue;
		}
		if (!conn_write_call(c, call, &wait, &ended)) {
			hold |= wait;
			break;
		}
		wrote = true;
	}
	if (wrote)
		conn_want_write(c);
	if (hold)
		conn_hold(c);
	return ended;
}

void
conn_flush(struct conn *c)
{
	struct call	*call;
	bool		 wrote = false, ended = false, wait = false;

	if (c->multiplex) {
		/* The requests behind a finished stream may run now. */
		if (conn_flush_ready(c))
			event_active(c->ev_resume, EV_WRITE, 0);
		conn_stream_kick(c);
		return;
	}

	while ((call = TAILQ_FIRST(&c->calls)) != NULL &&
	    call_answered(call) &&
	    call->commit_seq <= c->server->durable_seq) {
		if (!conn_write_call(c, call, &wait, &ended))
			break;
		wrote = true;
	}
	if (wrote)
		conn_want_write(c);
	if (call != NULL && call_answered(call) &&
	    (call->commit_seq > c->server->durable_seq || wait))
		conn_hold(c);
	/* The requests behind a finished stream may run now. */
	if (ended)
		event_active(c->ev_resume, EV_WRITE, 0);
	conn_stream_kick(c);
}

/*
 * The streamed reply whose next piece may be produced: serial, the one at
 * the head; multiplexed, any (see conn_flush_ready).
 */
static struct call *
conn_stream_turn(const struct conn *c)
{
	if (c->multiplex)
		return c->stream;
	return TAILQ_FIRST(&c->calls) == c->stream ? c->stream : NULL;
}

/*
 * Ask for the next piece of the streamed reply at the head, on a later
 * loop turn (a timer, so that the loop polls the sockets in between),
 * if it may be produced: everything before it committed, the piece before
 * it written, and room in the output (else conn_write_cb comes back here
 * once the peer drained it to half of max_conn_buffer).
 */
static void
conn_stream_kick(struct conn *c)
{
	static const struct timeval	 now = { 0, 0 };
	struct call			*call = conn_stream_turn(c);

	if (call == NULL || call->stream_done ||
	    call->piece.len > 0 ||
	    call->commit_seq > c->server->durable_seq ||
	    evtimer_pending(c->ev_stream, NULL) ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) >
	    c->server->cfg->max_conn_buffer / 2)
		return;
	evtimer_add(c->ev_stream, &now);
}

static void
conn_stream_cb(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval	 retry = { 0, 2000 };
	struct conn			*c = arg;
	struct call			*call = c->stream;

	if (call == NULL || call != conn_stream_turn(c) ||
	    call->piece.len > 0 || call->stream_done)
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) >
	    c->server->cfg->max_conn_buffer / 2)
		return;
	switch (call->produce(&call->piece, call->stream_state)) {
	case STREAM_MORE:
		break;
	case STREAM_DONE:
		call->stream_done = true;
		break;
	case STREAM_AGAIN:
		evtimer_add(c->ev_stream, &retry);
		return;
	case STREAM_FAIL:
		conn_close(c, "a reply could not be produced");
		return;
	}
	call->piece_seq = call_seq_now(call);
	conn_flush(c);
}

void
conn_release_held(struct server *s)
{
	struct conn_list	 todo = TAILQ_HEAD_INITIALIZER(todo);
	struct conn		*c;

	TAILQ_CONCAT(&todo, &s->held, held_entry);
	while ((c = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, c, held_entry);
		c->held = false;
		conn_flush(c);
		event_active(c->ev_resume, EV_WRITE, 0);
	}
}

bool
conn_replies_out(const struct conn *c)
{
	return TAILQ_EMPTY(&c->calls) &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
}

struct call *
conn_parked(const struct conn *c)
{
	return TAILQ_LAST(&c->parked, call_list);
}

uint64_t
conn_park_count(const struct conn *c)
{
	return c->parks;
}

size_t
conn_nparked(const struct conn *c)
{
	return c->nparked;
}

void
conn_wake_parked(struct conn *c, enum wake_result result)
{
	struct call	*call;

	/* Each callback unparks its call (call_unpark). */
	while ((call = TAILQ_FIRST(&c->parked)) != NULL)
		waiter_wake(call->waiter, NULL, result, NULL);
}

/* Abandon every parked call: no reply, and a send is not applied. */
static void
conn_abandon_parked(struct conn *c)
{
	struct call	*call;

	while ((call = TAILQ_FIRST(&c->parked)) != NULL)
		call_free(call);
	event_del(c->ev_closed);
}

bool
conn_multiplexed(const struct conn *c)
{
	return c->multiplex;
}

static bool
call_id_equal(const struct map_entry *e, const char *key, size_t len)
{
	const struct call	*call = MAP_ELEM(e, struct call, id_entry);

	return call->id_key_len == len && memcmp(call->id_key, key, len) == 0;
}

/* An id as a map key: compact JSON (ids are scalars).  Owned by caller. */
static char *
conn_id_key(const json_t *id, size_t *len)
{
	char	*key;

	key = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
	if (key == NULL)
		fatal("out of memory");
	*len = strlen(key);
	return key;
}

/*
 * Hold call's id (not null) in c->ids until its reply is written, unless
 * another unwritten call holds it.  Returns 0, or -1 when one does.
 */
static int
conn_hold_id(struct conn *c, struct call *call, const json_t *id)
{
	char	*key;
	size_t	 len;

	key = conn_id_key(id, &len);
	if (map_find_str(&c->ids, key, len) != NULL) {
		free(key);
		return -1;
	}
	call->id_key = key;
	call->id_key_len = len;
	map_insert_str(&c->ids, &call->id_entry, key, len);
	return 0;
}

void
conn_multiplex(struct conn *c)
{
	struct call	*call;

	if (c->multiplex)
		return;
	/* Serial until now: nothing parked, no stream (conn_may_progress). */
	assert(c->nparked == 0 && c->stream == NULL);
	c->multiplex = true;
	map_init_str(&c->ids, call_id_equal);
	/*
	 * Pipelined before the hello, their replies unwritten still: a later
	 * request may not reuse their ids (4.7).  Serial requests could
	 * repeat an id or have none; such calls are simply not held.
	 */
	TAILQ_FOREACH(call, &c->calls, entry) {
		if (call_id(call) != NULL && !json_is_null(call_id(call)))
			(void)conn_hold_id(c, call, call_id(call));
		if (call_answered(call))
			call_ready(call);
	}
}

/*
 * Multiplexed: the call's id must be there and unique among the calls not
 * yet written, since it is all that matches a reply to its request.
 * Returns 0, or -1 after answering bad_request.
 */
static int
conn_claim_id(struct conn *c, struct call *call)
{
	json_t	*id = call_id(call);
	char	*key;
	size_t	 len;

	if (id == NULL || json_is_null(id)) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'id' is required "
		    "on a multiplexed connection");
		return -1;
	}
	if (conn_hold_id(c, call, id) == -1) {
		key = conn_id_key(id, &len);
		call_error(call, ERRCODE_BAD_REQUEST, "field 'id': %.64s is "
		    "already pending on this connection", key);
		free(key);
		return -1;
	}
	return 0;
}

bool
conn_abort(struct conn *c, const json_t *ref)
{
	struct call	*call;
	char		*key;
	size_t		 len;

	if (!c->multiplex)
		return false;
	key = conn_id_key(ref, &len);
	call = MAP_ELEM(map_find_str(&c->ids, key, len), struct call,
	    id_entry);
	free(key);
	if (call == NULL || call->waiter == NULL)
		return false;
	/* Parked: it has taken nothing; its callback answers "canceled". */
	waiter_wake(call->waiter, NULL, WAKE_ABORTED, NULL);
	return true;
}

bool
conn_authenticated(const struct conn *c)
{
	return c->authenticated;
}

bool
conn_needs_token(const struct conn *c)
{
	return c->needs_token;
}

struct lease_list *
conn_leases(struct conn *c)
{
	return &c->leases;
}

const char *
conn_consumer(const struct conn *c)
{
	return c->consumer;
}

void
conn_set_consumer(struct conn *c, const char *name)
{
	free(c->consumer);
	if ((c->consumer = strdup(name)) == NULL)
		fatal("out of memory");
}

/*
 * A receiver that is gone must not take a value.  While a call is parked
 * the connection keeps reading, so a peer going away shows as EOF or an
 * error -- unless its input is at the read watermark and reading is
 * suspended: then watch the socket for the FIN directly (ev_closed).
 */
static void
conn_watch_closed(struct conn *c)
{
	if (c->nparked > 0 && evbuffer_get_length(
	    bufferevent_get_input(c->bev)) >= CONN_READ_HIGH)
		event_add(c->ev_closed, NULL);
}

/* May this connection run another request now? */
static bool
conn_may_progress(const struct conn *c)
{
	const struct config	*cfg = c->server->cfg;

	/*
	 * Serial: nothing parked.  Multiplexed: parked calls are bounded by
	 * max_pending (dispatch), the replies not yet written by
	 * max_pipeline.
	 */
	if (!c->multiplex && c->nparked > 0)
		return false;
	return c->stream == NULL && !c->closing &&
	    c->ncalls - c->nparked < cfg->max_pipeline &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) <
	    cfg->max_conn_buffer;
}

/* Move bytes from the socket buffer into the frame reader.  Returns them. */
static size_t
conn_feed(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec	 vec[8];
	size_t			 total = 0, took;
	int			 n, i;

	/*
	 * A bounded bite: the reader then holds one chunk of pipelined
	 * requests, not everything the peer sent, and its buffer stays small
	 * (it grows past this only for a frame that long).
	 */
	n = evbuffer_peek(in, CONN_FEED_BYTES, NULL, vec, 8);
	for (i = 0; i < n && i < 8; i++) {
		took = frame_reader_feed(&c->reader, vec[i].iov_base,
		    vec[i].iov_len);
		total += took;
		if (took < vec[i].iov_len)
			break;
	}
	evbuffer_drain(in, total);
	return total;
}

static void
conn_run_line(struct conn *c, const char *line, size_t len)
{
	struct proto_error	 err;
	struct call		*call;

	call = call_new(c);
	if (request_parse(&call->req, line, len, &err) == -1) {
		call_fail(call, &err);
		return;
	}
	if (c->multiplex && conn_claim_id(c, call) == -1)
		return;
	(void)dispatch(call);
}

static void
conn_process(struct conn *c)
{
	const char	*line;
	size_t		 len;
	bool		 drained = false;	/* every whole line was run */

	while (conn_may_progress(c)) {
		switch (frame_reader_next(&c->reader, &line, &len)) {
		case FRAME_NONE:
			if (conn_feed(c) == 0) {
				drained = true;
				goto out;
			}
			continue;
		case FRAME_TOO_LARGE:
			call_error(call_new(c), ERRCODE_FRAME_TOO_LARGE,
			    "frame longer than %s (%zu bytes)",
			    c->authenticated ? "max_frame" :
			    "the limit before auth", c->reader.max_frame);
			continue;
		case FRAME_LINE:
			if (len == 0)
				continue;	/* blank line: ignored */
			conn_run_line(c, line, len);
			continue;
		}
	}
out:
	if (c->eof && c->multiplex && c->nparked > 0)
		/*
		 * The peer sent its last byte and waits for nothing more:
		 * every blocked request is abandoned (what it would have sent
		 * is not applied); the requests still to run do run, and the
		 * replies due are written.
		 */
		conn_abandon_parked(c);
	if (c->eof && c->nparked > 0) {
		/*
		 * The same on a serial connection, where the requests behind
		 * the blocked one are dropped.
		 */
		conn_abandon_parked(c);
		c->closing = true;
		evbuffer_drain(bufferevent_get_input(c->bev), -1);
		frame_reader_fini(&c->reader);
		frame_reader_init(&c->reader, c->server->cfg->max_frame);
	}
	/*
	 * Lines may wait behind a stream or a full output: the connection
	 * closes once they have run (a partial last line is dropped).
	 */
	if (c->eof && c->nparked == 0 && drained)
		c->closing = true;
	if (c->closing && TAILQ_EMPTY(&c->calls) &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		conn_close(c, c->eof ? "peer closed" : "closed by server");
		return;
	}
	conn_update_read(c);
	conn_watch_closed(c);
	conn_stream_kick(c);
}

/*
 * Read from the socket only while requests can make progress -- and while
 * one is parked, so that a peer going away (EOF, reset) is seen at once.
 * What a parked connection sends meanwhile waits in its input buffer,
 * which the read watermark bounds; past that, ev_closed still sees a FIN.
 */
static void
conn_update_read(struct conn *c)
{
	bool	 want;

	want = !c->eof && !c->closing && (conn_may_progress(c) ||
	    c->nparked > 0);
	if (c->ev_read == NULL) {
		if (want)
			bufferevent_enable(c->bev, EV_READ);
		else
			bufferevent_disable(c->bev, EV_READ);
	} else if (want && evbuffer_get_length(bufferevent_get_input(c->bev)) <
	    CONN_READ_HIGH)
		event_add(c->ev_read, NULL);
	else
		event_del(c->ev_read);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	conn_process(arg);
}

static void	conn_event_cb(struct bufferevent *bev, short what, void *arg);

/*
 * A socket is read here, not by the bufferevent (which carries only the
 * output): libevent's reader asks the kernel how much is waiting
 * (FIONREAD) before every read, one system call more per request under
 * request/response load.  The read is bounded by the input watermark as
 * the bufferevent's would be.
 */
static void
conn_socket_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn		*c = arg;
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec	 vec[2];
	struct iovec		 iov[2];
	size_t			 want, len = evbuffer_get_length(in), left;
	ssize_t			 n;
	int			 nv, i;

	if (len >= CONN_READ_HIGH) {
		conn_update_read(c);
		return;
	}
	want = CONN_READ_HIGH - len;
	if (want > CONN_READ_BYTES)
		want = CONN_READ_BYTES;
	/* The socket bufferevent keeps the input's end frozen but to itself. */
	evbuffer_unfreeze(in, 0);
	if ((nv = evbuffer_reserve_space(in, (ev_ssize_t)want, vec, 2)) <= 0)
		fatal("out of memory");
	for (i = 0; i < nv; i++) {
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = vec[i].iov_len;
	}
	do
		n = readv(fd, iov, nv);
	while (n == -1 && errno == EINTR);
	if (n <= 0) {
		evbuffer_commit_space(in, vec, 0);
		evbuffer_freeze(in, 0);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_event_cb(c->bev, BEV_EVENT_READING | (n == 0 ?
		    BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
		return;
	}
	left = (size_t)n;
	for (i = 0; i < nv; i++) {
		if (vec[i].iov_len > left)
			vec[i].iov_len = left;
		left -= vec[i].iov_len;
	}
	evbuffer_commit_space(in, vec, nv);
	evbuffer_freeze(in, 0);
	conn_process(c);
}

/* The bufferevent wrote what conn_write_now left it (down to the mark). */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->ev_read != NULL &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
	conn_process(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	char		 why[256];

	if (what & BEV_EVENT_CONNECTED) {
		/* The TLS handshake is done: the auth timer goes on alone. */
		c->handshaking = false;
		if (c->authenticated && c->ev_auth != NULL)
			event_del(c->ev_auth);
		log_debug("conn %llu: TLS handshake done (%s)",
		    (unsigned long long)c->id,
		    SSL_get_version(bufferevent_openssl_get_ssl(bev)));
		return;
	}
	if ((what & BEV_EVENT_ERROR) && c->tls) {
		tls_bev_error(bev, why, sizeof(why));
		log_debug("conn %llu (%s): TLS: %s", (unsigned long long)c->id,
		    c->peer, why);
		conn_close(c, c->handshaking ? "TLS handshake failed" :
		    "TLS error");
		return;
	}
	if (what & BEV_EVENT_EOF) {
		c->eof = true;
		conn_process(c);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_close(c, (what & BEV_EVENT_ERROR) ? "socket error" :
		    "timeout");
}

static void
conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_process(arg);
}

/*
 * The peer shut down its side while we were parked: that is an EOF (the
 * replies already due still go out if the socket takes them).
 */
static void
conn_closed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	c->eof = true;
	conn_process(c);
}

void
conn_notice_close(struct conn *c, enum errcode code, const char *message)
{
	if (c->closing)
		return;
	conn_abandon_parked(c);
	/* A call without a request: its reply has "id": null. */
	call_error(call_new(c), code, "%s", message);
	conn_close_after_flush(c);
}

static void
conn_auth_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	if (c->handshaking) {
		/*
		 * No notice: it could only go out through the handshake
		 * that stalls, and the slot must be freed now.
		 */
		conn_close(c, "TLS handshake not done in time");
		return;
	}
	if (c->authenticated)
		return;
	log_debug("conn %llu: not authenticated in time",
	    (unsigned long long)c->id);
	conn_notice_close(c, ERRCODE_UNAUTHORIZED,
	    "not authenticated in time; closing");
}

void
conn_authenticate(struct conn *c)
{
	if (c->authenticated)
		return;
	c->authenticated = true;
	c->server->nunauth--;
	if (c->ev_auth != NULL && !c->handshaking)
		event_del(c->ev_auth);
	frame_reader_raise_max(&c->reader, c->server->cfg->max_frame);
}

bool
conn_end_token_session(struct conn *c)
{
	if (!c->needs_token || !c->authenticated || c->closing)
		return false;
	log_info("conn %llu (%s): the token changed; closing",
	    (unsigned long long)c->id, c->peer);
	conn_notice_close(c, ERRCODE_UNAUTHORIZED,
	    "the token changed; closing");
	return true;
}

/*
 * The part of conn_new() and conn_new_bev() after the bufferevent exists:
 * bev (taken) carries the bytes; fd is its socket, or -1 when there is
 * none, in which case the peer's end of input arrives only as the
 * bufferevent's EOF event.  tls: bev is a TLS bufferevent on fd, which
 * then does all the reading and writing (fd is watched only for a FIN).
 */
static struct conn *
conn_setup(struct server *s, struct bufferevent *bev, int fd, bool tls,
    const char *peer, bool trusted)
{
	const struct config	*cfg = s->cfg;
	struct conn		*c;
	struct timeval		 tv;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		fatal("out of memory");
	c->server = s;
	c->id = ++s->conns_total;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	TAILQ_INIT(&c->calls);
	TAILQ_INIT(&c->parked);
	TAILQ_INIT(&c->ready);
	TAILQ_INIT(&c->leases);
	c->needs_token = !trusted;
	c->authenticated = trusted;
	frame_reader_init(&c->reader, trusted ? cfg->max_frame :
	    CONN_PREAUTH_FRAME < cfg->max_frame ? CONN_PREAUTH_FRAME :
	    cfg->max_frame);
	c->bev = bev;
	c->tls = tls;
	c->handshaking = tls;
	if (fd >= 0 && !tls) {
		c->ev_read = event_new(s->base, fd, EV_READ | EV_PERSIST,
		    conn_socket_read_cb, c);
		if (c->ev_read == NULL)
			fatal("out of memory");
	}
	c->ev_resume = event_new(s->base, -1, 0, conn_resume_cb, c);
	c->ev_stream = evtimer_new(s->base, conn_stream_cb, c);
	/* Without a socket there is nothing to watch: a plain event. */
	c->ev_closed = event_new(s->base, fd, fd >= 0 ? EV_CLOSED : 0,
	    conn_closed_cb, c);
	if (c->bev == NULL || c->ev_resume == NULL || c->ev_closed == NULL ||
	    c->ev_stream == NULL)
		fatal("out of memory");
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_READ_HIGH);
	bufferevent_setwatermark(c->bev, EV_WRITE, cfg->max_conn_buffer / 2,
	    0);
	if (!c->authenticated)
		s->nunauth++;
	/*
	 * auth-timeout bounds the handshake too, even of a connection that
	 * needs no auth: a peer that stalls it must not keep a slot.
	 */
	if (!c->authenticated || c->handshaking) {
		c->ev_auth = evtimer_new(s->base, conn_auth_timeout_cb, c);
		if (c->ev_auth == NULL)
			fatal("out of memory");
		tv = units_ms_timeval(cfg->auth_timeout_ms);
		evtimer_add(c->ev_auth, &tv);
	}
	TAILQ_INSERT_TAIL(&s->conns, c, entry);
	s->nconns++;
	/*
	 * With a socket, the bufferevent only writes, and only what
	 * conn_write_now leaves it: reads are conn_socket_read_cb's.
	 */
	if (c->ev_read != NULL)
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	conn_update_read(c);
	log_debug("conn %llu: open from %s", (unsigned long long)c->id,
	    c->peer);
	return c;
}

struct conn *
conn_new(struct server *s, int fd, const struct conn_peer *peer)
{
	struct bufferevent	*bev;

	if (peer->tls)
		bev = tls_bev_new(s->base, s->tls_ctx, fd);
	else
		bev = bufferevent_socket_new(s->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	return conn_setup(s, bev, fd, peer->tls, peer->desc, peer->trusted);
}

struct conn *
conn_new_bev(struct server *s, struct bufferevent *bev, const char *peer)
{
	return conn_setup(s, bev, -1, false, peer, s->token == NULL);
}

void
conn_close_after_flush(struct conn *c)
{
	c->closing = true;
	/* Output watermark 0: the write callback fires once all is out. */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	conn_update_read(c);
	conn_want_write(c);
	event_active(c->ev_resume, EV_WRITE, 0);
}

/*
 * Closing a socket with unread bytes sends a reset, which can destroy the
 * replies just written before the peer reads them: read what the peer
 * already sent (a bounded amount) and drop it first.
 */
static void
conn_discard_input(struct conn *c)
{
	char		 buf[16384];
	evutil_socket_t	 fd = bufferevent_getfd(c->bev);
	int		 i;

	if (fd < 0)
		return;
	for (i = 0; i < 64; i++) {
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
	}
}

void
conn_close(struct conn *c, const char *reason)
{
	struct server	*s = c->server;
	struct call	*call;

	log_debug("conn %llu: close: %s", (unsigned long long)c->id, reason);
	while ((call = TAILQ_FIRST(&c->calls)) != NULL)
		call_free(call);
	map_fini(&c->ids);
	/* At-least-once: what this client did not ack goes back. */
	chan_lease_return_all(&c->leases);
	/* Its attempts run on, on their leases. */
	if (c->worker != NULL)
		worker_bind(c->worker, NULL);
	if (c->held)
		TAILQ_REMOVE(&s->held, c, held_entry);
	if (c->want_write)
		TAILQ_REMOVE(&s->writing, c, write_entry);
	TAILQ_REMOVE(&s->conns, c, entry);
	s->nconns--;
	if (!c->authenticated)
		s->nunauth--;
	if (c->ev_read != NULL)
		event_free(c->ev_read);
	event_free(c->ev_resume);
	event_free(c->ev_stream);
	event_free(c->ev_closed);
	if (c->ev_auth != NULL)
		event_free(c->ev_auth);
	conn_discard_input(c);
	/*
	 * A connection without a socket (conn_new_bev: one end of a
	 * bufferevent pair) tells the other end it is closed, as a socket's
	 * peer sees a FIN: freeing one end of a pair does not.  Not once jqd
	 * stops or steps down: the loop may not turn again to deliver it
	 * (the deferred callback would keep the other end for good), and
	 * the other end's owner (the dashboard) ends its calls itself.
	 */
	if (bufferevent_getfd(c->bev) == -1 && !s->stopping &&
	    s->exit_status == 0)
		bufferevent_flush(c->bev, EV_WRITE, BEV_FINISHED);
	bufferevent_free(c->bev);
	frame_reader_fini(&c->reader);
	free(c->consumer);
	free(c);
}
