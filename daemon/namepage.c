/*
 * The limit smallest names of a pass over a table: a bounded max-heap.
 * See namepage.h.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "namepage.h"

void
namepage_init(struct namepage *p, size_t limit)
{
	memset(p, 0, sizeof(*p));
	p->limit = limit;
	if ((p->items = calloc(limit, sizeof(*p->items))) == NULL)
		fatal("out of memory");
}

void
namepage_fini(struct namepage *p)
{
	free(p->items);
	p->items = NULL;
	p->n = 0;
}

static int
namepage_cmp(const struct namepage *p, size_t a, size_t b)
{
	return strcmp(p->items[a].name, p->items[b].name);
}

static void
namepage_swap(struct namepage *p, size_t a, size_t b)
{
	struct namepage_item	 tmp = p->items[a];

	p->items[a] = p->items[b];
	p->items[b] = tmp;
}

static void
namepage_sift_down(struct namepage *p, size_t i)
{
	size_t	 child;

	while ((child = 2 * i + 1) < p->n) {
		if (child + 1 < p->n && namepage_cmp(p, child + 1, child) > 0)
			child++;
		if (namepage_cmp(p, child, i) <= 0)
			break;
		namepage_swap(p, i, child);
		i = child;
	}
}

void
namepage_offer(struct namepage *p, const char *name, void *obj)
{
	size_t	 i;

	if (p->n == p->limit) {
		p->more = true;
		if (strcmp(name, p->items[0].name) >= 0)
			return;
		p->items[0] = (struct namepage_item){ name, obj };
		namepage_sift_down(p, 0);
		return;
	}
	i = p->n++;
	p->items[i] = (struct namepage_item){ name, obj };
	while (i > 0 && namepage_cmp(p, (i - 1) / 2, i) < 0) {
		namepage_swap(p, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static int
namepage_item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct namepage_item *)a)->name,
	    ((const struct namepage_item *)b)->name);
}

void
namepage_sort(struct namepage *p)
{
	qsort(p->items, p->n, sizeof(*p->items), namepage_item_cmp);
}
