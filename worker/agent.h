/*
 * agent: jq-worker's session with jqd (PROTOCOL.md 11.16-11.22) on the
 * event loop -- register with the attempts held, keep one worker_take
 * parked, heartbeat, stream output, send results until acknowledged, obey
 * stop/drop/drain, fence, and stop on request.  The network is link.c's
 * thread; the processes are attempt.c's, on the same loop as this.
 *
 * The agent ends the loop (event_base_loopexit) when it is done: drained
 * by the server and idle (status 0), stopped by agent_terminate once every
 * attempt's result was acknowledged (0) or the wait for that ran out (1),
 * or on a refusal it cannot fix (1).
 */
#ifndef JQW_AGENT_H
#define JQW_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "link.h"

struct event_base;
struct runner;
struct agent;

struct agent_conf {
	const char	*id;		/* the worker id */
	const char	*host;
	const char	*version;
	int64_t		 slots;
	int64_t		 prefetch;	/* held beyond slots at most; 0: none */
	char *const	*pools;
	size_t		 npools;
	char *const	*labels;	/* key, value, key, value, ... */
	size_t		 nlabels;	/* pairs */
	const char	*job_dir;	/* absolute */
	const char	*record_dir;	/* NULL: none */
	const char	*boot_id;	/* "": unknown */
	struct link_conf link;
};

/* Everything in conf is borrowed for the agent's life. */
/*
 * Prefetch (PROTOCOL.md 11.18): while the recent attempts are short (an
 * average run time under AGENT_PREFETCH_SHORT_MS, and none running longer
 * than that), the agent takes assignments beyond its free slots -- about
 * AGENT_PREFETCH_AHEAD_MS of work per slot at that average, at most
 * `prefetch` -- and starts each the moment a slot frees, so the commit and
 * the round trip of the next assignment overlap a running job.  One not
 * started within AGENT_PREFETCH_HOLD_MS is handed back ("returned"), as
 * are all held ones on drain, stop and fencing.
 */
#define AGENT_PREFETCH_SHORT_MS	50
#define AGENT_PREFETCH_AHEAD_MS	10
#define AGENT_PREFETCH_HOLD_MS	250

struct agent	*agent_new(struct event_base *base, struct runner *runner,
		    const struct agent_conf *conf);
/*
 * SIGTERM or SIGINT: stop every attempt as a drain ("stopped": "drain",
 * so the server queues it again without counting it), wait for the
 * acknowledgements (at most kill_grace + AGENT_STOP_SLACK_MS), end.  A
 * second call ends at once (attempts killed).
 */
#define AGENT_STOP_SLACK_MS	5000
void		 agent_terminate(struct agent *ag);
/* The exit status once the loop ended. */
int		 agent_exit_status(const struct agent *ag);
/* Kill what still runs, stop the network thread, free. */
void		 agent_free(struct agent *ag);

#endif
