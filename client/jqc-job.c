/*
 * jqc-job: the typed calls of the job ops, PROTOCOL.md section 11: submit,
 * job, jobs, cancel (a job or a group), wait (jobs or a group), group.
 *
 * A job's result object becomes a struct jqc_job_result; members the
 * protocol allows to be null or absent get a sentinel (-1, 0 or NULL, as
 * jqclient.h says per member), because a job that has not started has no
 * start time and a "jobs" listing carries no output.  A state from a later
 * protocol version is JQC_JOB_UNKNOWN rather than an error, as section 13
 * asks of clients.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-private.h"

/* Every enumerator has a case and there is no default (see jqc-err.c). */
const char *
jqc_job_state_name(enum jqc_job_state state)
{
	switch (state) {
	case JQC_JOB_UNKNOWN:
		return "unknown";
	case JQC_JOB_QUEUED:
		return "queued";
	case JQC_JOB_RUNNING:
		return "running";
	case JQC_JOB_SUCCEEDED:
		return "succeeded";
	case JQC_JOB_FAILED:
		return "failed";
	case JQC_JOB_DEADLINE_EXCEEDED:
		return "deadline_exceeded";
	case JQC_JOB_CANCELED:
		return "canceled";
	}
	return "unknown";
}

bool
jqc_job_state_final(enum jqc_job_state state)
{
	return state >= JQC_JOB_SUCCEEDED && state <= JQC_JOB_CANCELED;
}

static enum jqc_job_state
state_parse(const char *name)
{
	enum jqc_job_state	s;

	for (s = JQC_JOB_QUEUED; s <= JQC_JOB_CANCELED; s++)
		if (strcmp(jqc_job_state_name(s), name) == 0)
			return s;
	return JQC_JOB_UNKNOWN;
}

/*
 * submit
 */

