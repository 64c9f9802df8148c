/*
 * A page of a listing by name (`chans` and `groups` with a limit,
 * PROTOCOL.md 10.9, 11.27): the `limit` smallest names among those offered,
 * chosen in one pass over a table with no order (a hash), then sorted.
 *
 * Offering n names keeps a max-heap of at most limit of them: time
 * O(n log limit) at worst, and most names cost one comparison with the
 * heap's top once it is full; memory is the page.  Names are compared
 * byte-wise (strcmp) and borrowed: they must outlive the page.  Offer no
 * name twice.
 */
#ifndef JQD_NAMEPAGE_H
#define JQD_NAMEPAGE_H

#include <stdbool.h>
#include <stddef.h>

struct namepage_item {
	const char	*name;		/* borrowed */
	void		*obj;		/* the caller's, borrowed */
};

struct namepage {
	struct namepage_item	*items;	/* a max-heap; sorted after _sort */
	size_t			 n;
	size_t			 limit;
	bool			 more;	/* a name offered was left out */
};

/* A page of at most limit (>= 1) names.  Aborts on OOM. */
void	 namepage_init(struct namepage *p, size_t limit);
void	 namepage_fini(struct namepage *p);
/* Offer name (with obj): kept while among the limit smallest so far. */
void	 namepage_offer(struct namepage *p, const char *name, void *obj);
/* Sort the page by name, ascending; offer nothing after. */
void	 namepage_sort(struct namepage *p);

#endif
