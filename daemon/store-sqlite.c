/*
 * The SQLite backend (store-int.h's struct store_backend): the default,
 * a file beside jqd.  It opens, checks and migrates the database, and runs
 * the common layer's statements and batches (store-commit.c).
 *
 * Schema (PRAGMA user_version = STORE_SCHEMA_VERSION,
 * application_id = STORE_APP_ID):
 *
 *   chans(id INTEGER PRIMARY KEY, name TEXT NOT NULL, cap INTEGER NOT NULL,
 *         closed INTEGER NOT NULL)
 *   vals(id INTEGER PRIMARY KEY, chan INTEGER NOT NULL, pos INTEGER NOT
 *        NULL, redelivered INTEGER NOT NULL, data TEXT NOT NULL)
 *        + lease_id, consumer, lease_until_ms (unix ms)          -- 5
 *
 *   jobs(id INTEGER PRIMARY KEY, spec TEXT, state INTEGER, attempt, times
 *        (unix ms, NULL when unset), exit_code, signal, error, stdout,
 *        stderr, truncation flags, progress, delivered)       -- schema 2
 *        + pid, pid_start (the running process, for crash cleanup) -- 3
 *        + pid_boot (the boot id the pid belongs to)              -- 4
 *        (store-job.c's store_job_cols[] lists every column and is what
 *        the code reads and writes)
 *   meta(key TEXT PRIMARY KEY, value INTEGER)                    -- 3
 *        "last_job_id": the highest id of a job purged by retention
 *        "lease_boot": the tag of lease strings (made at first start)
 *        "lease_id_floor": lease ids up to it may have been handed out
 *   chans + dedup_window_ms, dedup_max (NULL: server default)    -- 6
 *   dedup(id INTEGER PRIMARY KEY, chan INTEGER NOT NULL, key TEXT NOT
 *         NULL, at_ms INTEGER NOT NULL), index on (chan, id)    -- 6
 *        the keys of idempotent sends, oldest first (store-dedup.c)
 *   chans + max_deliveries (NULL: no limit), dead_letter (NULL: none) -- 7
 *   vals + reason (the last nack's, as JSON text; NULL: none)     -- 7
 *   jobs + worker (the agent of the latest attempt; NULL: jqd's) -- 8
 *        (the pool is part of jobs.spec, as the group and priority are)
 *
 * jobs.state holds enum job_state values (job.h): never renumber them.
 * jobs.spec is the submit request as the op layer normalised it; the store
 * does not look inside.
 *
 * A channel's values are its vals rows ordered by (pos, id).  New values
 * take pos = id (ids only grow); a value sent back to the front takes a pos
 * below every pos ever used (next_front_pos counts down from -1), so the
 * latest returned value is first, as in memory.  Values leased without a
 * consumer keep their row untouched until acked, so after a restart they
 * are simply back in the channel at the front.  A named consumer's lease
 * sets lease_id, consumer and lease_until_ms, a delayed return (nack
 * with delay_ms) lease_until_ms alone: after a restart both are out again
 * until then.  Going back to the front clears the three.
 *
 * To change the schema: append a migration to store_migrations[] (never
 * edit one that shipped); STORE_SCHEMA_VERSION is their count.  Migration
 * i runs once, in a transaction, on databases whose user_version is i.  A
 * database with a higher user_version was written by a newer jqd and is
 * refused.  A new job column is also a row of store_job_cols[]
 * (store-job.c); tests/unit/test-store.c checks that the two agree and
 * that a database of every older schema still loads.
 *
 * The connection is serialized (SQLITE_OPEN_FULLMUTEX): the store thread
 * commits with it, and the loop may use it when its mutex is free
 * (apply_now with sync=normal, query_now for a final job's output), so the
 * loop never waits behind a commit's fsync or a checkpoint.
 */
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "store-int.h"
#include "store-lock.h"

/* WAL pages after which a checkpoint runs (SQLite's own default). */
#define STORE_CHECKPOINT_PAGES	1000

