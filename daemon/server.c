/*
 * The server: start-up order, signals, graceful stop.
 *
 * Start-up: token, store (open, check, load channels and jobs), the pool,
 * listeners, then "ready".
 *
 * SIGTERM/SIGINT: close the listeners, answer parked and new requests
 * shutting_down, start no queued job; running jobs may finish within
 * shutdown_grace, then are stopped (SIGTERM, SIGKILL after kill_grace) and
 * queued again; once every reply is out and every change committed, exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "listener.h"
#include "log.h"
#include "op-job.h"
#include "server.h"
#include "store.h"
#include "value.h"
#include "waitq.h"

/* How long a stopping server waits for replies to reach slow clients. */
#define STOP_FLUSH_MS	2000
#define STOP_POLL_MS	10

int64_t
server_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read the token file: surrounding whitespace is not part of the token. */
static int
server_load_token(struct server *s, const char *path)
{
	char	 buf[4096];
	ssize_t	 n;
	size_t	 start = 0, end;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_error("token file %s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		log_error("token file %s: %s", path, strerror(errno));
		return -1;
	}
	end = (size_t)n;
	while (start < end && strchr(" \t\r\n", buf[start]) != NULL)
		start++;
	while (end > start && strchr(" \t\r\n", buf[end - 1]) != NULL)
		end--;
	if (end == start || n == (ssize_t)sizeof(buf)) {
		log_error("token file %s: %s", path, end == start ?
		    "empty" : "longer than 4095 bytes");
		return -1;
	}
	s->token_len = end - start;
	s->token = malloc(s->token_len + 1);
	if (s->token == NULL)
		fatal("out of memory");
	memcpy(s->token, buf + start, s->token_len);
	s->token[s->token_len] = '\0';
	return 0;
}

/*
 * SIGHUP: read the configuration again (file and command line) and apply
 * what can change live: the log level and the token.  Everything else
 * needs a restart, which the log says.
 */
static void
server_reload(struct server *s)
{
	struct config	 cfg;
	char		 err[512];
	char		*old_token = s->token;
	size_t		 old_len = s->token_len;

	if (config_load(&cfg, s->argc, s->argv, err, sizeof(err)) != 0) {
		log_error("SIGHUP: configuration not reloaded: %s", err);
		config_fini(&cfg);
		return;
	}
	log_set_level(cfg.log_level);
	if (cfg.token_file != NULL) {
		s->token = NULL;
		if (server_load_token(s, cfg.token_file) == -1) {
			s->token = old_token;
			s->token_len = old_len;
			log_error("SIGHUP: keeping the previous token");
		} else {
			free(old_token);
			log_info("SIGHUP: token reloaded from %s",
			    cfg.token_file);
		}
	} else if (s->token != NULL)
		log_warn("SIGHUP: token-file removed; restart to stop "
		    "requiring auth");
	log_info("SIGHUP: configuration reloaded (log level, token; other "
	    "changes need a restart)");
	config_fini(&cfg);
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server	*s = arg;

	if (sig == SIGHUP) {
		server_reload(s);
		return;
	}
	log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	server_stop(s);
}

static bool
server_replies_out(const struct server *s)
{
	const struct conn	*c;

	TAILQ_FOREACH(c, &s->conns, entry) {
		if (!TAILQ_EMPTY(&c->calls) ||
		    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
			return false;
	}
	return true;
}

static void
server_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*s = arg;
	struct timeval	 tv = { 0, STOP_POLL_MS * 1000 };
	int64_t		 now = server_now_ms();

	if (s->jobs.running > 0 && !s->jobs_stopped &&
	    now >= s->stop_started_ms + s->cfg->shutdown_grace_ms) {
		log_info("stopping %zu running jobs; they will run again",
		    s->jobs.running);
		jobs_stop_running(&s->jobs);
		s->jobs_stopped = true;
		s->stop_deadline_ms = now + s->cfg->kill_grace_ms +
		    STOP_FLUSH_MS;
	}
	/*
	 * Done when nothing runs, every reply is out and every change is
	 * committed -- or, for replies a client won't read, at the deadline.
	 */
	if ((s->jobs.running == 0 && server_replies_out(s) &&
	    store_idle(s->store)) ||
	    (s->jobs.running == 0 && store_idle(s->store) &&
	    now >= s->stop_deadline_ms) ||
	    (s->jobs_stopped && now >= s->stop_deadline_ms)) {
		event_base_loopexit(s->base, NULL);
		return;
	}
	evtimer_add(s->ev_stop, &tv);
}

