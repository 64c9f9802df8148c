/*
 * Remote workers (worker.c): agents (jq-worker) that run jobs of the pools
 * they serve, each attempt on a lease (PROTOCOL.md 11.16).
 *
 * A worker is known by its id from its first worker_register until it is
 * disconnected with no attempt left.  Its attempts are running jobs whose
 * j->worker is it; each has lease_until_ms on the monotonic clock, set at
 * assignment and adoption and renewed by every heartbeat.  One timer per
 * worker fires at the earliest lease: an attempt whose lease ran out ends
 * as its stop says (cancel, deadline...) or, with no stop asked, as
 * interrupted (job_interrupted: the crash-restart rule).  Results end
 * attempts through job_exited, as a local process's exit does.
 *
 * The worker table is the job table's remote executor (worker_remote, set
 * with jobs_set_remote): pool.c's pump hands ready jobs to the workers
 * whose worker_take is parked, job.c asks for stops (cancel, deadline,
 * run_timeout), and restore adopts the attempts that were running on a
 * worker when jqd stopped.  Nothing here sees JSON or sockets: op-worker.c
 * reads the requests, writes the replies and parks the takes; the
 * connection a worker is bound to is an opaque pointer here.
 */
#ifndef JQD_WORKER_H
#define JQD_WORKER_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "map.h"

struct conn;
struct event;
struct event_base;
struct worker_take;

/* Limits of the registration (PROTOCOL.md 11.17). */
#define WORKER_ID_MAX		128
#define WORKER_HOST_MAX		256
#define WORKER_SLOTS_MAX	4096
#define WORKER_POOLS_MAX	64
#define WORKER_LABELS_MAX	64
#define WORKER_OUTPUT_MAX	(64 * 1024)	/* worker_output's data */

/* One attempt, as the agent and the server name it. */
struct worker_ref {
	int64_t		 job;
	int64_t		 attempt;
};

/* A growable list of attempts (a reply's `drop`, `adopted`). */
struct worker_refs {
	struct worker_ref	*v;
	size_t			 n;
	size_t			 cap;
};

/* A stop the agent must carry out. */
struct worker_stop {
	int64_t		 job;
	int64_t		 attempt;
	enum job_stop	 reason;	/* never NONE or SHUTDOWN */
	bool		 now;		/* SIGKILL at once */
};

enum worker_state {
	WORKER_ACTIVE,
	WORKER_DRAINING,
	WORKER_DISCONNECTED,
};
#define WORKER_NSTATES	3

struct worker {
	struct map_entry	 id_entry;	/* workers->by_id */
	TAILQ_ENTRY(worker)	 take_entry;	/* workers->takes */
	struct workers		*ws;
	char			*id;
	char			*host;		/* NULL: not registered since
						   jqd restarted */
	char			*version;	/* NULL: none given */
	char			*instance;	/* NULL: none given */
	int64_t			 pid;		/* -1: none given */
	size_t			 slots;
	size_t			 prefetch;	/* most held beyond slots */
	size_t			 take_prefetch;	/* the parked take's; 0 after a
						   returned assignment */
	char			**pools;	/* NULL-terminated */
	size_t			 npools;
	char			**labels;	/* key, value, ..., NULL */
	size_t			 nlabels;	/* pairs */
	struct conn		*conn;		/* bound; NULL: disconnected */
	struct worker_take	*take;		/* parked (op-worker.c) */
	bool			 draining;
	bool			 drain_told;	/* a take reply said so */
	bool			 news;		/* stops or drops to tell */
	int64_t			 registered_ms;	/* unix; -1: not since restart */
	int64_t			 last_heartbeat_ms;	/* unix; -1: none */
	int64_t			 heard_ms;	/* monotonic: last register
						   or heartbeat */
	struct job_list		 attempts;
	size_t			 busy;		/* attempts */
	struct worker_refs	 drops;		/* to tell on the next take */
	struct event		*ev_lease;
};

TAILQ_HEAD(worker_list, worker);

/* What the worker table calls back (op-worker.c). */
struct worker_hooks {
	/*
	 * w's parked take (w->take) has something to say (jobs, stops,
	 * drops, drain): answer it.  Called from pool.c's deferred pump.
	 */
	void	(*answer)(void *arg, struct worker *w);
};

struct workers {
	struct jobs		*js;
	struct event_base	*base;
	int64_t			 heartbeat_ms;
	int64_t			 lease_ms;
	size_t			 max;		/* max-workers */
	const struct worker_hooks *hooks;
	void			*hooks_arg;
	struct map		 by_id;
	struct worker_list	 takes;		/* with a take parked */
	size_t			 remote_running;
	uint64_t		 leases_expired_total;
	uint64_t		 assigned_total;
};

/* What a worker_register says about the agent (strings borrowed). */
struct worker_reg {
	const char	*id;
	const char	*host;
	const char	*version;	/* NULL: none */
	const char	*instance;	/* the agent process; NULL: none */
	int64_t		 pid;		/* -1: none */
	size_t		 slots;
	size_t		 prefetch;	/* 0 ... slots */
	char		**pools;	/* NULL-terminated; taken */
	size_t		 npools;
	char		**labels;	/* key, value, ..., NULL; taken */
	size_t		 nlabels;
};

