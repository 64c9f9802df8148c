/*
 * Configuration: built-in defaults, then the config file (-c FILE, INI),
 * then the command line, which wins.  Every command-line option is also a
 * config-file key of the same name ("max-frame" or "max_frame").
 *
 * config_load() returns a enum config_result: CONFIG_ERROR comes with a
 * message naming the option (and the file and line for config-file
 * errors) in err.
 */
#ifndef JQD_CONFIG_H
#define JQD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"

#define CONFIG_MAX_LISTEN	16
#define CONFIG_MAX_ALLOW	64

enum sync_mode {
	SYNC_FULL,
	SYNC_NORMAL,
};

struct config {
	/* "HOST:PORT", or "tls:HOST:PORT" (config_addr_tls) */
	char		*listen[CONFIG_MAX_LISTEN];
	size_t		 nlisten;
	char		*unix_path[CONFIG_MAX_LISTEN];
	size_t		 nunix;
	/* Nothing asked: the Unix socket jqc_user_socket_path() names. */
	bool		 unix_default;
	/* TCP clients need no auth (loopback only; for tests). */
	bool		 insecure_tcp;
	/* Unix peers let in by their credentials besides jqd's uid, root. */
	char		*allow_user[CONFIG_MAX_ALLOW];
	size_t		 nallow_user;
	char		*allow_group[CONFIG_MAX_ALLOW];
	size_t		 nallow_group;
	char		*unix_group;
	char		*metrics;		/* as listen; NULL: off */
	uint64_t	 metrics_channels;	/* per-channel series; 0: none */
	bool		 http_readonly;		/* dashboard: no actions */
	char		*tls_cert;		/* PEM chain, for tls: */
	char		*tls_key;		/* PEM */
	char		*tls_ca;		/* NULL: no client certs */
	char		*db_path;	/* --db: only until config_check */
	char		*store;		/* --store, or --db's sqlite path */
	bool		 store_on_cli;	/* given on the command line */
	char		*job_dir;		/* NULL: working directory */
	char		*token_file;
	unsigned	 unix_mode;
	int		 workers;
	enum sync_mode	 sync;
	enum log_level	 log_level;

	uint64_t	 max_connections;
	uint64_t	 max_unauthenticated;	/* connections before auth */
	uint64_t	 max_frame;		/* bytes, without "\r\n" */
	uint64_t	 max_value;		/* bytes of compact JSON */
	uint64_t	 max_channels;
	uint64_t	 max_select_cases;
	uint64_t	 max_buffered_bytes;
	uint64_t	 max_queued_jobs;
	uint64_t	 max_output;		/* captured job output */
	uint64_t	 max_retained_jobs;	/* finished jobs kept */
	uint64_t	 max_retained_output;	/* their stored output */
	uint64_t	 max_conn_buffer;	/* queued reply bytes per conn */
	uint64_t	 max_pipeline;		/* unanswered requests per conn */
	uint64_t	 max_pending;		/* parked calls per mux conn */
	uint64_t	 dedup_max;		/* keys per channel (default) */
	uint64_t	 max_dedup_bytes;	/* memory for keys, all channels */
	uint64_t	 commit_delay_us;
	uint64_t	 max_workers;		/* agents registered at once */

	int64_t		 kill_grace_ms;
	int64_t		 shutdown_grace_ms;
	int64_t		 job_retention_ms;
	int64_t		 retry_delay_ms;
	int64_t		 default_timeout_ms;	/* jobs; -1 = none */
	int64_t		 auth_timeout_ms;
	int64_t		 dedup_window_ms;	/* keys kept (default) */
	int64_t		 worker_heartbeat_ms;	/* agents are told this */
	int64_t		 worker_lease_ms;	/* >= 3 heartbeats */

	/* Not an option: soft RLIMIT_NOFILE for jobs (fdlimit.c); 0: ours. */
	uint64_t	 job_nofile;
};

enum config_result {
	CONFIG_ERROR = -1,
	CONFIG_OK = 0,
	CONFIG_HELP,		/* -h: print config_usage() */
	CONFIG_VERSION,		/* -V */
};

/* Fill cfg with defaults, then apply the file and argv. */
enum config_result config_load(struct config *cfg, int argc, char **argv,
	    char *err, size_t errlen);
void	 config_fini(struct config *cfg);
/* The --help text. */
void	 config_usage(FILE *fp);

/*
 * Is addr (a listen or metrics value) "tls:HOST:PORT"?  If hostport is
 * not NULL, it gets the HOST:PORT part (borrowed from addr).
 */
bool	 config_addr_tls(const char *addr, const char **hostport);
/* The first TLS address cfg asks for, or NULL: none. */
const char *config_first_tls(const struct config *cfg);

/* Parse "4096", "64K", "1M", "1G" (powers of 1024). 0 or -1. */
int	 config_parse_size(const char *s, uint64_t *bytes);

#endif
