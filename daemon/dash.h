/*
 * The dashboard over HTTP (PROTOCOL.md 16), on the --metrics listener:
 * the page's files at "/" and "/assets/", and "/api/": a session (login
 * with the token, a cookie, a CSRF secret), jqd's read ops and actions
 * (dash-api.c runs them), live updates as Server-Sent Events and a
 * history of the last minutes (dash-history.c).  metrics.c owns the
 * listener and its connections and hands every request that is not
 * /metrics or /healthz to dash_request().
 */
#ifndef JQD_DASH_H
#define JQD_DASH_H

#include <stdbool.h>
#include <stddef.h>

struct dash;
struct evhttp_request;
struct evkeyvalq;
struct server;

/* For the listener of s (tls: HTTPS).  Never NULL. */
struct dash	*dash_new(struct server *s, bool tls);
/* End every session and stream first (metrics_stop frees the HTTP side). */
void		 dash_free(struct dash *d);
/* Serve req (any path but /metrics and /healthz); it is answered. */
void		 dash_request(struct dash *d, struct evhttp_request *req);
/* The token changed (SIGHUP): every session ends, with its streams. */
void		 dash_token_changed(struct dash *d);

/* The headers every response carries (CSP and the rest, section 16). */
void		 dash_security_headers(struct evkeyvalq *out);
/* Answer req with status and a JSON body (len bytes), no-store. */
void		 dash_send_json(struct evhttp_request *req, int status,
		    const char *body, size_t len);
/* Answer {"ok":false,"error":{"code":code,"message":message}}. */
void		 dash_send_error(struct evhttp_request *req, int status,
		    const char *code, const char *message);

#endif
