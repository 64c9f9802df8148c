/*
 * cli-output: the human forms of jq-client's output (API in cli-output.h).
 *
 * Lists and tables collect every string first and print at the end,
 * because a column is as wide as its widest cell.  Widths count bytes, so
 * non-ASCII text may misalign a little; the content stays intact.
 */

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli-color.h"
#include "cli-output.h"

void
print_value(const json_t *v)
{
	if (json_is_string(v))
		fwrite(json_string_value(v), 1, json_string_length(v), stdout);
	else
		json_dumpf(v, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
}

void
print_reply_value(struct jqc *c, const json_t *reply, const char *key,
    size_t index)
{
	const json_t	*v = json_object_get(reply, key);
	char		*text;

	if (index != JQC_MEMBER)
		v = json_array_get(v, index);
	if (v == NULL)
		return;
	if (json_is_string(v)) {
		print_value(v);
		return;
	}
	/* As the server wrote it: 19.99, not 19.989999999999998. */
	text = must(jqc_reply_value_text(c, reply, key, index));
	fputs(text, stdout);
	free(text);
}

char *
value_text(const json_t *v)
{
	if (v == NULL)
		return must(strdup("-"));
	if (json_is_string(v))
		return must(strdup(json_string_value(v)));
	if (json_is_real(v))
		return fmt_decimal(must(malloc(32)), 32, json_real_value(v));
	return must(json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY));
}

/* A new string made by printf. */
static char *
vformat(const char *fmt, va_list ap)
{
	char	*s;

	if (vasprintf(&s, fmt, ap) == -1)
		must(NULL);
	return s;
}

void
kv_add(struct kv_list *kv, char *key, char *val)
{
	if (kv->n == kv->cap) {
		kv->cap = kv->cap == 0 ? 32 : kv->cap * 2;
		kv->keys = must(reallocarray(kv->keys, kv->cap,
		    sizeof(kv->keys[0])));
		kv->vals = must(reallocarray(kv->vals, kv->cap,
		    sizeof(kv->vals[0])));
	}
	kv->keys[kv->n] = key;
	kv->vals[kv->n] = val;
	kv->n++;
}

void
kv_addf(struct kv_list *kv, const char *key, const char *fmt, ...)
{
	va_list	ap;
	char	*val;

	va_start(ap, fmt);
	val = vformat(fmt, ap);
	va_end(ap);
	kv_add(kv, must(strdup(key)), val);
}

void
kv_print_free(struct kv_list *kv, const char *suffix)
{
	size_t	i, w = 0;

	for (i = 0; i < kv->n; i++)
		if (strlen(kv->keys[i]) > w)
			w = strlen(kv->keys[i]);
	w += strlen(suffix);
	for (i = 0; i < kv->n; i++) {
		printf("%s%s%*s %s\n", kv->keys[i], suffix,
		    (int)(w - strlen(kv->keys[i]) - strlen(suffix)), "",
		    kv->vals[i]);
		free(kv->keys[i]);
		free(kv->vals[i]);
	}
	free(kv->keys);
	free(kv->vals);
	memset(kv, 0, sizeof(*kv));
}

static bool
in_list(const char *const *list, const char *s)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

void
kv_add_object(struct kv_list *kv, const json_t *obj, const char *prefix,
    const char *const *skip)
{
	const char	*key;
	json_t		*v;
	char		*full;

	json_object_foreach((json_t *)obj, key, v) {
		if (*prefix == '\0' && (strcmp(key, "id") == 0 ||
		    strcmp(key, "ok") == 0 || in_list(skip, key)))
			continue;
		if (asprintf(&full, "%s%s%s", prefix, *prefix ? "." : "",
		    key) == -1)
			must(NULL);
		if (json_is_object(v) && json_object_size(v) > 0) {
			kv_add_object(kv, v, full, NULL);
			free(full);
		} else
			kv_add(kv, full, value_text(v));
	}
}

void
table_init(struct table *t, size_t ncols)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->state_col = SIZE_MAX;
}

void
table_color_states(struct table *t, size_t col)
{
	t->state_col = col;
}

void
table_add(struct table *t, char *cell)
{
	if (t->n == t->cap) {
		t->cap = t->cap == 0 ? 64 : t->cap * 2;
		t->cells = must(reallocarray(t->cells, t->cap,
		    sizeof(t->cells[0])));
	}
	t->cells[t->n++] = cell;
}

void
table_addf(struct table *t, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	table_add(t, vformat(fmt, ap));
	va_end(ap);
}

