/*
 * Logging: one line per event, "ts=... level=... " followed by the caller's
 * key=value fields, written to stderr with a single write(2) so lines from
 * the daemon and from handlers sharing the same stderr never interleave.
 *
 * With log = "syslog" the same line is one datagram to the syslog socket
 * (log_socket, /dev/log by default), in the form the C library's
 * syslog(3) sends there, "<PRI>Mmm dd hh:mm:ss ident[pid]: line", its
 * priority the facility's and the level's.  syslog(3) itself is not used:
 * it cannot be told another socket, and it blocks when the reader falls
 * behind.  A line the socket does not take (no reader, a full queue) goes
 * to stderr instead, after a line a second saying why.
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

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "portier.h"

#define LOG_LINE_MAX	20480	/* a 4 KiB stderr line, escaped, fits */
#define LOG_ESCAPE_BUFS	4	/* log_escape values one line may hold */

static int		 log_verbose;
static bool		 log_journal;	/* stderr is the journal's stream */
static time_t		 log_sec = -1;	/* the second log_stamp says */
static char		 log_stamp[32];
static size_t		 log_stamplen;
/* The syslog header after its priority: "Mmm dd hh:mm:ss ident[pid]: " */
static char		 log_sysstamp[LOG_IDENT_MAX + 48];

/* log = "syslog": where lines go, and what they are headed with. */
static struct {
	int			 fd;		/* -1: stderr */
	struct sockaddr_un	 sun;
	int			 facility;
	char			 ident[LOG_IDENT_MAX + 1];
	struct log_limit	 limit;		/* lines saying a send failed */
} log_sys = { .fd = -1 };

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

/* The syslog severity of a level. */
static int
log_severity(const char *level)
{
	switch (level[0]) {
	case 'f':
		return LOG_CRIT;
	case 'w':
		return LOG_WARNING;
	case 'd':
		return LOG_DEBUG;
	default:
		return LOG_INFO;
	}
}

/*
 * Check where conf sends the log: with log = "syslog", log_socket must be
 * a socket (a datagram one, which the first line sent will tell).
 */
int
log_check(const struct config *conf, char *err, size_t errlen)
{
	struct stat	st;

	if (!conf->log_syslog)
		return 0;
	if (strlen(conf->log_socket) >= sizeof log_sys.sun.sun_path) {
		snprintf(err, errlen, "log_socket \"%s\": longer than %zu "
		    "bytes", conf->log_socket, sizeof log_sys.sun.sun_path - 1);
		return -1;
	}
	if (stat(conf->log_socket, &st) == -1) {
		snprintf(err, errlen, "log_socket \"%s\": %s", conf->log_socket,
		    strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "log_socket \"%s\": not a socket",
		    conf->log_socket);
		return -1;
	}
	return 0;
}

/*
 * Send the log where conf says, log_check having passed: stderr, or the
 * syslog socket through a datagram socket of our own that never blocks.
 */
