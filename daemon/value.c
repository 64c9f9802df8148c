/*
 * Channel values: immutable JSON text with list linkage.  See value.h.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "value.h"

struct value *
value_new(const char *json, size_t len)
{
	struct value	*v = value_alloc(len);

	memcpy(v->data, json, len);
	return v;
}

struct value *
value_alloc(size_t len)
{
	struct value	*v;

	v = malloc(sizeof(*v) + len + 1);
	if (v == NULL)
		fatal("out of memory");
	v->store_id = 0;
	v->store_seq = 0;
	v->store_rec = 0;
	v->lease_id = 0;
	v->redelivered = 0;
	v->transient = false;
	v->reason_len = 0;
	v->sender = NULL;
	v->len = len;
	v->data[len] = '\0';
	return v;
}

void
value_free(struct value *v)
{
	if (v != NULL && v->sender != NULL)
		value_sender_untie(v->sender);
	free(v);
}

struct value *
value_set_reason(struct value *v, const char *json, size_t len)
{
	struct value	*n;

	assert(len <= VALUE_REASON_MAX);
	if (len == 0 && v->reason_len == 0)
		return v;
	n = malloc(sizeof(*n) + v->len + 1 + len + 1);
	if (n == NULL)
		fatal("out of memory");
	memcpy(n, v, sizeof(*n) + v->len + 1);
	if (len > 0)
		memcpy(n->data + n->len + 1, json, len);
	n->data[n->len + 1 + len] = '\0';
	n->reason_len = (uint16_t)len;
	if (n->sender != NULL) {
		n->sender->value = n;
		v->sender = NULL;
	}
	free(v);
	return n;
}

const char *
value_reason(const struct value *v)
{
	return v->reason_len > 0 ? v->data + v->len + 1 : NULL;
}

void
value_sender_tie(struct value_sender *vs, struct value *v, struct call *call)
{
	assert(vs->value == NULL && v->sender == NULL);
	vs->call = call;
	vs->value = v;
	v->sender = vs;
}

void
value_sender_untie(struct value_sender *vs)
{
	if (vs->value == NULL)
		return;
	vs->value->sender = NULL;
	vs->value = NULL;
}

void
value_list_free(struct value_list *list)
{
	struct value	*v;

	while ((v = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, v, entry);
		value_free(v);
	}
}
