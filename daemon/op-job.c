/*
 * Job ops: submit, job, jobs, cancel, wait, group; and the job side of the
 * server that speaks JSON: result objects, the stored spec, result_chan
 * delivery, and `wait` requests parked until their jobs are final.
 *
 * The stored spec is the submit request normalised to the fields below,
 * in compact JSON; op_job_restore() reads it back at start-up.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chan.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "job.h"
#include "log.h"
#include "op-job.h"
#include "server.h"
#include "store.h"
#include "utf8.h"
#include "value.h"
#include "waitq.h"

#define JS_INT_MAX	9007199254740991LL
#define JOBS_LIMIT_MAX	1000
#define JOBS_LIMIT_DEF	100

/* -- the spec ------------------------------------------------------------ */

static char *
op_strdup_json(const json_t *s)
{
	char	*p;
	size_t	 len = json_string_length(s);

	p = malloc(len + 1);
	if (p == NULL)
		fatal("out of memory");
	memcpy(p, json_string_value(s), len);
	p[len] = '\0';
	return p;
}

static bool
op_text_ok(const json_t *s, size_t min, size_t max)
{
	size_t	 len;

	if (!json_is_string(s))
		return false;
	len = json_string_length(s);
	return len >= min && len <= max &&
	    memchr(json_string_value(s), '\0', len) == NULL;
}

/*
 * Read the spec fields of a submit request (or of a stored spec) into spec.
 * Returns 0, or -1 with err set.
 */
static int
op_job_parse_spec(const json_t *o, struct job_spec *spec,
    struct proto_error *err)
{
	const json_t	*argv, *env, *v;
	const char	*k;
	size_t		 i, n;

	memset(spec, 0, sizeof(*spec));
	spec->run_timeout_ms = -1;
	argv = json_object_get(o, "argv");
	if (!json_is_array(argv) || json_array_size(argv) == 0) {
		proto_error_set(err, ERRCODE_BAD_REQUEST, "field 'argv' must "
		    "be a non-empty array of strings");
		return -1;
	}
	n = json_array_size(argv);
	spec->argv = calloc(n + 1, sizeof(char *));
	if (spec->argv == NULL)
		fatal("out of memory");
	for (i = 0; i < n; i++) {
		if (!op_text_ok(json_array_get(argv, i), i == 0 ? 1 : 0,
		    SIZE_MAX)) {
			proto_error_set(err, ERRCODE_BAD_REQUEST, "argv[%zu] "
			    "must be a%s string without NUL bytes", i,
			    i == 0 ? " non-empty" : "");
			return -1;
		}
		spec->argv[i] = op_strdup_json(json_array_get(argv, i));
	}
	env = json_object_get(o, "env");
	if (env != NULL && !json_is_null(env)) {
		if (!json_is_object(env)) {
			proto_error_set(err, ERRCODE_BAD_REQUEST,
			    "field 'env' must be an object of strings");
			return -1;
		}
		spec->env = calloc(json_object_size(env) + 1, sizeof(char *));
		if (spec->env == NULL)
			fatal("out of memory");
		i = 0;
		json_object_foreach((json_t *)env, k, v) {
			if (*k == '\0' || strchr(k, '=') != NULL ||
			    !op_text_ok(v, 0, SIZE_MAX)) {
				proto_error_set(err, ERRCODE_BAD_REQUEST,
				    "env '%.64s': names must be non-empty "
				    "without '=', values strings without NUL",
				    k);
				return -1;
			}
			if (asprintf(&spec->env[i++], "%s=%s", k,
			    json_string_value(v)) == -1)
				fatal("out of memory");
		}
	}
	static const struct {
		const char	*name;
		size_t		 offset;
		size_t		 max;
		bool		 chan;
	} strs[] = {
		{ "cwd", offsetof(struct job_spec, cwd), 4096, false },
		{ "name", offsetof(struct job_spec, name), 256, false },
		{ "group", offsetof(struct job_spec, group), CHAN_NAME_MAX,
		  true },
		{ "key", offsetof(struct job_spec, key), 256, false },
		{ "result_chan", offsetof(struct job_spec, result_chan),
		  CHAN_NAME_MAX, true },
	};
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		v = json_object_get(o, strs[i].name);
		if (v == NULL || json_is_null(v))
			continue;
		if (!op_text_ok(v, 1, strs[i].max) || (strs[i].chan &&
		    !proto_chan_name_valid(json_string_value(v),
		    json_string_length(v)))) {
			proto_error_set(err, ERRCODE_BAD_REQUEST, "field '%s' "
			    "must be %s", strs[i].name, strs[i].chan ?
			    "1-128 bytes of [A-Za-z0-9._:-]" :
			    "a non-empty string without NUL bytes");
			return -1;
		}
		*(char **)((char *)spec + strs[i].offset) = op_strdup_json(v);
	}
	v = json_object_get(o, "stdin");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v)) {
			proto_error_set(err, ERRCODE_BAD_REQUEST,
			    "field 'stdin' must be a string");
			return -1;
		}
		spec->stdin_len = json_string_length(v);
		spec->stdin_data = op_strdup_json(v);
	}
	static const struct {
		const char	*name;
		size_t		 offset;
		int64_t		 min, max;
	} ints[] = {
		{ "parent", offsetof(struct job_spec, parent), 1, JS_INT_MAX },
		{ "priority", offsetof(struct job_spec, priority), -1000000,
		  1000000 },
		{ "retries", offsetof(struct job_spec, retries), 0, 1000 },
		{ "run_timeout_ms", offsetof(struct job_spec, run_timeout_ms),
		  1, JS_INT_MAX },
	};
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		v = json_object_get(o, ints[i].name);
		if (v == NULL || json_is_null(v))
			continue;
		if (!json_is_integer(v) || json_integer_value(v) <
		    ints[i].min || json_integer_value(v) > ints[i].max) {
			proto_error_set(err, ERRCODE_BAD_REQUEST, "field '%s' "
			    "must be an integer in [%lld, %lld]",
			    ints[i].name, (long long)ints[i].min,
			    (long long)ints[i].max);
			return -1;
		}
		*(int64_t *)((char *)spec + ints[i].offset) =
		    json_integer_value(v);
	}
	return 0;
}

