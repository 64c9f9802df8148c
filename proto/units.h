/*
 * Numbers with units, as both sides of the protocol read and write them:
 * the largest integer the protocol carries, durations ("1m30s", read and
 * written), and milliseconds as a struct timeval.
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
 * A duration: a sum of parts, each a decimal number with an optional
 * fraction and a unit of ms, s, m, h or d, as Go writes them ("1m30s",
 * "1h2m3.5s", "250ms", "1.5s"); a lone number without a unit is seconds
 * ("90").  At most PROTO_INT_MAX ms.  Computed in integers, so "1.5s" is
 * exactly 1500; a fraction of a millisecond rounds up, so a duration that
 * is not zero never becomes 0 ("do not wait").  Returns 0, or -1 if s is
 * not one (no sign, no spaces, no unit other than those).
 */
int		 units_parse_duration(const char *s, int64_t *ms);

/*
 * ms for a person, compact and as units_parse_duration reads it back (to
 * the precision shown): "3ms", "1.2s" (tenths, truncated), "1m05s",
 * "2h03m", "1d02h"; "-" for a negative ms (none).  Returns buf.
 */
char		*units_format_duration(char *buf, size_t len, int64_t ms);
/* Room for any units_format_duration() text. */
#define UNITS_DURATION_MAX	32

/* Milliseconds on clock (CLOCK_MONOTONIC, CLOCK_REALTIME). */
int64_t		 units_clock_ms(clockid_t clock);

/* ms (>= 0) as a struct timeval, for timers. */
struct timeval	 units_ms_timeval(int64_t ms);

#endif
