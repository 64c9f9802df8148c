/*
 * jqbench: a queue load generator that speaks jqd's JSON lines, the
 * beanstalkd text protocol and Redis RESP, so the three servers can be
 * measured doing the same work.  One thread per connection, blocking
 * sockets, each connection keeping up to --pipeline requests in flight.
 *
 * What "the same work" means, per message, for every protocol:
 *
 *   produce  one request carrying one message, acknowledged by the server
 *            (jqd "send" -> ok; beanstalkd "put" -> INSERTED;
 *            Redis LPUSH -> :n).  No batch forms (jqd "values", multi-value
 *            LPUSH) are used.
 *   consume  one blocking receive that removes the message for good
 *            (jqd "recv" -> value; beanstalkd "reserve" -> RESERVED, then
 *            "delete" -> DELETED, the message counting only once DELETED
 *            arrives; Redis BRPOP -> the value).
 *
 * Producers split --messages evenly.  Consumers share one counter of
 * receives to issue: a consumer claims a slot before sending a receive and
 * stops claiming when --messages have been claimed.  So exactly --messages
 * blocking receives are issued in total, none needs a timeout or a retry,
 * and faster consumers simply take more (the same dynamic balance for all
 * three servers).  With --pipeline W a producer keeps W sends in flight
 * and a consumer W receives (W reserves for beanstalkd, whose deletes are
 * sent as the reservations arrive and ride along in the same pipeline;
 * the servers execute one connection's commands in order, so the pipeline
 * stalls behind a receive that waits, alike for the three).
 *
 * jqd's channel is made with a capacity no run reaches, so senders never
 * wait for room: beanstalkd tubes and Redis lists are unbounded.
 *
 * Every message carries a run nonce and its number; each consumer checks
 * both and marks the number seen, so a lost, duplicated or stale message
 * fails the run (exit 1), as does any unexpected reply.  A run that makes
 * no progress for --timeout seconds exits 3 with the counts so far.
 *
 * Build: cc -O2 -pthread jqbench.c -o jqbench
 */
#define _GNU_SOURCE		/* memmem */

#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_NAME	"jqbench"
#define JQD_CAP		1000000000	/* never reached: unbounded */
#define BEANSTALK_TTR	600	/* seconds: no reservation expires */
#define ID_DIGITS	10
#define HEADER_LEN	(8 + 1 + ID_DIGITS)	/* "nonce:number" */

struct options {
	const char	*proto_name;
	char		*host;
	char		*port;
	int		 producers;
	int		 consumers;
	long		 messages;
	int		 size;
	int		 pipeline;
	int		 timeout_s;
	bool		 keyed;		/* jqd: every send with a "key" */
};

/* A decoded reply: the message of a receive, the job id of a reserve. */
struct reply {
	const char	*data;
	size_t		 len;
	unsigned long	 job;
};

struct conn {
	int		 fd;
	char		*in;
	size_t		 in_off;	/* first unparsed byte */
	size_t		 in_len;
	size_t		 in_cap;
	char		*out;
	size_t		 out_len;
	size_t		 out_cap;
};

/*
 * One protocol.  The parse functions look at the unparsed input and
 * return the bytes one whole reply takes, or 0 while it is incomplete;
 * a reply that is not the expected success ends the program.
 */
struct proto {
	const char	*name;
	void		(*setup)(struct conn *);	/* once, before */
	void		(*init_producer)(struct conn *);
	void		(*init_consumer)(struct conn *);
	void		(*put)(struct conn *, const char *, size_t);
	size_t		(*parse_put)(const char *, size_t);
	void		(*get)(struct conn *);
	size_t		(*parse_get)(const char *, size_t,
			    struct reply *);
	void		(*ack)(struct conn *, const struct reply *);
	size_t		(*parse_ack)(const char *, size_t);
};

