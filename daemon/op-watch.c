/*
 * `watch`: a job's, or a group's, state, progress and output as they
 * change, until it is final (PROTOCOL.md 11.15).  A watch is a `wait`
 * (struct job_wait on server->job_waits, ended by op-job.c's final hook
 * exactly as a wait is) that also sends frames: lines before its reply,
 * queued on its connection with call_emit().
 *
 * Frames come from the job hooks (job.h): state after the save that
 * records it, so a state frame waits for that commit like any reply;
 * progress and output of a running job show nothing a crash could take
 * back, so they need no commit.  The hooks return at once while no watch
 * exists (server->njob_watches).
 *
 * Bounded: progress and output frames are dropped, and counted, while
 * the connection's unwritten output is at max_conn_buffer; a "lagged"
 * frame says how much once the reader has caught up (below half of it; a
 * timer tries every WATCH_LAG_RETRY_MS), and always before the last line.
 * State frames and the reply are never dropped: a job has few states.
 *
 * Output is bytes; frames carry UTF-8 text repaired as a job's result
 * is.  A sequence cut at the end of a read waits for the next read
 * (utf8_complete_len), so the frames of a stream together are what the
 * job's result shows, byte for byte.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "job.h"
#include "log.h"
#include "op-job.h"
#include "server.h"
#include "units.h"
#include "utf8.h"
#include "waitq.h"

/* How often a lagging watch tries to say so. */
#define WATCH_LAG_RETRY_MS	50
/* The most output bytes in one frame (a snapshot is cut in pieces). */
#define WATCH_PIECE_BYTES	(64 * 1024)

static const char *const watch_streams[] = { "stdout", "stderr" };

struct job_watch {
	struct job_wait	*jw;
	bool		 output;	/* output frames */
	bool		 progress;	/* progress frames */
	uint64_t	 dropped_bytes;	/* output bytes not sent */
	uint64_t	 dropped_frames;
	struct event	*ev_lag;
};

/* Is j one of the jobs jw watches? */
static bool
watch_matches(const struct job_wait *jw, const struct job *j)
{
	if (jw->group != NULL)
		return j->spec.group != NULL &&
		    strcmp(j->spec.group, jw->group) == 0;
	return jw->ids[0] == j->id;
}

/* {"id":<the request's>,"ok":true,"event":event}, a new reference. */
static json_t *
watch_frame(struct job_wait *jw, const char *event)
{
	json_t	*f = reply_ok(call_id(jw->call));

	json_object_set_new(f, "event", json_string(event));
	return f;
}

/* Say how much was dropped; 0, or -1 if that too finds no room. */
static int
watch_lagged(struct job_watch *w, size_t max_unsent)
{
	json_t	*f = watch_frame(w->jw, "lagged");

	json_object_set_new(f, "dropped_bytes",
	    json_integer((json_int_t)w->dropped_bytes));
	json_object_set_new(f, "dropped_frames",
	    json_integer((json_int_t)w->dropped_frames));
	if (call_emit(w->jw->call, f, false, max_unsent) == -1)
		return -1;
	w->dropped_bytes = w->dropped_frames = 0;
	return 0;
}

static void
watch_lag_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job_watch	*w = arg;
	struct timeval		 tv = units_ms_timeval(WATCH_LAG_RETRY_MS);

	if (w->dropped_frames > 0 && watch_lagged(w,
	    w->jw->server->cfg->max_conn_buffer / 2) == -1)
		evtimer_add(w->ev_lag, &tv);
}

/*
 * A frame that may be dropped (progress, output; taken).  bytes: the
 * output it carries, counted if it is dropped.
 */
static void
watch_emit_droppable(struct job_watch *w, json_t *f, size_t bytes)
{
	size_t		 max = w->jw->server->cfg->max_conn_buffer;
	struct timeval	 tv = units_ms_timeval(WATCH_LAG_RETRY_MS);

	/*
	 * Lagged comes first, so the reader learns where the gap is; and
	 * only once the reader has caught up (half the bound), else a small
	 * lagged frame would slip in between every two dropped ones.
	 */
	if (w->dropped_frames > 0 && watch_lagged(w, max / 2) == -1)
		json_decref(f);
	else if (call_emit(w->jw->call, f, false, max) == 0)
		return;
	if (w->dropped_frames == 0)
		evtimer_add(w->ev_lag, &tv);
	w->dropped_frames++;
	w->dropped_bytes += bytes;
}

