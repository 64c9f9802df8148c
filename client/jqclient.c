/*
 * jqclient: one blocking connection to jqd (the API is in jqclient.h):
 * framing, raw calls, the error state.  Addresses and connecting the
 * socket are in jqc-dial.c.
 *
 * Requests are numbered 1, 2, 3, ... per connection.  Because the server
 * answers in order, the library does not keep a table of requests: it keeps
 * the last number given out and how many are still unanswered, so the reply
 * expected next is always last_id - pending + 1.
 *
 * Input goes through one growing buffer: bytes are read from the socket,
 * whole lines are cut out of it, and the rest is kept for the next read.  A
 * reply line may be far longer than the server's max_frame, so the buffer
 * grows up to JQC_REPLY_MAX instead of using the daemon's bounded frame
 * reader.  Output is one buffer too, so a request leaves in a single write.
 *
 * The error state lives here too: every failure records a code (enum
 * jqc_err) and a message; an I/O or protocol failure also marks the
 * connection broken, after which nothing more is read or written.  The
 * typed calls (jqc-session.c, jqc-chan.c, jqc-select.c, jqc-job.c) reach
 * the server through jqc__call() at the end of this file.  A multiplexed
 * connection's requests and replies (jqc-mux.c) go through the same
 * buffers by jqc__send_id(), jqc__wait_line() and jqc__read_object(); the
 * serial calls ask jqc__mux_refuse_serial() before they send.
 *
 * The library is self-contained (libc, jansson, OpenSSL, pthreads for
 * jqc-shared.c) so libjqclient can be used without the daemon's proto
 * library.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-private.h"

/* Reads grow the buffer from here; most replies fit in the first read. */
#define JQC_RBUF_INITIAL	(64 * 1024)

struct jqc {
	struct jqc_link	 link;		/* socket, TLS session */
	struct jqc_tls_conf *tls;	/* NULL: plain; owned */
	bool		 broken;	/* I/O or protocol failure */
	char		*addr;		/* to dial again (jqc__redial) */
	char		*token;		/* the last accepted by jqc_auth */
	json_int_t	 last_id;	/* number of the last request sent */
	size_t		 pending;	/* requests sent, not yet answered */

	char		*rbuf;		/* input; owned */
	size_t		 rcap;
	size_t		 rstart;	/* first byte not yet consumed */
	size_t		 rlen;		/* end of the bytes read */
	size_t		 rscanned;	/* bytes after rstart without '\n' */

	char		*wbuf;		/* one serialized request; owned */
	size_t		 wlen;
	size_t		 wcap;
	bool		 wfailed;	/* a dump callback ran out of memory */
	bool		 shared;	/* run by jqc-shared.c: a write that
					   would block reads the input
					   meanwhile; no texts kept */
	size_t		 took_input;	/* bytes so read, not yet told */

	json_t		*last_reply;	/* of the last typed call; owned */
	const char	*err_code;	/* borrowed from last_reply, or NULL */
	enum jqc_err	 errcode;	/* of the last call */
	char		 err[512];

	struct jqc_mux	*mux;		/* hello's features, multiplexed mode
					   (jqc-mux.c); owned, NULL: no
					   hello yet */
	bool		 redial_hello;	/* jqc__redial says hello after auth
					   (c heard one), */
	bool		 redial_mux;	/* multiplexed (that one was) */
	struct jqc_texts texts;		/* lines of replies with values */
};