/* Shared by all threads; set up before they start. */
static struct options		 opt;
static const struct proto	*proto;
static unsigned int		 nonce;
static atomic_uchar		*seen;		/* a byte per message */
static atomic_long		 claimed;	/* receives issued */
static atomic_long		 acked_puts;
static atomic_long		 received;
static pthread_barrier_t	 start_barrier;
static pthread_mutex_t		 done_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 done_cond = PTHREAD_COND_INITIALIZER;
static int			 threads_done;

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	char	 msg[1024];
	va_list	 ap;

	/* One write: several threads may fail at once. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "jqbench: %s\n", msg);
	_exit(1);
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		die("out of memory");
	return p;
}

static double
now_s(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The reply's first line, for error messages (static buffer). */
static const char *
show(const char *p, size_t n)
{
	static __thread char	 buf[256];
	size_t			 i;

	for (i = 0; i < n && i < sizeof(buf) - 1 && p[i] != '\n'; i++)
		buf[i] = p[i] == '\r' ? ' ' : p[i];
	buf[i] = '\0';
	return buf;
}

/* Connections. */

static void
conn_open(struct conn *c)
{
	struct addrinfo	 hints, *res, *ai;
	int		 rc, one = 1;

	memset(c, 0, sizeof(*c));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(opt.host, opt.port, &hints, &res)) != 0)
		die("%s:%s: %s", opt.host, opt.port, gai_strerror(rc));
	c->fd = -1;
	for (ai = res; ai != NULL && c->fd == -1; ai = ai->ai_next) {
		c->fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (c->fd == -1)
			continue;
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			close(c->fd);
			c->fd = -1;
		}
	}
	freeaddrinfo(res);
	if (c->fd == -1)
		die("connect %s:%s: %s", opt.host, opt.port, strerror(errno));
	/* Requests are small and latency-bound, as in redis-benchmark. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->in_cap = 65536;
	c->in = xrealloc(NULL, c->in_cap);
}

static void
conn_close(struct conn *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
}

static void
conn_append(struct conn *c, const char *p, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		c->out_cap = (c->out_len + n) * 2;
		c->out = xrealloc(c->out, c->out_cap);
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

static void __attribute__((format(printf, 2, 3)))
conn_printf(struct conn *c, const char *fmt, ...)
{
	char	 buf[512];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		die("request too long");
	conn_append(c, buf, (size_t)n);
}

static void
conn_flush(struct conn *c)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (off < c->out_len) {
		n = write(c->fd, c->out + off, c->out_len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			die("write: %s", strerror(errno));
		off += (size_t)n;
	}
	c->out_len = 0;
}

/* Block until more input arrives. */
static void
conn_fill(struct conn *c)
{
	ssize_t	 n;

	if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_len == c->in_cap) {
		c->in_cap *= 2;
		c->in = xrealloc(c->in, c->in_cap);
	}
	do
		n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		die("read: %s", strerror(errno));
	if (n == 0)
		die("server closed the connection");
	c->in_len += (size_t)n;
}

/* Send what is buffered and wait for one whole reply of a simple kind. */
static void
conn_call(struct conn *c, size_t (*parse)(const char *, size_t))
{
	size_t	 n;

	conn_flush(c);
	while ((n = parse(c->in + c->in_off, c->in_len - c->in_off)) == 0)
		conn_fill(c);
	c->in_off += n;
}

/* Parsing helpers. */

/* Length of the line at p with its "\n", or 0 if it has not all arrived. */
static size_t
line_len(const char *p, size_t n)
{
	const char	*nl = memchr(p, '\n', n);

	return nl == NULL ? 0 : (size_t)(nl - p) + 1;
}

static bool
has_prefix(const char *p, size_t n, const char *prefix)
{
	size_t	 len = strlen(prefix);

	return n >= len && memcmp(p, prefix, len) == 0;
}

/*
 * RESP bulk string "$<len>\r\n<data>\r\n" at p: its size in bytes, or 0 if
 * incomplete; the data in *data, *len.
 */
