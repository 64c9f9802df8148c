/*
 * Unit tests for the handler contract dispatch_run() enforces
 * (dispatch.h): a handler returns OP_PARKED if and only if it parked its
 * call, and runs only on a connection with nothing parked.  Anything else
 * is an impossible state, which ends the daemon (fatal: a log line and
 * exit status 1); those cases run in a child process.
 *
 * The handlers here are fakes that answer nothing: they only "park" by
 * putting a call on the connection's parked list, which is all
 * dispatch_run() looks at (through conn_parked() and conn_park_count()),
 * so no server, socket or loop is needed.
 * The real handlers pass through the same check in every request of the
 * integration tests and the fuzz-dispatch replays.
 */
#include <sys/types.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "dispatch.h"
#include "tap.h"

/* What call_park() does to the connection, without a waiter. */
static void
fake_park(struct conn *c, struct call *call)
{
	TAILQ_INSERT_TAIL(&c->parked, call, park_entry);
	c->nparked++;
	c->parks++;
}

static enum op_status
h_done(struct call *call)
{
	return OP_DONE;
}

static enum op_status
h_park(struct call *call)
{
	fake_park(call->conn, call);
	return OP_PARKED;
}

/* Claims to have parked, but did not (or answered instead). */
static enum op_status
h_park_nothing(struct call *call)
{
	return OP_PARKED;
}

/* Parked the call and says it is done: the connection would hang. */
static enum op_status
h_done_but_parked(struct call *call)
{
	fake_park(call->conn, call);
	return OP_DONE;
}

/* Parked a call that is not its own. */
static struct call	 other;

static enum op_status
h_park_other(struct call *call)
{
	fake_park(call->conn, &other);
	return OP_PARKED;
}

/*
 * Run op on a fresh call in a child (parked: a call already parked on the
 * connection).  True if the child ended with exit status 1 and said
 * "impossible state" on stderr.
 */
static bool
dies(const struct op *op, bool parked)
{
	struct conn	 c;
	struct call	 call;
	char		 out[512];
	ssize_t		 n;
	size_t		 len = 0;
	int		 fds[2], status;
	pid_t		 pid;

	fflush(stdout);
	if (pipe(fds) == -1 || (pid = fork()) == -1) {
		perror("pipe/fork");
		exit(1);
	}
	if (pid == 0) {
		close(fds[0]);
		if (dup2(fds[1], STDERR_FILENO) == -1)
			_exit(3);
		memset(&c, 0, sizeof(c));
		memset(&call, 0, sizeof(call));
		call.conn = &c;
		TAILQ_INIT(&c.parked);
		if (parked)
			fake_park(&c, &other);
		(void)dispatch_run(&call, op);
		_exit(0);	/* the check let it through */
	}
	close(fds[1]);
	while (len < sizeof(out) - 1 &&
	    (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	out[strcspn(out, "\n")] = '\0';	/* one line of TAP comment */
	close(fds[0]);
	if (waitpid(pid, &status, 0) == -1) {
		perror("waitpid");
		exit(1);
	}
	if (len > 0)
		printf("#   %s\n", out);
	return WIFEXITED(status) && WEXITSTATUS(status) == 1 &&
	    strstr(out, "impossible state") != NULL;
}

/* Run op on a fresh call here: what dispatch_run returned. */
static enum op_status
runs(const struct op *op, struct conn *c, struct call *call)
{
	memset(c, 0, sizeof(*c));
	memset(call, 0, sizeof(*call));
	call->conn = c;
	TAILQ_INIT(&c->parked);
	return dispatch_run(call, op);
}

int
main(void)
{
	static const struct op	 done = { "done", h_done, 0 };
	static const struct op	 park = { "park", h_park, 0 };
	static const struct op	 park_nothing = { "park-nothing",
				    h_park_nothing, 0 };
	static const struct op	 done_but_parked = { "done-but-parked",
				    h_done_but_parked, 0 };
	static const struct op	 park_other = { "park-other", h_park_other,
				    0 };
	struct conn		 c;
	struct call		 call, call2;

	is_int(runs(&done, &c, &call), OP_DONE,
	    "OP_DONE with nothing parked passes");
	ok(conn_parked(&c) == NULL, "... and nothing is parked");
	is_int(runs(&park, &c, &call), OP_PARKED,
	    "OP_PARKED with the call parked passes");
	ok(conn_parked(&c) == &call, "... and the call is parked");

	ok(dies(&park_nothing, false),
	    "OP_PARKED without parking: impossible state");
	ok(dies(&done_but_parked, false),
	    "OP_DONE with the call parked: impossible state");
	ok(dies(&park_other, false),
	    "OP_PARKED with another call parked: impossible state");
	ok(dies(&done, true),
	    "a handler run behind a parked call: impossible state");
	ok(!dies(&done, false), "(the child of a good handler exits 0)");

	/* Multiplexed: requests run beside parked calls. */
	memset(&c, 0, sizeof(c));
	TAILQ_INIT(&c.parked);
	c.multiplex = true;
	fake_park(&c, &other);
	memset(&call, 0, sizeof(call));
	call.conn = &c;
	is_int(dispatch_run(&call, &park), OP_PARKED,
	    "multiplexed: a call parks beside another parked call");
	ok(conn_parked(&c) == &call && conn_nparked(&c) == 2,
	    "... and both are parked, the newest last");
	memset(&call2, 0, sizeof(call2));
	call2.conn = &c;
	is_int(dispatch_run(&call2, &done), OP_DONE,
	    "multiplexed: OP_DONE beside parked calls passes");
	return done_testing();
}
