/*
 * The PostgreSQL backend (store-int.h's struct store_backend), chosen by
 * --store postgres:CONNINFO or a postgres:// URI.  It runs the common
 * layer's statements over libpq; everything about group commit and the
 * order of replies stays in store-commit.c.
 *
 * Where: the tables live in the first schema of the connection's
 * search_path (options='-c search_path=NAME' picks one), which must exist.
 * A schema is one jqd: its tables, and its lock (below).
 *
 * Schema (meta 'schema_version' = PG_SCHEMA_VERSION): the tables of the
 * SQLite backend's latest schema (store-sqlite.c), with BIGINT for every
 * integer, TEXT for names and JSON, BYTEA for what is bytes with a length
 * (values, consumers, reasons, dedup keys, stdout, stderr).  To change it:
 * append to pg_migrations[] (never edit one that shipped), as for SQLite.
 *
 * One jqd at a time: the store's connection holds a session advisory lock
 * keyed by the schema (pg_try_advisory_lock(PG_LOCK_CLASS,
 * hashtext(schema))); a second jqd on the same schema is refused.  On
 * taking the lock a node increments meta 'epoch' and remembers it; every
 * batch's transaction starts with jqd_fence(epoch), which locks the epoch
 * row (FOR SHARE, so it conflicts with a takeover's update of it) and
 * fails unless the epoch is still ours: a node that lost the database
 * for a while and was replaced can never commit again, hence never
 * acknowledge.  jqd_fence also counts commits in meta 'commit_no'.
 *
 * A batch that writes nothing -- a heartbeat, or one whose values were
 * all received before it committed, most batches under load -- is no
 * transaction: jqd reads the epoch (pg_check_epoch), so the server writes
 * no commit record and the batch waits for no WAL flush.  Nothing durable
 * is acknowledged by it, and it still finds a replaced node out: while
 * our session lives we hold the lock and nobody can take over; once it
 * is gone the read fails, and reconnecting finds the lock taken.
 *
 * A batch is one transaction sent in pipeline mode: BEGIN, jqd_fence, the
 * statements (binary parameters and results), COMMIT, one sync; results
 * are read every PG_WINDOW statements so neither side's buffers fill.
 * Consecutive value inserts, and consecutive takes, go as one statement
 * with array parameters (pg_multi): the server's cost is per statement
 * more than per row.
 * When the connection breaks, apply reconnects (libpq's timeouts bound
 * each try; the common layer retries every second and refuses changes
 * meanwhile).  If it broke after COMMIT was sent, the outcome is unknown:
 * the next try first reads commit_no, and a batch found committed is not
 * applied twice.
 *
 * The store thread owns the connection once started.  There is no
 * apply_now or query_now: a round trip never runs on the loop; a final
 * job's output is read on the store thread (store-job.c).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <endian.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "log.h"
#include "store-int.h"
#include "strbuf.h"

/* Statements sent before their results are read. */
#define PG_WINDOW		256
/* pg_advisory_lock's first key: "jqd!". */
#define PG_LOCK_CLASS		0x6a716421
/* The lock that serializes creating and migrating a schema. */
#define PG_MIGRATE_CLASS	0x6a716422
/* SQLSTATE of jqd_fence's refusal. */
#define PG_DEPOSED		"JQ001"
/* The prepared statement of pg_check_epoch. */
#define PG_EPOCH_STMT		"epoch"

/* Built-in type oids (pg_type.h is a server header). */
#define PG_BOOLOID		16
#define PG_BYTEAOID		17
#define PG_INT8OID		20
#define PG_INT2OID		21
#define PG_INT4OID		23
#define PG_TEXTOID		25

/*
 * A run of one statement that goes as one multi-row statement: its
 * parameters as arrays, column by column, of these element types.  The
 * columns are the single statement's, in its order (store_sql).
 */
#define PG_MULTI_COLS		9
static const struct pg_multi {
	enum store_stmt	 stmt;
	const char	*name;
	const char	*sql;
	size_t		 ncols;
	Oid		 elem[PG_MULTI_COLS];
} pg_multis[] = {
	{ STMT_VAL_PUSH, "m_push", "INSERT INTO vals(id, chan, pos, "
	    "redelivered, data, lease_id, consumer, lease_until_ms, reason) "
	    "SELECT * FROM unnest($1::int8[], $2::int8[], $3::int8[], "
	    "$4::int8[], $5::bytea[], $6::int8[], $7::bytea[], $8::int8[], "
	    "$9::bytea[])", 9, { PG_INT8OID, PG_INT8OID, PG_INT8OID,
	    PG_INT8OID, PG_BYTEAOID, PG_INT8OID, PG_BYTEAOID, PG_INT8OID,
	    PG_BYTEAOID } },
	{ STMT_VAL_TAKE, "m_take", "DELETE FROM vals WHERE id = "
	    "ANY($1::int8[])", 1, { PG_INT8OID } },
};
#define PG_NMULTI	(sizeof(pg_multis) / sizeof(pg_multis[0]))

