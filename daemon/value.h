/*
 * A channel value: the JSON text a client sent (whitespace outside strings
 * removed: PROTOCOL.md 2), kept as bytes.
 * Channels never look inside a value; only its size matters to them (for
 * max_value and max_frame of a recv reply) and its cost in memory (for
 * max_buffered_bytes: value_cost).
 */
#ifndef JQD_VALUE_H
#define JQD_VALUE_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct call;
struct value_sender;

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
	 * The reason given by the last nack (PROTOCOL.md 10.5), as JSON
	 * text, stored after data's NUL; 0: none.  Fits the padding here.
	 */
	uint16_t		 reason_len;
	/* While the send that brought it waits for its ack: see below. */
	struct value_sender	*sender;
	size_t			 len;
	char			 data[];	/* len bytes + NUL */
};

TAILQ_HEAD(value_list, value);

/*
 * What a held value costs in memory beyond its text: the struct
 * (72 bytes on 64-bit Linux), the NUL, and the allocator's header and
 * rounding.  Measured with 2 million one-byte values in one channel: 87
 * bytes of RSS each with jemalloc, 101 with glibc's malloc.  Larger values
 * are rounded up further, by up to 15 bytes (glibc) or a quarter (jemalloc's
 * size classes), which this leaves out.  max_buffered_bytes and the
 * buffered_bytes figure count value_cost (PROTOCOL.md 8).
 */
#define VALUE_OVERHEAD	96
_Static_assert(sizeof(struct value) + 1 + 16 <= VALUE_OVERHEAD,
    "VALUE_OVERHEAD must cover struct value, its NUL and a malloc header");

static inline uint64_t
value_cost(const struct value *v)
{
	return (uint64_t)v->len + v->reason_len + VALUE_OVERHEAD;
}

/* The longest nack reason as JSON text: 1 KiB, every byte escaped. */
#define VALUE_REASON_MAX	(6 * 1024 + 2)

/*
 * The tie between a value a client sent and the send (a call, conn.h)
 * whose ack waits for the value's insert to be committed: should the
 * value be received before that, the ack need not wait (call_sent_track,
 * call_sent_delivered).  The call holds it (struct call's "sent") and
 * unties it when it ends or stops waiting; a value freed first unties it
 * too.  Each side reaches the other through the tie's two pointers, never
 * by working out a containing struct.  No allocation: it lives in the
 * call, so value_cost leaves it out.
 */
struct value_sender {
	struct call		*call;		/* the send */
	struct value		*value;		/* NULL: untied */
};

/* A new value holding a copy of len bytes of json.  Aborts on OOM. */
struct value	*value_new(const char *json, size_t len);
/* A new value of len bytes for the caller to fill.  Aborts on OOM. */
struct value	*value_alloc(size_t len);
void		 value_free(struct value *v);
/*
 * v with its nack reason replaced by len bytes of JSON text (len 0: none,
 * at most VALUE_REASON_MAX): a new value taking v's place and its sender
 * tie; v is freed.  v must be on no list.  Aborts on OOM.
 */
struct value	*value_set_reason(struct value *v, const char *json,
		    size_t len);
/* v's nack reason (JSON text, reason_len bytes), or NULL. */
const char	*value_reason(const struct value *v);
/* Tie v (untied) through vs (untied) to the send call. */
void		 value_sender_tie(struct value_sender *vs, struct value *v,
		    struct call *call);
/* Untie vs from its value (no-op if untied). */
void		 value_sender_untie(struct value_sender *vs);
/* Free every value of list and leave it empty. */
void		 value_list_free(struct value_list *list);

#endif
