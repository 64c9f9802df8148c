/*
 * TLS contexts and bufferevents for the listeners (see tls.h).  Nothing
 * here does cryptography: OpenSSL does, and libevent's bufferevent_openssl
 * moves its records; this file only configures them.
 */
#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config.h"
#include "log.h"
#include "tls.h"

/* Log "<what>: <option> FILE: OpenSSL's reason" and empty its queue. */
static void
tls_log_file_error(const char *what, const char *option, const char *file)
{
	unsigned long	 e = ERR_peek_last_error();
	char		 reason[256];

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	else
		snprintf(reason, sizeof(reason), "unusable");
	ERR_clear_error();
	log_error("%s: %s %s: %s", what, option, file, reason);
}

SSL_CTX *
tls_ctx_new(const struct config *cfg, const char *what)
{
	SSL_CTX		*ctx;
	STACK_OF(X509_NAME) *names;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatal("out of memory");
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/*
	 * An idle connection keeps no record buffers (about 34 KiB each
	 * way): thousands of clients mostly wait in a recv.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/*
	 * A client that closes without close_notify has closed (an EOF, as
	 * on plain TCP): requests are whole lines, so a cut cannot pass for
	 * a complete one.  libevent 2.1 knows only OpenSSL 1.1's way of
	 * saying it.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		tls_log_file_error(what, "tls-cert", cfg->tls_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key,
	    SSL_FILETYPE_PEM) != 1) {
		tls_log_file_error(what, "tls-key", cfg->tls_key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_log_file_error(what, "tls-key", cfg->tls_key);
		goto fail;
	}
	if (cfg->tls_ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) !=
		    1 || (names = SSL_load_client_CA_file(cfg->tls_ca)) ==
		    NULL) {
			tls_log_file_error(what, "tls-ca", cfg->tls_ca);
			goto fail;
		}
		/* The CA's name, so a client knows which cert to offer. */
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

struct bufferevent *
tls_bev_new(struct event_base *base, SSL_CTX *ctx, int fd)
{
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	/* Takes ssl: freed with bev (BEV_OPT_CLOSE_ON_FREE). */
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

void
tls_bev_error(struct bufferevent *bev, char *buf, size_t len)
{
	unsigned long	 e, first = 0;

	/* Drain them all: they are this connection's, not the next's. */
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		if (first == 0)
			first = e;
	}
	if (first != 0)
		ERR_error_string_n(first, buf, len);
	else
		snprintf(buf, len, "connection lost");
}