static const char *const pg_migrations[] = {
	/* 1: what SQLite's schema 8 holds */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value BIGINT NOT NULL);"
	"CREATE TABLE chans ("
	"  id BIGINT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  cap BIGINT NOT NULL,"
	"  closed BIGINT NOT NULL DEFAULT 0,"
	"  dedup_window_ms BIGINT,"
	"  dedup_max BIGINT,"
	"  max_deliveries BIGINT,"
	"  dead_letter TEXT);"
	"CREATE TABLE vals ("
	"  id BIGINT PRIMARY KEY,"
	"  chan BIGINT NOT NULL,"
	"  pos BIGINT NOT NULL,"
	"  redelivered BIGINT NOT NULL DEFAULT 0,"
	"  data BYTEA NOT NULL,"
	"  lease_id BIGINT,"
	"  consumer BYTEA,"
	"  lease_until_ms BIGINT,"
	"  reason BYTEA);"
	"CREATE INDEX vals_chan ON vals(chan);"
	"CREATE TABLE dedup ("
	"  id BIGINT PRIMARY KEY,"
	"  chan BIGINT NOT NULL,"
	"  key BYTEA NOT NULL,"
	"  at_ms BIGINT NOT NULL);"
	"CREATE INDEX dedup_chan ON dedup(chan, id);"
	"CREATE TABLE jobs ("
	"  id BIGINT PRIMARY KEY,"
	"  spec TEXT NOT NULL,"
	"  state BIGINT NOT NULL,"
	"  attempt BIGINT NOT NULL,"
	"  submitted_ms BIGINT NOT NULL,"
	"  deadline_ms BIGINT,"
	"  not_before_ms BIGINT NOT NULL,"
	"  started_ms BIGINT,"
	"  finished_ms BIGINT,"
	"  exit_code BIGINT,"
	"  signal BIGINT,"
	"  error TEXT,"
	"  stdout BYTEA NOT NULL DEFAULT '',"
	"  stderr BYTEA NOT NULL DEFAULT '',"
	"  stdout_truncated BIGINT NOT NULL DEFAULT 0,"
	"  stderr_truncated BIGINT NOT NULL DEFAULT 0,"
	"  progress_done BIGINT,"
	"  progress_total BIGINT,"
	"  delivered BIGINT NOT NULL DEFAULT 0,"
	"  pid BIGINT,"
	"  pid_start BIGINT,"
	"  pid_boot TEXT,"
	"  worker TEXT);"
	"INSERT INTO meta(key, value) VALUES ('epoch', 0), ('commit_no', 0);"
	"CREATE FUNCTION jqd_fence(e BIGINT) RETURNS BIGINT "
	"LANGUAGE plpgsql AS $$ "
	"DECLARE cur BIGINT; n BIGINT; "
	"BEGIN "
	"  SELECT value INTO cur FROM meta WHERE key = 'epoch' FOR SHARE; "
	"  IF cur IS DISTINCT FROM e THEN "
	"    RAISE EXCEPTION 'epoch % is no longer current (now %): "
	"another jqd took over', e, cur USING ERRCODE = '" PG_DEPOSED "'; "
	"  END IF; "
	"  UPDATE meta SET value = value + 1 WHERE key = 'commit_no' "
	"    RETURNING value INTO n; "
	"  RETURN n; "
	"END $$;",
};
#define PG_SCHEMA_VERSION	((int64_t)(sizeof(pg_migrations) /	\
    sizeof(pg_migrations[0])))

struct pg {
	PGconn		*conn;
	/* A standby's wait: cancel_wait (the loop) ends it. */
	pthread_mutex_t	 mu;
	pthread_cond_t	 cond;
	bool		 cancel;
	PGcancel	*waiting;	/* the blocked lock query's */
	char		*target;	/* the connection string */
	char		*schema;
	bool		 prepared;	/* on this connection */
	int64_t		 epoch;		/* ours */
	int64_t		 commits;	/* commit_no after our last commit */
	bool		 unknown;	/* the last COMMIT's outcome */
	bool		 deposed;
	bool		 async_commit;	/* sync=normal */
	const char	*const *sql;	/* store->sql */
	/* The run being gathered (pg_multi), and its arrays. */
	const struct pg_multi *multi;
	struct store_step *run;
	size_t		 nrun, run_cap;
	struct strbuf	 arrays[PG_MULTI_COLS];
};

/* A libpq message on one line (jqd logs one line per event). */
static void
pg_msg(char *err, size_t errlen, const char *what, const char *msg)
{
	size_t	 n, i, j;

	snprintf(err, errlen, "%s%s%s", what, *what ? ": " : "",
	    msg != NULL && *msg ? msg : "unknown error");
	for (i = j = 0; err[i] != '\0'; i++) {
		if (err[i] == '\n' || err[i] == '\t') {
			if (j > 0 && err[j - 1] != ' ')
				err[j++] = ' ';
		} else
			err[j++] = err[i];
	}
	err[j] = '\0';
	n = j;
	while (n > 0 && err[n - 1] == ' ')
		err[--n] = '\0';
}

static void
pg_conn_msg(struct pg *pg, char *err, size_t errlen, const char *what)
{
	pg_msg(err, errlen, what, PQerrorMessage(pg->conn));
}

