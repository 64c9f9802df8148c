/*
 * The dashboard's HTTP front (dash.h): routes, the security headers of
 * every response, the compiled-in files with their ETags, and who may
 * use the API (PROTOCOL.md 16):
 *   - with a token, a session cookie from POST /api/login, or the token
 *     itself as "Authorization: Bearer";
 *   - without one, the API only under insecure-tcp (loopback, for tests)
 *     and to a request whose Host is a loopback address or localhost (not
 *     a DNS-rebinding page); else nothing but /api/session;
 *   - every POST but login: Content-Type application/json, and for a
 *     session the X-CSRF-Token header with its CSRF secret.
 * Sessions live in memory: at most DASH_MAX_SESSIONS (the oldest goes),
 * DASH_SESSION_MS each; all end when the token changes.  Their ids and
 * secrets come from OpenSSL's RAND_bytes and are compared in constant
 * time, all of them, whichever matches.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "config.h"
#include "dash-api.h"
#include "dash-assets.h"
#include "dash.h"
#include "dispatch.h"
#include "listener.h"
#include "log.h"
#include "server.h"
#include "units.h"

#define DASH_MAX_SESSIONS	256
#define DASH_SESSION_MS		(12 * 3600 * 1000LL)
#define DASH_SECRET_HEX		64	/* 32 random bytes */
#define DASH_COOKIE		"jqd_session"
#define DASH_NO_TOKEN		"this jqd has no token: the dashboard needs " \
				"one (token-file, PROTOCOL.md 16)"
#define DASH_STANDBY		"this jqd is a standby: another jqd is active " \
				"and serves, its dashboard too (PROTOCOL.md 15.3)"
#define DASH_NOT_LOOPBACK	"this jqd has no token: the dashboard answers " \
				"at a loopback address or localhost only"

struct dash_session {
	TAILQ_ENTRY(dash_session) entry;
	char			 id[DASH_SECRET_HEX + 1];
	char			 csrf[DASH_SECRET_HEX + 1];
	int64_t			 expires_ms;	/* monotonic */
};
TAILQ_HEAD(dash_session_list, dash_session);

struct dash {
	struct server		*server;
	struct dash_api		*api;
	bool			 tls;
	int64_t			 started_ms;	/* wall clock */
	struct dash_session_list sessions;	/* oldest first */
	size_t			 nsessions;
	/* auth "none": the one CSRF secret, for same-origin pages only. */
	char			 csrf_none[DASH_SECRET_HEX + 1];
	char			(*etags)[20];	/* per dash_assets[i] */
};

/* How a request to /api/ was let in. */
enum dash_auth {
	DASH_AUTH_NO,		/* not: 401 */
	DASH_AUTH_SESSION,	/* a session cookie */
	DASH_AUTH_BEARER,	/* the token itself */
	DASH_AUTH_NONE,		/* no token, insecure-tcp */
};

static const struct {
	const char	*name;
	const char	*value;
} dash_headers[] = {
	{ "Content-Security-Policy", "default-src 'none'; script-src 'self'; "
	  "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
	  "font-src 'self'; manifest-src 'self'; base-uri 'none'; "
	  "form-action 'none'; frame-ancestors 'none'" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "Referrer-Policy", "no-referrer" },
	{ "X-Frame-Options", "DENY" },
};

void
dash_security_headers(struct evkeyvalq *out)
{
	size_t	 i;

	for (i = 0; i < sizeof(dash_headers) / sizeof(dash_headers[0]); i++)
		evhttp_add_header(out, dash_headers[i].name,
		    dash_headers[i].value);
}

void
dash_send_json(struct evhttp_request *req, int status, const char *body,
    size_t len)
{
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	struct evbuffer		*b;

	evhttp_add_header(out, "Content-Type",
	    "application/json; charset=utf-8");
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "Connection", "close");
	if ((b = evbuffer_new()) == NULL ||
	    evbuffer_add(b, body, len) == -1 || evbuffer_add(b, "\n", 1) == -1)
		fatal("out of memory");
	evhttp_send_reply(req, status, NULL, b);
	evbuffer_free(b);
}

