/*
 * Worker ops (PROTOCOL.md 11.17-11.23): worker_register, worker_take,
 * worker_heartbeat, worker_output, worker_result (an agent's session, on
 * the connection bound to its worker id), worker_drain and workers (any
 * client).  Each handler checks every field, then calls worker.c; the
 * parked worker_take is here (struct worker_take), answered from
 * worker.c's pump through the `answer` hook.
 *
 * A connection is bound to one worker by worker_register.  When another
 * connection registers the same id, the first loses it: its parked take
 * answers `canceled`, its later worker ops `not_found`.  Closing the
 * connection leaves the worker disconnected (conn.c calls worker_bind);
 * its attempts run on until their lease ends.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "job.h"
#include "log.h"
#include "op-worker.h"
#include "pool.h"
#include "server.h"
#include "units.h"
#include "waitq.h"
#include "worker.h"

/* Attempts an agent may list (running, or finished not acknowledged). */
#define OP_WORKER_REFS_MAX	(2 * WORKER_SLOTS_MAX)
#define OP_WORKER_LABEL_MAX	1024

/* A parked worker_take. */
struct worker_take {
	struct call	*call;
	struct waiter	*w;
	struct worker	*worker;
	size_t		 max;
};

static bool
op_worker_pool_valid(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) <= JOB_POOL_MAX &&
	    proto_chan_name_valid(json_string_value(v), json_string_length(v));
}

/* A string of at most max bytes without NUL (empty allowed). */
static bool
op_worker_text_valid(const json_t *v, size_t max)
{
	return json_is_string(v) && json_string_length(v) <= max &&
	    strlen(json_string_value(v)) == json_string_length(v);
}

static char *
op_worker_strdup(const char *s)
{
	char	*p = strdup(s);

	if (p == NULL)
		fatal("out of memory");
	return p;
}

/*
 * field: an array of {"job": J, "attempt": A, ...} (absent or null:
 * none), into refs; progress[] (if not NULL, room for the count) gets
 * each one's "progress" {"done", "total"} or -1s.  0, or -1 with err set.
 */
static int
op_worker_refs(struct call *call, const char *field, struct worker_refs *refs,
    int64_t **progress, struct proto_error *err)
{
	json_t		*a = request_field(&call->req, field), *e, *p, *v;
	size_t		 i;
	int64_t		 job, attempt, done, total;
	const char	*k;

	if (a == NULL || json_is_null(a))
		return 0;
	if (!json_is_array(a) || json_array_size(a) > OP_WORKER_REFS_MAX) {
		proto_error_set(err, ERRCODE_BAD_REQUEST, "field '%s' must be "
		    "an array of at most %d {\"job\", \"attempt\"} objects",
		    field, OP_WORKER_REFS_MAX);
		return -1;
	}
	if (progress != NULL && (*progress = calloc(2 * json_array_size(a) +
	    1, sizeof(**progress))) == NULL)
		fatal("out of memory");
	json_array_foreach(a, i, e) {
		json_t	*jv = json_object_get(e, "job");
		json_t	*av = json_object_get(e, "attempt");

		if (!json_is_object(e) || !json_is_integer(jv) ||
		    !json_is_integer(av) || (job = json_integer_value(jv)) < 1 ||
		    (attempt = json_integer_value(av)) < 1) {
			proto_error_set(err, ERRCODE_BAD_REQUEST, "%s[%zu] must "
			    "be {\"job\": J, \"attempt\": A} (integers >= 1)",
			    field, i);
			return -1;
		}
		worker_refs_add(refs, job, attempt);
		if (progress == NULL)
			continue;
		done = total = -1;
		p = json_object_get(e, "progress");
		if (p != NULL && !json_is_null(p)) {
			bool	 bad = !json_is_object(p);

			json_object_foreach(bad ? NULL : p, k, v) {
				if (strcmp(k, "done") != 0 &&
				    strcmp(k, "total") != 0)
					continue;
				if (json_is_null(v) && strcmp(k, "total") == 0)
					continue;
				if (!json_is_integer(v) ||
				    json_integer_value(v) < 0)
					bad = true;
			}
			if (!bad && !json_is_integer(json_object_get(p,
			    "done")))
				bad = true;
			if (bad) {
				proto_error_set(err, ERRCODE_BAD_REQUEST,
				    "%s[%zu].progress must be {\"done\": N, "
				    "\"total\": N or null} (N >= 0)", field, i);
				return -1;
			}
			done = json_integer_value(json_object_get(p, "done"));
			v = json_object_get(p, "total");
			total = json_is_integer(v) ? json_integer_value(v) : -1;
		}
		(*progress)[2 * i] = done;
		(*progress)[2 * i + 1] = total;
	}
	return 0;
}

