/*
 * The ops of day-to-day operation (protocol 1.3, PROTOCOL.md 10.12,
 * 11.24-11.26): `peek` at a channel's head without taking anything,
 * `retry` a job that did not succeed as a new job, `purge` finished jobs
 * now, and `pool`: pause or resume a pool, resize jqd's own slots.
 *
 * Each reads and checks every field, then acts; what changes the store
 * (retry's new job, purge's deletions) is recorded before the reply,
 * which leaves once it is committed, like submit's.  A pool's pause and
 * jqd's slot count are not stored: a restart runs every pool with the
 * configured `workers`.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chan.h"
#include "chanmap.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "job.h"
#include "log.h"
#include "op-chan.h"
#include "op-job.h"
#include "pool.h"
#include "reply.h"
#include "server.h"
#include "strbuf.h"
#include "units.h"

#define PEEK_MAX	100	/* values one peek shows */
#define POOLS_PAUSED_MAX 1024	/* pools paused at once */
#define WORKERS_MAX	1024	/* jqd's own slots, as --workers */

/* -- peek ------------------------------------------------------------------ */

enum op_status
op_peek(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	struct strbuf		 sb = STRBUF_INIT;
	struct reply_raw	 raw;
	const char		*name;
	struct chan		*ch;
	struct value		*v;
	int64_t			 n = 1;
	size_t			 max = op_recv_max_bytes(call), shown = 0;
	json_t			*r;

	if (request_need_chan(&call->req, "chan", &name, &err) == -1 ||
	    request_get_int(&call->req, "n", 1, PEEK_MAX, &n, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if ((ch = chanmap_find(&s->chans, name, strlen(name))) == NULL) {
		call_error(call, ERRCODE_NOT_FOUND, "no channel '%s'", name);
		return OP_DONE;
	}
	/* The buffered values, head first, as many as fit in a reply. */
	strbuf_appendc(&sb, '[');
	TAILQ_FOREACH(v, &ch->buf, entry) {
		if ((int64_t)shown == n || sb.len + v->len + 2 > max)
			break;
		if (shown++ > 0)
			strbuf_appendc(&sb, ',');
		strbuf_append(&sb, v->data, v->len);
	}
	strbuf_appendc(&sb, ']');
	r = reply_ok(call_id(call));
	json_object_set_new(r, "len", json_integer((json_int_t)ch->len));
	raw = (struct reply_raw){ "values", sb.data, sb.len };
	call_reply(call, r, &raw, 1);
	strbuf_fini(&sb);
	return OP_DONE;
}

/* -- retry ----------------------------------------------------------------- */

enum op_status
op_retry(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	struct job_spec		 spec;
	struct job		*j, *nj;
	int64_t			 id, timeout_ms = -1;
	json_t			*r;

	memset(&spec, 0, sizeof(spec));
	if (request_need_int(&call->req, "job", 1, PROTO_INT_MAX, &id,
	    &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if ((j = jobs_find(&s->jobs, id)) == NULL) {
		call_error(call, ERRCODE_NOT_FOUND, "no job %lld",
		    (long long)id);
		return OP_DONE;
	}
	if (j->state != JOB_FAILED && j->state != JOB_DEADLINE_EXCEEDED &&
	    j->state != JOB_CANCELED) {
		call_error(call, ERRCODE_BAD_REQUEST, "job %lld (%s) cannot be "
		    "retried: only a failed, deadline_exceeded or canceled "
		    "job can", (long long)id, job_state_name(j->state));
		return OP_DONE;
	}
	if (op_job_retry_spec(j, &spec, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if (op_job_admit(call, &spec) == -1)
		goto done;
	/* The same time budget as the job it retries, from now. */
	if (j->deadline_ms >= 0)
		timeout_ms = j->deadline_ms > j->submitted_ms ?
		    j->deadline_ms - j->submitted_ms : 0;
	nj = jobs_submit(&s->jobs, &spec, timeout_ms, -1, 0,
	    s->cfg->default_timeout_ms);
	log_info("job %lld retries job %lld", (long long)nj->id,
	    (long long)id);
	r = reply_ok(call_id(call));
	json_object_set_new(r, "job", json_integer(nj->id));
	call_reply(call, r, NULL, 0);
done:
	job_spec_free(&spec);
	return OP_DONE;
}

/* -- purge ----------------------------------------------------------------- */

enum op_status
op_purge(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	struct jobs_purge_filter f = { -1, NULL, -1 };
	const char		*state = NULL;
	enum job_state		 st;
	int64_t			 older = -1, before = -1, cutoff;
	size_t			 n;
	json_t			*r;

	if (request_get_string(&call->req, "state", &state, &err) == -1 ||
	    request_get_string(&call->req, "group", &f.group, &err) == -1 ||
	    request_get_int(&call->req, "before_ms", 0, PROTO_INT_MAX,
	    &before, &err) == -1 ||
	    request_get_int(&call->req, "older_than_ms", 0, PROTO_INT_MAX,
	    &older, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if (f.group != NULL && !proto_chan_name_valid(f.group,
	    strlen(f.group))) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'group' must be "
		    "1-128 bytes of [A-Za-z0-9._:-]");
		return OP_DONE;
	}
	if (state != NULL && (job_state_parse(state, &st) == -1 ||
	    !job_state_final(st))) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'state' must be "
		    "one of succeeded, failed, deadline_exceeded, canceled "
		    "(purge deletes finished jobs only)");
		return OP_DONE;
	}
	if (state != NULL)
		f.state = (int)st;
	/*
	 * Both cutoffs: a job must be past the earlier of them.  One before
	 * the epoch matches nothing (0, not -1, which is no cutoff).
	 */
	f.before_ms = before;
	if (older >= 0) {
		cutoff = job_now_ms() - older;
		if (cutoff < 0)
			cutoff = 0;
		if (f.before_ms < 0 || cutoff < f.before_ms)
			f.before_ms = cutoff;
	}
	if (server_refuse_writes(s, call))
		return OP_DONE;
	n = jobs_purge(&s->jobs, &f);
	if (n > 0)
		log_info("purged %zu finished job%s on request", n,
		    log_plural(n));
	r = reply_ok(call_id(call));
	json_object_set_new(r, "purged", json_integer((json_int_t)n));
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}

/* -- pool ------------------------------------------------------------------ */

enum op_status
op_pool(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	struct pool_queue	*p;
	const char		*name = JOB_POOL_LOCAL;
	int64_t			 workers = -1;
	bool			 pause = false;
	bool			 local;
	json_t			*r;

	if ((request_has(&call->req, "pool") && request_need_string(
	    &call->req, "pool", &name, &err) == -1) ||
	    request_get_bool(&call->req, "pause", &pause, &err) == -1 ||
	    request_get_int(&call->req, "workers", 0, WORKERS_MAX, &workers,
	    &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if (!proto_chan_name_valid(name, strlen(name)) ||
	    strlen(name) > JOB_POOL_MAX) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'pool' must be "
		    "1-%d bytes of [A-Za-z0-9._:-]", JOB_POOL_MAX);
		return OP_DONE;
	}
	local = strcmp(name, JOB_POOL_LOCAL) == 0;
	if (workers >= 0 && !local) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'workers' is for "
		    "pool 'local' only (jqd's own slots); agents say their "
		    "slots themselves");
		return OP_DONE;
	}
	if (request_has(&call->req, "pause") && pool_pause(&s->jobs, name,
	    pause, POOLS_PAUSED_MAX) == -1) {
		call_error(call, ERRCODE_LIMIT, "%d pools paused already",
		    POOLS_PAUSED_MAX);
		return OP_DONE;
	}
	if (request_has(&call->req, "pause"))
		log_info("pool %s %s", name, pause ? "paused" : "resumed");
	if (workers >= 0 && workers != s->jobs.cfg.workers) {
		log_info("workers %d (was %d)", (int)workers,
		    s->jobs.cfg.workers);
		jobs_set_workers(&s->jobs, (int)workers);
	}
	p = pool_find(&s->jobs, name);
	r = reply_ok(call_id(call));
	json_object_set_new(r, "pool", json_string(name));
	json_object_set_new(r, "paused", json_boolean(p != NULL &&
	    p->paused));
	json_object_set_new(r, "queued", json_integer(p != NULL ?
	    (json_int_t)p->queued : 0));
	json_object_set_new(r, "running", json_integer(p != NULL ?
	    (json_int_t)p->running : 0));
	json_object_set_new(r, "workers", local ?
	    json_integer(s->jobs.cfg.workers) : json_null());
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}