static size_t
resp_bulk(const char *p, size_t n, const char **data, size_t *len)
{
	size_t	 hdr, total;
	char	*end;
	long	 blen;

	if ((hdr = line_len(p, n)) == 0)
		return 0;
	if (p[0] != '$')
		die("redis: expected a bulk string, got '%s'", show(p, n));
	blen = strtol(p + 1, &end, 10);
	if (blen < 0 || *end != '\r')
		die("redis: bad bulk string '%s'", show(p, n));
	total = hdr + (size_t)blen + 2;
	if (n < total)
		return 0;
	*data = p + hdr;
	*len = (size_t)blen;
	return total;
}

/* For the steps a protocol does not need. */
static void
proto_nothing(struct conn *c)
{
}

/* jqd: JSON lines. */

static void
jqd_setup(struct conn *c)
{
	static const char	 ok[] = "\"ok\":true";
	size_t			 n;

	conn_printf(c, "{\"op\":\"make\",\"chan\":\"%s\",\"cap\":%d}\n",
	    QUEUE_NAME, JQD_CAP);
	conn_flush(c);
	while ((n = line_len(c->in + c->in_off, c->in_len - c->in_off)) == 0)
		conn_fill(c);
	if (memmem(c->in + c->in_off, n, ok, sizeof(ok) - 1) == NULL)
		die("jqd: make: '%s'", show(c->in + c->in_off, n));
	c->in_off += n;
}

static void
jqd_put(struct conn *c, const char *msg, size_t len)
{
	static atomic_ulong	 next_key;

	conn_printf(c, "{\"op\":\"send\",\"chan\":\"%s\",\"value\":\"",
	    QUEUE_NAME);
	conn_append(c, msg, len);
	if (opt.keyed)
		conn_printf(c, "\",\"key\":\"k%lu\"}\n",
		    atomic_fetch_add(&next_key, 1));
	else
		conn_append(c, "\"}\n", 3);
}

static size_t
jqd_parse_put(const char *p, size_t n)
{
	static const char	 ok[] = "{\"id\":null,\"ok\":true}";
	size_t			 len;

	if ((len = line_len(p, n)) == 0)
		return 0;
	if (len < sizeof(ok) - 1 || memcmp(p, ok, sizeof(ok) - 1) != 0)
		die("jqd: send: '%s'", show(p, n));
	return len;
}

static void
jqd_get(struct conn *c)
{
	conn_printf(c, "{\"op\":\"recv\",\"chan\":\"%s\"}\n", QUEUE_NAME);
}

static size_t
jqd_parse_get(const char *p, size_t n, struct reply *r)
{
	static const char	 ok[] =
	    "{\"id\":null,\"ok\":true,\"value\":\"";
	const char		*end;
	size_t			 len;

	if ((len = line_len(p, n)) == 0)
		return 0;
	if (len < sizeof(ok) - 1 || memcmp(p, ok, sizeof(ok) - 1) != 0)
		die("jqd: recv: '%s'", show(p, n));
	r->data = p + sizeof(ok) - 1;
	/* Our messages hold no quotes or escapes. */
	end = memchr(r->data, '"', len - (sizeof(ok) - 1));
	if (end == NULL)
		die("jqd: recv: '%s'", show(p, n));
	r->len = (size_t)(end - r->data);
	return len;
}

/* beanstalkd: text protocol. */

static size_t
bs_parse_using(const char *p, size_t n)
{
	size_t	 len;

	if ((len = line_len(p, n)) == 0)
		return 0;
	if (!has_prefix(p, len, "USING "))
		die("beanstalkd: use: '%s'", show(p, n));
	return len;
}

static size_t
bs_parse_watching(const char *p, size_t n)
{
	size_t	 len;

	if ((len = line_len(p, n)) == 0)
		return 0;
	if (!has_prefix(p, len, "WATCHING "))
		die("beanstalkd: watch: '%s'", show(p, n));
	return len;
}

