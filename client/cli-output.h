/*
 * cli-output: the human forms of jq-client's output.
 *
 * Values (strings raw, the rest compact JSON), aligned "key value" lines,
 * tables whose columns are as wide as their widest cell, and the units a
 * person reads: byte sizes, durations, times.  Everything prints to stdout
 * and exits on out-of-memory through must().  The fmt_* functions are pure:
 * they write into the caller's buffer (truncating, always terminated) and
 * return it.
 */
#ifndef JQ_CLI_OUTPUT_H
#define JQ_CLI_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "jqclient.h"

/* A value as the human output shows it: strings raw, the rest JSON. */
void	 print_value(const json_t *v);

/*
 * Value key of reply (element index of it, unless index is JQC_MEMBER)
 * as print_value() shows it, but for values that are not strings: their
 * text as the server wrote it (jqc_reply_value_text() on c), so 19.99 is
 * not 19.989999999999998.  Nothing when there is no such value.
 */
void	 print_reply_value(struct jqc *c, const json_t *reply,
	    const char *key, size_t index);

/* The same as a new string for tables and key/value lines ("-" for NULL,
   i.e. a missing member; reals as fmt_decimal() writes them: these are
   the server's figures).  The caller frees it. */
char	*value_text(const json_t *v);

/*
 * Ordered "key value" pairs printed with the values in one column.  Start
 * from KV_LIST_INIT; kv_add() takes ownership of both strings.
 */
struct kv_list {
	char	**keys;
	char	**vals;
	size_t	  n;
	size_t	  cap;
};
#define KV_LIST_INIT	{ NULL, NULL, 0, 0 }

void	 kv_add(struct kv_list *, char *key, char *val);
/* kv_add() with a copied key and a printf-made value. */
void	 kv_addf(struct kv_list *, const char *key, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Members of obj other than the envelope ("id", "ok") and the names in
   skip (NULL-ended, may be NULL); nested objects get dotted keys. */
void	 kv_add_object(struct kv_list *, const json_t *obj,
	    const char *prefix, const char *const *skip);
/* Print "key<suffix> value" lines, values aligned; frees the list. */
void	 kv_print_free(struct kv_list *, const char *suffix);

/*
 * A table of strings, filled row by row: table_add() takes ownership of
 * one cell (NULL prints as "-"); rows are complete after ncols cells.
 * table_print() prints each column as wide as its widest cell, two spaces
 * apart, right-aligned where right[c]; the last column is not padded.  With
 * titles (ncols of them), a header line comes first, even with no rows.
 * It frees the table.
 */
struct table {
	size_t	  ncols;
	char	**cells;
	size_t	  n;
	size_t	  cap;
	size_t	  state_col;	/* a column of job states, or SIZE_MAX */
};

void	 table_init(struct table *, size_t ncols);
/* Column col holds job states: coloured on a terminal (cli-color.h),
   after padding, so the columns stay aligned. */
void	 table_color_states(struct table *, size_t col);
void	 table_add(struct table *, char *cell);
void	 table_addf(struct table *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 table_print_free(struct table *, const char *const *titles,
	    const bool *right);

/* A column of a JSON table: a title over one member of each row object. */
struct column {
	const char	*title;
	const char	*key;
	bool		 right;		/* numbers: right-aligned */
};

/* Print rows (an array of objects) as a table, header first. */
void	 print_table(const struct column *cols, size_t ncols,
	    const json_t *rows);
/*
 * A page of a listing (chans, groups) said "more": tell on stderr where
 * the next page starts, the name (member key) of the last of rows, or,
 * rows empty, the request's "after".
 */
void	 more_hint(const json_t *req, const json_t *reply, const json_t *rows,
	    const char *key);

/* "512 B", "1.5 KiB", "45.2 MiB", ... (powers of 1024, one decimal). */
char	*fmt_bytes(char *buf, size_t len, double bytes);
/* A real for a person: 0.123456789 is "0.123", 2.5 "2.5", 1234.5678
   "1234.568", 0.000123456 "0.000123" (three decimals, or three digits
   under 1, trailing zeros dropped). */
char	*fmt_decimal(char *buf, size_t len, double x);
/* "850ms", "12.3s", "2m05s", "1h02m", "3d04h". */
char	*fmt_duration(char *buf, size_t len, long long ms);
/* "2026-11-27T21:00:00.123Z": unix ms as an RFC 3339 UTC time. */
char	*fmt_time(char *buf, size_t len, long long ms);

#endif
