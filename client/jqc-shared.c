/*
 * jqc-shared: one multiplexed connection that many threads call at once
 * (struct jqc_shared; the API is in jqclient.h, "Sharing a connection
 * between threads").
 *
 * Leader/follower, with no thread of the library's own.  Every field,
 * and the struct jqc underneath, is touched only under mu.  A caller
 * writes its request (jqc_mux_send, under mu), links its struct
 * shared_call into the list of pending calls and waits.  One caller at a
 * time is the leader (reading): it drains the replies already buffered,
 * handing each to its call and signalling that call's condition
 * variable, and when none is left it polls the socket *without* mu, so
 * that others write their requests meanwhile.  When its own reply has
 * come it hands leadership to another pending call.  The leader also
 * watches the wake-up descriptors of the cancelable calls pending and
 * sends "abort" for one that fires (PROTOCOL.md 9.5); the call then
 * still waits for its own reply, which may carry a value.  A self-pipe
 * (intr) wakes the leader when a new cancelable call comes, when a write
 * read replies (a write the socket cannot take reads what comes meanwhile,
 * jqc__set_shared(), or the server, which stops reading a peer that
 * does not read, and the writer, holding mu, would wait for each other),
 * or when the connection broke on a write.
 *
 * Only the leader, or a redial while none reads, removes calls from the
 * list (a reply, or the connection lost: every pending call fails with
 * JQC_E_OUTCOME_UNKNOWN), so the call pointers it polls for stay valid
 * while it leads.  A call
 * that finds the connection broken and nobody reading it fails what is
 * still pending there (redial()) and dials it again (jqc__redial: auth
 * and hello multiplexed again); a call flagged
 * JQC_SHARED_IDEMPOTENT is sent again after a lost connection or a
 * shutting_down reply, with capped, jittered backoff, for up to
 * retry_ms.
 */

#include <sys/random.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-private.h"

#define RETRY_MS_DEFAULT	30000
#define BACKOFF_FIRST_MS	50
#define BACKOFF_MAX_MS		2000

struct shared_call {
	int64_t			 id;
	json_t			*reply;		/* done: the reply, or NULL */
	bool			 done;
	enum jqc_err		 code;		/* done without a reply */
	char			 msg[JQC_SHARED_MSG_MAX];
	int			 wake_fd;	/* -1: not cancelable */
	bool			 abort_sent;
	bool			 is_abort;	/* ours; nobody waits on it */
	pthread_cond_t		 cond;
	struct shared_call	*next;
};

struct jqc_shared {
	pthread_mutex_t		 mu;
	pthread_cond_t		 idle;		/* reading went false */
	struct jqc		*c;
	bool			 reading;	/* a leader polls, mu released */
	int			 intr[2];	/* wakes the leader */
	struct shared_call	*calls;		/* pending */
	int64_t			 next_id;
	int64_t			 retry_ms;
	unsigned		 rng;		/* the jitter's (rand_r) */
	/* The leader's poll set; the call whose wake_fd each entry is. */
	struct pollfd		*pfds;
	struct shared_call	**pcalls;
	size_t			 pcap;
};

static void
err_set(struct jqc_shared_error *err, enum jqc_err code, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
err_set(struct jqc_shared_error *err, enum jqc_err code, const char *fmt,
    ...)
{
	va_list	ap;

	if (err == NULL)
		return;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/*
 * The jitter's own generator, not random()'s (the application's sequence,
 * never seeded): getrandom, else the clock, the thread and s itself.
 */
static unsigned
rng_seed(const struct jqc_shared *s)
{
	struct timespec	ts;
	unsigned	seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) ==
	    (ssize_t)sizeof(seed))
		return seed;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned)ts.tv_nsec ^ (unsigned)ts.tv_sec ^
	    (unsigned)(uintptr_t)pthread_self() ^ (unsigned)(uintptr_t)s;
}

