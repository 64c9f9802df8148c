/*
 * /metrics in the Prometheus text format (see metrics.h).  The page is
 * built on each scrape from the server's figures; nothing is kept but the
 * two histograms, which the server feeds as commits and jobs finish.
 *
 * The HTTP server is libevent's evhttp, held to bounds it does not keep by
 * itself (jqd(8) --metrics, RELIABILITY.md "Bounds"):
 *   - a request is a head of at most METRICS_MAX_HEAD bytes and a body
 *     of at most METRICS_MAX_BODY (a dashboard action's): evhttp refuses
 *     a longer head (400) or body (413) before reading it, and a read
 *     watermark keeps what it buffers small whatever it parses (an
 *     endless chunk-size line);
 *   - GET and HEAD (POST for the dashboard's /api/ only), one request per
 *     connection (Connection: close);
 *   - at most METRICS_MAX_CONNS connections; more are answered 503 and
 *     closed at once;
 *   - a connection lives at most METRICS_LIFETIME_S from accept to close,
 *     however slowly its peer sends or reads, unless it carries one of
 *     the dashboard's event streams (metrics_conn_watch; dash-api.c
 *     bounds those);
 *   - out of descriptors, accepting pauses (listener_accept_failed), and
 *     the log says so at most once a second.
 *
 * The page holds per-channel series for the first metrics-channels
 * channels by name (a stable set, so that series do not come and go
 * from one scrape to the next as channels do); jqd_metrics_channels_
 * omitted counts the rest, which only the totals cover.  Thousands of
 * channels would otherwise make a scrape of megabytes.
 *
 * Every other path is the dashboard's (dash.c, PROTOCOL.md 16).
 *
 * /healthz, on the same listener and without the token (it says only
 * whether this jqd serves): 200 "ok" while it does, 503 and a word of why
 * while it does not (standby, stopping, stepping down, a store that does
 * not commit), for load balancers and orchestrators.
 *
 * evhttp accepts and owns the connections; libevent 2.1 tells us nothing
 * of one until a request is complete.  We give it each connection's
 * bufferevent (evhttp_set_bevcb), and, once evhttp has set it up, take the
 * connection from that bufferevent's callback argument, where evhttp keeps
 * it, to set a close callback (our count) and the lifetime timer.
 */
#include <sys/socket.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "chan.h"
#include "config.h"
#include "dash.h"
#include "dispatch.h"
#include "job.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "op-worker.h"
#include "pool.h"
#include "server.h"
#include "store.h"
#include "tls.h"
#include "units.h"

#define METRICS_MAX_HEAD	8192
/* A dashboard action's JSON body; evhttp answers 413 beyond, unread. */
#define METRICS_MAX_BODY	(64 * 1024)
#define METRICS_LIFETIME_S	10
#define METRICS_BACKLOG		64
/* A commit waiting this long: /healthz says the store is not answering. */
#define METRICS_HEALTH_STALL_MS	2000

TAILQ_HEAD(metrics_conn_list, metrics_conn);

struct metrics {
	struct evhttp		*http;
	struct event		*ev_adopt;	/* runs metrics_adopt_cb */
	struct metrics_conn_list fresh;		/* accepted, not adopted */
	struct metrics_conn_list conns;		/* adopted */
	size_t			 nconns;	/* not refused, on both lists */
	struct server		*server;
	bool			 tls;		/* tls:HOST:PORT: HTTPS */
	struct dash		*dash;		/* every other path */
};

/* One connection evhttp accepted. */
struct metrics_conn {
	TAILQ_ENTRY(metrics_conn) entry;
	struct metrics		*m;
	struct bufferevent	*bev;		/* evhttp's */
	struct evhttp_connection *evcon;	/* NULL until adopted */
	struct event		*ev_lifetime;
	bool			 refused;	/* over METRICS_MAX_CONNS */
	metrics_close_cb	*close_cb;	/* metrics_conn_watch's */
	void			*close_arg;
};

const double metrics_commit_bounds[HISTOGRAM_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 1,
};

const double metrics_job_bounds[HISTOGRAM_BUCKETS] = {
	0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600,
};

void
histogram_observe(struct histogram *h, double seconds)
{
	int	 i;

	for (i = 0; i < HISTOGRAM_BUCKETS; i++) {
		if (seconds <= h->bounds[i])
			h->counts[i]++;
	}
	h->count++;
	h->sum += seconds;
}

