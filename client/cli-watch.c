/*
 * cli-watch: "--watch[=D]" of jobs, chans, groups and stats: the view
 * again every D (default 2s) until Ctrl-C, as watch(1) would show it.
 *
 * A command hands cli_watch() a snapshot function -- its request and its
 * printing, what it does once without --watch -- so every view is the
 * command's own.
 *
 * On a terminal (stdout) the view is redrawn in place on the alternate
 * screen, as top and less do: entered once with the cursor hidden, each
 * frame drawn from the top left, a header line ("Every 2s: jq-client
 * jobs" and the time), a blank line, then the snapshot, every line
 * cleared to its end and the rest of the screen cleared below.  A frame
 * is cut to the window: each line to its width, the lines to its height,
 * the last one then saying how many were cut -- so a frame never
 * scrolls, whatever the size of the table.  The snapshot is made with
 * stdout and stderr pointing at a temporary file, read back to be cut;
 * an error message lands there too.  On the way out (Ctrl-C, SIGTERM,
 * SIGHUP, an error) the cursor is shown and the alternate screen left,
 * so the shell's screen comes back as it was; an error is then printed
 * on it.
 *
 * Elsewhere (a pipe, a file) each snapshot is printed whole, as the
 * command prints it, one blank line between two: a log of the figures.
 *
 * The signals are caught (cli_catch_signals()) and the wait between two
 * frames polls the wake-up pipe, so Ctrl-C ends the view at once, with
 * exit status 128 + the signal (130 for Ctrl-C), as other interrupted
 * commands of jq-client.  A second signal while a snapshot's request
 * hangs ends jq-client at once, the terminal put back first
 * (cli_signal_restore()).
 */

#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "cli-output.h"
#include "cli-term.h"
#include "strbuf.h"

#define WATCH_DEFAULT_MS	2000
#define WATCH_MIN_MS		100	/* a server is not a busy loop */
#define WATCH_TITLE_MAX		200	/* bytes of the header's command */

struct watch {
	struct cli	*cli;
	long long	 every_ms;
	char		 title[WATCH_TITLE_MAX];
	bool		 tty;
	int		 out_fd;	/* our stdout, kept while it points
					   at the capture */
	int		 err_fd;
	FILE		*capture;	/* a snapshot's stdout and stderr */
	unsigned long	 frames;
};

/* The interval of --watch into *ms, 0 without it; or a usage error. */
static int
watch_interval(struct cli *cli, const struct args *a, long long *ms)
{
	const char	*s = args_opt(a, "watch");
	int64_t		 v;

	*ms = 0;
	if (s == NULL)
		return 0;
	if (cli->json)
		return usage_error(cli, "--watch draws a view for people: "
		    "not with --json");
	if (*s == '\0')
		v = WATCH_DEFAULT_MS;
	else if (units_parse_duration(s, &v) == -1)
		return usage_error(cli, "invalid duration '%s' for --watch "
		    "(e.g. 500ms, 2s, 1m)", s);
	if (v < WATCH_MIN_MS)
		return usage_error(cli, "--watch must be at least %dms",
		    WATCH_MIN_MS);
	*ms = v;
	return 0;
}

/* "jq-client jobs --state running": the command as given, cut. */
static void
watch_title(struct watch *w, const struct args *a)
{
	size_t	n, i;

	n = (size_t)snprintf(w->title, sizeof(w->title), "jq-client %s",
	    w->cli->cmd->name);
	for (i = 0; i < (size_t)a->ngiven && n < sizeof(w->title); i++) {
		if (strcmp(a->opts[a->given[i].opt].name, "watch") == 0)
			continue;
		n += (size_t)snprintf(w->title + n, sizeof(w->title) - n,
		    *a->given[i].val != '\0' ? " --%s %s" : " --%s",
		    a->opts[a->given[i].opt].name, a->given[i].val);
	}
}

/* Point stdout and stderr at the emptied capture file. */
static int
capture_begin(struct watch *w)
{
	fflush(stdout);
	fflush(stderr);
	rewind(w->capture);
	if (ftruncate(fileno(w->capture), 0) == -1 ||
	    dup2(fileno(w->capture), STDOUT_FILENO) == -1 ||
	    dup2(fileno(w->capture), STDERR_FILENO) == -1)
		return -1;
	return 0;
}

