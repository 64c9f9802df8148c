/*
 * Group commit: the loop records changes into the open batch; when no
 * commit is in flight the batch goes to the store thread, which applies
 * it in one transaction and commits; changes recorded meanwhile form the
 * next batch.  A failed commit keeps its batch (and its held replies) and
 * is retried.  See store.h for the contract and store.c for the schema.
 *
 * What each record writes is here too (store_rec_steps, store_sql): the
 * same statements on every backend, which only runs them.
 *
 * A backend with apply_now (SQLite with sync=normal, where a commit does
 * not fsync: a small one is a few writes to the page cache, cheaper than
 * the two thread wake-ups of a hand-off) has the loop apply small
 * batches itself, while the thread runs its maintenance instead (SQLite's
 * WAL checkpoints, which fsync).  A busy batch (STORE_BUSY_COMMIT records
 * or more) still goes to the thread: under pipelined load the database's
 * work is then done on the other core while the loop parses and replies,
 * and the longer commit lets more receives cancel inserts before they are
 * written.  apply_now never waits: when the connection is busy the batch
 * goes to the thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "log.h"
#include "store-int.h"
#include "value.h"

#define STORE_RETRY_MS		1000
/*
 * A batch of at least this many records means the loop is busy.  With
 * sync=normal it is committed by the thread, and commit_delay applies
 * after it (waiting gathers more); with sync=full commit_delay does not
 * (see store_kick_soon).
 */
#define STORE_BUSY_COMMIT	32

const char *const store_sql[STMT_COUNT] = {
	[STMT_CHAN_MAKE] = "INSERT INTO chans(id, name, cap, closed) "
	    "VALUES (?1, ?2, ?3, 0)",
	[STMT_CHAN_DEAD] = "UPDATE chans SET max_deliveries = ?2, "
	    "dead_letter = ?3 WHERE id = ?1",
	[STMT_CHAN_CLOSE] = "UPDATE chans SET closed = 1 WHERE id = ?1",
	[STMT_CHAN_DROP] = "DELETE FROM chans WHERE id = ?1",
	[STMT_CHAN_DROP_VALS] = "DELETE FROM vals WHERE chan = ?1",
	[STMT_VAL_PUSH] = "INSERT INTO vals(id, chan, pos, redelivered, data, "
	    "lease_id, consumer, lease_until_ms, reason) VALUES (?1, ?2, ?3, "
	    "?4, ?5, ?6, ?7, ?8, ?9)",
	[STMT_VAL_TAKE] = "DELETE FROM vals WHERE id = ?1",
	[STMT_VAL_REQUEUE] = "UPDATE vals SET pos = ?2, redelivered = ?3, "
	    "reason = ?4, lease_id = NULL, consumer = NULL, "
	    "lease_until_ms = NULL WHERE id = ?1",
	[STMT_VAL_LEASE] = "UPDATE vals SET redelivered = ?2, lease_id = ?3, "
	    "consumer = ?4, lease_until_ms = ?5, reason = ?6 WHERE id = ?1",
	[STMT_META_SET] = "INSERT INTO meta(key, value) VALUES (?1, ?2) "
	    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	/* The job statements are built from the jobs' columns (store-job.c). */
	[STMT_JOB_DELETE] = "DELETE FROM jobs WHERE id = ?1",
	/* The highest id forgotten, so that none is used again. */
	[STMT_JOB_FLOOR] = "INSERT INTO meta(key, value) VALUES "
	    "('last_job_id', ?1) ON CONFLICT(key) DO UPDATE SET value = "
	    "CASE WHEN excluded.value > meta.value THEN excluded.value "
	    "ELSE meta.value END",
	[STMT_DEDUP_ADD] = "INSERT INTO dedup(id, chan, key, at_ms) "
	    "VALUES (?1, ?2, ?3, ?4)",
	[STMT_DEDUP_DEL] = "DELETE FROM dedup WHERE id = ?1",
	[STMT_DEDUP_DROP] = "DELETE FROM dedup WHERE chan = ?1",
	[STMT_CHAN_DEDUP] = "UPDATE chans SET dedup_window_ms = ?2, "
	    "dedup_max = ?3 WHERE id = ?1",
};

static uint64_t
store_now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static struct store_val
sv_int(int64_t i)
{
	return (struct store_val){ .kind = SV_INT, .i = i };
}

/* An integer, NULL when it is 0 (none). */
static struct store_val
sv_int_or_null(int64_t i)
{
	return (struct store_val){ .kind = i != 0 ? SV_INT : SV_NULL, .i = i };
}

