/*
 * A channel value: the compact JSON text a client sent, kept as bytes.
 * Channels never look inside a value; only its size matters to them (for
 * max_value, max_buffered_bytes and max_frame of a recv reply).
 */
#ifndef JQD_VALUE_H
#define JQD_VALUE_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct value {
	TAILQ_ENTRY(value)	 entry;
	int64_t			 store_id;	/* row in the store; 0 if none */
	uint64_t		 store_seq;	/* batch holding its insert */
	size_t			 store_rec;	/* ... at this index */
	uint64_t		 lease_id;	/* lease that handed it out */
	uint32_t		 redelivered;
	/*
	 * Sent by a client (not a job's result): while it has never reached
	 * the disk, a receiver may have it before its sender's ack is due.
	 */
	bool			 transient;
	/*
	 * While the send that brought it waits for its ack: where that call
	 * points back at this value (see conn.h, call->sent).  Cleared by
	 * whichever of the two goes first.
	 */
	struct value		**sent_ref;
	size_t			 len;
	char			 data[];	/* len bytes + NUL */
};

TAILQ_HEAD(value_list, value);

/* A new value holding a copy of len bytes of json.  Aborts on OOM. */
struct value	*value_new(const char *json, size_t len);
/* A new value of len bytes for the caller to fill.  Aborts on OOM. */
struct value	*value_alloc(size_t len);
void		 value_free(struct value *v);
/* Free every value of list and leave it empty. */
void		 value_list_free(struct value_list *list);

#endif
