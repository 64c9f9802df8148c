/*
 * noclose_range.so: an LD_PRELOAD library for tests.  close_range() fails
 * with ENOSYS, as on a kernel older than 5.9, so that a test sees what jqd
 * does without it.
 */
#define _GNU_SOURCE

#include <errno.h>

int	 close_range(unsigned int, unsigned int, int);

int
close_range(unsigned int first, unsigned int last, int flags)
{
	(void)first;
	(void)last;
	(void)flags;
	errno = ENOSYS;
	return -1;
}