static void
watch_send_state(struct job_wait *jw, struct job *j)
{
	json_t	*f = watch_frame(jw, "state");

	json_object_set_new(f, "job", json_integer(j->id));
	json_object_set_new(f, "state", json_string(job_state_name(
	    j->state)));
	json_object_set_new(f, "result", op_job_result(j));
	/* It shows a saved change: it waits for that commit. */
	(void)call_emit(jw->call, f, true, 0);
}

static void
watch_send_progress(struct job_watch *w, struct job *j, int64_t done,
    int64_t total)
{
	json_t	*f = watch_frame(w->jw, "progress");

	json_object_set_new(f, "job", json_integer(j->id));
	json_object_set_new(f, "progress", json_pack("{s:I, s:o}", "done",
	    (json_int_t)done, "total", total < 0 ? json_null() :
	    json_integer((json_int_t)total)));
	watch_emit_droppable(w, f, 0);
}

/* Output text (repaired, valid UTF-8), in frames of WATCH_PIECE_BYTES. */
static void
watch_send_output(struct job_watch *w, struct job *j, int stream,
    const char *data, size_t len)
{
	size_t	 at = 0, n;
	json_t	*f;

	while (at < len) {
		n = len - at;
		if (n > WATCH_PIECE_BYTES)
			n = utf8_complete_len(data + at, WATCH_PIECE_BYTES);
		if (n == 0)		/* cannot be: valid text */
			n = len - at;
		f = watch_frame(w->jw, "output");
		json_object_set_new(f, "job", json_integer(j->id));
		json_object_set_new(f, "stream", json_string(
		    watch_streams[stream]));
		json_object_set_new(f, "data", json_stringn_nocheck(
		    data + at, n));
		watch_emit_droppable(w, f, n);
		at += n;
	}
}

/* buf[start..stop) repaired into out (reset first). */
static void
watch_repair(struct strbuf *out, const char *buf, size_t start, size_t stop)
{
	strbuf_reset(out);
	strbuf_append(out, buf + start, stop - start);
	utf8_repair(out);
}

/* The first frames: j as it is now, its output so far if it runs. */
static void
watch_snapshot(struct job_watch *w, struct job *j)
{
	struct strbuf	 text = STRBUF_INIT;
	const struct strbuf *sb;
	int		 i;

	watch_send_state(w->jw, j);
	if (j->state != JOB_RUNNING)
		return;	/* a final job's output is in the last line */
	if (w->progress && j->progress_done >= 0)
		watch_send_progress(w, j, j->progress_done, j->progress_total);
	for (i = 0; i < 2 && w->output; i++) {
		sb = i == 0 ? &j->out : &j->err;
		if (sb->len == 0)
			continue;
		watch_repair(&text, sb->data, 0, utf8_complete_len(sb->data,
		    sb->len));
		watch_send_output(w, j, i, text.data, text.len);
	}
	strbuf_fini(&text);
}

/* -- hooks (job.h) ---------------------------------------------------- */

void
op_watch_state(void *arg, struct job *j)
{
	struct server	*s = arg;
	struct job_wait	*jw;

	if (s->njob_watches == 0)
		return;
	TAILQ_FOREACH(jw, &s->job_waits, entry) {
		if (jw->watch != NULL && watch_matches(jw, j))
			watch_send_state(jw, j);
	}
}

void
op_watch_progress(void *arg, struct job *j, int64_t done, int64_t total)
{
	struct server	*s = arg;
	struct job_wait	*jw;

	if (s->njob_watches == 0)
		return;
	TAILQ_FOREACH(jw, &s->job_waits, entry) {
		if (jw->watch != NULL && jw->watch->progress &&
		    watch_matches(jw, j))
			watch_send_progress(jw->watch, j, done, total);
	}
}

void
op_watch_output(void *arg, struct job *j, int stream, const char *buf,
    size_t from, size_t len, bool end)
{
	struct server	*s = arg;
	struct strbuf	 text = STRBUF_INIT;
	struct job_wait	*jw;
	size_t		 start, stop;

	if (s->njob_watches == 0)
		return;
	/* What earlier calls left for later, to what may go now. */
	start = utf8_complete_len(buf, from);
	stop = end ? len : utf8_complete_len(buf, len);
	if (stop <= start)
		return;
	TAILQ_FOREACH(jw, &s->job_waits, entry) {
		if (jw->watch == NULL || !jw->watch->output ||
		    !watch_matches(jw, j))
			continue;
		if (text.len == 0)	/* once, for every watch */
			watch_repair(&text, buf, start, stop);
		watch_send_output(jw->watch, j, stream, text.data, text.len);
	}
	strbuf_fini(&text);
}

/* -- the op ------------------------------------------------------------- */

