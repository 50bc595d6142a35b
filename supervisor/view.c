/*
 * What the control commands show: the views of the daemon (status,
 * services, connections, version, metrics), each built once as rows of
 * typed fields, and the one renderer that writes any view either as text
 * (an aligned table, or "label value" lines) or as one JSON object on one
 * line; metrics are written in the Prometheus text format by a small
 * renderer of their own over the same rows.  A field has a JSON key and a
 * table label, either of which may be NULL for a field that only one form
 * shows, a kind and a value.  A service's run-time state is read from its
 * svc->run, service.c's.
 *
 * It never changes the daemon's state, and never parses a request or
 * frames a reply: command.c does.
 */
#include "config.h"

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "portier.h"

#define VIEW_NONE		"-"	/* an empty list, in a table */

/* How a field's value is written. */
enum view_kind {
	VIEW_STRING,
	VIEW_INT,
	VIEW_UINT,
	VIEW_SECONDS,	/* 1.234 in both forms */
	VIEW_AGE,	/* 1.234 in JSON, 1.2s in a table */
	VIEW_FLOAT,	/* all the digits a double needs: metrics */
	VIEW_BOOL,
	VIEW_NULL,	/* null in JSON, its text in a table */
	VIEW_LIST,	/* its row's values: [...] or a,b */
	VIEW_OBJECT	/* its row's fields: {...}, or their values */
};

/* One typed value, with where it is shown. */
struct view_field {
	const char	*key;		/* JSON member, or NULL: text only */
	const char	*label;		/* text label, or NULL: JSON only */
	enum view_kind	 kind;
	union {
		char		*s;	/* STRING, and NULL's text */
		long long	 i;
		uint64_t	 u;
		double		 d;
		bool		 b;
		struct view_row	*sub;	/* LIST and OBJECT */
	} v;
};

/* A row: a service, a connection, a sample, or a list's items. */
struct view_row {
	struct view_field	*fields;
	size_t			 nfields;
	int			 family;	/* metrics: its family */
	const char		*suffix;	/* metrics: _bucket, _sum... */
};

/* A view: its rows, and how they are laid out. */
struct view {
	enum view_layout	 layout;
	const char		*key;	/* JSON {"key": [rows]}, or NULL */
	const char *const	*head;	/* a table's column labels */
	struct view_row		**rows;
	size_t			 nrows;
};

/* A Prometheus metric family; its samples are the rows tagged with it. */
struct view_family {
	const char	*name;
	const char	*type;
	const char	*help;
};

enum {
	VIEW_M_UPTIME,
	VIEW_M_ACTIVE,
	VIEW_M_ACCEPTED,
	VIEW_M_REFUSED,
	VIEW_M_SPAWNFAIL,
	VIEW_M_REFUSALS,
	VIEW_M_ENDED,
	VIEW_M_ORPHANS,
	VIEW_M_ORPHANS_REAPED,
	VIEW_M_WORKER_CLIENTS,
	VIEW_M_WORKER_RESTARTS,
	VIEW_M_DURATION,
	VIEW_M_SPAWN,
	VIEW_M_NFAMILIES
};

static const struct view_family view_families[VIEW_M_NFAMILIES] = {
	{ "portier_uptime_seconds", "gauge",
	    "Seconds since portierd started." },
	{ "portier_connections_active", "gauge", "Live connections." },
	{ "portier_connections_accepted_total", "counter",
	    "Connections accepted." },
	{ "portier_connections_refused_total", "counter",
	    "Connections accepted, then closed without being served." },
	{ "portier_spawn_failures_total", "counter",
	    "Handlers that could not be forked or executed." },
	{ "portier_refusals_total", "counter",
	    "Connections refused by admission, by rule." },
	{ "portier_connections_ended_total", "counter",
	    "Connections ended, by how: exit:N or signal:NAME for a handler." },
	{ "portier_orphans", "gauge",
	    "Processes handlers left behind, reparented to portierd, alive." },
	{ "portier_orphans_reaped_total", "counter",
	    "Processes handlers left behind, reaped by portierd." },
	{ "portier_worker_clients", "gauge",
	    "Clients the workers say they serve (CONNECTIONS=)." },
	{ "portier_worker_restarts_total", "counter",
	    "Workers started again after they exited unasked." },
	{ "portier_connection_duration_seconds", "histogram",
	    "How long connections lasted, from the accept to their end." },
	{ "portier_spawn_latency_seconds", "histogram",
	    "How long from the accept to the handler's exec." },
};

