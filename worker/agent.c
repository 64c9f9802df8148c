/*
 * agent: the session of jq-worker with jqd (see agent.h).
 *
 * Threads: this file runs on the event loop, with attempt.c and run.c.
 * The loop never waits on the network: requests are queued to link.c's
 * thread and replies come back as events (link.h says why).  Each reply
 * is matched to what asked for it through `reqs`, the requests of the
 * current connection not yet answered; a connection that ends takes its
 * unanswered requests with it (whatever mattered is sent again after the
 * next worker_register).
 *
 * Session: on LINK_UP, worker_register with every attempt held (running,
 * or ended with a result not yet acknowledged); the reply gives the
 * heartbeat interval, the lease, max_output and kill_grace, and says
 * which of those attempts to drop.  Then one worker_take stays parked,
 * a heartbeat goes out every heartbeat_ms (never two at once), output
 * frames stream (one in flight per stream and attempt, at most
 * AGENT_FRAME_MAX bytes, cut between UTF-8 sequences) and a result goes
 * out once the attempt's output is acknowledged; it is resent after a
 * reconnection until acknowledged (`not_found`: dropped).  After a
 * reconnection output is sent again from offset 0 (the server keeps what
 * it holds).
 *
 * Prefetch (agent.h): assignments are held first and begun, oldest first,
 * while fewer than `slots` processes run; the take says how many to hold
 * beyond the free slots (agent_prefetch).  A held attempt is listed like
 * a running one (register, heartbeat) and ends as "returned" when handed
 * back; fencing keeps it (nothing runs) and hands it back next session.
 *
 * Fencing: the server renews every attempt of this worker at each
 * heartbeat (and at register) it receives, to receipt + lease_ms, and
 * receipt >= our send time.  So once a heartbeat sent at S is answered,
 * every attempt is ours until S + lease_ms on our monotonic clock; at
 * S + lease_ms - margin (margin: lease_ms / 5 or 2 heartbeats, the larger,
 * but leaving at least one heartbeat) with no later answer, every
 * attempt's group is killed and forgotten, before the server can give
 * the job to another worker.  The session is then ended and a new one
 * registers without them, which ends them on the server at once (even a
 * server that never saw the gap: its leases would otherwise be renewed by
 * our next heartbeats).
 */
#include <sys/queue.h>
#include <sys/random.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "agent.h"
#include "attempt.h"
#include "log.h"
#include "run.h"
#include "units.h"

/* Largest output frame's data (PROTOCOL.md: worker_output). */
#define AGENT_FRAME_MAX		(64 * 1024)
/* Until the server says (worker_register's reply). */
#define AGENT_DEFAULT_MAX_OUTPUT	(1024 * 1024)
#define AGENT_DEFAULT_KILL_GRACE_MS	5000
#define AGENT_INSTANCE_BYTES	16

enum agent_req_kind {
	REQ_REGISTER,
	REQ_TAKE,
	REQ_HEARTBEAT,
	REQ_OUTPUT,
	REQ_RESULT,
	REQ_DRAIN,
};

/* A request of this connection not yet answered. */
struct agent_req {
	TAILQ_ENTRY(agent_req)	 entry;
	int64_t			 id;
	enum agent_req_kind	 kind;
	int64_t			 job;		/* OUTPUT, RESULT */
	int64_t			 attempt;
	int			 stream;	/* OUTPUT */
	size_t			 len;		/* OUTPUT: bytes of data */
};

TAILQ_HEAD(agent_attempts, attempt);

struct agent {
	struct event_base	*base;
	const struct agent_conf	*conf;
	struct link		*link;
	struct attempt_env	 aenv;
	struct attempt_hooks	 hooks;
	struct agent_attempts	 attempts;
	size_t			 nattempts;

	/* The session: gen 0 when there is none. */
	uint64_t		 gen;
	bool			 ready;		/* registered */
	TAILQ_HEAD(, agent_req)	 reqs;
	int64_t			 next_id;
	bool			 take_parked;
	int64_t			 heartbeat_ms;
	int64_t			 lease_ms;
	int64_t			 reg_sent_ms;	/* monotonic */
	/* This process, for jqd (worker_register's instance): random hex. */
	char			 instance[2 * AGENT_INSTANCE_BYTES + 1];
	bool			 hb_inflight;
	int64_t			 hb_sent_ms;
	struct event		*ev_heartbeat;
	char			*dial_error;	/* the last one logged */

