/*
 * Configuration sources, weakest first: built-in defaults, the config file
 * (INI via inih; keys are the long option names, '-' or '_' alike, no
 * sections), the command line.  One table describes every option, so the
 * file, the command line and --help never disagree.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "dedup.h"
#include "units.h"

enum opt_type {
	OPT_STRING,
	OPT_HOSTPORT,
	OPT_LISTEN,
	OPT_UNIX,
	OPT_COUNT,
	OPT_SIZE,
	OPT_DURATION,
	OPT_SYNC,
	OPT_LOG_LEVEL,
	OPT_MODE,
	OPT_FLAG,		/* no value on the command line */
	OPT_ALLOW,		/* repeatable user or group name */
};

struct opt {
	const char	*name;
	enum opt_type	 type;
	size_t		 offset;
	uint64_t	 min, max;	/* OPT_COUNT, OPT_SIZE, OPT_DURATION */
	const char	*arg;
	const char	*help;
};

#define OFF(f)	offsetof(struct config, f)
#define KiB	1024ULL
#define MiB	(1024ULL * KiB)
#define GiB	(1024ULL * MiB)
#define HOUR_MS	(3600ULL * 1000)
#define DAY_MS	(24 * HOUR_MS)

static const struct opt opts[] = {
	{ "listen", OPT_LISTEN, 0, 0, 0, "[tls:]HOST:PORT",
	  "listen on TCP, with TLS if tls: (repeatable; clients must auth "
	  "with the token)" },
	{ "unix", OPT_UNIX, 0, 0, 0, "PATH",
	  "listen on a Unix socket (repeatable; default: see jqd(8))" },
	{ "allow-user", OPT_ALLOW, OFF(allow_user), 0, 0, "USER",
	  "let USER use the Unix sockets (repeatable; jqd's user and root "
	  "always may)" },
	{ "allow-group", OPT_ALLOW, OFF(allow_group), 0, 0, "GROUP",
	  "let members of GROUP use the Unix sockets (repeatable)" },
	{ "insecure-tcp", OPT_FLAG, OFF(insecure_tcp), 0, 0, "",
	  "serve TCP clients that have not authenticated (loopback only; "
	  "for tests: anyone who can connect runs commands as jqd's user)" },
	{ "unix-mode", OPT_MODE, OFF(unix_mode), 0, 0777, "MODE",
	  "Unix socket permissions, octal (default 0660)" },
	{ "unix-group", OPT_STRING, OFF(unix_group), 0, 0, "GROUP",
	  "group owning the Unix sockets (default: jqd's)" },
	{ "metrics", OPT_HOSTPORT, OFF(metrics), 0, 0, "[tls:]HOST:PORT",
	  "serve Prometheus metrics on /metrics, health on /healthz and the "
	  "dashboard on /, HTTPS if tls: (default: off)" },
	{ "http-readonly", OPT_FLAG, OFF(http_readonly), 0, 0, "",
	  "the dashboard shows and refuses every action (cancel, retry, "
	  "close, drop, ...)" },
	{ "metrics-channels", OPT_COUNT, OFF(metrics_channels), 0, 100000000,
	  "N", "channels given series of their own on /metrics; 0: none "
	  "(default 1000)" },
	{ "tls-cert", OPT_STRING, OFF(tls_cert), 0, 0, "FILE",
	  "certificate chain (PEM) of the tls: listeners" },
	{ "tls-key", OPT_STRING, OFF(tls_key), 0, 0, "FILE",
	  "private key (PEM) of tls-cert" },
	{ "tls-ca", OPT_STRING, OFF(tls_ca), 0, 0, "FILE",
	  "require client certificates signed by a CA in FILE (PEM; "
	  "default: none asked)" },
	{ "db", OPT_STRING, OFF(db_path), 0, 0, "PATH",
	  "SQLite database (default ./jqd.db); the same as --store "
	  "sqlite:PATH" },
	{ "store", OPT_STRING, OFF(store), 0, 0, "STORE",
	  "sqlite:PATH, or PostgreSQL: postgres://... or postgres:CONNINFO "
	  "(no password here: PGPASSFILE or PGPASSWORD)" },
	{ "job-dir", OPT_STRING, OFF(job_dir), 0, 0, "DIR",
	  "where jobs run unless they ask for a cwd (default: jqd's)" },
	{ "workers", OPT_COUNT, OFF(workers), 0, 1024, "N",
	  "jobs of pool local run by jqd at once; 0: only agents run jobs "
	  "(default: number of CPUs)" },
	{ "sync", OPT_SYNC, OFF(sync), 0, 0, "full|normal",
	  "full survives power loss, normal a crash of jqd (default full)" },
	{ "commit-delay", OPT_COUNT, OFF(commit_delay_us), 0, 100000, "USEC",
	  "wait before a commit that would start at once, so that more "
	  "changes share it (default 100)" },
	{ "token-file", OPT_STRING, OFF(token_file), 0, 0, "FILE",
	  "require clients to auth with the token in FILE" },
	{ "log-level", OPT_LOG_LEVEL, OFF(log_level), 0, 0, "LEVEL",
	  "debug, info, warn or error (default info)" },
	{ "max-connections", OPT_COUNT, OFF(max_connections), 1, 1000000,
	  "N", "open client connections (default 4096)" },
	{ "max-unauthenticated", OPT_COUNT, OFF(max_unauthenticated), 1,
	  1000000, "N",
	  "connections that have not authenticated yet (default 256)" },
	{ "max-frame", OPT_SIZE, OFF(max_frame), 256, 1 * GiB, "SIZE",
	  "longest request line (default 1M)" },
	{ "max-value", OPT_SIZE, OFF(max_value), 16, 1 * GiB, "SIZE",
	  "largest value, compact JSON (default 256K)" },
	{ "max-channels", OPT_COUNT, OFF(max_channels), 1, 100000000, "N",
	  "channels (default 100000)" },
	{ "max-select-cases", OPT_COUNT, OFF(max_select_cases), 1, 4096, "N",
	  "cases of one select (default 64)" },
	{ "max-buffered-bytes", OPT_SIZE, OFF(max_buffered_bytes), 1,
	  UINT64_MAX / 2, "SIZE", "values held in all channels (default 1G)" },
	{ "max-queued-jobs", OPT_COUNT, OFF(max_queued_jobs), 1, 100000000,
	  "N", "jobs waiting to run (default 100000)" },
	{ "max-output", OPT_SIZE, OFF(max_output), 0, 1 * GiB, "SIZE",
	  "captured stdout and stderr of a job, each (default 1M)" },
	{ "max-retained-jobs", OPT_COUNT, OFF(max_retained_jobs), 1,
	  100000000, "N",
	  "finished jobs kept; past it the oldest go (default 100000)" },
	{ "max-retained-output", OPT_SIZE, OFF(max_retained_output), 0,
	  UINT64_MAX / 2, "SIZE",
	  "stored output of finished jobs; past it the oldest go "
	  "(default 1G)" },
	{ "max-conn-buffer", OPT_SIZE, OFF(max_conn_buffer), 4 * KiB,
	  1 * GiB, "SIZE",
	  "unsent reply bytes before a connection is paused (default 8M)" },
	{ "max-pipeline", OPT_COUNT, OFF(max_pipeline), 1, 1000000, "N",
	  "requests one connection may have unanswered (default 1024)" },
	{ "max-pending", OPT_COUNT, OFF(max_pending), 1, 10000000, "N",
	  "requests blocked at once on one multiplexed connection "
	  "(default 1024)" },
	{ "dedup-window", OPT_DURATION, OFF(dedup_window_ms), 1,
	  DEDUP_WINDOW_MAX_MS, "DURATION",
	  "a channel remembers send keys this long (default 10m)" },
	{ "dedup-max", OPT_COUNT, OFF(dedup_max), 1, DEDUP_MAX_MAX, "N",
	  "send keys a channel remembers at most (default 100000)" },
	{ "max-dedup-bytes", OPT_SIZE, OFF(max_dedup_bytes), 4 * KiB,
	  UINT64_MAX / 2, "SIZE",
	  "memory for send keys in all channels (default 256M)" },
	{ "kill-grace", OPT_DURATION, OFF(kill_grace_ms), 0, HOUR_MS,
	  "DURATION",
	  "SIGTERM to SIGKILL for a job being stopped (default 5s)" },
	{ "shutdown-grace", OPT_DURATION, OFF(shutdown_grace_ms), 0, DAY_MS,
	  "DURATION", "running jobs may finish after SIGTERM (default 10s)" },
	{ "job-retention", OPT_DURATION, OFF(job_retention_ms), 0,
	  3650 * DAY_MS,
	  "DURATION", "finished jobs are kept this long (default 7d)" },
	{ "retry-delay", OPT_DURATION, OFF(retry_delay_ms), 0, DAY_MS,
	  "DURATION",
	  "first retry backoff, doubled each attempt (default 1s)" },
	{ "default-timeout", OPT_DURATION, OFF(default_timeout_ms), 1,
	  PROTO_INT_MAX,
	  "DURATION", "job deadline when a submit gives none (default none)" },
	{ "worker-heartbeat", OPT_DURATION, OFF(worker_heartbeat_ms), 100,
	  60 * 1000, "DURATION",
	  "agents (jq-worker) send a heartbeat this often (default 2s)" },
	{ "worker-lease", OPT_DURATION, OFF(worker_lease_ms), 300, HOUR_MS,
	  "DURATION",
	  "an agent's job without a heartbeat this long is interrupted; at "
	  "least 3 worker-heartbeats (default 15s)" },
	{ "max-workers", OPT_COUNT, OFF(max_workers), 1, 1000000, "N",
	  "agents registered at once (default 1024)" },
	{ "auth-timeout", OPT_DURATION, OFF(auth_timeout_ms), 1, HOUR_MS,
	  "DURATION",
	  "close connections that have not authenticated (default 10s)" },
};

