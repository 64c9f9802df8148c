/*
 * The one log line a job leaves when it reaches a final state (job.h
 * job_log_final), so that an operator reading the log sees what ran and
 * how it ended without asking jqd:
 *
 *   job 17 (name "resize") succeeded in 1.2s, attempt 1
 *   job 18 (wc -l a.csv) failed: exit 1 in 3ms, attempt 2 of 3
 *   job 19 (sleep 60) canceled 4.0s after submission, attempt 1
 *
 * The job is named by its name, else by its argv as a shell would read
 * it, either cut at JOB_LOG_WHAT_MAX bytes: one line stays one line
 * whatever was submitted (control bytes are escaped, never written).
 * The time is the last attempt's run time, or, for a job that ended
 * before it started (canceled or past its deadline while queued), the
 * time since it was submitted.
 */
#include <stdio.h>
#include <string.h>

#include "job.h"
#include "log.h"
#include "shquote.h"
#include "strbuf.h"
#include "units.h"

#define JOB_LOG_WHAT_MAX	80

/*
 * s with control bytes as \xNN, and a backslash before the bytes of
 * special (the quote around s, and the backslash itself).
 */
static void
job_log_text(struct strbuf *sb, const char *s, const char *special)
{
	for (; *s != '\0'; s++) {
		if (strchr(special, *s) != NULL)
			strbuf_appendf(sb, "\\%c", *s);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			strbuf_appendf(sb, "\\x%02x", (unsigned char)*s);
		else
			strbuf_appendc(sb, *s);
	}
}

/* Cut sb to max bytes, not inside a UTF-8 sequence, with "..." after. */
static void
job_log_cut(struct strbuf *sb, size_t max)
{
	size_t	 n = max;

	if (sb->len <= max)
		return;
	while (n > 0 && ((unsigned char)sb->data[n] & 0xc0) == 0x80)
		n--;
	sb->len = n;
	sb->data[n] = '\0';
	strbuf_append(sb, "...", 3);
}

/* 'name "resize"', or the argv as a shell would read it; cut short. */
static void
job_log_what(struct strbuf *sb, const struct job *j)
{
	size_t	 i;

	if (j->spec.name != NULL) {
		strbuf_append(sb, "name \"", 6);
		job_log_text(sb, j->spec.name, "\"\\");
		strbuf_appendc(sb, '"');
	} else {
		for (i = 0; j->spec.argv != NULL && j->spec.argv[i] != NULL;
		    i++) {
			if (i > 0)
				strbuf_appendc(sb, ' ');
			shquote_append(sb, j->spec.argv[i]);
			/* The rest would be cut anyway. */
			if (sb->len > JOB_LOG_WHAT_MAX)
				break;
		}
	}
	job_log_cut(sb, JOB_LOG_WHAT_MAX);
}

/* ": exit 1", ": signal 9", ": <error>", or "" (nothing to add). */
static void
job_log_detail(struct strbuf *sb, const struct job *j)
{
	if (j->error != NULL) {
		/* The state says it already. */
		if (j->state == JOB_DEADLINE_EXCEEDED &&
		    strcmp(j->error, "deadline exceeded") == 0)
			return;
		strbuf_append(sb, ": ", 2);
		job_log_text(sb, j->error, "");
	} else if (j->signal > 0)
		strbuf_appendf(sb, ": signal %d", j->signal);
	else if (j->exit_code > 0)
		strbuf_appendf(sb, ": exit %d", j->exit_code);
}

void
job_log_final(const struct job *j)
{
	struct strbuf	 what = STRBUF_INIT, detail = STRBUF_INIT;
	char		 d[UNITS_DURATION_MAX], of[32] = "";
	bool		 ran = j->started_ms >= 0 &&
			    j->finished_ms >= j->started_ms;

	job_log_what(&what, j);
	job_log_detail(&detail, j);
	units_format_duration(d, sizeof(d), ran ?
	    j->finished_ms - j->started_ms : j->finished_ms - j->submitted_ms);
	if (j->spec.retries > 0)
		snprintf(of, sizeof(of), " of %lld",
		    (long long)j->spec.retries + 1);
	log_info("job %lld (%s) %s%s %s%s%s, attempt %lld%s", (long long)j->id,
	    what.data != NULL ? what.data : "", job_state_name(j->state),
	    detail.data != NULL ? detail.data : "", ran ? "in " : "", d,
	    ran ? "" : " after submission", (long long)j->attempt, of);
	strbuf_fini(&what);
	strbuf_fini(&detail);
}
