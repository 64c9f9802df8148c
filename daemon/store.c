/*
 * SQLite storage with group commit (see store.h for the contract).
 *
 * Schema (PRAGMA user_version = STORE_SCHEMA_VERSION,
 * application_id = STORE_APP_ID):
 *
 *   chans(id INTEGER PRIMARY KEY, name TEXT NOT NULL, cap INTEGER NOT NULL,
 *         closed INTEGER NOT NULL)
 *   vals(id INTEGER PRIMARY KEY, chan INTEGER NOT NULL, pos INTEGER NOT
 *        NULL, redelivered INTEGER NOT NULL, data TEXT NOT NULL)
 *
 *   jobs(id INTEGER PRIMARY KEY, spec TEXT, state INTEGER, attempt, times
 *        (unix ms, NULL when unset), exit_code, signal, error, stdout,
 *        stderr, truncation flags, progress, delivered)       -- schema 2
 *        + pid, pid_start (the running process, for crash cleanup) -- 3
 *   meta(key TEXT PRIMARY KEY, value INTEGER)                    -- 3
 *        "last_job_id": the highest id of a job purged by retention
 *
 * jobs.state holds enum job_state values (job.h): never renumber them.
 * jobs.spec is the submit request as the op layer normalised it; the store
 * does not look inside.
 *
 * A channel's values are its vals rows ordered by (pos, id).  New values
 * take pos = id (ids only grow); a value sent back to the front takes a pos
 * below every pos ever used (next_front_pos counts down from -1), so the
 * latest returned value is first, as in memory.  Leased values keep their
 * row untouched until acked, so after a restart they are simply back in
 * the channel at the front.
 *
 * To change the schema: append a migration to store_migrations[]; it runs
 * once, in a transaction, on databases whose user_version is lower.  A
 * database with a higher user_version was written by a newer jqd and is
 * refused.
 *
 * Threads: the loop owns `open` (the batch being recorded) and everything
 * but the fields under `mu`; the store thread owns the sqlite3 handle
 * once started, and trades one batch at a time through `todo`/`done`.
 */
#include <sys/stat.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "log.h"
#include "store.h"
#include "value.h"

#define STORE_SCHEMA_VERSION	3
#define STORE_APP_ID		0x6a716421	/* "jqd!" */
#define STORE_RETRY_MS		1000

static const char *const store_migrations[] = {
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
	/* 3: the process of a running job, to kill it after a crash */
	"ALTER TABLE jobs ADD COLUMN pid INTEGER;"
	"ALTER TABLE jobs ADD COLUMN pid_start INTEGER;"
	/* ... and the highest job id ever forgotten: ids are never reused */
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);",
};

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
	STMT_JOB_DELETE,
	STMT_JOB_FLOOR,
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_COUNT,
};

static const char *const store_sql[STMT_COUNT] = {
	[STMT_CHAN_MAKE] = "INSERT INTO chans(id, name, cap, closed) "
	    "VALUES (?1, ?2, ?3, 0)",
	[STMT_CHAN_CLOSE] = "UPDATE chans SET closed = 1 WHERE id = ?1",
	[STMT_CHAN_DROP] = "DELETE FROM chans WHERE id = ?1",
	[STMT_CHAN_DROP_VALS] = "DELETE FROM vals WHERE chan = ?1",
	[STMT_VAL_PUSH] = "INSERT INTO vals(id, chan, pos, redelivered, data) "
	    "VALUES (?1, ?2, ?3, ?4, ?5)",
	[STMT_VAL_TAKE] = "DELETE FROM vals WHERE id = ?1",
	[STMT_VAL_REQUEUE] = "UPDATE vals SET pos = ?2, redelivered = ?3 "
	    "WHERE id = ?1",
	[STMT_JOB_SAVE] = "INSERT OR REPLACE INTO jobs(id, spec, state, "
	    "attempt, submitted_ms, deadline_ms, not_before_ms, started_ms, "
	    "finished_ms, exit_code, signal, error, stdout, stderr, "
	    "stdout_truncated, stderr_truncated, progress_done, progress_total, "
	    "delivered, pid, pid_start) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
	    "?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, "
	    "?21)",
	[STMT_JOB_DELETE] = "DELETE FROM jobs WHERE id = ?1",
	[STMT_JOB_FLOOR] = "INSERT INTO meta(key, value) VALUES "
	    "('last_job_id', ?1) ON CONFLICT(key) DO UPDATE SET "
	    "value = max(value, excluded.value)",
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
};

