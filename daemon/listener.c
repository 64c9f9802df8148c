/*
 * Listeners (see listener.h).  Who is let in without the token is
 * access.h's business: the listener tells it which socket a peer came
 * through.  insecure-tcp is refused on non-loopback addresses: an open
 * port without authentication would hand the job runner to anyone who can
 * reach it.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <systemd/sd-daemon.h>

#include "access.h"
#include "config.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "server.h"

#define LISTEN_BACKLOG	511

void
listener_describe(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else
		snprintf(buf, len, "unix");
}

bool
listener_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	}
	return false;
}

static void
listener_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listener	*l = arg;
	struct server	*s = l->server;
	struct conn_peer peer;
	int		 one = 1;

	peer.tls = false;
	if (sa->sa_family == AF_UNIX) {
		peer.trusted = access_unix_peer(&s->access, &l->sock, fd,
		    &peer.uid);
		snprintf(peer.desc, sizeof(peer.desc), "%.120s uid %ld",
		    l->desc, peer.uid);
	} else {
		peer.trusted = s->cfg->insecure_tcp;
		peer.uid = -1;
		peer.tls = l->tls;
		listener_describe(sa, peer.desc, sizeof(peer.desc));
		/*
		 * Replies are whole frames, written once a loop turn: send
		 * them now, not when the peer acknowledges the last one.
		 */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	}
	server_accept(s, fd, &peer);
}

static void
listener_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener	*l = arg;

	evconnlistener_enable(l->lev);
}

bool
listener_accept_failed(struct evconnlistener *lev, const char *desc)
{
	int	 err = EVUTIL_SOCKET_ERROR();

	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM) {
		/* Out of descriptors: pause instead of spinning on accept. */
		log_warn_limited("%s: accept: %s; pausing for %d ms", desc,
		    strerror(err), LISTENER_PAUSE_MS);
		evconnlistener_disable(lev);
		return true;
	}
	log_warn_limited("%s: accept: %s", desc, strerror(err));
	return false;
}

static void
listener_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener	*l = arg;
	struct timeval	 tv = { LISTENER_PAUSE_MS / 1000, 0 };

	if (listener_accept_failed(lev, l->desc))
		evtimer_add(l->ev_retry, &tv);
}

/* unix_path: unlinked on close; sock_path: the file that admits peers. */
static struct listener *
listener_add(struct server *s, evutil_socket_t fd, const char *desc,
    const char *unix_path, const char *sock_path)
{
	struct listener	*l;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		fatal("out of memory");
	l->server = s;
	snprintf(l->desc, sizeof(l->desc), "%s", desc);
	l->lev = evconnlistener_new(s->base, listener_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, LISTEN_BACKLOG, fd);
	l->ev_retry = evtimer_new(s->base, listener_retry_cb, l);
	if (l->lev == NULL || l->ev_retry == NULL)
		fatal("cannot listen on %s", desc);
	evconnlistener_set_error_cb(l->lev, listener_error_cb);
	if (unix_path != NULL)
		l->unix_path = strdup(unix_path);
	if (sock_path != NULL)
		access_socket_stat(sock_path, &l->sock);
	TAILQ_INSERT_TAIL(&s->listeners, l, entry);
	return l;
}

int
listener_resolve(const char *what, const char *hostport,
    struct addrinfo **res)
{
	struct addrinfo	 hints;
	const char	*colon = strrchr(hostport, ':');
	const char	*host = hostport;
	char		 buf[256];
	size_t		 hlen;
	int		 rc;

