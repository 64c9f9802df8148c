/*
 * The store: every channel, buffered value and job in one database
 * (SQLite, the default, or PostgreSQL: store-int.h's backends), written
 * with group commit by a thread of its own.
 *
 * The event loop records changes (store_chan_*, store_value_*) into the
 * open batch, which costs a few copies and no I/O.  When no commit is in
 * flight, the batch is handed to the store thread, which applies it in one
 * transaction and commits (one fsync with sync=full); changes recorded
 * meanwhile form the next batch.  So many requests share one fsync, and
 * the loop never waits for the disk.
 *
 * Each batch has a sequence number.  store_barrier() is the sequence of
 * the newest recorded change: a reply written after a change must wait
 * until that sequence is durable, which the store reports through the
 * commit callback (see server.h, durable_seq).
 *
 * A failed commit is retried, with its replies still held, until it
 * succeeds; meanwhile store_failing() is true and handlers refuse new
 * changes with `internal` (nothing unacknowledged is lost, nothing is
 * acknowledged that is not on disk).
 *
 * Functions returning int give 0, or -1 with a message in err.
 */
#ifndef JQD_STORE_H
#define JQD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct dedup_key;
struct event_base;
struct store;
struct strbuf;
struct value;

struct store_stats {
	const char	*backend;	/* "sqlite", "postgres" */
	bool		 active;	/* false: a standby */
	int64_t		 epoch;		/* 0: none (SQLite) */
	uint64_t	 commits;
	uint64_t	 records;	/* changes committed */
	uint64_t	 failures;	/* commits that failed and were retried */
	uint64_t	 latency_us_sum;
	uint64_t	 latency_us_max;
	uint64_t	 latency_us_last;
	uint64_t	 db_bytes;
	uint64_t	 wal_bytes;
};

/*
 * Called on the loop after a commit: every change up to seq is durable;
 * latency_us is how long that commit took (0: batch seq was empty and
 * needed no commit, see store_barrier_next).
 */
typedef void store_commit_cb(uint64_t seq, uint64_t latency_us, void *arg);

/* A job's row: what survives a restart.  -1 (or 0 for signal) = NULL. */
struct store_job {
	int64_t		 id;
	const char	*spec;		/* opaque text */
	int		 state;		/* enum job_state */
	int64_t		 attempt;
	int64_t		 submitted_ms;
	int64_t		 deadline_ms;
	int64_t		 not_before_ms;
	int64_t		 started_ms;
	int64_t		 finished_ms;
	int		 exit_code;
	int		 signal;
	const char	*error;		/* NULL: none */
	const char	*out;
	size_t		 out_len;
	const char	*err;
	size_t		 err_len;
	bool		 out_truncated;
	bool		 err_truncated;
	int64_t		 progress_done;
	int64_t		 progress_total;
	bool		 delivered;
	int		 pid;		/* while running; 0: none */
	int64_t		 pid_start;
	const char	*pid_boot;	/* boot id of pid; NULL: unknown */
	const char	*worker;	/* the latest attempt's; NULL: jqd */
	/*
	 * Saving: the stored stdout and stderr stay as they are (out and
	 * err are not written).  Loading: a final job's output is left in
	 * the store (out and err are NULL); out_bytes is the size of both.
	 */
	bool		 keep_output;
	bool		 out_omitted;
	uint64_t	 out_bytes;
};

/* A stored value's lease: a named consumer's, or a delayed return. */
struct store_lease {
	uint64_t	 id;		/* 0: a delayed return */
	const char	*consumer;	/* NULL: a delayed return */
	size_t		 consumer_len;
	int64_t		 until_ms;	/* unix ms */
};

