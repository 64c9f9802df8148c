/*
 * A job's process (spawn.c, over the process runner run.c): start, kill,
 * reap, and the clean-up after a crash.  Used by job.c and pool.c.  (Not
 * "spawn.h": that name is the system's posix_spawn header.)
 */
#ifndef JQD_SPAWN_JOB_H
#define JQD_SPAWN_JOB_H

#include <stdbool.h>

#include "job.h"

/*
 * The processes of js: its runner (which reaps on SIGCHLD) and the boot
 * id (js->boot_id, "" if unknown: logged).  spawn_fini: after every job's
 * process record is freed.
 */
void		 spawn_init(struct jobs *js);
void		 spawn_fini(struct jobs *js);
/*
 * Start j's process (j is running from now).  Returns 0, or -1 after
 * ending j through job_exited(j, -1) with j->error saying why.
 */
int		 spawn_job(struct jobs *js, struct job *j);
/*
 * Stop j's process group: SIGTERM, then SIGKILL after kill_grace (at once
 * with now, or if SIGTERM was sent before).  No-op once it exited.
 */
void		 spawn_kill(struct jobs *js, struct job *j, bool now);
/* Free j's process record, closing its pipes (no-op if none). */
void		 spawn_free(struct job *j);
/*
 * Kill the process group a job restored as running left when jqd died
 * (group id = its recorded pid), if it is still the job's
 * (run_kill_leftover), and log what was done.
 */
void		 spawn_kill_leftover(struct job *j);

#endif
