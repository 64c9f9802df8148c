/*
 * Parked requests.  A waiter is one blocked request (send, recv, select): it
 * has one waitcase per channel case it waits on, each linked into that
 * channel's queue of waiting senders or receivers, and an optional timer.
 *
 * A waiter ends exactly once: the first of its cases to proceed, its timer,
 * or its channel being closed or dropped calls waiter_wake(), which unlinks
 * every case, stops the timer, runs the owner's callback and frees the
 * waiter.  waiter_free() ends it silently (the connection went away): sends
 * that had not completed are not applied.
 *
 * Callbacks run in the middle of another request's channel operation, so
 * they must not touch channels; they record the outcome and schedule the
 * owner to continue (call_unpark, which wakes the connection's
 * ev_resume).
 */
#ifndef JQD_WAITQ_H
#define JQD_WAITQ_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "value.h"

struct chan;
struct lease_list;
struct event;
struct event_base;
struct waiter;

enum wake_result {
	WAKE_SENT,		/* send case: its values were delivered */
	WAKE_RECEIVED,		/* recv case: values handed over */
	WAKE_CLOSED,		/* the channel is closed (send), or closed
				   and drained (recv) */
	WAKE_DROPPED,		/* the channel was dropped */
	WAKE_TIMEOUT,		/* timeout_ms passed; index is -1 */
	WAKE_SHUTDOWN,		/* the server is stopping; index is -1 */
	WAKE_READY,		/* a waiter without cases: its owner's
				   condition holds (jobs done); index -1 */
	WAKE_ABORTED,		/* abort named the parked request (conn.h,
				   conn_abort): it took nothing and ends
				   "canceled"; index is -1.  Every owner
				   of a parked call handles it */
};

/* How a receiver takes values (see chan_recv). */
struct chan_recv_opts {
	size_t			 max;		/* at most this many */
	size_t			 max_bytes;	/* total size; the first value
						   is taken even if larger */
	int64_t			 lease_ms;	/* > 0: lease (buffered only) */
	struct lease_list	*owner;		/* leases join this list */
	/* Or, if not NULL, the named consumer they belong to (borrowed). */
	const char		*consumer;
	size_t			 consumer_len;
};

struct waitcase {
	TAILQ_ENTRY(waitcase)	 entry;		/* chan's recvq or sendq */
	struct waiter		*waiter;
	struct chan		*chan;
	int			 index;		/* case index (select), or 0 */
	bool			 is_send;
	bool			 linked;
	bool			 was_head;	/* first sender when unlinked */
	/* send: the values to deliver, owned until delivered */
	struct value_list	 values;
	size_t			 nvalues;
	/* recv: how to take values */
	struct chan_recv_opts	 recv;
};

TAILQ_HEAD(waitcase_list, waitcase);

/*
 * The owner's callback.  values (recv cases) holds what was received and is
 * the callback's to take (TAILQ_CONCAT); what it leaves is freed.  For
 * WAKE_RECEIVED it returns the commit sequence its reply to the receiver
 * was stamped with (conn.h, call_reply), which a sender that handed the
 * value over waits for too (chan_handoff); otherwise 0.
 */
typedef uint64_t waiter_cb(struct waiter *w, int index,
    enum wake_result result, struct value_list *values, void *arg);

struct waiter {
	waiter_cb		*cb;
	void			*arg;
	/* Optional: runs whenever the waiter is freed, woken or not. */
	void			(*free_cb)(struct waiter *w, void *arg);
	struct event		*timer;
	int			 ncases;
	struct waitcase		 cases[];
};

/*
 * A waiter with ncases empty cases (fill chan, is_send, values/max before
 * parking).  A waiter with no cases waits for its owner to wake it
 * (WAKE_READY) or for its timer.  Aborts on OOM.
 */
struct waiter	*waiter_new(int ncases, waiter_cb *cb, void *arg);

/*
 * Link every case into its channel's queue and arm the timer when
 * timeout_ms >= 0 (a timeout of 0 is the caller's to handle without
 * parking).
 */
void		 waiter_park(struct waiter *w, struct event_base *base,
		    int64_t timeout_ms);

/*
 * End the waiter with result on case wc (NULL for timeout/shutdown).  Calls
 * the callback, then frees the waiter.  values may be NULL.  Returns what
 * the callback returned.
 */
uint64_t	 waiter_wake(struct waiter *w, struct waitcase *wc,
		    enum wake_result result, struct value_list *values);

/* Unlink and free without calling back; pending send values are dropped. */
void		 waiter_free(struct waiter *w);

#endif