/* State found on disk, handed to the loop at start-up. */
struct store_loader {
	/* A channel; returns the in-memory object values will join. */
	void	*(*chan)(void *arg, int64_t id, const char *name,
		    uint32_t cap, bool closed);
	/* The channel's redelivery limit and dead-letter (NULL: none). */
	void	 (*chan_dead)(void *arg, void *chan, uint32_t max_deliveries,
		    const char *dead_letter);
	/*
	 * A value of that channel, in channel order; lease (borrowed for
	 * the call) if it is out on one, else NULL.
	 */
	void	 (*value)(void *arg, void *chan, struct value *v,
		    const struct store_lease *lease);
	/* A job, in id order (after every channel).  0 or -1 to refuse. */
	int	 (*job)(void *arg, const struct store_job *row, char *err,
		    size_t errlen);
	void	*arg;
};

/*
 * Open (creating if absent), check and migrate the database target names
 * (--store): `sqlite:PATH` or a bare PATH, `postgres:CONNINFO` or a
 * `postgres://` or `postgresql://` URI.  A database that is not jqd's, is
 * corrupt, or has a newer schema is refused and left untouched.
 */
struct store	*store_open(const char *target, enum sync_mode sync, char *err,
		    size_t errlen);
/* "sqlite" or "postgres". */
const char	*store_backend_name(const struct store *st);
/* For messages: the SQLite file, or the PostgreSQL schema. */
const char	*store_describe(const struct store *st);
/* True if target is a PostgreSQL connection that holds a password. */
bool		 store_target_has_password(const char *target);
/* Replay what is on disk through loader, in order. */
int		 store_load(struct store *st, const struct store_loader *ld,
		    char *err, size_t errlen);
/*
 * Start the commit thread; cb runs on base's loop after each commit.  A
 * commit that could start at once waits delay_us first (0: no wait).
 */
int		 store_start(struct store *st, struct event_base *base,
		    uint64_t delay_us, store_commit_cb *cb, void *arg, char *err,
		    size_t errlen);
/*
 * Active/standby, on a database several jqd share (PostgreSQL).  After
 * store_open, store_standby() is true if another jqd is active: then
 * nothing is loaded, and store_wait_active waits on a thread of its own
 * until this one may take over; cb then runs on base's loop, which calls
 * store_activate (a new epoch) and goes on as after store_open.
 */
bool		 store_standby(const struct store *st);
int		 store_wait_active(struct store *st, struct event_base *base,
		    void (*cb)(void *), void *arg, char *err, size_t errlen);
int		 store_activate(struct store *st, char *err, size_t errlen);
/*
 * Called on the loop, once, when this node learns it may never commit
 * again (another jqd took over); why is for the log.  Every later commit
 * fails, so nothing more is acknowledged.
 */
typedef void store_deposed_cb(void *arg, const char *why);
void		 store_on_deposed(struct store *st, store_deposed_cb *cb,
		    void *arg);
/*
 * A database several jqd may share (PostgreSQL): another may take over
 * when this one's session ends.  store_stalled_ms: how long the batch in
 * flight has been waiting for its commit, retries included (0: none in
 * flight).
 */
bool		 store_shared(const struct store *st);
uint64_t	 store_stalled_ms(const struct store *st);
/* True while no commit is in flight and nothing is pending. */
bool		 store_idle(const struct store *st);
bool		 store_failing(const struct store *st);
/* Commit what is pending, stop the thread, close the database. */
void		 store_close(struct store *st);
/*
 * The start-up failed: store_close() is to remove the database if this
 * open created it (a new SQLite file; nothing in it was served), so that
 * a failed start leaves no empty database behind.
 */
void		 store_discard_new(struct store *st);

uint64_t	 store_barrier(const struct store *st);
/*
 * The sequence of the batch after the open one: a reply that should leave
 * one commit after the changes recorded so far waits for it.  If that
 * batch is still empty when the open one has been committed, it counts as
 * committed at once (nothing to write).
 */
uint64_t	 store_barrier_next(struct store *st);
/* The open batch's sequence: where changes recorded now go. */
uint64_t	 store_open_seq(const struct store *st);
void		 store_get_stats(struct store *st, struct store_stats *out);

