/*
 * jqclient: a small blocking C client for jqd.
 *
 * A struct jqc is one connection to the daemon.  The wire protocol is one
 * JSON object per line each way (proto/PROTOCOL.md); the library numbers
 * every request with an integer "id" of its own and matches replies to
 * requests by that id.  Replies come back in request order, so a caller may
 * pipeline: send several requests, then read their replies one by one.  A
 * request that blocks on the server (recv on an empty channel, select,
 * wait, ...) holds back the replies behind it; for concurrent blocking
 * operations open more connections, one per thread, or share one
 * multiplexed connection between threads (struct jqc_shared).
 *
 * Two layers, and a mode:
 *   - typed calls, one per op (jqc_ping(), jqc_send(), jqc_recv(),
 *     jqc_submit(), ...): plain C in and out.  Channel values travel as
 *     JSON text ("42", "\"text\"", "{\"a\":1}"), so a caller needs no JSON
 *     library;
 *   - raw calls (jqc_call(), jqc_send_request(), jqc_read_reply()): any
 *     request as a jansson object, for pipelining and for ops or fields
 *     newer than this library.  Only these need <jansson.h>, which this
 *     header does not include: include it first to use them;
 *   - multiplexed connections (protocol 1.1, at the end of this header):
 *     requests with ids of the caller's, replies in any order, "abort",
 *     and jqc_call_cancelable() for a blocking call a signal can end;
 *   - struct jqc_shared (the very end): one multiplexed connection that
 *     any number of threads call at once, cancelable, reconnecting.
 * For a libevent loop, see jqclient-event.h (libjqclient-event).  The
 * guide, with the thread model and what reconnects, is
 * client/c/README.md.
 *
 * The library never prints, never exits and never touches signal handling
 * (writes use MSG_NOSIGNAL); out of memory is an ordinary error.  It uses
 * jansson, OpenSSL (TLS) and POSIX threads (struct jqc_shared's mutex),
 * nothing else beyond libc.
 *
 * Return conventions, one for the whole library:
 *   - functions returning int return 0 on success and -1 on failure
 *     (jqc_poll_reply() says 1, 0 or -1);
 *   - after a failure, jqc_errcode(c) says what kind (enum jqc_err) and
 *     jqc_error(c) says why in words;
 *   - typed calls succeed only on an ok reply.  When the server answered
 *     with an error, jqc_errcode(c) is that error's code (JQC_E_TIMEOUT,
 *     JQC_E_NOT_FOUND, ...), jqc_error_code(c) its name on the wire and
 *     jqc_last_reply(c) the whole reply.  A recv on a closed, drained
 *     channel is not an error: it succeeds with its "closed" flag set;
 *   - the raw calls succeed whenever a reply arrived, ok or error: inspect
 *     it with jqc_reply_ok() and friends.
 * An I/O or protocol failure (connection lost: JQC_E_IO; reply not JSON,
 * reply id out of order: JQC_E_PROTO) leaves the connection broken: every
 * later call fails with the same code and message, and the only thing
 * left to do is jqc_close() (jqc_broken() tells).  So does a notice the
 * server sends before it closes the connection, answering no request
 * (PROTOCOL.md 13 item 2: "limit" when max_connections is reached,
 * "unauthorized" when auth did not come in time): the call that was
 * waiting fails with the notice's code (JQC_E_LIMIT, JQC_E_UNAUTHORIZED;
 * jqc_error_code() its name, jqc_last_reply() the notice) and "CODE:
 * MESSAGE (the server closed the connection)", and c is broken.  Other failures leave it usable.
 *
 * Ownership: strings and arrays a call hands out are the caller's; each
 * says how to free it (free(), or a jqc_*_free() function for structs that
 * hold allocations).  Those functions release what the struct holds, not
 * the struct itself, and accept a struct zeroed by a failed call.  On
 * failure every output is zeroed (NULL, 0, false; details of the error
 * aside: select's index, wait's pending), so cleanup is the same either
 * way.  Strings passed in are borrowed for the duration of the call
 * and must be UTF-8 (else JQC_E_INVAL, nothing sent).
 *
 * Timeouts: every blocking call takes timeout_ms: JQC_FOREVER (any
 * negative value) waits as long as it takes, 0 never waits (Go's
 * "default"), a positive value waits at most that long, counted on the
 * server from when the request starts executing.  The library adds no
 * network deadline of its own.
 *
 * A struct jqc is not thread-safe: use one per thread, or guard one with
 * a mutex.  For many threads on one connection, see struct jqc_shared
 * near the end of this header.
 */
#ifndef JQ_JQCLIENT_H
#define JQ_JQCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* jansson's JSON value; only the raw calls take or return one. */
struct json_t;

/*
 * Default address and token.  A jqd told nothing listens on a Unix socket
 * only: as root on JQC_SYSTEM_SOCKET (the system service's socket too),
 * otherwise on $XDG_RUNTIME_DIR/jqd/jqd.sock, or /tmp/jqd-UID/jqd.sock
 * without XDG_RUNTIME_DIR (jqc_user_socket_path).  A client told nothing
 * connects to that socket if it exists, else to JQC_SYSTEM_SOCKET
 * (jqc_default_addr).  A jqd with a TCP listener and no token-file keeps
 * its token in $XDG_CONFIG_HOME/jqd/token, or ~/.config/jqd/token
 * (jqc_default_token_file), which a client of the same user reads when it
 * connects over TCP without a token of its own.  Each writes into buf and
 * returns 0, or -1 when it does not fit (or, for the token, neither
 * XDG_CONFIG_HOME nor HOME is an absolute path).
 */
#define JQC_SYSTEM_SOCKET	"/run/jqd/jqd.sock"
int		 jqc_user_socket_path(char *buf, size_t len);
/* "unix:PATH", an address for jqc_connect(). */
int		 jqc_default_addr(char *buf, size_t len);
int		 jqc_default_token_file(char *buf, size_t len);

/*
 * Longest reply line accepted, in bytes.  Replies may exceed the server's
 * max_frame (a "chans" listing, a job's output), so this cap is only a guard
 * against a runaway peer.
 */
#define JQC_REPLY_MAX		(64 * 1024 * 1024)

/*
 * Longest request line a multiplexed connection sends (jqc_mux_send(),
 * a struct jqc_shared, a struct jqc_event), in bytes without the newline:
 * the protocol's default max_frame (PROTOCOL.md 2).  hello does not tell
 * a server's max_frame, and the server answers a longer line with a
 * frame_too_large whose id is null, which names no call when several are
 * pending; so a longer request fails with JQC_E_FRAME_TOO_LARGE, nothing
 * sent, the connection intact.  (Serial calls have no such limit: their
 * reply is the next line.)
 */
#define JQC_MUX_FRAME_MAX	1048576

/* timeout_ms of blocking calls: wait as long as it takes. */
#define JQC_FOREVER		(-1)

/* Longest channel or group name, in bytes. */
#define JQC_NAME_MAX		128

struct jqc;

/*
 * Why a call failed.  The first thirteen mirror the protocol's error codes
 * (PROTOCOL.md section 7); a code this library does not know counts as
 * JQC_E_INTERNAL (jqc_error_code() still gives its name).  The rest are
 * local.
 */
