/*
 * TLS for the client listeners ("tls:HOST:PORT" in --listen) and /metrics
 * ("tls:HOST:PORT" in --metrics), with OpenSSL through libevent's
 * bufferevent_openssl.  One SSL_CTX serves them all: the certificate and
 * key of tls-cert and tls-key, TLS 1.2 at least, and, with tls-ca, client
 * certificates signed by that CA required (mutual TLS).  TLS is transport
 * only: the token rule (access.h) and the protocol are the same on a TLS
 * listener.  SIGHUP loads the files again (server.c); a connection keeps
 * the context it was accepted with.
 */
#ifndef JQD_TLS_H
#define JQD_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct bufferevent;
struct config;
struct event_base;

/*
 * A server context from cfg's tls-cert, tls-key and tls-ca.  Returns it
 * (free with SSL_CTX_free), or NULL after logging "<what>: FILE: reason"
 * with OpenSSL's reason.
 */
SSL_CTX		*tls_ctx_new(const struct config *cfg, const char *what);

/*
 * A bufferevent accepting a TLS handshake on fd (-1: evhttp sets it
 * later), closing fd when freed.  A peer that closes without close_notify
 * is an EOF, not an error: clients may just close.  NULL when out of
 * memory.
 */
struct bufferevent *tls_bev_new(struct event_base *base, SSL_CTX *ctx,
		    int fd);

/*
 * Why a TLS bufferevent failed: OpenSSL's first recorded reason, else
 * "connection lost".  Writes into buf.
 */
void		 tls_bev_error(struct bufferevent *bev, char *buf, size_t len);

#endif
