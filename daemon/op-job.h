/*
 * The job side of the server that speaks JSON (op-job.c, job-codec.c):
 * hooks that store jobs, results as JSON, and the start-up restore of
 * stored jobs.  Delivery to a result_chan is in job-deliver.h.
 */
#ifndef JQD_OP_JOB_H
#define JQD_OP_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include <sys/queue.h>
#include <stdint.h>

struct call;
struct job;
struct job_spec;
struct proto_error;
struct server;
struct store_job;
struct strbuf;
struct waiter;

struct job_watch;

/* A parked `wait`, or `watch` (op-watch.c). */
struct job_wait {
	TAILQ_ENTRY(job_wait)	 entry;		/* server->job_waits */
	struct server		*server;
	struct call		*call;
	struct waiter		*w;
	int64_t			*ids;		/* sorted; or */
	size_t			 nids;
	char			*group;		/* NULL for ids */
	bool			 output;	/* results with stdout, stderr */
	struct job_watch	*watch;		/* NULL: a `wait` */
};

extern const struct job_hooks op_job_hooks;

/* op-job.c: how many of jw's jobs are not final (as `wait` counts). */
size_t	 op_wait_pending(struct server *s, const struct job_wait *jw);
/*
 * op-job.c: answer call with jw's results, as `wait` does; end: with
 * "end": true (the last line of a `watch`).
 */
void	 op_wait_reply(struct call *call, struct job_wait *jw, bool end);
/* op-job.c: unlink jw from server->job_waits and free it. */
void	 op_wait_free(struct job_wait *jw);

/* op-watch.c: the watchers' job hooks (arg is the server). */
void	 op_watch_state(void *arg, struct job *j);
void	 op_watch_progress(void *arg, struct job *j, int64_t done,
	    int64_t total);
void	 op_watch_output(void *arg, struct job *j, int stream,
	    const char *buf, size_t from, size_t len, bool end);

/* job-codec.c: the submit spec from a request (or a stored spec): 0, or
 * -1 with err set; the normalised spec text to store (caller frees). */
int	 op_job_parse_spec(const json_t *o, struct job_spec *spec,
	    struct proto_error *err);
char	*op_job_spec_text(const json_t *req);
/*
 * Whether a new job of spec may be queued now (submit, retry): its
 * result_chan exists, the store takes writes, max_queued_jobs is not
 * reached.  0, or -1 with the error replied.
 */
int	 op_job_admit(struct call *call, const struct job_spec *spec);
/* job-codec.c: the spec of a retry of j: 0, or -1 with err set. */
int	 op_job_retry_spec(const struct job *j, struct job_spec *spec,
	    struct proto_error *err);
/* job-codec.c: the store hooks (arg is the server). */
void	 op_job_save(void *arg, struct job *j);
void	 op_job_forget(void *arg, struct job *j);

/* A stored row back into a job (start-up).  0, or -1 with errbuf set. */
int	 op_job_restore(struct server *s, const struct store_job *row,
	    char *errbuf, size_t errlen);
/* The result object of j without stdout and stderr (new reference). */
json_t	*op_job_result(const struct job *j);
/*
 * Append j's result object as compact JSON to dst, with stdout and stderr
 * if output.  Output no longer in memory is read from the store: unless
 * wait, only if the database is free at once, else 1 and dst is unchanged.
 * Returns 0; -1 (logged, dst unchanged) if it cannot be read.
 */
int	 op_job_result_append(struct server *s, const struct job *j,
	    bool output, bool wait, struct strbuf *dst);

#endif