struct store {
	sqlite3			*db;
	char			*path;
	sqlite3_stmt		*stmt[STMT_COUNT];

	/* Loop side. */
	struct store_batch	 open;		/* being recorded */
	struct store_batch	 flight;	/* being committed */
	bool			 in_flight;
	bool			 failing;
	uint64_t		 last_change_seq;
	int64_t			 next_chan_id;
	int64_t			 next_value_id;
	int64_t			 next_front_pos;
	int64_t			 job_id_floor;
	struct event		*ev_kick;
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
	bool			 stop;
	int			 result;	/* of the last commit */
	char			 errmsg[256];
	uint64_t		 latency_us;
};

static uint64_t
store_now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
store_batch_clear(struct store_batch *b)
{
	size_t	 i;

	for (i = 0; i < b->n; i++) {
		free(b->recs[i].text);
		free(b->recs[i].job);
	}
	b->n = 0;
}

static void
store_batch_fini(struct store_batch *b)
{
	store_batch_clear(b);
	free(b->recs);
	b->recs = NULL;
	b->cap = 0;
}

/* Run one statement that returns no rows (setup only). */
static int
store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
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

/* One integer from a query (PRAGMAs).  0 or -1. */
static int
store_query_int(sqlite3 *db, const char *sql, int64_t *out, char *err,
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
store_check(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt	*q;
	int64_t		 app_id, version;
	const char	*res;
	char		 msg[256];
	int		 rc;

	if (store_query_int(st->db, "PRAGMA application_id", &app_id, msg,
	    sizeof(msg)) == -1 ||
	    store_query_int(st->db, "PRAGMA user_version", &version, msg,
	    sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: cannot read the database: %s",
		    st->path, msg);
		return -1;
	}
	if (app_id != 0 && app_id != STORE_APP_ID) {
		snprintf(err, errlen, "%s: not a jqd database (application_id "
		    "%lld)", st->path, (long long)app_id);
		return -1;
	}
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: schema version %lld is newer than "
		    "this jqd supports (%d); refusing to touch it", st->path,
		    (long long)version, STORE_SCHEMA_VERSION);
		return -1;
	}
	if (sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &q, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", st->path,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	rc = sqlite3_step(q);
	res = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) :
	    NULL;
	if (res == NULL || strcmp(res, "ok") != 0) {
		snprintf(err, errlen, "%s: the database is corrupt (%s); "
		    "refusing to start", st->path, res != NULL ? res :
		    sqlite3_errmsg(st->db));
		sqlite3_finalize(q);
		return -1;
	}
	sqlite3_finalize(q);
	return 0;
}