static void	 set_error(struct jqc *, enum jqc_err, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	 fail_broken(struct jqc *, enum jqc_err, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
vset_error(struct jqc *c, enum jqc_err code, const char *fmt, va_list ap)
{
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	c->err_code = NULL;
	c->errcode = code;
}

/* Record a failure that leaves the connection usable. */
static void
set_error(struct jqc *c, enum jqc_err code, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vset_error(c, code, fmt, ap);
	va_end(ap);
}

/* A call starts: it succeeds unless it records a failure. */
static void
call_begin(struct jqc *c)
{
	if (!c->broken)
		c->errcode = JQC_OK;
}

/*
 * Record a failure after which the byte stream can no longer be trusted
 * (lost connection, half-written request, garbled reply).  Returns -1 for
 * the caller to pass on.
 */
static int
fail_broken(struct jqc *c, enum jqc_err code, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vset_error(c, code, fmt, ap);
	va_end(ap);
	c->broken = true;
	return -1;
}

int
jqc__break(struct jqc *c, enum jqc_err code, const char *msg)
{
	return fail_broken(c, code, "%s", msg);
}

void
jqc__begin_raw(struct jqc *c)
{
	call_begin(c);
}

const struct jqc_texts *
jqc__texts(const struct jqc *c)
{
	return &c->texts;
}

int
jqc__fd(const struct jqc *c)
{
	return c->link.fd;
}

struct jqc_mux *
jqc__mux(const struct jqc *c)
{
	return c->mux;
}

void
jqc__mux_attach(struct jqc *c, struct jqc_mux *mux)
{
	jqc__mux_free(c->mux);
	c->mux = mux;
}

int
jqc__fail(struct jqc *c, enum jqc_err code, const char *fmt, ...)
{
	va_list	ap;

	if (c->broken)
		return -1;	/* keep the reason it broke */
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->err_code = NULL;
	c->errcode = code;
	return -1;
}

struct jqc *
jqc_connect(const char *addr, char *errbuf, size_t errlen)
{
	return jqc_connect_tls(addr, NULL, errbuf, errlen);
}

struct jqc *
jqc_connect_tls(const char *addr, const struct jqc_tls *tls, char *errbuf,
    size_t errlen)
{
	struct jqc	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	if ((c->addr = strdup(addr != NULL ? addr : "")) == NULL) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "out of memory");
		free(c);
		return NULL;
	}
	if ((tls != NULL || jqc__addr_is_tls(c->addr)) &&
	    (c->tls = jqc__tls_conf_new(tls, errbuf, errlen)) == NULL) {
		free(c->addr);
		free(c);
		return NULL;
	}
	if (jqc__dial(c->addr, c->tls, &c->link, errbuf, errlen) == -1) {
		jqc__tls_conf_free(c->tls);
		free(c->addr);
		free(c);
		return NULL;
	}
	return c;
}

int
jqc__remember_token(struct jqc *c, const char *token)
{
	char	*dup;

	if ((dup = strdup(token)) == NULL)
		return jqc__fail(c, JQC_E_NOMEM, "out of memory");
	free(c->token);
	c->token = dup;
	return 0;
}

/* The auth of jqc__redial(), with the token c remembers. */
static int
redial_auth(struct jqc *c)
{
	json_t	*req, *r;
	int	 rc;

	if ((req = json_pack("{s:s, s:s}", "op", "auth", "token",
	    c->token)) == NULL)
		return jqc__fail(c, JQC_E_NOMEM, "out of memory");
	rc = jqc_call(c, req, &r);
	json_decref(req);
	if (rc == 0 && !jqc_reply_ok(r)) {
		set_error(c, JQC_E_UNAUTHORIZED, "reconnecting: the token "
		    "was refused");
		rc = -1;
	}
	json_decref(r);
	return rc;
}

int
jqc__redial(struct jqc *c)
{
	const struct jqc_hello	*last = jqc_last_hello(c);
	struct jqc_hello	 h;
	char			 errbuf[512];
	struct jqc_link		 link;

	/* Kept apart: a reconnection that fails leaves no hello behind. */
	if (last != NULL) {
		c->redial_hello = true;
		c->redial_mux = last->multiplex;
	}
	if (jqc__dial(c->addr, c->tls, &link, errbuf, sizeof(errbuf)) ==
	    -1) {
		set_error(c, JQC_E_IO, "reconnecting: %s", errbuf);
		return -1;
	}
	jqc__link_close(&c->link);
	c->link = link;
	c->broken = false;
	c->pending = 0;
	/* A new connection: serial, and no hello heard on it yet. */
	jqc__mux_attach(c, NULL);
	c->rstart = c->rlen = c->rscanned = 0;
	call_begin(c);
	if (c->token != NULL && redial_auth(c) == -1)
		return -1;
	/* What the caller learnt from hello holds for this connection too. */
	if (!c->redial_hello)
		return 0;
	return c->redial_mux ? jqc_hello_mux(c, &h) : jqc_hello(c, &h);
}

const char *
jqc_connected_addr(const struct jqc *c)
{
	return c->link.addr;
}

