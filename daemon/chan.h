/*
 * Channels: Go's chan, named and shared by every connection.
 *
 * A channel has a capacity (0 = unbuffered), a FIFO buffer of values, a
 * closed flag, and FIFO queues of parked senders and receivers (waitcases,
 * see waitq.h).  Invariants kept after every public call:
 *   - buffered: receivers wait only while the buffer is empty; senders wait
 *     only while the buffer has no room for the first of them;
 *   - unbuffered: the buffer is always empty; a sender and a receiver of
 *     different waiters never both wait;
 *   - a closed channel has no waiting senders, and waiting receivers only
 *     while values may still come back (leases);
 * so an operation that can proceed does so at once, in arrival order.
 *
 * This module never sees JSON, sockets or SQLite; values are opaque text.
 * Functions return enum chan_status unless said otherwise.
 */
#ifndef JQD_CHAN_H
#define JQD_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "map.h"
#include "value.h"
#include "waitq.h"

struct chan;
struct chanmap;
struct event;
struct event_base;

/*
 * A lease: a value handed out by a recv with lease_ms, still occupying its
 * slot until acked (gone for good) or returned (nack, expiry, its owner's
 * connection closing: back to the front, redelivered + 1).  The lease of a
 * named consumer belongs to that consumer's record, not to a connection:
 * only ack, nack and expiry end it, and it is stored (the lease hook).
 *
 * A nack with a delay turns the lease into a delayed return: the value
 * still holds its slot, owned by nobody, out of reach of ack and of
 * receivers, until the delay passes and it goes to the front.
 */
struct lease {
	TAILQ_ENTRY(lease)	 chan_entry;	/* chan->leases or ->delayed */
	TAILQ_ENTRY(lease)	 owner_entry;	/* *owner */
	struct map_entry	 id_entry;	/* chan_totals leases */
	uint64_t		 id;		/* 0 once delayed */
	struct chan		*chan;
	struct value		*value;		/* owned */
	struct event		*timer;		/* expiry, or end of delay */
	struct lease_list	*owner;		/* a connection's, a consumer's,
						   or NULL (delayed) */
	struct consumer		*consumer;	/* NULL: unnamed or delayed */
	int64_t			 deadline_ms;	/* wall clock, unix ms */
	bool			 delayed;
};

TAILQ_HEAD(lease_list, lease);

/*
 * A named consumer: the leases it holds, whatever connection took them.
 * It exists while it holds a lease (made by its first, freed with its
 * last), so there are never more records than leases.
 */
struct consumer {
	struct map_entry	 name_entry;	/* chan_totals consumers */
	struct lease_list	 leases;
	size_t			 nleases;
	size_t			 name_len;
	char			 name[];
};

/*
 * What a lease costs in memory beside its value, counted in
 * chan_totals.bytes while it lasts: struct lease (112 bytes), its timer
 * (libevent's struct event, 128), their malloc headers, and its share of
 * the lease table.  A consumer record costs CHAN_CONSUMER_OVERHEAD plus
 * its name.
 */
#define CHAN_LEASE_OVERHEAD	256
#define CHAN_CONSUMER_OVERHEAD	64

/* Lease ids reserved on disk at a time (chan_hooks.lease_ids). */
#define CHAN_LEASE_ID_CHUNK	65536

/*
 * Persistence hooks: called as values enter a buffer (push), leave their
 * channel for good (take) or go back to its front (requeue, which also
 * ends any stored lease of the value); as a durable lease begins or
 * changes (lease: a named consumer's lease taken or touched, a delayed
 * return begun; l says which); and as lease ids up to limit are about to
 * be handed out (lease_ids: so that no id is ever used twice, across
 * restarts too).  The server points them at the store; unit tests leave
 * them NULL.
 */
