/*
 * cli-cancel: Ctrl-C (SIGINT) and SIGTERM during a blocking command.
 *
 * A blocking request (send, recv, select, wait) goes through
 * cli_call_blocking(), after cli_hello() said hello with "multiplex":
 * true; when the server made the connection multiplexed and lists
 * "abort", SIGINT and SIGTERM are caught from the first such request on,
 * and each is sent with jqc_call_cancelable(): a signal during the wait
 * sends "abort" for it, and jq-client goes on to print whatever the
 * request returned.  Caught blocked, the request ends "canceled" and
 * jq-client exits 128 + the signal (130, 143: what a shell reports for a
 * process killed by it); had it completed, its result is printed and the
 * exit status is the usual one -- so a value that recv had already taken
 * is printed, never lost.  A signal caught outside a request stops the
 * next one before it is sent (cli_call says "interrupted").
 *
 * The handler only notes the signal and writes a byte to a self-pipe,
 * which the wait polls beside the socket, so a signal between two checks
 * is never missed.  It also puts both signals back to their default
 * action: a second Ctrl-C while the abort is under way ends jq-client at
 * once, as before.  Against a server without "abort" nothing is caught:
 * a signal ends jq-client as it always did, and the server abandons the
 * request when the connection closes.
 *
 * The signal number and the pipe are file-level: a signal handler can
 * reach nothing else.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

static volatile sig_atomic_t	 caught_signal;
static int			 wake_pipe[2] = { -1, -1 };

static void
cancel_signal_cb(int sig)
{
	struct sigaction	 dfl;
	int			 saved_errno = errno;
	ssize_t			 n;

	caught_signal = sig;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGINT, &dfl, NULL);
	sigaction(SIGTERM, &dfl, NULL);
	/* Non-blocking: a full pipe already holds a wake-up. */
	n = write(wake_pipe[1], "!", 1);
	(void)n;
	errno = saved_errno;
}

/* Catch SIGINT and SIGTERM from now on.  Returns 0, or -1 (errno). */
static int
catch_signals(void)
{
	struct sigaction	sa;

	if (wake_pipe[0] == -1 &&
	    pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cancel_signal_cb;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGTERM);
	/* No SA_RESTART: the library goes on after EINTR itself. */
	if (sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1)
		return -1;
	return 0;
}

/* Is c multiplexed, by a server that lists "abort"? */
static bool
can_abort(struct jqc *c)
{
	const struct jqc_hello	*h = jqc_last_hello(c);

	return h != NULL && h->multiplex && (h->features & JQC_FEATURE_ABORT);
}

/* Catch the signals when requests on c can be aborted; say which. */
static enum cli_cancel
cancel_decide(struct jqc *c)
{
	if (!can_abort(c))
		return CLI_CANCEL_NO;
	if (catch_signals() == -1) {
		fprintf(stderr, "jq-client: cannot catch signals: %s\n",
		    strerror(errno));
		return CLI_CANCEL_NO;
	}
	return CLI_CANCEL_YES;
}

int
cli_call_blocking(struct cli *cli, json_t *req, json_t **reply,
    int (*call)(struct jqc *, json_t *, json_t **))
{
	int	rc;

	*reply = NULL;
	if (cli->cancel == CLI_CANCEL_UNKNOWN)
		cli->cancel = cancel_decide(cli->conn);
	/* A reconnection (keyed sends) may have found another server. */
	if (cli->cancel == CLI_CANCEL_NO || !can_abort(cli->conn))
		return call(cli->conn, req, reply);
	rc = jqc_call_cancelable(cli->conn, req, wake_pipe[0], reply, NULL);
	cli->signal = caught_signal;
	if (rc == -1 && call != jqc_call && cli->signal == 0 &&
	    jqc_errcode(cli->conn) == JQC_E_IO) {
		/*
		 * A keyed send whose connection was lost: jqc_call_keyed
		 * dials again, says the same hello, and repeats it (the key
		 * makes that safe), serially this once.
		 */
		rc = call(cli->conn, req, reply);
		cli->signal = caught_signal;
	}
	return rc;
}

bool
cli_op_may_block(const json_t *req)
{
	static const char *const	 ops[] = {
		"send", "recv", "select", "wait",
	};
	const char			*op;
	size_t				 i;

	if ((op = json_string_value(json_object_get(req, "op"))) == NULL)
		return false;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(op, ops[i]) == 0)
			return true;
	return false;
}

int
cli_interrupted(struct cli *cli)
{
	if (cli->signal == 0)
		cli->signal = caught_signal;
	return cli->signal;
}
