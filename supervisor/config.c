/*
 * The config file: parse it with libconfuse, validate every value where
 * libconfuse still knows its line, and build struct config.
 *
 * The file is read by conffile.c, which portierctl shares: libconfuse 3.3
 * calls exit() on a directory and blocks on a FIFO, so the file is opened
 * without blocking, must be a regular file of bounded size, and is handed
 * to cfg_parse_buf() from memory, its comments blanked out
 * (config_uncommented says why).  Its relative paths are made absolute by
 * conffile_path, against the directory conffile_dir gives.  include() and
 * CFGF_IGNORE_UNKNOWN are never used here (portierctl's reading of
 * control_socket alone uses the latter).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <sys/resource.h>

#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <net/if.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <confuse.h>

#include "portier.h"

/* A file of the config being loaded: the main one, or one it includes. */
struct config_src {
	char		*path;
	char		*dir;		/* its relative paths are taken from */
	char		*buf;		/* as read */
};

#define CONFIG_INCLUDED_MAX	1024	/* files include may read */

/* State of the load in progress, for libconfuse's callbacks. */
static struct {
	const char	*path;		/* of the file being read */
	const char	*dir;
	const char	*buf;		/* the file as read */
	unsigned int	 src;		/* its index in srcs */
	struct config_src *srcs;	/* every file read, the main one first */
	size_t		 nsrcs;
	int		 section;	/* the service being checked, from 0 */
	int		 unclosed;	/* the service the file ends in, or -1 */
	int		 unclosed_line;	/* where it begins */
	char		*err;
	size_t		 errlen;
	bool		 failed;
} config_cur;

#define CONFIG_UNIX_MODE	"0666"	/* unix_mode's default */

/* Integer options and their allowed ranges, by option name. */
static const struct config_range {
	const char	*name;
	long		 min;
	long		 max;
} config_ranges[] = {
	{ "shutdown_timeout",	0,	86400 },
	{ "kill_grace",		0,	3600 },
	{ "max_connections",	-1,	1000000 },
	{ "backlog",		1,	65535 },
	{ "max_line",		1,	1048576 },
	{ "idle_timeout",	0,	86400 },
	{ "timeout",		0,	86400 },
	{ "max_per_source",	-1,	1000000 },
	{ "max_source_rate",	-1,	1000000 },
	{ "max_sources",	1,	1000000 },
	{ "max_rate",		-1,	1000000 },
	{ "source_prefix4",	0,	32 },
	{ "source_prefix6",	0,	128 },
	{ "nice",		-20,	19 },
	{ "workers",		1,	WORKERS_MAX },
	{ "restart_delay",	0,	3600 },
	{ "max_restarts",	0,	1000000 },
	{ "restart_window",	1,	86400 },
	{ "idle_exit",		0,	86400 },
	/* Linux's bounds: MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, ..CNT. */
	{ "keepalive_idle",	1,	32767 },
	{ "keepalive_interval",	1,	32767 },
	{ "keepalive_count",	1,	127 },
	{ "defer_accept",	1,	3600 },
	{ "fastopen",		1,	65535 },
	{ "mark",		0,	4294967295L },
};

/* The largest receive_buffer or send_buffer: the kernel doubles it. */
#define CONFIG_BUFFER_MAX	(1L << 30)

/*
 * The socket options, all of TCP/IP (an error in a service with a unix:
 * address): where each goes in struct sockopts, and how it is read.
 */
static const struct {
	const char	*name;
	size_t		 off;
	char		 kind;		/* 'b' boolean, 'i' integer, 's' size,
					   'd' an interface name */
} config_sockopts[] = {
#define CONFIG_SOCKOPT(f, k)	{ #f, offsetof(struct sockopts, f), k }
	CONFIG_SOCKOPT(keepalive, 'b'),
	CONFIG_SOCKOPT(keepalive_idle, 'i'),
	CONFIG_SOCKOPT(keepalive_interval, 'i'),
	CONFIG_SOCKOPT(keepalive_count, 'i'),
	CONFIG_SOCKOPT(nodelay, 'b'),
	CONFIG_SOCKOPT(defer_accept, 'i'),
	CONFIG_SOCKOPT(fastopen, 'i'),
	CONFIG_SOCKOPT(freebind, 'b'),
	CONFIG_SOCKOPT(reuse_port, 'b'),
	CONFIG_SOCKOPT(transparent, 'b'),
	CONFIG_SOCKOPT(ipv6_only, 'b'),
	CONFIG_SOCKOPT(mark, 'i'),
	CONFIG_SOCKOPT(receive_buffer, 's'),
	CONFIG_SOCKOPT(send_buffer, 's'),
	CONFIG_SOCKOPT(bind_device, 'd'),
#undef CONFIG_SOCKOPT
};

/* The resource limits a service may set, by option name. */
static const struct {
	const char	*name;
	int		 resource;
} config_rlimits[RLIMITS_MAX] = {
	{ "rlimit_cpu",		RLIMIT_CPU },
	{ "rlimit_as",		RLIMIT_AS },
	{ "rlimit_nofile",	RLIMIT_NOFILE },
	{ "rlimit_nproc",	RLIMIT_NPROC },
	{ "rlimit_core",	RLIMIT_CORE },
};

/* Settings only a handler has; a built-in service may not set them. */
static const char *const config_exec_only[] = {
	"user", "group", "groups", "allow_root", "chdir", "umask", "nice",
	"rlimit_cpu", "rlimit_as", "rlimit_nofile", "rlimit_nproc",
	"rlimit_core", "stderr", "env", "passenv",
};

/* Admission settings a service takes from the global section if unset. */
#define CONFIG_ADMIT_OPTS(flags)					\
	CFG_STR_LIST("allow", NULL, CFGF_NODEFAULT),			\
	CFG_STR_LIST("deny", NULL, CFGF_NODEFAULT),			\
	CFG_INT_CB("max_per_source", -1, flags, config_parse_int),	\
	CFG_INT_CB("max_source_rate", -1, flags, config_parse_int),	\
	CFG_INT_CB("max_sources", ADMIT_MAX_SOURCES, flags,		\
	    config_parse_int),						\
	CFG_INT_CB("max_rate", -1, flags, config_parse_int),		\
	CFG_INT_CB("source_prefix4", 32, flags, config_parse_int),	\
	CFG_INT_CB("source_prefix6", 64, flags, config_parse_int),	\
	CFG_STR("on_limit", "queue", flags),				\
	CFG_STR("busy_message", NULL, CFGF_NODEFAULT)