void
jqc_close(struct jqc *c)
{
	if (c == NULL)
		return;
	jqc__link_close(&c->link);
	jqc__tls_conf_free(c->tls);
	free(c->addr);
	free(c->token);
	free(c->rbuf);
	free(c->wbuf);
	json_decref(c->last_reply);
	jqc__mux_free(c->mux);
	jqc__texts_free(&c->texts);
	free(c);
}

const char *
jqc_error(const struct jqc *c)
{
	return c->err;
}

enum jqc_err
jqc_errcode(const struct jqc *c)
{
	return c->errcode;
}

bool
jqc_broken(const struct jqc *c)
{
	return c->broken;
}

const char *
jqc_error_code(const struct jqc *c)
{
	return c->err_code;
}

json_t *
jqc_last_reply(const struct jqc *c)
{
	return c->last_reply;
}

size_t
jqc_pending(const struct jqc *c)
{
	return c->pending;
}

/* jansson's dump callback: append to the connection's write buffer. */
static int
wbuf_append_cb(const char *data, size_t len, void *arg)
{
	struct jqc	*c = arg;
	size_t		 ncap;
	char		*nbuf;

	if (len > c->wcap - c->wlen) {
		ncap = c->wcap == 0 ? 1024 : c->wcap;
		while (ncap - c->wlen < len) {
			if (ncap > SIZE_MAX / 2)
				goto oom;
			ncap *= 2;
		}
		if ((nbuf = realloc(c->wbuf, ncap)) == NULL)
			goto oom;
		c->wbuf = nbuf;
		c->wcap = ncap;
	}
	memcpy(c->wbuf + c->wlen, data, len);
	c->wlen += len;
	return 0;
oom:
	c->wfailed = true;
	return -1;
}

/*
 * Serialize request with "id" first, then its other members, then "\n",
 * into c->wbuf.  Leaves the connection untouched on failure.
 */
static int
encode_request(struct jqc *c, json_t *request, json_int_t id)
{
	json_t		*msg, *value;
	const char	*key;
	int		 rc = -1;

	if ((msg = json_object()) == NULL ||
	    json_object_set_new(msg, "id", json_integer(id)) == -1)
		goto out;
	json_object_foreach(request, key, value) {
		if (strcmp(key, "id") != 0 &&
		    json_object_set(msg, key, value) == -1)
			goto out;
	}
	c->wlen = 0;
	c->wfailed = false;
	/* Values given as text go through a walk that keeps them so. */
	if ((jqc__text_any(msg) ? jqc__text_dump(msg, wbuf_append_cb, c) :
	    json_dump_callback(msg, wbuf_append_cb, c, JSON_COMPACT)) == -1 ||
	    wbuf_append_cb("\n", 1, c) == -1)
		goto out;
	rc = 0;
out:
	json_decref(msg);
	if (rc == -1 && (c->wfailed || msg == NULL))
		set_error(c, JQC_E_NOMEM, "out of memory");
	else if (rc == -1)
		set_error(c, JQC_E_INVAL, "cannot encode request");
	return rc;
}

static int	 rbuf_make_room(struct jqc *);
static ssize_t	 read_some(struct jqc *, bool);

/*
 * The socket takes no more of a request: wait until it does, reading the
 * replies that come meanwhile into the input buffer.  The server stops
 * reading a peer that does not read its replies (PROTOCOL.md 4.5), so a
 * writer that only waited could wait for ever while the thread that would
 * read waits for the writer (jqc-shared.c).
 */
static int
read_in_write(struct jqc *c)
{
	struct pollfd	pfd;
	ssize_t		got;

	pfd.fd = c->link.fd;
	pfd.events = POLLIN | POLLOUT;
	pfd.revents = 0;
	if (poll(&pfd, 1, -1) == -1)
		return errno == EINTR ? 0 : fail_broken(c, JQC_E_IO,
		    "poll: %s", strerror(errno));
	if (!(pfd.revents & POLLIN))
		return 0;	/* writable, or an error send() will tell */
	if (rbuf_make_room(c) == -1)
		return -1;
	got = read_some(c, false);
	if (got == -1)
		return errno == EINTR || errno == EAGAIN ||
		    errno == EWOULDBLOCK ? 0 : fail_broken(c, JQC_E_IO,
		    "read from server: %s", strerror(errno));
	if (got == 0)
		return fail_broken(c, JQC_E_IO, "connection closed by server");
	c->rlen += (size_t)got;
	c->took_input += (size_t)got;
	return 0;
}