/* PQexec of setup SQL that returns no rows or one value.  0 or -1. */
static int
pg_exec(struct pg *pg, const char *sql, char *out, size_t outlen,
    char *err, size_t errlen)
{
	PGresult	*res = PQexec(pg->conn, sql);
	ExecStatusType	 st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		pg_msg(err, errlen, "", PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	if (out != NULL) {
		snprintf(out, outlen, "%s", st == PGRES_TUPLES_OK &&
		    PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ?
		    PQgetvalue(res, 0, 0) : "");
	}
	PQclear(res);
	return 0;
}

/* The value of one row's first column as an integer (-1: no row, NULL). */
static int
pg_exec_int(struct pg *pg, const char *sql, int64_t *v, char *err,
    size_t errlen)
{
	char	 buf[64];

	if (pg_exec(pg, sql, buf, sizeof(buf), err, errlen) == -1)
		return -1;
	*v = buf[0] != '\0' ? strtoll(buf, NULL, 10) : -1;
	return 0;
}

/* ?N placeholders as $N (the SQL text has no ? elsewhere). */
static char *
pg_sql(const char *sql)
{
	struct strbuf	 sb = STRBUF_INIT;

	for (; *sql != '\0'; sql++)
		strbuf_appendc(&sb, *sql == '?' ? '$' : *sql);
	return strbuf_detach(&sb, NULL);
}

/*
 * Parameter types of statement i: the job statements name every column's
 * (the keep_output update leaves stdout and stderr out, and PostgreSQL
 * cannot guess an unused parameter); the others leave it to the server.
 */
static void
pg_param_types(enum store_stmt i, Oid *types, size_t n)
{
	size_t	 c;

	memset(types, 0, n * sizeof(*types));
	if (i != STMT_JOB_SAVE && i != STMT_JOB_SAVE_KEEP_OUTPUT)
		return;
	for (c = 0; c < store_job_ncols && c < n; c++) {
		switch (store_job_cols[c].kind) {
		case STORE_COL_I64:
		case STORE_COL_INT:
		case STORE_COL_BOOL:
			types[c] = PG_INT8OID;
			break;
		case STORE_COL_TEXT:
			types[c] = PG_TEXTOID;
			break;
		case STORE_COL_BYTES:
			types[c] = PG_BYTEAOID;
			break;
		}
	}
}

/* Prepare one statement on the connection.  0 or -1. */
static int
pg_prepare_one(struct pg *pg, const char *name, const char *sql, int n,
    const Oid *types, char *err, size_t errlen)
{
	PGresult	*res;
	int		 ok;

	res = PQprepare(pg->conn, name, sql, n, types);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		pg_msg(err, errlen, "preparing statements",
		    PQresultErrorMessage(res));
	PQclear(res);
	return ok ? 0 : -1;
}

static int
pg_prepare(struct pg *pg, char *err, size_t errlen)
{
	Oid		 types[STORE_MAX_ARGS];
	char		 name[16], *sql;
	size_t		 i;
	int		 rc;

	for (i = 0; i < STMT_COUNT; i++) {
		snprintf(name, sizeof(name), "s%zu", i);
		sql = pg_sql(pg->sql[i]);
		pg_param_types((enum store_stmt)i, types, STORE_MAX_ARGS);
		rc = pg_prepare_one(pg, name, sql, i == STMT_JOB_SAVE ||
		    i == STMT_JOB_SAVE_KEEP_OUTPUT ? (int)store_job_ncols : 0,
		    types, err, errlen);
		free(sql);
		if (rc == -1)
			return -1;
	}
	for (i = 0; i < PG_NMULTI; i++) {
		if (pg_prepare_one(pg, pg_multis[i].name, pg_multis[i].sql, 0,
		    NULL, err, errlen) == -1)
			return -1;
	}
	if (pg_prepare_one(pg, PG_EPOCH_STMT, "SELECT value FROM meta WHERE "
	    "key = 'epoch'", 0, NULL, err, errlen) == -1)
		return -1;
	pg->prepared = true;
	return 0;
}

static void
pg_notice(void *arg, const char *msg)
{
}

/*
 * Connect: our defaults first (the target overrides them): keepalives
 * and a TCP user timeout, so that a dead link fails a commit within
 * seconds instead of hanging it, and a connect timeout.
 */
static int
pg_connect(struct pg *pg, char *err, size_t errlen)
{
	static const char *const keys[] = {
		"application_name", "connect_timeout", "keepalives",
		"keepalives_idle", "keepalives_interval", "keepalives_count",
		"tcp_user_timeout", "dbname", NULL,
	};
	const char	*vals[] = {
		"jqd", "5", "1", "5", "2", "3", "10000", pg->target, NULL,
	};

	if (pg->conn != NULL)
		PQfinish(pg->conn);
	pg->prepared = false;
	pg->conn = PQconnectdbParams(keys, vals, 1);
	if (pg->conn == NULL)
		fatal("out of memory");
	if (PQstatus(pg->conn) != CONNECTION_OK) {
		pg_conn_msg(pg, err, errlen, "cannot connect");
		return -1;
	}
	/* Notices (e.g. "relation exists") are not jqd's business. */
	PQsetNoticeProcessor(pg->conn, pg_notice, NULL);
	/*
	 * The server's side of the same: a node cut off from the database
	 * loses its session, hence its lock, within about 16 s, and a
	 * standby can take over (TCP only; ignored on a Unix socket).  The
	 * node steps down before that, after 8 s without a commit
	 * (server.c's SERVER_FENCE_MS): its jobs never run twice.
	 */
	if (pg_exec(pg, "SET tcp_keepalives_idle = 10; SET "
	    "tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3; SET "
	    "tcp_user_timeout = 16000", NULL, 0, err, errlen) == -1)
		return -1;
	/*
	 * sync=normal: a commit returns before the server's WAL is flushed:
	 * a crash of the database server, not of jqd, may lose the last
	 * commits, as power loss may with SQLite.
	 */
	if (pg->async_commit && pg_exec(pg, "SET synchronous_commit = off",
	    NULL, 0, err, errlen) == -1)
		return -1;
	/*
	 * Every statement of a batch finds its rows by a key, but the
	 * planner sizes a table by its current pages: vals is empty at
	 * start and after each vacuum, and a plan made then (prepared
	 * statements keep theirs) scans the whole heap, dead rows and all,
	 * for every value taken.  The loads at start (whole tables, in an
	 * index's order) lose little by an index scan.  No JIT: a seq scan
	 * that remains (no index serves the query) now costs enough to be
	 * compiled, 100 ms and more each, and none of our queries gains.
	 */
	if (pg_exec(pg, "SET enable_seqscan = off; SET jit = off", NULL, 0,
	    err, errlen) == -1)
		return -1;
	return 0;
}

/*
 * The lock of our schema, on this connection: 0, 1 if another session
 * holds it (err: whose), -1 on an error.
 */
static int
pg_lock(struct pg *pg, char *err, size_t errlen)
{
	char	 sql[256], got[16];

	snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%d, "
	    "hashtext(current_schema()))", PG_LOCK_CLASS);
	if (pg_exec(pg, sql, got, sizeof(got), err, errlen) == -1)
		return -1;
	if (strcmp(got, "t") != 0) {
		snprintf(err, errlen, "another jqd is active on schema %s",
		    pg->schema);
		return 1;
	}
	return 0;
}