enum sq_tx {
	SQ_BEGIN,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_NTX,
};

struct sq {
	sqlite3		*db;
	char		*path;
	struct store_lock *lock;	/* NULL: no file (":memory:") */
	bool		 created;	/* this open made the file */
	sqlite3_stmt	*stmt[STMT_COUNT];
	sqlite3_stmt	*tx[SQ_NTX];
	/*
	 * The last query, kept prepared: a final job's output is read on
	 * the loop, job after job, with the same SQL (store-job.c).
	 */
	char		*q_sql;
	sqlite3_stmt	*q;
};

#define STORE_APP_ID		0x6a716421	/* "jqd!" */

const char *const store_migrations[] = {
	/* 1: channels and their values */
	"CREATE TABLE chans ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  cap INTEGER NOT NULL,"
	"  closed INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE vals ("
	"  id INTEGER PRIMARY KEY,"
	"  chan INTEGER NOT NULL,"
	"  pos INTEGER NOT NULL,"
	"  redelivered INTEGER NOT NULL DEFAULT 0,"
	"  data TEXT NOT NULL);",
	/* 2: jobs and their results */
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY,"
	"  spec TEXT NOT NULL,"
	"  state INTEGER NOT NULL,"
	"  attempt INTEGER NOT NULL,"
	"  submitted_ms INTEGER NOT NULL,"
	"  deadline_ms INTEGER,"
	"  not_before_ms INTEGER NOT NULL,"
	"  started_ms INTEGER,"
	"  finished_ms INTEGER,"
	"  exit_code INTEGER,"
	"  signal INTEGER,"
	"  error TEXT,"
	"  stdout TEXT NOT NULL DEFAULT '',"
	"  stderr TEXT NOT NULL DEFAULT '',"
	"  stdout_truncated INTEGER NOT NULL DEFAULT 0,"
	"  stderr_truncated INTEGER NOT NULL DEFAULT 0,"
	"  progress_done INTEGER,"
	"  progress_total INTEGER,"
	"  delivered INTEGER NOT NULL DEFAULT 0);",
	/*
	 * 3: the process of a running job, to kill it after a crash, and
	 * the highest job id ever forgotten, so that ids are never reused
	 */
	("ALTER TABLE jobs ADD COLUMN pid INTEGER;"
	"ALTER TABLE jobs ADD COLUMN pid_start INTEGER;"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"),
	/*
	 * 4: the boot that pid belongs to: after a crash on the same boot,
	 * a group of that id with members is the job's even if pid is dead
	 */
	"ALTER TABLE jobs ADD COLUMN pid_boot TEXT;",
	/*
	 * 5: a value out on a named consumer's lease (lease_id, consumer)
	 * or on a delayed return (consumer NULL), until lease_until_ms
	 */
	("ALTER TABLE vals ADD COLUMN lease_id INTEGER;"
	"ALTER TABLE vals ADD COLUMN consumer TEXT;"
	"ALTER TABLE vals ADD COLUMN lease_until_ms INTEGER;"),
	/*
	 * 6: idempotent sends: a channel's own dedup settings (NULL: the
	 * server's) and the keys it has seen (store-dedup.c)
	 */
	("ALTER TABLE chans ADD COLUMN dedup_window_ms INTEGER;"
	"ALTER TABLE chans ADD COLUMN dedup_max INTEGER;"
	"CREATE TABLE dedup ("
	"  id INTEGER PRIMARY KEY,"
	"  chan INTEGER NOT NULL,"
	"  key TEXT NOT NULL,"
	"  at_ms INTEGER NOT NULL);"
	"CREATE INDEX dedup_chan ON dedup(chan, id);"),
	/*
	 * 7: a channel's redelivery limit and dead-letter channel, and a
	 * value's last nack reason (JSON text)
	 */
	("ALTER TABLE chans ADD COLUMN max_deliveries INTEGER;"
	"ALTER TABLE chans ADD COLUMN dead_letter TEXT;"
	"ALTER TABLE vals ADD COLUMN reason TEXT;"),
	/*
	 * 8: the agent (jq-worker) that ran a job's latest attempt; a job
	 * running on one stays running across a restart (worker.c)
	 */
	"ALTER TABLE jobs ADD COLUMN worker TEXT;",
};
const size_t store_nmigrations = sizeof(store_migrations) /
    sizeof(store_migrations[0]);
/* The schema a database has after every migration: its user_version. */
#define STORE_SCHEMA_VERSION	((int)(sizeof(store_migrations) /	\
    sizeof(store_migrations[0])))

