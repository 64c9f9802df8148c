/*
 * cmd-chan: the channel commands of jq-client (make, send, recv, ack,
 * nack, close, drop, stat, chans, select).
 *
 * Each handler checks all of its arguments, then calls the server through
 * cli_call(); their entries (options, synopsis, help) are in the command
 * table in jq-client.c.  Human output: received values one per line,
 * strings raw and other values as compact JSON; "stat" as aligned
 * "key: value" lines; "chans" as a table.  A recv that finds the channel
 * closed and drained prints nothing on stdout and exits 1, like Go's
 * "v, ok := <-ch" with ok == false.  --json: the reply (send: each reply
 * in one document, send_doc()); the closed channel as the error "closed".
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cli-output.h"

#define CAP_MAX		2147483647LL
#define CHANS_LIMIT_MAX	10000LL	/* the server's bound (PROTOCOL.md 10.9) */

static int
check_chan(struct cli *cli, const char *chan)
{
	return check_name(cli, "channel", chan);
}

/*
 * How a VALUE argument is read: as JSON if it is JSON, else as a string
 * unless it looks like JSON gone wrong (the default); always as a string
 * (send --raw); always as JSON (send --strict).
 */
enum value_mode {
	VALUE_AUTO,
	VALUE_RAW,
	VALUE_STRICT,
};

/*
 * Text meant as JSON: it starts like a JSON object, array or string, or
 * is made of a number's characters only ("1.2.3", "1e", "2024-01-01",
 * "12345678901234567890", too big an integer for the server).  Sent as a
 * string, a typo there would go unnoticed.
 */
static bool
looks_like_json(const char *s)
{
	const char	*p = s;

	if (*p == '{' || *p == '[' || *p == '"')
		return true;
	if ((*p == '-' || *p == '+' || *p == '.') && p[1] >= '0' &&
	    p[1] <= '9')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	return s[strspn(s, "0123456789.eE+-")] == '\0';
}

/*
 * A VALUE argument as the JSON text to send (a new string): the argument
 * itself when it is JSON (sent as written: 19.99 stays 19.99), else the
 * JSON string of it, as mode says.  NULL after a usage error, which ends
 * with hint.
 */
static char *
value_arg(struct cli *cli, const char *s, enum value_mode mode,
    const char *hint, int *rc)
{
	json_error_t	 jerr;
	json_t		*v;
	char		*text;

	if (mode != VALUE_RAW) {
		/* Any JSON value, "\u0000" allowed, as the server takes it. */
		if ((v = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL,
		    &jerr)) != NULL) {
			json_decref(v);
			return must(strdup(s));
		}
		if (mode == VALUE_STRICT || looks_like_json(s)) {
			*rc = usage_error(cli, "'%s' is not valid JSON (col %d: "
			    "%s); %s", s, jerr.column, jerr.text, hint);
			return NULL;
		}
	}
	if ((v = json_string(s)) == NULL) {
		*rc = usage_error(cli, "value '%s' is neither JSON nor UTF-8 "
		    "text", s);
		return NULL;
	}
	text = must(json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT));
	json_decref(v);
	return text;
}

/* Set member key of obj to JSON text (checked by value_arg). */
static void
set_text(json_t *obj, const char *key, const char *text)
{
	if (jqc_request_set_text(NULL, obj, key, text, strlen(text)) == -1)
		must(NULL);
}

static int
report_closed(struct cli *cli, const char *chan)
{
	return cli_fail(cli, EXIT_REPLY, "closed", "channel '%s' is closed",
	    chan);
}

/* make's --max-deliveries N and --dead-letter CHAN into req. */
static int
make_dead_opts(struct cli *cli, struct args *a, json_t *req)
{
	const char	*max = args_opt(a, "max-deliveries");
	const char	*dl = args_opt(a, "dead-letter");
	long long	 n;
	int		 rc;

	if (dl != NULL && max == NULL)
		return usage_error(cli, "--dead-letter needs --max-deliveries");
	if (max != NULL) {
		if (parse_int(max, 1, CAP_MAX, &n) == -1)
			return usage_error(cli, "invalid count '%s' for "
			    "--max-deliveries (an integer 1-%lld)", max,
			    CAP_MAX);
		req_set(req, "max_deliveries", json_integer(n));
	}
	if (dl != NULL) {
		if ((rc = check_chan(cli, dl)) != 0)
			return rc;
		req_set(req, "dead_letter", json_string(dl));
	}
	return 0;
}

