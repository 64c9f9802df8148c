/*
 * Delivery of a final job's result to its result_chan (job-deliver.c):
 * sent like any client's value, parked on the channel while it has no
 * room, and the job marked delivered in the same commit as the value.
 */
#ifndef JQD_JOB_DELIVER_H
#define JQD_JOB_DELIVER_H

#include <sys/queue.h>
#include <stdint.h>

struct job;
struct server;
struct waiter;

/* A result on its way to a result_chan that had no room. */
struct delivery {
	TAILQ_ENTRY(delivery)	 entry;		/* server->deliveries */
	struct server		*server;
	int64_t			 job;
	struct waiter		*w;		/* parked send */
};

/*
 * Deliver j's result to its result_chan if that is still to do.  Never
 * waits: a send that would block parks (freed with its waiter; the server
 * frees what is left on server->deliveries when it stops).
 */
void	 job_deliver(struct server *s, struct job *j);

#endif
