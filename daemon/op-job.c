/*
 * Job ops: submit, job, jobs, cancel, wait, and `wait` requests parked
 * until their jobs are final (group and groups: op-groups.c).  Specs,
 * result objects and stored rows are in job-codec.c, result delivery in
 * job-deliver.c.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chan.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "job-deliver.h"
#include "job.h"
#include "log.h"
#include "op-job.h"
#include "server.h"
#include "store.h"
#include "utf8.h"
#include "value.h"
#include "waitq.h"
#include "units.h"

#define JOBS_LIMIT_MAX	1000
#define JOBS_LIMIT_DEF	100
/* `jobs`' text filter, bytes (PROTOCOL.md 11.11). */
#define JOBS_TEXT_MAX	256

size_t
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
	job_deliver(s, j);
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
	.save = op_job_save,
	.final = op_job_final,
	.forget = op_job_forget,
	.state = op_watch_state,
	.progress = op_watch_progress,
	.output = op_watch_output,
};

/* -- replies written in pieces ------------------------------------------- */

/*
 * `job`, `jobs` and `wait` answer with result objects that may be long
 * (a job's output is up to 2 max_output, read from the store), so their
 * replies are streamed (call_reply_stream), a few results a piece.  The
 * ids to show are taken when the reply starts, a snapshot bounded by the
 * retained jobs (a sorted order would need a cursor into lists that
 * retention changes): a job purged meanwhile is left out, a job that
 * changed meanwhile shows as it is when its piece is made.
 */
struct job_stream {
	struct server	*server;
	json_t		*id;		/* the request's, a reference */
	const char	*member;	/* "jobs", "results"; NULL: `job` */
	int64_t		*ids;
	size_t		 nids;
	size_t		 next;		/* ids[next] is the next to write */
	bool		 output;	/* with stdout and stderr */
	bool		 started;	/* the head is written */
	bool		 any;		/* and a result after it */
	bool		 end;		/* with "end": true (`watch`) */
};

static void
op_job_stream_free_cb(void *arg)
{
	struct job_stream	*js = arg;

	json_decref(js->id);
	free(js->ids);
	free(js);
}

static int
op_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The names of j's env, sorted (1.4, `job` only): what a job was given,
 * never the values, which may be secrets.  A new reference.
 */
static json_t *
op_job_env_keys(const struct job *j)
{
	json_t	*keys = json_array();
	char	**names;
	size_t	 n = 0, i;

	while (j->spec.env != NULL && j->spec.env[n] != NULL)
		n++;
	if ((names = calloc(n + 1, sizeof(*names))) == NULL)
		fatal("out of memory");
	for (i = 0; i < n; i++) {
		names[i] = strndup(j->spec.env[i],
		    strcspn(j->spec.env[i], "="));
		if (names[i] == NULL)
			fatal("out of memory");
	}
	qsort(names, n, sizeof(*names), op_cmp_str);
	for (i = 0; i < n; i++) {
		json_array_append_new(keys, json_string(names[i]));
		free(names[i]);
	}
	free(names);
	return keys;
}

/* `job`: one result, its members those of the reply, and env_keys. */
static enum stream_status
op_job_stream_one(struct job_stream *js, struct strbuf *out)
{
	struct strbuf	 text = STRBUF_INIT;
	struct job	*j;
	json_t		*r, *keys;
	int		 rc;

	if ((j = jobs_find(&js->server->jobs, js->ids[0])) == NULL) {
		/* Purged since the request ran: as if it had been before. */
		r = reply_error(js->id, ERRCODE_NOT_FOUND, "no job %lld",
		    (long long)js->ids[0]);
		proto_json_append(out, r);
		json_decref(r);
		strbuf_appendc(out, '\n');
		return STREAM_DONE;
	}
	if ((rc = op_job_result_append(js->server, j, true, false,
	    &text)) != 0) {
		strbuf_fini(&text);
		return rc == 1 ? STREAM_AGAIN : STREAM_FAIL;
	}
	reply_ok_begin(out, js->id);
	strbuf_appendc(out, ',');
	strbuf_append(out, text.data + 1, text.len - 2);	/* no '}' */
	strbuf_append(out, ",\"env_keys\":", 12);
	keys = op_job_env_keys(j);
	proto_json_append(out, keys);
	json_decref(keys);
	strbuf_append(out, "}\n", 2);
	strbuf_fini(&text);
	return STREAM_DONE;
}