static void
table_line(const struct table *t, const char *const *cells,
    const size_t *w, const bool *right, bool header)
{
	const char	*s, *sgr;
	size_t		 c, pad;
	bool		 last;

	for (c = 0; c < t->ncols; c++) {
		s = cells[c] != NULL ? cells[c] : "-";
		last = c + 1 == t->ncols;
		/* Padding as a width apart, so colour codes count none. */
		pad = w[c] > strlen(s) && (!last || (right != NULL &&
		    right[c])) ? w[c] - strlen(s) : 0;
		sgr = !header && c == t->state_col ? cli_color_state(s) : NULL;
		if (right != NULL && right[c])
			printf("%*s", (int)pad, "");
		printf("%s%s%s", sgr != NULL ? sgr : "", s,
		    sgr != NULL ? CLI_COLOR_RESET : "");
		if (right == NULL || !right[c])
			printf("%*s", (int)pad, "");
		fputs(last ? "\n" : "  ", stdout);
	}
}

void
table_print_free(struct table *t, const char *const *titles,
    const bool *right)
{
	size_t	*w, i, len;

	w = must(calloc(t->ncols, sizeof(w[0])));
	for (i = 0; titles != NULL && i < t->ncols; i++)
		w[i] = strlen(titles[i]);
	for (i = 0; i < t->n; i++) {
		len = t->cells[i] != NULL ? strlen(t->cells[i]) : 1;
		if (len > w[i % t->ncols])
			w[i % t->ncols] = len;
	}
	if (titles != NULL)
		table_line(t, titles, w, right, true);
	for (i = 0; i + t->ncols <= t->n; i += t->ncols)
		table_line(t, (const char *const *)t->cells + i, w, right,
		    false);
	for (i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
	free(w);
	memset(t, 0, sizeof(*t));
}

void
more_hint(const json_t *req, const json_t *reply, const json_t *rows,
    const char *key)
{
	const char	*last;

	if (!json_is_true(json_object_get(reply, "more")))
		return;
	/* An empty page that says more: its names were dropped meanwhile
	   (PROTOCOL.md 10.9); the next page starts where this one did. */
	last = json_array_size(rows) > 0 ? member_str(json_array_get(rows,
	    json_array_size(rows) - 1), key) : member_str(req, "after");
	if (last != NULL)
		fprintf(stderr, "jq-client: more after %s (--after %s)\n",
		    last, last);
	else
		fprintf(stderr, "jq-client: more (the names of this page were "
		    "dropped meanwhile: run it again)\n");
}

void
print_table(const struct column *cols, size_t ncols, const json_t *rows)
{
	struct table	  t;
	const char	**titles;
	bool		 *right;
	size_t		  r, c;

	titles = must(calloc(ncols, sizeof(titles[0])));
	right = must(calloc(ncols, sizeof(right[0])));
	for (c = 0; c < ncols; c++) {
		titles[c] = cols[c].title;
		right[c] = cols[c].right;
	}
	table_init(&t, ncols);
	for (r = 0; r < json_array_size(rows); r++)
		for (c = 0; c < ncols; c++)
			table_add(&t, value_text(json_object_get(
			    json_array_get(rows, r), cols[c].key)));
	table_print_free(&t, titles, right);
	free(titles);
	free(right);
}

char *
fmt_bytes(char *buf, size_t len, double bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB",
	    "PiB", "EiB" };
	size_t	u = 0;

	while (bytes >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f B", bytes);
	else
		snprintf(buf, len, "%.1f %s", bytes, units[u]);
	return buf;
}

char *
fmt_decimal(char *buf, size_t len, double x)
{
	char	*p;

	/* Three decimals, or three digits under 1: 0.000123, not 0.000. */
	snprintf(buf, len, fabs(x) >= 1 || x == 0 ? "%.3f" : "%.3g", x);
	/* Trailing zeros say nothing: 2.500 is 2.5, 3.000 is 3. */
	if (strchr(buf, '.') != NULL && strchr(buf, 'e') == NULL) {
		p = buf + strlen(buf);
		while (p[-1] == '0')
			*--p = '\0';
		if (p[-1] == '.')
			*--p = '\0';
	}
	return buf;
}

char *
fmt_duration(char *buf, size_t len, long long ms)
{
	return units_format_duration(buf, len, (int64_t)ms);
}

char *
fmt_time(char *buf, size_t len, long long ms)
{
	struct tm	tm;
	time_t		t = (time_t)(ms / 1000);

	if (ms < 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "%lld", ms);
	else
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ms % 1000);
	return buf;
}
