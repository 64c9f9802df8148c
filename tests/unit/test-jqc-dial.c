/*
 * test-jqc-dial: libjqclient's address lists (jqclient.h, "Addresses";
 * client/jqc-dial.c), against stand-ins on 127.0.0.1, no jqd:
 *   - a closed port refuses;
 *   - a listener whose accept queue is full (listen(fd, 0) and one
 *     connection never accepted) drops SYNs, so a connect to it hangs:
 *     a host that is gone, without a network namespace;
 *   - a listener that is never accepted from completes TCP but never
 *     answers a TLS handshake;
 *   - a listener we accept from by hand shows where a dial went, and a
 *     small fake server answers requests (the keyed send's redial).
 * Checked: the syntax of lists, that a dial moves on at each failure and
 * keeps the first that accepts, the per-address bound of a list, no bound
 * for a single address, the message naming every address that failed,
 * the one that served last tried first, and a reconnection going through
 * the list.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-tap.h"
#include "tap.h"

#define TEST_TIMEOUT_S	120	/* the whole run, a hang guard */
#define EVENT_MS	20000	/* something that must happen, happens by */

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
die(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A listener on 127.0.0.1:0 with this backlog; "127.0.0.1:PORT" in buf. */
static int
listen_on(int backlog, char *buf, size_t len)
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof(sin);
	int			fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, backlog) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) == -1)
		die("listener");
	snprintf(buf, len, "127.0.0.1:%d", ntohs(sin.sin_port));
	return fd;
}

/* Close fd if it is one; -1 to store in its place. */
static int
closed(int fd)
{
	if (fd != -1)
		close(fd);
	return -1;
}

/* An address that refuses: a port bound and closed again. */
static void
refusing(char *buf, size_t len)
{
	close(listen_on(1, buf, len));
}

/*
 * A listener whose accept queue is full: Linux then drops SYNs, so a
 * connect to it hangs (*filler: the connection that fills it).
 */
static int
blackhole(int *filler, char *buf, size_t len)
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof(sin);
	int			fd = listen_on(0, buf, len);

	if (getsockname(fd, (struct sockaddr *)&sin, &slen) == -1 ||
	    (*filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(*filler, (struct sockaddr *)&sin, slen) == -1)
		die("blackhole");
	return fd;
}

/* A connection waiting on listener fd within ms: accepted, else -1. */
static int
take(int fd, int ms)
{
	struct pollfd	pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return accept(fd, NULL, NULL);
}

static void
test_syntax(void)
{
	char	errbuf[256], one[64];

	ok(jqc_check_addr("127.0.0.1:1,[::1]:2, tls:h:3 ,unix:/x,/y",
	    errbuf, sizeof(errbuf)) == 0, "a list of every form is valid");
	ok(jqc_check_addr("127.0.0.1:1,,b:2", errbuf, sizeof(errbuf)) == -1,
	    "an empty address in a list is refused");
	is_str(errbuf, "address 2 of 3: empty address", "... naming its place");
	ok(jqc_check_addr("a:1,[b", errbuf, sizeof(errbuf)) == -1 &&
	    strncmp(errbuf, "address 2 of 2: address '[b' must be", 36) == 0,
	    "a bad address in a list: %s", errbuf);
	ok(jqc_check_addr("[b", errbuf, sizeof(errbuf)) == -1 &&
	    strncmp(errbuf, "address '[b' must be", 20) == 0,
	    "a single bad address: the message as before: %s", errbuf);
	ok(jqc_check_addr("b,[::1],tls:c,tls:[::1]", errbuf,
	    sizeof(errbuf)) == 0, "no port: the default one (%s)",
	    JQC_DEFAULT_PORT);
	ok(jqc_check_addr("::1", errbuf, sizeof(errbuf)) == -1,
	    "IPv6 without brackets is still refused");
	ok(jqc_check_addr("a:1,", errbuf, sizeof(errbuf)) == -1,
	    "a trailing comma is an empty address");
	ok(jqc_addr_is_unix("unix:/a,/b") && !jqc_addr_is_unix("/a,h:1") &&
	    jqc_addr_is_unix("/a"), "addr_is_unix: every address");
	ok(jqc_addr_nth("a:1, tls:b:2 ,c:3", 1, one, sizeof(one)) == 0 &&
	    strcmp(one, "tls:b:2") == 0, "addr_nth: trimmed");
	ok(jqc_addr_nth("a:1,b:2", 2, one, sizeof(one)) == -1,
	    "addr_nth: past the end");
	ok(jqc_addr_nth("a:1", 0, one, 3) == -1, "addr_nth: too long");
}

