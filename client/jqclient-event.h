/*
 * jqclient-event: libjqclient from a libevent loop (libjqclient-event,
 * pkg-config libjqclient-event), the way hiredis's adapters put a client
 * on a loop: nothing blocks, every reply comes to a callback.
 *
 * A struct jqc_event is one multiplexed connection (PROTOCOL.md 4.7) on a
 * struct event_base: jqc_event_connect() starts the connect and writes
 * "auth" (with a token) and "hello" {"multiplex": true} at once;
 * jqc_event_call() writes a request and returns; its callback runs from
 * the loop when the reply comes, in any order; jqc_event_abort() calls
 * off a blocked request (9.5), whose callback then gets "canceled" or,
 * had it completed, its real result (a value received is never dropped).
 * Calls may be made right after jqc_event_connect(): they are buffered
 * and go out behind auth and hello.
 *
 * A separate library, not part of libjqclient, so that programs using the
 * blocking library (or another loop) do not link libevent.  It uses
 * libjqclient for addresses and error codes, libevent and jansson; all of
 * it runs on the loop's thread (one struct jqc_event per loop thread,
 * like any bufferevent).
 *
 * Addresses: as jqc_connect() takes them ("unix:PATH", a path, "HOST:PORT",
 * "HOST", a list tried in turn until one accepts), TLS excepted
 * (JQC_E_INVAL: use the blocking library, or a bufferevent_openssl of your
 * own).  A host name is resolved through dns (an evdns_base of the
 * caller's) or, when dns is NULL, with a blocking getaddrinfo(): give an
 * evdns_base, or an IP address, when the loop must never block.
 *
 * What it does not do: reconnect (a lost connection is reported to the
 * status callback; make a new struct jqc_event when you choose, with a
 * timer for the backoff), typed calls (requests and replies are jansson
 * objects: the ops and their members are PROTOCOL.md's), values as text
 * (jqc_request_set_text).
 */
#ifndef JQ_JQCLIENT_EVENT_H
#define JQ_JQCLIENT_EVENT_H

#include <stdint.h>

#include "jqclient.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct evdns_base;
struct json_t;
struct jqc_event;

/*
 * The connection's status: code JQC_OK once the server has answered
 * hello multiplexed (hello is its reply, borrowed for the call), then at
 * most once more with a failure: the connect, auth or hello failed (the
 * server's code: JQC_E_UNAUTHORIZED for a refused token, JQC_E_LIMIT for
 * max_connections; JQC_E_IO when no address accepted), or the connection
 * was lost or refused with a notice (PROTOCOL.md 13 item 2).  After a
 * failure every pending call has had its callback with
 * JQC_E_OUTCOME_UNKNOWN, nothing more will be read or written, and
 * jqc_event_close() (allowed inside this callback) is all that is left.
 */
typedef void	 jqc_event_status_cb(struct jqc_event *ev, enum jqc_err code,
		    const char *message, const struct json_t *hello,
		    void *arg);
/*
 * A call's reply: reply (borrowed for the callback: json_incref() it to
 * keep it) is the server's, ok or error (jqc_reply_ok()).  For a "watch"
 * the callback runs for each frame (an ok line with "event") and then
 * for the reply.  reply NULL: no reply will come, code says why
 * (JQC_E_OUTCOME_UNKNOWN: the connection was lost or closed after the
 * request was written, it may or may not have been applied).
 */
typedef void	 jqc_event_reply_cb(struct jqc_event *ev, int64_t id,
		    const struct json_t *reply, enum jqc_err code,
		    const char *message, void *arg);

/* Bytes of requests written and not yet sent past which a call fails
   with JQC_E_LIMIT (the server is not reading). */
#define JQC_EVENT_OUTPUT_MAX	(16 * 1024 * 1024)

/*
 * Start connecting to addr (NULL: jqc_default_addr()) on base; token
 * (NULL: none) is sent with "auth" first.  status_cb(arg) runs from the
 * loop as above.  Returns the connection, or NULL with a message in
 * errbuf (an address that does not parse or is TLS, out of memory): then
 * status_cb never runs.
 */
struct jqc_event *jqc_event_connect(struct event_base *base,
		    struct evdns_base *dns, const char *addr,
		    const char *token, jqc_event_status_cb *status_cb,
		    void *arg, char *errbuf, size_t errlen);
/*
 * Write request (a JSON object with "op"; borrowed, not modified; its "id"
 * replaced by the connection's) and return.  cb(arg) runs from the loop
 * with its reply -- never from inside this call.  *id (may be NULL)
 * receives the request's id, for jqc_event_abort().  Returns 0, or -1
 * with nothing written: JQC_E_INVAL (no "op"), JQC_E_LIMIT (output over
 * JQC_EVENT_OUTPUT_MAX), JQC_E_FRAME_TOO_LARGE (a line over
 * JQC_MUX_FRAME_MAX), JQC_E_IO (the connection failed already),
 * JQC_E_NOMEM -- the code returned through *code (may be NULL).  A
 * reply with a null id while several calls are pending (which one it
 * answers is unknown) fails the connection, JQC_E_PROTO.
 */
int		 jqc_event_call(struct jqc_event *ev, struct json_t *request,
		    jqc_event_reply_cb *cb, void *arg, int64_t *id,
		    enum jqc_err *code);
/*
 * Send "abort" for call id (still pending: else -1, JQC_E_INVAL).  The
 * call's own callback still runs with its reply: "canceled" if the
 * abort caught it blocked, else its result.  The abort's reply is read
 * and dropped here.  0, or -1 as jqc_event_call().
 */
int		 jqc_event_abort(struct jqc_event *ev, int64_t id,
		    enum jqc_err *code);
/* Calls written and not yet answered (auth and hello not counted). */
size_t		 jqc_event_pending(const struct jqc_event *ev);
/*
 * Close the connection and free ev.  Every pending call's callback runs
 * first, with JQC_E_OUTCOME_UNKNOWN (those callbacks must not call
 * jqc_event_call() on ev).  Allowed from any callback of ev.  NULL is
 * allowed.
 */
void		 jqc_event_close(struct jqc_event *ev);

#ifdef __cplusplus
}
#endif

#endif
