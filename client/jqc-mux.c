/*
 * jqc-mux: what hello said, and multiplexed connections (protocol 1.1,
 * PROTOCOL.md 4.7 and 9.5; the API is at the end of jqclient.h).
 *
 * A connection gets a struct jqc_mux at its first successful hello: what
 * that hello returned (jqc_last_hello()), the features listed, and
 * whether the server made the connection multiplexed.  A reconnection
 * (jqc__redial) drops it and says the same hello again.  On a multiplexed
 * connection the caller numbers its requests; the ids written and not
 * yet answered are kept here, so that a reply is matched to its request
 * whatever the order replies come in, an id is never used twice while
 * pending (the server would refuse it), and a reply to no pending id is
 * caught as a protocol failure.  A few ids at a time is the normal case
 * (the server lets 8 block), so they are a plain array searched from the
 * start.
 *
 * The serial calls of jqclient.c match replies by order and stay usable
 * on a multiplexed connection only one at a time, with no multiplexed
 * request pending: jqc__mux_refuse_serial() says when not.
 *
 * jqc_call_cancelable() is what a Ctrl-C handler needs: one blocking
 * request, an abort when the caller's wake-up descriptor fires, and every
 * reply read before it returns, so the request's own reply -- a value it
 * received, say -- reaches the caller even when the abort came too late.
 */

#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-private.h"

struct jqc_mux {
	struct jqc_hello hello;		/* the last ok hello, parsed */
	json_t		*features;	/* strings, of the last hello; owned */
	bool		 on;		/* the connection is multiplexed */
	int64_t		*ids;		/* requests not yet answered; owned */
	size_t		 nids;
	size_t		 capids;
};

/* Ids of jqc_call_cancelable(): nothing else is pending then. */
#define CANCELABLE_ID	1
#define ABORT_ID	2

void
jqc__mux_free(struct jqc_mux *mux)
{
	if (mux == NULL)
		return;
	json_decref(mux->features);
	free(mux->ids);
	free(mux);
}

int
jqc__mux_hello(struct jqc *c, const json_t *reply,
    const struct jqc_hello *parsed)
{
	struct jqc_mux	*mux = jqc__mux(c);
	json_t		*features;

	if (mux == NULL) {
		if ((mux = calloc(1, sizeof(*mux))) == NULL)
			return jqc__fail(c, JQC_E_NOMEM, "out of memory");
		jqc__mux_attach(c, mux);
	}
	/* Not an array (a 1.0 server): no features. */
	features = json_object_get(reply, "features");
	json_decref(mux->features);
	mux->features = json_is_array(features) ? json_incref(features) :
	    NULL;
	/* Once multiplexed, for good (PROTOCOL.md 4.7). */
	if (json_is_true(json_object_get(reply, "multiplex")))
		mux->on = true;
	mux->hello = *parsed;
	return 0;
}

const struct jqc_hello *
jqc_last_hello(const struct jqc *c)
{
	struct jqc_mux	*mux = jqc__mux(c);

	return mux != NULL ? &mux->hello : NULL;
}

bool
jqc_has_feature(const struct jqc *c, const char *feature)
{
	struct jqc_mux	*mux = jqc__mux(c);
	json_t		*f;
	size_t		 i;

	if (mux == NULL || feature == NULL)
		return false;
	json_array_foreach(mux->features, i, f)
		if (json_is_string(f) && strcmp(json_string_value(f),
		    feature) == 0)
			return true;
	return false;
}

size_t
jqc_mux_pending(const struct jqc *c)
{
	struct jqc_mux	*mux = jqc__mux(c);

	return mux != NULL ? mux->nids : 0;
}

