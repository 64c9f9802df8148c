/*
 * Session ops: hello, auth, ping, abort, stats.
 *
 * hello says what this server speaks: protocol 1, minor 4, and the
 * features of 1.1 to 1.4 it has, from hello_features[] (PROTOCOL.md
 * 9.1, 12.2 - 12.4).  A feature is listed only once it works end to end.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "build-id.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "op-dedup.h"
#include "op-worker.h"
#include "pool.h"
#include "server.h"
#include "store.h"
#include "units.h"

/* The protocol 1.1 to 1.4 features this server has, as hello lists them. */
static const char *const hello_features[] = {
	"multiplex",
	"abort",
	"consumer",
	"touch",
	"nack_delay",
	"send_key",
	"dead_letter",
	"watch",
	"pools",
	"workers",
	"peek",
	"retry",
	"purge",
	"pool_control",
	"value_text",
	"chans_page",
	"jobs_filter",
	"groups",
	"env_keys",
};

#define NFEATURES	(sizeof(hello_features) / sizeof(hello_features[0]))

enum op_status
op_hello(struct call *call)
{
	struct proto_error	 err;
	const char		*consumer = NULL;
	json_t			*r, *features;
	bool			 mux = false;
	size_t			 i;

	if (request_get_bool(&call->req, "multiplex", &mux, &err) == -1 ||
	    (request_has(&call->req, "consumer") && request_need_chan(
	    &call->req, "consumer", &consumer, &err) == -1)) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if (!mux && request_has(&call->req, "multiplex") &&
	    conn_multiplexed(call->conn)) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'multiplex': a "
		    "multiplexed connection stays multiplexed");
		return OP_DONE;
	}
	/* The connection's consumer: its leases outlive it (op-chan.c). */
	if (consumer != NULL)
		conn_set_consumer(call->conn, consumer);
	/* Before the reply: the reply itself is the first one multiplexed. */
	if (mux)
		conn_multiplex(call->conn);
	r = reply_ok(call_id(call));
	json_object_set_new(r, "server", json_string("jqd"));
	json_object_set_new(r, "version", json_string(PACKAGE_VERSION));
	json_object_set_new(r, "build", json_string(JQD_BUILD_ID));
	json_object_set_new(r, "protocol", json_integer(DISPATCH_PROTOCOL));
	json_object_set_new(r, "minor", json_integer(DISPATCH_PROTOCOL_MINOR));
	features = json_array();
	for (i = 0; i < NFEATURES; i++)
		json_array_append_new(features,
		    json_string(hello_features[i]));
	json_object_set_new(r, "features", features);
	json_object_set_new(r, "multiplex",
	    json_boolean(conn_multiplexed(call->conn)));
	json_object_set_new(r, "time_ms",
	    json_integer(units_clock_ms(CLOCK_REALTIME)));
	/* This connection must authenticate: no credentials let it in. */
	json_object_set_new(r, "auth_required",
	    json_boolean(conn_needs_token(call->conn)));
	if (conn_consumer(call->conn) != NULL)
		json_object_set_new(r, "consumer",
		    json_string(conn_consumer(call->conn)));
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}

