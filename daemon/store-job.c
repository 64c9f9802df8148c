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
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
 * INSERT INTO jobs(id, spec, ...) VALUES (?1, ?2, ...) ON CONFLICT (id)
 * DO UPDATE SET spec = excluded.spec, ...: column i is parameter i + 1 in
 * every statement that writes a row.
 */
static void
store_job_sql_save(struct strbuf *sql)
{
	size_t	 i;

	strbuf_appendf(sql, "INSERT INTO jobs(");
	for (i = 0; i < store_job_ncols; i++)
		strbuf_appendf(sql, "%s%s", i > 0 ? ", " : "",
		    store_job_cols[i].name);
	strbuf_appendf(sql, ") VALUES (");
	for (i = 0; i < store_job_ncols; i++)
		strbuf_appendf(sql, "%s?%zu", i > 0 ? ", " : "", i + 1);
	strbuf_appendf(sql, ") ON CONFLICT (%s) DO UPDATE SET ",
	    store_job_cols[0].name);
	for (i = 1; i < store_job_ncols; i++)
		strbuf_appendf(sql, "%s%s = excluded.%s", i > 1 ? ", " : "",
		    store_job_cols[i].name, store_job_cols[i].name);
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
store_job_sql_load(const struct store *st, struct strbuf *sql)
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
	strbuf_appendf(sql, "CAST(0");
	for (i = 0; i < store_job_ncols; i++) {
		if (!(store_job_cols[i].flags & STORE_COL_OUTPUT))
			continue;
		strbuf_appendf(sql, " + ");
		strbuf_appendf(sql, st->be->bytes_len, store_job_cols[i].name);
	}
	strbuf_appendf(sql, " AS BIGINT) FROM jobs ORDER BY id");
}