/* The normalised spec, compact JSON, for the store. */
static char *
op_job_spec_text(const json_t *req)
{
	static const char *const keep[] = { "argv", "env", "cwd", "stdin",
	    "name", "group", "key", "result_chan", "parent", "priority",
	    "retries", "run_timeout_ms" };
	json_t	*o = json_object(), *v;
	char	*text;
	size_t	 i, len;

	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		v = json_object_get(req, keep[i]);
		if (v != NULL && !json_is_null(v))
			json_object_set(o, keep[i], v);
	}
	text = proto_json_dump(o, &len);
	json_decref(o);
	return text;
}

/* -- results --------------------------------------------------------------- */

static json_t *
op_opt_int(int64_t v, int64_t none)
{
	return v == none ? json_null() : json_integer(v);
}

static json_t *
op_opt_str(const char *s)
{
	return s == NULL ? json_null() : json_string(s);
}

/*
 * Captured output as a JSON string.  Final output was repaired when the
 * job ended; output of a running job may end inside a character or hold
 * anything, so it is repaired on a copy.
 */
static json_t *
op_job_text(const struct strbuf *sb)
{
	struct strbuf	 copy = STRBUF_INIT;
	json_t		*s;

	if (sb->len == 0)
		return json_string("");
	if (utf8_valid(sb->data, sb->len))
		return json_stringn(sb->data, sb->len);
	strbuf_append(&copy, sb->data, sb->len);
	utf8_repair(&copy);
	s = json_stringn(copy.data, copy.len);
	strbuf_fini(&copy);
	return s;
}