static enum stream_status
op_job_stream_cb(struct strbuf *out, void *arg)
{
	struct job_stream	*js = arg;
	struct job		*j;
	size_t			 mark;
	int			 rc;

	if (js->member == NULL)
		return op_job_stream_one(js, out);
	if (!js->started) {
		reply_ok_begin(out, js->id);
		if (js->end)
			strbuf_append(out, ",\"end\":true", 11);
		strbuf_appendf(out, ",\"%s\":[", js->member);
		js->started = true;
	}
	while (js->next < js->nids && out->len < STREAM_PIECE_BYTES) {
		if ((j = jobs_find(&js->server->jobs,
		    js->ids[js->next])) == NULL) {
			js->next++;
			continue;
		}
		mark = out->len;
		if (js->any)
			strbuf_appendc(out, ',');
		if ((rc = op_job_result_append(js->server, j, js->output,
		    false, out)) != 0) {
			out->len = mark;
			if (rc == -1)
				return STREAM_FAIL;
			return out->len > 0 ? STREAM_MORE : STREAM_AGAIN;
		}
		js->any = true;
		js->next++;
	}
	if (js->next < js->nids)
		return STREAM_MORE;
	strbuf_append(out, "]}\n", 3);
	return STREAM_DONE;
}

/* Answer call with the results of ids (taken), in that order. */
static void
op_job_stream(struct call *call, const char *member, int64_t *ids,
    size_t nids, bool output, bool end)
{
	struct job_stream	*js;

	js = calloc(1, sizeof(*js));
	if (js == NULL)
		fatal("out of memory");
	js->server = call_server(call);
	js->id = json_incref(call_id(call));
	js->member = member;
	js->ids = ids;
	js->nids = nids;
	js->output = output;
	js->end = end;
	call_reply_stream(call, op_job_stream_cb, op_job_stream_free_cb, js);
}

static int64_t *
op_ids_alloc(size_t n)
{
	int64_t	*ids = calloc(n == 0 ? 1 : n, sizeof(*ids));

	if (ids == NULL)
		fatal("out of memory");
	return ids;
}

/* -- ops ------------------------------------------------------------------- */

int
op_job_admit(struct call *call, const struct job_spec *spec)
{
	struct server	*s = call_server(call);

	if (spec->result_chan != NULL && chanmap_find(&s->chans,
	    spec->result_chan, strlen(spec->result_chan)) == NULL) {
		call_error(call, ERRCODE_NOT_FOUND, "no channel '%s' "
		    "(result_chan)", spec->result_chan);
		return -1;
	}
	if (server_refuse_writes(s, call))
		return -1;
	if (jobs_queued(&s->jobs) >= s->cfg->max_queued_jobs) {
		call_error(call, ERRCODE_LIMIT, "max_queued_jobs (%llu) "
		    "reached", (unsigned long long)s->cfg->max_queued_jobs);
		return -1;
	}
	return 0;
}

