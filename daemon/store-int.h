/*
 * The store's insides, shared by the common layer (store.c: opening and
 * loading; store-commit.c: recording changes and group commit on the
 * store thread; store-job.c: the jobs row; store-dedup.c) and the
 * backends (store-sqlite.c, store-pg.c).  Nothing else includes this but
 * the store's unit test.
 */
#ifndef JQD_STORE_INT_H
#define JQD_STORE_INT_H

#include <sys/time.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/*
 * The statements a batch runs, the same SQL on every backend (store_sql,
 * parameters written ?1, ?2, ...; a backend rewrites them to its own
 * form).  Transactions and schema are the backend's business.
 */
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
	STMT_JOB_DELETE,
	STMT_JOB_FLOOR,
	STMT_VAL_LEASE,
	STMT_META_SET,
	STMT_DEDUP_ADD,		/* store-dedup.c */
	STMT_DEDUP_DEL,
	STMT_DEDUP_DROP,
	STMT_CHAN_DEDUP,
	STMT_COUNT,
};

/*
 * A statement's parameter, or a column of a row read back.  Bytes read
 * back are NUL-terminated (both backends guarantee it) and borrowed for
 * the row callback only.  Integers of every width read back as SV_INT.
 */
enum store_val_kind {
	SV_NULL,
	SV_INT,
	SV_BYTES,
};

struct store_val {
	enum store_val_kind	 kind;
	int64_t			 i;
	const char		*p;
	size_t			 len;
};

/* v's integer; 0 if it is NULL. */
static inline int64_t
store_val_i64(const struct store_val *v)
{
	return v->kind == SV_INT ? v->i : 0;
}

/* One statement of a batch with its parameters (borrowed from the rec). */
#define STORE_MAX_ARGS		24
struct store_step {
	enum store_stmt		 stmt;
	size_t			 nargs;
	struct store_val	 args[STORE_MAX_ARGS];
};

/* A row of a query: 0, or -1 with err set to stop. */
typedef int store_row_cb(void *arg, const struct store_val *cols,
    size_t ncols, char *err, size_t errlen);

/*
 * A storage engine.  The common layer (store.c, store-commit.c,
 * store-job.c, store-dedup.c) owns the batches, group commit, the order
 * of replies, failure handling and every SQL text but the schema; a
 * backend opens, checks and migrates its database, runs statements and
 * queries, and applies one batch in one transaction.  Every function
 * returning int gives 0, or -1 with a message in err.
 */
struct store_backend {
	const char	*name;
	/* SQL of the size in bytes of column %s. */
	const char	*bytes_len;
	/*
	 * Open target (the part of --store after the backend's prefix),
	 * check and migrate the schema, prepare store->sql[] and set
	 * st->bd.  On failure, leave nothing behind.
	 */
	int	 (*open)(struct store *st, const char *target,
		    enum sync_mode sync, char *err, size_t errlen);
	/*
	 * The rows of sql (a SELECT, ?N parameters) through cb.  Before
	 * store_start, or on the store thread.
	 */
	int	 (*query)(struct store *st, const char *sql,
		    const struct store_val *args, size_t nargs,
		    store_row_cb *cb, void *arg, char *err, size_t errlen);
	/* The store thread: the batch in one transaction. */
	int	 (*apply)(struct store *st, const struct store_batch *b,
		    char *err, size_t errlen);
	/*
	 * Optional, on the loop: the same as apply or query if that costs
	 * no waiting (the connection is free and nothing is sent over a
	 * network).  1: not now (busy), nothing done.  query_now with wait
	 * may wait for the connection (start-up only).
	 */
	int	 (*apply_now)(struct store *st, const struct store_batch *b,
		    char *err, size_t errlen);
	int	 (*query_now)(struct store *st, const char *sql,
		    const struct store_val *args, size_t nargs,
		    store_row_cb *cb, void *arg, bool wait, char *err,
		    size_t errlen);
	/*
	 * Optional: several jqd on one database, one active.  open makes a
	 * node that finds another active a standby (st->standby) that has
	 * loaded nothing.  wait_active (a thread of its own) blocks until
	 * this node may take over: 0, 1 if cancel_wait (any thread) ended
	 * it, -1 with err on a failure it does not retry.  activate (the
	 * loop, once wait_active returned 0) takes over: a new epoch.
	 * deposed: true once this node may never commit again (the store
	 * thread sets it; the loop reads it after a failed commit).
	 * heartbeat_ms: when idle, an empty batch this often, so that a
	 * node learns it lost the database or was replaced.
	 */
	int	 (*wait_active)(struct store *st, char *err, size_t errlen);
	void	 (*cancel_wait)(struct store *st);
	int	 (*activate)(struct store *st, char *err, size_t errlen);
	bool	 (*deposed)(struct store *st);
	int64_t	 (*epoch)(struct store *st);
	unsigned heartbeat_ms;
	/* Optional, on the store thread, asked for by store_maintain(). */
	void	 (*maintain)(struct store *st);
	/* Optional: target (as open gets it) holds a password. */
	bool	 (*has_password)(const char *target);
	/* Size on disk of the database and its log (0: unknown). */
	void	 (*sizes)(struct store *st, uint64_t *db, uint64_t *log);
	/*
	 * Close (the thread is not running); st->bd is freed.  With
	 * st->discard_new, a database the open created goes too.
	 */
	void	 (*close)(struct store *st);
};

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

