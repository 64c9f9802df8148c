/*
 * The daemon's one hash map: an intrusive chained hash table, keyed by a
 * 64-bit number (lease ids, job ids) or by a byte string (channel names,
 * job keys, group names).
 *
 * An element embeds a struct map_entry for each map it is in; the map
 * never allocates or frees elements, only its bucket array, which doubles
 * when the count reaches the number of buckets (load at most 1), so
 * insert, find and remove take constant time on average.  The array never
 * shrinks (a pointer per element at the map's peak; map_fini frees it).
 * An entry keeps its key's hash (for a number map, the key itself), so
 * growing never reads a key and a lookup compares a string only when the
 * hashes match.
 * A string map is given a function that compares an element's key, which
 * lives in the element.
 *
 * A zeroed struct map is an empty number map.  Functions never fail: out
 * of memory ends the daemon (log.h).
 */
#ifndef JQD_MAP_H
#define JQD_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct map_entry {
	struct map_entry	*next;		/* bucket chain */
	uint64_t		 hash;		/* number maps: the key */
};

/* Does the element holding e have the key key (len bytes)? */
typedef bool	map_key_equal_fn(const struct map_entry *e, const char *key,
		    size_t len);

struct map {
	struct map_entry	**buckets;	/* owned; NULL while empty */
	size_t			  nbuckets;	/* 0, or a power of two */
	unsigned		  bits;		/* log2(nbuckets) */
	size_t			  count;
	map_key_equal_fn	 *key_equal;	/* string maps; NULL: numbers */
};

/*
 * A walk over every element, in no order.  The element map_iter_next()
 * returned last may be removed (and freed) before the next call; nothing
 * else may be inserted or removed during the walk.
 */
struct map_iter {
	const struct map	*map;
	size_t			 bucket;	/* the next bucket to look at */
	struct map_entry	*next;		/* the next entry to return */
};

/* An empty map of numbers, or of strings compared by key_equal. */
void		 map_init(struct map *m);
void		 map_init_str(struct map *m, map_key_equal_fn *key_equal);
/* Free the buckets (the elements are the caller's); the map is empty. */
void		 map_fini(struct map *m);
size_t		 map_count(const struct map *m);

/*
 * Add e under key.  A string key stays the element's and must not change
 * while e is in the map.  The map does not check that keys are unique
 * (callers do, if they must): of several entries with one key, find
 * returns any.
 */
void		 map_insert_u64(struct map *m, struct map_entry *e,
		    uint64_t key);
void		 map_insert_str(struct map *m, struct map_entry *e,
		    const char *key, size_t len);
/* The entry with this key, or NULL. */
struct map_entry *map_find_u64(const struct map *m, uint64_t key);
struct map_entry *map_find_str(const struct map *m, const char *key,
		    size_t len);
/* Take e, which is in m, out of it. */
void		 map_remove(struct map *m, struct map_entry *e);

void		 map_iter_init(struct map_iter *it, const struct map *m);
/* The next entry of the walk, or NULL at its end. */
struct map_entry *map_iter_next(struct map_iter *it);

/* The element holding the entry e (NULL if e is NULL). */
static inline void *
map_elem(const struct map_entry *e, size_t offset)
{
	return e == NULL ? NULL : (void *)((const char *)e - offset);
}
#define MAP_ELEM(e, type, field)					\
	((type *)map_elem((e), offsetof(type, field)))

#define MAP_FOREACH(e, it, m)						\
	for (map_iter_init((it), (m)); ((e) = map_iter_next(it)) != NULL;)

#endif