enum jqc_err {
	JQC_OK = 0,
	JQC_E_BAD_REQUEST,	/* "bad_request": a field the server refused */
	JQC_E_UNKNOWN_OP,	/* "unknown_op" */
	JQC_E_FRAME_TOO_LARGE,	/* "frame_too_large": request over max_frame */
	JQC_E_UNAUTHORIZED,	/* "unauthorized": auth needed, or refused */
	JQC_E_NOT_FOUND,	/* "not_found": channel, lease or job */
	JQC_E_EXISTS,		/* "exists": make with another cap */
	JQC_E_CLOSED,		/* "closed": send to / close of a closed chan */
	JQC_E_TIMEOUT,		/* "timeout": timeout_ms passed */
	JQC_E_TOO_LARGE,	/* "too_large": a value over max_value */
	JQC_E_LIMIT,		/* "limit": a server limit was reached */
	JQC_E_SHUTTING_DOWN,	/* "shutting_down": the server is stopping */
	JQC_E_CANCELED,		/* "canceled" (1.1): ended by an abort */
	JQC_E_INTERNAL,		/* "internal", or a code unknown here */
	JQC_E_IO,		/* connection failed or lost (broken) */
	JQC_E_PROTO,		/* malformed reply (broken if unreadable) */
	JQC_E_INVAL,		/* bad argument: nothing was sent */
	JQC_E_NOMEM,		/* out of memory */
	JQC_E_OUTCOME_UNKNOWN,	/* jqc_shared_*: the connection was lost
				   after the request was written: it may
				   or may not have been applied */
};

/*
 * The name of a code: the wire name for the protocol's ("timeout"), "ok",
 * "io", "proto", "inval", "nomem", "outcome_unknown" for the others.
 * Static, never NULL.
 */
const char	*jqc_err_name(enum jqc_err code);
/* The code of a wire name ("timeout"); JQC_E_INTERNAL for any other. */
enum jqc_err	 jqc_err_parse(const char *name);

/*
 * Connection
 */

/*
 * Addresses.  An address is one of
 *   "HOST:PORT"      TCP; HOST is a name or an IPv4 address, IPv6 goes in
 *                    brackets ("[::1]:7411"); PORT a number or service name
 *   "HOST", "[ADDR]" TCP to port JQC_DEFAULT_PORT (7411)
 *   "tls:HOST:PORT"  TCP with TLS (see jqc_connect_tls()); PORT may be
 *                    left out as well
 *   "unix:PATH"      a Unix stream socket
 *   "PATH"           a Unix stream socket, when the address contains a '/'
 * and wherever one is taken, a list of them separated by commas is too
 * ("10.0.0.1:7411,10.0.0.2:7411"; white space around each is ignored):
 * the jqd nodes of one database, of which one serves and the others
 * refuse connections (standby), for jqc_connect() to find the one that
 * serves.  A single address is a list of one.  A Unix socket path with a
 * comma in it cannot be written in an address.  TLS is for the whole
 * list: an address written "tls:" turns it on for the others too, so a
 * list never sends the token in the clear to one node and over TLS to
 * another.
 *
 * jqc_check_addr: check the syntax of every address of list addr without
 * touching the network.  Returns 0, or -1 with a message in errbuf
 * (errbuf may be NULL; in a list it names the address's place, "address
 * 2 of 3: ...").
 */
int		 jqc_check_addr(const char *addr, char *errbuf, size_t errlen);
/* The TCP port of an address that names none: jqd's customary port. */
#define JQC_DEFAULT_PORT	"7411"
/* Is every address of addr (valid for jqc_check_addr) a Unix socket's? */
bool		 jqc_addr_is_unix(const char *addr);
/*
 * Address n (0 the first) of list addr, as written, white space around it
 * trimmed, into buf: 0, or -1 when the list has no address n or it does
 * not fit in len bytes.  Syntax is not checked (jqc_check_addr does).
 */
int		 jqc_addr_nth(const char *addr, size_t n, char *buf, size_t len);

/*
 * How long a dial of a list of two addresses or more gives each address,
 * in milliseconds: the TCP (or Unix) connect and the TLS handshake
 * together.  A single address has no such bound: the connect waits as
 * long as the kernel tries and the TLS handshake up to 30 s.
 */
#define JQC_DIAL_TIMEOUT_MS	2000

/*
 * Connect to addr, an address list (see jqc_check_addr).  The addresses
 * are tried one at a time, in the order written but starting with the
 * one that served last in this process (any earlier jqc_connect() or
 * reconnection, from any thread), and the first that accepts and
 * completes the TLS handshake (when TLS is on) is kept.  Any failure of
 * one address moves on to the next: refused (a standby, a node that is
 * down), unresolvable, no answer within JQC_DIAL_TIMEOUT_MS (a host that
 * is gone), a failed handshake (a certificate that does not verify
 * included).  Only the connect and the handshake are bounded: a peer that
 * accepts and then never answers a request is not detected here (a jqd
 * node does not do that: a standby does not listen, a deposed node closes
 * its connections).  TCP addresses are resolved with getaddrinfo() and
 * each result is tried in turn (within the same bound); TCP_NODELAY is
 * set.  Blocks until connected or every address failed.  Returns a new
 * connection the caller releases with jqc_close(), or NULL with a message
 * in errbuf (errbuf may be NULL): for a list, "cannot connect to any of
 * the N addresses: " and each address's failure in the order tried,
 * separated by "; ".  A reconnection (jqc_send_keyed's retry) dials the
 * whole list again the same way.
 */
struct jqc	*jqc_connect(const char *addr, char *errbuf, size_t errlen);

/*
 * TLS.  "tls:HOST:PORT" is TCP with TLS, verified with the defaults below;
 * jqc_connect_tls() takes the options (and makes any TCP address TLS).
 * The server's certificate is verified unless insecure_skip_verify: its
 * chain against ca_file, or the system's CA store when ca_file is NULL,
 * and its names (subjectAltName) against server_name, else the address's
 * HOST: an IP address must be an IP entry, a name a DNS one (a name is
 * also sent as SNI).  TLS 1.2 at least.  A jqd with tls-ca wants a client
 * certificate: cert_file (PEM chain) and key_file (PEM; NULL: in
 * cert_file).  The options are copied and their files read at connect; a
 * reconnection (jqc_send_keyed's retry) makes a new TLS session with them.
 * A verification failure reads "TLS with HOST:PORT: certificate verify
 * failed: REASON" (OpenSSL's reason), a JQC_E_IO failure like any other
 * connection failure.  TLS carries the protocol unchanged: a jqd's token
 * is still needed.
 */
struct jqc_tls {
	const char	*ca_file;
	const char	*cert_file;
	const char	*key_file;
	const char	*server_name;
	/*
	 * DANGEROUS: accept any certificate for any name, so that anyone
	 * on the path can read and change the traffic and learn the token.
	 * For tests against a server whose certificate cannot be had.
	 */
	bool		 insecure_skip_verify;
};
/*
 * jqc_connect() with TLS options (NULL: the defaults; then TLS is on only
 * when an address of the list is written "tls:").  A Unix socket address
 * with TLS on is refused, before anything is dialled.
 */
struct jqc	*jqc_connect_tls(const char *addr, const struct jqc_tls *tls,
		    char *errbuf, size_t errlen);

/*
 * The address of c's list that accepted its connection (the last
 * reconnection's), as written in the list.  Borrowed from c: valid until
 * the next reconnection or jqc_close().
 */