	/* Fencing: attempts are ours until safe_until_ms (monotonic). */
	int64_t			 safe_until_ms;
	struct event		*ev_fence;

	int64_t			 run_avg_ms;	/* of recent attempts; -1: none
						   ended yet */
	bool			 draining;	/* the server said so */
	bool			 terminating;	/* agent_terminate */
	struct event		*ev_give_up;
	int			 exit_status;
	bool			 done;
};

static void	agent_take(struct agent *);
static void	agent_pump(struct agent *, struct attempt *, int);
static void	agent_send_result(struct agent *, struct attempt *);

static int64_t
agent_now_ms(void)
{
	return units_clock_ms(CLOCK_MONOTONIC);
}

static void
agent_finish(struct agent *ag, int status)
{
	if (ag->done)
		return;
	ag->done = true;
	ag->exit_status = status;
	event_base_loopexit(ag->base, NULL);
}

static struct attempt *
agent_find(struct agent *ag, int64_t job, int64_t attempt)
{
	struct attempt	*a;

	TAILQ_FOREACH(a, &ag->attempts, entry)
		if (a->job == job && a->attempt == attempt)
			return a;
	return NULL;
}

/* Forget a (killing what still runs): nothing more is said about it. */
static void
agent_forget(struct agent *ag, struct attempt *a)
{
	TAILQ_REMOVE(&ag->attempts, a, entry);
	ag->nattempts--;
	attempt_free(a);
}

/*
 * Done when idle and drained, or terminating.  Idle includes no take
 * parked when terminating: its answer could still assign a job (that we
 * would hand back, but only while here).
 */
static void
agent_check_done(struct agent *ag)
{
	if (ag->nattempts > 0)
		return;
	if (ag->terminating) {
		if (ag->take_parked)
			return;
		log_info("stopped: every attempt's result is acknowledged");
		agent_finish(ag, 0);
	} else if (ag->draining) {
		log_info("drained and idle: exiting");
		agent_finish(ag, 0);
	}
}

/* -- slots and prefetch ------------------------------------------------------ */

/* Attempts whose process runs: one slot each. */
static size_t
agent_running(struct agent *ag)
{
	struct attempt	*a;
	size_t		 n = 0;

	TAILQ_FOREACH(a, &ag->attempts, entry)
		if (a->run != NULL)
			n++;
	return n;
}

/* How many assignments beyond the free slots a take accepts now. */
static int64_t
agent_prefetch(struct agent *ag)
{
	struct attempt	*a;
	int64_t		 now = agent_now_ms(), ahead;

	if (ag->conf->prefetch == 0 || ag->run_avg_ms < 0 ||
	    ag->run_avg_ms >= AGENT_PREFETCH_SHORT_MS || ag->draining ||
	    ag->terminating)
		return 0;
	/* A long one now would keep held ones waiting: not while it runs. */
	TAILQ_FOREACH(a, &ag->attempts, entry)
		if (a->run != NULL && now - a->started_ms >=
		    AGENT_PREFETCH_SHORT_MS)
			return 0;
	/* About AGENT_PREFETCH_AHEAD_MS of work for every slot, no more. */
	ahead = ag->conf->slots * AGENT_PREFETCH_AHEAD_MS /
	    (ag->run_avg_ms > 0 ? ag->run_avg_ms : 1);
	return ahead < ag->conf->prefetch ? (ahead > 0 ? ahead : 1) :
	    ag->conf->prefetch;
}

/* A ended: its run time into the average (a quarter weight). */
static void
agent_run_time(struct agent *ag, const struct attempt *a)
{
	int64_t	 ms;

	if (a->started_ms == 0 || a->error != NULL)
		return;
	ms = agent_now_ms() - a->started_ms;
	ag->run_avg_ms = ag->run_avg_ms < 0 ? ms : (3 * ag->run_avg_ms + ms) / 4;
}

