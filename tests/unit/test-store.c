/*
 * Unit tests for the store (store.c, store-commit.c, store-job.c) on a
 * database in a temporary directory, with the store thread and a real
 * event base: a value pushed and taken within one batch is never written;
 * a job saved twice within one batch is written once, as last saved; a
 * commit that fails (the file size limit, RLIMIT_FSIZE, stands in for a
 * full disk) is retried until it succeeds; closing with a failed commit
 * tries it once more and says what it loses; every column of the jobs
 * table (store_job_cols[], iterated) round-trips through save and load,
 * NULLs included; a fresh database declares exactly the table's columns;
 * and a database of each older schema opens, migrates and loads its jobs.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <sqlite3.h>

#include "store-int.h"
#include "tap.h"
#include "value.h"

#define WAIT_MS		30000	/* for any event (a loaded machine) */
#define MAX_JOBS	8

static struct event_base	*base;
static char			 dir[64];
static char			 path[128];
static int			 db_serial;
static uint64_t			 durable;	/* from the commit callback */

/* What store_load handed over. */
static size_t			 nchans, nvalues, njobs;
static struct store_job		*jobs[MAX_JOBS];	/* copies */
static bool			 out_null[MAX_JOBS];	/* out, err NULL */

/* -- the store around each test ------------------------------------------- */

static void
commit_cb(uint64_t seq, uint64_t latency_us, void *arg)
{
	durable = seq;
}

static void *
load_chan(void *arg, int64_t id, const char *name, uint32_t cap,
    bool closed)
{
	nchans++;
	return &nchans;
}

/* The last channel's redelivery settings and value's reason loaded. */
static uint32_t			 loaded_max_deliveries;
static char			 loaded_dead_letter[160];
static char			 loaded_reason[160];

static void
load_chan_dead(void *arg, void *chan, uint32_t max_deliveries,
    const char *dead_letter)
{
	loaded_max_deliveries = max_deliveries;
	snprintf(loaded_dead_letter, sizeof(loaded_dead_letter), "%s",
	    dead_letter != NULL ? dead_letter : "(null)");
}

static void
load_value(void *arg, void *chan, struct value *v,
    const struct store_lease *lease)
{
	nvalues++;
	snprintf(loaded_reason, sizeof(loaded_reason), "%.*s",
	    (int)v->reason_len, value_reason(v) != NULL ? value_reason(v) :
	    "");
	value_free(v);
}

static int
load_job(void *arg, const struct store_job *row, char *err, size_t errlen)
{
	if (njobs < MAX_JOBS) {
		jobs[njobs] = store_job_copy(row);
		out_null[njobs] = row->out == NULL && row->err == NULL;
	}
	njobs++;
	return 0;
}

static void
forget_loaded(void)
{
	size_t	 i;

	for (i = 0; i < MAX_JOBS; i++) {
		free(jobs[i]);
		jobs[i] = NULL;
	}
	nchans = nvalues = njobs = 0;
	loaded_max_deliveries = 0;
	loaded_dead_letter[0] = loaded_reason[0] = '\0';
}

/* A path for a new database. */
static void
new_db(void)
{
	snprintf(path, sizeof(path), "%s/%d.db", dir, ++db_serial);
}

/* Remove every database new_db named, and the directory. */
static void
remove_dbs(void)
{
	static const char *const suffixes[] = { "", "-wal", "-shm",
	    "-journal" };
	char	 file[160];
	size_t	 i;

	for (; db_serial > 0; db_serial--) {
		for (i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
			snprintf(file, sizeof(file), "%s/%d.db%s", dir,
			    db_serial, suffixes[i]);
			unlink(file);
		}
	}
	if (rmdir(dir) == -1)
		printf("# %s: %s\n", dir, strerror(errno));
}