static json_t *
op_worker_refs_json(const struct worker_refs *r)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < r->n; i++)
		json_array_append_new(a, json_pack("{s:I, s:I}", "job",
		    (json_int_t)r->v[i].job, "attempt",
		    (json_int_t)r->v[i].attempt));
	return a;
}

static json_t *
op_worker_stops_json(struct worker *w, bool unsent_only)
{
	struct worker_stop	*stops;
	json_t			*a = json_array();
	size_t			 i, n;

	if ((stops = calloc(w->busy + 1, sizeof(*stops))) == NULL)
		fatal("out of memory");
	n = worker_stops(w, unsent_only, stops);
	for (i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:I, s:I, s:s, s:b}",
		    "job", (json_int_t)stops[i].job, "attempt",
		    (json_int_t)stops[i].attempt, "reason",
		    worker_stop_name(stops[i].reason), "now", stops[i].now));
	free(stops);
	return a;
}

/*
 * The worker this connection is bound to; NULL after answering (never
 * registered: bad_request; registered again elsewhere: not_found).
 */
static struct worker *
op_worker_self(struct call *call)
{
	struct worker	*w = conn_worker(call->conn);

	if (w != NULL)
		return w;
	if (conn_worker_lost(call->conn))
		call_error(call, ERRCODE_NOT_FOUND, "this connection's worker "
		    "registered again on another connection");
	else
		call_error(call, ERRCODE_BAD_REQUEST, "op '%s' needs a "
		    "worker_register on this connection first", call->req.op);
	return NULL;
}

/* -- worker_register ------------------------------------------------------- */

/* pools and labels of the request into reg (taken by reg). */
static int
op_worker_reg_lists(struct call *call, struct worker_reg *reg,
    struct proto_error *err)
{
	json_t		*pools = request_field(&call->req, "pools");
	json_t		*labels = request_field(&call->req, "labels"), *v;
	const char	*k;
	size_t		 i;

	if (!json_is_array(pools) || json_array_size(pools) == 0 ||
	    json_array_size(pools) > WORKER_POOLS_MAX) {
		proto_error_set(err, ERRCODE_BAD_REQUEST, "field 'pools' must "
		    "be a non-empty array of at most %d pool names",
		    WORKER_POOLS_MAX);
		return -1;
	}
	if ((reg->pools = calloc(json_array_size(pools) + 1,
	    sizeof(char *))) == NULL)
		fatal("out of memory");
	json_array_foreach(pools, i, v) {
		if (!op_worker_pool_valid(v)) {
			proto_error_set(err, ERRCODE_BAD_REQUEST, "pools[%zu] "
			    "must be 1-%d bytes of [A-Za-z0-9._:-]", i,
			    JOB_POOL_MAX);
			return -1;
		}
		reg->pools[reg->npools++] = op_worker_strdup(
		    json_string_value(v));
	}
	if (labels == NULL || json_is_null(labels))
		return 0;
	if (!json_is_object(labels) || json_object_size(labels) >
	    WORKER_LABELS_MAX) {
		proto_error_set(err, ERRCODE_BAD_REQUEST, "field 'labels' must "
		    "be an object of at most %d strings", WORKER_LABELS_MAX);
		return -1;
	}
	if ((reg->labels = calloc(2 * json_object_size(labels) + 1,
	    sizeof(char *))) == NULL)
		fatal("out of memory");
	json_object_foreach(labels, k, v) {
		if (*k == '\0' || strlen(k) > CHAN_NAME_MAX ||
		    !op_worker_text_valid(v, OP_WORKER_LABEL_MAX)) {
			proto_error_set(err, ERRCODE_BAD_REQUEST, "labels "
			    "'%.64s': names 1-%d bytes, values strings of at "
			    "most %d bytes without NUL", k, CHAN_NAME_MAX,
			    OP_WORKER_LABEL_MAX);
			return -1;
		}
		reg->labels[2 * reg->nlabels] = op_worker_strdup(k);
		reg->labels[2 * reg->nlabels + 1] = op_worker_strdup(
		    json_string_value(v));
		reg->nlabels++;
	}
	return 0;
}

