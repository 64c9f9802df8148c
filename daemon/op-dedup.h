/*
 * Idempotent sends on the wire (PROTOCOL.md 6.6): the "key" of send, the
 * dedup settings of make, what stat shows.  The handlers in op-chan.c
 * call these; the keys themselves are dedup.c's.
 */
#ifndef JQD_OP_DEDUP_H
#define JQD_OP_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "value.h"

struct call;
struct chan;
struct server;
struct proto_error;

/* A channel's own dedup settings from make (0: the server's default). */
struct op_dedup_opts {
	int64_t		 window_ms;
	int64_t		 max;
};

/* Read send's "key" (NULL if absent).  0, or -1 with err set. */
int	 op_dedup_key(struct call *call, const char **key,
	    struct proto_error *err);
/*
 * Before a keyed send to ch acts: true to go on; false after answering
 * (duplicate: ok; a send with the key still blocked: exists; no memory
 * left for keys: limit).
 */
bool	 op_dedup_check(struct call *call, const struct chan *ch,
	    const char *key);
/*
 * The keyed send's values: their receivers' replies wait for the key's
 * commit like the send's own ok (never handed on unstored).
 */
void	 op_dedup_values(struct value_list *values);
/* The send takes effect now: remember its key. */
void	 op_dedup_sent(struct call *call, const struct chan *ch,
	    const char *key);
/*
 * The send parks on w (not parked yet): its key is held until w ends and
 * remembered if w wakes with WAKE_SENT, before w's callback answers.
 * Wraps w's callback and argument and sets its free_cb.
 */
void	 op_dedup_park(struct call *call, const struct chan *ch,
	    const char *key, struct waiter *w);

/* Read make's dedup fields.  0, or -1 with err set. */
int	 op_dedup_make_opts(struct call *call, struct op_dedup_opts *o,
	    struct proto_error *err);
/* True (after answering exists) if an existing ch was made otherwise. */
bool	 op_dedup_make_conflict(struct call *call, const struct chan *ch,
	    const struct op_dedup_opts *o);
/* A new channel's own settings, in memory and in the store. */
void	 op_dedup_make(struct call *call, const struct chan *ch,
	    const struct op_dedup_opts *o);
/* stat's dedup members, added to r if ch has keys or settings. */
void	 op_dedup_stat(struct call *call, const struct chan *ch, json_t *r);

/* The "dedup" object of stats (new reference; shown while keys are held). */
json_t	*op_dedup_stats(const struct server *s);

#endif
