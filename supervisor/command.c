/*
 * The control commands: the parser, which cuts a request line into words
 * ("json" as the last word asks for JSON) and finds its command by exact
 * name or unique prefix with its arguments counted; the command table; and
 * the commands, which answer with a view of view.c or one line of result.
 * A command changes the daemon's state only through the functions of the
 * file that owns it: service_set_limit, service_pause, service_stop and
 * service_reload (service.c), conn_kill (conn.c); a shutdown of the whole
 * daemon is handed back to control.c, which asks service_shutdown once the
 * reply is out.
 *
 * It never touches a socket or a client, and never writes a view itself:
 * it takes bytes and gives bytes, so that the fuzz target runs it too.
 */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "portier.h"

/* One request being answered. */
struct command_req {
	int		 argc;
	char		*argv[COMMAND_WORDS_MAX];
	bool		 json;
	uid_t		 uid;
	struct evbuffer	*out;		/* the reply's data lines */
	char		 err[256];
	bool		 stop;		/* shut down once the reply is out */
	bool		 stop_now;
};

/* A command: name, arguments, one line of help, argument counts, handler. */
struct command {
	const char	*name;
	const char	*usage;
	const char	*help;
	int		 min;
	int		 max;
	int		(*fn)(struct command_req *);
};

static int	command_status(struct command_req *);
static int	command_services(struct command_req *);
static int	command_connections(struct command_req *);
static int	command_set_concurrency(struct command_req *);
static int	command_pause(struct command_req *);
static int	command_resume(struct command_req *);
static int	command_kill(struct command_req *);
static int	command_shutdown(struct command_req *);
static int	command_reload(struct command_req *);
static int	command_metrics(struct command_req *);
static int	command_version(struct command_req *);
static int	command_help(struct command_req *);

static const struct command command_table[] = {
	{ "status", "", "uptime, pid, version and totals",
	    0, 0, command_status },
	{ "services", "", "each service: addresses, kind, limit, counters",
	    0, 0, command_services },
	{ "connections", "[SERVICE]", "live connections, of one service or all",
	    0, 1, command_connections },
	{ "set-concurrency", "SERVICE N",
	    "set max_connections: -1 unlimited, 0 paused, or N",
	    2, 2, command_set_concurrency },
	{ "pause", "SERVICE", "stop accepting; clients wait in the backlog",
	    1, 1, command_pause },
	{ "resume", "SERVICE", "accept again after pause",
	    1, 1, command_resume },
	{ "kill", "CONN-ID", "end one connection (TERM, then KILL; or close)",
	    1, 1, command_kill },
	{ "shutdown", "[SERVICE] [now]",
	    "drain and stop the daemon, or one service", 0, 2,
	    command_shutdown },
	{ "reload", "", "re-read the config file and apply it",
	    0, 0, command_reload },
	{ "metrics", "", "counters in the Prometheus text format",
	    0, 0, command_metrics },
	{ "version", "", "portierd's version", 0, 0, command_version },
	{ "help", "", "this list", 0, 0, command_help },
};
#define COMMAND_COUNT	(sizeof command_table / sizeof command_table[0])

/* Find a service by name, or set an error. */
static struct service *
command_service(struct command_req *r, const char *name)
{
	struct service	*svc;

	if ((svc = service_find(core_config(), name)) == NULL)
		snprintf(r->err, sizeof r->err, "no such service: %s", name);
	return svc;
}

/* status: the daemon as a whole. */
static int
command_status(struct command_req *r)
{
	view_render(view_status(), r->json, r->out);
	return 0;
}

/* services: each service's addresses, kind, limit and counters. */
static int
command_services(struct command_req *r)
{
	view_render(view_services(), r->json, r->out);
	return 0;
}

/* connections [SERVICE]: the live connections. */
static int
command_connections(struct command_req *r)
{
	struct service	*only = NULL;

	if (r->argc == 2 && (only = command_service(r, r->argv[1])) == NULL)
		return -1;
	view_render(view_connections(only), r->json, r->out);
	return 0;
}

