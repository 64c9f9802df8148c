/*
 * The op table and the checks every request passes before its handler:
 * authentication, a stopping server, per-op counters; and after it, the
 * handler's contract.  See dispatch.h.
 */
#include <string.h>

#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "server.h"

static const struct op ops[] = {
	{ "hello",	op_hello,	OP_F_NOAUTH | OP_F_READ },
	{ "auth",	op_auth,	OP_F_NOAUTH | OP_F_READ },
	{ "ping",	op_ping,	OP_F_READ },
	/* Not OP_F_READ: its reply goes after the one it canceled. */
	{ "abort",	op_abort,	0 },
	{ "stats",	op_stats,	OP_F_READ | OP_F_HTTP_READ },
	{ "make",	op_make,	0 },
	{ "send",	op_send,	OP_F_BLOCKS },
	{ "recv",	op_recv,	OP_F_BLOCKS },
	{ "ack",	op_ack,		0 },
	{ "nack",	op_nack,	0 },
	{ "touch",	op_touch,	0 },
	{ "close",	op_close,	OP_F_HTTP_ACTION },
	{ "drop",	op_drop,	OP_F_HTTP_ACTION },
	{ "stat",	op_stat,	OP_F_READ | OP_F_HTTP_READ },
	{ "chans",	op_chans,	OP_F_READ | OP_F_HTTP_READ },
	{ "select",	op_select,	OP_F_BLOCKS },
	{ "submit",	op_submit,	0 },
	{ "job",	op_job,		OP_F_READ | OP_F_HTTP_READ },
	{ "jobs",	op_jobs,	OP_F_READ | OP_F_HTTP_READ },
	{ "cancel",	op_cancel,	OP_F_HTTP_ACTION },
	{ "wait",	op_wait,	OP_F_BLOCKS },
	{ "group",	op_group,	OP_F_READ | OP_F_HTTP_READ },
	{ "watch",	op_watch,	OP_F_BLOCKS },
	{ "worker_register", op_worker_register, 0 },
	{ "worker_take", op_worker_take, OP_F_BLOCKS },
	{ "worker_heartbeat", op_worker_heartbeat, OP_F_READ },
	{ "worker_output", op_worker_output, OP_F_READ },
	{ "worker_result", op_worker_result, 0 },
	{ "worker_drain", op_worker_drain, OP_F_HTTP_ACTION },
	{ "workers",	op_workers,	OP_F_READ | OP_F_HTTP_READ },
	{ "peek",	op_peek,	OP_F_READ | OP_F_HTTP_READ },
	{ "retry",	op_retry,	OP_F_HTTP_ACTION },
	{ "purge",	op_purge,	OP_F_HTTP_ACTION },
	/* Changes nothing durable: a pool's pause is not stored. */
	{ "pool",	op_pool,	OP_F_READ | OP_F_HTTP_ACTION },
	{ "groups",	op_groups,	OP_F_READ | OP_F_HTTP_READ },
};

#define NOPS	(sizeof(ops) / sizeof(ops[0]))

size_t
dispatch_op_count(void)
{
	return NOPS;
}

const char *
dispatch_op_name(size_t i)
{
	return i < NOPS ? ops[i].name : NULL;
}

const struct op *
dispatch_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < NOPS; i++) {
		if (strcmp(ops[i].name, name) == 0)
			return &ops[i];
	}
	return NULL;
}

enum op_status
dispatch_run(struct call *call, const struct op *op)
{
	struct conn	*c = call->conn;
	struct call	*parked;
	uint64_t	 parks = conn_park_count(c), now;
	enum op_status	 status;

	/* A serial connection runs a request only while none is parked. */
	if (!conn_multiplexed(c) && conn_parked(c) != NULL)
		fatal("impossible state: op '%s' dispatched behind a parked "
		    "call", op->name);
	status = op->handler(call);
	/*
	 * An answered call may be freed already: ask its connection.  The
	 * handler may also have woken calls parked before (a send on its own
	 * multiplexed connection), so count the calls that parked.
	 */
	parked = conn_parked(c);
	now = conn_park_count(c);
	if (status == OP_PARKED ? now != parks + 1 || parked != call :
	    now != parks)
		fatal("impossible state: op '%s' returned %s, but %s",
		    op->name, status == OP_PARKED ? "OP_PARKED" : "OP_DONE",
		    now == parks ? "parked nothing" :
		    parked == call ? "parked its call" : "parked another call");
	return status;
}

enum op_status
dispatch(struct call *call)
{
	struct conn	*c = call->conn;
	struct server	*s = call_server(call);
	const char	*name = call->req.op;
	const struct op	*op;

	if ((op = dispatch_find(name)) == NULL) {
		call_error(call, ERRCODE_UNKNOWN_OP, "unknown op '%.64s'",
		    name);
		return OP_DONE;
	}
	if (!conn_authenticated(c) && !(op->flags & OP_F_NOAUTH)) {
		call_error(call, ERRCODE_UNAUTHORIZED,
		    "authenticate first (op 'auth')");
		return OP_DONE;
	}
	if (s->stopping) {
		call_error(call, ERRCODE_SHUTTING_DOWN,
		    "the server is shutting down");
		return OP_DONE;
	}
	if ((op->flags & OP_F_BLOCKS) &&
	    conn_nparked(c) >= s->cfg->max_pending) {
		call_error(call, ERRCODE_LIMIT, "max_pending (%llu) requests "
		    "already blocked on this connection",
		    (unsigned long long)s->cfg->max_pending);
		return OP_DONE;
	}
	s->op_counts[op - ops]++;
	call->readonly = (op->flags & OP_F_READ) != 0;
	return dispatch_run(call, op);
}
