/*
 * jqc-dial: addresses, address lists, and connecting a socket to them,
 * for jqc_connect().
 *
 * An address is "HOST:PORT" (TCP; IPv6 in brackets), "tls:HOST:PORT",
 * "unix:PATH", or a path containing '/' (jqclient.h, jqc_check_addr()).
 * Wherever an address is taken, a list of them separated by commas is
 * too, for several jqd nodes on one database of which one serves: a
 * standby refuses connections until it takes over.  Syntax is checked
 * without touching the network, so the CLI can report a bad address as a
 * usage error before it tries anything; names are resolved at connect
 * time.  Failures are reported in the caller's errbuf: there is no struct
 * jqc yet to hold them.
 *
 * A dial tries the addresses of the list one at a time and keeps the
 * first that accepts (and completes the TLS handshake), starting with the
 * one that served last in this process.  With two addresses or more each
 * gets JQC_DIAL_TIMEOUT_MS for its connect and handshake together, so that
 * a host that is gone (its SYNs unanswered for minutes) or a peer that
 * never answers the handshake does not hold the dial while another node
 * serves.  A single address waits as it always did: there is nothing else
 * to try, and a slow success beats a quick failure.
 *
 * Which address served is remembered process-wide (served[], under
 * served_mu), not per connection: jq-worker dials each time with a new
 * struct jqc, and after a failover every later dial of the process should
 * go straight to the node that serves now.  The table holds the last few
 * distinct addresses that served, most recent first, so a process that
 * talks to two clusters keeps a memory for each.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jqclient.h"
#include "jqc-private.h"

/* Distinct addresses remembered as having served. */
#define JQC_SERVED_MAX		8

/* A parsed address: either a Unix socket path or a TCP host and port. */
struct jqc_addr {
	bool		 is_unix;
	bool		 is_tls;
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char		 host[256];
	char		 port[64];
	char		 text[JQC_ADDR_TEXT_MAX];	/* as written */
};

/* A parsed list, in the order written; addrs_free() releases it. */
struct jqc_addrs {
	struct jqc_addr	*v;
	size_t		 n;
};

static pthread_mutex_t	 served_mu = PTHREAD_MUTEX_INITIALIZER;
/* Addresses that served, most recent first; "" is an unused slot. */
static char		 served[JQC_SERVED_MAX][JQC_ADDR_TEXT_MAX];

void
jqc__errbuf_set(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
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
		jqc__errbuf_set(errbuf, errlen, "empty address");
		return -1;
	}
	if (strlen(addr) >= sizeof(a->text)) {
		jqc__errbuf_set(errbuf, errlen, "address '%.40s...' is too "
		    "long", addr);
		return -1;
	}
	memcpy(a->text, addr, strlen(addr) + 1);
	if (strncmp(addr, "unix:", 5) == 0 || strchr(addr, '/') != NULL) {
		a->is_unix = true;
		if (strncmp(addr, "unix:", 5) == 0)
			addr += 5;
		if (*addr == '\0') {
			jqc__errbuf_set(errbuf, errlen, "empty socket path");
			return -1;
		}
		if (strlen(addr) >= sizeof(a->path)) {
			jqc__errbuf_set(errbuf, errlen,
			    "socket path '%s' is too long", addr);
			return -1;
		}
		memcpy(a->path, addr, strlen(addr) + 1);
		return 0;
	}
	if (strncmp(addr, "tls:", 4) == 0) {
		a->is_tls = true;
		addr += 4;
	}

	/* No port: jqd's customary one, as ssh's 22 or redis-cli's 6379. */
	if (*addr == '[') {
		/* "[v6]:port": the brackets keep the port apart. */
		host = addr + 1;
		end = strchr(host, ']');
		if (end == NULL || (end[1] != ':' && end[1] != '\0')) {
			jqc__errbuf_set(errbuf, errlen, "address '%s' must be "
			    "[ADDRESS] or [ADDRESS]:PORT", addr);
			return -1;
		}
		hostlen = end - host;
		port = end[1] == ':' ? end + 2 : JQC_DEFAULT_PORT;
	} else {
		colon = strrchr(addr, ':');
		host = addr;
		hostlen = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
		port = colon != NULL ? colon + 1 : JQC_DEFAULT_PORT;
		if (memchr(host, ':', hostlen) != NULL) {
			jqc__errbuf_set(errbuf, errlen, "address '%s': an IPv6 "
			    "address goes in brackets, [ADDRESS]:PORT", addr);
			return -1;
		}
	}
	if (hostlen == 0 || hostlen >= sizeof(a->host)) {
		jqc__errbuf_set(errbuf, errlen, "address '%s': bad host", addr);
		return -1;
	}
	if (*port == '\0' || strlen(port) >= sizeof(a->port)) {
		jqc__errbuf_set(errbuf, errlen, "address '%s': bad port", addr);
		return -1;
	}
	memcpy(a->host, host, hostlen);
	a->host[hostlen] = '\0';
	memcpy(a->port, port, strlen(port) + 1);
	return 0;
}