static const char *const view_services_head[] = { "NAME", "KIND", "LISTEN",
	"LIMIT", "ACTIVE", "ACCEPTED", "REFUSED", "STATE", "OVERRIDES", NULL };
static const char *const view_conns_head[] = { "ID", "SERVICE", "PID",
	"REMOTE", "AGE", "STATE", "IN", "OUT", NULL };

static void	view_value(struct evbuffer *, const struct view_field *, bool);

/* A new, empty view; head names a table's columns, and its header line. */
struct view *
view_new(enum view_layout layout, const char *key, const char *const *head)
{
	struct view	*v = xcalloc(1, sizeof *v);

	v->layout = layout;
	v->key = key;
	v->head = head;
	return v;
}

/* Add a row to the view, to be given its fields in the order shown. */
struct view_row *
view_row(struct view *v)
{
	v->rows = xreallocarray(v->rows, v->nrows + 1, sizeof *v->rows);
	v->rows[v->nrows] = xcalloc(1, sizeof **v->rows);
	return v->rows[v->nrows++];
}

/* Add a field; key and label are not copied, so they are static text. */
static struct view_field *
view_add(struct view_row *row, const char *key, const char *label,
    enum view_kind kind)
{
	struct view_field	*f;

	row->fields = xreallocarray(row->fields, row->nfields + 1,
	    sizeof *row->fields);
	f = &row->fields[row->nfields++];
	memset(f, 0, sizeof *f);
	f->key = key;
	f->label = label;
	f->kind = kind;
	return f;
}

/* A string field; s is copied. */
void
view_str(struct view_row *row, const char *key, const char *label,
    const char *s)
{
	view_add(row, key, label, VIEW_STRING)->v.s = xstrdup(s);
}

/* A signed number. */
static void
view_int(struct view_row *row, const char *key, const char *label,
    long long i)
{
	view_add(row, key, label, VIEW_INT)->v.i = i;
}

/* A counter. */
static void
view_uint(struct view_row *row, const char *key, const char *label,
    uint64_t u)
{
	view_add(row, key, label, VIEW_UINT)->v.u = u;
}

/* Seconds, or an age in seconds, as kind says. */
static void
view_secs(struct view_row *row, const char *key, const char *label,
    enum view_kind kind, double d)
{
	view_add(row, key, label, kind)->v.d = d;
}

/* true or false. */
static void
view_bool(struct view_row *row, const char *key, const char *label, bool b)
{
	view_add(row, key, label, VIEW_BOOL)->v.b = b;
}

/* No value: null in JSON, text in a table. */
static void
view_null(struct view_row *row, const char *key, const char *label,
    const char *text)
{
	view_add(row, key, label, VIEW_NULL)->v.s = xstrdup(text);
}

/* A list or an object, whose items or members are the returned row's. */
static struct view_row *
view_nest(struct view_row *row, const char *key, const char *label,
    enum view_kind kind)
{
	struct view_row	*sub = xcalloc(1, sizeof *sub);

	view_add(row, key, label, kind)->v.sub = sub;
	return sub;
}

/* Free a row and what its fields hold. */
static void
view_row_free(struct view_row *row)
{
	size_t	i;

	for (i = 0; i < row->nfields; i++) {
		if (row->fields[i].kind == VIEW_STRING ||
		    row->fields[i].kind == VIEW_NULL)
			free(row->fields[i].v.s);
		else if (row->fields[i].kind == VIEW_LIST ||
		    row->fields[i].kind == VIEW_OBJECT)
			view_row_free(row->fields[i].v.sub);
	}
	free(row->fields);
	free(row);
}

/* Free a view and its rows. */
static void
view_free(struct view *v)
{
	size_t	i;

	for (i = 0; i < v->nrows; i++)
		view_row_free(v->rows[i]);
	free(v->rows);
	free(v);
}