/* Back to our own stdout and stderr; the capture rewound for reading. */
static void
capture_end(struct watch *w)
{
	fflush(stdout);
	fflush(stderr);
	dup2(w->out_fd, STDOUT_FILENO);
	dup2(w->err_fd, STDERR_FILENO);
	rewind(w->capture);
}

/* The header: the command and the interval left, the time right. */
static void
frame_header(struct watch *w, struct strbuf *sb, int cols)
{
	char	left[WATCH_TITLE_MAX + 64], every[32], now[40];
	size_t	llen, tlen;

	fmt_duration(every, sizeof(every), w->every_ms);
	snprintf(left, sizeof(left), "Every %s: %s", every, w->title);
	fmt_time(now, sizeof(now), units_clock_ms(CLOCK_REALTIME));
	llen = strlen(left);
	tlen = strlen(now);
	if (llen + 2 + tlen <= (size_t)cols)
		strbuf_appendf(sb, "%s%*s", left, (int)((size_t)cols - llen),
		    now);
	else
		strbuf_append(sb, left, term_fit(left, llen, cols));
	strbuf_append(sb, TERM_CLEAR_EOL "\n" TERM_CLEAR_EOL,
	    strlen(TERM_CLEAR_EOL "\n" TERM_CLEAR_EOL));
}

/* The captured snapshot on the screen, cut to it. */
static int
frame_draw(struct watch *w)
{
	struct strbuf	 sb = STRBUF_INIT;
	char		*line = NULL, note[80];
	size_t		 cap = 0, last_start = 0, fit;
	ssize_t		 n;
	long		 lines = 0;
	int		 rows, cols, room, rc;

	term_size(w->out_fd, &rows, &cols);
	/* One column spare: writing the last one wraps on some terminals. */
	if (cols > 1)
		cols--;
	strbuf_append(&sb, TERM_HOME, strlen(TERM_HOME));
	frame_header(w, &sb, cols);
	/* Below the header and a blank line.  Every line starts with its
	   newline: a frame ending in one would scroll the screen. */
	room = rows > 2 ? rows - 2 : 0;
	while ((n = getline(&line, &cap, w->capture)) > 0) {
		if (++lines > room)
			continue;	/* counted, not shown */
		if (line[n - 1] == '\n')
			n--;
		last_start = sb.len;
		strbuf_append(&sb, "\n", 1);
		fit = term_fit(line, (size_t)n, cols);
		strbuf_append(&sb, line, fit);
		/* Cut inside a colour: end it here, not on the next line. */
		if (fit < (size_t)n && memchr(line, '\033', fit) != NULL)
			strbuf_append(&sb, TERM_SGR_RESET,
			    strlen(TERM_SGR_RESET));
		strbuf_append(&sb, TERM_CLEAR_EOL, strlen(TERM_CLEAR_EOL));
	}
	free(line);
	if (lines > room && room > 0) {
		/* The last row says what is cut, instead of a line. */
		sb.len = last_start;
		snprintf(note, sizeof(note), "... %ld more lines (a taller "
		    "window shows them)", lines - room + 1);
		strbuf_append(&sb, "\n", 1);
		strbuf_append(&sb, note, term_fit(note, strlen(note), cols));
		strbuf_append(&sb, TERM_CLEAR_EOL, strlen(TERM_CLEAR_EOL));
	}
	strbuf_append(&sb, TERM_CLEAR_EOS, strlen(TERM_CLEAR_EOS));
	rc = term_write(w->out_fd, sb.data, sb.len);
	strbuf_fini(&sb);
	return rc;
}

/* One snapshot on the terminal; its exit status. */
static int
frame_tty(struct watch *w, cli_snapshot_fn *snap, void *arg)
{
	int	rc;

	if (capture_begin(w) == -1) {
		capture_end(w);
		fprintf(stderr, "jq-client: cannot capture a frame: %s\n",
		    strerror(errno));
		return EXIT_REPLY;
	}
	rc = snap(w->cli, arg);
	capture_end(w);
	if (rc == EXIT_OK && frame_draw(w) == -1)
		return EXIT_REPLY;	/* the terminal is gone */
	return rc;
}