/*
 * Refused and unresolvable addresses are passed over (a service name
 * that does not exist: resolving it asks no DNS server); all failing.
 */
static void
test_refused(void)
{
	char		 r1[64], r2[64], l[64], list[256], errbuf[1024];
	struct jqc	*c;
	int		 lfd, fd = -1;

	refusing(r1, sizeof(r1));
	refusing(r2, sizeof(r2));
	lfd = listen_on(4, l, sizeof(l));
	snprintf(list, sizeof(list), "%s,127.0.0.1:nosuchservice,%s", r1, l);
	c = jqc_connect(list, errbuf, sizeof(errbuf));
	ok(c != NULL, "refused, unresolvable, listening: connected%s%s",
	    c == NULL ? ": " : "", c == NULL ? errbuf : "");
	ok((fd = take(lfd, EVENT_MS)) != -1, "... to the one listening");
	jqc_close(c);
	fd = closed(fd);
	close(lfd);

	snprintf(list, sizeof(list), "%s,%s", r1, r2);
	ok(jqc_connect(list, errbuf, sizeof(errbuf)) == NULL,
	    "every address refuses: no connection");
	ok(strncmp(errbuf, "cannot connect to any of the 2 addresses: ",
	    42) == 0 && strstr(errbuf, r1) != NULL &&
	    strstr(errbuf, r2) != NULL && strstr(errbuf, "; ") != NULL &&
	    strstr(errbuf, "refused") != NULL, "... the message names each: "
	    "%s", errbuf);
	ok(jqc_connect(r1, errbuf, sizeof(errbuf)) == NULL &&
	    strncmp(errbuf, "cannot connect to ", 18) == 0 &&
	    strstr(errbuf, "any of") == NULL,
	    "a single address: the message as before: %s", errbuf);
}

/* A connect that hangs costs a list JQC_DIAL_TIMEOUT_MS, then on. */
static void
test_connect_timeout(void)
{
	char		 h[64], l[64], r[64], list[256], errbuf[1024];
	struct jqc	*c;
	long long	 t0, ms;
	int		 hfd, filler, lfd, fd = -1;

	hfd = blackhole(&filler, h, sizeof(h));
	lfd = listen_on(4, l, sizeof(l));
	snprintf(list, sizeof(list), "%s,%s", h, l);
	t0 = now_ms();
	c = jqc_connect(list, errbuf, sizeof(errbuf));
	ms = now_ms() - t0;
	ok(c != NULL && (fd = take(lfd, EVENT_MS)) != -1,
	    "hanging, listening: connected to the second%s%s",
	    c == NULL ? ": " : "", c == NULL ? errbuf : "");
	ok(ms >= JQC_DIAL_TIMEOUT_MS - 100 && ms < EVENT_MS,
	    "... after the hanging one's %d ms (%lld ms)",
	    JQC_DIAL_TIMEOUT_MS, ms);
	jqc_close(c);
	fd = closed(fd);
	close(lfd);

	refusing(r, sizeof(r));
	snprintf(list, sizeof(list), "%s,%s", r, h);
	ok(jqc_connect(list, errbuf, sizeof(errbuf)) == NULL &&
	    strstr(errbuf, h) != NULL && strstr(errbuf, "timed out") != NULL,
	    "refused, hanging: %s", errbuf);
	close(filler);
	close(hfd);
}

struct late_accept {
	int	 lfd;
	int	 filler;
	int	 after_ms;
};

/* Make room in a full accept queue after a while: a slow server. */
static void *
late_accept_cb(void *arg)
{
	struct late_accept	*la = arg;
	struct timespec		 ts = { la->after_ms / 1000,
				    (la->after_ms % 1000) * 1000000L };
	int			 fd;

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	if ((fd = accept(la->lfd, NULL, NULL)) != -1)
		fd = closed(fd);
	return NULL;
}

