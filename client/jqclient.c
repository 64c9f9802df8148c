/*
 * jqclient: one blocking connection to jqd (the API is in jqclient.h).
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
 * This file is self-contained (libc and jansson only) so libjqclient.a can
 * be used without the daemon's proto library.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jqclient.h"

/* Reads grow the buffer from here; most replies fit in the first read. */
#define JQC_RBUF_INITIAL	(64 * 1024)

struct jqc {
	int		 fd;
	bool		 broken;	/* I/O or protocol failure */
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

	json_t		*last_reply;	/* of the last typed call; owned */
	const char	*err_code;	/* borrowed from last_reply, or NULL */
	char		 err[512];
};

/* A parsed address: either a Unix socket path or a TCP host and port. */
struct jqc_addr {
	bool		 is_unix;
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char		 host[256];
	char		 port[64];
};

static void	 errbuf_set(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	 set_error(struct jqc *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	 fail_broken(struct jqc *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
errbuf_set(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

/* Record a failure that leaves the connection usable. */
static void
set_error(struct jqc *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->err_code = NULL;
}

/*
 * Record a failure after which the byte stream can no longer be trusted
 * (lost connection, half-written request, garbled reply).  Returns -1 for
 * the caller to pass on.
 */
static int
fail_broken(struct jqc *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->err_code = NULL;
	c->broken = true;
	return (-1);
}

/*
 * Split addr into a struct jqc_addr.  Only syntax is checked here; names
 * are resolved at connect time.
 */
static int
addr_parse(const char *addr, struct jqc_addr *a, char *errbuf, size_t errlen)
{
	const char	*host, *port, *colon, *end;
	size_t		 hostlen;

	memset(a, 0, sizeof(*a));
	if (addr == NULL || *addr == '\0') {
		errbuf_set(errbuf, errlen, "empty address");
		return (-1);
	}
	if (strncmp(addr, "unix:", 5) == 0 || strchr(addr, '/') != NULL) {
		a->is_unix = true;
		if (strncmp(addr, "unix:", 5) == 0)
			addr += 5;
		if (*addr == '\0') {
			errbuf_set(errbuf, errlen, "empty socket path");
			return (-1);
		}
		if (strlen(addr) >= sizeof(a->path)) {
			errbuf_set(errbuf, errlen,
			    "socket path '%s' is too long", addr);
			return (-1);
		}
		memcpy(a->path, addr, strlen(addr) + 1);
		return (0);
	}

	if (*addr == '[') {
		/* "[v6]:port": the brackets keep the port apart. */
		host = addr + 1;
		end = strchr(host, ']');
		if (end == NULL || end[1] != ':') {
			errbuf_set(errbuf, errlen, "address '%s' must be "
			    "[ADDRESS]:PORT", addr);
			return (-1);
		}
		hostlen = end - host;
		port = end + 2;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL) {
			errbuf_set(errbuf, errlen, "address '%s' must be "
			    "HOST:PORT, unix:PATH or a path with a '/'", addr);
			return (-1);
		}
		host = addr;
		hostlen = colon - addr;
		port = colon + 1;
		if (memchr(host, ':', hostlen) != NULL) {
			errbuf_set(errbuf, errlen, "address '%s': an IPv6 "
			    "address goes in brackets, [ADDRESS]:PORT", addr);
			return (-1);
		}
	}
	if (hostlen == 0 || hostlen >= sizeof(a->host)) {
		errbuf_set(errbuf, errlen, "address '%s': bad host", addr);
		return (-1);
	}
	if (*port == '\0' || strlen(port) >= sizeof(a->port)) {
		errbuf_set(errbuf, errlen, "address '%s': bad port", addr);
		return (-1);
	}
	memcpy(a->host, host, hostlen);
	a->host[hostlen] = '\0';
	memcpy(a->port, port, strlen(port) + 1);
	return (0);
}

int
jqc_check_addr(const char *addr, char *errbuf, size_t errlen)
{
	struct jqc_addr	a;

	return (addr_parse(addr, &a, errbuf, errlen));
}

static int
connect_unix(const struct jqc_addr *a, char *errbuf, size_t errlen)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, a->path, sizeof(sun.sun_path));

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		errbuf_set(errbuf, errlen, "socket: %s", strerror(errno));
		return (-1);
	}
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == EINTR)
			continue;
		errbuf_set(errbuf, errlen, "cannot connect to %s: %s",
		    a->path, strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

/*
 * Try every address the name resolves to, in getaddrinfo's order (which
 * prefers what the host can reach), and keep the first that accepts.  The
 * error reported is the last one, which is the usual practice.
 */
static int
connect_tcp(const struct jqc_addr *a, char *errbuf, size_t errlen)
{
	struct addrinfo	 hints, *res, *ai;
	int		 fd, rc, one = 1, saved = 0;
	bool		 v6 = strchr(a->host, ':') != NULL;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(a->host, a->port, &hints, &res);
	if (rc != 0) {
		errbuf_set(errbuf, errlen, "cannot resolve %s%s%s:%s: %s",
		    v6 ? "[" : "", a->host, v6 ? "]" : "", a->port,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return (-1);
	}

	fd = -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		while ((rc = connect(fd, ai->ai_addr, ai->ai_addrlen)) == -1 &&
		    errno == EINTR)
			continue;
		if (rc == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		errbuf_set(errbuf, errlen, "cannot connect to %s%s%s:%s: %s",
		    v6 ? "[" : "", a->host, v6 ? "]" : "", a->port,
		    strerror(saved));
		return (-1);
	}

	/*
	 * Requests are small and each one waits for its reply: Nagle would
	 * only add a delay to every pipelined request after the first.
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return (fd);
}

struct jqc *
jqc_connect(const char *addr, char *errbuf, size_t errlen)
{
	struct jqc_addr	 a;
	struct jqc	*c;
	int		 fd;

	if (addr_parse(addr, &a, errbuf, errlen) == -1)
		return (NULL);
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		errbuf_set(errbuf, errlen, "out of memory");
		return (NULL);
	}
	fd = a.is_unix ? connect_unix(&a, errbuf, errlen) :
	    connect_tcp(&a, errbuf, errlen);
	if (fd == -1) {
		free(c);
		return (NULL);
	}
	c->fd = fd;
	return (c);
}

void
jqc_close(struct jqc *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	json_decref(c->last_reply);
	free(c);
}

const char *
jqc_error(const struct jqc *c)
{
	return (c->err);
}

const char *
jqc_error_code(const struct jqc *c)
{
	return (c->err_code);
}

json_t *
jqc_last_reply(const struct jqc *c)
{
	return (c->last_reply);
}

size_t
jqc_pending(const struct jqc *c)
{
	return (c->pending);
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
	return (0);
oom:
	c->wfailed = true;
	return (-1);
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
	if (json_dump_callback(msg, wbuf_append_cb, c, JSON_COMPACT) == -1 ||
	    wbuf_append_cb("\n", 1, c) == -1)
		goto out;
	rc = 0;
out:
	json_decref(msg);
	if (rc == -1)
		set_error(c, c->wfailed || msg == NULL ? "out of memory" :
		    "cannot encode request");
	return (rc);
}

static int
write_all(struct jqc *c, const char *data, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		/* MSG_NOSIGNAL: a closed peer is an error, not a SIGPIPE. */
		n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (fail_broken(c, "write to server: %s",
			    strerror(errno)));
		}
		data += n;
		len -= n;
	}
	return (0);
}