struct chan_hooks {
	void	(*push)(void *arg, struct chan *ch, struct value *v);
	void	(*take)(void *arg, struct chan *ch, struct value *v);
	void	(*requeue)(void *arg, struct chan *ch, struct value *v);
	void	(*lease)(void *arg, struct chan *ch, const struct lease *l);
	void	(*lease_ids)(void *arg, uint64_t limit);
};

/* Server-wide state every channel shares and keeps up to date. */
struct chan_totals {
	uint64_t		 values;	/* values held (buffered, leased) */
	/*
	 * Their memory: value_cost each, + CHAN_LEASE_OVERHEAD per lease
	 * or delayed return, + each consumer record's.
	 */
	uint64_t		 bytes;
	/* Values sent and received, every channel, since start (history). */
	uint64_t		 sent;
	uint64_t		 received;
	const struct chan_hooks	*hooks;		/* may be NULL */
	void			*hooks_arg;
	struct event_base	*base;		/* lease timers */
	struct map		 leases;	/* by id */
	struct map		 consumers;	/* by name */
	uint64_t		 next_lease_id;	/* the last one handed out */
	uint64_t		 lease_id_limit; /* reserved up to here */
	/* Dead letters (chan_dead_letter): where they go, what happened. */
	const struct chanmap	*chans;		/* by name; NULL: none */
	uint64_t		 dead_lettered;	/* moved (or deleted) */
	uint64_t		 dead_letter_missing; /* returned instead */
};

struct chan {
	struct map_entry	 name_entry;	/* chanmap */
	struct chan_totals	*totals;
	int64_t			 store_id;
	uint64_t		 seq;		/* store sequence of make/close */
	uint64_t		 take_seq;	/* store batch of the last take */
	uint32_t		 cap;
	bool			 closed;
	struct value_list	 buf;
	size_t			 len;		/* values in buf */
	size_t			 bytes;		/* their size */
	size_t			 leased;	/* values out on lease */
	size_t			 ndelayed;	/* delayed returns (nack) */
	struct lease_list	 leases;
	struct lease_list	 delayed;
	struct waitcase_list	 recvq;
	struct waitcase_list	 sendq;
	size_t			 nrecv;
	size_t			 nsend;
	uint64_t		 sent;		/* values ever sent */
	uint64_t		 received;	/* values ever received */
	/*
	 * A value returned (nack, expiry, owner gone) after max_deliveries
	 * leased receives moves to dead_letter, or is deleted without one;
	 * see chan_dead_letter.  0 and NULL: no limit, none.
	 */
	uint32_t		 max_deliveries;
	char			*dead_letter;	/* a channel name; owned */
	uint64_t		 dead_lettered;	/* values that went */
	size_t			 name_len;
	char			 name[];
};

enum chan_status {
	CHAN_OK,
	CHAN_BLOCKED,		/* cannot proceed now; nothing changed */
	CHAN_CLOSED,		/* send: closed; recv: closed and drained */
};

/* A new, empty channel.  Aborts on OOM. */
struct chan	*chan_new(const char *name, size_t name_len, uint32_t cap,
		    struct chan_totals *totals);
/* Append a value found in the store at start-up (no hooks run). */
void		 chan_restore(struct chan *ch, struct value *v);
/*
 * Set the redelivery limit (0: none) and dead-letter channel name (NULL:
 * none; needs a limit).  Aborts on OOM.
 */
void		 chan_set_dead_letter(struct chan *ch, uint32_t max_deliveries,
		    const char *dead_letter);
/* Free a channel and its buffer.  It must have no waiters (chan_drop). */
void		 chan_free(struct chan *ch);

/* Could a send of n values, or a recv, proceed now? */
bool		 chan_send_ready(const struct chan *ch, size_t n);
bool		 chan_recv_ready(const struct chan *ch);

/*
 * Send n values now (n > 1 only on buffered channels, n <= cap).  CHAN_OK:
 * the values were moved out of *values into the buffer or to receivers.
 * CHAN_BLOCKED or CHAN_CLOSED: *values untouched.
 */
enum chan_status chan_send(struct chan *ch, struct value_list *values,
		    size_t n);