/*
 * A single address is not bounded: a server that makes room only after
 * JQC_DIAL_TIMEOUT_MS is still connected to (the SYN resent at 3 s gets
 * through).
 */
static void
test_single_unbounded(void)
{
	struct late_accept	 la;
	pthread_t		 t;
	char			 h[64], errbuf[512];
	struct jqc		*c;
	long long		 t0, ms;

	la.lfd = blackhole(&la.filler, h, sizeof(h));
	la.after_ms = JQC_DIAL_TIMEOUT_MS + 500;
	if (pthread_create(&t, NULL, late_accept_cb, &la) != 0)
		die("pthread_create");
	t0 = now_ms();
	c = jqc_connect(h, errbuf, sizeof(errbuf));
	ms = now_ms() - t0;
	ok(c != NULL && ms > JQC_DIAL_TIMEOUT_MS,
	    "a single address waits past %d ms (%lld ms)%s%s",
	    JQC_DIAL_TIMEOUT_MS, ms, c == NULL ? ": " : "",
	    c == NULL ? errbuf : "");
	pthread_join(t, NULL);
	jqc_close(c);
	close(la.filler);
	close(la.lfd);
}

/* A peer that never answers the TLS handshake: bounded in a list too. */
static void
test_handshake_timeout(void)
{
	struct jqc_tls	 tls = { .insecure_skip_verify = true };
	char		 s[64], r[64], list[256], errbuf[1024];
	long long	 t0, ms;
	int		 sfd;

	sfd = listen_on(4, s, sizeof(s));
	refusing(r, sizeof(r));
	snprintf(list, sizeof(list), "tls:%s,%s", s, r);
	t0 = now_ms();
	ok(jqc_connect_tls(list, &tls, errbuf, sizeof(errbuf)) == NULL,
	    "silent TLS peer, refused: no connection");
	ms = now_ms() - t0;
	ok(strstr(errbuf, "no handshake") != NULL && strstr(errbuf, s) !=
	    NULL && strstr(errbuf, r) != NULL, "... both named: %s", errbuf);
	ok(ms >= JQC_DIAL_TIMEOUT_MS - 100 && ms < EVENT_MS,
	    "... the handshake given up after %d ms (%lld ms)",
	    JQC_DIAL_TIMEOUT_MS, ms);
	close(sfd);

	snprintf(list, sizeof(list), "tls:%s,unix:/nonexistent", r);
	ok(jqc_connect(list, errbuf, sizeof(errbuf)) == NULL &&
	    strcmp(errbuf, "TLS is for TCP addresses, not "
	    "'unix:/nonexistent'") == 0,
	    "a tls: address makes the whole list TLS: %s", errbuf);
}

/* The address that served last is tried first, then the list in order. */
static void
test_served_first(void)
{
	char		 l1[64], l2[64], list[256], errbuf[512];
	struct jqc	*c;
	int		 fd1, fd2, fd = -1;

	fd1 = listen_on(4, l1, sizeof(l1));
	fd2 = listen_on(4, l2, sizeof(l2));
	snprintf(list, sizeof(list), "%s,%s", l1, l2);

	c = jqc_connect(list, errbuf, sizeof(errbuf));
	ok(c != NULL && (fd = take(fd1, EVENT_MS)) != -1 && take(fd2, 0) == -1,
	    "neither served yet: the first");
	jqc_close(c);
	fd = closed(fd);

	if ((c = jqc_connect(l2, errbuf, sizeof(errbuf))) == NULL ||
	    (fd = take(fd2, EVENT_MS)) == -1)
		die("connect to the second alone");
	jqc_close(c);
	fd = closed(fd);
	c = jqc_connect(list, errbuf, sizeof(errbuf));
	ok(c != NULL && (fd = take(fd2, EVENT_MS)) != -1 && take(fd1, 0) == -1,
	    "the second served last: it first");
	jqc_close(c);
	fd = closed(fd);

	close(fd2);
	c = jqc_connect(list, errbuf, sizeof(errbuf));
	ok(c != NULL && (fd = take(fd1, EVENT_MS)) != -1,
	    "the one that served last refuses now: the next");
	jqc_close(c);
	fd = closed(fd);
	close(fd1);
}

