/*
 * conn-opts: the server options jq-client and jq-worker share (see
 * conn-opts.h).  Nothing here prints or exits: a failure is a message for
 * the caller, who owns the program name and the exit status.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conn-opts.h"

#define TOKEN_FILE_MAX	65536

static int
conn_opts_fail(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
conn_opts_fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* s without leading and trailing white space (in place). */
static char *
conn_opts_trim(char *s)
{
	char	*end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/*
 * The value of option name (long, without "--"; or "-X" for a short
 * one, whose value may follow without a space) at argv[*i] into *value:
 * 1 when it matched, 0 when not, -1 on a missing value.
 */
static int
conn_opts_value(int argc, char **argv, int *i, const char *name,
    const char **value, char *errbuf, size_t errlen)
{
	const char	*arg = argv[*i];
	size_t		 len = strlen(name);
	bool		 is_short = name[0] == '-';

	if (is_short) {
		if (strncmp(arg, name, len) != 0)
			return 0;
		if (arg[len] != '\0') {
			*value = arg + len;
			return 1;
		}
	} else {
		if (strncmp(arg, "--", 2) != 0 ||
		    strncmp(arg + 2, name, len) != 0)
			return 0;
		if (arg[2 + len] == '=') {
			*value = arg + 3 + len;
			return 1;
		}
		if (arg[2 + len] != '\0')
			return 0;
	}
	if (*i + 1 == argc)
		return conn_opts_fail(errbuf, errlen, "option '%s' needs a "
		    "value", arg);
	*value = argv[++*i];
	return 1;
}

int
conn_opts_arg(struct conn_opts *o, int argc, char **argv, int *i,
    char *errbuf, size_t errlen)
{
	const struct {
		const char	 *name;
		const char	**value;
		bool		  tls;
	} opts[] = {
		{ "-H", &o->host, false },
		{ "host", &o->host, false },
		{ "-S", &o->sock, false },
		{ "socket", &o->sock, false },
		{ "token-file", &o->token_file, false },
		{ "tls-ca", &o->tls.ca_file, true },
		{ "tls-cert", &o->tls.cert_file, true },
		{ "tls-key", &o->tls.key_file, true },
	};
	size_t	 k;
	int	 rc;

	if (strcmp(argv[*i], "--tls") == 0) {
		o->tls_on = true;
		return 1;
	}
	for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		rc = conn_opts_value(argc, argv, i, opts[k].name,
		    opts[k].value, errbuf, errlen);
		if (rc != 0) {
			if (rc == 1 && opts[k].tls)
				o->tls_on = true;
			return rc;
		}
	}
	return 0;
}

/*
 * Read the token of path into o->token; quiet when a default file
 * (is_default) does not exist.  0 or -1 with a message.
 */
static int
conn_opts_token_file(struct conn_opts *o, const char *path, bool is_default,
    char *errbuf, size_t errlen)
{
	FILE	*f;
	char	*buf, *tok;
	size_t	 n;
	int	 rc = -1;

	if ((f = fopen(path, "r")) == NULL) {
		if (is_default && errno == ENOENT)
			return 0;
		return conn_opts_fail(errbuf, errlen, "cannot open token "
		    "file %s: %s", path, strerror(errno));
	}
	if ((buf = malloc(TOKEN_FILE_MAX + 1)) == NULL) {
		fclose(f);
		return conn_opts_fail(errbuf, errlen, "out of memory");
	}
	n = fread(buf, 1, TOKEN_FILE_MAX + 1, f);
	if (ferror(f) || n > TOKEN_FILE_MAX)
		conn_opts_fail(errbuf, errlen, "cannot read token file %s: %s",
		    path, n > TOKEN_FILE_MAX ? "too large" : strerror(errno));
	else if (buf[n] = '\0', memchr(buf, '\0', n) != NULL)
		conn_opts_fail(errbuf, errlen, "token file %s holds a NUL "
		    "byte", path);
	else if (*(tok = conn_opts_trim(buf)) == '\0')
		conn_opts_fail(errbuf, errlen, "token file %s is empty", path);
	else if ((o->token = strdup(tok)) == NULL)
		conn_opts_fail(errbuf, errlen, "out of memory");
	else
		rc = 0;
	fclose(f);
	free(buf);
	return rc;
}

/* TLS from the environment and the address; 0 or -1 with a message. */
static int
conn_opts_settle_tls(struct conn_opts *o, char *errbuf, size_t errlen)
{
	struct {
		const char	**field;
		const char	 *env;
	} files[] = {
		{ &o->tls.ca_file, "JQ_TLS_CA" },
		{ &o->tls.cert_file, "JQ_TLS_CERT" },
		{ &o->tls.key_file, "JQ_TLS_KEY" },
	};
	const char	*env;
	char		 one[512];
	size_t		 i;

	if ((env = getenv("JQ_TLS")) != NULL && strcmp(env, "1") == 0)
		o->tls_on = true;
	/* One "tls:" address is TLS for the whole list (jqclient.h). */
	for (i = 0; jqc_addr_nth(o->addr, i, one, sizeof(one)) == 0; i++) {
		if (strncmp(one, "tls:", 4) == 0)
			o->tls_on = true;
	}
	if (!o->tls_on)
		return 0;
	for (i = 0; jqc_addr_nth(o->addr, i, one, sizeof(one)) == 0; i++) {
		if (jqc_addr_is_unix(one))
			return conn_opts_fail(errbuf, errlen, "TLS is for TCP "
			    "addresses, not '%s'", one);
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (*files[i].field == NULL &&
		    (env = getenv(files[i].env)) != NULL && *env != '\0')
			*files[i].field = env;
	}
	return 0;
}