static int
op_worker_reg_parse(struct call *call, struct worker_reg *reg,
    struct worker_refs *held, struct proto_error *err)
{
	int64_t	 slots = 0, pid = -1, prefetch = 0;
	json_t	*host;

	memset(reg, 0, sizeof(*reg));
	reg->pid = -1;
	if (request_need_chan(&call->req, "worker", &reg->id, err) == -1 ||
	    request_need_string(&call->req, "host", &reg->host, err) == -1 ||
	    request_get_int(&call->req, "pid", 1, PROTO_INT_MAX, &pid,
	    err) == -1 ||
	    request_need_int(&call->req, "slots", 1, WORKER_SLOTS_MAX, &slots,
	    err) == -1 ||
	    request_get_int(&call->req, "prefetch", 0, WORKER_SLOTS_MAX,
	    &prefetch, err) == -1 ||
	    request_get_string(&call->req, "version", &reg->version,
	    err) == -1 ||
	    request_get_string(&call->req, "instance", &reg->instance,
	    err) == -1)
		return -1;
	host = request_field(&call->req, "host");
	if (json_string_length(host) > WORKER_HOST_MAX) {
		proto_error_set(err, ERRCODE_BAD_REQUEST, "field 'host' must "
		    "be at most %d bytes", WORKER_HOST_MAX);
		return -1;
	}
	if (reg->version != NULL && strlen(reg->version) > WORKER_HOST_MAX) {
		proto_error_set(err, ERRCODE_BAD_REQUEST, "field 'version' "
		    "must be at most %d bytes", WORKER_HOST_MAX);
		return -1;
	}
	if (reg->instance != NULL && strlen(reg->instance) > WORKER_HOST_MAX) {
		proto_error_set(err, ERRCODE_BAD_REQUEST, "field 'instance' "
		    "must be at most %d bytes", WORKER_HOST_MAX);
		return -1;
	}
	reg->pid = pid;
	reg->slots = (size_t)slots;
	reg->prefetch = (size_t)prefetch;
	if (op_worker_reg_lists(call, reg, err) == -1)
		return -1;
	return op_worker_refs(call, "attempts", held, NULL, err);
}

/* Take w from the connection that holds it (a stale session). */
static void
op_worker_take_over(struct worker *w)
{
	struct conn	*old = w->conn;

	if (w->take != NULL)
		waiter_wake(w->take->w, NULL, WAKE_ABORTED, NULL);
	conn_set_worker(old, NULL, true);
	w->conn = NULL;
	log_info("worker %s registered again: its earlier connection lost "
	    "it", w->id);
}

