/*
 * Logging: one line per event on stderr, "<level>: <message>", after
 * log_init() preceded by the local time ("2026-12-07T19:30:39.123+01:00
 * info: ready") unless stderr is journald's, which adds the time itself.
 */
#ifndef JQD_LOG_H
#define JQD_LOG_H

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

/*
 * Decide the line format from where stderr goes (see above); before it,
 * lines have no time.  Call once, before any thread logs.
 */
void	 log_init(void);
void	 log_set_level(enum log_level level);
/* Parse "debug", "info", "warn" or "error".  Returns 0 or -1. */
int	 log_level_parse(const char *name, enum log_level *level);

void	 log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * log_warn for lines an outside event can repeat without end (accept
 * failing for want of descriptors, connections refused at a limit): the
 * same text is written at most once a second, and the next copy written
 * says how many were dropped in between.  Event loop thread only.
 */
void	 log_warn_limited(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
/* Log at error level and exit(1): failed start-up or impossible state. */
void	 fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* "s" unless n is 1: "%zu job%s", n, log_plural(n). */
static inline const char *
log_plural(unsigned long long n)
{
	return n == 1 ? "" : "s";
}

#endif