const char	*jqc_connected_addr(const struct jqc *c);

/*
 * Close the connection and free everything.  NULL is allowed.  (To close a
 * channel, see jqc_chan_close().)
 */
void		 jqc_close(struct jqc *c);

/*
 * Errors
 */

/* JQC_OK when the last call on c succeeded, else why it failed. */
enum jqc_err	 jqc_errcode(const struct jqc *c);

/* Is c broken (see the conventions above): nothing more can be sent? */
bool		 jqc_broken(const struct jqc *c);

/*
 * The message of the last failure on c, e.g. "connection closed by server"
 * or "timeout: timed out after 0 ms: channel 'c' is empty".  Borrowed:
 * valid until the next call on c.  Empty string when nothing failed yet.
 */
const char	*jqc_error(const struct jqc *c);

/*
 * The protocol error code as on the wire ("timeout", "not_found", ...) when
 * the last failed typed call failed because of an error reply; NULL
 * otherwise.  Borrowed: valid until the next call on c.
 */
const char	*jqc_error_code(const struct jqc *c);

/*
 * The reply of the last typed call, ok or not, or the notice that broke
 * c (see the conventions above); NULL when it got no reply.
 * Borrowed: valid until the next call on c (take a reference with
 * json_incref() to keep it).
 */
struct json_t	*jqc_last_reply(const struct jqc *c);

/*
 * Raw calls (include <jansson.h> first)
 */

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
int		 jqc_call(struct jqc *c, struct json_t *request,
		    struct json_t **reply);

/*
 * jqc_call() of a "send" carrying a "key" (JQC_E_INVAL without one), with
 * the retry after a lost connection that jqc_send_keyed() describes.
 */
int		 jqc_call_keyed(struct jqc *c, struct json_t *request,
		    struct json_t **reply);

/*
 * Pipelining, in two halves.  jqc_send_request() writes one request as
 * jqc_call() does, without waiting; *id (may be NULL) receives the number
 * given to it.  jqc_read_reply() waits for the reply to the oldest request
 * not yet answered and returns it as a new reference in *reply.  It fails
 * without breaking the connection when no request is outstanding.
 *
 * A reply whose "id" is null and whose code is bad_request or
 * frame_too_large answers the oldest outstanding request: the server
 * sends those when it could not read the request's id.  Any other line
 * with a null id is a notice answering no request, which breaks c (see
 * the conventions at the top); any other id out of order is a protocol
 * failure.
 *
 * Read as you go: the server stops reading from a peer that does not drain
 * its replies, so a caller that only writes can block forever once both
 * socket buffers are full.
 */
int		 jqc_send_request(struct jqc *c, struct json_t *request,
		    int64_t *id);
int		 jqc_read_reply(struct jqc *c, struct json_t **reply);
/*
 * The next line answering the oldest outstanding request, which may send
 * frames before its reply (a "watch", PROTOCOL.md 11.15): a frame (an ok
 * line with an "event" member; the request stays outstanding) returns 1,
 * the reply 0 (as jqc_read_reply()), a failure -1.  *line is a new
 * reference.
 */
int		 jqc_read_frame(struct jqc *c, struct json_t **line);

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
 * Reading raw replies.  All take any reply object (NULL is allowed) and
 * return borrowed strings valid as long as the reply.
 */

/* True when reply is an object with "ok": true. */
bool		 jqc_reply_ok(const struct json_t *reply);

/*
 * The error code of an error reply, e.g. "timeout"; NULL when reply is ok
 * or not an object.
 * An error reply without a readable code gives "internal".
 */
const char	*jqc_reply_error_code(const struct json_t *reply);

/* The error message of an error reply; NULL when reply is ok or has none. */
const char	*jqc_reply_error_message(const struct json_t *reply);

/*
 * Is reply, read on a connection whose requests all carry ids, a notice
 * that answers no request (PROTOCOL.md 13 item 2)?  True for a line
 * whose "id" is null or absent, unless it is a bad_request or
 * frame_too_large error: those answer a request whose line the server
 * could not read (the oldest, on a serial connection).  The server
 * closes the connection after a notice ("limit" when max_connections is
 * reached, "unauthorized" when auth did not come in time).
 */
bool		 jqc_reply_is_notice(const struct json_t *reply);

/*
 * Values as text.  jansson holds a JSON real as a double and writes it
 * with 17 digits: a value built with jansson and sent as 19.99 goes out as
 * 19.989999999999998, 1e2 as 100.0.  A jqd of protocol 1.3 (feature
 * "value_text") keeps a value's text as sent (PROTOCOL.md 2); these keep
 * it on the client's side too.  The typed calls use them: jqc_send() sends
 * the text it is given, jqc_recv() returns the text the server wrote.
 *
 * jqc_request_set_text: set member key of obj -- a raw call's request, or
 * an object inside one (a select case) -- to the JSON value text (len
 * bytes), which goes on the wire as written, minified (whitespace outside
 * strings removed).  The text must be one JSON value (else JQC_E_INVAL,
 * naming jansson's reason; nothing changes); key is letters, digits and
 * '_'.  The text is held in obj as a string under a member of its own,
 * JQC_TEXT_MEMBER (an object of key -> text, which the request writers
 * put in key's place); a member key obj held is removed.  c may be NULL
 * (then a failure records nothing); this is not a call (nothing is sent,
 * c's last error stays unless this fails).  0 or -1.
 */
#define JQC_TEXT_MEMBER		"\001text"
int		 jqc_request_set_text(struct jqc *c, struct json_t *obj,
		    const char *key, const char *text, size_t len);

/*
 * The line that carried reply as the server wrote it (without its "\n";
 * *len its length, len may be NULL), when reply carries channel values
 * ("value" or "values") and is one of the last two such replies read on
 * c; else NULL.  The library keeps those two lines (and a reference to
 * each reply) until more replies with values arrive or c is closed.
 * Borrowed: valid as long as it is kept.
 */
const char	*jqc_reply_text(const struct jqc *c, const struct json_t *reply,
		    size_t *len);

/*
 * The text of value key of reply (index JQC_MEMBER), or of element index
 * of member key when that is an array ("values"): as the server wrote it
 * when jqc_reply_text() has the line (minified), else as jansson writes
 * the value.  A string from malloc() the caller frees; NULL when there is
 * no such value, or out of memory (JQC_E_NOMEM recorded).
 */
#define JQC_MEMBER		((size_t)-1)
char		*jqc_reply_value_text(struct jqc *c,
		    const struct json_t *reply, const char *key, size_t index);

/*
 * Typed calls.  Each sends one request, waits for its reply and returns 0
 * on an ok reply, -1 otherwise (see the conventions above).  Those that
 * may block say so; the others answer at once.  Pending pipelined replies
 * are read and discarded first, as by jqc_call().
 */

/*
 * Session (PROTOCOL.md section 9)
 */

struct jqc_hello {
	char		 server[32];	/* "jqd" */
	char		 version[32];	/* jqd's release (cut to fit) */
	int64_t		 protocol;	/* 1 */
	bool		 auth_required;	/* the server has a token */
	unsigned	 features;	/* JQC_FEATURE_* it advertises */
	/* Since protocol 1.1; a 1.0 server sends none of them. */
	int64_t		 minor;		/* 1 for 1.1; 0: a 1.0 server */
	int64_t		 time_ms;	/* the server's clock when it answered,
					   unix ms; -1: not sent */
	char		 build[64];	/* version + source commit, for display
					   (cut to fit); "": not sent */
	bool		 multiplex;	/* c is multiplexed (jqc_hello_mux()) */
};

