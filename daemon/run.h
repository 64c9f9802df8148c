/*
 * The process runner (run.c): runs one command the way jqd runs a job,
 * knowing nothing of jobs.  Used by spawn.c (jqd's job glue) and by the
 * jq-worker agent.
 *
 * A run starts from a spec (argv, a complete environment, an absolute
 * working directory, stdin bytes, bounds) in a process group of its own,
 * with stdin from a memfd (or /dev/null), stdout and stderr to pipes and
 * fd 3 (RUN_PROGRESS_FD) to a progress pipe.  The loop reads the pipes as
 * they fill: output is appended to the caller's buffers up to max_output
 * per stream, then read and discarded (the process never blocks on a full
 * pipe); progress lines ("DONE TOTAL" or "DONE") are parsed.  Everything
 * comes back through callbacks, on the loop; nothing here ever waits.
 *
 * A runner is one per event base: it owns the SIGCHLD event and reaps
 * with waitpid(-1, WNOHANG) (a child it does not know is reaped and
 * forgotten).  When a run's main process exits, whatever it left in its
 * group is killed (no orphans); the run is over once its pipes are
 * drained, or RUN_DRAIN_MS later if something outside the group still
 * holds them.
 *
 * Crash clean-up: a caller that stores a run's pid, its start time
 * (run_start_time) and the boot id (run_boot_id) can, after its own
 * crash and restart, kill the group the run left (run_kill_leftover).
 *
 * Errors: functions returning int give 0 or -1; out of memory is fatal
 * (log.c).
 */
#ifndef JQD_RUN_H
#define JQD_RUN_H

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct run;
struct runner;
struct strbuf;

/* The streams captured, as the callbacks number them. */
#define RUN_STDOUT	0
#define RUN_STDERR	1
#define RUN_NSTREAMS	2

/* The child's progress descriptor (also in run_env's JQ_PROGRESS_FD). */
#define RUN_PROGRESS_FD	3
/* How long pipes held open past the process's exit are read. */
#define RUN_DRAIN_MS	1000
/* PATH when the environment has none. */
#define RUN_DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"
/* A boot id: a UUID's 36 characters, a NUL, room to spare. */
#define RUN_BOOT_ID_MAX	40

/*
 * What to run.  Everything is borrowed for the call to run_start only,
 * except the capture buffers and truncation flags, which the run writes
 * until it is freed (they stay the caller's: read them any time).
 */
struct run_spec {
	char *const	 *argv;		/* NULL-terminated; argv[0] without a
					 * '/' is looked up in env's PATH
					 * (none: RUN_DEFAULT_PATH) */
	char *const	 *env;		/* the complete environment, "K=V",
					 * NULL-terminated (run_env builds
					 * jqd's) */
	const char	 *cwd;		/* absolute (run_cwd makes one) */
	const char	 *stdin_data;	/* NULL: /dev/null */
	size_t		  stdin_len;
	uint64_t	  max_output;	/* bytes captured per stream */
	int64_t		  kill_grace_ms;	/* SIGTERM to SIGKILL */
	uint64_t	  nofile;	/* the child's soft RLIMIT_NOFILE;
					 * 0: ours */
	/*
	 * Where the output goes, indexed by RUN_STDOUT/RUN_STDERR: appended
	 * to out[i] (not reset first) up to max_output bytes in all;
	 * *truncated[i] is set once a byte past that was discarded.
	 */
	struct strbuf	 *out[RUN_NSTREAMS];
	bool		 *truncated[RUN_NSTREAMS];
};

/*
 * What a run reports, each with the arg given to run_start; any may be
 * NULL but exited.  Called from the loop only, never from run_start.
 */
struct run_cbs {
	/*
	 * Captured output grew: stream holds buf[0..len) (the caller's
	 * out[stream] buffer), of which buf[from..len) is new.  end: the
	 * run is over (from == len; called once per stream just before
	 * exited), so a multibyte sequence cut short at the end will never
	 * complete.  Bytes past max_output are not captured, so never
	 * reported.
	 */
	void	(*output)(void *arg, int stream, const char *buf,
		    size_t from, size_t len, bool end);
	/*
	 * The process reported progress (once per read, the latest line
	 * wins): done >= 0, total >= 0 or -1 (unknown).
	 */
	void	(*progress)(void *arg, int64_t done, int64_t total);
	/*
	 * The process exited and its output is in: status is waitpid's.
	 * Before this call the output buffers were repaired to valid UTF-8
	 * (utf8_repair), after the output(end) calls.  The run's process is
	 * gone but the run is not freed: call run_free (here or later).
	 */
	void	(*exited)(void *arg, int status);
};