void
server_stop(struct server *s)
{
	struct conn	*c;

	if (s->stopping)
		return;
	s->stopping = true;
	sd_notifyf(0, "STOPPING=1\nSTATUS=stopping: %zu jobs running",
	    s->jobs.running);
	listener_close_all(s);
	jobs_pause(&s->jobs);
	TAILQ_FOREACH(c, &s->conns, entry) {
		if (c->parked != NULL)
			waiter_wake(c->parked->waiter, NULL, WAKE_SHUTDOWN,
			    NULL);
	}
	s->stop_started_ms = server_now_ms();
	s->stop_deadline_ms = s->stop_started_ms + STOP_FLUSH_MS;
	if (s->jobs.running > 0)
		s->stop_deadline_ms += s->cfg->shutdown_grace_ms +
		    s->cfg->kill_grace_ms;
	else
		s->jobs_stopped = true;
	server_stop_cb(-1, 0, s);
}

void
server_accept(struct server *s, int fd, const char *peer)
{
	static const char	 msg[] = "{\"id\":null,\"ok\":false,\"error\":"
	    "{\"code\":\"limit\",\"message\":\"max_connections reached\"}}\n";
	struct conn		*c;

	if (s->nconns >= s->cfg->max_connections) {
		log_warn("refusing %s: max_connections (%llu) reached", peer,
		    (unsigned long long)s->cfg->max_connections);
		c = conn_new(s, fd, peer);
		if (c != NULL) {
			bufferevent_write(c->bev, msg, sizeof(msg) - 1);
			conn_close_after_flush(c);
		}
		return;
	}
	(void)conn_new(s, fd, peer);
}

bool
server_refuse_writes(struct server *s, struct call *call)
{
	if (!store_failing(s->store))
		return false;
	/* It changes nothing, so it need not wait for the failed commit. */
	call->readonly = true;
	call_error(call, ERRCODE_INTERNAL, "storage failure: changes are "
	    "refused until the database can be written again");
	return true;
}

void
server_drop_chan(struct server *s, struct chan *ch)
{
	chan_drop(ch);
	chanmap_remove(&s->chans, ch);
	chan_free(ch);
}

/* Store hooks: buffered values follow their channel to disk. */
static void
server_value_push(void *arg, struct chan *ch, struct value *v)
{
	store_value_push(arg, ch->store_id, v);
}

static void
server_value_take(void *arg, struct chan *ch, struct value *v)
{
	store_value_take(arg, v);
	ch->take_seq = store_open_seq(arg);
}

static void
server_value_requeue(void *arg, struct chan *ch, struct value *v)
{
	store_value_requeue(arg, v);
}

static const struct chan_hooks server_chan_hooks = {
	server_value_push,
	server_value_take,
	server_value_requeue,
};

static void *
server_load_chan(void *arg, int64_t id, const char *name, uint32_t cap,
    bool closed)
{
	struct server	*s = arg;
	struct chan	*ch;

	ch = chan_new(name, strlen(name), cap, &s->totals);
	ch->store_id = id;
	ch->closed = closed;
	chanmap_insert(&s->chans, ch);
	return ch;
}

static void
server_load_value(void *arg, void *chan, struct value *v)
{
	chan_restore(chan, v);
}

static int
server_load_job(void *arg, const struct store_job *row, char *err,
    size_t errlen)
{
	return op_job_restore(arg, row, err, errlen);
}

static void
server_write_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_write_pending(arg);
}

/* Every change up to seq is on disk: release the replies waiting for it. */
static void
server_commit_cb(uint64_t seq, uint64_t latency_us, void *arg)
{
	struct server	*s = arg;
	struct conn_list todo = TAILQ_HEAD_INITIALIZER(todo);
	struct conn	*c;

	s->durable_seq = seq;
	jobs_output_committed(&s->jobs, seq);
	if (latency_us > 0)
		histogram_observe(&s->commit_hist, (double)latency_us / 1e6);
	TAILQ_CONCAT(&todo, &s->held, held_entry);
	while ((c = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, c, held_entry);
		c->held = false;
		conn_commit_done(c);
	}
}

