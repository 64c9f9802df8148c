/*
 * cli-progress: figures, rendering and display of the wait progress bar
 * (see cli-progress.h for the look and the layers).
 */

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli-output.h"
#include "cli-progress.h"
#include "cli-term.h"
#include "units.h"

void
progress_init(struct progress *p)
{
	memset(p, 0, sizeof(*p));
	p->eta_ms = -1;
}

/* Is the total of every job known?  Then amounts are the measure. */
static bool
totals_known(const struct progress *p)
{
	return p->jobs > 0 && p->with_total == p->jobs && p->total > 0;
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
	long long	 done = 0, total = 0;
	bool		 final = false;

	p->jobs++;
	if (state == NULL)
		;	/* unknown job: counted, nothing else known */
	else if (strcmp(state, "queued") == 0)
		p->queued++;
	else if (strcmp(state, "running") == 0)
		p->running++;
	else {
		p->finished++;
		final = true;
		if (strcmp(state, "succeeded") != 0)
			p->failed++;
	}
	if (json_is_object(amount)) {
		p->has_amount = true;
		done = member_int(amount, "done");
		total = member_int(amount, "total");
		p->done += done;
	}
	/* A finished job without a total did all it will do. */
	if (total > 0 || final) {
		p->total += total > 0 ? total : done;
		p->with_total++;
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
	if (p->has_amount && totals_known(p)) {
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
		if (totals_known(p))
			n += snprintf(buf + n, len - n, "  %s/%s", done,
			    fmt_amount(total, sizeof(total), p->total, units));
		else
			n += snprintf(buf + n, len - n, "  %s", done);
	}
	if (p->rate > 0 && n >= 0 && (size_t)n < len) {
		if (p->rate_jobs)
			n += snprintf(buf + n, len - n, "  %.1f jobs/s",
			    p->rate);
		else if (units == PROGRESS_BYTES)
			n += snprintf(buf + n, len - n, "  %s/s", fmt_bytes(done,
			    sizeof(done), p->rate));
		else
			n += snprintf(buf + n, len - n, "  %.1f/s", p->rate);
	}
	if (p->eta_ms >= 0 && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - n, "  ETA %s", fmt_duration(done,
		    sizeof(done), p->eta_ms));
	return buf;
}

/*
 * The rate and ETA of p from the figures over time: the average since
 * the measure (jobs, or amounts once every total is known) began.
 */
static void
progress_measure(struct progress_display *d, struct progress *p)
{
	long long	now = units_clock_ms(CLOCK_MONOTONIC), v, target;
	bool		amount = p->has_amount && totals_known(p);

	v = amount ? p->done : p->finished;
	target = amount ? p->total : p->jobs;
	p->rate = 0;
	p->eta_ms = -1;
	if (d->t0_ms == 0 || amount != d->measure_amount || v < d->v0) {
		d->measure_amount = amount;
		d->t0_ms = now;
		d->v0 = v;
		return;
	}
	if (now - d->t0_ms < RATE_MIN_MS || v == d->v0)
		return;
	p->rate = (double)(v - d->v0) * 1000.0 / (double)(now - d->t0_ms);
	p->rate_jobs = !amount;
	if (target > v)
		p->eta_ms = (long long)((double)(target - v) * 1000.0 /
		    p->rate);
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

void
progress_display_show(struct progress_display *d, const struct progress *p)
{
	struct progress	 q = *p;
	char		 line[sizeof(d->last)], figures[sizeof(d->figures)];
	int		 rows, cols;

	/* The figures without rate and ETA: what "changed" means. */
	q.rate = 0;
	q.eta_ms = -1;
	progress_render(figures, sizeof(figures), &q, d->units, d->tty);
	progress_measure(d, &q);
	progress_render(line, sizeof(line), &q, d->units, d->tty);
	if (d->tty) {
		/* One column spare: writing the last one wraps on some
		   terminals, and "\r" would then redraw the wrong line. */
		term_size(fileno(d->f), &rows, &cols);
		if (cols > 1 && strlen(line) >= (size_t)cols)
			line[cols - 1] = '\0';
		if (d->drawn && strcmp(line, d->last) == 0)
			return;
		/* The cursor hidden: it would blink at the line's end. */
		fprintf(d->f, "%s\r%s" TERM_CLEAR_EOL, d->drawn ? "" :
		    TERM_CURSOR_HIDE, line);
		d->drawn = true;
	} else if (strcmp(figures, d->figures) != 0)
		fprintf(d->f, "%s\n", line);
	fflush(d->f);
	memcpy(d->last, line, sizeof(line));
	memcpy(d->figures, figures, sizeof(figures));
}

void
progress_display_end(struct progress_display *d)
{
	if (d->tty && d->drawn) {
		fputs(TERM_CURSOR_SHOW "\n", d->f);
		fflush(d->f);
	}
	d->drawn = false;
}