int
cmd_make(struct cli *cli, struct args *a)
{
	json_t		*req, *reply;
	long long	 cap = 0;
	int		 rc;

	if ((rc = check_chan(cli, a->pos[0])) != 0)
		return rc;
	if (a->npos > 1 && parse_int(a->pos[1], 0, CAP_MAX, &cap) == -1)
		return usage_error(cli, "invalid capacity '%s' (an integer "
		    "0-%lld)", a->pos[1], CAP_MAX);
	req = req_new("make");
	req_set(req, "chan", json_string(a->pos[0]));
	req_set(req, "cap", json_integer(cap));
	if ((rc = make_dead_opts(cli, a, req)) != 0) {
		json_decref(req);
		return rc;
	}
	rc = cli_call(cli, req, &reply);
	if (rc == EXIT_OK && !cli->json)
		puts(json_is_false(json_object_get(reply, "created")) ?
		    "exists" : "created");
	json_decref(reply);
	return rc;
}

/*
 * Send req (stolen): keyed with key, or with a random key of our own
 * (auto_key), or unkeyed.  An explicit key that was a duplicate says so.
 * Its reply (or error) goes to results, for --json.
 */
static int
send_one(struct cli *cli, json_t *req, const char *key, bool auto_key,
    json_t *results)
{
	json_t	*reply;
	char	*own = NULL;
	int	 rc;

	if (key == NULL && auto_key)
		key = own = must(jqc_new_key());
	if (key == NULL) {
		rc = cli_call(cli, req, &reply);
	} else {
		req_set(req, "key", json_string(key));
		rc = cli_call_keyed(cli, req, &reply);
		if (rc == EXIT_OK && own == NULL && !cli->json &&
		    json_is_true(json_object_get(reply, "duplicate")))
			puts("duplicate");
	}
	if (cli->doc != NULL)
		json_array_append_new(results, cli_doc_take(cli));
	json_decref(reply);
	free(own);
	return rc;
}

/*
 * send's --json document: {"ok", "sent": values the server took,
 * "results": the reply of each request in order}, with the error of the
 * one that failed as "error".
 */
static void
send_doc(struct cli *cli, json_t *results, size_t sent)
{
	json_t	*last = json_array_get(results, json_array_size(results) - 1);
	json_t	*doc;

	doc = must(json_pack("{s:b, s:I, s:O}", "ok", last == NULL ||
	    json_is_true(json_object_get(last, "ok")), "sent",
	    (json_int_t)sent, "results", results));
	if (last != NULL && json_object_get(last, "error") != NULL)
		req_set(doc, "error", json_incref(json_object_get(last,
		    "error")));
	cli_doc_set(cli, doc);
}

/* The values of send's --batch as one JSON array text (a new string). */
static char *
batch_text(char **texts, size_t n)
{
	size_t	 i, len = 2;
	char	*out, *p;

	for (i = 0; i < n; i++)
		len += strlen(texts[i]) + 1;
	p = out = must(malloc(len));
	*p++ = '[';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, texts[i], strlen(texts[i]));
		p += strlen(texts[i]);
	}
	*p++ = ']';
	*p = '\0';
	return out;
}