static int
server_open_store(struct server *s)
{
	const struct store_loader ld = {
		server_load_chan, server_load_value, server_load_job, s,
	};
	struct job	*j;
	char	 err[512];

	s->store = store_open(s->cfg->db_path, s->cfg->sync, err,
	    sizeof(err));
	if (s->store == NULL) {
		log_error("%s", err);
		return -1;
	}
	if (store_load(s->store, &ld, err, sizeof(err)) == -1 ||
	    store_start(s->store, s->base, s->cfg->commit_delay_us,
	    server_commit_cb, s, err, sizeof(err)) == -1) {
		log_error("%s", err);
		return -1;
	}
	s->totals.hooks = &server_chan_hooks;
	s->totals.hooks_arg = s->store;
	/* Ids of jobs purged by retention are never handed out again. */
	if (store_job_id_floor(s->store) >= s->jobs.next_id)
		s->jobs.next_id = store_job_id_floor(s->store) + 1;
	jobs_start(&s->jobs);
	/* Results that were waiting for room when jqd stopped. */
	TAILQ_FOREACH(j, &s->jobs.all, all_entry) {
		if (job_state_final(j->state))
			op_job_deliver(s, j);
	}
	log_info("restored %zu channels, %llu values, %zu jobs (%zu queued) "
	    "from %s", s->chans.count, (unsigned long long)s->totals.values,
	    s->jobs.njobs, jobs_queued(&s->jobs), s->cfg->db_path);
	return 0;
}

static int
server_init_jobs(struct server *s)
{
	const struct config	*cfg = s->cfg;
	struct jobs_config	 jc;
	char			 cwd[4096];

	if (cfg->job_dir != NULL)
		s->job_dir = realpath(cfg->job_dir, NULL);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		s->job_dir = strdup(cwd);
	if (s->job_dir == NULL) {
		log_error("job directory %s: %s", cfg->job_dir != NULL ?
		    cfg->job_dir : ".", strerror(errno));
		return -1;
	}
	jc.workers = cfg->workers;
	jc.kill_grace_ms = cfg->kill_grace_ms;
	jc.retry_delay_ms = cfg->retry_delay_ms;
	jc.retention_ms = cfg->job_retention_ms;
	jc.max_output = cfg->max_output;
	jc.max_retained_jobs = cfg->max_retained_jobs;
	jc.max_retained_output = cfg->max_retained_output;
	jc.job_dir = s->job_dir;
	jobs_init(&s->jobs, s->base, &jc, &op_job_hooks, s);
	return 0;
}

static int
server_listen(struct server *s)
{
	const struct config	*cfg = s->cfg;
	size_t			 i;
	int			 n;

	if ((n = listener_open_activated(s, s->token != NULL)) == -1)
		return -1;
	/* With sockets from systemd, the implicit default is not wanted. */
	for (i = 0; i < cfg->nlisten && !(n > 0 && cfg->listen_default);
	    i++) {
		if (listener_open_tcp(s, cfg->listen[i], s->token != NULL) ==
		    -1)
			return -1;
	}
	for (i = 0; i < cfg->nunix; i++) {
		if (listener_open_unix(s, cfg->unix_path[i],
		    cfg->unix_mode, cfg->unix_group) == -1)
			return -1;
	}
	return 0;
}

