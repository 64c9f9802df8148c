/*
 * Jobs: commands run by the worker pool, with Go's context semantics.
 *
 * A job is queued, then running, then final: succeeded, failed,
 * deadline_exceeded or canceled.  Its deadline (unix ms) counts from
 * submission and is capped by its parent's; a queued job whose deadline
 * passes ends deadline_exceeded at that moment, a running one is stopped
 * (SIGTERM to its process group, SIGKILL after kill_grace).  Cancelling a
 * job cancels its descendants.  A failed job with retries left is queued
 * again after an exponential backoff.
 *
 * struct jobs owns every retained job (by id, by group, by key), the
 * timers, the pool (pool.c) and the processes (spawn.c).  It never sees
 * JSON or SQLite: every change is reported through job_hooks, which the
 * server points at the store and at result delivery.
 */
#ifndef JQD_JOB_H
#define JQD_JOB_H

#include <sys/queue.h>
#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "map.h"
#include "run.h"
#include "strbuf.h"

struct event;
struct event_base;
struct job_proc;
struct jobs;
struct pool_queue;
struct worker;

enum job_state {
	JOB_QUEUED,
	JOB_RUNNING,
	JOB_SUCCEEDED,
	JOB_FAILED,
	JOB_DEADLINE_EXCEEDED,
	JOB_CANCELED,
};
#define JOB_NSTATES	6

/* Why jqd is stopping a running job (decides its final state). */
enum job_stop {
	JOB_STOP_NONE,
	JOB_STOP_CANCEL,
	JOB_STOP_DEADLINE,
	JOB_STOP_RUN_TIMEOUT,
	JOB_STOP_SHUTDOWN,	/* queued again, attempt not counted */
	JOB_STOP_DRAIN,		/* its worker drains now, or its agent
				   handed it back unstarted: as SHUTDOWN,
				   and the job is ready again at once */
};

/* The pool of a job that names none (jqd's own slots serve it). */
#define JOB_POOL_LOCAL	"local"
/* A pool name: 1-64 bytes of [A-Za-z0-9._:-]. */
#define JOB_POOL_MAX	64
/* A job's name: 1-256 bytes. */
#define JOB_NAME_MAX	256

TAILQ_HEAD(job_list, job);

/* What a submit asks for; strings are owned by the job once submitted. */
struct job_spec {
	char		**argv;		/* NULL-terminated */
	char		**env;		/* "K=V", NULL-terminated */
	char		 *cwd;		/* NULL: the job directory */
	char		 *stdin_data;	/* NULL: /dev/null */
	size_t		  stdin_len;
	char		 *name;
	char		 *group;
	char		 *key;
	char		 *result_chan;
	int64_t		  parent;	/* 0: none */
	int64_t		  priority;
	int64_t		  retries;
	int64_t		  run_timeout_ms;	/* -1: none */
	char		 *pool;		/* NULL: JOB_POOL_LOCAL */
	int64_t		  retry_of;	/* the job this one retries; 0: none */
	char		 *text;		/* the spec as stored (opaque) */
};

struct jgroup {
	struct map_entry	 name_entry;	/* jobs->groups */
	struct job_list		 jobs;
	size_t			 count[JOB_NSTATES];
	size_t			 total;
	char			 name[];
};

struct job {
	TAILQ_ENTRY(job)	 all_entry;	/* jobs->all, by id */
	TAILQ_ENTRY(job)	 queue_entry;	/* its pool's ready queue */
	TAILQ_ENTRY(job)	 worker_entry;	/* its worker's attempts */
	TAILQ_ENTRY(job)	 group_entry;
	TAILQ_ENTRY(job)	 sibling_entry;	/* parent->children */
	TAILQ_ENTRY(job)	 final_entry;	/* jobs->finished */
	TAILQ_ENTRY(job)	 held_entry;	/* jobs->out_held */
	struct map_entry	 id_entry;	/* jobs->by_id */
	struct map_entry	 key_entry;	/* jobs->by_key, if a key */
	struct job_list		 children;
	struct job		*parent;
	struct jgroup		*group;
	struct jobs		*jobs;
	struct pool_queue	*pool;		/* while not final */

