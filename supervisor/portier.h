/*
 * portier: an inetd-style TCP service supervisor.
 *
 * The one internal header: the shared structures and, per source file, the
 * functions it offers to the others.
 */
#ifndef PORTIER_H
#define PORTIER_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conffile.h"	/* shared with portierctl */

struct event_base;
struct evconnlistener;
struct event;
struct bufferevent;
struct evbuffer;
struct conn;
struct service;
struct command;

#define EX_CONFIG_ERROR	78	/* sysexits.h EX_CONFIG */
#define EX_USAGE_ERROR	64	/* sysexits.h EX_USAGE */

#define ADDR_STRLEN	(INET6_ADDRSTRLEN + 16)

#define BANNER_MAX	1024	/* bytes of banner text */

/* How a built-in cuts its input: as it comes, or in lines. */
enum builtin_filter {
	FILTER_STREAM,
	FILTER_LINE
};

/* A built-in service, one entry of builtin.c's table. */
struct builtin {
	const char	 *name;
	enum builtin_filter filter;		/* default */
	bool		  filters;		/* filter= may change it */
	void		(*transform)(char *, size_t);
	void		(*read)(struct conn *, char *, size_t); /* stream */
	void		(*start)(struct conn *);
	void		(*refill)(struct conn *);	/* output ran low */
	bool		  keep_on_eof;
	long		  timeout;	/* seconds, if the service sets none */
};

/*
 * A back-end: what serves an admitted connection until it ends, a
 * built-in (builtin.c) or a handler (children.c).  conn.c knows a
 * connection's back-end only through these verbs.
 */
struct backend {
	const char	 *name;
	int		(*start)(struct conn *);	/* -1: could not start */
	void		(*stop)(struct conn *, bool);	/* gently, or now */
	void		(*kill)(struct conn *);		/* end it, on request */
	void		(*describe)(const struct conn *, char *, size_t);
	void		(*release)(struct conn *);	/* as it ends: last
							   words, resources */
};

/*
 * A stage of a connection's way between admission and its back-end
 * (conn.c's conn_stages[]): in a service's way if wanted() says so,
 * start() hands the connection on (0) or has ended it (-1).
 */
struct conn_stage {
	const char	 *name;
	bool		(*wanted)(const struct service *);
	int		(*start)(struct conn *);
};

/* A log line that may come often: at most one per gap, see log_limit(). */
struct log_limit {
	double		last;		/* CLOCK_MONOTONIC of its last line, or 0 */
	uint64_t	held;		/* lines held back since */
};

/*
 * One address a service listens on: a `listen` entry as parsed from the
 * config, or one of the addresses its host name or service name was
 * resolved to (listen_resolve), each with the entry's text.
 */
struct laddr {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	bool			 wildcard;	/* "*:PORT": every v4 and v6 */
	bool			 lookup;	/* a host or port name: parsed,
						   to be resolved */
	bool			 named;		/* resolved from such a name */
	size_t			 entry;		/* its listen entry, from 0 */
	char			*text;		/* as written in the config */
	char			*path;		/* unix: absolute path */
	int			 passed;	/* the service manager's socket
						   for it (LISTEN_FDS), or -1 */
};

/*
 * The socket options of a service's listening sockets, as portier.conf
 * names them after systemd's socket units; -1 (NULL) where the file
 * leaves one unset, which portier then never sets.  Linux copies each to
 * the sockets accepted on it.
 */