/* len bytes at p, NULL when p is. */
static struct store_val
sv_bytes(const char *p, size_t len)
{
	return (struct store_val){ .kind = p != NULL ? SV_BYTES : SV_NULL,
	    .p = p, .len = len };
}

/* Append a statement's parameters to s. */
static void
store_step_args(struct store_step *s, const struct store_val *args, size_t n)
{
	memcpy(s->args + s->nargs, args, n * sizeof(*args));
	s->nargs += n;
}

/* r's lease: id, consumer, until (NULL each when unset). */
static void
store_step_lease(struct store_step *s, const struct store_rec *r)
{
	const struct store_val	 lease[] = {
		sv_int_or_null(r->lease_id),
		sv_bytes(r->consumer, r->consumer_len),
		sv_int_or_null(r->until_ms),
	};

	store_step_args(s, lease, 3);
}

size_t
store_rec_steps(const struct store_rec *r, struct store_step *steps)
{
	struct store_step	*s = &steps[0];

	s->nargs = 0;
	switch (r->type) {
	case REC_NONE:
		return 0;
	case REC_CHAN_MAKE:
		s->stmt = STMT_CHAN_MAKE;
		store_step_args(s, (struct store_val[]){ sv_int(r->id),
		    sv_bytes(r->text, r->len), sv_int(r->num) }, 3);
		return 1;
	case REC_CHAN_DEAD:
		s->stmt = STMT_CHAN_DEAD;
		store_step_args(s, (struct store_val[]){ sv_int(r->id),
		    sv_int_or_null(r->num > 0 ? r->num : 0),
		    sv_bytes(r->text, r->len) }, 3);
		return 1;
	case REC_CHAN_CLOSE:
		s->stmt = STMT_CHAN_CLOSE;
		store_step_args(s, (struct store_val[]){ sv_int(r->id) }, 1);
		return 1;
	case REC_CHAN_DROP:
		s->stmt = STMT_CHAN_DROP_VALS;
		store_step_args(s, (struct store_val[]){ sv_int(r->id) }, 1);
		s = &steps[1];
		s->nargs = 0;
		s->stmt = STMT_CHAN_DROP;
		store_step_args(s, (struct store_val[]){ sv_int(r->id) }, 1);
		return 2;
	case REC_VAL_PUSH:
		s->stmt = STMT_VAL_PUSH;
		store_step_args(s, (struct store_val[]){ sv_int(r->id),
		    sv_int(r->chan), sv_int(r->pos), sv_int(r->num),
		    sv_bytes(r->text, r->len) }, 5);
		store_step_lease(s, r);
		store_step_args(s, (struct store_val[]){
		    sv_bytes(r->reason, r->reason_len) }, 1);
		return 1;
	case REC_VAL_LEASE:
		s->stmt = STMT_VAL_LEASE;
		store_step_args(s, (struct store_val[]){ sv_int(r->id),
		    sv_int(r->num) }, 2);
		store_step_lease(s, r);
		store_step_args(s, (struct store_val[]){
		    sv_bytes(r->reason, r->reason_len) }, 1);
		return 1;
	case REC_META_SET:
		s->stmt = STMT_META_SET;
		store_step_args(s, (struct store_val[]){
		    sv_bytes(r->text, r->len), sv_int(r->num) }, 2);
		return 1;
	case REC_VAL_TAKE:
		s->stmt = STMT_VAL_TAKE;
		store_step_args(s, (struct store_val[]){ sv_int(r->id) }, 1);
		return 1;
	case REC_VAL_REQUEUE:
		s->stmt = STMT_VAL_REQUEUE;
		store_step_args(s, (struct store_val[]){ sv_int(r->id),
		    sv_int(r->pos), sv_int(r->num),
		    sv_bytes(r->reason, r->reason_len) }, 4);
		return 1;
	case REC_JOB_SAVE:
		store_job_step(r->job, s);
		return 1;
	case REC_DEDUP_ADD:
	case REC_DEDUP_DEL:
	case REC_DEDUP_DROP:
	case REC_CHAN_DEDUP:
		store_dedup_step(r, s);
		return 1;
	case REC_JOB_DELETE:
		s->stmt = STMT_JOB_FLOOR;
		store_step_args(s, (struct store_val[]){ sv_int(r->id) }, 1);
		s = &steps[1];
		s->nargs = 0;
		s->stmt = STMT_JOB_DELETE;
		store_step_args(s, (struct store_val[]){ sv_int(r->id) }, 1);
		return 2;
	}
	return 0;
}

