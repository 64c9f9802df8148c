/*
 * conn-opts: where the server is and how to reach it, from the command
 * line and the environment -- the options jq-client and jq-worker share,
 * so that both take the same ones and mean the same:
 *   -H HOST[:PORT] (or tls:HOST[:PORT]; --host), -S PATH (--socket),
 *   else JQ_ADDR, else the default socket (jqc_default_addr); each of
 *   them may be a list separated by commas (jqclient.h: the jqd nodes of
 *   one database), -S a list of paths;
 *   --token-file FILE, else JQ_TOKEN (the token itself; empty: none),
 *   else JQ_TOKEN_FILE (a file), else over TCP the token file this
 *   user's jqd made (jqc_default_token_file), if any;
 *   --tls, --tls-ca FILE, --tls-cert FILE, --tls-key FILE (also as
 *   --opt=FILE), JQ_TLS=1, JQ_TLS_CA, JQ_TLS_CERT, JQ_TLS_KEY; a tls:
 *   address turns TLS on too (for the whole list).
 * A caller feeds each argument to conn_opts_arg() and, after the last,
 * calls conn_opts_settle() to decide.  Errors come back as text in errbuf
 * (the caller prefixes its name and exits with its usage status).
 */
#ifndef JQ_CONN_OPTS_H
#define JQ_CONN_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "jqclient.h"

struct conn_opts {
	/* As given (borrowed from argv); NULL: not given. */
	const char	*host;
	const char	*sock;
	const char	*token_file;
	/* Settled by conn_opts_settle(). */
	char		*addr;		/* owned */
	char		*token;		/* owned; NULL: no auth */
	char		*token_source;	/* owned: where the token came from,
					   for messages ("JQ_TOKEN"), or NULL */
	bool		 tls_on;
	struct jqc_tls	 tls;		/* files borrowed from argv/environ */
};

/*
 * The option at argv[*i], if it is one of ours: 1 (*i moved past its
 * value), 0 when it is not ours, -1 with a message when its value is
 * missing.
 */
int	 conn_opts_arg(struct conn_opts *o, int argc, char **argv, int *i,
	    char *errbuf, size_t errlen);
/*
 * Decide the address, TLS and token from the options and the
 * environment (reading the token file).  0, or -1 with a message.
 */
int	 conn_opts_settle(struct conn_opts *o, char *errbuf, size_t errlen);
/* The TLS options for jqc_connect_tls(): NULL when TLS is off. */
const struct jqc_tls *conn_opts_tls(const struct conn_opts *o);
/* Release what settle made (o may be zeroed). */
void	 conn_opts_fini(struct conn_opts *o);

#endif
