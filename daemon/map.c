/*
 * The hash map (see map.h).  A key's hash is FNV-1a for strings and the
 * number itself for numbers; the bucket is the top bits of the hash times
 * 2^64 / phi (Fibonacci hashing), which spreads sequential ids and the
 * weak low bits of FNV alike.  Chains are singly linked: with at most one
 * entry per bucket on average, removal walks a chain of about one.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "map.h"

#define MAP_MIN_BITS	6		/* 64 buckets at first */

static uint64_t
map_hash_str(const char *key, size_t len)
{
	uint64_t	 h = 14695981039346656037ULL;	/* FNV-1a */
	size_t		 i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static size_t
map_bucket(const struct map *m, uint64_t hash)
{
	return (size_t)((hash * 0x9e3779b97f4a7c15ULL) >> (64 - m->bits));
}

void
map_init(struct map *m)
{
	memset(m, 0, sizeof(*m));
}

void
map_init_str(struct map *m, map_key_equal_fn *key_equal)
{
	map_init(m);
	m->key_equal = key_equal;
}

void
map_fini(struct map *m)
{
	map_key_equal_fn	*key_equal = m->key_equal;

	free(m->buckets);
	map_init(m);
	m->key_equal = key_equal;
}

size_t
map_count(const struct map *m)
{
	return m->count;
}

/* Twice the buckets (or the first ones), every entry moved by its hash. */
static void
map_grow(struct map *m)
{
	struct map_entry	**old = m->buckets, *e, *next;
	size_t			  oldn = m->nbuckets, i, b;

	m->bits = oldn == 0 ? MAP_MIN_BITS : m->bits + 1;
	m->nbuckets = (size_t)1 << m->bits;
	m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
	if (m->buckets == NULL)
		fatal("out of memory");
	for (i = 0; i < oldn; i++) {
		for (e = old[i]; e != NULL; e = next) {
			next = e->next;
			b = map_bucket(m, e->hash);
			e->next = m->buckets[b];
			m->buckets[b] = e;
		}
	}
	free(old);
}

static void
map_link(struct map *m, struct map_entry *e, uint64_t hash)
{
	size_t	 b;

	if (m->count >= m->nbuckets)
		map_grow(m);
	e->hash = hash;
	b = map_bucket(m, hash);
	e->next = m->buckets[b];
	m->buckets[b] = e;
	m->count++;
}

void
map_insert_u64(struct map *m, struct map_entry *e, uint64_t key)
{
	assert(m->key_equal == NULL);
	map_link(m, e, key);
}

void
map_insert_str(struct map *m, struct map_entry *e, const char *key,
    size_t len)
{
	assert(m->key_equal != NULL);
	map_link(m, e, map_hash_str(key, len));
}

struct map_entry *
map_find_u64(const struct map *m, uint64_t key)
{
	struct map_entry	*e;

	if (m->count == 0)
		return NULL;
	for (e = m->buckets[map_bucket(m, key)]; e != NULL; e = e->next) {
		if (e->hash == key)
			return e;
	}
	return NULL;
}

struct map_entry *
map_find_str(const struct map *m, const char *key, size_t len)
{
	struct map_entry	*e;
	uint64_t		 h;

	if (m->count == 0)
		return NULL;
	h = map_hash_str(key, len);
	for (e = m->buckets[map_bucket(m, h)]; e != NULL; e = e->next) {
		if (e->hash == h && m->key_equal(e, key, len))
			return e;
	}
	return NULL;
}

void
map_remove(struct map *m, struct map_entry *e)
{
	struct map_entry	**pp;

	assert(m->count > 0);
	pp = &m->buckets[map_bucket(m, e->hash)];
	while (*pp != e) {
		assert(*pp != NULL);
		pp = &(*pp)->next;
	}
	*pp = e->next;
	e->next = NULL;
	m->count--;
}

/* From bucket it->bucket on, the first entry, or NULL past the end. */
static struct map_entry *
map_iter_seek(struct map_iter *it)
{
	struct map_entry	*e = NULL;

	while (e == NULL && it->bucket < it->map->nbuckets)
		e = it->map->buckets[it->bucket++];
	return e;
}

void
map_iter_init(struct map_iter *it, const struct map *m)
{
	it->map = m;
	it->bucket = 0;
	it->next = map_iter_seek(it);
}

struct map_entry *
map_iter_next(struct map_iter *it)
{
	struct map_entry	*e = it->next;

	/* Step past e now, so that the caller may remove it. */
	if (e != NULL)
		it->next = e->next != NULL ? e->next : map_iter_seek(it);
	return e;
}