/*
 * Features of protocol 1.1 a server may list in hello (PROTOCOL.md 9.1),
 * those this library knows; jqc_has_feature() asks for any by name.
 */
#define JQC_FEATURE_CONSUMER	0x1	/* "consumer": named consumers */
#define JQC_FEATURE_TOUCH	0x2	/* "touch" */
#define JQC_FEATURE_NACK_DELAY	0x4	/* "nack_delay": nack's delay_ms */
#define JQC_FEATURE_MULTIPLEX	0x8	/* "multiplex": jqc_hello_mux() */
#define JQC_FEATURE_ABORT	0x10	/* "abort": jqc_mux_abort() */

/*
 * "hello": who the server is.  Served before auth.  c remembers the
 * reply (jqc_last_hello()) and the features listed (jqc_has_feature()).
 * Say it once per connection and ask c after: a reconnection of a keyed
 * send (jqc_send_keyed()) says it again by itself.
 */
int		 jqc_hello(struct jqc *c, struct jqc_hello *out);

/*
 * What the last successful hello on c returned (jqc_hello(),
 * jqc_hello_mux(), or the one a reconnection repeated), or NULL before
 * any.  Borrowed from c: valid until the next hello on c, a reconnection
 * or jqc_close().
 */
const struct jqc_hello *jqc_last_hello(const struct jqc *c);

/*
 * Does the server list feature (a 1.1 feature string: "multiplex",
 * "abort", ...) in the "features" of the last successful hello on c?
 * False before any hello, and for every feature of a 1.0 server.
 */
bool		 jqc_has_feature(const struct jqc *c, const char *feature);

/*
 * "auth" with token (a UTF-8 string).  Fails with JQC_E_UNAUTHORIZED when
 * the server refused the token; the server then closes the connection, so
 * the next call on c fails with JQC_E_IO.
 */
int		 jqc_auth(struct jqc *c, const char *token);

/*
 * "ping": the server answers, and everything recorded before it is
 * durable (PROTOCOL.md 9.3).
 */
int		 jqc_ping(struct jqc *c);

/* "stats": the main server-wide figures (PROTOCOL.md 9.4). */
struct jqc_stats {
	int64_t		 uptime_ms;
	int64_t		 connections;		/* open now */
	int64_t		 connections_total;	/* accepted since start */
	int64_t		 channels;
	int64_t		 buffered_values;	/* buffered or leased */
	int64_t		 buffered_bytes;
	int64_t		 waiting;		/* blocked requests */
	int64_t		 jobs_queued;
	int64_t		 jobs_running;
	int64_t		 jobs_succeeded;
	int64_t		 jobs_failed;
	int64_t		 jobs_deadline_exceeded;
	int64_t		 jobs_canceled;
	int64_t		 workers_busy;
	int64_t		 workers_total;
};

/*
 * Fills *out.  json may be NULL; else *json receives every figure (the
 * reply without "id" and "ok": store, op counters, figures of later
 * versions) as compact JSON text, which the caller frees with free().
 */
int		 jqc_stats(struct jqc *c, struct jqc_stats *out, char **json);

/*
 * Channels (PROTOCOL.md section 10).  Names are 1-128 bytes of
 * [A-Za-z0-9._:-]; the server checks them (JQC_E_BAD_REQUEST).
 */

/*
 * "make": create channel chan with capacity cap (0: unbuffered).  *created
 * (may be NULL) says whether it was created (false: it existed with that
 * cap).  JQC_E_EXISTS: it exists with another cap.
 */
int		 jqc_make(struct jqc *c, const char *chan, uint32_t cap,
		    bool *created);

/* What jqc_make_with() asks for (zero it first: later fields may come). */
struct jqc_make_opts {
	uint32_t	 cap;
	/*
	 * 0: no limit.  Else a leased value returned (nack, expiry, its
	 * connection closing) after this many deliveries goes to
	 * dead_letter (an existing buffered channel, not chan), wrapped in
	 * an envelope, or without dead_letter (NULL) is deleted (PROTOCOL.md
	 * 6.7).  Protocol 1.1: an older server ignores both.
	 */
	uint32_t	 max_deliveries;
	const char	*dead_letter;
};

/*
 * "make" with the options of o, as jqc_make().  JQC_E_EXISTS: it exists
 * with other settings; JQC_E_NOT_FOUND: dead_letter does not exist.
 */
int		 jqc_make_with(struct jqc *c, const char *chan,
		    const struct jqc_make_opts *o, bool *created);

/*
 * "send": send one value, given as JSON text (any JSON value: "42",
 * "null", "{\"a\":[1,2]}"; text that is not JSON is JQC_E_INVAL), which
 * goes on the wire as written, minified ("19.99" stays 19.99).  May
 * block: a buffered channel until there is room, an unbuffered one until a
 * receiver took the value.  Errors include JQC_E_TIMEOUT, JQC_E_CLOSED,
 * JQC_E_NOT_FOUND, JQC_E_TOO_LARGE, JQC_E_LIMIT.
 */
int		 jqc_send(struct jqc *c, const char *chan,
		    const char *value_json, int64_t timeout_ms);

/* jqc_send() of the string s (UTF-8) as a JSON string. */
int		 jqc_send_string(struct jqc *c, const char *chan,
		    const char *s, int64_t timeout_ms);

/*
 * "send" with "values": n values (n >= 1, JSON texts) as one all-or-nothing
 * batch, buffered channels only, at most cap of them.  May block until
 * there is room for all.
 */
int		 jqc_send_batch(struct jqc *c, const char *chan,
		    const char *const *values_json, size_t n,
		    int64_t timeout_ms);

/*
 * Keyed sends (PROTOCOL.md 6.6): "send" with "key" (1-256 bytes, the same
 * for every attempt of one logical send; jqc_new_key() makes one).  A key
 * the channel has seen within its dedup window is acknowledged without
 * storing anything again: the call succeeds with *duplicate (may be NULL)
 * true.  When the connection is lost before the reply came, and no other
 * request was pending on c, the library dials its address (list) again,
 * authenticates with the token jqc_auth() last sent, says hello again if
 * c had (multiplexed if c was: jqc_last_hello() and jqc_has_feature()
 * then describe the new connection), and sends the same request again
 * (for about 10 s, with growing waits); the first attempt, if it landed,
 * makes the repeat a duplicate.  So JQC_E_IO is returned only when the
 * server stayed out of reach.  Otherwise as jqc_send() and
 * jqc_send_batch(); JQC_E_EXISTS: another send with this key is still
 * blocked on the server.
 */
int		 jqc_send_keyed(struct jqc *c, const char *chan,
		    const char *value_json, const char *key,
		    int64_t timeout_ms, bool *duplicate);
int		 jqc_send_batch_keyed(struct jqc *c, const char *chan,
		    const char *const *values_json, size_t n, const char *key,
		    int64_t timeout_ms, bool *duplicate);

/* A new random key (32 hex digits) for a keyed send; free() it.  NULL:
   out of memory. */
char		*jqc_new_key(void);