static void
bs_init_producer(struct conn *c)
{
	conn_printf(c, "use %s\r\n", QUEUE_NAME);
	conn_call(c, bs_parse_using);
}

static void
bs_init_consumer(struct conn *c)
{
	conn_printf(c, "watch %s\r\n", QUEUE_NAME);
	conn_call(c, bs_parse_watching);
	conn_printf(c, "ignore default\r\n");
	conn_call(c, bs_parse_watching);
}

static void
bs_put(struct conn *c, const char *msg, size_t len)
{
	conn_printf(c, "put 0 0 %d %zu\r\n", BEANSTALK_TTR, len);
	conn_append(c, msg, len);
	conn_append(c, "\r\n", 2);
}

static size_t
bs_parse_put(const char *p, size_t n)
{
	size_t	 len;

	if ((len = line_len(p, n)) == 0)
		return 0;
	if (!has_prefix(p, len, "INSERTED "))
		die("beanstalkd: put: '%s'", show(p, n));
	return len;
}

static void
bs_get(struct conn *c)
{
	conn_printf(c, "reserve\r\n");
}

static size_t
bs_parse_get(const char *p, size_t n, struct reply *r)
{
	unsigned long	 bytes;
	size_t		 hdr;
	char		*end;

	if ((hdr = line_len(p, n)) == 0)
		return 0;
	if (!has_prefix(p, hdr, "RESERVED "))
		die("beanstalkd: reserve: '%s'", show(p, n));
	r->job = strtoul(p + 9, &end, 10);
	bytes = strtoul(end, &end, 10);
	if (*end != '\r')
		die("beanstalkd: reserve: '%s'", show(p, n));
	if (n < hdr + bytes + 2)
		return 0;
	r->data = p + hdr;
	r->len = bytes;
	return hdr + bytes + 2;
}

static void
bs_ack(struct conn *c, const struct reply *r)
{
	conn_printf(c, "delete %lu\r\n", r->job);
}

static size_t
bs_parse_ack(const char *p, size_t n)
{
	size_t	 len;

	if ((len = line_len(p, n)) == 0)
		return 0;
	if (!has_prefix(p, len, "DELETED\r\n"))
		die("beanstalkd: delete: '%s'", show(p, n));
	return len;
}

/* Redis: RESP. */

static size_t
redis_parse_int(const char *p, size_t n)
{
	size_t	 len;

	if ((len = line_len(p, n)) == 0)
		return 0;
	if (p[0] != ':')
		die("redis: '%s'", show(p, n));
	return len;
}

static void
redis_setup(struct conn *c)
{
	/* A fresh list: leftovers of an aborted run would count twice. */
	conn_printf(c, "*2\r\n$3\r\nDEL\r\n$%zu\r\n%s\r\n",
	    strlen(QUEUE_NAME), QUEUE_NAME);
	conn_call(c, redis_parse_int);
}

static void
redis_put(struct conn *c, const char *msg, size_t len)
{
	conn_printf(c, "*3\r\n$5\r\nLPUSH\r\n$%zu\r\n%s\r\n$%zu\r\n",
	    strlen(QUEUE_NAME), QUEUE_NAME, len);
	conn_append(c, msg, len);
	conn_append(c, "\r\n", 2);
}

static void
redis_get(struct conn *c)
{
	conn_printf(c, "*3\r\n$5\r\nBRPOP\r\n$%zu\r\n%s\r\n$1\r\n0\r\n",
	    strlen(QUEUE_NAME), QUEUE_NAME);
}

static size_t
redis_parse_get(const char *p, size_t n, struct reply *r)
{
	const char	*key;
	size_t		 hdr, klen, a, b;

	if ((hdr = line_len(p, n)) == 0)
		return 0;
	if (!has_prefix(p, hdr, "*2\r\n"))
		die("redis: brpop: '%s'", show(p, n));
	if ((a = resp_bulk(p + hdr, n - hdr, &key, &klen)) == 0)
		return 0;
	b = resp_bulk(p + hdr + a, n - hdr - a, &r->data, &r->len);
	return b == 0 ? 0 : hdr + a + b;
}