void
jqc__set_shared(struct jqc *c)
{
	c->shared = true;
}

size_t
jqc__took_input(struct jqc *c)
{
	size_t	n = c->took_input;

	c->took_input = 0;
	return n;
}

static int
write_all(struct jqc *c, const char *data, size_t len)
{
	char	errbuf[300];
	ssize_t	n;

	if (c->link.ssl != NULL) {
		if (jqc__tls_write(c->link.ssl, data, len, errbuf,
		    sizeof(errbuf)) == -1)
			return fail_broken(c, JQC_E_IO, "%s", errbuf);
		return 0;
	}
	while (len > 0) {
		/* MSG_NOSIGNAL: a closed peer is an error, not a SIGPIPE. */
		n = send(c->link.fd, data, len, MSG_NOSIGNAL |
		    (c->shared ? MSG_DONTWAIT : 0));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (c->shared && (errno == EAGAIN ||
			    errno == EWOULDBLOCK)) {
				if (read_in_write(c) == -1)
					return -1;
				continue;
			}
			return fail_broken(c, JQC_E_IO, "write to server: %s",
			    strerror(errno));
		}
		data += n;
		len -= n;
	}
	return 0;
}

int
jqc_send_request(struct jqc *c, json_t *request, int64_t *id)
{
	call_begin(c);
	if (c->broken)
		return -1;
	if (!json_is_object(request)) {
		set_error(c, JQC_E_INVAL, "request must be a JSON object");
		return -1;
	}
	if (jqc__mux_refuse_serial(c, c->pending) == -1)
		return -1;
	if (encode_request(c, request, c->last_id + 1) == -1)
		return -1;
	c->last_id++;
	/* Counted before the write: a failed write breaks c anyway. */
	c->pending++;
	if (id != NULL)
		*id = c->last_id;
	return write_all(c, c->wbuf, c->wlen);
}

static int
send_capped(struct jqc *c, json_t *request, int64_t id, size_t max)
{
	if (c->broken)
		return -1;
	if (!json_is_object(request))
		return jqc__fail(c, JQC_E_INVAL,
		    "request must be a JSON object");
	if (encode_request(c, request, id) == -1)
		return -1;
	if (max > 0 && c->wlen - 1 > max)
		return jqc__fail(c, JQC_E_FRAME_TOO_LARGE, "request of %zu "
		    "bytes, over the %zu a multiplexed connection sends "
		    "(JQC_MUX_FRAME_MAX); nothing sent", c->wlen - 1, max);
	return write_all(c, c->wbuf, c->wlen);
}

int
jqc__send_id(struct jqc *c, json_t *request, int64_t id)
{
	return send_capped(c, request, id, 0);
}

int
jqc__mux_send_id(struct jqc *c, json_t *request, int64_t id)
{
	return send_capped(c, request, id, JQC_MUX_FRAME_MAX);
}

/*
 * Make room for at least one more read: drop consumed bytes, then grow.
 * A line that fills JQC_REPLY_MAX is a protocol failure.
 */
static int
rbuf_make_room(struct jqc *c)
{
	size_t	 used, ncap;
	char	*nbuf;

	if (c->rstart > 0) {
		used = c->rlen - c->rstart;
		memmove(c->rbuf, c->rbuf + c->rstart, used);
		c->rstart = 0;
		c->rlen = used;
	}
	if (c->rlen < c->rcap)
		return 0;
	if (c->rcap >= JQC_REPLY_MAX + 2)
		return fail_broken(c, JQC_E_PROTO,
		    "reply longer than %d bytes", JQC_REPLY_MAX);
	ncap = c->rcap == 0 ? JQC_RBUF_INITIAL : c->rcap * 2;
	if (ncap > JQC_REPLY_MAX + 2)
		ncap = JQC_REPLY_MAX + 2;
	if ((nbuf = realloc(c->rbuf, ncap)) == NULL)
		return fail_broken(c, JQC_E_NOMEM,
		    "out of memory reading a reply");
	c->rbuf = nbuf;
	c->rcap = ncap;
	return 0;
}

/*
 * Read what the server sent into the input buffer (room made already):
 * >0 bytes, 0 at its end, -1 with errno (EAGAIN: nothing yet, when
 * !wait), or -1 with c broken (a TLS failure, which has no errno).
 */
