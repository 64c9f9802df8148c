/*
 * jqc-private: what the files of libjqclient share and callers never see.
 *
 * jqclient.c owns struct jqc (connection, framing, error state) and gives
 * the typed calls of jqc-session.c, jqc-chan.c, jqc-select.c and jqc-job.c
 * one way to talk to the server: jqc__call().  jqc-mux.c keeps what hello
 * said and runs multiplexed connections on jqclient.c's buffers.
 * jqc-shared.c shares one multiplexed connection between threads.
 * jqc-dial.c connects the socket, jqc-tls.c adds TLS to it; jqc-json.c turns values to and from
 * JSON text and reads reply members; jqc-err.c names the error codes.
 * Names start with "jqc__" so they cannot clash with the public "jqc_"
 * ones.
 *
 * Conventions as in jqclient.h: 0 or -1, and on -1 the error state of c
 * says why.  A typed call zeroes its outputs, starts with jqc__begin(),
 * checks its arguments while it builds its request (jqc__request(),
 * jqc__set()), calls jqc__call() and reads the reply's members; any
 * failure on the way records its code through jqc__fail() (or the helper
 * that failed does), so the typed call just returns -1.
 */
#ifndef JQ_JQC_PRIVATE_H
#define JQ_JQC_PRIVATE_H

#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "jqclient.h"

struct ssl_st;
struct jqc_tls_conf;

/* Longest address of a list, as written: a path or host, port, "tls:[]:". */
#define JQC_ADDR_TEXT_MAX	384

/* A connected transport: a socket, and its TLS session if any. */
struct jqc_link {
	int		 fd;		/* -1: none */
	struct ssl_st	*ssl;		/* NULL: plain; owned */
	char		 addr[JQC_ADDR_TEXT_MAX];	/* of the list, dialled */
};

/*
 * jqc-dial.c: parse addr, an address list (see jqc_check_addr()), and
 * connect a socket to the first of its addresses that accepts (see
 * jqc_connect()), blocking; with tls (not NULL) every address must be
 * TCP and gets a TLS session verified as tls says.  Returns 0 and *link,
 * or -1 with a message in errbuf (may be NULL) naming each address tried
 * and why it failed; link->addr is then the address, as written, that
 * accepted.  jqc__link_close() ends it.
 */
int		 jqc__dial(const char *addr, struct jqc_tls_conf *tls,
		    struct jqc_link *link, char *errbuf, size_t errlen);
void		 jqc__link_close(struct jqc_link *link);
/* jqc-dial.c: is an address of list addr "tls:..."?  (Then jqc_connect()
   makes TLS, for all of them.) */
bool		 jqc__addr_is_tls(const char *addr);
/* jqc-dial.c: vsnprintf into errbuf; nothing when it is NULL or empty. */
void		 jqc__errbuf_set(char *errbuf, size_t errlen, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));
/* jqclient.c: CLOCK_MONOTONIC in milliseconds. */
long long	 jqc__monotonic_ms(void);

/*
 * jqc-tls.c (see its opening comment).  jqc__tls_conf_new: opts copied
 * and their files loaded (NULL: the defaults); NULL with a message in
 * errbuf.  jqc__tls_start: the handshake on connected socket fd (made
 * non-blocking), verified against host (or the conf's server_name), done
 * within timeout_ms (-1: the default, 30 s); peer names it in messages; 0
 * and *ssl, or -1 with a message ("TLS with PEER: certificate verify
 * failed: REASON").  jqc__tls_read: >0 bytes, 0 at the
 * end, -1 with a message, -2 when !wait and nothing is there yet.
 * jqc__tls_write: all of it, 0 or -1 with a message.  jqc__tls_pending:
 * bytes decrypted and not yet read, which poll() cannot see.
 * jqc__tls_close: close_notify if it goes out at once, then free.
 */
struct jqc_tls_conf *jqc__tls_conf_new(const struct jqc_tls *opts,
		    char *errbuf, size_t errlen);
void		 jqc__tls_conf_free(struct jqc_tls_conf *conf);
int		 jqc__tls_start(struct jqc_tls_conf *conf, int fd,
		    const char *host, const char *peer, int timeout_ms,
		    struct ssl_st **ssl, char *errbuf, size_t errlen);
ssize_t		 jqc__tls_read(struct ssl_st *ssl, void *buf, size_t len,
		    bool wait, char *errbuf, size_t errlen);
int		 jqc__tls_write(struct ssl_st *ssl, const void *buf,
		    size_t len, char *errbuf, size_t errlen);
size_t		 jqc__tls_pending(struct ssl_st *ssl);
void		 jqc__tls_close(struct ssl_st *ssl);


/*
 * jqclient.c: the error state.  jqc__fail() records a failure that leaves
 * the connection usable (a broken connection keeps its own error) and
 * returns -1.
 */
int		 jqc__fail(struct jqc *c, enum jqc_err code, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));

/*
 * jqclient.c: a typed call starts: forget the last reply and error code.
 */