/* A number, as JSON (and Prometheus) write it, or as text. */
static void
view_number(struct evbuffer *out, const struct view_field *f, bool json)
{
	if (f->kind == VIEW_INT)
		evbuffer_add_printf(out, "%lld", f->v.i);
	else if (f->kind == VIEW_UINT)
		evbuffer_add_printf(out, "%llu", (unsigned long long)f->v.u);
	else if (f->kind == VIEW_AGE && !json)
		evbuffer_add_printf(out, "%.1fs", f->v.d);
	else if (f->kind == VIEW_FLOAT)
		evbuffer_add_printf(out, "%.9g", f->v.d);
	else
		evbuffer_add_printf(out, "%.3f", f->v.d);
}

/* Write s as a JSON string, escaped. */
static void
view_json_str(struct evbuffer *out, const char *s)
{
	const unsigned char	*p;

	evbuffer_add(out, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add_printf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			evbuffer_add_printf(out, "\\u%04x", *p);
		else
			evbuffer_add(out, p, 1);
	}
	evbuffer_add(out, "\"", 1);
}

/* Whether a field is shown in JSON, or in the text form. */
static bool
view_shown(const struct view_field *f, bool json)
{
	return (json ? f->key : f->label) != NULL;
}

/*
 * A list's items or an object's members (those the form shows).  In JSON,
 * [a, b] and {"k": v, "l": w}; as text, a,b (VIEW_NONE for no item) and
 * the values alone, a space apart.
 */
static void
view_members(struct evbuffer *out, const struct view_row *row, bool list,
    bool json)
{
	const char	*sep = "";
	size_t		 i;

	if (json)
		evbuffer_add(out, list ? "[" : "{", 1);
	else if (list && row->nfields == 0)
		evbuffer_add_printf(out, "%s", VIEW_NONE);
	for (i = 0; i < row->nfields; i++) {
		if (!list && !view_shown(&row->fields[i], json))
			continue;
		evbuffer_add_printf(out, "%s", sep);
		if (json && !list) {
			view_json_str(out, row->fields[i].key);
			evbuffer_add(out, ": ", 2);
		}
		view_value(out, &row->fields[i], json);
		sep = json ? ", " : list ? "," : " ";
	}
	if (json)
		evbuffer_add(out, list ? "]" : "}", 1);
}

/* A field's value, as JSON or as text: the one place a value is written. */
static void
view_value(struct evbuffer *out, const struct view_field *f, bool json)
{
	switch (f->kind) {
	case VIEW_STRING:
		if (json)
			view_json_str(out, f->v.s);
		else
			evbuffer_add_printf(out, "%s", f->v.s);
		break;
	case VIEW_NULL:
		evbuffer_add_printf(out, "%s", json ? "null" : f->v.s);
		break;
	case VIEW_BOOL:
		evbuffer_add_printf(out, "%s", f->v.b ? "true" : "false");
		break;
	case VIEW_LIST:
	case VIEW_OBJECT:
		view_members(out, f->v.sub, f->kind == VIEW_LIST, json);
		break;
	default:
		view_number(out, f, json);
		break;
	}
}

/* The whole view as one JSON object on one line. */
static void
view_json(const struct view *v, struct evbuffer *out)
{
	size_t	i;

	if (v->key == NULL) {
		view_members(out, v->rows[0], false, true);
		evbuffer_add(out, "\n", 1);
		return;
	}
	evbuffer_add(out, "{", 1);
	view_json_str(out, v->key);
	evbuffer_add(out, ": [", 3);
	for (i = 0; i < v->nrows; i++) {
		if (i > 0)
			evbuffer_add(out, ", ", 2);
		view_members(out, v->rows[i], false, true);
	}
	evbuffer_add(out, "]}\n", 3);
}

/* A field's text as a string of its own, for a table's cell. */
static char *
view_cell(const struct view_field *f)
{
	struct evbuffer	*buf = evbuffer_new();
	char		*s;
	size_t		 len;

	if (buf == NULL)
		fatalx("event=fatal reason=\"evbuffer_new failed\"");
	view_value(buf, f, false);
	len = evbuffer_get_length(buf);
	s = xmalloc(len + 1);
	evbuffer_remove(buf, s, len);
	s[len] = '\0';
	evbuffer_free(buf);
	return s;
}

