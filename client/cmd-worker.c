/*
 * jq-client's worker commands (PROTOCOL.md 11.16, 14): `workers`, a
 * table of the agents jqd knows, and `worker drain ID [--now]`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "cli-output.h"

/* "gpu,local": the pools of a worker. */
static char *
pools_cell(const json_t *w)
{
	const json_t	*pools = json_object_get(w, "pools"), *p;
	char		*s = NULL, *t;
	size_t		 i;

	json_array_foreach(pools, i, p) {
		if (!json_is_string(p))
			continue;
		if (s == NULL)
			s = must(strdup(json_string_value(p)));
		else {
			if (asprintf(&t, "%s,%s", s, json_string_value(p)) == -1)
				must(NULL);
			free(s);
			s = t;
		}
	}
	return s;
}

int
cmd_workers(struct cli *cli, struct args *a)
{
	static const char *const titles[] = { "WORKER", "HOST", "POOLS",
	    "SLOTS", "BUSY", "HEARTBEAT", "STATE" };
	static const bool right[] = { false, false, false, true, true, true,
	    false };
	struct table	 t;
	const json_t	*w;
	json_t		*reply;
	long long	 now = units_clock_ms(CLOCK_REALTIME), v;
	size_t		 i;
	char		 d[32];
	int		 rc;

	(void)a;	/* no arguments */
	rc = cli_call(cli, req_new("workers"), &reply);
	if (rc != EXIT_OK || cli->json) {
		json_decref(reply);
		return rc;
	}
	table_init(&t, sizeof(titles) / sizeof(titles[0]));
	json_array_foreach(json_object_get(reply, "workers"), i, w) {
		table_add(&t, value_text(json_object_get(w, "worker")));
		table_add(&t, value_text(json_object_get(w, "host")));
		table_add(&t, pools_cell(w));
		table_add(&t, value_text(json_object_get(w, "slots")));
		table_add(&t, value_text(json_object_get(w, "busy")));
		/* The age of the last heartbeat ("-": none since restart). */
		table_add(&t, member_int(w, "last_heartbeat_ms", &v) ?
		    must(strdup(fmt_duration(d, sizeof(d), now > v ?
		    now - v : 0))) : NULL);
		table_add(&t, value_text(json_object_get(w, "state")));
	}
	table_print_free(&t, titles, right);
	json_decref(reply);
	return rc;
}

/* worker drain ID [--now]: prints the attempts still running there. */
int
cmd_worker(struct cli *cli, struct args *a)
{
	json_t	*req, *reply;
	int	 rc;

	if (strcmp(a->pos[0], "drain") != 0)
		return usage_error(cli, "unknown worker command '%s' (drain)",
		    a->pos[0]);
	if (a->npos != 2)
		return usage_error(cli, "usage: worker drain ID [--now]");
	if ((rc = check_name(cli, "worker", a->pos[1])) != 0)
		return rc;
	req = req_new("worker_drain");
	req_set(req, "worker", json_string(a->pos[1]));
	if (args_opt(a, "now") != NULL)
		req_set(req, "now", json_true());
	rc = cli_call(cli, req, &reply);
	if (rc == EXIT_OK && !cli->json)
		printf("%s draining, %lld running\n", a->pos[1],
		    (long long)json_integer_value(json_object_get(reply,
		    "running")));
	json_decref(reply);
	return rc;
}