static const struct proto protos[] = {
	{ "jqd", jqd_setup, proto_nothing, proto_nothing, jqd_put,
	    jqd_parse_put, jqd_get, jqd_parse_get, NULL, NULL },
	{ "beanstalkd", proto_nothing, bs_init_producer, bs_init_consumer,
	    bs_put, bs_parse_put, bs_get, bs_parse_get, bs_ack, bs_parse_ack },
	{ "redis", redis_setup, proto_nothing, proto_nothing, redis_put,
	    redis_parse_int, redis_get, redis_parse_get, NULL, NULL },
};

/* Messages: "<nonce hex>:<number>xxxx..." of --size bytes. */

static void
msg_format(char *buf, long number)
{
	snprintf(buf, HEADER_LEN + 1, "%08x:%0*ld", nonce, ID_DIGITS, number);
	memset(buf + HEADER_LEN, 'x', (size_t)opt.size - HEADER_LEN);
}

/* Check a received message and mark it seen. */
static void
msg_check(const struct reply *r)
{
	char		 head[HEADER_LEN + 1];
	unsigned int	 got_nonce;
	long		 number;

	if (r->len != (size_t)opt.size)
		die("message of %zu bytes, expected %d", r->len, opt.size);
	memcpy(head, r->data, HEADER_LEN);
	head[HEADER_LEN] = '\0';
	if (sscanf(head, "%8x:%ld", &got_nonce, &number) != 2)
		die("foreign message '%s'", head);
	if (got_nonce != nonce)
		die("message '%s' from another run (queue not empty at start)",
		    head);
	if (number < 0 || number >= opt.messages)
		die("message number out of range: '%s'", head);
	if (atomic_exchange(&seen[number], 1) != 0)
		die("message %ld received twice", number);
}

/* Threads. */

struct worker {
	pthread_t	 thread;
	bool		 producer;
	long		 first;		/* producer: its numbers */
	long		 count;
};

static void
worker_done(void)
{
	pthread_mutex_lock(&done_mu);
	threads_done++;
	pthread_cond_signal(&done_cond);
	pthread_mutex_unlock(&done_mu);
}

static void
produce(struct conn *c, struct worker *w)
{
	char	*msg = xrealloc(NULL, (size_t)opt.size + 1);
	long	 next = 0, done = 0;
	int	 inflight = 0;
	size_t	 n;

	while (done < w->count) {
		while (inflight < opt.pipeline && next < w->count) {
			msg_format(msg, w->first + next++);
			proto->put(c, msg, (size_t)opt.size);
			inflight++;
		}
		conn_flush(c);
		/* Take every reply already here, waiting for at least one. */
		while ((n = proto->parse_put(c->in + c->in_off,
		    c->in_len - c->in_off)) == 0)
			conn_fill(c);
		do {
			c->in_off += n;
			inflight--;
			done++;
			atomic_fetch_add(&acked_puts, 1);
		} while (inflight > 0 && (n = proto->parse_put(c->in +
		    c->in_off, c->in_len - c->in_off)) != 0);
	}
	free(msg);
}

enum pending {
	PENDING_GET,
	PENDING_ACK,
};

/* Consume one reply to the oldest pending request; 0 if incomplete. */
static size_t
consume_reply(struct conn *c, enum pending kind, int *gets)
{
	struct reply	 r;
	const char	*p = c->in + c->in_off;
	size_t		 avail = c->in_len - c->in_off, n;

	if (kind == PENDING_ACK) {
		if ((n = proto->parse_ack(p, avail)) != 0)
			atomic_fetch_add(&received, 1);
		return n;
	}
	if ((n = proto->parse_get(p, avail, &r)) == 0)
		return 0;
	msg_check(&r);
	(*gets)--;
	if (proto->ack != NULL)
		proto->ack(c, &r);
	else
		atomic_fetch_add(&received, 1);
	return n;
}

