/*
 * The wire names of the protocol's error codes (SPEC section 1).
 *
 * errcode_name() is a switch without a default label, so adding a code to
 * enum errcode without naming it here is a compiler warning (an error with
 * --enable-werror) rather than a reply carrying a made-up code.  Parsing
 * goes through errcode_name() as well, so the two directions cannot
 * disagree.  Used by reply.c to build error replies and by the client
 * library to turn a reply's "error.code" back into the enum.
 */
#include <assert.h>
#include <string.h>

#include "errcode.h"

/*
 * One past the last code; errcode_parse() walks [0, ERRCODE_COUNT).  A code
 * added after ERRCODE_CANCELED must move this bound along.
 */
#define ERRCODE_COUNT	(ERRCODE_CANCELED + 1)

const char *
errcode_name(enum errcode code)
{
	switch (code) {
	case ERRCODE_BAD_REQUEST:
		return "bad_request";
	case ERRCODE_UNKNOWN_OP:
		return "unknown_op";
	case ERRCODE_FRAME_TOO_LARGE:
		return "frame_too_large";
	case ERRCODE_UNAUTHORIZED:
		return "unauthorized";
	case ERRCODE_NOT_FOUND:
		return "not_found";
	case ERRCODE_EXISTS:
		return "exists";
	case ERRCODE_CLOSED:
		return "closed";
	case ERRCODE_TIMEOUT:
		return "timeout";
	case ERRCODE_TOO_LARGE:
		return "too_large";
	case ERRCODE_LIMIT:
		return "limit";
	case ERRCODE_SHUTTING_DOWN:
		return "shutting_down";
	case ERRCODE_INTERNAL:
		return "internal";
	case ERRCODE_CANCELED:
		return "canceled";
	}
	/*
	 * Only a value outside the enum gets here.  Answering "internal"
	 * keeps the promise that the result is never NULL.
	 */
	assert(!"errcode out of range");
	return "internal";
}

int
errcode_parse(const char *name, enum errcode *code)
{
	int	 i;

	for (i = 0; i < ERRCODE_COUNT; i++) {
		if (strcmp(name, errcode_name(i)) == 0) {
			*code = i;
			return 0;
		}
	}
	return -1;
}