/* Start held attempts, oldest first, while a slot is free. */
static void
agent_start_held(struct agent *ag)
{
	struct attempt	*a;
	size_t		 running = agent_running(ag);

	TAILQ_FOREACH(a, &ag->attempts, entry) {
		if (running >= (size_t)ag->conf->slots)
			break;
		if (a->held == NULL)
			continue;
		attempt_begin(a);
		if (a->run != NULL)
			running++;
		else
			agent_send_result(ag, a);
	}
}

/* Hand back every attempt held and not begun (draining, stopping). */
static void
agent_return_held(struct agent *ag, const char *why)
{
	struct attempt	*a;

	TAILQ_FOREACH(a, &ag->attempts, entry) {
		if (a->held == NULL)
			continue;
		log_info("job %lld attempt %lld: handed back (%s)",
		    (long long)a->job, (long long)a->attempt, why);
		attempt_return(a);
		agent_send_result(ag, a);
	}
}

/* -- requests ---------------------------------------------------------------- */

static struct agent_req *
agent_send(struct agent *ag, json_t *req, enum agent_req_kind kind)
{
	struct agent_req	*r = calloc(1, sizeof(*r));

	if (r == NULL || req == NULL)
		fatal("out of memory");
	r->id = ++ag->next_id;
	r->kind = kind;
	TAILQ_INSERT_TAIL(&ag->reqs, r, entry);
	link_send(ag->link, ag->gen, req, r->id);
	return r;
}

static struct agent_req *
agent_req_take(struct agent *ag, int64_t id)
{
	struct agent_req	*r;

	TAILQ_FOREACH(r, &ag->reqs, entry) {
		if (r->id == id) {
			TAILQ_REMOVE(&ag->reqs, r, entry);
			return r;
		}
	}
	return NULL;
}

/* The session ended: what was in flight is gone with it. */
static void
agent_session_end(struct agent *ag)
{
	struct agent_req	*r;
	struct attempt		*a;
	int			 i;

	while ((r = TAILQ_FIRST(&ag->reqs)) != NULL) {
		TAILQ_REMOVE(&ag->reqs, r, entry);
		free(r);
	}
	TAILQ_FOREACH(a, &ag->attempts, entry) {
		for (i = 0; i < RUN_NSTREAMS; i++)
			a->inflight[i] = 0;
		a->result_inflight = false;
	}
	ag->gen = 0;
	ag->ready = false;
	ag->take_parked = false;
	ag->hb_inflight = false;
	event_del(ag->ev_heartbeat);
}

static json_t *
agent_refs(struct agent *ag, bool progress)
{
	struct attempt	*a;
	json_t		*list = json_array(), *e;

	TAILQ_FOREACH(a, &ag->attempts, entry) {
		e = json_pack("{s:I, s:I}", "job", (json_int_t)a->job,
		    "attempt", (json_int_t)a->attempt);
		if (progress && a->progress_done >= 0) {
			json_object_set_new(e, "progress", json_pack("{s:I, "
			    "s:o}", "done", (json_int_t)a->progress_done,
			    "total", a->progress_total >= 0 ?
			    json_integer(a->progress_total) : json_null()));
			a->progress_told = true;
		}
		json_array_append_new(list, e);
	}
	return list;
}

/* -- fencing ------------------------------------------------------------------ */

static void
agent_fence_arm(struct agent *ag)
{
	int64_t		wait;
	struct timeval	tv;

	if (ag->safe_until_ms == INT64_MIN)
		return;
	wait = ag->safe_until_ms - agent_now_ms();
	tv = units_ms_timeval(wait < 0 ? 0 : wait);
	evtimer_add(ag->ev_fence, &tv);
}

/* A request sent at sent_ms was answered: attempts are safe until... */
static void
agent_fence_renew(struct agent *ag, int64_t sent_ms)
{
	int64_t		margin;

	margin = ag->lease_ms / 5;
	if (margin < 2 * ag->heartbeat_ms)
		margin = 2 * ag->heartbeat_ms;
	if (margin > ag->lease_ms - ag->heartbeat_ms)
		margin = ag->lease_ms - ag->heartbeat_ms;
	if (sent_ms + ag->lease_ms - margin <= ag->safe_until_ms)
		return;
	ag->safe_until_ms = sent_ms + ag->lease_ms - margin;
	agent_fence_arm(ag);
}

