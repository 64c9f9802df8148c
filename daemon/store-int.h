/*
 * The store's insides, shared by store.c (the database: schema, checks,
 * migrations, loading), store-commit.c (recording changes and group
 * commit on the store thread) and store-job.c (the jobs row).  Nothing
 * else includes this but the store's unit test.
 */
#ifndef JQD_STORE_INT_H
#define JQD_STORE_INT_H

#include <sys/time.h>
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
	REC_CHAN_DEAD,
	REC_CHAN_CLOSE,
	REC_CHAN_DROP,
	REC_VAL_PUSH,
	REC_VAL_TAKE,
	REC_VAL_REQUEUE,
	REC_JOB_SAVE,
	REC_JOB_DELETE,
	REC_VAL_LEASE,
	REC_META_SET,
	REC_DEDUP_ADD,		/* store-dedup.c */
	REC_DEDUP_DEL,
	REC_DEDUP_DROP,
	REC_CHAN_DEDUP,
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
	/* REC_VAL_PUSH, REC_VAL_LEASE: the value's lease (0, NULL: none) */
	int64_t			 lease_id;
	int64_t			 until_ms;
	char			*consumer;	/* owned */
	size_t			 consumer_len;
	char			*reason;	/* a value's; owned; NULL: none */
	size_t			 reason_len;
};

struct store_batch {
	struct store_rec	*recs;
	size_t			 n;
	size_t			 cap;
	uint64_t		 seq;
};

enum store_stmt {
	STMT_CHAN_MAKE,
	STMT_CHAN_DEAD,
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
	STMT_VAL_LEASE,
	STMT_META_SET,
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_DEDUP_ADD,		/* store-dedup.c */
	STMT_DEDUP_DEL,
	STMT_DEDUP_DROP,
	STMT_CHAN_DEDUP,
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
	int64_t			 next_dedup_id;	/* 0: not loaded yet */
	int64_t			 next_front_pos;
	int64_t			 job_id_floor;
	int64_t			 lease_boot;	/* meta, read by store_load */
	int64_t			 lease_id_floor;
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

/* A column of the jobs table and the field of struct store_job it holds. */
enum store_col_kind {
	STORE_COL_I64,		/* int64_t */
	STORE_COL_INT,		/* int */
	STORE_COL_BOOL,		/* bool */
	STORE_COL_TEXT,		/* const char *, NUL-terminated */
	STORE_COL_BYTES,	/* const char * and a size_t length */
};

#define STORE_COL_KEY		0x1	/* the primary key: the first */
#define STORE_COL_NULL		0x2	/* null_value (NULL text) is NULL */
#define STORE_COL_OUTPUT	0x4	/* captured output (keep_output) */

struct store_col {
	const char		*name;
	enum store_col_kind	 kind;
	size_t			 offset;	/* of the field */
	size_t			 len_offset;	/* of its length (bytes) */
	int64_t			 null_value;	/* STORE_COL_NULL integers */
	unsigned		 flags;
};

/* The jobs table, column by column (store-job.c). */
extern const struct store_col store_job_cols[];
extern const size_t store_job_ncols;

/*
 * Column c's field in row.  Integers (int64_t, int, bool) as int64_t;
 * text and bytes as a pointer (NULL: NULL) and a length (of text: strlen,
 * 0 if NULL).  Setting text does not copy it.
 */
bool		 store_col_is_text(const struct store_col *c);
int64_t		 store_col_int(const struct store_col *c,
		    const struct store_job *row);
void		 store_col_set_int(const struct store_col *c,
		    struct store_job *row, int64_t v);
const char	*store_col_text(const struct store_col *c,
		    const struct store_job *row);
size_t		 store_col_len(const struct store_col *c,
		    const struct store_job *row);
void		 store_col_set_text(const struct store_col *c,
		    struct store_job *row, const char *text, size_t len);

/* Migration i takes a database from schema i to i + 1 (store.c). */
extern const char *const store_migrations[];
extern const size_t store_nmigrations;

/* The SQL of each statement but the job ones (store-job.c makes those). */
extern const char *const store_sql[STMT_COUNT];

void	 store_batch_clear(struct store_batch *b);
void	 store_batch_fini(struct store_batch *b);
/* Free what store_open built (the thread is not running). */
void	 store_free(struct store *st);
/* Apply one batch in one transaction: SQLITE_OK or an error code. */
int	 store_apply(struct store *st, const struct store_batch *b);
/* Prepare st->stmt[i] from sql, to keep.  0, or -1 with err set. */
int	 store_prepare(struct store *st, enum store_stmt i, const char *sql,
	    char *err, size_t errlen);
/* One integer from a query (PRAGMAs).  0, or -1 with err set. */
int	 store_query_int(sqlite3 *db, const char *sql, int64_t *out, char *err,
	    size_t errlen);

/* A new record in the open batch (store-commit.c). */
struct store_rec *store_record(struct store *st, enum store_rec_type type);
/* A NUL-terminated copy of len bytes of s.  Aborts on OOM. */
char	*store_strndup(const char *s, size_t len);

/* store-dedup.c: prepare its statements; bind one record's. */
int	 store_dedup_prepare(struct store *st, char *err, size_t errlen);
sqlite3_stmt	*store_dedup_bind(struct store *st, const struct store_rec *r);

/* store-job.c: prepare the job statements.  0, or -1 with err set. */
int	 store_job_prepare(struct store *st, char *err, size_t errlen);
/* A copy of row in one allocation, its strings included (caller frees). */
struct store_job *store_job_copy(const struct store_job *row);
/* The statement that writes row, bound to it (its strings borrowed). */
sqlite3_stmt	*store_job_bind(struct store *st, const struct store_job *row);
/* Every stored job through ld->job, in id order; the id floor.  0 or -1. */
int	 store_job_load(struct store *st, const struct store_loader *ld,
	    char *err, size_t errlen);

#endif