static void
metrics_head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static void
metrics_one(struct evbuffer *b, const char *name, const char *type,
    const char *help, double v)
{
	metrics_head(b, name, type, help);
	evbuffer_add_printf(b, "%s %.15g\n", name, v);
}

static void
metrics_histogram(struct evbuffer *b, const char *name, const char *help,
    const struct histogram *h)
{
	int	 i;

	metrics_head(b, name, "histogram", help);
	for (i = 0; i < HISTOGRAM_BUCKETS; i++)
		evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name,
		    h->bounds[i], (unsigned long long)h->counts[i]);
	evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	    (unsigned long long)h->count);
	evbuffer_add_printf(b, "%s_sum %.15g\n%s_count %llu\n", name, h->sum,
	    name, (unsigned long long)h->count);
}

/* Channel names are [A-Za-z0-9._:-]: safe inside a label value. */
static void
metrics_channels(struct evbuffer *b, struct server *s)
{
	static const struct {
		const char	*name;
		const char	*type;
		const char	*help;
	} m[] = {
		{ "jqd_channel_len", "gauge", "Values buffered in a channel." },
		{ "jqd_channel_leased", "gauge", "Values out on lease." },
		{ "jqd_channel_cap", "gauge", "Capacity of a channel." },
		{ "jqd_channel_senders_waiting", "gauge",
		  "Senders blocked on a channel." },
		{ "jqd_channel_receivers_waiting", "gauge",
		  "Receivers blocked on a channel." },
		{ "jqd_channel_sent_total", "counter",
		  "Values sent to a channel since start." },
		{ "jqd_channel_received_total", "counter",
		  "Values received from a channel since start." },
	};
	struct chan	**list;
	size_t		  n, shown, i, k;
	uint64_t	  v = 0;

	n = chanmap_count(&s->chans);
	shown = n < s->cfg->metrics_channels ? n :
	    (size_t)s->cfg->metrics_channels;
	metrics_one(b, "jqd_metrics_channels_omitted", "gauge",
	    "Channels without series of their own here (past "
	    "metrics-channels).", (double)(n - shown));
	if (s->cfg->metrics_channels == 0)
		return;
	list = chanmap_list(&s->chans, "", &n);
	for (k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		metrics_head(b, m[k].name, m[k].type, m[k].help);
		for (i = 0; i < shown; i++) {
			switch (k) {
			case 0: v = list[i]->len; break;
			case 1: v = list[i]->leased + list[i]->ndelayed; break;
			case 2: v = list[i]->cap; break;
			case 3: v = list[i]->nsend; break;
			case 4: v = list[i]->nrecv; break;
			case 5: v = list[i]->sent; break;
			case 6: v = list[i]->received; break;
			}
			evbuffer_add_printf(b, "%s{chan=\"%s\"} %llu\n",
			    m[k].name, list[i]->name, (unsigned long long)v);
		}
	}
	free(list);
}

/*
 * Agents and pools (worker.c).  jqd_workers is the local pool's size
 * since protocol 1.0, so the agents by state are jqd_remote_workers.
 * Pool names need no escaping ([A-Za-z0-9._:-]).
 */
static void
metrics_remote(struct evbuffer *b, struct server *s)
{
	size_t			 count[WORKER_NSTATES], i, n;
	struct pool_queue	*p;
	const char		**names;

	workers_count_states(&s->workers, count);
	metrics_head(b, "jqd_remote_workers", "gauge",
	    "Registered agents (jq-worker) by state.");
	for (i = 0; i < WORKER_NSTATES; i++)
		evbuffer_add_printf(b, "jqd_remote_workers{state=\"%s\"} %zu\n",
		    worker_state_name((enum worker_state)i), count[i]);
	metrics_one(b, "jqd_remote_jobs_running", "gauge",
	    "Jobs running on agents.", (double)s->workers.remote_running);
	metrics_one(b, "jqd_worker_leases_expired_total", "counter",
	    "Agents' job attempts ended because their lease ran out.",
	    (double)s->workers.leases_expired_total);
	metrics_head(b, "jqd_pool_jobs", "gauge",
	    "Jobs queued and running, by pool.");
	names = op_worker_pool_names(s, &n);
	for (i = 0; i < n; i++) {
		p = pool_find(&s->jobs, names[i]);
		evbuffer_add_printf(b, "jqd_pool_jobs{pool=\"%s\","
		    "state=\"queued\"} %zu\n", names[i],
		    p != NULL ? p->queued : 0);
		evbuffer_add_printf(b, "jqd_pool_jobs{pool=\"%s\","
		    "state=\"running\"} %zu\n", names[i],
		    p != NULL ? p->running : 0);
	}
	free(names);
}