struct sockopts {
	long		  keepalive;		/* SO_KEEPALIVE, 0 or 1 */
	long		  keepalive_idle;	/* TCP_KEEPIDLE, seconds */
	long		  keepalive_interval;	/* TCP_KEEPINTVL, seconds */
	long		  keepalive_count;	/* TCP_KEEPCNT */
	long		  nodelay;		/* TCP_NODELAY */
	long		  defer_accept;		/* TCP_DEFER_ACCEPT, seconds */
	long		  fastopen;		/* TCP_FASTOPEN, queue length */
	long		  freebind;		/* IP_FREEBIND, IPV6_FREEBIND */
	long		  reuse_port;		/* SO_REUSEPORT */
	long		  transparent;		/* IP_TRANSPARENT, ... */
	long		  ipv6_only;		/* IPV6_V6ONLY */
	long		  mark;			/* SO_MARK */
	long		  receive_buffer;	/* SO_RCVBUF, bytes */
	long		  send_buffer;		/* SO_SNDBUF, bytes */
	char		 *bind_device;		/* SO_BINDTODEVICE */
};

/* A bound listening socket of a service. */
struct listener {
	struct service		*service;
	struct evconnlistener	*lev;
	struct event		*backoff;	/* re-enable timer */
	struct event		*watch;		/* accept = "handler": a client
						   waits for a worker */
	void			(*demand)(struct service *);
	struct event		*burst;		/* ends a burst of accepts */
	int			 family;
	int			 batch;		/* accepts in this burst */
	bool			 wildcard;	/* local address varies */
	bool			 open;		/* its service accepts */
	bool			 enabled;
	bool			 backing_off;	/* paused after an error */
	bool			 adopted;	/* the service manager's socket */
	struct log_limit	 err_limit;	/* accept-error lines */
	char			 bound[ADDR_STRLEN + 108];	/* with real port */
	char			*spec;		/* the config's address, to match */
	char			*path;		/* unix: unlink on close */
	dev_t			 dev;		/* unix: the file we bound */
	ino_t			 ino;
	mode_t			 mode;		/* unix: as given to the file */
	uid_t			 uid;		/* -1: portierd's */
	gid_t			 gid;
	struct sockaddr_storage	 local;		/* bound address */
	socklen_t		 locallen;
	struct sockopts		 opts;		/* as set on it (bind_device
						   NULL: not kept here) */
	TAILQ_ENTRY(listener)	 entry;
};
TAILQ_HEAD(listeners, listener);

/* An address and prefix length, from allow and deny. */
struct cidr {
	int		family;
	int		prefix;
	uint8_t		addr[16];
};

/* Why admission refused a connection; admit.c names them. */
enum admit_reason {
	ADMIT_OK,
	ADMIT_DENY,
	ADMIT_PER_SOURCE,
	ADMIT_SOURCE_RATE,
	ADMIT_RATE,
	ADMIT_LIMIT,
	ADMIT_SOURCES_FULL,
	ADMIT_NREASONS
};
struct admit_source;
struct admit_state;

#define ADMIT_MAX_SOURCES	65536	/* max_sources by default */

/* Where a handler's stderr goes. */
enum stderr_mode {
	STDERR_LOG,		/* portierd's log, a line an event */
	STDERR_INHERIT,		/* portierd's own stderr, as is */
	STDERR_NULL		/* /dev/null */
};

#define RLIMITS_MAX	5

#define WORKERS_MAX	1024	/* workers of a service, at most */
#define WORKER_SOCKETS	64	/* listen addresses of an accept = "handler"
				   service, at most: its workers' fds */

/* How many of a service's connections ended with one status. */
#define ENDED_MAX	64	/* distinct statuses kept; the rest are "other" */
struct ended {
	char		status[48];
	uint64_t	count;
};

/*
 * A service's run-time state: service.c's, changed only through its
 * functions (admission's table only through admit.c's); the others read
 * it.  A reload carries it over to the new settings of the same name.
 */
/*
 * A Prometheus histogram of seconds: how many observations fell in each
 * bucket (not cumulative; the last is +Inf), their count and sum.  The
 * bounds are service.c's, one set per kind.
 */
#define HISTOGRAM_BUCKETS	14	/* bounds, then +Inf */
struct histogram {
	uint64_t	 counts[HISTOGRAM_BUCKETS + 1];
	uint64_t	 count;
	double		 sum;
};

