/*
 * Unit tests for the crash clean-up of daemon/spawn.c: which process group
 * a restarted jqd kills for a job restored as running (the decision
 * itself, run_leftover_is_ours, is checked in test-run.c).
 *
 * spawn_kill_leftover is driven on real process groups made here: a
 * leader L (its own group) and a member M, our child moved into L's group.
 * A SIGKILL from the function shows in M's wait status; when the function
 * must leave the group alone, the test sends SIGTERM itself, and a status
 * of SIGTERM proves no SIGKILL came first.  A reused pid is staged as a
 * live leader whose start time differs from the recorded one.
 */
#include <sys/types.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "run.h"
#include "spawn-job.h"
#include "tap.h"

#define OTHER_BOOT	"00000000-0000-0000-0000-000000000000"
#define WAIT_S		30

struct group {
	pid_t	 leader;	/* 0 once reaped */
	pid_t	 member;
};

static pid_t
fork_paused(void)
{
	pid_t	 pid = fork();

	if (pid == -1) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

/* L in a group of its own, M in L's group. */
static void
group_make(struct group *g)
{
	g->leader = fork_paused();
	if (setpgid(g->leader, g->leader) == -1) {
		perror("setpgid");
		exit(1);
	}
	g->member = fork_paused();
	if (setpgid(g->member, g->leader) == -1) {
		perror("setpgid");
		exit(1);
	}
}

/* L ends, and is reaped: M is left in a group whose leader is gone. */
static void
group_reap_leader(struct group *g)
{
	int	 status;

	kill(g->leader, SIGKILL);
	waitpid(g->leader, &status, 0);
	g->leader = 0;
}

/* The signal that ended pid (our child), waiting at most WAIT_S. */
static int
reap_signal(pid_t pid)
{
	struct timespec	 nap = { 0, 10 * 1000 * 1000 };
	time_t		 end = time(NULL) + WAIT_S;
	int		 status;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (time(NULL) > end)
			return -1;
		nanosleep(&nap, NULL);
	}
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* How a case sets up what jqd recorded and what it finds. */
enum boot { BOOT_THIS, BOOT_OTHER, BOOT_NONE };
enum start { START_REAL, START_OTHER, START_NONE };

static const struct leftover_case {
	const char	*name;
	bool		 leader_alive;
	enum boot	 jqd_boot;	/* the restarted jqd's */
	enum boot	 pid_boot;	/* recorded with the job */
	enum start	 pid_start;	/* recorded with the job */
	int		 want;		/* the signal that ends the group */
} leftover_cases[] = {
	{ "dead leader, same boot: killed", false, BOOT_THIS, BOOT_THIS,
	  START_REAL, SIGKILL },
	{ "dead leader, start not recorded: killed", false, BOOT_THIS,
	  BOOT_THIS, START_NONE, SIGKILL },
	{ "dead leader, another boot: left alone", false, BOOT_THIS,
	  BOOT_OTHER, START_REAL, SIGTERM },
	{ "dead leader, boot not recorded: left alone", false, BOOT_THIS,
	  BOOT_NONE, START_REAL, SIGTERM },
	{ "dead leader, this boot unknown: left alone", false, BOOT_NONE,
	  BOOT_THIS, START_REAL, SIGTERM },
	{ "live leader, same start: killed", true, BOOT_THIS, BOOT_THIS,
	  START_REAL, SIGKILL },
	{ "live leader, another start (pid reused): left alone", true,
	  BOOT_THIS, BOOT_THIS, START_OTHER, SIGTERM },
	{ "live leader, start not recorded: left alone", true, BOOT_THIS,
	  BOOT_THIS, START_NONE, SIGTERM },
	{ "live leader, same start, another boot: left alone", true,
	  BOOT_THIS, BOOT_OTHER, START_REAL, SIGTERM },
};

static const char *
boot_text(enum boot b, const char *boot)
{
	return b == BOOT_THIS ? boot : b == BOOT_OTHER ? OTHER_BOOT : NULL;
}

/*
 * Run spawn_kill_leftover on a new group as case c says, then SIGTERM the
 * group.  Checks the signal that ended the member (SIGKILL: the function
 * killed the group; SIGTERM: it did not, the test did) and the leader.
 */
static void
test_leftover(const struct leftover_case *c, const char *boot)
{
	struct jobs	 js;
	struct job	*j = job_alloc();
	struct group	 g;
	const char	*recorded = boot_text(c->pid_boot, boot);

	group_make(&g);
	memset(&js, 0, sizeof(js));
	snprintf(js.boot_id, sizeof(js.boot_id), "%s",
	    c->jqd_boot == BOOT_THIS ? boot : "");
	j->jobs = &js;
	j->id = 1;
	j->pid = g.leader;
	j->pid_start = c->pid_start == START_NONE ? -1 :
	    run_start_time(g.leader) + (c->pid_start == START_OTHER);
	j->pid_boot = recorded != NULL ? strdup(recorded) : NULL;
	if (!c->leader_alive)
		group_reap_leader(&g);
	spawn_kill_leftover(j);
	/* Killed or not, this ends the group: SIGTERM cannot overtake. */
	kill(-j->pid, SIGTERM);
	is_int(reap_signal(g.member), c->want, c->name);
	if (g.leader != 0)
		is_int(reap_signal(g.leader), c->want, "... the leader too");
	free(j->pid_boot);
	free(j);
}

static void
test_groups(const char *boot)
{
	size_t	 i;

	for (i = 0; i < sizeof(leftover_cases) / sizeof(leftover_cases[0]);
	    i++)
		test_leftover(&leftover_cases[i], boot);
}

int
main(void)
{
	char	 boot[RUN_BOOT_ID_MAX];

	if (run_boot_id(boot, sizeof(boot)) == -1) {
		printf("# no /proc/sys/kernel/random/boot_id: groups skipped\n");
		return done_testing();
	}
	is_int(strlen(boot), 36, "the boot id is a UUID");
	test_groups(boot);
	return done_testing();
}