/* Open path, load it (counting what is there) and start the thread. */
static struct store *
open_store(void)
{
	const struct store_loader ld = {
		.chan = load_chan,
		.chan_dead = load_chan_dead,
		.value = load_value,
		.job = load_job,
	};
	struct store	*st;
	char		 err[512];

	forget_loaded();
	durable = 0;
	st = store_open(path, SYNC_FULL, err, sizeof(err));
	if (st == NULL || store_load(st, &ld, err, sizeof(err)) == -1 ||
	    store_start(st, base, 0, commit_cb, NULL, err, sizeof(err)) ==
	    -1) {
		printf("Bail out! %s: %s\n", path, err);
		exit(1);
	}
	return st;
}

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the loop until done(st) or WAIT_MS; whether it came true. */
static bool
run_until(struct store *st, bool (*done)(struct store *))
{
	int64_t	 deadline = now_ms() + WAIT_MS;

	while (!done(st)) {
		if (now_ms() > deadline)
			return false;
		event_base_loop(base, EVLOOP_ONCE);
	}
	return true;
}

static bool
all_durable(struct store *st)
{
	return store_idle(st) && durable >= store_barrier(st);
}

static bool
failing(struct store *st)
{
	return store_failing(st);
}

/* Changes SQLite made on st's connection so far. */
static int64_t
changes(struct store *st)
{
	return sqlite3_total_changes(store_sqlite_db(st));
}

static int64_t
count_rows(struct store *st, const char *table)
{
	char	 sql[128], err[256];
	int64_t	 n;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (store_query_int(st, sql, &n, err, sizeof(err)) == -1) {
		printf("# %s\n", err);
		return -1;
	}
	return n;
}

/* -- job rows, column by column ------------------------------------------- */

/* Text column c of row set to text (not copied), its length with it. */
static void
col_set_text(const struct store_col *c, struct store_job *row,
    const char *text)
{
	store_col_set_text(c, row, text, text != NULL ? strlen(text) : 0);
}

/*
 * Row id with every column set to a value of its own, none of them NULL:
 * integers 1000 + 10 * id + the column's index (bools true), texts
 * "<column>-<id>".  state is 1 (running), so that output is loaded.
 */
static void
fill_row(struct store_job *row, int64_t id, char texts[][64])
{
	const struct store_col	*c;
	size_t			 i;

	memset(row, 0, sizeof(*row));
	for (i = 0; i < store_job_ncols; i++) {
		c = &store_job_cols[i];
		if (store_col_is_text(c)) {
			snprintf(texts[i], 64, "%s-%lld", c->name,
			    (long long)id);
			col_set_text(c, row, texts[i]);
		} else
			store_col_set_int(c, row, 1000 + 10 * id + (int64_t)i);
	}
	row->id = id;
	row->state = 1;
}

/* Row id with every column that may be NULL at its NULL value. */
static void
fill_row_nulls(struct store_job *row, int64_t id, char texts[][64])
{
	const struct store_col	*c;
	size_t			 i;

	fill_row(row, id, texts);
	for (i = 0; i < store_job_ncols; i++) {
		c = &store_job_cols[i];
		if (!(c->flags & STORE_COL_NULL))
			continue;
		if (store_col_is_text(c))
			col_set_text(c, row, NULL);
		else
			store_col_set_int(c, row, c->null_value);
	}
}

/* Compare every column of got with want, one check per row. */
static void
is_row(const struct store_job *got, const struct store_job *want,
    const char *what)
{
	const struct store_col	*c;
	const char		*a, *b;
	size_t			 i, bad = 0;

	if (got == NULL) {
		ok(0, "%s: loaded", what);
		return;
	}
	for (i = 0; i < store_job_ncols; i++) {
		c = &store_job_cols[i];
		if (!store_col_is_text(c)) {
			if (store_col_int(c, got) == store_col_int(c, want))
				continue;
			printf("# %s: got %lld, want %lld\n", c->name,
			    (long long)store_col_int(c, got),
			    (long long)store_col_int(c, want));
			bad++;
			continue;
		}
		a = store_col_text(c, got);
		b = store_col_text(c, want);
		if ((a == NULL && b == NULL) || (a != NULL && b != NULL &&
		    store_col_len(c, got) == store_col_len(c, want) &&
		    memcmp(a, b, store_col_len(c, got)) == 0))
			continue;
		printf("# %s: got %s, want %s\n", c->name, a ? a : "NULL",
		    b ? b : "NULL");
		bad++;
	}
	ok(bad == 0, "%s: every column of %zu as saved", what,
	    store_job_ncols);
}

