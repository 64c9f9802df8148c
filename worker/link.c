/*
 * link: the network thread of jq-worker (see link.h for why a thread).
 *
 * Shared between the two threads, under l->mu: the outbox (requests the
 * loop queued, with their generation), the inbox (events for the loop),
 * reset_gen and stopping.  Everything else is one side's: the struct jqc,
 * gen and the back-off are the thread's; the libevent event is the
 * loop's.  Each side wakes the other with an eventfd (thread_wake is
 * polled by the thread, also while it waits for a reply, through
 * jqc_mux_poll()'s wake_fd; loop_wake is an event on the loop).
 *
 * The thread's turn: (re)dial when there is no connection; write what
 * the outbox holds for the current generation; end the connection if the
 * loop asked; then wait for a reply or a wake-up, and read every reply
 * that is in.  A failed write or read ends the connection: LINK_DOWN, and
 * the next turn dials again.
 */
#include <sys/eventfd.h>
#include <sys/queue.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "link.h"
#include "log.h"

#define LINK_BACKOFF_MIN_MS	200
#define LINK_BACKOFF_MAX_MS	5000

struct link_msg {
	TAILQ_ENTRY(link_msg)	 entry;
	enum link_event		 ev;	/* inbox only */
	uint64_t		 gen;
	int64_t			 id;
	json_t			*json;	/* request or reply; owned */
	char			*why;	/* LINK_DOWN, LINK_UP; owned */
};
TAILQ_HEAD(link_msgs, link_msg);

struct link {
	const struct link_conf	 conf;
	link_cb			*cb;
	void			*arg;
	pthread_t		 thread;
	int			 thread_wake;	/* eventfd */
	int			 loop_wake;	/* eventfd */
	struct event		*ev_wake;	/* the loop's, on loop_wake */

	pthread_mutex_t		 mu;	/* guards the four below */
	struct link_msgs	 outbox;
	struct link_msgs	 inbox;
	uint64_t		 reset_gen;
	bool			 stopping;
	bool			 done;	/* the thread returned */

	/* The thread's. */
	struct jqc		*c;
	uint64_t		 gen;
	int64_t			 backoff_ms;
};

static void
link_msg_free(struct link_msg *m)
{
	json_decref(m->json);
	free(m->why);
	free(m);
}

static struct link_msg *
link_msg_new(enum link_event ev, uint64_t gen, int64_t id, json_t *json,
    const char *why)
{
	struct link_msg	*m = calloc(1, sizeof(*m));

	if (m == NULL || (why != NULL && (m->why = strdup(why)) == NULL))
		fatal("out of memory");
	m->ev = ev;
	m->gen = gen;
	m->id = id;
	m->json = json;
	return m;
}

static void
link_wake(int fd)
{
	uint64_t	one = 1;

	/* Fails only when the counter is full: a wake-up is pending. */
	(void)!write(fd, &one, sizeof(one));
}

static void
link_drain_fd(int fd)
{
	uint64_t	n;

	(void)!read(fd, &n, sizeof(n));
}

/* -- the thread ------------------------------------------------------------ */

static void
link_post(struct link *l, enum link_event ev, int64_t id, json_t *reply,
    const char *why, uint64_t gen)
{
	struct link_msg	*m = link_msg_new(ev, gen, id, reply, why);
	bool		 was_empty;

	pthread_mutex_lock(&l->mu);
	was_empty = TAILQ_EMPTY(&l->inbox);
	TAILQ_INSERT_TAIL(&l->inbox, m, entry);
	pthread_mutex_unlock(&l->mu);
	/*
	 * The loop takes the whole inbox after a wake-up: a message behind
	 * others rides on the wake-up they sent.
	 */
	if (was_empty)
		link_wake(l->loop_wake);
}

static bool
link_stopping(struct link *l)
{
	bool	stop;

	pthread_mutex_lock(&l->mu);
	stop = l->stopping;
	pthread_mutex_unlock(&l->mu);
	return stop;
}

/* Wait up to ms (-1: forever) for a wake-up from the loop. */
static void
link_sleep(struct link *l, int ms)
{
	struct pollfd	pfd = { .fd = l->thread_wake, .events = POLLIN };

	if (poll(&pfd, 1, ms) > 0)
		link_drain_fd(l->thread_wake);
}