struct service_state {
	long		  limit;	/* max_connections now: -1, 0 or N */
	long		  active;
	uint64_t	  accepted;
	uint64_t	  refused;	/* accepted, then closed unserved */
	uint64_t	  spawn_failures;	/* fork or exec failed */
	uint64_t	  refusals[ADMIT_NREASONS];
	struct ended	 *ended;	/* connections ended, by status */
	size_t		  nended;
	struct histogram  duration;	/* of ended connections, workers
					   apart */
	struct histogram  spawn;	/* accept to a handler's exec */
	bool		  paused;	/* by the control socket */
	int		  stopping;	/* its shutdown stage, 0 if serving */
	struct event	 *stop_timer;
	double		  stop_at;	/* when stop_timer fires, core_now() */
	struct event	 *rate_timer;	/* max_rate: reopen when a token is
					   back */
	int		  refs;		/* connections using these settings */
	bool		  retired;	/* replaced or removed by a reload */
	bool		  removed;	/* its name is gone from the config */
	struct admit_state *admission;	/* admit.c's: sources, max_rate
					   bucket, refusal lines */
	struct workers_state {		/* accept = "handler": workers.c's */
		struct event	*restart;	/* back-off, then start */
		struct event	*idle;		/* idle_exit's look, each second */
		int		 step;		/* back-off steps taken */
		double		 window_at;	/* the restart window began */
		long		 window_n;	/* restarts in it */
		uint64_t	 restarts;	/* in all */
		bool		 gave_up;	/* max_restarts: stopped */
		bool		 watching;	/* on demand: for a client */
		bool		 demanded;	/* a client came: start */
		bool		 open;		/* it may serve */
		bool		 updating;	/* in workers_update */
		bool		 again;		/* called back meanwhile */
		bool		 resting;	/* idle_exit: stop them all */
	}		  workers;
};

/*
 * A service: its settings from the config, which never change once
 * built, its listeners (listen.c's) and its run-time state (service.c's).
 */
struct service {
	char		 *name;
	unsigned int	  src;		/* its file, while the config loads */
	unsigned int	  section;	/* its place there, from 0 */
	struct laddr	 *addrs;
	size_t		  naddrs;
	int		  backlog;
	long		  max_connections;	/* -1 unlimited, 0 paused */
	struct sockopts	  sockopts;
	int		  defer_warn;	/* -t: the line of a defer_accept
					   the server speaks first to, or 0 */
	mode_t		  unix_mode;	/* of unix: socket files, exactly */
	uid_t		  unix_uid;	/* their owner, -1 for portierd's */
	gid_t		  unix_gid;	/* their group, -1 for portierd's */

	char		**argv;		/* exec: argv[0] is an absolute path */
	char		**env;		/* env + passenv + PORTIER_SERVICE */
	size_t		  nenv;
	bool		  set_creds;	/* user or group given */
	uid_t		  uid;
	gid_t		  gid;
	gid_t		 *groups;
	size_t		  ngroups;
	char		 *dir;		/* chdir, or NULL */
	long		  umask;	/* -1 to leave it */
	long		  nice;		/* 0 to leave it */
	size_t		  nrlimits;
	struct {
		int	  resource;
		rlim_t	  value;
	}		  rlimits[RLIMITS_MAX];
	enum stderr_mode  stderr_mode;
	bool		  log_conns;	/* log_connections: the spawn, serve
					   and end lines of its connections */

	/*
	 * accept = "handler": workers accept for themselves, on the
	 * listening sockets given them (service.c's pool, workers.c).
	 */
	bool		  accept_handler;
	bool		  pass_inetd;	/* one socket on fds 0 and 1 */
	bool		  start_now;	/* else on the first connection */
	long		  workers;
	long		  restart_delay;	/* seconds, doubled to 60 */
	long		  max_restarts;	/* within restart_window */
	long		  restart_window;
	long		  idle_exit;	/* on demand: seconds, 0 for never */

