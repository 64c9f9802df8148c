/*
 * cmd-submit-wait: "jq-client submit --wait": submit, wait for the job,
 * replay its output, exit as it ended -- and Ctrl-C cancels it, as
 * Ctrl-C on `docker run` or GNU parallel stops what they started.
 *
 * The run:
 *   - SIGINT, SIGTERM and SIGHUP are caught before the submit is sent
 *     (cli_catch_signals()), so no signal can leave behind a job nobody
 *     knows of; a signal before the submit sends nothing.
 *   - Once the job is accepted, "jq-client: job N submitted" goes to
 *     stderr: stdout is the job's, and the id is how to find the job
 *     later (jq-client job N, logs, cancel).
 *   - "wait" goes on the main connection, and jq-client polls it and the
 *     signal: a plain request, so this works with any server (no hello,
 *     no "abort").
 *   - A signal: "cancel" for the job on a second connection (the first is
 *     busy waiting), then the wait goes on, at most CANCEL_WAIT_MS, until
 *     the job is final; "jq-client: job N canceled" and exit 128 + the
 *     signal (130 for Ctrl-C).  A job that had finished by itself before
 *     the cancel reached it is reported as usual, with its own status
 *     (nothing it did is hidden).  A second signal ends jq-client at once
 *     (cli-cancel.c).  With --detach nothing is canceled: jq-client says
 *     how to follow the job and leaves, 128 + the signal.
 *
 * The exit status mirrors the job (job_exit_status(), SPEC section 8),
 * so that jq-client's own failures cannot pass for the job's, they exit
 * EXIT_WAIT_FAILED (255, as ssh does for its own errors); with
 * --no-exit-status jq-client exits 0 once the job's end is reported,
 * whatever it was, and its own failures keep their usual codes.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

#define CANCEL_WAIT_MS		10000	/* for a canceled job to be final */
#define SIGNAL_POLL_MS		250	/* a signal between two checks is
					   seen this late at most */

/* The flags as given, whether or not they go together. */
static void
wait_flags(const struct args *a, struct submit_wait *w)
{
	int	i;

	memset(w, 0, sizeof(*w));
	w->wait = args_opt(a, "wait") != NULL;
	w->detach = args_opt(a, "detach") != NULL;
	w->exit_status = true;
	/* The last of --exit-status, --no-exit-status counts (aliases). */
	for (i = 0; i < a->ngiven; i++) {
		if (strcmp(a->opts[a->given[i].opt].name, "exit-status") == 0)
			w->exit_status = true;
		else if (strcmp(a->opts[a->given[i].opt].name,
		    "no-exit-status") == 0)
			w->exit_status = false;
	}
}

int
submit_wait_opts(struct cli *cli, const struct args *a,
    struct submit_wait *w)
{
	wait_flags(a, w);
	if (!w->wait && (w->detach || args_opt(a, "exit-status") != NULL ||
	    args_opt(a, "no-exit-status") != NULL))
		return usage_error(cli, "--detach, --exit-status and "
		    "--no-exit-status go with --wait");
	return 0;
}

int
submit_wait_failed(const struct submit_wait *w, int rc)
{
	if (!w->wait || !w->exit_status)
		return rc;
	/* Only jq-client's own codes: 128 + N of a signal stays. */
	if (rc == EXIT_REPLY || rc == EXIT_USAGE || rc == EXIT_CONNECT ||
	    rc == EXIT_TIMEOUT)
		return EXIT_WAIT_FAILED;
	return rc;
}

int
submit_wait_usage(const struct args *a, int rc)
{
	struct submit_wait	w;

	/* What was read before the error: --wait seen, or not. */
	wait_flags(a, &w);
	return submit_wait_failed(&w, rc);
}

/*
 * The exit status that mirrors a finished job (SPEC section 8): its own
 * exit code; 128+N when a signal N jqd did not send killed it; 124 past its
 * deadline or run timeout; 125 canceled; 127 when it could not be started
 * (failed, with an error and no exit code or signal).
 */
