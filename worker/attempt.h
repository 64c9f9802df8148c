/*
 * attempt: one assignment jq-worker runs -- the job's process through
 * run.c, exactly as jqd runs a local job (run_env with the job id, group
 * and JQ_DEADLINE_MS; stdin; cwd under the job directory), the agent's own
 * deadline and run_timeout timers, and the output as the server will hold
 * it.
 *
 * Output: run.c fills raw[] with the process's bytes; as they come, whole
 * UTF-8 sequences are repaired into wire[] (what the server holds: the
 * same bytes a local job's output would be), so any prefix of wire[] can
 * be sent and an offset into it means the same after a reconnection.
 *
 * An attempt may be held before it begins (prefetch, agent.h): it keeps
 * its assignment until attempt_begin runs it, or attempt_return hands it
 * back unstarted (its hold time ran out, or the agent drains or stops).
 *
 * A running attempt has a record in the state directory (pid, start time,
 * boot id: a line of one file), cleared when its process is gone, so that
 * a restarted agent kills the groups a crashed one left
 * (attempt_kill_leftovers).
 *
 * The agent (agent.c) owns the attempts and decides what to tell the
 * server; this file tells it what happened through the hooks.
 */
#ifndef JQW_ATTEMPT_H
#define JQW_ATTEMPT_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "run.h"
#include "strbuf.h"

struct event;
struct event_base;
struct attempt_records;

/* Why the agent stopped an attempt (the wire's "stopped"). */
enum attempt_stop {
	ATTEMPT_STOP_NONE = 0,
	ATTEMPT_STOP_CANCEL,
	ATTEMPT_STOP_DEADLINE,
	ATTEMPT_STOP_RUN_TIMEOUT,
	ATTEMPT_STOP_DRAIN,
};

struct attempt;

struct attempt_hooks {
	/* wire[stream] grew. */
	void	(*output)(void *arg, struct attempt *a, int stream);
	/* The process reported progress. */
	void	(*progress)(void *arg, struct attempt *a);
	/* The process is over (a->ended): its result can be sent. */
	void	(*ended)(void *arg, struct attempt *a);
};

/* What every attempt of one agent shares; the agent's, borrowed. */
struct attempt_env {
	struct event_base		*base;
	struct runner			*runner;
	const char			*job_dir;	/* absolute */
	struct attempt_records		*records;	/* NULL: none */
	const char			*boot_id;	/* "" unknown */
	uint64_t			 max_output;
	int64_t				 kill_grace_ms;
	const struct attempt_hooks	*hooks;
	void				*arg;
};

struct attempt {
	TAILQ_ENTRY(attempt)	 entry;		/* the agent's list */
	const struct attempt_env *env;
	int64_t			 job;
	int64_t			 attempt;
	struct run		*run;		/* NULL once over */
	pid_t			 pid;		/* 0: never started */
	int64_t			 received_ms;	/* monotonic */
	int64_t			 started_ms;	/* monotonic; 0: held */
	json_t			*held;		/* the assignment, until begun */
	struct event		*ev_hold;

	struct strbuf		 raw[RUN_NSTREAMS];	/* run.c's */
	bool			 truncated[RUN_NSTREAMS];
	struct strbuf		 wire[RUN_NSTREAMS];	/* repaired */
	size_t			 raw_done[RUN_NSTREAMS];
	/* The agent's: bytes of wire the server holds, bytes in flight. */
	size_t			 acked[RUN_NSTREAMS];
	size_t			 inflight[RUN_NSTREAMS];

	int64_t			 progress_done;	/* -1: none */
	int64_t			 progress_total;
	bool			 progress_told;	/* in a heartbeat since */

	enum attempt_stop	 stopped;	/* why we stopped it */
	bool			 ended;
	int			 status;	/* waitpid's, when ended */
	char			*error;		/* could not start */
	bool			 returned;	/* handed back unstarted */
	bool			 result_inflight;

	struct event		*ev_deadline;
	struct event		*ev_timeout;
	ssize_t			 record;	/* its line; -1: none */
};

/*
 * Hold assignment (a worker_take "jobs" element, borrowed) without
 * starting it: a new attempt, begun later by attempt_begin, or handed
 * back (ended, returned) when hold_ms pass first, which the ended hook
 * tells.  Never NULL.
 */
struct attempt	*attempt_hold(const struct attempt_env *env,
		    const json_t *assignment, int64_t hold_ms);
/*
 * Start a held attempt: afterwards its process runs, or it already ended
 * with error set (bad assignment, cannot start; the hooks are not called
 * for that).  Its deadline counts from when it was received.  The start
 * (or the failure) is logged.
 */
void		 attempt_begin(struct attempt *a);
/* Start assignment at once: attempt_hold, then attempt_begin. */
struct attempt	*attempt_start(const struct attempt_env *env,
		    const json_t *assignment);
/*
 * Hand a held attempt back (not begun): it ends, its result says
 * "returned" (the server queues the job again, the attempt not counted).
 * The hooks are not called.
 */
void		 attempt_return(struct attempt *a);
/* Stop it: SIGTERM then SIGKILL after kill_grace (now: SIGKILL). */
void		 attempt_stop(struct attempt *a, enum attempt_stop why,
		    bool now);
/* Free a (killing its group first if it still runs). */
void		 attempt_free(struct attempt *a);
/* The worker_result request for an ended attempt (new reference). */
json_t		*attempt_result(const struct attempt *a);
/* "cancel", "deadline", ... (NULL for NONE); parse: 0 or -1. */
const char	*attempt_stop_name(enum attempt_stop s);
int		 attempt_stop_parse(const char *s, enum attempt_stop *out);
/*
 * The records of running attempts in the state directory dir (made
 * empty): NULL when it cannot be written (logged).  Close removes it.
 */
struct attempt_records *attempt_records_open(const char *dir);
void		 attempt_records_close(struct attempt_records *r);
/*
 * Kill the groups that attempts recorded in dir left (a crashed agent's)
 * and remove the records; logs what it did.  Returns how many were
 * killed.
 */
int		 attempt_kill_leftovers(const char *dir, const char *boot_id);

#endif