/* Refuse what is not ours; create or migrate the schema.  0 or -1. */
static int
pg_schema(struct pg *pg, char *err, size_t errlen)
{
	char		 msg[160], sql[128], name[64];
	int64_t		 version, tables;
	size_t		 i;

	name[0] = '\0';
	if (pg_exec(pg, "SELECT current_schema()", name, sizeof(name), msg,
	    sizeof(msg)) == -1)
		goto fail;
	if (name[0] == '\0') {
		snprintf(err, errlen, "no schema to create tables in: the "
		    "first schema of search_path must exist");
		return -1;
	}
	free(pg->schema);
	if ((pg->schema = strdup(name)) == NULL)
		fatal("out of memory");
	/*
	 * One transaction, under a lock of the schema's own: two jqd
	 * started at once on a new schema must not both create it.
	 */
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%d, "
	    "hashtext(current_schema()))", PG_MIGRATE_CLASS);
	if (pg_exec(pg, "BEGIN", NULL, 0, msg, sizeof(msg)) == -1 ||
	    pg_exec(pg, sql, NULL, 0, msg, sizeof(msg)) == -1 ||
	    pg_exec_int(pg, "SELECT count(*) FROM pg_tables WHERE "
	    "schemaname = current_schema()", &tables, msg,
	    sizeof(msg)) == -1)
		goto fail;
	version = 0;
	if (tables > 0) {
		if (pg_exec_int(pg, "SELECT count(*) FROM pg_tables WHERE "
		    "schemaname = current_schema() AND tablename = 'meta'",
		    &version, msg, sizeof(msg)) == -1)
			goto fail;
		if (version == 0 || pg_exec_int(pg, "SELECT value FROM meta "
		    "WHERE key = 'schema_version'", &version, msg,
		    sizeof(msg)) == -1 || version <= 0) {
			snprintf(err, errlen, "schema %s holds tables that are "
			    "not jqd's; refusing to touch it", pg->schema);
			goto refuse;
		}
	}
	if (version > PG_SCHEMA_VERSION) {
		snprintf(err, errlen, "schema %s: version %lld is newer than "
		    "this jqd supports (%lld); refusing to touch it",
		    pg->schema, (long long)version,
		    (long long)PG_SCHEMA_VERSION);
		goto refuse;
	}
	for (i = (size_t)version; i < (size_t)PG_SCHEMA_VERSION; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO meta(key, value) "
		    "VALUES ('schema_version', %zu) ON CONFLICT (key) DO "
		    "UPDATE SET value = excluded.value", i + 1);
		if (pg_exec(pg, pg_migrations[i], NULL, 0, msg,
		    sizeof(msg)) == -1 ||
		    pg_exec(pg, sql, NULL, 0, msg, sizeof(msg)) == -1) {
			snprintf(err, errlen, "schema %s: migration to version "
			    "%zu failed: %s", pg->schema, i + 1, msg);
			goto refuse;
		}
	}
	if (pg_exec(pg, "COMMIT", NULL, 0, msg, sizeof(msg)) == -1)
		goto fail;
	if (version > 0 && version < PG_SCHEMA_VERSION)
		log_info("postgres: schema %s migrated from version %lld to "
		    "%lld", pg->schema, (long long)version,
		    (long long)PG_SCHEMA_VERSION);
	return 0;
fail:
	snprintf(err, errlen, "cannot read the schema: %s", msg);
refuse:
	(void)pg_exec(pg, "ROLLBACK", NULL, 0, msg, sizeof(msg));
	return -1;
}

/* Take over: a new epoch, ours.  0 or -1. */
static int
pg_new_epoch(struct pg *pg, char *err, size_t errlen)
{
	char	 msg[160];

	if (pg_exec_int(pg, "UPDATE meta SET value = value + 1 WHERE key = "
	    "'epoch' RETURNING value", &pg->epoch, msg, sizeof(msg)) == -1 ||
	    pg_exec_int(pg, "SELECT value FROM meta WHERE key = 'commit_no'",
	    &pg->commits, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "cannot start an epoch: %s", msg);
		return -1;
	}
	return 0;
}

static void
pg_free(struct pg *pg)
{
	size_t	 i;

	if (pg == NULL)
		return;
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	pthread_mutex_destroy(&pg->mu);
	pthread_cond_destroy(&pg->cond);
	for (i = 0; i < PG_MULTI_COLS; i++)
		strbuf_fini(&pg->arrays[i]);
	free(pg->run);
	free(pg->target);
	free(pg->schema);
	free(pg);
}

static int	pg_activate(struct store *, char *, size_t);

static int
pg_open(struct store *st, const char *target, enum sync_mode sync,
    char *err, size_t errlen)
{
	struct pg	*pg;
	char		 msg[400];

	if ((pg = calloc(1, sizeof(*pg))) == NULL ||
	    (pg->target = strdup(target)) == NULL)
		fatal("out of memory");
	pg->sql = st->sql;
	pg->async_commit = sync == SYNC_NORMAL;
	pthread_mutex_init(&pg->mu, NULL);
	pthread_cond_init(&pg->cond, NULL);
	st->bd = pg;
	if (pg_connect(pg, msg, sizeof(msg)) == -1 ||
	    pg_schema(pg, msg, sizeof(msg)) == -1)
		goto fail;
	free(st->target);
	if (asprintf(&st->target, "postgres schema %s", pg->schema) == -1)
		fatal("out of memory");
	switch (pg_lock(pg, msg, sizeof(msg))) {
	case -1:
		goto fail;
	case 1:
		st->standby = true;
		return 0;
	}
	if (pg_activate(st, msg, sizeof(msg)) == -1)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "postgres: %s", msg);
	st->bd = NULL;
	pg_free(pg);
	return -1;
}