struct jqc_shared *
jqc_shared_connect(const char *addr, const struct jqc_tls *tls,
    const char *token, char *errbuf, size_t errlen)
{
	struct jqc_shared	*s;
	struct jqc_hello	 h;
	struct jqc		*c;

	if ((c = jqc_connect_tls(addr, tls, errbuf, errlen)) == NULL)
		return NULL;
	if ((token != NULL && jqc_auth(c, token) == -1) ||
	    jqc_hello_mux(c, &h) == -1) {
		jqc__errbuf_set(errbuf, errlen, "%s", jqc_error(c));
		jqc_close(c);
		return NULL;
	}
	if (!h.multiplex) {
		jqc__errbuf_set(errbuf, errlen, "the server (%s %s) cannot "
		    "multiplex a connection", h.server, h.version);
		jqc_close(c);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->pfds = calloc(2, sizeof(*s->pfds))) == NULL ||
	    (s->pcalls = calloc(2, sizeof(*s->pcalls))) == NULL) {
		if (s != NULL) {
			free(s->pfds);
			free(s);
		}
		jqc__errbuf_set(errbuf, errlen, "out of memory");
		jqc_close(c);
		return NULL;
	}
	s->pcap = 2;
	if (pipe(s->intr) == -1) {
		jqc__errbuf_set(errbuf, errlen, "pipe: %s", strerror(errno));
		jqc_close(c);
		free(s->pfds);
		free(s->pcalls);
		free(s);
		return NULL;
	}
	fcntl(s->intr[0], F_SETFL, O_NONBLOCK);
	fcntl(s->intr[1], F_SETFL, O_NONBLOCK);
	fcntl(s->intr[0], F_SETFD, FD_CLOEXEC);
	fcntl(s->intr[1], F_SETFD, FD_CLOEXEC);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->c = c;
	jqc__set_shared(c);
	s->next_id = 1;
	s->retry_ms = RETRY_MS_DEFAULT;
	s->rng = rng_seed(s);
	return s;
}

void
jqc_shared_close(struct jqc_shared *s)
{
	struct shared_call	*call;

	if (s == NULL)
		return;
	/* No caller is left: what remains are aborts nobody read. */
	while ((call = s->calls) != NULL) {
		s->calls = call->next;
		free(call);
	}
	jqc_close(s->c);
	close(s->intr[0]);
	close(s->intr[1]);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->mu);
	free(s->pfds);
	free(s->pcalls);
	free(s);
}

void
jqc_shared_set_retry_ms(struct jqc_shared *s, int64_t retry_ms)
{
	pthread_mutex_lock(&s->mu);
	s->retry_ms = retry_ms < 0 ? 0 : retry_ms;
	pthread_mutex_unlock(&s->mu);
}

/* Wake the leader from its poll (a full pipe has woken it already). */
static void
kick(struct jqc_shared *s)
{
	ssize_t	n;

	if (s->reading)
		n = write(s->intr[1], "", 1);
	(void)n;
}

static void
call_unlink(struct jqc_shared *s, struct shared_call *call)
{
	struct shared_call	**p;

	for (p = &s->calls; *p != NULL; p = &(*p)->next)
		if (*p == call) {
			*p = call->next;
			return;
		}
}

/* call is answered (reply, a new reference, or NULL with code and msg). */
static void
call_finish(struct jqc_shared *s, struct shared_call *call, json_t *reply)
{
	call_unlink(s, call);
	if (call->is_abort) {
		json_decref(reply);
		free(call);
		return;
	}
	call->reply = reply;
	call->done = true;
	pthread_cond_signal(&call->cond);
}

/*
 * The connection is lost: every pending call has an unknown outcome (an
 * idempotent one is then sent again, on the next connection), and our
 * aborts are freed.
 */
static void
fail_all(struct jqc_shared *s)
{
	struct shared_call	*call;

	while ((call = s->calls) != NULL) {
		call->code = JQC_E_OUTCOME_UNKNOWN;
		snprintf(call->msg, sizeof(call->msg), "connection lost before "
		    "the reply (the request may or may not have been "
		    "applied): %s", jqc_error(s->c));
		call_finish(s, call, NULL);
	}
}

