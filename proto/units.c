/*
 * Numbers with units (see units.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "units.h"

#define NS_PER_MS	INT64_C(1000000)

/*
 * The unit at *p (longest first: "ms" before "m"), its length in *len.
 * Returns its length in ms, or 0 if there is none.
 */
static int64_t
units_duration_unit(const char *p, size_t *len)
{
	static const struct {
		const char	*unit;
		int64_t		 ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 },
	};
	size_t	 i, n;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		n = strlen(units[i].unit);
		if (strncmp(p, units[i].unit, n) == 0) {
			*len = n;
			return units[i].ms;
		}
	}
	*len = 0;
	return 0;
}

/*
 * A duration is a sum of parts, each a decimal number with an optional
 * fraction and a unit, as Go's time.ParseDuration reads them ("1h2m3.5s";
 * any order, as Go).  A lone number without a unit is seconds, as it was
 * before parts could be combined; within a sum every part needs its unit,
 * so that "1m30" is refused rather than guessed at.  Whole milliseconds
 * add up exactly; fractions of one are kept in nanoseconds and the total
 * rounds up.
 */
int
units_parse_duration(const char *s, int64_t *out)
{
	const char	*p = s;
	int64_t		 total = 0, rem_ns = 0, whole, frac, scale, mult, ms;
	int		 digits, parts = 0;
	size_t		 ulen;

	do {
		whole = frac = 0;
		scale = 1;
		digits = 0;
		for (; isdigit((unsigned char)*p); p++, digits++) {
			if (whole > PROTO_INT_MAX)
				return -1;
			whole = whole * 10 + (*p - '0');
		}
		if (*p == '.') {
			/* Digits past nanoseconds cannot matter to a timeout. */
			for (p++; isdigit((unsigned char)*p); p++, digits++) {
				if (scale < 1000000000) {
					frac = frac * 10 + (*p - '0');
					scale *= 10;
				}
			}
		}
		if (digits == 0)
			return -1;
		mult = units_duration_unit(p, &ulen);
		if (mult == 0) {
			/* A bare number: seconds, and only on its own. */
			if (*p != '\0' || parts > 0)
				return -1;
			mult = 1000;
		}
		p += ulen;
		parts++;
		if (whole > (PROTO_INT_MAX - total) / mult)
			return -1;
		/* frac < scale <= 10^9 and mult <= 8.64 * 10^7: no overflow. */
		ms = whole * mult + frac * mult / scale;
		rem_ns += frac * mult % scale * NS_PER_MS / scale;
		if (frac * mult % scale * NS_PER_MS % scale != 0)
			rem_ns++;
		total += ms + rem_ns / NS_PER_MS;
		rem_ns %= NS_PER_MS;
		if (total > PROTO_INT_MAX)
			return -1;
	} while (*p != '\0');
	if (rem_ns > 0)
		total++;
	if (total > PROTO_INT_MAX)
		return -1;
	*out = total;
	return 0;
}

char *
units_format_duration(char *buf, size_t len, int64_t ms)
{
	long long	 s = (long long)(ms / 1000);

	if (ms < 0)
		snprintf(buf, len, "-");
	else if (ms < 1000)
		snprintf(buf, len, "%lldms", (long long)ms);
	else if (ms < 60000)
		snprintf(buf, len, "%lld.%llds", s,
		    (long long)(ms % 1000 / 100));
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
	return buf;
}

int64_t
units_clock_ms(clockid_t clock)
{
	struct timespec	 ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timeval
units_ms_timeval(int64_t ms)
{
	struct timeval	 tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return tv;
}
