/*
 * The op table and the checks every request passes before its handler:
 * authentication, a stopping server, per-op counters; and after it, the
 * handler's contract.  See dispatch.h.
 */
#include <string.h>

#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "server.h"

static const struct op ops[] = {
	{ "hello",	op_hello,	OP_F_NOAUTH | OP_F_READ },
	{ "auth",	op_auth,	OP_F_NOAUTH | OP_F_READ },
	{ "ping",	op_ping,	OP_F_READ },
	{ "stats",	op_stats,	OP_F_READ },
	{ "make",	op_make,	0 },
	{ "send",	op_send,	0 },
	{ "recv",	op_recv,	0 },
	{ "ack",	op_ack,		0 },
	{ "nack",	op_nack,	0 },
	{ "close",	op_close,	0 },
	{ "drop",	op_drop,	0 },
	{ "stat",	op_stat,	OP_F_READ },
	{ "chans",	op_chans,	OP_F_READ },
	{ "select",	op_select,	0 },
	{ "submit",	op_submit,	0 },
	{ "job",	op_job,		OP_F_READ },
	{ "jobs",	op_jobs,	OP_F_READ },
	{ "cancel",	op_cancel,	0 },
	{ "wait",	op_wait,	0 },
	{ "group",	op_group,	OP_F_READ },
	{ "watch",	op_watch,	0 },
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

enum op_status
dispatch_run(struct call *call, const struct op *op)
{
	struct conn	*c = call->conn;
	struct call	*parked;
	enum op_status	 status;

	/* The connection runs a request only while none is parked. */
	if (conn_parked(c) != NULL)
		fatal("impossible state: op '%s' dispatched behind a parked "
		    "call", op->name);
	status = op->handler(call);
	/* An answered call may be freed already: ask its connection. */
	parked = conn_parked(c);
	if (status == OP_PARKED ? parked != call : parked != NULL)
		fatal("impossible state: op '%s' returned %s, but %s",
		    op->name, status == OP_PARKED ? "OP_PARKED" : "OP_DONE",
		    parked == NULL ? "parked nothing" :
		    parked == call ? "parked its call" : "parked another call");
	return status;
}

enum op_status
dispatch(struct call *call)
{
	struct conn	*c = call->conn;
	struct server	*s = call_server(call);
	const char	*name = call->req.op;
	size_t		 i;

	for (i = 0; i < NOPS; i++) {
		if (strcmp(ops[i].name, name) == 0)
			break;
	}
	if (i == NOPS) {
		call_error(call, ERRCODE_UNKNOWN_OP, "unknown op '%.64s'",
		    name);
		return OP_DONE;
	}
	if (!conn_authenticated(c) && !(ops[i].flags & OP_F_NOAUTH)) {
		call_error(call, ERRCODE_UNAUTHORIZED,
		    "authenticate first (op 'auth')");
		return OP_DONE;
	}
	if (s->stopping) {
		call_error(call, ERRCODE_SHUTTING_DOWN,
		    "the server is shutting down");
		return OP_DONE;
	}
	s->op_counts[i]++;
	call->readonly = (ops[i].flags & OP_F_READ) != 0;
	return dispatch_run(call, &ops[i]);
}