/* Take over, holding the lock: a new epoch, the statements.  0 or -1. */
static int
pg_activate(struct store *st, char *err, size_t errlen)
{
	struct pg	*pg = st->bd;

	if (pg_new_epoch(pg, err, errlen) == -1 ||
	    pg_prepare(pg, err, errlen) == -1)
		return -1;
	log_info("postgres: active on schema %s, epoch %lld (PostgreSQL %s)",
	    pg->schema, (long long)pg->epoch, PQparameterStatus(pg->conn,
	    "server_version") != NULL ? PQparameterStatus(pg->conn,
	    "server_version") : "?");
	return 0;
}

/*
 * A standby's thread: wait for the lock, blocking in the server (so the
 * lock is ours the moment the active node's session ends).  A broken
 * connection is made again every second.  0 with the lock, 1 if
 * cancelled.
 */
static int
pg_wait_active(struct store *st, char *err, size_t errlen)
{
	struct pg	*pg = st->bd;
	struct timespec	 ts;
	char		 sql[256], msg[256], got[16];
	bool		 warned = false;
	int		 rc;

	snprintf(sql, sizeof(sql), "SELECT pg_advisory_lock(%d, "
	    "hashtext(current_schema()))", PG_LOCK_CLASS);
	for (;;) {
		rc = -1;
		pthread_mutex_lock(&pg->mu);
		if (pg->cancel) {
			pthread_mutex_unlock(&pg->mu);
			return 1;
		}
		if (PQstatus(pg->conn) == CONNECTION_OK)
			pg->waiting = PQgetCancel(pg->conn);
		pthread_mutex_unlock(&pg->mu);
		if (PQstatus(pg->conn) == CONNECTION_OK)
			rc = pg_exec(pg, sql, got, sizeof(got), msg,
			    sizeof(msg));
		pthread_mutex_lock(&pg->mu);
		PQfreeCancel(pg->waiting);
		pg->waiting = NULL;
		if (pg->cancel) {
			pthread_mutex_unlock(&pg->mu);
			return 1;
		}
		pthread_mutex_unlock(&pg->mu);
		if (rc == 0)
			return 0;
		if (!warned)
			log_warn("postgres: standby: %s; trying again every "
			    "second", PQstatus(pg->conn) == CONNECTION_OK ?
			    msg : PQerrorMessage(pg->conn));
		warned = true;
		/* Wait a second (or for cancel_wait), then connect again. */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_mutex_lock(&pg->mu);
		if (!pg->cancel)
			pthread_cond_timedwait(&pg->cond, &pg->mu, &ts);
		pthread_mutex_unlock(&pg->mu);
		if (pg_connect(pg, msg, sizeof(msg)) == 0)
			warned = false;
	}
	(void)err;
	(void)errlen;
}

static void
pg_cancel_wait(struct store *st)
{
	struct pg	*pg = st->bd;
	char		 buf[256];

	pthread_mutex_lock(&pg->mu);
	pg->cancel = true;
	if (pg->waiting != NULL)
		(void)PQcancel(pg->waiting, buf, sizeof(buf));
	pthread_cond_broadcast(&pg->cond);
	pthread_mutex_unlock(&pg->mu);
}

static bool
pg_deposed(struct store *st)
{
	return ((struct pg *)st->bd)->deposed;
}

static int64_t
pg_epoch(struct store *st)
{
	return ((struct pg *)st->bd)->epoch;
}

/*
 * After the connection broke: connect again, take the lock again, check
 * that the epoch is still ours, prepare.  Decide what the last COMMIT did
 * if its answer was lost.  0 or -1.
 */
static int
pg_reconnect(struct pg *pg, bool *committed, char *err, size_t errlen)
{
	char		 msg[256];
	int64_t		 epoch, commits;
	bool		 decided;

	*committed = false;
	if (pg_connect(pg, msg, sizeof(msg)) == -1)
		goto fail;
	switch (pg_lock(pg, msg, sizeof(msg))) {
	case -1:
		goto fail;
	case 1:
		pg->deposed = true;
		goto fail;
	}
	if (pg_exec_int(pg, "SELECT value FROM meta WHERE key = 'epoch'",
	    &epoch, msg, sizeof(msg)) == -1 ||
	    pg_exec_int(pg, "SELECT value FROM meta WHERE key = 'commit_no'",
	    &commits, msg, sizeof(msg)) == -1)
		goto fail;
	if (epoch != pg->epoch) {
		pg->deposed = true;
		snprintf(err, errlen, "postgres: epoch %lld is no longer "
		    "current (now %lld): another jqd took over",
		    (long long)pg->epoch, (long long)epoch);
		return -1;
	}
	/* The last COMMIT's answer was lost: did it commit? */
	decided = pg->unknown && commits == pg->commits + 1;
	if (commits != pg->commits + (decided ? 1 : 0)) {
		snprintf(err, errlen, "postgres: commit_no is %lld, expected "
		    "%lld: another writer is using schema %s", (long long)
		    commits, (long long)pg->commits, pg->schema);
		pg->deposed = true;
		return -1;
	}
	if (pg_prepare(pg, msg, sizeof(msg)) == -1)
		goto fail;
	/*
	 * Only now, connected for good: should this try fail, the next
	 * one must still know what the lost COMMIT did, and not apply its
	 * batch a second time.
	 */
	if (pg->unknown) {
		pg->unknown = false;
		pg->commits = commits;
		*committed = decided;
	}
	log_info("postgres: connected again (epoch %lld)",
	    (long long)pg->epoch);
	return 0;
fail:
	pg_msg(err, errlen, "postgres", msg);
	return -1;
}

