/*
 * The server: start-up order, signals, graceful stop.
 *
 * Start-up: allowed users and groups, the pool, the store (open, check,
 * load channels and jobs), listeners, the token (which a TCP listener
 * needs; access.h), metrics, then "ready".
 *
 * SIGTERM/SIGINT: close the listeners, answer parked and new requests
 * shutting_down, start no queued job; running jobs may finish within
 * shutdown_grace, then are stopped (SIGTERM, SIGKILL after kill_grace) and
 * queued again; once every reply is out and every change committed, exit 0.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "jqclient.h"
#include "job-deliver.h"
#include "listener.h"
#include "log.h"
#include "op-job.h"
#include "op-worker.h"
#include "server.h"
#include "store.h"
#include "tls.h"
#include "value.h"
#include "waitq.h"
#include "units.h"

/* How long a stopping server waits for replies to reach slow clients. */
#define STOP_FLUSH_MS	2000
#define STOP_POLL_MS	10
/* A shared store's commit stalled this long: step down (server_fence_cb). */
#define SERVER_FENCE_MS	8000

int64_t
server_now_ms(void)
{
	return units_clock_ms(CLOCK_MONOTONIC);
}

/*
 * The token file, if jqd needs one: token-file, else the default when a
 * TCP listener needs authenticated clients (see access.h).  NULL: none.
 */
static char *
server_token_path(const struct server *s, const struct config *cfg)
{
	char	 path[4096];

	if (cfg->token_file != NULL)
		return strdup(cfg->token_file);
	if (!s->has_tcp || cfg->insecure_tcp)
		return NULL;
	if (jqc_default_token_file(path, sizeof(path)) == -1)
		return NULL;
	return strdup(path);
}

static int
server_init_token(struct server *s)
{
	if ((s->token_path = server_token_path(s, s->cfg)) == NULL) {
		if (s->has_tcp && !s->cfg->insecure_tcp) {
			log_error("TCP clients must authenticate, and there is "
			    "no token file: set token-file (HOME and "
			    "XDG_CONFIG_HOME are unset)");
			return -1;
		}
		return 0;
	}
	if (access_token_load(s->token_path, true, &s->token,
	    &s->token_len) == -1)
		return -1;
	log_info("clients that are not let in by their credentials must "
	    "authenticate with the token in %s", s->token_path);
	return 0;
}

/*
 * SIGHUP: read the token file again.  A new token ends the connections
 * that authenticated with the old one (PROTOCOL.md 9.2): whoever had it
 * may be who it was rotated against.
 */