static uint64_t
watch_wake_cb(struct waiter *waiter, int index, enum wake_result result,
    struct value_list *values, void *arg)
{
	struct job_wait		*jw = arg;
	struct job_watch	*w = jw->watch;
	struct call		*call = jw->call;

	call_unpark(call);
	switch (result) {
	case WAKE_READY:
		/* The last line is never dropped, nor what it follows. */
		if (w->dropped_frames > 0)
			(void)watch_lagged(w, 0);
		op_wait_reply(call, jw, true);
		break;
	case WAKE_SHUTDOWN:
		call_error(call, ERRCODE_SHUTTING_DOWN,
		    "the server is shutting down");
		break;
	case WAKE_ABORTED:
		call_canceled(call);
		break;
	default:
		/* No timer and no cases: nothing else wakes a watch. */
		call_error(call, ERRCODE_INTERNAL, "watch ended");
		break;
	}
	return 0;
}

static void
watch_free_cb(struct waiter *waiter, void *arg)
{
	struct job_wait	*jw = arg;

	event_free(jw->watch->ev_lag);
	free(jw->watch);
	jw->server->njob_watches--;
	op_wait_free(jw);
}

/* Read the fields into jw and w; -1 after answering. */
static int
watch_parse(struct call *call, struct job_wait *jw, struct job_watch *w)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	const char		*group = NULL;
	json_t			*job = request_field(&call->req, "job");
	int64_t			 id = 0;

	if (request_get_string(&call->req, "group", &group, &err) == -1 ||
	    (job != NULL && !json_is_null(job) && request_need_int(
	    &call->req, "job", 1, PROTO_INT_MAX, &id, &err) == -1) ||
	    request_get_bool(&call->req, "output", &w->output, &err) == -1 ||
	    request_get_bool(&call->req, "progress", &w->progress,
	    &err) == -1) {
		call_fail(call, &err);
		return -1;
	}
	if (group != NULL && !proto_chan_name_valid(group, strlen(group))) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'group' must be "
		    "1-128 bytes of [A-Za-z0-9._:-]");
		return -1;
	}
	if ((id != 0) == (group != NULL)) {
		call_error(call, ERRCODE_BAD_REQUEST, "give either field 'job' "
		    "or field 'group'");
		return -1;
	}
	if (id != 0 && jobs_find(&s->jobs, id) == NULL) {
		call_error(call, ERRCODE_NOT_FOUND, "no job %lld",
		    (long long)id);
		return -1;
	}
	jw->output = w->output;
	if (group != NULL) {
		if ((jw->group = strdup(group)) == NULL)
			fatal("out of memory");
		return 0;
	}
	if ((jw->ids = calloc(1, sizeof(*jw->ids))) == NULL)
		fatal("out of memory");
	jw->ids[0] = id;
	jw->nids = 1;
	return 0;
}

enum op_status
op_watch(struct call *call)
{
	struct server		*s = call_server(call);
	struct job_wait		*jw;
	struct job_watch	*w;
	struct jgroup		*g;
	struct job		*j;

	jw = calloc(1, sizeof(*jw));
	w = calloc(1, sizeof(*w));
	if (jw == NULL || w == NULL)
		fatal("out of memory");
	jw->server = s;
	jw->call = call;
	w->jw = jw;
	w->output = w->progress = true;
	if (watch_parse(call, jw, w) == -1) {
		free(jw->ids);
		free(jw->group);
		free(jw);
		free(w);
		return OP_DONE;
	}
	if ((w->ev_lag = evtimer_new(s->base, watch_lag_cb, w)) == NULL)
		fatal("out of memory");
	/* Linked first: the snapshot's frames go through the watch. */
	jw->watch = w;
	TAILQ_INSERT_TAIL(&s->job_waits, jw, entry);
	s->njob_watches++;
	jw->w = waiter_new(0, watch_wake_cb, jw);
	jw->w->free_cb = watch_free_cb;
	if (jw->group == NULL)
		watch_snapshot(w, jobs_find(&s->jobs, jw->ids[0]));
	else if ((g = jobs_find_group(&s->jobs, jw->group)) != NULL) {
		TAILQ_FOREACH(j, &g->jobs, group_entry)
			watch_snapshot(w, j);
	}
	if (op_wait_pending(s, jw) == 0) {
		/* Final already: the snapshot and the results, at once. */
		if (w->dropped_frames > 0)
			(void)watch_lagged(w, 0);
		op_wait_reply(call, jw, true);
		waiter_free(jw->w);
		return OP_DONE;
	}
	/* The snapshot is out: from here on, frames are changes. */
	(void)call_emit(call, watch_frame(jw, "synced"), false, 0);
	call_park(call, jw->w, -1);
	return OP_PARKED;
}