struct store {
	const struct store_backend *be;
	void			*bd;		/* the backend's */
	char			*target;	/* for messages */
	/* The statements' SQL by store_stmt (jobs' built at open). */
	const char		*sql[STMT_COUNT];
	char			*job_sql[2];	/* owned: save, keep_output */
	/*
	 * The backend commits cheap batches on the loop (apply_now): see
	 * store-commit.c.
	 */
	bool			 commit_on_loop;
	bool			 discard_new;	/* store_discard_new() */

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
	uint64_t		 flight_since_us; /* when it went in flight */
	size_t			 last_commit_n;	/* records of the last commit */
	struct event		*ev_done;
	struct event		*ev_retry;
	store_commit_cb		*cb;
	void			*cb_arg;
	struct store_stats	 stats;
	/* Output reads for backends without query_now (store-job.c). */
	struct store_reads	*reads;
	/* Active/standby (store.c). */
	bool			 standby;
	pthread_t		 waiter;
	bool			 waiting;	/* waiter started, not joined */
	struct event		*ev_active;
	void			(*active_cb)(void *);
	void			*active_arg;
	store_deposed_cb	*deposed_cb;
	void			*deposed_arg;
	bool			 deposed_told;
	struct event		*ev_heartbeat;

	/* Shared with the thread, under mu. */
	pthread_t		 thread;
	bool			 started;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cond;
	bool			 todo;		/* flight is ready to commit */
	bool			 maintain;	/* the backend asked */
	bool			 reads_due;	/* output reads are queued */
	bool			 stop;
	int			 result;	/* of the last commit: 0, -1 */
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

/* The statements' SQL but the job ones (store-job.c builds those). */
extern const char *const store_sql[STMT_COUNT];

void	 store_batch_clear(struct store_batch *b);
void	 store_batch_fini(struct store_batch *b);
/* Free what store_open built (the thread is not running). */
void	 store_free(struct store *st);
/*
 * The statements record r runs, into steps (room for two); their
 * parameters borrow r's strings.  Returns how many (0: none).
 */
size_t	 store_rec_steps(const struct store_rec *r, struct store_step *steps);
/* One integer (the first column of the first row; 0 if none). */
int	 store_query_int(struct store *st, const char *sql, int64_t *out,
	    char *err, size_t errlen);
/* The store thread: run the backend's maintain() soon (any thread). */
void	 store_maintain(struct store *st);

/* A new record in the open batch (store-commit.c). */
struct store_rec *store_record(struct store *st, enum store_rec_type type);
/* A NUL-terminated copy of len bytes of s.  Aborts on OOM. */
char	*store_strndup(const char *s, size_t len);

/* store-dedup.c: the statement and parameters of a dedup record. */
void	 store_dedup_step(const struct store_rec *r, struct store_step *s);

/* store-job.c: build the job statements' SQL into st->sql. */
void	 store_job_sql(struct store *st);
/* A copy of row in one allocation, its strings included (caller frees). */
struct store_job *store_job_copy(const struct store_job *row);
/* The statement that writes row, with its parameters (strings borrowed). */
void	 store_job_step(const struct store_job *row, struct store_step *s);
/* Every stored job through ld->job, in id order; the id floor.  0 or -1. */
int	 store_job_load(struct store *st, const struct store_loader *ld,
	    char *err, size_t errlen);
/* The store thread: run queued output reads (no query_now). */
void	 store_job_reads_run(struct store *st);
void	 store_job_reads_free(struct store *st);

/* store-sqlite.c: migration i takes a database from schema i to i + 1. */
extern const char *const store_migrations[];
extern const size_t store_nmigrations;
/* store-sqlite.c, for the unit test: the database handle. */
struct sqlite3	*store_sqlite_db(struct store *st);

#endif