/* The result object of j (new reference); output only if asked. */
json_t *
op_job_result(const struct job *j, bool output)
{
	json_t	*r = json_object(), *p;

	json_object_set_new(r, "job", json_integer(j->id));
	json_object_set_new(r, "name", op_opt_str(j->spec.name));
	json_object_set_new(r, "group", op_opt_str(j->spec.group));
	json_object_set_new(r, "state", json_string(job_state_name(
	    j->state)));
	json_object_set_new(r, "exit_code", op_opt_int(j->exit_code, -1));
	json_object_set_new(r, "signal", op_opt_int(j->signal, 0));
	json_object_set_new(r, "error", op_opt_str(j->error));
	if (output) {
		json_object_set_new(r, "stdout", op_job_text(&j->out));
		json_object_set_new(r, "stderr", op_job_text(&j->err));
	}
	json_object_set_new(r, "stdout_truncated",
	    json_boolean(j->out_truncated));
	json_object_set_new(r, "stderr_truncated",
	    json_boolean(j->err_truncated));
	if (j->progress_done < 0)
		p = json_null();
	else
		p = json_pack("{s:I, s:o}", "done",
		    (json_int_t)j->progress_done, "total",
		    op_opt_int(j->progress_total, -1));
	json_object_set_new(r, "progress", p);
	json_object_set_new(r, "attempt", json_integer(j->attempt));
	json_object_set_new(r, "submitted_ms", json_integer(j->submitted_ms));
	json_object_set_new(r, "started_ms", op_opt_int(j->started_ms, -1));
	json_object_set_new(r, "finished_ms", op_opt_int(j->finished_ms, -1));
	json_object_set_new(r, "deadline_ms", op_opt_int(j->deadline_ms, -1));
	json_object_set_new(r, "parent", op_opt_int(j->spec.parent, 0));
	json_object_set_new(r, "priority", json_integer(j->spec.priority));
	return r;
}

/* -- hooks: store, delivery, waits ------------------------------------------ */

static void
op_job_save(void *arg, struct job *j)
{
	struct server		*s = arg;
	struct store_job	 row = {
		.id = j->id,
		.spec = j->spec.text,
		.state = (int)j->state,
		.attempt = j->attempt,
		.submitted_ms = j->submitted_ms,
		.deadline_ms = j->deadline_ms,
		.not_before_ms = j->not_before_ms,
		.started_ms = j->started_ms,
		.finished_ms = j->finished_ms,
		.exit_code = j->exit_code,
		.signal = j->signal,
		.error = j->error,
		.out = j->out.data,
		.out_len = j->out.len,
		.err = j->err.data,
		.err_len = j->err.len,
		.out_truncated = j->out_truncated,
		.err_truncated = j->err_truncated,
		.progress_done = j->progress_done,
		.progress_total = j->progress_total,
		.delivered = j->delivered,
		.pid = j->state == JOB_RUNNING ? j->pid : 0,
		.pid_start = j->pid_start,
	};

	store_job_save(s->store, &row, &j->store_seq, &j->store_rec);
}

static void
op_job_forget(void *arg, struct job *j)
{
	struct server	*s = arg;

	store_job_delete(s->store, j->id);
}

static void
op_job_delivered(struct server *s, int64_t id, const char *why)
{
	struct job	*j = jobs_find(&s->jobs, id);

	if (j == NULL)
		return;
	if (why != NULL)
		log_warn("job %lld: result not delivered to '%s': %s",
		    (long long)id, j->spec.result_chan, why);
	j->delivered = true;
	op_job_save(s, j);
}

static void
op_job_delivery_cb(struct waiter *w, int index, enum wake_result result,
    struct value_list *values, void *arg)
{
	struct delivery	*d = arg;

	op_job_delivered(d->server, d->job, result == WAKE_SENT ? NULL :
	    result == WAKE_CLOSED ? "channel closed" : "channel dropped");
}

static void
op_job_delivery_free_cb(struct waiter *w, void *arg)
{
	struct delivery	*d = arg;

	TAILQ_REMOVE(&d->server->deliveries, d, entry);
	free(d);
}

/*
 * Send j's result to its result_chan.  The pool never waits for this: if
 * the channel has no room, a sender parks on it like any client's, and the
 * job is marked delivered in the same commit as the value it sent.
 */