/* Note where the token came from: "what[ path]". */
static int
conn_opts_token_source(struct conn_opts *o, const char *what,
    const char *path, char *errbuf, size_t errlen)
{
	if (asprintf(&o->token_source, "%s%s%s", what, path != NULL ? " " :
	    "", path != NULL ? path : "") == -1) {
		o->token_source = NULL;
		return conn_opts_fail(errbuf, errlen, "out of memory");
	}
	return 0;
}

/*
 * The token: --token-file, JQ_TOKEN, JQ_TOKEN_FILE, or the default file
 * over TCP.  JQ_TOKEN before JQ_TOKEN_FILE, as PGPASSWORD before
 * PGPASSFILE: the value itself is the more particular of the two.
 */
static int
conn_opts_settle_token(struct conn_opts *o, char *errbuf, size_t errlen)
{
	const char	*env;
	char		 deftoken[4096], *dup;
	json_t		*tok;

	if (o->token_file != NULL) {
		if (conn_opts_token_file(o, o->token_file, false, errbuf,
		    errlen) == -1 || conn_opts_token_source(o, "--token-file",
		    o->token_file, errbuf, errlen) == -1)
			return -1;
	} else if ((env = getenv("JQ_TOKEN")) != NULL) {
		/* Empty (JQ_TOKEN= in a script) means no token. */
		if ((dup = strdup(env)) == NULL)
			return conn_opts_fail(errbuf, errlen, "out of memory");
		if (*conn_opts_trim(dup) != '\0' &&
		    (o->token = strdup(conn_opts_trim(dup))) == NULL) {
			free(dup);
			return conn_opts_fail(errbuf, errlen, "out of memory");
		}
		free(dup);
		if (o->token != NULL && conn_opts_token_source(o, "JQ_TOKEN",
		    NULL, errbuf, errlen) == -1)
			return -1;
	} else if ((env = getenv("JQ_TOKEN_FILE")) != NULL && *env != '\0') {
		if (conn_opts_token_file(o, env, false, errbuf, errlen) == -1 ||
		    conn_opts_token_source(o, "JQ_TOKEN_FILE", env, errbuf,
		    errlen) == -1)
			return -1;
	} else if (!jqc_addr_is_unix(o->addr) &&
	    jqc_default_token_file(deftoken, sizeof(deftoken)) == 0) {
		/*
		 * TCP always needs the token: the one this user's jqd made
		 * (a list with a TCP address may end up on it).
		 */
		if (conn_opts_token_file(o, deftoken, true, errbuf,
		    errlen) == -1)
			return -1;
		if (o->token != NULL && conn_opts_token_source(o, "the file",
		    deftoken, errbuf, errlen) == -1)
			return -1;
	}
	if (o->token != NULL) {
		/* Checked now so a bad token is a usage error. */
		if ((tok = json_string(o->token)) == NULL)
			return conn_opts_fail(errbuf, errlen, "the token is "
			    "not valid UTF-8");
		json_decref(tok);
	}
	return 0;
}

/*
 * -S PATH[,PATH...]: each path as "unix:PATH", so that one without a '/'
 * is a socket path too.  malloc'd; NULL when out of memory.
 */
static char *
conn_opts_unix_list(const char *paths)
{
	const char	*p, *comma;
	char		*list, *q;
	size_t		 n = 1;

	for (p = paths; (p = strchr(p, ',')) != NULL; p++)
		n++;
	if ((list = malloc(strlen(paths) + n * 5 + 1)) == NULL)
		return NULL;
	q = list;
	for (p = paths; p != NULL; p = comma != NULL ? comma + 1 : NULL) {
		comma = strchr(p, ',');
		while (isspace((unsigned char)*p))
			p++;
		q += sprintf(q, "%sunix:%.*s", q == list ? "" : ",",
		    (int)(comma != NULL ? comma - p : (ptrdiff_t)strlen(p)), p);
	}
	return list;
}

int
conn_opts_settle(struct conn_opts *o, char *errbuf, size_t errlen)
{
	const char	*env, *from = "-H";
	char		 check[512];

	if (o->host != NULL && o->sock != NULL)
		return conn_opts_fail(errbuf, errlen, "-H and -S are mutually "
		    "exclusive");
	if (o->sock != NULL) {
		o->addr = conn_opts_unix_list(o->sock);
		from = "-S";
	} else if (o->host != NULL)
		o->addr = strdup(o->host);
	else if ((env = getenv("JQ_ADDR")) != NULL && *env != '\0') {
		o->addr = strdup(env);
		from = "JQ_ADDR";
	} else {
		if (jqc_default_addr(check, sizeof(check)) == -1)
			return conn_opts_fail(errbuf, errlen, "no default "
			    "address: the socket path is too long; use -S or "
			    "-H");
		o->addr = strdup(check);
	}
	if (o->addr == NULL)
		return conn_opts_fail(errbuf, errlen, "out of memory");
	if (jqc_check_addr(o->addr, check, sizeof(check)) == -1)
		return conn_opts_fail(errbuf, errlen, "%s: %s", from, check);
	if (conn_opts_settle_tls(o, errbuf, errlen) == -1)
		return -1;
	return conn_opts_settle_token(o, errbuf, errlen);
}

const struct jqc_tls *
conn_opts_tls(const struct conn_opts *o)
{
	return o->tls_on ? &o->tls : NULL;
}

void
conn_opts_fini(struct conn_opts *o)
{
	free(o->addr);
	free(o->token);
	free(o->token_source);
	o->addr = o->token = o->token_source = NULL;
}