/*
 * A row's cells, the fields with a label, into cells; there must be
 * ncols, under the head's labels if the table has a head.
 */
static void
view_table_row(const struct view *v, const struct view_row *row,
    char **cells, size_t ncols)
{
	size_t	i, col = 0;

	for (i = 0; i < row->nfields; i++) {
		if (row->fields[i].label == NULL)
			continue;
		if (col == ncols || (v->head != NULL &&
		    strcmp(v->head[col], row->fields[i].label) != 0))
			fatalx("event=fatal reason=\"view: %s is no column\"",
			    row->fields[i].label);
		cells[col++] = view_cell(&row->fields[i]);
	}
	if (col != ncols)
		fatalx("event=fatal reason=\"view: a row of %zu columns\"",
		    col);
}

/* Print cells, ncols a line, columns two spaces apart; free them. */
static void
view_table_print(char **cells, size_t ncells, size_t ncols,
    struct evbuffer *out)
{
	size_t	i, col, *w = xcalloc(ncols, sizeof *w);

	for (i = 0; i < ncells; i++) {
		col = i % ncols;
		if (strlen(cells[i]) > w[col])
			w[col] = strlen(cells[i]);
	}
	for (i = 0; i < ncells; i++) {
		col = i % ncols;
		if (col + 1 == ncols)
			evbuffer_add_printf(out, "%s\n", cells[i]);
		else
			evbuffer_add_printf(out, "%-*s  ", (int)w[col],
			    cells[i]);
		free(cells[i]);
	}
	free(w);
}

/* How many columns a table has: its head's, or its first row's. */
static size_t
view_ncols(const struct view *v)
{
	size_t	i, n = 0;

	if (v->head != NULL) {
		while (v->head[n] != NULL)
			n++;
	} else if (v->nrows > 0) {
		for (i = 0; i < v->rows[0]->nfields; i++)
			n += v->rows[0]->fields[i].label != NULL;
	}
	return n;
}

/* A table: the head's line, if it has one, then a line a row. */
static void
view_table(const struct view *v, struct evbuffer *out)
{
	size_t	 i, n = 0, ncols = view_ncols(v);
	char	**cells;

	if (ncols == 0)
		return;
	cells = xcalloc(v->nrows + 1, ncols * sizeof *cells);
	if (v->head != NULL) {
		for (; n < ncols; n++)
			cells[n] = xstrdup(v->head[n]);
	}
	for (i = 0; i < v->nrows; i++, n += ncols)
		view_table_row(v, v->rows[i], cells + n, ncols);
	view_table_print(cells, n, ncols, out);
	free(cells);
}

/*
 * A record: a line a field, its label padded to the longest label of the
 * record, so that every value starts in one column, or its value alone.
 */
static void
view_record(const struct view *v, struct evbuffer *out)
{
	const struct view_row	*row = v->rows[0];
	size_t			 i, width = 0;

	for (i = 0; i < row->nfields; i++) {
		if (row->fields[i].label != NULL &&
		    strlen(row->fields[i].label) > width)
			width = strlen(row->fields[i].label);
	}
	for (i = 0; i < row->nfields; i++) {
		if (row->fields[i].label == NULL)
			continue;
		if (*row->fields[i].label != '\0')
			evbuffer_add_printf(out, "%-*s ", (int)width,
			    row->fields[i].label);
		view_value(out, &row->fields[i], false);
		evbuffer_add(out, "\n", 1);
	}
}

/* A Prometheus label value, escaped. */
static void
view_prom_label(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\' || *s == '\n')
			evbuffer_add_printf(out, "\\%c", *s == '\n' ? 'n' : *s);
		else
			evbuffer_add(out, s, 1);
	}
}

