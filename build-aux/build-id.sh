#!/bin/sh
# Write the C header that names this build: JQD_BUILD_ID is the version,
# plus the git commit (and "-dirty" with local changes) when the source
# tree is a git checkout; a release tarball has no .git and says the
# version alone.  The header is rewritten only when it changes, so that a
# build from an unchanged tree does not recompile.
#
# usage: build-id.sh SRCDIR VERSION OUT
srcdir=$1
version=$2
out=$3
id=$version
if test -e "$srcdir/.git" && command -v git >/dev/null 2>&1; then
	commit=$(git -C "$srcdir" describe --always --dirty --abbrev=12 \
	    --match 'no-tag-matches-this' 2>/dev/null)
	if test -n "$commit"; then
		id="$version+g$commit"
	fi
fi
printf '/* Made by build-aux/build-id.sh; do not edit. */\n#define JQD_BUILD_ID "%s"\n' \
    "$id" >"$out.tmp" || exit 1
if cmp -s "$out.tmp" "$out"; then
	rm -f "$out.tmp"
else
	mv "$out.tmp" "$out"
fi
