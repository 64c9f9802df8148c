/*
 * link: jq-worker's connection to jqd, on a thread of its own.
 *
 * libjqclient is blocking: connecting (DNS, TCP, the TLS handshake, hello,
 * auth) and writing may wait as long as the network or the server make
 * them.  The agent's event loop supervises processes and must never wait
 * on the network -- above all it must kill its attempts on time (fencing,
 * deadlines) while the server does not answer.  So one thread owns the
 * struct jqc and does all of its I/O; the loop and that thread trade
 * messages through two queues under one mutex, each side woken by an
 * eventfd.  The thread holds no agent state: it dials (with back-off),
 * says hello (multiplexed) and auth, writes what the loop queued, reads
 * replies, and reports.
 *
 * Each connection made has a generation number (1, 2, ...).  The loop
 * learns of it through LINK_UP, tags what it sends with it, and gets the
 * replies with it; a request tagged with another generation than the
 * current connection's is dropped unsent, so nothing meant for a session
 * that is gone reaches the next one.  LINK_DOWN(gen) says the connection
 * gen ended (gen 0: a dial failed); the thread then redials by itself,
 * after a back-off (200 ms doubling to 5 s, with jitter) that resets once
 * a connection got a reply.  The address may be a list, the nodes of one
 * jqd cluster: a dial is then one round through the list (jqc_connect(),
 * the node that served last first), and the back-off follows a round that
 * failed, so after a failover the agent lands on the new node at once.
 *
 * Everything here is called from the loop's thread only; callbacks run on
 * the loop.
 */
#ifndef JQW_LINK_H
#define JQW_LINK_H

#include <stdint.h>

#include <jansson.h>

#include "jqclient.h"

struct event_base;
struct link;

enum link_event {
	LINK_UP,	/* connection gen is ready (hello, auth done) */
	LINK_REPLY,	/* reply (stolen by the callback) to request id */
	LINK_DOWN,	/* connection gen ended, or (gen 0) a dial failed */
};

/*
 * reply: LINK_REPLY only, a new reference the callback owns; id is
 * JQC_MUX_NOID for a reply to no request (a notice before the server
 * closes).  why, borrowed for the call: LINK_DOWN's reason; LINK_UP's
 * address that accepted (one of a list, as written).
 */
typedef void	 link_cb(void *arg, enum link_event ev, uint64_t gen,
		    int64_t id, json_t *reply, const char *why);

struct link_conf {
	const char		*addr;	/* or a list; borrowed for the link's
					   life */
	const char		*token;	/* NULL: no auth */
	const struct jqc_tls	*tls;	/* NULL: as the address says */
};

/* Start the thread; it dials at once.  Fatal on failure. */
struct link	*link_new(struct event_base *base, const struct link_conf *conf,
		    link_cb *cb, void *arg);
/*
 * Queue request (stolen) with id for connection gen.  Never blocks; the
 * request is dropped if gen is not (or no longer) the connection's.
 */
void		 link_send(struct link *l, uint64_t gen, json_t *request,
		    int64_t id);
/* End connection gen (if still current) and redial: LINK_DOWN follows. */
void		 link_reset(struct link *l, uint64_t gen);
/*
 * Stop the thread and free l.  The thread may be stuck in a blocking
 * write to a server that does not read: after wait_ms it is left behind
 * (detached) and l leaked, for a process about to exit.
 */
void		 link_free(struct link *l, int64_t wait_ms);

#endif
