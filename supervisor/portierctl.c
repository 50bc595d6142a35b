/*
 * portierctl: send one command to portierd's control socket and print the
 * reply.  It knows nothing of the daemon's internals: the daemon formats
 * the tables and the JSON, portierctl only carries them.
 *
 * The socket is -S's, else the control_socket of the config -c names,
 * found by conffile.c as portierd finds it, else $PORTIER_SOCKET's, else
 * the default.
 *
 * Exit status: 0 for "ok", 1 for "error" (the reason on stderr), 2 when it
 * cannot reach the daemon (or find its socket in the config given) or gets
 * no complete reply within the timeout.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conffile.h"

#define CTL_TIMEOUT_MS	5000
#define CTL_REQUEST_MAX	4096
#define CTL_REPLY_MAX	(64 * 1024 * 1024)

#define CTL_SOCKET_ENV	"PORTIER_SOCKET"

static const char	*ctl_socket = CONFFILE_SOCKET;

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: portierctl [-j] [-c config] [-S socket] command "
	    "[argument ...]\n"
	    "  -j, --json          ask for JSON instead of a table\n"
	    "  -c, --config FILE   the control_socket of portierd's config\n"
	    "  -S, --socket PATH   portierd's control socket\n"
	    "  -h, --help          this text\n"
	    "  -V, --version       print the version\n"
	    "The socket is -S, else -c's, else $%s, else %s.\n"
	    "`portierctl help' lists the commands portierd takes.\n",
	    CTL_SOCKET_ENV, CONFFILE_SOCKET);
	exit(status);
}

/*
 * Choose the control socket: -S's (sock), else the one the config file
 * conf names, as portierd finds it, else $PORTIER_SOCKET if set and not
 * empty, else the default.  A config that cannot be read, or names no
 * socket, is an error naming the file (exit 2, as for a missing socket).
 */
static void
ctl_socket_find(const char *sock, const char *conf)
{
	const char	*env;
	char		*path, err[1024];

	if (sock != NULL)
		ctl_socket = sock;
	else if (conf != NULL) {
		if (conffile_control_socket(conf, &path, err, sizeof err) ==
		    -1) {
			fprintf(stderr, "portierctl: %s\n", err);
			exit(2);
		}
		ctl_socket = path;	/* kept until exit */
	} else if ((env = getenv(CTL_SOCKET_ENV)) != NULL && *env != '\0')
		ctl_socket = env;
}

/* Milliseconds left until deadline, at least 0. */
static int
ms_left(const struct timespec *deadline)
{
	struct timespec	now;
	long		ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* Give up: the daemon could not be reached or did not answer. */
static void __attribute__((noreturn))
unreachable(const char *what)
{
	fprintf(stderr, "portierctl: %s: %s\n", ctl_socket, what);
	exit(2);
}

/* Connect to the control socket; exits 2 saying why if it cannot. */
static int
ctl_connect(void)
{
	struct sockaddr_un	sun;
	int			fd;

	if (strlen(ctl_socket) >= sizeof sun.sun_path)
		unreachable("path too long");
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, ctl_socket, strlen(ctl_socket) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		unreachable(strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		unreachable(strerror(errno));
	return fd;
}

/* Build the request line from the arguments; exits 1 on bad ones. */
static size_t
ctl_request(char *buf, size_t size, int argc, char **argv, int json)
{
	size_t	len = 0;
	int	i, n;

	for (i = 0; i < argc + json; i++) {
		const char *word = i < argc ? argv[i] : "json";

		if (*word == '\0' || strpbrk(word, " \t\r\n") != NULL) {
			fprintf(stderr, "portierctl: argument \"%s\": empty, or "
			    "holding white space\n", word);
			exit(1);
		}
		n = snprintf(buf + len, size - len, "%s%s", i > 0 ? " " : "",
		    word);
		if (n < 0 || (size_t)n >= size - len - 1) {
			fprintf(stderr, "portierctl: request too long\n");
			exit(1);
		}
		len += (size_t)n;
	}
	buf[len++] = '\n';
	return len;
}

/* Send the whole request before the deadline. */
static void
ctl_send(int fd, const char *buf, size_t len, const struct timespec *dl)
{
	struct pollfd	pfd = { fd, POLLOUT, 0 };
	ssize_t		n;

	while (len > 0) {
		if (poll(&pfd, 1, ms_left(dl)) <= 0)
			unreachable("timed out sending the request");
		if ((n = send(fd, buf, len, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			/* It answered and closed first: read the answer. */
			if (errno == EPIPE || errno == ECONNRESET)
				return;
			unreachable(strerror(errno));
		}
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * Read until the reply's closing empty line.  Returns the reply, without
 * that empty line, NUL-terminated.
 */
static char *
ctl_receive(int fd, const struct timespec *dl)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		*buf = NULL, *nbuf, *end;
	size_t		 len = 0, size = 0;
	ssize_t		 n;

	for (;;) {
		if (len > 0 && (end = strstr(buf, "\n\n")) != NULL) {
			end[1] = '\0';
			return buf;
		}
		if (len + 4096 + 1 > size) {
			size = size == 0 ? 8192 : size * 2;
			if (size > CTL_REPLY_MAX)
				unreachable("reply too large");
			if ((nbuf = realloc(buf, size)) == NULL)
				unreachable("out of memory");
			buf = nbuf;
		}
		if (poll(&pfd, 1, ms_left(dl)) <= 0)
			unreachable("no reply within 5 seconds");
		if ((n = read(fd, buf + len, size - len - 1)) == -1) {
			if (errno == EINTR)
				continue;
			unreachable(strerror(errno));
		}
		if (n == 0)
			unreachable("connection closed before the reply ended");
		len += (size_t)n;
		buf[len] = '\0';
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,		NULL, 'j' },
		{ "config",	required_argument,	NULL, 'c' },
		{ "socket",	required_argument,	NULL, 'S' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	struct timespec	 deadline;
	const char	*sock = NULL, *conf = NULL;
	char		 req[CTL_REQUEST_MAX + 2], *reply, *body;
	size_t		 len;
	int		 ch, json = 0, fd, status;

	while ((ch = getopt_long(argc, argv, "+jc:S:hV", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'c':
			conf = optarg;
			break;
		case 'S':
			sock = optarg;
			break;
		case 'h':
			usage(0);
		case 'V':
			printf("portierctl %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(1);
		}
	}
	if (optind == argc)
		usage(1);
	len = ctl_request(req, sizeof req, argc - optind, argv + optind, json);
	ctl_socket_find(sock, conf);

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += CTL_TIMEOUT_MS / 1000;
	fd = ctl_connect();
	ctl_send(fd, req, len, &deadline);
	reply = ctl_receive(fd, &deadline);
	close(fd);

	body = strchr(reply, '\n') + 1;
	body[-1] = '\0';
	if (strcmp(reply, "ok") == 0) {
		fputs(body, stdout);
		status = fflush(stdout) == 0 ? 0 : 2;
	} else if (strncmp(reply, "error ", 6) == 0) {
		fprintf(stderr, "portierctl: %s\n", reply + 6);
		status = 1;
	} else {
		fprintf(stderr, "portierctl: unexpected reply: %s\n", reply);
		status = 2;
	}
	free(reply);
	return status;
}
