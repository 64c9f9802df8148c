/*
 * What the channel handlers (op-chan.c) and select (op-select.c) share:
 * values from requests, values into replies, the common wake-up errors.
 */
#ifndef JQD_OP_CHAN_H
#define JQD_OP_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "value.h"
#include "waitq.h"

struct call;

/*
 * A new value holding the JSON text of len bytes (a value's text as the
 * frame wrote it) without its insignificant whitespace, enforcing
 * max_value on that.  Returns NULL after answering the call (too_large).
 */
struct value	*op_text_value(struct call *call, const char *text,
		    size_t len, const char *what);

/* How many bytes of values a recv reply may carry (under max_frame). */
size_t		 op_recv_max_bytes(const struct call *call);

/*
 * Answer with r plus "value" (one) or "values" (an array) received from
 * ch; takes r.  r NULL stands for reply_ok(call_id(call)).  Returns the
 * commit sequence the reply was stamped with (see call_reply).
 */
uint64_t	 op_reply_values(struct call *call, const struct chan *ch,
		    json_t *r, struct value_list *values, bool multi);

/*
 * The store sequence a send handed to a receiver by chan_handoff() waits
 * for (see call_depend), given the sequence of the receiver's reply that
 * chan_handoff() returned: the send's ok leaves with that reply.
 */
uint64_t	 op_handoff_seq(const struct chan *ch, uint64_t receiver_seq);

/*
 * The consumer a receiver names: field "consumer" (checked like a
 * channel name), else its connection's default (hello), else NULL.  The
 * name is borrowed from the request or the connection.  0, or -1 after
 * answering the call.
 */
int		 op_get_consumer(struct call *call, const char **name);

/* The stat object of a channel (new reference). */
json_t		*op_chan_stat(const struct chan *ch);

/* Answer the outcomes every blocking op shares; false if not one. */
bool		 op_reply_wake_error(struct call *call,
		    enum wake_result result, const char *chan);

#endif