static int
store_migrate(struct store *st, char *err, size_t errlen)
{
	int64_t		 version;
	char		 sql[64], msg[256];
	size_t		 i;

	if (store_query_int(st->db, "PRAGMA user_version", &version, msg,
	    sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: %s", st->path, msg);
		return -1;
	}
	for (i = (size_t)version; i < STORE_SCHEMA_VERSION; i++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", i + 1);
		if (store_exec(st->db, "BEGIN", msg, sizeof(msg)) == -1 ||
		    store_exec(st->db, store_migrations[i], msg,
		    sizeof(msg)) == -1 ||
		    store_exec(st->db, sql, msg, sizeof(msg)) == -1 ||
		    store_exec(st->db, "PRAGMA application_id = 1785816097",
		    msg, sizeof(msg)) == -1 ||
		    store_exec(st->db, "COMMIT", msg, sizeof(msg)) == -1) {
			store_exec(st->db, "ROLLBACK", sql, sizeof(sql));
			snprintf(err, errlen, "%s: migration to schema %zu "
			    "failed: %s", st->path, i + 1, msg);
			return -1;
		}
		if (version > 0)
			log_info("%s: migrated to schema %zu", st->path, i + 1);
	}
	return 0;
}

static void
store_free(struct store *st)
{
	size_t	 i;

	for (i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	if (st->db != NULL)
		sqlite3_close(st->db);
	store_batch_fini(&st->open);
	store_batch_fini(&st->flight);
	if (st->ev_kick != NULL)
		event_free(st->ev_kick);
	if (st->ev_done != NULL)
		event_free(st->ev_done);
	if (st->ev_retry != NULL)
		event_free(st->ev_retry);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cond);
	free(st->path);
	free(st);
}

struct store *
store_open(const char *path, enum sync_mode sync, char *err, size_t errlen)
{
	struct store	*st;
	char		 msg[256];
	size_t		 i;
	int		 rc;

	st = calloc(1, sizeof(*st));
	if (st == NULL)
		fatal("out of memory");
	st->path = strdup(path);
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cond, NULL);
	st->open.seq = 1;
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, st->db != NULL ?
		    sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto fail;
	}
	/*
	 * Until the checks pass, closing must not checkpoint a WAL left by
	 * a crash into the main file: a refused database stays as it was.
	 * The exclusive lock keeps a second jqd off the same file.
	 */
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_busy_timeout(st->db, 0);
	if (store_exec(st->db, "PRAGMA locking_mode = EXCLUSIVE", msg,
	    sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: %s", path, msg);
		goto fail;
	}
	if (store_check(st, err, errlen) == -1)
		goto fail;
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
	if (store_exec(st->db, "PRAGMA journal_mode = WAL", msg,
	    sizeof(msg)) == -1 ||
	    store_exec(st->db, sync == SYNC_FULL ? "PRAGMA synchronous = FULL"
	    : "PRAGMA synchronous = NORMAL", msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: %s", path, msg);
		goto fail;
	}
	if (store_migrate(st, err, errlen) == -1)
		goto fail;
	for (i = 0; i < STMT_COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, store_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL) !=
		    SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", path,
			    sqlite3_errmsg(st->db));
			goto fail;
		}
	}
	return st;
fail:
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	store_free(st);
	return NULL;
}

struct store_chan_ref {
	int64_t	 id;
	void	*obj;
};

