/*
 * The pools (pool.c): one ready queue per pool name, of the queued jobs
 * that may start, by priority (higher first), then id.  jqd's own slots
 * (at most `workers` running) take jobs of pool "local" only; agents
 * (worker.c) take from the pools they serve.  Used by job.c, which
 * decides when a job is ready, spawn.c, which frees a slot when a process
 * ends, and worker.c.
 */
#ifndef JQD_POOL_H
#define JQD_POOL_H

#include "job.h"

struct pool_queue {
	struct map_entry	 name_entry;	/* jobs->pools */
	struct job_list		 ready;
	size_t			 queued;	/* its jobs queued (ready or not) */
	size_t			 running;	/* ... running */
	bool			 paused;	/* no new starts (pool_pause) */
	char			 name[];
};

/* Set up js's pools (the local one made); free them all. */
void		 pool_init(struct jobs *js);
void		 pool_fini(struct jobs *js);
/* The pool named name, or NULL if it has no job not final. */
struct pool_queue *pool_find(struct jobs *js, const char *name);
/* j joins its pool (linking, restore): j->pool is set. */
void		 pool_link(struct jobs *js, struct job *j);
/* j's state changes from `from` to j->state: the pool's counts follow. */
void		 pool_count(struct job *j, enum job_state from);
/* Free the pools with no job (the local one stays); from the purge. */
void		 pool_release_empty(struct jobs *js);

/*
 * Pause (or resume) the pool named name, which is made if it has no job
 * yet: a paused pool starts none of its jobs, on jqd or on agents, until
 * resumed; its running jobs go on.  Not stored: every pool runs after a
 * restart.  Returns 0, or -1 when max pools are paused already (a pool
 * without jobs is kept only while paused, so this bounds them).
 */
int		 pool_pause(struct jobs *js, const char *name, bool pause,
		    size_t max);
/* The paused pools' names, sorted (*n of them; the caller frees v). */
const char	**pool_paused_names(struct jobs *js, size_t *n);

/* Put j on its ready queue (no-op if it is on it). */
void		 pool_enqueue(struct jobs *js, struct job *j);
/* Take j off the ready queue (no-op if it is not on it). */
void		 pool_dequeue(struct jobs *js, struct job *j);
/*
 * The first ready job among the pools named in pools[0..n) (highest
 * priority, then lowest id), or NULL.  Still on its queue.
 */
struct job	*pool_peek(struct jobs *js, char *const *pools, size_t n);
/*
 * Start ready jobs while workers are free, from a deferred event: never
 * inside the caller, so state changes don't nest.  Then the remote
 * executor's pump runs (jobs for agents, stops).
 */
void		 pool_schedule(struct jobs *js);

#endif