static void
metrics_page(struct evbuffer *b, struct server *s)
{
	struct store_stats	 st;
	size_t			 i;

	evbuffer_add_printf(b, "# HELP jqd_build_info The jqd version and "
	    "the protocol it serves.\n# TYPE jqd_build_info gauge\n"
	    "jqd_build_info{version=\"%s\",protocol=\"%d.%d\"} 1\n",
	    PACKAGE_VERSION, DISPATCH_PROTOCOL, DISPATCH_PROTOCOL_MINOR);
	metrics_one(b, "jqd_uptime_seconds", "gauge", "Seconds since start.",
	    (double)(server_now_ms() - s->start_ms) / 1e3);
	metrics_one(b, "jqd_connections", "gauge", "Open client connections.",
	    (double)s->nconns);
	metrics_one(b, "jqd_connections_total", "counter",
	    "Client connections accepted.", (double)s->conns_total);
	metrics_one(b, "jqd_requests_waiting", "gauge",
	    "Requests blocked in send, recv, select or wait.",
	    (double)s->nparked);
	metrics_one(b, "jqd_channels", "gauge", "Channels.",
	    (double)chanmap_count(&s->chans));
	metrics_one(b, "jqd_buffered_values", "gauge",
	    "Values held in channels (buffered or leased).",
	    (double)s->totals.values);
	metrics_one(b, "jqd_buffered_bytes", "gauge",
	    "Memory held by channel values, as max-buffered-bytes counts it: "
	    "their size plus a fixed overhead per value and per lease.",
	    (double)s->totals.bytes);
	metrics_channels(b, s);
	metrics_head(b, "jqd_jobs", "gauge", "Retained jobs by state.");
	for (i = 0; i < JOB_NSTATES; i++)
		evbuffer_add_printf(b, "jqd_jobs{state=\"%s\"} %zu\n",
		    job_state_name((enum job_state)i), s->jobs.count[i]);
	metrics_one(b, "jqd_jobs_started_total", "counter",
	    "Job runs started.", (double)s->jobs.started_total);
	metrics_head(b, "jqd_jobs_finished_total", "counter",
	    "Jobs that reached a final state since jqd started, by state.");
	for (i = 0; i < JOB_NSTATES; i++) {
		if (job_state_final((enum job_state)i))
			evbuffer_add_printf(b, "jqd_jobs_finished_total{state="
			    "\"%s\"} %llu\n", job_state_name((enum job_state)i),
			    (unsigned long long)s->jobs.finished_total[i]);
	}
	metrics_one(b, "jqd_workers_busy", "gauge", "Jobs running.",
	    (double)s->jobs.running);
	metrics_one(b, "jqd_workers", "gauge", "Size of the worker pool.",
	    (double)s->jobs.cfg.workers);
	metrics_remote(b, s);
	metrics_head(b, "jqd_requests_total", "counter",
	    "Requests executed, by op.");
	for (i = 0; i < dispatch_op_count(); i++)
		evbuffer_add_printf(b, "jqd_requests_total{op=\"%s\"} %llu\n",
		    dispatch_op_name(i), (unsigned long long)s->op_counts[i]);
	store_get_stats(s->store, &st);
	evbuffer_add_printf(b, "# HELP jqd_store_info The store backend.\n"
	    "# TYPE jqd_store_info gauge\n"
	    "jqd_store_info{backend=\"%s\"} 1\n", st.backend);
	metrics_one(b, "jqd_store_active", "gauge",
	    "1 while this jqd serves; 0 while a standby waits to take over.",
	    st.active ? 1 : 0);
	metrics_one(b, "jqd_store_epoch", "gauge",
	    "Takeovers of the shared database, this one's (0: not shared).",
	    (double)st.epoch);
	metrics_one(b, "jqd_store_commits_total", "counter",
	    "Store transactions committed.", (double)st.commits);
	metrics_one(b, "jqd_store_changes_total", "counter",
	    "Changes committed (many share one commit).", (double)st.records);
	metrics_one(b, "jqd_store_commit_failures_total", "counter",
	    "Commits that failed (and were retried).", (double)st.failures);
	metrics_one(b, "jqd_store_db_bytes", "gauge",
	    "Size of the database file.", (double)st.db_bytes);
	metrics_one(b, "jqd_store_wal_bytes", "gauge",
	    "Size of the write-ahead log.", (double)st.wal_bytes);
	metrics_histogram(b, "jqd_store_commit_seconds",
	    "Time to commit one batch, fsync included.", &s->commit_hist);
	metrics_histogram(b, "jqd_job_duration_seconds",
	    "Run time of finished jobs.", &s->job_hist);
}