void
op_job_deliver(struct server *s, struct job *j)
{
	struct value_list	 list = TAILQ_HEAD_INITIALIZER(list);
	struct delivery		*d;
	struct value		*v;
	struct chan		*ch;
	json_t			*r;
	char			*text;
	size_t			 len;

	if (j->spec.result_chan == NULL || j->delivered)
		return;
	ch = chanmap_find(&s->chans, j->spec.result_chan,
	    strlen(j->spec.result_chan));
	if (ch == NULL) {
		op_job_delivered(s, j->id, "no such channel");
		return;
	}
	r = op_job_result(j, true);
	text = proto_json_dump(r, &len);
	json_decref(r);
	v = value_new(text, len);
	free(text);
	TAILQ_INSERT_TAIL(&list, v, entry);
	switch (chan_send(ch, &list, 1)) {
	case CHAN_OK:
		op_job_delivered(s, j->id, NULL);
		return;
	case CHAN_CLOSED:
		value_list_free(&list);
		op_job_delivered(s, j->id, "channel closed");
		return;
	case CHAN_BLOCKED:
		break;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		fatal("out of memory");
	d->server = s;
	d->job = j->id;
	d->w = waiter_new(1, op_job_delivery_cb, d);
	d->w->free_cb = op_job_delivery_free_cb;
	d->w->cases[0].chan = ch;
	d->w->cases[0].is_send = true;
	d->w->cases[0].nvalues = 1;
	TAILQ_CONCAT(&d->w->cases[0].values, &list, entry);
	TAILQ_INSERT_TAIL(&s->deliveries, d, entry);
	waiter_park(d->w, s->base, -1);
}

/* Jobs of the wait not final yet. */
static size_t
op_wait_pending(struct server *s, const struct job_wait *jw)
{
	struct jgroup	*g;
	struct job	*j;
	size_t		 i, n = 0;

	if (jw->group != NULL) {
		g = jobs_find_group(&s->jobs, jw->group);
		return g == NULL ? 0 : g->count[JOB_QUEUED] +
		    g->count[JOB_RUNNING];
	}
	for (i = 0; i < jw->nids; i++) {
		j = jobs_find(&s->jobs, jw->ids[i]);
		n += j != NULL && !job_state_final(j->state);
	}
	return n;
}

static void
op_job_final(void *arg, struct job *j)
{
	struct server	*s = arg;
	struct job_wait	*jw;

	if (j->started_ms >= 0 && j->finished_ms >= j->started_ms)
		histogram_observe(&s->job_hist,
		    (double)(j->finished_ms - j->started_ms) / 1e3);
	op_job_deliver(s, j);
	/* Waking frees the wait (and unlinks it): look again each time. */
again:
	TAILQ_FOREACH(jw, &s->job_waits, entry) {
		if (op_wait_pending(s, jw) == 0) {
			waiter_wake(jw->w, NULL, WAKE_READY, NULL);
			goto again;
		}
	}
}

const struct job_hooks op_job_hooks = {
	op_job_save,
	op_job_final,
	op_job_forget,
};

/* Rebuild a job from its stored row (start-up). */
int
op_job_restore(struct server *s, const struct store_job *row, char *errbuf,
    size_t errlen)
{
	struct proto_error	 err;
	json_t			*o;
	struct job		*j;

	o = json_loads(row->spec, JSON_ALLOW_NUL, NULL);
	j = job_alloc();
	if (o == NULL || op_job_parse_spec(o, &j->spec, &err) == -1 ||
	    row->state < 0 || row->state >= JOB_NSTATES) {
		snprintf(errbuf, errlen, "job %lld: unreadable stored spec",
		    (long long)row->id);
		json_decref(o);
		job_spec_free(&j->spec);
		free(j);
		return -1;
	}
	json_decref(o);
	j->spec.text = strdup(row->spec);
	j->id = row->id;
	j->state = (enum job_state)row->state;
	j->attempt = row->attempt;
	j->submitted_ms = row->submitted_ms;
	j->deadline_ms = row->deadline_ms;
	j->not_before_ms = row->not_before_ms;
	j->started_ms = row->started_ms;
	j->finished_ms = row->finished_ms;
	j->exit_code = row->exit_code;
	j->signal = row->signal;
	j->error = row->error != NULL ? strdup(row->error) : NULL;
	strbuf_append(&j->out, row->out != NULL ? row->out : "", row->out_len);
	strbuf_append(&j->err, row->err != NULL ? row->err : "", row->err_len);
	j->out_truncated = row->out_truncated;
	j->err_truncated = row->err_truncated;
	j->progress_done = row->progress_done;
	j->progress_total = row->progress_total;
	j->delivered = row->delivered;
	j->pid = row->pid;
	j->pid_start = row->pid_start;
	jobs_restore(&s->jobs, j);
	return 0;
}

/* -- ops ------------------------------------------------------------------- */

static struct server *
op_server(const struct call *call)
{
	return call->conn->server;
}

enum op_status
op_submit(struct call *call)
{
	struct server		*s = op_server(call);
	struct proto_error	 err;
	struct job_spec		 spec;
	int64_t			 timeout_ms = -1, deadline_ms = -1, delay_ms = 0;
	struct job		*j;
	json_t			*r;

	if (op_job_parse_spec(call->req.root, &spec, &err) == -1 ||
	    request_get_int(&call->req, "timeout_ms", 1, JS_INT_MAX,
	    &timeout_ms, &err) == -1 ||
	    request_get_int(&call->req, "deadline_ms", 0, JS_INT_MAX,
	    &deadline_ms, &err) == -1 ||
	    request_get_int(&call->req, "delay_ms", 0, JS_INT_MAX, &delay_ms,
	    &err) == -1) {
		call_fail(call, &err);
		goto done;
	}
	if (spec.key != NULL && (j = jobs_find_key(&s->jobs, spec.key)) !=
	    NULL) {
		r = reply_ok(call_id(call));
		json_object_set_new(r, "job", json_integer(j->id));
		json_object_set_new(r, "duplicate", json_true());
		call_reply(call, r, NULL, 0);
		goto done;
	}
	if (spec.parent != 0 && jobs_find(&s->jobs, spec.parent) == NULL) {
		call_error(call, ERRCODE_NOT_FOUND, "no job %lld (parent)",
		    (long long)spec.parent);
		goto done;
	}
	if (spec.result_chan != NULL && chanmap_find(&s->chans,
	    spec.result_chan, strlen(spec.result_chan)) == NULL) {
		call_error(call, ERRCODE_NOT_FOUND, "no channel '%s' "
		    "(result_chan)", spec.result_chan);
		goto done;
	}
	if (server_refuse_writes(s, call))
		goto done;
	if (jobs_queued(&s->jobs) >= s->cfg->max_queued_jobs) {
		call_error(call, ERRCODE_LIMIT, "max_queued_jobs (%llu) "
		    "reached", (unsigned long long)s->cfg->max_queued_jobs);
		goto done;
	}
	spec.text = op_job_spec_text(call->req.root);
	j = jobs_submit(&s->jobs, &spec, timeout_ms, deadline_ms, delay_ms,
	    s->cfg->default_timeout_ms);
	r = reply_ok(call_id(call));
	json_object_set_new(r, "job", json_integer(j->id));
	call_reply(call, r, NULL, 0);
done:
	job_spec_free(&spec);
	return OP_DONE;
}

/* The job named by field "job"; NULL after answering. */
static struct job *
op_find_job(struct call *call)
{
	struct proto_error	 err;
	int64_t			 id;
	struct job		*j;

	if (request_need_int(&call->req, "job", 1, JS_INT_MAX, &id,
	    &err) == -1) {
		call_fail(call, &err);
		return NULL;
	}
	if ((j = jobs_find(&op_server(call)->jobs, id)) == NULL)
		call_error(call, ERRCODE_NOT_FOUND, "no job %lld",
		    (long long)id);
	return j;
}

enum op_status
op_job(struct call *call)
{
	struct job	*j;
	json_t		*r, *res;

	if ((j = op_find_job(call)) == NULL)
		return OP_DONE;
	r = reply_ok(call_id(call));
	res = op_job_result(j, true);
	json_object_update(r, res);
	json_decref(res);
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}

enum op_status
op_jobs(struct call *call)
{
	struct server		*s = op_server(call);
	struct proto_error	 err;
	const char		*state_name = NULL, *group = NULL;
	enum job_state		 state = JOB_QUEUED;
	int64_t			 limit = JOBS_LIMIT_DEF, before = 0;
	struct job		*j;
	json_t			*r, *arr;

	if (request_get_string(&call->req, "state", &state_name, &err) ==
	    -1 ||
	    request_get_string(&call->req, "group", &group, &err) == -1 ||
	    request_get_int(&call->req, "limit", 1, JOBS_LIMIT_MAX, &limit,
	    &err) == -1 ||
	    request_get_int(&call->req, "before", 1, JS_INT_MAX, &before,
	    &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if (group != NULL && !proto_chan_name_valid(group, strlen(group))) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'group' must be "
		    "1-128 bytes of [A-Za-z0-9._:-]");
		return OP_DONE;
	}
	if (state_name != NULL && job_state_parse(state_name, &state) == -1) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'state' must be "
		    "one of queued, running, succeeded, failed, "
		    "deadline_exceeded, canceled");
		return OP_DONE;
	}
	arr = json_array();
	TAILQ_FOREACH_REVERSE(j, &s->jobs.all, job_list, all_entry) {
		if ((int64_t)json_array_size(arr) >= limit)
			break;
		if ((before != 0 && j->id >= before) ||
		    (state_name != NULL && j->state != state) ||
		    (group != NULL && (j->spec.group == NULL ||
		    strcmp(j->spec.group, group) != 0)))
			continue;
		json_array_append_new(arr, op_job_result(j, false));
	}
	r = reply_ok(call_id(call));
	json_object_set_new(r, "jobs", arr);
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}

