/*
 * SQLite storage: the database side (see store.h for the contract; the
 * group commit is in store-commit.c).
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
#include "store-int.h"
#include "strbuf.h"
#include "value.h"

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

void
store_batch_clear(struct store_batch *b)
{
	size_t	 i;

	for (i = 0; i < b->n; i++) {
		free(b->recs[i].text);
		free(b->recs[i].job);
		free(b->recs[i].consumer);
		free(b->recs[i].reason);
	}
	b->n = 0;
}

void
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

int
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

void
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
	if (st->ev_delay != NULL)
		event_free(st->ev_delay);
	if (st->ev_done != NULL)
		event_free(st->ev_done);
	if (st->ev_retry != NULL)
		event_free(st->ev_retry);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cond);
	free(st->path);
	free(st);
}

int
store_prepare(struct store *st, enum store_stmt i, const char *sql,
    char *err, size_t errlen)
{
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &st->stmt[i], NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", st->path,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	return 0;
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
	/* Serialized: the loop and the thread may both use it (store-int.h). */
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
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
	st->commit_on_loop = sync == SYNC_NORMAL;
	for (i = 0; i < STMT_COUNT; i++) {
		if (store_sql[i] != NULL && store_prepare(st,
		    (enum store_stmt)i, store_sql[i],
		    err, errlen) == -1)
			goto fail;
	}
	if (store_job_prepare(st, err, errlen) == -1 ||
	    store_dedup_prepare(st, err, errlen) == -1)
		goto fail;
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

int
store_load(struct store *st, const struct store_loader *ld, char *err,
    size_t errlen)
{
	struct store_chan_ref	*refs = NULL, key, *ref;
	struct store_lease	 lease;
	size_t			 nrefs = 0, cap = 0;
	sqlite3_stmt		*q = NULL;
	struct value		*v;
	int64_t			 id, pos;
	int			 rc;

	st->next_chan_id = 1;
	st->next_value_id = 1;
	st->next_front_pos = -1;
	if (sqlite3_prepare_v2(st->db, "SELECT id, name, cap, closed, "
	    "max_deliveries, dead_letter FROM chans ORDER BY id", -1, &q,
	    NULL) != SQLITE_OK)
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
		if (sqlite3_column_type(q, 4) != SQLITE_NULL)
			ld->chan_dead(ld->arg, refs[nrefs].obj,
			    (uint32_t)sqlite3_column_int64(q, 4),
			    (const char *)sqlite3_column_text(q, 5));
		nrefs++;
		if (id >= st->next_chan_id)
			st->next_chan_id = id + 1;
	}
	if (rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(q);
	q = NULL;

	if (store_query_int(st->db, "SELECT coalesce(max(value), 0) FROM meta "
	    "WHERE key = 'lease_boot'", &st->lease_boot, err, errlen) == -1 ||
	    store_query_int(st->db, "SELECT coalesce(max(value), 0) FROM meta "
	    "WHERE key = 'lease_id_floor'", &st->lease_id_floor, err,
	    errlen) == -1)
		goto fail;
	if (sqlite3_prepare_v2(st->db, "SELECT id, chan, pos, redelivered, "
	    "data, lease_id, consumer, lease_until_ms, reason FROM vals ORDER BY "
	    "chan, pos, id", -1, &q, NULL) != SQLITE_OK)
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
		if (sqlite3_column_type(q, 8) != SQLITE_NULL &&
		    sqlite3_column_bytes(q, 8) <= VALUE_REASON_MAX)
			v = value_set_reason(v,
			    (const char *)sqlite3_column_text(q, 8),
			    (size_t)sqlite3_column_bytes(q, 8));
		lease.id = (uint64_t)sqlite3_column_int64(q, 5);
		lease.consumer = (const char *)sqlite3_column_text(q, 6);
		lease.consumer_len = (size_t)sqlite3_column_bytes(q, 6);
		lease.until_ms = sqlite3_column_int64(q, 7);
		if ((lease.id != 0) != (lease.consumer != NULL)) {
			snprintf(err, errlen, "%s: value %lld has a lease "
			    "without a consumer or the other way round",
			    st->path, (long long)id);
			value_free(v);
			goto fail;
		}
		ld->value(ld->arg, ref->obj, v,
		    sqlite3_column_type(q, 7) != SQLITE_NULL ? &lease : NULL);
	}
	if (rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(q);
	q = NULL;
	if (store_job_load(st, ld, err, errlen) == -1)
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
store_lease_ids(const struct store *st, uint32_t *boot, uint64_t *floor)
{
	*boot = (uint32_t)st->lease_boot;
	*floor = (uint64_t)st->lease_id_floor;
}

uint64_t
store_barrier(const struct store *st)
{
	return st->last_change_seq;
}

uint64_t
store_barrier_next(struct store *st)
{
	st->want_seq = st->open.seq + 1;
	return st->want_seq;
}

uint64_t
store_open_seq(const struct store *st)
{
	return st->open.seq;
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