/*
 * A runner on base: adds a SIGCHLD event to it.  runner_free: every run
 * must have been freed; it removes the event.
 */
struct runner	*runner_new(struct event_base *base);
void		 runner_free(struct runner *rn);
/* Reap exited children now (the SIGCHLD event does it); never blocks. */
void		 runner_reap(struct runner *rn);
/* Runs not yet freed. */
size_t		 runner_count(const struct runner *rn);

/*
 * Start spec's process.  Returns the run (caller frees with run_free), or
 * NULL with "cannot start: ..." in err (command not found, permission
 * denied, cwd, stdin, pipes, posix_spawn): no callback is ever called for
 * a run that did not start.  For spec->nofile, our own soft
 * RLIMIT_NOFILE is lowered for the moment of the spawn (the child inherits
 * it); other threads must not open descriptors meanwhile.
 */
struct run	*run_start(struct runner *rn, const struct run_spec *spec,
		    const struct run_cbs *cbs, void *arg, char *err,
		    size_t errlen);
/* The process id, also its group id. */
pid_t		 run_pid(const struct run *r);
/* Whether the process exited (exited may still be waiting on pipes). */
bool		 run_exited(const struct run *r);
/*
 * Stop the process group: SIGTERM, then SIGKILL after kill_grace_ms (at
 * once with now, or if SIGTERM was sent before).  No-op once it exited.
 */
void		 run_kill(struct run *r, bool now);
/*
 * Free r: close its pipes, drop its timers, forget it (no callback comes
 * after this).  It does not signal the process: a process still running
 * is reaped, unreported, when it exits (run_kill first to stop it).
 * NULL: no-op.
 */
void		 run_free(struct run *r);

/*
 * jqd's job environment: env's variables (NULL: none) minus the reserved
 * JQ_JOB_ID, JQ_GROUP, JQ_DEADLINE_MS, JQ_PROGRESS_FD; PATH set to
 * /usr/local/bin:/usr/bin:/bin when env has none; then JQ_JOB_ID=job_id,
 * JQ_GROUP=group (if not NULL), JQ_DEADLINE_MS=deadline_ms (unix ms; if
 * >= 0), JQ_PROGRESS_FD=3.  Returns a new array; free with run_strv_free.
 */
char		**run_env(char *const *env, int64_t job_id, const char *group,
		    int64_t deadline_ms);
/* Free a NULL-terminated array of strings and the strings (NULL: no-op). */
void		 run_strv_free(char **v);
/*
 * The working directory of a job whose directory is dir (absolute): cwd
 * NULL is dir, an absolute cwd itself, a relative one under dir.
 * Returns a new string (caller frees).
 */
char		*run_cwd(const char *dir, const char *cwd);

/* -- after a crash --------------------------------------------------- */

/* pid's start time in clock ticks since boot (/proc); -1: no process. */
int64_t		 run_start_time(pid_t pid);
/*
 * This boot's id into buf (NUL-terminated; RUN_BOOT_ID_MAX is enough):
 * 0, or -1 if unknown.
 */
int		 run_boot_id(char *buf, size_t len);

/* What run_kill_leftover found and did. */
enum run_leftover {
	RUN_LEFTOVER_NONE,	/* no group there, or not known ours (boot) */
	RUN_LEFTOVER_OTHER,	/* pid alive but another process: left */
	RUN_LEFTOVER_KILLED,	/* the group was ours: SIGKILL sent */
	RUN_LEFTOVER_KILLED_ORPHANS, /* same, its main process had exited */
};

/*
 * Kill the process group a run left when its runner's process died
 * (group id = pid, as recorded with start and pid_boot; start -1 and
 * pid_boot NULL: unknown), if it is still that run's: recorded on this
 * boot (boot: run_boot_id's, "" or NULL: unknown), with members, and
 * its leader gone or the same process (pid and start time match).
 * Reads /proc once; never blocks.
 */
enum run_leftover run_kill_leftover(pid_t pid, int64_t start,
		    const char *pid_boot, const char *boot);
/* Whether that group is the run's, from what was found (pure). */
bool		 run_leftover_is_ours(bool same_boot, bool has_members,
		    bool leader_alive, bool leader_same);

#endif
