/*
 * jq-worker: the agent that runs jqd's jobs on another machine (PROTOCOL.md
 * 11.16; jq-worker(8)).
 *
 * Design: one libevent loop owns the processes (run.c, the same runner
 * jqd uses for local jobs: own group, environment, stdin, output pipes,
 * SIGTERM then SIGKILL, reaping) and the session state (agent.c); the
 * connection to jqd lives on one thread of its own (link.c), because
 * libjqclient's calls block -- connecting, TLS, a write to a server that
 * does not read -- and nothing the network does may delay a kill the
 * agent owes (a deadline, a run_timeout, or fencing when the server stops
 * answering).  The two sides trade messages through queues; the thread
 * holds no agent state (link.h).
 *
 * This file: options, the state directory and its leftovers, signals,
 * the loop, the exit status (0: drained and idle, or stopped cleanly on
 * SIGTERM/SIGINT; 1: a failure; 2: usage).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "attempt.h"
#include "conn-opts.h"
#include "log.h"
#include "request.h"
#include "run.h"

#define EXIT_FAIL	1
#define EXIT_USAGE	2

#define WORKER_ID_MAX	128
#define POOL_NAME_MAX	64
#define POOLS_MAX	64
#define LABELS_MAX	64
#define SLOTS_MAX	4096

struct opts {
	struct conn_opts server;
	const char	*id;
	long long	 slots;
	long long	 prefetch;	/* -1: as many as slots */
	char		**pools;
	size_t		 npools;
	char		**labels;	/* key, value, ... (owned) */
	size_t		 nlabels;
	const char	*job_dir;
	const char	*state_dir;
	enum log_level	 log_level;
};

static void
usage(FILE *f)
{
	fputs("usage: jq-worker [OPTIONS]\n"
	    "Run jqd's jobs here: register with the server as a worker, take "
	    "jobs of its\npools and run them.\n\n"
	    "Server (as jq-client):\n"
	    "  -H HOST[:PORT]      TCP server address (IPv6: [ADDR]:PORT; no "
	    "PORT: 7411);\n"
	    "                      tls:HOST[:PORT]; a list A,B,... for the "
	    "nodes of a\n"
	    "                      cluster (also --host)\n"
	    "  -S PATH             Unix socket (or a list; also --socket)\n"
	    "  --token-file FILE   authenticate with the token in FILE\n"
	    "  --tls               TLS to a HOST:PORT address\n"
	    "  --tls-ca FILE       CA certificates (PEM) to verify the server "
	    "with\n"
	    "  --tls-cert FILE     client certificate (PEM), for a jqd with "
	    "tls-ca\n"
	    "  --tls-key FILE      its private key (PEM; default: in "
	    "--tls-cert)\n\n"
	    "Worker:\n"
	    "  --id ID             worker id (default: the host name)\n"
	    "  --slots N           jobs at once (default: the number of "
	    "CPUs)\n"
	    "  --prefetch N        hold up to N jobs beyond the free slots "
	    "while jobs are\n"
	    "                      short, started as slots free (0 to 4096; "
	    "default:\n"
	    "                      4 x --slots; 0: never)\n"
	    "  --pool NAME         serve pool NAME (repeatable; default: "
	    "local)\n"
	    "  --label KEY=VALUE   a label shown by jq-client workers "
	    "(repeatable)\n"
	    "  --job-dir DIR       where jobs run unless they ask for a cwd "
	    "(default: .)\n"
	    "  --state-dir DIR     records of running jobs, for clean-up after "
	    "a crash\n"
	    "                      (default: /var/lib/jq-worker as root, else "
	    "\n                      $XDG_STATE_HOME/jq-worker or "
	    "~/.local/state/jq-worker)\n"
	    "  --log-level LEVEL   debug, info, warn or error (default: "
	    "info)\n"
	    "  -h, --help          this text\n"
	    "  --version           the version\n\n"
	    "Environment: JQ_ADDR, JQ_TOKEN, JQ_TOKEN_FILE, JQ_TLS, JQ_TLS_CA, "
	    "JQ_TLS_CERT,\nJQ_TLS_KEY (as for jq-client).  SIGTERM or SIGINT: stop the jobs "
	    "running here, which\nthe server queues again, and exit.\n", f);
}

static int
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list	ap;

	fputs("jq-worker: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see jq-worker --help)\n", stderr);
	return EXIT_USAGE;
}

static void *
must(void *p)
{
	if (p == NULL)
		fatal("out of memory");
	return p;
}

static void
push(char ***v, size_t *n, const char *s)
{
	*v = must(reallocarray(*v, *n + 1, sizeof(**v)));
	(*v)[(*n)++] = must(strdup(s));
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: 1, 0 not it, -1 missing. */
static int
opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
	size_t	len = strlen(name);

	if (strncmp(argv[*i], name, len) != 0)
		return 0;
	if (argv[*i][len] == '=') {
		*val = argv[*i] + len + 1;
		return 1;
	}
	if (argv[*i][len] != '\0')
		return 0;
	if (*i + 1 == argc)
		return -1;
	*val = argv[++*i];
	return 1;
}

