/*
 * Log lines go to stderr, one per event, flushed at once so that a
 * supervisor (journald, a test harness) sees them as they happen.
 *
 * After log_init(), a line starts with the local time, ISO 8601 with
 * milliseconds, unless stderr is journald's stream: systemd sets
 * JOURNAL_STREAM to the device and inode of the stream it gives us, and
 * journald stamps each line itself (a second time would only be noise).
 * Compared with stderr's own, so that a terminal opened from a unit's
 * shell, which inherits the variable, still gets times.
 *
 * log_warn_limited() keeps a few recent lines (LOG_LIMIT_SLOTS) with the
 * time each was last written and how many copies were dropped since; when
 * all slots are taken, the one written longest ago gives way, and its count
 * of dropped copies is lost with it.
 */
#include <sys/stat.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "units.h"

#define LOG_LINE_MAX	1024
#define LOG_LIMIT_MS	1000
#define LOG_LIMIT_SLOTS	8

struct log_limit {
	char			 line[LOG_LINE_MAX];	/* "": slot free */
	int64_t			 last_ms;	/* when it was last written */
	unsigned long long	 dropped;	/* copies since */
};

static enum log_level log_level = LOG_LEVEL_INFO;
static bool log_stamp;		/* start lines with the time */
static struct log_limit log_limits[LOG_LIMIT_SLOTS];

static const char *const log_level_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_ERROR] = "error",
};

void
log_set_level(enum log_level level)
{
	log_level = level;
}

int
log_level_parse(const char *name, enum log_level *level)
{
	size_t	 i;

	for (i = 0; i < sizeof(log_level_names) / sizeof(*log_level_names);
	    i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* Is stderr the stream journald gave us (JOURNAL_STREAM=DEV:INODE)? */
static bool
log_to_journal(void)
{
	const char		*v = getenv("JOURNAL_STREAM");
	unsigned long long	 dev, ino;
	struct stat		 sb;

	if (v == NULL || sscanf(v, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &sb) == -1)
		return false;
	return (unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino;
}

void
log_init(void)
{
	/* localtime_r() need not read TZ itself. */
	tzset();
	log_stamp = !log_to_journal();
}

/* "2026-12-07T19:30:39.123+01:00 ", or "" when the time does not show. */
static void
log_time(char *buf, size_t len)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 date[24];
	long		 off;

	buf[0] = '\0';
	clock_gettime(CLOCK_REALTIME, &ts);
	if (localtime_r(&ts.tv_sec, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return;
	off = tm.tm_gmtoff / 60;
	snprintf(buf, len, "%s.%03d%c%02d:%02d ", date,
	    (int)(ts.tv_nsec / 1000000 % 1000), off < 0 ? '-' : '+',
	    (int)(labs(off) / 60 % 100), (int)(labs(off) % 60));
}

static void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char	 line[LOG_LINE_MAX], stamp[48] = "";

	if (level < log_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_stamp)
		log_time(stamp, sizeof(stamp));
	fprintf(stderr, "%s%s: %s\n", stamp, log_level_names[level], line);
	fflush(stderr);
}

static int64_t
log_now_ms(void)
{
	return units_clock_ms(CLOCK_MONOTONIC);
}

/* The slot holding line, else the free or least recently written one. */
static struct log_limit *
log_limit_slot(const char *line)
{
	struct log_limit	*l, *oldest = &log_limits[0];

	for (l = log_limits; l < log_limits + LOG_LIMIT_SLOTS; l++) {
		if (strcmp(l->line, line) == 0)
			return l;
		if (l->line[0] == '\0')
			return l;
		if (l->last_ms < oldest->last_ms)
			oldest = l;
	}
	return oldest;
}

void
log_warn_limited(const char *fmt, ...)
{
	struct log_limit	*l;
	char			 line[LOG_LINE_MAX];
	va_list			 ap;
	int64_t			 now;

	if (LOG_LEVEL_WARN < log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	now = log_now_ms();
	l = log_limit_slot(line);
	if (strcmp(l->line, line) != 0) {
		snprintf(l->line, sizeof(l->line), "%s", line);
		l->dropped = 0;
	} else if (now - l->last_ms < LOG_LIMIT_MS) {
		l->dropped++;
		return;
	}
	if (l->dropped > 0)
		log_warn("%s (%llu more like it not logged)", line, l->dropped);
	else
		log_warn("%s", line);
	l->last_ms = now;
	l->dropped = 0;
}

#define LOG_FUNC(name, level)						\
void									\
name(const char *fmt, ...)						\
{									\
	va_list	 ap;							\
									\
	va_start(ap, fmt);						\
	log_vwrite(level, fmt, ap);					\
	va_end(ap);							\
}

LOG_FUNC(log_debug, LOG_LEVEL_DEBUG)
LOG_FUNC(log_info, LOG_LEVEL_INFO)
LOG_FUNC(log_warn, LOG_LEVEL_WARN)
LOG_FUNC(log_error, LOG_LEVEL_ERROR)

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
