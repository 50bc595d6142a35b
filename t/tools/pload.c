/*
 * pload: the load generator of portier's benchmark.
 *
 * One process, one epoll loop, no threads and nothing but libc, so that the
 * client costs as little as it can and what it measures is the server:
 *
 *   conn    N short connections, at most C at once: connect, send, read,
 *           close; prints the rate and latency percentiles.  -T cuts N to
 *           what it started in that many seconds, so a slow server ends
 *           a run as soon as a fast one.
 *   stream  BYTES through an echo service over CONNS connections at once,
 *           each checked byte for byte against its own pseudo-random
 *           sequence, so a lost, doubled or swapped chunk is seen.
 *   hold    N connections opened, served once, then held until stdin ends
 *           or SIGTERM/SIGINT, to prove how many a server keeps at once.
 *
 * Each mode prints one key=value line on stdout.  Every wait is bounded by
 * a timeout, and what goes wrong with one connection is counted by kind,
 * never fatal; only the tool's own failures (memory, epoll) are.
 */
#define _GNU_SOURCE

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define PLOAD_BUFSIZE		(64 * 1024)	/* reads, and stream's writes */
#define PLOAD_EVENTS		256		/* per epoll_wait */
#define PLOAD_BURST		16		/* reads or writes per event */
#define PLOAD_SCAN_S		0.1		/* timeouts are checked this often */
#define PLOAD_RETRY_MAX		1000		/* EADDRNOTAVAIL retries per conn */
#define PLOAD_RETRY_S		0.001		/* pause before such a retry */
#define PLOAD_HOLD_INFLIGHT	256		/* hold: connects under way */
#define PLOAD_STREAM_MAXCONNS	4096		/* stream: 64 KiB buffer each */
#define PLOAD_TOKEN_SIGNAL	UINT32_MAX	/* epoll data of the signalfd */
#define PLOAD_TOKEN_STDIN	(UINT32_MAX - 1)	/* and of stdin */

/* How a connection ended; also the index of its counter. */
enum pload_result {
	PLOAD_PENDING,		/* not ended yet */
	PLOAD_OK,		/* served as asked (stream: verified) */
	PLOAD_REFUSED,		/* ECONNREFUSED */
	PLOAD_RESET,		/* ECONNRESET or EPIPE */
	PLOAD_TIMEOUT,		/* -t passed first */
	PLOAD_SHORT,		/* EOF before the reply was complete */
	PLOAD_MISMATCH,		/* stream: echo differs from what was sent */
	PLOAD_OTHER,		/* any other error */
	PLOAD_NRESULTS
};

/* A connection's progress in conn and hold modes. */
enum pload_state {
	PLOAD_IDLE,		/* no descriptor: not started, or ended */
	PLOAD_RETRY,		/* connect met EADDRNOTAVAIL; try again soon */
	PLOAD_CONNECTING,	/* non-blocking connect under way */
	PLOAD_SENDING,		/* connected, payload not all sent yet */
	PLOAD_READING,		/* payload sent, reply not complete yet */
	PLOAD_HELD,		/* hold: served, kept open */
	PLOAD_NSTATES
};

#define PLOAD_BIT(s)	(1U << (s))

/* The states each state may move to; any may end (go back to idle). */
static const unsigned pload_moves[PLOAD_NSTATES] = {
	[PLOAD_IDLE] = PLOAD_BIT(PLOAD_RETRY) | PLOAD_BIT(PLOAD_CONNECTING),
	[PLOAD_RETRY] = PLOAD_BIT(PLOAD_RETRY) | PLOAD_BIT(PLOAD_CONNECTING),
	[PLOAD_CONNECTING] = PLOAD_BIT(PLOAD_SENDING) | PLOAD_BIT(PLOAD_READING) |
	    PLOAD_BIT(PLOAD_HELD),
	[PLOAD_SENDING] = PLOAD_BIT(PLOAD_READING) | PLOAD_BIT(PLOAD_HELD),
	[PLOAD_READING] = PLOAD_BIT(PLOAD_HELD),
	[PLOAD_HELD] = 0,
};

/* The command line, checked. */
struct pload_args {
	long long		 n, c, s, k, b, t;	/* 0: not given */
	long long		 T;		/* conn -T: seconds */
	long long		 a;		/* -a: source addresses */
	const char		*d;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	char			*payload;	/* from -s or -d */
	size_t			 paylen;
	uint64_t		 seen;		/* options given, bit per letter */
};

/* One mode: its options and its loop. */
struct pload_mode {
	const char	*name;
	const char	*optstring;
	const char	*required;	/* options that must be given */
	long long	 timeout;	/* default -t */
	const char	*usage;
	int		(*run)(const struct pload_mode *, struct pload_args *);
};

/* A numeric option: where it goes and what it may be. */
struct pload_num {
	int		 letter;
	size_t		 offset;	/* in struct pload_args */
	long long	 min, max;
};

/* One connection of conn and hold modes. */
struct pload_sock {
	int		 fd;
	uint32_t	 id;		/* index in its array: epoll's data */
	enum pload_state state;
	uint32_t	 events;	/* what epoll watches for; 0: not added */
	int		 tries;		/* EADDRNOTAVAIL retries so far */
	double		 start;		/* before the latest connect() */
	double		 retry_at;
	size_t		 sent;
	long long	 got;
};

/* What conn and hold modes share: the target, counters, a read buffer. */
struct pload {
	const struct pload_args	*args;
	int			 ep;
	bool			 to_eof;	/* read until EOF, not -k bytes */
	bool			 reported;	/* first "other" error printed */
	int			 waiting;	/* sockets in PLOAD_RETRY */
	long long		 count[PLOAD_NRESULTS];
	long long		 retries;
	char			 buf[PLOAD_BUFSIZE];
};