/* Run one statement that returns no rows (setup only). */
static int
sq_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char	*msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg != NULL ? msg :
		    sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
sq_query_int(sqlite3 *db, const char *sql, int64_t *out, char *err,
    size_t errlen)
{
	sqlite3_stmt	*st;
	int		 rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -1;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

/*
 * Refuse what is not ours to change: another application's database, a
 * newer schema, a corrupt file.  Runs before anything could write.
 */
static int
sq_check(struct sq *sq, char *err, size_t errlen)
{
	sqlite3_stmt	*q;
	int64_t		 app_id, version;
	const char	*res;
	char		 msg[256];
	int		 rc;

	if (sq_query_int(sq->db, "PRAGMA application_id", &app_id, msg,
	    sizeof(msg)) == -1 ||
	    sq_query_int(sq->db, "PRAGMA user_version", &version, msg,
	    sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: cannot read the database: %s",
		    sq->path, msg);
		return -1;
	}
	if (app_id != 0 && app_id != STORE_APP_ID) {
		snprintf(err, errlen, "%s: not a jqd database (application_id "
		    "%lld)", sq->path, (long long)app_id);
		return -1;
	}
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %lld is newer than "
		    "this jqd supports (%d); refusing to touch it", sq->path,
		    (long long)version, STORE_SCHEMA_VERSION);
		return -1;
	}
	if (sqlite3_prepare_v2(sq->db, "PRAGMA quick_check", -1, &q, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", sq->path,
		    sqlite3_errmsg(sq->db));
		return -1;
	}
	rc = sqlite3_step(q);
	res = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) :
	    NULL;
	if (res == NULL || strcmp(res, "ok") != 0) {
		snprintf(err, errlen, "%s: the database is corrupt (%s); "
		    "refusing to start", sq->path, res != NULL ? res :
		    sqlite3_errmsg(sq->db));
		sqlite3_finalize(q);
		return -1;
	}
	sqlite3_finalize(q);
	return 0;
}

static int
sq_migrate(struct sq *sq, char *err, size_t errlen)
{
	int64_t		 version;
	char		 sql[64], msg[256];
	size_t		 i;

	if (sq_query_int(sq->db, "PRAGMA user_version", &version, msg,
	    sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: %s", sq->path, msg);
		return -1;
	}
	for (i = (size_t)version; i < STORE_SCHEMA_VERSION; i++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", i + 1);
		if (sq_exec(sq->db, "BEGIN", msg, sizeof(msg)) == -1 ||
		    sq_exec(sq->db, store_migrations[i], msg,
		    sizeof(msg)) == -1 ||
		    sq_exec(sq->db, sql, msg, sizeof(msg)) == -1 ||
		    sq_exec(sq->db, "PRAGMA application_id = 1785816097",
		    msg, sizeof(msg)) == -1 ||
		    sq_exec(sq->db, "COMMIT", msg, sizeof(msg)) == -1) {
			sq_exec(sq->db, "ROLLBACK", sql, sizeof(sql));
			snprintf(err, errlen, "%s: migration to schema %zu "
			    "failed: %s", sq->path, i + 1, msg);
			return -1;
		}
		if (version > 0)
			log_info("%s: migrated to schema %zu", sq->path, i + 1);
	}
	return 0;
}

/*
 * The files of a database this jqd made and did not keep: it, its WAL
 * and anything SQLite left beside it.  Called with the lock held, so no
 * other jqd can have opened it meanwhile.
 */
static void
sq_remove_files(const char *path)
{
	static const char *const suffixes[] = { "", "-wal", "-shm",
	    "-journal" };
	char	 name[4096];
	size_t	 i;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
		if (unlink(name) == -1 && errno != ENOENT)
			log_warn("%s: cannot remove: %s", name,
			    strerror(errno));
	}
}

