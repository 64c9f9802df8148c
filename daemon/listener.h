/*
 * Listening sockets: TCP (host:port, port 0 picks one), TLS over TCP
 * (tls:host:port) and Unix stream sockets.  Each logs "listening on tcp
 * ADDR", "listening on tls ADDR" or "listening on unix PATH" once open; accepted sockets go to server_accept().  When the process is
 * out of file descriptors, accepting pauses for a second instead of
 * spinning.
 */
#ifndef JQD_LISTENER_H
#define JQD_LISTENER_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stddef.h>

#include "access.h"

/* How long accepting pauses when the process is out of descriptors. */
#define LISTENER_PAUSE_MS	1000

struct addrinfo;
struct evconnlistener;
struct event;
struct server;
struct sockaddr;

struct listener {
	TAILQ_ENTRY(listener)	 entry;
	struct server		*server;
	struct evconnlistener	*lev;
	struct event		*ev_retry;	/* re-enable after EMFILE */
	char			*unix_path;	/* unlinked on close */
	struct access_socket	 sock;		/* Unix: whom the file admits */
	bool			 tls;		/* tls:HOST:PORT (tls.h) */
	char			 desc[128];
};

/*
 * Open and add to s->listeners.  0, or -1 after logging why.  insecure:
 * TCP clients need not authenticate, so only loopback is allowed.
 * hostport may be "tls:HOST:PORT": its connections then start with a TLS
 * handshake (s->tls_ctx), and it logs "listening on tls ADDR".
 */
int	 listener_open_tcp(struct server *s, const char *hostport,
	    bool insecure);
int	 listener_open_unix(struct server *s, const char *path,
	    unsigned mode, const char *group);
/*
 * Take the sockets systemd passed (LISTEN_FDS).  Returns how many, or -1
 * after logging why one was refused.
 */
int	 listener_open_activated(struct server *s, bool insecure);
/* Close every listener (stop accepting). */
void	 listener_close_all(struct server *s);

/*
 * For the metrics listener too.  listener_resolve: "HOST:PORT" or
 * "[HOST]:PORT" (port 0: the system picks) to passive TCP addresses;
 * returns 0 and *res (free it with freeaddrinfo), or -1 after logging
 * "<what> <hostport>: why", hostport as written.
 */
int	 listener_resolve(const char *what, const char *hostport,
	    struct addrinfo **res);
/* 127.0.0.0/8 or ::1. */
bool	 listener_is_loopback(const struct sockaddr *sa);
/* "127.0.0.1:7411", "[::1]:7411" (a URL's form), or "unix". */
void	 listener_describe(const struct sockaddr *sa, char *buf, size_t len);
/*
 * For an evconnlistener's error callback, with errno as accept() left it.
 * Out of descriptors or memory, accepting again at once would fail again
 * at once, in a loop: disables lev and returns true, and the caller
 * enables it after LISTENER_PAUSE_MS.  Logs, rate-limited, as "<desc>:
 * accept: why".
 */
bool	 listener_accept_failed(struct evconnlistener *lev,
	    const char *desc);

#endif
