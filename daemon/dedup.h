/*
 * Idempotent sends: the keys a channel has seen within its dedup window.
 *
 * A send may carry a key (PROTOCOL.md 6.6).  Each channel that has keys,
 * or dedup settings of its own, has a table here, found by the channel's
 * store id.  A key is first "pending" (its send is blocked: no second
 * send with that key may start) and becomes "recorded" when its send
 * takes effect (dedup_record): then it is remembered, on disk too (the
 * hooks), until it is older than the channel's window or is the oldest
 * beyond its count.  Expiry runs from one timer per table, at most
 * DEDUP_EXPIRE_BATCH keys per loop turn.
 *
 * Every key costs dedup_key_cost() bytes, counted in dedup.bytes; a new
 * key beyond max_bytes is refused (DEDUP_FULL).  Pending keys count too.
 *
 * This module never sees JSON, sockets or SQLite.  Out of memory ends the
 * daemon.
 */
#ifndef JQD_DEDUP_H
#define JQD_DEDUP_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "map.h"

struct event_base;
struct event;

/* The longest key a send may carry, in bytes. */
#define DEDUP_KEY_MAX		256
/* The largest window and count, for the options and for make. */
#define DEDUP_WINDOW_MAX_MS	(365LL * 24 * 3600 * 1000)
#define DEDUP_MAX_MAX		10000000
/* Keys forgotten per table per loop turn at most. */
#define DEDUP_EXPIRE_BATCH	256
/*
 * What a key costs beyond its bytes: struct dedup_key (72 bytes), its
 * NUL, a malloc header and its bucket in the table's map.
 */
#define DEDUP_KEY_OVERHEAD	104

struct dedup_table;

struct dedup_key {
	struct map_entry	 entry;		/* table->keys */
	TAILQ_ENTRY(dedup_key)	 age_entry;	/* table->age (recorded) */
	struct dedup_table	*table;
	int64_t			 store_id;	/* its row; 0: none */
	int64_t			 at_ms;		/* wall clock when recorded */
	bool			 pending;	/* its send is still blocked */
	size_t			 len;
	char			 key[];		/* len bytes + NUL */
};

TAILQ_HEAD(dedup_key_list, dedup_key);

/* One channel's keys and settings. */
struct dedup_table {
	struct map_entry	 entry;		/* dedup->tables, by chan_id */
	struct dedup		*dedup;
	int64_t			 chan_id;
	int64_t			 window_ms;	/* 0: the server's default */
	uint64_t		 max;		/* 0: the server's default */
	struct map		 keys;		/* every key, by its bytes */
	struct dedup_key_list	 age;		/* recorded keys, oldest first */
	size_t			 nrecorded;
	size_t			 npending;
	struct event		*timer;		/* next expiry; NULL: none */
};

/*
 * Persistence: a key was recorded (assign k->store_id) or is forgotten
 * (expired or evicted).  The server points them at the store; unit tests
 * may record them.
 */
struct dedup_hooks {
	void	(*add)(void *arg, int64_t chan_id, struct dedup_key *k);
	void	(*del)(void *arg, struct dedup_key *k);
};

struct dedup {
	struct map		 tables;
	struct event_base	*base;		/* expiry timers; NULL: none */
	const struct dedup_hooks *hooks;	/* may be NULL */
	void			*hooks_arg;
	int64_t			(*now_ms)(void);	/* wall clock */
	int64_t			 default_window_ms;
	uint64_t		 default_max;
	uint64_t		 max_bytes;
	uint64_t		 keys;		/* held, pending included */
	uint64_t		 bytes;		/* their dedup_key_cost */
	uint64_t		 duplicates;	/* sends answered duplicate */
	uint64_t		 expired;	/* keys forgotten for age */
	uint64_t		 evicted;	/* ... for the count */
};

enum dedup_status {
	DEDUP_NEW,		/* not seen in the window: go ahead */
	DEDUP_SEEN,		/* recorded within the window: a duplicate */
	DEDUP_PENDING,		/* a blocked send holds it */
	DEDUP_FULL,		/* max_bytes would be passed */
};

static inline uint64_t
dedup_key_cost(size_t len)
{
	return (uint64_t)len + DEDUP_KEY_OVERHEAD;
}

void		 dedup_init(struct dedup *d, struct event_base *base,
		    int64_t window_ms, uint64_t max, uint64_t max_bytes);
/* Free every table and key (no hooks run). */
void		 dedup_fini(struct dedup *d);

/* A channel's own settings (0: follow the server's default). */
void		 dedup_configure(struct dedup *d, int64_t chan_id,
		    int64_t window_ms, uint64_t max);
/* A channel's settings as given to dedup_configure (0: default). */
void		 dedup_own(const struct dedup *d, int64_t chan_id,
		    int64_t *window_ms, uint64_t *max);
/* The settings in force for a channel. */
void		 dedup_settings(const struct dedup *d, int64_t chan_id,
		    int64_t *window_ms, uint64_t *max);
/* Keys a channel holds (recorded and pending). */
size_t		 dedup_count(const struct dedup *d, int64_t chan_id);

/*
 * Has the channel seen key?  A recorded key older than the window is
 * forgotten here (DEDUP_NEW).  Counts DEDUP_SEEN in d->duplicates.
 */
enum dedup_status dedup_check(struct dedup *d, int64_t chan_id,
		    const char *key, size_t len);
/*
 * Hold key (after dedup_check said DEDUP_NEW) for a send that may block:
 * a pending key, borrowed by the caller until dedup_record or
 * dedup_release.
 */
struct dedup_key *dedup_hold(struct dedup *d, int64_t chan_id,
		    const char *key, size_t len);
/* The send took effect: remember k (hooks->add), evicting beyond max. */
void		 dedup_record(struct dedup_key *k);
/* The send did not take effect: forget a pending k.  No-op if recorded. */
void		 dedup_release(struct dedup_key *k);
/* dedup_hold and dedup_record at once (the send takes effect now). */
void		 dedup_add(struct dedup *d, int64_t chan_id, const char *key,
		    size_t len);
/* A key found in the store at start-up (no hooks run). */
void		 dedup_restore(struct dedup *d, int64_t chan_id,
		    int64_t store_id, const char *key, size_t len,
		    int64_t at_ms);
/*
 * The channel is dropped: forget its table (no hooks: the store forgets
 * the channel's keys with it).  It must have no pending key.
 */
void		 dedup_drop(struct dedup *d, int64_t chan_id);
/*
 * Forget keys of the table that are due, at most DEDUP_EXPIRE_BATCH;
 * returns how many (the timer calls it; tests may too).
 */
size_t		 dedup_expire(struct dedup_table *t);
struct dedup_table *dedup_table_find(const struct dedup *d, int64_t chan_id);

#endif