	int64_t			 id;
	struct job_spec		 spec;
	enum job_state		 state;
	int64_t			 attempt;	/* 1 for the first run */
	int64_t			 submitted_ms;	/* unix ms */
	int64_t			 deadline_ms;	/* unix ms; -1: none */
	int64_t			 not_before_ms;	/* delay, retry backoff */
	int64_t			 started_ms;	/* -1: not yet */
	int64_t			 finished_ms;	/* -1: not yet */
	int			 exit_code;	/* -1: none */
	int			 signal;	/* 0: none */
	char			*error;		/* NULL: none */
	struct strbuf		 out;
	struct strbuf		 err;
	bool			 out_truncated;
	bool			 err_truncated;
	/*
	 * A final job's output leaves memory once the save that holds it is
	 * committed (out_stored; out and err are then empty and are read
	 * from the store when asked).  out_bytes: its size, for
	 * max_retained_output.
	 */
	bool			 out_held;	/* on jobs->out_held */
	bool			 out_stored;
	uint64_t		 out_bytes;
	int64_t			 progress_done;	/* -1: never reported */
	int64_t			 progress_total;	/* -1: unknown */
	bool			 delivered;	/* result_chan done */
	bool			 queued;	/* on the ready queue */
	uint64_t		 store_seq;	/* batch holding its last save */
	size_t			 store_rec;	/* ... at this index */

	struct event		*timer;		/* deadline */
	struct event		*wake;		/* delay / backoff */
	struct job_proc		*proc;		/* while running */
	int			 pid;		/* while running: its group */
	int64_t			 pid_start;	/* the process's start time */
	char			*pid_boot;	/* boot of pid; NULL: unknown */
	enum job_stop		 stop;

	/*
	 * A remote attempt (worker.c): a running job has either a process
	 * (proc) or a worker.  lease_until_ms is on the monotonic clock;
	 * stop_sent: the stop went out to the worker; stop_now: the next
	 * one says kill at once.  worker_id: the worker of the latest
	 * attempt (stored; NULL: jqd ran it, or nothing started);
	 * result_attempt: the remote attempt whose result was recorded
	 * (0: none), so that a resent result is known.
	 */
	struct worker		*worker;
	int64_t			 lease_until_ms;
	bool			 stop_sent;
	bool			 stop_now;
	char			*worker_id;
	int64_t			 result_attempt;
};

struct job_hooks {
	/* The job's stored row must change (submitted, started, final...). */
	void	(*save)(void *arg, struct job *j);
	/* The job reached a final state (after save). */
	void	(*final)(void *arg, struct job *j);
	/* A retained job is forgotten (retention). */
	void	(*forget)(void *arg, struct job *j);
	/*
	 * For watchers (each may be NULL; a job nobody watches costs a call
	 * that returns at once).  state: j's state changed and the save that
	 * records it is made (before final, for a final state).
	 */
	void	(*state)(void *arg, struct job *j);
	/* A running job reported progress: done, total (-1: unknown). */
	void	(*progress)(void *arg, struct job *j, int64_t done,
		    int64_t total);
	/*
	 * A running job's captured output grew: stream (0 stdout, 1 stderr)
	 * holds buf[0..len) of this attempt, of which buf[from..len) is new.
	 * end: the stream is over (from == len), so a multibyte sequence cut
	 * short at its end will never complete.  Bytes past max_output are
	 * not captured, so never reported.
	 */
	void	(*output)(void *arg, struct job *j, int stream,
		    const char *buf, size_t from, size_t len, bool end);
};

/*
 * The remote executor (worker.c): attempts run by agents.  Its functions
 * are called by job.c and pool.c; NULL in struct jobs: none (unit tests).
 */