static void
dash_send_value(struct evhttp_request *req, int status, json_t *v)
{
	char	*s;

	if (v == NULL || (s = json_dumps(v, JSON_COMPACT)) == NULL)
		fatal("out of memory");
	dash_send_json(req, status, s, strlen(s));
	free(s);
	json_decref(v);
}

void
dash_send_error(struct evhttp_request *req, int status, const char *code,
    const char *message)
{
	dash_send_value(req, status, json_pack("{s:b, s:{s:s, s:s}}", "ok", 0,
	    "error", "code", code, "message", message));
}

/* A bodiless error outside /api/ (404, 405). */
static void
dash_send_status(struct evhttp_request *req, int status, const char *text)
{
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	struct evbuffer		*b;

	evhttp_add_header(out, "Content-Type", "text/plain; charset=utf-8");
	evhttp_add_header(out, "Connection", "close");
	if ((b = evbuffer_new()) == NULL)
		fatal("out of memory");
	evbuffer_add_printf(b, "%d %s\n", status, text);
	evhttp_send_reply(req, status, text, b);
	evbuffer_free(b);
}

/* n random bytes as 2n hex digits in out (2n + 1 bytes). */
static void
dash_random_hex(char *out, size_t n)
{
	unsigned char	 buf[DASH_SECRET_HEX / 2];
	size_t		 i;

	if (n > sizeof(buf) || RAND_bytes(buf, (int)n) != 1)
		fatal("RAND_bytes failed");
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", buf[i]);
}

/* Is s (len bytes) the secret, compared in constant time? */
static bool
dash_secret_is(const char *secret, const char *s, size_t len)
{
	return len == DASH_SECRET_HEX &&
	    CRYPTO_memcmp(secret, s, DASH_SECRET_HEX) == 0;
}

/* -- static files ------------------------------------------------------ */

/* FNV-1a over the bytes: the ETag changes when the file does. */
static void
dash_etag(char out[20], const unsigned char *p, size_t len)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;
	size_t		 i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	snprintf(out, 20, "\"%016llx\"", (unsigned long long)h);
}

static void
dash_static(struct dash *d, struct evhttp_request *req, const char *path)
{
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	const char		*name, *inm;
	struct evbuffer		*b;
	size_t			 i;

	if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
		name = "index.html";
	else if (strncmp(path, "/assets/", 8) == 0 &&
	    strcmp(path + 8, "index.html") != 0)
		name = path + 8;
	else
		name = NULL;
	for (i = 0; name != NULL && i < dash_nassets; i++) {
		if (strcmp(dash_assets[i].name, name) == 0)
			break;
	}
	if (name == NULL || i == dash_nassets) {
		dash_send_status(req, 404, "Not Found");
		return;
	}
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
	case EVHTTP_REQ_HEAD:
		break;
	default:
		dash_send_status(req, 405, "Method Not Allowed");
		return;
	}
	evhttp_add_header(out, "ETag", d->etags[i]);
	evhttp_add_header(out, "Cache-Control", "no-cache");
	evhttp_add_header(out, "Connection", "close");
	inm = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "If-None-Match");
	if (inm != NULL && (strstr(inm, d->etags[i]) != NULL ||
	    strcmp(inm, "*") == 0)) {
		evhttp_send_reply(req, 304, "Not Modified", NULL);
		return;
	}
	evhttp_add_header(out, "Content-Type", dash_assets[i].type);
	if ((b = evbuffer_new()) == NULL)
		fatal("out of memory");
	/* evhttp would send a HEAD reply's body; give it none. */
	if (evhttp_request_get_command(req) == EVHTTP_REQ_GET &&
	    evbuffer_add_reference(b, dash_assets[i].data, dash_assets[i].len,
	    NULL, NULL) == -1)
		fatal("out of memory");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* -- sessions ---------------------------------------------------------- */

static void
dash_session_end(struct dash *d, struct dash_session *ss)
{
	dash_api_end_streams(d->api, ss);
	TAILQ_REMOVE(&d->sessions, ss, entry);
	d->nsessions--;
	explicit_bzero(ss, sizeof(*ss));
	free(ss);
}