#define NOPTS	(sizeof(opts) / sizeof(opts[0]))

int
config_parse_size(const char *s, uint64_t *bytes)
{
	unsigned long long	 n, mult = 1;
	char			*end;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		mult = KiB;
		break;
	case 'M':
		mult = MiB;
		break;
	case 'G':
		mult = GiB;
		break;
	default:
		return -1;
	}
	if (*end != '\0' && end[1] != '\0' &&
	    !(toupper((unsigned char)end[1]) == 'B' && end[2] == '\0') &&
	    strcasecmp(end + 1, "iB") != 0)
		return -1;
	if (n > UINT64_MAX / mult)
		return -1;
	*bytes = n * mult;
	return 0;
}

static const struct opt *
config_find(const char *key)
{
	char	 name[64];
	size_t	 i;

	if (strlen(key) >= sizeof(name))
		return NULL;
	for (i = 0; key[i] != '\0'; i++)
		name[i] = key[i] == '_' ? '-' : key[i];
	name[i] = '\0';
	for (i = 0; i < NOPTS; i++) {
		if (strcmp(opts[i].name, name) == 0)
			return &opts[i];
	}
	return NULL;
}

static int
config_add_listen(char **list, size_t *n, const char *value, char *err,
    size_t errlen, const char *what)
{
	if (*n == CONFIG_MAX_LISTEN) {
		snprintf(err, errlen, "at most %d %s addresses",
		    CONFIG_MAX_LISTEN, what);
		return -1;
	}
	list[(*n)++] = strdup(value);
	return 0;
}

