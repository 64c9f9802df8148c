/*
 * Prometheus metrics: `--metrics HOST:PORT` serves GET /metrics in the
 * text exposition format (version 0.0.4) with libevent's evhttp, on the
 * same loop.  The figures are those of `stats`, with per-channel and
 * per-state labels, plus histograms of commit latency and job duration.
 * Loopback only unless a token is configured; with a token, requests must
 * carry "Authorization: Bearer <token>".  Requests, connections and their
 * lifetime are bounded (metrics.c).  The same listener serves the
 * dashboard (dash.h) on every other path.
 */
#ifndef JQD_METRICS_H
#define JQD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evhttp_connection;
struct server;

#define HISTOGRAM_BUCKETS	12
/* Open HTTP connections; more are answered 503 (fdlimit.c counts them). */
#define METRICS_MAX_CONNS	64

/* Cumulative-bucket histogram in seconds. */
struct histogram {
	const double	*bounds;	/* HISTOGRAM_BUCKETS upper bounds */
	uint64_t	 counts[HISTOGRAM_BUCKETS];
	uint64_t	 count;
	double		 sum;
};

extern const double metrics_commit_bounds[HISTOGRAM_BUCKETS];
extern const double metrics_job_bounds[HISTOGRAM_BUCKETS];

void	 histogram_observe(struct histogram *h, double seconds);

/*
 * The dashboard (dash.c) follows its requests' HTTP connections: cb(arg)
 * runs when evcon is about to be freed (the peer went away, the lifetime
 * ran out, jqd stops; cb NULL: no more).  stream: evcon carries an event
 * stream, which METRICS_LIFETIME_S does not bound.  -1 if evcon is not
 * one of the listener's (yet).
 */
typedef void	 metrics_close_cb(void *arg);
int	 metrics_conn_watch(struct server *s,
	    struct evhttp_connection *evcon, bool stream,
	    metrics_close_cb *cb, void *arg);
/* The token changed: the dashboard's sessions end. */
void	 metrics_token_changed(struct server *s);

/* Start serving (s->metrics); 0, or -1 after logging why. */
int	 metrics_start(struct server *s, const char *hostport);
/*
 * Close the listener and every connection.  Only once the loop has stopped
 * for good: a pending resume of accepting would find the listener freed.
 */
void	 metrics_stop(struct server *s);

#endif
