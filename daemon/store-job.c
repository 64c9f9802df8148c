/*
 * Jobs in the store: the one description of the jobs row and everything
 * that reads or writes it.  store_job_cols[] lists the columns, each with
 * the field of struct store_job it holds; from it come the save and
 * update statements (built at open), the binds, the copy a save keeps in
 * its batch, the load at start-up and the check of the schema in the unit
 * tests.  Every SQL text about jobs is in this file; the migrations that
 * made the table are in store.c.
 *
 * A column's kind follows from its field's C type, so the table cannot
 * disagree with the struct (a type it does not know fails to compile):
 * int64_t, int and bool are INTEGER columns, const char * a TEXT column
 * (NUL-terminated); stdout and stderr are TEXT with a length beside them.
 * NULL_IS(v): the field's value v is stored as NULL and a NULL loads as
 * v; NULLABLE: the same for text and a NULL pointer; NOT_NULL: a NULL
 * loads as 0 (as an error for text).
 *
 * A new job field: the field in struct job (job.h) and in struct
 * store_job (store.h), a row below, a line in store.c's
 * store_migrations[] adding the column, and its two copies between job
 * and row in job-codec.c (op_job_save, op_job_restore).
 */
#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "store-int.h"
#include "strbuf.h"

/* The lowest jobs.state of a final job (JOB_SUCCEEDED). */
#define STORE_JOB_FINAL		"2"

/* A column holding field f of struct store_job, its kind from f's type. */
#define COL(f)								\
	_Generic(((struct store_job *)0)->f,				\
	    int64_t: STORE_COL_I64,					\
	    int: STORE_COL_INT,						\
	    bool: STORE_COL_BOOL,					\
	    const char *: STORE_COL_TEXT),				\
	offsetof(struct store_job, f), 0
/* Bytes in f, their length in len. */
#define COL_BYTES(f, len)						\
	_Generic(((struct store_job *)0)->f,				\
	    const char *: STORE_COL_BYTES),				\
	offsetof(struct store_job, f),					\
	_Generic(((struct store_job *)0)->len,				\
	    size_t: offsetof(struct store_job, len))
/* What the field holds for NULL, and the flags. */
#define NOT_NULL	0, 0
#define NULL_IS(v)	v, STORE_COL_NULL
#define NULLABLE	0, STORE_COL_NULL	/* text: a NULL pointer */
#define KEY		0, STORE_COL_KEY
#define OUTPUT		0, STORE_COL_OUTPUT

const struct store_col store_job_cols[] = {
	/* column		field				NULL is */
	{ "id",			COL(id),			KEY },
	{ "spec",		COL(spec),			NOT_NULL },
	{ "state",		COL(state),			NOT_NULL },
	{ "attempt",		COL(attempt),			NOT_NULL },
	{ "submitted_ms",	COL(submitted_ms),		NOT_NULL },
	{ "deadline_ms",	COL(deadline_ms),		NULL_IS(-1) },
	{ "not_before_ms",	COL(not_before_ms),		NOT_NULL },
	{ "started_ms",		COL(started_ms),		NULL_IS(-1) },
	{ "finished_ms",	COL(finished_ms),		NULL_IS(-1) },
	{ "exit_code",		COL(exit_code),			NULL_IS(-1) },
	{ "signal",		COL(signal),			NULL_IS(0) },
	{ "error",		COL(error),			NULLABLE },
	{ "stdout",		COL_BYTES(out, out_len),	OUTPUT },
	{ "stderr",		COL_BYTES(err, err_len),	OUTPUT },
	{ "stdout_truncated",	COL(out_truncated),		NOT_NULL },
	{ "stderr_truncated",	COL(err_truncated),		NOT_NULL },
	{ "progress_done",	COL(progress_done),		NULL_IS(-1) },
	{ "progress_total",	COL(progress_total),		NULL_IS(-1) },
	{ "delivered",		COL(delivered),			NOT_NULL },
	{ "pid",		COL(pid),			NULL_IS(0) },
	{ "pid_start",		COL(pid_start),			NULL_IS(-1) },
	{ "pid_boot",		COL(pid_boot),			NULLABLE },
	{ "worker",		COL(worker),			NULLABLE },
};
const size_t store_job_ncols = sizeof(store_job_cols) /
    sizeof(store_job_cols[0]);