/* One snapshot on a pipe or file, a blank line before all but the
   first. */
static int
frame_plain(struct watch *w, cli_snapshot_fn *snap, void *arg)
{
	int	rc;

	if (w->frames > 0)
		putchar('\n');
	rc = snap(w->cli, arg);
	fflush(stdout);
	return rc;
}

/* The terminal as it was; an error of the last frame printed on it. */
static void
watch_leave(struct watch *w, bool show_capture)
{
	char	buf[4096];
	size_t	n;

	if (w->tty) {
		term_write(w->out_fd, TERM_CURSOR_SHOW TERM_ALT_SCREEN_LEAVE,
		    strlen(TERM_CURSOR_SHOW TERM_ALT_SCREEN_LEAVE));
		cli_signal_restore(-1, NULL, false);
	}
	if (show_capture && w->capture != NULL) {
		while ((n = fread(buf, 1, sizeof(buf), w->capture)) > 0)
			fwrite(buf, 1, n, stderr);
	}
	if (w->capture != NULL)
		fclose(w->capture);
	if (w->out_fd >= 0)
		close(w->out_fd);
	if (w->err_fd >= 0)
		close(w->err_fd);
}

/* Set up: signals, and on a terminal the capture and the screen. */
static int
watch_enter(struct watch *w)
{
	if (cli_catch_signals() == -1) {
		fprintf(stderr, "jq-client: cannot catch signals: %s\n",
		    strerror(errno));
		return EXIT_REPLY;
	}
	if (!w->tty)
		return 0;
	if ((w->out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    (w->err_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    (w->capture = tmpfile()) == NULL) {
		fprintf(stderr, "jq-client: cannot set up the view: %s\n",
		    strerror(errno));
		return EXIT_REPLY;
	}
	/* Also when a second signal ends us in the middle of a request. */
	cli_signal_restore(w->out_fd, TERM_CURSOR_SHOW TERM_ALT_SCREEN_LEAVE,
	    false);
	if (term_write(w->out_fd, TERM_ALT_SCREEN_ENTER TERM_CURSOR_HIDE,
	    strlen(TERM_ALT_SCREEN_ENTER TERM_CURSOR_HIDE)) == -1)
		return EXIT_REPLY;
	return 0;
}

/* Until the next frame is due, or a signal came.  The signal, or 0. */
static int
watch_pause(struct watch *w, long long due_ms)
{
	struct pollfd	pfd;
	long long	left;

	pfd.fd = cli_wake_fd();
	pfd.events = POLLIN;
	while (cli_interrupted(w->cli) == 0 &&
	    (left = due_ms - units_clock_ms(CLOCK_MONOTONIC)) > 0)
		(void)poll(&pfd, 1, (int)(left > 60000 ? 60000 : left));
	return cli_interrupted(w->cli);
}

int
cli_watch(struct cli *cli, const struct args *a, cli_snapshot_fn *snap,
    void *arg)
{
	struct watch	w;
	long long	due;
	int		rc;

	memset(&w, 0, sizeof(w));
	w.cli = cli;
	w.out_fd = w.err_fd = -1;
	if ((rc = watch_interval(cli, a, &w.every_ms)) != 0)
		return rc;
	if (w.every_ms == 0)
		return snap(cli, arg);
	watch_title(&w, a);
	w.tty = isatty(STDOUT_FILENO) == 1;
	if ((rc = watch_enter(&w)) != 0) {
		watch_leave(&w, false);
		return rc;
	}
	for (;;) {
		due = units_clock_ms(CLOCK_MONOTONIC) + w.every_ms;
		rc = w.tty ? frame_tty(&w, snap, arg) :
		    frame_plain(&w, snap, arg);
		w.frames++;
		/* Interrupted during the frame: its "interrupted" is no
		   error to show. */
		if (cli_interrupted(cli) != 0)
			break;
		if (rc != EXIT_OK) {
			watch_leave(&w, true);
			return rc;
		}
		if (watch_pause(&w, due) != 0)
			break;
	}
	watch_leave(&w, false);
	return EXIT_SIGNAL + cli_interrupted(cli);
}
