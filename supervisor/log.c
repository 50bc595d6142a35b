/*
 * Logging: one line per event, "ts=... level=... " followed by the caller's
 * key=value fields, written to stderr with a single write(2) so lines from
 * the daemon and from handlers sharing the same stderr never interleave.
 *
 * When stderr is the journal (JOURNAL_STREAM names its device and
 * inode), each line begins with its syslog priority, "<6>" and the like,
 * sd-daemon(3)'s convention, which the journal takes off and keeps as the
 * line's level.
 *
 * Holding the lines of a turn of the event loop for one write bought
 * nothing clear of the spread (issue 18, hello-nolibc, 6 rounds side by
 * side: 0.96 to 1.08 of the connections/s at 64 at a time, none at 8,
 * where a write took 8 lines), so each line is written as it comes.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "portier.h"

#define LOG_LINE_MAX	20480	/* a 4 KiB stderr line, escaped, fits */

static int		 log_verbose;
static bool		 log_journal;	/* stderr is the journal's stream */
static time_t		 log_sec = -1;	/* the second log_stamp says */
static char		 log_stamp[32];
static size_t		 log_stamplen;

static void	log_vwrite(const char *, const char *, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));

/* Whether JOURNAL_STREAM, "DEVICE:INODE", is what stderr is. */
static bool
log_stderr_journal(void)
{
	const char		*v = getenv("JOURNAL_STREAM");
	unsigned long long	 dev, ino;
	struct stat		 st;
	char			 end;

	return v != NULL && sscanf(v, "%llu:%llu%c", &dev, &ino, &end) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/*
 * Set whether debug lines are written, and whether lines carry their
 * priority for the journal.
 */
void
log_init(int verbose)
{
	log_verbose = verbose;
	log_journal = log_stderr_journal();
}

/* The syslog priority of a level, as the journal reads it: "<N>". */
static const char *
log_priority(const char *level)
{
	switch (level[0]) {
	case 'f':
		return "<2>";	/* fatal: LOG_CRIT */
	case 'w':
		return "<4>";	/* warn: LOG_WARNING */
	case 'd':
		return "<7>";	/* debug: LOG_DEBUG */
	default:
		return "<6>";	/* info: LOG_INFO */
	}
}

/*
 * Format one line and write it to stderr; errtext, if any, is appended.
 * The timestamp's date and time are formatted once a second.
 */
static void
log_vwrite(const char *level, const char *errtext, const char *fmt,
    va_list ap)
{
	char		 line[LOG_LINE_MAX];
	struct timespec	 ts;
	struct tm	 tm;
	size_t		 len;
	int		 n;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != log_sec) {
		gmtime_r(&ts.tv_sec, &tm);
		log_stamplen = strftime(log_stamp, sizeof log_stamp,
		    "ts=%Y-%m-%dT%H:%M:%S", &tm);
		log_sec = ts.tv_sec;
	}
	len = 0;
	if (log_journal) {
		memcpy(line, log_priority(level), 3);
		len = 3;
	}
	memcpy(line + len, log_stamp, log_stamplen);
	len += log_stamplen;
	n = snprintf(line + len, sizeof line - len, ".%03ldZ level=%s ",
	    ts.tv_nsec / 1000000, level);
	len += (size_t)n;
	n = vsnprintf(line + len, sizeof line - len, fmt, ap);
	len = (n < 0 || (size_t)n >= sizeof line - len) ? sizeof line - 1 :
	    len + (size_t)n;
	if (errtext != NULL && len < sizeof line - 1) {
		n = snprintf(line + len, sizeof line - len, " error=\"%s\"",
		    errtext);
		len = (n < 0 || (size_t)n >= sizeof line - len) ?
		    sizeof line - 1 : len + (size_t)n;
	}
	if (len >= sizeof line - 1)
		memcpy(line + sizeof line - 5, "...", 3), len = sizeof line - 2;
	line[len++] = '\n';
	while (write(STDERR_FILENO, line, len) == -1 && errno == EINTR)
		continue;
}

/*
 * Whether a line that may come often is to be written now: not if one was
 * less than gap seconds ago, which is counted as held back instead.  When
 * it is, more gets " suppressed=N" for the lines held back since the last
 * (or nothing), so that none is lost without a trace.
 */
bool
log_limit(struct log_limit *ll, double gap, char *more, size_t len)
{
	struct timespec	ts;
	double		now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (ll->last != 0 && now - ll->last < gap) {
		ll->held++;
		return false;
	}
	more[0] = '\0';
	if (ll->held > 0)
		snprintf(more, len, " suppressed=%llu",
		    (unsigned long long)ll->held);
	ll->last = now;
	ll->held = 0;
	return true;
}

/* Log a warning with the text of the current errno appended. */
void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite("warn", strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

/* Log a warning. */
void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite("warn", NULL, fmt, ap);
	va_end(ap);
}

/* Log an informational event. */
void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite("info", NULL, fmt, ap);
	va_end(ap);
}

/* Log a debug event, only with -v. */
void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite("debug", NULL, fmt, ap);
	va_end(ap);
}

/* Log with the errno text and exit: for broken invariants only. */
void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite("fatal", strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log and exit: for broken invariants only. */
void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite("fatal", NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