enum op_status
op_submit(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	struct job_spec		 spec;
	int64_t			 timeout_ms = -1, deadline_ms = -1, delay_ms = 0;
	struct job		*j;
	json_t			*r;

	if (op_job_parse_spec(request_root(&call->req), &spec, &err) == -1 ||
	    request_get_int(&call->req, "timeout_ms", 1, PROTO_INT_MAX,
	    &timeout_ms, &err) == -1 ||
	    request_get_int(&call->req, "deadline_ms", 0, PROTO_INT_MAX,
	    &deadline_ms, &err) == -1 ||
	    request_get_int(&call->req, "delay_ms", 0, PROTO_INT_MAX, &delay_ms,
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
	if (op_job_admit(call, &spec) == -1)
		goto done;
	spec.text = op_job_spec_text(request_root(&call->req));
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

	if (request_need_int(&call->req, "job", 1, PROTO_INT_MAX, &id,
	    &err) == -1) {
		call_fail(call, &err);
		return NULL;
	}
	if ((j = jobs_find(&call_server(call)->jobs, id)) == NULL)
		call_error(call, ERRCODE_NOT_FOUND, "no job %lld",
		    (long long)id);
	return j;
}

enum op_status
op_job(struct call *call)
{
	struct job	*j;
	int64_t		*ids;

	if ((j = op_find_job(call)) == NULL)
		return OP_DONE;
	ids = op_ids_alloc(1);
	ids[0] = j->id;
	op_job_stream(call, NULL, ids, 1, true, false);
	return OP_DONE;
}

/*
 * What `jobs` lists (PROTOCOL.md 11.11): each filter given must match.
 * text is the needle of a substring search without case (ASCII letters),
 * kept lower-cased, with its Knuth-Morris-Pratt table: each byte of a
 * job's strings is read about once, whatever the text (a naive search
 * costs up to text_len comparisons per byte: "aa...ab" in an argv of a
 * megabyte of "a" held the loop for seconds).
 */
struct jobs_filter {
	const char	*state_name;
	enum job_state	 state;
	const char	*group;
	const char	*pool;
	const char	*name;
	char		 text[JOBS_TEXT_MAX + 1];
	size_t		 text_len;	/* 0: no text filter */
	/* border[i]: the length of the longest proper prefix of text that
	   ends at text[i] (where a mismatch after it resumes) */
	size_t		 border[JOBS_TEXT_MAX];
	int64_t		 before;	/* 0: none */
};

static int
op_ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* f->border from f->text. */
static void
op_jobs_text_prepare(struct jobs_filter *f)
{
	size_t	 i, k = 0;

	if (f->text_len == 0)
		return;
	f->border[0] = 0;
	for (i = 1; i < f->text_len; i++) {
		while (k > 0 && f->text[i] != f->text[k])
			k = f->border[k - 1];
		if (f->text[i] == f->text[k])
			k++;
		f->border[i] = k;
	}
}

/* Does hay contain f->text, ASCII letters compared without case? */
static bool
op_jobs_text_in(const struct jobs_filter *f, const char *hay)
{
	size_t	 k = 0;		/* bytes of text matched so far */
	char	 c;

	for (; *hay != '\0'; hay++) {
		c = (char)op_ascii_lower((unsigned char)*hay);
		while (k > 0 && c != f->text[k])
			k = f->border[k - 1];
		if (c == f->text[k] && ++k == f->text_len)
			return true;
	}
	return false;
}

static bool
op_jobs_match(const struct jobs_filter *f, const struct job *j)
{
	size_t	 i;

	if ((f->before != 0 && j->id >= f->before) ||
	    (f->state_name != NULL && j->state != f->state) ||
	    (f->group != NULL && (j->spec.group == NULL ||
	    strcmp(j->spec.group, f->group) != 0)) ||
	    (f->pool != NULL && strcmp(job_pool_name(j), f->pool) != 0) ||
	    (f->name != NULL && (j->spec.name == NULL ||
	    strcmp(j->spec.name, f->name) != 0)))
		return false;
	if (f->text_len == 0 ||
	    (j->spec.name != NULL && op_jobs_text_in(f, j->spec.name)) ||
	    (j->spec.group != NULL && op_jobs_text_in(f, j->spec.group)))
		return true;
	for (i = 0; j->spec.argv != NULL && j->spec.argv[i] != NULL; i++) {
		if (op_jobs_text_in(f, j->spec.argv[i]))
			return true;
	}
	return false;
}

/* Read `jobs`' filters into f and *limit: 0, or -1 after answering. */
static int
op_jobs_filter_read(struct call *call, struct jobs_filter *f,
    int64_t *limit)
{
	struct proto_error	 err;
	const char		*text = NULL;
	size_t			 i;

	if (request_get_string(&call->req, "state", &f->state_name, &err) ==
	    -1 ||
	    request_get_string(&call->req, "group", &f->group, &err) == -1 ||
	    request_get_int(&call->req, "limit", 1, JOBS_LIMIT_MAX, limit,
	    &err) == -1 ||
	    request_get_int(&call->req, "before", 1, PROTO_INT_MAX,
	    &f->before, &err) == -1 ||
	    request_get_string(&call->req, "pool", &f->pool, &err) == -1 ||
	    request_get_string(&call->req, "name", &f->name, &err) == -1 ||
	    request_get_string(&call->req, "text", &text, &err) == -1) {
		call_fail(call, &err);
		return -1;
	}
	if (f->group != NULL && !proto_chan_name_valid(f->group,
	    strlen(f->group))) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'group' must be "
		    "1-128 bytes of [A-Za-z0-9._:-]");
		return -1;
	}
	if (f->state_name != NULL && job_state_parse(f->state_name,
	    &f->state) == -1) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'state' must be "
		    "one of queued, running, succeeded, failed, "
		    "deadline_exceeded, canceled");
		return -1;
	}
	if (f->pool != NULL && (!proto_chan_name_valid(f->pool,
	    strlen(f->pool)) || strlen(f->pool) > JOB_POOL_MAX)) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'pool' must be "
		    "1-%d bytes of [A-Za-z0-9._:-]", JOB_POOL_MAX);
		return -1;
	}
	if (f->name != NULL && (*f->name == '\0' ||
	    strlen(f->name) > JOB_NAME_MAX)) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'name' must be "
		    "1-%d bytes", JOB_NAME_MAX);
		return -1;
	}
	if (text != NULL && (*text == '\0' || strlen(text) >
	    JOBS_TEXT_MAX)) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'text' must be "
		    "1-%d bytes", JOBS_TEXT_MAX);
		return -1;
	}
	for (i = 0; text != NULL && text[i] != '\0'; i++)
		f->text[i] = (char)op_ascii_lower((unsigned char)text[i]);
	f->text_len = i;
	op_jobs_text_prepare(f);
	return 0;
}