/* Break the connection over r, a reply with a null id among several. */
static void
null_id(struct jqc_shared *s, const json_t *r)
{
	const char	*code = jqc_reply_error_code(r);
	const char	*msg = jqc_reply_error_message(r);
	char		 why[JQC_SHARED_MSG_MAX / 2];

	snprintf(why, sizeof(why), "a reply with a null id (%s: %s) while "
	    "%zu requests were pending: which one it answers is unknown",
	    code != NULL ? code : "?", msg != NULL ? msg : "no message",
	    jqc_mux_pending(s->c));
	jqc__break(s->c, JQC_E_PROTO, why);
}

/* Hand every buffered reply to its call; -1 when the connection broke. */
static int
drain(struct jqc_shared *s)
{
	struct shared_call	*call;
	json_t			*r;
	int64_t			 id;
	int			 n;

	while (s->calls != NULL) {
		if ((n = jqc_mux_poll(s->c, 0, -1)) == 0)
			return 0;
		if (n == -1 || jqc_mux_read(s->c, &r, &id) == -1) {
			fail_all(s);
			return -1;
		}
		for (call = s->calls; call != NULL; call = call->next)
			if (call->id == id)
				break;
		if (call == NULL) {
			/* A null id among several pending (requests over
			 * JQC_MUX_FRAME_MAX are refused before sending):
			 * whose it is nobody can tell, and that call would
			 * wait for ever.  The connection goes. */
			null_id(s, r);
			json_decref(r);
			fail_all(s);
			return -1;
		}
		call_finish(s, call, r);
	}
	return 0;
}

/* The leader's poll set: the socket, intr, the wake-up fds. */
static int
poll_set(struct jqc_shared *s, size_t *n)
{
	struct shared_call	*call;
	size_t			 want = 2, i;
	void			*p;

	for (call = s->calls; call != NULL; call = call->next)
		if (call->wake_fd >= 0 && !call->abort_sent)
			want++;
	if (want > s->pcap) {
		if ((p = reallocarray(s->pfds, want, sizeof(*s->pfds))) ==
		    NULL)
			return -1;
		s->pfds = p;
		if ((p = reallocarray(s->pcalls, want, sizeof(*s->pcalls))) ==
		    NULL)
			return -1;
		s->pcalls = p;
		s->pcap = want;
	}
	s->pfds[0].fd = jqc__fd(s->c);
	s->pfds[1].fd = s->intr[0];
	i = 2;
	for (call = s->calls; call != NULL; call = call->next)
		if (call->wake_fd >= 0 && !call->abort_sent) {
			s->pcalls[i] = call;
			s->pfds[i++].fd = call->wake_fd;
		}
	for (*n = 0; *n < i; (*n)++) {
		s->pfds[*n].events = POLLIN;
		s->pfds[*n].revents = 0;
	}
	return 0;
}

/* Send "abort" for call, as a pending call of ours. */
static void
send_abort(struct jqc_shared *s, struct shared_call *call)
{
	struct shared_call	*a;

	call->abort_sent = true;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return;	/* the call just runs on */
	a->is_abort = true;
	a->wake_fd = -1;
	a->id = s->next_id++;
	if (jqc_mux_abort(s->c, a->id, call->id) == -1) {
		free(a);
		return;	/* broken: drain() fails everything */
	}
	a->next = s->calls;
	s->calls = a;
}

