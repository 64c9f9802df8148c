/*
 * jqc-keyed: idempotent sends (PROTOCOL.md 6.6) and their retry.
 *
 * A send carrying a "key" may be sent again: if the first one landed, the
 * server answers {"ok":true,"duplicate":true} and stores nothing.  So when
 * the connection is lost during a keyed send (the reply never came: did it
 * land?), the library dials the same address again, authenticates with
 * the token it last sent, and repeats the very same request, without
 * asking the caller.  A repeat refused with "exists" means the first
 * attempt is still blocked on the server, which has not yet noticed the
 * lost connection: it waits and tries again.  Only a connection with no
 * other request pending is retried (a pipelined request could not be).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-private.h"

/* Waits between attempts: 50 ms doubling to 1 s, about 10 s in all. */
#define KEYED_RETRIES		14
#define KEYED_DELAY_MS		50
#define KEYED_DELAY_MAX_MS	1000

static void
keyed_sleep(int attempt)
{
	struct timespec	 ts;
	long		 ms = KEYED_DELAY_MS;

	while (attempt-- > 1 && ms < KEYED_DELAY_MAX_MS)
		ms *= 2;
	if (ms > KEYED_DELAY_MAX_MS)
		ms = KEYED_DELAY_MAX_MS;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
jqc_call_keyed(struct jqc *c, json_t *request, json_t **reply)
{
	const json_t	*key = json_object_get(request, "key");
	const char	*code;
	bool		 retry_ok, redial = false;
	int		 attempt, rc;

	*reply = NULL;
	if (!json_is_string(key) || json_string_length(key) == 0) {
		jqc__begin(c);
		return jqc__fail(c, JQC_E_INVAL, "a keyed send needs a "
		    "non-empty string \"key\"");
	}
	retry_ok = jqc_pending(c) == 0;
	for (attempt = 0;; attempt++) {
		if (attempt > 0)
			keyed_sleep(attempt);
		if (redial && jqc__redial(c) == -1) {
			if (attempt < KEYED_RETRIES)
				continue;
			return -1;
		}
		redial = false;
		rc = jqc_call(c, request, reply);
		if (rc == -1) {
			if (!retry_ok || attempt >= KEYED_RETRIES ||
			    jqc_errcode(c) != JQC_E_IO)
				return -1;
			redial = true;
			continue;
		}
		code = jqc_reply_error_code(*reply);
		/* Our own first attempt, still blocked on the server. */
		if (attempt > 0 && code != NULL && strcmp(code, "exists") == 0 &&
		    attempt < KEYED_RETRIES) {
			json_decref(*reply);
			*reply = NULL;
			continue;
		}
		return 0;
	}
}

char *
jqc_new_key(void)
{
	unsigned char	 b[16];
	char		*key;
	ssize_t		 n = -1;
	size_t		 i;
	int		 fd;

	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) != -1) {
		n = read(fd, b, sizeof(b));
		close(fd);
	}
	if (n != (ssize_t)sizeof(b)) {
		/* No /dev/urandom: time and pid, still unique enough here. */
		struct timespec	 ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf((char *)b, sizeof(b), "%08lx%07x",
		    (unsigned long)ts.tv_nsec ^ (unsigned long)ts.tv_sec,
		    (unsigned)getpid());
	}
	if ((key = malloc(2 * sizeof(b) + 1)) == NULL)
		return NULL;
	for (i = 0; i < sizeof(b); i++)
		snprintf(key + 2 * i, 3, "%02x", b[i]);
	return key;
}

/* Send req (stolen) keyed; *duplicate from the ok reply. */
static int
send_keyed(struct jqc *c, json_t *req, bool *duplicate)
{
	json_t	*r;
	int	 rc;

	if (duplicate != NULL)
		*duplicate = false;
	if (req == NULL)
		return -1;
	rc = jqc_call_keyed(c, req, &r);
	json_decref(req);
	if (rc == -1)
		return -1;
	jqc__begin(c);
	/* The reply checked as a typed call's (kept for jqc_last_reply). */
	rc = jqc__call_reply(c, r);
	if (rc == 0 && duplicate != NULL)
		*duplicate = json_is_true(json_object_get(r, "duplicate"));
	return rc;
}

int
jqc_send_keyed(struct jqc *c, const char *chan, const char *value_json,
    const char *key, int64_t timeout_ms, bool *duplicate)
{
	json_t	*req;

	jqc__begin(c);
	req = jqc__request(c, "{s:s, s:s}", "op", "send", "chan", chan);
	jqc__set_text(c, &req, "value", value_json, value_json != NULL ?
	    strlen(value_json) : 0, "the value");
	jqc__set_str(c, &req, "key", key);
	jqc__set_timeout(c, &req, timeout_ms);
	return send_keyed(c, req, duplicate);
}

int
jqc_send_batch_keyed(struct jqc *c, const char *chan,
    const char *const *values_json, size_t n, const char *key,
    int64_t timeout_ms, bool *duplicate)
{
	json_t	*req;

	jqc__begin(c);
	req = jqc__request(c, "{s:s, s:s}", "op", "send", "chan", chan);
	jqc__set_batch(c, &req, values_json, n);
	jqc__set_str(c, &req, "key", key);
	jqc__set_timeout(c, &req, timeout_ms);
	return send_keyed(c, req, duplicate);
}