int
cmd_send(struct cli *cli, struct args *a)
{
	json_t		*req, *tmpl, *results = NULL;
	const char	*key = args_opt(a, "key");
	enum value_mode	 mode = VALUE_AUTO;
	char		**texts, *batch;
	size_t		 i, n = (size_t)a->npos - 1;
	bool		 auto_key;
	int		 rc = 0;

	if ((rc = check_chan(cli, a->pos[0])) != 0)
		return rc;
	if (key != NULL && (*key == '\0' || strlen(key) > 256))
		return usage_error(cli, "invalid key (1 to 256 bytes)");
	if (args_opt(a, "raw") != NULL && args_opt(a, "strict") != NULL)
		return usage_error(cli, "--raw and --strict exclude each other");
	if (args_opt(a, "raw") != NULL)
		mode = VALUE_RAW;
	else if (args_opt(a, "strict") != NULL)
		mode = VALUE_STRICT;
	tmpl = req_new("send");
	req_set(tmpl, "chan", json_string(a->pos[0]));
	texts = must(calloc(n, sizeof(texts[0])));
	if ((rc = opt_duration(cli, a, "timeout", tmpl, "timeout_ms", 0)) != 0)
		goto out;
	for (i = 0; i < n; i++)
		if ((texts[i] = value_arg(cli, a->pos[i + 1], mode,
		    mode == VALUE_STRICT ? "--strict takes JSON only" :
		    "use --raw to send it as a string", &rc)) ==
		    NULL)
			goto out;

	if (key != NULL && args_opt(a, "batch") == NULL && n > 1) {
		rc = usage_error(cli, "--key takes one VALUE, or --batch");
		goto out;
	}
	/* Without --key, keys of our own make our retries safe. */
	auto_key = key == NULL && cli_has_feature(cli, "send_key", &rc);
	if (rc != 0)
		goto out;
	results = must(json_array());
	if (args_opt(a, "batch") != NULL) {
		batch = batch_text(texts, n);
		set_text(tmpl, "values", batch);
		free(batch);
		rc = send_one(cli, json_incref(tmpl), key, auto_key, results);
		send_doc(cli, results, rc == EXIT_OK ? n : 0);
		goto out;
	}
	/* One by one, in order; the first failure stops the rest. */
	for (i = 0; i < n; i++) {
		req = must(json_copy(tmpl));
		set_text(req, "value", texts[i]);
		rc = send_one(cli, req, key, auto_key, results);
		if (rc != EXIT_OK) {
			if (n > 1)
				fprintf(stderr, "jq-client: sent %zu of %zu "
				    "values\n", i, n);
			break;
		}
	}
	send_doc(cli, results, rc == EXIT_OK ? n : i);
out:
	json_decref(results);
	for (i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
	json_decref(tmpl);
	return rc;
}

/*
 * One received value, member key of reply (element index of it when not
 * JQC_MEMBER): "VALUE", or "LEASE<TAB>VALUE" when leased.
 */
static void
print_received(struct cli *cli, const json_t *reply, const char *key,
    size_t index, const json_t *lease)
{
	if (json_is_string(lease))
		printf("%s\t", json_string_value(lease));
	print_reply_value(cli->conn, reply, key, index);
	fputc('\n', stdout);
}

int
cmd_recv(struct cli *cli, struct args *a)
{
	json_t		*req, *reply, *values, *leases;
	const char	*s, *consumer;
	long long	 max;
	size_t		 i;
	int		 rc;

	if ((rc = check_chan(cli, a->pos[0])) != 0)
		return rc;
	req = req_new("recv");
	req_set(req, "chan", json_string(a->pos[0]));
	if ((s = args_opt(a, "max")) != NULL) {
		if (parse_int(s, 1, INT32_MAX, &max) == -1) {
			json_decref(req);
			return usage_error(cli, "invalid count '%s' for -n "
			    "(an integer >= 1)", s);
		}
		req_set(req, "max", json_integer(max));
	}
	if ((rc = opt_duration(cli, a, "timeout", req, "timeout_ms", 0)) != 0 ||
	    (rc = opt_duration(cli, a, "lease", req, "lease_ms", 1)) != 0) {
		json_decref(req);
		return rc;
	}
	/* Our leases outlive this run: a later one may ack them. */
	if (args_opt(a, "lease") != NULL) {
		if ((consumer = cli_consumer(cli, &rc)) == NULL && rc != 0) {
			json_decref(req);
			return rc;
		}
		if (consumer != NULL)
			req_set(req, "consumer", json_string(consumer));
	}

	if ((rc = cli_call(cli, req, &reply)) != EXIT_OK)
		goto out;
	values = json_object_get(reply, "values");
	leases = json_object_get(reply, "leases");
	if (json_is_true(json_object_get(reply, "closed")) &&
	    json_object_get(reply, "value") == NULL &&
	    json_array_size(values) == 0) {
		/* Go's v, ok := <-ch with ok == false. */
		rc = report_closed(cli, a->pos[0]);
		goto out;
	}
	if (cli->json)
		goto out;
	if (values != NULL) {
		for (i = 0; i < json_array_size(values); i++)
			print_received(cli, reply, "values", i,
			    json_array_get(leases, i));
	} else
		print_received(cli, reply, "value", JQC_MEMBER,
		    json_object_get(reply, "lease"));
out:
	json_decref(reply);
	return rc;
}

/* The request of ack, nack, touch: CHAN LEASE; NULL after a usage error. */
static json_t *
lease_request(struct cli *cli, struct args *a, int *rc)
{
	json_t	*req, *lease;

	if ((*rc = check_chan(cli, a->pos[0])) != 0)
		return NULL;
	if ((lease = string_arg(cli, "lease", a->pos[1], rc)) == NULL)
		return NULL;
	req = req_new(cli->cmd->name);
	req_set(req, "chan", json_string(a->pos[0]));
	req_set(req, "lease", lease);
	return req;
}

/*
 * ack, nack [--delay D] [--reason TEXT]: CHAN LEASE; the command's name
 * is the op.
 */
int
cmd_lease(struct cli *cli, struct args *a)
{
	json_t		*req, *reply, *reason;
	const char	*s;
	int		 rc = 0;

	if ((req = lease_request(cli, a, &rc)) == NULL)
		return rc;
	if ((rc = opt_duration(cli, a, "delay", req, "delay_ms", 0)) != 0) {
		json_decref(req);
		return rc;
	}
	if ((s = args_opt(a, "reason")) != NULL) {
		if ((reason = string_arg(cli, "reason", s, &rc)) == NULL) {
			json_decref(req);
			return rc;
		}
		req_set(req, "reason", reason);
	}
	rc = cli_call(cli, req, &reply);
	json_decref(reply);
	return rc;
}

/* touch CHAN LEASE D: prints the new deadline. */
int
cmd_touch(struct cli *cli, struct args *a)
{
	json_t		*req, *reply;
	int64_t		 ms;
	long long	 deadline;
	int		 rc = 0;

	if ((req = lease_request(cli, a, &rc)) == NULL)
		return rc;
	if (units_parse_duration(a->pos[2], &ms) == -1 || ms < 1) {
		json_decref(req);
		return usage_error(cli, "invalid duration '%s' (at least 1ms, "
		    "e.g. 30s, 5m)", a->pos[2]);
	}
	req_set(req, "lease_ms", json_integer(ms));
	rc = cli_call(cli, req, &reply);
	if (rc == EXIT_OK && !cli->json &&
	    member_int(reply, "deadline_ms", &deadline))
		printf("%lld\n", deadline);
	json_decref(reply);
	return rc;
}

/* close, drop: CHAN and nothing printed; the command's name is the op. */
int
cmd_chan_op(struct cli *cli, struct args *a)
{
	json_t	*req, *reply;
	int	 rc;

	if ((rc = check_chan(cli, a->pos[0])) != 0)
		return rc;
	req = req_new(cli->cmd->name);
	req_set(req, "chan", json_string(a->pos[0]));
	rc = cli_call(cli, req, &reply);
	json_decref(reply);
	return rc;
}

int
cmd_stat(struct cli *cli, struct args *a)
{
	json_t		*req;
	int		 rc;

	if ((rc = check_chan(cli, a->pos[0])) != 0)
		return rc;
	req = req_new("stat");
	req_set(req, "chan", json_string(a->pos[0]));
	return cli_call_print_kv(cli, req, ":");
}

/* One "chans" request (req: a copy is sent) and its table. */
static int
chans_snapshot(struct cli *cli, void *req)
{
	static const struct column cols[] = {
		{ "NAME", "chan", false },
		{ "CAP", "cap", true },
		{ "LEN", "len", true },
		{ "LEASED", "leased", true },
		{ "CLOSED", "closed", false },
		{ "SENDERS", "senders_waiting", true },
		{ "RECEIVERS", "receivers_waiting", true },
		{ "SENT", "sent", true },
		{ "RECEIVED", "received", true },
	};
	const json_t	*list;
	json_t		*reply;
	int		 rc;

	rc = cli_call(cli, must(json_deep_copy(req)), &reply);
	if (rc == EXIT_OK && !cli->json) {
		list = json_object_get(reply, "chans");
		print_table(cols, sizeof(cols) / sizeof(cols[0]), list);
		more_hint(req, reply, list, "chan");
	}
	json_decref(reply);
	return rc;
}

int
cmd_chans(struct cli *cli, struct args *a)
{
	json_t	*req;
	int	 rc;

	req = req_new("chans");
	if ((rc = opt_string(cli, a, "prefix", req)) != 0 ||
	    (rc = opt_string(cli, a, "after", req)) != 0 ||
	    (rc = opt_limit(cli, a, CHANS_LIMIT_MAX, req)) != 0)
		goto out;
	/* An older server would ignore them and list every channel. */
	if ((args_opt(a, "after") != NULL || args_opt(a, "limit") != NULL) &&
	    (rc = cli_need_feature(cli, "chans_page", "--after and --limit")))
		goto out;
	rc = cli_watch(cli, a, chans_snapshot, req);
out:
	json_decref(req);
	return rc;
}

/*
 * One select case from "recv:CHAN" or "send:CHAN=VALUE".  Channel names
 * cannot hold '=', so the first one ends the name.
 */
static json_t *
select_case(struct cli *cli, const char *arg, int *rc)
{
	json_t	*c;
	char	*chan, *text;
	size_t	 len;

	if (strncmp(arg, "recv:", 5) == 0) {
		if ((*rc = check_chan(cli, arg + 5)) != 0)
			return NULL;
		return must(json_pack("{s:s}", "recv", arg + 5));
	}
	if (strncmp(arg, "send:", 5) != 0 || strchr(arg, '=') == NULL) {
		*rc = usage_error(cli, "invalid case '%s' (recv:CHAN or "
		    "send:CHAN=VALUE)", arg);
		return NULL;
	}
	len = strchr(arg, '=') - (arg + 5);
	chan = must(strndup(arg + 5, len));
	c = NULL;
	if ((*rc = check_chan(cli, chan)) == 0 &&
	    (text = value_arg(cli, arg + 5 + len + 1, VALUE_AUTO, "quote "
	    "it as a JSON string to send it as one", rc)) != NULL) {
		c = must(json_pack("{s:s}", "send", chan));
		set_text(c, "value", text);
		free(text);
	}
	free(chan);
	return c;
}

int
cmd_select(struct cli *cli, struct args *a)
{
	json_t		*req, *cases, *c, *reply, *chosen, *value;
	const char	*name;
	json_int_t	 index;
	int		 i, rc = 0;

	req = req_new("select");
	if ((rc = opt_duration(cli, a, "timeout", req, "timeout_ms", 0)) != 0) {
		json_decref(req);
		return rc;
	}
	cases = must(json_array());
	req_set(req, "cases", cases);
	for (i = 0; i < a->npos; i++) {
		if ((c = select_case(cli, a->pos[i], &rc)) == NULL) {
			json_decref(req);
			return rc;
		}
		json_array_append_new(cases, c);
	}
	json_incref(cases);	/* outlives req, which cli_call takes */

	if ((rc = cli_call(cli, req, &reply)) != EXIT_OK)
		goto out;
	index = json_integer_value(json_object_get(reply, "index"));
	chosen = json_array_get(cases, index);
	value = json_object_get(reply, "value");
	if (!cli->json) {
		printf("%" JSON_INTEGER_FORMAT, index);
		if (value != NULL) {
			fputc('\t', stdout);
			print_reply_value(cli->conn, reply, "value",
			    JQC_MEMBER);
		}
		fputc('\n', stdout);
	}
	if (value == NULL && json_is_true(json_object_get(reply, "closed"))) {
		name = json_string_value(json_object_get(chosen, "recv"));
		rc = report_closed(cli, name != NULL ? name : "?");
		if (cli->doc != NULL)
			req_set(cli->doc, "index", json_integer(index));
	}
out:
	json_decref(cases);
	json_decref(reply);
	return rc;
}
