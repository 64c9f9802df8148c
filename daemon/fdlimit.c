/*
 * The descriptor budget (see fdlimit.h).
 *
 * What jqd needs beside its client connections, counted generously since
 * running out fails other tenants' jobs:
 *   - FDLIMIT_FIXED: stdin/out/err, the event loop (epoll, the signal
 *     socketpair, the store thread's wake-up), the database and its WAL
 *     (and SQLite's brief directory open), a job being started (its stdin
 *     and the job's ends of three pipes until the spawn returns), the
 *     connection accepted only to be refused at max-connections, and room
 *     for what opens briefly (/proc reads, the token file on SIGHUP);
 *   - with --metrics, its listener, METRICS_MAX_CONNS connections and one
 *     being refused;
 *   - one per listener (configured or passed by systemd);
 *   - FDLIMIT_PER_WORKER for each worker: a running job's stdout, stderr
 *     and progress pipes.
 *
 * The soft limit is raised only as far as that total needs (never above
 * the hard limit, never lowered): jobs get the soft limit jqd started with
 * back (run.c), as systemd keeps 1024 for services, because programs
 * that select() or close every descriptor up to the limit misbehave with
 * a huge one.
 */
#include <sys/resource.h>
#include <inttypes.h>
#include <stdio.h>

#include <systemd/sd-daemon.h>

#include "config.h"
#include "fdlimit.h"
#include "log.h"
#include "metrics.h"

#define FDLIMIT_FIXED		32
#define FDLIMIT_PER_WORKER	3

/* Descriptors needed for everything but client connections. */
static uint64_t
fdlimit_reserve(const struct config *cfg)
{
	uint64_t	 n = FDLIMIT_FIXED;
	int		 activated = sd_listen_fds(0);

	if (cfg->metrics != NULL)
		n += 2 + METRICS_MAX_CONNS;
	n += cfg->nlisten + cfg->nunix + (activated > 0 ? activated : 0);
	n += (uint64_t)cfg->workers * FDLIMIT_PER_WORKER;
	return n;
}

/* "unlimited" or the number, for the log. */
static const char *
fdlimit_str(rlim_t v, char *buf, size_t len)
{
	if (v == RLIM_INFINITY)
		return "unlimited";
	snprintf(buf, len, "%" PRIu64, (uint64_t)v);
	return buf;
}

void
fdlimit_fit(struct config *cfg)
{
	struct rlimit	 rl;
	uint64_t	 reserve = fdlimit_reserve(cfg);
	uint64_t	 need = cfg->max_connections + reserve;
	rlim_t		 start;
	char		 hard[32];

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit(RLIMIT_NOFILE) failed; max-connections "
		    "%" PRIu64 " unchecked", cfg->max_connections);
		return;
	}
	start = rl.rlim_cur;
	fdlimit_str(rl.rlim_max, hard, sizeof(hard));
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			rl.rlim_cur = start;
		if (rl.rlim_cur != start)
			cfg->job_nofile = start;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		uint64_t	 fit = rl.rlim_cur > reserve + 1 ?
		    rl.rlim_cur - reserve : 1;

		log_warn("max-connections %" PRIu64 " does not fit in the "
		    "descriptor limit %" PRIu64 " (hard limit %s) with %"
		    PRIu64 " kept for the database, listeners, metrics and "
		    "job pipes: lowered to %" PRIu64 "; raise the hard limit "
		    "(ulimit -Hn, systemd LimitNOFILE=) to allow more",
		    cfg->max_connections, (uint64_t)rl.rlim_cur, hard, reserve,
		    fit);
		cfg->max_connections = fit;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		log_info("descriptor limit unlimited: max-connections %"
		    PRIu64, cfg->max_connections);
	else if (cfg->job_nofile != 0)
		log_info("descriptor limit %" PRIu64 " (raised from %" PRIu64
		    ", which jobs keep; hard limit %s; %" PRIu64 " kept beside "
		    "the connections): max-connections %" PRIu64,
		    (uint64_t)rl.rlim_cur, cfg->job_nofile, hard, reserve,
		    cfg->max_connections);
	else
		log_info("descriptor limit %" PRIu64 " (hard limit %s; %" PRIu64
		    " kept beside the connections): max-connections %" PRIu64,
		    (uint64_t)rl.rlim_cur, hard, reserve, cfg->max_connections);
}
