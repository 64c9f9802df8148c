/*
 * One client connection and its requests ("calls").
 *
 * Requests on a connection start one after another, in order.  A call is
 * answered at once, or parks (a blocking send/recv/select/wait).  On a
 * serial (v1) connection a parked call holds every request behind it until
 * it is woken, and replies leave in request order.  On a multiplexed one
 * (hello {"multiplex": true}) requests keep starting while calls are
 * parked, each reply leaves as soon as it is ready (conn->ready), replies
 * are matched by their ids (unique among the connection's pending calls,
 * conn->ids), and abort (conn_abort) ends a parked call.  Either way, a
 * reply that acknowledges a change waits for the commit that made it
 * durable (call->commit_seq, server->durable_seq).
 *
 * Input is read only while the connection can make progress (not while
 * max_pipeline replies are unwritten, not while max_conn_buffer reply
 * bytes wait for a slow reader; parked calls do not count, max_pending
 * bounds them) or has a call parked, so that a peer going
 * away is seen; what arrives meanwhile stops at the read watermark.  The
 * peer then feels TCP back-pressure and the server's memory stays bounded.
 * Replies are written once a loop turn (conn_write_pending).
 *
 * conn_close() is the one way a connection ends; it abandons the parked
 * calls (a send not yet done is not applied) and logs why.
 */
#ifndef JQD_CONN_H
#define JQD_CONN_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "chan.h"
#include "frame.h"
#include "map.h"
#include "reply.h"
#include "request.h"
#include "strbuf.h"
#include "value.h"

struct bufferevent;
struct event;
struct server;
struct waiter;

/*
 * A reply written in pieces (call_reply_stream).  The producer appends the
 * next piece to out -- about STREAM_PIECE_BYTES, or one item more than
 * that -- and says what follows.
 */
#define STREAM_PIECE_BYTES	(64 * 1024)

enum stream_status {
	STREAM_MORE,		/* a piece was appended: ask again */
	STREAM_DONE,		/* the last piece (ending "\n") was appended */
	STREAM_AGAIN,		/* nothing now (the store is busy): ask later */
	STREAM_FAIL,		/* cannot go on (logged): close the connection */
};
typedef enum stream_status	call_produce_cb(struct strbuf *out,
				    void *state);
typedef void			call_stream_free_cb(void *state);

struct call {
	TAILQ_ENTRY(call)	 entry;
	TAILQ_ENTRY(call)	 park_entry;	/* conn->parked, while parked */
	TAILQ_ENTRY(call)	 ready_entry;	/* conn->ready, while on it */
	bool			 on_ready;
	/* Multiplexed: in conn->ids under its id, compact JSON (owned). */
	struct map_entry	 id_entry;
	char			*id_key;
	size_t			 id_key_len;
	struct conn		*conn;
	struct request		 req;		/* root NULL if unparsed */
	char			*reply;		/* NULL until answered */
	size_t			 reply_len;
	uint64_t		 commit_seq;	/* see server.h */
	uint64_t		 depends;	/* see call_depend() */
	bool			 depends_set;
	/* A send's tie to its value while the insert is not committed. */
	struct value_sender	 sent;
	struct waiter		*waiter;	/* while parked */
	bool			 readonly;	/* the op changes nothing */
	/* A streamed reply (produce != NULL instead of reply). */
	call_produce_cb		*produce;
	call_stream_free_cb	*stream_free;
	void			*stream_state;
	struct strbuf		 piece;		/* produced, not yet written */
	uint64_t		 piece_seq;	/* it waits for this commit */
	bool			 stream_done;	/* piece is the last one */
	bool			 stream_started; /* a piece was written */
	bool			 frame;		/* a call_emit() line */
	uint64_t		 emit_seq;	/* its last frame's commit */
};

/* Who is on the other end, as the listener found out (access.h). */
struct conn_peer {
	char			 desc[160];	/* for the log */
	long			 uid;		/* a Unix peer's; else -1 */
	bool			 trusted;	/* let in without the token */
	bool			 tls;		/* handshake first (tls.h) */
};