static void
agent_fence_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent	*ag = arg;
	struct attempt	*a, *next;
	size_t		 n = 0;

	(void)fd;
	(void)what;
	TAILQ_FOREACH(a, &ag->attempts, entry)
		if (a->held == NULL && !a->returned)
			n++;
	if (n == 0 && ag->nattempts == 0)
		return;
	log_warn("no heartbeat answered for %lld ms (lease %lld ms): killing "
	    "%zu attempt%s before the server gives them away",
	    (long long)(agent_now_ms() - (ag->safe_until_ms - ag->lease_ms)),
	    (long long)ag->lease_ms, n, n == 1 ? "" : "s");
	for (a = TAILQ_FIRST(&ag->attempts); a != NULL; a = next) {
		next = TAILQ_NEXT(a, entry);
		/* Never begun: nothing to kill; handed back next session. */
		if (a->held != NULL || a->returned) {
			attempt_return(a);
			continue;
		}
		log_info("job %lld attempt %lld: fenced: killed",
		    (long long)a->job, (long long)a->attempt);
		agent_forget(ag, a);
	}
	/* A new session registers without them: the server ends them. */
	if (ag->gen != 0) {
		link_reset(ag->link, ag->gen);
		agent_session_end(ag);
	}
	agent_check_done(ag);
}

/* -- what the server says: stop, drop, drain ------------------------------------ */

static void
agent_apply(struct agent *ag, const json_t *reply)
{
	const json_t	*e, *v;
	struct attempt	*a;
	enum attempt_stop why;
	size_t		 i;

	json_array_foreach(json_object_get(reply, "drop"), i, e) {
		a = agent_find(ag, json_integer_value(json_object_get(e,
		    "job")), json_integer_value(json_object_get(e, "attempt")));
		if (a != NULL) {
			log_info("job %lld attempt %lld: dropped by the server",
			    (long long)a->job, (long long)a->attempt);
			agent_forget(ag, a);
		}
	}
	json_array_foreach(json_object_get(reply, "stop"), i, e) {
		a = agent_find(ag, json_integer_value(json_object_get(e,
		    "job")), json_integer_value(json_object_get(e, "attempt")));
		v = json_object_get(e, "reason");
		if (a == NULL || a->ended || !json_is_string(v) ||
		    attempt_stop_parse(json_string_value(v), &why) == -1)
			continue;
		if (a->held != NULL) {
			/* Never begun: handed back, the server's stop decides. */
			log_info("job %lld attempt %lld: stop (%s) while held: "
			    "handed back", (long long)a->job,
			    (long long)a->attempt, json_string_value(v));
			attempt_return(a);
			agent_send_result(ag, a);
			continue;
		}
		/* A repeated stop is one already done, unless "now". */
		if (a->stopped != ATTEMPT_STOP_NONE &&
		    !json_is_true(json_object_get(e, "now")))
			continue;
		log_info("job %lld attempt %lld: stop (%s)%s",
		    (long long)a->job, (long long)a->attempt,
		    json_string_value(v),
		    json_is_true(json_object_get(e, "now")) ? " now" : "");
		attempt_stop(a, why, json_is_true(json_object_get(e, "now")));
	}
	v = json_object_get(reply, "drain");
	if (json_is_boolean(v) && json_is_true(v) != ag->draining) {
		ag->draining = json_is_true(v);
		log_info("%s by the server", ag->draining ? "draining" :
		    "no longer draining");
	}
	if (ag->draining)
		agent_return_held(ag, "draining");
}

/*
 * Stopping: the server is told to drain us now, so it assigns nothing
 * more and answers the parked take; the stops it sends back are ours
 * already.
 */
static void
agent_drain_self(struct agent *ag)
{
	if (ag->ready)
		agent_send(ag, json_pack("{s:s, s:s, s:b}", "op",
		    "worker_drain", "worker", ag->conf->id, "now", 1),
		    REQ_DRAIN);
}

/* -- register ---------------------------------------------------------------- */