static int
job_exit_status(const json_t *job)
{
	const char	*state = member_str(job, "state");
	long long	 code, sig;

	if (state == NULL)
		return EXIT_REPLY;
	if (strcmp(state, "deadline_exceeded") == 0)
		return EXIT_TIMEOUT;
	if (strcmp(state, "canceled") == 0)
		return EXIT_CANCELED;
	if (member_int(job, "signal", &sig) && sig > 0 && sig < 128)
		return EXIT_SIGNAL + (int)sig;
	if (member_int(job, "exit_code", &code) && code >= 0 && code <= 255)
		return strcmp(state, "failed") == 0 && code == 0 ?
		    EXIT_REPLY : (int)code;
	if (strcmp(state, "failed") == 0 && member_str(job, "error") != NULL)
		return EXIT_NOSTART;
	return strcmp(state, "succeeded") == 0 ? EXIT_OK : EXIT_REPLY;
}

/* Notes on stderr after a job's output: truncation, how it ended. */
static void
note_job_end(const json_t *job)
{
	const char	*state = member_str(job, "state");
	const char	*error = member_str(job, "error");
	long long	 id = 0, v;

	member_int(job, "job", &id);
	if (json_is_true(json_object_get(job, "stdout_truncated")))
		fprintf(stderr, "jq-client: job %lld: stdout truncated\n", id);
	if (json_is_true(json_object_get(job, "stderr_truncated")))
		fprintf(stderr, "jq-client: job %lld: stderr truncated\n", id);
	/* A plain non-zero exit says enough by itself, as in a shell. */
	if (state == NULL || strcmp(state, "succeeded") == 0 ||
	    (strcmp(state, "failed") == 0 && error == NULL &&
	    member_int(job, "exit_code", &v)))
		return;
	fprintf(stderr, "jq-client: job %lld: %s", id, state);
	if (member_int(job, "signal", &v))
		fprintf(stderr, " (signal %lld)", v);
	if (error != NULL)
		fprintf(stderr, ": %s", error);
	fputc('\n', stderr);
}

/*
 * The wait's reply is in: replay the job's output, say how it ended, and
 * exit as it did.  sig: the signal that had us cancel it, or 0.
 */
static int
wait_done(struct cli *cli, const struct submit_wait *w, long long id,
    const json_t *reply, int sig)
{
	const json_t	*job;
	const char	*state;

	if (!jqc_reply_ok(reply))
		return submit_wait_failed(w, cli_report_reply_error(cli,
		    reply));
	job = json_array_get(json_object_get(reply, "results"), 0);
	if (job == NULL)
		return submit_wait_failed(w, cli_fail(cli, EXIT_REPLY,
		    "internal", "no result for job %lld", id));
	cli_doc_set(cli, must(json_pack("{s:b, s:I, s:O}", "ok", 1, "job",
	    (json_int_t)id, "result", job)));
	state = member_str(job, "state");
	if (!cli->json) {
		write_output(stdout, json_object_get(job, "stdout"));
		fflush(stdout);
		write_output(stderr, json_object_get(job, "stderr"));
		if (sig == 0 || state == NULL ||
		    strcmp(state, "canceled") != 0)
			note_job_end(job);
	}
	if (sig != 0 && state != NULL && strcmp(state, "canceled") == 0) {
		fprintf(stderr, "jq-client: job %lld canceled\n", id);
		return EXIT_SIGNAL + sig;
	}
	return w->exit_status ? job_exit_status(job) : EXIT_OK;
}

/* "cancel" of job id on a connection of its own.  0, or -1 (said why). */
static int
cancel_job(struct cli *cli, long long id)
{
	struct jqc	*c;
	json_t		*req, *reply = NULL;
	char		 errbuf[512];
	int		 rc = -1;

	if ((c = cli_connect_extra(cli, errbuf, sizeof(errbuf))) == NULL) {
		fprintf(stderr, "jq-client: cannot cancel job %lld: %s\n", id,
		    errbuf);
		return -1;
	}
	req = req_new("cancel");
	req_set(req, "job", json_integer(id));
	if (jqc_call(c, req, &reply) == -1)
		fprintf(stderr, "jq-client: cannot cancel job %lld: %s\n", id,
		    jqc_error(c));
	else if (!jqc_reply_ok(reply))
		fprintf(stderr, "jq-client: cannot cancel job %lld: %s: %s\n",
		    id, jqc_reply_error_code(reply),
		    jqc_reply_error_message(reply) != NULL ?
		    jqc_reply_error_message(reply) : "(no message)");
	else
		rc = 0;
	json_decref(req);
	json_decref(reply);
	jqc_close(c);
	return rc;
}