int
jqc_send_request(struct jqc *c, json_t *request, json_int_t *id)
{
	if (c->broken)
		return (-1);
	if (!json_is_object(request)) {
		set_error(c, "request must be a JSON object");
		return (-1);
	}
	if (encode_request(c, request, c->last_id + 1) == -1)
		return (-1);
	c->last_id++;
	/* Counted before the write: a failed write breaks c anyway. */
	c->pending++;
	if (id != NULL)
		*id = c->last_id;
	return (write_all(c, c->wbuf, c->wlen));
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
		return (0);
	if (c->rcap >= JQC_REPLY_MAX + 2)
		return (fail_broken(c, "reply longer than %d bytes",
		    JQC_REPLY_MAX));
	ncap = c->rcap == 0 ? JQC_RBUF_INITIAL : c->rcap * 2;
	if (ncap > JQC_REPLY_MAX + 2)
		ncap = JQC_REPLY_MAX + 2;
	if ((nbuf = realloc(c->rbuf, ncap)) == NULL)
		return (fail_broken(c, "out of memory reading a reply"));
	c->rbuf = nbuf;
	c->rcap = ncap;
	return (0);
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
			return (0);
		}
		c->rscanned = c->rlen - c->rstart;
		if (rbuf_make_room(c) == -1)
			return (-1);
		got = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
		if (got == -1) {
			if (errno == EINTR)
				continue;
			return (fail_broken(c, "read from server: %s",
			    strerror(errno)));
		}
		if (got == 0)
			return (fail_broken(c, c->rlen > c->rstart ?
			    "connection closed by server in mid-reply" :
			    "connection closed by server"));
		c->rlen += got;
	}
}

static long long
monotonic_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
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
			return (false);
		}
		if (nl - start > 1 || (nl - start == 1 && *start != '\r'))
			return (true);
		c->rstart += nl - start + 1;
		c->rscanned = 0;
	}
	return (false);
}