static void
agent_register(struct agent *ag)
{
	const struct agent_conf	*c = ag->conf;
	json_t			*req, *pools = json_array(), *labels;
	size_t			 i;

	for (i = 0; i < c->npools; i++)
		json_array_append_new(pools, json_string(c->pools[i]));
	labels = json_object();
	for (i = 0; i < c->nlabels; i++)
		json_object_set_new(labels, c->labels[2 * i],
		    json_string(c->labels[2 * i + 1]));
	req = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:s, s:s, "
	    "s:o}", "op", "worker_register", "worker", c->id, "host", c->host,
	    "pid", (json_int_t)getpid(), "slots", (json_int_t)c->slots,
	    "prefetch", (json_int_t)c->prefetch, "pools", pools, "labels",
	    labels, "version", c->version, "instance", ag->instance,
	    "attempts", agent_refs(ag, false));
	ag->reg_sent_ms = agent_now_ms();
	agent_send(ag, req, REQ_REGISTER);
}

static int64_t
agent_reply_int(const json_t *reply, const char *key, int64_t dflt)
{
	const json_t	*v = json_object_get(reply, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	    json_integer_value(v) : dflt;
}

static void
agent_registered(struct agent *ag, const json_t *reply)
{
	struct attempt	*a, *next;
	struct timeval	 tv;
	const char	*code = json_string_value(json_object_get(json_object_get(
			    reply, "error"), "code"));
	const char	*msg = json_string_value(json_object_get(json_object_get(
			    reply, "error"), "message"));
	int		 i;

	if (!json_is_true(json_object_get(reply, "ok"))) {
		log_error("worker_register refused: %s: %s", code ? code : "?",
		    msg ? msg : "");
		/* Our own options are wrong: retrying will not help. */
		if (code != NULL && (strcmp(code, "bad_request") == 0 ||
		    strcmp(code, "unauthorized") == 0))
			agent_finish(ag, 1);
		else
			link_reset(ag->link, ag->gen);
		return;
	}
	ag->ready = true;
	ag->heartbeat_ms = agent_reply_int(reply, "heartbeat_ms", 2000);
	ag->lease_ms = agent_reply_int(reply, "lease_ms", 15000);
	ag->aenv.max_output = (uint64_t)agent_reply_int(reply, "max_output",
	    AGENT_DEFAULT_MAX_OUTPUT);
	ag->aenv.kill_grace_ms = agent_reply_int(reply, "kill_grace_ms",
	    AGENT_DEFAULT_KILL_GRACE_MS);
	log_info("registered as %s (heartbeat %lld ms, lease %lld ms), "
	    "%zu attempt%s held", ag->conf->id, (long long)ag->heartbeat_ms,
	    (long long)ag->lease_ms, ag->nattempts,
	    ag->nattempts == 1 ? "" : "s");
	agent_fence_renew(ag, ag->reg_sent_ms);
	agent_apply(ag, reply);
	for (a = TAILQ_FIRST(&ag->attempts); a != NULL; a = next) {
		next = TAILQ_NEXT(a, entry);
		for (i = 0; i < RUN_NSTREAMS; i++) {
			a->acked[i] = 0;
			agent_pump(ag, a, i);
		}
		agent_send_result(ag, a);
	}
	tv = units_ms_timeval(ag->heartbeat_ms);
	evtimer_add(ag->ev_heartbeat, &tv);
	if (ag->terminating)
		agent_drain_self(ag);
	agent_take(ag);
	agent_check_done(ag);
}

/* -- take -------------------------------------------------------------------- */

static void
agent_take(struct agent *ag)
{
	if (!ag->ready || ag->take_parked || ag->terminating)
		return;
	/*
	 * Always the whole width: the server gives min(max, free slots +
	 * prefetch); prefetch is what we would hold now.
	 */
	agent_send(ag, json_pack("{s:s, s:I, s:I}", "op", "worker_take", "max",
	    (json_int_t)(ag->conf->slots + ag->conf->prefetch), "prefetch",
	    (json_int_t)agent_prefetch(ag)), REQ_TAKE);
	ag->take_parked = true;
}

static void
agent_taken(struct agent *ag, const json_t *reply)
{
	const json_t	*e;
	struct attempt	*a;
	size_t		 i;

	ag->take_parked = false;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		/* Another session took our id, or the server is stopping. */
		log_warn("worker_take: %s; reconnecting", json_string_value(
		    json_object_get(json_object_get(reply, "error"),
		    "message")));
		link_reset(ag->link, ag->gen);
		return;
	}
	agent_apply(ag, reply);
	/*
	 * Parked again before the processes start: a slot that frees
	 * meanwhile is filled without waiting for this round trip.
	 */
	agent_take(ag);
	/* Held first, then begun while slots are free (oldest first). */
	json_array_foreach(json_object_get(reply, "jobs"), i, e) {
		a = attempt_hold(&ag->aenv, e, AGENT_PREFETCH_HOLD_MS);
		TAILQ_INSERT_TAIL(&ag->attempts, a, entry);
		ag->nattempts++;
	}
	if (ag->terminating)
		agent_return_held(ag, "stopping");
	agent_start_held(ag);
	/* Fenced like the others (at once if no heartbeat came in time). */
	if (ag->nattempts > 0)
		agent_fence_arm(ag);
	agent_check_done(ag);
}