/* conn mode: C sockets reused for N connections. */
struct pload_conn {
	struct pload		 pl;
	struct pload_sock	*socks;
	size_t			 nsocks;
	double			*lat;		/* of the successful ones */
	long long		 n;		/* to run: -n, cut by -T */
	bool			 cut;		/* -T stopped it before -n */
	long long		 nlat, started, done;
	double			 first, last;
	double			 until;		/* -T: start none after; or 0 */
};

/* hold mode: one socket per connection. */
struct pload_hold {
	struct pload		 pl;
	struct pload_sock	*socks;
	long long		 started, settled, inflight, lo;
	long long		 held;		/* open now */
	long long		 closed_early;	/* by the peer, before the line */
	long long		 closed_by_peer;	/* after it */
	int			 sigfd;
	bool			 printed, stop;
};

/* A xorshift64* sequence of bytes, cut anywhere. */
struct pload_gen {
	uint64_t	 s;
	unsigned char	 buf[8];
	unsigned	 avail;		/* unread bytes at the end of buf */
};

/* One connection of stream mode. */
struct pload_flow {
	int		 fd;
	bool		 connected, wr_done, done;
	long long	 total, queued, recvd;
	struct pload_gen tx, rx;
	unsigned char	*txbuf;
	size_t		 txlen, txoff;
};

/* stream mode. */
struct pload_stream {
	const struct pload_args	*args;
	int			 ep;
	struct pload_flow	*flows;
	long long		 nflows, remaining, good;
	long long		 count[PLOAD_NRESULTS];
	bool			 reported, told_mismatch;
	double			 first, last;
	unsigned char		 rbuf[PLOAD_BUFSIZE], want[PLOAD_BUFSIZE];
};

static int	pload_conn_run(const struct pload_mode *, struct pload_args *);
static int	pload_stream_run(const struct pload_mode *,
		    struct pload_args *);
static int	pload_hold_run(const struct pload_mode *, struct pload_args *);

static void	pload_usage(const struct pload_mode *, const char *, ...)
		    __attribute__((format(printf, 2, 3), noreturn));

static const struct pload_mode pload_modes[] = {
	{ "conn", "+:n:c:s:d:k:t:T:a:", "nc", 10, "conn HOST PORT -n N -c C "
	    "[-s BYTES | -d STRING] [-k K] [-t SECONDS] [-T SECONDS] "
	    "[-a NADDR]",
	    pload_conn_run },
	{ "stream", "+:b:c:t:", "bc", 120, "stream HOST PORT -b BYTES "
	    "-c CONNS [-t SECONDS]", pload_stream_run },
	{ "hold", "+:n:d:k:t:", "n", 10, "hold HOST PORT -n N [-d STRING] "
	    "[-k K] [-t SECONDS]", pload_hold_run },
};
#define PLOAD_NMODES	(sizeof pload_modes / sizeof pload_modes[0])

static const struct pload_num pload_nums[] = {
	{ 'n', offsetof(struct pload_args, n), 1, 10000000 },
	{ 'c', offsetof(struct pload_args, c), 1, 1000000 },
	{ 's', offsetof(struct pload_args, s), 1, 64 * 1024 * 1024 },
	{ 'k', offsetof(struct pload_args, k), 1, 1LL << 40 },
	{ 'b', offsetof(struct pload_args, b), 1, 1LL << 40 },
	{ 't', offsetof(struct pload_args, t), 1, 86400 },
	{ 'T', offsetof(struct pload_args, T), 1, 86400 },
	{ 'a', offsetof(struct pload_args, a), 1, 254 },
};
#define PLOAD_NNUMS	(sizeof pload_nums / sizeof pload_nums[0])

/* Print what is wrong with the command line and how to use it; exit 2. */
static void
pload_usage(const struct pload_mode *m, const char *fmt, ...)
{
	va_list	ap;
	size_t	i;

	fputs("pload: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (i = 0; i < PLOAD_NMODES; i++) {
		if (m == NULL || m == &pload_modes[i])
			fprintf(stderr, "%s pload %s\n", i == 0 || m != NULL ?
			    "usage:" : "      ", pload_modes[i].usage);
	}
	exit(2);
}

/* Allocate a zeroed array; running out of memory is fatal. */
static void *
pload_xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n, size)) == NULL)
		tool_fatal("calloc %zu * %zu bytes", n, size);
	return p;
}

/* Parse a decimal integer in [min, max]; anything else is a usage error. */
static long long
pload_number(const struct pload_mode *m, const char *what, const char *s,
    long long min, long long max)
{
	char		*end;
	long long	 v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || errno != 0 || *end != '\0' ||
	    v < min || v > max)
		pload_usage(m, "bad %s '%s': want an integer from %lld to %lld",
		    what, s, min, max);
	return v;
}

/* Decode -d: the C escapes \n \r \t \\ \0; any other is an error. */
static void
pload_unescape(const struct pload_mode *m, struct pload_args *a,
    const char *s)
{
	const char	*why;

	if ((a->payload = tool_unescape(s, &a->paylen, &why)) == NULL)
		pload_usage(m, "bad -d '%s': %s", s, why);
}

/* -s BYTES: BYTES - 1 'x' and a newline. */
static void
pload_fill(struct pload_args *a)
{
	a->paylen = (size_t)a->s;
	a->payload = pload_xcalloc(a->paylen, 1);
	memset(a->payload, 'x', a->paylen - 1);
	a->payload[a->paylen - 1] = '\n';
}

/* Store one option's argument. */
static void
pload_option(const struct pload_mode *m, struct pload_args *a, int opt,
    const char *arg)
{
	char	 what[4] = { '-', (char)opt, '\0', '\0' };
	size_t	 i;

	if (opt < 'A' || opt > 'z')
		pload_usage(m, "unknown option '-%c'", opt);
	if (a->seen & (1ULL << (opt - 'A')))
		pload_usage(m, "option '%s' given twice", what);
	a->seen |= 1ULL << (opt - 'A');
	if (opt == 'd') {
		a->d = arg;
		return;
	}
	for (i = 0; i < PLOAD_NNUMS; i++) {
		if (pload_nums[i].letter == opt) {
			*(long long *)(void *)((char *)a + pload_nums[i].offset) =
			    pload_number(m, what, arg, pload_nums[i].min,
			    pload_nums[i].max);
			return;
		}
	}
	pload_usage(m, "unknown option '-%c'", opt);
}

