/*
 * Listening sockets: TCP (host:port, port 0 picks one) and Unix stream
 * sockets.  Each logs "listening on tcp ADDR" or "listening on unix PATH"
 * once open; accepted sockets go to server_accept().  When the process is
 * out of file descriptors, accepting pauses for a second instead of
 * spinning.
 */
#ifndef JQD_LISTENER_H
#define JQD_LISTENER_H

#include <sys/queue.h>
#include <stdbool.h>

#include "access.h"

struct evconnlistener;
struct event;
struct server;

struct listener {
	TAILQ_ENTRY(listener)	 entry;
	struct server		*server;
	struct evconnlistener	*lev;
	struct event		*ev_retry;	/* re-enable after EMFILE */
	char			*unix_path;	/* unlinked on close */
	struct access_socket	 sock;		/* Unix: whom the file admits */
	char			 desc[128];
};

/*
 * Open and add to s->listeners.  0, or -1 after logging why.  insecure:
 * TCP clients need not authenticate, so only loopback is allowed.
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

#endif