/* -- tests ---------------------------------------------------------------- */

static void
test_schema_matches_table(void)
{
	struct store	*st;
	sqlite3_stmt	*q;
	const char	*name, *type, *want;
	size_t		 i, n = 0, bad = 0;

	new_db();
	st = open_store();
	sqlite3_prepare_v2(store_sqlite_db(st), "SELECT name, type FROM "
	    "pragma_table_info('jobs')", -1, &q, NULL);
	while (sqlite3_step(q) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(q, 0);
		type = (const char *)sqlite3_column_text(q, 1);
		n++;
		for (i = 0; i < store_job_ncols; i++)
			if (strcmp(store_job_cols[i].name, name) == 0)
				break;
		if (i == store_job_ncols) {
			printf("# jobs.%s is not in store_job_cols[]\n", name);
			bad++;
			continue;
		}
		want = store_col_is_text(&store_job_cols[i]) ? "TEXT" :
		    "INTEGER";
		if (strcmp(type, want) != 0) {
			printf("# jobs.%s is %s, its field wants %s\n", name,
			    type, want);
			bad++;
		}
	}
	sqlite3_finalize(q);
	ok(bad == 0, "every column of jobs is in the table, with its type");
	is_int(n, store_job_ncols, "the table lists every column of jobs");
	store_close(st);
}

static void
test_job_round_trip(void)
{
	char			 texts[3][32][64];
	struct store_job	 rows[3];
	struct store		*st;
	uint64_t		 seq[3] = { 0 };
	size_t			 rec[3] = { 0 }, i, out_bytes;

	assert(store_job_ncols <= 32);
	new_db();
	st = open_store();
	fill_row(&rows[0], 1, texts[0]);
	fill_row_nulls(&rows[1], 2, texts[1]);
	/* A final job: its output stays on disk, only its size is read. */
	fill_row(&rows[2], 3, texts[2]);
	rows[2].state = 2;
	out_bytes = rows[2].out_len + rows[2].err_len;
	for (i = 0; i < 3; i++)
		store_job_save(st, &rows[i], &seq[i], &rec[i]);
	ok(run_until(st, all_durable), "three job saves committed");
	store_close(st);

	st = open_store();
	is_int(njobs, 3, "three jobs loaded");
	is_row(jobs[0], &rows[0], "a job without NULLs");
	is_row(jobs[1], &rows[1], "a job with every NULL it may have");
	ok(jobs[0] != NULL && !jobs[0]->out_omitted && jobs[1] != NULL &&
	    !jobs[1]->out_omitted, "a running job's output is loaded");
	if (jobs[2] != NULL) {
		ok(jobs[2]->out_omitted && out_null[2],
		    "a final job's output is not loaded");
		is_int(jobs[2]->out_bytes, out_bytes,
		    "a final job's output size is known");
		jobs[2]->out = rows[2].out;
		jobs[2]->out_len = rows[2].out_len;
		jobs[2]->err = rows[2].err;
		jobs[2]->err_len = rows[2].err_len;
	}
	is_row(jobs[2], &rows[2], "a final job, but for its output");

	/* keep_output: the stored output stays as it is. */
	rows[2].keep_output = true;
	rows[2].out = rows[2].err = NULL;
	rows[2].out_len = rows[2].err_len = 0;
	rows[2].attempt = 7;
	seq[2] = 0;
	store_job_save(st, &rows[2], &seq[2], &rec[2]);
	ok(run_until(st, all_durable), "a save keeping the output committed");
	store_close(st);
	st = open_store();
	ok(njobs == 3 && jobs[2]->attempt == 7 && jobs[2]->out_bytes ==
	    out_bytes, "keep_output changes the row but not its output");
	store_close(st);
}

