/*
 * Unit tests for daemon/dedup.c, driven alone: a fake wall clock, hooks
 * that record what would reach the store, no event loop (expiry through
 * dedup_expire, as the timer calls it).  Covers new, seen and pending
 * keys; release and record of held keys; the window (expiry and a lookup
 * past it); the count (oldest first); per-channel settings; restore with
 * eviction; drop; and the memory bound, counted exactly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "tap.h"

static int64_t	fake_now = 1000000;
static int	nadd, ndel;
static int64_t	next_id = 1;

static int64_t
fake_clock(void)
{
	return fake_now;
}

static void
rec_add(void *arg, int64_t chan_id, struct dedup_key *k)
{
	k->store_id = next_id++;
	nadd++;
}

static void
rec_del(void *arg, struct dedup_key *k)
{
	ndel++;
}

static const struct dedup_hooks hooks = { rec_add, rec_del };

static void
setup(struct dedup *d, int64_t window, uint64_t max, uint64_t bytes)
{
	dedup_init(d, NULL, window, max, bytes);
	d->now_ms = fake_clock;
	d->hooks = &hooks;
	nadd = ndel = 0;
}

static enum dedup_status
check(struct dedup *d, int64_t chan, const char *key)
{
	return dedup_check(d, chan, key, strlen(key));
}

static void
test_seen_and_pending(void)
{
	struct dedup		 d;
	struct dedup_key	*k;

	setup(&d, 1000, 10, 1 << 20);
	is_int(check(&d, 1, "a"), DEDUP_NEW, "an unknown key is new");
	dedup_add(&d, 1, "a", 1);
	is_int(nadd, 1, "recording a key stores it");
	is_int(check(&d, 1, "a"), DEDUP_SEEN, "a recorded key is seen");
	is_int(check(&d, 2, "a"), DEDUP_NEW, "keys are per channel");
	is_int(d.duplicates, 1, "duplicates are counted");

	k = dedup_hold(&d, 1, "b", 1);
	is_int(check(&d, 1, "b"), DEDUP_PENDING, "a held key is pending");
	is_int(nadd, 1, "holding stores nothing");
	is_int(dedup_count(&d, 1), 2, "held keys are counted");
	dedup_release(k);
	is_int(check(&d, 1, "b"), DEDUP_NEW, "a released key is new again");
	is_int(ndel, 0, "releasing deletes nothing from the store");

	k = dedup_hold(&d, 1, "c", 1);
	dedup_record(k);
	is_int(nadd, 2, "recording a held key stores it");
	is_int(check(&d, 1, "c"), DEDUP_SEEN, "a recorded held key is seen");
	dedup_release(k);
	is_int(check(&d, 1, "c"), DEDUP_SEEN, "release after record: no-op");
	dedup_fini(&d);
}

static void
test_window(void)
{
	struct dedup		 d;
	struct dedup_table	*t;

	setup(&d, 1000, 100, 1 << 20);
	dedup_add(&d, 1, "old", 3);
	fake_now += 600;
	dedup_add(&d, 1, "new", 3);
	t = dedup_table_find(&d, 1);
	is_int(dedup_expire(t), 0, "nothing is due yet");
	fake_now += 400;
	is_int(dedup_expire(t), 1, "the oldest expires at its window");
	is_int(ndel, 1, "... and is deleted from the store");
	is_int(check(&d, 1, "old"), DEDUP_NEW, "an expired key is new");
	is_int(check(&d, 1, "new"), DEDUP_SEEN, "a younger key is kept");
	fake_now += 600;
	/* Found past its window before the timer ran: forgotten there. */
	is_int(check(&d, 1, "new"), DEDUP_NEW, "a key past the window is new");
	is_int(ndel, 2, "... and deleted from the store");
	is_int(d.expired, 2, "expiries are counted");
	is_int(dedup_count(&d, 1), 0, "no key left");
	ok(dedup_table_find(&d, 1) == NULL, "an empty default table is freed");
	dedup_fini(&d);
}

