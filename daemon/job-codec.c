/*
 * Jobs as the server writes and reads them: the submit spec (checked, and
 * stored as normalised compact JSON), result objects and the stored row.
 * The job ops are in op-job.c, delivery to a result_chan in job-deliver.c.
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
#include "units.h"

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
int
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
		{ "name", offsetof(struct job_spec, name), JOB_NAME_MAX,
		  false },
		{ "group", offsetof(struct job_spec, group), CHAN_NAME_MAX,
		  true },
		{ "key", offsetof(struct job_spec, key), 256, false },
		{ "result_chan", offsetof(struct job_spec, result_chan),
		  CHAN_NAME_MAX, true },
		{ "pool", offsetof(struct job_spec, pool), JOB_POOL_MAX,
		  true },
	};
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		v = json_object_get(o, strs[i].name);
		if (v == NULL || json_is_null(v))
			continue;
		if (!op_text_ok(v, 1, strs[i].max) || (strs[i].chan &&
		    !proto_chan_name_valid(json_string_value(v),
		    json_string_length(v)))) {
			if (strs[i].chan)
				proto_error_set(err, ERRCODE_BAD_REQUEST,
				    "field '%s' must be 1-%zu bytes of "
				    "[A-Za-z0-9._:-]", strs[i].name,
				    strs[i].max);
			else
				proto_error_set(err, ERRCODE_BAD_REQUEST,
				    "field '%s' must be a non-empty string "
				    "without NUL bytes", strs[i].name);
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
		{ "parent", offsetof(struct job_spec, parent), 1, PROTO_INT_MAX },
		{ "priority", offsetof(struct job_spec, priority), -1000000,
		  1000000 },
		{ "retries", offsetof(struct job_spec, retries), 0, 1000 },
		{ "run_timeout_ms", offsetof(struct job_spec, run_timeout_ms),
		  1, PROTO_INT_MAX },
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

/* A stored spec's "retry_of" (op_job_retry_spec), or 0. */
static int64_t
op_job_spec_retry_of(const json_t *o)
{
	const json_t	*v = json_object_get(o, "retry_of");

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	    json_integer_value(v) : 0;
}

/*
 * The spec of a retry of j (PROTOCOL.md 11.24): j's own, read back from
 * its stored text, without its key (keys are unique among retained jobs,
 * and j stays) and its parent (a retry is a job of its own: the parent
 * has usually ended, which would cancel the retry at once), with
 * "retry_of" in the stored text, so that the result says it after a
 * restart too.  0, or -1 with err set (an unreadable stored spec).
 */
int
op_job_retry_spec(const struct job *j, struct job_spec *spec,
    struct proto_error *err)
{
	json_t	*o;
	size_t	 len;

	memset(spec, 0, sizeof(*spec));
	if ((o = json_loads(j->spec.text, JSON_ALLOW_NUL, NULL)) == NULL ||
	    !json_is_object(o)) {
		json_decref(o);
		proto_error_set(err, ERRCODE_INTERNAL, "job %lld: unreadable "
		    "stored spec", (long long)j->id);
		return -1;
	}
	json_object_del(o, "key");
	json_object_del(o, "parent");
	json_object_set_new(o, "retry_of", json_integer(j->id));
	if (op_job_parse_spec(o, spec, err) == -1) {
		json_decref(o);
		job_spec_free(spec);
		return -1;
	}
	spec->retry_of = j->id;
	spec->text = proto_json_dump(o, &len);
	json_decref(o);
	return 0;
}