static void	config_errfunc(cfg_t *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static void	config_verror(int, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static void	config_line_error(int, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	config_option_error(cfg_t *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	config_file_error(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static int	config_line(int, const char *);
static int	config_parse_int(cfg_t *, cfg_opt_t *, const char *, void *);
static int	config_check_listen(cfg_t *, cfg_opt_t *);
static int	config_check_builtin(cfg_t *, cfg_opt_t *);
static int	config_check_banner(cfg_t *, cfg_opt_t *);
static int	config_check_choice(cfg_t *, cfg_opt_t *);
static int	config_check_group(cfg_t *, cfg_opt_t *);
static int	config_check_cidrs(cfg_t *, cfg_opt_t *);
static int	config_check_rlimit(cfg_t *, cfg_opt_t *);
static int	config_check_mode(cfg_t *, cfg_opt_t *);
static int	config_check_chdir(cfg_t *, cfg_opt_t *);
static int	config_check_exec(cfg_t *, cfg_opt_t *);
static int	config_check_env(cfg_t *, cfg_opt_t *);
static int	config_check_passenv(cfg_t *, cfg_opt_t *);
static int	config_check_service(cfg_t *, cfg_opt_t *);
static int	config_check_facility(cfg_t *, cfg_opt_t *);
static int	config_check_ident(cfg_t *, cfg_opt_t *);
static int	config_check_log_socket(cfg_t *, cfg_opt_t *);
static void	config_use_src(size_t);
static int	config_check_buffer(cfg_t *, cfg_opt_t *);
static int	config_check_device(cfg_t *, cfg_opt_t *);

static cfg_opt_t config_service_opts[] = {
	CFG_STR_LIST("listen", NULL, CFGF_NODEFAULT),
	CFG_STR_LIST("exec", NULL, CFGF_NODEFAULT),
	CFG_STR("builtin", NULL, CFGF_NODEFAULT),
	CFG_STR("filter", NULL, CFGF_NODEFAULT),
	CFG_STR("line_terminator", "\n", CFGF_NONE),
	CFG_INT_CB("max_line", 8192, CFGF_NONE, config_parse_int),
	CFG_STR("banner", NULL, CFGF_NODEFAULT),
	CFG_INT_CB("idle_timeout", 0, CFGF_NONE, config_parse_int),
	CFG_INT_CB("timeout", 0, CFGF_NONE, config_parse_int),
	CFG_STR_LIST("env", NULL, CFGF_NODEFAULT),
	CFG_STR_LIST("passenv", NULL, CFGF_NODEFAULT),
	CFG_STR("user", NULL, CFGF_NODEFAULT),
	CFG_STR("group", NULL, CFGF_NODEFAULT),
	CFG_STR_LIST("groups", NULL, CFGF_NODEFAULT),
	CFG_BOOL("allow_root", cfg_false, CFGF_NODEFAULT),
	CFG_STR("chdir", NULL, CFGF_NODEFAULT),
	CFG_STR("umask", NULL, CFGF_NODEFAULT),
	CFG_INT_CB("nice", 0, CFGF_NODEFAULT, config_parse_int),
	CFG_STR("rlimit_cpu", NULL, CFGF_NODEFAULT),
	CFG_STR("rlimit_as", NULL, CFGF_NODEFAULT),
	CFG_STR("rlimit_nofile", NULL, CFGF_NODEFAULT),
	CFG_STR("rlimit_nproc", NULL, CFGF_NODEFAULT),
	CFG_STR("rlimit_core", NULL, CFGF_NODEFAULT),
	CFG_STR("stderr", "log", CFGF_NODEFAULT),
	CFG_BOOL("log_connections", cfg_true, CFGF_NODEFAULT),
	CFG_INT_CB("max_connections", -1, CFGF_NONE, config_parse_int),
	CFG_INT_CB("backlog", SOMAXCONN, CFGF_NONE, config_parse_int),
	CFG_STR("unix_mode", NULL, CFGF_NODEFAULT),
	CFG_STR("unix_owner", NULL, CFGF_NODEFAULT),
	CFG_STR("unix_group", NULL, CFGF_NODEFAULT),
	CFG_STR("accept", "portier", CFGF_NONE),
	CFG_STR("pass", "systemd", CFGF_NONE),
	CFG_STR("start", "on-demand", CFGF_NONE),
	CFG_INT_CB("workers", 1, CFGF_NONE, config_parse_int),
	CFG_INT_CB("restart_delay", 1, CFGF_NONE, config_parse_int),
	CFG_INT_CB("max_restarts", 5, CFGF_NONE, config_parse_int),
	CFG_INT_CB("restart_window", 60, CFGF_NONE, config_parse_int),
	CFG_INT_CB("idle_exit", 0, CFGF_NONE, config_parse_int),
	CFG_BOOL("keepalive", cfg_false, CFGF_NODEFAULT),
	CFG_INT_CB("keepalive_idle", 0, CFGF_NODEFAULT, config_parse_int),
	CFG_INT_CB("keepalive_interval", 0, CFGF_NODEFAULT, config_parse_int),
	CFG_INT_CB("keepalive_count", 0, CFGF_NODEFAULT, config_parse_int),
	CFG_BOOL("nodelay", cfg_false, CFGF_NODEFAULT),
	CFG_INT_CB("defer_accept", 0, CFGF_NODEFAULT, config_parse_int),
	CFG_INT_CB("fastopen", 0, CFGF_NODEFAULT, config_parse_int),
	CFG_BOOL("freebind", cfg_false, CFGF_NODEFAULT),
	CFG_STR("bind_device", NULL, CFGF_NODEFAULT),
	CFG_BOOL("reuse_port", cfg_false, CFGF_NODEFAULT),
	CFG_BOOL("transparent", cfg_false, CFGF_NODEFAULT),
	CFG_INT_CB("mark", 0, CFGF_NODEFAULT, config_parse_int),
	CFG_STR("receive_buffer", NULL, CFGF_NODEFAULT),
	CFG_STR("send_buffer", NULL, CFGF_NODEFAULT),
	CFG_BOOL("ipv6_only", cfg_false, CFGF_NODEFAULT),
	CONFIG_ADMIT_OPTS(CFGF_NODEFAULT),
	CFG_END()
};

static cfg_opt_t config_opts[] = {
	CFG_STR("control_socket", CONFFILE_SOCKET, CFGF_NONE),
	CFG_STR("control_group", NULL, CFGF_NODEFAULT),
	CFG_INT_CB("shutdown_timeout", 10, CFGF_NONE, config_parse_int),
	CFG_INT_CB("kill_grace", 5, CFGF_NONE, config_parse_int),
	CFG_INT_CB("max_connections", -1, CFGF_NONE, config_parse_int),
	CFG_STR("log", "stderr", CFGF_NONE),
	CFG_STR("log_facility", "daemon", CFGF_NONE),
	CFG_STR("log_ident", "portierd", CFGF_NONE),
	CFG_STR("log_socket", "/dev/log", CFGF_NONE),
	CFG_BOOL("log_connections", cfg_true, CFGF_NONE),
	CFG_STR_LIST("include", NULL, CFGF_NODEFAULT),
	CONFIG_ADMIT_OPTS(CFGF_NONE),
	CFG_SEC("service", config_service_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

/* What a file that include names may hold: services only. */
static cfg_opt_t config_included_opts[] = {
	CFG_SEC("service", config_service_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

/* Validation callbacks, by option path. */
static const struct {
	const char		*name;
	cfg_validate_callback_t	 fn;
} config_checks[] = {
	{ "service|listen",		config_check_listen },
	{ "service|exec",		config_check_exec },
	{ "service|builtin",		config_check_builtin },
	{ "service|filter",		config_check_choice },
	{ "service|line_terminator",	config_check_choice },
	{ "service|banner",		config_check_banner },
	{ "service|env",		config_check_env },
	{ "service|passenv",		config_check_passenv },
	{ "service",			config_check_service },
	{ "control_group",		config_check_group },
	{ "log",			config_check_choice },
	{ "log_facility",		config_check_facility },
	{ "log_ident",			config_check_ident },
	{ "log_socket",			config_check_log_socket },
	{ "allow",			config_check_cidrs },
	{ "deny",			config_check_cidrs },
	{ "on_limit",			config_check_choice },
	{ "busy_message",		config_check_banner },
	{ "service|allow",		config_check_cidrs },
	{ "service|deny",		config_check_cidrs },
	{ "service|on_limit",		config_check_choice },
	{ "service|rlimit_cpu",		config_check_rlimit },
	{ "service|rlimit_as",		config_check_rlimit },
	{ "service|rlimit_nofile",	config_check_rlimit },
	{ "service|rlimit_nproc",	config_check_rlimit },
	{ "service|rlimit_core",	config_check_rlimit },
	{ "service|umask",		config_check_mode },
	{ "service|unix_mode",		config_check_mode },
	{ "service|stderr",		config_check_choice },
	{ "service|chdir",		config_check_chdir },
	{ "service|busy_message",	config_check_banner },
	{ "service|accept",		config_check_choice },
	{ "service|pass",		config_check_choice },
	{ "service|start",		config_check_choice },
	{ "service|receive_buffer",	config_check_buffer },
	{ "service|send_buffer",	config_check_buffer },
	{ "service|bind_device",	config_check_device },
};

/* Record the first error as "FILE:LINE: message". */
static void
config_verror(int line, const char *fmt, va_list ap)
{
	int	n;

	if (config_cur.failed)
		return;
	config_cur.failed = true;
	n = snprintf(config_cur.err, config_cur.errlen, "%s:%d: ",
	    config_cur.path, line);
	if (n > 0 && (size_t)n < config_cur.errlen)
		vsnprintf(config_cur.err + n, config_cur.errlen - (size_t)n,
		    fmt, ap);
}

/* Record libconfuse's error, or a check's, at the line it is reading. */
static void
config_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	config_verror(cfg != NULL ? cfg->line : 0, fmt, ap);
}

/* Record an error at a line of the file. */
static void
config_line_error(int line, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	config_verror(line, fmt, ap);
	va_end(ap);
}

/*
 * Record an error about an option of the service being checked, at the
 * line where the option is set, or where the service begins if it is not
 * or option is NULL: libconfuse checks a service at its closing brace.
 */
static void
config_option_error(cfg_t *cfg, const char *option, const char *fmt, ...)
{
	va_list	ap;
	int	line;

	if ((line = config_line(config_cur.section, option)) == 0)
		line = cfg->line;
	va_start(ap, fmt);
	config_verror(line, fmt, ap);
	va_end(ap);
}

/* Of two options of the service being checked, the one set further down. */
static const char *
config_later(const char *a, const char *b)
{
	return config_line(config_cur.section, a) >=
	    config_line(config_cur.section, b) ? a : b;
}

/* Record a file-level error as "FILE: message". */
static void
config_file_error(const char *fmt, ...)
{
	va_list	ap;
	int	n;

	config_cur.failed = true;
	n = snprintf(config_cur.err, config_cur.errlen, "%s: ",
	    config_cur.path);
	if (n < 0 || (size_t)n >= config_cur.errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(config_cur.err + n, config_cur.errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/*
 * Parse an integer option: decimal only, range-checked against
 * config_ranges.  libconfuse's own parser takes a leading 0 as octal, so
 * "max_connections = 010" would quietly mean 8.
 */
static int
config_parse_int(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	const struct config_range	*r;
	size_t				 i;

	for (i = 0; i < sizeof config_ranges / sizeof config_ranges[0]; i++) {
		r = &config_ranges[i];
		if (strcmp(r->name, opt->name) != 0)
			continue;
		switch (text_number(value, r->min, r->max, result)) {
		case -1:
			cfg_error(cfg, "%s = %s: expected a decimal number (no "
			    "leading zeros)", opt->name, value);
			return -1;
		case 1:
			cfg_error(cfg, "%s = %s: must be from %ld to %ld",
			    opt->name, value, r->min, r->max);
			return -1;
		}
		return 0;
	}
	fatalx("event=fatal reason=\"no range for option %s\"", opt->name);
}

/* Check every listen address parses, a unix: one in a directory there. */
static int
config_check_listen(cfg_t *cfg, cfg_opt_t *opt)
{
	struct laddr	la;
	char		err[256];
	unsigned int	i;
	int		rc;

	if (cfg_opt_size(opt) == 0) {
		cfg_error(cfg, "listen: needs at least one address");
		return -1;
	}
	for (i = 0; i < cfg_opt_size(opt); i++) {
		if (listen_parse(cfg_opt_getnstr(opt, i), config_cur.dir, &la,
		    err, sizeof err) == -1) {
			cfg_error(cfg, "%s", err);
			return -1;
		}
		rc = la.path != NULL ? listen_unix_dir(la.path, err,
		    sizeof err) : 0;
		if (rc == -1)
			cfg_error(cfg, "listen \"%s\": %s", la.text, err);
		free(la.text);
		free(la.path);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* Make a path from the config absolute, against the config's directory. */
static char *
config_path(const char *path)
{
	char	*abs;

	if ((abs = conffile_path(config_cur.dir, path)) == NULL)
		fatal("event=fatal reason=\"config_path\"");
	return abs;
}

/* Check the handler path: given with a slash, a regular executable file. */
static int
config_check_exec(cfg_t *cfg, cfg_opt_t *opt)
{
	struct stat	 st;
	const char	*path;
	char		*abs;
	int		 rc = -1;

	if (cfg_opt_size(opt) == 0 || *(path = cfg_opt_getnstr(opt, 0)) ==
	    '\0') {
		cfg_error(cfg, "exec: needs the handler's path");
		return -1;
	}
	if (strchr(path, '/') == NULL) {
		cfg_error(cfg, "exec \"%s\": give the handler's path, absolute "
		    "or relative to the config file's directory (PATH is not "
		    "searched)", path);
		return -1;
	}
	abs = config_path(path);
	if (stat(abs, &st) == -1)
		cfg_error(cfg, "exec \"%s\": %s", abs, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		cfg_error(cfg, "exec \"%s\": not a regular file", abs);
	else if (access(abs, X_OK) == -1)
		cfg_error(cfg, "exec \"%s\": %s", abs, strerror(errno));
	else
		rc = 0;
	free(abs);
	return rc;
}

/* Check control_group names a group. */
static int
config_check_group(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*name = cfg_opt_getnstr(opt, 0);

	if (getgrnam(name) == NULL) {
		cfg_error(cfg, "control_group \"%s\": no such group", name);
		return -1;
	}
	return 0;
}

/* Check builtin names one of the table's. */
static int
config_check_builtin(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*name = cfg_opt_getnstr(opt, 0);

	if (builtin_find(name) == NULL) {
		cfg_error(cfg, "builtin \"%s\": no such built-in (there are %s)",
		    name, builtin_names());
		return -1;
	}
	return 0;
}

/* Options that take one of a few words, and the words as errors show them. */
static const struct {
	const char	*name;
	const char	*words[4];	/* NULL-terminated */
	const char	*shown;
} config_choices[] = {
	{ "filter", { "line", "stream" }, "\"line\" or \"stream\"" },
	{ "line_terminator", { "\n", "\r\n" }, "\"\\n\" or \"\\r\\n\"" },
	{ "stderr", { "log", "inherit", "null" },
	    "\"log\", \"inherit\" or \"null\"" },
	{ "on_limit", { "queue", "refuse" }, "\"queue\" or \"refuse\"" },
	{ "accept", { "portier", "handler" }, "\"portier\" or \"handler\"" },
	{ "pass", { "systemd", "inetd" }, "\"systemd\" or \"inetd\"" },
	{ "start", { "on-demand", "now" }, "\"on-demand\" or \"now\"" },
	{ "log", { "stderr", "syslog" }, "\"stderr\" or \"syslog\"" },
};

/* The syslog facilities log_facility may name (a process cannot use kern). */
static const struct {
	const char	*name;
	int		 facility;
} config_facilities[] = {
	{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV },
	{ "cron", LOG_CRON }, { "daemon", LOG_DAEMON }, { "ftp", LOG_FTP },
	{ "lpr", LOG_LPR }, { "mail", LOG_MAIL }, { "news", LOG_NEWS },
	{ "syslog", LOG_SYSLOG }, { "user", LOG_USER }, { "uucp", LOG_UUCP },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

/* The facility named, or -1. */
static int
config_facility(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof config_facilities / sizeof config_facilities[0];
	    i++) {
		if (strcmp(name, config_facilities[i].name) == 0)
			return config_facilities[i].facility;
	}
	return -1;
}

/* Check log_facility names a facility of config_facilities. */
static int
config_check_facility(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*v = cfg_opt_getnstr(opt, 0);

	if (config_facility(v) != -1)
		return 0;
	if (strcspn(v, "\t\r\n") != strlen(v))
		cfg_error(cfg, "log_facility: expected a syslog facility");
	else
		cfg_error(cfg, "log_facility \"%s\": expected daemon, user, "
		    "auth, authpriv, cron, ftp, lpr, mail, news, syslog, uucp "
		    "or local0 to local7", v);
	return -1;
}

/* Check log_socket names a path a socket address can hold. */
static int
config_check_log_socket(cfg_t *cfg, cfg_opt_t *opt)
{
	struct sockaddr_un	 sun;
	char			*path;
	int			 rc = 0;

	if (*cfg_opt_getnstr(opt, 0) == '\0') {
		cfg_error(cfg, "log_socket: expected a path");
		return -1;
	}
	path = config_path(cfg_opt_getnstr(opt, 0));
	if (strlen(path) >= sizeof sun.sun_path) {
		cfg_error(cfg, "log_socket: longer than %zu bytes",
		    sizeof sun.sun_path - 1);
		rc = -1;
	}
	free(path);
	return rc;
}

/*
 * Check log_ident: a word a syslog reader takes as the program's name,
 * up to its "[pid]:" (RFC 3164 allows 32 characters).
 */
static int
config_check_ident(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*v = cfg_opt_getnstr(opt, 0);
	size_t		 i;

	if (*v == '\0' || strlen(v) > LOG_IDENT_MAX) {
		cfg_error(cfg, "log_ident: expected 1 to %d characters",
		    LOG_IDENT_MAX);
		return -1;
	}
	for (i = 0; v[i] != '\0'; i++) {
		if (v[i] <= ' ' || v[i] >= 0x7f || strchr("[]:", v[i]) != NULL) {
			cfg_error(cfg, "log_ident: a blank, a control "
			    "character, '[', ']' or ':' is not allowed");
			return -1;
		}
	}
	return 0;
}

/*
 * Check an option of config_choices is one of its words.  A value with a
 * control character is not repeated in the error, which is one line.
 */
static int
config_check_choice(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*v = cfg_opt_getnstr(opt, 0);
	size_t		 i, j;

	for (i = 0; i < sizeof config_choices / sizeof config_choices[0]; i++) {
		if (strcmp(config_choices[i].name, opt->name) != 0)
			continue;
		for (j = 0; config_choices[i].words[j] != NULL; j++) {
			if (strcmp(v, config_choices[i].words[j]) == 0)
				return 0;
		}
		if (strcspn(v, "\t\r\n") != strlen(v))
			cfg_error(cfg, "%s: expected %s", opt->name,
			    config_choices[i].shown);
		else
			cfg_error(cfg, "%s \"%s\": expected %s", opt->name, v,
			    config_choices[i].shown);
		return -1;
	}
	fatalx("event=fatal reason=\"no choices for option %s\"", opt->name);
}

/* Check a banner or busy_message fits a new socket's send buffer. */
static int
config_check_banner(cfg_t *cfg, cfg_opt_t *opt)
{
	if (strlen(cfg_opt_getnstr(opt, 0)) > BANNER_MAX) {
		cfg_error(cfg, "%s: longer than %d bytes", opt->name, BANNER_MAX);
		return -1;
	}
	return 0;
}

/* Check every entry of allow or deny is an address with a prefix. */
static int
config_check_cidrs(cfg_t *cfg, cfg_opt_t *opt)
{
	struct cidr	c;
	char		err[256];
	unsigned int	i;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		if (text_parse_cidr(cfg_opt_getnstr(opt, i), &c, err,
		    sizeof err) == -1) {
			cfg_error(cfg, "%s %s", opt->name, err);
			return -1;
		}
	}
	return 0;
}

/*
 * Parse a resource limit: "unlimited", or a number with an optional k, M
 * or G suffix (powers of 1024).  Returns -1 if s is neither.
 */
static int
config_rlimit_value(const char *s, rlim_t *v)
{
	unsigned long long	 n;
	char			*end;
	int			 shift = 0;

	if (strcmp(s, "unlimited") == 0) {
		*v = RLIM_INFINITY;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	if ((shift != 0 && end[1] != '\0') || (shift == 0 && *end != '\0') ||
	    errno == ERANGE || n > (ULLONG_MAX >> shift))
		return -1;
	*v = (rlim_t)(n << shift);
	return 0;
}

/* Check a resource limit parses. */
static int
config_check_rlimit(cfg_t *cfg, cfg_opt_t *opt)
{
	rlim_t	v;

	if (config_rlimit_value(cfg_opt_getnstr(opt, 0), &v) == -1) {
		cfg_error(cfg, "%s = \"%s\": expected a number, with k, M or "
		    "G if you like, or \"unlimited\"", opt->name,
		    cfg_opt_getnstr(opt, 0));
		return -1;
	}
	return 0;
}

/* Parse a buffer size: 1 to CONFIG_BUFFER_MAX bytes, k, M or G allowed. */
static int
config_buffer_value(const char *s, long *v)
{
	rlim_t	n;

	if (strcmp(s, "unlimited") == 0 || config_rlimit_value(s, &n) == -1 ||
	    n < 1 || n > (rlim_t)CONFIG_BUFFER_MAX)
		return -1;
	*v = (long)n;
	return 0;
}

/* Check receive_buffer or send_buffer is a size the kernel takes. */
static int
config_check_buffer(cfg_t *cfg, cfg_opt_t *opt)
{
	long	v;

	if (config_buffer_value(cfg_opt_getnstr(opt, 0), &v) == -1) {
		cfg_error(cfg, "%s = \"%s\": expected a number of bytes from 1 "
		    "to 1G, with k, M or G if you like", opt->name,
		    cfg_opt_getnstr(opt, 0));
		return -1;
	}
	return 0;
}

/*
 * Check bind_device could name an interface: whether it exists is for the
 * start to tell, as interfaces come and go.
 */
static int
config_check_device(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s = cfg_opt_getnstr(opt, 0);

	if (*s == '\0' || strlen(s) >= IF_NAMESIZE ||
	    strpbrk(s, "/ \t\r\n:") != NULL) {
		cfg_error(cfg, "bind_device: expected an interface name of 1 "
		    "to %d characters, no '/', ':' or blank", IF_NAMESIZE - 1);
		return -1;
	}
	return 0;
}

/* Check umask or unix_mode is an octal mode such as "022" or "0660". */
static int
config_check_mode(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s = cfg_opt_getnstr(opt, 0);

	if (*s == '\0' || strlen(s) > 4 || strspn(s, "01234567") != strlen(s) ||
	    strtol(s, NULL, 8) > 0777) {
		cfg_error(cfg, "%s \"%s\": expected an octal mode such as "
		    "\"%s\"", opt->name, s, strcmp(opt->name, "umask") == 0 ?
		    "022" : "0660");
		return -1;
	}
	return 0;
}

/* Check chdir names a directory. */
static int
config_check_chdir(cfg_t *cfg, cfg_opt_t *opt)
{
	struct stat	 st;
	char		*dir = config_path(cfg_opt_getnstr(opt, 0));
	const char	*why = NULL;

	if (stat(dir, &st) == -1)
		why = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why = "not a directory";
	if (why != NULL)
		cfg_error(cfg, "chdir \"%s\": %s", dir, why);
	free(dir);
	return why != NULL ? -1 : 0;
}

/* Resolve a user or group given by name or number; -1 if unknown. */
static long
config_id(const char *s, bool group)
{
	struct passwd	*pw;
	struct group	*gr;
	long		 n;

	if (text_number(s, 0, INT_MAX, &n) == 0)
		return n;
	if (group)
		return (gr = getgrnam(s)) != NULL ? (long)gr->gr_gid : -1;
	return (pw = getpwnam(s)) != NULL ? (long)pw->pw_uid : -1;
}

/* Whether an option was written in a section, an empty list included. */
static bool
config_given(cfg_t *sec, const char *name)
{
	return cfg_size(sec, name) > 0 ||
	    (cfg_getopt(sec, name)->flags & CFGF_MODIFIED) != 0;
}

/* Whether the file sets an option, one with a default too. */
static bool
config_written(cfg_t *sec, const char *name)
{
	return (cfg_getopt(sec, name)->flags & CFGF_MODIFIED) != 0;
}

/*
 * A handler runs as root only if allow_root says so, whether root is the
 * user named or, with none named, portierd's own user.
 */
static int
config_check_root(cfg_t *cfg, cfg_t *sec, const char *name, const char *u,
    long uid)
{
	if (uid != 0 || cfg_size(sec, "exec") == 0 ||
	    (cfg_size(sec, "allow_root") > 0 && cfg_getbool(sec, "allow_root")))
		return 0;
	if (u != NULL)
		config_option_error(cfg, "user", "service \"%s\": user \"%s\" "
		    "is root; set allow_root = true if the handler must run as "
		    "root", name, u);
	else
		config_option_error(cfg, NULL, "service \"%s\": no user given, "
		    "so the handler would run as root, as portierd does; name "
		    "a user, or set allow_root = true if it must run as root",
		    name);
	return -1;
}

/*
 * Check user, group and groups resolve, and that a handler runs as root
 * only if allow_root says so.
 */
static int
config_check_creds(cfg_t *cfg, cfg_t *sec, const char *name)
{
	const char	*u = cfg_size(sec, "user") > 0 ? cfg_getstr(sec, "user") :
			     NULL;
	long		 uid = (long)geteuid();
	unsigned int	 i;

	if (u != NULL && (uid = config_id(u, false)) == -1) {
		config_option_error(cfg, "user", "service \"%s\": user \"%s\": "
		    "no such user", name, u);
		return -1;
	}
	if (cfg_size(sec, "group") > 0 &&
	    config_id(cfg_getstr(sec, "group"), true) == -1) {
		config_option_error(cfg, "group", "service \"%s\": group "
		    "\"%s\": no such group", name, cfg_getstr(sec, "group"));
		return -1;
	}
	for (i = 0; i < cfg_size(sec, "groups"); i++) {
		if (config_id(cfg_getnstr(sec, "groups", i), true) == -1) {
			config_option_error(cfg, "groups", "service \"%s\": "
			    "groups: \"%s\": no such group", name,
			    cfg_getnstr(sec, "groups", i));
			return -1;
		}
	}
	if (config_check_root(cfg, sec, name, u, uid) == -1)
		return -1;
	if (u != NULL && cfg_size(sec, "group") == 0 && getpwuid((uid_t)uid) ==
	    NULL) {
		config_option_error(cfg, "user", "service \"%s\": user %ld has "
		    "no passwd entry; give its group too", name, uid);
		return -1;
	}
	return 0;
}

/* The owner and group a service may give its unix: socket files. */
static const struct {
	const char	*name;
	bool		 group;
	const char	*what;
} config_unix_ids[] = {
	{ "unix_owner",	false,	"user" },
	{ "unix_group",	true,	"group" },
};

/*
 * Check unix_owner and unix_group resolve, and that the unix_ settings are
 * given only to a service with a unix: address.
 */
static int
config_check_unix(cfg_t *cfg, cfg_t *sec, const char *name)
{
	static const char *const opts[] = { "unix_mode", "unix_owner",
	    "unix_group" };
	const char	*v;
	bool		 has_unix = false;
	unsigned int	 i;

	for (i = 0; !has_unix && i < cfg_size(sec, "listen"); i++)
		has_unix = strncmp(cfg_getnstr(sec, "listen", i), "unix:",
		    5) == 0;
	for (i = 0; !has_unix && i < sizeof opts / sizeof opts[0]; i++) {
		if (cfg_size(sec, opts[i]) > 0) {
			config_option_error(cfg, opts[i], "service \"%s\": %s "
			    "applies to unix: addresses only", name, opts[i]);
			return -1;
		}
	}
	for (i = 0; i < sizeof config_unix_ids / sizeof config_unix_ids[0];
	    i++) {
		if (cfg_size(sec, config_unix_ids[i].name) == 0)
			continue;
		v = cfg_getstr(sec, config_unix_ids[i].name);
		if (config_id(v, config_unix_ids[i].group) == -1) {
			config_option_error(cfg, config_unix_ids[i].name,
			    "service \"%s\": %s \"%s\": no such %s",
			    name, config_unix_ids[i].name, v,
			    config_unix_ids[i].what);
			return -1;
		}
	}
	return 0;
}

/*
 * Check the socket options: none in a service with a unix: address, and
 * keepalive_* only with keepalive = true (systemd ignores them without
 * it, which hides the mistake).
 */
static int
config_check_sockopts(cfg_t *cfg, cfg_t *sec, const char *name)
{
	static const char *const ka[] = { "keepalive_idle",
	    "keepalive_interval", "keepalive_count" };
	const char	*unix_addr = NULL;
	size_t		 i;

	for (i = 0; unix_addr == NULL && i < cfg_size(sec, "listen"); i++)
		if (strncmp(cfg_getnstr(sec, "listen", i), "unix:", 5) == 0)
			unix_addr = cfg_getnstr(sec, "listen", i);
	for (i = 0; unix_addr != NULL && i < sizeof config_sockopts /
	    sizeof config_sockopts[0]; i++) {
		if (cfg_size(sec, config_sockopts[i].name) == 0)
			continue;
		config_option_error(cfg, config_sockopts[i].name, "service "
		    "\"%s\": %s is a TCP/IP socket option, and listen \"%s\" "
		    "is a unix: address", name, config_sockopts[i].name,
		    unix_addr);
		return -1;
	}
	for (i = 0; i < sizeof ka / sizeof ka[0]; i++) {
		if (cfg_size(sec, ka[i]) == 0 || (cfg_size(sec,
		    "keepalive") > 0 && cfg_getbool(sec, "keepalive")))
			continue;
		config_option_error(cfg, ka[i], "service \"%s\": %s applies "
		    "with keepalive = true only", name, ka[i]);
		return -1;
	}
	return 0;
}

/* Check a service runs exactly one thing, and takes only its settings. */
static int
config_check_kind(cfg_t *cfg, cfg_t *sec, const char *name)
{
	const struct builtin	*bi;
	size_t			 i;

	if (cfg_size(sec, "exec") > 0 && cfg_size(sec, "builtin") > 0) {
		config_option_error(cfg, config_later("exec", "builtin"),
		    "service \"%s\": exec and builtin both given; choose one",
		    name);
		return -1;
	}
	if (cfg_size(sec, "exec") == 0 && cfg_size(sec, "builtin") == 0) {
		config_option_error(cfg, "exec", "service \"%s\": neither exec "
		    "(a handler to run for each connection) nor builtin given",
		    name);
		return -1;
	}
	if (cfg_size(sec, "exec") > 0 && cfg_getint(sec, "idle_timeout") > 0) {
		config_option_error(cfg, "idle_timeout", "service \"%s\": "
		    "idle_timeout applies to built-in services only", name);
		return -1;
	}
	for (i = 0; cfg_size(sec, "builtin") > 0 &&
	    i < sizeof config_exec_only / sizeof config_exec_only[0]; i++) {
		if (config_given(sec, config_exec_only[i])) {
			config_option_error(cfg, config_exec_only[i], "service "
			    "\"%s\": %s applies to exec services only", name,
			    config_exec_only[i]);
			return -1;
		}
	}
	if (config_check_creds(cfg, sec, name) == -1)
		return -1;
	bi = cfg_size(sec, "builtin") > 0 ?
	    builtin_find(cfg_getstr(sec, "builtin")) : NULL;
	if (cfg_size(sec, "filter") > 0 && (bi == NULL || !bi->filters)) {
		config_option_error(cfg, "filter", "service \"%s\": filter "
		    "applies to the echo and rot13 built-ins only", name);
		return -1;
	}
	if (bi != NULL && strcmp(bi->name, "metrics") == 0 &&
	    cfg_size(sec, "banner") > 0) {
		config_option_error(cfg, "banner", "service \"%s\": the metrics "
		    "built-in answers HTTP, which a banner sent first would "
		    "break", name);
		return -1;
	}
	return 0;
}

/* Settings only an accept = "handler" service has. */
static const char *const config_handler_only[] = {
	"pass", "start", "workers", "restart_delay", "max_restarts",
	"restart_window", "idle_exit",
};

/*
 * Settings that need portierd to see each connection, which it does not
 * when the workers accept: an error in such a service, not ignored.
 */
static const char *const config_portier_only[] = {
	"allow", "deny", "max_per_source", "max_source_rate", "max_sources",
	"max_rate", "source_prefix4", "source_prefix6", "on_limit",
	"busy_message", "max_connections", "banner", "idle_timeout",
	"log_connections",
};

/*
 * Check the settings of the two kinds of service: accept = "handler" runs
 * workers, which take the listening sockets and accept by themselves.
 */
static int
config_check_accept(cfg_t *cfg, cfg_t *sec, const char *name)
{
	size_t	i;

	if (strcmp(cfg_getstr(sec, "accept"), "handler") != 0) {
		for (i = 0; i < sizeof config_handler_only /
		    sizeof config_handler_only[0]; i++) {
			if (!config_written(sec, config_handler_only[i]))
				continue;
			config_option_error(cfg, config_handler_only[i],
			    "service \"%s\": %s applies to accept = "
			    "\"handler\" services only", name,
			    config_handler_only[i]);
			return -1;
		}
		return 0;
	}
	if (cfg_size(sec, "builtin") > 0) {
		config_option_error(cfg, "accept", "service \"%s\": accept = "
		    "\"handler\" gives the sockets to a handler's workers, and "
		    "a built-in has none: use exec", name);
		return -1;
	}
	for (i = 0; i < sizeof config_portier_only /
	    sizeof config_portier_only[0]; i++) {
		if (!config_written(sec, config_portier_only[i]))
			continue;
		config_option_error(cfg, config_portier_only[i], "service "
		    "\"%s\": %s needs portierd to see each connection, and "
		    "with accept = \"handler\" the workers accept them", name,
		    config_portier_only[i]);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		if (cfg_size(cfg, i == 0 ? "allow" : "deny") == 0)
			continue;
		config_option_error(cfg, "accept", "service \"%s\": the "
		    "global %s cannot apply to it, since with accept = "
		    "\"handler\" its workers accept the connections: move %s "
		    "into the services portierd accepts for", name,
		    i == 0 ? "allow" : "deny", i == 0 ? "allow" : "deny");
		return -1;
	}
	if (cfg_getint(sec, "idle_exit") > 0 &&
	    strcmp(cfg_getstr(sec, "start"), "now") == 0) {
		config_option_error(cfg, "idle_exit", "service \"%s\": "
		    "idle_exit stops the workers of a service started on "
		    "demand, and with start = \"now\" they would start again "
		    "at once", name);
		return -1;
	}
	if (cfg_size(sec, "listen") > WORKER_SOCKETS) {
		config_option_error(cfg, "listen", "service \"%s\": %u listen "
		    "addresses, and a worker takes at most %d sockets", name,
		    cfg_size(sec, "listen"), WORKER_SOCKETS);
		return -1;
	}
	if (strcmp(cfg_getstr(sec, "pass"), "inetd") == 0 &&
	    cfg_size(sec, "listen") != 1) {
		config_option_error(cfg, "pass", "service \"%s\": pass = "
		    "\"inetd\" gives one socket, on fds 0 and 1, and the "
		    "service listens on %u addresses: use pass = \"systemd\"",
		    name, cfg_size(sec, "listen"));
		return -1;
	}
	return 0;
}

/* Whether name is a valid environment variable name. */
static bool
config_env_name_ok(const char *name, size_t len)
{
	size_t	i;

	if (len == 0 || isdigit((unsigned char)name[0]))
		return false;
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return false;
	}
	return true;
}

/*
 * What a service manager tells portierd alone (systemd.c), which no
 * handler is to see.
 */
static bool
config_env_manager(const char *name, size_t len)
{
	return (len == 13 && strncmp(name, "WATCHDOG_USEC", len) == 0) ||
	    (len == 12 && strncmp(name, "WATCHDOG_PID", len) == 0);
}

/* Whether portierd itself sets this variable for every handler. */
static bool
config_env_reserved(const char *name, size_t len)
{
	static const char *const prefixes[] = { "TCPLOCAL", "TCPREMOTE",
	    "UNIXLOCAL", "UNIXREMOTE", "PORTIER_" };
	static const char *const names[] = { "PROTO", "LISTEN_FDS",
	    "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET" };
	size_t	i, plen;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (len == strlen(names[i]) && strncmp(name, names[i], len) == 0)
			return true;
	}
	for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
		plen = strlen(prefixes[i]);
		if (len >= plen && strncmp(name, prefixes[i], plen) == 0)
			return true;
	}
	return false;
}

/* Check one env or passenv name; what is "env" or "passenv". */
static int
config_check_name(cfg_t *cfg, const char *what, const char *s, size_t len)
{
	if (!config_env_name_ok(s, len)) {
		cfg_error(cfg, "%s \"%s\": not a valid variable name", what, s);
		return -1;
	}
	if (config_env_reserved(s, len)) {
		cfg_error(cfg, "%s \"%s\": portierd sets %.*s itself", what, s,
		    (int)len, s);
		return -1;
	}
	if (config_env_manager(s, len)) {
		cfg_error(cfg, "%s \"%s\": the service manager tells %.*s to "
		    "portierd alone", what, s, (int)len, s);
		return -1;
	}
	return 0;
}

/* Check env entries are KEY=VALUE with valid, unique, unreserved keys. */
static int
config_check_env(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s, *t, *eq;
	unsigned int	 i, j;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		s = cfg_opt_getnstr(opt, i);
		if ((eq = strchr(s, '=')) == NULL) {
			cfg_error(cfg, "env \"%s\": expected KEY=VALUE", s);
			return -1;
		}
		if (config_check_name(cfg, "env", s, (size_t)(eq - s)) == -1)
			return -1;
		for (j = 0; j < i; j++) {
			t = cfg_opt_getnstr(opt, j);
			if (strncmp(s, t, (size_t)(eq - s) + 1) == 0) {
				cfg_error(cfg, "env \"%s\": %.*s is set twice",
				    s, (int)(eq - s), s);
				return -1;
			}
		}
	}
	return 0;
}

/* Check passenv entries are valid, unreserved names. */
static int
config_check_passenv(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*s;
	unsigned int	 i;

	for (i = 0; i < cfg_opt_size(opt); i++) {
		s = cfg_opt_getnstr(opt, i);
		if (config_check_name(cfg, "passenv", s, strlen(s)) == -1)
			return -1;
	}
	return 0;
}

/*
 * Check a whole service section once its closing brace is read, or the end
 * of the file, which libconfuse takes for one.
 */
static int
config_check_service(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t		*sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char	*name = cfg_title(sec), *p, *e;
	unsigned int	 i, j;

	config_cur.section = (int)cfg_opt_size(opt) - 1;
	if (config_cur.section == config_cur.unclosed) {
		config_line_error(config_cur.unclosed_line, "service \"%s\" is "
		    "not closed: the file ends before its '}'", name);
		return -1;
	}
	if (*name == '\0' || strlen(name) > 64) {
		config_option_error(cfg, NULL, "service \"%s\": a name needs 1 "
		    "to 64 characters", name);
		return -1;
	}
	for (p = name; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && strchr("_-.", *p) == NULL) {
			config_option_error(cfg, NULL, "service \"%s\": a name "
			    "may hold only letters, digits, '_', '-' and '.'",
			    name);
			return -1;
		}
	}
	if (cfg_size(sec, "listen") == 0) {
		config_option_error(cfg, "listen", "service \"%s\": no listen "
		    "address", name);
		return -1;
	}
	if (config_check_kind(cfg, sec, name) == -1 ||
	    config_check_accept(cfg, sec, name) == -1 ||
	    config_check_unix(cfg, sec, name) == -1 ||
	    config_check_sockopts(cfg, sec, name) == -1)
		return -1;
	for (i = 0; i < cfg_size(sec, "passenv"); i++) {
		p = cfg_getnstr(sec, "passenv", i);
		for (j = 0; j < cfg_size(sec, "env"); j++) {
			e = cfg_getnstr(sec, "env", j);
			if (strncmp(e, p, strlen(p)) == 0 &&
			    e[strlen(p)] == '=') {
				config_option_error(cfg, config_later("env",
				    "passenv"), "service \"%s\": %s is in both "
				    "env and passenv", name, p);
				return -1;
			}
		}
	}
	return 0;
}

/* The kinds of token besides punctuation, which is its own character. */
enum {
	CONFIG_TOK_END = 256,	/* the end of the file */
	CONFIG_TOK_WORD,	/* an unquoted string */
	CONFIG_TOK_STRING,	/* a quoted string */
	CONFIG_TOK_OPEN,	/* a quoted string the file ends in */
};

/* A token of the file: its kind, its text (a string's inside) and lines. */
struct config_token {
	int		 kind;	/* CONFIG_TOK_*, one of {}()=, or '+' for += */
	const char	*text;
	size_t		 len;
	int		 line;	/* where it begins */
	int		 end;	/* where it ends */
};

/*
 * Where a reading of the file's tokens is.  With blank set, a copy of the
 * file as long as it, each comment read is blanked out there.
 */
struct config_lexer {
	const char	*base;
	const char	*p;
	int		 line;
	char		*blank;
	const char	*brace;		/* the next '}', or NULL */
	bool		 nobrace;	/* none is left */
};

/* Start reading the tokens of buf. */
static void
config_lex_init(struct config_lexer *lx, const char *buf, char *blank)
{
	memset(lx, 0, sizeof *lx);
	lx->base = lx->p = buf;
	lx->line = 1;
	lx->blank = blank;
}

/*
 * The first '}' at or after p, where a ${NAME} would end, or NULL.  It is
 * looked for again only once the reading has passed it, so that a file of
 * "${" without a '}' is read in one pass, not one per "${".
 */
static const char *
config_lex_brace(struct config_lexer *lx, const char *p)
{
	if (!lx->nobrace && (lx->brace == NULL || lx->brace < p)) {
		lx->brace = strchr(p, '}');
		lx->nobrace = lx->brace == NULL;
	}
	return lx->brace;
}

/* Count the newlines from p to end, and blank the rest out if asked to. */
static void
config_lex_pass(struct config_lexer *lx, const char *p, const char *end,
    bool comment)
{
	for (; p < end; p++) {
		if (*p == '\n')
			lx->line++;
		else if (comment && lx->blank != NULL)
			lx->blank[p - lx->base] = ' ';
	}
}

/*
 * Skip what libconfuse's lexer passes over: blanks, newlines, comments,
 * and the characters it drops, '*', '\r' and a '+' without '='.  A comment
 * starts only where a token could: "a#b" is "a" and a comment, but "a//b"
 * is one word.
 */
static void
config_lex_skip(struct config_lexer *lx)
{
	const char	*p = lx->p, *e;

	for (;;) {
		if (*p != '\0' && strchr(" \t\r\n*", *p) != NULL)
			e = p + 1;
		else if (*p == '+' && p[1] != '=')
			e = p + 1;
		else if (*p == '#' || (p[0] == '/' && p[1] == '/'))
			e = p + strcspn(p, "\n");
		else if (p[0] == '/' && p[1] == '*') {
			if ((e = strstr(p + 2, "*/")) != NULL)
				e += 2;
			else
				e = p + strlen(p);
		} else
			break;
		config_lex_pass(lx, p, e, *p == '#' || *p == '/');
		p = e;
	}
	lx->p = p;
}

/*
 * Read a quoted string at lx->p into t; returns where it ends.  A backslash
 * takes the next character with it, in either quotes, and ${NAME} in double
 * quotes runs to its '}', as in libconfuse's lexer.
 */
static const char *
config_lex_quoted(struct config_lexer *lx, struct config_token *t)
{
	const char	*p = lx->p, *q;
	char		 quote = *p++;

	t->kind = CONFIG_TOK_STRING;
	t->text = p;
	for (; *p != quote; p++) {
		if (*p == '\0') {
			t->kind = CONFIG_TOK_OPEN;
			break;
		}
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (quote == '"' && p[0] == '$' && p[1] == '{' &&
		    (q = config_lex_brace(lx, p + 2)) != NULL) {
			config_lex_pass(lx, p, q, false);
			p = q;
		}
		if (*p == '\n')
			lx->line++;
	}
	t->len = (size_t)(p - t->text);
	return *p == quote ? p + 1 : p;
}

/*
 * Read the next token as libconfuse 3.3's lexer does: a word runs to a
 * blank or one of #"'={}()+,* and ${NAME} is a word of its own.  Only how
 * the file is split matters here, not what a string means.
 */
static void
config_lex(struct config_lexer *lx, struct config_token *t)
{
	const char	*p, *q;

	config_lex_skip(lx);
	p = lx->p;
	memset(t, 0, sizeof *t);
	t->line = lx->line;
	t->text = p;
	if (*p == '\0')
		t->kind = CONFIG_TOK_END;
	else if (*p == '"' || *p == '\'')
		p = config_lex_quoted(lx, t);
	else if (*p == '+') {
		t->kind = '+';
		p += 2;
	} else if (strchr("{}()=,", *p) != NULL)
		t->kind = (unsigned char)*p++;
	else {
		t->kind = CONFIG_TOK_WORD;
		if (p[0] == '$' && p[1] == '{' &&
		    (q = config_lex_brace(lx, p + 2)) != NULL) {
			config_lex_pass(lx, p, q, false);
			p = q + 1;
		} else
			p += strcspn(p, " \t\r\n#\"'={}()+,*");
	}
	if (t->kind != CONFIG_TOK_STRING && t->kind != CONFIG_TOK_OPEN)
		t->len = (size_t)(p - t->text);
	t->end = lx->line;
	lx->p = p;
}

/*
 * A copy of the file for libconfuse, its comments blanked out and its
 * newlines kept: libconfuse 3.3 counts three lines for a # or // comment
 * and two for each end of a C comment, so that every error after a comment
 * named a line further down, and it takes a comment inside a list for an
 * error.  A comment means nothing to portierd.
 */
static char *
config_uncommented(const char *buf)
{
	struct config_lexer	 lx;
	struct config_token	 t;
	char			*copy = xstrdup(buf);

	config_lex_init(&lx, buf, copy);
	do
		config_lex(&lx, &t);
	while (t.kind != CONFIG_TOK_END && t.kind != CONFIG_TOK_OPEN);
	return copy;
}

/*
 * Find where a string left open at the end of the file began: libconfuse
 * only says "premature end of file", at the last line.  A missing quote
 * shifts the pairing of every later quote, so the string that ends up open
 * at the end is not the culprit; the first string that runs across a
 * newline almost always is.  Returns its line, or 0 if the file does not
 * end inside a string.
 */
static int
config_unterminated(const char *buf)
{
	struct config_lexer	lx;
	struct config_token	t;
	int			spans = 0;

	config_lex_init(&lx, buf, NULL);
	do {
		config_lex(&lx, &t);
		if ((t.kind == CONFIG_TOK_STRING ||
		    t.kind == CONFIG_TOK_OPEN) && t.end != t.line && spans == 0)
			spans = t.line;
	} while (t.kind != CONFIG_TOK_END && t.kind != CONFIG_TOK_OPEN);
	if (t.kind != CONFIG_TOK_OPEN)
		return 0;
	return spans != 0 ? spans : t.line;
}

/* What config_walk has met: an option set, or a brace and what it opens. */
enum {
	CONFIG_ITEM_NONE,
	CONFIG_ITEM_OPTION,	/* an option set: word is its name */
	CONFIG_ITEM_LIST,	/* a list's brace: word is its option's name */
	CONFIG_ITEM_SECTION,	/* a section's brace: word, title before it */
};

/* An option or section config_walk has met. */
struct config_item {
	int			 kind;
	struct config_token	 word;
	struct config_token	 title;
};

#define CONFIG_DEPTH	4	/* the braces a walk keeps what they open of */

/*
 * A walk through the file's tokens that follows its braces: one after '='
 * or '+=' opens a list, one after a name and a title a section.
 */
struct config_walk {
	struct config_lexer	 lx;
	struct config_token	 t;		/* the token just read */
	struct config_token	 prev[2];	/* the two before it */
	struct config_item	 open[CONFIG_DEPTH]; /* the braces open */
	struct config_item	 last;		/* what was met last */
	int			 depth;		/* how many braces are open */
	int			 sections;	/* sections begun at the top */
};

/* Start a walk through buf. */
static void
config_walk_init(struct config_walk *w, const char *buf)
{
	memset(w, 0, sizeof *w);
	config_lex_init(&w->lx, buf, NULL);
}

/* Whether a token can be a name or a title: a word or a string. */
static bool
config_tok_text(const struct config_token *t)
{
	return t->kind == CONFIG_TOK_WORD || t->kind == CONFIG_TOK_STRING;
}

/* Whether a token is a name or title spelt s. */
static bool
config_tok_is(const struct config_token *t, const char *s)
{
	return config_tok_text(t) && t->len == strlen(s) &&
	    memcmp(t->text, s, t->len) == 0;
}

/* How much of a token an error shows: up to a control byte, at most 64. */
static int
config_tok_shown(const struct config_token *t)
{
	size_t	n;

	for (n = 0; n < t->len && n < 64; n++) {
		if ((unsigned char)t->text[n] < ' ' || t->text[n] == 0x7f)
			break;
	}
	return (int)n;
}

/* Read the next token, and follow the braces it opens or closes. */
static void
config_walk_next(struct config_walk *w)
{
	struct config_item	it;

	w->prev[1] = w->prev[0];
	w->prev[0] = w->t;
	config_lex(&w->lx, &w->t);
	memset(&it, 0, sizeof it);
	switch (w->t.kind) {
	case '=':
	case '+':
		if (config_tok_text(&w->prev[0])) {
			w->last.kind = CONFIG_ITEM_OPTION;
			w->last.word = w->prev[0];
		}
		break;
	case '{':
		if (w->prev[0].kind == '=' || w->prev[0].kind == '+') {
			it.kind = CONFIG_ITEM_LIST;
			it.word = w->last.word;
		} else if (config_tok_text(&w->prev[0]) &&
		    config_tok_text(&w->prev[1])) {
			it.kind = CONFIG_ITEM_SECTION;
			it.word = w->prev[1];
			it.title = w->prev[0];
			w->last = it;
			w->sections += w->depth == 0;
		}
		if (w->depth < CONFIG_DEPTH)
			w->open[w->depth] = it;
		w->depth++;
		break;
	case '}':
		if (w->depth > 0 && --w->depth < CONFIG_DEPTH &&
		    w->open[w->depth].kind == CONFIG_ITEM_SECTION)
			w->last = w->open[w->depth];
		break;
	}
}

/* Whether the walk is at the end of the file, or of what can be read. */
static bool
config_walk_done(const struct config_walk *w)
{
	return w->t.kind == CONFIG_TOK_END || w->t.kind == CONFIG_TOK_OPEN;
}

/*
 * Record the error for a stray ';', at the start or end of the word just
 * read, naming the list it is in or what it follows.
 */
static int
config_semicolon(const struct config_walk *w)
{
	static const char		 why[] = ": portier.conf takes no "
					     "semicolons";
	const struct config_item	*in = NULL, *l = &w->last;

	if (w->depth > 0 && w->depth <= CONFIG_DEPTH)
		in = &w->open[w->depth - 1];
	if (in != NULL && in->kind == CONFIG_ITEM_LIST)
		config_line_error(w->t.line, "a stray ';' in the list of %.*s%s",
		    config_tok_shown(&in->word), in->word.text, why);
	else if (l->kind == CONFIG_ITEM_OPTION)
		config_line_error(w->t.line, "a stray ';' after %.*s%s",
		    config_tok_shown(&l->word), l->word.text, why);
	else if (l->kind == CONFIG_ITEM_SECTION)
		config_line_error(w->t.line, "a stray ';' after %.*s \"%.*s\"%s",
		    config_tok_shown(&l->word), l->word.text,
		    config_tok_shown(&l->title), l->title.text, why);
	else
		config_line_error(w->t.line, "a stray ';'%s", why);
	return -1;
}

/*
 * Check the file for what libconfuse takes without a word or with a wrong
 * one, before it parses it: a ';' at either end of a word, which it takes
 * as part of a value ("3;") or as an option's name, is an error here.  A
 * section the file ends in, whose '}' libconfuse does not miss, is noted
 * for config_check_service.  Returns -1 with the error recorded.
 */
static int
config_syntax(const char *buf)
{
	struct config_walk	w;

	config_cur.unclosed = -1;
	config_walk_init(&w, buf);
	do {
		config_walk_next(&w);
		if (w.t.kind == CONFIG_TOK_WORD && (w.t.text[0] == ';' ||
		    w.t.text[w.t.len - 1] == ';'))
			return config_semicolon(&w);
	} while (!config_walk_done(&w));
	if (w.t.kind == CONFIG_TOK_END && w.depth == 1 &&
	    w.open[0].kind == CONFIG_ITEM_SECTION) {
		config_cur.unclosed = w.sections - 1;
		config_cur.unclosed_line = w.open[0].word.line;
	}
	return 0;
}

/*
 * The line where option name is last set in the section numbered n (from
 * 0) of the file, or where that section begins if name is NULL or not set
 * there; 0 if there is no such section.  It walks the file, so only errors
 * ask.
 */
static int
config_line(int n, const char *name)
{
	struct config_walk	w;
	int			line = 0;

	config_walk_init(&w, config_cur.buf);
	do {
		config_walk_next(&w);
		if (w.sections != n + 1 || w.depth == 0) {
			if (line != 0)
				break;
			continue;
		}
		if (line == 0)
			line = w.open[0].word.line;
		if (name != NULL && w.depth == 1 && (w.t.kind == '=' ||
		    w.t.kind == '+') && config_tok_is(&w.prev[0], name))
			line = w.prev[0].line;
	} while (!config_walk_done(&w));
	return line;
}

/* Split argv from a list option into a NULL-terminated array. */
static char **
config_list(cfg_t *sec, const char *name, size_t extra, size_t *countp)
{
	char		**v;
	unsigned int	  i, n = cfg_size(sec, name);

	v = xcalloc(n + extra + 1, sizeof *v);
	for (i = 0; i < n; i++)
		v[i] = xstrdup(cfg_getnstr(sec, name, i));
	*countp = n;
	return v;
}

/* Build the fixed part of a service's handler environment. */
static void
config_build_env(struct service *svc, cfg_t *sec)
{
	unsigned int	 i, n = cfg_size(sec, "passenv");
	const char	*name, *value;

	svc->env = config_list(sec, "env", n + 1, &svc->nenv);
	for (i = 0; i < n; i++) {
		name = cfg_getnstr(sec, "passenv", i);
		if ((value = getenv(name)) != NULL)
			xasprintf(&svc->env[svc->nenv++], "%s=%s", name, value);
	}
	xasprintf(&svc->env[svc->nenv++], "PORTIER_SERVICE=%s", svc->name);
}

/* Build the credentials a handler takes: user, group, groups. */
static void
config_build_creds(struct service *svc, cfg_t *sec)
{
	struct passwd	*pw = NULL;
	unsigned int	 i;
	int		 n;

	svc->set_creds = cfg_size(sec, "user") > 0 ||
	    cfg_size(sec, "group") > 0 || config_given(sec, "groups");
	if (!svc->set_creds)
		return;
	svc->uid = geteuid();
	svc->gid = getegid();
	if (cfg_size(sec, "user") > 0) {
		svc->uid = (uid_t)config_id(cfg_getstr(sec, "user"), false);
		if ((pw = getpwuid(svc->uid)) != NULL)
			svc->gid = pw->pw_gid;
	}
	if (cfg_size(sec, "group") > 0)
		svc->gid = (gid_t)config_id(cfg_getstr(sec, "group"), true);
	if (config_given(sec, "groups")) {
		/* Exactly these; an empty list is no supplementary group. */
		svc->ngroups = cfg_size(sec, "groups");
		svc->groups = xcalloc(svc->ngroups + 1, sizeof *svc->groups);
		for (i = 0; i < svc->ngroups; i++)
			svc->groups[i] = (gid_t)config_id(cfg_getnstr(sec,
			    "groups", i), true);
	} else if (pw != NULL) {
		/* The user's own groups, as login would give them. */
		n = 0;
		(void)getgrouplist(pw->pw_name, svc->gid, NULL, &n);
		svc->groups = xcalloc((size_t)n + 1, sizeof *svc->groups);
		if (getgrouplist(pw->pw_name, svc->gid, svc->groups, &n) == -1)
			n = 0;
		svc->ngroups = (size_t)n;
	} else {
		svc->groups = xcalloc(1, sizeof *svc->groups);
		svc->groups[0] = svc->gid;
		svc->ngroups = 1;
	}
}

/* Build what a handler's process is given: directory, mask, limits. */
static void
config_build_process(struct service *svc, cfg_t *sec)
{
	const char	*e = cfg_getstr(sec, "stderr");
	size_t		 i;

	config_build_creds(svc, sec);
	if (cfg_size(sec, "chdir") > 0)
		svc->dir = config_path(cfg_getstr(sec, "chdir"));
	svc->umask = cfg_size(sec, "umask") > 0 ?
	    strtol(cfg_getstr(sec, "umask"), NULL, 8) : -1;
	svc->nice = cfg_size(sec, "nice") > 0 ? cfg_getint(sec, "nice") : 0;
	for (i = 0; i < RLIMITS_MAX; i++) {
		if (cfg_size(sec, config_rlimits[i].name) == 0)
			continue;
		svc->rlimits[svc->nrlimits].resource = config_rlimits[i].resource;
		(void)config_rlimit_value(cfg_getstr(sec, config_rlimits[i].name),
		    &svc->rlimits[svc->nrlimits].value);
		svc->nrlimits++;
	}
	svc->stderr_mode = e == NULL || strcmp(e, "log") == 0 ? STDERR_LOG :
	    strcmp(e, "null") == 0 ? STDERR_NULL : STDERR_INHERIT;
}

/*
 * Build the mode and owner of a service's unix: socket files.  The mode is
 * exact, not cut by portierd's umask; by default anyone may connect, as to
 * a port on the loopback address.
 */
static void
config_build_unix(struct service *svc, cfg_t *sec)
{
	svc->unix_mode = (mode_t)strtol(cfg_size(sec, "unix_mode") > 0 ?
	    cfg_getstr(sec, "unix_mode") : CONFIG_UNIX_MODE, NULL, 8);
	svc->unix_uid = cfg_size(sec, "unix_owner") > 0 ?
	    (uid_t)config_id(cfg_getstr(sec, "unix_owner"), false) : (uid_t)-1;
	svc->unix_gid = cfg_size(sec, "unix_group") > 0 ?
	    (gid_t)config_id(cfg_getstr(sec, "unix_group"), true) : (gid_t)-1;
}

/* Build the workers' settings of an accept = "handler" service. */
static void
config_build_workers(struct service *svc, cfg_t *sec)
{
	svc->accept_handler = strcmp(cfg_getstr(sec, "accept"), "handler") == 0;
	svc->pass_inetd = strcmp(cfg_getstr(sec, "pass"), "inetd") == 0;
	svc->start_now = strcmp(cfg_getstr(sec, "start"), "now") == 0;
	svc->workers = cfg_getint(sec, "workers");
	svc->restart_delay = cfg_getint(sec, "restart_delay");
	svc->max_restarts = cfg_getint(sec, "max_restarts");
	svc->restart_window = cfg_getint(sec, "restart_window");
	svc->idle_exit = cfg_getint(sec, "idle_exit");
	/* Its limit is of workers: set-concurrency sets it, as it would. */
	if (svc->accept_handler)
		svc->max_connections = svc->run.limit = svc->workers;
}

/* Build a built-in service's settings. */
static void
config_build_builtin(struct service *svc, cfg_t *sec)
{
	svc->builtin = builtin_find(cfg_getstr(sec, "builtin"));
	svc->filter = svc->builtin->filter;
	if (cfg_size(sec, "filter") > 0)
		svc->filter = strcmp(cfg_getstr(sec, "filter"), "line") == 0 ?
		    FILTER_LINE : FILTER_STREAM;
	svc->max_line = (size_t)cfg_getint(sec, "max_line");
	svc->idle_timeout = cfg_getint(sec, "idle_timeout");
	svc->timeout = cfg_getint(sec, "timeout");
}

/*
 * The service's setting, or the global one if the service has none: an
 * empty list is the service's own, as deny = {} lets in what the global
 * deny keeps out.
 */
static cfg_t *
config_which(cfg_t *sec, cfg_t *root, const char *name)
{
	return config_given(sec, name) ? sec : root;
}

/* Parse a validated allow or deny list. */
static struct cidr *
config_cidrs(cfg_t *cfg, const char *name, size_t *np)
{
	struct cidr	*v = NULL;
	char		 err[256];
	size_t		 i;

	*np = cfg_size(cfg, name);
	if (*np > 0)
		v = xcalloc(*np, sizeof *v);
	for (i = 0; i < *np; i++) {
		if (text_parse_cidr(cfg_getnstr(cfg, name, i), &v[i], err,
		    sizeof err) == -1)
			fatalx("event=fatal reason=\"%s changed\"", name);
	}
	return v;
}

/* The service's integer setting, or the global one. */
static long
config_int(cfg_t *sec, cfg_t *root, const char *name)
{
	return cfg_getint(config_which(sec, root, name), name);
}

/* Build a service's admission settings, inheriting unset ones. */
static void
config_build_admit(struct service *svc, cfg_t *sec, cfg_t *root)
{
	cfg_t	*c;

	svc->allow = config_cidrs(config_which(sec, root, "allow"), "allow",
	    &svc->nallow);
	svc->deny = config_cidrs(config_which(sec, root, "deny"), "deny",
	    &svc->ndeny);
	svc->max_per_source = config_int(sec, root, "max_per_source");
	svc->max_source_rate = config_int(sec, root, "max_source_rate");
	svc->max_sources = config_int(sec, root, "max_sources");
	svc->max_rate = config_int(sec, root, "max_rate");
	svc->prefix4 = (int)config_int(sec, root, "source_prefix4");
	svc->prefix6 = (int)config_int(sec, root, "source_prefix6");
	svc->refuse_on_limit = strcmp(cfg_getstr(config_which(sec, root,
	    "on_limit"), "on_limit"), "refuse") == 0;
	c = config_which(sec, root, "busy_message");
	if (cfg_size(c, "busy_message") > 0)
		svc->busylen = (size_t)xasprintf(&svc->busy, "%s%s",
		    cfg_getstr(c, "busy_message"), svc->terminator);
}

#define CONFIG_HASH_BASIS	14695981039346656037ULL

/*
 * FNV-1a, 64 bits, of len bytes at p after h: the checksums a reload
 * compares and logs.
 */
static uint64_t
config_hash_on(uint64_t h, const char *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return h;
}

/* FNV-1a, 64 bits, of len bytes at p. */
static uint64_t
config_hash(const char *p, size_t len)
{
	return config_hash_on(CONFIG_HASH_BASIS, p, len);
}

/*
 * The checksum h of a service's section, with the addresses its listen
 * entries were resolved to: a name that resolves to other addresses at a
 * reload changes the service, as its text would.
 */
static uint64_t
config_addrs_hash(const struct service *svc, uint64_t h)
{
	char	buf[ADDR_STRLEN + 108];
	size_t	i;

	for (i = 0; i < svc->naddrs; i++) {
		if (!svc->addrs[i].named)
			continue;
		text_sockaddr((const struct sockaddr *)&svc->addrs[i].ss,
		    svc->addrs[i].sslen, svc->addrs[i].wildcard, buf,
		    sizeof buf);
		h = config_hash_on(h, buf, strlen(buf) + 1);
	}
	return h;
}

/* A checksum of a service's settings, as libconfuse prints them. */
static uint64_t
config_section_hash(cfg_t *sec)
{
	cfg_opt_t	*opt;
	char		*text = NULL;
	size_t		 len = 0;
	uint64_t	 h;
	FILE		*fp;

	if ((fp = open_memstream(&text, &len)) == NULL)
		fatal("event=fatal reason=\"open_memstream\"");
	cfg_print(sec, fp);
	/* Its relative paths are taken from its file's directory. */
	fprintf(fp, "directory %s\n", config_cur.dir);
	/* An empty list written is not one left out, and prints the same. */
	for (opt = sec->opts; opt->name != NULL; opt++) {
		if ((opt->flags & CFGF_LIST) && opt->nvalues == 0 &&
		    (opt->flags & CFGF_MODIFIED))
			fprintf(fp, "%s given empty\n", opt->name);
	}
	fclose(fp);
	h = config_hash(text, len);
	free(text);
	return h;
}

/* The built-ins that speak first, for defer_accept's warning. */
static const char *const config_speaks_first[] = {
	"daytime", "time", "chargen",
};

/*
 * Build a service's socket options, those the file leaves out unset, and
 * note a defer_accept the server speaks first to, for -t's warning; n is
 * its number in the file.
 */
static void
config_build_sockopts(struct service *svc, cfg_t *sec, int n)
{
	const char	*name;
	long		*field, v;
	size_t		 i;

	listen_opts_init(&svc->sockopts);
	for (i = 0; i < sizeof config_sockopts / sizeof config_sockopts[0];
	    i++) {
		name = config_sockopts[i].name;
		if (cfg_size(sec, name) == 0)
			continue;
		field = (long *)(void *)((char *)&svc->sockopts +
		    config_sockopts[i].off);
		if (config_sockopts[i].kind == 'b')
			*field = cfg_getbool(sec, name);
		else if (config_sockopts[i].kind == 'i')
			*field = cfg_getint(sec, name);
		else if (config_sockopts[i].kind == 's' &&
		    config_buffer_value(cfg_getstr(sec, name), &v) == 0)
			*field = v;
		else if (config_sockopts[i].kind == 'd')
			svc->sockopts.bind_device = xstrdup(cfg_getstr(sec,
			    name));
	}
	if (svc->sockopts.defer_accept == -1)
		return;
	for (i = 0; i < sizeof config_speaks_first /
	    sizeof config_speaks_first[0]; i++) {
		if (svc->builtin != NULL && strcmp(svc->builtin->name,
		    config_speaks_first[i]) == 0)
			svc->defer_warn = config_line(n, "defer_accept");
	}
	if (svc->banner != NULL)
		svc->defer_warn = config_line(n, "defer_accept");
}

/*
 * Build the addresses of service svc, number n (from 0) in the file: each
 * listen entry, a host or service name in it looked up now
 * (listen_resolve), at start and at each reload.  -1 with the error
 * recorded at the line of its listen.
 */
static int
config_build_addrs(struct service *svc, cfg_t *sec, int n)
{
	struct laddr	 la, *v;
	char		 err[512];
	size_t		 i, j, nv;
	int		 rc;

	for (i = 0; i < cfg_size(sec, "listen"); i++) {
		if (listen_parse(cfg_getnstr(sec, "listen", i), config_cur.dir,
		    &la, err, sizeof err) == -1)
			fatalx("event=fatal reason=\"listen changed: %s\"", err);
		rc = listen_resolve(&la, &v, &nv, err, sizeof err);
		free(la.text);
		free(la.path);
		if (rc == -1) {
			config_line_error(config_line(n, "listen"), "%s", err);
			return -1;
		}
		svc->addrs = xreallocarray(svc->addrs, svc->naddrs + nv,
		    sizeof *svc->addrs);
		for (j = 0; j < nv; j++) {
			v[j].entry = i;
			svc->addrs[svc->naddrs++] = v[j];
		}
		free(v);
	}
	return 0;
}

/*
 * Check what only the resolved addresses tell: that ipv6_only has an
 * address to apply to (Linux makes a socket bound to any other IPv6
 * address take IPv6 alone, whatever it says), and how many sockets an
 * accept = "handler" service gives its workers.
 */
static int
config_check_resolved(const struct service *svc, int n)
{
	size_t	i;

	for (i = 0; svc->sockopts.ipv6_only != -1 && i < svc->naddrs; i++)
		if (svc->addrs[i].ss.ss_family == AF_INET6 &&
		    IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)
		    (const void *)&svc->addrs[i].ss)->sin6_addr))
			break;
	if (svc->sockopts.ipv6_only != -1 && i == svc->naddrs) {
		config_line_error(config_line(n, "ipv6_only"), "service \"%s\": "
		    "ipv6_only applies to * and [::], whose sockets can take "
		    "IPv4 too, and it listens on neither", svc->name);
		return -1;
	}
	if (!svc->accept_handler || (svc->naddrs <= WORKER_SOCKETS &&
	    (!svc->pass_inetd || svc->naddrs == 1)))
		return 0;
	if (svc->pass_inetd)
		config_line_error(config_line(n, "listen"), "service \"%s\": "
		    "its listen addresses resolve to %zu sockets, and pass = "
		    "\"inetd\" gives one: use pass = \"systemd\"", svc->name,
		    svc->naddrs);
	else
		config_line_error(config_line(n, "listen"), "service \"%s\": "
		    "its listen addresses resolve to %zu sockets, and a worker "
		    "takes at most %d", svc->name, svc->naddrs, WORKER_SOCKETS);
	return -1;
}

/*
 * Build one service, number n (from 0) in the file, from its validated
 * section; NULL with the error recorded if a name in its listen does not
 * resolve.
 */
static struct service *
config_build_service(cfg_t *sec, cfg_t *root, int n)
{
	struct service	*svc;
	size_t		 nargs;

	svc = xcalloc(1, sizeof *svc);
	svc->name = xstrdup(cfg_title(sec));
	svc->src = config_cur.src;
	svc->section = (unsigned int)n;
	svc->max_connections = cfg_getint(sec, "max_connections");
	svc->run.limit = svc->max_connections;
	svc->backlog = (int)cfg_getint(sec, "backlog");
	config_build_unix(svc, sec);
	if (config_build_addrs(svc, sec, n) == -1) {
		config_free_service(svc);
		return NULL;
	}
	if (cfg_size(sec, "builtin") > 0) {
		svc->backend = &builtin_backend;
		config_build_builtin(svc, sec);
	} else {
		svc->backend = &children_backend;
		svc->argv = config_list(sec, "exec", 0, &nargs);
		free(svc->argv[0]);
		svc->argv[0] = config_path(cfg_getnstr(sec, "exec", 0));
		config_build_env(svc, sec);
		config_build_process(svc, sec);
		svc->timeout = cfg_getint(sec, "timeout");
		config_build_workers(svc, sec);
	}
	svc->terminator = strcmp(cfg_getstr(sec, "line_terminator"), "\n") == 0 ?
	    "\n" : "\r\n";
	if (cfg_size(sec, "banner") > 0) {
		svc->bannerlen = (size_t)xasprintf(&svc->banner, "%s%s",
		    cfg_getstr(sec, "banner"), svc->terminator);
	}
	config_build_admit(svc, sec, root);
	svc->log_conns = cfg_getbool(config_which(sec, root,
	    "log_connections"), "log_connections");
	config_build_sockopts(svc, sec, n);
	svc->checksum = config_addrs_hash(svc, config_section_hash(sec));
	TAILQ_INIT(&svc->listeners);
	if (config_check_resolved(svc, n) == -1) {
		config_free_service(svc);
		return NULL;
	}
	return svc;
}

/* Build struct config from a parsed and validated tree. */
static struct config *
config_build(cfg_t *cfg, const char *path)
{
	struct config	*conf;
	struct service	*svc;
	unsigned int	 i;

	conf = xcalloc(1, sizeof *conf);
	conf->path = xstrdup(path);
	conf->dir = xstrdup(config_cur.dir);
	conf->shutdown_timeout = cfg_getint(cfg, "shutdown_timeout");
	conf->kill_grace = cfg_getint(cfg, "kill_grace");
	conf->max_connections = cfg_getint(cfg, "max_connections");
	if (*cfg_getstr(cfg, "control_socket") != '\0')
		conf->control_socket = config_path(cfg_getstr(cfg,
		    "control_socket"));
	conf->log_syslog = strcmp(cfg_getstr(cfg, "log"), "syslog") == 0;
	conf->log_facility = config_facility(cfg_getstr(cfg, "log_facility"));
	conf->log_ident = xstrdup(cfg_getstr(cfg, "log_ident"));
	conf->log_socket = config_path(cfg_getstr(cfg, "log_socket"));
	conf->control_gid = (gid_t)-1;
	if (cfg_size(cfg, "control_group") > 0) {
		conf->control_group = xstrdup(cfg_getstr(cfg, "control_group"));
		conf->control_gid = getgrnam(conf->control_group)->gr_gid;
	}
	TAILQ_INIT(&conf->services);
	for (i = 0; i < cfg_size(cfg, "service"); i++) {
		svc = config_build_service(cfg_getnsec(cfg, "service", i), cfg,
		    (int)i);
		if (svc == NULL) {
			config_free(conf);
			return NULL;
		}
		TAILQ_INSERT_TAIL(&conf->services, svc, entry);
		conf->nservices++;
	}
	return conf;
}

/* Read the file of the config at path, next, and make it the one read. */
static int
config_src_add(const char *path)
{
	struct config_src	*src;
	char			*buf, *dir;

	if ((buf = conffile_read(path, config_cur.err, config_cur.errlen)) ==
	    NULL) {
		config_cur.failed = true;
		return -1;
	}
	if ((dir = conffile_dir(path, config_cur.err, config_cur.errlen)) ==
	    NULL) {
		config_cur.failed = true;
		free(buf);
		return -1;
	}
	config_cur.srcs = xreallocarray(config_cur.srcs, config_cur.nsrcs + 1,
	    sizeof *config_cur.srcs);
	src = &config_cur.srcs[config_cur.nsrcs++];
	src->path = xstrdup(path);
	src->dir = dir;
	src->buf = buf;
	config_use_src(config_cur.nsrcs - 1);
	return 0;
}

/* Make file i of the load the one errors and relative paths are of. */
static void
config_use_src(size_t i)
{
	config_cur.src = (unsigned int)i;
	config_cur.path = config_cur.srcs[i].path;
	config_cur.dir = config_cur.srcs[i].dir;
	config_cur.buf = config_cur.srcs[i].buf;
}

/* Forget the files of the load. */
static void
config_srcs_free(void)
{
	size_t	i;

	for (i = 0; i < config_cur.nsrcs; i++) {
		free(config_cur.srcs[i].path);
		free(config_cur.srcs[i].dir);
		free(config_cur.srcs[i].buf);
	}
	free(config_cur.srcs);
	config_cur.srcs = NULL;
	config_cur.nsrcs = 0;
}

/*
 * The line of service svc's listen option, in its file, which is then the
 * one errors name.
 */
static int
config_listen_line(const struct service *svc)
{
	config_use_src(svc->src);
	return config_line((int)svc->section, "listen");
}

/* Report that b's address y takes the socket of a's x, at b's line. */
static void
config_overlap_error(const struct service *a, const struct laddr *x,
    const struct service *b, const struct laddr *y)
{
	const char	*same = strcmp(x->text, y->text) == 0 ? "is also" :
			    x->path != NULL ? "is the same file as" : "overlaps";
	char		 xs[ADDR_STRLEN + 400], ys[ADDR_STRLEN + 400];
	int		 aline = config_listen_line(a);

	listen_describe(x, true, xs, sizeof xs);
	listen_describe(y, true, ys, sizeof ys);
	if (a == b)
		config_line_error(config_listen_line(b), "service \"%s\": "
		    "listen %s %s its %s", b->name, ys, same, xs);
	else if (a->src == b->src)
		config_line_error(config_listen_line(b), "service \"%s\": "
		    "listen %s %s service \"%s\"'s %s (line %d)", b->name, ys,
		    same, a->name, xs, aline);
	else
		config_line_error(config_listen_line(b), "service \"%s\": "
		    "listen %s %s service \"%s\"'s %s (%s:%d)", b->name, ys,
		    same, a->name, xs, config_cur.srcs[a->src].path, aline);
}

/*
 * Check no two listen addresses, of one service or of two, would take the
 * same socket: binding the second would fail at start with "Address
 * already in use", as if another program held it.  The message names
 * both places.
 */
static int
config_check_overlaps(const struct config *conf)
{
	const struct service	*a, *b;
	size_t			 i, j;

	TAILQ_FOREACH(a, &conf->services, entry) {
		for (b = a; b != NULL; b = TAILQ_NEXT(b, entry)) {
			for (i = 0; i < a->naddrs; i++) {
				for (j = a == b ? i + 1 : 0; j < b->naddrs;
				    j++) {
					if (!listen_overlap(&a->addrs[i],
					    &b->addrs[j],
					    a->sockopts.ipv6_only,
					    b->sockopts.ipv6_only))
						continue;
					config_overlap_error(a, &a->addrs[i],
					    b, &b->addrs[j]);
					return -1;
				}
			}
		}
	}
	return 0;
}

/*
 * Parse the file being read with libconfuse and every check of opts: the
 * tree, or NULL and the error set.
 */
static cfg_t *
config_parse(cfg_opt_t *opts)
{
	const char	*buf = config_cur.buf;
	cfg_t		*cfg;
	char		*copy;
	size_t		 i;
	int		 line;

	if (strncmp(buf, "\xef\xbb\xbf", 3) == 0) {
		config_line_error(1, "the file starts with a UTF-8 byte order "
		    "mark; save it without one");
		return NULL;
	}
	if (config_syntax(buf) == -1)
		return NULL;
	cfg = cfg_init(opts, CFGF_NONE);
	if (cfg == NULL)
		fatalx("event=fatal reason=\"cfg_init failed\"");
	cfg_set_error_function(cfg, config_errfunc);
	for (i = 0; i < sizeof config_checks / sizeof config_checks[0]; i++) {
		if (opts == config_included_opts &&
		    strncmp(config_checks[i].name, "service", 7) != 0)
			continue;
		cfg_set_validate_func(cfg, config_checks[i].name,
		    config_checks[i].fn);
	}
	copy = config_uncommented(buf);
	if (cfg_parse_buf(cfg, copy) != CFG_SUCCESS) {
		if ((line = config_unterminated(buf)) != 0) {
			config_cur.failed = false;
			config_line_error(line, "unterminated string");
		} else if (!config_cur.failed)
			config_file_error("cannot be parsed");
		cfg_free(cfg);
		cfg = NULL;
	}
	free(copy);
	return cfg;
}

/*
 * An included file holds services only: a setting outside them is an
 * error naming it, the main file being where it belongs.
 */
static int
config_included_globals(void)
{
	struct config_walk	w;

	config_walk_init(&w, config_cur.buf);
	do {
		config_walk_next(&w);
		if (w.depth == 0 && (w.t.kind == '=' || w.t.kind == '+') &&
		    config_tok_text(&w.prev[0])) {
			config_line_error(w.prev[0].line, "%.*s: a global "
			    "setting, which only %s may make (an included file "
			    "holds services)", config_tok_shown(&w.prev[0]),
			    w.prev[0].text, config_cur.srcs[0].path);
			return -1;
		}
	} while (!config_walk_done(&w));
	return 0;
}

/* The service of conf named name, or NULL. */
static const struct service *
config_find(const struct config *conf, const char *name)
{
	const struct service	*svc;

	TAILQ_FOREACH(svc, &conf->services, entry) {
		if (strcmp(svc->name, name) == 0)
			return svc;
	}
	return NULL;
}

/*
 * Read one included file, the one being read, and add its services to
 * conf's: built with the main file's global settings, each named once in
 * the whole config.
 */
static int
config_include_file(struct config *conf, cfg_t *root)
{
	const struct service	*dup;
	struct service		*svc;
	cfg_t			*cfg, *sec;
	unsigned int		 i, src = config_cur.src;
	int			 line;

	if (config_included_globals() == -1 ||
	    (cfg = config_parse(config_included_opts)) == NULL)
		return -1;
	for (i = 0; i < cfg_size(cfg, "service"); i++) {
		sec = cfg_getnsec(cfg, "service", i);
		if ((dup = config_find(conf, cfg_title(sec))) != NULL) {
			config_use_src(dup->src);
			line = config_line((int)dup->section, NULL);
			config_use_src(src);
			config_line_error(config_line((int)i, NULL), "service "
			    "\"%s\" is also defined at %s:%d", cfg_title(sec),
			    config_cur.srcs[dup->src].path, line);
			cfg_free(cfg);
			return -1;
		}
		if ((svc = config_build_service(sec, root, (int)i)) == NULL) {
			cfg_free(cfg);
			return -1;
		}
		TAILQ_INSERT_TAIL(&conf->services, svc, entry);
		conf->nservices++;
	}
	cfg_free(cfg);
	conf->included = xreallocarray(conf->included, conf->nincluded + 1,
	    sizeof *conf->included);
	conf->included[conf->nincluded++] = xstrdup(config_cur.path);
	return 0;
}

/* glob(3)'s report of a directory it cannot read; one missing is none. */
static int	config_glob_errno;
static char	config_glob_path[PATH_MAX];

static int
config_glob_error(const char *path, int error)
{
	if (error == ENOENT || error == ENOTDIR)
		return 0;
	config_glob_errno = error;
	snprintf(config_glob_path, sizeof config_glob_path, "%s", path);
	return 1;
}

/* A path with glob(3)'s special characters escaped, for a pattern. */
static char *
config_glob_quote(const char *path)
{
	char	*q = xmalloc(strlen(path) * 2 + 1), *p = q;

	for (; *path != '\0'; path++) {
		if (strchr("\\*?[", *path) != NULL)
			*p++ = '\\';
		*p++ = *path;
	}
	*p = '\0';
	return q;
}

/*
 * Read the files the main file's include patterns name, pattern by
 * pattern, each in lexical order; a pattern that matches nothing is
 * fine, and a file matched twice, or the main file, is read once.
 */
static int
config_include(struct config *conf, cfg_t *root)
{
	const char	*pat;
	char		*full, *dir;
	glob_t		 g;
	unsigned int	 i;
	size_t		 j, k;
	int		 rc;

	for (i = 0; i < cfg_size(root, "include"); i++) {
		config_use_src(0);
		pat = cfg_getnstr(root, "include", i);
		dir = config_glob_quote(config_cur.dir);
		if (pat[0] == '/')
			full = xstrdup(pat);
		else
			xasprintf(&full, "%s/%s", dir, pat);
		free(dir);
		config_glob_errno = 0;
		rc = glob(full, 0, config_glob_error, &g);
		free(full);
		if (rc == GLOB_NOMATCH)
			continue;
		if (rc != 0) {
			config_file_error("include \"%s\": %s: %s", pat,
			    config_glob_path, rc == GLOB_ABORTED ?
			    strerror(config_glob_errno) : "out of memory");
			if (rc == GLOB_ABORTED)
				globfree(&g);
			return -1;
		}
		for (j = 0; j < g.gl_pathc; j++) {
			for (k = 0; k < config_cur.nsrcs; k++) {
				if (strcmp(config_cur.srcs[k].path,
				    g.gl_pathv[j]) == 0)
					break;
			}
			if (k < config_cur.nsrcs)
				continue;
			if (config_cur.nsrcs > CONFIG_INCLUDED_MAX) {
				config_file_error("include: more than %d files",
				    CONFIG_INCLUDED_MAX);
				globfree(&g);
				return -1;
			}
			if (config_src_add(g.gl_pathv[j]) == -1 ||
			    config_include_file(conf, root) == -1) {
				globfree(&g);
				return -1;
			}
		}
		globfree(&g);
	}
	return 0;
}

/*
 * Load and check the config at path, and the files it includes.  On
 * error, returns NULL with a message naming the file and, where there is
 * one, the line in err.
 */
struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config	*conf = NULL;
	cfg_t		*cfg;
	uint64_t	 h;
	size_t		 i;

	memset(&config_cur, 0, sizeof config_cur);
	config_cur.path = path;
	config_cur.err = err;
	config_cur.errlen = errlen;
	err[0] = '\0';

	if (config_src_add(path) == -1 ||
	    (cfg = config_parse(config_opts)) == NULL)
		goto done;
	if ((conf = config_build(cfg, path)) != NULL &&
	    (config_include(conf, cfg) == -1 ||
	    config_check_overlaps(conf) == -1)) {
		config_free(conf);
		conf = NULL;
	}
	cfg_free(cfg);
	if (conf != NULL) {
		h = config_hash(config_cur.srcs[0].buf,
		    strlen(config_cur.srcs[0].buf));
		for (i = 1; i < config_cur.nsrcs; i++) {
			h = config_hash_on(h, config_cur.srcs[i].path,
			    strlen(config_cur.srcs[i].path) + 1);
			h = config_hash_on(h, config_cur.srcs[i].buf,
			    strlen(config_cur.srcs[i].buf));
		}
		conf->checksum = h;
	}
done:
	config_srcs_free();
	memset(&config_cur, 0, sizeof config_cur);
	return conf;
}

/*
 * Check this process can do what the services ask of it: only root can
 * give a handler another user or other groups (setgroups(2) fails for
 * every connection otherwise).  -1 and err naming the first service that
 * asks, when portierd is not root.  An error at start and reload; a
 * warning at -t, which another user than the daemon's may run.
 */
int
config_check_privileges(const struct config *conf, char *err, size_t errlen)
{
	const struct service	*svc;

	if (geteuid() == 0)
		return 0;
	TAILQ_FOREACH(svc, &conf->services, entry) {
		if (!svc->set_creds)
			continue;
		snprintf(err, errlen, "service \"%s\": user, group or groups "
		    "is given, but portierd runs as uid %ld, not root, so it "
		    "cannot change a handler's user or groups", svc->name,
		    (long)geteuid());
		return -1;
	}
	return 0;
}

/* Free a service's settings; its listeners must be closed already. */
void
config_free_service(struct service *svc)
{
	size_t	i;

	for (i = 0; i < svc->naddrs; i++) {
		free(svc->addrs[i].text);
		free(svc->addrs[i].path);
	}
	free(svc->addrs);
	for (i = 0; svc->argv != NULL && svc->argv[i] != NULL; i++)
		free(svc->argv[i]);
	free(svc->argv);
	for (i = 0; i < svc->nenv; i++)
		free(svc->env[i]);
	free(svc->env);
	free(svc->banner);
	free(svc->sockopts.bind_device);
	free(svc->run.ended);
	free(svc->allow);
	free(svc->deny);
	free(svc->busy);
	free(svc->groups);
	free(svc->dir);
	free(svc->name);
	free(svc);
}

/* Free a config and its services. */
void
config_free(struct config *conf)
{
	struct service	*svc;

	if (conf == NULL)
		return;
	while ((svc = TAILQ_FIRST(&conf->services)) != NULL) {
		TAILQ_REMOVE(&conf->services, svc, entry);
		config_free_service(svc);
	}
	config_free_shell(conf);
}

/* Free a config whose services have been taken elsewhere. */
void
config_free_shell(struct config *conf)
{
	size_t	i;

	free(conf->path);
	free(conf->dir);
	free(conf->control_socket);
	free(conf->control_group);
	free(conf->log_ident);
	free(conf->log_socket);
	for (i = 0; i < conf->nincluded; i++)
		free(conf->included[i]);
	free(conf->included);
	free(conf);
}

/*
 * Make a path named on the command line absolute against the current
 * directory, once, so that it names the same file whatever the directory
 * later; as it is if the current directory cannot be told.  The path is
 * not resolved: a link in it is followed afresh at each use.
 */
char *
config_absolute(const char *path)
{
	char	 cwd[PATH_MAX];
	char	*abs;

	if (getcwd(cwd, sizeof cwd) == NULL)
		return xstrdup(path);
	if ((abs = conffile_path(cwd, path)) == NULL)
		fatal("event=fatal reason=\"config_absolute\"");
	return abs;
}

/*
 * Use the control socket named on the command line instead: relative to
 * the current directory, or none if empty.
 */
void
config_set_control_socket(struct config *conf, const char *path)
{
	free(conf->control_socket);
	conf->control_socket = *path != '\0' ? config_absolute(path) : NULL;
}

/*
 * Print a word of a handler's command line as a shell would read it back:
 * as it is if it holds only characters no shell gives a meaning to, else
 * in single quotes, with a ' in it written '\''.
 */
static void
config_print_word(const char *s)
{
	static const char	 plain[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				     "abcdefghijklmnopqrstuvwxyz0123456789"
				     "@%+=:,./_-";
	const char		*p;

	if (*s != '\0' && strspn(s, plain) == strlen(s)) {
		printf(" %s", s);
		return;
	}
	fputs(" '", stdout);
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*p);
	}
	putchar('\'');
}

/*
 * Print address i of svc for portierd -t: its listen entry as written,
 * once, and what a name in it resolved to, in parentheses after it:
 * "localhost:0 (127.0.0.1:0, [::1]:0)".
 */
static void
config_print_addr(const struct service *svc, size_t i)
{
	const struct laddr	*la = &svc->addrs[i];
	char			 buf[ADDR_STRLEN + 108];
	bool			 first, last;

	first = i == 0 || svc->addrs[i - 1].entry != la->entry;
	last = i + 1 == svc->naddrs || svc->addrs[i + 1].entry != la->entry;
	if (first)
		printf(" %s", la->text);
	if (!la->named)
		return;
	printf("%s%s", first ? " (" : ", ", text_sockaddr(
	    (const struct sockaddr *)&la->ss, la->sslen, la->wildcard, buf,
	    sizeof buf));
	if (last)
		putchar(')');
}

/*
 * Warn, for portierd -t, of what the file allows but is likely wrong: a
 * defer_accept where the server speaks first, whose clients, waiting for
 * it, send nothing, so that the kernel holds each connection until the
 * time is up.
 */
void
config_warn(const struct config *conf)
{
	const struct service	*svc;

	TAILQ_FOREACH(svc, &conf->services, entry) {
		if (svc->defer_warn == 0)
			continue;
		fprintf(stderr, "%s:%d: warning: service \"%s\": defer_accept "
		    "holds each connection until the client sends, and %s%s "
		    "speaks first: its clients wait about %ld s before they "
		    "are served\n", conf->path, svc->defer_warn, svc->name,
		    svc->banner != NULL ? "with a banner the service" :
		    "the built-in ", svc->banner != NULL ? "" :
		    svc->builtin->name, svc->sockopts.defer_accept);
	}
}

/* Print one summary line per service, for portierd -t. */
void
config_print(const struct config *conf)
{
	const struct service	*svc;
	size_t			 i;

	for (i = 0; i < conf->nincluded; i++)
		printf("include %s\n", conf->included[i]);
	TAILQ_FOREACH(svc, &conf->services, entry) {
		if (svc->builtin != NULL)
			printf("%s: builtin %s (%s)", svc->name,
			    svc->builtin->name, svc->filter == FILTER_LINE ?
			    "line" : "stream");
		else
			printf("%s: exec", svc->name);
		for (i = 0; svc->argv != NULL && svc->argv[i] != NULL; i++)
			config_print_word(svc->argv[i]);
		printf("; listen");
		for (i = 0; i < svc->naddrs; i++)
			config_print_addr(svc, i);
		if (svc->accept_handler)
			printf("; accept handler, pass %s, start %s, workers "
			    "%ld\n", svc->pass_inetd ? "inetd" : "systemd",
			    svc->start_now ? "now" : "on-demand", svc->workers);
		else
			printf("; max_connections %ld\n",
			    svc->max_connections);
	}
}