/* Exactly one of "job" and "group"; answers and returns -1 if not. */
static int
op_job_or_group(struct call *call, const char **group)
{
	struct proto_error	 err;
	json_t			*job = request_field(&call->req, "job");
	json_t			*jobs = request_field(&call->req, "jobs");
	bool			 has_job = job != NULL && !json_is_null(job);

	*group = NULL;
	if (request_get_string(&call->req, "group", group, &err) == -1) {
		call_fail(call, &err);
		return -1;
	}
	if (*group != NULL && !proto_chan_name_valid(*group,
	    strlen(*group))) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'group' must be "
		    "1-128 bytes of [A-Za-z0-9._:-]");
		return -1;
	}
	if ((has_job || (jobs != NULL && !json_is_null(jobs))) ==
	    (*group != NULL)) {
		call_error(call, ERRCODE_BAD_REQUEST, "give either field "
		    "'%s' or field 'group'", strcmp(call->req.op, "wait") ==
		    0 ? "jobs" : "job");
		return -1;
	}
	return 0;
}

enum op_status
op_cancel(struct call *call)
{
	struct server	*s = op_server(call);
	const char	*group;
	struct jgroup	*g;
	struct job	*j;
	size_t		 n = 0;
	json_t		*r;

	if (op_job_or_group(call, &group) == -1)
		return OP_DONE;
	if (group == NULL) {
		if ((j = op_find_job(call)) == NULL ||
		    server_refuse_writes(s, call))
			return OP_DONE;
		n = jobs_cancel(&s->jobs, j);
	} else {
		if (server_refuse_writes(s, call))
			return OP_DONE;
		if ((g = jobs_find_group(&s->jobs, group)) != NULL)
			n = jobs_cancel_group(&s->jobs, g);
	}
	r = reply_ok(call_id(call));
	json_object_set_new(r, "canceled", json_integer((json_int_t)n));
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}