static void
consume(struct conn *c)
{
	enum pending	*ring;
	size_t		 head = 0, tail = 0, ring_len, n;
	int		 gets = 0;

	/* At most W gets and, for beanstalkd, W deletes in flight. */
	ring_len = 2 * (size_t)opt.pipeline + 1;
	ring = xrealloc(NULL, ring_len * sizeof(*ring));
	for (;;) {
		while (gets < opt.pipeline &&
		    atomic_load(&claimed) < opt.messages &&
		    atomic_fetch_add(&claimed, 1) < opt.messages) {
			proto->get(c);
			gets++;
			ring[tail] = PENDING_GET;
			tail = (tail + 1) % ring_len;
		}
		if (head == tail)
			break;
		conn_flush(c);
		while ((n = consume_reply(c, ring[head], &gets)) == 0)
			conn_fill(c);
		do {
			c->in_off += n;
			if (ring[head] == PENDING_GET && proto->ack != NULL) {
				/* consume_reply() queued its delete last. */
				ring[tail] = PENDING_ACK;
				tail = (tail + 1) % ring_len;
			}
			head = (head + 1) % ring_len;
		} while (head != tail &&
		    (n = consume_reply(c, ring[head], &gets)) != 0);
	}
	free(ring);
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	struct conn	 c;

	conn_open(&c);
	if (w->producer)
		proto->init_producer(&c);
	else
		proto->init_consumer(&c);
	pthread_barrier_wait(&start_barrier);
	if (w->producer)
		produce(&c, w);
	else
		consume(&c);
	conn_close(&c);
	worker_done();
	return NULL;
}

/* Command line. */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: jqbench --proto jqd|beanstalkd|redis --addr HOST:PORT\n"
	    "               [--producers N] [--consumers N] [--messages M]\n"
	    "               [--size BYTES] [--pipeline W] [--timeout SEC]\n"
	    "               [--keyed]   (jqd: every send with a unique key)\n");
	exit(2);
}

static long
number_arg(const char *name, const char *s, long min, long max)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < min || v > max) {
		fprintf(stderr, "jqbench: --%s: want %ld..%ld, got '%s'\n",
		    name, min, max, s);
		exit(2);
	}
	return v;
}

static void
parse_args(int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "proto", required_argument, NULL, 'P' },
		{ "addr", required_argument, NULL, 'a' },
		{ "producers", required_argument, NULL, 'p' },
		{ "consumers", required_argument, NULL, 'c' },
		{ "messages", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 's' },
		{ "pipeline", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "keyed", no_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*addr = NULL;
	char		*colon;
	size_t		 i;
	int		 ch;

	opt.producers = opt.consumers = 1;
	opt.messages = 20000;
	opt.size = 100;
	opt.pipeline = 1;
	opt.timeout_s = 120;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'P':
			opt.proto_name = optarg;
			break;
		case 'a':
			addr = optarg;
			break;
		case 'p':
			opt.producers = (int)number_arg("producers", optarg,
			    1, 1024);
			break;
		case 'c':
			opt.consumers = (int)number_arg("consumers", optarg,
			    1, 1024);
			break;
		case 'm':
			opt.messages = number_arg("messages", optarg, 1,
			    1000000000);
			break;
		case 's':
			opt.size = (int)number_arg("size", optarg,
			    HEADER_LEN, 60000);
			break;
		case 'w':
			opt.pipeline = (int)number_arg("pipeline", optarg,
			    1, 1000);
			break;
		case 't':
			opt.timeout_s = (int)number_arg("timeout", optarg,
			    1, 86400);
			break;
		case 'k':
			opt.keyed = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || opt.proto_name == NULL || addr == NULL)
		usage();
	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (strcmp(protos[i].name, opt.proto_name) == 0)
			proto = &protos[i];
	if (proto == NULL)
		usage();
	if ((colon = strrchr(addr, ':')) == NULL)
		usage();
	opt.host = strndup(addr, (size_t)(colon - addr));
	opt.port = strdup(colon + 1);
	if (opt.host == NULL || opt.port == NULL)
		die("out of memory");
}