/*
 * Hand the single value in *values straight to the first waiting receiver,
 * as an unbuffered channel does, when that is what a send would do anyway:
 * the channel is open, its buffer empty and the receiver takes no lease.
 * The value never enters the buffer, so no push or take hook runs.  Returns
 * false, *values untouched, when no such receiver waits; true with
 * *receiver_seq (unless NULL) set to what the receiver's waiter callback
 * returned: the commit sequence of its reply (waiter_cb).
 */
bool		 chan_handoff(struct chan *ch, struct value_list *values,
		    uint64_t *receiver_seq);
/* Would chan_handoff hand a value over now? */
bool		 chan_handoff_ready(const struct chan *ch);

/*
 * Receive now: on CHAN_OK, 1..max values are appended to *out (stopping
 * before the total size would pass max_bytes, but always at least one) and
 * *nout says how many.  With a lease, *out gets copies whose lease_id
 * names the lease; the originals stay with the lease.
 */
enum chan_status chan_recv(struct chan *ch, const struct chan_recv_opts *o,
		    struct value_list *out, size_t *nout);

/*
 * Leases.  chan_recv_opts.consumer names the consumer that owns the
 * leases a recv takes; without one, they join chan_recv_opts.owner.
 */
/* Zero t's maps; base runs the lease timers. */
void		 chan_totals_init(struct chan_totals *t, struct event_base *base);
/* The live lease with this id (not a delayed return), or NULL. */
struct lease	*chan_lease_find(struct chan_totals *t, uint64_t id);
/* Ack: the value is gone for good. */
void		 chan_lease_ack(struct lease *l);
/*
 * Give the leased value the reason of a nack: len bytes of JSON text (0:
 * none, at most VALUE_REASON_MAX), kept with it until its next nack.
 */
void		 chan_lease_set_reason(struct lease *l, const char *json,
		    size_t len);
/*
 * The one return path: nack, expiry, owner gone.  Having used up the
 * channel's max_deliveries, the value goes to its dead-letter channel
 * (chan_dead_letter in chan.c) at once, whatever delay_ms.  Otherwise
 * redelivered + 1; then the value goes back to the front, or with
 * delay_ms > 0 stays out of reach, owned by nobody, until delay_ms have
 * passed.
 */
void		 chan_lease_return(struct lease *l, int64_t delay_ms);
/* Return every lease of an owner (its connection closed). */
void		 chan_lease_return_all(struct lease_list *owner);
/* The lease now ends lease_ms from now; returns that deadline (unix ms). */
int64_t		 chan_lease_touch(struct lease *l, int64_t lease_ms);
/*
 * A value found in the store at start-up out on a lease of consumer
 * (lease id > 0), or on a delayed return (id 0, consumer NULL), until
 * deadline_ms (unix ms; already past: it ends on the loop's first turn).
 * No hooks run.
 */
void		 chan_restore_lease(struct chan *ch, struct value *v,
		    uint64_t id, const char *consumer, size_t consumer_len,
		    int64_t deadline_ms);
/* Free the lease and consumer tables (all channels freed first). */
void		 chan_totals_fini(struct chan_totals *t);

/*
 * Close: waiting senders fail with WAKE_CLOSED, waiting receivers get
 * WAKE_CLOSED once the buffer is drained.  Returns CHAN_CLOSED if the
 * channel was already closed.
 */
enum chan_status chan_close(struct chan *ch);

/* Wake every waiter with WAKE_DROPPED; the caller then frees ch. */
void		 chan_drop(struct chan *ch);

/*
 * Queue linkage for waitq.c.  chan_dequeue says whether wc was the first
 * waiting sender; chan_serve then lets the others proceed if they can.
 */
void		 chan_enqueue(struct chan *ch, struct waitcase *wc);
bool		 chan_dequeue(struct chan *ch, struct waitcase *wc);
void		 chan_serve(struct chan *ch);

#endif