void
log_apply(const struct config *conf)
{
	if (!conf->log_syslog) {
		if (log_sys.fd != -1)
			close(log_sys.fd);
		log_sys.fd = -1;
		return;
	}
	if (log_sys.fd == -1 && (log_sys.fd = socket(AF_UNIX, SOCK_DGRAM |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("event=log-error socket=\"%s\"",
		    log_escape(conf->log_socket));
		return;
	}
	memset(&log_sys.sun, 0, sizeof log_sys.sun);
	log_sys.sun.sun_family = AF_UNIX;
	snprintf(log_sys.sun.sun_path, sizeof log_sys.sun.sun_path, "%s",
	    conf->log_socket);
	log_sys.facility = conf->log_facility;
	snprintf(log_sys.ident, sizeof log_sys.ident, "%s", conf->log_ident);
	log_sec = -1;	/* the header names the ident */
}

/* Close the syslog socket, at exit. */
void
log_fini(void)
{
	if (log_sys.fd != -1)
		close(log_sys.fd);
	log_sys.fd = -1;
}

/*
 * Send one line (len bytes, no newline) to the syslog socket, headed as
 * syslog(3) heads it.  Returns 0, or -1 with errno.
 */
static int
log_send(const char *level, const char *line, size_t len)
{
	char		 pri[8];
	struct iovec	 iov[3];
	struct msghdr	 msg;

	snprintf(pri, sizeof pri, "<%d>", log_sys.facility |
	    log_severity(level));
	iov[0].iov_base = pri;
	iov[0].iov_len = strlen(pri);
	iov[1].iov_base = log_sysstamp;
	iov[1].iov_len = strlen(log_sysstamp);
	iov[2].iov_base = (void *)line;
	iov[2].iov_len = len;
	memset(&msg, 0, sizeof msg);
	msg.msg_name = &log_sys.sun;
	msg.msg_namelen = sizeof log_sys.sun;
	msg.msg_iov = iov;
	msg.msg_iovlen = 3;
	while (sendmsg(log_sys.fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

/*
 * The syslog socket did not take a line: say so on stderr, once a second,
 * before the line goes there too.
 */
static void
log_send_failed(int error)
{
	char	more[64];
	int	fd = log_sys.fd;

	if (!log_limit(&log_sys.limit, 1.0, more, sizeof more))
		return;
	log_sys.fd = -1;
	log_warnx("event=log-error socket=\"%s\" error=\"%s\"%s",
	    log_escape(log_sys.sun.sun_path), strerror(error), more);
	log_sys.fd = fd;
}

/*
 * Format one line and write it to stderr, or send it to syslog; errtext,
 * if any, is appended.  The timestamps are formatted once a second, the
 * rest by text_vformat, not the C library's vsnprintf.
 * Three bytes before the line are kept for the journal's "<N>".
 */
static void
log_vwrite(const char *level, const char *errtext, const char *fmt,
    va_list ap)
{
	char		 buf[LOG_LINE_MAX], *line = buf + 3;
	struct timespec	 ts;
	struct tm	 tm;
	size_t		 len, max = sizeof buf - 3;
	int		 n;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != log_sec) {
		gmtime_r(&ts.tv_sec, &tm);
		log_stamplen = strftime(log_stamp, sizeof log_stamp,
		    "ts=%Y-%m-%dT%H:%M:%S", &tm);
		/* Even while a failed send's line goes to stderr. */
		if (log_sys.ident[0] != '\0') {
			localtime_r(&ts.tv_sec, &tm);
			n = (int)strftime(log_sysstamp, sizeof log_sysstamp,
			    "%b %e %H:%M:%S ", &tm);
			snprintf(log_sysstamp + n, sizeof log_sysstamp -
			    (size_t)n, "%s[%ld]: ", log_sys.ident,
			    (long)getpid());
		}
		log_sec = ts.tv_sec;
	}
	memcpy(line, log_stamp, log_stamplen);
	len = log_stamplen;
	n = text_format(line + len, max - len, ".%03ldZ level=%s ",
	    ts.tv_nsec / 1000000, level);
	len += (size_t)n;
	n = text_vformat(line + len, max - len, fmt, ap);
	len = (n < 0 || (size_t)n >= max - len) ? max - 1 : len + (size_t)n;
	if (errtext != NULL && len < max - 1) {
		n = text_format(line + len, max - len, " error=\"%s\"", errtext);
		len = (n < 0 || (size_t)n >= max - len) ? max - 1 :
		    len + (size_t)n;
	}
	if (len >= max - 1)
		memcpy(line + max - 5, "...", 3), len = max - 2;
	if (log_sys.fd != -1) {
		if (log_send(level, line, len) == 0)
			return;
		log_send_failed(errno);
	}
	line[len++] = '\n';
	if (log_journal) {
		snprintf(buf, 4, "<%d", log_severity(level));
		buf[2] = '>';
		line = buf;
		len += 3;
	}
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

/*
 * s escaped (text_escape) for a quoted value, "%s" in a line's format,
 * when it may hold what the config chose (a path, a config error): in one
 * of LOG_ESCAPE_BUFS buffers, used in turn, so up to that many in a line.
 */
const char *
log_escape(const char *s)
{
	static char	buf[LOG_ESCAPE_BUFS][4096];
	static int	next;
	char		*b = buf[next];

	next = (next + 1) % LOG_ESCAPE_BUFS;
	text_escape(b, sizeof buf[0], s, strlen(s));
	return b;
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

/* Whether log_debug writes: a caller skips the arguments' cost if not. */
bool
log_debugging(void)
{
	return log_verbose != 0;
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
