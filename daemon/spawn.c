/*
 * A job's process: the glue between jobs (job.c, pool.c) and the process
 * runner (run.c), which does the work: own process group, clean
 * environment, pipes read on the loop, reaping, kills.  Here: the job's
 * environment and working directory, its output into j->out and j->err
 * (the job's buffers: watchers and results read them while it runs), its
 * progress, and the job's end through job_exited.
 *
 * The job's pid, its start time and the boot id are stored with the job,
 * so that after a crash the restarted jqd can kill the group the job
 * left, even when its main process has died since (spawn_kill_leftover).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pool.h"
#include "run.h"
#include "spawn-job.h"

/* A running job's process (j->proc). */
struct job_proc {
	struct run	*run;
};

void
spawn_init(struct jobs *js)
{
	js->runner = runner_new(js->base);
	if (run_boot_id(js->boot_id, sizeof(js->boot_id)) == -1) {
		js->boot_id[0] = '\0';
		log_warn("cannot read the boot id: after a crash, processes "
		    "left by running jobs will not be killed");
	}
}

void
spawn_fini(struct jobs *js)
{
	runner_free(js->runner);
	js->runner = NULL;
}

static void
spawn_output_cb(void *arg, int stream, const char *buf, size_t from,
    size_t len, bool end)
{
	struct job	*j = arg;

	if (j->jobs->hooks->output != NULL)
		j->jobs->hooks->output(j->jobs->hooks_arg, j, stream, buf,
		    from, len, end);
}

static void
spawn_progress_cb(void *arg, int64_t done, int64_t total)
{
	struct job	*j = arg;

	j->progress_done = done;
	j->progress_total = total;
	if (j->jobs->hooks->progress != NULL)
		j->jobs->hooks->progress(j->jobs->hooks_arg, j, done, total);
}

/* The process exited and its output is in: the job decides what it was. */
static void
spawn_exited_cb(void *arg, int status)
{
	struct job	*j = arg;
	struct jobs	*js = j->jobs;

	spawn_free(j);
	js->running--;
	j->pid = 0;
	free(j->pid_boot);
	j->pid_boot = NULL;
	job_exited(j, status);
	pool_schedule(js);
}

static const struct run_cbs spawn_cbs = {
	.output = spawn_output_cb,
	.progress = spawn_progress_cb,
	.exited = spawn_exited_cb,
};

/* Start j's process; NULL with err if it could not start. */
static struct run *
spawn_run(struct jobs *js, struct job *j, char *err, size_t errlen)
{
	struct run_spec	 rs;
	struct run	*r;
	char		**env, *cwd;

	env = run_env(j->spec.env, j->id, j->spec.group, j->deadline_ms);
	cwd = run_cwd(js->cfg.job_dir, j->spec.cwd);
	memset(&rs, 0, sizeof(rs));
	rs.argv = j->spec.argv;
	rs.env = env;
	rs.cwd = cwd;
	rs.stdin_data = j->spec.stdin_data;
	rs.stdin_len = j->spec.stdin_len;
	rs.max_output = js->cfg.max_output;
	rs.kill_grace_ms = js->cfg.kill_grace_ms;
	rs.nofile = js->cfg.nofile;
	rs.out[RUN_STDOUT] = &j->out;
	rs.out[RUN_STDERR] = &j->err;
	rs.truncated[RUN_STDOUT] = &j->out_truncated;
	rs.truncated[RUN_STDERR] = &j->err_truncated;
	r = run_start(js->runner, &rs, &spawn_cbs, j, err, errlen);
	run_strv_free(env);
	free(cwd);
	return r;
}

int
spawn_job(struct jobs *js, struct job *j)
{
	struct run	*r;
	char		 err[512];

	job_attempt_begin(j);
	if ((r = spawn_run(js, j, err, sizeof(err))) == NULL) {
		j->error = strdup(err);
		/* If it was the last attempt, the final line says it. */
		log_debug("job %lld: %s", (long long)j->id, err);
		job_exited(j, -1);
		return -1;
	}
	j->proc = calloc(1, sizeof(*j->proc));
	if (j->proc == NULL)
		fatal("out of memory");
	j->proc->run = r;
	j->pid = run_pid(r);
	j->pid_start = run_start_time(j->pid);
	free(j->pid_boot);
	j->pid_boot = js->boot_id[0] != '\0' ? strdup(js->boot_id) : NULL;
	js->running++;
	js->started_total++;
	js->hooks->save(js->hooks_arg, j);
	if (js->hooks->state != NULL)
		js->hooks->state(js->hooks_arg, j);
	job_started(j);
	log_debug("job %lld: started pid %d", (long long)j->id, j->pid);
	return 0;
}

void
spawn_kill(struct jobs *js, struct job *j, bool now)
{
	(void)js;
	if (j->proc != NULL)
		run_kill(j->proc->run, now);
}

void
spawn_free(struct job *j)
{
	if (j->proc == NULL)
		return;
	run_free(j->proc->run);
	free(j->proc);
	j->proc = NULL;
}

void
spawn_kill_leftover(struct job *j)
{
	enum run_leftover	 found;

	found = run_kill_leftover(j->pid, j->pid_start, j->pid_boot,
	    j->jobs->boot_id);
	if (found == RUN_LEFTOVER_OTHER)
		log_info("job %lld: process group %d left alone: pid %d is "
		    "alive but not the process jqd started", (long long)j->id,
		    j->pid, j->pid);
	else if (found != RUN_LEFTOVER_NONE)
		log_warn("job %lld: killing process group %d left running by "
		    "the previous jqd%s", (long long)j->id, j->pid,
		    found == RUN_LEFTOVER_KILLED_ORPHANS ?
		    " (its main process had exited)" : "");
}
