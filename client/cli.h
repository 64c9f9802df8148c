/*
 * cli.h: what the parts of jq-client share.
 *
 * jq-client.c owns the run: global options, the command table and the
 * connection; cli-args.c parses a command's arguments.  Command handlers
 * live in cmd-chan.c (channels), cmd-job.c and cmd-submit.c (jobs); they
 * check every argument first, then talk to the server through cli_call(),
 * which opens the connection on first use, so a usage error (exit 2)
 * always comes before any connection is tried.  Printing helpers are in
 * cli-output.h, the wait progress bar in cli-progress.h, job states in
 * colour in cli-color.h; --json's one document is cli-doc.c's, help
 * cli-help.c's and "did you mean" cli-suggest.c's (below).
 *
 * Conventions: functions returning int return an exit status (EXIT_OK or
 * one of the EXIT_* below) after printing any message, unless their
 * comment says otherwise.  The CLI exits on out-of-memory (must()); the
 * library never does.
 */
#ifndef JQ_CLI_H
#define JQ_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "conn-opts.h"
#include "jqclient.h"
#include "units.h"

/* Exit status, SPEC section 7 and 8. */
#define EXIT_OK		0
#define EXIT_REPLY	1	/* error reply, closed channel, a job failed */
#define EXIT_USAGE	2
#define EXIT_CONNECT	3	/* cannot connect, or connection lost */
#define EXIT_TIMEOUT	124	/* error "timeout", or a job's deadline */
#define EXIT_CANCELED	125	/* submit --wait: the job was canceled */
#define EXIT_NOSTART	127	/* submit --wait: it could not be started */
#define EXIT_SIGNAL	128	/* + N: submit --wait: killed by signal N;
				   a request canceled on signal N */
#define EXIT_WAIT_FAILED 255	/* submit --wait: jq-client itself failed
				   (usage, connection, error reply) */

#define OPTS_MAX	24	/* options of one command */

/*
 * One option of a command: "--name VALUE", "-c VALUE" or a flag.  meta
 * and help drive "CMD --help", "help --json" and so the completions.
 */
struct opt {
	const char	*name;		/* long name, without "--" */
	int		 shortc;	/* short letter, or 0 */
	int		 has_arg;	/* false, true, OPT_ARG_OPTIONAL */
	const char	*meta;		/* its value in help ("D"), or NULL */
	const char	*help;		/* one line */
};
/* "--name" alone or "--name=VALUE"; a command without positionals also
   takes "--name VALUE" when VALUE starts with a digit ("--watch 5s"). */
#define OPT_ARG_OPTIONAL	2

/* One option as given, in command-line order. */
struct opt_given {
	int		 opt;		/* index into the command's opts */
	const char	*val;		/* "" for a flag */
};

/* A command line after option parsing.  Strings are borrowed from argv. */
struct args {
	const struct opt *opts;		/* the command's, NULL-name ended */
	const char	*val[OPTS_MAX];	/* per option: value, "" for a flag
					   given, NULL when absent; the last
					   of repeated options counts */
	struct opt_given *given;	/* every option given; owned array */
	int		 ngiven;
	char		**pos;		/* positional arguments; owned array */
	int		 npos;
};

struct cmd;

/* Can a blocking request be aborted on a signal (cli-cancel.c)? */
enum cli_cancel {
	CLI_CANCEL_UNKNOWN = 0,		/* not asked yet */
	CLI_CANCEL_NO,			/* no: signals keep their default */
	CLI_CANCEL_YES,			/* SIGINT, SIGTERM, SIGHUP are
					   caught */
};

struct cli {
	struct conn_opts server;	/* -H, -S, --token-file, --tls... */
	bool		 json;
	json_t		*doc;		/* --json: what the run prints at its
					   end (cli-doc.c), or NULL */
	char		*doc_text;	/* ... as the server wrote it, when doc
					   is a reply with values, or NULL */
	struct jqc	*conn;		/* NULL until the first call */
	bool		 hello_said;	/* on conn, by cli_hello() */
	char		*consumer;	/* owned: our consumer name */
	const struct cmd *cmd;		/* the command being run */
	enum cli_cancel	 cancel;
	int		 signal;	/* caught SIGINT/SIGTERM/SIGHUP, or
					   0 */
};