void		 jqc__begin(struct jqc *c);

/*
 * jqclient.c: send request (stolen; NULL means building it failed and the
 * failure is recorded already) and wait for its reply.  Returns 0 on an ok
 * reply, *reply (may be NULL) then borrowed from c: valid until the next
 * call on c.  Returns -1 on an error reply (its code recorded, the reply
 * kept for jqc_last_reply()) or a failure.
 */
int		 jqc__call(struct jqc *c, json_t *request,
		    const json_t **reply);

/*
 * jqclient.c: the second half of jqc__call: keep reply r (stolen) as the
 * last reply and succeed only if it is ok (else its code is recorded).
 */
int		 jqc__call_reply(struct jqc *c, json_t *r);

/*
 * jqclient.c: jqc__call() of a request answered by frames, then its
 * reply: cb(frame, arg) for each frame.
 */
int		 jqc__stream(struct jqc *c, json_t *request, jqc_watch_cb *cb,
		    void *arg, const json_t **reply);

/*
 * jqclient.c, for jqc-mux.c.  jqc__break() records a failure that breaks
 * c (as an I/O or protocol failure does), with message msg, and returns
 * -1.
 * jqc__begin_raw() starts a raw call: the error code is reset, the last
 * reply kept.  jqc__mux() is c's multiplexing state (NULL until
 * jqc__mux_attach() gives c one, which c then owns).  jqc__send_id()
 * writes request (borrowed) with "id" id, whatever c's pending requests;
 * jqc__mux_send_id() too, refusing a line over JQC_MUX_FRAME_MAX.
 * jqc__wait_line() waits as jqc_poll_reply() does, whatever is pending,
 * and also returns 2 when only wake_fd (-1: none) became readable.
 * jqc__read_object() reads the next line as a JSON object (new reference
 * in *obj), blocking; anything else breaks c.
 */
int		 jqc__break(struct jqc *c, enum jqc_err code, const char *msg);
/* jqclient.c, for jqc-shared.c: c's socket, to poll() without reading. */
int		 jqc__fd(const struct jqc *c);
/*
 * jqclient.c, for jqc-shared.c: c is shared.  A write the socket would
 * block reads the replies that come meanwhile into c's input buffer
 * instead of waiting (not over TLS); jqc__took_input() says how many
 * bytes were so read since it was last asked (then the thread polling
 * the socket must be told: poll() cannot see them).  Replies are not
 * kept for jqc_reply_text(): they are other threads'.
 */
void		 jqc__set_shared(struct jqc *c);
size_t		 jqc__took_input(struct jqc *c);
/*
 * jqclient.c: is reply r (id null or absent) an unsolicited frame, one
 * that answers no request (PROTOCOL.md 13 item 2)?  Then c is broken
 * with the frame's code (JQC_E_LIMIT, JQC_E_UNAUTHORIZED, ...) and a
 * message saying what the server said, and -1 is returned; else 0 (an
 * id, or a null-id bad_request or frame_too_large, which answers a
 * request whose line the server could not read).
 */
int		 jqc__unsolicited(struct jqc *c, const json_t *r);
void		 jqc__begin_raw(struct jqc *c);
struct jqc_mux	*jqc__mux(const struct jqc *c);
void		 jqc__mux_attach(struct jqc *c, struct jqc_mux *mux);
int		 jqc__send_id(struct jqc *c, json_t *request, int64_t id);
int		 jqc__mux_send_id(struct jqc *c, json_t *request, int64_t id);
int		 jqc__wait_line(struct jqc *c, int timeout_ms, int wake_fd);
int		 jqc__read_object(struct jqc *c, json_t **obj);

/*
 * jqc-mux.c.  jqc__mux_free() releases a connection's multiplexing state
 * (NULL is allowed).  jqc__mux_hello() records what an ok hello reply
 * said (the reply parsed, copied; its features; multiplexed if it says
 * so): 0, or -1 with JQC_E_NOMEM recorded.  jqc__mux_refuse_serial() is
 * -1 with JQC_E_INVAL recorded when a serial request may not be sent now
 * (see jqclient.h; serial_pending: the serial requests unanswered), else
 * 0.
 */
void		 jqc__mux_free(struct jqc_mux *mux);
int		 jqc__mux_hello(struct jqc *c, const json_t *reply,
		    const struct jqc_hello *parsed);
int		 jqc__mux_refuse_serial(struct jqc *c, size_t serial_pending);

/*
 * jqc-json.c: build a request with json_pack() syntax, e.g.
 * jqc__request(c, "{s:s, s:s}", "op", "make", "chan", chan).  Returns a
 * new object, or NULL after recording JQC_E_INVAL (a NULL or non-UTF-8
 * string) or JQC_E_NOMEM.
 */
json_t		*jqc__request(struct jqc *c, const char *fmt, ...);

/*
 * jqc-json.c: set member key of request (stolen, may be NULL: then
 * nothing is done) to value (stolen; NULL means it could not be built:
 * JQC_E_INVAL).  On failure request is released and set to NULL, so a
 * chain of these ends in jqc__call(c, NULL) which just fails.
 */