void
store_job_sql(struct store *st)
{
	struct strbuf	 save = STRBUF_INIT, keep = STRBUF_INIT;

	assert(store_job_cols[0].flags & STORE_COL_KEY);
	assert(store_job_ncols <= STORE_MAX_ARGS);
	store_job_sql_save(&save);
	store_job_sql_keep_output(&keep);
	st->job_sql[0] = strbuf_detach(&save, NULL);
	st->job_sql[1] = strbuf_detach(&keep, NULL);
	st->sql[STMT_JOB_SAVE] = st->job_sql[0];
	st->sql[STMT_JOB_SAVE_KEEP_OUTPUT] = st->job_sql[1];
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

void
store_job_step(const struct store_job *row, struct store_step *s)
{
	const struct store_col	*c;
	struct store_val	*a;
	const char		*text;
	int64_t			 v;
	size_t			 i;

	s->stmt = row->keep_output ? STMT_JOB_SAVE_KEEP_OUTPUT :
	    STMT_JOB_SAVE;
	s->nargs = store_job_ncols;
	for (i = 0; i < store_job_ncols; i++) {
		c = &store_job_cols[i];
		a = &s->args[i];
		*a = (struct store_val){ .kind = SV_NULL };
		/* Not in the statement; its parameter stays NULL. */
		if (row->keep_output && (c->flags & STORE_COL_OUTPUT))
			continue;
		if (!store_col_is_text(c)) {
			v = store_col_int(c, row);
			if (!(c->flags & STORE_COL_NULL) || v != c->null_value)
				*a = (struct store_val){ .kind = SV_INT,
				    .i = v };
		} else if ((text = store_col_text(c, row)) != NULL)
			*a = (struct store_val){ .kind = SV_BYTES, .p = text,
			    .len = store_col_len(c, row) };
	}
}

/* -- loading --------------------------------------------------------------- */

/*
 * One row of the load statement into row; NULL, or the name of a text
 * column that is NULL though it may not be.
 */
static const char *
store_job_read(const struct store_val *cols, struct store_job *row)
{
	const struct store_col	*c;
	const struct store_val	*v;
	size_t			 i;

	for (i = 0; i < store_job_ncols; i++) {
		c = &store_job_cols[i];
		v = &cols[i];
		if (!store_col_is_text(c)) {
			store_col_set_int(c, row, v->kind == SV_NULL &&
			    (c->flags & STORE_COL_NULL) ? c->null_value :
			    store_val_i64(v));
			continue;
		}
		store_col_set_text(c, row, v->kind == SV_BYTES ? v->p : NULL,
		    v->kind == SV_BYTES ? v->len : 0);
		if (v->kind == SV_BYTES)
			continue;
		if (c->flags & STORE_COL_OUTPUT)
			row->out_omitted = true;
		else if (!(c->flags & STORE_COL_NULL))
			return c->name;
	}
	row->out_bytes = (uint64_t)store_val_i64(&cols[i]);
	return NULL;
}

struct store_job_load {
	struct store			*st;
	const struct store_loader	*ld;
};

static int
store_job_load_row(void *arg, const struct store_val *cols, size_t ncols,
    char *err, size_t errlen)
{
	struct store_job_load	*jl = arg;
	struct store_job	 row;
	const char		*null;

	memset(&row, 0, sizeof(row));
	if ((null = store_job_read(cols, &row)) != NULL) {
		snprintf(err, errlen, "job %lld has no %s",
		    (long long)row.id, null);
		return -1;
	}
	return jl->ld->job(jl->ld->arg, &row, err, errlen);
}

int
store_job_load(struct store *st, const struct store_loader *ld, char *err,
    size_t errlen)
{
	struct store_job_load	 jl = { st, ld };
	struct strbuf		 sql = STRBUF_INIT;
	char			 msg[256];
	int			 rc;

	if (store_query_int(st, "SELECT coalesce(max(value), 0) FROM meta "
	    "WHERE key = 'last_job_id'", &st->job_id_floor, msg,
	    sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: cannot load jobs: %s", st->target,
		    msg);
		return -1;
	}
	store_job_sql_load(st, &sql);
	rc = st->be->query(st, sql.data, NULL, 0, store_job_load_row, &jl,
	    msg, sizeof(msg));
	strbuf_fini(&sql);
	if (rc == -1) {
		snprintf(err, errlen, "%s: cannot load jobs: %s", st->target,
		    msg);
		return -1;
	}
	return 0;
}

/* -- output of final jobs ------------------------------------------------ */

/*
 * A final job's output stays in the store until asked for.  A backend
 * with query_now reads it on the loop when its connection is free.  The
 * others (a network round trip) read it on the store thread: the loop
 * queues the job's id in one of STORE_READS slots and answers "busy";
 * the thread reads between commits; the loop's next try takes the
 * result.  A result nobody came back for is dropped when its slot is
 * needed.
 */
#define STORE_READS	16

enum store_read_state {
	READ_FREE,
	READ_QUEUED,
	READ_RUNNING,
	READ_DONE,
};

struct store_read {
	enum store_read_state	 state;
	int64_t			 id;
	uint64_t		 age;		/* the order it was asked in */
	int			 rc;
	struct strbuf		 out;
	struct strbuf		 err;
	char			 msg[256];
};

struct store_reads {
	struct store_read	 slot[STORE_READS];
	uint64_t		 asked;
};

struct store_output {
	struct strbuf	*out;
	struct strbuf	*err;
	bool		 found;
};

static int
store_output_row(void *arg, const struct store_val *cols, size_t ncols,
    char *err, size_t errlen)
{
	struct store_output	*o = arg;

	if (cols[0].kind == SV_BYTES)
		strbuf_append(o->out, cols[0].p, cols[0].len);
	if (cols[1].kind == SV_BYTES)
		strbuf_append(o->err, cols[1].p, cols[1].len);
	o->found = true;
	return 0;
}

/*
 * Read job id's output with query (the backend's query, or query_now
 * when now).  0, 1 (busy: only now and !wait) or -1 with errbuf set.
 */
static int
store_job_read_output(struct store *st, int64_t id, bool now, bool wait,
    struct strbuf *out, struct strbuf *err, char *errbuf, size_t errlen)
{
	static const char		 sql[] = "SELECT stdout, stderr FROM "
	    "jobs WHERE id = ?1";
	const struct store_val		 arg = { .kind = SV_INT, .i = id };
	struct store_output		 o = { out, err, false };
	char				 msg[200];
	int				 rc;

	strbuf_reset(out);
	strbuf_reset(err);
	rc = now ? st->be->query_now(st, sql, &arg, 1, store_output_row, &o,
	    wait, msg, sizeof(msg)) : st->be->query(st, sql, &arg, 1,
	    store_output_row, &o, msg, sizeof(msg));
	if (rc == 1)
		return 1;
	if (rc == -1) {
		snprintf(errbuf, errlen, "job %lld: cannot read its output: "
		    "%s", (long long)id, msg);
		return -1;
	}
	if (!o.found) {
		snprintf(errbuf, errlen, "job %lld: no stored row",
		    (long long)id);
		return -1;
	}
	return 0;
}

void
store_job_reads_run(struct store *st)
{
	struct store_reads	*rs = st->reads;
	struct store_read	*r;
	size_t			 i;
	int			 rc;

	if (rs == NULL)
		return;
	for (i = 0; i < STORE_READS; i++) {
		r = &rs->slot[i];
		pthread_mutex_lock(&st->mu);
		if (r->state != READ_QUEUED) {
			pthread_mutex_unlock(&st->mu);
			continue;
		}
		r->state = READ_RUNNING;
		pthread_mutex_unlock(&st->mu);
		rc = store_job_read_output(st, r->id, false, false, &r->out,
		    &r->err, r->msg, sizeof(r->msg));
		pthread_mutex_lock(&st->mu);
		r->rc = rc;
		r->state = READ_DONE;
		pthread_cond_broadcast(&st->cond);
		pthread_mutex_unlock(&st->mu);
	}
}

void
store_job_reads_free(struct store *st)
{
	size_t	 i;

	if (st->reads == NULL)
		return;
	for (i = 0; i < STORE_READS; i++) {
		strbuf_fini(&st->reads->slot[i].out);
		strbuf_fini(&st->reads->slot[i].err);
	}
	free(st->reads);
	st->reads = NULL;
}

/* Under mu: the slot of id's read, or a slot to queue it in (NULL: none). */
static struct store_read *
store_read_slot(struct store_reads *rs, int64_t id)
{
	struct store_read	*r, *oldest = NULL;
	size_t			 i;

	for (i = 0; i < STORE_READS; i++) {
		r = &rs->slot[i];
		if (r->state != READ_FREE && r->id == id)
			return r;
	}
	for (i = 0; i < STORE_READS; i++) {
		r = &rs->slot[i];
		if (r->state == READ_FREE)
			return r;
		if (r->state == READ_DONE && (oldest == NULL ||
		    r->age < oldest->age))
			oldest = r;
	}
	return oldest;
}

int
store_job_output(struct store *st, int64_t id, bool wait, struct strbuf *out,
    struct strbuf *err, char *errbuf, size_t errlen)
{
	struct store_read	*r;
	int			 rc;

	if (st->be->query_now != NULL)
		return store_job_read_output(st, id, true, wait, out, err,
		    errbuf, errlen);
	if (!st->started)
		return store_job_read_output(st, id, false, false, out, err,
		    errbuf, errlen);
	if (st->reads == NULL && (st->reads = calloc(1,
	    sizeof(*st->reads))) == NULL)
		fatal("out of memory");
	pthread_mutex_lock(&st->mu);
	if ((r = store_read_slot(st->reads, id)) == NULL) {
		pthread_mutex_unlock(&st->mu);
		return 1;
	}
	if (r->state == READ_FREE || r->id != id) {
		r->state = READ_QUEUED;
		r->id = id;
		r->age = st->reads->asked++;
		st->reads_due = true;
		pthread_cond_broadcast(&st->cond);
	}
	/* Start-up only: the loop waits (job_deliver). */
	while (wait && r->state != READ_DONE)
		pthread_cond_wait(&st->cond, &st->mu);
	if (r->state != READ_DONE) {
		pthread_mutex_unlock(&st->mu);
		return 1;
	}
	strbuf_reset(out);
	strbuf_reset(err);
	strbuf_append(out, r->out.data, r->out.len);
	strbuf_append(err, r->err.data, r->err.len);
	strbuf_reset(&r->out);
	strbuf_reset(&r->err);
	if ((rc = r->rc) == -1)
		snprintf(errbuf, errlen, "%s", r->msg);
	r->state = READ_FREE;
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int64_t
store_job_id_floor(const struct store *st)
{
	return st->job_id_floor;
}
