/*
 * jqc-tap.h: TAP checks of libjqclient calls (tap.h's ok() underneath),
 * shared by test-jqclient.c and test-jqc-mux.c.  Each runs call once,
 * checks its return value and jqc_errcode(c), and on a mismatch logs
 * what came instead.
 */
#ifndef JQ_JQC_TAP_H
#define JQ_JQC_TAP_H

#include "jqclient.h"
#include "tap.h"

/* A call expected to fail with code; the message goes to the TAP log. */
#define fails_with(c, call, code, name) do {				\
	int _rc = (call);						\
	if (!ok(_rc == -1 && jqc_errcode(c) == (code), "%s", name))	\
		printf("#   rc %d, errcode %s (%s), expected %s\n",	\
		    _rc, jqc_err_name(jqc_errcode(c)), jqc_error(c),	\
		    jqc_err_name(code));				\
} while (0)

#define succeeds(c, call, name) do {					\
	int _rc = (call);						\
	if (!ok(_rc == 0 && jqc_errcode(c) == JQC_OK, "%s", name))	\
		printf("#   rc %d, errcode %s: %s\n", _rc,		\
		    jqc_err_name(jqc_errcode(c)), jqc_error(c));	\
} while (0)

#endif
