/*
 * select's choice: among the cases that can proceed now, one uniformly at
 * random (Go's rule, so no case starves another).  Parking on many
 * channels is an ordinary waiter with one waitcase per case (waitq.h).
 */
#ifndef JQD_SELECT_H
#define JQD_SELECT_H

#include <stdbool.h>
#include <stddef.h>

struct chan;

struct select_case {
	struct chan	*chan;
	bool		 is_send;
};

/* The index of a ready case chosen uniformly, or -1 if none is ready. */
int	 select_choose(const struct select_case *cases, size_t n);

#endif
