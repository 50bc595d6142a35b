/*
 * portierd: argv, start-up, readiness and signals.
 *
 * Signals are libevent events; nothing runs in a signal handler.  TERM and
 * INT step through the stages of shutdown, HUP reloads; both are
 * service.c's.  The daemon exits 0 once the last connection has ended.
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

/* Signals whose disposition the daemon changes; spawn.c resets them. */
const int portier_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGPIPE, 0 };

static struct event_base	*main_evbase;
static struct config		*main_conf;
static double			 main_start_time;
static struct event		*main_sigev[3];
static int			 main_nsigev;

/* The event base. */
struct event_base *
main_base(void)
{
	return main_evbase;
}

/* A timer on the event base: failing to make one is fatal. */
struct event *
main_timer(event_callback_fn fn, void *arg)
{
	struct event	*ev;

	if ((ev = evtimer_new(main_evbase, fn, arg)) == NULL)
		fatalx("event=fatal reason=\"evtimer_new failed\"");
	return ev;
}

/* The running config. */
struct config *
main_config(void)
{
	return main_conf;
}

/*
 * Make conf the running config without serving it: for the fuzz target,
 * which answers control requests against a config it loaded.
 */
void
main_set_config(struct config *conf)
{
	main_conf = conf;
}

/* Seconds since portierd started. */
double
main_uptime(void)
{
	return conn_now() - main_start_time;
}

/* SIGTERM, SIGINT: begin shutdown, or skip ahead to the next stage. */
static void
main_signal_stop(evutil_socket_t sig, short what, void *arg)
{
	log_info("event=signal signal=%s", sig == SIGTERM ? "TERM" : "INT");
	service_shutdown_next();
}

/* SIGHUP: reload the config. */
static void
main_signal_hup(evutil_socket_t sig, short what, void *arg)
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
 * every handler through exec) and nothing blocked.
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
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Add a persistent signal event. */
static void
main_signal_add(int sig, event_callback_fn fn)
{
	struct event	*ev;

	if ((ev = evsignal_new(main_evbase, sig, fn, NULL)) == NULL ||
	    evsignal_add(ev, NULL) == -1 ||
	    main_nsigev == (int)(sizeof main_sigev / sizeof main_sigev[0]))
		fatalx("event=fatal reason=\"cannot watch signal %d\"", sig);
	main_sigev[main_nsigev++] = ev;
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

/* Bind every service or, on the first failure, undo and return -1. */
static int
main_listen(void)
{
	struct service	*svc;
	char		 err[512];

	TAILQ_FOREACH(svc, &main_conf->services, entry) {
		if (listen_open(svc, err, sizeof err) == 0)
			continue;
		log_warnx("event=start-failed error=\"%s\"", err);
		TAILQ_FOREACH(svc, &main_conf->services, entry)
			listen_close(svc);
		return -1;
	}
	return 0;
}

/* Free everything, so leak checkers see a clean exit. */
static void
main_cleanup(void)
{
	sigset_t	 stop;

	control_close();
	admit_fini();
	service_fini();
	spawn_fini();
	children_fini();
	/*
	 * Freeing a signal event restores the default action: block the
	 * signals first, so that a late TERM cannot turn a clean exit into
	 * death by signal.  We exit right after and never unblock them.
	 */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	while (main_nsigev > 0)
		event_free(main_sigev[--main_nsigev]);
	config_free(main_conf);
	event_base_free(main_evbase);
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

/*
 * The event base.  Not with libevent's epoll changelist, which makes the
 * changes a turn of the loop asks for at the next epoll_wait: an event
 * deleted just before its descriptor is closed would then be deleted
 * after, and stay registered while a handler started meanwhile (spawn.c)
 * still holds a copy of that descriptor, firing on every epoll_wait until
 * the handler's exec.  Measured, the changelist saved built-in echo no
 * speed: 13,800 connections/s at c=1 and 14,400 at c=8, with or without.
 */
static struct event_base *
main_base_new(void)
{
	struct event_base	*base;

	if ((base = event_base_new()) == NULL)
		fatalx("event=fatal reason=\"event_base_new failed\"");
	return base;
}

/* Set up the event loop, signals and listeners, and serve until stopped. */
static int
main_run(const struct main_opts *o)
{
	char	err[512];
	long	nofile;

	main_start_time = conn_now();
	main_signals_reset();
	nofile = main_raise_nofile();
	main_evbase = main_base_new();
	spawn_init();
	admit_init();
	main_signal_add(SIGTERM, main_signal_stop);
	main_signal_add(SIGINT, main_signal_stop);
	main_signal_add(SIGHUP, main_signal_hup);
	service_init(o->socket);
	log_info("event=start version=%s pid=%ld config=\"%s\" services=%zu "
	    "nofile=%ld", PACKAGE_VERSION, (long)getpid(), o->path,
	    main_conf->nservices, nofile);

	if (control_open(main_conf, err, sizeof err) == -1) {
		log_warnx("event=start-failed error=\"control socket: %s\"", err);
		main_cleanup();
		return 1;
	}
	if (main_listen() == -1) {
		main_cleanup();
		return 1;
	}
	if (o->ready != -1)
		listen_announce(&main_conf->services, o->ready);
	listen_update_all(&main_conf->services);

	event_base_dispatch(main_evbase);

	if (children_count() != 0)
		log_warnx("event=exit reason=\"%zu handlers not reaped\"",
		    children_count());
	log_info("event=exit status=0");
	main_cleanup();
	return 0;
}

int
main(int argc, char **argv)
{
	struct main_opts	o;
	char			err[1024];

	main_std_fds();
	main_args(argc, argv, &o);
	log_init(o.verbose);
	if ((main_conf = config_load(o.path, err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return EX_CONFIG_ERROR;
	}
	if (o.socket != NULL)
		config_set_control_socket(main_conf, o.socket);
	if (o.test) {
		config_print(main_conf);
		config_free(main_conf);
		return 0;
	}
	return main_run(&o);
}
