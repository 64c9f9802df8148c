/*
 * cli-progress: the progress bar of "jq-client wait --progress".
 *
 * Three layers, so the look can be tested without a server or a terminal:
 *   - figures (struct progress) gathered from a "group" reply or from job
 *     result objects;
 *   - progress_render(): figures -> one line of text, a pure function;
 *   - struct progress_display: puts lines on a stream.  On a terminal it
 *     redraws one line in place ("\r", the line, clear to end of line),
 *     cut to the terminal's width; elsewhere it prints a plain line (no
 *     bar) only when the figures changed, so a log gets one line per step.
 *
 * The line: "[#######.............] 12/40 jobs  3 running  1 failed
 * 45.2 MiB/120.0 MiB  5.1 MiB/s  ETA 14.7s".  "failed" counts every job
 * that finished without succeeding (failed, deadline_exceeded, canceled).
 * The amounts are the jobs' own progress ("DONE TOTAL" lines) summed.
 *
 * The denominator never jumps: "/TOTAL" is shown, and counts, only once
 * the total of every job is known -- reported by the job, or, for a
 * finished job that reported none, what it did.  Until then the jobs are
 * the measure: the bar fills with the share of finished jobs, the rate
 * is jobs finished per second and the ETA the time left at that rate.
 * Once all totals are known the bar fills with the larger of the two
 * shares (so a single long job moves it too), and the rate and ETA are
 * the amount's.  The "group" summary cannot tell which jobs reported a
 * total, so from it the amount shows without one.
 *
 * The rate is the average since the measure began (the first figures,
 * or the switch from jobs to amounts), shown once RATE_MIN_MS have
 * passed and something moved; the ETA is the rest at that rate, left
 * out when nothing is left.  Both are the display's (they need a clock);
 * progress_render() only prints what it is given.
 */
#ifndef JQ_CLI_PROGRESS_H
#define JQ_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#define PROGRESS_BAR_WIDTH	20	/* cells between the brackets */

struct progress {
	long long	 jobs;		/* jobs waited for */
	long long	 finished;	/* in a final state */
	long long	 queued;
	long long	 running;
	long long	 failed;	/* finished, not succeeded */
	bool		 has_amount;	/* some job reported progress */
	long long	 done;		/* summed progress */
	long long	 total;		/* summed known totals; 0: none */
	long long	 with_total;	/* jobs whose total is known */
	/* Set from the figures over time by progress_display_show(): */
	double		 rate;		/* per second; 0: not known */
	bool		 rate_jobs;	/* the rate counts jobs, not amounts */
	long long	 eta_ms;	/* time left; -1: not known */
};

#define RATE_MIN_MS	1000	/* measured this long before shown */

/* The bytes that put a terminal back after the bar: the line erased,
   the cursor shown (for a signal that ends jq-client mid-bar). */
#define PROGRESS_RESTORE	"\r\033[K\033[?25h"

/* How amounts read: byte sizes ("45.2 MiB") or plain numbers. */
enum progress_units {
	PROGRESS_BYTES,
	PROGRESS_PLAIN,
};

/* All figures zero, rate and ETA not known. */
void	 progress_init(struct progress *);

/* Figures from an ok "group" reply (replacing p).  Returns 0, or -1 when
   the reply does not have the shape of one. */
int	 progress_from_group(struct progress *p, const json_t *reply);

/* Count one job (a "job" reply or a result object) into p. */
void	 progress_add_job(struct progress *p, const json_t *job);

/*
 * Render p into buf (len bytes, always terminated; a longer line is cut).
 * bar: with the "[###...]" bar in front.  The rate and ETA are shown when
 * known.  Returns buf.
 */
char	*progress_render(char *buf, size_t len, const struct progress *p,
	    enum progress_units units, bool bar);

struct progress_display {
	FILE			*f;
	bool			 tty;
	enum progress_units	 units;
	bool			 drawn;		/* a line is on screen (tty) */
	char			 last[256];	/* the last line shown */
	char			 figures[256];	/* ... without rate and ETA */
	bool			 measure_amount; /* the rate's measure */
	long long		 t0_ms;		/* its start, monotonic; 0:
						   not started */
	long long		 v0;		/* what was done then */
};

/* Show on f; whether it is a terminal decides the style. */
void	 progress_display_init(struct progress_display *, FILE *f,
	    enum progress_units units);
void	 progress_display_show(struct progress_display *,
	    const struct progress *);
/* End the in-place line on a terminal (the cursor shown again, a
   newline after it). */
void	 progress_display_end(struct progress_display *);

#endif