static int
store_chan_ref_cmp(const void *a, const void *b)
{
	const struct store_chan_ref *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int64_t
store_column_opt(sqlite3_stmt *q, int col, int64_t none)
{
	return sqlite3_column_type(q, col) == SQLITE_NULL ? none :
	    sqlite3_column_int64(q, col);
}

static int
store_load_jobs(struct store *st, const struct store_loader *ld, char *err,
    size_t errlen)
{
	struct store_job	 j;
	sqlite3_stmt		*q;
	int			 rc;

	if (store_query_int(st->db, "SELECT coalesce(max(value), 0) FROM meta "
	    "WHERE key = 'last_job_id'", &st->job_id_floor, err, errlen) ==
	    -1)
		return -1;
	if (sqlite3_prepare_v2(st->db, "SELECT id, spec, state, attempt, "
	    "submitted_ms, deadline_ms, not_before_ms, started_ms, "
	    "finished_ms, exit_code, signal, error, stdout, stderr, "
	    "stdout_truncated, stderr_truncated, progress_done, "
	    "progress_total, delivered, pid, pid_start FROM jobs ORDER BY id",
	    -1, &q,
	    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot load jobs: %s", st->path,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		memset(&j, 0, sizeof(j));
		j.id = sqlite3_column_int64(q, 0);
		j.spec = (const char *)sqlite3_column_text(q, 1);
		j.state = sqlite3_column_int(q, 2);
		j.attempt = sqlite3_column_int64(q, 3);
		j.submitted_ms = sqlite3_column_int64(q, 4);
		j.deadline_ms = store_column_opt(q, 5, -1);
		j.not_before_ms = sqlite3_column_int64(q, 6);
		j.started_ms = store_column_opt(q, 7, -1);
		j.finished_ms = store_column_opt(q, 8, -1);
		j.exit_code = (int)store_column_opt(q, 9, -1);
		j.signal = (int)store_column_opt(q, 10, 0);
		j.error = (const char *)sqlite3_column_text(q, 11);
		j.out = (const char *)sqlite3_column_text(q, 12);
		j.out_len = (size_t)sqlite3_column_bytes(q, 12);
		j.err = (const char *)sqlite3_column_text(q, 13);
		j.err_len = (size_t)sqlite3_column_bytes(q, 13);
		j.out_truncated = sqlite3_column_int(q, 14) != 0;
		j.err_truncated = sqlite3_column_int(q, 15) != 0;
		j.progress_done = store_column_opt(q, 16, -1);
		j.progress_total = store_column_opt(q, 17, -1);
		j.delivered = sqlite3_column_int(q, 18) != 0;
		j.pid = (int)store_column_opt(q, 19, 0);
		j.pid_start = store_column_opt(q, 20, -1);
		if (j.spec == NULL || ld->job(ld->arg, &j, err, errlen) == -1) {
			if (j.spec == NULL)
				snprintf(err, errlen, "job %lld has no spec",
				    (long long)j.id);
			sqlite3_finalize(q);
			return -1;
		}
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s: cannot load jobs: %s", st->path,
		    sqlite3_errmsg(st->db));
		sqlite3_finalize(q);
		return -1;
	}
	sqlite3_finalize(q);
	return 0;
}

int
store_load(struct store *st, const struct store_loader *ld, char *err,
    size_t errlen)
{
	struct store_chan_ref	*refs = NULL, key, *ref;
	size_t			 nrefs = 0, cap = 0;
	sqlite3_stmt		*q = NULL;
	struct value		*v;
	int64_t			 id, pos;
	int			 rc;

	st->next_chan_id = 1;
	st->next_value_id = 1;
	st->next_front_pos = -1;
	if (sqlite3_prepare_v2(st->db, "SELECT id, name, cap, closed FROM "
	    "chans ORDER BY id", -1, &q, NULL) != SQLITE_OK)
		goto sqlfail;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (nrefs == cap) {
			cap = cap ? cap * 2 : 64;
			refs = realloc(refs, cap * sizeof(*refs));
			if (refs == NULL)
				fatal("out of memory");
		}
		id = sqlite3_column_int64(q, 0);
		refs[nrefs].id = id;
		refs[nrefs].obj = ld->chan(ld->arg, id,
		    (const char *)sqlite3_column_text(q, 1),
		    (uint32_t)sqlite3_column_int64(q, 2),
		    sqlite3_column_int(q, 3) != 0);
		nrefs++;
		if (id >= st->next_chan_id)
			st->next_chan_id = id + 1;
	}
	if (rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(q);
	q = NULL;

	if (sqlite3_prepare_v2(st->db, "SELECT id, chan, pos, redelivered, "
	    "data FROM vals ORDER BY chan, pos, id", -1, &q, NULL) !=
	    SQLITE_OK)
		goto sqlfail;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		id = sqlite3_column_int64(q, 0);
		pos = sqlite3_column_int64(q, 2);
		if (id >= st->next_value_id)
			st->next_value_id = id + 1;
		if (pos <= st->next_front_pos)
			st->next_front_pos = pos - 1;
		key.id = sqlite3_column_int64(q, 1);
		ref = bsearch(&key, refs, nrefs, sizeof(*refs),
		    store_chan_ref_cmp);
		if (ref == NULL) {
			snprintf(err, errlen, "%s: value %lld belongs to no "
			    "channel; the database is inconsistent", st->path,
			    (long long)id);
			goto fail;
		}
		v = value_new((const char *)sqlite3_column_text(q, 4),
		    (size_t)sqlite3_column_bytes(q, 4));
		v->store_id = id;
		v->redelivered = (uint32_t)sqlite3_column_int64(q, 3);
		ld->value(ld->arg, ref->obj, v);
	}
	if (rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(q);
	q = NULL;
	if (store_load_jobs(st, ld, err, errlen) == -1)
		goto fail;
	free(refs);
	return 0;
sqlfail:
	snprintf(err, errlen, "%s: cannot load: %s", st->path,
	    sqlite3_errmsg(st->db));
fail:
	sqlite3_finalize(q);
	free(refs);
	return -1;
}

/* -1 (or signal 0) is stored as NULL. */
static void
store_bind_opt(sqlite3_stmt *s, int col, int64_t v, int64_t none)
{
	if (v == none)
		sqlite3_bind_null(s, col);
	else
		sqlite3_bind_int64(s, col, v);
}

static void
store_bind_job(sqlite3_stmt *s, const struct store_job *j)
{
	sqlite3_bind_int64(s, 1, j->id);
	sqlite3_bind_text(s, 2, j->spec, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, j->state);
	sqlite3_bind_int64(s, 4, j->attempt);
	sqlite3_bind_int64(s, 5, j->submitted_ms);
	store_bind_opt(s, 6, j->deadline_ms, -1);
	sqlite3_bind_int64(s, 7, j->not_before_ms);
	store_bind_opt(s, 8, j->started_ms, -1);
	store_bind_opt(s, 9, j->finished_ms, -1);
	store_bind_opt(s, 10, j->exit_code, -1);
	store_bind_opt(s, 11, j->signal, 0);
	if (j->error != NULL)
		sqlite3_bind_text(s, 12, j->error, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 12);
	sqlite3_bind_text(s, 13, j->out, (int)j->out_len, SQLITE_STATIC);
	sqlite3_bind_text(s, 14, j->err, (int)j->err_len, SQLITE_STATIC);
	sqlite3_bind_int(s, 15, j->out_truncated);
	sqlite3_bind_int(s, 16, j->err_truncated);
	store_bind_opt(s, 17, j->progress_done, -1);
	store_bind_opt(s, 18, j->progress_total, -1);
	sqlite3_bind_int(s, 19, j->delivered);
	store_bind_opt(s, 20, j->pid, 0);
	store_bind_opt(s, 21, j->pid_start, -1);
}

/* Thread: apply one batch in one transaction.  SQLITE_OK or an error. */
static int
store_apply(struct store *st, const struct store_batch *b)
{
	const struct store_rec	*r;
	sqlite3_stmt		*s;
	size_t			 i;
	int			 rc;

	if ((rc = sqlite3_step(st->stmt[STMT_BEGIN])) != SQLITE_DONE)
		goto out;
	sqlite3_reset(st->stmt[STMT_BEGIN]);
	for (i = 0; i < b->n; i++) {
		r = &b->recs[i];
		switch (r->type) {
		case REC_NONE:
			continue;
		case REC_CHAN_MAKE:
			s = st->stmt[STMT_CHAN_MAKE];
			sqlite3_bind_int64(s, 1, r->id);
			sqlite3_bind_text(s, 2, r->text, (int)r->len,
			    SQLITE_STATIC);
			sqlite3_bind_int64(s, 3, r->num);
			break;
		case REC_CHAN_CLOSE:
			s = st->stmt[STMT_CHAN_CLOSE];
			sqlite3_bind_int64(s, 1, r->id);
			break;
		case REC_CHAN_DROP:
			s = st->stmt[STMT_CHAN_DROP_VALS];
			sqlite3_bind_int64(s, 1, r->id);
			rc = sqlite3_step(s);
			sqlite3_reset(s);
			if (rc != SQLITE_DONE)
				goto rollback;
			s = st->stmt[STMT_CHAN_DROP];
			sqlite3_bind_int64(s, 1, r->id);
			break;
		case REC_VAL_PUSH:
			s = st->stmt[STMT_VAL_PUSH];
			sqlite3_bind_int64(s, 1, r->id);
			sqlite3_bind_int64(s, 2, r->chan);
			sqlite3_bind_int64(s, 3, r->pos);
			sqlite3_bind_int64(s, 4, r->num);
			sqlite3_bind_text(s, 5, r->text, (int)r->len,
			    SQLITE_STATIC);
			break;
		case REC_VAL_TAKE:
			s = st->stmt[STMT_VAL_TAKE];
			sqlite3_bind_int64(s, 1, r->id);
			break;
		case REC_VAL_REQUEUE:
			s = st->stmt[STMT_VAL_REQUEUE];
			sqlite3_bind_int64(s, 1, r->id);
			sqlite3_bind_int64(s, 2, r->pos);
			sqlite3_bind_int64(s, 3, r->num);
			break;
		case REC_JOB_SAVE:
			s = st->stmt[STMT_JOB_SAVE];
			store_bind_job(s, r->job);
			break;
		case REC_JOB_DELETE:
			s = st->stmt[STMT_JOB_FLOOR];
			sqlite3_bind_int64(s, 1, r->id);
			rc = sqlite3_step(s);
			sqlite3_reset(s);
			if (rc != SQLITE_DONE)
				goto rollback;
			s = st->stmt[STMT_JOB_DELETE];
			sqlite3_bind_int64(s, 1, r->id);
			break;
		default:
			continue;
		}
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		if (rc != SQLITE_DONE)
			goto rollback;
	}
	rc = sqlite3_step(st->stmt[STMT_COMMIT]);
	sqlite3_reset(st->stmt[STMT_COMMIT]);
	if (rc == SQLITE_DONE)
		return SQLITE_OK;
rollback:
	sqlite3_step(st->stmt[STMT_ROLLBACK]);
	sqlite3_reset(st->stmt[STMT_ROLLBACK]);
out:
	sqlite3_reset(st->stmt[STMT_BEGIN]);
	return rc == SQLITE_OK || rc == SQLITE_DONE ? SQLITE_ERROR : rc;
}

static void *
store_thread_main(void *arg)
{
	struct store	*st = arg;
	uint64_t	 t0;
	int		 rc;

	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (!st->todo && !st->stop)
			pthread_cond_wait(&st->cond, &st->mu);
		if (!st->todo && st->stop)
			break;
		pthread_mutex_unlock(&st->mu);

		t0 = store_now_us();
		rc = store_apply(st, &st->flight);

		pthread_mutex_lock(&st->mu);
		st->todo = false;
		st->result = rc;
		st->latency_us = store_now_us() - t0;
		if (rc != SQLITE_OK)
			snprintf(st->errmsg, sizeof(st->errmsg), "%s",
			    sqlite3_errmsg(st->db));
		event_active(st->ev_done, EV_READ, 0);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* Loop: hand the flight batch to the thread. */
static void
store_submit(struct store *st)
{
	pthread_mutex_lock(&st->mu);
	st->todo = true;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->mu);
}

/* Loop: start a commit of the open batch if none is in flight. */
static void
store_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store		*st = arg;
	struct store_batch	 tmp;

	if (st->in_flight || st->open.n == 0)
		return;
	tmp = st->flight;
	st->flight = st->open;
	st->open = tmp;
	st->open.n = 0;
	st->open.seq = st->flight.seq + 1;
	st->in_flight = true;
	store_submit(st);
}

