/*
 * The one context: event base, configuration, listeners, connections,
 * channels and figures.  Everything the daemon knows is reachable from
 * struct server, and only the event loop's thread touches it.
 */
#ifndef JQD_SERVER_H
#define JQD_SERVER_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "chan.h"
#include "chanmap.h"
#include "dedup.h"
#include "job.h"
#include "metrics.h"
#include "worker.h"

struct config;
struct call;
struct conn;
struct conn_peer;
struct event;
struct event_base;
struct listener;
struct metrics;
struct store;

TAILQ_HEAD(conn_list, conn);
TAILQ_HEAD(listener_list, listener);
TAILQ_HEAD(delivery_list, delivery);
TAILQ_HEAD(job_wait_list, job_wait);

struct server {
	struct event_base	*base;
	const struct config	*cfg;		/* borrowed from main */
	char			*token;		/* NULL: none, see access.h */
	size_t			 token_len;
	char			*token_path;	/* the file it came from */
	struct access		 access;
	bool			 has_tcp;	/* a TCP listener is open */
	struct ssl_ctx_st	*tls_ctx;	/* tls: listeners; NULL: none */

	struct listener_list	 listeners;
	struct conn_list	 conns;
	struct conn_list	 held;		/* replies wait for a commit */
	uint64_t		 nconns;
	uint64_t		 nunauth;	/* not authenticated yet */
	uint64_t		 conns_total;
	uint64_t		 nparked;	/* requests blocked now */

	struct chanmap		 chans;
	struct chan_totals	 totals;
	uint32_t		 lease_boot;	/* lease strings' tag (stored) */
	struct dedup		 dedup;		/* keys of idempotent sends */

	struct jobs		 jobs;
	struct workers		 workers;	/* agents (worker.c) */
	char			*job_dir;
	struct delivery_list	 deliveries;	/* results waiting for room */
	struct job_wait_list	 job_waits;	/* parked `wait`, `watch` */
	size_t			 njob_watches;	/* `watch`es among them */

	struct metrics		*metrics;	/* --metrics; NULL: off */
	struct histogram	 commit_hist;
	struct histogram	 job_hist;
	int			 argc;		/* for reloading (SIGHUP) */
	char			**argv;

	/*
	 * Replies that acknowledge a change wait until the store has
	 * committed it: a reply stamped with commit sequence n is written
	 * once durable_seq >= n.  Sequence 0 needs no commit.
	 */
	uint64_t		 durable_seq;
	struct store		*store;

	uint64_t		*op_counts;	/* by dispatch table index */
	int64_t			 start_ms;	/* monotonic */

	struct event		*ev_sigterm;
	struct event		*ev_sigint;
	struct event		*ev_sighup;
	struct event		*ev_stop;	/* drains replies, then exits */
	struct event		*ev_fence;	/* a shared store stalled? */
	struct conn_list	 writing;	/* output to write this turn */
	struct event		*ev_write;	/* conn_write_pending */
	int64_t			 stop_started_ms;
	int64_t			 stop_deadline_ms;
	bool			 jobs_stopped;
	bool			 stopping;
	/* Another jqd is active on the database: not serving (yet). */
	bool			 standby;
	int			 exit_status;	/* server_run's, once set */
};

/* Monotonic milliseconds. */
int64_t		 server_now_ms(void);

/*
 * Build the server: open the store and every listener, load the token.
 * Returns NULL after logging why (the caller exits non-zero).
 */
struct server	*server_new(const struct config *cfg, int argc,
		    char **argv);
/* Run the event loop until a stop completes.  Returns the exit status. */
int		 server_run(struct server *s);
void		 server_free(struct server *s);

/* Begin a graceful stop (SIGTERM/SIGINT). */
void		 server_stop(struct server *s);

/*
 * A new client socket from a listener; enforces max_connections and
 * max_unauthenticated, and turns away an untrusted peer when there is no
 * token it could send.
 */
void		 server_accept(struct server *s, int fd,
		    const struct conn_peer *peer);

/*
 * Is token (len bytes, NUL bytes and all) the server's token?  Takes time
 * that depends on len only, not on how much of it matches, so timing
 * guesses teach nothing.  Only when a token is configured (s->token).
 */
bool		 server_token_matches(const struct server *s,
		    const char *token, size_t len);

/*
 * Answer call with `internal` if the store cannot take changes right now.
 * Handlers that change durable state call this before acting.
 */
bool		 server_refuse_writes(struct server *s, struct call *call);

/* Remove and free a channel, failing its waiters with not_found. */
void		 server_drop_chan(struct server *s, struct chan *ch);

#endif