/* One sample: its string fields are its labels, its number the value. */
static void
view_prom_sample(struct evbuffer *out, const char *name,
    const struct view_row *row)
{
	const struct view_field	*value = NULL;
	const char		*sep = "{";
	size_t			 i;

	evbuffer_add_printf(out, "%s%s", name, row->suffix != NULL ?
	    row->suffix : "");
	for (i = 0; i < row->nfields; i++) {
		if (row->fields[i].kind != VIEW_STRING) {
			value = &row->fields[i];
			continue;
		}
		evbuffer_add_printf(out, "%s%s=\"", sep, row->fields[i].key);
		view_prom_label(out, row->fields[i].v.s);
		evbuffer_add(out, "\"", 1);
		sep = ",";
	}
	if (value == NULL)
		fatalx("event=fatal reason=\"view: a sample with no value\"");
	evbuffer_add_printf(out, "%s ", *sep == ',' ? "}" : "");
	view_value(out, value, true);
	evbuffer_add(out, "\n", 1);
}

/* The Prometheus text format: each family, then its samples in order. */
static void
view_prom(const struct view *v, struct evbuffer *out)
{
	const struct view_family	*fam;
	size_t				 i;
	int				 f;

	for (f = 0; f < VIEW_M_NFAMILIES; f++) {
		fam = &view_families[f];
		evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n",
		    fam->name, fam->help, fam->name, fam->type);
		for (i = 0; i < v->nrows; i++) {
			if (v->rows[i]->family == f)
				view_prom_sample(out, fam->name, v->rows[i]);
		}
	}
}

/* Write the view to out, as JSON or as its text form, and free it. */
void
view_render(struct view *v, bool json, struct evbuffer *out)
{
	if (json)
		view_json(v, out);
	else if (v->layout == VIEW_METRICS)
		view_prom(v, out);
	else if (v->layout == VIEW_RECORD)
		view_record(v, out);
	else
		view_table(v, out);
	view_free(v);
}

/* The state of a service in one word. */
static const char *
view_service_state(const struct service *svc)
{
	if (svc->run.removed)
		return "removed";
	if (svc->run.stopping != 0)
		return svc->run.active > 0 ? "stopping" : "stopped";
	if (svc->run.paused)
		return "paused";
	if (svc->run.workers.gave_up)
		return "crash-loop";	/* until resume */
	if (svc->run.limit == 0)	/* set-concurrency 0, max_connections 0 */
		return svc->refuse_on_limit ? "refusing" : "paused";
	if (svc->accept_handler && svc->run.workers.watching)
		return "watching";	/* on demand, for a client */
	if (svc->accept_handler && workers_running(svc) < svc->run.limit)
		return "restarting";
	return "serving";
}

/*
 * The clients svc's workers say they serve (CONNECTIONS= on their notify
 * sockets), or -1 if none says.
 */
static long
view_worker_clients(const struct service *svc)
{
	const struct conn	*c;
	long			 n = -1;

	for (c = conn_first(); c != NULL; c = conn_next(c)) {
		if (c->worker != 0 && c->owner == svc && c->clients >= 0)
			n = (n < 0 ? 0 : n) + c->clients;
	}
	return n;
}

