/*
 * The op table and the checks every request passes before its handler:
 * authentication, a stopping server, per-op counters.  See dispatch.h.
 */
#include <string.h>

#include "conn.h"
#include "dispatch.h"
#include "server.h"

static const struct op ops[] = {
	{ "hello",	op_hello,	OP_F_NOAUTH },
	{ "auth",	op_auth,	OP_F_NOAUTH },
	{ "ping",	op_ping,	0 },
	{ "stats",	op_stats,	0 },
	{ "make",	op_make,	0 },
	{ "send",	op_send,	0 },
	{ "recv",	op_recv,	0 },
	{ "ack",	op_ack,		0 },
	{ "nack",	op_nack,	0 },
	{ "close",	op_close,	0 },
	{ "drop",	op_drop,	0 },
	{ "stat",	op_stat,	0 },
	{ "chans",	op_chans,	0 },
	{ "select",	op_select,	0 },
	{ "submit",	op_submit,	0 },
	{ "job",	op_job,		0 },
	{ "jobs",	op_jobs,	0 },
	{ "cancel",	op_cancel,	0 },
	{ "wait",	op_wait,	0 },
	{ "group",	op_group,	0 },
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
dispatch(struct call *call)
{
	struct conn	*c = call->conn;
	struct server	*s = c->server;
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
	if (!c->authenticated && !(ops[i].flags & OP_F_NOAUTH)) {
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
	return ops[i].handler(call);
}