struct job_remote {
	/* Hand ready jobs and news to the agents (pool.c's deferred pump). */
	void	(*pump)(void *arg);
	/* Stop j's remote attempt for j->stop: at once with now. */
	void	(*stop)(void *arg, struct job *j, bool now);
	/* j was restored running on worker j->worker_id: adopt it. */
	void	(*restore)(void *arg, struct job *j);
};

struct jobs_config {
	int		 workers;
	int64_t		 kill_grace_ms;
	int64_t		 retry_delay_ms;
	int64_t		 retention_ms;
	uint64_t	 max_output;
	uint64_t	 max_retained_jobs;	/* final jobs kept */
	uint64_t	 max_retained_output;	/* their output, bytes */
	const char	*job_dir;
	uint64_t	 nofile;	/* soft RLIMIT_NOFILE of jobs; 0: ours */
};

struct jobs {
	struct event_base	*base;
	struct jobs_config	 cfg;
	const struct job_hooks	*hooks;
	void			*hooks_arg;
	struct job_list		 all;		/* by id */
	struct map		 by_id;
	struct map		 by_key;
	struct map		 groups;	/* jgroups by name */
	size_t			 njobs;
	size_t			 count[JOB_NSTATES];
	int64_t			 next_id;
	struct map		 pools;		/* pool_queues by name */
	struct pool_queue	*local;		/* JOB_POOL_LOCAL's */
	struct job_list		 finished;	/* final, oldest first */
	size_t			 nfinished;
	uint64_t		 finished_out_bytes;	/* their out_bytes */
	/* Final jobs whose output is in memory until its save commits. */
	struct job_list		 out_held;
	struct runner		*runner;	/* the processes (spawn.c) */
	size_t			 npaused;	/* pools paused (pool_pause) */
	size_t			 running;
	bool			 paused;	/* no new starts (stopping) */
	struct event		*ev_purge;
	struct event		*ev_trim;	/* past a max_retained_* */
	struct event		*ev_pump;
	const struct job_remote	*remote;	/* NULL: no remote attempts */
	void			*remote_arg;
	uint64_t		 started_total;
	/* Jobs that reached each final state since jqd started. */
	uint64_t		 finished_total[JOB_NSTATES];
	char			 boot_id[RUN_BOOT_ID_MAX]; /* "": unknown */
};

/*
 * The log line of a job that reached its final state: what ran, how it
 * ended, how long it took, which attempt (job-log.c).
 */
void		 job_log_final(const struct job *j);

const char	*job_state_name(enum job_state s);
int		 job_state_parse(const char *name, enum job_state *s);
bool		 job_state_final(enum job_state s);
int64_t		 job_now_ms(void);	/* unix ms */

/* Set up the job table; hooks are called for every change. */
void		 jobs_init(struct jobs *js, struct event_base *base,
		    const struct jobs_config *cfg,
		    const struct job_hooks *hooks, void *arg);
/* Let remote run attempts of jobs (before restoring any). */
void		 jobs_set_remote(struct jobs *js, const struct job_remote *r,
		    void *arg);
/* Kill what runs (no grace) and free everything. */
void		 jobs_fini(struct jobs *js);

/*
 * A new queued job from spec (taken: the job owns its strings).
 * timeout_ms/deadline_ms (-1: none), delay_ms; the parent (if any) must
 * exist.  Returns the job; never fails (the caller checked limits).
 */
struct job	*jobs_submit(struct jobs *js, struct job_spec *spec,
		    int64_t timeout_ms, int64_t deadline_ms, int64_t delay_ms,
		    int64_t default_timeout_ms);

/*
 * A job restored from the store at start-up, in id order.  A job that was
 * running when jqd stopped is queued again if it has retries left (attempt
 * + 1), else failed with error "interrupted" -- unless a worker ran it:
 * it stays running, adopted by the remote executor.
 */
