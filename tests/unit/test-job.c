/*
 * Unit tests for daemon/job.c (and pool.c's ready queue), driven with fake
 * hooks and a real event base for timers.  No process is spawned: with
 * workers = 0 the pool never starts a job, and a test that needs a running
 * job starts it as spawn_job() would, minus the process (fake_start), and
 * ends it through job_exited() with a made-up wait status.
 *
 * The hooks record every call ("save 3 queued", "final 3 canceled",
 * "forget 3"), so each test states what the store and result delivery
 * would see.  Covered: submit (ids, keys, groups, priorities, delays,
 * deadlines capped by the parent's), cancel trees and their counts
 * (PROTOCOL.md 11.12), group cancel, deadlines of queued and running
 * jobs, run_timeout, exits (success, failure, signal), retries with their
 * backoff (doubled each attempt, at most 2^20 times), a stop for shutdown,
 * the output kept until its save commits, max_retained_jobs and
 * max_retained_output trimming, restore (running jobs re-queued or
 * "interrupted", ids continued, the tree rebuilt, timers armed) and the
 * retention purge, many jobs by id, key and group.
 */
#include <sys/wait.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "job.h"
#include "pool.h"
#include "tap.h"

#define WAIT_MS		30000	/* generous: the machine may be loaded */
#define HOUR_MS		(3600 * 1000LL)

static struct event_base	*base;
static struct jobs		 js;
static char			 calls[16384];	/* the hooks' log */
static uint64_t			 store_seq;	/* the fake open batch */

static void
log_call(const char *fmt, ...)
{
	size_t	 len = strlen(calls);
	va_list	 ap;

	if (len > 0 && len < sizeof(calls) - 1)
		calls[len++] = ',';
	va_start(ap, fmt);
	vsnprintf(calls + len, sizeof(calls) - len, fmt, ap);
	va_end(ap);
}

static void
hook_save(void *arg, struct job *j)
{
	j->store_seq = store_seq;
	log_call("save %lld %s", (long long)j->id, job_state_name(j->state));
}

static void
hook_final(void *arg, struct job *j)
{
	log_call("final %lld %s", (long long)j->id, job_state_name(j->state));
}

static void
hook_forget(void *arg, struct job *j)
{
	log_call("forget %lld", (long long)j->id);
}

/* The watchers' hooks stay NULL: job.c must cope (op-watch.c has them). */
static const struct job_hooks hooks = {
	.save = hook_save,
	.final = hook_final,
	.forget = hook_forget,
};

static struct jobs_config
default_config(void)
{
	struct jobs_config	 cfg = {
		.workers = 0,		/* nothing ever starts by itself */
		.kill_grace_ms = 1000,
		.retry_delay_ms = 1000,
		.retention_ms = 7 * 24 * HOUR_MS,
		.max_output = 1 << 20,
		.max_retained_jobs = 100000,
		.max_retained_output = 1 << 30,
		.job_dir = "/tmp",
	};

	return cfg;
}

static void
setup(const struct jobs_config *cfg)
{
	calls[0] = '\0';
	store_seq = 1;
	jobs_init(&js, base, cfg, &hooks, NULL);
}

/* A start-up with nothing restored. */
static void
setup_started(const struct jobs_config *cfg)
{
	setup(cfg);
	jobs_start(&js);
}