/* Parameters in binary: integers as 8 bytes, big-endian. */
struct pg_params {
	const char	*values[STORE_MAX_ARGS];
	int		 lengths[STORE_MAX_ARGS];
	int		 formats[STORE_MAX_ARGS];
	uint64_t	 ints[STORE_MAX_ARGS];
};

static void
pg_params(struct pg_params *p, const struct store_val *args, size_t nargs)
{
	size_t	 i;

	for (i = 0; i < nargs; i++) {
		p->formats[i] = 1;
		switch (args[i].kind) {
		case SV_NULL:
			p->values[i] = NULL;
			p->lengths[i] = 0;
			break;
		case SV_INT:
			p->ints[i] = htobe64((uint64_t)args[i].i);
			p->values[i] = (const char *)&p->ints[i];
			p->lengths[i] = 8;
			break;
		case SV_BYTES:
			p->values[i] = args[i].p != NULL ? args[i].p : "";
			p->lengths[i] = (int)args[i].len;
			break;
		}
	}
}

/*
 * Whether an error result means our session is over: the connection
 * broke, or the server ended the session (FATAL: a fast shutdown, an
 * administrator's pg_terminate_backend) and is about to close it.  What
 * was sent and not yet answered may then have been done or not.
 */
static bool
pg_session_lost(struct pg *pg, const PGresult *res)
{
	const char	*sev;

	if (PQstatus(pg->conn) == CONNECTION_BAD)
		return true;
	sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	return sev != NULL && (strcmp(sev, "FATAL") == 0 ||
	    strcmp(sev, "PANIC") == 0);
}

/*
 * Read the results of n queries of the pipeline.  The first failure's
 * message goes to err (once); returns the number of failures.  *broken:
 * the connection failed.  *deposed: jqd_fence refused.
 */
static size_t
pg_read_results(struct pg *pg, size_t n, bool *broken, char *err,
    size_t errlen)
{
	PGresult	*res;
	ExecStatusType	 st;
	const char	*state;
	size_t		 failed = 0;

	while (n > 0) {
		if ((res = PQgetResult(pg->conn)) == NULL) {
			/* The end of one query's results. */
			n--;
			if (PQstatus(pg->conn) == CONNECTION_BAD) {
				*broken = true;
				break;
			}
			continue;
		}
		st = PQresultStatus(res);
		if (st == PGRES_FATAL_ERROR) {
			state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			if (state != NULL && strcmp(state, PG_DEPOSED) == 0)
				pg->deposed = true;
			if (failed++ == 0)
				pg_msg(err, errlen, "postgres",
				    PQresultErrorMessage(res));
			/*
			 * A session ended after COMMIT was sent: unknown
			 * outcome, not a rollback.  A fast shutdown answers
			 * a COMMIT that committed, then sends its FATAL in
			 * the sync's place while the socket still reads.
			 */
			if (pg_session_lost(pg, res))
				*broken = true;
		} else if (st == PGRES_PIPELINE_ABORTED)
			failed++;
		else if (st == PGRES_PIPELINE_SYNC) {
			/* The sync answers with no NULL after it. */
			n--;
		}
		PQclear(res);
		if (*broken)
			break;
	}
	return failed;
}

static int
pg_send(struct pg *pg, const char *name, const struct store_val *args,
    size_t nargs)
{
	struct pg_params	 p;

	pg_params(&p, args, nargs);
	return PQsendQueryPrepared(pg->conn, name, (int)nargs, p.values,
	    p.lengths, p.formats, 1) == 1 ? 0 : -1;
}

static void
pg_put32(struct strbuf *sb, uint32_t v)
{
	v = htonl(v);
	strbuf_append(sb, &v, sizeof(v));
}

/*
 * Column col of n statements' parameters as a one-dimensional array in
 * PostgreSQL's binary form (array_send): dimensions, whether any element
 * is NULL, the element type, then each element's length and bytes.
 */
static void
pg_array(struct strbuf *sb, const struct store_step *steps, size_t n,
    size_t col, Oid elem)
{
	const struct store_val	*v;
	uint64_t		 be;
	bool			 nulls = false;
	size_t			 i;

	for (i = 0; i < n; i++)
		nulls |= steps[i].args[col].kind == SV_NULL;
	strbuf_reset(sb);
	pg_put32(sb, 1);
	pg_put32(sb, nulls);
	pg_put32(sb, elem);
	pg_put32(sb, (uint32_t)n);
	pg_put32(sb, 1);
	for (i = 0; i < n; i++) {
		v = &steps[i].args[col];
		switch (v->kind) {
		case SV_NULL:
			pg_put32(sb, UINT32_MAX);	/* -1 */
			break;
		case SV_INT:
			assert(elem == PG_INT8OID);
			pg_put32(sb, 8);
			be = htobe64((uint64_t)v->i);
			strbuf_append(sb, &be, sizeof(be));
			break;
		case SV_BYTES:
			assert(elem == PG_BYTEAOID);
			pg_put32(sb, (uint32_t)v->len);
			strbuf_append(sb, v->p != NULL ? v->p : "", v->len);
			break;
		}
	}
}

static const struct pg_multi *
pg_multi_of(enum store_stmt stmt)
{
	size_t	 i;

	for (i = 0; i < PG_NMULTI; i++) {
		if (pg_multis[i].stmt == stmt)
			return &pg_multis[i];
	}
	return NULL;
}