static void
test_push_take_cancels(void)
{
	struct store	*st;
	struct value	*v, *w;
	int64_t		 chan, before;

	new_db();
	st = open_store();
	before = changes(st);
	chan = store_chan_make(st, "c", 10);
	v = value_new("\"never written\"", 15);
	store_value_push(st, chan, v);
	store_value_take(st, v);
	is_int(v->store_id, 0, "taken in its batch: the value has no row");
	ok(store_barrier(st) == store_open_seq(st),
	    "the take still waits for the batch");
	ok(run_until(st, all_durable), "the batch committed");
	is_int(changes(st) - before, 1, "only the channel was written");
	is_int(count_rows(st, "vals"), 0, "no value row");

	/* The same across two batches: written, then deleted. */
	before = changes(st);
	w = value_new("\"written\"", 9);
	store_value_push(st, chan, w);
	ok(run_until(st, all_durable), "the push committed");
	ok(w->store_id != 0, "a committed value keeps its row");
	store_value_take(st, w);
	ok(run_until(st, all_durable), "the take committed");
	is_int(changes(st) - before, 2, "across batches: insert and delete");
	value_free(v);
	value_free(w);
	store_close(st);
}

/*
 * A channel's max_deliveries and dead_letter, and a value's nack reason,
 * come back after a restart: a reason given while the value's insert
 * waits in the open batch, and one given after it was committed.
 */
static void
test_dead_letter_round_trip(void)
{
	struct store	*st;
	struct value	*v;
	int64_t		 chan;

	new_db();
	st = open_store();
	chan = store_chan_make(st, "src", 10);
	store_chan_dead(st, chan, 3, "dlq");
	v = value_new("1", 1);
	store_value_push(st, chan, v);
	v = value_set_reason(v, "\"early\"", 7);
	store_value_requeue(st, v);
	ok(run_until(st, all_durable), "make, push and requeue committed");
	store_close(st);
	st = open_store();
	ok(loaded_max_deliveries == 3 &&
	    strcmp(loaded_dead_letter, "dlq") == 0,
	    "max_deliveries and dead_letter loaded");
	is_str(loaded_reason, "\"early\"",
	    "a reason given in the insert's batch is stored");
	v = value_set_reason(v, "\"later \\u00e9\"",
	    strlen("\"later \\u00e9\""));
	store_value_requeue(st, v);
	ok(run_until(st, all_durable), "the requeue committed");
	store_close(st);
	st = open_store();
	is_str(loaded_reason, "\"later \\u00e9\"",
	    "a reason given later replaces it");
	v = value_set_reason(v, NULL, 0);
	store_value_requeue(st, v);
	ok(run_until(st, all_durable), "the requeue committed");
	store_close(st);
	st = open_store();
	is_str(loaded_reason, "", "a nack without a reason clears it");
	store_close(st);
	value_free(v);
}

static void
test_job_save_replaced(void)
{
	char			 texts[32][64];
	struct store_job	 row;
	struct store		*st;
	uint64_t		 seq = 0;
	size_t			 rec = 0;
	int64_t			 before;

	new_db();
	st = open_store();
	fill_row(&row, 5, texts);
	before = changes(st);
	store_job_save(st, &row, &seq, &rec);
	row.state = 0;
	row.attempt = 2;
	store_job_save(st, &row, &seq, &rec);
	is_int(st->open.recs[0].type, REC_NONE,
	    "the first save is dropped from the batch");
	ok(run_until(st, all_durable), "the batch committed");
	is_int(changes(st) - before, 1, "the job was written once");

	/* A save after the commit adds a write of its own. */
	row.attempt = 3;
	store_job_save(st, &row, &seq, &rec);
	ok(run_until(st, all_durable), "the next save committed");
	is_int(changes(st) - before, 2, "a later batch writes again");
	store_close(st);

	st = open_store();
	ok(njobs == 1 && jobs[0]->state == 0 && jobs[0]->attempt == 3,
	    "what is stored is the last save");
	store_close(st);
}