/*
 * "recv": receive one value.  May block until there is one.  On success
 * either *value_json is the value as the server wrote it (minified JSON
 * text; the sender's own with "value_text", PROTOCOL.md 2), which the caller
 * frees with free(), and *closed is false; or the channel is closed and
 * drained: *value_json is NULL and *closed true (Go's ok == false).  A JSON
 * null value is the text "null".  closed may be NULL.
 *
 * The value leaves the channel when the recv executes (at most once,
 * PROTOCOL.md 6.2); use jqc_recv_lease() for at-least-once delivery.
 */
int		 jqc_recv(struct jqc *c, const char *chan, int64_t timeout_ms,
		    char **value_json, bool *closed);

/* A value received with a lease.  Release with jqc_lease_free(). */
struct jqc_lease {
	char		*lease;		/* opaque, for jqc_ack()/jqc_nack() */
	char		*value_json;	/* the server's JSON text */
	int64_t		 redelivered;	/* times it came back before; 0 first */
	bool		 closed;	/* closed, drained: the two are NULL */
};

/*
 * "recv" with "lease_ms": receive one value and reserve it for lease_ms
 * (>= 1; buffered channels only).  It stays in its channel until acked;
 * not acked within lease_ms, nacked, or this connection closing returns it
 * to the front of the channel.  May block like jqc_recv().
 */
int		 jqc_recv_lease(struct jqc *c, const char *chan,
		    int64_t lease_ms, int64_t timeout_ms,
		    struct jqc_lease *out);
/*
 * The same for the named consumer (a valid channel name; NULL: none, as
 * jqc_recv_lease): the lease then belongs to it, not to this connection,
 * and lasts until acked, nacked or expired, across reconnections and
 * server restarts (PROTOCOL.md 6.3.1).  Only for a server that lists
 * JQC_FEATURE_CONSUMER: an older one ignores the name.
 */
int		 jqc_recv_lease_consumer(struct jqc *c, const char *chan,
		    const char *consumer, int64_t lease_ms, int64_t timeout_ms,
		    struct jqc_lease *out);

/* Free what *l holds (not l itself) and zero it. */
void		 jqc_lease_free(struct jqc_lease *l);

/*
 * "ack": remove a leased value for good; "nack": return it to the front of
 * the channel at once.  chan is the channel it came from; lease the string
 * as received.  Any connection may ack.  JQC_E_NOT_FOUND: the lease is no
 * longer live (acked, returned, expired).
 */
int		 jqc_ack(struct jqc *c, const char *chan, const char *lease);
int		 jqc_nack(struct jqc *c, const char *chan, const char *lease);
/*
 * "nack" with "delay_ms" (>= 0, JQC_FEATURE_NACK_DELAY): the value goes
 * back to the front of the channel only delay_ms from now; meanwhile no
 * receiver gets it and it can no longer be acked.
 */
int		 jqc_nack_delay(struct jqc *c, const char *chan,
		    const char *lease, int64_t delay_ms);
/*
 * "touch" (JQC_FEATURE_TOUCH): the lease now ends lease_ms (>= 1) from
 * now; *deadline_ms (unless NULL) is that moment on the server's clock
 * (ms since the epoch).  JQC_E_NOT_FOUND as jqc_ack().
 */
int		 jqc_touch(struct jqc *c, const char *chan, const char *lease,
		    int64_t lease_ms, int64_t *deadline_ms);
/*
 * jqc_nack() with a reason (UTF-8, at most 1024 bytes; NULL: none) kept
 * with the value and shown in its dead-letter envelope.  Protocol 1.1.
 */
int		 jqc_nack_reason(struct jqc *c, const char *chan,
		    const char *lease, const char *reason);

/* Values of jqc_recv_many().  Release with jqc_values_free(). */
struct jqc_values {
	char		**values;	/* n JSON texts, the server's */
	char		**leases;	/* n leases; NULL without lease */
	int64_t		 *redelivered;	/* n counts; NULL without lease */
	size_t		  n;
	bool		  closed;	/* closed and drained: n is 0 */
};

/*
 * "recv" with "max": receive 1 to max values (max >= 1), waiting for the
 * first only.  lease_ms > 0 leases each of them as jqc_recv_lease() does;
 * 0 takes them for good.  May block like jqc_recv().
 */
int		 jqc_recv_many(struct jqc *c, const char *chan, uint32_t max,
		    int64_t lease_ms, int64_t timeout_ms,
		    struct jqc_values *out);
/* The same, the leases for the named consumer (jqc_recv_lease_consumer). */
int		 jqc_recv_many_consumer(struct jqc *c, const char *chan,
		    const char *consumer, uint32_t max, int64_t lease_ms,
		    int64_t timeout_ms, struct jqc_values *out);

/* Free what *v holds (not v itself) and zero it. */
void		 jqc_values_free(struct jqc_values *v);

/*
 * "close": no more sends; buffered values still drain.  JQC_E_CLOSED: it
 * was closed already.
 */
int		 jqc_chan_close(struct jqc *c, const char *chan);

/*
 * "drop": delete the channel and its values; requests blocked on it fail
 * with JQC_E_NOT_FOUND.
 */
int		 jqc_chan_drop(struct jqc *c, const char *chan);

/* A channel's figures (PROTOCOL.md 10.8). */
struct jqc_chan_stat {
	char		 chan[JQC_NAME_MAX + 1];
	uint32_t	 cap;
	bool		 closed;
	int64_t		 len;			/* buffered, not leased */
	int64_t		 leased;
	int64_t		 senders_waiting;
	int64_t		 receivers_waiting;
	int64_t		 sent;			/* values, since start */
	int64_t		 received;
	/* Protocol 1.1 (PROTOCOL.md 6.7); 0 and "" when not set. */
	uint32_t	 max_deliveries;
	char		 dead_letter[JQC_NAME_MAX + 1];
	int64_t		 dead_lettered;		/* values, since start */
};

/* "stat": one channel's figures. */
int		 jqc_stat(struct jqc *c, const char *chan,
		    struct jqc_chan_stat *out);

/*
 * "chans": the figures of every channel whose name starts with prefix
 * (NULL or "": all), sorted by name.  *out is an array of *n entries
 * (NULL when none) that the caller frees with free().
 */
int		 jqc_chans(struct jqc *c, const char *prefix,
		    struct jqc_chan_stat **out, size_t *n);

/* One case of jqc_select(). */
enum jqc_case_kind {
	JQC_CASE_RECV,
	JQC_CASE_SEND,
};

struct jqc_select_case {
	enum jqc_case_kind	 kind;
	const char		*chan;
	const char		*value_json;	/* send cases: JSON text */
};

/* Outcome of jqc_select().  Release with jqc_select_result_free(). */
struct jqc_select_result {
	int		 index;		/* the case done; -1: none */
	char		*value_json;	/* recv case: the value, else NULL */
	bool		 closed;	/* recv case: closed and drained */
};

/*
 * "select": Go's select over ncases cases (1 to the server's
 * max_select_cases, 64 by default), numbered from 0.  When several are
 * ready one is chosen at random; otherwise blocks until one can proceed.
 * timeout_ms 0 is Go's "default" case (JQC_E_TIMEOUT if none is ready).
 * Recv cases are plain receives (no lease).
 *
 * On failure out->index is the case the error is about when the server
 * said (JQC_E_CLOSED: the chosen send case's channel is closed;
 * JQC_E_NOT_FOUND: the case's channel does not exist or was dropped;
 * JQC_E_LIMIT), else -1.
 */
