/*
 * Numbers with units (see units.h).
 */
#include <ctype.h>
#include <string.h>

#include "units.h"

int
units_parse_duration(const char *s, int64_t *out)
{
	static const struct {
		const char	*unit;
		int64_t		 ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	const char	*p = s;
	int64_t		 whole = 0, frac = 0, scale = 1, mult = 0, ms;
	int		 digits = 0;
	size_t		 i;

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
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].unit) == 0)
			mult = units[i].ms;
	if (mult == 0 || whole > PROTO_INT_MAX / mult)
		return -1;
	ms = whole * mult + (frac * mult + scale - 1) / scale;
	if (ms > PROTO_INT_MAX)
		return -1;
	*out = ms;
	return 0;
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