/* -- fields of a row, by column -------------------------------------------- */

static const void *
store_col_field(const struct store_col *c, const struct store_job *row)
{
	return (const char *)row + c->offset;
}

static void *
store_col_field_mut(const struct store_col *c, struct store_job *row)
{
	return (char *)row + c->offset;
}

bool
store_col_is_text(const struct store_col *c)
{
	return c->kind == STORE_COL_TEXT || c->kind == STORE_COL_BYTES;
}

int64_t
store_col_int(const struct store_col *c, const struct store_job *row)
{
	const void	*f = store_col_field(c, row);

	switch (c->kind) {
	case STORE_COL_I64:
		return *(const int64_t *)f;
	case STORE_COL_INT:
		return *(const int *)f;
	case STORE_COL_BOOL:
		return *(const bool *)f;
	case STORE_COL_TEXT:
	case STORE_COL_BYTES:
		break;
	}
	abort();
}

void
store_col_set_int(const struct store_col *c, struct store_job *row,
    int64_t v)
{
	void	*f = store_col_field_mut(c, row);

	switch (c->kind) {
	case STORE_COL_I64:
		*(int64_t *)f = v;
		return;
	case STORE_COL_INT:
		*(int *)f = (int)v;
		return;
	case STORE_COL_BOOL:
		*(bool *)f = v != 0;
		return;
	case STORE_COL_TEXT:
	case STORE_COL_BYTES:
		break;
	}
	abort();
}

const char *
store_col_text(const struct store_col *c, const struct store_job *row)
{
	return *(const char *const *)store_col_field(c, row);
}

size_t
store_col_len(const struct store_col *c, const struct store_job *row)
{
	const char	*text = store_col_text(c, row);

	if (c->kind == STORE_COL_BYTES)
		return *(const size_t *)((const char *)row + c->len_offset);
	return text != NULL ? strlen(text) : 0;
}

void
store_col_set_text(const struct store_col *c, struct store_job *row,
    const char *text, size_t len)
{
	*(const char **)store_col_field_mut(c, row) = text;
	if (c->kind == STORE_COL_BYTES)
		*(size_t *)((char *)row + c->len_offset) = len;
}

/* -- statements ------------------------------------------------------------ */

/*
 * INSERT OR REPLACE INTO jobs(id, spec, ...) VALUES (?1, ?2, ...): column
 * i is parameter i + 1 in every statement that writes a row.
 */
static void
store_job_sql_save(struct strbuf *sql)
{
	size_t	 i;

	strbuf_appendf(sql, "INSERT OR REPLACE INTO jobs(");
	for (i = 0; i < store_job_ncols; i++)
		strbuf_appendf(sql, "%s%s", i > 0 ? ", " : "",
		    store_job_cols[i].name);
	strbuf_appendf(sql, ") VALUES (");
	for (i = 0; i < store_job_ncols; i++)
		strbuf_appendf(sql, "%s?%zu", i > 0 ? ", " : "", i + 1);
	strbuf_appendf(sql, ")");
}

/* The same as an UPDATE that leaves stdout and stderr as stored. */
static void
store_job_sql_keep_output(struct strbuf *sql)
{
	const char	*sep = "";
	size_t		 i;

	strbuf_appendf(sql, "UPDATE jobs SET ");
	for (i = 0; i < store_job_ncols; i++) {
		if (store_job_cols[i].flags & (STORE_COL_KEY |
		    STORE_COL_OUTPUT))
			continue;
		strbuf_appendf(sql, "%s%s = ?%zu", sep,
		    store_job_cols[i].name, i + 1);
		sep = ", ";
	}
	strbuf_appendf(sql, " WHERE %s = ?1", store_job_cols[0].name);
}

/*
 * Every column in table order; a final job's output (state >=
 * STORE_JOB_FINAL) stays on disk until asked for (store_job_output), so
 * it reads as NULL, and one more column gives the size of all output.
 */