void		 jqc__set(struct jqc *c, json_t **request, const char *key,
		    json_t *value);

/* jqc__set() of "timeout_ms" unless timeout_ms < 0 (wait forever). */
void		 jqc__set_timeout(struct jqc *c, json_t **request,
		    int64_t timeout_ms);

/* jqc__set() of a UTF-8 string unless s is NULL. */
void		 jqc__set_str(struct jqc *c, json_t **request, const char *key,
		    const char *s);

/*
 * jqc-json.c: a value from its JSON text, a new reference; NULL after
 * recording JQC_E_INVAL (what names the argument in the message).
 */
json_t		*jqc__value_parse(struct jqc *c, const char *text,
		    const char *what);

/*
 * jqc-json.c: a value as compact JSON text, malloc'd for the caller; NULL
 * after recording JQC_E_NOMEM.
 */
char		*jqc__value_text(struct jqc *c, const json_t *value);

/*
 * jqc-json.c: reply members.  Each reads member key of obj into *out and
 * returns 0, or records JQC_E_PROTO naming the member and returns -1.  The
 * _opt forms accept an absent or null member and then store dflt.
 */
int		 jqc__get_int(struct jqc *c, const json_t *obj, const char *key,
		    int64_t *out);
int		 jqc__get_int_opt(struct jqc *c, const json_t *obj,
		    const char *key, int64_t dflt, int64_t *out);
int		 jqc__get_bool_opt(struct jqc *c, const json_t *obj,
		    const char *key, bool *out);
/* A string, copied (malloc'd, NUL-terminated, *len may be NULL). */
int		 jqc__get_str_opt(struct jqc *c, const json_t *obj,
		    const char *key, char **out, size_t *len);
/* A string copied into a buffer of size bytes; too long is JQC_E_PROTO
   unless cut is true (then it is cut to fit). */
int		 jqc__get_str_buf(struct jqc *c, const json_t *obj,
		    const char *key, char *buf, size_t size, bool cut);
/* An array member; *n receives its size. */
int		 jqc__get_array(struct jqc *c, const json_t *obj,
		    const char *key, const json_t **out, size_t *n);

/*
 * jqclient.c: connect c again to its address, dropping the old socket and
 * anything unread (nothing may be pending that the caller still wants),
 * and do what the old connection had done: authenticate with the token
 * jqc_auth last sent (remembered by jqc__remember_token), then, if it had
 * said hello, say it again, multiplexed if it was.  0, or -1 with the
 * error recorded (an error reply to either fails it too); c is usable
 * again on success.
 */
int		 jqc__redial(struct jqc *c);
int		 jqc__remember_token(struct jqc *c, const char *token);

/*
 * jqc-chan.c: a batch's "values" from n JSON texts (n >= 1) into *req, as
 * text (jqc__set_text); on failure *req is released and NULL, the failure
 * recorded (JQC_E_INVAL or JQC_E_NOMEM).
 */
int		 jqc__set_batch(struct jqc *c, json_t **req,
		    const char *const *values_json, size_t n);

/*
 * jqc-text.c: values as text (jqclient.h, "Values as text").
 *
 * jqc__set_text: member key of *obj set to the JSON text (len bytes,
 * checked, minified) as written, for jqc__text_dump; on failure *obj is
 * released and NULL (as jqc__set does), the failure recorded naming what.
 * jqc__text_any: does v hold such a member anywhere?  jqc__text_dump: v
 * written compactly through cb as jansson would, the texts in place.
 */
int		 jqc__set_text(struct jqc *c, json_t **obj, const char *key,
		    const char *text, size_t len, const char *what);
bool		 jqc__text_any(const json_t *v);
typedef int	 jqc__text_cb(const char *data, size_t len, void *arg);
int		 jqc__text_dump(const json_t *v, jqc__text_cb *cb, void *arg);

/*
 * The lines of the last JQC_TEXTS_KEPT replies read on c that carry
 * values ("value" or "values"), each with a reference to its reply (so
 * that no later reply can have its address): one is enough for a call,
 * two leave room for a pipelined pair.  jqc__texts_keep keeps line for
 * reply when it carries values (nothing when out of memory);
 * jqc__texts() is c's (jqclient.c).
 */
#define JQC_TEXTS_KEPT	2
struct jqc_text {
	json_t		*reply;
	char		*line;
	size_t		 len;
};
struct jqc_texts {
	struct jqc_text	 t[JQC_TEXTS_KEPT];
	size_t		 next;
};
void		 jqc__texts_keep(struct jqc_texts *ts, json_t *reply,
		    const char *line, size_t len);
void		 jqc__texts_free(struct jqc_texts *ts);
const struct jqc_texts *jqc__texts(const struct jqc *c);

/* jqc-json.c: strdup() that records JQC_E_NOMEM. */
char		*jqc__strdup(struct jqc *c, const char *s);

#endif