static struct dash_session *
dash_session_new(struct dash *d)
{
	struct dash_session	*ss, *next;
	int64_t			 now = server_now_ms();

	for (ss = TAILQ_FIRST(&d->sessions); ss != NULL; ss = next) {
		next = TAILQ_NEXT(ss, entry);
		if (ss->expires_ms <= now)
			dash_session_end(d, ss);
	}
	if (d->nsessions == DASH_MAX_SESSIONS)
		dash_session_end(d, TAILQ_FIRST(&d->sessions));
	if ((ss = calloc(1, sizeof(*ss))) == NULL)
		fatal("out of memory");
	dash_random_hex(ss->id, DASH_SECRET_HEX / 2);
	dash_random_hex(ss->csrf, DASH_SECRET_HEX / 2);
	ss->expires_ms = now + DASH_SESSION_MS;
	TAILQ_INSERT_TAIL(&d->sessions, ss, entry);
	d->nsessions++;
	return ss;
}

/* The session req's cookie names, if alive; NULL otherwise. */
static struct dash_session *
dash_session_find(struct dash *d, struct evhttp_request *req)
{
	static const char	 name[] = DASH_COOKIE "=";
	struct dash_session	*ss, *found = NULL;
	const char		*cookie, *p;
	size_t			 len;

	cookie = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Cookie");
	for (p = cookie; p != NULL && *p != '\0'; p += strcspn(p, ";")) {
		p += strspn(p, "; ");
		if (strncmp(p, name, sizeof(name) - 1) == 0)
			break;
	}
	if (p == NULL || *p == '\0')
		return NULL;
	p += sizeof(name) - 1;
	len = strcspn(p, "; ");
	TAILQ_FOREACH(ss, &d->sessions, entry) {
		if (dash_secret_is(ss->id, p, len))
			found = ss;
	}
	if (found != NULL && found->expires_ms <= server_now_ms()) {
		dash_session_end(d, found);
		found = NULL;
	}
	return found;
}

static bool
dash_bearer(struct dash *d, struct evhttp_request *req)
{
	static const char	 scheme[] = "Bearer ";
	const char		*auth;

	auth = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (auth == NULL || strncasecmp(auth, scheme, sizeof(scheme) - 1) != 0)
		return false;
	auth += sizeof(scheme) - 1;
	return server_token_matches(d->server, auth, strlen(auth));
}

/*
 * Does req name a loopback address or localhost in its Host (or has it
 * none: not a browser)?  Without a token (auth "none") that is what lets
 * it in: a page of another site that an attacker's DNS points at
 * 127.0.0.1 (DNS rebinding) is same-origin to the browser, so it could
 * read the CSRF secret and every reply, but its Host is its own name.
 * AI_NUMERICHOST: no lookup, nothing blocks.
 */
static bool
dash_host_is_loopback(struct evhttp_request *req)
{
	const char	*host = evhttp_request_get_host(req);
	struct addrinfo	 hints, *res;
	char		 buf[64];
	size_t		 len;
	bool		 ok;

	if (host == NULL)
		return true;
	len = strlen(host);
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, host, len);
	buf[len] = '\0';
	if (strcasecmp(buf, "localhost") == 0)
		return true;
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(buf, NULL, &hints, &res) != 0)
		return false;
	ok = listener_is_loopback(res->ai_addr);
	freeaddrinfo(res);
	return ok;
}

/* "token", "none" (insecure-tcp) or "unavailable" (no token, no API). */
static const char *
dash_auth_mode(const struct dash *d)
{
	if (d->server->token != NULL)
		return "token";
	return d->server->cfg->insecure_tcp ? "none" : "unavailable";
}

static enum dash_auth
dash_authenticate(struct dash *d, struct evhttp_request *req,
    struct dash_session **ss)
{
	*ss = NULL;
	if (d->server->token == NULL)
		return d->server->cfg->insecure_tcp ? DASH_AUTH_NONE :
		    DASH_AUTH_NO;
	if ((*ss = dash_session_find(d, req)) != NULL)
		return DASH_AUTH_SESSION;
	return dash_bearer(d, req) ? DASH_AUTH_BEARER : DASH_AUTH_NO;
}