/* Resolve the numeric HOST and PORT. */
static void
pload_target(const struct pload_mode *m, struct pload_args *a,
    const char *host, const char *port)
{
	struct addrinfo	 hints, *res;
	int		 error;

	(void)pload_number(m, "PORT", port, 1, 65535);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0)
		pload_usage(m, "bad HOST '%s': %s", host, gai_strerror(error));
	memcpy(&a->addr, res->ai_addr, res->ai_addrlen);
	a->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

/* Parse the options after MODE HOST PORT, then check what goes together. */
static void
pload_options(const struct pload_mode *m, struct pload_args *a, int argc,
    char **argv)
{
	const char	*r;
	int		 opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt(argc, argv, m->optstring)) != -1) {
		if (opt == ':')
			pload_usage(m, "option '-%c' needs a value", optopt);
		if (opt == '?')
			pload_usage(m, "unknown option '-%c'", optopt);
		pload_option(m, a, opt, optarg);
	}
	if (optind < argc)
		pload_usage(m, "unexpected argument '%s'", argv[optind]);
	for (r = m->required; *r != '\0'; r++) {
		if (!(a->seen & (1ULL << (*r - 'A'))))
			pload_usage(m, "option '-%c' is required", *r);
	}
	if (a->s != 0 && a->d != NULL)
		pload_usage(m, "options -s and -d exclude each other");
	if (a->t == 0)
		a->t = m->timeout;
	if (a->s != 0)
		pload_fill(a);
	if (a->d != NULL)
		pload_unescape(m, a, a->d);
}

/* Parse the whole command line; returns the mode to run. */
static const struct pload_mode *
pload_parse(int argc, char **argv, struct pload_args *a)
{
	const struct pload_mode	*m = NULL;
	size_t			 i;

	if (argc < 2)
		pload_usage(NULL, "no mode given");
	for (i = 0; i < PLOAD_NMODES; i++) {
		if (strcmp(argv[1], pload_modes[i].name) == 0)
			m = &pload_modes[i];
	}
	if (m == NULL)
		pload_usage(NULL, "unknown mode '%s'", argv[1]);
	if (argc < 4)
		pload_usage(m, "HOST and PORT are required");
	pload_target(m, a, argv[2], argv[3]);
	/* getopt sees PORT as the program name and starts after it. */
	pload_options(m, a, argc - 3, argv + 3);
	return m;
}

/* Wait for events; an interrupted wait returns none. */
static int
pload_wait(int ep, struct epoll_event *evs, int ms)
{
	int	n;

	if ((n = epoll_wait(ep, evs, PLOAD_EVENTS, ms)) == -1) {
		if (errno != EINTR)
			tool_fatal("epoll_wait");
		return 0;
	}
	return n;
}

/* Classify an error; the first unexpected one is printed, once. */
static enum pload_result
pload_fail(bool *reported, const char *step, int err)
{
	switch (err) {
	case ECONNREFUSED:
		return PLOAD_REFUSED;
	case ECONNRESET:
	case EPIPE:
		return PLOAD_RESET;
	}
	if (!*reported) {
		fprintf(stderr, "pload: first other error: %s: %s\n", step,
		    strerror(err));
		*reported = true;
	}
	return PLOAD_OTHER;
}

/* The pending error of a socket whose connect was under way. */
static int
pload_so_error(int fd)
{
	int		err = 0;
	socklen_t	len = sizeof err;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return errno;
	return err;
}

/*
 * -a NADDR: connect from 127.0.0.1 to 127.0.0.NADDR in turn, so that the
 * TIME_WAIT sockets of a long run are spread over NADDR times the port
 * space and connect() does not slow down searching for a free port.  The
 * port is still picked at connect() (IP_BIND_ADDRESS_NO_PORT).
 */
static int
pload_source(const struct pload_args *a, int fd)
{
	static unsigned		 next;
	struct sockaddr_in	 sin;
	int			 one = 1;

	if (a->addr.ss_family != AF_INET)
		return 0;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000001U + next++ % (unsigned)a->a);
	if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof one) == -1)
		return -1;
	return bind(fd, (struct sockaddr *)&sin, sizeof sin);
}

/*
 * Open a non-blocking socket and start connecting it.  Returns 0 or
 * EINPROGRESS with *fdp set, or an errno with the socket closed and *stepp
 * naming the call that failed.  *startp is taken just before connect().
 */
static int
pload_connect(const struct pload_args *a, int *fdp, double *startp,
    const char **stepp)
{
	int	fd, err;

	*fdp = -1;
	fd = socket(a->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		*stepp = "socket";
		return errno;
	}
	if (a->a > 1 && pload_source(a, fd) == -1) {
		err = errno;
		(void)close(fd);
		*stepp = "bind";
		return err;
	}
	*startp = tool_now();
	if (connect(fd, (const struct sockaddr *)&a->addr, a->addrlen) == 0) {
		*fdp = fd;
		return 0;
	}
	if ((err = errno) == EINPROGRESS) {
		*fdp = fd;
		return err;
	}
	(void)close(fd);	/* never connected: nothing to lose */
	*stepp = "connect";
	return err;
}

/* Move a socket to a new state; an illegal move is a bug. */
static void
pload_sock_set(struct pload *pl, struct pload_sock *pc, enum pload_state to)
{
	assert(to == PLOAD_IDLE || (pload_moves[pc->state] & PLOAD_BIT(to)));
	if (pc->state == PLOAD_RETRY)
		pl->waiting--;
	if (to == PLOAD_RETRY)
		pl->waiting++;
	pc->state = to;
}

