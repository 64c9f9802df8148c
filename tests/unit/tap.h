/*
 * A minimal TAP producer for unit tests run through Automake's
 * tap-driver.sh.  ok() reports one check; done_testing() prints the plan
 * and returns the exit status; tap_bail() gives up on the whole program.
 */
#ifndef JQ_TAP_H
#define JQ_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count;
static int tap_failed;

static inline int
tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, ...)	tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(a, b, name) do {						\
	long long _a = (a), _b = (b);					\
	if (!ok(_a == _b, "%s", name))					\
		printf("#   got %lld, expected %lld\n", _a, _b);	\
} while (0)
#define is_str(a, b, name) do {						\
	const char *_a = (a), *_b = (b);				\
	int _eq = _a != NULL && _b != NULL && strcmp(_a, _b) == 0;	\
	if (!ok(_eq, "%s", name))					\
		printf("#   got '%s', expected '%s'\n",			\
		    _a ? _a : "(null)", _b ? _b : "(null)");		\
} while (0)

/* Stop the whole test: the harness reports why. */
static inline void
tap_bail(const char *why)
{
	printf("Bail out! %s\n", why);
	exit(1);
}

static inline int
done_testing(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
