/*
 * The store's insides, shared by store.c (the database: schema, checks,
 * migrations, loading) and store-commit.c (recording changes and group
 * commit on the store thread).  Nothing else includes this.
 */
#ifndef JQD_STORE_INT_H
#define JQD_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store.h"

struct event;

enum store_rec_type {
	REC_NONE,		/* cancelled in its batch */
	REC_CHAN_MAKE,
	REC_CHAN_CLOSE,
	REC_CHAN_DROP,
	REC_VAL_PUSH,
	REC_VAL_TAKE,
	REC_VAL_REQUEUE,
	REC_JOB_SAVE,
	REC_JOB_DELETE,
};

struct store_rec {
	enum store_rec_type	 type;
	int64_t			 id;		/* channel or value */
	int64_t			 chan;		/* REC_VAL_PUSH */
	int64_t			 pos;
	int64_t			 num;		/* cap, or redelivered */
	char			*text;		/* name or value; owned */
	size_t			 len;
	struct store_job	*job;		/* REC_JOB_SAVE; owned */
};

struct store_batch {
	struct store_rec	*recs;
	size_t			 n;
	size_t			 cap;
	uint64_t		 seq;
};

enum store_stmt {
	STMT_CHAN_MAKE,
	STMT_CHAN_CLOSE,
	STMT_CHAN_DROP,
	STMT_CHAN_DROP_VALS,
	STMT_VAL_PUSH,
	STMT_VAL_TAKE,
	STMT_VAL_REQUEUE,
	STMT_JOB_SAVE,
	STMT_JOB_SAVE_KEEP_OUTPUT,
	STMT_JOB_OUTPUT,
	STMT_JOB_DELETE,
	STMT_JOB_FLOOR,
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_COUNT,
};


struct store {
	sqlite3			*db;
	char			*path;
	sqlite3_stmt		*stmt[STMT_COUNT];
	/*
	 * sync=normal: a commit only writes to the page cache, so the loop
	 * commits small batches itself, and the thread runs the checkpoints
	 * (which fsync) and the busy batches (store-commit.c).
	 */
	bool			 commit_on_loop;

	/* Loop side. */
	struct store_batch	 open;		/* being recorded */
	struct store_batch	 flight;	/* being committed */
	bool			 in_flight;
	bool			 failing;
	uint64_t		 last_change_seq;
	uint64_t		 want_seq;	/* see store_barrier_next */
	int64_t			 next_chan_id;
	int64_t			 next_value_id;
	int64_t			 next_front_pos;
	int64_t			 job_id_floor;
	struct event		*ev_kick;
	struct event		*ev_delay;	/* kick after commit_delay */
	bool			 kick_due;	/* ev_kick or ev_delay is set */
	struct timeval		 commit_delay;
	size_t			 last_commit_n;	/* records of the last commit */
	struct event		*ev_done;
	struct event		*ev_retry;
	store_commit_cb		*cb;
	void			*cb_arg;
	struct store_stats	 stats;

	/* Shared with the thread, under mu. */
	pthread_t		 thread;
	bool			 started;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cond;
	bool			 todo;		/* flight is ready to commit */
	bool			 checkpoint;	/* the WAL wants one */
	bool			 stop;
	int			 result;	/* of the last commit */
	char			 errmsg[256];
	uint64_t		 latency_us;
};

extern const char *const store_sql[STMT_COUNT];

void	 store_batch_clear(struct store_batch *b);
void	 store_batch_fini(struct store_batch *b);
/* Free what store_open built (the thread is not running). */
void	 store_free(struct store *st);
/* Apply one batch in one transaction: SQLITE_OK or an error code. */
int	 store_apply(struct store *st, const struct store_batch *b);

#endif