/* Close a socket's descriptor and make its slot idle. */
static void
pload_sock_close(struct pload *pl, struct pload_sock *pc)
{
	if (pc->fd != -1)
		(void)close(pc->fd);	/* its outcome is already counted */
	pc->fd = -1;
	pc->events = 0;
	pload_sock_set(pl, pc, PLOAD_IDLE);
}

/* Make epoll watch a socket for these events, adding it the first time. */
static enum pload_result
pload_sock_watch(struct pload *pl, struct pload_sock *pc, uint32_t events)
{
	struct epoll_event	ev;
	int			op;

	if (pc->events == events)
		return PLOAD_PENDING;
	op = pc->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.u32 = pc->id;
	if (epoll_ctl(pl->ep, op, pc->fd, &ev) == -1)
		return pload_fail(&pl->reported, "epoll_ctl", errno);
	pc->events = events;
	return PLOAD_PENDING;
}

/* The payload is all sent: done, or wait for the reply. */
static enum pload_result
pload_sock_sent(struct pload *pl, struct pload_sock *pc)
{
	if (pl->args->k == 0 && !pl->to_eof)
		return PLOAD_OK;
	pload_sock_set(pl, pc, PLOAD_READING);
	return pload_sock_watch(pl, pc, EPOLLIN);
}

/* Send what is left of the payload, as far as the socket takes it. */
static enum pload_result
pload_sock_send(struct pload *pl, struct pload_sock *pc)
{
	const struct pload_args	*a = pl->args;
	ssize_t			 n;

	while (pc->sent < a->paylen) {
		n = send(pc->fd, a->payload + pc->sent, a->paylen - pc->sent,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return pload_sock_watch(pl, pc, EPOLLIN | EPOLLOUT);
		if (n == -1)
			return pload_fail(&pl->reported, "send", errno);
		pc->sent += (size_t)n;
	}
	return pload_sock_sent(pl, pc);
}

/*
 * Read what has come; done at -k bytes, or at EOF without -k.  A burst at
 * most per event: a server that never stops must not keep the loop from
 * its timeouts (epoll is level-triggered and will call again).
 */
static enum pload_result
pload_sock_read(struct pload *pl, struct pload_sock *pc)
{
	long long	k = pl->args->k;
	ssize_t		n;
	int		i;

	for (i = 0; i < PLOAD_BURST; i++) {
		n = read(pc->fd, pl->buf, sizeof pl->buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1)
			return pload_fail(&pl->reported, "read", errno);
		if (n == 0)
			return pl->to_eof && pc->got > 0 ? PLOAD_OK :
			    PLOAD_SHORT;
		pc->got += n;
		if (k != 0 && pc->got >= k)
			return PLOAD_OK;
	}
	return PLOAD_PENDING;
}

/* Connected: send the payload, if any, else go on to the reply. */
static enum pload_result
pload_sock_connected(struct pload *pl, struct pload_sock *pc)
{
	if (pl->args->paylen == 0)
		return pload_sock_sent(pl, pc);
	pload_sock_set(pl, pc, PLOAD_SENDING);
	return pload_sock_send(pl, pc);
}

/* Connect met EADDRNOTAVAIL: no ephemeral port is free; retry soon. */
static enum pload_result
pload_sock_retry(struct pload *pl, struct pload_sock *pc, double now)
{
	pl->retries++;
	if (++pc->tries > PLOAD_RETRY_MAX)
		return pload_fail(&pl->reported, "connect", EADDRNOTAVAIL);
	pc->retry_at = now + PLOAD_RETRY_S;
	pload_sock_set(pl, pc, PLOAD_RETRY);
	return PLOAD_PENDING;
}

/* Start (or retry) a connection in an idle (or waiting) slot. */
static enum pload_result
pload_sock_start(struct pload *pl, struct pload_sock *pc)
{
	const char		*step = "connect";
	enum pload_result	 r;
	int			 err;

	if (pc->state == PLOAD_IDLE)
		pc->tries = 0;
	pc->sent = 0;
	pc->got = 0;
	err = pload_connect(pl->args, &pc->fd, &pc->start, &step);
	if (err == EADDRNOTAVAIL)
		return pload_sock_retry(pl, pc, tool_now());
	if (err != 0 && err != EINPROGRESS)
		return pload_fail(&pl->reported, step, err);
	pload_sock_set(pl, pc, PLOAD_CONNECTING);
	if ((r = pload_sock_watch(pl, pc, EPOLLOUT)) != PLOAD_PENDING)
		return r;
	return err == 0 ? pload_sock_connected(pl, pc) : PLOAD_PENDING;
}

/* An epoll event on a socket that is not held. */
static enum pload_result
pload_sock_event(struct pload *pl, struct pload_sock *pc, uint32_t events)
{
	enum pload_result	r;
	int			err;

	switch (pc->state) {
	case PLOAD_CONNECTING:
		if ((err = pload_so_error(pc->fd)) != 0)
			return pload_fail(&pl->reported, "connect", err);
		return pload_sock_connected(pl, pc);
	case PLOAD_SENDING:
		if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
			if ((r = pload_sock_read(pl, pc)) != PLOAD_PENDING)
				return r;
		}
		return (events & EPOLLOUT) ? pload_sock_send(pl, pc) :
		    PLOAD_PENDING;
	case PLOAD_READING:
		return pload_sock_read(pl, pc);
	default:
		return PLOAD_PENDING;
	}
}

/* What to do now with a socket by the clock: retry it, or time it out. */
static enum pload_result
pload_sock_tick(struct pload *pl, struct pload_sock *pc, double now)
{
	switch (pc->state) {
	case PLOAD_RETRY:
		return now >= pc->retry_at ? pload_sock_start(pl, pc) :
		    PLOAD_PENDING;
	case PLOAD_CONNECTING:
	case PLOAD_SENDING:
	case PLOAD_READING:
		return now - pc->start >= (double)pl->args->t ?
		    PLOAD_TIMEOUT : PLOAD_PENDING;
	default:
		return PLOAD_PENDING;
	}
}

