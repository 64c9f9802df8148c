/*
 * Channel lookup by name, over map.c.  See chanmap.h.
 */
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "chanmap.h"
#include "log.h"

static bool
chanmap_name_equal(const struct map_entry *e, const char *name, size_t len)
{
	const struct chan	*ch = MAP_ELEM(e, struct chan, name_entry);

	return ch->name_len == len && memcmp(ch->name, name, len) == 0;
}

void
chanmap_init(struct chanmap *map)
{
	map_init_str(&map->names, chanmap_name_equal);
}

void
chanmap_fini(struct chanmap *map)
{
	map_fini(&map->names);
}

size_t
chanmap_count(const struct chanmap *map)
{
	return map_count(&map->names);
}

struct chan *
chanmap_find(const struct chanmap *map, const char *name, size_t len)
{
	return MAP_ELEM(map_find_str(&map->names, name, len), struct chan,
	    name_entry);
}

void
chanmap_insert(struct chanmap *map, struct chan *ch)
{
	map_insert_str(&map->names, &ch->name_entry, ch->name, ch->name_len);
}

void
chanmap_remove(struct chanmap *map, struct chan *ch)
{
	map_remove(&map->names, &ch->name_entry);
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
	struct chan		**list, *ch;
	struct map_iter		  it;
	struct map_entry	 *e;
	size_t			  plen = strlen(prefix), n = 0;

	list = malloc((map_count(&map->names) + 1) * sizeof(*list));
	if (list == NULL)
		fatal("out of memory");
	MAP_FOREACH(e, &it, &map->names) {
		ch = MAP_ELEM(e, struct chan, name_entry);
		if (ch->name_len >= plen && memcmp(ch->name, prefix, plen) == 0)
			list[n++] = ch;
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