	const struct backend *backend;	/* what serves its connections */
	const struct builtin *builtin;	/* NULL for an exec service */
	enum builtin_filter filter;
	const char	 *terminator;	/* "\n" or "\r\n" */
	size_t		  max_line;
	char		 *banner;	/* with its terminator, or NULL */
	size_t		  bannerlen;
	long		  idle_timeout;	/* built-ins: seconds, 0 for none */
	long		  timeout;

	struct cidr	 *allow;
	size_t		  nallow;
	struct cidr	 *deny;
	size_t		  ndeny;
	long		  max_per_source;	/* -1 for no limit */
	long		  max_sources;		/* sources it keeps track of */
	long		  max_source_rate;
	long		  max_rate;
	int		  prefix4;		/* source grouping */
	int		  prefix6;
	bool		  refuse_on_limit;	/* on_limit = "refuse" */
	char		 *busy;			/* with its terminator */
	size_t		  busylen;
	uint64_t	  checksum;	/* of its settings, to tell a change */

	struct listeners  listeners;	/* listen.c's */
	struct service_state run;	/* service.c's */
	TAILQ_ENTRY(service) entry;
};
TAILQ_HEAD(services, service);

struct config {
	char		*path;		/* the file, as given */
	char		*dir;		/* its directory, absolute */
	long		 shutdown_timeout;
	long		 kill_grace;
	long		 max_connections;
	char		*control_socket;	/* absolute, or NULL for none */
	char		*control_group;		/* NULL for none */
	gid_t		 control_gid;
	bool		 log_syslog;		/* log = "syslog" */
	int		 log_facility;		/* LOG_DAEMON and the like */
	char		*log_ident;
	char		*log_socket;		/* absolute */
	uint64_t	 checksum;		/* of every file read */
	char		**included;		/* the files include read */
	size_t		 nincluded;
	struct services	 services;
	size_t		 nservices;
};

/* The life of a connection; conn_set_state() allows only these moves. */
enum conn_state {
	CONN_ADMITTED,	/* admitted, in its stages before the back-end */
	CONN_RUNNING,	/* its back-end started: handler or built-in */
	CONN_CLOSING,	/* built-in: flushing, then shutting down */
	CONN_TERM,	/* asked to end: SIGTERM sent to its group */
	CONN_KILL,	/* SIGKILL sent after kill_grace */
	CONN_DONE	/* ended: logged, counted, about to be freed */
};

/* One accepted connection. */
struct conn {
	uint64_t		 id;
	enum conn_state		 state;
	struct service		*service;	/* its settings, as accepted */
	struct service		*owner;		/* counts it; changes on reload */
	struct timespec		 started;	/* CLOCK_MONOTONIC */
	int			 fd;		/* supervisor's side, -1 if closed */
	int			 family;	/* AF_INET, AF_INET6 or AF_UNIX */
	char			 remote_ip[INET6_ADDRSTRLEN];
	char			 local_ip[INET6_ADDRSTRLEN];
	unsigned int		 remote_port;
	unsigned int		 local_port;
	const char		*unix_path;	/* AF_UNIX: the listener's path */
	long			 peer_uid;	/* AF_UNIX: -1 if unknown */
	long			 peer_gid;
	long			 peer_pid;
	struct admit_source	*src;		/* for max_per_source */
	long			 worker;	/* accept = "handler": its
						   number from 1; 0: a client */
	struct event		*notify;	/* a worker's notify socket */
	long			 clients;	/* its CONNECTIONS=, or -1 */
	char			 status[64];	/* its STATUS= */
	double			 busy_at;	/* it was last seen busy */
	unsigned long long	 cpu;		/* its CPU ticks then */

	/* Exec connections. */
	pid_t			 pid;		/* 0 before fork */
	int			 exec_step;	/* failed set-up step, or -1 */
	int			 exec_errno;	/* and why */
	struct event		*errev;		/* stderr = "log": the pipe */
	struct evbuffer		*errbuf;	/* a part line, if any */
	double			 errwatch;	/* when to watch it, or 0 */
	TAILQ_ENTRY(conn)	 errwait;	/* while not watched yet */
	int			 pidfd;		/* -1: none, or reaped */
	struct event		*reap;		/* on pidfd: it exited */
	TAILQ_ENTRY(conn)	 child;		/* the handlers alive */