/* Set up what conn and hold modes share. */
static void
pload_init(struct pload *pl, const struct pload_args *a, bool to_eof)
{
	pl->args = a;
	pl->to_eof = to_eof;
	if ((pl->ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		tool_fatal("epoll_create1");
}

/* An array of idle sockets. */
static struct pload_sock *
pload_socks(size_t n)
{
	struct pload_sock	*socks;
	size_t			 i;

	socks = pload_xcalloc(n, sizeof *socks);
	for (i = 0; i < n; i++) {
		socks[i].fd = -1;
		socks[i].id = (uint32_t)i;
	}
	return socks;
}

/* Compare doubles for qsort. */
static int
pload_cmp(const void *x, const void *y)
{
	double	a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

/* The nearest-rank percentile p of n sorted values, in milliseconds. */
static double
pload_pct(const double *v, long long n, long long p)
{
	long long	rank;

	if (n == 0)
		return 0;
	rank = (p * n + 99) / 100;
	return v[rank < 1 ? 0 : rank - 1] * 1e3;
}

/* Write stdout out; a lost result line is a failure. */
static void
pload_flush(void)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		tool_fatal("write stdout");
}

/* conn: count an ended connection and close it. */
static void
pload_conn_record(struct pload_conn *run, struct pload_sock *pc,
    enum pload_result r)
{
	double	now = tool_now();

	if (r == PLOAD_OK)
		run->lat[run->nlat++] = now - pc->start;
	run->pl.count[r]++;
	run->done++;
	run->last = now;
	pload_sock_close(&run->pl, pc);
}

/* conn: start the next connections in a free slot until one is pending. */
static void
pload_conn_next(struct pload_conn *run, struct pload_sock *pc)
{
	enum pload_result	r;

	while (run->started < run->n) {
		run->started++;
		if ((r = pload_sock_start(&run->pl, pc)) == PLOAD_PENDING)
			return;
		pload_conn_record(run, pc, r);
	}
}

/* conn: a connection ended; its slot takes the next one. */
static void
pload_conn_end(struct pload_conn *run, struct pload_sock *pc,
    enum pload_result r)
{
	pload_conn_record(run, pc, r);
	pload_conn_next(run, pc);
}

/* conn: one turn of the loop. */
static void
pload_conn_step(struct pload_conn *run, double *next_scan)
{
	struct epoll_event	 evs[PLOAD_EVENTS];
	struct pload_sock	*pc;
	enum pload_result	 r;
	double			 now;
	int			 i, n;

	n = pload_wait(run->pl.ep, evs, run->pl.waiting > 0 ? 1 :
	    (int)(PLOAD_SCAN_S * 1000));
	for (i = 0; i < n; i++) {
		pc = &run->socks[evs[i].data.u32];
		r = pload_sock_event(&run->pl, pc, evs[i].events);
		if (r != PLOAD_PENDING)
			pload_conn_end(run, pc, r);
	}
	now = tool_now();
	if (run->until > 0 && now >= run->until && run->n > run->started) {
		run->n = run->started;
		run->cut = true;
	}
	if (run->pl.waiting == 0 && now < *next_scan)
		return;
	*next_scan = now + PLOAD_SCAN_S;
	for (i = 0; (size_t)i < run->nsocks; i++) {
		pc = &run->socks[i];
		if ((r = pload_sock_tick(&run->pl, pc, now)) != PLOAD_PENDING)
			pload_conn_end(run, pc, r);
	}
}

/* conn: print the result line. */
static void
pload_conn_report(struct pload_conn *run)
{
	const struct pload_args	*a = run->pl.args;
	const long long		*cnt = run->pl.count;
	double			 elapsed = run->last - run->first;

	qsort(run->lat, (size_t)run->nlat, sizeof *run->lat, pload_cmp);
	printf("mode=conn n=%lld c=%lld ok=%lld elapsed_s=%.3f "
	    "conn_per_s=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f refused=%lld "
	    "reset=%lld timeout=%lld short=%lld other=%lld retries=%lld "
	    "cut=%d\n",
	    run->n, a->c, cnt[PLOAD_OK], elapsed, elapsed > 0 ?
	    (double)cnt[PLOAD_OK] / elapsed : 0.0,
	    pload_pct(run->lat, run->nlat, 50),
	    pload_pct(run->lat, run->nlat, 99),
	    pload_pct(run->lat, run->nlat, 100), cnt[PLOAD_REFUSED],
	    cnt[PLOAD_RESET], cnt[PLOAD_TIMEOUT], cnt[PLOAD_SHORT],
	    cnt[PLOAD_OTHER], run->pl.retries, run->cut);
	pload_flush();
}

/* conn mode: N connections, C at once. */
static int
pload_conn_run(const struct pload_mode *m, struct pload_args *a)
{
	struct pload_conn	*run;
	double			 next_scan;
	size_t			 i;
	int			 rc;

	(void)m;
	run = pload_xcalloc(1, sizeof *run);
	pload_init(&run->pl, a, a->k == 0);
	run->nsocks = (size_t)(a->c < a->n ? a->c : a->n);
	run->socks = pload_socks(run->nsocks);
	run->lat = pload_xcalloc((size_t)a->n, sizeof *run->lat);
	run->n = a->n;
	run->first = run->last = tool_now();
	if (a->T > 0)
		run->until = run->first + (double)a->T;
	next_scan = run->first + PLOAD_SCAN_S;
	for (i = 0; i < run->nsocks; i++)
		pload_conn_next(run, &run->socks[i]);
	while (run->done < run->n)
		pload_conn_step(run, &next_scan);
	pload_conn_report(run);
	rc = run->pl.count[PLOAD_OK] == run->n ? 0 : 1;
	(void)close(run->pl.ep);
	free(run->lat);
	free(run->socks);
	free(run);
	return rc;
}

/* hold: a connection's setup is over, served or failed. */
static void
pload_hold_settle(struct pload_hold *run, struct pload_sock *pc,
    enum pload_result r)
{
	run->inflight--;
	run->settled++;
	if (r == PLOAD_OK) {
		pload_sock_set(&run->pl, pc, PLOAD_HELD);
		r = pload_sock_watch(&run->pl, pc, EPOLLIN | EPOLLRDHUP);
		if (r == PLOAD_PENDING) {
			run->pl.count[PLOAD_OK]++;
			run->held++;
			return;
		}
	}
	run->pl.count[r]++;
	pload_sock_close(&run->pl, pc);
}

/* hold: start connections while fewer than the limit are under way. */
static void
pload_hold_fill(struct pload_hold *run)
{
	struct pload_sock	*pc;
	enum pload_result	 r;

	while (run->inflight < PLOAD_HOLD_INFLIGHT &&
	    run->started < run->pl.args->n) {
		pc = &run->socks[run->started++];
		run->inflight++;
		if ((r = pload_sock_start(&run->pl, pc)) != PLOAD_PENDING)
			pload_hold_settle(run, pc, r);
	}
}

/* hold: a held connection is readable: drop what came, or see it closed. */
static void
pload_hold_held(struct pload_hold *run, struct pload_sock *pc)
{
	ssize_t	n;
	int	i = 0;

	do {
		n = read(pc->fd, run->pl.buf, sizeof run->pl.buf);
	} while (++i < PLOAD_BURST && (n > 0 || (n == -1 && errno == EINTR)));
	if (n > 0 || (n == -1 && (errno == EAGAIN || errno == EINTR)))
		return;
	run->held--;
	if (run->printed)
		run->closed_by_peer++;
	else
		run->closed_early++;
	pload_sock_close(&run->pl, pc);
}

/* hold: stdin is readable; at its end (or an error) it is time to stop. */
static void
pload_hold_stdin(struct pload_hold *run)
{
	ssize_t	n;

	n = read(STDIN_FILENO, run->pl.buf, sizeof run->pl.buf);
	if (n > 0 || (n == -1 && (errno == EINTR || errno == EAGAIN)))
		return;
	if (n == -1)
		fprintf(stderr, "pload: read stdin: %s\n", strerror(errno));
	run->stop = true;
}

/* hold: one event, on the signalfd, stdin or a connection. */
static void
pload_hold_event(struct pload_hold *run, struct epoll_event *ev)
{
	struct signalfd_siginfo	 si;
	struct pload_sock	*pc;
	enum pload_result	 r;

	if (ev->data.u32 == PLOAD_TOKEN_SIGNAL) {
		if (read(run->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
			run->stop = true;
		return;
	}
	if (ev->data.u32 == PLOAD_TOKEN_STDIN) {
		pload_hold_stdin(run);
		return;
	}
	pc = &run->socks[ev->data.u32];
	if (pc->state == PLOAD_HELD) {
		pload_hold_held(run, pc);
		return;
	}
	if ((r = pload_sock_event(&run->pl, pc, ev->events)) != PLOAD_PENDING)
		pload_hold_settle(run, pc, r);
}

/* hold: retry or time out the connections under way. */
static void
pload_hold_scan(struct pload_hold *run, double now)
{
	struct pload_sock	*pc;
	enum pload_result	 r;
	long long		 i;

	while (run->lo < run->started &&
	    (run->socks[run->lo].state == PLOAD_IDLE ||
	    run->socks[run->lo].state == PLOAD_HELD))
		run->lo++;
	for (i = run->lo; i < run->started; i++) {
		pc = &run->socks[i];
		if ((r = pload_sock_tick(&run->pl, pc, now)) != PLOAD_PENDING)
			pload_hold_settle(run, pc, r);
	}
}

/* hold: open and serve every connection, or stop at a signal. */
static void
pload_hold_open(struct pload_hold *run)
{
	struct epoll_event	evs[PLOAD_EVENTS];
	double			now, next_scan = tool_now() + PLOAD_SCAN_S;
	int			i, n;

	while (run->settled < run->pl.args->n && !run->stop) {
		pload_hold_fill(run);
		n = pload_wait(run->pl.ep, evs, run->pl.waiting > 0 ? 1 :
		    (int)(PLOAD_SCAN_S * 1000));
		for (i = 0; i < n; i++)
			pload_hold_event(run, &evs[i]);
		now = tool_now();
		if (run->pl.waiting > 0 || now >= next_scan) {
			next_scan = now + PLOAD_SCAN_S;
			pload_hold_scan(run, now);
		}
	}
}

/* Watch fd with epoll under a token. */
static int
pload_watch_fd(int ep, int fd, uint32_t token)
{
	struct epoll_event	ev;

	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.u32 = token;
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/*
 * hold: keep the connections until stdin ends or a signal comes.  epoll
 * refuses regular files and /dev/null; those are read to their end at
 * once, as they never block.
 */
static void
pload_hold_keep(struct pload_hold *run)
{
	struct epoll_event	evs[PLOAD_EVENTS];
	int			i, n;

	if (pload_watch_fd(run->pl.ep, STDIN_FILENO, PLOAD_TOKEN_STDIN) == -1) {
		if (errno != EPERM)
			tool_fatal("epoll_ctl stdin");
		while (!run->stop)
			pload_hold_stdin(run);
	}
	while (!run->stop) {
		n = pload_wait(run->pl.ep, evs, -1);
		for (i = 0; i < n; i++)
			pload_hold_event(run, &evs[i]);
	}
}

/* hold: SIGTERM and SIGINT become events on a signalfd. */
static int
pload_hold_signals(int ep)
{
	sigset_t	set;
	int		fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		tool_fatal("sigprocmask");
	if ((fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		tool_fatal("signalfd");
	if (pload_watch_fd(ep, fd, PLOAD_TOKEN_SIGNAL) == -1)
		tool_fatal("epoll_ctl signalfd");
	return fd;
}

/* hold: the failures, by kind, on stderr. */
static void
pload_hold_failures(struct pload_hold *run)
{
	const long long	*cnt = run->pl.count;

	fprintf(stderr, "pload: hold failures: refused=%lld reset=%lld "
	    "timeout=%lld short=%lld other=%lld closed_early=%lld "
	    "retries=%lld\n", cnt[PLOAD_REFUSED], cnt[PLOAD_RESET],
	    cnt[PLOAD_TIMEOUT], cnt[PLOAD_SHORT], cnt[PLOAD_OTHER],
	    run->closed_early, run->pl.retries);
}

/* hold: close every connection still open and free the run. */
static void
pload_hold_free(struct pload_hold *run)
{
	long long	i;

	for (i = 0; i < run->pl.args->n; i++)
		pload_sock_close(&run->pl, &run->socks[i]);
	(void)close(run->sigfd);
	(void)close(run->pl.ep);
	free(run->socks);
	free(run);
}

/* hold mode: open N, say so, hold them until told to stop. */
static int
pload_hold_run(const struct pload_mode *m, struct pload_args *a)
{
	struct pload_hold	*run;
	long long		 failed;

	(void)m;
	run = pload_xcalloc(1, sizeof *run);
	pload_init(&run->pl, a, false);
	run->sigfd = pload_hold_signals(run->pl.ep);
	run->socks = pload_socks((size_t)a->n);
	pload_hold_open(run);
	if (run->stop) {
		fprintf(stderr, "pload: hold: stopped by a signal while "
		    "opening\n");
		pload_hold_free(run);
		return 1;
	}
	failed = a->n - run->held;
	printf("mode=hold n=%lld open=%lld failed=%lld\n", a->n, run->held,
	    failed);
	pload_flush();
	run->printed = true;
	if (failed > 0)
		pload_hold_failures(run);
	pload_hold_keep(run);
	fprintf(stderr, "closed_by_peer=%lld\n", run->closed_by_peer);
	pload_hold_free(run);
	return failed > 0 ? 1 : 0;
}

/* splitmix64, to turn a small seed into a good xorshift state. */
static uint64_t
pload_gen_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Start the sequence of connection number seed. */
static void
pload_gen_init(struct pload_gen *g, uint64_t seed)
{
	g->s = pload_gen_mix(seed) | 1;		/* never 0 */
	g->avail = 0;
}

/* The next 8 bytes of the sequence (xorshift64*). */
static uint64_t
pload_gen_next(struct pload_gen *g)
{
	g->s ^= g->s >> 12;
	g->s ^= g->s << 25;
	g->s ^= g->s >> 27;
	return g->s * 0x2545f4914f6cdd1dULL;
}

/* Write the next len bytes of the sequence to dst. */
static void
pload_gen_fill(struct pload_gen *g, unsigned char *dst, size_t len)
{
	uint64_t	v;

	while (len > 0 && g->avail > 0) {
		*dst++ = g->buf[8 - g->avail--];
		len--;
	}
	for (; len >= 8; dst += 8, len -= 8) {
		v = pload_gen_next(g);
		memcpy(dst, &v, 8);
	}
	if (len > 0) {
		v = pload_gen_next(g);
		memcpy(g->buf, &v, 8);
		memcpy(dst, g->buf, len);
		g->avail = 8 - (unsigned)len;
	}
}

/* stream: check n echoed bytes against the sequence. */
static enum pload_result
pload_flow_check(struct pload_stream *run, struct pload_flow *f, size_t n)
{
	size_t	i;

	if ((long long)n > f->total - f->recvd) {
		if (!run->told_mismatch)
			fprintf(stderr, "pload: stream conn %td: %lld bytes "
			    "more than sent\n", f - run->flows,
			    (long long)n - (f->total - f->recvd));
		run->told_mismatch = true;
		return PLOAD_MISMATCH;
	}
	pload_gen_fill(&f->rx, run->want, n);
	if (memcmp(run->rbuf, run->want, n) != 0) {
		for (i = 0; run->rbuf[i] == run->want[i]; i++)
			continue;
		if (!run->told_mismatch)
			fprintf(stderr, "pload: stream conn %td: first "
			    "mismatch at byte %lld\n", f - run->flows,
			    f->recvd + (long long)i);
		run->told_mismatch = true;
		return PLOAD_MISMATCH;
	}
	f->recvd += (long long)n;
	run->good += (long long)n;
	return f->recvd == f->total ? PLOAD_OK : PLOAD_PENDING;
}

/* stream: read and check what came back; done when all of it has. */
static enum pload_result
pload_flow_read(struct pload_stream *run, struct pload_flow *f)
{
	enum pload_result	r;
	ssize_t			n;
	int			i;

	for (i = 0; i < PLOAD_BURST; i++) {
		n = read(f->fd, run->rbuf, sizeof run->rbuf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1)
			return pload_fail(&run->reported, "read", errno);
		if (n == 0)
			return PLOAD_SHORT;
		if ((r = pload_flow_check(run, f, (size_t)n)) != PLOAD_PENDING)
			return r;
	}
	return PLOAD_PENDING;
}

/* stream: all is sent; half-close, and from now on only read. */
static enum pload_result
pload_flow_sent(struct pload_stream *run, struct pload_flow *f)
{
	struct epoll_event	ev;

	if (shutdown(f->fd, SHUT_WR) == -1)
		return pload_fail(&run->reported, "shutdown", errno);
	f->wr_done = true;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.u32 = (uint32_t)(f - run->flows);
	if (epoll_ctl(run->ep, EPOLL_CTL_MOD, f->fd, &ev) == -1)
		return pload_fail(&run->reported, "epoll_ctl", errno);
	return PLOAD_PENDING;
}

/* stream: send what the socket takes, 64 KiB of sequence at a time. */
static enum pload_result
pload_flow_write(struct pload_stream *run, struct pload_flow *f)
{
	ssize_t	n;
	int	i;

	for (i = 0; i < PLOAD_BURST; i++) {
		if (f->txoff == f->txlen) {
			if (f->queued == f->total)
				return pload_flow_sent(run, f);
			f->txlen = f->total - f->queued < PLOAD_BUFSIZE ?
			    (size_t)(f->total - f->queued) : PLOAD_BUFSIZE;
			pload_gen_fill(&f->tx, f->txbuf, f->txlen);
			f->queued += (long long)f->txlen;
			f->txoff = 0;
		}
		n = send(f->fd, f->txbuf + f->txoff, f->txlen - f->txoff,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return PLOAD_PENDING;
		if (n == -1)
			return pload_fail(&run->reported, "send", errno);
		f->txoff += (size_t)n;
	}
	return PLOAD_PENDING;
}

/* stream: an epoll event on a connection; reads come before writes. */
static enum pload_result
pload_flow_event(struct pload_stream *run, struct pload_flow *f,
    uint32_t events)
{
	enum pload_result	r;
	int			err;

	if (!f->connected) {
		if ((err = pload_so_error(f->fd)) != 0)
			return pload_fail(&run->reported, "connect", err);
		f->connected = true;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		if ((r = pload_flow_read(run, f)) != PLOAD_PENDING)
			return r;
	}
	if ((events & EPOLLOUT) && !f->wr_done)
		return pload_flow_write(run, f);
	return PLOAD_PENDING;
}

/* stream: a connection ended; count it and let its resources go. */
static void
pload_flow_end(struct pload_stream *run, struct pload_flow *f,
    enum pload_result r)
{
	if (f->done)
		return;
	f->done = true;
	run->count[r]++;
	run->remaining--;
	run->last = tool_now();
	if (f->fd != -1)
		(void)close(f->fd);	/* the outcome is already counted */
	f->fd = -1;
	free(f->txbuf);
	f->txbuf = NULL;
}

/* stream: set up connection i and start connecting it. */
static void
pload_flow_start(struct pload_stream *run, long long i)
{
	const struct pload_args	*a = run->args;
	struct pload_flow	*f = &run->flows[i];
	struct epoll_event	 ev;
	const char		*step = "connect";
	double			 start;
	int			 err;

	f->total = a->b / a->c + (i < a->b % a->c ? 1 : 0);
	pload_gen_init(&f->tx, (uint64_t)i);
	pload_gen_init(&f->rx, (uint64_t)i);
	f->txbuf = pload_xcalloc(1, PLOAD_BUFSIZE);
	err = pload_connect(a, &f->fd, &start, &step);
	if (err != 0 && err != EINPROGRESS) {
		pload_flow_end(run, f, pload_fail(&run->reported, step, err));
		return;
	}
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.u32 = (uint32_t)i;
	if (epoll_ctl(run->ep, EPOLL_CTL_ADD, f->fd, &ev) == -1)
		pload_flow_end(run, f, pload_fail(&run->reported, "epoll_ctl",
		    errno));
}

/* stream: run the loop until every connection ended or time is up. */
static void
pload_stream_loop(struct pload_stream *run)
{
	struct epoll_event	 evs[PLOAD_EVENTS];
	struct pload_flow	*f;
	enum pload_result	 r;
	double			 deadline = run->first + (double)run->args->t;
	double			 left;
	int			 i, n;

	while (run->remaining > 0) {
		if ((left = deadline - tool_now()) <= 0)
			break;
		n = pload_wait(run->ep, evs, (int)(left * 1000) + 1);
		for (i = 0; i < n; i++) {
			f = &run->flows[evs[i].data.u32];
			if (f->done)
				continue;
			r = pload_flow_event(run, f, evs[i].events);
			if (r != PLOAD_PENDING)
				pload_flow_end(run, f, r);
		}
	}
	for (i = 0; i < run->nflows; i++)
		pload_flow_end(run, &run->flows[i], PLOAD_TIMEOUT);
}

/* stream mode: BYTES echoed over CONNS connections, checked. */
static int
pload_stream_run(const struct pload_mode *m, struct pload_args *a)
{
	struct pload_stream	*run;
	const long long		*cnt;
	double			 elapsed;
	long long		 i;
	int			 rc;

	if (a->c > PLOAD_STREAM_MAXCONNS)
		pload_usage(m, "bad -c %lld: stream takes at most %d", a->c,
		    PLOAD_STREAM_MAXCONNS);
	if (a->b < a->c)
		pload_usage(m, "bad -b %lld: less than a byte per connection",
		    a->b);
	run = pload_xcalloc(1, sizeof *run);
	cnt = run->count;
	run->args = a;
	run->nflows = run->remaining = a->c;
	run->flows = pload_xcalloc((size_t)a->c, sizeof *run->flows);
	if ((run->ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		tool_fatal("epoll_create1");
	run->first = run->last = tool_now();
	for (i = 0; i < a->c; i++)
		pload_flow_start(run, i);
	pload_stream_loop(run);
	elapsed = run->last - run->first;
	printf("mode=stream bytes=%lld conns=%lld elapsed_s=%.3f "
	    "mb_per_s=%.1f verified=%lld mismatches=%lld short=%lld "
	    "reset=%lld timeout=%lld other=%lld\n", a->b, a->c, elapsed,
	    elapsed > 0 ? (double)run->good / elapsed / 1e6 : 0.0,
	    cnt[PLOAD_OK], cnt[PLOAD_MISMATCH], cnt[PLOAD_SHORT],
	    cnt[PLOAD_RESET], cnt[PLOAD_TIMEOUT],
	    cnt[PLOAD_OTHER] + cnt[PLOAD_REFUSED]);
	pload_flush();
	rc = cnt[PLOAD_OK] == a->c ? 0 : 1;
	(void)close(run->ep);
	free(run->flows);
	free(run);
	return rc;
}

int
main(int argc, char **argv)
{
	struct pload_args	 args;
	const struct pload_mode	*m;
	int			 rc;

	tool_name = "pload";
	memset(&args, 0, sizeof args);
	m = pload_parse(argc, argv, &args);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		tool_fatal("signal SIGPIPE");
	tool_stdfds();
	tool_rlimit();
	rc = m->run(m, &args);
	free(args.payload);
	return rc;
}