enum op_status
op_worker_register(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	struct worker_reg	 reg;
	struct worker_refs	 held = { 0 }, adopted = { 0 }, drop = { 0 };
	struct worker		*w, *bound = conn_worker(call->conn);
	json_t			*r;

	if (op_worker_reg_parse(call, &reg, &held, &err) == -1) {
		call_fail(call, &err);
		goto done;
	}
	if (bound != NULL && strcmp(bound->id, reg.id) != 0) {
		call_error(call, ERRCODE_BAD_REQUEST, "this connection is "
		    "worker '%s' already: one connection is one worker",
		    bound->id);
		goto done;
	}
	if (server_refuse_writes(s, call))
		goto done;
	w = workers_find(&s->workers, reg.id);
	if (w == NULL && workers_count(&s->workers) >= s->cfg->max_workers) {
		call_error(call, ERRCODE_LIMIT, "max_workers (%llu) "
		    "registered", (unsigned long long)s->cfg->max_workers);
		goto done;
	}
	if (w != NULL && w->conn != NULL && w->conn != call->conn)
		op_worker_take_over(w);
	w = worker_register(&s->workers, &reg, held.v, held.n, &adopted,
	    &drop);
	worker_bind(w, call->conn);
	conn_set_worker(call->conn, w, false);
	log_info("worker %s registered: host %s, %zu slot%s, %zu pool%s, "
	    "%zu job%s re-adopted", w->id, w->host, w->slots,
	    log_plural(w->slots), w->npools, log_plural(w->npools),
	    adopted.n, log_plural(adopted.n));
	r = reply_ok(call_id(call));
	json_object_set_new(r, "worker", json_string(w->id));
	json_object_set_new(r, "heartbeat_ms",
	    json_integer(s->workers.heartbeat_ms));
	json_object_set_new(r, "lease_ms", json_integer(s->workers.lease_ms));
	json_object_set_new(r, "adopted", op_worker_refs_json(&adopted));
	json_object_set_new(r, "drop", op_worker_refs_json(&drop));
	json_object_set_new(r, "max_output",
	    json_integer((json_int_t)s->cfg->max_output));
	json_object_set_new(r, "kill_grace_ms",
	    json_integer(s->cfg->kill_grace_ms));
	call_reply(call, r, NULL, 0);
done:
	job_strv_free(reg.pools);
	job_strv_free(reg.labels);
	worker_refs_free(&held);
	worker_refs_free(&adopted);
	worker_refs_free(&drop);
	return OP_DONE;
}

/* -- worker_take ----------------------------------------------------------- */

static json_t *
op_worker_spec_get(json_t *spec, const char *key)
{
	json_t	*v = json_object_get(spec, key);

	return v != NULL ? json_incref(v) : json_null();
}

/* An assignment as the agent gets it (new reference). */
static json_t *
op_worker_assignment(const struct job *j)
{
	json_t	*spec, *a, *env;
	int64_t	 left;

	spec = json_loads(j->spec.text, JSON_ALLOW_NUL, NULL);
	if (spec == NULL)
		fatal("job %lld: unreadable spec", (long long)j->id);
	a = json_object();
	json_object_set_new(a, "job", json_integer(j->id));
	json_object_set_new(a, "attempt", json_integer(j->attempt));
	json_object_set_new(a, "argv", op_worker_spec_get(spec, "argv"));
	env = json_object_get(spec, "env");
	json_object_set_new(a, "env", json_is_object(env) ?
	    json_incref(env) : json_object());
	json_object_set_new(a, "cwd", op_worker_spec_get(spec, "cwd"));
	json_object_set_new(a, "stdin", op_worker_spec_get(spec, "stdin"));
	json_object_set_new(a, "name", op_worker_spec_get(spec, "name"));
	json_object_set_new(a, "group", op_worker_spec_get(spec, "group"));
	if (j->deadline_ms < 0)
		json_object_set_new(a, "deadline_in_ms", json_null());
	else {
		left = j->deadline_ms - job_now_ms();
		json_object_set_new(a, "deadline_in_ms",
		    json_integer(left < 0 ? 0 : left));
	}
	json_object_set_new(a, "run_timeout_ms", j->spec.run_timeout_ms < 0 ?
	    json_null() : json_integer(j->spec.run_timeout_ms));
	json_object_set_new(a, "priority", json_integer(j->spec.priority));
	json_object_set_new(a, "pool", json_string(job_pool_name(j)));
	json_decref(spec);
	return a;
}

/* Answer a take of w: jobs (assigned now), stops, drops, drain. */
static void
op_worker_take_reply(struct call *call, struct worker *w, size_t max)
{
	struct worker_refs	 drop = { 0 };
	struct job		**jobs;
	json_t			*r, *a;
	size_t			 i, n;

	if ((jobs = calloc(max, sizeof(*jobs))) == NULL)
		fatal("out of memory");
	n = worker_assign(w, max, jobs);
	a = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(a, op_worker_assignment(jobs[i]));
	free(jobs);
	r = reply_ok(call_id(call));
	json_object_set_new(r, "jobs", a);
	json_object_set_new(r, "stop", op_worker_stops_json(w, true));
	worker_take_drops(w, &drop);
	json_object_set_new(r, "drop", op_worker_refs_json(&drop));
	worker_refs_free(&drop);
	json_object_set_new(r, "drain", json_boolean(w->draining));
	worker_told(w);
	/* Stamped after the assignments' saves: it leaves once they are
	 * committed. */
	call_reply(call, r, NULL, 0);
}