static void
dash_session_reply(struct dash *d, struct evhttp_request *req)
{
	struct dash_session	*ss;
	enum dash_auth		 auth;
	const char		*csrf = NULL;
	char			 host[256];

	auth = dash_authenticate(d, req, &ss);
	if (auth == DASH_AUTH_SESSION)
		csrf = ss->csrf;
	else if (auth == DASH_AUTH_NONE)
		csrf = d->csrf_none;
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "?");
	host[sizeof(host) - 1] = '\0';
	dash_send_value(req, 200, json_pack("{s:b, s:s, s:i, s:i, s:s, s:b, "
	    "s:b, s:s?, s:b, s:s, s:I}", "ok", 1, "version", PACKAGE_VERSION,
	    "protocol", DISPATCH_PROTOCOL, "minor", DISPATCH_PROTOCOL_MINOR,
	    "auth", dash_auth_mode(d), "authenticated", auth != DASH_AUTH_NO,
	    "readonly", d->server->cfg->http_readonly, "csrf", csrf,
	    "tls", d->tls, "host", host, "started_ms",
	    (json_int_t)d->started_ms));
}

/* Content-Type: application/json, parameters allowed. */
static bool
dash_is_json(struct evhttp_request *req)
{
	static const char	 type[] = "application/json";
	const char		*ct;

	ct = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");
	return ct != NULL && strncasecmp(ct, type, sizeof(type) - 1) == 0 &&
	    strchr("; \t", ct[sizeof(type) - 1]) != NULL;
}

static void
dash_login(struct dash *d, struct evhttp_request *req)
{
	struct evbuffer		*in = evhttp_request_get_input_buffer(req);
	struct dash_session	*ss;
	json_t			*body;
	const char		*token;
	size_t			 len;
	char			 cookie[160];

	if (d->server->token == NULL) {
		if (d->server->cfg->insecure_tcp)
			dash_send_json(req, 200, "{\"ok\":true}", 11);
		else
			dash_send_error(req, 403, "unauthorized",
			    DASH_NO_TOKEN);
		return;
	}
	if (!dash_is_json(req)) {
		dash_send_error(req, 415, "bad_request",
		    "Content-Type must be application/json");
		return;
	}
	body = json_loadb((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in), 0, NULL);
	if (json_unpack(body, "{s:s%}", "token", &token, &len) == -1) {
		json_decref(body);
		dash_send_error(req, 400, "bad_request",
		    "the body must be {\"token\": \"...\"}");
		return;
	}
	if (!server_token_matches(d->server, token, len)) {
		json_decref(body);
		log_warn_limited("dashboard: a login with a wrong token");
		dash_send_error(req, 401, "unauthorized", "wrong token");
		return;
	}
	json_decref(body);
	ss = dash_session_new(d);
	snprintf(cookie, sizeof(cookie), DASH_COOKIE "=%s; Path=/; HttpOnly; "
	    "SameSite=Strict; Max-Age=%lld%s", ss->id,
	    (long long)(DASH_SESSION_MS / 1000), d->tls ? "; Secure" : "");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Set-Cookie", cookie);
	dash_send_json(req, 200, "{\"ok\":true}", 11);
}

static void
dash_logout(struct dash *d, struct evhttp_request *req,
    struct dash_session *ss)
{
	char	 cookie[160];

	if (ss != NULL)
		dash_session_end(d, ss);
	snprintf(cookie, sizeof(cookie), DASH_COOKIE "=; Path=/; HttpOnly; "
	    "SameSite=Strict; Max-Age=0%s", d->tls ? "; Secure" : "");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Set-Cookie", cookie);
	dash_send_json(req, 200, "{\"ok\":true}", 11);
}

/* A POST's Content-Type and CSRF token; false after answering. */
static bool
dash_check_post(struct dash *d, struct evhttp_request *req,
    enum dash_auth auth, const struct dash_session *ss)
{
	const char	*token;

	if (!dash_is_json(req)) {
		dash_send_error(req, 415, "bad_request",
		    "Content-Type must be application/json");
		return false;
	}
	if (auth == DASH_AUTH_BEARER)
		return true;	/* a browser never adds it by itself */
	token = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "X-CSRF-Token");
	if (token == NULL || !dash_secret_is(auth == DASH_AUTH_SESSION ?
	    ss->csrf : d->csrf_none, token, strlen(token))) {
		dash_send_error(req, 403, "forbidden",
		    "missing or wrong CSRF token");
		return false;
	}
	return true;
}