/*
 * Commits fail from now on: files may not grow past what the WAL holds
 * (the next commit appends to it).  SIGXFSZ is ignored (main).
 */
static struct rlimit	 fsize_saved;

static void
disk_full(const char *db)
{
	struct rlimit	 rl;
	struct stat	 sb;
	char		 wal[160];

	snprintf(wal, sizeof(wal), "%s-wal", db);
	if (stat(wal, &sb) == -1) {
		printf("Bail out! %s: %s\n", wal, strerror(errno));
		exit(1);
	}
	getrlimit(RLIMIT_FSIZE, &fsize_saved);
	rl = fsize_saved;
	rl.rlim_cur = (rlim_t)sb.st_size;
	setrlimit(RLIMIT_FSIZE, &rl);
}

static void
disk_free(void)
{
	setrlimit(RLIMIT_FSIZE, &fsize_saved);
}

/* Open a store with a channel committed, and a value whose commit fails. */
static struct store *
open_failing(int64_t *chan, struct value **v)
{
	struct store	*st;

	new_db();
	st = open_store();
	*chan = store_chan_make(st, "c", 10);
	if (!run_until(st, all_durable)) {
		printf("Bail out! the channel did not commit\n");
		exit(1);
	}
	disk_full(path);
	*v = value_new("\"waits for room\"", 16);
	store_value_push(st, *chan, *v);
	return st;
}

static void
test_failed_commit_retried(void)
{
	struct store_stats	 stats;
	struct store		*st;
	struct value		*v;
	uint64_t		 seq;
	int64_t			 chan;
	char			 why[256];

	st = open_failing(&chan, &v);
	seq = store_barrier(st);
	ok(run_until(st, failing), "a commit fails: the store is failing");
	disk_free();
	pthread_mutex_lock(&st->mu);
	snprintf(why, sizeof(why), "%s", st->errmsg);
	pthread_mutex_unlock(&st->mu);
	printf("# the failure: %s\n", why);
	ok(strstr(why, "rollback") == NULL && strstr(why, "I/O") != NULL,
	    "the failure is SQLite's error, not that of the rollback after");
	store_get_stats(st, &stats);
	ok(stats.failures >= 1, "the failure is counted");
	ok(durable < seq, "the failed batch is not durable");
	ok(run_until(st, all_durable), "the retry commits it");
	ok(!store_failing(st), "the store is no longer failing");
	is_int(count_rows(st, "vals"), 1, "the value is stored");
	value_free(v);
	store_close(st);
}

/* Call store_close(st) and return what it wrote to stderr. */
static char *
close_capturing_stderr(struct store *st)
{
	static char	 buf[4096];
	ssize_t		 n;
	int		 fds[2], saved;

	fflush(stderr);
	if (pipe(fds) == -1 || (saved = dup(2)) == -1) {
		printf("Bail out! pipe: %s\n", strerror(errno));
		exit(1);
	}
	dup2(fds[1], 2);
	close(fds[1]);
	store_close(st);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	buf[n > 0 ? n : 0] = '\0';
	fputs(buf, stderr);
	return buf;
}

static void
test_close_with_failed_commit(void)
{
	struct store	*st;
	struct value	*v;
	const char	*log;
	int64_t		 chan;

	/* The disk stays full: what the batch held is lost, and said so. */
	st = open_failing(&chan, &v);
	ok(run_until(st, failing), "a commit fails");
	store_chan_make(st, "d", 1);	/* the open batch, behind it */
	log = close_capturing_stderr(st);
	disk_free();
	ok(strstr(log, "error: store: closing") != NULL &&
	    strstr(log, "lost") != NULL,
	    "closing says that the failed batch is lost");
	st = open_store();
	ok(nchans == 1 && nvalues == 0,
	    "neither the failed batch nor the one behind it was written");
	store_close(st);
	value_free(v);

	/* Room again before the retry: closing commits it, in order. */
	st = open_failing(&chan, &v);
	ok(run_until(st, failing), "a commit fails");
	store_chan_make(st, "d", 1);
	disk_free();
	log = close_capturing_stderr(st);
	ok(strstr(log, "lost") == NULL, "closing loses nothing");
	st = open_store();
	ok(nchans == 2 && nvalues == 1,
	    "closing committed the failed batch and the one behind it");
	store_close(st);
	value_free(v);
}

