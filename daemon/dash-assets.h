/*
 * The dashboard's files, compiled in: build-aux/embed-assets.sh makes
 * dash-assets.c from the files in daemon/dashboard at build time.
 * Served by dash.c.
 */
#ifndef JQD_DASH_ASSETS_H
#define JQD_DASH_ASSETS_H

#include <stddef.h>

struct dash_asset {
	const char		*name;		/* "app.js": the file's name */
	const char		*type;		/* its Content-Type */
	const unsigned char	*data;
	size_t			 len;
};

extern const struct dash_asset	dash_assets[];
extern const size_t		dash_nassets;

#endif
