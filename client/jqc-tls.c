/*
 * jqc-tls: TLS for libjqclient's blocking connections, with OpenSSL
 * (jqclient.h, "TLS").  A struct jqc_tls_conf is the caller's struct
 * jqc_tls copied, with the SSL_CTX made from it once: every dial of a
 * connection (the first, jqc__redial's) starts a new session from it.
 *
 * Verification is on unless the caller opts out by name: the chain must
 * lead to the CA file (or the system's store), and the certificate must
 * name the host dialled (or server_name) -- an IP address as an IP SAN, a
 * name as a DNS one -- and a name goes out as SNI.
 *
 * A TLS socket is non-blocking: SSL_read may need to write and SSL_write
 * to read, so "blocking" here is a loop around poll.  That also lets
 * jqc__wait_line poll the socket like a plain one, once it has asked
 * jqc__link_pending() about records OpenSSL already decrypted.  Writes
 * block SIGPIPE around OpenSSL's write(), which cannot pass MSG_NOSIGNAL:
 * a closed peer is an error, as with send(MSG_NOSIGNAL), and the
 * process's signal handling is left as it was.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "jqclient.h"
#include "jqc-private.h"

/*
 * A handshake that takes longer is given up: the peer is not a jqd.  (A
 * dial of an address list bounds it tighter, jqc-dial.c.)
 */
#define JQC_TLS_HANDSHAKE_MS	30000

struct jqc_tls_conf {
	SSL_CTX		*ctx;
	char		*server_name;	/* NULL: the address's host */
	bool		 verify;
};

/* OpenSSL's reason for the last failure (emptying its queue), or dflt. */
static void
ssl_reason(char *buf, size_t len, const char *dflt)
{
	unsigned long	 e = ERR_peek_last_error();

	if (e != 0) {
		const char	*r = ERR_reason_error_string(e);

		if (r != NULL)
			snprintf(buf, len, "%s", r);
		else
			ERR_error_string_n(e, buf, len);
	} else
		snprintf(buf, len, "%s", dflt);
	ERR_clear_error();
}

static int
conf_fail(struct jqc_tls_conf *conf, char *errbuf, size_t errlen,
    const char *what, const char *file)
{
	char	 reason[256];

	ssl_reason(reason, sizeof(reason), "unusable");
	jqc__errbuf_set(errbuf, errlen, "TLS %s %s: %s", what, file, reason);
	jqc__tls_conf_free(conf);
	return -1;
}