/*
 * Wait for the reply of the request outstanding on the main connection:
 * 1 it is there, 0 a signal came (or, with until_ms, that time passed),
 * -1 the connection failed.  until_ms: a CLOCK_MONOTONIC time, or 0 to
 * wait as long as it takes and stop at a signal.
 */
static int
reply_or_signal(struct cli *cli, long long until_ms)
{
	long long	left;
	int		n;

	for (;;) {
		if (until_ms == 0 && cli_interrupted(cli) != 0)
			return 0;
		left = SIGNAL_POLL_MS;
		if (until_ms != 0) {
			if ((left = until_ms -
			    units_clock_ms(CLOCK_MONOTONIC)) <= 0)
				return 0;
		}
		if ((n = jqc_poll_reply(cli->conn, (int)left)) != 0)
			return n;
	}
}

/* The signal came while the job ran: cancel it, or leave it (--detach). */
static int
wait_interrupted(struct cli *cli, const struct submit_wait *w, long long id)
{
	json_t	*reply = NULL;
	int	 sig = cli_interrupted(cli), n, rc;

	if (w->detach) {
		fprintf(stderr, "jq-client: job %lld left running; follow it "
		    "with: jq-client logs -f %lld\n", id, id);
		return EXIT_SIGNAL + sig;
	}
	if (cancel_job(cli, id) == -1) {
		fprintf(stderr, "jq-client: job %lld may still run (jq-client "
		    "cancel %lld)\n", id, id);
		return EXIT_SIGNAL + sig;
	}
	n = reply_or_signal(cli, units_clock_ms(CLOCK_MONOTONIC) +
	    CANCEL_WAIT_MS);
	if (n == 1 && jqc_read_reply(cli->conn, &reply) == 0) {
		rc = wait_done(cli, w, id, reply, sig);
		json_decref(reply);
		return rc;
	}
	if (n == 0)
		fprintf(stderr, "jq-client: job %lld: canceled, not final "
		    "after %ds (see jq-client job %lld)\n", id,
		    CANCEL_WAIT_MS / 1000, id);
	else
		fprintf(stderr, "jq-client: job %lld: canceled; then %s\n",
		    id, jqc_error(cli->conn));
	return EXIT_SIGNAL + sig;
}

/* Wait for job id, until it ends or a signal comes. */
static int
wait_job(struct cli *cli, const struct submit_wait *w, long long id)
{
	json_t	*req, *reply = NULL;
	int	 n, rc;

	req = req_new("wait");
	req_set(req, "jobs", json_pack("[I]", (json_int_t)id));
	n = jqc_send_request(cli->conn, req, NULL);
	json_decref(req);
	if (n == 0)
		n = reply_or_signal(cli, 0);
	if (n == 0)
		return wait_interrupted(cli, w, id);
	if (n == 1 && jqc_read_reply(cli->conn, &reply) == 0) {
		rc = wait_done(cli, w, id, reply, 0);
		json_decref(reply);
		return rc;
	}
	fprintf(stderr, "jq-client: %s; job %lld may still run (jq-client "
	    "job %lld)\n", jqc_error(cli->conn), id, id);
	return submit_wait_failed(w, EXIT_CONNECT);
}

int
submit_wait_run(struct cli *cli, const struct submit_wait *w, json_t *req)
{
	json_t		*reply;
	long long	 id;
	int		 rc;

	if (cli_catch_signals() == -1) {
		json_decref(req);
		fprintf(stderr, "jq-client: cannot catch signals: %s\n",
		    strerror(errno));
		return submit_wait_failed(w, EXIT_REPLY);
	}
	if ((rc = cli_call(cli, req, &reply)) != EXIT_OK) {
		json_decref(reply);
		return submit_wait_failed(w, rc);
	}
	if (!member_int(reply, "job", &id)) {
		json_decref(reply);
		fputs("jq-client: submit reply without a job id\n", stderr);
		return submit_wait_failed(w, EXIT_REPLY);
	}
	if (json_is_true(json_object_get(reply, "duplicate")))
		fprintf(stderr, "jq-client: job %lld (submitted before with "
		    "this key)\n", id);
	else
		fprintf(stderr, "jq-client: job %lld submitted\n", id);
	json_decref(reply);
	return wait_job(cli, w, id);
}
