/*
 * cli-progress: figures, rendering and display of the wait progress bar
 * (see cli-progress.h for the look and the layers).
 */

#include <sys/ioctl.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli-output.h"
#include "cli-progress.h"

void
progress_init(struct progress *p)
{
	memset(p, 0, sizeof(*p));
}

/* An integer member, 0 when missing or not an integer. */
static long long
member_int(const json_t *obj, const char *key)
{
	return (long long)json_integer_value(json_object_get(obj, key));
}

int
progress_from_group(struct progress *p, const json_t *reply)
{
	const json_t	*amount;

	if (!json_is_integer(json_object_get(reply, "total")))
		return -1;
	progress_init(p);
	p->jobs = member_int(reply, "total");
	p->queued = member_int(reply, "queued");
	p->running = member_int(reply, "running");
	p->failed = member_int(reply, "failed") +
	    member_int(reply, "deadline_exceeded") +
	    member_int(reply, "canceled");
	p->finished = member_int(reply, "succeeded") + p->failed;
	amount = json_object_get(reply, "progress");
	if (json_is_object(amount)) {
		p->done = member_int(amount, "done");
		p->total = member_int(amount, "total");
		/* The group sums over jobs that reported: all zero when none
		   did, which reads the same as nothing done. */
		p->has_amount = p->done != 0 || p->total != 0;
	}
	return 0;
}

void
progress_add_job(struct progress *p, const json_t *job)
{
	const char	*state = json_string_value(json_object_get(job,
			    "state"));
	const json_t	*amount = json_object_get(job, "progress");

	p->jobs++;
	if (state == NULL)
		;	/* unknown job: counted, nothing else known */
	else if (strcmp(state, "queued") == 0)
		p->queued++;
	else if (strcmp(state, "running") == 0)
		p->running++;
	else {
		p->finished++;
		if (strcmp(state, "succeeded") != 0)
			p->failed++;
	}
	if (json_is_object(amount)) {
		p->has_amount = true;
		p->done += member_int(amount, "done");
		p->total += member_int(amount, "total");
	}
}

static char *
fmt_amount(char *buf, size_t len, long long v, enum progress_units units)
{
	if (units == PROGRESS_BYTES)
		return fmt_bytes(buf, len, (double)v);
	snprintf(buf, len, "%lld", v);
	return buf;
}

/* Filled cells of the bar, 0..PROGRESS_BAR_WIDTH. */
static int
bar_cells(const struct progress *p)
{
	double	share = 0, amount;

	if (p->jobs > 0)
		share = (double)p->finished / (double)p->jobs;
	if (p->has_amount && p->total > 0 && p->queued == 0) {
		amount = (double)p->done / (double)p->total;
		if (amount > share)
			share = amount;
	}
	if (share > 1)
		share = 1;
	if (share < 0)
		share = 0;
	return (int)(share * PROGRESS_BAR_WIDTH);
}

char *
progress_render(char *buf, size_t len, const struct progress *p,
    enum progress_units units, bool bar)
{
	char	cells[PROGRESS_BAR_WIDTH + 1], done[32], total[32];
	int	filled, n = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (bar) {
		filled = bar_cells(p);
		memset(cells, '#', filled);
		memset(cells + filled, '.', PROGRESS_BAR_WIDTH - filled);
		cells[PROGRESS_BAR_WIDTH] = '\0';
		n = snprintf(buf, len, "[%s] ", cells);
	}
	if (n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - n, "%lld/%lld jobs  %lld running  "
		    "%lld failed", p->finished, p->jobs, p->running, p->failed);
	if (p->has_amount && n >= 0 && (size_t)n < len) {
		fmt_amount(done, sizeof(done), p->done, units);
		if (p->total > 0)
			snprintf(buf + n, len - n, "  %s/%s", done,
			    fmt_amount(total, sizeof(total), p->total, units));
		else
			snprintf(buf + n, len - n, "  %s", done);
	}
	return buf;
}

void
progress_display_init(struct progress_display *d, FILE *f,
    enum progress_units units)
{
	memset(d, 0, sizeof(*d));
	d->f = f;
	d->tty = isatty(fileno(f)) == 1;
	d->units = units;
}

/* Columns of the terminal, or 80 when it does not say. */
static int
term_columns(FILE *f)
{
	struct winsize	ws;

	if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

void
progress_display_show(struct progress_display *d, const struct progress *p)
{
	char	line[sizeof(d->last)];
	int	cols;

	progress_render(line, sizeof(line), p, d->units, d->tty);
	if (d->tty) {
		/* One column spare: writing the last one wraps on some
		   terminals, and "\r" would then redraw the wrong line. */
		cols = term_columns(d->f);
		if (cols > 1 && strlen(line) >= (size_t)cols)
			line[cols - 1] = '\0';
		if (d->drawn && strcmp(line, d->last) == 0)
			return;
		fprintf(d->f, "\r%s\033[K", line);
		d->drawn = true;
	} else if (strcmp(line, d->last) != 0)
		fprintf(d->f, "%s\n", line);
	fflush(d->f);
	memcpy(d->last, line, sizeof(line));
}

void
progress_display_end(struct progress_display *d)
{
	if (d->tty && d->drawn) {
		fputc('\n', d->f);
		fflush(d->f);
	}
	d->drawn = false;
}