int		 jqc_select(struct jqc *c, const struct jqc_select_case *cases,
		    size_t ncases, int64_t timeout_ms,
		    struct jqc_select_result *out);

/* Free what *r holds (not r itself); index becomes -1. */
void		 jqc_select_result_free(struct jqc_select_result *r);

/*
 * Jobs (PROTOCOL.md section 11)
 */

enum jqc_job_state {
	JQC_JOB_UNKNOWN = 0,	/* in results: a state of a later protocol
				   version; in a jqc_jobs_query: any */
	JQC_JOB_QUEUED,
	JQC_JOB_RUNNING,
	JQC_JOB_SUCCEEDED,		/* final states from here on */
	JQC_JOB_FAILED,
	JQC_JOB_DEADLINE_EXCEEDED,
	JQC_JOB_CANCELED,
};

/* "queued", "running", ...; "unknown" for JQC_JOB_UNKNOWN.  Static. */
const char	*jqc_job_state_name(enum jqc_job_state state);

/* True for the four final states. */
bool		 jqc_job_state_final(enum jqc_job_state state);

/*
 * What to submit.  Zero-initialize and set what you need: every zero or
 * NULL member means "not given" (the server's default).
 */
struct jqc_submit_opts {
	const char *const *argv;	/* the command, NULL-terminated;
					   required */
	const char *const *env;		/* "NAME=VALUE" strings added to the
					   job's clean environment,
					   NULL-terminated */
	const char	*cwd;		/* relative: under the job dir */
	const char	*stdin_data;	/* the job's stdin (UTF-8, may hold
					   NUL bytes); NULL: /dev/null */
	size_t		 stdin_len;	/* bytes of stdin_data */
	const char	*name;		/* a label */
	const char	*group;		/* for cancel, wait, group, jobs */
	const char	*key;		/* idempotency key */
	const char	*result_chan;	/* gets the result object when final */
	int64_t		 parent;	/* parent job id */
	int		 priority;	/* -1000000 ... 1000000, higher first */
	int		 retries;	/* 0 ... 1000 */
	int64_t		 timeout_ms;	/* deadline = submission + this */
	int64_t		 deadline_ms;	/* absolute deadline, unix ms */
	int64_t		 run_timeout_ms; /* limit on each attempt's run */
	int64_t		 delay_ms;	/* do not start before */
};

/*
 * "submit": queue a job.  Never blocks on the server.  *job (not NULL)
 * receives its id; *duplicate (may be NULL) is true when a retained job
 * already had opts->key: nothing was created and *job is that job's id
 * (so a submit whose reply was lost can be retried safely with the same
 * key).
 * Errors: JQC_E_BAD_REQUEST (a field, named in the message), JQC_E_NOT_FOUND
 * (parent or result_chan), JQC_E_LIMIT (max_queued_jobs: retry later);
 * JQC_E_INVAL for an env string without '=' or a missing argv.
 */
int		 jqc_submit(struct jqc *c, const struct jqc_submit_opts *opts,
		    int64_t *job, bool *duplicate);

/*
 * A job's result object (PROTOCOL.md 11.2).  Strings are owned by the
 * struct; release with jqc_job_result_free().
 */
struct jqc_job_result {
	int64_t		 job;
	enum jqc_job_state state;
	char		*name;		/* NULL: none */
	char		*group;		/* NULL: none */
	int		 exit_code;	/* 0-255; -1: none (null) */
	int		 signal;	/* killing signal; 0: none */
	char		*error;		/* why jqd ended it; NULL: none */
	char		*stdout_data;	/* NUL-terminated, but may hold NUL
					   bytes: see stdout_len; NULL: not in
					   this reply (jqc_jobs(), or not
					   available yet) */
	size_t		 stdout_len;
	char		*stderr_data;	/* as stdout_data */
	size_t		 stderr_len;
	bool		 stdout_truncated;
	bool		 stderr_truncated;
	bool		 has_progress;	/* the job reported progress: */
	int64_t		 progress_done;
	int64_t		 progress_total; /* -1: not given */
	int64_t		 attempt;	/* 1 for the first run */
	int		 priority;
	int64_t		 parent;	/* 0: none */
	int64_t		 submitted_ms;	/* unix ms, the server's clock */
	int64_t		 started_ms;	/* -1: not started */
	int64_t		 finished_ms;	/* -1: not final */
	int64_t		 deadline_ms;	/* -1: none */
	/* Protocol 1.3; NULL, -1 and 0 from an older server. */
	char		**argv;		/* the command, NULL-terminated */
	int64_t		 not_before_ms;	/* queued: may not start before
					   (delay, retry backoff); -1:
					   none */
	int64_t		 retry_of;	/* the job this one retries; 0:
					   none */
};

/* Free what *r holds (not r itself) and zero it. */
void		 jqc_job_result_free(struct jqc_job_result *r);

/* "job": a job's result so far, with its output.  JQC_E_NOT_FOUND. */
int		 jqc_job(struct jqc *c, int64_t job,
		    struct jqc_job_result *out);

/* Several results.  Release with jqc_job_list_free(). */
struct jqc_job_list {
	struct jqc_job_result	*results;	/* n of them, owned */
	size_t			 n;
	int64_t			 pending;	/* jqc_wait_*() failed with
						   JQC_E_TIMEOUT: the jobs
						   not finished; else 0 */
};

/* Free what *l holds (not l itself) and zero it. */
void		 jqc_job_list_free(struct jqc_job_list *l);

/* Filters of jqc_jobs(); zero members filter nothing. */
struct jqc_jobs_query {
	enum jqc_job_state	 state;		/* JQC_JOB_UNKNOWN: any */
	const char		*group;		/* NULL: any */
	int			 limit;		/* 1 ... 1000; 0: 100 */
	int64_t			 before;	/* only ids below; 0: all */
};

/*
 * "jobs": retained jobs, newest first, without their output (stdout_data
 * and stderr_data are NULL).  q may be NULL.  To page, query again with
 * before = the last id of the previous page; no result is the end.
 */
int		 jqc_jobs(struct jqc *c, const struct jqc_jobs_query *q,
		    struct jqc_job_list *out);

/*
 * "cancel" one job (and its descendants), or every job of a group.
 * *canceled (may be NULL) receives how many queued or running jobs were
 * canceled.  Returns before the processes have exited (use jqc_wait_*()).
 */
int		 jqc_cancel_job(struct jqc *c, int64_t job, int64_t *canceled);
int		 jqc_cancel_group(struct jqc *c, const char *group,
		    int64_t *canceled);

/*
 * "wait": Go's WaitGroup.Wait.  Blocks until the njobs jobs (njobs >= 1),
 * or every job of group, are final, then fills out with their results
 * (with output), ordered by id, each id once.  An unknown group gives no
 * results at once.  JQC_E_TIMEOUT: out->pending jobs were not finished
 * (out has no results).  A wait changes nothing: loop on timeouts freely.
 * Use a connection of its own if others must go on meanwhile.
 */
int		 jqc_wait_jobs(struct jqc *c, const int64_t *jobs,
		    size_t njobs, int64_t timeout_ms, struct jqc_job_list *out);
int		 jqc_wait_group(struct jqc *c, const char *group,
		    int64_t timeout_ms, struct jqc_job_list *out);

