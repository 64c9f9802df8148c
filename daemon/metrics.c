/*
 * /metrics in the Prometheus text format (see metrics.h).  The page is
 * built on each scrape from the server's figures; nothing is kept but the
 * two histograms, which the server feeds as commits and jobs finish.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "chan.h"
#include "config.h"
#include "dispatch.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "store.h"

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
	size_t		  n, i, k;
	uint64_t	  v = 0;

	list = chanmap_list(&s->chans, "", &n);
	for (k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		metrics_head(b, m[k].name, m[k].type, m[k].help);
		for (i = 0; i < n; i++) {
			switch (k) {
			case 0: v = list[i]->len; break;
			case 1: v = list[i]->leased; break;
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

static void
metrics_page(struct evbuffer *b, struct server *s)
{
	struct store_stats	 st;
	size_t			 i;

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
	    (double)s->chans.count);
	metrics_one(b, "jqd_buffered_values", "gauge",
	    "Values held in channels (buffered or leased).",
	    (double)s->totals.values);
	metrics_one(b, "jqd_buffered_bytes", "gauge",
	    "Size of the values held in channels.", (double)s->totals.bytes);
	metrics_channels(b, s);
	metrics_head(b, "jqd_jobs", "gauge", "Retained jobs by state.");
	for (i = 0; i < JOB_NSTATES; i++)
		evbuffer_add_printf(b, "jqd_jobs{state=\"%s\"} %zu\n",
		    job_state_name((enum job_state)i), s->jobs.count[i]);
	metrics_one(b, "jqd_jobs_started_total", "counter",
	    "Job runs started.", (double)s->jobs.started_total);
	metrics_one(b, "jqd_workers_busy", "gauge", "Jobs running.",
	    (double)s->jobs.running);
	metrics_one(b, "jqd_workers", "gauge", "Size of the worker pool.",
	    (double)s->cfg->workers);
	metrics_head(b, "jqd_requests_total", "counter",
	    "Requests executed, by op.");
	for (i = 0; i < dispatch_op_count(); i++)
		evbuffer_add_printf(b, "jqd_requests_total{op=\"%s\"} %llu\n",
		    dispatch_op_name(i), (unsigned long long)s->op_counts[i]);
	store_get_stats(s->store, &st);
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

static void
metrics_cb(struct evhttp_request *req, void *arg)
{
	struct server	*s = arg;
	struct evbuffer	*b;
	const char	*auth;
	char		 want[4200];

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	if (s->token != NULL) {
		snprintf(want, sizeof(want), "Bearer %s", s->token);
		auth = evhttp_find_header(evhttp_request_get_input_headers(req),
		    "Authorization");
		if (auth == NULL || strcmp(auth, want) != 0) {
			evhttp_send_error(req, 401, "Unauthorized");
			return;
		}
	}
	if ((b = evbuffer_new()) == NULL)
		fatal("out of memory");
	metrics_page(b, s);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void
metrics_other_cb(struct evhttp_request *req, void *arg)
{
	evhttp_send_error(req, 404, "Not Found");
}

int
metrics_start(struct server *s, const char *hostport)
{
	struct addrinfo		 hints, *res = NULL;
	struct evhttp_bound_socket *bound;
	const char		*colon = strrchr(hostport, ':');
	char			 host[256];
	size_t			 hlen = (size_t)(colon - hostport);
	bool			 loopback;
	int			 rc;

	if (hostport[0] == '[' && hlen >= 2) {
		hostport++;
		hlen -= 2;
	}
	snprintf(host, sizeof(host), "%.*s", (int)hlen, hostport);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
		log_error("metrics %s: %s", hostport, gai_strerror(rc));
		return -1;
	}
	loopback = (res->ai_family == AF_INET &&
	    (ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr) >>
	    24) == 127) || (res->ai_family == AF_INET6 &&
	    IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)
	    res->ai_addr)->sin6_addr));
	freeaddrinfo(res);
	if (!loopback && s->token == NULL) {
		log_error("metrics %s: refusing a non-loopback address without "
		    "a token (set token-file)", hostport);
		return -1;
	}
	if ((s->http = evhttp_new(s->base)) == NULL)
		fatal("out of memory");
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET);
	evhttp_set_cb(s->http, "/metrics", metrics_cb, s);
	evhttp_set_gencb(s->http, metrics_other_cb, s);
	evhttp_set_timeout(s->http, 10);
	bound = evhttp_bind_socket_with_handle(s->http, host,
	    (ev_uint16_t)atoi(colon + 1));
	if (bound == NULL) {
		log_error("metrics %s: cannot listen", hostport);
		return -1;
	}
	{
		struct sockaddr_storage	 ss;
		socklen_t		 len = sizeof(ss);
		char			 addr[INET6_ADDRSTRLEN];
		int			 port = 0;

		if (getsockname(evhttp_bound_socket_get_fd(bound),
		    (struct sockaddr *)&ss, &len) == 0) {
			if (ss.ss_family == AF_INET) {
				inet_ntop(AF_INET, &((struct sockaddr_in *)
				    &ss)->sin_addr, addr, sizeof(addr));
				port = ntohs(((struct sockaddr_in *)
				    &ss)->sin_port);
			} else {
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)
				    &ss)->sin6_addr, addr, sizeof(addr));
				port = ntohs(((struct sockaddr_in6 *)
				    &ss)->sin6_port);
			}
			log_info("metrics on http://%s:%d/metrics", addr,
			    port);
		}
	}
	return 0;
}

void
metrics_stop(struct server *s)
{
	if (s->http != NULL) {
		evhttp_free(s->http);
		s->http = NULL;
	}
}