enum op_status
op_auth(struct call *call)
{
	struct conn		*c = call->conn;
	struct server		*s = call_server(call);
	struct proto_error	 err;
	const char		*token;

	if (request_need_string(&call->req, "token", &token, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if (s->token == NULL || server_token_matches(s, token,
	    strlen(token))) {
		conn_authenticate(c);
		call_ok(call);
		return OP_DONE;
	}
	call_error(call, ERRCODE_UNAUTHORIZED, "wrong token");
	conn_close_after_flush(c);
	return OP_DONE;
}

enum op_status
op_ping(struct call *call)
{
	call_ok(call);
	return OP_DONE;
}

/*
 * abort {"ref": ID}: end this connection's parked request ID ("canceled"),
 * then answer aborted: true; or, when there is none (never parked, answered
 * already, or unknown), aborted: false and its reply stands.  Waking it
 * answers it first, so the "canceled" reply is ahead of this one.
 */
enum op_status
op_abort(struct call *call)
{
	json_t		*ref = request_field(&call->req, "ref"), *r;
	bool		 aborted;

	if (ref == NULL || json_is_null(ref)) {
		call_error(call, ERRCODE_BAD_REQUEST,
		    "field 'ref' is required");
		return OP_DONE;
	}
	if (json_is_array(ref) || json_is_object(ref)) {
		call_error(call, ERRCODE_BAD_REQUEST,
		    "field 'ref' must be an id (a string, number or boolean)");
		return OP_DONE;
	}
	aborted = conn_abort(call->conn, ref);
	r = reply_ok(call_id(call));
	json_object_set_new(r, "aborted", json_boolean(aborted));
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}

static json_t *
op_stats_store(struct store *store)
{
	struct store_stats	 st;
	double			 avg_ms = 0, per_commit = 0;

	store_get_stats(store, &st);
	if (st.commits > 0) {
		avg_ms = (double)st.latency_us_sum / (double)st.commits / 1e3;
		per_commit = (double)st.records / (double)st.commits;
	}
	return json_pack("{s:s, s:I, s:I, s:I, s:f, s:I, s:{s:f, s:f, s:f}, "
	    "s:I, s:I}",
	    "backend", st.backend,
	    "epoch", (json_int_t)st.epoch,
	    "commits", (json_int_t)st.commits,
	    "changes", (json_int_t)st.records,
	    "changes_per_commit", per_commit,
	    "failures", (json_int_t)st.failures,
	    "commit_latency_ms",
		"last", (double)st.latency_us_last / 1e3,
		"avg", avg_ms,
		"max", (double)st.latency_us_max / 1e3,
	    "db_bytes", (json_int_t)st.db_bytes,
	    "wal_bytes", (json_int_t)st.wal_bytes);
}

/* "paused_pools", only while a pool is paused (1.3). */
static void
op_stats_paused(struct server *s, json_t *r)
{
	const char	**names;
	json_t		 *a;
	size_t		  i, n;

	if (s->jobs.npaused == 0)
		return;
	names = pool_paused_names(&s->jobs, &n);
	a = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	free(names);
	json_object_set_new(r, "paused_pools", a);
}

enum op_status
op_stats(struct call *call)
{
	struct server	*s = call_server(call);
	json_t		*r = reply_ok(call_id(call)), *ops, *jobs;
	size_t		 i;

	json_object_set_new(r, "uptime_ms",
	    json_integer(server_now_ms() - s->start_ms));
	json_object_set_new(r, "connections", json_integer(
	    (json_int_t)s->nconns));
	json_object_set_new(r, "connections_total", json_integer(
	    (json_int_t)s->conns_total));
	json_object_set_new(r, "channels", json_integer(
	    (json_int_t)chanmap_count(&s->chans)));
	json_object_set_new(r, "buffered_values", json_integer(
	    (json_int_t)s->totals.values));
	json_object_set_new(r, "buffered_bytes", json_integer(
	    (json_int_t)s->totals.bytes));
	/* Once there are any: a version 1 client sees the stats it knows. */
	if (s->totals.dead_lettered > 0)
		json_object_set_new(r, "dead_lettered", json_integer(
		    (json_int_t)s->totals.dead_lettered));
	if (s->totals.dead_letter_missing > 0)
		json_object_set_new(r, "dead_letter_missing", json_integer(
		    (json_int_t)s->totals.dead_letter_missing));
	json_object_set_new(r, "waiting", json_integer(
	    (json_int_t)s->nparked));
	jobs = json_object();
	for (i = 0; i < JOB_NSTATES; i++)
		json_object_set_new(jobs, job_state_name((enum job_state)i),
		    json_integer((json_int_t)s->jobs.count[i]));
	json_object_set_new(r, "jobs", jobs);
	/* total: the slots now (op `pool` may have changed them). */
	json_object_set_new(r, "workers", json_pack("{s:I, s:I}", "busy",
	    (json_int_t)s->jobs.running, "total",
	    (json_int_t)s->jobs.cfg.workers));
	op_stats_paused(s, r);
	op_worker_stats(s, r);
	json_object_set_new(r, "store", op_stats_store(s->store));
	/* Only while keys are held: a 1.0 server's stats otherwise. */
	if (s->dedup.keys > 0)
		json_object_set_new(r, "dedup", op_dedup_stats(s));
	ops = json_object();
	for (i = 0; i < dispatch_op_count(); i++)
		json_object_set_new(ops, dispatch_op_name(i),
		    json_integer((json_int_t)s->op_counts[i]));
	json_object_set_new(r, "ops", ops);
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}
