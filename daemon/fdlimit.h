/*
 * The descriptor budget: make max-connections fit RLIMIT_NOFILE.
 *
 * Every client connection is a descriptor, and so are the database, the
 * listeners, the metrics server and each running job's pipes.  A
 * max-connections above what the limit leaves for clients would let
 * accept() fail with EMFILE before the limit is reached: clients would hang
 * in the backlog with no `limit` frame, and jobs would fail to start.
 */
#ifndef JQD_FDLIMIT_H
#define JQD_FDLIMIT_H

struct config;

/*
 * At start, before anything is opened: raise the soft RLIMIT_NOFILE (up to
 * the hard limit) to what max-connections and the rest need; if that does
 * not fit, lower cfg->max_connections to what does (logged as a warning).
 * The limit chosen is logged at info in every case.  Sets cfg->job_nofile
 * to the soft limit jqd started with when it raised it, for the jobs
 * (run.c).  Never fails: a limit it cannot change is worked with.
 */
void	 fdlimit_fit(struct config *cfg);

#endif