int
jqc__mux_refuse_serial(struct jqc *c, size_t serial_pending)
{
	struct jqc_mux	*mux = jqc__mux(c);

	if (mux == NULL || !mux->on)
		return 0;
	if (mux->nids > 0)
		return jqc__fail(c, JQC_E_INVAL, "%zu multiplexed requests "
		    "are waiting for their replies", mux->nids);
	if (serial_pending > 0)
		return jqc__fail(c, JQC_E_INVAL, "a multiplexed connection "
		    "takes one serial request at a time");
	return 0;
}

/* The index of id among the pending ids, or -1. */
static ssize_t
ids_find(const struct jqc_mux *mux, int64_t id)
{
	size_t	i;

	for (i = 0; i < mux->nids; i++)
		if (mux->ids[i] == id)
			return (ssize_t)i;
	return -1;
}

static int
ids_add(struct jqc *c, struct jqc_mux *mux, int64_t id)
{
	int64_t	*n;
	size_t	 ncap;

	if (mux->nids == mux->capids) {
		ncap = mux->capids == 0 ? 8 : mux->capids * 2;
		if ((n = reallocarray(mux->ids, ncap, sizeof(*n))) == NULL)
			return jqc__fail(c, JQC_E_NOMEM, "out of memory");
		mux->ids = n;
		mux->capids = ncap;
	}
	mux->ids[mux->nids++] = id;
	return 0;
}

/* Order does not matter: the last takes the removed one's place. */
static void
ids_remove(struct jqc_mux *mux, size_t i)
{
	mux->ids[i] = mux->ids[--mux->nids];
}

/* c's state when it is multiplexed; else NULL with JQC_E_INVAL. */
static struct jqc_mux *
mux_on(struct jqc *c)
{
	struct jqc_mux	*mux = jqc__mux(c);

	if (mux == NULL || !mux->on) {
		jqc__fail(c, JQC_E_INVAL, "the connection is not multiplexed "
		    "(jqc_hello_mux)");
		return NULL;
	}
	return mux;
}

int
jqc_mux_send(struct jqc *c, json_t *request, int64_t id)
{
	struct jqc_mux	*mux;

	jqc__begin_raw(c);
	if ((mux = mux_on(c)) == NULL)
		return -1;
	if (jqc_pending(c) > 0)
		return jqc__fail(c, JQC_E_INVAL, "%zu serial requests are "
		    "waiting for their replies", jqc_pending(c));
	if (id == JQC_MUX_NOID || ids_find(mux, id) != -1)
		return jqc__fail(c, JQC_E_INVAL, "id %lld is %s", (long long)id,
		    id == JQC_MUX_NOID ? "reserved" : "already pending");
	/* Room first: once written, the id must be remembered. */
	if (ids_add(c, mux, id) == -1)
		return -1;
	if (jqc__mux_send_id(c, request, id) == -1) {
		mux->nids--;
		return -1;
	}
	return 0;
}

int
jqc_mux_abort(struct jqc *c, int64_t id, int64_t ref)
{
	json_t	*req;
	int	 rc;

	jqc__begin_raw(c);
	if ((req = jqc__request(c, "{s:s, s:I}", "op", "abort", "ref",
	    (json_int_t)ref)) == NULL)
		return -1;
	rc = jqc_mux_send(c, req, id);
	json_decref(req);
	return rc;
}

int
jqc_mux_poll(struct jqc *c, int timeout_ms, int wake_fd)
{
	int	n;

	jqc__begin_raw(c);
	if (mux_on(c) == NULL)
		return -1;
	if (jqc_mux_pending(c) == 0)
		return jqc__fail(c, JQC_E_INVAL, "no request is waiting for "
		    "a reply");
	n = jqc__wait_line(c, timeout_ms, wake_fd);
	return n == 2 ? 0 : n;
}

/*
 * The pending id a reply answers: its own, or -- a null id on an error
 * reply -- the only one pending.  Returns its index, or -1 with *noid set
 * when it cannot tell, or -1 after breaking c.
 */
