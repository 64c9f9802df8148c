/*
 * cli-cancel: Ctrl-C (SIGINT), SIGTERM and SIGHUP while jq-client waits.
 *
 * A blocking request (send, recv, select, wait) goes through
 * cli_call_blocking(), after cli_hello() said hello with "multiplex":
 * true; when the server made the connection multiplexed and lists
 * "abort", the signals are caught from the first such request on, and
 * each is sent with jqc_call_cancelable(): a signal during the wait sends
 * "abort" for it, and jq-client goes on to print whatever the request
 * returned.  Caught blocked, the request ends "canceled" and jq-client
 * exits 128 + the signal (130, 143, 129: what a shell reports for a
 * process killed by it); had it completed, its result is printed and the
 * exit status is the usual one -- so a value that recv had already taken
 * is printed, never lost.  A signal caught outside a request stops the
 * next one before it is sent (cli_call says "interrupted").
 *
 * Commands that wait in their own way (submit --wait, --watch, wait
 * --progress) catch the signals with cli_catch_signals() and look at
 * cli_interrupted() or poll cli_wake_fd().  A command that has changed
 * the terminal (the alternate screen, a hidden cursor, a progress line)
 * leaves bytes with cli_signal_restore() that put it back when a signal
 * ends jq-client at once; and may ask for a signal to do that at the
 * first signal already, when it cannot stop what it waits for.
 *
 * The handler notes the first signal and writes a byte to a self-pipe,
 * which waits poll beside their socket, so a signal between two checks is
 * never missed.  A second signal while jq-client winds down (an abort
 * under way, a cancel) ends it at once, as if nothing were caught: the
 * handler writes the restore bytes, puts the default action back and
 * raises the signal again.  Against a server without "abort" the
 * blocking requests catch nothing: a signal ends jq-client as it always
 * did, and the server abandons the request when the connection closes.
 *
 * The signal number, the pipe and the restore bytes are file-level: a
 * signal handler can reach nothing else.
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

static const int		 caught_signals[] = { SIGINT, SIGTERM, SIGHUP };
#define NCAUGHT	(sizeof(caught_signals) / sizeof(caught_signals[0]))

static volatile sig_atomic_t	 caught_signal;
static int			 wake_pipe[2] = { -1, -1 };
static char			 restore_buf[64];
static volatile sig_atomic_t	 restore_len;
static volatile sig_atomic_t	 restore_fd = -1;
static volatile sig_atomic_t	 leave_at_once;

/* The default action for every signal we catch. */
static void
default_signals(void)
{
	struct sigaction	dfl;
	size_t			i;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (i = 0; i < NCAUGHT; i++)
		sigaction(caught_signals[i], &dfl, NULL);
}

static void
cancel_signal_cb(int sig)
{
	int			 saved_errno = errno;
	ssize_t			 n;

	if (caught_signal != 0 || leave_at_once) {
		/*
		 * Leave now, as if not caught: the signal is blocked while
		 * this runs, so it ends us as soon as we return.
		 */
		if (restore_len > 0 && restore_fd >= 0) {
			n = write(restore_fd, restore_buf, restore_len);
			(void)n;
		}
		default_signals();
		raise(sig);
		errno = saved_errno;
		return;
	}
	caught_signal = sig;
	/* Non-blocking: a full pipe already holds a wake-up. */
	n = write(wake_pipe[1], "!", 1);
	(void)n;
	errno = saved_errno;
}

int
cli_catch_signals(void)
{
	struct sigaction	sa;
	size_t			i;

	if (wake_pipe[0] == -1 &&
	    pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cancel_signal_cb;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NCAUGHT; i++)
		sigaddset(&sa.sa_mask, caught_signals[i]);
	/* No SA_RESTART: the library goes on after EINTR itself. */
	for (i = 0; i < NCAUGHT; i++)
		if (sigaction(caught_signals[i], &sa, NULL) == -1)
			return -1;
	return 0;
}

int
cli_wake_fd(void)
{
	return wake_pipe[0];
}

void
cli_signal_restore(int fd, const char *bytes, bool at_once)
{
	size_t	len = bytes != NULL ? strlen(bytes) : 0;

	/* Nothing half-written is ever seen: the length goes last. */
	restore_len = 0;
	if (len > sizeof(restore_buf))
		len = sizeof(restore_buf);
	memcpy(restore_buf, bytes != NULL ? bytes : "", len);
	restore_fd = fd;
	leave_at_once = at_once;
	restore_len = (sig_atomic_t)len;
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
	if (cli_catch_signals() == -1) {
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