struct jqc_tls_conf *
jqc__tls_conf_new(const struct jqc_tls *opts, char *errbuf, size_t errlen)
{
	static const struct jqc_tls	 dflt;
	struct jqc_tls_conf		*conf;

	if (opts == NULL)
		opts = &dflt;
	ERR_clear_error();
	if ((conf = calloc(1, sizeof(*conf))) == NULL ||
	    (conf->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    (opts->server_name != NULL &&
	    (conf->server_name = strdup(opts->server_name)) == NULL)) {
		jqc__errbuf_set(errbuf, errlen, "out of memory");
		jqc__tls_conf_free(conf);
		return NULL;
	}
	conf->verify = !opts->insecure_skip_verify;
	(void)SSL_CTX_set_min_proto_version(conf->ctx, TLS1_2_VERSION);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* A server gone without close_notify: an EOF; replies are lines. */
	SSL_CTX_set_options(conf->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	SSL_CTX_set_verify(conf->ctx, conf->verify ? SSL_VERIFY_PEER :
	    SSL_VERIFY_NONE, NULL);
	if (opts->ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(conf->ctx, opts->ca_file,
		    NULL) != 1) {
			conf_fail(conf, errbuf, errlen, "CA file",
			    opts->ca_file);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(conf->ctx) != 1) {
		conf_fail(conf, errbuf, errlen, "system CA store", "");
		return NULL;
	}
	if (opts->cert_file != NULL) {
		const char	*key = opts->key_file != NULL ?
				    opts->key_file : opts->cert_file;

		if (SSL_CTX_use_certificate_chain_file(conf->ctx,
		    opts->cert_file) != 1) {
			conf_fail(conf, errbuf, errlen, "certificate",
			    opts->cert_file);
			return NULL;
		}
		if (SSL_CTX_use_PrivateKey_file(conf->ctx, key,
		    SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(conf->ctx) != 1) {
			conf_fail(conf, errbuf, errlen, "key", key);
			return NULL;
		}
	} else if (opts->key_file != NULL) {
		jqc__errbuf_set(errbuf, errlen, "TLS key %s without a certificate",
		    opts->key_file);
		jqc__tls_conf_free(conf);
		return NULL;
	}
	return conf;
}

void
jqc__tls_conf_free(struct jqc_tls_conf *conf)
{
	if (conf == NULL)
		return;
	SSL_CTX_free(conf->ctx);
	free(conf->server_name);
	free(conf);
}

/*
 * Wait until fd is ready for what OpenSSL asked (err: SSL_ERROR_WANT_*),
 * at most timeout_ms (-1: no limit).  0, or -1 on timeout or poll failure
 * (errno set).
 */
static int
wait_for(int fd, int err, int timeout_ms)
{
	struct pollfd	 pfd;
	int		 n;

	pfd.fd = fd;
	pfd.events = err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
	do
		n = poll(&pfd, 1, timeout_ms);
	while (n == -1 && errno == EINTR);
	if (n == 0)
		errno = ETIMEDOUT;
	return n == 1 ? 0 : -1;
}

/*
 * Why the handshake failed: the certificate's verdict when there is one,
 * else OpenSSL's reason, else the socket's.
 */
static void
handshake_error(SSL *ssl, int err, const char *peer, char *errbuf,
    size_t errlen)
{
	long	 v = SSL_get_verify_result(ssl);
	char	 reason[256];

	if (v != X509_V_OK) {
		ERR_clear_error();
		jqc__errbuf_set(errbuf, errlen, "TLS with %s: certificate verify "
		    "failed: %s", peer, X509_verify_cert_error_string(v));
		return;
	}
	if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		jqc__errbuf_set(errbuf, errlen, "TLS with %s: connection closed "
		    "during the handshake%s%s", peer, errno != 0 ? ": " : "",
		    errno != 0 ? strerror(errno) : "");
		return;
	}
	ssl_reason(reason, sizeof(reason), "handshake failed");
	jqc__errbuf_set(errbuf, errlen, "TLS with %s: %s", peer, reason);
}

/* Is name an IPv4 or IPv6 address (then verified as an IP SAN)? */
static bool
is_ip(const char *name)
{
	unsigned char	 buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, buf) == 1 ||
	    inet_pton(AF_INET6, name, buf) == 1;
}

int
jqc__tls_start(struct jqc_tls_conf *conf, int fd, const char *host,
    const char *peer, int timeout_ms, struct ssl_st **out, char *errbuf,
    size_t errlen)
{
	const char	*name = conf->server_name != NULL ?
			    conf->server_name : host;
	long long	 deadline;
	SSL		*ssl;
	int		 rc, err, flags;

	*out = NULL;
	if (timeout_ms < 0)
		timeout_ms = JQC_TLS_HANDSHAKE_MS;
	deadline = jqc__monotonic_ms() + timeout_ms;
	ERR_clear_error();
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		jqc__errbuf_set(errbuf, errlen, "fcntl: %s", strerror(errno));
		return -1;
	}
	if ((ssl = SSL_new(conf->ctx)) == NULL || SSL_set_fd(ssl, fd) != 1) {
		jqc__errbuf_set(errbuf, errlen, "out of memory");
		SSL_free(ssl);
		return -1;
	}
	if (conf->verify) {
		if (is_ip(name))
			rc = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
			    name);
		else {
			SSL_set_hostflags(ssl,
			    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			rc = SSL_set1_host(ssl, name);
		}
		if (rc != 1) {
			jqc__errbuf_set(errbuf, errlen, "TLS: bad server name '%s'",
			    name);
			SSL_free(ssl);
			return -1;
		}
	}
	/* SNI carries names only (RFC 6066). */
	if (!is_ip(name))
		(void)SSL_set_tlsext_host_name(ssl, name);
	for (;;) {
		errno = 0;
		if ((rc = SSL_connect(ssl)) == 1)
			break;
		err = SSL_get_error(ssl, rc);
		if ((err == SSL_ERROR_WANT_READ ||
		    err == SSL_ERROR_WANT_WRITE) &&
		    wait_for(fd, err, (int)(deadline - jqc__monotonic_ms() > 0 ?
		    deadline - jqc__monotonic_ms() : 0)) == 0)
			continue;
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			jqc__errbuf_set(errbuf, errlen, "TLS with %s: no handshake "
			    "in %.1f s", peer, timeout_ms / 1000.0);
		else
			handshake_error(ssl, err, peer, errbuf, errlen);
		SSL_free(ssl);
		return -1;
	}
	*out = ssl;
	return 0;
}