static bool
has_column(sqlite3 *db, const char *table, const char *name)
{
	sqlite3_stmt	*q;
	bool		 found;

	sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) "
	    "WHERE name = ?2", -1, &q, NULL);
	sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
	found = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	return found;
}

/*
 * Job row into db's jobs table, with the columns that table has; want
 * becomes what loading it after the migrations gives: the row, with each
 * column it lacked at its NULL value (0 for the others).
 */
static void
insert_old_row(sqlite3 *db, const struct store_job *row,
    struct store_job *want)
{
	const struct store_col	*c;
	sqlite3_str		*cols = sqlite3_str_new(db);
	sqlite3_str		*vals = sqlite3_str_new(db);
	char			*a, *b, *sql, *msg = NULL;
	size_t			 i;

	*want = *row;
	for (i = 0; i < store_job_ncols; i++) {
		c = &store_job_cols[i];
		if (!has_column(db, "jobs", c->name)) {
			if (store_col_is_text(c))
				col_set_text(c, want, NULL);
			else
				store_col_set_int(c, want, c->flags &
				    STORE_COL_NULL ? c->null_value : 0);
			continue;
		}
		sqlite3_str_appendf(cols, "%s%s",
		    sqlite3_str_length(cols) > 0 ? ", " : "", c->name);
		if (store_col_is_text(c))
			sqlite3_str_appendf(vals, "%s%Q",
			    sqlite3_str_length(vals) > 0 ? ", " : "",
			    store_col_text(c, row));
		else
			sqlite3_str_appendf(vals, "%s%lld",
			    sqlite3_str_length(vals) > 0 ? ", " : "",
			    (long long)store_col_int(c, row));
	}
	a = sqlite3_str_finish(cols);
	b = sqlite3_str_finish(vals);
	sql = sqlite3_mprintf("INSERT INTO jobs(%s) VALUES (%s)", a, b);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		printf("# %s: %s\n", sql, msg);
	sqlite3_free(msg);
	sqlite3_free(sql);
	sqlite3_free(a);
	sqlite3_free(b);
}

/*
 * A database written by each older jqd: the migrations up to its schema,
 * a job row with the columns it had, then store_open and store_load.
 */
static void
test_upgrade(void)
{
	char			 texts[32][64], sql[64];
	struct store_job	 row, want;
	struct store		*st;
	sqlite3			*db;
	size_t			 v, i;
	bool			 jobs_table;

	for (v = 1; v < store_nmigrations; v++) {
		new_db();
		sqlite3_open(path, &db);
		for (i = 0; i < v; i++)
			sqlite3_exec(db, store_migrations[i], NULL, NULL,
			    NULL);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", v);
		sqlite3_exec(db, sql, NULL, NULL, NULL);
		jobs_table = has_column(db, "jobs", "id");
		fill_row(&row, 9, texts);
		if (jobs_table)
			insert_old_row(db, &row, &want);
		sqlite3_close(db);

		st = open_store();
		printf("# a database of schema %zu\n", v);
		if (jobs_table) {
			is_int(njobs, 1, "an older database's job loads");
			is_row(jobs[0], &want, "an older database's job");
		}
		store_close(st);
	}
}

int
main(void)
{
	signal(SIGXFSZ, SIG_IGN);
	if (evthread_use_pthreads() == -1 ||
	    (base = event_base_new()) == NULL) {
		printf("Bail out! libevent\n");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/jqd-store-XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_schema_matches_table();
	test_job_round_trip();
	test_push_take_cancels();
	test_job_save_replaced();
	test_dead_letter_round_trip();
	test_failed_commit_retried();
	test_close_with_failed_commit();
	test_upgrade();
	forget_loaded();
	event_base_free(base);
	remove_dbs();
	return done_testing();
}