/*
 * The scan is bounded by the retained jobs (max_retained_jobs plus the
 * unfinished ones): a filter that matches few jobs reads them all, from
 * the newest, once per page.
 */
enum op_status
op_jobs(struct call *call)
{
	struct server		*s = call_server(call);
	struct jobs_filter	 f = { .state = JOB_QUEUED };
	int64_t			 limit = JOBS_LIMIT_DEF;
	struct job		*j;
	int64_t			*ids;
	size_t			 n = 0;

	if (op_jobs_filter_read(call, &f, &limit) == -1)
		return OP_DONE;
	ids = op_ids_alloc((size_t)limit);
	TAILQ_FOREACH_REVERSE(j, &s->jobs.all, job_list, all_entry) {
		if ((int64_t)n >= limit)
			break;
		if (op_jobs_match(&f, j))
			ids[n++] = j->id;
	}
	op_job_stream(call, "jobs", ids, n, false, false);
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
	struct server	*s = call_server(call);
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

/* The results: the group's jobs, or the ids each once (sorted). */
void
op_wait_reply(struct call *call, struct job_wait *jw, bool end)
{
	struct server	*s = jw->server;
	struct jgroup	*g;
	struct job	*j;
	int64_t		*ids;
	size_t		 i, n = 0;

	if (jw->group != NULL) {
		g = jobs_find_group(&s->jobs, jw->group);
		ids = op_ids_alloc(g != NULL ? g->total : 0);
		if (g != NULL)
			TAILQ_FOREACH(j, &g->jobs, group_entry)
				ids[n++] = j->id;
	} else {
		ids = op_ids_alloc(jw->nids);
		for (i = 0; i < jw->nids; i++) {
			if (i == 0 || jw->ids[i] != jw->ids[i - 1])
				ids[n++] = jw->ids[i];
		}
	}
	op_job_stream(call, "results", ids, n, jw->output, end);
}

static void
op_wait_timeout(struct call *call, size_t pending)
{
	json_t	*r;

	r = reply_error(call_id(call), ERRCODE_TIMEOUT, "timed out after %lld "
	    "ms: %zu job%s not finished",
	    (long long)request_int(&call->req, "timeout_ms", 0), pending,
	    log_plural(pending));
	reply_error_detail(r, "pending", json_integer((json_int_t)pending));
	call_reply(call, r, NULL, 0);
}

static uint64_t
op_wait_wake_cb(struct waiter *w, int index, enum wake_result result,
    struct value_list *values, void *arg)
{
	struct job_wait	*jw = arg;
	struct call	*call = jw->call;

	call_unpark(call);
	if (result == WAKE_READY)
		op_wait_reply(call, jw, false);
	else if (result == WAKE_TIMEOUT)
		op_wait_timeout(call, op_wait_pending(jw->server, jw));
	else if (result == WAKE_ABORTED)
		call_canceled(call);
	else
		call_error(call, ERRCODE_SHUTTING_DOWN,
		    "the server is shutting down");
	return 0;
}

void
op_wait_free(struct job_wait *jw)
{
	TAILQ_REMOVE(&jw->server->job_waits, jw, entry);
	free(jw->ids);
	free(jw->group);
	free(jw);
}

static void
op_wait_free_cb(struct waiter *w, void *arg)
{
	op_wait_free(arg);
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
	struct server		*s = call_server(call);
	struct proto_error	 err;
	struct job_wait		*jw;
	const char		*group;
	json_t			*ids, *v;
	int64_t			 timeout_ms;
	size_t			 i, pending;
	bool			 output = true;

	if (op_job_or_group(call, &group) == -1)
		return OP_DONE;
	if (request_get_timeout(&call->req, "timeout_ms", &timeout_ms,
	    &err) == -1 ||
	    request_get_bool(&call->req, "output", &output, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	jw = calloc(1, sizeof(*jw));
	if (jw == NULL)
		fatal("out of memory");
	jw->server = s;
	jw->call = call;
	jw->output = output;
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
		op_wait_reply(call, jw, false);
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