	if (colon == NULL) {
		log_error("%s %s: not HOST:PORT", what, hostport);
		return -1;
	}
	hlen = (size_t)(colon - hostport);
	if (hostport[0] == '[' && hlen >= 2 && colon[-1] == ']') {
		host++;
		hlen -= 2;
	}
	if (hlen >= sizeof(buf)) {
		log_error("%s %s: host name too long", what, hostport);
		return -1;
	}
	memcpy(buf, host, hlen);
	buf[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((rc = getaddrinfo(buf, colon + 1, &hints, res)) != 0) {
		log_error("%s %s: %s", what, hostport, gai_strerror(rc));
		return -1;
	}
	return 0;
}

int
listener_open_tcp(struct server *s, const char *hostport, bool insecure)
{
	struct addrinfo		*res = NULL;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 desc[128];
	evutil_socket_t		 fd = -1;
	int			 one = 1;
	bool			 tls;

	tls = config_addr_tls(hostport, &hostport);
	assert(!tls || s->tls_ctx != NULL);

	if (listener_resolve("listen", hostport, &res) == -1)
		return -1;
	if (insecure && !listener_is_loopback(res->ai_addr)) {
		log_error("listen %s: insecure-tcp is for loopback addresses "
		    "only", hostport);
		goto fail;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ==
	    -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		log_error("listen %s: %s", hostport, strerror(errno));
		goto fail;
	}
	freeaddrinfo(res);
	listener_describe((struct sockaddr *)&ss, desc, sizeof(desc));
	s->has_tcp = true;
	listener_add(s, fd, desc, NULL, NULL)->tls = tls;
	log_info("listening on %s %s", tls ? "tls" : "tcp", desc);
	return 0;
fail:
	if (fd != -1)
		close(fd);
	freeaddrinfo(res);
	return -1;
}

/* Is something accepting on path?  (Then it is not a stale socket.) */
static bool
listener_unix_in_use(const struct sockaddr_un *sun)
{
	int	 fd, rc;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return false;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	return rc == 0;
}

int
listener_open_unix(struct server *s, const char *path, unsigned mode,
    const char *group)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	struct group		*gr = NULL;
	char			 desc[128];
	int			 fd;

	if (group != NULL && (gr = getgrnam(group)) == NULL) {
		log_error("unix %s: no group '%s'", path, group);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_error("unix %s: path too long", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("unix %s: exists and is not a socket", path);
			return -1;
		}
		if (listener_unix_in_use(&sun)) {
			log_error("unix %s: another server is listening",
			    path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, mode) == -1 ||
	    (gr != NULL && chown(path, (uid_t)-1, gr->gr_gid) == -1) ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		log_error("unix %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	snprintf(desc, sizeof(desc), "unix:%s", path);
	listener_add(s, fd, desc, path, path);
	log_info("listening on unix %s", path);
	return 0;
}

int
listener_open_activated(struct server *s, bool insecure)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 desc[160];
	int			 n, i, fd;

	/* Unsets LISTEN_*: jobs must not think the sockets are theirs. */
	if ((n = sd_listen_fds(1)) <= 0)
		return 0;
	for (i = 0; i < n; i++) {
		fd = SD_LISTEN_FDS_START + i;
		sslen = sizeof(ss);
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
			log_error("activation fd %d is not a listening stream "
			    "socket", fd);
			return -1;
		}
		if (ss.ss_family != AF_UNIX && insecure &&
		    !listener_is_loopback((struct sockaddr *)&ss)) {
			listener_describe((struct sockaddr *)&ss, desc,
			    sizeof(desc));
			log_error("activation socket %s: insecure-tcp is for "
			    "loopback addresses only", desc);
			return -1;
		}
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		if (ss.ss_family == AF_UNIX) {
			snprintf(desc, sizeof(desc), "unix:%.108s",
			    ((struct sockaddr_un *)&ss)->sun_path);
			listener_add(s, fd, desc, NULL,
			    ((struct sockaddr_un *)&ss)->sun_path);
			log_info("listening on unix %s (socket activation)",
			    ((struct sockaddr_un *)&ss)->sun_path);
		} else {
			listener_describe((struct sockaddr *)&ss, desc,
			    sizeof(desc));
			s->has_tcp = true;
			listener_add(s, fd, desc, NULL, NULL);
			log_info("listening on tcp %s (socket activation)",
			    desc);
		}
	}
	return n;
}

void
listener_close_all(struct server *s)
{
	struct listener	*l;

	while ((l = TAILQ_FIRST(&s->listeners)) != NULL) {
		TAILQ_REMOVE(&s->listeners, l, entry);
		evconnlistener_free(l->lev);
		event_free(l->ev_retry);
		if (l->unix_path != NULL) {
			unlink(l->unix_path);
			free(l->unix_path);
		}
		free(l);
	}
}
