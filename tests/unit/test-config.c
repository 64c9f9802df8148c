/*
 * Unit tests for daemon/config.c and proto/units.c: the duration and size
 * parsers, defaults < file < command line, repeatable options, flags, and
 * errors that name the option and the file's line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"
#include "units.h"

static void
test_durations(void)
{
	static const struct {
		const char	*text;
		int64_t		 ms;	/* -1: refused */
	} cases[] = {
		{ "250ms", 250 }, { "5s", 5000 }, { "5", 5000 },
		{ "1.5s", 1500 }, { "2m", 120000 }, { "1h", 3600000 },
		{ "7d", 604800000 }, { "0", 0 }, { "0ms", 0 },
		/* A fraction of a millisecond rounds up: never 0 by mistake. */
		{ "0.1ms", 1 }, { "1.0001s", 1001 }, { "0.0001", 1 },
		{ "9007199254740991ms", 9007199254740991LL },
		{ "9007199254740992ms", -1 }, { "104249991375d", -1 },
		{ "", -1 }, { "s", -1 }, { "-1s", -1 }, { "1x", -1 },
		{ "1 s", -1 }, { ".5s", 500 }, { "1.", 1000 }, { "1e3", -1 },
		/* Parts, as Go's time.ParseDuration (plus d, minus ns/us). */
		{ "1m30s", 90000 }, { "1h2m3.5s", 3723500 },
		{ "1d2h", 93600000 }, { "2h45m", 9900000 },
		{ "1s500ms", 1500 }, { "1m05s", 65000 }, { "1s1m", 61000 },
		{ "1.5m1.5s", 91500 }, { "0.5ms0.5ms", 1 }, { "1ms0.1ms", 2 },
		{ "0h0m0s", 0 }, { "1h0.0000001s", 3600001 },
		/* Garbage, and a bare number inside a sum. */
		{ "1m30", -1 }, { "30 s", -1 }, { "1m 30s", -1 }, { "m30s", -1 },
		{ "1m30s ", -1 }, { " 1m", -1 }, { "1m-30s", -1 },
		{ "1.5.5s", -1 },
		{ "1hh", -1 }, { "1us", -1 }, { "1ns", -1 }, { "1mss", -1 },
		{ "+1s", -1 }, { "1s.", -1 }, { "1m.s", -1 }, { "1sx", -1 },
		/* Overflow: the sum, one part, and the digits themselves. */
		{ "9007199254740990ms1ms", 9007199254740991LL },
		{ "9007199254740991ms1ms", -1 },
		{ "9007199254740991ms0.1ms", -1 },
		{ "104249991d8h", 9007199251200000LL },
		{ "104249991d9h", -1 },
		{ "99999999999999999999999999s", -1 },
		{ "2501999792983h1m", -1 },
	};
	size_t	 i;
	int64_t	 ms;
	int	 rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ms = -2;
		rc = units_parse_duration(cases[i].text, &ms);
		if (cases[i].ms < 0)
			ok(rc == -1, "duration '%s' refused", cases[i].text);
		else
			ok(rc == 0 && ms == cases[i].ms,
			    "duration '%s' is %lld ms (got %lld)",
			    cases[i].text, (long long)cases[i].ms,
			    (long long)ms);
	}
}

/* What units_format_duration prints, and that it reads back. */
static void
test_format_durations(void)
{
	static const struct {
		int64_t		 ms;
		const char	*text;
	} cases[] = {
		{ 0, "0ms" }, { 3, "3ms" }, { 999, "999ms" }, { 1000, "1.0s" },
		{ 1234, "1.2s" }, { 1999, "1.9s" }, { 59999, "59.9s" },
		{ 60000, "1m00s" }, { 65000, "1m05s" }, { 3599999, "59m59s" },
		{ 3600000, "1h00m" }, { 3723500, "1h02m" },
		{ 86400000, "1d00h" }, { 93600000, "1d02h" }, { -1, "-" },
	};
	char	 buf[UNITS_DURATION_MAX];
	size_t	 i;
	int64_t	 ms;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		units_format_duration(buf, sizeof(buf), cases[i].ms);
		ok(strcmp(buf, cases[i].text) == 0, "%lld ms prints as %s "
		    "(got %s)", (long long)cases[i].ms, cases[i].text, buf);
		if (cases[i].ms >= 0)
			ok(units_parse_duration(buf, &ms) == 0 &&
			    ms <= cases[i].ms, "%s reads back", buf);
	}
	units_format_duration(buf, sizeof(buf), PROTO_INT_MAX);
	ok(units_parse_duration(buf, &ms) == 0, "the largest, %s, reads back",
	    buf);
}

static void
test_sizes(void)
{
	static const struct {
		const char	*text;
		uint64_t	 bytes;
		int		 rc;
	} cases[] = {
		{ "4096", 4096, 0 }, { "64K", 65536, 0 }, { "1M", 1048576, 0 },
		{ "1G", 1073741824, 0 }, { "2k", 2048, 0 },
		{ "", 0, -1 }, { "K", 0, -1 }, { "1T", 0, -1 }, { "-1", 0, -1 },
	};
	size_t		 i;
	uint64_t	 b;
	int		 rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b = 0;
		rc = config_parse_size(cases[i].text, &b);
		ok(rc == cases[i].rc && (rc == -1 || b == cases[i].bytes),
		    "size '%s': rc %d, %llu bytes", cases[i].text, rc,
		    (unsigned long long)b);
	}
}

