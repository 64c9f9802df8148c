/*
 * Logging: one line per event on stderr, "<level>: <message>".  journald
 * adds the time and the unit; a terminal user sees plain lines.
 */
#ifndef JQD_LOG_H
#define JQD_LOG_H

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

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

#endif