/* Changes.  Channel ids come from store_chan_make. */
int64_t		 store_chan_make(struct store *st, const char *name,
		    uint32_t cap);
/* Set a channel's max_deliveries and dead_letter (NULL: none). */
void		 store_chan_dead(struct store *st, int64_t chan_id,
		    uint32_t max_deliveries, const char *dead_letter);
void		 store_chan_close(struct store *st, int64_t chan_id);
void		 store_chan_drop(struct store *st, int64_t chan_id);
/* v entered chan's buffer at the back: assigns v->store_id. */
void		 store_value_push(struct store *st, int64_t chan_id,
		    struct value *v);
/*
 * v left its channel for good (received, acked).  If its insert was still
 * in the open batch, the insert is dropped and v's store_id becomes 0: v
 * never reached the disk.
 */
void		 store_value_take(struct store *st, struct value *v);
/*
 * v went back to the front of its channel (nack, lease expiry), with its
 * redelivered count and nack reason; any stored lease of it ends.
 */
void		 store_value_requeue(struct store *st, struct value *v);
/*
 * v is out on a lease until until_ms (unix ms): of consumer (len bytes)
 * with lease id, or a delayed return (id 0, consumer NULL).  Its
 * redelivered count and nack reason are written too.
 */
void		 store_value_lease(struct store *st, struct value *v,
		    const struct store_lease *lease);
/*
 * Lease ids up to limit may be handed out (they are never used again).
 * The first time, tag (never 0) becomes the lease strings' tag for good.
 */
void		 store_lease_reserve(struct store *st, uint32_t tag,
		    uint64_t limit);
/*
 * After store_load: the lease strings' tag (0: none yet) and the highest
 * lease id that may have been handed out.
 */
void		 store_lease_ids(const struct store *st, uint32_t *boot,
		    uint64_t *floor);
/*
 * Write a job's row.  *seq and *rec remember where, so a later save in
 * the same batch replaces this one instead of adding another.
 */
void		 store_job_save(struct store *st, const struct store_job *row,
		    uint64_t *seq, size_t *rec);
/*
 * Read the stored stdout and stderr of job id into out and err (reset
 * first): one row by primary key, on the calling thread.  The job's
 * latest save must be committed.  Unless wait, it does not wait for the
 * store thread to let go of the database.  Returns 0; 1 if the database
 * is busy (only unless wait: try again later); -1 if the row cannot be
 * read, with a message in errbuf.
 */
int		 store_job_output(struct store *st, int64_t id, bool wait,
		    struct strbuf *out, struct strbuf *err, char *errbuf,
		    size_t errlen);
/* Forget a job; its id stays used (see store_job_id_floor). */
void		 store_job_delete(struct store *st, int64_t id);
/* After store_load: the highest job id ever forgotten (0: none). */
int64_t		 store_job_id_floor(const struct store *st);

/*
 * Idempotent sends (store-dedup.c).  A key recorded for a channel (assigns
 * k->store_id), forgotten, every key of a dropped channel forgotten; a
 * channel's own dedup settings (0: NULL, the server's default).
 */
void		 store_dedup_add(struct store *st, int64_t chan_id,
		    struct dedup_key *k);
void		 store_dedup_del(struct store *st, const struct dedup_key *k);
void		 store_dedup_drop(struct store *st, int64_t chan_id);
void		 store_chan_dedup(struct store *st, int64_t chan_id,
		    int64_t window_ms, uint64_t max);

/* Dedup state found on disk (after store_load: channels exist). */
struct store_dedup_loader {
	/* A channel's own settings (0: the server's). */
	void	(*settings)(void *arg, int64_t chan_id, int64_t window_ms,
		    uint64_t max);
	/* A key, oldest first within its channel. */
	void	(*key)(void *arg, int64_t chan_id, int64_t id,
		    const char *key, size_t len, int64_t at_ms);
	void	*arg;
};
int		 store_dedup_load(struct store *st,
		    const struct store_dedup_loader *ld, char *err,
		    size_t errlen);

#endif