/* why may be jqc_error(l->c): posted (copied) before l->c is freed. */
static void
link_down(struct link *l, const char *why)
{
	link_post(l, LINK_DOWN, 0, NULL, why, l->gen);
	jqc_close(l->c);
	l->c = NULL;
	l->backoff_ms = LINK_BACKOFF_MIN_MS;
}

/* Connect, hello (multiplexed, with workers), auth: 0, or -1 and why. */
static int
link_dial(struct link *l, char *why, size_t whylen)
{
	struct jqc_hello	 h;
	struct jqc		*c;

	if ((c = jqc_connect_tls(l->conf.addr, l->conf.tls, why,
	    whylen)) == NULL)
		return -1;
	if (jqc_hello_mux(c, &h) == -1)
		snprintf(why, whylen, "hello: %s", jqc_error(c));
	else if (!h.multiplex || !jqc_has_feature(c, "workers"))
		snprintf(why, whylen, "the server (%s %s, protocol 1.%lld) "
		    "does not take workers: protocol 1.2 is needed", h.server,
		    h.version, (long long)h.minor);
	else if (l->conf.token != NULL && jqc_auth(c, l->conf.token) == -1)
		snprintf(why, whylen, "auth: %s", jqc_error(c));
	else {
		l->c = c;
		return 0;
	}
	jqc_close(c);
	return -1;
}

static void
link_redial(struct link *l)
{
	char		why[512];
	int64_t		ms = l->backoff_ms;

	if (ms > 0) {
		/* Jitter: agents cut off together do not redial together. */
		link_sleep(l, (int)(ms / 2 + random() % (ms / 2 + 1)));
		if (link_stopping(l))
			return;
	}
	if (link_dial(l, why, sizeof(why)) == -1) {
		link_post(l, LINK_DOWN, 0, NULL, why, 0);
		ms = ms < LINK_BACKOFF_MIN_MS ? LINK_BACKOFF_MIN_MS : ms * 2;
		l->backoff_ms = ms > LINK_BACKOFF_MAX_MS ? LINK_BACKOFF_MAX_MS :
		    ms;
		return;
	}
	l->gen++;
	link_post(l, LINK_UP, 0, NULL, jqc_connected_addr(l->c), l->gen);
}

/* Write what the outbox holds for this connection; -1: it failed. */
static int
link_flush(struct link *l)
{
	struct link_msgs	 out;
	struct link_msg		*m;
	bool			 reset;
	int			 rc = 0;

	TAILQ_INIT(&out);
	pthread_mutex_lock(&l->mu);
	TAILQ_CONCAT(&out, &l->outbox, entry);
	reset = l->reset_gen == l->gen;
	pthread_mutex_unlock(&l->mu);
	while ((m = TAILQ_FIRST(&out)) != NULL) {
		TAILQ_REMOVE(&out, m, entry);
		if (rc == 0 && !reset && m->gen == l->gen &&
		    jqc_mux_send(l->c, m->json, m->id) == -1) {
			link_down(l, jqc_error(l->c));
			rc = -1;
		}
		link_msg_free(m);
	}
	if (rc == 0 && reset) {
		link_down(l, "reset by the agent");
		rc = -1;
	}
	return rc;
}

/* Wait for replies or a wake-up; read every reply that is in. */
static void
link_receive(struct link *l)
{
	json_t	*reply;
	int64_t	 id;
	int	 r;

	if (jqc_mux_pending(l->c) == 0) {
		link_sleep(l, -1);
		return;
	}
	r = jqc_mux_poll(l->c, -1, l->thread_wake);
	if (r == 0) {
		link_drain_fd(l->thread_wake);
		return;
	}
	while (r == 1) {
		if (jqc_mux_read(l->c, &reply, &id) == -1)
			break;
		l->backoff_ms = 0;
		link_post(l, LINK_REPLY, id, reply, NULL, l->gen);
		if (jqc_mux_pending(l->c) == 0)
			return;
		r = jqc_mux_poll(l->c, 0, -1);
	}
	if (r == -1 || jqc_errcode(l->c) != JQC_OK)
		link_down(l, jqc_error(l->c));
}

