/*
 * cli-doc: the one JSON document a --json run prints (PROTOCOL.md 14).
 *
 * A script runs `jq-client --json CMD ...` and reads all of stdout as one
 * JSON value, whatever happened: so nothing is printed while the command
 * runs, and the document is printed once, at the end of main().  It is
 * always an object with "ok": a command made of one request leaves that
 * request's reply (without the protocol's "id"), which cli_call() records
 * as it comes; a command of several requests (send of several values,
 * cancel of several jobs, submit --wait, logs --follow) builds its own
 * from the replies; a failure leaves {"ok": false, "error": {"code",
 * "message"}}, the server's error object, or one of the CLI's own codes
 * ("usage", "connection", "closed", "interrupted", "failed") for what
 * never was an error reply.  The exit status stays what it would be
 * without --json.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "rawjson.h"

/*
 * A reply that carries channel values, as the server wrote it but for
 * its leading "id" member (a new string), so that 19.99 prints as 19.99:
 * jansson's tree would print 19.989999999999998.  NULL when the library
 * kept no line for it (no values in it), or the line does not start with
 * the id, as jqd writes it; the tree is printed then.
 */
static char *
reply_text_without_id(struct cli *cli, const json_t *reply)
{
	static const char	 head[] = "{\"id\":";
	struct rawjson_span	 id;
	const char		*line, *rest;
	size_t			 len;
	char			*text;

	if (cli->conn == NULL ||
	    (line = jqc_reply_text(cli->conn, reply, &len)) == NULL ||
	    len < sizeof(head) || memcmp(line, head, sizeof(head) - 1) != 0 ||
	    !rawjson_member(line, len, "id", 2, &id) ||
	    id.p != line + sizeof(head) - 1)
		return NULL;
	rest = id.p + id.len;
	if (rest >= line + len || *rest != ',')
		return NULL;
	rest++;
	len -= (size_t)(rest - line);
	text = must(malloc(len + 2));
	text[0] = '{';
	memcpy(text + 1, rest, len);
	text[len + 1] = '\0';
	return text;
}

/* Without --json nothing is kept: no copies of large replies. */
void
cli_doc_set(struct cli *cli, json_t *doc)
{
	json_decref(cli->doc);
	cli->doc = NULL;
	free(cli->doc_text);
	cli->doc_text = NULL;
	if (cli->json)
		cli->doc = doc;
	else
		json_decref(doc);
}

void
cli_doc_reply(struct cli *cli, const json_t *reply)
{
	json_t	*doc;

	if (!cli->json || !json_is_object(reply))
		return;
	doc = must(json_deep_copy(reply));
	json_object_del(doc, "id");
	cli_doc_set(cli, doc);
	cli->doc_text = reply_text_without_id(cli, reply);
}

json_t *
cli_doc_take(struct cli *cli)
{
	json_t	*doc = cli->doc;

	cli->doc = NULL;
	free(cli->doc_text);
	cli->doc_text = NULL;
	return doc;
}

void
cli_doc_error(struct cli *cli, const char *code, const char *message)
{
	cli_doc_set(cli, must(json_pack("{s:b, s:{s:s, s:s}}", "ok", 0,
	    "error", "code", code, "message", message)));
}

int
cli_fail(struct cli *cli, int status, const char *code, const char *fmt, ...)
{
	va_list	 ap;
	json_t	*utf8;
	char	 msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "jq-client: %s\n", msg);
	/* JSON holds UTF-8 only; a message quoting bad input may not be. */
	if ((utf8 = json_string(msg)) == NULL)
		snprintf(msg, sizeof(msg), "(a message that is not UTF-8)");
	json_decref(utf8);
	cli_doc_error(cli, code, msg);
	return status;
}

/* The CLI's own code for an exit status nothing recorded a document for. */
static const char *
code_for_status(int status)
{
	if (status == EXIT_USAGE)
		return "usage";
	if (status == EXIT_CONNECT)
		return "connection";
	if (status == EXIT_TIMEOUT)
		return "timeout";
	if (status > EXIT_SIGNAL)
		return "interrupted";
	return "failed";
}

void
cli_doc_print(struct cli *cli, int status)
{
	char	msg[64];

	if (cli->doc == NULL && status == EXIT_OK)
		cli->doc = must(json_pack("{s:b}", "ok", 1));
	else if (cli->doc == NULL) {
		snprintf(msg, sizeof(msg), "exit status %d (see stderr)",
		    status);
		cli_doc_error(cli, code_for_status(status), msg);
	}
	if (cli->doc_text != NULL)
		fputs(cli->doc_text, stdout);
	else
		json_dumpf(cli->doc, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	cli_doc_set(cli, NULL);
}