/* "argv": a non-empty array of strings. */
static json_t *
argv_array(struct jqc *c, const char *const *argv)
{
	json_t	*arr;
	size_t	 i;

	if (argv == NULL || argv[0] == NULL) {
		jqc__fail(c, JQC_E_INVAL, "submit needs a command (argv)");
		return NULL;
	}
	if ((arr = json_array()) == NULL) {
		jqc__fail(c, JQC_E_NOMEM, "out of memory");
		return NULL;
	}
	for (i = 0; argv[i] != NULL; i++) {
		if (json_array_append_new(arr, json_string(argv[i])) == -1) {
			jqc__fail(c, JQC_E_INVAL, "argv[%zu] is not UTF-8, or "
			    "out of memory", i);
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* "env": an object from "NAME=VALUE" strings. */
static json_t *
env_object(struct jqc *c, const char *const *env)
{
	json_t		*obj;
	const char	*eq;
	char		*name;
	size_t		 i;
	int		 rc;

	if ((obj = json_object()) == NULL) {
		jqc__fail(c, JQC_E_NOMEM, "out of memory");
		return NULL;
	}
	for (i = 0; env[i] != NULL; i++) {
		if ((eq = strchr(env[i], '=')) == NULL || eq == env[i]) {
			jqc__fail(c, JQC_E_INVAL, "env[%zu] is not "
			    "NAME=VALUE", i);
			goto fail;
		}
		if ((name = strndup(env[i], eq - env[i])) == NULL) {
			jqc__fail(c, JQC_E_NOMEM, "out of memory");
			goto fail;
		}
		rc = json_object_set_new(obj, name, json_string(eq + 1));
		free(name);
		if (rc == -1) {
			jqc__fail(c, JQC_E_INVAL, "env[%zu] is not UTF-8, or "
			    "out of memory", i);
			goto fail;
		}
	}
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

/* An integer member that is sent only when not zero. */
static void
set_nonzero(struct jqc *c, json_t **req, const char *key, int64_t v)
{
	if (v != 0)
		jqc__set(c, req, key, json_integer(v));
}

static json_t *
submit_request(struct jqc *c, const struct jqc_submit_opts *o)
{
	json_t	*req, *v;

	if (o == NULL) {
		jqc__fail(c, JQC_E_INVAL, "submit needs options (argv)");
		return NULL;
	}
	if ((v = argv_array(c, o->argv)) == NULL)
		return NULL;
	req = jqc__request(c, "{s:s}", "op", "submit");
	jqc__set(c, &req, "argv", v);
	if (req != NULL && o->env != NULL) {
		if ((v = env_object(c, o->env)) == NULL) {
			json_decref(req);
			return NULL;
		}
		jqc__set(c, &req, "env", v);
	}
	jqc__set_str(c, &req, "cwd", o->cwd);
	if (o->stdin_data != NULL)
		jqc__set(c, &req, "stdin", json_stringn(o->stdin_data,
		    o->stdin_len));
	jqc__set_str(c, &req, "name", o->name);
	jqc__set_str(c, &req, "group", o->group);
	jqc__set_str(c, &req, "key", o->key);
	jqc__set_str(c, &req, "result_chan", o->result_chan);
	set_nonzero(c, &req, "parent", o->parent);
	set_nonzero(c, &req, "priority", o->priority);
	set_nonzero(c, &req, "retries", o->retries);
	set_nonzero(c, &req, "timeout_ms", o->timeout_ms);
	set_nonzero(c, &req, "deadline_ms", o->deadline_ms);
	set_nonzero(c, &req, "run_timeout_ms", o->run_timeout_ms);
	set_nonzero(c, &req, "delay_ms", o->delay_ms);
	return req;
}

int
jqc_submit(struct jqc *c, const struct jqc_submit_opts *opts, int64_t *job,
    bool *duplicate)
{
	const json_t	*r;
	bool		 dup;

	*job = 0;
	if (duplicate != NULL)
		*duplicate = false;
	jqc__begin(c);
	if (jqc__call(c, submit_request(c, opts), &r) == -1 ||
	    jqc__get_int(c, r, "job", job) == -1 ||
	    jqc__get_bool_opt(c, r, "duplicate", &dup) == -1) {
		*job = 0;
		return -1;
	}
	if (duplicate != NULL)
		*duplicate = dup;
	return 0;
}

/*
 * Result objects
 */

void
jqc_job_result_free(struct jqc_job_result *r)
{
	size_t	i;

	free(r->name);
	free(r->group);
	free(r->error);
	free(r->stdout_data);
	free(r->stderr_data);
	if (r->argv != NULL) {
		for (i = 0; r->argv[i] != NULL; i++)
			free(r->argv[i]);
		free(r->argv);
	}
	memset(r, 0, sizeof(*r));
}

/* "progress": null, or {"done": D, "total": T or null}. */
static int
progress_read(struct jqc *c, const json_t *obj, bool *has, int64_t *done,
    int64_t *total)
{
	const json_t	*p = json_object_get(obj, "progress");

	*has = false;
	*done = 0;
	*total = -1;
	if (p == NULL || json_is_null(p))
		return 0;
	if (!json_is_object(p))
		return jqc__fail(c, JQC_E_PROTO, "malformed reply: member "
		    "'progress' is not an object");
	*has = true;
	if (jqc__get_int(c, p, "done", done) == -1 ||
	    jqc__get_int_opt(c, p, "total", -1, total) == -1)
		return -1;
	return 0;
}

/* "argv" (1.3): absent from an older server, else strings. */
static int
argv_read(struct jqc *c, const json_t *obj, char ***out)
{
	const json_t	*a = json_object_get(obj, "argv"), *v;
	size_t		 i;

	*out = NULL;
	if (a == NULL || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return jqc__fail(c, JQC_E_PROTO, "malformed reply: member "
		    "'argv' is not an array");
	if ((*out = calloc(json_array_size(a) + 1, sizeof(**out))) == NULL)
		return jqc__fail(c, JQC_E_NOMEM, "out of memory");
	json_array_foreach(a, i, v) {
		if (!json_is_string(v))
			return jqc__fail(c, JQC_E_PROTO, "malformed reply: "
			    "argv[%zu] is not a string", i);
		if (((*out)[i] = strdup(json_string_value(v))) == NULL)
			return jqc__fail(c, JQC_E_NOMEM, "out of memory");
	}
	return 0;
}

/* One result object (PROTOCOL.md 11.2) into *out; zeroed on failure. */
static int
result_read(struct jqc *c, const json_t *obj, struct jqc_job_result *out)
{
	const char	*state;
	int64_t		 exit_code, sig, prio;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj)) {
		jqc__fail(c, JQC_E_PROTO, "malformed reply: a result is not "
		    "an object");
		goto fail;
	}
	if ((state = json_string_value(json_object_get(obj,
	    "state"))) == NULL) {
		jqc__fail(c, JQC_E_PROTO, "malformed reply: member 'state' "
		    "is not a string");
		goto fail;
	}
	out->state = state_parse(state);
	if (jqc__get_int(c, obj, "job", &out->job) == -1 ||
	    jqc__get_str_opt(c, obj, "name", &out->name, NULL) == -1 ||
	    jqc__get_str_opt(c, obj, "group", &out->group, NULL) == -1 ||
	    jqc__get_int_opt(c, obj, "exit_code", -1, &exit_code) == -1 ||
	    jqc__get_int_opt(c, obj, "signal", 0, &sig) == -1 ||
	    jqc__get_str_opt(c, obj, "error", &out->error, NULL) == -1 ||
	    jqc__get_str_opt(c, obj, "stdout", &out->stdout_data,
	    &out->stdout_len) == -1 ||
	    jqc__get_str_opt(c, obj, "stderr", &out->stderr_data,
	    &out->stderr_len) == -1 ||
	    jqc__get_bool_opt(c, obj, "stdout_truncated",
	    &out->stdout_truncated) == -1 ||
	    jqc__get_bool_opt(c, obj, "stderr_truncated",
	    &out->stderr_truncated) == -1 ||
	    progress_read(c, obj, &out->has_progress, &out->progress_done,
	    &out->progress_total) == -1 ||
	    jqc__get_int(c, obj, "attempt", &out->attempt) == -1 ||
	    jqc__get_int_opt(c, obj, "priority", 0, &prio) == -1 ||
	    jqc__get_int_opt(c, obj, "parent", 0, &out->parent) == -1 ||
	    jqc__get_int(c, obj, "submitted_ms", &out->submitted_ms) == -1 ||
	    jqc__get_int_opt(c, obj, "started_ms", -1,
	    &out->started_ms) == -1 ||
	    jqc__get_int_opt(c, obj, "finished_ms", -1,
	    &out->finished_ms) == -1 ||
	    jqc__get_int_opt(c, obj, "deadline_ms", -1,
	    &out->deadline_ms) == -1 ||
	    argv_read(c, obj, &out->argv) == -1 ||
	    jqc__get_int_opt(c, obj, "not_before_ms", -1,
	    &out->not_before_ms) == -1 ||
	    jqc__get_int_opt(c, obj, "retry_of", 0, &out->retry_of) == -1)
		goto fail;
	/* The protocol's ranges: exit 0-255, signals and priority small. */
	out->exit_code = exit_code >= 0 && exit_code <= 255 ?
	    (int)exit_code : -1;
	out->signal = sig > 0 && sig < 1024 ? (int)sig : 0;
	out->priority = prio >= -1000000 && prio <= 1000000 ? (int)prio : 0;
	return 0;
fail:
	jqc_job_result_free(out);
	return -1;
}

void
jqc_job_list_free(struct jqc_job_list *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		jqc_job_result_free(&l->results[i]);
	free(l->results);
	memset(l, 0, sizeof(*l));
}

/* The array member key of reply r into *out, a list of results. */
static int
list_read(struct jqc *c, const json_t *r, const char *key,
    struct jqc_job_list *out)
{
	const json_t	*arr;
	size_t		 n, i;

	if (jqc__get_array(c, r, key, &arr, &n) == -1)
		return -1;
	if (n == 0)
		return 0;
	if ((out->results = calloc(n, sizeof(*out->results))) == NULL)
		return jqc__fail(c, JQC_E_NOMEM, "out of memory");
	/* Zeroed entries are safe to free: count them all from here. */
	out->n = n;
	for (i = 0; i < n; i++)
		if (result_read(c, json_array_get(arr, i),
		    &out->results[i]) == -1)
			return -1;
	return 0;
}

/*
 * job, jobs
 */

int
jqc_job(struct jqc *c, int64_t job, struct jqc_job_result *out)
{
	const json_t	*r;

	memset(out, 0, sizeof(*out));
	jqc__begin(c);
	/* The result object's members are the reply's own. */
	if (jqc__call(c, jqc__request(c, "{s:s, s:I}", "op", "job", "job",
	    (json_int_t)job), &r) == -1)
		return -1;
	return result_read(c, r, out);
}

int
jqc_jobs(struct jqc *c, const struct jqc_jobs_query *q,
    struct jqc_job_list *out)
{
	const json_t	*r;
	json_t		*req;

	memset(out, 0, sizeof(*out));
	jqc__begin(c);
	req = jqc__request(c, "{s:s}", "op", "jobs");
	if (q != NULL) {
		if (q->state != JQC_JOB_UNKNOWN)
			jqc__set_str(c, &req, "state",
			    jqc_job_state_name(q->state));
		jqc__set_str(c, &req, "group", q->group);
		set_nonzero(c, &req, "limit", q->limit);
		set_nonzero(c, &req, "before", q->before);
	}
	if (jqc__call(c, req, &r) == -1 ||
	    list_read(c, r, "jobs", out) == -1) {
		jqc_job_list_free(out);
		return -1;
	}
	return 0;
}

/*
 * cancel, wait, group
 */

static int
cancel_call(struct jqc *c, json_t *req, int64_t *canceled)
{
	const json_t	*r;
	int64_t		 n;

	if (canceled != NULL)
		*canceled = 0;
	if (jqc__call(c, req, &r) == -1 ||
	    jqc__get_int(c, r, "canceled", &n) == -1)
		return -1;
	if (canceled != NULL)
		*canceled = n;
	return 0;
}

int
jqc_cancel_job(struct jqc *c, int64_t job, int64_t *canceled)
{
	jqc__begin(c);
	return cancel_call(c, jqc__request(c, "{s:s, s:I}", "op", "cancel",
	    "job", (json_int_t)job), canceled);
}

int
jqc_cancel_group(struct jqc *c, const char *group, int64_t *canceled)
{
	jqc__begin(c);
	return cancel_call(c, jqc__request(c, "{s:s, s:s}", "op", "cancel",
	    "group", group), canceled);
}

/* "wait" of req; on timeout, "pending" comes from the error object. */
static int
wait_call(struct jqc *c, json_t *req, int64_t timeout_ms,
    struct jqc_job_list *out)
{
	const json_t	*r, *pending;

	jqc__set_timeout(c, &req, timeout_ms);
	if (jqc__call(c, req, &r) == -1) {
		pending = json_object_get(json_object_get(jqc_last_reply(c),
		    "error"), "pending");
		if (jqc_errcode(c) == JQC_E_TIMEOUT &&
		    json_is_integer(pending))
			out->pending = (int64_t)json_integer_value(pending);
		return -1;
	}
	if (list_read(c, r, "results", out) == -1) {
		jqc_job_list_free(out);
		return -1;
	}
	return 0;
}

int
jqc_wait_jobs(struct jqc *c, const int64_t *jobs, size_t njobs,
    int64_t timeout_ms, struct jqc_job_list *out)
{
	json_t	*req, *ids;
	size_t	 i;

	memset(out, 0, sizeof(*out));
	jqc__begin(c);
	if (jobs == NULL && njobs > 0)
		return jqc__fail(c, JQC_E_INVAL, "jobs is NULL");
	/* No jobs goes to the server, which refuses it (bad_request). */
	req = jqc__request(c, "{s:s, s:[]}", "op", "wait", "jobs");
	ids = json_object_get(req, "jobs");
	for (i = 0; req != NULL && i < njobs; i++) {
		if (json_array_append_new(ids,
		    json_integer((json_int_t)jobs[i])) == -1) {
			json_decref(req);
			return jqc__fail(c, JQC_E_NOMEM, "out of memory");
		}
	}
	return wait_call(c, req, timeout_ms, out);
}

int
jqc_wait_group(struct jqc *c, const char *group, int64_t timeout_ms,
    struct jqc_job_list *out)
{
	memset(out, 0, sizeof(*out));
	jqc__begin(c);
	return wait_call(c, jqc__request(c, "{s:s, s:s}", "op", "wait",
	    "group", group), timeout_ms, out);
}

int
jqc_watch(struct jqc *c, int64_t job, const char *group, unsigned flags,
    jqc_watch_cb *cb, void *arg, json_t **reply)
{
	const json_t	*r;
	json_t		*req;

	*reply = NULL;
	jqc__begin(c);
	if ((job > 0) == (group != NULL))
		return jqc__fail(c, JQC_E_INVAL, "watch: give a job or a "
		    "group");
	req = jqc__request(c, "{s:s}", "op", "watch");
	if (group != NULL)
		jqc__set_str(c, &req, "group", group);
	else
		jqc__set(c, &req, "job", json_integer(job));
	if (flags & JQC_WATCH_NO_OUTPUT)
		jqc__set(c, &req, "output", json_false());
	if (flags & JQC_WATCH_NO_PROGRESS)
		jqc__set(c, &req, "progress", json_false());
	if (jqc__stream(c, req, cb, arg, &r) == -1)
		return -1;
	*reply = json_incref((json_t *)r);
	return 0;
}

int
jqc_group(struct jqc *c, const char *group, struct jqc_group_stat *out)
{
	const json_t	*r, *p;

	memset(out, 0, sizeof(*out));
	jqc__begin(c);
	if (jqc__call(c, jqc__request(c, "{s:s, s:s}", "op", "group", "group",
	    group), &r) == -1)
		return -1;
	p = json_object_get(r, "progress");
	if (jqc__get_int(c, r, "total", &out->total) == -1 ||
	    jqc__get_int(c, r, "queued", &out->queued) == -1 ||
	    jqc__get_int(c, r, "running", &out->running) == -1 ||
	    jqc__get_int(c, r, "succeeded", &out->succeeded) == -1 ||
	    jqc__get_int(c, r, "failed", &out->failed) == -1 ||
	    jqc__get_int(c, r, "deadline_exceeded",
	    &out->deadline_exceeded) == -1 ||
	    jqc__get_int(c, r, "canceled", &out->canceled) == -1 ||
	    jqc__get_int_opt(c, p, "done", 0, &out->progress_done) == -1 ||
	    jqc__get_int_opt(c, p, "total", 0, &out->progress_total) == -1) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}
