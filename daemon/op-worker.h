/*
 * The wire side of remote workers (op-worker.c): the hooks worker.c
 * answers parked takes through, and the figures stats and /metrics show.
 */
#ifndef JQD_OP_WORKER_H
#define JQD_OP_WORKER_H

#include <stddef.h>

#include <jansson.h>

struct server;
struct worker;
struct workers;

extern const struct worker_hooks op_worker_hooks;

/*
 * stats: workers' states (into its "workers"), remote_running, pools --
 * once there are workers, or pools besides "local".
 */
void		 op_worker_stats(struct server *s, json_t *stats);
/*
 * The pools with jobs queued or running, or served by a worker, sorted,
 * each once (*n of them; the array is the caller's to free, the names are
 * borrowed until the next change of the jobs or workers).
 */
const char	**op_worker_pool_names(struct server *s, size_t *n);
/* The workers sorted by id (*n; the caller frees the array). */
struct worker	**op_workers_sorted(struct workers *ws, size_t *n);

#endif