size_t
jqc__tls_pending(struct ssl_st *ssl)
{
	return ssl != NULL ? (size_t)SSL_pending(ssl) : 0;
}

/*
 * An I/O failure's message.  A TLS 1.3 server that refuses the client's
 * certificate says so only after the handshake, at the first read: its
 * alert is the reason.
 */
static void
io_error(SSL *ssl, int err, const char *what, char *errbuf, size_t errlen)
{
	char	 reason[256];

	if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		jqc__errbuf_set(errbuf, errlen, "%s server: %s", what,
		    errno != 0 ? strerror(errno) : "connection lost");
		return;
	}
	ssl_reason(reason, sizeof(reason), "TLS failure");
	jqc__errbuf_set(errbuf, errlen, "%s server: TLS: %s", what, reason);
}

/*
 * SIGPIPE blocked around OpenSSL's writes; one it raised is taken before
 * the mask is restored, one the caller had pending is left alone.
 */
struct sigpipe_guard {
	sigset_t	 set, old;
	bool		 was_pending;
};

static void
sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t	 pending;

	sigemptyset(&g->set);
	sigaddset(&g->set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &g->set, &g->old);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE);
}

static void
sigpipe_restore(struct sigpipe_guard *g)
{
	struct timespec	 zero = { 0, 0 };
	sigset_t	 pending;

	if (!g->was_pending) {
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE))
			(void)sigtimedwait(&g->set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

ssize_t
jqc__tls_read(struct ssl_st *ssl, void *buf, size_t len, bool wait,
    char *errbuf, size_t errlen)
{
	int	 n, err;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		n = SSL_read(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
		if (n > 0)
			return n;
		err = SSL_get_error(ssl, n);
		if (err == SSL_ERROR_ZERO_RETURN ||
		    (err == SSL_ERROR_SYSCALL && errno == 0 &&
		    ERR_peek_error() == 0))
			return 0;	/* close_notify, or a plain EOF */
		if (err == SSL_ERROR_WANT_READ && !wait)
			return -2;
		if ((err == SSL_ERROR_WANT_READ ||
		    err == SSL_ERROR_WANT_WRITE) &&
		    wait_for(SSL_get_fd(ssl), err, -1) == 0)
			continue;
		io_error(ssl, err, "read from", errbuf, errlen);
		return -1;
	}
}

int
jqc__tls_write(struct ssl_st *ssl, const void *buf, size_t len,
    char *errbuf, size_t errlen)
{
	struct sigpipe_guard	 guard;
	int			 n, err, rc = 0;

	sigpipe_block(&guard);
	while (len > 0) {
		ERR_clear_error();
		errno = 0;
		n = SSL_write(ssl, buf, len > INT32_MAX ? INT32_MAX :
		    (int)len);
		if (n > 0) {
			buf = (const char *)buf + n;
			len -= (size_t)n;
			continue;
		}
		err = SSL_get_error(ssl, n);
		if ((err == SSL_ERROR_WANT_READ ||
		    err == SSL_ERROR_WANT_WRITE) &&
		    wait_for(SSL_get_fd(ssl), err, -1) == 0)
			continue;
		io_error(ssl, err, "write to", errbuf, errlen);
		rc = -1;
		break;
	}
	sigpipe_restore(&guard);
	return rc;
}

void
jqc__tls_close(struct ssl_st *ssl)
{
	struct sigpipe_guard	 guard;

	if (ssl == NULL)
		return;
	/* close_notify, if the socket takes it now; no waiting for theirs. */
	sigpipe_block(&guard);
	(void)SSL_shutdown(ssl);
	sigpipe_restore(&guard);
	ERR_clear_error();
	SSL_free(ssl);
}
