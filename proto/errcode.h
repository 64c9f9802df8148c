/*
 * The error codes of the wire protocol (SPEC section 1).  Only these codes
 * ever appear on the wire; each reply's "error.code" is errcode_name() of
 * one of them.
 */
#ifndef JQ_ERRCODE_H
#define JQ_ERRCODE_H

enum errcode {
	ERRCODE_BAD_REQUEST,
	ERRCODE_UNKNOWN_OP,
	ERRCODE_FRAME_TOO_LARGE,
	ERRCODE_UNAUTHORIZED,
	ERRCODE_NOT_FOUND,
	ERRCODE_EXISTS,
	ERRCODE_CLOSED,
	ERRCODE_TIMEOUT,
	ERRCODE_TOO_LARGE,
	ERRCODE_LIMIT,
	ERRCODE_SHUTTING_DOWN,
	ERRCODE_INTERNAL,
	ERRCODE_CANCELED,	/* ended by abort (protocol 1.1) */
};

/* The wire name of a code, e.g. "bad_request".  Never NULL. */
const char	*errcode_name(enum errcode code);

/* Parse a wire name.  Returns 0 and sets *code, or -1 if unknown. */
int		 errcode_parse(const char *name, enum errcode *code);

#endif
