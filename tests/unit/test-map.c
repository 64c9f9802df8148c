/*
 * Unit tests for daemon/map.c: a zeroed map is empty; number and string
 * keys through insert, find, remove and growth with many elements; a walk
 * that removes (and frees) the element it stands on, all of them or every
 * other one; string keys compared by length and bytes (a prefix, the empty
 * key, a NUL inside); entries with equal keys; and chains that stay short
 * (sequential ids and similar names spread over the buckets), so lookups
 * stay constant time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "tap.h"

#define N	100000

struct elem {
	struct map_entry	 by_id;
	struct map_entry	 by_name;
	uint64_t		 id;
	size_t			 len;
	char			 name[32];
	int			 seen;
};

static bool
elem_name_equal(const struct map_entry *e, const char *key, size_t len)
{
	const struct elem	*el = MAP_ELEM(e, struct elem, by_name);

	return el->len == len && memcmp(el->name, key, len) == 0;
}

static struct elem *
elem_new(uint64_t id, const char *name, size_t len)
{
	struct elem	*el = calloc(1, sizeof(*el));

	if (el == NULL)
		abort();
	el->id = id;
	el->len = len;
	memcpy(el->name, name, len);
	return el;
}

static struct elem *
find_id(const struct map *m, uint64_t id)
{
	return MAP_ELEM(map_find_u64(m, id), struct elem, by_id);
}

static struct elem *
find_name(const struct map *m, const char *name, size_t len)
{
	return MAP_ELEM(map_find_str(m, name, len), struct elem, by_name);
}

/* The longest bucket chain (the map's insides, to bound lookup cost). */
static size_t
longest_chain(const struct map *m)
{
	struct map_entry	*e;
	size_t			 i, n, max = 0;

	for (i = 0; i < m->nbuckets; i++) {
		n = 0;
		for (e = m->buckets[i]; e != NULL; e = e->next)
			n++;
		if (n > max)
			max = n;
	}
	return max;
}

static void
test_empty(void)
{
	struct map		 m;
	struct map_iter		 it;
	struct map_entry	*e;
	int			 n = 0;

	memset(&m, 0, sizeof(m));
	ok(map_find_u64(&m, 0) == NULL && map_find_u64(&m, 7) == NULL,
	    "zeroed map: nothing found");
	is_int(map_count(&m), 0, "zeroed map: count 0");
	MAP_FOREACH(e, &it, &m)
		n++;
	is_int(n, 0, "zeroed map: the walk is empty");
	ok(MAP_ELEM(NULL, struct elem, by_name) == NULL,
	    "MAP_ELEM of NULL is NULL");
	map_fini(&m);
	map_init_str(&m, elem_name_equal);
	ok(map_find_str(&m, "", 0) == NULL && map_find_str(&m, "x", 1) ==
	    NULL, "empty string map: nothing found");
	map_fini(&m);
}

