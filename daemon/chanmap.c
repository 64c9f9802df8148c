/*
 * Channel lookup by name (FNV-1a, chaining through chan->hash_next, doubled
 * when the load passes one per bucket).  See chanmap.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "chanmap.h"
#include "log.h"

#define CHANMAP_MIN_BUCKETS	64

static uint64_t
chanmap_hash(const char *name, size_t len)
{
	uint64_t	 h = 14695981039346656037ULL;
	size_t		 i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static struct chan **
chanmap_alloc(size_t n)
{
	struct chan	**b = calloc(n, sizeof(*b));

	if (b == NULL)
		fatal("out of memory");
	return b;
}

void
chanmap_init(struct chanmap *map)
{
	map->nbuckets = CHANMAP_MIN_BUCKETS;
	map->buckets = chanmap_alloc(map->nbuckets);
	map->count = 0;
}

void
chanmap_fini(struct chanmap *map)
{
	free(map->buckets);
	map->buckets = NULL;
	map->nbuckets = map->count = 0;
}

struct chan *
chanmap_find(const struct chanmap *map, const char *name, size_t len)
{
	struct chan	*ch;

	ch = map->buckets[chanmap_hash(name, len) & (map->nbuckets - 1)];
	for (; ch != NULL; ch = ch->hash_next) {
		if (ch->name_len == len && memcmp(ch->name, name, len) == 0)
			return ch;
	}
	return NULL;
}

static void
chanmap_grow(struct chanmap *map)
{
	struct chan	**old = map->buckets, *ch, *next;
	size_t		  oldn = map->nbuckets, i, b;

	map->nbuckets *= 2;
	map->buckets = chanmap_alloc(map->nbuckets);
	for (i = 0; i < oldn; i++) {
		for (ch = old[i]; ch != NULL; ch = next) {
			next = ch->hash_next;
			b = chanmap_hash(ch->name, ch->name_len) &
			    (map->nbuckets - 1);
			ch->hash_next = map->buckets[b];
			map->buckets[b] = ch;
		}
	}
	free(old);
}

void
chanmap_insert(struct chanmap *map, struct chan *ch)
{
	size_t	 b;

	if (map->count >= map->nbuckets)
		chanmap_grow(map);
	b = chanmap_hash(ch->name, ch->name_len) & (map->nbuckets - 1);
	ch->hash_next = map->buckets[b];
	map->buckets[b] = ch;
	map->count++;
}

void
chanmap_remove(struct chanmap *map, struct chan *ch)
{
	struct chan	**pp;

	pp = &map->buckets[chanmap_hash(ch->name, ch->name_len) &
	    (map->nbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->hash_next) {
		if (*pp == ch) {
			*pp = ch->hash_next;
			ch->hash_next = NULL;
			map->count--;
			return;
		}
	}
}

static int
chanmap_cmp(const void *a, const void *b)
{
	const struct chan	*x = *(struct chan *const *)a;
	const struct chan	*y = *(struct chan *const *)b;

	return strcmp(x->name, y->name);
}

struct chan **
chanmap_collect(const struct chanmap *map, const char *prefix, size_t *count)
{
	struct chan	**list, *ch;
	size_t		  plen = strlen(prefix), n = 0, i;

	list = malloc((map->count + 1) * sizeof(*list));
	if (list == NULL)
		fatal("out of memory");
	for (i = 0; i < map->nbuckets; i++) {
		for (ch = map->buckets[i]; ch != NULL; ch = ch->hash_next) {
			if (ch->name_len >= plen &&
			    memcmp(ch->name, prefix, plen) == 0)
				list[n++] = ch;
		}
	}
	*count = n;
	return list;
}

struct chan **
chanmap_list(const struct chanmap *map, const char *prefix, size_t *count)
{
	struct chan	**list;

	list = chanmap_collect(map, prefix, count);
	qsort(list, *count, sizeof(*list), chanmap_cmp);
	return list;
}
