/*
 * jqc-err: the names of enum jqc_err, and the code of an error reply.
 *
 * The protocol's thirteen codes (PROTOCOL.md section 7) map one to one
 * onto JQC_E_BAD_REQUEST ... JQC_E_INTERNAL; the daemon's own table is
 * proto/errcode.c, which the library does not link.  A code from a later
 * protocol version is JQC_E_INTERNAL, as section 12 asks.
 */

#include <string.h>

#include "jqclient.h"
#include "jqc-private.h"

/* Every enumerator has a case and there is no default: a new code that is
 * not named here is a compiler warning. */
const char *
jqc_err_name(enum jqc_err code)
{
	switch (code) {
	case JQC_OK:
		return "ok";
	case JQC_E_BAD_REQUEST:
		return "bad_request";
	case JQC_E_UNKNOWN_OP:
		return "unknown_op";
	case JQC_E_FRAME_TOO_LARGE:
		return "frame_too_large";
	case JQC_E_UNAUTHORIZED:
		return "unauthorized";
	case JQC_E_NOT_FOUND:
		return "not_found";
	case JQC_E_EXISTS:
		return "exists";
	case JQC_E_CLOSED:
		return "closed";
	case JQC_E_TIMEOUT:
		return "timeout";
	case JQC_E_TOO_LARGE:
		return "too_large";
	case JQC_E_LIMIT:
		return "limit";
	case JQC_E_SHUTTING_DOWN:
		return "shutting_down";
	case JQC_E_CANCELED:
		return "canceled";
	case JQC_E_INTERNAL:
		return "internal";
	case JQC_E_IO:
		return "io";
	case JQC_E_PROTO:
		return "proto";
	case JQC_E_INVAL:
		return "inval";
	case JQC_E_NOMEM:
		return "nomem";
	case JQC_E_OUTCOME_UNKNOWN:
		return "outcome_unknown";
	}
	return "unknown";	/* not an enum jqc_err value */
}

enum jqc_err
jqc_err_parse(const char *name)
{
	enum jqc_err	code;

	if (name == NULL)
		return JQC_E_INTERNAL;
	/* Only the wire codes: "io" and the like never come from a server. */
	for (code = JQC_E_BAD_REQUEST; code <= JQC_E_INTERNAL; code++)
		if (strcmp(jqc_err_name(code), name) == 0)
			return code;
	return JQC_E_INTERNAL;
}
