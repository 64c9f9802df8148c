/*
 * A dead letter: the envelope a leased value is wrapped in when it has
 * been delivered max_deliveries times without an ack and moves to its
 * channel's dead-letter channel (chan.c, chan_dead_letter; PROTOCOL.md
 * 6.7).  Any client can read it as an ordinary value and requeue its
 * "value" member:
 *
 *   {"chan":"<source>","value":<the value, unchanged>,"deliveries":n,
 *    "reason":<the last nack's reason, or null>,"dead_ms":<unix ms>}
 */
#ifndef JQD_DEADLETTER_H
#define JQD_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

struct value;

/*
 * A new value (not yet in any channel) holding v's envelope: chan is the
 * source channel's name (no byte of a valid name needs an escape), v's
 * text and nack reason are spliced in as they are.  Aborts on OOM.
 */
struct value	*deadletter_envelope(const char *chan, size_t chan_len,
		    const struct value *v, uint64_t deliveries,
		    int64_t dead_ms);

#endif
