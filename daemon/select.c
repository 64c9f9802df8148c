/*
 * Uniform choice among ready select cases.  See select.h.
 */
#include <stdlib.h>

#include "chan.h"
#include "select.h"

static bool
select_case_ready(const struct select_case *sc)
{
	return sc->is_send ? chan_send_ready(sc->chan, 1) :
	    chan_recv_ready(sc->chan);
}

int
select_choose(const struct select_case *cases, size_t n)
{
	size_t		 i, nready = 0;
	uint32_t	 pick;

	for (i = 0; i < n; i++)
		nready += select_case_ready(&cases[i]);
	if (nready == 0)
		return -1;
	/* arc4random_uniform has no modulo bias. */
	pick = arc4random_uniform((uint32_t)nready);
	for (i = 0; i < n; i++) {
		if (select_case_ready(&cases[i]) && pick-- == 0)
			return (int)i;
	}
	return -1;
}
