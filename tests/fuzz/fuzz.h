/*
 * What every fuzz target shares: the libFuzzer entry points, which
 * replay.c also calls when the corpora are replayed without libFuzzer, and
 * FUZZ_CHECK, which turns a broken invariant into a crash the fuzzer
 * records (and replay.c reports as a failed test).
 */
#ifndef JQ_FUZZ_H
#define JQ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Called once before the first input: global set-up.  Returns 0. */
int	 LLVMFuzzerInitialize(int *argc, char ***argv);
/* Run one input.  Returns 0; a violated invariant aborts. */
int	 LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Not assert(): checks must hold with NDEBUG too. */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant violated: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

#endif