static ssize_t
reply_slot(struct jqc *c, struct jqc_mux *mux, const json_t *r, bool *noid)
{
	const json_t	*rid = json_object_get(r, "id");
	char		 msg[128];
	ssize_t		 i;

	*noid = false;
	if (json_is_integer(rid) &&
	    (i = ids_find(mux, json_integer_value(rid))) != -1)
		return i;
	if (jqc__unsolicited(c, r) == -1)
		return -1;
	if (rid == NULL || json_is_null(rid)) {
		if (mux->nids == 1)
			return 0;
		*noid = true;
		return -1;
	}
	if (json_is_integer(rid))
		snprintf(msg, sizeof(msg), "reply to id %" JSON_INTEGER_FORMAT
		    ", which is not pending", json_integer_value(rid));
	else
		snprintf(msg, sizeof(msg), "reply with an id this client "
		    "never sent");
	return jqc__break(c, JQC_E_PROTO, msg);
}

int
jqc_mux_read(struct jqc *c, json_t **reply, int64_t *id)
{
	struct jqc_mux	*mux;
	json_t		*r;
	ssize_t		 i;
	bool		 noid;

	*reply = NULL;
	*id = JQC_MUX_NOID;
	jqc__begin_raw(c);
	if ((mux = mux_on(c)) == NULL)
		return -1;
	if (mux->nids == 0)
		return jqc__fail(c, JQC_E_INVAL, "no request is waiting for "
		    "a reply");
	if (jqc__read_object(c, &r) == -1)
		return -1;
	if ((i = reply_slot(c, mux, r, &noid)) == -1 && !noid) {
		json_decref(r);
		return -1;
	}
	if (i != -1) {
		*id = mux->ids[i];
		ids_remove(mux, (size_t)i);
	}
	*reply = r;
	return 0;
}

/*
 * Wait for a reply, or for wake_fd (-1: not watched).  Returns 1 when a
 * reply is buffered, 2 when wake_fd is readable, -1 on failure; 0 (a
 * signal) is waited through.
 */
static int
wait_reply_or_wake(struct jqc *c, int wake_fd)
{
	int	n;

	while ((n = jqc__wait_line(c, -1, wake_fd)) == 0)
		continue;
	return n;
}

int
jqc_call_cancelable(struct jqc *c, json_t *request, int wake_fd,
    json_t **reply, bool *aborted)
{
	struct jqc_mux	*mux;
	json_t		*r, *result = NULL;
	int64_t		 id;
	bool		 abort_sent = false, abort_answered = false;
	int		 n;

	*reply = NULL;
	if (aborted != NULL)
		*aborted = false;
	jqc__begin_raw(c);
	if ((mux = mux_on(c)) == NULL)
		return -1;
	if (!jqc_has_feature(c, "abort"))
		return jqc__fail(c, JQC_E_INVAL, "the server has no abort");
	if (mux->nids > 0 || jqc_pending(c) > 0)
		return jqc__fail(c, JQC_E_INVAL, "requests are waiting for "
		    "their replies");
	if (jqc_mux_send(c, request, CANCELABLE_ID) == -1)
		return -1;
	while (result == NULL || (abort_sent && !abort_answered)) {
		n = wait_reply_or_wake(c, abort_sent ? -1 : wake_fd);
		if (n == -1)
			goto fail;
		if (n == 2) {
			if (jqc_mux_abort(c, ABORT_ID, CANCELABLE_ID) == -1)
				goto fail;
			abort_sent = true;
			continue;
		}
		if (jqc_mux_read(c, &r, &id) == -1)
			goto fail;
		if (id == ABORT_ID) {
			abort_answered = true;
			json_decref(r);
			continue;
		}
		/* A null id with both pending: the request's, too large
		 * to be read (the abort is small). */
		if (id == JQC_MUX_NOID)
			ids_remove(mux, (size_t)ids_find(mux, CANCELABLE_ID));
		result = r;
	}
	if (aborted != NULL)
		*aborted = abort_sent;
	*reply = result;
	return 0;
fail:
	json_decref(result);
	return -1;
}