static void *
store_thread_main(void *arg)
{
	struct store	*st = arg;
	char		 errmsg[sizeof(st->errmsg)];
	uint64_t	 t0;
	int		 rc;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (!st->todo && !st->maintain && !st->reads_due &&
		    !st->stop)
			pthread_cond_wait(&st->cond, &st->mu);
		if (!st->todo && (st->maintain || st->reads_due)) {
			/*
			 * A failed checkpoint leaves the WAL as it is; the
			 * next commit asks again and reports any error.
			 */
			bool maintain = st->maintain;

			st->maintain = st->reads_due = false;
			pthread_mutex_unlock(&st->mu);
			if (maintain && st->be->maintain != NULL)
				st->be->maintain(st);
			store_job_reads_run(st);
			pthread_mutex_lock(&st->mu);
			continue;
		}
		if (!st->todo && st->stop)
			break;
		pthread_mutex_unlock(&st->mu);

		t0 = store_now_us();
		errmsg[0] = '\0';
		rc = st->be->apply(st, &st->flight, errmsg, sizeof(errmsg));

		pthread_mutex_lock(&st->mu);
		st->todo = false;
		st->result = rc;
		st->latency_us = store_now_us() - t0;
		memcpy(st->errmsg, errmsg, sizeof(st->errmsg));
		event_active(st->ev_done, EV_READ, 0);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* Loop: hand the flight batch to the thread. */
static void
store_submit(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	st->todo = true;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->mu);
}

void
store_maintain(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	st->maintain = true;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->mu);
}

static void	store_done_cb(evutil_socket_t fd, short what, void *arg);

/*
 * Loop: commit the flight batch here if the backend can without waiting.
 * True if it did.
 */
static bool
store_apply_here(struct store *st)
{
	char		 errmsg[sizeof(st->errmsg)];
	uint64_t	 t0;
	int		 rc;

	t0 = store_now_us();
	errmsg[0] = '\0';
	if ((rc = st->be->apply_now(st, &st->flight, errmsg,
	    sizeof(errmsg))) == 1)
		return false;
	pthread_mutex_lock(&st->mu);
	st->result = rc;
	st->latency_us = store_now_us() - t0;
	memcpy(st->errmsg, errmsg, sizeof(st->errmsg));
	pthread_mutex_unlock(&st->mu);
	store_done_cb(-1, 0, st);
	return true;
}

/* Loop: start a commit of the open batch if none is in flight. */
static void
store_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store		*st = arg;
	struct store_batch	 tmp;

	st->kick_due = false;
	if (st->in_flight || st->open.n == 0)
		return;
	tmp = st->flight;
	st->flight = st->open;
	st->open = tmp;
	st->open.n = 0;
	st->open.seq = st->flight.seq + 1;
	st->in_flight = true;
	st->flight_since_us = store_now_us();
	if (!st->commit_on_loop || st->flight.n >= STORE_BUSY_COMMIT ||
	    !store_apply_here(st))
		store_submit(st);
}

/*
 * Loop, every heartbeat_ms: when idle, hand the backend an empty batch
 * (PostgreSQL reads its epoch for it, writing nothing).  A backend
 * shared by several jqd thus learns within a heartbeat that it lost its
 * database (changes are then refused) or was replaced (deposed).
 */
static void
store_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store	*st = arg;

	if (st->in_flight || st->open.n > 0)
		return;
	store_batch_clear(&st->flight);
	st->flight.seq = st->open.seq;
	st->open.seq++;
	st->in_flight = true;
	st->flight_since_us = store_now_us();
	store_submit(st);
}

static void
store_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	store_submit(arg);
}

