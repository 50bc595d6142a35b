/*
 * portierd: argv, start-up, readiness and signals.
 *
 * Signals are read by the loop (core_signal); nothing runs in a signal
 * handler.  TERM and INT step through the stages of shutdown, HUP
 * reloads; both are service.c's.  The daemon exits 0 once the last connection has ended.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "portier.h"

/* SIGTERM, SIGINT: begin shutdown, or skip ahead to the next stage. */
static void
main_signal_stop(int sig)
{
	log_info("event=signal signal=%s", sig == SIGTERM ? "TERM" : "INT");
	service_shutdown_next();
}

/* SIGHUP: reload the config. */
static void
main_signal_hup(int sig)
{
	char	msg[1024];

	log_info("event=signal signal=HUP");
	(void)service_reload(msg, sizeof msg);
}

/*
 * Reset a signal the C library will not let us touch (glibc reserves two
 * real-time signals for itself) straight through the kernel.  SIG_DFL is
 * 0, so an all-zero kernel sigaction means "default, no flags, empty mask"
 * whatever the architecture's field order.
 */
static void
main_signal_default_raw(int sig)
{
#ifdef SYS_rt_sigaction
	unsigned long	ksa[4] = { 0, 0, 0, 0 };

	(void)syscall(SYS_rt_sigaction, sig, ksa, NULL, sizeof(unsigned long));
#endif
}

/*
 * Start from a known signal state whatever the parent left: every
 * disposition default (an inherited SIG_IGN for SIGCHLD would make the
 * kernel reap handlers behind our back, and any SIG_IGN would pass on to
 * every handler through exec) and nothing blocked.  It stays so: the
 * signals the daemon takes, and SIGPIPE, are blocked, not handled
 * (core.c).
 */
static void
main_signals_reset(void)
{
	struct sigaction	sa;
	sigset_t		none;
	int			sig;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sigaction(sig, &sa, NULL) == -1 && errno == EINVAL)
			main_signal_default_raw(sig);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Make sure fds 0, 1 and 2 are open, so no socket ever lands on them. */
static void
main_std_fds(void)
{
	int	fd;

	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF &&
		    open("/dev/null", O_RDWR) != fd)
			exit(1);
	}
}

/* Raise the open-files limit to the hard limit; returns the new limit. */
static long
main_raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
}

static void __attribute__((noreturn))
main_usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: portierd [-tv] [-c file] [-S socket] [--ready-fd fd]\n"
	    "  -c, --config FILE   config file (default %s/portier.conf)\n"
	    "  -S, --socket PATH   control socket, instead of the config's\n"
	    "  -t, --test          check the config, print a summary, exit\n"
	    "  -v, --verbose       log debug lines too\n"
	    "      --ready-fd FD   once listening, write one \"SERVICE "
	    "ADDRESS:PORT\"\n"
	    "                      line per listener to FD, then close it\n"
	    "  -h, --help          this text\n"
	    "  -V, --version       print the version\n", SYSCONFDIR);
	exit(status);
}

/* Parse --ready-fd's argument: an open descriptor above 2. */
static int
main_ready_fd(const char *arg)
{
	char	*end;
	long	 fd;

	errno = 0;
	fd = strtol(arg, &end, 10);
	if (errno != 0 || *arg == '\0' || *end != '\0' || fd < 3 ||
	    fd > INT_MAX) {
		fprintf(stderr, "portierd: --ready-fd %s: expected a "
		    "descriptor number of 3 or more\n", arg);
		exit(EX_USAGE_ERROR);
	}
	if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) == -1) {
		fprintf(stderr, "portierd: --ready-fd %ld: %s\n", fd,
		    strerror(errno));
		exit(EX_USAGE_ERROR);
	}
	return (int)fd;
}

/* Say why the start failed: err, after what it is about. */
static void
main_start_failed(const char *what, const char *err)
{
	log_warnx("event=start-failed error=\"%s%s\"", what, log_escape(err));
}

/* Bind every service or, on the first failure, undo and return -1. */
static int
main_listen(void)
{
	struct service	*svc;
	char		 err[1024];

	if (listen_adopt(core_config(), err, sizeof err) == -1) {
		main_start_failed("", err);
		return -1;
	}
	TAILQ_FOREACH(svc, &core_config()->services, entry) {
		if (listen_open(svc, err, sizeof err) == 0)
			continue;
		main_start_failed("", err);
		TAILQ_FOREACH(svc, &core_config()->services, entry)
			listen_close(svc);
		return -1;
	}
	systemd_sockets_done();
	return 0;
}

/* Free everything, so leak checkers see a clean exit. */
static void
main_cleanup(void)
{
	control_close();
	systemd_fini();
	linger_fini();
	admit_fini();
	service_fini();
	spawn_fini();
	children_fini();
	config_free(core_config());
	core_fini();
	log_fini();
}