static void
store_job_sql_load(struct strbuf *sql)
{
	size_t	 i;

	strbuf_appendf(sql, "SELECT ");
	for (i = 0; i < store_job_ncols; i++) {
		if (store_job_cols[i].flags & STORE_COL_OUTPUT)
			strbuf_appendf(sql, "CASE WHEN state < "
			    STORE_JOB_FINAL " THEN %s END, ",
			    store_job_cols[i].name);
		else
			strbuf_appendf(sql, "%s, ", store_job_cols[i].name);
	}
	strbuf_appendf(sql, "0");
	for (i = 0; i < store_job_ncols; i++) {
		if (store_job_cols[i].flags & STORE_COL_OUTPUT)
			strbuf_appendf(sql, " + length(CAST(%s AS BLOB))",
			    store_job_cols[i].name);
	}
	strbuf_appendf(sql, " FROM jobs ORDER BY id");
}

int
store_job_prepare(struct store *st, char *err, size_t errlen)
{
	struct strbuf	 save = STRBUF_INIT, keep = STRBUF_INIT;
	size_t		 i;
	int		 rc = 0;

	assert(store_job_cols[0].flags & STORE_COL_KEY);
	store_job_sql_save(&save);
	store_job_sql_keep_output(&keep);
	const struct {
		enum store_stmt	 id;
		const char	*sql;
	} stmts[] = {
		{ STMT_JOB_SAVE, save.data },
		{ STMT_JOB_SAVE_KEEP_OUTPUT, keep.data },
		{ STMT_JOB_OUTPUT, "SELECT stdout, stderr FROM jobs WHERE "
		  "id = ?1" },
		{ STMT_JOB_DELETE, "DELETE FROM jobs WHERE id = ?1" },
		/* The highest id forgotten, so that none is used again. */
		{ STMT_JOB_FLOOR, "INSERT INTO meta(key, value) VALUES "
		  "('last_job_id', ?1) ON CONFLICT(key) DO UPDATE SET "
		  "value = max(value, excluded.value)" },
	};
	for (i = 0; i < sizeof(stmts) / sizeof(stmts[0]) && rc == 0; i++)
		rc = store_prepare(st, stmts[i].id, stmts[i].sql, err, errlen);
	strbuf_fini(&save);
	strbuf_fini(&keep);
	return rc;
}

/* -- saving ---------------------------------------------------------------- */

struct store_job *
store_job_copy(const struct store_job *row)
{
	const struct store_col	*c;
	struct store_job	*j;
	const char		*text;
	size_t			 i, size = sizeof(*j), len;
	char			*p;

	for (i = 0; i < store_job_ncols; i++) {
		if (store_col_is_text(&store_job_cols[i]))
			size += store_col_len(&store_job_cols[i], row) + 1;
	}
	/* One allocation: the row, then its strings. */
	if ((j = malloc(size)) == NULL)
		fatal("out of memory");
	*j = *row;
	p = (char *)(j + 1);
	for (i = 0; i < store_job_ncols; i++) {
		c = &store_job_cols[i];
		if (!store_col_is_text(c))
			continue;
		text = store_col_text(c, row);
		if (text == NULL && c->kind == STORE_COL_TEXT) {
			assert(c->flags & STORE_COL_NULL);
			continue;
		}
		len = store_col_len(c, row);
		if (text == NULL)
			text = "";		/* output not captured */
		memcpy(p, text, len);
		p[len] = '\0';
		store_col_set_text(c, j, p, len);
		p += len + 1;
	}
	return j;
}

sqlite3_stmt *
store_job_bind(struct store *st, const struct store_job *row)
{
	const struct store_col	*c;
	sqlite3_stmt		*s;
	const char		*text;
	int64_t			 v;
	size_t			 i;
	int			 col;

	s = st->stmt[row->keep_output ? STMT_JOB_SAVE_KEEP_OUTPUT :
	    STMT_JOB_SAVE];
	for (i = 0; i < store_job_ncols; i++) {
		c = &store_job_cols[i];
		col = (int)i + 1;
		if (row->keep_output && (c->flags & STORE_COL_OUTPUT))
			continue;
		if (!store_col_is_text(c)) {
			v = store_col_int(c, row);
			if ((c->flags & STORE_COL_NULL) && v == c->null_value)
				sqlite3_bind_null(s, col);
			else
				sqlite3_bind_int64(s, col, v);
		} else if ((text = store_col_text(c, row)) == NULL)
			sqlite3_bind_null(s, col);
		else
			sqlite3_bind_text(s, col, text, c->kind ==
			    STORE_COL_BYTES ? (int)store_col_len(c, row) : -1,
			    SQLITE_STATIC);
	}
	return s;
}