/* -- heartbeat ---------------------------------------------------------------- */

static void
agent_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent	*ag = arg;
	struct timeval	 tv = units_ms_timeval(ag->heartbeat_ms);

	(void)fd;
	(void)what;
	if (!ag->ready)
		return;
	evtimer_add(ag->ev_heartbeat, &tv);
	if (ag->hb_inflight) {
		/* A connection that answers nothing any more: start over. */
		if (agent_now_ms() - ag->hb_sent_ms > ag->lease_ms) {
			log_warn("no answer to a heartbeat for %lld ms: "
			    "reconnecting", (long long)(agent_now_ms() -
			    ag->hb_sent_ms));
			link_reset(ag->link, ag->gen);
		}
		return;
	}
	ag->hb_sent_ms = agent_now_ms();
	ag->hb_inflight = true;
	agent_send(ag, json_pack("{s:s, s:o}", "op", "worker_heartbeat",
	    "running", agent_refs(ag, true)), REQ_HEARTBEAT);
}

static void
agent_heartbeat_answered(struct agent *ag, const json_t *reply)
{
	ag->hb_inflight = false;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		log_warn("worker_heartbeat: %s; reconnecting",
		    json_string_value(json_object_get(json_object_get(reply,
		    "error"), "message")));
		link_reset(ag->link, ag->gen);
		return;
	}
	ag->lease_ms = agent_reply_int(reply, "lease_ms", ag->lease_ms);
	agent_fence_renew(ag, ag->hb_sent_ms);
	agent_apply(ag, reply);
	agent_check_done(ag);
}

/* -- output and results ----------------------------------------------------------- */

static void
agent_pump(struct agent *ag, struct attempt *a, int stream)
{
	const struct strbuf	*w = &a->wire[stream];
	struct agent_req	*r;
	size_t			 n;
	json_t			*req;

	if (!ag->ready || a->inflight[stream] > 0 || a->acked[stream] >= w->len)
		return;
	n = w->len - a->acked[stream];
	if (n > AGENT_FRAME_MAX) {
		n = AGENT_FRAME_MAX;
		/* Not inside a sequence: back to the byte that starts one. */
		while (n > 0 && ((unsigned char)w->data[a->acked[stream] + n] &
		    0xC0) == 0x80)
			n--;
	}
	req = json_pack("{s:s, s:I, s:I, s:s, s:I, s:s%}", "op",
	    "worker_output", "job", (json_int_t)a->job, "attempt",
	    (json_int_t)a->attempt, "stream", stream == RUN_STDOUT ? "stdout" :
	    "stderr", "offset", (json_int_t)a->acked[stream], "data",
	    w->data + a->acked[stream], n);
	r = agent_send(ag, req, REQ_OUTPUT);
	r->job = a->job;
	r->attempt = a->attempt;
	r->stream = stream;
	r->len = n;
	a->inflight[stream] = n;
}

static void
agent_output_answered(struct agent *ag, const struct agent_req *r,
    const json_t *reply)
{
	struct attempt	*a = agent_find(ag, r->job, r->attempt);

	if (a == NULL)
		return;
	a->inflight[r->stream] = 0;
	if (json_is_true(json_object_get(reply, "ok")))
		a->acked[r->stream] += r->len;
	else {
		/* The result will say what became of it; stop sending. */
		log_debug("job %lld attempt %lld: worker_output: %s",
		    (long long)a->job, (long long)a->attempt,
		    json_string_value(json_object_get(json_object_get(reply,
		    "error"), "message")));
		a->acked[r->stream] = a->wire[r->stream].len;
	}
	agent_pump(ag, a, r->stream);
	agent_send_result(ag, a);
}