/*
 * A fake server: accepts one connection and answers each request line
 * {"id": N, ...} with {"id": N, "ok": true}, keeping the last request.
 */
struct fake {
	int		 lfd;
	char		 addr[64];
	pthread_t	 thread;
	char		 last[4096];
};

static void *
fake_serve_cb(void *arg)
{
	struct fake	*f = arg;
	char		 buf[sizeof(f->last)], reply[128], *nl;
	size_t		 len = 0;
	ssize_t		 n;
	json_t		*req;
	int		 fd;

	if ((fd = take(f->lfd, EVENT_MS)) == -1)
		return NULL;
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += n;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			snprintf(f->last, sizeof(f->last), "%s", buf);
			req = json_loads(buf, 0, NULL);
			snprintf(reply, sizeof(reply), "{\"id\":%lld,"
			    "\"ok\":true}\n", (long long)json_integer_value(
			    json_object_get(req, "id")));
			json_decref(req);
			if (write(fd, reply, strlen(reply)) == -1)
				break;
			len -= nl + 1 - buf;
			memmove(buf, nl + 1, len + 1);
		}
	}
	fd = closed(fd);
	return NULL;
}

/*
 * A keyed send whose connection is lost redials the list: the node it
 * was on refuses now (a failover), the next one gets the send.
 */
static void
test_redial(void)
{
	struct fake	 f;
	char		 a[64], list[256], errbuf[512];
	struct jqc	*c;
	bool		 dup = true;
	int		 afd, fd = -1;

	memset(&f, 0, sizeof(f));
	afd = listen_on(4, a, sizeof(a));
	f.lfd = listen_on(4, f.addr, sizeof(f.addr));
	snprintf(list, sizeof(list), "%s,%s", a, f.addr);
	if ((c = jqc_connect(list, errbuf, sizeof(errbuf))) == NULL ||
	    (fd = take(afd, EVENT_MS)) == -1)
		die("connect to the first");
	if (pthread_create(&f.thread, NULL, fake_serve_cb, &f) != 0)
		die("pthread_create");
	/* The first node goes: its connections close, it refuses. */
	fd = closed(fd);
	close(afd);
	succeeds(c, jqc_send_keyed(c, "q", "1", "k-1", JQC_FOREVER, &dup),
	    "a keyed send across the loss of its node");
	jqc_close(c);
	pthread_join(f.thread, NULL);
	ok(strstr(f.last, "\"op\":\"send\"") != NULL &&
	    strstr(f.last, "\"key\":\"k-1\"") != NULL,
	    "... went to the next node: %s", f.last);
	close(f.lfd);
}

/* A Unix socket in a list, and one that is not there. */
static void
test_unix(void)
{
	struct sockaddr_un	 sun;
	char			 dir[] = "/tmp/test-jqc-dial-XXXXXX";
	char			 list[256], errbuf[512];
	struct jqc		*c;
	int			 lfd, fd = -1;

	if (mkdtemp(dir) == NULL)
		die("mkdtemp");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s", dir);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(lfd, 4) == -1)
		die("unix listener");
	snprintf(list, sizeof(list), "%s/none, unix:%s", dir, sun.sun_path);
	c = jqc_connect(list, errbuf, sizeof(errbuf));
	ok(c != NULL && (fd = take(lfd, EVENT_MS)) != -1,
	    "missing socket, socket: connected to the second%s%s",
	    c == NULL ? ": " : "", c == NULL ? errbuf : "");
	jqc_close(c);
	fd = closed(fd);
	close(lfd);
	unlink(sun.sun_path);
	rmdir(dir);
}

int
main(void)
{
	alarm(TEST_TIMEOUT_S);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_syntax();
	test_refused();
	test_connect_timeout();
	test_single_unbounded();
	test_handshake_timeout();
	test_served_first();
	test_redial();
	test_unix();
	return done_testing();
}