	/* Built-in connections. */
	struct bufferevent	*bev;		/* made when a buffer is needed */
	struct event		*rev;		/* readable: builtin_readable */
	struct event		*timer;		/* idle, lifetime, close bound */
	const char		*why;		/* why it is closing */
	double			 last_io;	/* core_now() of last progress */
	double			 close_by;	/* CLOSING: give up flushing */
	uint64_t		 bytes_in;
	uint64_t		 bytes_out;
	bool			 paused;	/* reading stopped: output full */
	bool			 shut;		/* our side shut for writing */
	bool			 peer_eof;	/* the client's side is shut */

	TAILQ_ENTRY(conn)	 entry;
};
TAILQ_HEAD(conns, conn);

/* core.c */
void		 core_init(void);
void		 core_signal(int, void (*)(int));
void		 core_fini(void);
struct event_base *core_base(void);
struct event	*core_timer(void (*)(int, short, void *), void *);
void		 core_timer_in(struct event *, double);
struct config	*core_config(void);
void		 core_set_config(struct config *);
double		 core_now(void);
double		 core_uptime(void);

/* text.c */
int		 text_number(const char *, long, long, long *);
void		 text_ip(const struct sockaddr *, char *, size_t,
		     unsigned int *);
char		*text_peer(const struct sockaddr *, char *, size_t);
char		*text_sockaddr(const struct sockaddr *, socklen_t, bool, char *,
		     size_t);