/* -- loading --------------------------------------------------------------- */

/*
 * One row of the load statement into row; NULL, or the name of a text
 * column that is NULL though it may not be.
 */
static const char *
store_job_read(sqlite3_stmt *q, struct store_job *row)
{
	const struct store_col	*c;
	const char		*text;
	bool			 null;
	size_t			 i;
	int			 col;

	for (i = 0; i < store_job_ncols; i++) {
		c = &store_job_cols[i];
		col = (int)i;
		null = sqlite3_column_type(q, col) == SQLITE_NULL;
		if (!store_col_is_text(c)) {
			store_col_set_int(c, row, null && (c->flags &
			    STORE_COL_NULL) ? c->null_value :
			    sqlite3_column_int64(q, col));
			continue;
		}
		/* Text first, then its length (SQLite's advice). */
		text = (const char *)sqlite3_column_text(q, col);
		store_col_set_text(c, row, text,
		    (size_t)sqlite3_column_bytes(q, col));
		if (text != NULL)
			continue;
		if (c->flags & STORE_COL_OUTPUT)
			row->out_omitted = true;
		else if (!(c->flags & STORE_COL_NULL))
			return c->name;
	}
	row->out_bytes = (uint64_t)sqlite3_column_int64(q, (int)i);
	return NULL;
}

int
store_job_load(struct store *st, const struct store_loader *ld, char *err,
    size_t errlen)
{
	struct strbuf		 sql = STRBUF_INIT;
	struct store_job	 row;
	sqlite3_stmt		*q;
	const char		*null;
	int			 rc;

	if (store_query_int(st->db, "SELECT coalesce(max(value), 0) FROM meta "
	    "WHERE key = 'last_job_id'", &st->job_id_floor, err, errlen) ==
	    -1)
		return -1;
	store_job_sql_load(&sql);
	rc = sqlite3_prepare_v2(st->db, sql.data, -1, &q, NULL);
	strbuf_fini(&sql);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot load jobs: %s", st->path,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		memset(&row, 0, sizeof(row));
		if ((null = store_job_read(q, &row)) != NULL) {
			snprintf(err, errlen, "%s: job %lld has no %s",
			    st->path, (long long)row.id, null);
			sqlite3_finalize(q);
			return -1;
		}
		if (ld->job(ld->arg, &row, err, errlen) == -1) {
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

/*
 * The loop may use the connection the store thread commits with: its
 * mutex (SQLITE_OPEN_FULLMUTEX) is held by the thread only inside each
 * call, and a committed row reads the same inside the thread's next
 * transaction.  Unless wait, the mutex is only tried, so that the loop
 * never waits behind a commit's fsync or a checkpoint.
 */
int
store_job_output(struct store *st, int64_t id, bool wait, struct strbuf *out,
    struct strbuf *err, char *errbuf, size_t errlen)
{
	sqlite3_mutex	*db_mu = sqlite3_db_mutex(st->db);
	sqlite3_stmt	*q = st->stmt[STMT_JOB_OUTPUT];
	int		 rc, ret = -1;

	if (db_mu == NULL)
		wait = true;
	else if (!wait && sqlite3_mutex_try(db_mu) != SQLITE_OK)
		return 1;
	else if (wait)
		sqlite3_mutex_enter(db_mu);
	strbuf_reset(out);
	strbuf_reset(err);
	sqlite3_bind_int64(q, 1, id);
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		strbuf_append(out, sqlite3_column_blob(q, 0),
		    (size_t)sqlite3_column_bytes(q, 0));
		strbuf_append(err, sqlite3_column_blob(q, 1),
		    (size_t)sqlite3_column_bytes(q, 1));
		ret = 0;
	} else if (rc == SQLITE_DONE)
		snprintf(errbuf, errlen, "job %lld: no stored row",
		    (long long)id);
	else
		snprintf(errbuf, errlen, "job %lld: cannot read its output: "
		    "%s", (long long)id, sqlite3_errmsg(st->db));
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (db_mu != NULL)
		sqlite3_mutex_leave(db_mu);
	return ret;
}

int64_t
store_job_id_floor(const struct store *st)
{
	return st->job_id_floor;
}