/* remove: the start failed; a file this open made goes with it. */
static void
sq_free(struct sq *sq, bool remove)
{
	size_t	 i;

	if (sq == NULL)
		return;
	for (i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(sq->stmt[i]);
	for (i = 0; i < SQ_NTX; i++)
		sqlite3_finalize(sq->tx[i]);
	sqlite3_finalize(sq->q);
	free(sq->q_sql);
	if (sq->db != NULL)
		sqlite3_close(sq->db);
	if (remove && sq->created)
		sq_remove_files(sq->path);
	store_lock_release(sq->lock);
	free(sq->path);
	free(sq);
}

/*
 * Before SQLite opens path: take its lock (store-lock.h), and note
 * whether the file is about to be made, so that a start that fails
 * later (a listener that cannot bind, say) removes it rather than leave
 * an empty database behind.  Removing what we made, rather than opening
 * the store after everything else that can fail, keeps the start-up
 * order the store needs: whether this jqd is a standby, which opens no
 * listener, is the store's to say.
 */
static int
sq_lock(struct sq *sq, const char *path, char *err, size_t errlen)
{
	struct stat	 sb;

	if (strcmp(path, ":memory:") == 0 || *path == '\0')
		return 0;
	if ((sq->lock = store_lock_take(path, err, errlen)) == NULL)
		return -1;
	if (stat(path, &sb) == -1) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", path,
			    strerror(errno));
			return -1;
		}
		sq->created = true;
	}
	return 0;
}

static int
sq_prepare(struct sq *sq, const char *sql, sqlite3_stmt **out, char *err,
    size_t errlen)
{
	if (sqlite3_prepare_v3(sq->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    out, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", sq->path,
		    sqlite3_errmsg(sq->db));
		return -1;
	}
	return 0;
}

/* Any thread, inside a commit: ask the store thread for a checkpoint. */
static int
sq_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	if (pages >= STORE_CHECKPOINT_PAGES)
		store_maintain(arg);
	return SQLITE_OK;
}