/* Lead until me is answered; mu held on entry and return. */
static void
lead(struct jqc_shared *s, struct shared_call *me)
{
	struct shared_call	*call;
	size_t			 n, i;
	char			 buf[64];

	s->reading = true;
	while (drain(s) == 0 && !me->done) {
		if (poll_set(s, &n) == -1) {
			/* Out of memory: the socket alone, no cancel. */
			n = 1;
			s->pfds[0].fd = jqc__fd(s->c);
			s->pfds[0].events = POLLIN;
			s->pfds[0].revents = 0;
		}
		pthread_mutex_unlock(&s->mu);
		while (poll(s->pfds, n, -1) == -1 && errno == EINTR)
			continue;
		pthread_mutex_lock(&s->mu);
		if (n > 1 && s->pfds[1].revents != 0)
			while (read(s->intr[0], buf, sizeof(buf)) > 0)
				continue;
		for (i = 2; i < n; i++)
			if (s->pfds[i].revents != 0)
				send_abort(s, s->pcalls[i]);
	}
	s->reading = false;
	for (call = s->calls; call != NULL; call = call->next)
		if (!call->is_abort) {
			pthread_cond_signal(&call->cond);
			break;
		}
	pthread_cond_broadcast(&s->idle);
}

/*
 * A broken connection is dialled again once nobody reads it.  Calls may
 * still be pending on it: a write broke it while no leader was polling
 * (one had just handed the role on), so none has failed them.  Their
 * replies cannot come on the new connection: they fail first (an
 * idempotent one is sent again by its retry loop).
 */
static int
redial(struct jqc_shared *s, struct jqc_shared_error *err)
{
	while (s->reading) {
		kick(s);
		pthread_cond_wait(&s->idle, &s->mu);
	}
	if (!jqc_broken(s->c))
		return 0;
	fail_all(s);
	if (jqc__redial(s->c) == -1) {
		err_set(err, JQC_E_IO, "%s", jqc_error(s->c));
		return -1;
	}
	return 0;
}