static int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the loop until cond(arg) holds; false after WAIT_MS without. */
static bool
run_until(bool (*cond)(void *), void *arg)
{
	int64_t		 end = mono_ms() + WAIT_MS;
	struct timeval	 tv = { 0, 5000 };

	while (!cond(arg)) {
		if (mono_ms() > end)
			return false;
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return true;
}

/* Run what is ready now (deferred events such as the trim). */
static void
run_ready(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

static bool
is_final(void *arg)
{
	return job_state_final(((struct job *)arg)->state);
}

static bool
is_on_ready_queue(void *arg)
{
	return ((struct job *)arg)->queued;
}

static bool
is_stopping(void *arg)
{
	return ((struct job *)arg)->stop != JOB_STOP_NONE;
}

static char *
xstrdup(const char *s)
{
	char	*p = s == NULL ? NULL : strdup(s);

	if (s != NULL && p == NULL)
		abort();
	return p;
}

/* What a test submits; zeroes mean none. */
struct sub {
	const char	*group;
	const char	*key;
	const char	*result_chan;
	int64_t		 parent;
	int64_t		 priority;
	int64_t		 retries;
	int64_t		 timeout_ms;
	int64_t		 delay_ms;
	int64_t		 run_timeout_ms;
};

static struct job_spec
make_spec(const struct sub *o)
{
	struct job_spec	 spec;

	memset(&spec, 0, sizeof(spec));
	spec.argv = calloc(2, sizeof(*spec.argv));
	if (spec.argv == NULL)
		abort();
	spec.argv[0] = xstrdup("true");
	spec.group = xstrdup(o->group);
	spec.key = xstrdup(o->key);
	spec.result_chan = xstrdup(o->result_chan);
	spec.parent = o->parent;
	spec.priority = o->priority;
	spec.retries = o->retries;
	spec.run_timeout_ms = o->run_timeout_ms > 0 ? o->run_timeout_ms : -1;
	spec.text = xstrdup("{}");
	return spec;
}

static struct job *
submit(const struct sub *o)
{
	struct job_spec	 spec = make_spec(o);

	return jobs_submit(&js, &spec, o->timeout_ms > 0 ? o->timeout_ms : -1,
	    -1, o->delay_ms, -1);
}

#define SUBMIT(...)	submit(&(struct sub){ __VA_ARGS__ })

/* What spawn_job() does to a job it starts, without the process. */
static void
fake_start(struct job *j)
{
	pool_dequeue(&js, j);
	j->exit_code = -1;
	j->signal = 0;
	j->stop = JOB_STOP_NONE;
	j->started_ms = job_now_ms();
	job_set_state(j, JOB_RUNNING);
	hooks.save(NULL, j);
	job_started(j);
}

/* A final job restored from the store. */
static struct job *
restore_final(int64_t id, enum job_state state, int64_t finished_ms,
    const char *out)
{
	struct job	*j = job_alloc();
	struct sub	 o = { 0 };

	j->id = id;
	j->spec = make_spec(&o);
	j->state = state;
	j->submitted_ms = finished_ms - 1;
	j->finished_ms = finished_ms;
	if (out != NULL)
		strbuf_append(&j->out, out, strlen(out));
	return jobs_restore(&js, j);
}

static void
test_submit(void)
{
	struct jobs_config	 cfg = default_config();
	struct job		*a, *b, *c, *d, *q;
	int64_t			 before, after;

	setup_started(&cfg);
	a = SUBMIT(.priority = 0);
	b = SUBMIT(.priority = 5, .group = "g", .key = "kb");
	c = SUBMIT(.priority = 0, .group = "g");
	d = SUBMIT(.priority = 5);
	is_int(a->id, 1, "submit: ids from 1");
	is_int(d->id, 4, "submit: ids in order");
	is_str(calls, "save 1 queued,save 2 queued,save 3 queued,"
	    "save 4 queued", "submit: each saved once, queued");
	ok(a->queued && b->queued && c->queued && d->queued,
	    "submit: no delay, all on the ready queue");
	q = TAILQ_FIRST(&js.local->ready);
	ok(q == b && TAILQ_NEXT(q, queue_entry) == d &&
	    TAILQ_NEXT(d, queue_entry) == a && TAILQ_NEXT(a, queue_entry) == c,
	    "ready queue: priority first, then id");
	is_int(jobs_queued(&js), 4, "4 queued");
	ok(jobs_find(&js, 2) == b && jobs_find(&js, 5) == NULL &&
	    jobs_find(&js, 0) == NULL, "jobs_find by id");
	ok(jobs_find_key(&js, "kb") == b && jobs_find_key(&js, "k") == NULL,
	    "jobs_find_key");
	ok(jobs_find_group(&js, "g") != NULL &&
	    jobs_find_group(&js, "g")->total == 2 &&
	    jobs_find_group(&js, "g")->count[JOB_QUEUED] == 2 &&
	    jobs_find_group(&js, "h") == NULL, "group g: 2 jobs, both queued");
	run_ready();
	ok(a->state == JOB_QUEUED && js.running == 0,
	    "workers 0: nothing starts");

	/* A delay keeps a job off the ready queue until it passes. */
	calls[0] = '\0';
	before = job_now_ms();
	q = SUBMIT(.delay_ms = 50);
	after = job_now_ms();
	ok(!q->queued && q->state == JOB_QUEUED, "delay: queued, not ready");
	ok(q->not_before_ms >= before + 50 && q->not_before_ms <= after + 50,
	    "delay: not_before is submission + 50 ms");
	ok(run_until(is_on_ready_queue, q), "delay: ready once it passed");
	ok(job_now_ms() >= q->not_before_ms, "delay: not early");
	is_str(calls, "save 5 queued", "delay: saved once");
	jobs_fini(&js);
}

static void
test_cancel_counts(void)
{
	struct jobs_config	 cfg = default_config();
	struct job		*p, *c, *g, *other;
	struct jgroup		*grp;

	/* PROTOCOL.md 11.12: cancel counts every job it ends. */
	setup_started(&cfg);
	p = SUBMIT(0);
	c = SUBMIT(.parent = p->id);
	g = SUBMIT(.parent = c->id);
	other = SUBMIT(0);
	ok(c->parent == p && g->parent == c, "a parent, child, grandchild");
	calls[0] = '\0';
	is_int(jobs_cancel(&js, p), 3,
	    "cancel a queued parent with a queued child and grandchild: 3");
	ok(p->state == JOB_CANCELED && c->state == JOB_CANCELED &&
	    g->state == JOB_CANCELED, "  all three canceled");
	ok(other->state == JOB_QUEUED, "  an unrelated job is not");
	is_str(calls, "save 1 canceled,final 1 canceled,save 2 canceled,"
	    "final 2 canceled,save 3 canceled,final 3 canceled",
	    "  each saved, then final, parent first");
	ok(!p->queued && !c->queued && !g->queued,
	    "  none left on the ready queue");
	is_int(jobs_cancel(&js, p), 0, "cancel again: 0");
	is_int(jobs_cancel(&js, g), 0, "cancel a canceled grandchild: 0");
	is_int(jobs_queued(&js), 1, "1 queued left");

	/* A child submitted under a canceled parent is canceled at once. */
	calls[0] = '\0';
	c = SUBMIT(.parent = p->id);
	ok(c->state == JOB_CANCELED && c->error != NULL &&
	    strcmp(c->error, "parent is done") == 0,
	    "a child of a canceled parent: canceled, 'parent is done'");
	is_str(calls, "save 5 queued,save 5 canceled,final 5 canceled",
	    "  saved queued, then canceled");

	/* Group cancel of a queued parent and child: 2. */
	p = SUBMIT(.group = "grp");
	c = SUBMIT(.group = "grp", .parent = p->id);
	grp = jobs_find_group(&js, "grp");
	is_int(jobs_cancel_group(&js, grp), 2,
	    "group cancel of a queued parent and child: 2");
	ok(p->state == JOB_CANCELED && c->state == JOB_CANCELED &&
	    grp->count[JOB_CANCELED] == 2 && grp->count[JOB_QUEUED] == 0,
	    "  both canceled, the group's counts follow");
	is_int(jobs_cancel_group(&js, grp), 0, "  again: 0");

	/* A running parent: its kill counts, its tree ends at once. */
	p = SUBMIT(0);
	c = SUBMIT(.parent = p->id);
	g = SUBMIT(.parent = c->id);
	fake_start(p);
	calls[0] = '\0';
	is_int(jobs_cancel(&js, p), 3,
	    "cancel a running parent with a queued child and grandchild: 3");
	ok(p->state == JOB_RUNNING && p->stop == JOB_STOP_CANCEL,
	    "  the parent is being stopped");
	ok(c->state == JOB_CANCELED && g->state == JOB_CANCELED,
	    "  child and grandchild canceled");
	is_int(jobs_cancel(&js, p), 0, "  cancel again while stopping: 0");
	job_exited(p, SIGTERM);
	ok(p->state == JOB_CANCELED && p->signal == 0,
	    "  its exit makes it canceled");
	is_str(calls, "save 9 canceled,final 9 canceled,save 10 canceled,"
	    "final 10 canceled,save 8 canceled,final 8 canceled",
	    "  hooks: the tree first, the parent at its exit");
	jobs_fini(&js);
}

static void
test_deadlines(void)
{
	struct jobs_config	 cfg = default_config();
	struct job		*p, *c, *r, *t;

	setup_started(&cfg);
	/* A child's deadline is capped by its parent's. */
	p = SUBMIT(.timeout_ms = 60);
	c = SUBMIT(.parent = p->id, .timeout_ms = HOUR_MS);
	r = SUBMIT(.parent = p->id);
	ok(c->deadline_ms == p->deadline_ms && r->deadline_ms ==
	    p->deadline_ms, "children get the parent's earlier deadline");
	ok(run_until(is_final, p) && run_until(is_final, c) &&
	    run_until(is_final, r), "the deadline passes: all final");
	ok(p->state == JOB_DEADLINE_EXCEEDED && p->error != NULL &&
	    strcmp(p->error, "deadline exceeded") == 0,
	    "queued past its deadline: deadline_exceeded");
	ok(job_now_ms() >= p->deadline_ms, "  not early");
	ok(job_state_final(c->state) && c->state != JOB_SUCCEEDED &&
	    job_state_final(r->state), "  its children ended too");

	/* A running job past its deadline is stopped, then ends so. */
	p = SUBMIT(.timeout_ms = 30);
	c = SUBMIT(.parent = p->id);
	fake_start(p);
	ok(run_until(is_stopping, p) && p->stop == JOB_STOP_DEADLINE &&
	    p->state == JOB_RUNNING, "running past its deadline: stopping");
	calls[0] = '\0';
	job_exited(p, SIGTERM);
	ok(p->state == JOB_DEADLINE_EXCEEDED && job_state_final(c->state) &&
	    c->state != JOB_SUCCEEDED, "  exit: deadline_exceeded, its child "
	    "ended too");

	/* run_timeout counts from the start. */
	t = SUBMIT(.run_timeout_ms = 30);
	run_ready();
	ok(t->state == JOB_QUEUED && t->stop == JOB_STOP_NONE,
	    "run_timeout: not while queued");
	fake_start(t);
	ok(run_until(is_stopping, t) && t->stop == JOB_STOP_RUN_TIMEOUT,
	    "run_timeout: stopping after 30 ms of running");
	job_exited(t, SIGKILL);
	ok(t->state == JOB_DEADLINE_EXCEEDED && t->error != NULL &&
	    strcmp(t->error, "run_timeout") == 0,
	    "  exit: deadline_exceeded, error run_timeout");
	jobs_fini(&js);
}

static void
test_exits_and_retries(void)
{
	struct jobs_config	 cfg = default_config();
	struct job		*j;
	int64_t			 before, after, expect;
	int			 i;
	bool			 good = true;

	cfg.retry_delay_ms = 20;
	setup_started(&cfg);
	j = SUBMIT(0);
	fake_start(j);
	job_exited(j, W_EXITCODE(0, 0));
	ok(j->state == JOB_SUCCEEDED && j->exit_code == 0,
	    "exit 0: succeeded");
	j = SUBMIT(0);
	fake_start(j);
	job_exited(j, W_EXITCODE(3, 0));
	ok(j->state == JOB_FAILED && j->exit_code == 3 && j->attempt == 1,
	    "exit 3, no retries: failed, exit_code 3");
	j = SUBMIT(0);
	fake_start(j);
	job_exited(j, W_EXITCODE(0, SIGSEGV));
	ok(j->state == JOB_FAILED && j->signal == SIGSEGV &&
	    j->exit_code == -1, "killed by SIGSEGV: failed, signal recorded");

	/* Retries: attempt 1 fails after 20 ms, 2 after 40, 3 after 80. */
	j = SUBMIT(.retries = 3);
	for (i = 1; i <= 3; i++) {
		fake_start(j);
		calls[0] = '\0';
		before = job_now_ms();
		job_exited(j, W_EXITCODE(1, 0));
		after = job_now_ms();
		expect = 20LL << (i - 1);
		if (j->state != JOB_QUEUED || j->attempt != i + 1 ||
		    j->queued || j->not_before_ms < before + expect ||
		    j->not_before_ms > after + expect ||
		    strcmp(calls, "save 4 queued") != 0) {
			good = false;
			printf("#   attempt %d: state %s attempt %lld "
			    "backoff %lld calls %s\n", i,
			    job_state_name(j->state), (long long)j->attempt,
			    (long long)(j->not_before_ms - before), calls);
		}
		if (!run_until(is_on_ready_queue, j) ||
		    job_now_ms() < j->not_before_ms)
			good = false;
	}
	ok(good, "retries: queued again after 20, 40, 80 ms, attempt + 1");
	fake_start(j);
	calls[0] = '\0';
	job_exited(j, W_EXITCODE(1, 0));
	ok(j->state == JOB_FAILED && j->attempt == 4,
	    "the 4th attempt fails: no retries left, failed");
	is_str(calls, "save 4 failed,final 4 failed", "  saved, final");

	/* The backoff doubles at most 2^20 times (retry_delay <= a day). */
	js.cfg.retry_delay_ms = 24 * HOUR_MS;
	j = SUBMIT(.retries = 100);
	good = true;
	for (i = 19; i <= 40; i++) {
		fake_start(j);
		j->attempt = i;
		before = job_now_ms();
		job_exited(j, W_EXITCODE(1, 0));
		after = job_now_ms();
		expect = 24 * HOUR_MS * ((int64_t)1 << (i - 1 < 20 ? i - 1 :
		    20));
		if (j->not_before_ms < before + expect ||
		    j->not_before_ms > after + expect) {
			good = false;
			printf("#   attempt %d: backoff %lld, expected %lld\n",
			    i, (long long)(j->not_before_ms - before),
			    (long long)expect);
		}
		pool_enqueue(&js, j);	/* as if the backoff had passed */
	}
	ok(good, "backoff: a day times 2^18, 2^19, then 2^20 from attempt "
	    "21 on");
	is_int(jobs_cancel(&js, j), 1, "a job in backoff cancels: 1");

	/* A stop for shutdown queues the job again as the same attempt. */
	j = SUBMIT(.retries = 0);
	fake_start(j);
	j->stop = JOB_STOP_SHUTDOWN;	/* as jobs_stop_running() marks it */
	calls[0] = '\0';
	job_exited(j, SIGTERM);
	ok(j->state == JOB_QUEUED && j->attempt == 1 && j->started_ms == -1 &&
	    j->stop == JOB_STOP_NONE, "stopped for shutdown: queued again, "
	    "same attempt");
	is_str(calls, "save 6 queued", "  saved queued, nothing final");
	jobs_fini(&js);
}

static void
test_output_commit(void)
{
	struct jobs_config	 cfg = default_config();
	struct job		*j;

	setup_started(&cfg);
	j = SUBMIT(0);
	fake_start(j);
	strbuf_append(&j->out, "hello\n", 6);
	strbuf_append(&j->err, "oops\n", 5);
	store_seq = 7;		/* the final save goes into batch 7 */
	job_exited(j, W_EXITCODE(0, 0));
	ok(j->out_held && !j->out_stored && j->out_bytes == 11 &&
	    j->store_seq == 7, "final: output held for batch 7, 11 bytes");
	jobs_output_committed(&js, 6);
	ok(j->out_held && j->out.len == 6, "batch 6 committed: still held");
	jobs_output_committed(&js, 7);
	ok(!j->out_held && j->out_stored && j->out.len == 0 &&
	    j->err.len == 0 && j->out_bytes == 11,
	    "batch 7 committed: output left memory, its size kept");
	jobs_fini(&js);
}

static bool
jobs_at_most(void *arg)
{
	return js.nfinished <= *(size_t *)arg;
}

static void
test_trim(void)
{
	struct jobs_config	 cfg = default_config();
	struct job		*j[6];
	size_t			 keep = 3;
	int			 i;

	cfg.max_retained_jobs = 3;
	setup_started(&cfg);
	for (i = 0; i < 6; i++)
		j[i] = SUBMIT(.group = "g", .key = i == 0 ? "k0" : NULL,
		    .result_chan = i == 1 ? "results" : NULL);
	/* Finish them in the order 0, 1, 2, 3, 4, 5. */
	for (i = 0; i < 6; i++)
		jobs_cancel(&js, j[i]);
	calls[0] = '\0';
	ok(js.nfinished == 6, "6 finished before the trim runs");
	ok(run_until(jobs_at_most, &keep), "trim: back to 3 finished");
	/* Job 2 waits for its result_chan: it stays, job 4 goes. */
	is_str(calls, "forget 1,forget 3,forget 4",
	    "  the oldest go, but not an undelivered result");
	ok(jobs_find(&js, 1) == NULL && jobs_find(&js, 2) == j[1] &&
	    jobs_find(&js, 5) == j[4], "  1, 3, 4 gone; 2, 5, 6 kept");
	ok(jobs_find_key(&js, "k0") == NULL, "  a forgotten job's key is free");
	ok(jobs_find_group(&js, "g")->total == 3 &&
	    jobs_find_group(&js, "g")->count[JOB_CANCELED] == 3,
	    "  the group counts 3");
	/* Once delivered, it may go at the next trim. */
	j[1]->delivered = true;
	jobs_cancel(&js, SUBMIT(.group = "other"));
	calls[0] = '\0';
	ok(run_until(jobs_at_most, &keep), "trim again: 3 finished");
	is_str(calls, "forget 2", "  the delivered result goes first");

	/* The last job of a group gone: the group is gone. */
	js.cfg.max_retained_jobs = 0;
	keep = 0;
	jobs_cancel(&js, SUBMIT(0));
	calls[0] = '\0';
	ok(run_until(jobs_at_most, &keep), "max_retained_jobs 0: none kept");
	is_str(calls, "forget 5,forget 6,forget 7,forget 8",
	    "  all forgotten, oldest first");
	ok(jobs_find_group(&js, "g") == NULL &&
	    jobs_find_group(&js, "other") == NULL, "  and their groups");
	jobs_fini(&js);
}

static void
test_restore(void)
{
	struct jobs_config	 cfg = default_config();
	struct job		*j, *p, *c, *late, *dead;
	int64_t			 now = job_now_ms();
	size_t			 keep = 3;

	cfg.max_retained_jobs = 3;
	cfg.retention_ms = HOUR_MS;
	setup(&cfg);
	/* Finished jobs come in id order, not in the order they finished. */
	restore_final(1, JOB_SUCCEEDED, now - 3000, NULL);
	restore_final(2, JOB_FAILED, now - 1000, NULL);
	restore_final(3, JOB_SUCCEEDED, now - 2000, NULL);
	restore_final(4, JOB_CANCELED, now - 2 * HOUR_MS, NULL);
	j = restore_final(6, JOB_SUCCEEDED, now - 3 * HOUR_MS, NULL);
	free(j->spec.result_chan);
	j->spec.result_chan = xstrdup("results");	/* not delivered */
	/* Queued and running jobs, a tree. */
	p = job_alloc();
	p->id = 10;
	p->spec = make_spec(&(struct sub){ .retries = 1 });
	p->state = JOB_RUNNING;
	p->submitted_ms = now;
	p->started_ms = now;
	jobs_restore(&js, p);
	c = job_alloc();
	c->id = 11;
	c->spec = make_spec(&(struct sub){ .parent = 10 });
	c->submitted_ms = now;
	jobs_restore(&js, c);
	late = job_alloc();
	late->id = 12;
	late->spec = make_spec(&(struct sub){ 0 });
	late->submitted_ms = now;
	late->not_before_ms = now + HOUR_MS;
	jobs_restore(&js, late);
	dead = job_alloc();
	dead->id = 13;
	dead->spec = make_spec(&(struct sub){ 0 });
	dead->submitted_ms = now - 100;
	dead->deadline_ms = now - 1;
	jobs_restore(&js, dead);
	j = job_alloc();
	j->id = 14;
	j->spec = make_spec(&(struct sub){ 0 });
	j->state = JOB_RUNNING;
	j->attempt = 1;
	j->started_ms = now;
	jobs_restore(&js, j);

	ok(p->state == JOB_QUEUED && p->attempt == 2 && p->started_ms == -1,
	    "running at the stop, a retry left: queued, attempt 2");
	ok(j->state == JOB_FAILED && j->error != NULL &&
	    strcmp(j->error, "interrupted") == 0 && j->finished_ms >= now,
	    "running at the stop, no retry left: failed, 'interrupted'");
	is_str(calls, "save 10 queued,save 14 failed",
	    "restore saves only what changed (no final hook)");
	ok(c->parent == p, "restore: the tree is rebuilt");
	ok(!p->queued && !c->queued, "before jobs_start: nothing on the queue");

	calls[0] = '\0';
	jobs_start(&js);
	ok(p->queued && c->queued, "jobs_start: queued jobs are ready");
	ok(!late->queued && late->wake != NULL && late->state == JOB_QUEUED,
	    "  a job delayed an hour waits for its timer");
	ok(dead->state == JOB_DEADLINE_EXCEEDED,
	    "  a job past its deadline ends at once");
	/*
	 * Retention (an hour) forgets job 4; job 6 is older still but waits
	 * for its result.  Then max_retained_jobs (3) keeps 6 and the two
	 * that finished last: 14 (failed at restore) and 13 (deadline just
	 * now), dropping 1, 3, 2 in the order they finished.
	 */
	ok(run_until(jobs_at_most, &keep), "  then 3 finished are kept");
	is_str(calls, "save 13 deadline_exceeded,final 13 deadline_exceeded,"
	    "forget 4,forget 1,forget 3,forget 2",
	    "  purge by retention, then trim oldest-finished first");
	ok(jobs_find(&js, 6) != NULL && jobs_find(&js, 14) == j &&
	    jobs_find(&js, 13) == dead, "  kept: 6 (undelivered), 13, 14");

	j = SUBMIT(0);
	is_int(j->id, 15, "ids continue after the highest restored");
	is_int(jobs_cancel(&js, p), 2,
	    "a restored parent cancels its restored child: 2");
	jobs_fini(&js);
}

static void
test_trim_output(void)
{
	struct jobs_config	 cfg = default_config();
	struct job		*j;
	int64_t			 now = job_now_ms();
	uint64_t		 limit = 12;

	cfg.max_retained_output = 12;
	setup(&cfg);
	restore_final(1, JOB_SUCCEEDED, now - 30, "aaaaa");
	restore_final(2, JOB_SUCCEEDED, now - 20, "bbbbb");
	j = restore_final(3, JOB_SUCCEEDED, now - 10, "ccccc");
	ok(js.finished_out_bytes == 15 && j->out_bytes == 5,
	    "restored output: 15 bytes");
	jobs_start(&js);
	ok(js.finished_out_bytes <= limit, "max_retained_output 12: trimmed "
	    "to %llu bytes", (unsigned long long)js.finished_out_bytes);
	is_str(calls, "forget 1", "  the oldest goes");
	jobs_fini(&js);
}

static void
test_many(void)
{
	struct jobs_config	 cfg = default_config();
	struct job		*j;
	char			 key[32], group[32];
	int			 i, n = 3000, found = 0;

	setup_started(&cfg);
	for (i = 1; i <= n; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		snprintf(group, sizeof(group), "group-%d", i % 10);
		SUBMIT(.key = key, .group = group);
	}
	for (i = 1; i <= n; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		j = jobs_find(&js, i);
		if (j != NULL && j->id == i && jobs_find_key(&js, key) == j)
			found++;
	}
	is_int(found, n, "3000 jobs: each found by id and by key");
	is_int(jobs_find_group(&js, "group-3")->total, n / 10,
	    "group-3 holds 300");
	is_int(jobs_cancel_group(&js, jobs_find_group(&js, "group-3")),
	    n / 10, "group cancel: 300");
	is_int(jobs_queued(&js), n - n / 10, "2700 still queued");
	jobs_fini(&js);
}

int
main(void)
{
	if ((base = event_base_new()) == NULL)
		tap_bail("event_base_new failed");
	test_submit();
	test_cancel_counts();
	test_deadlines();
	test_exits_and_retries();
	test_output_commit();
	test_trim();
	test_restore();
	test_trim_output();
	test_many();
	event_base_free(base);
	return done_testing();
}