/* config_load on argv (NULL-terminated) with err; returns its rc. */
static int
load(struct config *cfg, char *err, size_t errlen, char **argv)
{
	int	 argc = 0;

	while (argv[argc] != NULL)
		argc++;
	err[0] = '\0';
	return config_load(cfg, argc, argv, err, errlen);
}

/* A config file holding text; its path in buf. */
static void
write_file(char *buf, size_t len, const char *text)
{
	FILE	*f;
	int	 fd;

	snprintf(buf, len, "/tmp/jqd-test-config.XXXXXX");
	if ((fd = mkstemp(buf)) == -1 || (f = fdopen(fd, "w")) == NULL) {
		perror("mkstemp");
		exit(99);
	}
	fputs(text, f);
	fclose(f);
}

static void
test_defaults_file_and_command_line(void)
{
	struct config	 cfg;
	char		 err[512], path[64];
	char		*plain[] = { "jqd", NULL };
	char		*both[] = { "jqd", "-c", path, "--workers", "3",
			    "--unix", "/tmp/b.sock", NULL };
	int		 rc;

	rc = load(&cfg, err, sizeof(err), plain);
	ok(rc == 0, "no options: %s", err);
	ok(cfg.unix_default && cfg.nlisten == 0 && cfg.nunix == 0,
	    "nothing asked: the default Unix socket, no TCP");
	ok(cfg.max_connections == 4096 && cfg.max_unauthenticated == 256 &&
	    cfg.kill_grace_ms == 5000 && cfg.auth_timeout_ms == 10000 &&
	    !cfg.insecure_tcp, "defaults");
	config_fini(&cfg);

	write_file(path, sizeof(path), "# comment\n"
	    "workers = 2\n"
	    "max_frame = 4K\n"
	    "max-value = 1K\n"
	    "listen = 127.0.0.1:1\n"
	    "unix = /tmp/a.sock\n"
	    "allow-user = root\n"
	    "allow-user = 0\n"
	    "insecure-tcp = yes\n"
	    "kill-grace = 1.5s\n");
	rc = load(&cfg, err, sizeof(err), both);
	ok(rc == 0, "file and command line: %s", err);
	is_int(cfg.workers, 3, "the command line wins over the file");
	is_int(cfg.max_frame, 4096, "the file's other keys still apply");
	is_int(cfg.kill_grace_ms, 1500, "a duration from the file");
	ok(cfg.nlisten == 0 && cfg.nunix == 1 &&
	    strcmp(cfg.unix_path[0], "/tmp/b.sock") == 0 && !cfg.unix_default,
	    "listeners on the command line replace the file's");
	ok(cfg.nallow_user == 2, "allow-user repeats");
	ok(cfg.insecure_tcp, "a flag set in the file");
	config_fini(&cfg);
	unlink(path);
}

static void
test_errors(void)
{
	static const struct {
		const char	*file;	/* NULL: argv only */
		const char	*arg, *value;
		const char	*needle;
	} cases[] = {
		{ "workers = 2\nfrobnicate = 1\n", NULL, NULL, ":2: unknown key" },
		{ "\n\nworkers = zero\n", NULL, NULL, ":3: workers" },
		{ "[section]\n", NULL, NULL, ":1: sections are not used" },
		{ "insecure-tcp = maybe\n", NULL, NULL, "is not yes or no" },
		{ "kill-grace = 2h\n", NULL, NULL, "from 0ms to 1h00m" },
		{ NULL, "--auth-timeout", "0", "auth-timeout" },
		{ NULL, "--retry-delay", "2d", "retry-delay" },
		{ NULL, "--max-frame", "1M", "max-value" },
		{ NULL, "--listen", "nocolon", "not HOST:PORT" },
		{ NULL, "--bogus", "1", "unknown option '--bogus'" },
		{ NULL, "--worker-lease", "1s", "at least 3 worker-heartbeats" },
		{ NULL, "--worker-heartbeat", "50ms", "worker-heartbeat" },
	};
	struct config	 cfg;
	char		 err[512], path[64];
	char		*argv[6];
	size_t		 i;
	int		 rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		argv[0] = "jqd";
		if (cases[i].file != NULL) {
			write_file(path, sizeof(path), cases[i].file);
			argv[1] = "-c";
			argv[2] = path;
			argv[3] = NULL;
		} else if (strcmp(cases[i].arg, "--max-frame") == 0) {
			/* max-value (256K) must stay 64 bytes below it. */
			argv[1] = "--max-frame";
			argv[2] = "256K";
			argv[3] = NULL;
		} else {
			argv[1] = (char *)cases[i].arg;
			argv[2] = (char *)cases[i].value;
			argv[3] = NULL;
		}
		rc = load(&cfg, err, sizeof(err), argv);
		ok(rc == -1 && strstr(err, cases[i].needle) != NULL &&
		    (cases[i].file == NULL || strstr(err, path) != NULL),
		    "error %zu names '%s': %s", i, cases[i].needle, err);
		config_fini(&cfg);
		if (cases[i].file != NULL)
			unlink(path);
	}
}

int
main(void)
{
	test_durations();
	test_format_durations();
	test_sizes();
	test_defaults_file_and_command_line();
	test_errors();
	return done_testing();
}