#define CMD_OPTS_FIRST	0x1	/* options end at the first positional
				   (submit: the command's own options
				   follow) */
#define CMD_MAY_BLOCK	0x2	/* may send a blocking request (send,
				   recv, select, wait): its hello asks for
				   a multiplexed connection, for abort */
#define CMD_LOCAL	0x4	/* needs no server (help): no address or
				   token is settled */

struct cmd {
	const char	*name;
	int		(*run)(struct cli *, struct args *);
	const struct opt *opts;
	int		 min_pos;
	int		 max_pos;	/* -1: no limit */
	unsigned	 flags;		/* CMD_* */
	const char	*synopsis;
	const char	*help;		/* lines of the --help text */
	const char	*details;	/* more lines for "CMD --help" only,
					   or NULL */
	const char	*example;	/* lines of examples for "CMD --help",
					   each a jq-client command line */
};

/* jq-client.c: memory, requests, messages. */
void		*must(void *);
json_t		*req_new(const char *op);
void		 req_set(json_t *req, const char *key, json_t *value);
int		 usage_error(struct cli *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/*
 * jq-client.c: the server.  cli_connect() opens the main connection
 * (connect, and auth with a token), once.  cli_hello() says the run's one
 * hello on it, the first time a command needs the answer -- a request
 * that may block (to abort it), a feature to ask about -- with
 * "multiplex": true for a CMD_MAY_BLOCK command; what it said stays on
 * the connection (jqc_last_hello(), jqc_has_feature()) and every question
 * about the server is answered from there, never by another hello.  A
 * hello answered with an error counts as said, by a server that lists
 * nothing.
 *
 * cli_call() sends req (stolen) on the main connection and waits for the
 * reply: EXIT_OK with *reply an ok reply, or the exit status after
 * reporting the failure (*reply may then be an error reply or NULL).  The
 * caller releases *reply either way.  With --json the reply, ok or not, is
 * printed here.
 */
int		 cli_connect(struct cli *);
int		 cli_hello(struct cli *);
/*
 * Our consumer name if the server takes named consumers ("consumer" in
 * hello's features), else NULL.  *rc is set on failure (connecting), with
 * NULL returned.
 */
const char	*cli_consumer(struct cli *, int *rc);
int		 cli_call(struct cli *, json_t *req, json_t **reply);
int		 cli_call_print_kv(struct cli *, json_t *req,
		    const char *suffix);
/* cli_call() of a send with a "key": retried after a lost connection
   (jqc_call_keyed). */
int		 cli_call_keyed(struct cli *, json_t *req, json_t **reply);
/* Does the server list feature in hello's "features"?  Says hello first
   (cli_hello()); false when it cannot (*rc is then the exit status,
   reported; else 0). */
bool		 cli_has_feature(struct cli *, const char *feature, int *rc);
/* EXIT_OK if the server lists feature; else the exit status after saying
   that `what` (an option, a command) needs a newer jqd (code
   "unsupported"). */
int		 cli_need_feature(struct cli *, const char *feature,
		    const char *what);
int		 cli_report_reply_error(struct cli *, const json_t *reply);
int		 cli_exit_for_code(const char *code);
/* A further connection, authenticated like the first; NULL on failure,
   with the reason in errbuf.  The caller closes it. */
struct jqc	*cli_connect_extra(struct cli *, char *errbuf, size_t errlen);

/*
 * jq-client.c: the tables.  cli_cmds() is the command table (*n entries),
 * cli_global_opts() the global options (NULL-name ended), cli_cmd_find()
 * a command by name, or NULL.
 */
const struct cmd *cli_cmds(size_t *n);
const struct opt *cli_global_opts(void);
const struct cmd *cli_cmd_find(const char *name);

/*
 * cli-doc.c: --json prints one JSON document per run, at the end of main()
 * (cli_doc_print()): an object with "ok".  cli_call() records each reply
 * (cli_doc_reply(): a copy without "id"), cli_report_reply_error() each
 * error reply; a command of several requests sets its own (cli_doc_set(),
 * stolen; cli_doc_take() hands over the one so far).  cli_fail() reports a
 * failure that is no error reply: "jq-client: MESSAGE" on stderr and
 * {"ok": false, "error": {"code": code, "message": MESSAGE}}; it returns
 * status.  Without --json no document is kept (cli->doc stays NULL).
 */
void		 cli_doc_set(struct cli *, json_t *doc);
void		 cli_doc_reply(struct cli *, const json_t *reply);
json_t		*cli_doc_take(struct cli *);
void		 cli_doc_error(struct cli *, const char *code,
		    const char *message);
int		 cli_fail(struct cli *, int status, const char *code,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void		 cli_doc_print(struct cli *, int status);

/*
 * cli-suggest.c: usage errors for an unknown command or option, with a
 * "did you mean" when one is close (their exit status).
 */
int		 unknown_command(struct cli *, const char *name);
int		 unknown_option(struct cli *, const char *arg);

/*
 * cli-help.c: "--help", "CMD --help" and the help command, from the
 * tables: text, or with --json the tables as a document.  help_show()
 * shows cmd's help, or the summary when cmd is NULL.
 */
void		 help_show(struct cli *, const struct cmd *cmd);
int		 cmd_help(struct cli *, struct args *);

/*
 * cli-args.c: one command's arguments.  args_parse() splits them into
 * options and positionals: 0, EXIT_USAGE after printing why, or -1 when
 * help was asked for; args_free() releases what it built.  The parse_*
 * functions return 0 or -1 and print nothing; the others print a usage
 * error and return its status.
 */
int		 args_parse(struct cli *, int argc, char **argv,
		    struct args *);
bool		 arg_is_option(const char *arg);
const struct opt *opt_lookup(const struct opt *opts, const char *arg,
		    const char **value);
void		 args_free(struct args *);
const char	*args_opt(const struct args *, const char *name);
const char	*args_opt_next(const struct args *, const char *name, int *iter);
int		 parse_int(const char *s, long long min, long long max,
		    long long *out);
int		 parse_time_ms(const char *s, long long *out);
int		 opt_duration(struct cli *, const struct args *,
		    const char *name, json_t *req, const char *field,
		    long long min_ms);
int		 check_name(struct cli *, const char *what, const char *name);
json_t		*string_arg(struct cli *, const char *what, const char *s,
		    int *rc);
/* --limit N, 1 to max, into req's "limit"; absent: nothing. */
int		 opt_limit(struct cli *, const struct args *, long long max,
		    json_t *req);
/* --NAME S (a string_arg) into req's member NAME; absent: nothing. */
int		 opt_string(struct cli *, const struct args *, const char *name,
		    json_t *req);

/*
 * cli-cancel.c: Ctrl-C, SIGTERM and SIGHUP.  cli_op_may_block() says
 * whether req is a send, recv, select or wait.  cli_call_blocking() is
 * call (jqc_call or jqc_call_keyed) for those, aborted on a signal when
 * the server can, as the hello on cli->conn said (0 or -1 like
 * jqc_call(); *reply is the request's own reply, "canceled" or not).
 * cli_interrupted() is the signal caught so far, or 0.
 *
 * cli_catch_signals() catches the three signals from now on (0, or -1
 * with errno): the first is noted (cli_interrupted()) and makes
 * cli_wake_fd() readable (never read: it stays so); a second ends
 * jq-client at once.  cli_signal_restore() sets the bytes (at most 64)
 * written to fd when a signal ends jq-client at once (NULL: none) and,
 * with at_once, makes the first signal do that already.
 */
bool		 cli_op_may_block(const json_t *req);
int		 cli_call_blocking(struct cli *, json_t *req, json_t **reply,
		    int (*call)(struct jqc *, json_t *, json_t **));
int		 cli_interrupted(struct cli *);
int		 cli_catch_signals(void);
int		 cli_wake_fd(void);
void		 cli_signal_restore(int fd, const char *bytes, bool at_once);

/*
 * cli-watch.c: --watch[=D] (jobs, chans, groups, stats).  snap(cli, arg) makes
 * one snapshot -- the command's request and its printing -- and returns
 * an exit status.  cli_watch() checks --watch (a usage error, reported),
 * then runs snap once without it, else every D until a signal: 128 + the
 * signal, or the status of a snapshot that failed.
 */
typedef int	 cli_snapshot_fn(struct cli *, void *arg);
int		 cli_watch(struct cli *, const struct args *,
		    cli_snapshot_fn *snap, void *arg);

/* cmd-chan.c */
int		 cmd_make(struct cli *, struct args *);
int		 cmd_send(struct cli *, struct args *);
int		 cmd_recv(struct cli *, struct args *);
int		 cmd_lease(struct cli *, struct args *);
int		 cmd_touch(struct cli *, struct args *);
int		 cmd_chan_op(struct cli *, struct args *);
int		 cmd_stat(struct cli *, struct args *);
int		 cmd_chans(struct cli *, struct args *);
int		 cmd_select(struct cli *, struct args *);

/* cmd-submit.c */
int		 cmd_submit(struct cli *, struct args *);

/*
 * cmd-submit-wait.c: submit --wait.  submit_wait_opts() reads --wait,
 * --detach, --exit-status, --no-exit-status (0 or a usage error).
 * submit_wait_failed() is the exit status of jq-client's own failure rc
 * as the run reports it (EXIT_WAIT_FAILED in place of 1, 2, 3, 124 when
 * the job's status is mirrored); submit_wait_usage() the same for a
 * command line that did not parse, from what was read of it.
 * submit_wait_run() submits req (stolen), waits and returns the exit
 * status.
 */
struct submit_wait {
	bool		 wait;		/* --wait */
	bool		 detach;	/* a signal leaves the job running */
	bool		 exit_status;	/* exit as the job did (default) */
};
int		 submit_wait_opts(struct cli *, const struct args *,
		    struct submit_wait *);
int		 submit_wait_failed(const struct submit_wait *, int rc);
int		 submit_wait_usage(const struct args *, int rc);
int		 submit_wait_run(struct cli *, const struct submit_wait *,
		    json_t *req);

/*
 * cmd-job.c; the helpers are shared with cmd-submit.c and cmd-admin.c.
 * job_states: the six states, NULL-ended, the final ones from
 * JOB_STATES_FINAL on.
 */
#define JOB_STATES_FINAL	2
extern const char *const job_states[];
bool		 member_int(const json_t *obj, const char *key,
		    long long *out);
const char	*member_str(const json_t *obj, const char *key);
int		 job_id_arg(struct cli *, const char *s, long long *id);
void		 write_output(FILE *f, const json_t *s);
int		 cmd_job(struct cli *, struct args *);
int		 cmd_jobs(struct cli *, struct args *);
int		 cmd_logs(struct cli *, struct args *);
int		 cmd_cancel(struct cli *, struct args *);
int		 cmd_wait(struct cli *, struct args *);

/* cmd-worker.c */
int		 cmd_workers(struct cli *, struct args *);
int		 cmd_worker(struct cli *, struct args *);

/*
 * cmd-admin.c.  group_missing() prints "no jobs in group 'G'" and returns
 * EXIT_REPLY: a group no retained job has is an error, never a success.
 * group_known(): EXIT_OK when group has a retained job, else as
 * group_missing() (or the status of a failure to ask).
 */
int		 group_missing(struct cli *, const char *group);
int		 group_known(struct cli *, const char *group);
int		 cmd_peek(struct cli *, struct args *);
int		 cmd_retry(struct cli *, struct args *);
int		 cmd_purge(struct cli *, struct args *);
int		 cmd_group(struct cli *, struct args *);
int		 cmd_groups(struct cli *, struct args *);
int		 cmd_pause(struct cli *, struct args *);
int		 cmd_pool(struct cli *, struct args *);

#endif
