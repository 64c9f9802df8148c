/*
 * The dashboard's history (PROTOCOL.md 16, GET /api/history): what jqd
 * did in each of the last DASH_HISTORY_SAMPLES seconds, sampled once a
 * second while the HTTP listener is on.
 */
#ifndef JQD_DASH_HISTORY_H
#define JQD_DASH_HISTORY_H

#include <stddef.h>

#define DASH_HISTORY_SAMPLES	300
#define DASH_HISTORY_MS		1000

struct dash_history;
struct server;

/* Starts sampling s; never NULL. */
struct dash_history	*dash_history_new(struct server *s);
void			 dash_history_free(struct dash_history *h);
/*
 * {"ok":true,"interval_ms":..,"samples":[...]}, oldest first, as compact
 * JSON of *len bytes (the caller frees it).
 */
char			*dash_history_dump(const struct dash_history *h,
			    size_t *len);

#endif
