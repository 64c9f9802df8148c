/*
 * The op table: each protocol op's name, handler and flags.
 *
 * A handler reads and checks every field first, then acts, so a request
 * never half-applies.  It answers the call (call_reply/call_ok/call_error)
 * and returns OP_DONE, or parks it (call_park) and returns OP_PARKED; the
 * waiter callback answers later.  dispatch_run() holds it to that: any
 * other outcome is an impossible state (fatal).  Handlers never touch
 * sockets.
 */
#ifndef JQD_DISPATCH_H
#define JQD_DISPATCH_H

#include <stddef.h>

struct call;

enum op_status {
	OP_DONE,
	OP_PARKED,
};

/* The protocol served: hello's protocol and minor (PROTOCOL.md 12). */
#define DISPATCH_PROTOCOL	1
#define DISPATCH_PROTOCOL_MINOR	4

#define OP_F_NOAUTH	0x01	/* served before auth */
#define OP_F_READ	0x02	/* changes nothing durable */
#define OP_F_BLOCKS	0x04	/* may park: counts against max_pending */
/* The dashboard (PROTOCOL.md 16): a read it makes, GET /api/<op>. */
#define OP_F_HTTP_READ	0x08
/* A dashboard action: POST /api/<op>, CSRF-checked, refused read-only. */
#define OP_F_HTTP_ACTION 0x10

struct op {
	const char	*name;
	enum op_status	(*handler)(struct call *call);
	int		 flags;
};

/* Run one parsed request: auth, stopping, counters, handler. */
enum op_status	 dispatch(struct call *call);
/*
 * Run op's handler on call (on a serial connection, one with nothing
 * parked) and check its contract: OP_PARKED if and only if it parked the
 * call, else fatal.
 * dispatch() runs every handler through this; tests may run their own op.
 */
enum op_status	 dispatch_run(struct call *call, const struct op *op);

/* The table, for stats. */
size_t		 dispatch_op_count(void);
const char	*dispatch_op_name(size_t i);
/* The op called name (its OP_F_ flags, for the dashboard), or NULL. */
const struct op	*dispatch_find(const char *name);

/* Handlers, by family. */
enum op_status	 op_hello(struct call *);
enum op_status	 op_auth(struct call *);
enum op_status	 op_ping(struct call *);
enum op_status	 op_abort(struct call *);
enum op_status	 op_stats(struct call *);
enum op_status	 op_make(struct call *);
enum op_status	 op_send(struct call *);
enum op_status	 op_recv(struct call *);
enum op_status	 op_ack(struct call *);
enum op_status	 op_nack(struct call *);
enum op_status	 op_touch(struct call *);
enum op_status	 op_close(struct call *);
enum op_status	 op_drop(struct call *);
enum op_status	 op_stat(struct call *);
enum op_status	 op_chans(struct call *);
enum op_status	 op_select(struct call *);
enum op_status	 op_submit(struct call *);
enum op_status	 op_job(struct call *);
enum op_status	 op_jobs(struct call *);
enum op_status	 op_cancel(struct call *);
enum op_status	 op_wait(struct call *);
enum op_status	 op_group(struct call *);
enum op_status	 op_groups(struct call *);
enum op_status	 op_watch(struct call *);
enum op_status	 op_worker_register(struct call *);
enum op_status	 op_worker_take(struct call *);
enum op_status	 op_worker_heartbeat(struct call *);
enum op_status	 op_worker_output(struct call *);
enum op_status	 op_worker_result(struct call *);
enum op_status	 op_worker_drain(struct call *);
enum op_status	 op_workers(struct call *);
enum op_status	 op_peek(struct call *);
enum op_status	 op_retry(struct call *);
enum op_status	 op_purge(struct call *);
enum op_status	 op_pool(struct call *);

#endif
