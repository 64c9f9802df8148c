/*
 * Replay a fuzz target's inputs without libFuzzer, as a TAP test: linked
 * with one target's LLVMFuzzerTestOneInput, it runs every file in the
 * directories (or the files) named on the command line, or by default in
 * the target's seed corpus and regression directory under FUZZ_SRCDIR:
 *
 *   tests/fuzz/corpus-<target>/   seeds
 *   tests/fuzz/regressions/<target>/   inputs that once crashed
 *
 * A violated invariant aborts, which fails the test; the last "# file"
 * line in the log names the input.  Files run in name order, so a run is
 * reproducible.
 */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#ifndef FUZZ_TARGET
#error "define FUZZ_TARGET (frame, request, dispatch)"
#endif
#ifndef FUZZ_SRCDIR
#error "define FUZZ_SRCDIR (the tests/fuzz source directory)"
#endif

static int	 ntests;

static int
replay_file(const char *path)
{
	struct stat	 st;
	unsigned char	*buf;
	size_t		 n;
	FILE		*fp;

	if ((fp = fopen(path, "rb")) == NULL || fstat(fileno(fp), &st) == -1) {
		printf("not ok %d - %s: %s\n", ++ntests, path,
		    strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return -1;
	}
	/* Exactly the file's size, so ASan sees reads past the end. */
	if ((buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL)
		abort();
	n = fread(buf, 1, (size_t)st.st_size, fp);
	fclose(fp);
	printf("# file %s\n", path);
	fflush(stdout);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	printf("ok %d - %s\n", ++ntests, path);
	return 0;
}

static int
replay_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file in dir, in name order.  A missing dir is empty. */
static int
replay_dir(const char *dir)
{
	struct dirent	*de;
	struct stat	 st;
	char		**names = NULL, path[4096];
	size_t		 n = 0, i;
	DIR		*d;
	int		 rc = 0;

	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((names = realloc(names, (n + 1) * sizeof(*names))) ==
		    NULL || (names[n] = strdup(de->d_name)) == NULL)
			abort();
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), replay_name_cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    replay_file(path) == -1)
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

static int
replay_path(const char *path)
{
	struct stat	 st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return replay_dir(path);
	return replay_file(path);
}

int
main(int argc, char **argv)
{
	int	 i, rc = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (replay_path(argv[i]) == -1)
				rc = 1;
	} else {
		if (replay_dir(FUZZ_SRCDIR "/corpus-" FUZZ_TARGET) == -1 ||
		    replay_dir(FUZZ_SRCDIR "/regressions/" FUZZ_TARGET) == -1)
			rc = 1;
	}
	if (ntests == 0)
		printf("1..0 # SKIP no inputs found\n");
	else
		printf("1..%d\n", ntests);
	return rc;
}