static uint64_t
op_worker_take_wake_cb(struct waiter *wt, int index, enum wake_result result,
    struct value_list *values, void *arg)
{
	struct worker_take	*t = arg;
	struct call		*call = t->call;
	struct worker		*w = t->worker;

	worker_take_unpark(w);
	t->worker = NULL;
	call_unpark(call);
	if (result == WAKE_READY || result == WAKE_TIMEOUT)
		op_worker_take_reply(call, w, t->max);
	else if (result == WAKE_ABORTED)
		call_canceled(call);
	else
		call_error(call, ERRCODE_SHUTTING_DOWN,
		    "the server is shutting down");
	return 0;
}

static void
op_worker_take_free_cb(struct waiter *wt, void *arg)
{
	struct worker_take	*t = arg;

	/* Not woken (the connection closed): the worker has no take now. */
	if (t->worker != NULL)
		worker_take_unpark(t->worker);
	free(t);
}

enum op_status
op_worker_take(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	struct worker		*w;
	struct worker_take	*t;
	int64_t			 max = 1, prefetch, timeout_ms;

	if ((w = op_worker_self(call)) == NULL)
		return OP_DONE;
	prefetch = (int64_t)w->prefetch;
	if (request_get_int(&call->req, "max", 1, 2 * WORKER_SLOTS_MAX, &max,
	    &err) == -1 ||
	    request_get_int(&call->req, "prefetch", 0, WORKER_SLOTS_MAX,
	    &prefetch, &err) == -1 ||
	    request_get_timeout(&call->req, "timeout_ms", &timeout_ms,
	    &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if (w->take != NULL) {
		call_error(call, ERRCODE_BAD_REQUEST, "worker '%s' has a "
		    "worker_take parked already", w->id);
		return OP_DONE;
	}
	if (server_refuse_writes(s, call))
		return OP_DONE;
	worker_take_begin(w, (size_t)prefetch);
	if (timeout_ms == 0 || worker_take_due(w)) {
		op_worker_take_reply(call, w, (size_t)max);
		return OP_DONE;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatal("out of memory");
	t->call = call;
	t->worker = w;
	t->max = (size_t)max;
	t->w = waiter_new(0, op_worker_take_wake_cb, t);
	t->w->free_cb = op_worker_take_free_cb;
	worker_take_park(w, t);
	call_park(call, t->w, timeout_ms);
	return OP_PARKED;
}

static void
op_worker_answer(void *arg, struct worker *w)
{
	waiter_wake(w->take->w, NULL, WAKE_READY, NULL);
}

const struct worker_hooks op_worker_hooks = {
	.answer = op_worker_answer,
};

/* -- worker_heartbeat, worker_output, worker_result ------------------------ */

enum op_status
op_worker_heartbeat(struct call *call)
{
	struct proto_error	 err;
	struct worker_refs	 held = { 0 }, drop = { 0 };
	struct worker		*w;
	struct job		*j;
	int64_t			*progress = NULL;
	json_t			*r;
	size_t			 i;

	if ((w = op_worker_self(call)) == NULL)
		return OP_DONE;
	if (op_worker_refs(call, "running", &held, &progress, &err) == -1) {
		call_fail(call, &err);
		goto done;
	}
	worker_heartbeat(w, held.v, held.n, &drop);
	for (i = 0; i < held.n; i++) {
		j = worker_attempt(w, held.v[i].job, held.v[i].attempt);
		if (j != NULL && progress[2 * i] >= 0)
			worker_progress(j, progress[2 * i],
			    progress[2 * i + 1]);
	}
	r = reply_ok(call_id(call));
	json_object_set_new(r, "lease_ms", json_integer(w->ws->lease_ms));
	json_object_set_new(r, "stop", op_worker_stops_json(w, false));
	json_object_set_new(r, "drop", op_worker_refs_json(&drop));
	json_object_set_new(r, "drain", json_boolean(w->draining));
	call_reply(call, r, NULL, 0);
done:
	free(progress);
	worker_refs_free(&held);
	worker_refs_free(&drop);
	return OP_DONE;
}

/* job and attempt of the request: the attempt running on w, or NULL
 * after answering. */
static struct job *
op_worker_find_attempt(struct call *call, struct worker *w,
    int64_t *job, int64_t *attempt)
{
	struct proto_error	 err;
	struct job		*j;

	if (request_need_int(&call->req, "job", 1, PROTO_INT_MAX, job,
	    &err) == -1 ||
	    request_need_int(&call->req, "attempt", 1, PROTO_INT_MAX, attempt,
	    &err) == -1) {
		call_fail(call, &err);
		return NULL;
	}
	if ((j = worker_attempt(w, *job, *attempt)) == NULL)
		call_error(call, ERRCODE_NOT_FOUND, "attempt %lld of job %lld "
		    "is not running on worker %s", (long long)*attempt,
		    (long long)*job, w->id);
	return j;
}

enum op_status
op_worker_output(struct call *call)
{
	struct proto_error	 err;
	struct worker		*w;
	struct job		*j;
	const char		*stream;
	json_t			*data = request_field(&call->req, "data");
	int64_t			 job, attempt, offset;

	if ((w = op_worker_self(call)) == NULL)
		return OP_DONE;
	if (request_need_string(&call->req, "stream", &stream, &err) == -1 ||
	    request_need_int(&call->req, "offset", 0, PROTO_INT_MAX, &offset,
	    &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if (strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'stream' must be "
		    "\"stdout\" or \"stderr\"");
		return OP_DONE;
	}
	if (!json_is_string(data) || json_string_length(data) >
	    WORKER_OUTPUT_MAX) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'data' must be a "
		    "string of at most %d bytes", WORKER_OUTPUT_MAX);
		return OP_DONE;
	}
	if ((j = op_worker_find_attempt(call, w, &job, &attempt)) == NULL)
		return OP_DONE;
	if (worker_output(j, strcmp(stream, "stdout") == 0 ? 0 : 1,
	    (uint64_t)offset, json_string_value(data),
	    json_string_length(data)) == -1) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'offset': %lld is "
		    "past the %zu bytes of %s held for attempt %lld of job "
		    "%lld", (long long)offset, strcmp(stream, "stdout") == 0 ?
		    j->out.len : j->err.len, stream, (long long)attempt,
		    (long long)job);
		return OP_DONE;
	}
	call_ok(call);
	return OP_DONE;
}