static void
store_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store	*st = arg;
	struct timeval	 tv = { STORE_RETRY_MS / 1000, 0 };
	uint64_t	 latency;
	int		 rc;

	pthread_mutex_lock(&st->mu);
	rc = st->result;
	latency = st->latency_us;
	pthread_mutex_unlock(&st->mu);
	if (rc != 0 && st->be->deposed != NULL && st->be->deposed(st)) {
		/*
		 * Never to commit again: no retry.  The batch and its
		 * replies stay held until the server stops.
		 */
		st->failing = true;
		st->stats.failures++;
		if (!st->deposed_told && st->deposed_cb != NULL) {
			st->deposed_told = true;
			st->deposed_cb(st->deposed_arg, st->errmsg);
		}
		return;
	}
	if (rc != 0) {
		/* Keep the batch and its held replies; try again later. */
		st->stats.failures++;
		if (!st->failing)
			log_error("store: commit failed: %s; refusing changes "
			    "and retrying every %d ms", st->errmsg,
			    STORE_RETRY_MS);
		st->failing = true;
		evtimer_add(st->ev_retry, &tv);
		return;
	}
	if (st->failing)
		log_info("store: commits succeed again");
	st->failing = false;
	if (st->flight.n > 0) {
		st->stats.commits++;
		st->stats.records += st->flight.n;
		st->last_commit_n = st->flight.n;
		st->stats.latency_us_sum += latency;
		st->stats.latency_us_last = latency;
		if (latency > st->stats.latency_us_max)
			st->stats.latency_us_max = latency;
	} else
		latency = 0;	/* a heartbeat: nothing was written */
	store_batch_clear(&st->flight);
	st->in_flight = false;
	st->cb(st->flight.seq, latency, st->cb_arg);
	if (st->open.n > 0) {
		store_kick_cb(-1, 0, st);
	} else if (st->want_seq == st->open.seq) {
		/*
		 * A reply waits for the batch after this one, and it is
		 * empty: there is nothing to write, so it is durable now.
		 */
		st->open.seq++;
		st->cb(st->open.seq - 1, 0, st->cb_arg);
	}
}

bool
store_shared(const struct store *st)
{
	return st->be->heartbeat_ms > 0;
}

uint64_t
store_stalled_ms(const struct store *st)
{
	return st->in_flight ? (store_now_us() - st->flight_since_us) / 1000 :
	    0;
}

int
store_start(struct store *st, struct event_base *base, uint64_t delay_us,
    store_commit_cb *cb, void *arg, char *err, size_t errlen)
{
	int	 rc;

	st->cb = cb;
	st->cb_arg = arg;
	st->commit_delay.tv_sec = (time_t)(delay_us / 1000000);
	st->commit_delay.tv_usec = (suseconds_t)(delay_us % 1000000);
	st->ev_kick = event_new(base, -1, 0, store_kick_cb, st);
	st->ev_delay = evtimer_new(base, store_kick_cb, st);
	st->ev_done = event_new(base, -1, 0, store_done_cb, st);
	st->ev_retry = evtimer_new(base, store_retry_cb, st);
	if (st->ev_kick == NULL || st->ev_delay == NULL ||
	    st->ev_done == NULL || st->ev_retry == NULL)
		fatal("out of memory");
	if (st->be->heartbeat_ms > 0) {
		struct timeval	 hb = { st->be->heartbeat_ms / 1000,
		    (st->be->heartbeat_ms % 1000) * 1000 };

		if ((st->ev_heartbeat = event_new(base, -1, EV_PERSIST,
		    store_heartbeat_cb, st)) == NULL)
			fatal("out of memory");
		evtimer_add(st->ev_heartbeat, &hb);
	}
	if ((rc = pthread_create(&st->thread, NULL, store_thread_main,
	    st)) != 0) {
		snprintf(err, errlen, "store thread: %s", strerror(rc));
		return -1;
	}
	st->started = true;
	/* Changes recorded while loading (jobs interrupted by a crash). */
	if (st->open.n > 0)
		event_active(st->ev_kick, EV_WRITE, 0);
	return 0;
}

void
store_close(struct store *st)
{
	char	 errmsg[256];
	size_t	 lost;

	if (st == NULL)
		return;
	if (st->started) {
		pthread_mutex_lock(&st->mu);
		st->stop = true;
		pthread_cond_signal(&st->cond);
		pthread_mutex_unlock(&st->mu);
		pthread_join(st->thread, NULL);
	}
	/*
	 * Nothing left was acknowledged: a batch whose commit failed and
	 * waits for its retry, then the open batch.  Commit them anyway, in
	 * order; the open one alone could name what the other would have
	 * made (a value of a new channel), so it is lost with it.
	 */
	lost = 0;
	errmsg[0] = '\0';
	if (st->in_flight && st->result != 0 && st->be->apply(st,
	    &st->flight, errmsg, sizeof(errmsg)) != 0)
		lost = st->flight.n + st->open.n;
	else if (st->open.n > 0 && st->be->apply(st, &st->open, errmsg,
	    sizeof(errmsg)) != 0)
		lost = st->open.n;
	if (lost > 0)
		log_error("store: closing: the last %zu change%s cannot be "
		    "committed (%s) and %s lost; none of them was "
		    "acknowledged", lost, log_plural(lost), errmsg,
		    lost == 1 ? "is" : "are");
	store_free(st);
}