bool
config_addr_tls(const char *addr, const char **hostport)
{
	if (strncmp(addr, "tls:", 4) != 0)
		return false;
	if (hostport != NULL)
		*hostport = addr + 4;
	return true;
}

const char *
config_first_tls(const struct config *cfg)
{
	size_t	 i;

	for (i = 0; i < cfg->nlisten; i++) {
		if (config_addr_tls(cfg->listen[i], NULL))
			return cfg->listen[i];
	}
	if (cfg->metrics != NULL && config_addr_tls(cfg->metrics, NULL))
		return cfg->metrics;
	return NULL;
}

/* "HOST:PORT", "[HOST]:PORT", either after "tls:". */
static int
config_check_hostport(const char *value)
{
	const char	*colon;
	char		*end;
	long		 port;

	(void)config_addr_tls(value, &value);
	colon = strrchr(value, ':');

	if (colon == NULL || colon == value)
		return -1;
	if (value[0] == '[' && colon[-1] != ']')
		return -1;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port < 0 ||
	    port > 65535)
		return -1;
	return 0;
}

/*
 * The values of a repeatable option given on the command line replace
 * those of the file: the first one clears the list.  cli_seen has a flag
 * per option (listen and unix share the one of listen: both are the
 * listeners); NULL when reading the file.
 */
