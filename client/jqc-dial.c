/*
 * jqc-dial: addresses and connecting a socket to them, for jqc_connect().
 *
 * An address is "HOST:PORT" (TCP; IPv6 in brackets), "tls:HOST:PORT",
 * "unix:PATH", or a path containing '/' (jqclient.h, jqc_check_addr()).  Syntax is checked
 * without touching the network, so the CLI can report a bad address as a
 * usage error before it tries anything; names are resolved at connect
 * time.  Failures are reported in the caller's errbuf: there is no struct
 * jqc yet to hold them.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jqclient.h"
#include "jqc-private.h"

/* A parsed address: either a Unix socket path or a TCP host and port. */
struct jqc_addr {
	bool		 is_unix;
	bool		 is_tls;
	char		 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char		 host[256];
	char		 port[64];
};

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

	if (*addr == '[') {
		/* "[v6]:port": the brackets keep the port apart. */
		host = addr + 1;
		end = strchr(host, ']');
		if (end == NULL || end[1] != ':') {
			jqc__errbuf_set(errbuf, errlen, "address '%s' must be "
			    "[ADDRESS]:PORT", addr);
			return -1;
		}
		hostlen = end - host;
		port = end + 2;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL) {
			jqc__errbuf_set(errbuf, errlen, "address '%s' must be "
			    "HOST:PORT, tls:HOST:PORT, unix:PATH or a path "
			    "with a '/'", addr);
			return -1;
		}
		host = addr;
		hostlen = colon - addr;
		port = colon + 1;
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

int
jqc_check_addr(const char *addr, char *errbuf, size_t errlen)
{
	struct jqc_addr	a;

	return addr_parse(addr, &a, errbuf, errlen);
}

bool
jqc_addr_is_unix(const char *addr)
{
	struct jqc_addr	a;

	return addr_parse(addr, &a, NULL, 0) == 0 && a.is_unix;
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
		jqc__errbuf_set(errbuf, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	while (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == EINTR)
			continue;
		jqc__errbuf_set(errbuf, errlen, "cannot connect to %s: %s",
		    a->path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
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

bool
jqc__addr_is_tls(const char *addr)
{
	struct jqc_addr	a;

	return addr_parse(addr, &a, NULL, 0) == 0 && a.is_tls;
}

int
jqc__dial(const char *addr, struct jqc_tls_conf *tls, struct jqc_link *link,
    char *errbuf, size_t errlen)
{
	struct jqc_addr	a;
	char		peer[sizeof(a.host) + sizeof(a.port) + 4];
	bool		v6;

	link->fd = -1;
	link->ssl = NULL;
	if (addr_parse(addr, &a, errbuf, errlen) == -1)
		return -1;
	if (a.is_unix && tls != NULL) {
		jqc__errbuf_set(errbuf, errlen, "TLS is for TCP addresses, not "
		    "'%s'", addr);
		return -1;
	}
	if (a.is_tls && tls == NULL) {
		jqc__errbuf_set(errbuf, errlen, "'%s': no TLS settings", addr);
		return -1;
	}
	link->fd = a.is_unix ? connect_unix(&a, errbuf, errlen) :
	    connect_tcp(&a, errbuf, errlen);
	if (link->fd == -1 || tls == NULL)
		return link->fd == -1 ? -1 : 0;
	v6 = strchr(a.host, ':') != NULL;
	snprintf(peer, sizeof(peer), "%s%s%s:%s", v6 ? "[" : "", a.host,
	    v6 ? "]" : "", a.port);
	if (jqc__tls_start(tls, link->fd, a.host, peer, &link->ssl, errbuf,
	    errlen) == -1) {
		close(link->fd);
		link->fd = -1;
		return -1;
	}
	return 0;
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