static bool
name_valid(const char *s, size_t max)
{
	return *s != '\0' && strlen(s) <= max &&
	    proto_chan_name_valid(s, strlen(s));
}

/* val as a number in [min, max] into *out: 0, or -1. */
static int
number(const char *val, long long min, long long max, long long *out)
{
	char	*end;

	errno = 0;
	*out = strtoll(val, &end, 10);
	return errno != 0 || *end != '\0' || end == val || *out < min ||
	    *out > max ? -1 : 0;
}

/* One worker option at argv[*i]: 0, or the exit status of a usage error. */
static int
parse_one(struct opts *o, int argc, char **argv, int *i)
{
	const char	*val, *arg = argv[*i];
	char		*eq;
	int		 rc;

	if ((rc = opt_value(argc, argv, i, "--id", &o->id)) != 0 ||
	    (rc = opt_value(argc, argv, i, "--job-dir", &o->job_dir)) != 0 ||
	    (rc = opt_value(argc, argv, i, "--state-dir",
	    &o->state_dir)) != 0)
		return rc == -1 ? usage_error("option '%s' needs a value",
		    arg) : 0;
	if ((rc = opt_value(argc, argv, i, "--slots", &val)) != 0) {
		if (rc == -1)
			return usage_error("option '%s' needs a value", arg);
		if (number(val, 1, SLOTS_MAX, &o->slots) == -1)
			return usage_error("--slots: '%s' is not a number from "
			    "1 to %d", val, SLOTS_MAX);
	} else if ((rc = opt_value(argc, argv, i, "--prefetch", &val)) != 0) {
		if (rc == -1)
			return usage_error("option '%s' needs a value", arg);
		if (number(val, 0, SLOTS_MAX, &o->prefetch) == -1)
			return usage_error("--prefetch: '%s' is not a number "
			    "from 0 to %d", val, SLOTS_MAX);
	} else if ((rc = opt_value(argc, argv, i, "--pool", &val)) != 0) {
		if (rc == -1)
			return usage_error("option '%s' needs a value", arg);
		if (!name_valid(val, POOL_NAME_MAX))
			return usage_error("--pool: '%s' is not 1-%d bytes of "
			    "[A-Za-z0-9._:-]", val, POOL_NAME_MAX);
		if (o->npools == POOLS_MAX)
			return usage_error("--pool: at most %d", POOLS_MAX);
		push(&o->pools, &o->npools, val);
	} else if ((rc = opt_value(argc, argv, i, "--label", &val)) != 0) {
		if (rc == -1)
			return usage_error("option '%s' needs a value", arg);
		if ((eq = strchr(val, '=')) == NULL || eq == val)
			return usage_error("--label: '%s' is not KEY=VALUE",
			    val);
		if (o->nlabels / 2 == LABELS_MAX)
			return usage_error("--label: at most %d", LABELS_MAX);
		push(&o->labels, &o->nlabels, val);
		o->labels[o->nlabels - 1][eq - val] = '\0';
		push(&o->labels, &o->nlabels, eq + 1);
	} else if ((rc = opt_value(argc, argv, i, "--log-level", &val)) != 0) {
		if (rc == -1)
			return usage_error("option '%s' needs a value", arg);
		if (log_level_parse(val, &o->log_level) == -1)
			return usage_error("--log-level: '%s' is not debug, "
			    "info, warn or error", val);
	} else
		return usage_error("unknown option '%s'", arg);
	return 0;
}

/* The options; -1: exit 0 (help), else 0 or a usage status. */
static int
parse(struct opts *o, int argc, char **argv)
{
	char	errbuf[512];
	int	i, rc;

	o->log_level = LOG_LEVEL_INFO;
	o->prefetch = -1;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return -1;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("jq-worker %s\n", PACKAGE_VERSION);
			return -1;
		}
		rc = conn_opts_arg(&o->server, argc, argv, &i, errbuf,
		    sizeof(errbuf));
		if (rc == -1)
			return usage_error("%s", errbuf);
		if (rc == 0 && (rc = parse_one(o, argc, argv, &i)) != 0)
			return rc;
	}
	if (conn_opts_settle(&o->server, errbuf, sizeof(errbuf)) == -1)
		return usage_error("%s", errbuf);
	if (o->id != NULL && !name_valid(o->id, WORKER_ID_MAX))
		return usage_error("--id: '%s' is not 1-%d bytes of "
		    "[A-Za-z0-9._:-]", o->id, WORKER_ID_MAX);
	if (o->npools == 0)
		push(&o->pools, &o->npools, "local");
	if (o->slots == 0) {
		o->slots = sysconf(_SC_NPROCESSORS_ONLN);
		if (o->slots < 1)
			o->slots = 1;
		if (o->slots > SLOTS_MAX)
			o->slots = SLOTS_MAX;
	}
	if (o->prefetch < 0)
		o->prefetch = 4 * o->slots < SLOTS_MAX ? 4 * o->slots :
		    SLOTS_MAX;
	return 0;
}