static ssize_t
read_some(struct jqc *c, bool wait)
{
	char	 errbuf[300];
	ssize_t	 got;

	if (c->link.ssl == NULL)
		return recv(c->link.fd, c->rbuf + c->rlen, c->rcap - c->rlen,
		    wait ? 0 : MSG_DONTWAIT);
	got = jqc__tls_read(c->link.ssl, c->rbuf + c->rlen,
	    c->rcap - c->rlen, wait, errbuf, sizeof(errbuf));
	if (got == -2)
		errno = EAGAIN;
	else if (got == -1) {
		fail_broken(c, JQC_E_IO, "%s", errbuf);
		errno = 0;
	}
	return got < 0 ? -1 : got;
}

/*
 * Read the next line, without its "\n" or "\r\n".  *line is borrowed: valid
 * until the next read.  Blocks until a whole line is there.
 */
static int
read_line(struct jqc *c, const char **line, size_t *len)
{
	char	*nl;
	size_t	 n;
	ssize_t	 got;

	for (;;) {
		nl = NULL;
		if (c->rbuf != NULL)
			nl = memchr(c->rbuf + c->rstart + c->rscanned, '\n',
			    c->rlen - c->rstart - c->rscanned);
		if (nl != NULL) {
			*line = c->rbuf + c->rstart;
			n = nl - *line;
			c->rstart += n + 1;
			c->rscanned = 0;
			if (n > 0 && (*line)[n - 1] == '\r')
				n--;
			*len = n;
			return 0;
		}
		c->rscanned = c->rlen - c->rstart;
		if (rbuf_make_room(c) == -1)
			return -1;
		got = read_some(c, true);
		if (got == -1) {
			if (errno == EINTR)
				continue;
			if (c->broken)
				return -1;
			return fail_broken(c, JQC_E_IO, "read from server: %s",
			    strerror(errno));
		}
		if (got == 0)
			return fail_broken(c, JQC_E_IO, c->rlen > c->rstart ?
			    "connection closed by server in mid-reply" :
			    "connection closed by server");
		c->rlen += got;
	}
}

long long
jqc__monotonic_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * True when a line that is not blank is buffered.  Blank lines in front of
 * it are consumed: read_reply_id() would skip them anyway.
 */
static bool
line_buffered(struct jqc *c)
{
	char	*start, *nl;

	while (c->rbuf != NULL) {
		start = c->rbuf + c->rstart;
		nl = memchr(start + c->rscanned, '\n',
		    c->rlen - c->rstart - c->rscanned);
		if (nl == NULL) {
			c->rscanned = c->rlen - c->rstart;
			return false;
		}
		if (nl - start > 1 || (nl - start == 1 && *start != '\r'))
			return true;
		c->rstart += nl - start + 1;
		c->rscanned = 0;
	}
	return false;
}

int
jqc__wait_line(struct jqc *c, int timeout_ms, int wake_fd)
{
	struct pollfd	 pfd[2];
	long long	 deadline, left;
	ssize_t		 got;
	int		 n;

	if (c->broken)
		return -1;
	deadline = timeout_ms < 0 ? -1 : jqc__monotonic_ms() + timeout_ms;
	while (!line_buffered(c)) {
		/* poll() cannot see what OpenSSL decrypted already. */
		if (jqc__tls_pending(c->link.ssl) > 0)
			goto read;
		left = deadline < 0 ? -1 : deadline - jqc__monotonic_ms();
		if (deadline >= 0 && left < 0)
			left = 0;
		pfd[0].fd = c->link.fd;
		pfd[1].fd = wake_fd;
		pfd[0].events = pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		n = poll(pfd, wake_fd >= 0 ? 2 : 1, (int)left);
		if (n == -1 && errno != EINTR)
			return fail_broken(c, JQC_E_IO, "poll: %s",
			    strerror(errno));
		if (n <= 0)
			return 0;	/* time is up, or a signal came */
		if (pfd[0].revents == 0)
			return 2;	/* only wake_fd: the caller's turn */
read:
		if (rbuf_make_room(c) == -1)
			return -1;
		got = read_some(c, false);
		if (got == -1) {
			if (c->broken)
				return -1;
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return fail_broken(c, JQC_E_IO, "read from server: %s",
			    strerror(errno));
		}
		if (got == 0)
			return fail_broken(c, JQC_E_IO, c->rlen > c->rstart ?
			    "connection closed by server in mid-reply" :
			    "connection closed by server");
		c->rlen += got;
	}
	return 1;
}