int
jqc_poll_reply(struct jqc *c, int timeout_ms)
{
	struct pollfd	 pfd;
	long long	 deadline, left;
	ssize_t		 got;
	int		 n;

	if (c->broken)
		return (-1);
	if (c->pending == 0) {
		set_error(c, "no request is waiting for a reply");
		return (-1);
	}
	deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
	while (!line_buffered(c)) {
		left = deadline < 0 ? -1 : deadline - monotonic_ms();
		if (deadline >= 0 && left < 0)
			left = 0;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if ((n = poll(&pfd, 1, (int)left)) == -1 && errno != EINTR)
			return (fail_broken(c, "poll: %s", strerror(errno)));
		if (n <= 0)
			return (0);	/* time is up, or a signal came */
		if (rbuf_make_room(c) == -1)
			return (-1);
		got = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen,
		    MSG_DONTWAIT);
		if (got == -1) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return (fail_broken(c, "read from server: %s",
			    strerror(errno)));
		}
		if (got == 0)
			return (fail_broken(c, c->rlen > c->rstart ?
			    "connection closed by server in mid-reply" :
			    "connection closed by server"));
		c->rlen += got;
	}
	return (1);
}

/*
 * Read the reply to the oldest outstanding request.  *id receives that
 * request's number.
 */
static int
read_reply_id(struct jqc *c, json_t **reply, json_int_t *id)
{
	json_error_t	 jerr;
	json_t		*r, *rid;
	const char	*line;
	size_t		 len;
	json_int_t	 expected;

	*reply = NULL;
	if (c->broken)
		return (-1);
	if (c->pending == 0) {
		set_error(c, "no request is waiting for a reply");
		return (-1);
	}
	expected = c->last_id - (json_int_t)c->pending + 1;
	do {
		if (read_line(c, &line, &len) == -1)
			return (-1);
	} while (len == 0);	/* blank lines carry nothing */

	/* Channel values may hold "\u0000"; jansson needs leave for that. */
	r = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
	if (r == NULL)
		return (fail_broken(c, "reply is not JSON: %s", jerr.text));
	if (!json_is_object(r)) {
		json_decref(r);
		return (fail_broken(c, "reply is not a JSON object"));
	}
	rid = json_object_get(r, "id");
	if (json_is_integer(rid) && json_integer_value(rid) == expected)
		;
	else if ((rid == NULL || json_is_null(rid)) && !jqc_reply_ok(r))
		;	/* the server could not read our id: answers this one */
	else {
		json_decref(r);
		return (fail_broken(c, "reply out of order (expected id %"
		    JSON_INTEGER_FORMAT ")", expected));
	}
	c->pending--;
	*reply = r;
	*id = expected;
	return (0);
}

int
jqc_read_reply(struct jqc *c, json_t **reply)
{
	json_int_t	id;

	return (read_reply_id(c, reply, &id));
}

int
jqc_call(struct jqc *c, json_t *request, json_t **reply)
{
	json_t		*r;
	json_int_t	 id, rid;

	*reply = NULL;
	if (jqc_send_request(c, request, &id) == -1)
		return (-1);
	for (;;) {
		if (read_reply_id(c, &r, &rid) == -1)
			return (-1);
		if (rid == id)
			break;
		json_decref(r);	/* a pipelined reply nobody read */
	}
	*reply = r;
	return (0);
}

/*
 * The core of every typed call: send request (stolen), keep the reply in
 * c->last_reply, succeed only on an ok reply.  Per-op calls build their
 * request, call this, then read their fields out of c->last_reply.
 */
static int
call_expect_ok(struct jqc *c, json_t *request)
{
	json_t		*reply;
	const char	*code, *msg;
	int		 rc;

	json_decref(c->last_reply);
	c->last_reply = NULL;
	c->err_code = NULL;
	if (request == NULL) {
		set_error(c, "cannot build the request (a string that is "
		    "not UTF-8, or out of memory)");
		return (-1);
	}
	rc = jqc_call(c, request, &reply);
	json_decref(request);
	if (rc == -1)
		return (-1);
	c->last_reply = reply;
	if (jqc_reply_ok(reply))
		return (0);
	code = jqc_reply_error_code(reply);
	msg = jqc_reply_error_message(reply);
	snprintf(c->err, sizeof(c->err), "%s: %s", code,
	    msg != NULL ? msg : "(no message)");
	c->err_code = code;
	return (-1);
}

int
jqc_auth(struct jqc *c, const char *token)
{
	return (call_expect_ok(c, json_pack("{s:s, s:s}", "op", "auth",
	    "token", token)));
}

bool
jqc_reply_ok(const json_t *reply)
{
	return (json_is_true(json_object_get(reply, "ok")));
}

const char *
jqc_reply_error_code(const json_t *reply)
{
	const char	*code;

	if (!json_is_object(reply) || jqc_reply_ok(reply))
		return (NULL);
	code = json_string_value(json_object_get(json_object_get(reply,
	    "error"), "code"));
	return (code != NULL ? code : "internal");
}

const char *
jqc_reply_error_message(const json_t *reply)
{
	if (jqc_reply_ok(reply))
		return (NULL);
	return (json_string_value(json_object_get(json_object_get(reply,
	    "error"), "message")));
}