static void
test_expire_is_bounded(void)
{
	struct dedup		 d;
	char			 key[32];
	int			 i;

	setup(&d, 10, 100000, 1 << 30);
	for (i = 0; i < 3 * DEDUP_EXPIRE_BATCH; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		dedup_add(&d, 7, key, strlen(key));
	}
	fake_now += 10;
	is_int(dedup_expire(dedup_table_find(&d, 7)), DEDUP_EXPIRE_BATCH,
	    "one expiry forgets at most DEDUP_EXPIRE_BATCH keys");
	is_int(dedup_count(&d, 7), 2 * DEDUP_EXPIRE_BATCH, "the rest wait");
	dedup_fini(&d);
}

static void
test_count(void)
{
	struct dedup	 d;
	int64_t		 w;
	uint64_t	 m;

	setup(&d, 1000, 100, 1 << 20);
	dedup_configure(&d, 3, 0, 2);
	dedup_settings(&d, 3, &w, &m);
	is_int(w, 1000, "a channel follows the default window");
	is_int(m, 2, "... with its own count");
	dedup_own(&d, 3, &w, &m);
	is_int(w, 0, "its own window is unset");
	dedup_add(&d, 3, "a", 1);
	dedup_add(&d, 3, "b", 1);
	dedup_add(&d, 3, "c", 1);
	is_int(dedup_count(&d, 3), 2, "the count is kept");
	is_int(check(&d, 3, "a"), DEDUP_NEW, "the oldest went first");
	is_int(check(&d, 3, "b"), DEDUP_SEEN, "b is kept");
	is_int(check(&d, 3, "c"), DEDUP_SEEN, "c is kept");
	is_int(d.evicted, 1, "evictions are counted");
	is_int(ndel, 1, "the evicted key is deleted from the store");
	ok(dedup_table_find(&d, 3) != NULL, "a table with settings stays");
	dedup_drop(&d, 3);
	is_int(dedup_count(&d, 3), 0, "drop forgets every key");
	is_int(d.keys, 0, "... from the totals");
	is_int(d.bytes, 0, "... and their memory");
	dedup_settings(&d, 3, &w, &m);
	is_int(m, 100, "drop forgets the settings");
	dedup_fini(&d);
}

static void
test_restore(void)
{
	struct dedup	 d;

	setup(&d, 1000, 100, 1 << 20);
	dedup_configure(&d, 5, 0, 2);
	dedup_restore(&d, 5, 11, "x", 1, fake_now - 10);
	dedup_restore(&d, 5, 12, "y", 1, fake_now - 5);
	dedup_restore(&d, 5, 13, "z", 1, fake_now);
	is_int(nadd, 0, "restoring stores nothing");
	is_int(ndel, 1, "a key past a lowered count is deleted");
	is_int(check(&d, 5, "x"), DEDUP_NEW, "... and forgotten");
	is_int(check(&d, 5, "z"), DEDUP_SEEN, "restored keys are seen");
	dedup_fini(&d);
}

static void
test_memory_bound(void)
{
	struct dedup		 d;
	struct dedup_key	*k;
	char			 key[DEDUP_KEY_MAX];
	uint64_t		 max = 4 * dedup_key_cost(DEDUP_KEY_MAX);
	int			 n = 0;

	setup(&d, 1000, 100, max);
	memset(key, 'k', sizeof(key));
	for (;;) {
		key[0] = (char)('a' + n);
		if (dedup_check(&d, 1, key, sizeof(key)) != DEDUP_NEW)
			break;
		dedup_add(&d, 1, key, sizeof(key));
		n++;
	}
	is_int(n, 4, "keys fit up to max_bytes");
	is_int(d.bytes, max, "their cost is counted exactly");
	is_int(dedup_check(&d, 1, key, sizeof(key)), DEDUP_FULL,
	    "one more is refused");
	key[0] = 'a';
	is_int(dedup_check(&d, 1, key, sizeof(key)), DEDUP_SEEN,
	    "a known key is still seen at the bound");
	dedup_drop(&d, 1);
	is_int(d.bytes, 0, "drop gives the memory back");
	k = dedup_hold(&d, 1, "p", 1);
	is_int(d.bytes, dedup_key_cost(1), "a held key costs too");
	dedup_release(k);
	is_int(d.bytes, 0, "... until released");
	dedup_fini(&d);
}

int
main(void)
{
	test_seen_and_pending();
	test_window();
	test_expire_is_bounded();
	test_count();
	test_restore();
	test_memory_bound();
	return done_testing();
}