int
jqc_poll_reply(struct jqc *c, int timeout_ms)
{
	call_begin(c);
	if (c->broken)
		return -1;
	if (c->pending == 0) {
		set_error(c, JQC_E_INVAL, "no request is waiting for a reply");
		return -1;
	}
	return jqc__wait_line(c, timeout_ms, -1);
}

int
jqc__unsolicited(struct jqc *c, const json_t *r)
{
	const char	*code, *msg;

	if (!jqc_reply_is_notice(r))
		return 0;
	code = jqc_reply_error_code(r);
	msg = jqc_reply_error_message(r);
	fail_broken(c, code != NULL ? jqc_err_parse(code) : JQC_E_PROTO,
	    "%s: %s (the server closed the connection)", code != NULL ? code :
	    "a line with a null id", msg != NULL ? msg : "no message");
	/* The notice stands where a typed call's error reply would. */
	json_decref(c->last_reply);
	c->last_reply = json_incref((json_t *)r);
	c->err_code = code != NULL ? jqc_reply_error_code(c->last_reply) :
	    NULL;
	return -1;
}

int
jqc__read_object(struct jqc *c, json_t **obj)
{
	json_error_t	 jerr;
	json_t		*r;
	const char	*line;
	size_t		 len;

	*obj = NULL;
	if (c->broken)
		return -1;
	do {
		if (read_line(c, &line, &len) == -1)
			return -1;
	} while (len == 0);	/* blank lines carry nothing */

	/* Channel values may hold "\u0000"; jansson needs leave for that. */
	r = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
	if (r == NULL)
		return fail_broken(c, JQC_E_PROTO, "reply is not JSON: %s",
		    jerr.text);
	if (!json_is_object(r)) {
		json_decref(r);
		return fail_broken(c, JQC_E_PROTO,
		    "reply is not a JSON object");
	}
	/* Values as the server wrote them: jqc_reply_value_text().  Not
	 * on a shared connection: nobody can ask, and its replies belong
	 * to other threads, which free them. */
	if (!c->shared)
		jqc__texts_keep(&c->texts, r, line, len);
	*obj = r;
	return 0;
}

/*
 * Read the reply to the oldest outstanding request.  *id receives that
 * request's number.  With frames, a frame of a streamed answer (an ok
 * line with an "event" member) leaves the request outstanding and
 * returns 1.
 */
static int
read_line_id(struct jqc *c, json_t **reply, json_int_t *id, bool frames)
{
	json_t		*r, *rid;
	json_int_t	 expected;

	*reply = NULL;
	if (c->broken)
		return -1;
	if (c->pending == 0) {
		set_error(c, JQC_E_INVAL, "no request is waiting for a reply");
		return -1;
	}
	expected = c->last_id - (json_int_t)c->pending + 1;
	if (jqc__read_object(c, &r) == -1)
		return -1;
	rid = json_object_get(r, "id");
	if (json_is_integer(rid) && json_integer_value(rid) == expected)
		;
	else if (jqc__unsolicited(c, r) == -1) {
		json_decref(r);
		return -1;
	} else if (rid == NULL || json_is_null(rid))
		;	/* the server could not read our id: answers this one */
	else {
		json_decref(r);
		return fail_broken(c, JQC_E_PROTO,
		    "reply out of order (expected id %"
		    JSON_INTEGER_FORMAT ")", expected);
	}
	*reply = r;
	*id = expected;
	if (frames && jqc_reply_ok(r) && json_object_get(r, "event") != NULL)
		return 1;
	c->pending--;
	return 0;
}

static int
read_reply_id(struct jqc *c, json_t **reply, json_int_t *id)
{
	return read_line_id(c, reply, id, false);
}

int
jqc_read_frame(struct jqc *c, json_t **line)
{
	json_int_t	id;

	call_begin(c);
	return read_line_id(c, line, &id, true);
}

int
jqc_read_reply(struct jqc *c, json_t **reply)
{
	json_int_t	id;

	call_begin(c);
	return read_reply_id(c, reply, &id);
}