/* One attempt: 0 with *reply, or -1 with err. */
static int
call_once(struct jqc_shared *s, json_t *request, int wake_fd,
    json_t **reply, bool *aborted, struct jqc_shared_error *err)
{
	struct shared_call	 me;
	int			 rc = 0;

	memset(&me, 0, sizeof(me));
	me.wake_fd = wake_fd;
	*aborted = false;
	pthread_mutex_lock(&s->mu);
	if (jqc_broken(s->c) && redial(s, err) == -1) {
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	me.id = s->next_id++;
	if (jqc_mux_send(s->c, request, me.id) == -1) {
		if (jqc_broken(s->c)) {
			err_set(err, JQC_E_OUTCOME_UNKNOWN, "connection lost "
			    "while sending (the request may or may not have "
			    "been applied): %s", jqc_error(s->c));
			kick(s);
		} else
			err_set(err, jqc_errcode(s->c), "%s", jqc_error(s->c));
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	pthread_cond_init(&me.cond, NULL);
	me.next = s->calls;
	s->calls = &me;
	/* A new descriptor to watch, or replies the write read meanwhile
	 * (the leader's poll() cannot see those). */
	if (jqc__took_input(s->c) > 0 || wake_fd >= 0)
		kick(s);
	while (!me.done) {
		if (!s->reading)
			lead(s, &me);
		else
			pthread_cond_wait(&me.cond, &s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	pthread_cond_destroy(&me.cond);
	*aborted = me.abort_sent;
	if (me.reply == NULL) {
		err_set(err, me.code, "%s", me.msg);
		rc = -1;
	}
	*reply = me.reply;
	return rc;
}

/*
 * Is this attempt's end worth another?  written: an earlier attempt was
 * written and its connection lost; then a keyed send's "exists" is that
 * attempt, still blocked on a server that has not yet seen the
 * connection close (PROTOCOL.md 13, item 23).
 */
static bool
retryable(int rc, const json_t *request, const json_t *reply,
    const struct jqc_shared_error *err, bool written)
{
	const char	*code;

	if (rc == -1)
		return err->code == JQC_E_OUTCOME_UNKNOWN ||
		    err->code == JQC_E_IO;
	if ((code = jqc_reply_error_code(reply)) == NULL)
		return false;
	if (strcmp(code, "shutting_down") == 0)
		return true;
	return written && strcmp(code, "exists") == 0 &&
	    json_object_get(request, "key") != NULL;
}

/* Wait ms, or until wake_fd (-1: none) is readable: then true. */
static bool
backoff_wait(long long ms, int wake_fd)
{
	struct pollfd	pfd;
	long long	deadline = jqc__monotonic_ms() + ms, left;
	int		n;

	pfd.fd = wake_fd;
	pfd.events = POLLIN;
	while ((left = deadline - jqc__monotonic_ms()) > 0) {
		pfd.revents = 0;
		n = poll(&pfd, 1, (int)left);	/* fd -1: a plain sleep */
		if (n > 0)
			return true;
	}
	return false;
}

/*
 * The call ends after an attempt that was written and lost: however the
 * later ones failed (no connection: JQC_E_IO), the request may have been
 * applied.
 */
static int
ended(int rc, bool written, struct jqc_shared_error *err)
{
	char	msg[JQC_SHARED_MSG_MAX];

	if (rc == -1 && written && err->code == JQC_E_IO) {
		snprintf(msg, sizeof(msg), "%s", err->message);
		err_set(err, JQC_E_OUTCOME_UNKNOWN, "an attempt was written "
		    "and its connection lost (the request may or may not have "
		    "been applied); the last: %s", msg);
	}
	return rc;
}

int
jqc_shared_call_cancelable(struct jqc_shared *s, json_t *request,
    int wake_fd, unsigned flags, json_t **reply, bool *aborted,
    struct jqc_shared_error *err)
{
	struct jqc_shared_error	 own;
	const char		*op;
	long long		 start, backoff = BACKOFF_FIRST_MS, left, delay;
	bool			 was_aborted, written = false, again;
	int64_t			 retry_ms;
	int			 rc;

	*reply = NULL;
	if (aborted != NULL)
		*aborted = false;
	if (err == NULL)
		err = &own;
	err->code = JQC_OK;
	err->message[0] = '\0';
	op = json_string_value(json_object_get(request, "op"));
	if (op == NULL || strcmp(op, "watch") == 0) {
		err_set(err, JQC_E_INVAL, op == NULL ? "request without \"op\""
		    : "watch is not for a shared connection: use jqc_watch() "
		    "on a struct jqc");
		return -1;
	}
	pthread_mutex_lock(&s->mu);
	retry_ms = s->retry_ms;
	pthread_mutex_unlock(&s->mu);
	start = jqc__monotonic_ms();
	for (;;) {
		rc = call_once(s, request, wake_fd, reply, &was_aborted, err);
		if (aborted != NULL)
			*aborted = was_aborted;
		again = retryable(rc, request, *reply, err, written);
		if (rc == -1 && err->code == JQC_E_OUTCOME_UNKNOWN)
			written = true;
		if (!(flags & JQC_SHARED_IDEMPOTENT) || was_aborted || !again)
			return ended(rc, written, err);
		left = start + retry_ms - jqc__monotonic_ms();
		if (left <= 0)
			return ended(rc, written, err);
		/* Capped exponential backoff, jittered in its top half so
		 * that many callers do not come back at once; wake_fd ends
		 * the wait, and the call with the last attempt's result. */
		pthread_mutex_lock(&s->mu);
		delay = backoff / 2 + rand_r(&s->rng) % (backoff / 2 + 1);
		pthread_mutex_unlock(&s->mu);
		if (backoff_wait(delay < left ? delay : left, wake_fd))
			return ended(rc, written, err);
		json_decref(*reply);
		*reply = NULL;
		if ((backoff *= 2) > BACKOFF_MAX_MS)
			backoff = BACKOFF_MAX_MS;
	}
}

int
jqc_shared_call(struct jqc_shared *s, json_t *request, unsigned flags,
    json_t **reply, struct jqc_shared_error *err)
{
	return jqc_shared_call_cancelable(s, request, -1, flags, reply, NULL,
	    err);
}