/* "Authorization: Bearer <token>", the whole token (server_token_matches). */
static bool
metrics_authorized(struct server *s, struct evhttp_request *req)
{
	static const char	 scheme[] = "Bearer ";
	const char		*auth;

	if (s->token == NULL)
		return true;
	auth = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (auth == NULL ||
	    strncasecmp(auth, scheme, sizeof(scheme) - 1) != 0)
		return false;
	auth += sizeof(scheme) - 1;
	return server_token_matches(s, auth, strlen(auth));
}

/*
 * /metrics and /healthz take GET and HEAD only (the listener takes POST
 * for the dashboard's API): false after answering 405.  Either way the
 * response carries the dashboard's security headers, as every one does.
 */
static bool
metrics_get_or_head(struct evhttp_request *req)
{
	dash_security_headers(evhttp_request_get_output_headers(req));
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		return true;
	default:
		evhttp_send_error(req, 405, "Method Not Allowed");
		return false;
	}
}

static void
metrics_cb(struct evhttp_request *req, void *arg)
{
	struct server		*s = arg;
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	struct evbuffer		*b;

	if (!metrics_get_or_head(req))
		return;
	if (!metrics_authorized(s, req)) {
		evhttp_send_error(req, 401, "Unauthorized");
		return;
	}
	evhttp_add_header(out, "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_add_header(out, "Connection", "close");
	/* evhttp would send a HEAD reply's body; give it none. */
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		evhttp_send_reply(req, 200, "OK", NULL);
		return;
	}
	if ((b = evbuffer_new()) == NULL)
		fatal("out of memory");
	metrics_page(b, s);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* Why this jqd does not serve, or NULL when it does. */
static const char *
metrics_unhealthy(struct server *s, char *buf, size_t len)
{
	char		 d[UNITS_DURATION_MAX];
	uint64_t	 ms;

	if (s->exit_status != 0)
		return "stepping down";
	if (s->standby)
		return "standby: another jqd is active";
	if (s->stopping)
		return "stopping";
	if (store_failing(s->store))
		return "store: commits are failing";
	if ((ms = store_stalled_ms(s->store)) >= METRICS_HEALTH_STALL_MS) {
		snprintf(buf, len, "store: no commit for %s",
		    units_format_duration(d, sizeof(d), (int64_t)ms));
		return buf;
	}
	return NULL;
}

/* /healthz: no token (see the top of this file). */
static void
metrics_healthz_cb(struct evhttp_request *req, void *arg)
{
	struct server		*s = arg;
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	struct evbuffer		*b;
	const char		*why;
	char			 buf[64];

	if (!metrics_get_or_head(req))
		return;
	why = metrics_unhealthy(s, buf, sizeof(buf));
	evhttp_add_header(out, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(out, "Connection", "close");
	evhttp_add_header(out, "Cache-Control", "no-store");
	if ((b = evbuffer_new()) == NULL)
		fatal("out of memory");
	/* evhttp would send a HEAD reply's body; give it none. */
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		evbuffer_add_printf(b, "%s\n", why != NULL ? why : "ok");
	if (why == NULL)
		evhttp_send_reply(req, 200, "OK", b);
	else
		evhttp_send_reply(req, 503, "Service Unavailable", b);
	evbuffer_free(b);
}

static void
metrics_other_cb(struct evhttp_request *req, void *arg)
{
	struct metrics	*m = arg;

	dash_request(m->dash, req);
}

static void
metrics_conn_free(struct metrics_conn *c)
{
	struct metrics	*m = c->m;

	if (c->close_cb != NULL)
		c->close_cb(c->close_arg);
	TAILQ_REMOVE(c->evcon != NULL ? &m->conns : &m->fresh, c, entry);
	if (!c->refused)
		m->nconns--;
	event_free(c->ev_lifetime);
	free(c);
}

/* evhttp is freeing the connection (it closed, or we closed it). */
static void
metrics_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	metrics_conn_free(arg);
}

static void
metrics_lifetime_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_conn	*c = arg;

	log_debug("metrics: closing a connection open for %d s",
	    METRICS_LIFETIME_S);
	evhttp_connection_free(c->evcon);	/* frees c */
}