int
jqc_call(struct jqc *c, json_t *request, json_t **reply)
{
	json_t		*r;
	json_int_t	 rid;
	int64_t		 id;

	*reply = NULL;
	if (jqc_send_request(c, request, &id) == -1)
		return -1;
	for (;;) {
		if (read_reply_id(c, &r, &rid) == -1)
			return -1;
		if (rid == id)
			break;
		json_decref(r);	/* a pipelined reply nobody read */
	}
	*reply = r;
	return 0;
}

void
jqc__begin(struct jqc *c)
{
	json_decref(c->last_reply);
	c->last_reply = NULL;
	c->err_code = NULL;
	call_begin(c);
}

/*
 * The core of every typed call: send request, keep the reply in
 * c->last_reply, succeed only on an ok reply.  An error reply's code goes
 * into the error state, with its message.
 */
int
jqc__call(struct jqc *c, json_t *request, const json_t **reply)
{
	json_t		*r;
	int		 rc;

	if (reply != NULL)
		*reply = NULL;
	if (request == NULL)
		return -1;	/* building it failed, and said why */
	rc = jqc_call(c, request, &r);
	json_decref(request);
	if (rc == -1)
		return -1;
	if (jqc__call_reply(c, r) == -1)
		return -1;
	if (reply != NULL)
		*reply = r;
	return 0;
}

int
jqc__call_reply(struct jqc *c, json_t *r)
{
	const char	*code, *msg;

	json_decref(c->last_reply);
	c->last_reply = r;
	if (jqc_reply_ok(r))
		return 0;
	code = jqc_reply_error_code(r);
	msg = jqc_reply_error_message(r);
	snprintf(c->err, sizeof(c->err), "%s: %s", code,
	    msg != NULL ? msg : "(no message)");
	c->err_code = code;
	c->errcode = jqc_err_parse(code);
	return -1;
}

int
jqc__stream(struct jqc *c, json_t *request, jqc_watch_cb *cb, void *arg,
    const json_t **reply)
{
	json_t		*r;
	json_int_t	 rid;
	int64_t		 id;
	int		 rc;

	*reply = NULL;
	if (request == NULL)
		return -1;
	rc = jqc_send_request(c, request, &id);
	json_decref(request);
	if (rc == -1)
		return -1;
	for (;;) {
		if ((rc = read_line_id(c, &r, &rid, true)) == -1)
			return -1;
		if (rid == id && rc == 1)
			cb(r, arg);
		if (rid == id && rc == 0)
			break;
		json_decref(r);	/* a frame or a pipelined reply before */
	}
	json_decref(c->last_reply);
	c->last_reply = r;
	if (jqc_reply_ok(r)) {
		*reply = r;
		return 0;
	}
	snprintf(c->err, sizeof(c->err), "%s: %s", jqc_reply_error_code(r),
	    jqc_reply_error_message(r) != NULL ? jqc_reply_error_message(r) :
	    "(no message)");
	c->err_code = jqc_reply_error_code(r);
	c->errcode = jqc_err_parse(c->err_code);
	return -1;
}

bool
jqc_reply_ok(const json_t *reply)
{
	return json_is_true(json_object_get(reply, "ok"));
}

const char *
jqc_reply_error_code(const json_t *reply)
{
	const char	*code;

	if (!json_is_object(reply) || jqc_reply_ok(reply))
		return NULL;
	code = json_string_value(json_object_get(json_object_get(reply,
	    "error"), "code"));
	return code != NULL ? code : "internal";
}

const char *
jqc_reply_error_message(const json_t *reply)
{
	if (jqc_reply_ok(reply))
		return NULL;
	return json_string_value(json_object_get(json_object_get(reply,
	    "error"), "message"));
}

/*
 * We never send a null id, so a null-id line is either the answer to a
 * line the server could not read (its id unknown: bad_request,
 * frame_too_large) or a notice that answers nothing.
 */
bool
jqc_reply_is_notice(const json_t *reply)
{
	const json_t	*rid = json_object_get(reply, "id");
	const char	*code;

	if (!json_is_object(reply) || (rid != NULL && !json_is_null(rid)))
		return false;
	code = jqc_reply_error_code(reply);
	return code == NULL || (strcmp(code, "bad_request") != 0 &&
	    strcmp(code, "frame_too_large") != 0);
}
