/*
 * The server's channels by name: a string map (map.h) over the channels'
 * name_entry.  It does not own the channels (server.c frees them).
 */
#ifndef JQD_CHANMAP_H
#define JQD_CHANMAP_H

#include <stddef.h>

#include "map.h"

struct chan;

struct chanmap {
	struct map	 names;
};

void		 chanmap_init(struct chanmap *map);
void		 chanmap_fini(struct chanmap *map);
size_t		 chanmap_count(const struct chanmap *map);
/* The channel named name (len bytes), or NULL. */
struct chan	*chanmap_find(const struct chanmap *map, const char *name,
		    size_t len);
/* Add ch; no channel of that name may exist.  Aborts on OOM. */
void		 chanmap_insert(struct chanmap *map, struct chan *ch);
void		 chanmap_remove(struct chanmap *map, struct chan *ch);
/*
 * Every channel whose name starts with prefix, in no order, in a
 * malloc'd array the caller frees (the channels stay borrowed).
 */
struct chan	**chanmap_collect(const struct chanmap *map, const char *prefix,
		    size_t *count);
/*
 * Every channel whose name starts with prefix, sorted by name, in a
 * malloc'd array the caller frees (the channels stay borrowed).
 */
struct chan	**chanmap_list(const struct chanmap *map, const char *prefix,
		    size_t *count);

#endif
