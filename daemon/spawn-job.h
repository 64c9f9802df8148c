/*
 * A job's process (spawn.c): start, kill, reap, and the clean-up after a
 * crash.  Used by job.c and pool.c.  (Not "spawn.h": that name is the
 * system's posix_spawn header, which spawn.c includes.)
 */
#ifndef JQD_SPAWN_JOB_H
#define JQD_SPAWN_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job.h"

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
/* Reap exited processes (on SIGCHLD); never blocks. */
void		 spawn_reap(struct jobs *js);
/* Free j's process record, closing its pipes (no-op if none). */
void		 spawn_free(struct job *j);
/*
 * Kill the process group a job restored as running left when jqd died
 * (group id = its recorded pid), if it is still the job's: recorded on
 * this boot, with members, and its leader gone or the same process (pid
 * and start time match).  Reads /proc once; never blocks.
 */
void		 spawn_kill_leftover(struct job *j);
/* Whether that group is the job's, from what was found (pure). */
bool		 spawn_leftover_is_job(bool same_boot, bool has_members,
		    bool leader_alive, bool leader_same);
/* pid's start time in clock ticks since boot (/proc); -1: no process. */
int64_t		 spawn_start_time(int pid);
/*
 * This boot's id into buf (NUL-terminated; SPAWN_BOOT_ID_MAX, job.h, is
 * enough): 0, or -1 if unknown.
 */
int		 spawn_boot_id(char *buf, size_t len);

#endif
