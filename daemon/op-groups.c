/*
 * `group` and `groups` (PROTOCOL.md 11.14, 11.27): a group's counts by
 * state and its progress, for one group or for a page of groups sorted by
 * name.  Both replies are short whatever the groups' sizes: counts, no
 * result objects.
 *
 * The groups live in a hash (jobs->groups), with no order to resume from,
 * so a page is chosen by one pass over them (namepage.h: the `limit`
 * smallest names greater than `after`, memory in the page).
 * `waiters` comes from one pass over the parked `wait`s and `watch`es
 * (server->job_waits), each group name looked up in the sorted page.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conn.h"
#include "dispatch.h"
#include "job.h"
#include "log.h"
#include "namepage.h"
#include "op-job.h"
#include "server.h"

#define GROUPS_LIMIT_MAX	1000
#define GROUPS_LIMIT_DEF	100

/*
 * The summary of group name (g: its record, NULL: no retained job) as
 * `group` answers it, members added to r: the name, total, a count per
 * state and the progress sums.
 */
static void
op_group_summary(json_t *r, const char *name, const struct jgroup *g)
{
	const struct job	*j;
	int64_t			 done = 0, total = 0;
	int			 i;

	json_object_set_new(r, "group", json_string(name));
	json_object_set_new(r, "total", json_integer(g != NULL ?
	    (json_int_t)g->total : 0));
	for (i = 0; i < JOB_NSTATES; i++)
		json_object_set_new(r, job_state_name((enum job_state)i),
		    json_integer(g != NULL ? (json_int_t)g->count[i] : 0));
	if (g != NULL) {
		TAILQ_FOREACH(j, &g->jobs, group_entry) {
			if (j->progress_done >= 0)
				done += j->progress_done;
			if (j->progress_total >= 0)
				total += j->progress_total;
		}
	}
	json_object_set_new(r, "progress", json_pack("{s:I, s:I}", "done",
	    (json_int_t)done, "total", (json_int_t)total));
}

enum op_status
op_group(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	const char		*name;
	json_t			*r;

	if (request_need_chan(&call->req, "group", &name, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	r = reply_ok(call_id(call));
	op_group_summary(r, name, jobs_find_group(&s->jobs, name));
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}

static int
groups_cmp_name(const void *key, const void *elem)
{
	return strcmp(key, ((const struct namepage_item *)elem)->name);
}

/* Per group of the sorted page, the parked waits and watches on it. */
static size_t *
groups_waiters(struct server *s, const struct namepage *p)
{
	struct namepage_item	*at;
	struct job_wait		*jw;
	size_t			*count;

	if ((count = calloc(p->n + 1, sizeof(*count))) == NULL)
		fatal("out of memory");
	TAILQ_FOREACH(jw, &s->job_waits, entry) {
		if (jw->group != NULL && (at = bsearch(jw->group, p->items,
		    p->n, sizeof(*p->items), groups_cmp_name)) != NULL)
			count[at - p->items]++;
	}
	return count;
}

enum op_status
op_groups(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	struct namepage		 p;
	const char		*prefix = "", *after = NULL;
	int64_t			 limit = GROUPS_LIMIT_DEF;
	struct map_iter		 it;
	struct map_entry	*e;
	struct jgroup		*g;
	json_t			*r, *list, *o;
	size_t			*waiters, plen, i;

	if (request_get_string(&call->req, "prefix", &prefix, &err) == -1 ||
	    request_get_string(&call->req, "after", &after, &err) == -1 ||
	    request_get_int(&call->req, "limit", 1, GROUPS_LIMIT_MAX, &limit,
	    &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	namepage_init(&p, (size_t)limit);
	plen = strlen(prefix);
	MAP_FOREACH(e, &it, &s->jobs.groups) {
		g = MAP_ELEM(e, struct jgroup, name_entry);
		if (strncmp(g->name, prefix, plen) == 0 &&
		    (after == NULL || strcmp(g->name, after) > 0))
			namepage_offer(&p, g->name, g);
	}
	namepage_sort(&p);
	waiters = groups_waiters(s, &p);
	list = json_array();
	for (i = 0; i < p.n; i++) {
		o = json_object();
		op_group_summary(o, p.items[i].name, p.items[i].obj);
		json_object_set_new(o, "waiters",
		    json_integer((json_int_t)waiters[i]));
		json_array_append_new(list, o);
	}
	r = reply_ok(call_id(call));
	json_object_set_new(r, "groups", list);
	json_object_set_new(r, "more", json_boolean(p.more));
	call_reply(call, r, NULL, 0);
	free(waiters);
	namepage_fini(&p);
	return OP_DONE;
}
