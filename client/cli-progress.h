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
 * 45.2 MiB/120.0 MiB".  "failed" counts every job that finished without
 * succeeding (failed, deadline_exceeded, canceled).  The amounts are the
 * jobs' own progress ("DONE TOTAL" lines) summed; "/TOTAL" is left out
 * when no job reported a total.  The bar fills with the share of finished
 * jobs; once no job is queued and totals are known, with the amount share
 * when that is larger, so a single long job moves the bar too.
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
};

/* How amounts read: byte sizes ("45.2 MiB") or plain numbers. */
enum progress_units {
	PROGRESS_BYTES,
	PROGRESS_PLAIN,
};

/* All figures zero. */
void	 progress_init(struct progress *);

/* Figures from an ok "group" reply (replacing p).  Returns 0, or -1 when
   the reply does not have the shape of one. */
int	 progress_from_group(struct progress *p, const json_t *reply);

/* Count one job (a "job" reply or a result object) into p. */
void	 progress_add_job(struct progress *p, const json_t *job);

/*
 * Render p into buf (len bytes, always terminated; a longer line is cut).
 * bar: with the "[###...]" bar in front.  Returns buf.
 */
char	*progress_render(char *buf, size_t len, const struct progress *p,
	    enum progress_units units, bool bar);

struct progress_display {
	FILE			*f;
	bool			 tty;
	enum progress_units	 units;
	bool			 drawn;		/* a line is on screen (tty) */
	char			 last[256];	/* the last line shown */
};

/* Show on f; whether it is a terminal decides the style. */
void	 progress_display_init(struct progress_display *, FILE *f,
	    enum progress_units units);
void	 progress_display_show(struct progress_display *,
	    const struct progress *);
/* End the in-place line on a terminal (a newline after it). */
void	 progress_display_end(struct progress_display *);

#endif