/* Reply to an action command with one line, or {"result": ...}. */
static void
command_result(struct command_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
command_result(struct command_req *r, const char *fmt, ...)
{
	struct view	*v;
	va_list		 ap;
	char		 line[512];

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	v = view_new(VIEW_RECORD, NULL, NULL);
	view_str(view_row(v), "result", "", line);
	view_render(v, r->json, r->out);
}

/* set-concurrency SERVICE N: POE's set_concurrency, at once. */
static int
command_set_concurrency(struct command_req *r)
{
	struct service	*svc;
	long		 n;

	if ((svc = command_service(r, r->argv[1])) == NULL)
		return -1;
	if (svc->accept_handler) {
		if (text_number(r->argv[2], 0, WORKERS_MAX, &n) != 0) {
			snprintf(r->err, sizeof r->err, "bad number of "
			    "workers: expected 0 to %d", WORKERS_MAX);
			return -1;
		}
		service_set_limit(svc, n);
		log_info("event=control-command uid=%ld "
		    "command=set-concurrency service=%s workers=%ld",
		    (long)r->uid, svc->name, n);
		command_result(r, "%s workers %ld", svc->name, n);
		return 0;
	}
	if (text_number(r->argv[2], -1, 1000000, &n) != 0) {
		snprintf(r->err, sizeof r->err, "bad limit: expected -1, 0 or a "
		    "number up to 1000000");
		return -1;
	}
	service_set_limit(svc, n);
	log_info("event=control-command uid=%ld command=set-concurrency "
	    "service=%s limit=%ld", (long)r->uid, svc->name, n);
	command_result(r, "%s max_connections %ld", svc->name, n);
	return 0;
}

/* pause SERVICE and resume SERVICE. */
static int
command_pause_resume(struct command_req *r, bool pause)
{
	struct service	*svc;

	if ((svc = command_service(r, r->argv[1])) == NULL)
		return -1;
	if (service_pause(svc, pause) == -1) {
		snprintf(r->err, sizeof r->err, "service %s is shut down",
		    svc->name);
		return -1;
	}
	log_info("event=control-command uid=%ld command=%s service=%s",
	    (long)r->uid, pause ? "pause" : "resume", svc->name);
	command_result(r, "%s %s", svc->name, pause ? "paused" : "resumed");
	return 0;
}

static int
command_pause(struct command_req *r)
{
	return command_pause_resume(r, true);
}

static int
command_resume(struct command_req *r)
{
	return command_pause_resume(r, false);
}

/* kill CONN-ID: end one connection. */
static int
command_kill(struct command_req *r)
{
	struct conn	*c;
	long		 id;

	if (text_number(r->argv[1], 1, LONG_MAX, &id) != 0) {
		snprintf(r->err, sizeof r->err, "bad connection id");
		return -1;
	}
	if ((c = conn_find((uint64_t)id)) == NULL) {
		snprintf(r->err, sizeof r->err, "no such connection");
		return -1;
	}
	log_info("event=control-command uid=%ld command=kill service=%s "
	    "conn=%llu", (long)r->uid, c->service->name,
	    (unsigned long long)c->id);
	conn_kill(c);
	command_result(r, "killed");
	return 0;
}

/* shutdown [SERVICE] [now]: the daemon, or one service. */
static int
command_shutdown(struct command_req *r)
{
	struct service	*svc = NULL;
	bool		 now = false;
	int		 i;

	for (i = 1; i < r->argc; i++) {
		if (strcmp(r->argv[i], "now") == 0 && i == r->argc - 1)
			now = true;
		else if (i == 1) {
			if ((svc = command_service(r, r->argv[i])) == NULL)
				return -1;
		} else {
			snprintf(r->err, sizeof r->err, "usage: shutdown "
			    "[SERVICE] [now]");
			return -1;
		}
	}
	log_info("event=control-command uid=%ld command=shutdown service=%s "
	    "now=%d", (long)r->uid, svc != NULL ? svc->name : "-", now);
	if (svc != NULL) {
		service_stop(svc, now);
		command_result(r, "service %s shutting down", svc->name);
		return 0;
	}
	/* The reply goes out first: shutdown may end the loop at once. */
	r->stop = true;
	r->stop_now = now;
	command_result(r, "shutting down");
	return 0;
}

/* reload: re-read the config and apply it. */
static int
command_reload(struct command_req *r)
{
	char	msg[sizeof r->err];

	log_info("event=control-command uid=%ld command=reload",
	    (long)r->uid);
	if (service_reload(msg, sizeof msg) == -1) {
		snprintf(r->err, sizeof r->err, "%s", msg);
		return -1;
	}
	command_result(r, "%s", msg);
	return 0;
}

/* metrics: the counters in the Prometheus text exposition format. */
static int
command_metrics(struct command_req *r)
{
	if (r->json) {
		snprintf(r->err, sizeof r->err, "metrics has no JSON form");
		return -1;
	}
	view_render(view_metrics(), false, r->out);
	return 0;
}

/* version. */
static int
command_version(struct command_req *r)
{
	view_render(view_version(), r->json, r->out);
	return 0;
}

/* A command's name and usage, as help and a usage error write it. */
static const char *
command_usage(const struct command *cmd, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", cmd->name, *cmd->usage != '\0' ? " " :
	    "", cmd->usage);
	return buf;
}

/* help: every command with its usage. */
static int
command_help(struct command_req *r)
{
	struct view	*v = view_new(VIEW_BARE, "commands", NULL);
	struct view_row	*row;
	char		 usage[128];
	size_t		 i;

	for (i = 0; i < COMMAND_COUNT; i++) {
		row = view_row(v);
		view_str(row, "name", NULL, command_table[i].name);
		view_str(row, "usage", NULL, command_table[i].usage);
		view_str(row, NULL, "COMMAND", command_usage(&command_table[i],
		    usage, sizeof usage));
		view_str(row, "help", "HELP", command_table[i].help);
	}
	view_render(v, r->json, r->out);
	return 0;
}