/*
 * Over the limit: a 503 if the socket takes it at once (no buffering:
 * the connection is gone when we return), then close.
 */
static void
metrics_refuse(struct metrics_conn *c)
{
	static const char	 busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Connection: close\r\nContent-Length: 0\r\n\r\n";

	log_warn_limited("metrics: refusing a connection: %d open (the limit)",
	    METRICS_MAX_CONNS);
	/* Over TLS there is no quick answer: the handshake comes first. */
	if (!c->m->tls)
		(void)send(bufferevent_getfd(c->bev), busy, sizeof(busy) - 1,
	    MSG_DONTWAIT | MSG_NOSIGNAL);
	evhttp_connection_free(c->evcon);	/* frees c */
}

/*
 * Connections accepted this loop turn, now that evhttp has set them up:
 * evhttp passes its connection as the bufferevent's callback argument.
 * One it already freed (a failure while setting it up) has no callbacks
 * left; the reference metrics_bev_cb took kept the bufferevent to look at.
 */
static void
metrics_adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics		*m = arg;
	struct metrics_conn	*c;
	struct timeval		 tv = { METRICS_LIFETIME_S, 0 };
	bufferevent_event_cb	 eventcb;
	void			*evcon;

	while ((c = TAILQ_FIRST(&m->fresh)) != NULL) {
		bufferevent_getcb(c->bev, NULL, NULL, &eventcb, &evcon);
		bufferevent_decref(c->bev);
		if (eventcb == NULL || evcon == NULL) {
			metrics_conn_free(c);
			continue;
		}
		TAILQ_REMOVE(&m->fresh, c, entry);
		c->evcon = evcon;
		TAILQ_INSERT_TAIL(&m->conns, c, entry);
		evhttp_connection_set_closecb(c->evcon, metrics_closed_cb, c);
		if (c->refused)
			metrics_refuse(c);
		else
			evtimer_add(c->ev_lifetime, &tv);
	}
}

/* evhttp accepted a connection and wants its bufferevent. */
static struct bufferevent *
metrics_bev_cb(struct event_base *base, void *arg)
{
	struct metrics		*m = arg;
	struct metrics_conn	*c;

	/*
	 * A TLS bufferevent without its socket yet: evhttp sets it, which
	 * starts the handshake.  METRICS_LIFETIME_S bounds a stalled one.
	 */
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->bev = m->tls ? tls_bev_new(base, m->server->tls_ctx, -1) :
	    bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL ||
	    (c->ev_lifetime = evtimer_new(base, metrics_lifetime_cb, c)) ==
	    NULL)
		fatal("out of memory");
	c->m = m;
	/*
	 * evhttp stops reading a head or a chunk-size line only at a line's
	 * end; past this much unparsed input, the socket is not read.
	 */
	bufferevent_setwatermark(c->bev, EV_READ, 0, 2 * METRICS_MAX_HEAD);
	/* Until metrics_adopt_cb looks at it, whatever evhttp does. */
	bufferevent_incref(c->bev);
	TAILQ_INSERT_TAIL(&m->fresh, c, entry);
	if (m->nconns < METRICS_MAX_CONNS)
		m->nconns++;
	else
		c->refused = true;
	event_active(m->ev_adopt, EV_WRITE, 0);
	return c->bev;
}