/* Send one statement of the batch.  0 or -1 (the connection failed). */
static int
pg_send_step(struct pg *pg, const struct store_step *s)
{
	char	 name[16];

	snprintf(name, sizeof(name), "s%d", (int)s->stmt);
	return pg_send(pg, name, s->args, s->nargs);
}

/* Send the run gathered: one statement (as it was, if alone).  0 or -1. */
static int
pg_send_run(struct pg *pg)
{
	const struct pg_multi	*m = pg->multi;
	const char		*values[PG_MULTI_COLS];
	int			 lengths[PG_MULTI_COLS], formats[PG_MULTI_COLS];
	size_t			 c, n = pg->nrun;

	pg->multi = NULL;
	pg->nrun = 0;
	if (n == 1)
		return pg_send_step(pg, &pg->run[0]);
	for (c = 0; c < m->ncols; c++) {
		pg_array(&pg->arrays[c], pg->run, n, c, m->elem[c]);
		values[c] = pg->arrays[c].data;
		lengths[c] = (int)pg->arrays[c].len;
		formats[c] = 1;
	}
	return PQsendQueryPrepared(pg->conn, m->name, (int)m->ncols, values,
	    lengths, formats, 1) == 1 ? 0 : -1;
}

/* Add s to the run, which is of its statement. */
static void
pg_run_add(struct pg *pg, const struct pg_multi *m,
    const struct store_step *s)
{
	if (pg->nrun == pg->run_cap) {
		pg->run_cap = pg->run_cap > 0 ? pg->run_cap * 2 : 64;
		pg->run = reallocarray(pg->run, pg->run_cap,
		    sizeof(*pg->run));
		if (pg->run == NULL)
			fatal("out of memory");
	}
	pg->multi = m;
	pg->run[pg->nrun++] = *s;
}

/*
 * One more statement sent: every PG_WINDOW, read the results so far, so
 * that nothing fills up.  0, or -1 if the connection failed sending;
 * *broken if it failed reading.
 */
static int
pg_sent(struct pg *pg, size_t *sent, size_t *failed, bool *broken,
    char *err, size_t errlen)
{
	if (++*sent < PG_WINDOW)
		return 0;
	if (PQsendFlushRequest(pg->conn) != 1 || PQflush(pg->conn) != 0)
		return -1;
	*failed += pg_read_results(pg, *sent, broken, err, errlen);
	*sent = 0;
	return 0;
}

/* One try at the batch, pipelined.  0 or -1; *broken as above. */
static int
pg_apply_once(struct pg *pg, const struct store_batch *b, bool *broken,
    char *err, size_t errlen)
{
	struct store_step	 steps[2];
	struct store_val	 epoch = { .kind = SV_INT, .i = pg->epoch };
	struct pg_params	 p;
	const struct pg_multi	*m;
	size_t			 i, j, n, sent = 0, failed = 0;
	bool			 commit_sent = false;

	pg->multi = NULL;
	pg->nrun = 0;
	if (PQenterPipelineMode(pg->conn) != 1)
		goto conn;
	pg_params(&p, &epoch, 1);
	if (PQsendQueryParams(pg->conn, "BEGIN", 0, NULL, NULL, NULL, NULL,
	    0) != 1 ||
	    PQsendQueryParams(pg->conn, "SELECT jqd_fence($1)", 1,
	    (const Oid[]){ PG_INT8OID }, p.values, p.lengths, p.formats,
	    1) != 1)
		goto conn;
	sent = 2;
	for (i = 0; i < b->n; i++) {
		n = store_rec_steps(&b->recs[i], steps);
		for (j = 0; j < n; j++) {
			m = pg_multi_of(steps[j].stmt);
			if (pg->nrun > 0 && m != pg->multi) {
				if (pg_send_run(pg) == -1 || pg_sent(pg,
				    &sent, &failed, broken, err, errlen) == -1)
					goto conn;
				if (*broken)
					goto out;
			}
			if (m != NULL) {
				pg_run_add(pg, m, &steps[j]);
				continue;
			}
			if (pg_send_step(pg, &steps[j]) == -1 || pg_sent(pg,
			    &sent, &failed, broken, err, errlen) == -1)
				goto conn;
			if (*broken)
				goto out;
		}
	}
	if (pg->nrun > 0) {
		if (pg_send_run(pg) == -1 || pg_sent(pg, &sent, &failed,
		    broken, err, errlen) == -1)
			goto conn;
		if (*broken)
			goto out;
	}
	if (PQsendQueryParams(pg->conn, "COMMIT", 0, NULL, NULL, NULL, NULL,
	    0) != 1 || PQpipelineSync(pg->conn) != 1)
		goto conn;
	commit_sent = true;
	failed += pg_read_results(pg, sent + 2, broken, err, errlen);
out:
	if (*broken) {
		pg->unknown = commit_sent;
		if (err[0] == '\0')
			pg_conn_msg(pg, err, errlen, "postgres");
		return -1;
	}
	(void)PQexitPipelineMode(pg->conn);
	if (failed > 0) {
		/* The server rolled back at the first error. */
		if (err[0] == '\0')
			snprintf(err, errlen, "postgres: the transaction "
			    "failed");
		return -1;
	}
	pg->commits++;
	return 0;
conn:
	*broken = true;
	pg->unknown = commit_sent;
	pg_conn_msg(pg, err, errlen, "postgres");
	return -1;
}

/* Whether the batch writes anything: all its records may be cancelled. */
static bool
pg_batch_writes(const struct store_batch *b)
{
	size_t	 i;

	for (i = 0; i < b->n; i++) {
		if (b->recs[i].type != REC_NONE)
			return true;
	}
	return false;
}