/*
 * "watch": frames of a job's (group NULL) or a group's (job 0) state,
 * progress and output until it is final (PROTOCOL.md 11.15).  cb(frame,
 * arg) runs for each frame, in order (frame borrowed for the call).
 * flags: JQC_WATCH_NO_OUTPUT (no output frames; results without output),
 * JQC_WATCH_NO_PROGRESS.  Returns 0 with *reply the last line (a new
 * reference: {"end":true,"results":[...]}), or -1 (an error reply, its
 * code recorded and the reply in jqc_last_reply(); or a failure).  A
 * watch holds the connection until it ends; to stop one early, close
 * the connection.  A server without watch answers JQC_E_UNKNOWN_OP.
 */
#define JQC_WATCH_NO_OUTPUT	0x1
#define JQC_WATCH_NO_PROGRESS	0x2
typedef void	 jqc_watch_cb(const struct json_t *frame, void *arg);
int		 jqc_watch(struct jqc *c, int64_t job, const char *group,
		    unsigned flags, jqc_watch_cb *cb, void *arg,
		    struct json_t **reply);

/* A group's jobs counted by state, and their summed progress. */
struct jqc_group_stat {
	int64_t		 total;
	int64_t		 queued;
	int64_t		 running;
	int64_t		 succeeded;
	int64_t		 failed;
	int64_t		 deadline_exceeded;
	int64_t		 canceled;
	int64_t		 progress_done;
	int64_t		 progress_total;
};

/* "group": counts for a progress bar; an unknown group is all zeros. */
int		 jqc_group(struct jqc *c, const char *group,
		    struct jqc_group_stat *out);

/*
 * Operating a server (protocol 1.3, PROTOCOL.md 10.12, 11.24-11.26).  A
 * server without these answers JQC_E_UNKNOWN_OP (hello lists "peek",
 * "retry", "purge", "pool_control" when it has them).
 */

/*
 * "peek": up to n (1 ... 100; 0: 1) values at the head of chan without
 * taking or leasing them, as compact JSON texts in out->values (leases
 * NULL); *len (may be NULL) receives how many values the channel holds.
 * Release out with jqc_values_free().  JQC_E_NOT_FOUND: no such channel.
 */
int		 jqc_peek(struct jqc *c, const char *chan, uint32_t n,
		    struct jqc_values *out, int64_t *len);

/*
 * "retry": submit job again as a new job with the same command and
 * settings (PROTOCOL.md 11.24); *new_job receives its id.  Only a failed,
 * deadline_exceeded or canceled job: else JQC_E_BAD_REQUEST.
 * JQC_E_NOT_FOUND: no such job, or its result_chan is gone.
 */
int		 jqc_retry(struct jqc *c, int64_t job, int64_t *new_job);

/* Filters of jqc_purge(); zero members filter nothing. */
struct jqc_purge_opts {
	enum jqc_job_state	 state;		/* a final state; UNKNOWN:
						   every final state */
	const char		*group;		/* NULL: any */
	int64_t			 before_ms;	/* finished before, unix ms */
	int64_t			 older_than_ms;	/* finished this long ago, by
						   the server's clock */
};

/*
 * "purge": delete the finished jobs o matches (o NULL: all of them) now;
 * *purged receives how many.  Queued and running jobs are never deleted.
 */
int		 jqc_purge(struct jqc *c, const struct jqc_purge_opts *o,
		    int64_t *purged);

/* A pool as "pool" answers. */
struct jqc_pool_state {
	char		 pool[65];
	bool		 paused;
	int64_t		 queued;
	int64_t		 running;
	int		 workers;	/* pool "local": jqd's own slots;
					   else -1 */
};

/*
 * "pool": pause (pause 1), resume (0) or leave (-1) pool (NULL: "local"),
 * and set jqd's own slots to workers (pool "local" only; -1: leave), then
 * *out the pool as it is.  Neither is stored: a restarted jqd runs every
 * pool with its configured workers.
 */
int		 jqc_pool(struct jqc *c, const char *pool, int pause,
		    int workers, struct jqc_pool_state *out);

/*
 * Multiplexed connections and abort (protocol 1.1, PROTOCOL.md 4.7, 9.5;
 * include <jansson.h> first)
 *
 * On a multiplexed connection a blocked request no longer holds the
 * others: requests carry ids the caller chooses, replies come as they are
 * ready, in any order, and are matched by id; "abort" ends one blocked
 * request.  The serial calls above keep working on such a connection one
 * at a time: each fails with JQC_E_INVAL (nothing sent) while a
 * multiplexed request is unanswered, and jqc_send_request() also while
 * one of its own is (replies could not be told apart by order).
 * Conversely jqc_mux_send() fails while a serial request is unanswered.
 */

/*
 * "hello" with "multiplex": true: fills *out as jqc_hello() does, and c
 * becomes multiplexed when the server agrees (out->multiplex).  A server
 * without the feature ignores the member (PROTOCOL.md 12): out->multiplex
 * is then false and c stays serial.  For good: a connection never goes
 * back to serial.
 */
int		 jqc_hello_mux(struct jqc *c, struct jqc_hello *out);

/*
 * Write request (a JSON object holding "op"; borrowed, not modified) with
 * "id" set to id, without waiting for its reply.  id must differ from the
 * id of every multiplexed request of c not yet answered (JQC_E_INVAL,
 * nothing sent) and must not be JQC_MUX_NOID; c must be multiplexed
 * (JQC_E_INVAL).  A line over JQC_MUX_FRAME_MAX fails with
 * JQC_E_FRAME_TOO_LARGE, nothing sent.  Returns 0 when the request was
 * written.
 */
int		 jqc_mux_send(struct jqc *c, struct json_t *request,
		    int64_t id);

/*
 * "abort" of the request whose id is ref, sent as request id: shorthand
 * for jqc_mux_send() of {"op":"abort","ref":ref}.  Read its reply like any
 * other ({"aborted": true or false}); the reply of ref comes too, either
 * "canceled" or, when ref had completed, its result (a value it received
 * is in that reply: do not drop it).
 */
int		 jqc_mux_abort(struct jqc *c, int64_t id, int64_t ref);

/*
 * Wait up to timeout_ms (-1: as long as it takes) until a whole reply is
 * buffered, so that jqc_mux_read() returns without blocking, or until
 * wake_fd (-1: none) is readable -- a self-pipe written by a signal
 * handler, say; it is not read.  Returns 1 when a reply is there (checked
 * first), 0 when the time passed, wake_fd is readable or a signal
 * interrupted the wait, -1 on failure (no multiplexed request unanswered:
 * JQC_E_INVAL; I/O failure: c broken).
 */
int		 jqc_mux_poll(struct jqc *c, int timeout_ms, int wake_fd);

/* An id no request has: the reply read answers no request known. */
#define JQC_MUX_NOID		INT64_MIN

/*
 * Read the next reply, whichever request it answers, blocking until one
 * arrives.  Returns 0 with *reply a new reference (ok or error reply) and
 * *id the id of the request it answers, which is no longer unanswered; or
 * -1 with *reply NULL (no request unanswered: JQC_E_INVAL; I/O failure,
 * or a reply to an id not unanswered: c broken).
 *
 * A reply whose id is null and whose code is bad_request or
 * frame_too_large answers a request whose id the server could not read:
 * when exactly one request is unanswered it is taken as that request's
 * reply; otherwise *id is JQC_MUX_NOID and nothing is marked answered.
 * Any other null-id line is a notice that answers no request ("limit",
 * "unauthorized" before the server closes the connection): -1, c broken
 * with the notice's code, as at the top of this header.
 */