static void
store_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	store_submit(arg);
}

static void
store_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store	*st = arg;
	struct timeval	 tv = { STORE_RETRY_MS / 1000, 0 };
	uint64_t	 latency;
	int		 rc;

	pthread_mutex_lock(&st->mu);
	rc = st->result;
	latency = st->latency_us;
	pthread_mutex_unlock(&st->mu);
	if (rc != SQLITE_OK) {
		/* Keep the batch and its held replies; try again later. */
		st->stats.failures++;
		if (!st->failing)
			log_error("store: commit failed: %s; refusing changes "
			    "and retrying every %d ms", st->errmsg,
			    STORE_RETRY_MS);
		st->failing = true;
		evtimer_add(st->ev_retry, &tv);
		return;
	}
	if (st->failing)
		log_info("store: commits succeed again");
	st->failing = false;
	st->stats.commits++;
	st->stats.records += st->flight.n;
	st->stats.latency_us_sum += latency;
	st->stats.latency_us_last = latency;
	if (latency > st->stats.latency_us_max)
		st->stats.latency_us_max = latency;
	store_batch_clear(&st->flight);
	st->in_flight = false;
	st->cb(st->flight.seq, st->cb_arg);
	if (st->open.n > 0)
		store_kick_cb(-1, 0, st);
}