static void
op_wait_reply(struct call *call, struct job_wait *jw)
{
	struct server	*s = jw->server;
	struct jgroup	*g;
	struct job	*j;
	json_t		*r, *arr = json_array();
	size_t		 i;

	if (jw->group != NULL) {
		if ((g = jobs_find_group(&s->jobs, jw->group)) != NULL)
			TAILQ_FOREACH(j, &g->jobs, group_entry)
				json_array_append_new(arr,
				    op_job_result(j, true));
	} else {
		for (i = 0; i < jw->nids; i++) {
			if (i > 0 && jw->ids[i] == jw->ids[i - 1])
				continue;
			if ((j = jobs_find(&s->jobs, jw->ids[i])) != NULL)
				json_array_append_new(arr,
				    op_job_result(j, true));
		}
	}
	r = reply_ok(call_id(call));
	json_object_set_new(r, "results", arr);
	call_reply(call, r, NULL, 0);
}

static void
op_wait_timeout(struct call *call, size_t pending)
{
	json_t	*r;

	r = reply_error(call_id(call), ERRCODE_TIMEOUT, "timed out after %lld "
	    "ms: %zu job%s not finished", (long long)json_integer_value(
	    request_field(&call->req, "timeout_ms")), pending,
	    pending == 1 ? "" : "s");
	reply_error_detail(r, "pending", json_integer((json_int_t)pending));
	call_reply(call, r, NULL, 0);
}

static void
op_wait_wake_cb(struct waiter *w, int index, enum wake_result result,
    struct value_list *values, void *arg)
{
	struct job_wait	*jw = arg;
	struct call	*call = jw->call;