int		 jqc_mux_read(struct jqc *c, struct json_t **reply,
		    int64_t *id);

/* Multiplexed requests written and not yet answered. */
size_t		 jqc_mux_pending(const struct jqc *c);

/*
 * One blocking request that can be called off, the way a Ctrl-C handler
 * wants it: on a multiplexed connection whose server lists "abort", with
 * no request unanswered, send request (borrowed) and wait for its reply;
 * if wake_fd (-1: none) becomes readable first, send "abort" for it and
 * read on until both replies are in (in whichever order they come).
 * *aborted (may be NULL) says whether an abort was sent.
 *
 * Returns 0 with *reply the request's own reply, a new reference: an
 * error "canceled" when the abort caught it blocked, else its ordinary
 * result -- a value received before the abort arrived is in it, never
 * lost.  Returns -1 with *reply NULL on failure (JQC_E_INVAL: c is not
 * multiplexed, the server does not list "abort", or requests are
 * unanswered; I/O failures break c).  Blocks until the server answers;
 * wake_fd is not read, so after an abort the wait no longer watches it.
 */
int		 jqc_call_cancelable(struct jqc *c, struct json_t *request,
		    int wake_fd, struct json_t **reply, bool *aborted);

/*
 * Sharing a connection between threads (protocol 1.1; include
 * <jansson.h> first)
 *
 * A struct jqc is not thread-safe.  A struct jqc_shared is: one
 * multiplexed connection (PROTOCOL.md 4.7) on which any number of threads
 * make raw calls at once, a blocked recv holding nobody else's ping.  No
 * thread of the library's own: the callers take turns reading (the one
 * reading hands each reply to its caller and the turn to another when its
 * own has come), under one mutex, with a condition variable per call.
 * Writes are serialised by that mutex (a request is written whole); a
 * write the socket cannot take reads the replies that come meanwhile, so
 * that the server, which stops reading a peer that does not read
 * (PROTOCOL.md 4.5), and the writer never wait for each other -- except
 * over TLS, where the write blocks: there keep what is in flight well
 * under the server's max_conn_buffer.
 *
 * Limits: at most the server's max_pending (default 1024) calls may be
 * blocked at once; one more blocking call (send, recv, select, wait) is
 * answered "limit" at once -- the library reports it, it does not queue.
 * "watch" is refused (JQC_E_INVAL): its frames would need a stream; use
 * jqc_watch() on a struct jqc of its own.  Typed calls are for struct
 * jqc: on a shared connection build the request with jansson (the ops and
 * their members are PROTOCOL.md's) and read the reply with
 * jqc_reply_ok() and friends.
 *
 * Failures of a call are returned in its own struct jqc_shared_error
 * (there is no error state in the shared handle).  A call whose request
 * was written and whose connection was lost before its reply fails with
 * JQC_E_OUTCOME_UNKNOWN: it may or may not have been applied.  The next
 * call dials the address list again (auth with the token, hello
 * multiplexed, as jqc_send_keyed() does), having failed the calls still
 * pending on the old one (a write broke it while no thread read); a
 * connection that cannot be made fails that call with JQC_E_IO (nothing
 * sent).  A request over JQC_MUX_FRAME_MAX fails JQC_E_FRAME_TOO_LARGE,
 * nothing sent; a reply with a null id while several calls are pending
 * (a server with a smaller max-frame) fails the connection: every
 * pending call JQC_E_OUTCOME_UNKNOWN.  With
 * JQC_SHARED_IDEMPOTENT, the caller's promise that the request may be
 * applied twice (ping, stat, chans, job, jobs, wait, make with the same
 * cap, ack/nack/touch of a named consumer's lease, a submit with "key",
 * a send with "key": PROTOCOL.md 13 items 5, 15, 21, 23), the library
 * sends it again itself after JQC_E_OUTCOME_UNKNOWN, JQC_E_IO or a
 * "shutting_down" reply, waiting 50 ms doubling up to 2 s (jittered by
 * a generator of s's own, not random()) between attempts, for up to
 * 30 s (jqc_shared_set_retry_ms()); a keyed request retried after a lost
 * attempt and answered "exists" (that attempt, still blocked on the
 * server) is retried likewise (PROTOCOL.md 13 item 23); when
 * they all fail, JQC_E_OUTCOME_UNKNOWN if any was written and lost (it
 * may have been applied), JQC_E_IO only if none was.  A plain
 * send or recv must not carry the flag: a lost reply of a recv may have
 * taken a value (6.2), a plain send may have landed.
 */
struct jqc_shared;
#define JQC_SHARED_MSG_MAX	384
struct jqc_shared_error {
	enum jqc_err	 code;		/* JQC_OK when the call succeeded */
	char		 message[JQC_SHARED_MSG_MAX];
};
#define JQC_SHARED_IDEMPOTENT	0x1
/*
 * Connect to addr (an address list, as jqc_connect_tls(); tls may be
 * NULL), send "auth" with token unless it is NULL, and "hello"
 * multiplexed.  NULL with a message in errbuf when any of it fails or the
 * server cannot multiplex.  Release with jqc_shared_close(), when no call
 * is running on it any more.
 */
struct jqc_shared *jqc_shared_connect(const char *addr,
		    const struct jqc_tls *tls, const char *token, char *errbuf,
		    size_t errlen);
void		 jqc_shared_close(struct jqc_shared *s);
/* How long JQC_SHARED_IDEMPOTENT calls keep trying (0: once). */
void		 jqc_shared_set_retry_ms(struct jqc_shared *s,
		    int64_t retry_ms);
/*
 * Send request (a JSON object with "op"; borrowed, not modified; its "id"
 * is replaced by one of the connection's) and wait for its reply, from
 * any thread.  Returns 0 with *reply a new reference (ok or error reply:
 * jqc_reply_ok()), or -1 with *reply NULL and err (may be NULL) saying
 * why: JQC_E_OUTCOME_UNKNOWN, JQC_E_IO, JQC_E_INVAL (no "op", a watch,
 * nothing sent), JQC_E_NOMEM.
 */
int		 jqc_shared_call(struct jqc_shared *s, struct json_t *request,
		    unsigned flags, struct json_t **reply,
		    struct jqc_shared_error *err);
/*
 * The same, and when wake_fd (-1: none; not read by the library, say a
 * self-pipe or an eventfd of the caller's) becomes readable before the
 * reply, "abort" is sent for the request (PROTOCOL.md 9.5) and the call
 * goes on waiting for its reply: "canceled" when the abort caught it
 * blocked, else its real result -- a value received meanwhile is in it,
 * never lost.  *aborted (may be NULL) says whether an abort was sent.  A
 * call that was aborted is never retried; wake_fd readable while a
 * JQC_SHARED_IDEMPOTENT call waits to try again ends the call at once,
 * with its last attempt's result.
 */
int		 jqc_shared_call_cancelable(struct jqc_shared *s,
		    struct json_t *request, int wake_fd, unsigned flags,
		    struct json_t **reply, bool *aborted,
		    struct jqc_shared_error *err);

#ifdef __cplusplus
}
#endif

#endif