/* The normalised spec, compact JSON, for the store. */
char *
op_job_spec_text(const json_t *req)
{
	static const char *const keep[] = { "argv", "env", "cwd", "stdin",
	    "name", "group", "key", "result_chan", "parent", "priority",
	    "retries", "run_timeout_ms", "pool" };
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
 * Captured output, appended to dst as a JSON string without a tree (a job
 * may have megabytes of it).  Final output was repaired when the job
 * ended; output of a running job may end inside a character or hold
 * anything, so it is repaired on a copy.
 */
static void
op_job_text_append(struct strbuf *dst, const struct strbuf *sb)
{
	struct strbuf	 copy = STRBUF_INIT;

	if (sb->len == 0 || utf8_valid(sb->data, sb->len)) {
		proto_json_append_string(dst, sb->data != NULL ? sb->data : "",
		    sb->len);
		return;
	}
	strbuf_append(&copy, sb->data, sb->len);
	utf8_repair(&copy);
	proto_json_append_string(dst, copy.data, copy.len);
	strbuf_fini(&copy);
}

/* The members of j's result before "stdout" (new reference). */
static json_t *
op_job_result_head(const struct job *j)
{
	json_t	*r = json_object();

	json_object_set_new(r, "job", json_integer(j->id));
	json_object_set_new(r, "name", op_opt_str(j->spec.name));
	json_object_set_new(r, "group", op_opt_str(j->spec.group));
	json_object_set_new(r, "state", json_string(job_state_name(
	    j->state)));
	json_object_set_new(r, "exit_code", op_opt_int(j->exit_code, -1));
	json_object_set_new(r, "signal", op_opt_int(j->signal, 0));
	json_object_set_new(r, "error", op_opt_str(j->error));
	return r;
}

/*
 * The members of protocol 1.3: what the job runs, when a queued job may
 * start (its delay or retry backoff; null once it may), what it retries.
 */
static void
op_job_result_spec(const struct job *j, json_t *r)
{
	json_t	*argv = json_array();
	size_t	 i;

	for (i = 0; j->spec.argv != NULL && j->spec.argv[i] != NULL; i++)
		json_array_append_new(argv, json_string(j->spec.argv[i]));
	json_object_set_new(r, "argv", argv);
	json_object_set_new(r, "not_before_ms", j->state == JOB_QUEUED &&
	    j->not_before_ms > job_now_ms() ? json_integer(j->not_before_ms) :
	    json_null());
	json_object_set_new(r, "retry_of", op_opt_int(j->spec.retry_of, 0));
}

/* Add the members of j's result after "stderr" to r. */
static void
op_job_result_tail(const struct job *j, json_t *r)
{
	json_t	*p;

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
	json_object_set_new(r, "pool", json_string(job_pool_name(j)));
	json_object_set_new(r, "worker", op_opt_str(j->worker_id));
	op_job_result_spec(j, r);
}

json_t *
op_job_result(const struct job *j)
{
	json_t	*r = op_job_result_head(j);

	op_job_result_tail(j, r);
	return r;
}

/*
 * Append j's result with out and err as "stdout" and "stderr": the members
 * around them are dumped by jansson, the output spliced in between.
 */
static void
op_job_result_output(struct strbuf *dst, const struct job *j,
    const struct strbuf *out, const struct strbuf *err)
{
	json_t	*r;
	size_t	 at;

	r = op_job_result_head(j);
	proto_json_append(dst, r);
	json_decref(r);
	dst->len--;			/* the closing brace */
	strbuf_append(dst, ",\"stdout\":", 10);
	op_job_text_append(dst, out);
	strbuf_append(dst, ",\"stderr\":", 10);
	op_job_text_append(dst, err);
	r = json_object();
	op_job_result_tail(j, r);
	at = dst->len;
	proto_json_append(dst, r);
	json_decref(r);
	dst->data[at] = ',';		/* the opening brace */
}

int
op_job_result_append(struct server *s, const struct job *j, bool output,
    bool wait, struct strbuf *dst)
{
	struct strbuf	 out = STRBUF_INIT, err = STRBUF_INIT;
	char		 msg[256];
	json_t		*r;
	int		 rc = 0;

	if (!output) {
		r = op_job_result(j);
		proto_json_append(dst, r);
		json_decref(r);
		return 0;
	}
	if (!j->out_stored) {
		op_job_result_output(dst, j, &j->out, &j->err);
		return 0;
	}
	rc = store_job_output(s->store, j->id, wait, &out, &err, msg,
	    sizeof(msg));
	if (rc == -1)
		log_error("%s", msg);
	if (rc == 0)
		op_job_result_output(dst, j, &out, &err);
	strbuf_fini(&out);
	strbuf_fini(&err);
	return rc;
}

/* -- the stored row -------------------------------------------------------- */

void
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
		.pid_boot = j->state == JOB_RUNNING ? j->pid_boot : NULL,
		.worker = j->worker_id,
		/* Its output is in the store alone now: leave it there. */
		.keep_output = j->out_stored,
	};

	store_job_save(s->store, &row, &j->store_seq, &j->store_rec);
}

void
op_job_forget(void *arg, struct job *j)
{
	struct server	*s = arg;

	store_job_delete(s->store, j->id);
}

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
	/* Set by `retry` only, so never read from a submit (above). */
	j->spec.retry_of = op_job_spec_retry_of(o);
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
	if (row->out_omitted) {
		j->out_stored = true;
		j->out_bytes = row->out_bytes;
	} else {
		strbuf_append(&j->out, row->out, row->out_len);
		strbuf_append(&j->err, row->err, row->err_len);
	}
	j->out_truncated = row->out_truncated;
	j->err_truncated = row->err_truncated;
	j->progress_done = row->progress_done;
	j->progress_total = row->progress_total;
	j->delivered = row->delivered;
	j->pid = row->pid;
	j->pid_start = row->pid_start;
	if (row->pid_boot != NULL && (j->pid_boot = strdup(row->pid_boot)) ==
	    NULL)
		fatal("out of memory");
	if (row->worker != NULL && (j->worker_id = strdup(row->worker)) ==
	    NULL)
		fatal("out of memory");
	jobs_restore(&s->jobs, j);
	return 0;
}