static void
test_numbers(void)
{
	struct map		 m;
	struct map_iter		 it;
	struct map_entry	*e;
	struct elem		**v, *el;
	size_t			 i, nfound = 0, nwrong = 0, seen = 0, twice = 0;
	uint64_t		 id;

	v = calloc(N, sizeof(*v));
	map_init(&m);
	/* Sequential ids and scattered ones (odd multiples of a big odd). */
	for (i = 0; i < N; i++) {
		id = i % 2 == 0 ? i + 1 : (uint64_t)i * 0xd6e8feb86659fd93ULL;
		v[i] = elem_new(id, "", 0);
		map_insert_u64(&m, &v[i]->by_id, id);
	}
	is_int(map_count(&m), N, "numbers: count after inserting N");
	ok(m.nbuckets >= N && (m.nbuckets & (m.nbuckets - 1)) == 0,
	    "numbers: grown to a power of two >= N (%zu)", m.nbuckets);
	for (i = 0; i < N; i++) {
		if ((el = find_id(&m, v[i]->id)) == v[i])
			nfound++;
	}
	is_int(nfound, N, "numbers: every element found by its id");
	ok(find_id(&m, 0) == NULL && find_id(&m, N * 10ULL) == NULL &&
	    find_id(&m, UINT64_MAX) == NULL, "numbers: absent ids not found");
	ok(longest_chain(&m) <= 16, "numbers: longest chain %zu (<= 16)",
	    longest_chain(&m));

	/* Remove every other one. */
	for (i = 0; i < N; i += 2)
		map_remove(&m, &v[i]->by_id);
	is_int(map_count(&m), N / 2, "numbers: count after removing half");
	for (i = 0; i < N; i++) {
		el = find_id(&m, v[i]->id);
		if (el != (i % 2 == 0 ? NULL : v[i]))
			nwrong++;
	}
	is_int(nwrong, 0, "numbers: removed ones gone, the others found");

	/* A walk sees each remaining element once. */
	MAP_FOREACH(e, &it, &m) {
		el = MAP_ELEM(e, struct elem, by_id);
		if (el->seen++)
			twice++;
		seen++;
	}
	ok(seen == N / 2 && twice == 0, "numbers: the walk sees each of %zu "
	    "once (saw %zu, %zu twice)", (size_t)N / 2, seen, twice);

	/* Put the removed ones back: found again. */
	for (i = 0; i < N; i += 2)
		map_insert_u64(&m, &v[i]->by_id, v[i]->id);
	nfound = 0;
	for (i = 0; i < N; i++) {
		if (find_id(&m, v[i]->id) == v[i])
			nfound++;
	}
	is_int(nfound, N, "numbers: reinserted, all found");

	/* A walk that frees each element it stands on empties the map. */
	seen = 0;
	MAP_FOREACH(e, &it, &m) {
		map_remove(&m, e);
		free(MAP_ELEM(e, struct elem, by_id));
		seen++;
	}
	is_int(seen, N, "numbers: a walk removing every element visits N");
	is_int(map_count(&m), 0, "numbers: then the map is empty");
	ok(find_id(&m, 1) == NULL, "numbers: and finds nothing");
	map_fini(&m);
	ok(m.buckets == NULL && map_count(&m) == 0, "numbers: fini empties");
	free(v);
}

static void
test_walk_remove_some(void)
{
	struct map		 m;
	struct map_iter		 it;
	struct map_entry	*e;
	struct elem		*el;
	size_t			 i, visited = 0, left = 0, wrong = 0;

	map_init(&m);
	for (i = 1; i <= 5000; i++) {
		el = elem_new(i, "", 0);
		map_insert_u64(&m, &el->by_id, i);
	}
	/* Remove the odd ids while walking: the even ones must all be seen. */
	MAP_FOREACH(e, &it, &m) {
		el = MAP_ELEM(e, struct elem, by_id);
		visited++;
		if (el->id % 2 == 1) {
			map_remove(&m, e);
			free(el);
		} else
			el->seen++;
	}
	is_int(visited, 5000, "walk removing odd ids visits all 5000");
	is_int(map_count(&m), 2500, "2500 left");
	for (i = 1; i <= 5000; i++) {
		el = find_id(&m, i);
		if (i % 2 == 1 ? el != NULL : el == NULL || el->seen != 1)
			wrong++;
		else if (el != NULL)
			left++;
	}
	ok(wrong == 0 && left == 2500, "odd ids gone, even ones found and "
	    "seen once by the walk");
	MAP_FOREACH(e, &it, &m) {
		map_remove(&m, e);
		free(MAP_ELEM(e, struct elem, by_id));
	}
	map_fini(&m);
}