	call_unpark(call);
	if (result == WAKE_READY)
		op_wait_reply(call, jw);
	else if (result == WAKE_TIMEOUT)
		op_wait_timeout(call, op_wait_pending(jw->server, jw));
	else
		call_error(call, ERRCODE_SHUTTING_DOWN,
		    "the server is shutting down");
}

static void
op_wait_free_cb(struct waiter *w, void *arg)
{
	struct job_wait	*jw = arg;

	TAILQ_REMOVE(&jw->server->job_waits, jw, entry);
	free(jw->ids);
	free(jw->group);
	free(jw);
}

static int
op_cmp_id(const void *a, const void *b)
{
	int64_t	 x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

enum op_status
op_wait(struct call *call)
{
	struct server		*s = op_server(call);
	struct proto_error	 err;
	struct job_wait		*jw;
	const char		*group;
	json_t			*ids, *v;
	int64_t			 timeout_ms;
	size_t			 i, pending;

	if (op_job_or_group(call, &group) == -1)
		return OP_DONE;
	if (request_get_timeout(&call->req, "timeout_ms", &timeout_ms,
	    &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	jw = calloc(1, sizeof(*jw));
	if (jw == NULL)
		fatal("out of memory");
	jw->server = s;
	jw->call = call;
	if (group != NULL)
		jw->group = strdup(group);
	else {
		ids = request_field(&call->req, "jobs");
		if (!json_is_array(ids) || json_array_size(ids) == 0) {
			call_error(call, ERRCODE_BAD_REQUEST, "field 'jobs' "
			    "must be a non-empty array of job ids");
			goto fail;
		}
		jw->nids = json_array_size(ids);
		jw->ids = calloc(jw->nids, sizeof(*jw->ids));
		if (jw->ids == NULL)
			fatal("out of memory");
		json_array_foreach(ids, i, v) {
			if (!json_is_integer(v) || json_integer_value(v) < 1) {
				call_error(call, ERRCODE_BAD_REQUEST,
				    "jobs[%zu] must be a job id", i);
				goto fail;
			}
			jw->ids[i] = json_integer_value(v);
			if (jobs_find(&s->jobs, jw->ids[i]) == NULL) {
				call_error(call, ERRCODE_NOT_FOUND,
				    "no job %lld", (long long)jw->ids[i]);
				goto fail;
			}
		}
		qsort(jw->ids, jw->nids, sizeof(*jw->ids), op_cmp_id);
	}
	if ((pending = op_wait_pending(s, jw)) == 0) {
		op_wait_reply(call, jw);
		goto fail;
	}
	if (timeout_ms == 0) {
		op_wait_timeout(call, pending);
		goto fail;
	}
	jw->w = waiter_new(0, op_wait_wake_cb, jw);
	jw->w->free_cb = op_wait_free_cb;
	TAILQ_INSERT_TAIL(&s->job_waits, jw, entry);
	call_park(call, jw->w, timeout_ms);
	return OP_PARKED;
fail:
	free(jw->ids);
	free(jw->group);
	free(jw);
	return OP_DONE;
}

enum op_status
op_group(struct call *call)
{
	struct server		*s = op_server(call);
	struct proto_error	 err;
	const char		*name;
	struct jgroup		*g;
	struct job		*j;
	int64_t			 done = 0, total = 0;
	json_t			*r;
	int			 i;

	if (request_need_chan(&call->req, "group", &name, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	g = jobs_find_group(&s->jobs, name);
	r = reply_ok(call_id(call));
	json_object_set_new(r, "group", json_string(name));
	json_object_set_new(r, "total", json_integer(g != NULL ?
	    (json_int_t)g->total : 0));
	for (i = 0; i < JOB_NSTATES; i++)
		json_object_set_new(r, job_state_name((enum job_state)i),
		    json_integer(g != NULL ? (json_int_t)g->count[i] : 0));
	if (g != NULL) {
		TAILQ_FOREACH(j, &g->jobs, group_entry) {
			if (j->progress_done >= 0)
				done += j->progress_done;
			if (j->progress_total >= 0)
				total += j->progress_total;
		}
	}
	json_object_set_new(r, "progress", json_pack("{s:I, s:I}", "done",
	    (json_int_t)done, "total", (json_int_t)total));
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}