struct job	*jobs_restore(struct jobs *js, struct job *j);
/* After every restore: arm timers, start the pool. */
void		 jobs_start(struct jobs *js);

struct job	*jobs_find(struct jobs *js, int64_t id);
struct job	*jobs_find_key(struct jobs *js, const char *key);
struct jgroup	*jobs_find_group(struct jobs *js, const char *name);
size_t		 jobs_queued(const struct jobs *js);

/*
 * Every save up to store batch seq is committed: final jobs saved there
 * drop their output from memory (out_stored).
 */
void		 jobs_output_committed(struct jobs *js, uint64_t seq);

/* What jobs_purge() deletes: final jobs matching every filter given. */
struct jobs_purge_filter {
	int			 state;		/* an enum job_state; -1: any
						   final state */
	const char		*group;		/* NULL: any */
	int64_t			 before_ms;	/* finished before; -1: any */
};

/*
 * Delete the final jobs f matches now, from memory and (through the
 * forget hook) the store, as retention does: a result still waiting for
 * its result_chan keeps its job.  Returns how many were deleted.
 */
size_t		 jobs_purge(struct jobs *js, const struct jobs_purge_filter *f);

/*
 * jqd's own slots (the workers setting) from now on: more start queued
 * jobs at once; fewer let the running ones finish.
 */
void		 jobs_set_workers(struct jobs *js, int workers);

/* Cancel a job and its descendants; returns how many were not final. */
size_t		 jobs_cancel(struct jobs *js, struct job *j);
size_t		 jobs_cancel_group(struct jobs *js, struct jgroup *g);

/*
 * Shutdown: stop starting queued jobs.  jobs_stop_running() then stops the
 * running ones (SIGTERM, SIGKILL after grace) and queues them again.
 */
void		 jobs_pause(struct jobs *js);
void		 jobs_stop_running(struct jobs *js);
/*
 * Stepping down (another jqd took over): SIGKILL the process group of
 * every job jqd runs itself, at once; their rows stay as they are, for the
 * node that took over (which runs them again).
 */
void		 jobs_kill_running(struct jobs *js);

/* j's pool name (never NULL). */
const char	*job_pool_name(const struct job *j);

/* A job struct with defaults, for restore (caller fills and restores). */
struct job	*job_alloc(void);
void		 job_spec_free(struct job_spec *spec);
/* Free a NULL-terminated array of strings and the strings (NULL: no-op). */
void		 job_strv_free(char **v);

/*
 * Called by the pool and the processes (pool.c, spawn.c; their functions
 * are in pool.h and spawn-job.h).
 *
 * Change j's state, keeping the counts by state right.
 */
void		 job_set_state(struct job *j, enum job_state s);
/* j was started: arm its run timeout. */
void		 job_started(struct job *j);
/*
 * The process of j ended and its output is read (status from waitpid, or
 * -1 if it could not be started, with j->error set): decide its state.
 */
void		 job_exited(struct job *j, int status);

/*
 * For the remote executor (worker.c).
 *
 * A fresh attempt of j begins (j is running from now, started_ms set,
 * the last attempt's results cleared); the caller saves it.
 */
void		 job_attempt_begin(struct job *j);
/* j's attempt is under way: save it, tell the watchers, arm run_timeout. */
void		 job_attempt_started(struct job *j);
/*
 * Captured output of j's running attempt: n bytes of stream (0 stdout, 1
 * stderr) appended up to max_output (past it: truncated), watchers told.
 */
void		 job_output_append(struct job *j, int stream, const char *buf,
		    size_t n);
/* j's output streams are over: watchers get the end, the text repaired. */
void		 job_output_end(struct job *j);
/*
 * j's attempt ended without a result (its lease ran out): queued again
 * with attempt + 1 if it has retries left, else failed "interrupted" --
 * the rule of a crash restart.  j must be running with no worker.
 */
void		 job_interrupted(struct job *j);

#endif