/*
 * Wait for all workers; a run that makes no progress for --timeout
 * seconds is reported with its counts and ends with exit 3.
 */
static void
wait_workers(int nthreads)
{
	struct timespec	 deadline;
	long		 last = -1, progress;
	int		 rc;

	pthread_mutex_lock(&done_mu);
	while (threads_done < nthreads) {
		progress = atomic_load(&acked_puts) + atomic_load(&received);
		if (progress != last) {
			last = progress;
			clock_gettime(CLOCK_REALTIME, &deadline);
			deadline.tv_sec += opt.timeout_s;
		}
		rc = pthread_cond_timedwait(&done_cond, &done_mu, &deadline);
		if (rc == ETIMEDOUT && atomic_load(&acked_puts) +
		    atomic_load(&received) == last) {
			fprintf(stderr, "jqbench: no progress for %d s: "
			    "%ld/%ld sends acknowledged, %ld/%ld received, "
			    "%ld receives issued\n", opt.timeout_s,
			    atomic_load(&acked_puts), opt.messages,
			    atomic_load(&received), opt.messages,
			    atomic_load(&claimed) < opt.messages ?
			    atomic_load(&claimed) : opt.messages);
			_exit(3);
		}
	}
	pthread_mutex_unlock(&done_mu);
}

int
main(int argc, char **argv)
{
	struct worker	*workers;
	struct conn	 c;
	double		 t0, secs;
	long		 i, lost = 0;
	int		 nthreads;

	parse_args(argc, argv);
	srandom((unsigned int)time(NULL) ^ (unsigned int)getpid());
	nonce = (unsigned int)random();
	if ((seen = calloc((size_t)opt.messages, sizeof(*seen))) == NULL)
		die("out of memory");

	conn_open(&c);
	proto->setup(&c);
	conn_close(&c);

	nthreads = opt.producers + opt.consumers;
	workers = calloc((size_t)nthreads, sizeof(*workers));
	if (workers == NULL)
		die("out of memory");
	if (pthread_barrier_init(&start_barrier, NULL,
	    (unsigned int)nthreads + 1) != 0)
		die("pthread_barrier_init failed");
	for (i = 0; i < nthreads; i++) {
		struct worker	*w = &workers[i];

		if (i < opt.producers) {
			w->producer = true;
			w->count = opt.messages / opt.producers +
			    (i < opt.messages % opt.producers);
			w->first = i == 0 ? 0 :
			    workers[i - 1].first + workers[i - 1].count;
		}
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
			die("pthread_create failed");
	}
	pthread_barrier_wait(&start_barrier);
	t0 = now_s();
	wait_workers(nthreads);
	secs = now_s() - t0;
	for (i = 0; i < nthreads; i++)
		pthread_join(workers[i].thread, NULL);

	for (i = 0; i < opt.messages; i++)
		lost += seen[i] == 0;
	printf("proto=%s producers=%d consumers=%d pipeline=%d messages=%ld "
	    "size=%d seconds=%.3f msgs_per_sec=%.0f\n", proto->name,
	    opt.producers, opt.consumers, opt.pipeline, opt.messages,
	    opt.size, secs, (double)opt.messages / secs);
	if (atomic_load(&acked_puts) != opt.messages ||
	    atomic_load(&received) != opt.messages || lost != 0) {
		fprintf(stderr, "jqbench: sent %ld, received %ld, missing %ld "
		    "of %ld\n", atomic_load(&acked_puts),
		    atomic_load(&received), lost, opt.messages);
		return 1;
	}
	return 0;
}