/* What the command line asked for. */
struct main_opts {
	const char	*path;
	const char	*socket;
	int		 test;
	int		 verbose;
	int		 ready;
};

/* Parse the command line; exits on --help, --version and bad usage. */
static void
main_args(int argc, char **argv, struct main_opts *o)
{
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL, 'c' },
		{ "socket",	required_argument,	NULL, 'S' },
		{ "test",	no_argument,		NULL, 't' },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ "ready-fd",	required_argument,	NULL, 'R' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	int	ch;

	o->path = SYSCONFDIR "/portier.conf";
	o->socket = NULL;
	o->test = o->verbose = 0;
	o->ready = -1;
	while ((ch = getopt_long(argc, argv, "c:S:tvhV", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'c':
			o->path = optarg;
			break;
		case 'S':
			o->socket = optarg;
			break;
		case 't':
			o->test = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'R':
			o->ready = main_ready_fd(optarg);
			break;
		case 'h':
			main_usage(0);
		case 'V':
			printf("portierd %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			main_usage(EX_USAGE_ERROR);
		}
	}
	if (optind != argc)
		main_usage(EX_USAGE_ERROR);
}

/* Set up the event loop, signals and listeners, and serve until stopped. */
static int
main_run(const struct main_opts *o)
{
	char	err[512];
	long	nofile;

	main_signals_reset();
	nofile = main_raise_nofile();
	core_init();
	spawn_init();
	children_init();
	admit_init();
	core_signal(SIGTERM, main_signal_stop);
	core_signal(SIGINT, main_signal_stop);
	core_signal(SIGHUP, main_signal_hup);
	service_init(o->socket);
	if (log_check(core_config(), err, sizeof err) == -1) {
		main_start_failed("", err);
		main_cleanup();
		return 1;
	}
	log_apply(core_config());
	log_info("event=start version=%s pid=%ld config=\"%s\" services=%zu "
	    "nofile=%ld", PACKAGE_VERSION, (long)getpid(), log_escape(o->path),
	    core_config()->nservices, nofile);

	if (systemd_init(err, sizeof err) == -1 ||
	    config_check_privileges(core_config(), err, sizeof err) == -1) {
		main_start_failed("", err);
		main_cleanup();
		return 1;
	}
	if (control_open(core_config(), err, sizeof err) == -1) {
		main_start_failed("control socket: ", err);
		main_cleanup();
		return 1;
	}
	if (main_listen() == -1) {
		main_cleanup();
		return 1;
	}
	if (o->ready != -1)
		listen_announce(&core_config()->services, o->ready);
	service_update_all();
	snprintf(err, sizeof err, "serving %zu services",
	    core_config()->nservices);
	systemd_ready(err);

	event_base_dispatch(core_base());

	children_orphans_end(core_config()->kill_grace);
	if (children_count() != 0)
		log_warnx("event=exit reason=\"%zu handlers not reaped\"",
		    children_count());
	log_info("event=exit status=0");
	main_cleanup();
	return 0;
}

/*
 * Load the config, and check it (-t) or serve it.  A relative config path
 * is made absolute first, so that the start line, every reload and every
 * error name the same file.
 */
/*
 * -t: what can be known without binding; the control socket's place is an
 * error, and handlers' credentials portierd could not give a warning, as
 * another user than the daemon's may run -t.  The summary, and the exit
 * status.
 */
static int
main_test(const struct main_opts *o, struct config *conf)
{
	char	err[1024];
	int	rc = 0;

	if (control_check(conf, err, sizeof err) == -1) {
		fprintf(stderr, "%s: control socket: %s\n", o->path, err);
		rc = EX_CONFIG_ERROR;
	} else {
		if (config_check_privileges(conf, err, sizeof err) == -1)
			fprintf(stderr, "%s: warning: %s\n", o->path, err);
		if (log_check(conf, err, sizeof err) == -1)
			fprintf(stderr, "%s: warning: %s\n", o->path, err);
		if (conf->nservices == 0)
			fprintf(stderr, "%s: warning: no service is defined; "
			    "portierd would serve only its control socket\n",
			    o->path);
		config_warn(conf);
		config_print(conf);
	}
	config_free(conf);
	return rc;
}

int
main(int argc, char **argv)
{
	struct main_opts	 o;
	struct config		*conf;
	char			 err[1024], *path;
	int			 rc = 0;

	main_std_fds();
	main_args(argc, argv, &o);
	log_init(o.verbose);
	o.path = path = config_absolute(o.path);
	if ((conf = config_load(o.path, err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		rc = EX_CONFIG_ERROR;
	} else {
		if (o.socket != NULL)
			config_set_control_socket(conf, o.socket);
		if (o.test)
			rc = main_test(&o, conf);
		else {
			core_set_config(conf);
			rc = main_run(&o);
		}
	}
	free(path);
	return rc;
}