/* How an agent says an attempt ended (worker_result). */
struct worker_result {
	int		 exit_code;	/* -1: not this */
	int		 signal;	/* 0: not this */
	const char	*error;		/* NULL: not this (cannot start) */
	bool		 returned;	/* never started: handed back */
	enum job_stop	 stopped;	/* the agent's own stop; NONE */
	bool		 out_truncated;
	bool		 err_truncated;
	int64_t		 progress_done;	/* -1: not given */
	int64_t		 progress_total;
};

enum worker_result_status {
	WORKER_RESULT_RECORDED,
	WORKER_RESULT_DUPLICATE,	/* recorded before */
	WORKER_RESULT_NOT_CURRENT,	/* not running there: not_found */
};

/* The remote executor to give jobs_set_remote (arg: the workers). */
extern const struct job_remote worker_remote;

void		 workers_init(struct workers *ws, struct jobs *js,
		    struct event_base *base, int64_t heartbeat_ms,
		    int64_t lease_ms, size_t max,
		    const struct worker_hooks *hooks, void *arg);
/* Free every worker (their attempts stay running jobs). */
void		 workers_fini(struct workers *ws);
struct worker	*workers_find(struct workers *ws, const char *id);
size_t		 workers_count(const struct workers *ws);
/* How many workers are in each state, into count[WORKER_NSTATES]. */
void		 workers_count_states(const struct workers *ws, size_t *count);
enum worker_state worker_state(const struct worker *w);
const char	*worker_state_name(enum worker_state s);
/* A reason of a stop as the wire names it. */
const char	*worker_stop_name(enum job_stop stop);
/* The stop a wire name gives (cancel, deadline, run_timeout, drain): 0,
 * or -1. */
int		 worker_stop_parse(const char *name, enum job_stop *stop);

void		 worker_refs_add(struct worker_refs *r, int64_t job,
		    int64_t attempt);
void		 worker_refs_free(struct worker_refs *r);

/*
 * worker_register: the worker reg->id, made if new (NULL at max-workers:
 * nothing changed), its description replaced by reg's.  Of the attempts
 * it has, those in held[0..nheld) are adopted (lease renewed; added to
 * adopted), the others end as if their lease had run out; attempts held
 * that are not current there go to drop.  The caller binds it.
 */
struct worker	*worker_register(struct workers *ws, struct worker_reg *reg,
		    const struct worker_ref *held, size_t nheld,
		    struct worker_refs *adopted, struct worker_refs *drop);
/* Bind w to c (a connection), or unbind it (c NULL: disconnected). */
void		 worker_bind(struct worker *w, struct conn *c);

/*
 * A take of w arrived: it accepts up to prefetch assignments beyond w's
 * free slots (at most the registered prefetch).  Then park and unpark it.
 * worker_take_due: whether a take would be answered now (jobs within its
 * limit, stops or drops to tell, drain news).
 */
void		 worker_take_begin(struct worker *w, size_t prefetch);
void		 worker_take_park(struct worker *w, struct worker_take *t);
void		 worker_take_unpark(struct worker *w);
bool		 worker_take_due(struct worker *w);
/*
 * A take's answer: up to min(max, slots + prefetch - busy) ready jobs of
 * w's pools become w's attempts (running, saved, in jobs[]; none while
 * draining; beyond the free slots, none with a run_timeout: the agent may
 * hold those before it starts them); the stops not sent yet; the drops
 * pending (moved to drop).  The caller answers after the saves (the reply
 * waits for their commit).
 */
size_t		 worker_assign(struct worker *w, size_t max,
		    struct job **jobs);
/*
 * The stops of w's attempts into stops[] (room for w->busy): all, or
 * only those not sent yet; they count as sent.
 */
size_t		 worker_stops(struct worker *w, bool unsent_only,
		    struct worker_stop *stops);
void		 worker_take_drops(struct worker *w, struct worker_refs *drop);
/* The take was answered: what it said is told. */
void		 worker_told(struct worker *w);

/*
 * worker_heartbeat: every attempt of w has its lease renewed; attempts in
 * held that are not current on w go to drop.
 */
void		 worker_heartbeat(struct worker *w,
		    const struct worker_ref *held, size_t nheld,
		    struct worker_refs *drop);
/* The job running attempt A on w, or NULL. */
struct job	*worker_attempt(struct worker *w, int64_t job,
		    int64_t attempt);
/* Progress of a running attempt (as a local progress line). */
void		 worker_progress(struct job *j, int64_t done, int64_t total);
/*
 * Output of a running attempt: stream 0 (stdout) or 1 (stderr) holds
 * offset bytes the server should have, then data.  Returns 0, or -1 when
 * offset is past what the server holds (a gap).
 */
int		 worker_output(struct job *j, int stream, uint64_t offset,
		    const char *data, size_t len);
/* worker_result: end attempt A of job on w as r says. */
enum worker_result_status worker_result(struct worker *w, int64_t job,
		    int64_t attempt, const struct worker_result *r);
/*
 * worker_drain: no more assignments to w; with now, each running attempt
 * is stopped (reason drain) and queued again, not counted.  Returns the
 * attempts still running.
 */
size_t		 worker_drain(struct worker *w, bool now);

#endif