/* The longest request before auth: a 4095-byte token, escaped. */
#define CONN_PREAUTH_FRAME	(32 * 1024)

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	TAILQ_ENTRY(conn)	 held_entry;	/* server->held */
	bool			 held;
	TAILQ_ENTRY(conn)	 write_entry;	/* server->writing */
	bool			 want_write;
	struct server		*server;
	struct bufferevent	*bev;
	struct event		*ev_read;	/* socket readable; NULL: none */
	struct frame_reader	 reader;
	TAILQ_HEAD(call_list, call) calls;	/* unwritten, in order */
	size_t			 ncalls;
	uint64_t		 last_seq;	/* commit_seq of the newest reply */
	/* Parked calls, oldest first (serial: at most one, the head). */
	struct call_list	 parked;
	size_t			 nparked;
	uint64_t		 parks;		/* calls ever parked here */
	/* Multiplexed: answered calls not yet written, in answer order. */
	bool			 multiplex;
	struct call_list	 ready;
	struct map		 ids;		/* unwritten calls by id */
	size_t			 frame_bytes;	/* call_emit() lines queued */
	struct call		*stream;	/* a streamed reply not all out */
	struct event		*ev_stream;	/* produce its next piece */
	struct lease_list	 leases;	/* returned when we close */
	char			*consumer;	/* hello's; NULL: unnamed */
	struct worker		*worker;	/* worker_register's; NULL */
	bool			 worker_lost;	/* registered elsewhere */
	struct event		*ev_resume;
	struct event		*ev_closed;	/* peer gone while parked */
	struct event		*ev_auth;	/* closes idle unauthenticated,
					   or stalled in the TLS handshake */
	uint64_t		 id;
	char			 peer[160];
	bool			 authenticated;
	bool			 needs_token;	/* not trusted at accept */
	bool			 tls;		/* bev is a TLS bufferevent */
	bool			 handshaking;	/* TLS handshake not done */
	bool			 eof;		/* peer sent no more */
	bool			 closing;	/* close once replies are out */
};

/*
 * Take over fd (never NULL: out of memory is fatal).  A peer that
 * is not trusted must authenticate within auth_timeout, and until then
 * its requests may be CONN_PREAUTH_FRAME bytes long at most.
 */
struct conn	*conn_new(struct server *s, int fd,
		    const struct conn_peer *peer);
/*
 * Take over bev (freed with the connection), which must be on s->base and
 * have no callbacks yet: a connection without a socket, for the fuzzers
 * (one end of a bufferevent_pair with BEV_OPT_DEFER_CALLBACKS, so that
 * reading and writing go through the loop as on a socket).  Never NULL.
 */
struct conn	*conn_new_bev(struct server *s, struct bufferevent *bev,
		    const char *peer);
/* End the connection now (see above); reason is logged at debug. */
void		 conn_close(struct conn *c, const char *reason);
/* Write what is due and close: used for a last error (limit, auth). */
void		 conn_close_after_flush(struct conn *c);
/*
 * Abandon the parked requests, queue the frame {"id":null,...,code, message}
 * behind the replies due, and close once it is written: a notice that
 * answers no request (PROTOCOL.md 1).
 */
void		 conn_notice_close(struct conn *c, enum errcode code,
		    const char *message);
/* The token was right: serve every op, and frames up to max_frame. */
void		 conn_authenticate(struct conn *c);
/*
 * The token changed: if c authenticated with the old one, end it with a
 * notice.  Returns whether it did.
 */
bool		 conn_end_token_session(struct conn *c);
/* Write every reply whose commit is durable (after a store commit). */
void		 conn_flush(struct conn *c);
/*
 * A commit made more replies durable (server->durable_seq moved on): the
 * connections on server->held flush them and carry on.
 */
void		 conn_release_held(struct server *s);
/*
 * Write what the connections on server->writing have for their sockets
 * (the server's ev_write, once a loop turn).
 */
void		 conn_write_pending(struct server *s);

/* Has every reply of c been handed to its socket? */
bool		 conn_replies_out(const struct conn *c);
/*
 * The call parked on c last (still parked), or NULL.  Borrowed: it lives
 * until it is answered (its waiter's callback runs, or conn_wake_parked)
 * or c closes.
 */
struct call	*conn_parked(const struct conn *c);
/* How many calls have ever parked on c (dispatch_run's check). */
uint64_t	 conn_park_count(const struct conn *c);
/* Calls parked on c now. */
size_t		 conn_nparked(const struct conn *c);
/*
 * End every call parked on c with result (WAKE_SHUTDOWN, say): their
 * waiters' callbacks answer them.
 */
void		 conn_wake_parked(struct conn *c, enum wake_result result);
/* Is c multiplexed? */
bool		 conn_multiplexed(const struct conn *c);
/*
 * Make c multiplexed, from the request being run (hello): the replies
 * already answered and not yet written stay in their order.  For good.
 */
void		 conn_multiplex(struct conn *c);
/*
 * abort: end the call on c whose id is ref, if it is parked, with
 * WAKE_ABORTED (its callback answers "canceled").  Returns whether it did;
 * false when no call has that id, or it is answered already (its reply
 * stands).  Only multiplexed connections keep ids: false on others.
 */
bool		 conn_abort(struct conn *c, const json_t *ref);
/* Has c authenticated (or been trusted at accept)? */
bool		 conn_authenticated(const struct conn *c);
/* Must c send the token (it was not trusted at accept)? */
bool		 conn_needs_token(const struct conn *c);
/* The leases c holds, returned when it closes (chan_recv_opts.owner). */
struct lease_list *conn_leases(struct conn *c);