/*
 * A batch that writes nothing: the epoch read, not locked (see the top of
 * the file).  0 or -1; *broken if the connection failed.
 */
static int
pg_check_epoch(struct pg *pg, bool *broken, char *err, size_t errlen)
{
	PGresult	*res;
	int64_t		 epoch;
	int		 rc = -1;

	res = PQexecPrepared(pg->conn, PG_EPOCH_STMT, 0, NULL, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		pg_msg(err, errlen, "postgres", PQresultErrorMessage(res));
		*broken = pg_session_lost(pg, res);
	} else if ((epoch = strtoll(PQgetvalue(res, 0, 0), NULL, 10)) !=
	    pg->epoch) {
		pg->deposed = true;
		snprintf(err, errlen, "postgres: epoch %lld is no longer "
		    "current (now %lld): another jqd took over",
		    (long long)pg->epoch, (long long)epoch);
	} else
		rc = 0;
	PQclear(res);
	return rc;
}

static int
pg_apply(struct store *st, const struct store_batch *b, char *err,
    size_t errlen)
{
	struct pg	*pg = st->bd;
	bool		 broken = false, committed;

	err[0] = '\0';
	if (pg->deposed) {
		snprintf(err, errlen, "postgres: this jqd was replaced (epoch "
		    "%lld); it commits nothing", (long long)pg->epoch);
		return -1;
	}
	if (PQstatus(pg->conn) != CONNECTION_OK || !pg->prepared) {
		if (pg_reconnect(pg, &committed, err, errlen) == -1)
			return -1;
		if (committed)
			return 0;
	}
	if (!pg_batch_writes(b)) {
		if (pg_check_epoch(pg, &broken, err, errlen) == 0)
			return 0;
	} else if (pg_apply_once(pg, b, &broken, err, errlen) == 0)
		return 0;
	/* The next try connects again. */
	if (broken)
		pg->prepared = false;
	return -1;
}

/* A column of a binary result as a store_val. */
static struct store_val
pg_col(const PGresult *res, int row, int col)
{
	const char	*p;
	uint64_t	 u8;
	uint32_t	 u4;
	uint16_t	 u2;

	if (PQgetisnull(res, row, col))
		return (struct store_val){ .kind = SV_NULL };
	p = PQgetvalue(res, row, col);
	switch (PQftype(res, col)) {
	case PG_INT8OID:
		memcpy(&u8, p, 8);
		return (struct store_val){ .kind = SV_INT,
		    .i = (int64_t)be64toh(u8) };
	case PG_INT4OID:
		memcpy(&u4, p, 4);
		return (struct store_val){ .kind = SV_INT,
		    .i = (int32_t)ntohl(u4) };
	case PG_INT2OID:
		memcpy(&u2, p, 2);
		return (struct store_val){ .kind = SV_INT,
		    .i = (int16_t)ntohs(u2) };
	case PG_BOOLOID:
		return (struct store_val){ .kind = SV_INT, .i = p[0] != 0 };
	default:
		/* Text and bytea: the bytes, NUL-terminated by libpq. */
		return (struct store_val){ .kind = SV_BYTES, .p = p,
		    .len = (size_t)PQgetlength(res, row, col) };
	}
}

static int
pg_query(struct store *st, const char *sql, const struct store_val *args,
    size_t nargs, store_row_cb *cb, void *arg, char *err, size_t errlen)
{
	struct pg		*pg = st->bd;
	struct store_val	 cols[STORE_MAX_ARGS + 1];
	struct pg_params	 p;
	PGresult		*res;
	char			*text;
	int			 r, c, nrows, ncols, rc = 0;

	if (PQstatus(pg->conn) != CONNECTION_OK) {
		snprintf(err, errlen, "not connected");
		return -1;
	}
	pg_params(&p, args, nargs);
	text = pg_sql(sql);
	res = PQexecParams(pg->conn, text, (int)nargs, NULL, p.values,
	    p.lengths, p.formats, 1);
	free(text);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_msg(err, errlen, "", PQresultErrorMessage(res));
		PQclear(res);
		return -1;
	}
	nrows = PQntuples(res);
	ncols = PQnfields(res);
	if (ncols > (int)(sizeof(cols) / sizeof(cols[0])))
		abort();
	for (r = 0; r < nrows && rc == 0; r++) {
		for (c = 0; c < ncols; c++)
			cols[c] = pg_col(res, r, c);
		rc = cb(arg, cols, (size_t)ncols, err, errlen);
	}
	PQclear(res);
	return rc;
}

static bool
pg_has_password(const char *conninfo)
{
	PQconninfoOption	*opts, *o;
	bool			 found = false;

	if ((opts = PQconninfoParse(conninfo, NULL)) == NULL)
		return false;
	for (o = opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL &&
		    o->val[0] != '\0')
			found = true;
	}
	PQconninfoFree(opts);
	return found;
}

static void
pg_sizes(struct store *st, uint64_t *db, uint64_t *log)
{
	/* A round trip: not on the loop. */
	*db = *log = 0;
}

static void
pg_close(struct store *st)
{
	pg_free(st->bd);
	st->bd = NULL;
}

const struct store_backend store_pg_backend = {
	.name = "postgres",
	.bytes_len = "octet_length(%s)",
	.open = pg_open,
	.query = pg_query,
	.apply = pg_apply,
	.wait_active = pg_wait_active,
	.cancel_wait = pg_cancel_wait,
	.activate = pg_activate,
	.deposed = pg_deposed,
	.epoch = pg_epoch,
	.heartbeat_ms = 1000,
	.has_password = pg_has_password,
	.sizes = pg_sizes,
	.close = pg_close,
};