static void
dash_api(struct dash *d, struct evhttp_request *req, const char *name)
{
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	struct dash_api_owner	 owner;
	struct dash_session	*ss;
	enum dash_auth		 auth;

	if (strcmp(dash_auth_mode(d), "none") == 0 &&
	    !dash_host_is_loopback(req)) {
		dash_send_error(req, 403, "forbidden", DASH_NOT_LOOPBACK);
		return;
	}
	if (strcmp(name, "session") == 0 && cmd == EVHTTP_REQ_GET) {
		dash_session_reply(d, req);
		return;
	}
	if (strcmp(name, "login") == 0 && cmd == EVHTTP_REQ_POST) {
		dash_login(d, req);
		return;
	}
	if (strcmp(dash_auth_mode(d), "unavailable") == 0) {
		dash_send_error(req, 403, "unauthorized", DASH_NO_TOKEN);
		return;
	}
	if ((auth = dash_authenticate(d, req, &ss)) == DASH_AUTH_NO) {
		dash_send_error(req, 401, "unauthorized", "log in first "
		    "(POST /api/login), or send Authorization: Bearer <token>");
		return;
	}
	if (cmd == EVHTTP_REQ_POST && !dash_check_post(d, req, auth, ss))
		return;
	if (strcmp(name, "logout") == 0 && cmd == EVHTTP_REQ_POST) {
		dash_logout(d, req, ss);
		return;
	}
	if (strcmp(name, "session") == 0 || strcmp(name, "login") == 0 ||
	    strcmp(name, "logout") == 0) {
		dash_send_error(req, 405, "bad_request", "wrong method");
		return;
	}
	/*
	 * A standby runs no op (PROTOCOL.md 15.3): its state is not the
	 * active node's, and it may not commit.
	 */
	if (d->server->standby) {
		dash_send_error(req, 503, "standby", DASH_STANDBY);
		return;
	}
	owner.session = ss;
	owner.expires_ms = ss != NULL ? ss->expires_ms : 0;
	dash_api_serve(d->api, req, name, &owner);
}

void
dash_request(struct dash *d, struct evhttp_request *req)
{
	const char	*path;

	dash_security_headers(evhttp_request_get_output_headers(req));
	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (path == NULL)
		path = "/";
	if (strncmp(path, "/api/", 5) == 0)
		dash_api(d, req, path + 5);
	else
		dash_static(d, req, path);
}

void
dash_token_changed(struct dash *d)
{
	size_t	 n = d->nsessions;

	while (!TAILQ_EMPTY(&d->sessions))
		dash_session_end(d, TAILQ_FIRST(&d->sessions));
	/* Bearer streams too: whoever had the old token may be watching. */
	dash_api_end_streams(d->api, NULL);
	if (n > 0)
		log_info("dashboard: the token changed; ended %zu session%s",
		    n, log_plural(n));
}

struct dash *
dash_new(struct server *s, bool tls)
{
	struct dash	*d;
	size_t		 i;

	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->etags = calloc(dash_nassets, sizeof(*d->etags))) == NULL)
		fatal("out of memory");
	d->server = s;
	d->tls = tls;
	d->api = dash_api_new(s);
	TAILQ_INIT(&d->sessions);
	dash_random_hex(d->csrf_none, DASH_SECRET_HEX / 2);
	d->started_ms = units_clock_ms(CLOCK_REALTIME) -
	    (server_now_ms() - s->start_ms);
	for (i = 0; i < dash_nassets; i++)
		dash_etag(d->etags[i], dash_assets[i].data, dash_assets[i].len);
	return d;
}

void
dash_free(struct dash *d)
{
	if (d == NULL)
		return;
	while (!TAILQ_EMPTY(&d->sessions))
		dash_session_end(d, TAILQ_FIRST(&d->sessions));
	dash_api_free(d->api);
	free(d->etags);
	free(d);
}
