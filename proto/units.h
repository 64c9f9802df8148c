/*
 * Numbers with units, as both sides of the protocol read and write them:
 * the largest integer the protocol carries, durations ("1.5s"), and
 * milliseconds as a struct timeval.
 */
#ifndef JQ_UNITS_H
#define JQ_UNITS_H

#include <sys/time.h>
#include <stdint.h>
#include <time.h>

/*
 * The largest integer on the wire (ids, times, timeouts): 2^53 - 1, which
 * every JSON implementation reads exactly.
 */
#define PROTO_INT_MAX	INT64_C(9007199254740991)

/*
 * A duration: a decimal number with an optional fraction and a unit of
 * ms, s, m, h or d (none: seconds), at most PROTO_INT_MAX ms.  Computed in
 * integers, so "1.5s" is exactly 1500; a fraction of a millisecond rounds
 * up, so a duration that is not zero never becomes 0 ("do not wait").
 * Returns 0, or -1 if s is not one.
 */
int		 units_parse_duration(const char *s, int64_t *ms);

/* Milliseconds on clock (CLOCK_MONOTONIC, CLOCK_REALTIME). */
int64_t		 units_clock_ms(clockid_t clock);

/* ms (>= 0) as a struct timeval, for timers. */
struct timeval	 units_ms_timeval(int64_t ms);

#endif