/* The result of an ended attempt, once its output is all acknowledged. */
static void
agent_send_result(struct agent *ag, struct attempt *a)
{
	struct agent_req	*r;
	int			 i;

	if (!ag->ready || !a->ended || a->result_inflight)
		return;
	for (i = 0; i < RUN_NSTREAMS; i++)
		if (a->inflight[i] > 0 || a->acked[i] < a->wire[i].len)
			return;
	r = agent_send(ag, attempt_result(a), REQ_RESULT);
	r->job = a->job;
	r->attempt = a->attempt;
	a->result_inflight = true;
}

static void
agent_result_answered(struct agent *ag, const struct agent_req *r,
    const json_t *reply)
{
	struct attempt	*a = agent_find(ag, r->job, r->attempt);
	const char	*msg = json_string_value(json_object_get(
			    json_object_get(reply, "error"), "message"));

	if (a == NULL)
		return;
	a->result_inflight = false;
	if (!json_is_true(json_object_get(reply, "ok")))
		log_info("job %lld attempt %lld: result refused (%s): "
		    "dropped", (long long)a->job, (long long)a->attempt,
		    msg != NULL ? msg : "?");
	agent_forget(ag, a);
	agent_check_done(ag);
}

/* -- attempt hooks -------------------------------------------------------------- */

static void
agent_output_hook(void *arg, struct attempt *a, int stream)
{
	agent_pump(arg, a, stream);
}

static void
agent_progress_hook(void *arg, struct attempt *a)
{
	/* Told with the next heartbeat. */
	(void)arg;
	(void)a;
}

static void
agent_ended_hook(void *arg, struct attempt *a)
{
	struct agent	*ag = arg;

	agent_run_time(ag, a);
	agent_send_result(ag, a);
	/* A slot freed (or a held one went back: nothing to start). */
	agent_start_held(ag);
}

/* -- the link -------------------------------------------------------------------- */

static void
agent_reply(struct agent *ag, int64_t id, json_t *reply)
{
	struct agent_req	*r = agent_req_take(ag, id);

	if (r == NULL) {
		log_debug("a reply to no request: %s",
		    json_string_value(json_object_get(json_object_get(reply,
		    "error"), "message")));
		return;
	}
	switch (r->kind) {
	case REQ_REGISTER:
		agent_registered(ag, reply);
		break;
	case REQ_TAKE:
		agent_taken(ag, reply);
		break;
	case REQ_HEARTBEAT:
		agent_heartbeat_answered(ag, reply);
		break;
	case REQ_OUTPUT:
		agent_output_answered(ag, r, reply);
		break;
	case REQ_RESULT:
		agent_result_answered(ag, r, reply);
		break;
	case REQ_DRAIN:
		if (!json_is_true(json_object_get(reply, "ok")))
			log_warn("worker_drain: %s", json_string_value(
			    json_object_get(json_object_get(reply, "error"),
			    "message")));
		break;
	}
	free(r);
}

static void
agent_link_cb(void *arg, enum link_event ev, uint64_t gen, int64_t id,
    json_t *reply, const char *why)
{
	struct agent	*ag = arg;

	switch (ev) {
	case LINK_UP:
		log_info("connected to %s", why);
		free(ag->dial_error);
		ag->dial_error = NULL;
		ag->gen = gen;
		agent_register(ag);
		break;
	case LINK_REPLY:
		if (gen == ag->gen && !ag->done)
			agent_reply(ag, id, reply);
		break;
	case LINK_DOWN:
		if (gen == 0) {
			/* Said once until it changes: it is retried often. */
			if (ag->dial_error == NULL ||
			    strcmp(ag->dial_error, why) != 0) {
				log_warn("cannot connect to %s: %s (retrying)",
				    ag->conf->link.addr, why);
				free(ag->dial_error);
				ag->dial_error = strdup(why);
			}
		} else if (gen == ag->gen) {
			log_warn("connection lost: %s (reconnecting)", why);
			agent_session_end(ag);
		}
		break;
	}
	json_decref(reply);
}