static void *
link_main(void *arg)
{
	struct link	*l = arg;

	while (!link_stopping(l)) {
		if (l->c == NULL) {
			link_redial(l);
			continue;
		}
		if (link_flush(l) == -1)
			continue;
		link_receive(l);
	}
	jqc_close(l->c);
	l->c = NULL;
	pthread_mutex_lock(&l->mu);
	l->done = true;
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* -- the loop's side -------------------------------------------------------- */

static void
link_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link		*l = arg;
	struct link_msgs	 in;
	struct link_msg		*m;

	(void)what;
	link_drain_fd(fd);
	TAILQ_INIT(&in);
	pthread_mutex_lock(&l->mu);
	TAILQ_CONCAT(&in, &l->inbox, entry);
	pthread_mutex_unlock(&l->mu);
	while ((m = TAILQ_FIRST(&in)) != NULL) {
		TAILQ_REMOVE(&in, m, entry);
		l->cb(l->arg, m->ev, m->gen, m->id, m->json, m->why);
		m->json = NULL;		/* the callback's now */
		link_msg_free(m);
	}
}

struct link *
link_new(struct event_base *base, const struct link_conf *conf, link_cb *cb,
    void *arg)
{
	struct link	*l = calloc(1, sizeof(*l));
	sigset_t	 all, old;

	if (l == NULL)
		fatal("out of memory");
	memcpy((void *)&l->conf, conf, sizeof(*conf));
	l->cb = cb;
	l->arg = arg;
	TAILQ_INIT(&l->outbox);
	TAILQ_INIT(&l->inbox);
	pthread_mutex_init(&l->mu, NULL);
	l->thread_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	l->loop_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->thread_wake == -1 || l->loop_wake == -1)
		fatal("eventfd: %s", strerror(errno));
	l->ev_wake = event_new(base, l->loop_wake, EV_READ | EV_PERSIST,
	    link_wake_cb, l);
	if (l->ev_wake == NULL || event_add(l->ev_wake, NULL) == -1)
		fatal("out of memory");
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	/* Signals are the loop's: the thread starts with all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	errno = pthread_create(&l->thread, NULL, link_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (errno != 0)
		fatal("cannot start the network thread: %s", strerror(errno));
	return l;
}

void
link_send(struct link *l, uint64_t gen, json_t *request, int64_t id)
{
	struct link_msg	*m = link_msg_new(LINK_REPLY, gen, id, request, NULL);
	bool		 was_empty;

	pthread_mutex_lock(&l->mu);
	was_empty = TAILQ_EMPTY(&l->outbox);
	TAILQ_INSERT_TAIL(&l->outbox, m, entry);
	pthread_mutex_unlock(&l->mu);
	/* As link_post: link_flush takes the whole outbox. */
	if (was_empty)
		link_wake(l->thread_wake);
}

void
link_reset(struct link *l, uint64_t gen)
{
	pthread_mutex_lock(&l->mu);
	l->reset_gen = gen;
	pthread_mutex_unlock(&l->mu);
	link_wake(l->thread_wake);
}

static void
link_msgs_free(struct link_msgs *q)
{
	struct link_msg	*m;

	while ((m = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, m, entry);
		link_msg_free(m);
	}
}

void
link_free(struct link *l, int64_t wait_ms)
{
	struct timespec	 ts;
	bool		 done;

	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->stopping = true;
	pthread_mutex_unlock(&l->mu);
	link_wake(l->thread_wake);
	event_free(l->ev_wake);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += wait_ms / 1000;
	ts.tv_nsec += (wait_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (pthread_timedjoin_np(l->thread, NULL, &ts) != 0) {
		pthread_mutex_lock(&l->mu);
		done = l->done;
		pthread_mutex_unlock(&l->mu);
		if (!done) {
			log_warn("the network thread is stuck in a write; "
			    "leaving it");
			pthread_detach(l->thread);
			return;
		}
		pthread_join(l->thread, NULL);
	}
	link_msgs_free(&l->outbox);
	link_msgs_free(&l->inbox);
	pthread_mutex_destroy(&l->mu);
	close(l->thread_wake);
	close(l->loop_wake);
	free(l);
}