/*
 * Loop: the open batch has changes and no commit is in flight.  Start one
 * this turn, or after commit_delay: changes that arrive meanwhile (the
 * receive of a value just sent, other clients' requests already on their
 * way) then share its fsync instead of waiting for the next one.
 *
 * With sync=full the delay applies only after a small commit: after a
 * busy one, the requests that would share the next fsync are already
 * there, and waiting only lengthens every step of a pipelined client.
 * With sync=normal it is the other way round: a commit costs no fsync,
 * and waiting pays only when much arrives meanwhile, so the delay applies
 * only after a busy commit (under request/response load a stored backlog
 * would otherwise wait the delay at every step).  After a small one, a
 * batch that starts with a value's insert waits only for the next turn
 * of the loop, which first reads whatever the sockets hold (a zero
 * timeout runs after the I/O of its turn): a receive already on its way
 * then cancels the insert, at the cost of one poll.  Other batches have
 * nothing to gain and start at once.  commit_delay 0 turns all waits off.
 */
static void
store_kick_soon(struct store *st, enum store_rec_type first)
{
	static const struct timeval	 next_turn = { 0, 0 };
	const struct timeval		*wait;
	bool				 busy;

	/* Once per batch: libevent's calls take its lock (store thread). */
	if (st->kick_due)
		return;
	st->kick_due = true;
	busy = st->last_commit_n >= STORE_BUSY_COMMIT;
	if (!evutil_timerisset(&st->commit_delay))
		wait = NULL;
	else if (!st->commit_on_loop)
		wait = busy ? NULL : &st->commit_delay;
	else if (busy)
		wait = &st->commit_delay;
	else
		wait = first == REC_VAL_PUSH ? &next_turn : NULL;
	if (wait == NULL)
		event_active(st->ev_kick, EV_WRITE, 0);
	else
		evtimer_add(st->ev_delay, wait);
}

/* Loop: a new record in the open batch; see store_kick_soon. */
struct store_rec *
store_record(struct store *st, enum store_rec_type type)
{
	struct store_rec	*r;

	if (st->open.n == st->open.cap) {
		st->open.cap = st->open.cap ? st->open.cap * 2 : 256;
		st->open.recs = realloc(st->open.recs,
		    st->open.cap * sizeof(*st->open.recs));
		if (st->open.recs == NULL)
			fatal("out of memory");
	}
	r = &st->open.recs[st->open.n++];
	memset(r, 0, sizeof(*r));
	r->type = type;
	st->last_change_seq = st->open.seq;
	if (!st->in_flight && st->ev_kick != NULL)
		store_kick_soon(st, type);
	return r;
}