int
metrics_conn_watch(struct server *s, struct evhttp_connection *evcon,
    bool stream, metrics_close_cb *cb, void *arg)
{
	struct metrics_conn	*c;

	TAILQ_FOREACH(c, &s->metrics->conns, entry) {
		if (c->evcon == evcon)
			break;
	}
	if (c == NULL)
		return -1;
	c->close_cb = cb;
	c->close_arg = arg;
	if (stream)
		evtimer_del(c->ev_lifetime);
	return 0;
}

void
metrics_token_changed(struct server *s)
{
	if (s->metrics != NULL)
		dash_token_changed(s->metrics->dash);
}

static void
metrics_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	evconnlistener_enable(arg);
}

/*
 * evhttp_bind_listener made the evhttp this callback's argument, so there
 * is no struct metrics here to keep a timer in: a one-off timer of the
 * loop resumes accepting.  The listener lives until metrics_stop, which
 * runs once the loop has stopped (event_base_free drops the timer).
 */
static void
metrics_accept_error_cb(struct evconnlistener *lev, void *http)
{
	struct timeval	 tv = { LISTENER_PAUSE_MS / 1000, 0 };

	if (listener_accept_failed(lev, "metrics") &&
	    event_base_once(evconnlistener_get_base(lev), -1, EV_TIMEOUT,
	    metrics_resume_cb, lev, &tv) == -1)
		fatal("out of memory");
}

static void
metrics_log_address(struct evconnlistener *lev, bool tls)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 addr[160];

	if (getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&ss,
	    &len) == -1) {
		log_warn("metrics: getsockname: %s", strerror(errno));
		return;
	}
	listener_describe((struct sockaddr *)&ss, addr, sizeof(addr));
	log_info("metrics on %s://%s/metrics", tls ? "https" : "http", addr);
}

int
metrics_start(struct server *s, const char *hostport)
{
	struct addrinfo		*res;
	struct evconnlistener	*lev;
	struct metrics		*m;
	bool			 tls;

	tls = config_addr_tls(hostport, &hostport);
	if (listener_resolve("metrics", hostport, &res) == -1)
		return -1;
	if (!listener_is_loopback(res->ai_addr) && s->token == NULL) {
		log_error("metrics %s: refusing a non-loopback address without "
		    "a token (set token-file)", hostport);
		freeaddrinfo(res);
		return -1;
	}
	lev = evconnlistener_new_bind(s->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    METRICS_BACKLOG, res->ai_addr, (int)res->ai_addrlen);
	freeaddrinfo(res);
	if (lev == NULL) {
		log_error("metrics %s: cannot listen: %s", hostport,
		    strerror(errno));
		return -1;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->http = evhttp_new(s->base)) == NULL ||
	    (m->ev_adopt = event_new(s->base, -1, 0, metrics_adopt_cb, m)) ==
	    NULL)
		fatal("out of memory");
	TAILQ_INIT(&m->fresh);
	TAILQ_INIT(&m->conns);
	m->server = s;
	m->tls = tls;
	s->metrics = m;
	m->dash = dash_new(s, tls);
	/* POST: the dashboard's actions, on /api/ only (dash.c). */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST);
	evhttp_set_max_headers_size(m->http, METRICS_MAX_HEAD);
	evhttp_set_max_body_size(m->http, METRICS_MAX_BODY);
	evhttp_set_bevcb(m->http, metrics_bev_cb, m);
	evhttp_set_cb(m->http, "/metrics", metrics_cb, s);
	evhttp_set_cb(m->http, "/healthz", metrics_healthz_cb, s);
	evhttp_set_gencb(m->http, metrics_other_cb, m);
	if (evhttp_bind_listener(m->http, lev) == NULL)
		fatal("out of memory");
	evconnlistener_set_error_cb(lev, metrics_accept_error_cb);
	metrics_log_address(lev, tls);
	return 0;
}

void
metrics_stop(struct server *s)
{
	struct metrics		*m = s->metrics;
	struct metrics_conn	*c;

	if (m == NULL)
		return;
	/* Closes the listener and every connection (metrics_closed_cb). */
	evhttp_free(m->http);
	while ((c = TAILQ_FIRST(&m->fresh)) != NULL) {
		bufferevent_decref(c->bev);
		metrics_conn_free(c);
	}
	assert(m->nconns == 0);
	dash_free(m->dash);
	event_free(m->ev_adopt);
	free(m);
	s->metrics = NULL;
}