static void
server_reload_token(struct server *s, const struct config *cfg)
{
	char		*path, *token;
	size_t		 len;
	struct conn	*c, *next;
	size_t		 n = 0;

	if ((path = server_token_path(s, cfg)) == NULL) {
		if (s->token != NULL)
			log_warn("SIGHUP: token-file removed; restart to stop "
			    "requiring auth");
		return;
	}
	if (access_token_load(path, false, &token, &len) == -1) {
		log_error("SIGHUP: keeping the previous token");
		free(path);
		return;
	}
	if (s->token != NULL && len == s->token_len &&
	    memcmp(token, s->token, len) == 0) {
		free(token);
		free(path);
		return;
	}
	free(s->token);
	free(s->token_path);
	s->token = token;
	s->token_len = len;
	s->token_path = path;
	for (c = TAILQ_FIRST(&s->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (conn_end_token_session(c))
			n++;
	}
	log_info("SIGHUP: token reloaded from %s; closed %zu connection%s "
	    "authenticated with the old one", path, n, log_plural(n));
	metrics_token_changed(s);
}

/*
 * SIGHUP: load tls-cert, tls-key and tls-ca again (a renewed
 * certificate).  New connections get the new context; open ones keep the
 * one they were accepted with (SSL_new took a reference).  A file that
 * does not load leaves the previous context in use.
 */
static void
server_reload_tls(struct server *s, const struct config *cfg)
{
	SSL_CTX	*ctx;

	if (s->tls_ctx == NULL)
		return;		/* a new tls: listener needs a restart */
	if (cfg->tls_cert == NULL || cfg->tls_key == NULL) {
		log_error("SIGHUP: tls-cert or tls-key removed; keeping the "
		    "previous certificate");
		return;
	}
	if ((ctx = tls_ctx_new(cfg, "SIGHUP")) == NULL) {
		log_error("SIGHUP: keeping the previous certificate");
		return;
	}
	SSL_CTX_free(s->tls_ctx);
	s->tls_ctx = ctx;
	log_info("SIGHUP: TLS certificate reloaded from %s", cfg->tls_cert);
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

	if (config_load(&cfg, s->argc, s->argv, err, sizeof(err)) !=
	    CONFIG_OK) {
		log_error("SIGHUP: configuration not reloaded: %s", err);
		config_fini(&cfg);
		return;
	}
	log_set_level(cfg.log_level);
	server_reload_token(s, &cfg);
	server_reload_tls(s, &cfg);
	log_info("SIGHUP: configuration reloaded (log level, token, TLS "
	    "certificate; other changes need a restart)");
	config_fini(&cfg);
}

/*
 * Running jobs are stopped (SIGTERM, SIGKILL after kill_grace) and queued
 * again: at the end of shutdown_grace, or at once on a second signal.
 */
static void
server_stop_jobs(struct server *s, int64_t now)
{
	log_info("stopping %zu running job%s; they will run again",
	    s->jobs.running, log_plural(s->jobs.running));
	jobs_stop_running(&s->jobs);
	s->jobs_stopped = true;
	s->stop_deadline_ms = now + s->cfg->kill_grace_ms + STOP_FLUSH_MS;
}

static bool
server_replies_out(const struct server *s)
{
	const struct conn	*c;

	TAILQ_FOREACH(c, &s->conns, entry) {
		if (!conn_replies_out(c))
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
	    now >= s->stop_started_ms + s->cfg->shutdown_grace_ms)
		server_stop_jobs(s, now);
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

/*
 * SIGTERM or SIGINT while stopping: do now what would come later.  The
 * grace for running jobs ends (as at its end: stopped, queued again);
 * once they are being stopped, a further signal kills them at once
 * (still queued again); with none left, replies still unread by slow
 * clients are given up.  What is committed or committing is kept
 * either way (store_close commits the rest).
 */
static void
server_stop_now(struct server *s, const char *sig)
{
	int64_t	 now = server_now_ms();

	if (s->jobs.running > 0 && !s->jobs_stopped) {
		log_info("%s again: not waiting any longer", sig);
		server_stop_jobs(s, now);
	} else if (s->jobs.running > 0) {
		log_info("%s again: killing %zu running job%s now (SIGKILL); "
		    "they will run again", sig, s->jobs.running,
		    log_plural(s->jobs.running));
		jobs_kill_running(&s->jobs);
	} else {
		log_info("%s again: not waiting for slow clients", sig);
		s->stop_deadline_ms = now;
	}
	server_stop_cb(-1, 0, s);
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server	*s = arg;
	const char	*name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
	char		 grace[UNITS_DURATION_MAX];

	if (sig == SIGHUP) {
		server_reload(s);
		return;
	}
	if (s->stopping) {
		server_stop_now(s, name);
		return;
	}
	if (s->jobs.running > 0 && s->cfg->shutdown_grace_ms > 0)
		log_info("%s: stopping; waiting up to %s for %zu running job%s; "
		    "send %s again to stop now", name,
		    units_format_duration(grace, sizeof(grace),
		    s->cfg->shutdown_grace_ms), s->jobs.running,
		    log_plural(s->jobs.running), name);
	else
		log_info("%s: stopping", name);
	server_stop(s);
}

void
server_stop(struct server *s)
{
	struct conn	*c;

	if (s->stopping)
		return;
	s->stopping = true;
	sd_notifyf(0, "STOPPING=1\nSTATUS=stopping: %zu job%s running",
	    s->jobs.running, log_plural(s->jobs.running));
	listener_close_all(s);
	jobs_pause(&s->jobs);
	TAILQ_FOREACH(c, &s->conns, entry)
		conn_wake_parked(c, WAKE_SHUTDOWN);
	s->stop_started_ms = server_now_ms();
	s->stop_deadline_ms = s->stop_started_ms + STOP_FLUSH_MS;
	if (s->jobs.running > 0)
		s->stop_deadline_ms += s->cfg->shutdown_grace_ms +
		    s->cfg->kill_grace_ms;
	else
		s->jobs_stopped = true;
	server_stop_cb(-1, 0, s);
}

/* Take the connection only to say why it is not served, and close it. */
static void
server_refuse(struct server *s, int fd, const struct conn_peer *peer,
    enum errcode code, const char *msg)
{
	struct conn_peer	 p = *peer;
	struct conn		*c;

	/* Limited: a peer that reconnects in a loop must not flood the log. */
	log_warn_limited("refusing a connection: %s", msg);
	log_debug("refusing %s: %s", peer->desc, msg);
	p.trusted = true;	/* not waiting for auth: it is leaving */
	c = conn_new(s, fd, &p);
	conn_notice_close(c, code, msg);
}

void
server_accept(struct server *s, int fd, const struct conn_peer *peer)
{
	char	 msg[128];

	if (s->nconns >= s->cfg->max_connections)
		server_refuse(s, fd, peer, ERRCODE_LIMIT,
		    "max_connections reached");
	else if (!peer->trusted && s->token == NULL) {
		snprintf(msg, sizeof(msg), "uid %ld may not use this socket "
		    "(allow-user, allow-group)", peer->uid);
		server_refuse(s, fd, peer, ERRCODE_UNAUTHORIZED, msg);
	} else if (!peer->trusted &&
	    s->nunauth >= s->cfg->max_unauthenticated)
		server_refuse(s, fd, peer, ERRCODE_LIMIT,
		    "max_unauthenticated reached");
	else
		(void)conn_new(s, fd, peer);
}

bool
server_token_matches(const struct server *s, const char *token, size_t len)
{
	unsigned char	 diff = len != s->token_len;
	size_t		 i;

	assert(s->token != NULL && s->token_len > 0);
	for (i = 0; i < len; i++)
		diff |= (unsigned char)token[i] ^
		    (unsigned char)s->token[i % s->token_len];
	return diff == 0;
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
	/* Its senders are woken: no key of it is pending any more. */
	dedup_drop(&s->dedup, ch->store_id);
	store_dedup_drop(s->store, ch->store_id);
	chanmap_remove(&s->chans, ch);
	chan_free(ch);
}

/*
 * Store hooks: buffered values follow their channel to disk, and so do
 * the leases of named consumers and delayed returns.
 */
static void
server_value_push(void *arg, struct chan *ch, struct value *v)
{
	struct server	*s = arg;

	store_value_push(s->store, ch->store_id, v);
}

static void
server_value_take(void *arg, struct chan *ch, struct value *v)
{
	struct server	*s = arg;

	store_value_take(s->store, v);
	ch->take_seq = store_open_seq(s->store);
}

static void
server_value_requeue(void *arg, struct chan *ch, struct value *v)
{
	struct server	*s = arg;

	store_value_requeue(s->store, v);
}

static void
server_value_lease(void *arg, struct chan *ch, const struct lease *l)
{
	struct server		*s = arg;
	struct store_lease	 sl = { l->id, NULL, 0, l->deadline_ms };

	if (l->consumer != NULL) {
		sl.consumer = l->consumer->name;
		sl.consumer_len = l->consumer->name_len;
	}
	store_value_lease(s->store, l->value, &sl);
}

static void
server_lease_ids(void *arg, uint64_t limit)
{
	struct server	*s = arg;

	store_lease_reserve(s->store, s->lease_boot, limit);
}

static const struct chan_hooks server_chan_hooks = {
	.push = server_value_push,
	.take = server_value_take,
	.requeue = server_value_requeue,
	.lease = server_value_lease,
	.lease_ids = server_lease_ids,
};

/* Store hooks: the keys of idempotent sends follow their channel. */
static void
server_dedup_add(void *arg, int64_t chan_id, struct dedup_key *k)
{
	store_dedup_add(arg, chan_id, k);
}

static void
server_dedup_del(void *arg, struct dedup_key *k)
{
	store_dedup_del(arg, k);
}

static const struct dedup_hooks server_dedup_hooks = {
	server_dedup_add,
	server_dedup_del,
};

static void
server_load_dedup_settings(void *arg, int64_t chan_id, int64_t window_ms,
    uint64_t max)
{
	struct server	*s = arg;

	dedup_configure(&s->dedup, chan_id, window_ms, max);
}

static void
server_load_dedup_key(void *arg, int64_t chan_id, int64_t id,
    const char *key, size_t len, int64_t at_ms)
{
	struct server	*s = arg;

	dedup_restore(&s->dedup, chan_id, id, key, len, at_ms);
}

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

/* A value, or one out on a lease that outlives restarts (6.4). */
static void
server_load_chan_dead(void *arg, void *chan, uint32_t max_deliveries,
    const char *dead_letter)
{
	chan_set_dead_letter(chan, max_deliveries, dead_letter);
}

static void
server_load_value(void *arg, void *chan, struct value *v,
    const struct store_lease *lease)
{
	if (lease == NULL)
		chan_restore(chan, v);
	else
		chan_restore_lease(chan, v, lease->id, lease->consumer,
		    lease->consumer_len, lease->until_ms);
}

/*
 * Lease strings: the tag stored at the first lease ever (a new one until
 * then), and ids above every one an earlier run may have handed out, so
 * that stored leases keep their strings and no other old string matches.
 */
static void
server_init_lease_ids(struct server *s)
{
	uint32_t	 boot;
	uint64_t	 floor;

	store_lease_ids(s->store, &boot, &floor);
	while (boot == 0)
		boot = arc4random();
	s->lease_boot = boot;
	if (floor > s->totals.next_lease_id)
		s->totals.next_lease_id = floor;
	s->totals.lease_id_limit = s->totals.next_lease_id;
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

	s->durable_seq = seq;
	jobs_output_committed(&s->jobs, seq);
	if (latency_us > 0)
		histogram_observe(&s->commit_hist, (double)latency_us / 1e6);
	conn_release_held(s);
}

/*
 * Another jqd took over the database, or may be about to: this one may
 * never commit again.  Stop serving at once (close the listeners and
 * every connection, so that agents and clients go to the node that
 * serves; kill the jobs run here: the new active node runs them again)
 * and exit 3, so that systemd starts us again (as a standby, or active
 * again if no other took over).
 */
static void
server_deposed_cb(void *arg, const char *why)
{
	struct server	*s = arg;
	struct conn	*c;

	if (s->exit_status != 0)
		return;
	log_error("stepping down: %s", why);
	sd_notifyf(0, "STATUS=stepped down: %s", why);
	listener_close_all(s);
	while ((c = TAILQ_FIRST(&s->conns)) != NULL)
		conn_close(c, "this jqd stepped down");
	jobs_pause(&s->jobs);
	jobs_kill_running(&s->jobs);
	s->exit_status = 3;
	event_base_loopbreak(s->base);
}

/*
 * Every second, on a shared database: a commit that has waited
 * SERVER_FENCE_MS (unanswered, or failing and retried) means the database
 * may have ended our session, and a standby may take over soon (the
 * server drops a silent client after about 16 s: store-pg.c).  Before it
 * can, step down, so that the jobs run here and by our agents never run
 * twice.
 */
static void
server_fence_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*s = arg;
	char		 why[160];
	uint64_t	 ms = store_stalled_ms(s->store);

	if (ms < SERVER_FENCE_MS || s->stopping)
		return;
	snprintf(why, sizeof(why), "no commit for %llu ms: the database may "
	    "have ended our session, and another jqd may take over",
	    (unsigned long long)ms);
	server_deposed_cb(s, why);
}

static int	server_load_store(struct server *);

static int
server_open_store(struct server *s)
{
	char	 err[512];

	if (s->cfg->store_on_cli && store_target_has_password(s->cfg->store)) {
		log_error("store: a password on the command line shows in "
		    "ps; put it in a passfile (PGPASSFILE, passfile=), in "
		    "PGPASSWORD, or in the config file");
		return -1;
	}
	s->store = store_open(s->cfg->store, s->cfg->sync, err,
	    sizeof(err));
	if (s->store == NULL) {
		log_error("%s", err);
		return -1;
	}
	store_on_deposed(s->store, server_deposed_cb, s);
	s->standby = store_standby(s->store);
	return s->standby ? 0 : server_load_store(s);
}

/* Load what the store holds and start committing. */
static int
server_load_store(struct server *s)
{
	const struct store_loader ld = {
		.chan = server_load_chan,
		.chan_dead = server_load_chan_dead,
		.value = server_load_value,
		.job = server_load_job,
		.arg = s,
	};
	const struct store_dedup_loader dld = {
		server_load_dedup_settings, server_load_dedup_key, s,
	};
	struct job	*j;
	char		 err[512];

	/* Keys past a lowered count are forgotten as they load. */
	s->dedup.hooks = &server_dedup_hooks;
	s->dedup.hooks_arg = s->store;
	if (store_load(s->store, &ld, err, sizeof(err)) == -1 ||
	    store_dedup_load(s->store, &dld, err, sizeof(err)) == -1 ||
	    store_start(s->store, s->base, s->cfg->commit_delay_us,
	    server_commit_cb, s, err, sizeof(err)) == -1) {
		log_error("%s", err);
		return -1;
	}
	if (store_shared(s->store)) {
		struct timeval	 tv = { 1, 0 };

		if ((s->ev_fence = event_new(s->base, -1, EV_PERSIST,
		    server_fence_cb, s)) == NULL)
			fatal("out of memory");
		evtimer_add(s->ev_fence, &tv);
	}
	server_init_lease_ids(s);
	s->totals.hooks = &server_chan_hooks;
	s->totals.hooks_arg = s;
	s->totals.chans = &s->chans;
	/* Ids of jobs purged by retention are never handed out again. */
	if (store_job_id_floor(s->store) >= s->jobs.next_id)
		s->jobs.next_id = store_job_id_floor(s->store) + 1;
	jobs_start(&s->jobs);
	/* Results that were waiting for room when jqd stopped. */
	TAILQ_FOREACH(j, &s->jobs.all, all_entry) {
		if (job_state_final(j->state))
			job_deliver(s, j);
	}
	log_info("restored %zu channel%s, %llu value%s, %zu job%s (%zu queued) "
	    "from %s", chanmap_count(&s->chans),
	    log_plural(chanmap_count(&s->chans)),
	    (unsigned long long)s->totals.values,
	    log_plural(s->totals.values), s->jobs.njobs,
	    log_plural(s->jobs.njobs), jobs_queued(&s->jobs),
	    store_describe(s->store));
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
	jc.nofile = cfg->job_nofile;
	jobs_init(&s->jobs, s->base, &jc, &op_job_hooks, s);
	/* Before the store loads: jobs running on agents are adopted. */
	workers_init(&s->workers, &s->jobs, s->base, cfg->worker_heartbeat_ms,
	    cfg->worker_lease_ms, (size_t)cfg->max_workers, &op_worker_hooks,
	    s);
	jobs_set_remote(&s->jobs, &worker_remote, &s->workers);
	return 0;
}

static int
server_listen(struct server *s)
{
	const struct config	*cfg = s->cfg;
	size_t			 i;
	int			 n;

	char			 path[108];

	if (cfg->insecure_tcp)
		log_warn("insecure-tcp: TCP clients are served without "
		    "authenticating: anyone who can connect runs commands as "
		    "uid %lu", (unsigned long)geteuid());
	if ((n = listener_open_activated(s, cfg->insecure_tcp)) == -1)
		return -1;
	for (i = 0; i < cfg->nlisten; i++) {
		if (listener_open_tcp(s, cfg->listen[i], cfg->insecure_tcp) ==
		    -1)
			return -1;
	}
	for (i = 0; i < cfg->nunix; i++) {
		if (listener_open_unix(s, cfg->unix_path[i],
		    cfg->unix_mode, cfg->unix_group) == -1)
			return -1;
	}
	/* With sockets from systemd, the implicit default is not wanted. */
	if (cfg->unix_default && n == 0) {
		if (jqc_user_socket_path(path, sizeof(path)) == -1) {
			log_error("the default socket path is too long: give "
			    "--unix PATH");
			return -1;
		}
		if (access_socket_dir(path) == -1 ||
		    listener_open_unix(s, path, cfg->unix_mode,
		    cfg->unix_group) == -1)
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
	chan_totals_init(&s->totals, s->base);
	dedup_init(&s->dedup, s->base, cfg->dedup_window_ms, cfg->dedup_max,
	    cfg->max_dedup_bytes);
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

	if (config_first_tls(cfg) != NULL &&
	    (s->tls_ctx = tls_ctx_new(cfg, "tls")) == NULL)
		goto fail;
	/*
	 * A standby opens no listener until it takes over; its metrics
	 * need the token only if one is configured.
	 */
	if (access_init(&s->access, cfg) == -1 || server_init_jobs(s) == -1 ||
	    server_open_store(s) == -1 || (!s->standby &&
	    server_listen(s) == -1) || ((!s->standby ||
	    cfg->token_file != NULL) && server_init_token(s) == -1))
		goto fail;
	if (cfg->metrics != NULL && metrics_start(s, cfg->metrics) == -1)
		goto fail;
	return s;
fail:
	if (s->store != NULL)
		store_discard_new(s->store);
	server_free(s);
	return NULL;
}

/* Tell systemd we serve (systemctl status shows STATUS). */
static void
server_notify_serving(struct server *s, const char *ready)
{
	size_t	 nchans = chanmap_count(&s->chans);
	size_t	 queued = jobs_queued(&s->jobs);

	sd_notifyf(0, "%sSTATUS=serving: %zu channel%s, %zu job%s queued",
	    ready, nchans, log_plural(nchans), queued, log_plural(queued));
}

/*
 * A standby became free to take over: load the state, open the listeners
 * and serve, as a start would have.
 */
static void
server_activate_cb(void *arg)
{
	struct server	*s = arg;
	char		 err[512];

	if (s->stopping)
		return;
	if (store_activate(s->store, err, sizeof(err)) == -1) {
		log_error("%s", err);
		goto fail;
	}
	s->standby = false;
	if (server_load_store(s) == -1 || server_listen(s) == -1 ||
	    (s->token_path == NULL && server_init_token(s) == -1))
		goto fail;
	log_info("active: the previous jqd is gone; serving");
	server_notify_serving(s, "");
	return;
fail:
	s->exit_status = 1;
	event_base_loopbreak(s->base);
}

int
server_run(struct server *s)
{
	char	 err[256];

	if (s->standby) {
		log_info("standby: another jqd is active on %s; waiting to "
		    "take over", store_describe(s->store));
		sd_notifyf(0, "READY=1\nSTATUS=standby: another jqd is "
		    "active on %s", store_describe(s->store));
		if (store_wait_active(s->store, s->base, server_activate_cb, s,
		    err, sizeof(err)) == -1) {
			log_error("%s", err);
			return 1;
		}
	} else {
		log_info("ready");
		server_notify_serving(s, "READY=1\n");
	}
	if (event_base_dispatch(s->base) == -1) {
		log_error("event loop failed");
		return 1;
	}
	if (s->exit_status != 0)
		return s->exit_status;
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
	if (s->jobs.base != NULL) {
		workers_fini(&s->workers);
		jobs_fini(&s->jobs);
	}
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
	dedup_fini(&s->dedup);
	store_close(s->store);
	SSL_CTX_free(s->tls_ctx);
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
	if (s->ev_fence != NULL)
		event_free(s->ev_fence);
	if (s->ev_write != NULL)
		event_free(s->ev_write);
	if (s->base != NULL)
		event_base_free(s->base);
	free(s->op_counts);
	free(s->job_dir);
	free(s->token);
	free(s->token_path);
	access_fini(&s->access);
	free(s);
}
