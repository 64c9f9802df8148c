/*
 * jqclient: a small blocking C client for jqd.
 *
 * A struct jqc is one connection to the daemon.  The wire protocol is one
 * JSON object per line each way (proto/PROTOCOL.md); the library numbers
 * every request with an integer "id" of its own and matches replies to
 * requests by that id.  Replies come back in request order, so a caller may
 * pipeline: send several requests, then read their replies one by one.  A
 * request that blocks on the server (recv on an empty channel, select, ...)
 * holds back the replies behind it; for concurrent blocking operations open
 * more connections.
 *
 * The library never prints, never exits and never touches signal handling
 * (writes use MSG_NOSIGNAL); out of memory is an ordinary error.  It uses
 * jansson for JSON and nothing else beyond libc.
 *
 * Return conventions, one for the whole library:
 *   - functions returning int return 0 on success and -1 on failure;
 *   - after a failure, jqc_error(c) says why;
 *   - jqc_call() and the send/read pair succeed whenever a reply arrived,
 *     whether that reply is ok or an error reply: inspect it with
 *     jqc_reply_ok() and friends;
 *   - typed calls (jqc_auth(), and the per-op calls to come) succeed only on
 *     an ok reply.  When they fail because the server answered with an
 *     error, jqc_error_code(c) gives the protocol error code and
 *     jqc_last_reply(c) the whole reply; when the failure was local or on
 *     the wire, jqc_error_code(c) is NULL.
 * An I/O or protocol failure (connection lost, reply not JSON, reply id out
 * of order) leaves the connection broken: every later call fails with the
 * same message, and the only thing left to do is jqc_close().
 *
 * A struct jqc is not thread-safe; use one per thread.
 */
#ifndef JQ_JQCLIENT_H
#define JQ_JQCLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Address used when the caller has none (the daemon's default listener). */
#define JQC_DEFAULT_ADDR	"127.0.0.1:7411"

/*
 * Longest reply line accepted, in bytes.  Replies may exceed the server's
 * max_frame (a "chans" listing, a job's output), so this cap is only a guard
 * against a runaway peer.
 */
#define JQC_REPLY_MAX		(64 * 1024 * 1024)

struct jqc;

/*
 * Check the syntax of an address without touching the network:
 *   "HOST:PORT"      TCP; HOST is a name or an IPv4 address, IPv6 goes in
 *                    brackets ("[::1]:7411"); PORT a number or service name
 *   "unix:PATH"      a Unix stream socket
 *   "PATH"           a Unix stream socket, when the address contains a '/'
 * Returns 0, or -1 with a message in errbuf (errbuf may be NULL).
 */
int		 jqc_check_addr(const char *addr, char *errbuf, size_t errlen);

/*
 * Connect to addr (see jqc_check_addr).  TCP addresses are resolved with
 * getaddrinfo() and each result is tried in turn; TCP_NODELAY is set.
 * Blocks until connected or refused.  Returns a new connection the caller
 * releases with jqc_close(), or NULL with a message in errbuf (errbuf may be
 * NULL).
 */
struct jqc	*jqc_connect(const char *addr, char *errbuf, size_t errlen);

/* Close the connection and free everything.  NULL is allowed. */
void		 jqc_close(struct jqc *c);

/*
 * The message of the last failure on c, e.g. "connection closed by server"
 * or "unauthorized: invalid token".  Borrowed: valid until the next call on
 * c.  Empty string when nothing failed yet.
 */
const char	*jqc_error(const struct jqc *c);

/*
 * The protocol error code ("timeout", "not_found", ...) when the last failed
 * typed call failed because of an error reply; NULL otherwise.  Borrowed:
 * valid until the next call on c.
 */
const char	*jqc_error_code(const struct jqc *c);

/*
 * The reply of the last typed call, ok or not; NULL when it got no reply.
 * Borrowed: valid until the next call on c (take a reference with
 * json_incref() to keep it).
 */
json_t		*jqc_last_reply(const struct jqc *c);

/*
 * Send one request and wait for its reply.  request must be a JSON object
 * holding at least "op"; it is borrowed and not modified: what goes on the
 * wire is a copy with "id" set to the connection's next request number (any
 * "id" of the caller's is replaced).  Replies to requests sent earlier with
 * jqc_send_request() and not yet read are read and discarded first.
 *
 * Blocks as long as the server takes to answer (a recv without timeout_ms
 * may wait forever).  Returns 0 with *reply set to a new reference the
 * caller must json_decref() -- an ok reply or an error reply alike -- or -1
 * with *reply NULL on an I/O or protocol failure.
 */
int		 jqc_call(struct jqc *c, json_t *request, json_t **reply);

/*
 * Pipelining, in two halves.  jqc_send_request() writes one request as
 * jqc_call() does, without waiting; *id (may be NULL) receives the number
 * given to it.  jqc_read_reply() waits for the reply to the oldest request
 * not yet answered and returns it as a new reference in *reply.  It fails
 * without breaking the connection when no request is outstanding.
 *
 * A reply whose "id" is null answers the oldest outstanding request: the
 * server sends those when it could not read the request's id (e.g.
 * frame_too_large).  Any other id out of order is a protocol failure.
 *
 * Read as you go: the server stops reading from a peer that does not drain
 * its replies, so a caller that only writes can block forever once both
 * socket buffers are full.
 */
int		 jqc_send_request(struct jqc *c, json_t *request,
		    json_int_t *id);
int		 jqc_read_reply(struct jqc *c, json_t **reply);

/*
 * Wait up to timeout_ms (-1: as long as it takes) for the reply to the
 * oldest outstanding request to arrive in full, so that jqc_read_reply()
 * then returns without blocking: a caller can do other work (poll another
 * connection, redraw a progress bar) while a blocking request is pending.
 * Returns 1 when the reply is there, 0 when the time passed first or a
 * signal interrupted the wait, -1 on failure (no request outstanding, or
 * an I/O failure, which breaks the connection).
 */
int		 jqc_poll_reply(struct jqc *c, int timeout_ms);

/* Requests sent and not yet answered. */
size_t		 jqc_pending(const struct jqc *c);

/*
 * Typed call: {"op":"auth","token":token}, token a non-NULL UTF-8 string.
 * Returns 0 when the server accepted the token; -1 otherwise (the server
 * closes the connection after a refused token, so c is then broken).
 */
int		 jqc_auth(struct jqc *c, const char *token);

/*
 * Reading replies.  All take any reply object (NULL is allowed) and return
 * borrowed strings valid as long as the reply.
 */

/* True when reply is an object with "ok": true. */
bool		 jqc_reply_ok(const json_t *reply);

/*
 * The error code of an error reply, e.g. "timeout"; NULL when reply is ok
 * or not an object.
 * An error reply without a readable code gives "internal".
 */
const char	*jqc_reply_error_code(const json_t *reply);

/* The error message of an error reply; NULL when reply is ok or has none. */
const char	*jqc_reply_error_message(const json_t *reply);

#endif