static int
sq_open(struct store *st, const char *path, enum sync_mode sync, char *err,
    size_t errlen)
{
	static const char *const tx[SQ_NTX] = {
		[SQ_BEGIN] = "BEGIN IMMEDIATE",
		[SQ_COMMIT] = "COMMIT",
		[SQ_ROLLBACK] = "ROLLBACK",
	};
	struct sq	*sq;
	char		 msg[256];
	size_t		 i;
	int		 rc;

	if ((sq = calloc(1, sizeof(*sq))) == NULL ||
	    (sq->path = strdup(path)) == NULL)
		fatal("out of memory");
	if (sq_lock(sq, path, err, errlen) == -1)
		goto fail;
	/* Serialized: the loop and the thread may both use it. */
	rc = sqlite3_open_v2(path, &sq->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sq->db != NULL ?
		    sqlite3_errmsg(sq->db) : sqlite3_errstr(rc));
		goto fail;
	}
	/*
	 * Until the checks pass, closing must not checkpoint a WAL left by
	 * a crash into the main file: a refused database stays as it was.
	 * The exclusive lock keeps a second jqd off the same file.
	 */
	sqlite3_db_config(sq->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_busy_timeout(sq->db, 0);
	if (sq_exec(sq->db, "PRAGMA locking_mode = EXCLUSIVE", msg,
	    sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: %s", path, msg);
		goto fail;
	}
	if (sq_check(sq, err, errlen) == -1)
		goto fail;
	sqlite3_db_config(sq->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
	if (sq_exec(sq->db, "PRAGMA journal_mode = WAL", msg,
	    sizeof(msg)) == -1 ||
	    sq_exec(sq->db, sync == SYNC_FULL ? "PRAGMA synchronous = FULL"
	    : "PRAGMA synchronous = NORMAL", msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: %s", path, msg);
		goto fail;
	}
	if (sq_migrate(sq, err, errlen) == -1)
		goto fail;
	for (i = 0; i < STMT_COUNT; i++) {
		if (sq_prepare(sq, st->sql[i], &sq->stmt[i], err,
		    errlen) == -1)
			goto fail;
	}
	for (i = 0; i < SQ_NTX; i++) {
		if (sq_prepare(sq, tx[i], &sq->tx[i], err, errlen) == -1)
			goto fail;
	}
	/*
	 * sync=normal: a commit only writes to the page cache, so the loop
	 * commits small batches itself and the thread runs the checkpoints
	 * (which fsync) instead.
	 */
	st->commit_on_loop = sync == SYNC_NORMAL;
	if (st->commit_on_loop)
		sqlite3_wal_hook(sq->db, sq_wal_hook, st);
	st->bd = sq;
	return 0;
fail:
	if (sq->db != NULL)
		sqlite3_db_config(sq->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
		    NULL);
	sq_free(sq, true);
	return -1;
}

static void
sq_bind(sqlite3_stmt *s, const struct store_val *args, size_t nargs)
{
	size_t	 i;

	for (i = 0; i < nargs; i++) {
		switch (args[i].kind) {
		case SV_NULL:
			break;
		case SV_INT:
			sqlite3_bind_int64(s, (int)i + 1, args[i].i);
			break;
		case SV_BYTES:
			sqlite3_bind_text(s, (int)i + 1, args[i].p,
			    (int)args[i].len, SQLITE_STATIC);
			break;
		}
	}
}

/* Step s once (bound), then reset it: SQLITE_DONE or an error code. */
static int
sq_run(sqlite3_stmt *s)
{
	int	 rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static int
sq_apply(struct store *st, const struct store_batch *b, char *err,
    size_t errlen)
{
	struct sq		*sq = st->bd;
	struct store_step	 steps[2];
	size_t			 i, j, n;
	int			 rc;

	if ((rc = sq_run(sq->tx[SQ_BEGIN])) != SQLITE_DONE)
		goto fail;
	for (i = 0; i < b->n; i++) {
		n = store_rec_steps(&b->recs[i], steps);
		for (j = 0; j < n; j++) {
			sq_bind(sq->stmt[steps[j].stmt], steps[j].args,
			    steps[j].nargs);
			if ((rc = sq_run(sq->stmt[steps[j].stmt])) !=
			    SQLITE_DONE)
				goto rollback;
		}
	}
	if ((rc = sq_run(sq->tx[SQ_COMMIT])) == SQLITE_DONE)
		return 0;
rollback:
	/* SQLite's message, before a ROLLBACK could replace it. */
	snprintf(err, errlen, "%s", sqlite3_errmsg(sq->db));
	/*
	 * After an I/O error or a full disk SQLite has rolled back already,
	 * and a ROLLBACK would fail.
	 */
	if (!sqlite3_get_autocommit(sq->db))
		(void)sq_run(sq->tx[SQ_ROLLBACK]);
	return -1;
fail:
	snprintf(err, errlen, "%s", sqlite3_errmsg(sq->db));
	return -1;
}

/* A kept statement, ready for its next use. */
static void
sq_done(sqlite3_stmt *q)
{
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
}

static int
sq_query(struct store *st, const char *sql, const struct store_val *args,
    size_t nargs, store_row_cb *cb, void *arg, char *err, size_t errlen)
{
	struct sq		*sq = st->bd;
	struct store_val	 cols[STORE_MAX_ARGS + 1];
	sqlite3_stmt		*q;
	size_t			 i, n;
	int			 rc;

	if (sq->q == NULL || strcmp(sq->q_sql, sql) != 0) {
		sqlite3_finalize(sq->q);
		free(sq->q_sql);
		sq->q = NULL;
		if ((sq->q_sql = strdup(sql)) == NULL)
			fatal("out of memory");
		if (sqlite3_prepare_v2(sq->db, sql, -1, &sq->q, NULL) !=
		    SQLITE_OK) {
			snprintf(err, errlen, "%s", sqlite3_errmsg(sq->db));
			return -1;
		}
	}
	q = sq->q;
	sq_bind(q, args, nargs);
	n = (size_t)sqlite3_column_count(q);
	if (n > sizeof(cols) / sizeof(cols[0]))
		abort();
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		for (i = 0; i < n; i++) {
			switch (sqlite3_column_type(q, (int)i)) {
			case SQLITE_NULL:
				cols[i] = (struct store_val){ .kind = SV_NULL };
				break;
			case SQLITE_INTEGER:
				cols[i] = (struct store_val){ .kind = SV_INT,
				    .i = sqlite3_column_int64(q, (int)i) };
				break;
			default:
				/* Text first, then its length. */
				cols[i].kind = SV_BYTES;
				cols[i].p = (const char *)sqlite3_column_text(q,
				    (int)i);
				cols[i].len = (size_t)sqlite3_column_bytes(q,
				    (int)i);
				break;
			}
		}
		if (cb(arg, cols, n, err, errlen) == -1) {
			sq_done(q);
			return -1;
		}
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(sq->db));
		sq_done(q);
		return -1;
	}
	sq_done(q);
	return 0;
}

/*
 * The loop: the connection's mutex is held by the thread only inside each
 * call, and a committed row reads the same inside the thread's next
 * transaction.  Unless wait, the mutex is only tried, so that the loop
 * never waits behind a commit's fsync or a checkpoint.
 */
static int
sq_query_now(struct store *st, const char *sql, const struct store_val *args,
    size_t nargs, store_row_cb *cb, void *arg, bool wait, char *err,
    size_t errlen)
{
	struct sq	*sq = st->bd;
	sqlite3_mutex	*mu = sqlite3_db_mutex(sq->db);
	int		 rc;

	if (mu != NULL && !wait && sqlite3_mutex_try(mu) != SQLITE_OK)
		return 1;
	if (mu != NULL && wait)
		sqlite3_mutex_enter(mu);
	rc = sq_query(st, sql, args, nargs, cb, arg, err, errlen);
	if (mu != NULL)
		sqlite3_mutex_leave(mu);
	return rc;
}

static int
sq_apply_now(struct store *st, const struct store_batch *b, char *err,
    size_t errlen)
{
	struct sq	*sq = st->bd;
	sqlite3_mutex	*mu = sqlite3_db_mutex(sq->db);
	int		 rc;

	if (mu == NULL || sqlite3_mutex_try(mu) != SQLITE_OK)
		return 1;
	rc = sq_apply(st, b, err, errlen);
	sqlite3_mutex_leave(mu);
	return rc;
}

static void
sq_maintain(struct store *st)
{
	struct sq	*sq = st->bd;

	(void)sqlite3_wal_checkpoint_v2(sq->db, NULL,
	    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

static void
sq_sizes(struct store *st, uint64_t *db, uint64_t *log)
{
	struct sq	*sq = st->bd;
	struct stat	 sb;
	char		 wal[4096];

	*db = stat(sq->path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	snprintf(wal, sizeof(wal), "%s-wal", sq->path);
	*log = stat(wal, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

static void
sq_close(struct store *st)
{
	sq_free(st->bd, st->discard_new);
	st->bd = NULL;
}

struct sqlite3 *
store_sqlite_db(struct store *st)
{
	return st->be == &store_sqlite_backend ? ((struct sq *)st->bd)->db :
	    NULL;
}

const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.bytes_len = "length(CAST(%s AS BLOB))",
	.open = sq_open,
	.query = sq_query,
	.apply = sq_apply,
	.apply_now = sq_apply_now,
	.query_now = sq_query_now,
	.maintain = sq_maintain,
	.sizes = sq_sizes,
	.close = sq_close,
};