/*
 * The next element of a list: *p points at its start (NULL: the list is
 * done).  Its text, white space around it trimmed, is [*start, *start +
 * *len); *p moves past it and its comma, to NULL after the last.  False
 * when the list is done.  An empty list is one empty element.
 */
static bool
addr_next(const char **p, const char **start, size_t *len)
{
	const char	*s = *p, *comma, *end;

	if (s == NULL)
		return false;
	comma = strchr(s, ',');
	end = comma != NULL ? comma : s + strlen(s);
	*p = comma != NULL ? comma + 1 : NULL;
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*start = s;
	*len = end - s;
	return true;
}

static void
addrs_free(struct jqc_addrs *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/*
 * Parse every element of list into *l.  0, or -1 with a message (naming
 * the element's place when there are several) and *l empty.
 */
static int
addrs_parse(const char *list, struct jqc_addrs *l, char *errbuf,
    size_t errlen)
{
	const char	*p, *start;
	char		 one[JQC_ADDR_TEXT_MAX], why[512];
	size_t		 len, n = 0;

	l->v = NULL;
	l->n = 0;
	p = list != NULL ? list : "";
	while (addr_next(&p, &start, &len))
		n++;
	if ((l->v = calloc(n, sizeof(*l->v))) == NULL) {
		jqc__errbuf_set(errbuf, errlen, "out of memory");
		return -1;
	}
	p = list != NULL ? list : "";
	while (addr_next(&p, &start, &len)) {
		/* Too long to copy: give addr_parse() a prefix it refuses. */
		if (len >= sizeof(one))
			len = sizeof(one) - 1;
		memcpy(one, start, len);
		one[len] = '\0';
		if (addr_parse(one, &l->v[l->n], why, sizeof(why)) == -1) {
			if (n == 1)
				jqc__errbuf_set(errbuf, errlen, "%s", why);
			else
				jqc__errbuf_set(errbuf, errlen, "address %zu "
				    "of %zu: %s", l->n + 1, n, why);
			addrs_free(l);
			return -1;
		}
		l->n++;
	}
	return 0;
}

int
jqc_check_addr(const char *addr, char *errbuf, size_t errlen)
{
	struct jqc_addrs	l;

	if (addrs_parse(addr, &l, errbuf, errlen) == -1)
		return -1;
	addrs_free(&l);
	return 0;
}

bool
jqc_addr_is_unix(const char *addr)
{
	struct jqc_addrs	l;
	bool			all = true;
	size_t			i;

	if (addrs_parse(addr, &l, NULL, 0) == -1)
		return false;
	for (i = 0; i < l.n; i++)
		all = all && l.v[i].is_unix;
	addrs_free(&l);
	return all;
}

int
jqc_addr_nth(const char *addr, size_t n, char *buf, size_t len)
{
	const char	*p = addr != NULL ? addr : "", *start;
	size_t		 elen, i = 0;

	while (addr_next(&p, &start, &elen)) {
		if (i++ < n)
			continue;
		if (elen >= len)
			return -1;
		memcpy(buf, start, elen);
		buf[elen] = '\0';
		return 0;
	}
	return -1;
}

bool
jqc__addr_is_tls(const char *addr)
{
	struct jqc_addrs	l;
	bool			any = false;
	size_t			i;

	if (addrs_parse(addr, &l, NULL, 0) == -1)
		return false;
	for (i = 0; i < l.n; i++)
		any = any || l.v[i].is_tls;
	addrs_free(&l);
	return any;
}

/* Remember that the address written text served: most recent first. */
static void
served_note(const char *text)
{
	size_t	i;

	pthread_mutex_lock(&served_mu);
	for (i = 0; i < JQC_SERVED_MAX - 1; i++) {
		if (served[i][0] == '\0' || strcmp(served[i], text) == 0)
			break;
	}
	/* Slot i (a match, a free one or the oldest) goes; the rest shift. */
	memmove(served[1], served[0], i * sizeof(served[0]));
	snprintf(served[0], sizeof(served[0]), "%s", text);
	pthread_mutex_unlock(&served_mu);
}

/* The element of l that served most recently, or -1 when none did. */
static ssize_t
served_find(const struct jqc_addrs *l)
{
	ssize_t	found = -1;
	size_t	i, k;

	pthread_mutex_lock(&served_mu);
	for (i = 0; i < JQC_SERVED_MAX && found == -1 &&
	    served[i][0] != '\0'; i++) {
		for (k = 0; k < l->n; k++) {
			if (strcmp(served[i], l->v[k].text) == 0) {
				found = (ssize_t)k;
				break;
			}
		}
	}
	pthread_mutex_unlock(&served_mu);
	return found;
}

/* Milliseconds left until deadline (0: none, then -1); at least 1. */
static int
ms_left(long long deadline)
{
	long long	left;

	if (deadline == 0)
		return -1;
	left = deadline - jqc__monotonic_ms();
	return left < 1 ? 1 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/*
 * Connect a Unix socket, by the deadline if there is one (0: none).  A
 * Unix socket connects at once or, when the server's backlog is full,
 * waits; a non-blocking connect would fail at once with EAGAIN instead of
 * waiting, so the wait is bounded with SO_SNDTIMEO, which Linux applies
 * to connect (and reports as EAGAIN), and which is reset after.
 */
static int
connect_unix(const struct jqc_addr *a, long long deadline, char *errbuf,
    size_t errlen)
{
	struct sockaddr_un	sun;
	struct timeval		tv = { 0, 0 };
	int			fd, left;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, a->path, sizeof(sun.sun_path));

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		jqc__errbuf_set(errbuf, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (deadline != 0) {
		left = ms_left(deadline);
		tv.tv_sec = left / 1000;
		tv.tv_usec = (left % 1000) * 1000;
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == EINTR)
			continue;
		if (deadline != 0 && errno == EAGAIN)
			errno = ETIMEDOUT;
		jqc__errbuf_set(errbuf, errlen, "cannot connect to %s: %s",
		    a->path, strerror(errno));
		close(fd);
		return -1;
	}
	if (deadline != 0) {
		tv.tv_sec = tv.tv_usec = 0;
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	return fd;
}

/*
 * Connect fd to sa, by the deadline if there is one (0: block as long as
 * the kernel tries).  0, or -1 with errno set (ETIMEDOUT at the
 * deadline).  fd is blocking again on return.
 */
static int
connect_by(int fd, const struct sockaddr *sa, socklen_t salen,
    long long deadline)
{
	struct pollfd	 pfd;
	socklen_t	 len = sizeof(int);
	int		 rc, n, err = 0, flags;

	if (deadline == 0) {
		while ((rc = connect(fd, sa, salen)) == -1 && errno == EINTR)
			continue;
		return rc;
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return -1;
	if (connect(fd, sa, salen) == 0)
		goto done;
	if (errno != EINPROGRESS && errno != EINTR)
		return -1;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do
		n = poll(&pfd, 1, ms_left(deadline));
	while ((n == -1 && errno == EINTR) ||
	    (n == 0 && jqc__monotonic_ms() < deadline));
	if (n == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (n == -1)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
done:
	return fcntl(fd, F_SETFL, flags) == -1 ? -1 : 0;
}

/*
 * Try every address the name resolves to, in getaddrinfo's order (which
 * prefers what the host can reach), and keep the first that accepts; all
 * by the deadline (0: none).  The error reported is the last one, which
 * is the usual practice.
 */
static int
connect_tcp(const struct jqc_addr *a, long long deadline, char *errbuf,
    size_t errlen)
{
	struct addrinfo	 hints, *res, *ai;
	int		 fd, rc, one = 1, saved = 0;
	bool		 v6 = strchr(a->host, ':') != NULL;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(a->host, a->port, &hints, &res);
	if (rc != 0) {
		jqc__errbuf_set(errbuf, errlen, "cannot resolve %s%s%s:%s: %s",
		    v6 ? "[" : "", a->host, v6 ? "]" : "", a->port,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}

	fd = -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		if (connect_by(fd, ai->ai_addr, ai->ai_addrlen, deadline) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
		if (saved == ETIMEDOUT && deadline != 0)
			break;		/* the time is up for all of them */
	}
	freeaddrinfo(res);
	if (fd == -1) {
		jqc__errbuf_set(errbuf, errlen, "cannot connect to %s%s%s:%s: %s",
		    v6 ? "[" : "", a->host, v6 ? "]" : "", a->port,
		    strerror(saved));
		return -1;
	}

	/*
	 * Requests are small and each one waits for its reply: Nagle would
	 * only add a delay to every pipelined request after the first.
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/*
 * Connect to one address of a list and start TLS on it when tls is set,
 * all within timeout_ms (-1: the connect as long as the kernel tries, the
 * handshake its own bound).  0 and *link, or -1 with a message.
 */
static int
dial_one(const struct jqc_addr *a, struct jqc_tls_conf *tls, int timeout_ms,
    struct jqc_link *link, char *errbuf, size_t errlen)
{
	char		 peer[sizeof(a->host) + sizeof(a->port) + 4];
	long long	 deadline = 0;
	bool		 v6;

	if (timeout_ms >= 0)
		deadline = jqc__monotonic_ms() + timeout_ms;
	link->fd = a->is_unix ? connect_unix(a, deadline, errbuf, errlen) :
	    connect_tcp(a, deadline, errbuf, errlen);
	if (link->fd == -1 || tls == NULL)
		return link->fd == -1 ? -1 : 0;
	v6 = strchr(a->host, ':') != NULL;
	snprintf(peer, sizeof(peer), "%s%s%s:%s", v6 ? "[" : "", a->host,
	    v6 ? "]" : "", a->port);
	if (jqc__tls_start(tls, link->fd, a->host, peer, ms_left(deadline),
	    &link->ssl, errbuf, errlen) == -1) {
		close(link->fd);
		link->fd = -1;
		return -1;
	}
	return 0;
}

/*
 * The order to try l in: the one that served last first, then the others
 * as written.  order has l->n slots.
 */
static void
dial_order(const struct jqc_addrs *l, size_t *order)
{
	ssize_t	first = served_find(l);
	size_t	i, k = 0;

	if (first >= 0)
		order[k++] = (size_t)first;
	for (i = 0; i < l->n; i++) {
		if ((ssize_t)i != first)
			order[k++] = i;
	}
}

/* Every address with the TLS setting: a mistake is not a failover. */
static int
dial_check_tls(const struct jqc_addrs *l, const struct jqc_tls_conf *tls,
    char *errbuf, size_t errlen)
{
	size_t	i;

	for (i = 0; i < l->n; i++) {
		if (l->v[i].is_unix && tls != NULL) {
			jqc__errbuf_set(errbuf, errlen, "TLS is for TCP "
			    "addresses, not '%s'", l->v[i].text);
			return -1;
		}
		if (l->v[i].is_tls && tls == NULL) {
			jqc__errbuf_set(errbuf, errlen, "'%s': no TLS "
			    "settings", l->v[i].text);
			return -1;
		}
	}
	return 0;
}

int
jqc__dial(const char *addr, struct jqc_tls_conf *tls, struct jqc_link *link,
    char *errbuf, size_t errlen)
{
	struct jqc_addrs	 l;
	struct jqc_addr		*a;
	size_t			*order, k, off;
	char			 why[512];
	int			 timeout_ms, n;

	link->fd = -1;
	link->ssl = NULL;
	link->addr[0] = '\0';
	if (addrs_parse(addr, &l, errbuf, errlen) == -1)
		return -1;
	if (dial_check_tls(&l, tls, errbuf, errlen) == -1) {
		addrs_free(&l);
		return -1;
	}
	if ((order = calloc(l.n, sizeof(*order))) == NULL) {
		jqc__errbuf_set(errbuf, errlen, "out of memory");
		addrs_free(&l);
		return -1;
	}
	dial_order(&l, order);
	timeout_ms = l.n > 1 ? JQC_DIAL_TIMEOUT_MS : -1;
	jqc__errbuf_set(errbuf, errlen, "cannot connect to any of the %zu "
	    "addresses:",
	    l.n);
	off = errbuf != NULL && errlen > 0 ? strlen(errbuf) : 0;
	for (k = 0; k < l.n; k++) {
		a = &l.v[order[k]];
		if (dial_one(a, tls, timeout_ms, link, why, sizeof(why)) == 0) {
			served_note(a->text);
			memcpy(link->addr, a->text, sizeof(link->addr));
			break;
		}
		if (l.n == 1)
			jqc__errbuf_set(errbuf, errlen, "%s", why);
		else if (off < errlen) {
			/* Each reason names its address already. */
			n = snprintf(errbuf + off, errlen - off, "%s %s",
			    k == 0 ? "" : ";", why);
			off += n > 0 ? (size_t)n : 0;
		}
	}
	free(order);
	addrs_free(&l);
	return link->fd == -1 ? -1 : 0;
}

void
jqc__link_close(struct jqc_link *link)
{
	jqc__tls_close(link->ssl);
	link->ssl = NULL;
	if (link->fd != -1)
		close(link->fd);
	link->fd = -1;
}