/* The outcome fields of a worker_result into r: 0, or -1 with err. */
static int
op_worker_result_parse(struct call *call, struct worker_result *r,
    struct proto_error *err)
{
	const char	*stopped = NULL;
	int64_t		 code = -1, sig = 0;
	json_t		*p;
	int		 given = 0;

	memset(r, 0, sizeof(*r));
	r->progress_done = r->progress_total = -1;
	if (request_get_int(&call->req, "exit_code", 0, 255, &code,
	    err) == -1 ||
	    request_get_int(&call->req, "signal", 1, 64, &sig, err) == -1 ||
	    request_get_string(&call->req, "error", &r->error, err) == -1 ||
	    request_get_bool(&call->req, "returned", &r->returned,
	    err) == -1 ||
	    request_get_string(&call->req, "stopped", &stopped, err) == -1 ||
	    request_get_bool(&call->req, "stdout_truncated",
	    &r->out_truncated, err) == -1 ||
	    request_get_bool(&call->req, "stderr_truncated",
	    &r->err_truncated, err) == -1)
		return -1;
	given = (code >= 0) + (sig > 0) + (r->error != NULL) + r->returned;
	if (given != 1) {
		proto_error_set(err, ERRCODE_BAD_REQUEST, "give exactly one of "
		    "fields 'exit_code', 'signal', 'error' and 'returned'");
		return -1;
	}
	r->exit_code = (int)code;
	r->signal = (int)sig;
	r->stopped = JOB_STOP_NONE;
	if (stopped != NULL && worker_stop_parse(stopped, &r->stopped) ==
	    -1) {
		proto_error_set(err, ERRCODE_BAD_REQUEST, "field 'stopped' must "
		    "be null or one of cancel, deadline, run_timeout, drain");
		return -1;
	}
	p = request_field(&call->req, "progress");
	if (p != NULL && !json_is_null(p)) {
		json_t	*d = json_object_get(p, "done");
		json_t	*t = json_object_get(p, "total");

		if (!json_is_integer(d) || json_integer_value(d) < 0 ||
		    (t != NULL && !json_is_null(t) && (!json_is_integer(t) ||
		    json_integer_value(t) < 0))) {
			proto_error_set(err, ERRCODE_BAD_REQUEST, "field "
			    "'progress' must be {\"done\": N, \"total\": N or "
			    "null} (N >= 0)");
			return -1;
		}
		r->progress_done = json_integer_value(d);
		r->progress_total = json_is_integer(t) ?
		    json_integer_value(t) : -1;
	}
	return 0;
}