struct server *
server_new(const struct config *cfg, int argc, char **argv)
{
	struct event_config	*ecfg;
	struct server		*s;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		fatal("out of memory");
	s->cfg = cfg;
	s->argc = argc;
	s->argv = argv;
	s->commit_hist.bounds = metrics_commit_bounds;
	s->job_hist.bounds = metrics_job_bounds;
	s->start_ms = server_now_ms();
	TAILQ_INIT(&s->listeners);
	TAILQ_INIT(&s->conns);
	TAILQ_INIT(&s->held);
	TAILQ_INIT(&s->writing);
	TAILQ_INIT(&s->deliveries);
	TAILQ_INIT(&s->job_waits);
	chanmap_init(&s->chans);
	s->op_counts = calloc(dispatch_op_count(), sizeof(*s->op_counts));
	if (s->op_counts == NULL)
		fatal("out of memory");
	/*
	 * Precise timers: libevent's default coarse clock can fire a timer
	 * a few milliseconds early, and deadlines, delays and timeouts are
	 * promises ("not before", "at most").
	 */
	if ((ecfg = event_config_new()) == NULL ||
	    event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER) == -1 ||
	    (s->base = event_base_new_with_config(ecfg)) == NULL)
		fatal("cannot create the event loop");
	event_config_free(ecfg);
	s->totals.base = s->base;
	/* Leases of an earlier run must never match one of this run. */
	s->lease_boot = arc4random();
	s->ev_sigterm = evsignal_new(s->base, SIGTERM, server_signal_cb, s);
	s->ev_sigint = evsignal_new(s->base, SIGINT, server_signal_cb, s);
	s->ev_sighup = evsignal_new(s->base, SIGHUP, server_signal_cb, s);
	s->ev_stop = evtimer_new(s->base, server_stop_cb, s);
	s->ev_write = event_new(s->base, -1, 0, server_write_cb, s);
	if (s->ev_sigterm == NULL || s->ev_sigint == NULL ||
	    s->ev_sighup == NULL || s->ev_stop == NULL || s->ev_write == NULL)
		fatal("out of memory");
	evsignal_add(s->ev_sigterm, NULL);
	evsignal_add(s->ev_sigint, NULL);
	evsignal_add(s->ev_sighup, NULL);

	if (cfg->token_file != NULL &&
	    server_load_token(s, cfg->token_file) == -1)
		goto fail;
	if (server_init_jobs(s) == -1 || server_open_store(s) == -1 ||
	    server_listen(s) == -1)
		goto fail;
	if (cfg->metrics != NULL && metrics_start(s, cfg->metrics) == -1)
		goto fail;
	return s;
fail:
	server_free(s);
	return NULL;
}

int
server_run(struct server *s)
{
	log_info("ready");
	sd_notifyf(0, "READY=1\nSTATUS=serving: %zu channels, %zu jobs "
	    "queued", s->chans.count, jobs_queued(&s->jobs));
	if (event_base_dispatch(s->base) == -1) {
		log_error("event loop failed");
		return 1;
	}
	log_info("stopped");
	return 0;
}

void
server_free(struct server *s)
{
	struct conn	*c;
	struct chan	**list;
	size_t		  n, i;

	if (s == NULL)
		return;
	metrics_stop(s);
	listener_close_all(s);
	/* Undelivered results stay undelivered (on disk) until next start. */
	while (!TAILQ_EMPTY(&s->deliveries))
		waiter_free(TAILQ_FIRST(&s->deliveries)->w);
	while ((c = TAILQ_FIRST(&s->conns)) != NULL)
		conn_close(c, "server exiting");
	if (s->jobs.base != NULL)
		jobs_fini(&s->jobs);
	/* Free channels without recording drops: they stay on disk. */
	s->totals.hooks = NULL;
	list = chanmap_list(&s->chans, "", &n);
	for (i = 0; i < n; i++) {
		chan_drop(list[i]);
		chanmap_remove(&s->chans, list[i]);
		chan_free(list[i]);
	}
	free(list);
	chan_totals_fini(&s->totals);
	store_close(s->store);
	chanmap_fini(&s->chans);
	/*
	 * Freeing them gives the signals their default action back; we are
	 * on our way out, and a second SIGTERM must not turn a clean exit
	 * into death by signal.
	 */
	if (s->ev_sigterm != NULL)
		event_free(s->ev_sigterm);
	if (s->ev_sigint != NULL)
		event_free(s->ev_sigint);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	if (s->ev_sighup != NULL)
		event_free(s->ev_sighup);
	if (s->ev_stop != NULL)
		event_free(s->ev_stop);
	if (s->ev_write != NULL)
		event_free(s->ev_write);
	if (s->base != NULL)
		event_base_free(s->base);
	free(s->op_counts);
	free(s->job_dir);
	free(s->token);
	free(s);
}
