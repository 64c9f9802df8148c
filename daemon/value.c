/*
 * Channel values: immutable JSON text with list linkage.  See value.h.
 */
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
	v->sent_ref = NULL;
	v->len = len;
	v->data[len] = '\0';
	return v;
}

void
value_free(struct value *v)
{
	if (v != NULL && v->sent_ref != NULL)
		*v->sent_ref = NULL;
	free(v);
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