/*
 * The consumer c's receivers are by default (hello), or NULL: borrowed
 * until the next conn_set_consumer or the close.
 */
const char	*conn_consumer(const struct conn *c);
/* Set it to a copy of name (a valid channel name). */
void		 conn_set_consumer(struct conn *c, const char *name);

/*
 * The worker c is bound to (worker_register), or NULL: borrowed until
 * c closes or is unbound.  conn_set_worker binds c to w, or unbinds it
 * (w NULL; lost: another connection registered the worker).  Closing c
 * leaves its worker disconnected (worker_bind).
 */
struct worker	*conn_worker(const struct conn *c);
bool		 conn_worker_lost(const struct conn *c);
void		 conn_set_worker(struct conn *c, struct worker *w, bool lost);

/* The server a call is served by: the one way to it from a handler. */
struct server	*call_server(const struct call *call);

/* Handlers answer through these (see dispatch.h). */

/*
 * A reply leaves once every change recorded before it is committed (and
 * after the replies before it on its connection).  A handler that knows its
 * reply rests on no change but those up to store sequence seq says so here
 * first: the reply then waits for seq alone.  Only a reply that reveals no
 * uncommitted state may do this (a value handed from sender to receiver).
 */
void		 call_depend(struct call *call, uint64_t seq);
/*
 * Before answering a send "ok": its value's insert is not committed yet.
 * Should the value leave without ever reaching the disk
 * (call_sent_delivered), the ack need not wait for the commit.  The call
 * and v are tied (value.h, struct value_sender) until one of them ends.
 */
void		 call_sent_track(struct call *call, struct value *v);
/*
 * The value v was received before its insert was committed, so nothing
 * of it will ever be on disk: if a send tracked it (call_sent_track), its
 * ack need wait only for sequence after (the receiver's reply) and the
 * replies before it on its connection.  No-op for a value no send waits
 * for.  Safe inside another connection's operation.
 */
void		 call_sent_delivered(struct value *v, uint64_t after);
/*
 * Answer with reply (reference stolen) plus raw members.  Returns the
 * commit sequence the reply was stamped with: it leaves once that is
 * durable (0: at once).  The call may be freed on return.
 */
uint64_t	 call_reply(struct call *call, json_t *reply,
		    const struct reply_raw *raw, size_t nraw);
/* Answer {"ok":true} plus raw members, without a reply object; as above. */
uint64_t	 call_reply_ok(struct call *call, const struct reply_raw *raw,
		    size_t nraw);
/*
 * Answer with a reply produced in pieces, for replies that may be long:
 * produce(piece, state) is called, one piece per loop turn, only while
 * the call is at the head of its connection, what it rests on is
 * committed and the connection's unsent output is below half of
 * max_conn_buffer, so a slow reader holds at most that (plus a piece) and
 * other connections run between pieces.  Each piece is written once the
 * changes recorded before it was produced are committed.  The connection
 * runs no further request until the last piece is out.  The pieces
 * together must be exactly one reply line.  free_cb(state) runs when the
 * call ends (done, or the connection closed).
 */
void		 call_reply_stream(struct call *call, call_produce_cb *produce,
		    call_stream_free_cb *free_cb, void *state);
/*
 * A line of a parked call's answer before its reply (a `watch` frame):
 * frame (reference stolen) is queued behind the replies due and before
 * the call's own reply, in the order emitted.  It leaves once every
 * change recorded before it is committed, or, with !needs_commit (it
 * shows nothing a crash could take back: a running job's output), as
 * soon as the lines before it have left (on a multiplexed connection:
 * the call's frames before it).  With max_unsent > 0, a frame
 * that would take the connection's unwritten output (the socket's buffer
 * and the frames queued) past max_unsent bytes is dropped and -1
 * returned; else 0.
 */
int		 call_emit(struct call *call, json_t *frame, bool needs_commit,
		    size_t max_unsent);
/* Answer {"ok":true}. */
void		 call_ok(struct call *call);
/* Answer an error reply. */
void		 call_error(struct call *call, enum errcode code,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void		 call_fail(struct call *call, const struct proto_error *err);
/*
 * Answer a parked call that abort ended (WAKE_ABORTED): the error
 * "canceled".  It took nothing and changed nothing.
 */
void		 call_canceled(struct call *call);
/* The id to echo, borrowed (NULL if none). */
json_t		*call_id(const struct call *call);

/* Park call on waiter (taking it) for timeout_ms (-1: forever). */
void		 call_park(struct call *call, struct waiter *w,
		    int64_t timeout_ms);
/*
 * From a waiter callback, before answering (an answered call may be
 * written and freed at once): the waiter is gone; let the connection carry
 * on with the requests behind this one (later, from the loop, never from
 * inside the callback).
 */
void		 call_unpark(struct call *call);

#endif