static bool
config_first_on_cli(const struct opt *o, bool *cli_seen)
{
	size_t	 i = (size_t)(o - opts);

	if (o->type == OPT_UNIX)
		i = 0;		/* opts[0] is listen */
	if (cli_seen == NULL || cli_seen[i])
		return false;
	cli_seen[i] = true;
	return true;
}

static void
config_list_clear(char **list, size_t *n)
{
	while (*n > 0)
		free(list[--*n]);
}

/* Apply one option; from the command line when cli_seen is not NULL. */
static int
config_set(struct config *cfg, const struct opt *o, const char *value,
    bool *cli_seen, char *err, size_t errlen)
{
	char		*field = (char *)cfg + o->offset;
	uint64_t	 u;
	int64_t		 ms;
	char		*end, lo[UNITS_DURATION_MAX], hi[UNITS_DURATION_MAX];
	unsigned long	 mode;

	switch (o->type) {
	case OPT_STRING:
		if (*value == '\0') {
			snprintf(err, errlen, "%s: must not be empty", o->name);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = strdup(value);
		return 0;
	case OPT_HOSTPORT:
		if (config_check_hostport(value) == -1) {
			snprintf(err, errlen, "%s: '%s' is not HOST:PORT or "
			    "tls:HOST:PORT",
			    o->name, value);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = strdup(value);
		return 0;
	case OPT_LISTEN:
	case OPT_UNIX:
		if (config_first_on_cli(o, cli_seen)) {
			config_list_clear(cfg->listen, &cfg->nlisten);
			config_list_clear(cfg->unix_path, &cfg->nunix);
		}
		if (o->type == OPT_UNIX) {
			if (*value == '\0') {
				snprintf(err, errlen, "unix: empty path");
				return -1;
			}
			return config_add_listen(cfg->unix_path, &cfg->nunix,
			    value, err, errlen, "unix");
		}
		if (config_check_hostport(value) == -1) {
			snprintf(err, errlen,
			    "listen: '%s' is not HOST:PORT or tls:HOST:PORT",
			    value);
			return -1;
		}
		return config_add_listen(cfg->listen, &cfg->nlisten, value,
		    err, errlen, "listen");
	case OPT_ALLOW: {
		char	**list = (char **)field;
		size_t	 *n = o->offset == OFF(allow_user) ?
			    &cfg->nallow_user : &cfg->nallow_group;

		if (config_first_on_cli(o, cli_seen))
			config_list_clear(list, n);
		if (*value == '\0') {
			snprintf(err, errlen, "%s: must not be empty", o->name);
			return -1;
		}
		if (*n == CONFIG_MAX_ALLOW) {
			snprintf(err, errlen, "%s: at most %d", o->name,
			    CONFIG_MAX_ALLOW);
			return -1;
		}
		list[(*n)++] = strdup(value);
		return 0;
	}
	case OPT_FLAG:
		/* The command line gives no value: the flag is set. */
		if (cli_seen != NULL || strcmp(value, "yes") == 0 ||
		    strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
			*(bool *)field = true;
		else if (strcmp(value, "no") == 0 ||
		    strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
			*(bool *)field = false;
		else {
			snprintf(err, errlen, "%s: '%s' is not yes or no",
			    o->name, value);
			return -1;
		}
		return 0;
	case OPT_COUNT:
		errno = 0;
		u = strtoull(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' ||
		    !isdigit((unsigned char)*value) || u < o->min ||
		    u > o->max) {
			snprintf(err, errlen, "%s: '%s' is not an integer in "
			    "[%llu, %llu]", o->name, value,
			    (unsigned long long)o->min,
			    (unsigned long long)o->max);
			return -1;
		}
		if (o->offset == OFF(workers))
			cfg->workers = (int)u;
		else
			*(uint64_t *)field = u;
		return 0;
	case OPT_SIZE:
		if (config_parse_size(value, &u) == -1 || u < o->min ||
		    u > o->max) {
			snprintf(err, errlen, "%s: '%s' is not a size in "
			    "[%llu, %llu] (e.g. 4096, 64K, 1M, 1G)", o->name,
			    value, (unsigned long long)o->min,
			    (unsigned long long)o->max);
			return -1;
		}
		*(uint64_t *)field = u;
		return 0;
	case OPT_DURATION:
		if (units_parse_duration(value, &ms) == -1 ||
		    (uint64_t)ms < o->min || (uint64_t)ms > o->max) {
			snprintf(err, errlen, "%s: '%s' is not a duration "
			    "from %s to %s (e.g. 250ms, 5s, 1m30s, 1h, 7d)",
			    o->name, value, units_format_duration(lo,
			    sizeof(lo), (int64_t)o->min),
			    units_format_duration(hi, sizeof(hi),
			    (int64_t)o->max));
			return -1;
		}
		*(int64_t *)field = ms;
		return 0;
	case OPT_SYNC:
		if (strcmp(value, "full") == 0)
			cfg->sync = SYNC_FULL;
		else if (strcmp(value, "normal") == 0)
			cfg->sync = SYNC_NORMAL;
		else {
			snprintf(err, errlen,
			    "sync: '%s' is not full or normal", value);
			return -1;
		}
		return 0;
	case OPT_LOG_LEVEL:
		if (log_level_parse(value, &cfg->log_level) == -1) {
			snprintf(err, errlen, "log-level: '%s' is not debug, "
			    "info, warn or error", value);
			return -1;
		}
		return 0;
	case OPT_MODE:
		errno = 0;
		mode = strtoul(value, &end, 8);
		if (errno != 0 || end == value || *end != '\0' ||
		    mode > o->max) {
			snprintf(err, errlen,
			    "%s: '%s' is not an octal mode", o->name, value);
			return -1;
		}
		cfg->unix_mode = (unsigned)mode;
		return 0;
	}
	return -1;
}

static void
config_defaults(struct config *cfg)
{
	long	 ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(cfg, 0, sizeof(*cfg));
	cfg->unix_mode = 0660;
	cfg->workers = ncpu < 1 ? 1 : ncpu > 1024 ? 1024 : (int)ncpu;
	cfg->sync = SYNC_FULL;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->max_connections = 4096;
	cfg->max_unauthenticated = 256;
	cfg->max_frame = 1 * MiB;
	cfg->max_value = 256 * KiB;
	cfg->max_channels = 100000;
	cfg->metrics_channels = 1000;
	cfg->max_select_cases = 64;
	cfg->max_buffered_bytes = 1 * GiB;
	cfg->max_queued_jobs = 100000;
	cfg->max_output = 1 * MiB;
	cfg->max_retained_jobs = 100000;
	cfg->max_retained_output = 1 * GiB;
	cfg->max_conn_buffer = 8 * MiB;
	cfg->max_pipeline = 1024;
	cfg->max_pending = 1024;
	cfg->commit_delay_us = 100;
	cfg->kill_grace_ms = 5000;
	cfg->shutdown_grace_ms = 10000;
	cfg->job_retention_ms = 7LL * 86400 * 1000;
	cfg->retry_delay_ms = 1000;
	cfg->default_timeout_ms = -1;
	cfg->auth_timeout_ms = 10000;
	cfg->dedup_window_ms = 10 * 60 * 1000;
	cfg->dedup_max = 100000;
	cfg->max_dedup_bytes = 256 * MiB;
	cfg->worker_heartbeat_ms = 2000;
	cfg->worker_lease_ms = 15000;
	cfg->max_workers = 1024;
}

struct ini_ctx {
	struct config	*cfg;
	FILE		*fp;
	const char	*path;
	char		*err;
	size_t		 errlen;
	int		 lineno;
	bool		 failed;
};

/*
 * inih as packaged does not pass line numbers to the handler, so read the
 * lines for it and count them: errors then name their line.
 */
static char *
config_ini_reader(char *str, int num, void *arg)
{
	struct ini_ctx	*ctx = arg;

	const char	*p;

	if (fgets(str, num, ctx->fp) == NULL)
		return NULL;
	ctx->lineno++;
	/* inih would only tell us at the next key: refuse sections here. */
	for (p = str; *p == ' ' || *p == '\t'; p++)
		;
	if (*p == '[' && !ctx->failed) {
		snprintf(ctx->err, ctx->errlen, "%s:%d: sections are not used "
		    "(%.*s)", ctx->path, ctx->lineno, (int)strcspn(p, "\r\n"),
		    p);
		ctx->failed = true;
	}
	return str;
}

static int
config_ini_cb(void *arg, const char *section, const char *key,
    const char *value)
{
	struct ini_ctx		*ctx = arg;
	const struct opt	*o;
	char			 msg[512];
	int			 lineno = ctx->lineno;

	if (ctx->failed)
		return 0;
	if (*section != '\0') {
		snprintf(ctx->err, ctx->errlen, "%s:%d: sections are not used "
		    "('[%s]')", ctx->path, lineno, section);
		ctx->failed = true;
		return 0;
	}
	if ((o = config_find(key)) == NULL) {
		snprintf(ctx->err, ctx->errlen, "%s:%d: unknown key '%s'",
		    ctx->path, lineno, key);
		ctx->failed = true;
		return 0;
	}
	if (config_set(ctx->cfg, o, value, NULL, msg,
	    sizeof(msg)) == -1) {
		snprintf(ctx->err, ctx->errlen, "%s:%d: %s", ctx->path, lineno,
		    msg);
		ctx->failed = true;
		return 0;
	}
	return 1;
}

static int
config_read_file(struct config *cfg, const char *path, char *err,
    size_t errlen)
{
	struct ini_ctx	 ctx = { cfg, NULL, path, err, errlen, 0, false };
	int		 rc;

	if ((ctx.fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return -1;
	}
	rc = ini_parse_stream(config_ini_reader, &ctx, config_ini_cb, &ctx);
	fclose(ctx.fp);
	if (ctx.failed)
		return -1;
	if (rc != 0) {
		snprintf(err, errlen, "%s:%d: syntax error", path, rc);
		return -1;
	}
	return 0;
}

/* Cross-option checks, once every source is applied. */
static int
config_check(struct config *cfg, char *err, size_t errlen)
{
	const char	*tls = config_first_tls(cfg);
	char		 lease[UNITS_DURATION_MAX], beats[UNITS_DURATION_MAX];

	if (tls != NULL && (cfg->tls_cert == NULL || cfg->tls_key == NULL)) {
		snprintf(err, errlen, "listening on '%s' needs tls-cert and "
		    "tls-key", tls);
		return -1;
	}
	if (cfg->worker_lease_ms < 3 * cfg->worker_heartbeat_ms) {
		snprintf(err, errlen, "worker-lease (%s) must be at least "
		    "3 worker-heartbeats (%s)", units_format_duration(lease,
		    sizeof(lease), cfg->worker_lease_ms),
		    units_format_duration(beats, sizeof(beats),
		    3 * cfg->worker_heartbeat_ms));
		return -1;
	}
	if (cfg->max_value + 64 > cfg->max_frame) {
		snprintf(err, errlen, "max-value (%llu) must be at least 64 "
		    "bytes below max-frame (%llu)",
		    (unsigned long long)cfg->max_value,
		    (unsigned long long)cfg->max_frame);
		return -1;
	}
	if (cfg->store != NULL && cfg->db_path != NULL) {
		snprintf(err, errlen, "db and store both name a database; "
		    "give one");
		return -1;
	}
	if (cfg->store == NULL) {
		cfg->store = cfg->db_path;
		cfg->db_path = NULL;
		if (cfg->store == NULL && (cfg->store =
		    strdup("./jqd.db")) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	/*
	 * Nothing asked: the default Unix socket, unless systemd hands us
	 * sockets (then the server uses only those).  No TCP by default:
	 * a TCP port lets in every local user, whatever their uid.
	 */
	cfg->unix_default = cfg->nlisten == 0 && cfg->nunix == 0;

	return 0;
}

void
config_usage(FILE *fp)
{
	char	 left[64];
	size_t	 i;

	fprintf(fp, "usage: jqd [-c FILE] [options]\n\n"
	    "  -c, --config FILE          read options from FILE (INI, keys "
	    "as below)\n"
	    "  -h, --help                 show this help\n"
	    "  -V, --version              show the version\n");
	for (i = 0; i < NOPTS; i++) {
		snprintf(left, sizeof(left), "--%s%s%s", opts[i].name,
		    opts[i].type == OPT_FLAG ? "" : " ", opts[i].arg);
		fprintf(fp, "      %-23s%s%s\n", left,
		    strlen(left) > 22 ? "\n                             " :
		    "", opts[i].help);
	}
}

enum config_result
config_load(struct config *cfg, int argc, char **argv, char *err,
    size_t errlen)
{
	struct option	 longopts[NOPTS + 4];
	const char	*file = NULL;
	bool		 cli_seen[NOPTS] = { false };
	size_t		 i;
	int		 c, idx;

	config_defaults(cfg);
	for (i = 0; i < NOPTS; i++) {
		longopts[i].name = opts[i].name;
		longopts[i].has_arg = opts[i].type == OPT_FLAG ? no_argument :
		    required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = 256 + (int)i;
	}
	longopts[NOPTS] = (struct option){ "config", required_argument, NULL,
	    'c' };
	longopts[NOPTS + 1] = (struct option){ "help", no_argument, NULL,
	    'h' };
	longopts[NOPTS + 2] = (struct option){ "version", no_argument, NULL,
	    'V' };
	longopts[NOPTS + 3] = (struct option){ NULL, 0, NULL, 0 };

	/* First pass: only find the config file, which the rest overrides. */
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:hV", longopts, &idx)) != -1) {
		if (c == 'c')
			file = optarg;
	}
	if (file != NULL && config_read_file(cfg, file, err, errlen) == -1)
		return CONFIG_ERROR;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":c:hV", longopts, &idx)) != -1) {
		switch (c) {
		case 'c':
			break;
		case 'h':
			return CONFIG_HELP;
		case 'V':
			return CONFIG_VERSION;
		case ':':
			snprintf(err, errlen, "option '%s' needs a value",
			    argv[optind - 1]);
			return CONFIG_ERROR;
		case '?':
			snprintf(err, errlen, "unknown option '%s'",
			    argv[optind - 1]);
			return CONFIG_ERROR;
		default:
			if (config_set(cfg, &opts[c - 256], optarg != NULL ?
			    optarg : "", cli_seen, err, errlen) == -1)
				return CONFIG_ERROR;
			/* It shows in ps: no password there (server.c). */
			if (opts[c - 256].offset == OFF(store))
				cfg->store_on_cli = true;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return CONFIG_ERROR;
	}
	return config_check(cfg, err, errlen) == -1 ? CONFIG_ERROR : CONFIG_OK;
}

void
config_fini(struct config *cfg)
{
	size_t	 i;

	for (i = 0; i < cfg->nlisten; i++)
		free(cfg->listen[i]);
	for (i = 0; i < cfg->nunix; i++)
		free(cfg->unix_path[i]);
	for (i = 0; i < cfg->nallow_user; i++)
		free(cfg->allow_user[i]);
	for (i = 0; i < cfg->nallow_group; i++)
		free(cfg->allow_group[i]);
	free(cfg->db_path);
	free(cfg->store);
	free(cfg->job_dir);
	free(cfg->unix_group);
	free(cfg->metrics);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->tls_ca);
	free(cfg->token_file);
	memset(cfg, 0, sizeof(*cfg));
}
