/*
 * Unit tests for daemon/namepage.c: the page holds the limit smallest
 * names offered, sorted byte-wise, whatever the order they come in
 * (ascending, descending, shuffled), each with its object; "more" says
 * whether a name was left out (not when exactly limit were offered); a
 * limit of 1, a page of none, names sharing prefixes and bytes above 0x7f.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "namepage.h"
#include "tap.h"

#define NNAMES	2000

static char	 names[NNAMES][16];
static char	*sorted[NNAMES];

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Offer names[order[i]] for i < n into a page of limit; check it. */
static int
check_page(const size_t *order, size_t n, size_t limit, const char *what)
{
	struct namepage	 p;
	size_t		 i, want = n < limit ? n : limit;
	int		 good = 1;

	namepage_init(&p, limit);
	for (i = 0; i < n; i++)
		namepage_offer(&p, names[order[i]], names[order[i]]);
	namepage_sort(&p);
	good = p.n == want && p.more == (n > limit);
	for (i = 0; good && i < want; i++)
		good = strcmp(p.items[i].name, sorted[i]) == 0 &&
		    p.items[i].obj == (void *)p.items[i].name;
	namepage_fini(&p);
	return ok(good, "%s: %zu names, limit %zu", what, n, limit);
}

int
main(void)
{
	static size_t	 order[NNAMES];
	static const size_t limits[] = { 1, 2, 7, 100, 1999, 2000, 2001, 5000 };
	struct namepage	 p;
	size_t		 i, j, k, tmp;

	srand(7);
	for (i = 0; i < NNAMES; i++) {
		/* Shared prefixes, lengths that differ, a byte above 0x7f. */
		snprintf(names[i], sizeof(names[i]), "%s%zu%s",
		    i % 3 == 0 ? "g" : i % 3 == 1 ? "g-" : "\xc3\xa4",
		    (size_t)rand() % 100000, i % 5 == 0 ? "x" : "");
		snprintf(names[i] + strlen(names[i]), sizeof(names[i]) -
		    strlen(names[i]), ".%zu", i);	/* unique */
		sorted[i] = names[i];
	}
	qsort(sorted, NNAMES, sizeof(*sorted), cmp_str);

	for (k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
		/* ascending, descending, shuffled */
		for (i = 0; i < NNAMES; i++)
			order[i] = (size_t)(sorted[i] - names[0]) /
			    sizeof(names[0]);
		check_page(order, NNAMES, limits[k], "ascending");
		for (i = 0; i < NNAMES / 2; i++) {
			tmp = order[i];
			order[i] = order[NNAMES - 1 - i];
			order[NNAMES - 1 - i] = tmp;
		}
		check_page(order, NNAMES, limits[k], "descending");
		for (i = NNAMES - 1; i > 0; i--) {
			j = (size_t)rand() % (i + 1);
			tmp = order[i];
			order[i] = order[j];
			order[j] = tmp;
		}
		check_page(order, NNAMES, limits[k], "shuffled");
	}

	namepage_init(&p, 10);
	namepage_sort(&p);
	ok(p.n == 0 && !p.more, "a page offered nothing is empty, no more");
	namepage_fini(&p);

	namepage_init(&p, 2);
	namepage_offer(&p, "b", NULL);
	namepage_offer(&p, "a", NULL);
	ok(!p.more, "exactly limit offered: no more");
	namepage_offer(&p, "ab", NULL);
	namepage_sort(&p);
	ok(p.more && p.n == 2 && strcmp(p.items[0].name, "a") == 0 &&
	    strcmp(p.items[1].name, "ab") == 0,
	    "a prefix sorts first, then the longer name");
	namepage_fini(&p);
	return done_testing();
}