/* The host name, as a worker id: bytes it may not hold become '_'. */
static void
default_id(char *host, size_t len)
{
	size_t	i;

	if (gethostname(host, len) == -1)
		snprintf(host, len, "localhost");
	host[len - 1] = '\0';
	host[WORKER_ID_MAX] = '\0';
	for (i = 0; host[i] != '\0'; i++)
		if (!proto_chan_name_valid(host + i, 1))
			host[i] = '_';
}

/* mkdir -p with mode 0700 for what it makes; 0 or -1 (errno). */
static int
mkdirs(const char *path)
{
	char	*p = must(strdup(path)), *s;
	int	 rc = 0;

	for (s = p + 1; rc == 0; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) == -1 && errno != EEXIST)
			rc = -1;
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

/* The state directory's default, new string. */
static char *
default_state_dir(void)
{
	const char	*x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char		*d;

	if (geteuid() == 0)
		return must(strdup("/var/lib/jq-worker"));
	if (x != NULL && x[0] == '/') {
		if (asprintf(&d, "%s/jq-worker", x) == -1)
			fatal("out of memory");
	} else if (home != NULL && home[0] == '/') {
		if (asprintf(&d, "%s/.local/state/jq-worker", home) == -1)
			fatal("out of memory");
	} else
		return NULL;
	return d;
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_info("signal %d", (int)sig);
	agent_terminate(arg);
}

static void
opts_fini(struct opts *o)
{
	size_t	i;

	conn_opts_fini(&o->server);
	for (i = 0; i < o->npools; i++)
		free(o->pools[i]);
	for (i = 0; i < o->nlabels; i++)
		free(o->labels[i]);
	free(o->pools);
	free(o->labels);
}

/* Run the agent until it is done; the exit status. */
static int
run_agent(struct agent_conf *conf)
{
	struct event_base	*base;
	struct runner		*runner;
	struct agent		*ag;
	struct event		*ev_term, *ev_int;
	int			 status;

	if ((base = event_base_new()) == NULL)
		fatal("event_base_new failed");
	runner = runner_new(base);
	ag = agent_new(base, runner, conf);
	ev_term = evsignal_new(base, SIGTERM, signal_cb, ag);
	ev_int = evsignal_new(base, SIGINT, signal_cb, ag);
	if (ev_term == NULL || ev_int == NULL)
		fatal("out of memory");
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	log_info("jq-worker %s: worker %s, %lld slot%s, server %s",
	    PACKAGE_VERSION, conf->id, (long long)conf->slots,
	    conf->slots == 1 ? "" : "s", conf->link.addr);
	event_base_dispatch(base);
	status = agent_exit_status(ag);
	agent_free(ag);
	event_free(ev_term);
	event_free(ev_int);
	runner_free(runner);
	event_base_free(base);
	return status;
}

int
main(int argc, char *argv[])
{
	struct opts		 o;
	struct agent_conf	 conf;
	char			 host[256], idbuf[256], boot[RUN_BOOT_ID_MAX];
	char			*job_dir = NULL, *state_dir = NULL;
	char			*record_dir = NULL;
	int			 rc;

	memset(&o, 0, sizeof(o));
	signal(SIGPIPE, SIG_IGN);
	if ((rc = parse(&o, argc, argv)) != 0) {
		opts_fini(&o);
		return rc == -1 ? 0 : rc;
	}
	log_set_level(o.log_level);
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	default_id(idbuf, sizeof(idbuf));
	if ((job_dir = realpath(o.job_dir != NULL ? o.job_dir : ".",
	    NULL)) == NULL) {
		log_error("job directory %s: %s", o.job_dir != NULL ?
		    o.job_dir : ".", strerror(errno));
		rc = EXIT_FAIL;
		goto out;
	}
	if (run_boot_id(boot, sizeof(boot)) == -1)
		boot[0] = '\0';
	state_dir = o.state_dir != NULL ? must(strdup(o.state_dir)) :
	    default_state_dir();
	memset(&conf, 0, sizeof(conf));
	conf.id = o.id != NULL ? o.id : idbuf;
	if (state_dir != NULL) {
		/* One directory per worker id: agents may share it. */
		if (asprintf(&record_dir, "%s/%s", state_dir, conf.id) == -1)
			fatal("out of memory");
		if (mkdirs(record_dir) == -1) {
			log_error("state directory %s: %s", record_dir,
			    strerror(errno));
			rc = EXIT_FAIL;
			goto out;
		}
		attempt_kill_leftovers(record_dir, boot);
	} else
		log_warn("no state directory (no HOME): a crash may leave "
		    "jobs running");
	conf.host = host;
	conf.version = PACKAGE_VERSION;
	conf.slots = o.slots;
	conf.prefetch = o.prefetch;
	conf.pools = o.pools;
	conf.npools = o.npools;
	conf.labels = o.labels;
	conf.nlabels = o.nlabels / 2;
	conf.job_dir = job_dir;
	conf.record_dir = record_dir;
	conf.boot_id = boot;
	conf.link.addr = o.server.addr;
	conf.link.token = o.server.token;
	conf.link.tls = conn_opts_tls(&o.server);
	rc = run_agent(&conf);
out:
	free(job_dir);
	free(state_dir);
	free(record_dir);
	opts_fini(&o);
	return rc;
}