/* The last reload, as an object, or "none". */
static void
view_reload(struct view_row *row)
{
	struct view_row	*obj;
	const char	*result;
	double		 at;
	time_t		 when;
	struct tm	 tm;
	char		 stamp[32];

	result = service_reload_result(&at, &when);
	if (at == 0) {
		view_null(row, "last_reload", "reload", "none");
		return;
	}
	gmtime_r(&when, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
	obj = view_nest(row, "last_reload", "reload", VIEW_OBJECT);
	view_str(obj, "time", "", stamp);
	view_secs(obj, "uptime", NULL, VIEW_SECONDS, at);
	view_str(obj, "result", "", result);
}

/* status: the daemon as a whole. */
struct view *
view_status(void)
{
	struct view		*v = view_new(VIEW_RECORD, NULL, NULL);
	struct view_row		*row = view_row(v);
	struct service		*svc;
	uint64_t		 accepted = 0;
	long			 orphans;

	TAILQ_FOREACH(svc, &core_config()->services, entry)
		accepted += svc->run.accepted;
	view_int(row, "pid", "pid", getpid());
	view_str(row, "version", "version", PACKAGE_VERSION);
	view_secs(row, "uptime", "uptime", VIEW_SECONDS, core_uptime());
	view_uint(row, "services", "services", core_config()->nservices);
	view_int(row, "active", "active", conn_active());
	view_uint(row, "accepted", "accepted", accepted);
	view_uint(row, "exec_failures", "exec_failures",
	    children_exec_failures());
	if ((orphans = children_orphans()) >= 0)
		view_int(row, "orphans", "orphans", orphans);
	else
		view_null(row, "orphans", "orphans", "-");
	view_uint(row, "orphans_reaped", "orphans_reaped",
	    children_orphans_reaped_count());
	view_reload(row);
	return v;
}

/* version: portierd's. */
struct view *
view_version(void)
{
	struct view	*v = view_new(VIEW_RECORD, NULL, NULL);
	struct view_row	*row = view_row(v);

	view_str(row, "version", NULL, PACKAGE_VERSION);
	view_str(row, NULL, "", "portierd " PACKAGE_VERSION);
	return v;
}

/* A list of CIDRs, JSON's only. */
static void
view_cidrs(struct view_row *row, const char *key, const struct cidr *c,
    size_t n)
{
	struct view_row	*list = view_nest(row, key, NULL, VIEW_LIST);
	char		 text[INET6_ADDRSTRLEN + 8];
	size_t		 i;

	for (i = 0; i < n; i++)
		view_str(list, NULL, "", text_cidr(&c[i], text, sizeof text));
}

/* A service's admission settings and refusals, JSON's only. */
static void
view_admission(struct view_row *row, const struct service *svc)
{
	struct view_row	*refusals;
	int		 r;

	view_cidrs(row, "allow", svc->allow, svc->nallow);
	view_cidrs(row, "deny", svc->deny, svc->ndeny);
	view_int(row, "max_per_source", NULL, svc->max_per_source);
	view_int(row, "max_source_rate", NULL, svc->max_source_rate);
	view_int(row, "max_rate", NULL, svc->max_rate);
	view_int(row, "source_prefix4", NULL, svc->prefix4);
	view_int(row, "source_prefix6", NULL, svc->prefix6);
	view_int(row, "max_sources", NULL, svc->max_sources);
	view_str(row, "on_limit", NULL, svc->refuse_on_limit ? "refuse" :
	    "queue");
	refusals = view_nest(row, "refusals", NULL, VIEW_OBJECT);
	for (r = ADMIT_OK + 1; r < ADMIT_NREASONS; r++)
		view_uint(refusals, admit_reason_name(r), NULL,
		    svc->run.refusals[r]);
}

/* The addresses a service listens on, as bound. */
static void
view_listeners(struct view_row *row, const struct service *svc)
{
	struct view_row		*list = view_nest(row, "listen", "LISTEN",
				    VIEW_LIST);
	const struct listener	*l;

	TAILQ_FOREACH(l, &svc->listeners, entry)
		view_str(list, NULL, "", l->bound);
}

/* A service's kind: JSON's kind and builtin, and the table's KIND. */
static void
view_service_kind(struct view_row *row, const struct service *svc)
{
	char	*kind;

	if (svc->builtin == NULL) {
		view_str(row, "kind", NULL, "exec");
		view_null(row, "builtin", NULL, "");
		view_str(row, "accept", NULL, svc->accept_handler ? "handler" :
		    "portier");
		view_str(row, NULL, "KIND", svc->accept_handler ? "workers" :
		    "exec");
		return;
	}
	view_str(row, "kind", NULL, "builtin");
	view_str(row, "builtin", NULL, svc->builtin->name);
	xasprintf(&kind, "builtin:%s", svc->builtin->name);
	view_str(row, NULL, "KIND", kind);
	free(kind);
}

/*
 * What the control socket changed and a reload keeps (portierd(8),
 * RELOAD): the file's max_connections beside the limit in force, and
 * each change by the command that made it.
 */
static void
view_overrides(struct view_row *row, const struct service *svc)
{
	struct view_row	*list;

	view_int(row, "file_max_connections", NULL, svc->max_connections);
	list = view_nest(row, "overrides", "OVERRIDES", VIEW_LIST);
	if (svc->run.limit != svc->max_connections)
		view_str(list, NULL, "", "set-concurrency");
	if (svc->run.paused)
		view_str(list, NULL, "", "pause");
	if (svc->run.stopping != 0 && !svc->run.removed)
		view_str(list, NULL, "", "shutdown");
}

/* One service as a row; a retired one only if removed but still serving. */
static void
view_service_row(struct view *v, const struct service *svc, bool retired)
{
	const struct service_state	*rt = &svc->run;
	struct view_row			*row;
	long				 clients;

	if (retired && (!rt->removed || rt->active == 0))
		return;
	row = view_row(v);
	view_str(row, "name", "NAME", svc->name);
	view_service_kind(row, svc);
	view_listeners(row, svc);
	view_int(row, "max_connections", "LIMIT", rt->limit);
	view_int(row, "active", "ACTIVE", rt->active);
	view_uint(row, "accepted", "ACCEPTED", rt->accepted);
	view_uint(row, "refused", "REFUSED", rt->refused);
	view_bool(row, "paused", NULL, rt->paused);
	view_str(row, "state", "STATE", view_service_state(svc));
	if (svc->accept_handler) {
		view_uint(row, "restarts", NULL, rt->workers.restarts);
		if ((clients = view_worker_clients(svc)) >= 0)
			view_int(row, "clients", NULL, clients);
		else
			view_null(row, "clients", NULL, "");
	}
	view_overrides(row, svc);
	view_admission(row, svc);
}

/* services: each service's addresses, kind, limit and counters. */
struct view *
view_services(void)
{
	struct view	*v = view_new(VIEW_TABLE, "services",
			    view_services_head);
	struct service	*svc;

	TAILQ_FOREACH(svc, &core_config()->services, entry)
		view_service_row(v, svc, false);
	TAILQ_FOREACH(svc, service_retired(), entry)
		view_service_row(v, svc, true);
	return v;
}

/* One connection as a row, unless only is set and does not count it. */
static void
view_conn_row(struct view *v, const struct conn *c,
    const struct service *only)
{
	struct view_row	*row;
	char		 remote[ADDR_STRLEN + 64];
	bool		 bi = c->service->builtin != NULL;

	if (only != NULL && c->owner != only)
		return;
	row = view_row(v);
	view_uint(row, "id", "ID", c->id);
	view_str(row, "service", "SERVICE", c->service->name);
	if (bi)
		view_null(row, "pid", "PID", "builtin");
	else
		view_int(row, "pid", "PID", c->pid);
	view_str(row, "remote", "REMOTE", conn_remote(c, remote,
	    sizeof remote));
	view_secs(row, "age", "AGE", VIEW_AGE, conn_age(c));
	view_str(row, "state", "STATE", conn_state_name(c->state));
	if (bi) {
		view_uint(row, "bytes_in", "IN", c->bytes_in);
		view_uint(row, "bytes_out", "OUT", c->bytes_out);
	} else {
		view_null(row, "bytes_in", "IN", VIEW_NONE);
		view_null(row, "bytes_out", "OUT", VIEW_NONE);
	}
	if (c->worker == 0)
		return;
	/* What a worker says of itself on its notify socket. */
	if (c->clients >= 0)
		view_int(row, "clients", NULL, c->clients);
	else
		view_null(row, "clients", NULL, "");
	if (c->status[0] != '\0')
		view_str(row, "status", NULL, c->status);
	else
		view_null(row, "status", NULL, "");
}

/* connections: the live ones, of one service or (only NULL) all. */
struct view *
view_connections(const struct service *only)
{
	struct view		*v = view_new(VIEW_TABLE, "connections",
				    view_conns_head);
	const struct conn	*c;

	for (c = conn_first(); c != NULL; c = conn_next(c))
		view_conn_row(v, c, only);
	return v;
}

/* A sample of metric family f, of service svc if not NULL. */
static struct view_row *
view_sample(struct view *v, int f, const struct service *svc)
{
	struct view_row	*row = view_row(v);

	row->family = f;
	if (svc != NULL)
		view_str(row, "service", NULL, svc->name);
	return row;
}

/* A bound as a decimal with no exponent and no trailing zero: 0.00005. */
static void
view_decimal(char *buf, size_t len, double d)
{
	size_t	n = (size_t)snprintf(buf, len, "%.6f", d);

	while (n > 1 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 1 && buf[n - 1] == '.')
		buf[--n] = '\0';
}

/*
 * A histogram of service svc, family f: its buckets, counted up to each
 * bound as Prometheus has them, then _sum and _count.
 */
static void
view_histogram(struct view *v, int f, const struct service *svc,
    const struct histogram *h, const double *bounds)
{
	struct view_row	*row;
	char		 le[32];
	uint64_t	 upto = 0;
	size_t		 i;

	for (i = 0; i <= HISTOGRAM_BUCKETS; i++) {
		upto += h->counts[i];
		row = view_sample(v, f, svc);
		row->suffix = "_bucket";
		if (i < HISTOGRAM_BUCKETS)
			view_decimal(le, sizeof le, bounds[i]);
		else
			snprintf(le, sizeof le, "+Inf");
		view_str(row, "le", NULL, le);
		view_uint(row, NULL, NULL, upto);
	}
	row = view_sample(v, f, svc);
	row->suffix = "_sum";
	view_secs(row, NULL, NULL, VIEW_FLOAT, h->sum);
	row = view_sample(v, f, svc);
	row->suffix = "_count";
	view_uint(row, NULL, NULL, h->count);
}

/* A service's samples, of every family. */
static void
view_metrics_service(struct view *v, const struct service *svc)
{
	const struct service_state	*rt = &svc->run;
	struct view_row			*row;
	size_t				 i;
	long				 clients;
	int				 r;

	view_uint(view_sample(v, VIEW_M_ACTIVE, svc), NULL, NULL,
	    (uint64_t)rt->active);
	view_uint(view_sample(v, VIEW_M_ACCEPTED, svc), NULL, NULL,
	    rt->accepted);
	view_uint(view_sample(v, VIEW_M_REFUSED, svc), NULL, NULL,
	    rt->refused);
	view_uint(view_sample(v, VIEW_M_SPAWNFAIL, svc), NULL, NULL,
	    rt->spawn_failures);
	for (r = ADMIT_OK + 1; r < ADMIT_NREASONS; r++) {
		row = view_sample(v, VIEW_M_REFUSALS, svc);
		view_str(row, "reason", NULL, admit_reason_name(r));
		view_uint(row, NULL, NULL, rt->refusals[r]);
	}
	for (i = 0; i < rt->nended; i++) {
		row = view_sample(v, VIEW_M_ENDED, svc);
		view_str(row, "status", NULL, rt->ended[i].status);
		view_uint(row, NULL, NULL, rt->ended[i].count);
	}
	if (!svc->accept_handler)
		view_histogram(v, VIEW_M_DURATION, svc, &rt->duration,
		    service_duration_bounds);
	if (svc->builtin == NULL)
		view_histogram(v, VIEW_M_SPAWN, svc, &rt->spawn,
		    service_spawn_bounds);
	if (!svc->accept_handler)
		return;
	clients = view_worker_clients(svc);
	view_int(view_sample(v, VIEW_M_WORKER_CLIENTS, svc), NULL, NULL,
	    clients > 0 ? clients : 0);
	view_uint(view_sample(v, VIEW_M_WORKER_RESTARTS, svc), NULL, NULL,
	    rt->workers.restarts);
}

/* metrics: the counters, for the Prometheus text format. */
struct view *
view_metrics(void)
{
	struct view	*v = view_new(VIEW_METRICS, NULL, NULL);
	struct service	*svc;
	long		 orphans = children_orphans();	/* -1: unknown */

	view_secs(view_sample(v, VIEW_M_UPTIME, NULL), NULL, NULL,
	    VIEW_SECONDS, core_uptime());
	view_int(view_sample(v, VIEW_M_ORPHANS, NULL), NULL, NULL,
	    orphans > 0 ? orphans : 0);
	view_uint(view_sample(v, VIEW_M_ORPHANS_REAPED, NULL), NULL, NULL,
	    children_orphans_reaped_count());
	TAILQ_FOREACH(svc, &core_config()->services, entry)
		view_metrics_service(v, svc);
	return v;
}