static void
test_strings(void)
{
	struct map		 m;
	struct map_iter		 it;
	struct map_entry	*e;
	struct elem		**v, *el, *a, *b, *nul, *empty;
	char			 name[32];
	size_t			 i, len, nfound = 0, nwrong = 0, seen = 0;

	v = calloc(N, sizeof(*v));
	map_init_str(&m, elem_name_equal);
	for (i = 0; i < N; i++) {
		len = (size_t)snprintf(name, sizeof(name), "chan-%zu", i);
		v[i] = elem_new(i, name, len);
		map_insert_str(&m, &v[i]->by_name, v[i]->name, v[i]->len);
	}
	is_int(map_count(&m), N, "strings: count after inserting N");
	for (i = 0; i < N; i++) {
		if (find_name(&m, v[i]->name, v[i]->len) == v[i])
			nfound++;
	}
	is_int(nfound, N, "strings: every element found by its name");
	ok(longest_chain(&m) <= 16, "strings: longest chain %zu (<= 16)",
	    longest_chain(&m));
	ok(find_name(&m, "chan-", 5) == NULL && find_name(&m, "chan-1", 5) ==
	    NULL && find_name(&m, "chan-10x", 8) == NULL,
	    "strings: a prefix or a longer name is not a match");
	/* The key's length counts, not a NUL: "chan-1" vs "chan-1\0". */
	ok(find_name(&m, "chan-1\0", 7) == NULL &&
	    find_name(&m, "chan-1", 6) == v[1],
	    "strings: keys compare by length and bytes");

	empty = elem_new(0, "", 0);
	map_insert_str(&m, &empty->by_name, empty->name, 0);
	nul = elem_new(0, "a\0b", 3);
	map_insert_str(&m, &nul->by_name, nul->name, 3);
	ok(find_name(&m, "", 0) == empty, "strings: the empty key");
	ok(find_name(&m, "a\0b", 3) == nul && find_name(&m, "a", 1) == NULL &&
	    find_name(&m, "a\0c", 3) == NULL, "strings: a NUL inside a key");
	map_remove(&m, &empty->by_name);
	map_remove(&m, &nul->by_name);
	free(empty);
	free(nul);

	/* Two entries with one key: either is found, the other after. */
	a = elem_new(1, "twin", 4);
	b = elem_new(2, "twin", 4);
	map_insert_str(&m, &a->by_name, a->name, a->len);
	map_insert_str(&m, &b->by_name, b->name, b->len);
	el = find_name(&m, "twin", 4);
	ok(el == a || el == b, "strings: equal keys: one is found");
	map_remove(&m, &el->by_name);
	ok(find_name(&m, "twin", 4) == (el == a ? b : a),
	    "strings: equal keys: then the other");
	map_remove(&m, &(el == a ? b : a)->by_name);
	ok(find_name(&m, "twin", 4) == NULL, "strings: then none");
	free(a);
	free(b);

	for (i = 0; i < N; i += 3)
		map_remove(&m, &v[i]->by_name);
	for (i = 0; i < N; i++) {
		el = find_name(&m, v[i]->name, v[i]->len);
		if (el != (i % 3 == 0 ? NULL : v[i]))
			nwrong++;
	}
	is_int(nwrong, 0, "strings: removed names gone, the others found");
	MAP_FOREACH(e, &it, &m) {
		map_remove(&m, e);
		seen++;
	}
	is_int(seen, N - (N + 2) / 3, "strings: the walk removes the rest");
	is_int(map_count(&m), 0, "strings: empty at the end");
	map_fini(&m);
	for (i = 0; i < N; i++)
		free(v[i]);
	free(v);
}

/* One element in two maps at once: a number map and a string map. */
static void
test_two_maps(void)
{
	struct map	 ids, names;
	struct elem	*el = elem_new(42, "answer", 6);

	map_init(&ids);
	map_init_str(&names, elem_name_equal);
	map_insert_u64(&ids, &el->by_id, el->id);
	map_insert_str(&names, &el->by_name, el->name, el->len);
	ok(find_id(&ids, 42) == el && find_name(&names, "answer", 6) == el,
	    "one element, two maps: found in both");
	map_remove(&ids, &el->by_id);
	ok(find_id(&ids, 42) == NULL && find_name(&names, "answer", 6) == el,
	    "removed from one, still in the other");
	map_remove(&names, &el->by_name);
	map_fini(&ids);
	map_fini(&names);
	free(el);
}

int
main(void)
{
	test_empty();
	test_numbers();
	test_walk_remove_some();
	test_strings();
	test_two_maps();
	return done_testing();
}