int
store_start(struct store *st, struct event_base *base, store_commit_cb *cb,
    void *arg, char *err, size_t errlen)
{
	int	 rc;

	st->cb = cb;
	st->cb_arg = arg;
	st->ev_kick = event_new(base, -1, 0, store_kick_cb, st);
	st->ev_done = event_new(base, -1, 0, store_done_cb, st);
	st->ev_retry = evtimer_new(base, store_retry_cb, st);
	if (st->ev_kick == NULL || st->ev_done == NULL || st->ev_retry == NULL)
		fatal("out of memory");
	if ((rc = pthread_create(&st->thread, NULL, store_thread_main,
	    st)) != 0) {
		snprintf(err, errlen, "store thread: %s", strerror(rc));
		return -1;
	}
	st->started = true;
	/* Changes recorded while loading (jobs interrupted by a crash). */
	if (st->open.n > 0)
		event_active(st->ev_kick, EV_WRITE, 0);
	return 0;
}

bool
store_idle(const struct store *st)
{
	return !st->in_flight && st->open.n == 0;
}

bool
store_failing(const struct store *st)
{
	return st->failing;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->started) {
		pthread_mutex_lock(&st->mu);
		st->stop = true;
		pthread_cond_signal(&st->cond);
		pthread_mutex_unlock(&st->mu);
		pthread_join(st->thread, NULL);
	}
	/* Whatever is still open was never acknowledged; commit it anyway. */
	if (st->open.n > 0 && store_apply(st, &st->open) != SQLITE_OK)
		log_error("store: final commit failed: %s",
		    sqlite3_errmsg(st->db));
	store_free(st);
}