int		 text_parse_cidr(const char *, struct cidr *, char *, size_t);
char		*text_cidr(const struct cidr *, char *, size_t);
size_t		 text_escape(char *, size_t, const char *, size_t);
int		 text_vformat(char *, size_t, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));
int		 text_format(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* service.c */
struct service	*service_find(struct config *, const char *);
void		 service_update(struct service *);
void		 service_update_all(void);
void		 service_conn_started(struct service *, long);
void		 service_conn_ended(struct service *, const char *, long,
		    double);
void		 service_spawned(struct service *, double);
extern const double service_duration_bounds[HISTOGRAM_BUCKETS];
extern const double service_spawn_bounds[HISTOGRAM_BUCKETS];
void		 service_conn_freed(struct service *, struct service *);
void		 service_worker_started(struct service *);
void		 service_worker_ended(struct service *, const char *);
void		 service_worker_next(struct service *, const char *, double,
		     bool);
void		 service_refused(struct service *, enum admit_reason);
void		 service_spawn_failed(struct service *, bool);
void		 service_set_limit(struct service *, long);
int		 service_pause(struct service *, bool);
bool		 service_shutting_down(void);
void		 service_all_ended(void);
void		 service_shutdown(bool);
void		 service_shutdown_next(void);
void		 service_stop(struct service *, bool);
void		 service_release(struct service *);
int		 service_reload(char *, size_t);
struct services	*service_retired(void);
const char	*service_reload_result(double *, time_t *);
void		 service_init(const char *);
void		 service_fini(void);

/* config.c */
struct config	*config_load(const char *, char *, size_t);
void		 config_free(struct config *);
int		 config_check_privileges(const struct config *, char *,
		    size_t);
void		 config_print(const struct config *);
void		 config_warn(const struct config *);
void		 config_set_control_socket(struct config *, const char *);
char		*config_absolute(const char *);
void		 config_free_shell(struct config *);
void		 config_free_service(struct service *);

/* listen.c */
int		 listen_parse(const char *, const char *, struct laddr *, char *,
		     size_t);
void		 listen_opts_init(struct sockopts *);
int		 listen_resolve(const struct laddr *, struct laddr **, size_t *,
		     char *, size_t);
char		*listen_describe(const struct laddr *, bool, char *, size_t);
int		 listen_adopt(struct config *, char *, size_t);
int		 listen_open(struct service *, char *, size_t);
void		 listen_close(struct service *);
void		 listen_update(struct service *, bool);
void		 listen_backoff(struct service *);
void		 listen_announce(struct services *, int);
bool		 listen_waiting(const struct service *);
bool		 listen_overlap(const struct laddr *, const struct laddr *,
		     long, long);
int		 listen_unix_dir(const char *, char *, size_t);
int		 listen_unix_socket(const char *, mode_t, uid_t, gid_t, int,
		     dev_t *, ino_t *, char *, size_t);
int		 listen_unix_set(const char *, dev_t, ino_t, mode_t, uid_t,
		     gid_t, char *, size_t);
void		 listen_unix_unlink(const char *, dev_t, ino_t);
int		 listen_prepare(struct config *, struct config *, char *, size_t);
void		 listen_abort(struct config *, struct config *);
void		 listen_commit(struct config *, struct config *);
size_t		 listen_fds(const struct service *, int *, size_t);
void		 listen_watch(struct service *, void (*)(struct service *));

/* conn.c */
void		 conn_accept(struct listener *, int, struct sockaddr *, int);
void		 conn_end(struct conn *, const char *, const char *);
int		 conn_worker(struct service *, long);
void		 conn_stop(const struct service *, bool);
void		 conn_kill(struct conn *);
struct conn	*conn_find(uint64_t);
struct conn	*conn_first(void);
struct conn	*conn_next(const struct conn *);
double		 conn_started(const struct conn *);
void		 conn_set_state(struct conn *, enum conn_state);
const char	*conn_state_name(enum conn_state);
long		 conn_active(void);
long		 conn_clients(void);
double		 conn_age(const struct conn *);
bool		 conn_logs(const struct conn *);
char		*conn_remote(const struct conn *, char *, size_t);

/* workers.c */
void		 workers_update(struct service *, bool);
void		 workers_ended(struct service *, const char *, double, bool);
long		 workers_running(const struct service *);
void		 workers_free(struct service *);
void		 workers_carry(struct service *, struct service *);

/* notify.c */
char		*notify_name(const struct conn *, char *, size_t);
int		 notify_open(struct conn *);
void		 notify_close(struct conn *);

/* systemd.c */
#define SYSTEMD_PASSED_MAX	1024	/* sockets in LISTEN_FDS, at most */

/* A listening socket the service manager passed (LISTEN_FDS). */
struct passed_socket {
	int			 fd;
	char			*name;		/* LISTEN_FDNAMES', or NULL */
	struct sockaddr_storage	 ss;		/* where it is bound */
	socklen_t		 sslen;
	bool			 taken;		/* by a listener */
};

int		 systemd_init(char *, size_t);
struct passed_socket *systemd_sockets(size_t *);
void		 systemd_sockets_done(void);
void		 systemd_ready(const char *);
void		 systemd_reloading(void);
void		 systemd_reloaded(const char *);
void		 systemd_stopping(const char *);
void		 systemd_status(const char *);
void		 systemd_fini(void);

/* linger.c */
void		 linger_close(int, const char *, size_t);
void		 linger_fini(void);

/* admit.c */
enum admit_reason admit_check(struct service *, const struct sockaddr *,
		     struct admit_source **);
void		 admit_release(struct admit_source *);
void		 admit_log_refusal(struct service *, const struct sockaddr *,
		     enum admit_reason);
double		 admit_rate_wait(struct service *);
const char	*admit_reason_name(enum admit_reason);
void		 admit_init(void);
void		 admit_fini(void);
void		 admit_free(struct service *);

/* builtin.c */
extern const struct backend builtin_backend;
const struct builtin *builtin_find(const char *);
const char	*builtin_names(void);
int		 builtin_lines(struct conn *, const struct service *,
		     struct evbuffer *, struct evbuffer *, bool);

/* control.c */
void		 control_lines(struct evbuffer *, bool *,
		     bool (*)(char *, size_t, void *), void *);
int		 control_check(const struct config *, char *, size_t);
int		 control_open(const struct config *, char *, size_t);
int		 control_move(const struct config *, char *, size_t);
void		 control_close(void);

/* command.c */
#define COMMAND_WORDS_MAX	8
#define COMMAND_STOP		1	/* command_answer(): shut down */
#define COMMAND_STOP_NOW	2	/* the same, skipping the drain */

/* A control request cut into words by command_parse(). */
struct command_words {
	int		 argc;
	char		*argv[COMMAND_WORDS_MAX];
	bool		 json;		/* "json" was the last word */
	char		 err[256];	/* why it was refused, if it was */
};

const struct command *command_parse(char *, size_t, struct command_words *);
const char	*command_name(const struct command *, int *, int *);
void		 command_stop(int);
int		 command_answer(char *, size_t, uid_t, struct evbuffer *);

/* view.c */
/* How a view's text form lays its rows out. */
enum view_layout {
	VIEW_TABLE,	/* a head line, then a line a row, aligned */
	VIEW_BARE,	/* the same with no head line */
	VIEW_RECORD,	/* one row: a line a field, "label value" */
	VIEW_METRICS	/* samples, in the Prometheus text format */
};
struct view;
struct view_row;

struct view	*view_new(enum view_layout, const char *, const char *const *);
struct view_row	*view_row(struct view *);
void		 view_str(struct view_row *, const char *, const char *,
		     const char *);
void		 view_render(struct view *, bool, struct evbuffer *);
struct view	*view_status(void);
struct view	*view_version(void);
struct view	*view_services(void);
struct view	*view_connections(const struct service *);
struct view	*view_metrics(void);

/* spawn.c */
void		 spawn_init(void);
void		 spawn_fini(void);
bool		 spawn_pidfds(void);
pid_t		 spawn_start(struct conn *, int, int *);
int		 spawn_result(const struct conn *, char *, size_t);

/* children.c */
extern const struct backend children_backend;
void		 children_init(void);
void		 children_fini(void);
long		 children_orphans(void);
uint64_t	 children_orphans_reaped_count(void);
void		 children_orphans_end(long);
size_t		 children_count(void);
uint64_t	 children_exec_failures(void);

/* http.c */
#define HTTP_HEAD_MAX	8192	/* bytes of a request's head */
#define HTTP_BLANKS_MAX	16	/* empty lines before its request line */
struct http_request {
	int		 status;	/* of the answer */
	int		 minor;		/* HTTP/1.minor */
	bool		 head;		/* HEAD: no body in the answer */
};
int		 http_request(const char *, size_t, const char *,
		    struct http_request *);
const char	*http_tag(int);
void		 http_reply(struct evbuffer *, const struct http_request *,
		    const char *, struct evbuffer *);

/* log.c */
#define LOG_IDENT_MAX	32	/* log_ident's characters, at most */
void		 log_init(int);
int		 log_check(const struct config *, char *, size_t);
void		 log_apply(const struct config *);
void		 log_fini(void);
bool		 log_limit(struct log_limit *, double, char *, size_t);
const char	*log_escape(const char *);
void		 log_warn(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 log_info(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
bool		 log_debugging(void);
void		 log_debug(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 fatal(const char *, ...)
		     __attribute__((format(printf, 1, 2), noreturn));
void		 fatalx(const char *, ...)
		     __attribute__((format(printf, 1, 2), noreturn));

/* xmalloc.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xreallocarray(void *, size_t, size_t);
char		*xstrdup(const char *);
int		 xasprintf(char **, const char *, ...)
		     __attribute__((format(printf, 2, 3)));

/* compat */
#ifndef HAVE_CLOSEFROM
void		 closefrom(int);
#endif

#endif /* PORTIER_H */