char *
store_strndup(const char *s, size_t len)
{
	char	*p = malloc(len + 1);

	if (p == NULL)
		fatal("out of memory");
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int64_t
store_chan_make(struct store *st, const char *name, uint32_t cap)
{
	struct store_rec	*r = store_record(st, REC_CHAN_MAKE);

	r->id = st->next_chan_id++;
	r->len = strlen(name);
	r->text = store_strndup(name, r->len);
	r->num = cap;
	return r->id;
}

void
store_chan_dead(struct store *st, int64_t chan_id, uint32_t max_deliveries,
    const char *dead_letter)
{
	struct store_rec	*r = store_record(st, REC_CHAN_DEAD);

	r->id = chan_id;
	r->num = max_deliveries;
	if (dead_letter != NULL) {
		r->len = strlen(dead_letter);
		r->text = store_strndup(dead_letter, r->len);
	}
}

void
store_chan_close(struct store *st, int64_t chan_id)
{
	store_record(st, REC_CHAN_CLOSE)->id = chan_id;
}

void
store_chan_drop(struct store *st, int64_t chan_id)
{
	store_record(st, REC_CHAN_DROP)->id = chan_id;
}

void
store_value_push(struct store *st, int64_t chan_id, struct value *v)
{
	struct store_rec	*r = store_record(st, REC_VAL_PUSH);

	r->id = v->store_id = st->next_value_id++;
	r->chan = chan_id;
	r->pos = r->id;
	r->num = v->redelivered;
	r->len = v->len;
	r->text = store_strndup(v->data, v->len);
	v->store_seq = st->open.seq;
	v->store_rec = st->open.n - 1;
}

/* The open batch's insert of v, if it has not been handed off yet. */
static struct store_rec *
store_pending_push(struct store *st, const struct value *v)
{
	struct store_rec	*r;

	if (v->store_seq != st->open.seq || v->store_rec >= st->open.n)
		return NULL;
	r = &st->open.recs[v->store_rec];
	return r->type == REC_VAL_PUSH && r->id == v->store_id ? r : NULL;
}

void
store_value_take(struct store *st, struct value *v)
{
	struct store_rec	*r;

	if ((r = store_pending_push(st, v)) != NULL) {
		/*
		 * Sent and received within one batch: it never needs to
		 * reach the disk.  Whatever else the batch holds still
		 * comes before the replies that follow.
		 */
		r->type = REC_NONE;
		free(r->text);
		r->text = NULL;
		st->last_change_seq = st->open.seq;
		v->store_id = 0;
		return;
	}
	store_record(st, REC_VAL_TAKE)->id = v->store_id;
}

/* Set r's lease to lease (NULL: none). */
static void
store_rec_set_lease(struct store_rec *r, const struct store_lease *lease)
{
	free(r->consumer);
	r->consumer = NULL;
	r->consumer_len = 0;
	r->lease_id = lease != NULL ? (int64_t)lease->id : 0;
	r->until_ms = lease != NULL ? lease->until_ms : 0;
	if (lease != NULL && lease->consumer != NULL) {
		r->consumer = store_strndup(lease->consumer,
		    lease->consumer_len);
		r->consumer_len = lease->consumer_len;
	}
}

/* r (a push or a requeue of v) carries v's nack reason. */
static void
store_rec_reason(struct store_rec *r, const struct value *v)
{
	free(r->reason);
	r->reason = NULL;
	r->reason_len = v->reason_len;
	if (v->reason_len > 0)
		r->reason = store_strndup(value_reason(v), v->reason_len);
}

void
store_value_requeue(struct store *st, struct value *v)
{
	struct store_rec	*r;

	if ((r = store_pending_push(st, v)) != NULL) {
		r->pos = st->next_front_pos--;
		r->num = v->redelivered;
		store_rec_set_lease(r, NULL);
		store_rec_reason(r, v);
		st->last_change_seq = st->open.seq;
		return;
	}
	r = store_record(st, REC_VAL_REQUEUE);
	r->id = v->store_id;
	r->pos = st->next_front_pos--;
	r->num = v->redelivered;
	store_rec_reason(r, v);
}

void
store_value_lease(struct store *st, struct value *v,
    const struct store_lease *lease)
{
	struct store_rec	*r;

	/* Still to be inserted: the insert carries the lease. */
	if ((r = store_pending_push(st, v)) != NULL)
		st->last_change_seq = st->open.seq;
	else {
		r = store_record(st, REC_VAL_LEASE);
		r->id = v->store_id;
	}
	r->num = v->redelivered;
	store_rec_set_lease(r, lease);
	/* A delayed return's nack reason is stored with it. */
	store_rec_reason(r, v);
}

void
store_lease_reserve(struct store *st, uint32_t tag, uint64_t limit)
{
	struct store_rec	*r;

	if (st->lease_boot == 0) {
		st->lease_boot = tag;
		r = store_record(st, REC_META_SET);
		r->text = store_strndup("lease_boot", strlen("lease_boot"));
		r->len = strlen(r->text);
		r->num = tag;
	}
	st->lease_id_floor = (int64_t)limit;
	r = store_record(st, REC_META_SET);
	r->text = store_strndup("lease_id_floor", strlen("lease_id_floor"));
	r->len = strlen(r->text);
	r->num = (int64_t)limit;
}

void
store_job_save(struct store *st, const struct store_job *row, uint64_t *seq,
    size_t *rec)
{
	struct store_rec	*r;

	/* A newer save of the same job in the open batch replaces it. */
	if (*seq == st->open.seq && *rec < st->open.n &&
	    st->open.recs[*rec].type == REC_JOB_SAVE &&
	    st->open.recs[*rec].id == row->id) {
		r = &st->open.recs[*rec];
		r->type = REC_NONE;
		free(r->job);
		r->job = NULL;
	}
	r = store_record(st, REC_JOB_SAVE);
	r->id = row->id;
	r->job = store_job_copy(row);
	*seq = st->open.seq;
	*rec = st->open.n - 1;
}

void
store_job_delete(struct store *st, int64_t id)
{
	store_record(st, REC_JOB_DELETE)->id = id;
}