int64_t
store_job_id_floor(const struct store *st)
{
	return st->job_id_floor;
}

uint64_t
store_barrier(const struct store *st)
{
	return st->last_change_seq;
}

void
store_get_stats(struct store *st, struct store_stats *out)
{
	struct stat	 sb;
	char		 wal[4096];

	*out = st->stats;
	out->db_bytes = stat(st->path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	snprintf(wal, sizeof(wal), "%s-wal", st->path);
	out->wal_bytes = stat(wal, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* Loop: a new record in the open batch; the commit starts this turn. */
static struct store_rec *
store_record(struct store *st, enum store_rec_type type)
{
	struct store_rec	*r;

	if (st->open.n == st->open.cap) {
		st->open.cap = st->open.cap ? st->open.cap * 2 : 256;
		st->open.recs = realloc(st->open.recs,
		    st->open.cap * sizeof(*st->open.recs));
		if (st->open.recs == NULL)
			fatal("out of memory");
	}
	r = &st->open.recs[st->open.n++];
	memset(r, 0, sizeof(*r));
	r->type = type;
	st->last_change_seq = st->open.seq;
	if (!st->in_flight && st->ev_kick != NULL)
		event_active(st->ev_kick, EV_WRITE, 0);
	return r;
}

static char *
store_strndup(const char *s, size_t len)
{
	char	*p = malloc(len + 1);

	if (p == NULL)
		fatal("out of memory");
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int64_t
store_chan_make(struct store *st, const char *name, uint32_t cap)
{
	struct store_rec	*r = store_record(st, REC_CHAN_MAKE);

	r->id = st->next_chan_id++;
	r->len = strlen(name);
	r->text = store_strndup(name, r->len);
	r->num = cap;
	return r->id;
}

void
store_chan_close(struct store *st, int64_t chan_id)
{
	store_record(st, REC_CHAN_CLOSE)->id = chan_id;
}

void
store_chan_drop(struct store *st, int64_t chan_id)
{
	store_record(st, REC_CHAN_DROP)->id = chan_id;
}

void
store_value_push(struct store *st, int64_t chan_id, struct value *v)
{
	struct store_rec	*r = store_record(st, REC_VAL_PUSH);

	r->id = v->store_id = st->next_value_id++;
	r->chan = chan_id;
	r->pos = r->id;
	r->num = v->redelivered;
	r->len = v->len;
	r->text = store_strndup(v->data, v->len);
	v->store_seq = st->open.seq;
	v->store_rec = st->open.n - 1;
}

/* The open batch's insert of v, if it has not been handed off yet. */
static struct store_rec *
store_pending_push(struct store *st, const struct value *v)
{
	struct store_rec	*r;

	if (v->store_seq != st->open.seq || v->store_rec >= st->open.n)
		return NULL;
	r = &st->open.recs[v->store_rec];
	return r->type == REC_VAL_PUSH && r->id == v->store_id ? r : NULL;
}

void
store_value_take(struct store *st, struct value *v)
{
	struct store_rec	*r;

	if ((r = store_pending_push(st, v)) != NULL) {
		/*
		 * Sent and received within one batch: it never needs to
		 * reach the disk.  Both replies still wait for this batch.
		 */
		r->type = REC_NONE;
		free(r->text);
		r->text = NULL;
		st->last_change_seq = st->open.seq;
		return;
	}
	store_record(st, REC_VAL_TAKE)->id = v->store_id;
}

void
store_value_requeue(struct store *st, struct value *v)
{
	struct store_rec	*r;

	if ((r = store_pending_push(st, v)) != NULL) {
		r->pos = st->next_front_pos--;
		r->num = v->redelivered;
		st->last_change_seq = st->open.seq;
		return;
	}
	r = store_record(st, REC_VAL_REQUEUE);
	r->id = v->store_id;
	r->pos = st->next_front_pos--;
	r->num = v->redelivered;
}

void
store_job_save(struct store *st, const struct store_job *row, uint64_t *seq,
    size_t *rec)
{
	struct store_rec	*r;
	struct store_job	*j;

	/* A newer save of the same job in the open batch replaces it. */
	if (*seq == st->open.seq && *rec < st->open.n &&
	    st->open.recs[*rec].type == REC_JOB_SAVE &&
	    st->open.recs[*rec].id == row->id) {
		r = &st->open.recs[*rec];
		r->type = REC_NONE;
		free(r->job);
		r->job = NULL;
	}
	r = store_record(st, REC_JOB_SAVE);
	r->id = row->id;
	/* One allocation: the row, then its strings. */
	j = malloc(sizeof(*j) + strlen(row->spec) + 1 +
	    (row->error != NULL ? strlen(row->error) + 1 : 0) +
	    row->out_len + 1 + row->err_len + 1);
	if (j == NULL)
		fatal("out of memory");
	*j = *row;
	{
		char	*p = (char *)(j + 1);

		j->spec = strcpy(p, row->spec);
		p += strlen(row->spec) + 1;
		if (row->error != NULL) {
			j->error = strcpy(p, row->error);
			p += strlen(row->error) + 1;
		}
		memcpy(p, row->out != NULL ? row->out : "", row->out_len);
		p[row->out_len] = '\0';
		j->out = p;
		p += row->out_len + 1;
		memcpy(p, row->err != NULL ? row->err : "", row->err_len);
		p[row->err_len] = '\0';
		j->err = p;
	}
	r->job = j;
	*seq = st->open.seq;
	*rec = st->open.n - 1;
}

void
store_job_delete(struct store *st, int64_t id)
{
	store_record(st, REC_JOB_DELETE)->id = id;
}
