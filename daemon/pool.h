/*
 * The worker pool (pool.c): the ready queue of queued jobs that may start,
 * by priority (higher first), then id; at most `workers` of them run.
 * Used by job.c, which decides when a job is ready, and spawn.c, which
 * frees a worker when a process ends.
 */
#ifndef JQD_POOL_H
#define JQD_POOL_H

#include "job.h"

/* Put j on the ready queue (no-op if it is on it). */
void		 pool_enqueue(struct jobs *js, struct job *j);
/* Take j off the ready queue (no-op if it is not on it). */
void		 pool_dequeue(struct jobs *js, struct job *j);
/*
 * Start ready jobs while workers are free, from a deferred event: never
 * inside the caller, so state changes don't nest.
 */
void		 pool_schedule(struct jobs *js);

#endif