/* -- life ------------------------------------------------------------------------ */

static void
agent_give_up_cb(evutil_socket_t fd, short what, void *arg)
{
	struct agent	*ag = arg;

	(void)fd;
	(void)what;
	log_warn("stopping: %zu result%s not acknowledged in time",
	    ag->nattempts, ag->nattempts == 1 ? "" : "s");
	agent_finish(ag, 1);
}

void
agent_terminate(struct agent *ag)
{
	struct attempt	*a;
	struct timeval	 tv;

	if (ag->terminating) {
		log_warn("stopping now: %zu attempt%s killed", ag->nattempts,
		    ag->nattempts == 1 ? "" : "s");
		agent_finish(ag, 1);
		return;
	}
	ag->terminating = true;
	log_info("stopping: %zu attempt%s to stop (drain)", ag->nattempts,
	    ag->nattempts == 1 ? "" : "s");
	agent_return_held(ag, "stopping");
	TAILQ_FOREACH(a, &ag->attempts, entry)
		attempt_stop(a, ATTEMPT_STOP_DRAIN, false);
	agent_drain_self(ag);
	tv = units_ms_timeval(ag->aenv.kill_grace_ms + AGENT_STOP_SLACK_MS);
	evtimer_add(ag->ev_give_up, &tv);
	agent_check_done(ag);
}

/* A random name for this process (its pid is no identity in a container). */
static void
agent_instance(char *buf, size_t len)
{
	unsigned char	 r[AGENT_INSTANCE_BYTES];
	size_t		 i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		fatal("getrandom: %s", strerror(errno));
	for (i = 0; i < sizeof(r) && 2 * i + 2 < len; i++)
		snprintf(buf + 2 * i, 3, "%02x", r[i]);
}

struct agent *
agent_new(struct event_base *base, struct runner *runner,
    const struct agent_conf *conf)
{
	struct agent	*ag = calloc(1, sizeof(*ag));

	if (ag == NULL)
		fatal("out of memory");
	ag->base = base;
	ag->conf = conf;
	agent_instance(ag->instance, sizeof(ag->instance));
	TAILQ_INIT(&ag->attempts);
	TAILQ_INIT(&ag->reqs);
	ag->hooks.output = agent_output_hook;
	ag->hooks.progress = agent_progress_hook;
	ag->hooks.ended = agent_ended_hook;
	ag->aenv.base = base;
	ag->aenv.runner = runner;
	ag->aenv.job_dir = conf->job_dir;
	if (conf->record_dir != NULL)
		ag->aenv.records = attempt_records_open(conf->record_dir);
	ag->aenv.boot_id = conf->boot_id;
	ag->aenv.max_output = AGENT_DEFAULT_MAX_OUTPUT;
	ag->aenv.kill_grace_ms = AGENT_DEFAULT_KILL_GRACE_MS;
	ag->aenv.hooks = &ag->hooks;
	ag->aenv.arg = ag;
	ag->safe_until_ms = INT64_MIN;
	ag->run_avg_ms = -1;
	ag->ev_heartbeat = evtimer_new(base, agent_heartbeat_cb, ag);
	ag->ev_fence = evtimer_new(base, agent_fence_cb, ag);
	ag->ev_give_up = evtimer_new(base, agent_give_up_cb, ag);
	if (ag->ev_heartbeat == NULL || ag->ev_fence == NULL ||
	    ag->ev_give_up == NULL)
		fatal("out of memory");
	ag->link = link_new(base, &conf->link, agent_link_cb, ag);
	return ag;
}

int
agent_exit_status(const struct agent *ag)
{
	return ag->exit_status;
}

void
agent_free(struct agent *ag)
{
	struct attempt	*a;

	if (ag == NULL)
		return;
	link_free(ag->link, 1000);
	while ((a = TAILQ_FIRST(&ag->attempts)) != NULL)
		agent_forget(ag, a);
	attempt_records_close(ag->aenv.records);
	agent_session_end(ag);
	event_free(ag->ev_heartbeat);
	event_free(ag->ev_fence);
	event_free(ag->ev_give_up);
	free(ag->dial_error);
	free(ag);
}
