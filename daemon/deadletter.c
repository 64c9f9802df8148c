/*
 * Dead letters: the envelope (see deadletter.h).  Written by hand, not
 * through jansson: the value and the reason are JSON text already and go
 * in unparsed, so a value comes out byte for byte as it was sent.
 */
#include <inttypes.h>

#include "deadletter.h"
#include "strbuf.h"
#include "value.h"

struct value *
deadletter_envelope(const char *chan, size_t chan_len, const struct value *v,
    uint64_t deliveries, int64_t dead_ms)
{
	struct strbuf	 sb = STRBUF_INIT;
	struct value	*env;

	strbuf_reserve(&sb, chan_len + v->len + v->reason_len + 128);
	strbuf_appendf(&sb, "{\"chan\":\"%.*s\",\"value\":", (int)chan_len,
	    chan);
	strbuf_append(&sb, v->data, v->len);
	strbuf_appendf(&sb, ",\"deliveries\":%" PRIu64 ",\"reason\":",
	    deliveries);
	if (v->reason_len > 0)
		strbuf_append(&sb, value_reason(v), v->reason_len);
	else
		strbuf_append(&sb, "null", 4);
	strbuf_appendf(&sb, ",\"dead_ms\":%" PRId64 "}", dead_ms);
	env = value_new(sb.data, sb.len);
	strbuf_fini(&sb);
	return env;
}
