/*
 * The dashboard's API (PROTOCOL.md 16): jqd's own ops run for HTTP
 * requests, live updates and job watches as Server-Sent Events, and the
 * history.  dash.c has checked who asks (session, CSRF, method of a POST)
 * before any of these runs.
 *
 * Each request gets an in-process connection of its own (conn_new_bev on
 * a bufferevent pair, authenticated): the op passes dispatch exactly as a
 * socket client's would.  The connection ends with the request: the HTTP
 * peer going away closes it, which abandons a parked watch.
 */
#ifndef JQD_DASH_API_H
#define JQD_DASH_API_H

#include <stdint.h>

struct dash_api;
struct evhttp_request;
struct server;

/* Never NULL; starts the history's sampling. */
struct dash_api	*dash_api_new(struct server *s);
/* Ends every stream and call first. */
void		 dash_api_free(struct dash_api *a);
/*
 * Whom a stream is for: it ends with session (dash_api_end_streams), and
 * at expires_ms (server_now_ms; 0: never), when the session would.
 */
struct dash_api_owner {
	const void	*session;	/* NULL: none (Bearer, auth none) */
	int64_t		 expires_ms;
};

/*
 * Serve /api/<name> (an op, "live", "watch" or "history") for req, on
 * behalf of owner (copied).  req is answered, now or later.
 */
void		 dash_api_serve(struct dash_api *a, struct evhttp_request *req,
		    const char *name, const struct dash_api_owner *owner);
/* End the streams started for session (NULL: every stream). */
void		 dash_api_end_streams(struct dash_api *a, const void *session);

#endif