enum op_status
op_worker_result(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	struct worker_result	 res;
	struct worker		*w;
	int64_t			 job, attempt;
	json_t			*r;

	if ((w = op_worker_self(call)) == NULL)
		return OP_DONE;
	if (request_need_int(&call->req, "job", 1, PROTO_INT_MAX, &job,
	    &err) == -1 ||
	    request_need_int(&call->req, "attempt", 1, PROTO_INT_MAX, &attempt,
	    &err) == -1 ||
	    op_worker_result_parse(call, &res, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if (server_refuse_writes(s, call))
		return OP_DONE;
	switch (worker_result(w, job, attempt, &res)) {
	case WORKER_RESULT_RECORDED:
		call_ok(call);
		break;
	case WORKER_RESULT_DUPLICATE:
		r = reply_ok(call_id(call));
		json_object_set_new(r, "duplicate", json_true());
		call_reply(call, r, NULL, 0);
		break;
	case WORKER_RESULT_NOT_CURRENT:
		call_error(call, ERRCODE_NOT_FOUND, "attempt %lld of job %lld "
		    "is not running on worker %s", (long long)attempt,
		    (long long)job, w->id);
		break;
	}
	return OP_DONE;
}

/* -- worker_drain, workers --------------------------------------------------- */

enum op_status
op_worker_drain(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	const char		*id;
	struct worker		*w;
	bool			 now = false;
	size_t			 running;
	json_t			*r;

	if (request_need_chan(&call->req, "worker", &id, &err) == -1 ||
	    request_get_bool(&call->req, "now", &now, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if ((w = workers_find(&s->workers, id)) == NULL) {
		call_error(call, ERRCODE_NOT_FOUND, "no worker '%s'", id);
		return OP_DONE;
	}
	running = worker_drain(w, now);
	r = reply_ok(call_id(call));
	json_object_set_new(r, "worker", json_string(w->id));
	json_object_set_new(r, "running", json_integer((json_int_t)running));
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}

static json_t *
op_worker_json(const struct worker *w)
{
	json_t		*o = json_object(), *a, *labels;
	struct job	*j;
	size_t		 i;

	json_object_set_new(o, "worker", json_string(w->id));
	json_object_set_new(o, "host", w->host != NULL ?
	    json_string(w->host) : json_null());
	json_object_set_new(o, "pid", w->pid >= 0 ? json_integer(w->pid) :
	    json_null());
	json_object_set_new(o, "version", w->version != NULL ?
	    json_string(w->version) : json_null());
	a = json_array();
	for (i = 0; i < w->npools; i++)
		json_array_append_new(a, json_string(w->pools[i]));
	json_object_set_new(o, "pools", a);
	labels = json_object();
	for (i = 0; i < w->nlabels; i++)
		json_object_set_new(labels, w->labels[2 * i],
		    json_string(w->labels[2 * i + 1]));
	json_object_set_new(o, "labels", labels);
	json_object_set_new(o, "slots", json_integer((json_int_t)w->slots));
	json_object_set_new(o, "busy", json_integer((json_int_t)w->busy));
	json_object_set_new(o, "state",
	    json_string(worker_state_name(worker_state(w))));
	json_object_set_new(o, "registered_ms", w->registered_ms >= 0 ?
	    json_integer(w->registered_ms) : json_null());
	json_object_set_new(o, "last_heartbeat_ms", w->last_heartbeat_ms >= 0 ?
	    json_integer(w->last_heartbeat_ms) : json_null());
	a = json_array();
	TAILQ_FOREACH(j, &w->attempts, worker_entry)
		json_array_append_new(a, json_pack("{s:I, s:I}", "job",
		    (json_int_t)j->id, "attempt", (json_int_t)j->attempt));
	json_object_set_new(o, "attempts", a);
	return o;
}

static int
op_worker_cmp(const void *a, const void *b)
{
	const struct worker	*x = *(struct worker *const *)a;
	const struct worker	*y = *(struct worker *const *)b;

	return strcmp(x->id, y->id);
}

/* The workers sorted by id (caller frees the array); *n of them. */
struct worker **
op_workers_sorted(struct workers *ws, size_t *n)
{
	struct worker		**v;
	struct map_iter		  it;
	struct map_entry	 *e;

	*n = 0;
	if ((v = calloc(workers_count(ws) + 1, sizeof(*v))) == NULL)
		fatal("out of memory");
	MAP_FOREACH(e, &it, &ws->by_id)
		v[(*n)++] = MAP_ELEM(e, struct worker, id_entry);
	qsort(v, *n, sizeof(*v), op_worker_cmp);
	return v;
}

enum op_status
op_workers(struct call *call)
{
	struct server	*s = call_server(call);
	struct worker	**v;
	json_t		*r, *a;
	size_t		 i, n;

	v = op_workers_sorted(&s->workers, &n);
	a = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(a, op_worker_json(v[i]));
	free(v);
	r = reply_ok(call_id(call));
	json_object_set_new(r, "workers", a);
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}

/* -- stats ------------------------------------------------------------------- */

static int
op_worker_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **
op_worker_pool_names(struct server *s, size_t *n)
{
	struct map_iter		 it;
	struct map_entry	*e;
	struct pool_queue	*p;
	struct worker		*w;
	const char		**v;
	size_t			 cap, i, k;

	cap = map_count(&s->jobs.pools) + 1;
	MAP_FOREACH(e, &it, &s->workers.by_id)
		cap += MAP_ELEM(e, struct worker, id_entry)->npools;
	if ((v = calloc(cap, sizeof(*v))) == NULL)
		fatal("out of memory");
	k = 0;
	MAP_FOREACH(e, &it, &s->jobs.pools) {
		p = MAP_ELEM(e, struct pool_queue, name_entry);
		if (p->queued > 0 || p->running > 0)
			v[k++] = p->name;
	}
	MAP_FOREACH(e, &it, &s->workers.by_id) {
		w = MAP_ELEM(e, struct worker, id_entry);
		for (i = 0; i < w->npools; i++)
			v[k++] = w->pools[i];
	}
	qsort(v, k, sizeof(*v), op_worker_cmp_str);
	*n = 0;
	for (i = 0; i < k; i++) {
		if (*n == 0 || strcmp(v[*n - 1], v[i]) != 0)
			v[(*n)++] = v[i];
	}
	return v;
}

void
op_worker_stats(struct server *s, json_t *stats)
{
	struct workers		*ws = &s->workers;
	struct pool_queue	*p;
	size_t			 count[WORKER_NSTATES], i, n;
	const char		**names;
	json_t			*workers, *pools;

	/*
	 * Only once there are workers or pools besides "local": a server
	 * of jqd's own slots shows the stats of protocol 1.1.
	 */
	if (workers_count(ws) == 0 && map_count(&s->jobs.pools) == 1)
		return;
	workers_count_states(ws, count);
	workers = json_object_get(stats, "workers");
	for (i = 0; i < WORKER_NSTATES; i++)
		json_object_set_new(workers, worker_state_name(
		    (enum worker_state)i), json_integer((json_int_t)count[i]));
	json_object_set_new(stats, "remote_running",
	    json_integer((json_int_t)ws->remote_running));
	pools = json_object();
	names = op_worker_pool_names(s, &n);
	for (i = 0; i < n; i++) {
		p = pool_find(&s->jobs, names[i]);
		json_object_set_new(pools, names[i], json_pack("{s:I, s:I}",
		    "queued", (json_int_t)(p != NULL ? p->queued : 0),
		    "running", (json_int_t)(p != NULL ? p->running : 0)));
	}
	free(names);
	json_object_set_new(stats, "pools", pools);
}