/*
 * Find a command by exact name or unique prefix.  On failure, returns NULL
 * with "unknown command" or "ambiguous command ... could be ..." in err.
 */
static const struct command *
command_find(const char *word, char *err, size_t errlen)
{
	const struct command	*found = NULL;
	size_t			 i, n = 0, len = strlen(word), used;

	for (i = 0; i < COMMAND_COUNT; i++) {
		if (strcmp(command_table[i].name, word) == 0)
			return &command_table[i];
		if (strncmp(command_table[i].name, word, len) == 0) {
			found = &command_table[i];
			n++;
		}
	}
	if (n == 1)
		return found;
	if (n == 0) {
		snprintf(err, errlen, "unknown command: %s (try help)", word);
		return NULL;
	}
	used = (size_t)snprintf(err, errlen, "ambiguous command: %s, could be:",
	    word);
	for (i = 0, n = 0; i < COMMAND_COUNT && used < errlen; i++) {
		if (strncmp(command_table[i].name, word, len) == 0)
			used += (size_t)snprintf(err + used, errlen - used,
			    "%s%s", n++ == 0 ? " " : ", ",
			    command_table[i].name);
	}
	return NULL;
}

/* Make a request's text safe to echo in an error line. */
static void
command_printable(char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
	}
}

/* Find the request's command and check its argument count. */
static const struct command *
command_check(struct command_words *w)
{
	const struct command	*cmd;
	char			 usage[128];

	if (w->argc == 0) {
		snprintf(w->err, sizeof w->err, "empty request (try help)");
		return NULL;
	}
	if ((cmd = command_find(w->argv[0], w->err, sizeof w->err)) == NULL)
		return NULL;
	if (w->argc - 1 < cmd->min || w->argc - 1 > cmd->max) {
		snprintf(w->err, sizeof w->err, "usage: %s", command_usage(cmd,
		    usage, sizeof usage));
		return NULL;
	}
	return cmd;
}

/*
 * Cut a request line (len bytes, then a NUL; no newline) into words, in
 * place, and find its command with its arguments counted.  Returns the
 * command, or NULL with the reason, one printable line, in w->err.  It
 * takes bytes, not a client, so that the fuzz target runs it too.
 */
const struct command *
command_parse(char *line, size_t len, struct command_words *w)
{
	char	*word, *save = NULL;

	memset(w, 0, sizeof *w);
	if (memchr(line, '\0', len) != NULL) {
		snprintf(w->err, sizeof w->err, "request contains a NUL byte");
		return NULL;
	}
	command_printable(line);
	for (word = strtok_r(line, " \t", &save); word != NULL;
	    word = strtok_r(NULL, " \t", &save)) {
		if (w->argc == COMMAND_WORDS_MAX) {
			snprintf(w->err, sizeof w->err, "too many words");
			return NULL;
		}
		w->argv[w->argc++] = word;
	}
	if (w->argc > 1 && strcmp(w->argv[w->argc - 1], "json") == 0) {
		w->json = true;
		w->argc--;
	}
	return command_check(w);
}

/* A command's name and the fewest and most arguments it takes. */
const char *
command_name(const struct command *cmd, int *min, int *max)
{
	*min = cmd->min;
	*max = cmd->max;
	return cmd->name;
}

/*
 * Answer one request line (as command_parse() takes it): "ok" and the
 * data lines, or "error REASON", then an empty line, appended to reply.
 * Returns COMMAND_STOP or COMMAND_STOP_NOW if the daemon must shut down
 * once the reply is out, else 0.
 */
int
command_answer(char *line, size_t len, uid_t uid, struct evbuffer *reply)
{
	struct command_words	 w;
	struct command_req	 r;
	const struct command	*cmd;

	if ((cmd = command_parse(line, len, &w)) == NULL) {
		evbuffer_add_printf(reply, "error %s\n\n", w.err);
		return 0;
	}
	memset(&r, 0, sizeof r);
	r.argc = w.argc;
	memcpy(r.argv, w.argv, sizeof r.argv);
	r.json = w.json;
	r.uid = uid;
	r.out = evbuffer_new();
	if (cmd->fn(&r) == 0) {
		evbuffer_add(reply, "ok\n", 3);
		evbuffer_add_buffer(reply, r.out);
	} else
		evbuffer_add_printf(reply, "error %s\n", r.err);
	evbuffer_add(reply, "\n", 1);
	evbuffer_free(r.out);
	if (!r.stop)
		return 0;
	return r.stop_now ? COMMAND_STOP_NOW : COMMAND_STOP;
}

/*
 * The reply to a shutdown command (command_answer's COMMAND_STOP or
 * COMMAND_STOP_NOW) is out, or its client left: shut down now.
 */
void
command_stop(int stop)
{
	service_shutdown(stop == COMMAND_STOP_NOW);
}
