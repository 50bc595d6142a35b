/*
 * A service's life: the limits and pause that control commands change at
 * run time, the stages of shutdown, and reload.
 *
 * One stage machine drains the whole daemon or one service, each stage
 * logged by name: drain (listeners closed, live connections finish for
 * shutdown_timeout), term (SIGTERM and SIGCONT to each handler's process
 * group; built-ins flush and close), kill (SIGKILL, and built-ins still
 * open are closed, after kill_grace).  The daemon leaves its event loop
 * once the last connection has ended.
 *
 * A reload loads the file anew, binds what is new, and switches: a service
 * that keeps its name keeps its counters, sources and connections'
 * accounting; the old settings are retired, and freed once no connection
 * uses them.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "portier.h"

/* The stages of a drain, of the daemon or of one service, in order. */
enum service_stage {
	SERVICE_RUNNING,	/* accepting */
	SERVICE_DRAIN,		/* listeners closed, connections finishing */
	SERVICE_TERM,		/* SIGTERM sent to every handler's group */
	SERVICE_KILL		/* SIGKILL sent */
};

static const char *const service_stage_names[] = {
	"running", "drain", "term", "kill"
};

static enum service_stage	 service_daemon_stage;
static struct event		*service_daemon_timer;
static struct services		 service_retired_list =
    TAILQ_HEAD_INITIALIZER(service_retired_list);
static char			 service_reload_msg[1100] = "none";
static const char		*service_socket_opt;	/* -S, kept on reload */
static double			 service_reload_at;	/* uptime, or 0 */
static time_t			 service_reload_when;

/* Find a service by name in a config. */
struct service *
service_find(struct config *conf, const char *name)
{
	struct service	*svc;

	TAILQ_FOREACH(svc, &conf->services, entry) {
		if (strcmp(svc->name, name) == 0)
			return svc;
	}
	return NULL;
}

/* Max_rate's bucket has a token again: see whether svc may accept. */
static void
service_rate_ready(evutil_socket_t fd, short what, void *arg)
{
	service_update(arg);
}

/*
 * Whether svc may serve at all: not shutting down, stopped or paused (by
 * the control socket, or by its workers' crash loop), nor set to 0.
 */
static bool
service_running(const struct service *svc)
{
	return !service_shutting_down() && svc->run.stopping == 0 &&
	    !svc->run.paused && !svc->run.workers.gave_up &&
	    svc->run.limit != 0;
}

/*
 * Whether svc may accept another connection under every limit.  While
 * queue mode's max_rate bucket is empty it is closed, with a timer to
 * look again when a token is back.
 */
static bool
service_open(struct service *svc)
{
	long	global = core_config()->max_connections;
	double	wait;

	if (service_shutting_down() || svc->run.stopping != 0 ||
	    svc->run.paused)
		return false;
	if (global != -1 && conn_clients() >= global)
		return false;
	if ((wait = admit_rate_wait(svc)) > 0) {
		if (svc->run.rate_timer == NULL)
			svc->run.rate_timer = core_timer(service_rate_ready,
			    svc);
		if (!evtimer_pending(svc->run.rate_timer, NULL))
			core_timer_in(svc->run.rate_timer, wait);
		return false;
	}
	/* With on_limit = "refuse", admission turns the excess away. */
	return svc->refuse_on_limit || svc->run.limit == -1 ||
	    svc->run.active < svc->run.limit;
}

/* Open or close svc's listeners after something its limits use changed. */
void
service_update(struct service *svc)
{
	if (svc->accept_handler)
		workers_update(svc, service_running(svc));
	else
		listen_update(svc, service_open(svc));
}

/* service_update() for every service of the running config. */
void
service_update_all(void)
{
	struct service	*svc;

	TAILQ_FOREACH(svc, &core_config()->services, entry)
		service_update(svc);
}

/*
 * The number of live connections went from before to after: crossing the
 * global limit opens or closes every service, else only svc.
 */
static void
service_recount(struct service *svc, long before, long after)
{
	long	global = core_config()->max_connections;

	if (global != -1 && (before < global) != (after < global))
		service_update_all();
	else
		service_update(svc);
}

/*
 * A connection was admitted and registered: count it, hold svc's
 * settings for it, and close the listeners if a limit is reached; total
 * is the daemon's live connections now.
 */
void
service_conn_started(struct service *svc, long total)
{
	svc->run.refs++;
	svc->run.active++;
	svc->run.accepted++;
	service_recount(svc, total - 1, total);
}

/* Count an ended connection under its status, for the metrics. */
static void
service_count_status(struct service *svc, const char *status)
{
	struct service_state	*st = &svc->run;
	size_t			 i;

	for (i = 0; i < st->nended; i++) {
		if (strcmp(st->ended[i].status, status) == 0)
			break;
	}
	if (i == st->nended) {
		if (st->nended == ENDED_MAX)
			status = "other";
		for (i = 0; i < st->nended; i++) {
			if (strcmp(st->ended[i].status, status) == 0)
				break;
		}
	}
	if (i == st->nended) {
		st->ended = xreallocarray(st->ended, ++st->nended,
		    sizeof *st->ended);
		snprintf(st->ended[i].status, sizeof st->ended[i].status,
		    "%s", status);
		st->ended[i].count = 0;
	}
	st->ended[i].count++;
}

/*
 * The histograms' bucket bounds, in seconds: how long a connection lasts
 * (a request, a session, a transfer), and how long a handler takes from
 * the accept to its exec (a spawn, tens of microseconds to milliseconds,
 * and more on a loaded machine).
 */
const double service_duration_bounds[HISTOGRAM_BUCKETS] = {
	0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600
};
const double service_spawn_bounds[HISTOGRAM_BUCKETS] = {
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1
};

/* Count secs into h, whose bounds are bounds. */
static void
service_observe(struct histogram *h, const double *bounds, double secs)
{
	size_t	i;

	for (i = 0; i < HISTOGRAM_BUCKETS && secs > bounds[i]; i++)
		continue;
	h->counts[i]++;
	h->count++;
	h->sum += secs;
}

/*
 * A connection svc counts ended with status after secs: count it and open
 * the listeners again; total is the daemon's live connections now.
 */
void
service_conn_ended(struct service *svc, const char *status, long total,
    double secs)
{
	svc->run.active--;
	service_recount(svc, total + 1, total);
	service_count_status(svc, status);
	service_observe(&svc->run.duration, service_duration_bounds, secs);
}

/* A handler of svc's exec'd, secs after its connection was accepted. */
void
service_spawned(struct service *svc, double secs)
{
	service_observe(&svc->run.spawn, service_spawn_bounds, secs);
}

/*
 * A worker of an accept = "handler" service was started: it holds svc's
 * settings and counts in its active, not in the daemon's connections.
 * workers.c, which started it, needs no update.
 */
void
service_worker_started(struct service *svc)
{
	svc->run.refs++;
	svc->run.active++;
}

/* A worker ended with status: count it (service_worker_next decides). */
void
service_worker_ended(struct service *svc, const char *status)
{
	svc->run.active--;
	service_count_status(svc, status);
}

/*
 * Once its end is logged: a worker ended after ran seconds, as it was
 * asked to (kill, a lower set-concurrency, a reload) or not.  Unless svc
 * may not serve now, workers.c starts another, now or after a back-off.
 */
void
service_worker_next(struct service *svc, const char *status, double ran,
    bool asked)
{
	if (svc->accept_handler && !svc->run.retired && service_running(svc))
		workers_ended(svc, status, ran, asked);
}

/*
 * A connection's settings are no longer used by it (settings) nor
 * counted (owner, the same service or its successor after a reload):
 * free what a reload retired and nothing else uses.
 */
void
service_conn_freed(struct service *settings, struct service *owner)
{
	settings->run.refs--;
	service_release(settings);
	if (owner != settings)
		service_release(owner);
}

/*
 * A client was closed unserved: refused by admission for reason r, or
 * with r ADMIT_OK, accepted and then lost (a banner that did not fit, a
 * handler that could not start).
 */
void
service_refused(struct service *svc, enum admit_reason r)
{
	svc->run.refused++;
	if (r != ADMIT_OK)
		svc->run.refusals[r]++;
}

/*
 * A handler could not be started or exec'd.  If it could not even be
 * started, the daemon is out of descriptors or processes: the listeners
 * back off, so the next clients wait in the backlog.
 */
void
service_spawn_failed(struct service *svc, bool at_start)
{
	svc->run.spawn_failures++;
	if (at_start)
		listen_backoff(svc);
}

/* POE's set_concurrency: -1 unlimited, 0 paused, or N, at once. */
void
service_set_limit(struct service *svc, long n)
{
	svc->run.limit = n;
	service_update(svc);
}

/* Pause or resume accepting; -1 if the service is shutting down. */
int
service_pause(struct service *svc, bool pause)
{
	if (svc->run.stopping != SERVICE_RUNNING)
		return -1;
	svc->run.paused = pause;
	if (!pause) {	/* a crash loop's stop too, its back-off anew */
		svc->run.workers.gave_up = false;
		svc->run.workers.step = 0;
	}
	service_update(svc);
	return 0;
}

/* Whether the daemon's shutdown has begun. */
bool
service_shutting_down(void)
{
	return service_daemon_stage != SERVICE_RUNNING;
}

/* The last connection ended during shutdown: leave the event loop. */
void
service_all_ended(void)
{
	event_base_loopbreak(core_base());
}

/* The live connections of svc, or of the daemon if svc is NULL. */
static long
service_active(const struct service *svc)
{
	return svc != NULL ? svc->run.active : conn_active();
}

/*
 * Enter a stage of draining svc, or the whole daemon if svc is NULL, and
 * arm the timer for the next while connections are left.
 */
static void
service_stage(struct service *svc, enum service_stage stage)
{
	struct config	*conf = core_config();
	struct service	*s;
	struct timeval	 tv = { 0, 0 };
	char		 status[96];

	if (svc != NULL) {
		svc->run.stopping = (int)stage;
		log_info("event=shutdown service=%s stage=%s active=%ld",
		    svc->name, service_stage_names[stage], svc->run.active);
	} else {
		service_daemon_stage = stage;
		log_info("event=shutdown stage=%s active=%ld",
		    service_stage_names[stage], conn_active());
		snprintf(status, sizeof status, "shutting down: %s, %ld "
		    "connections left", service_stage_names[stage],
		    conn_active());
		if (stage == SERVICE_DRAIN)
			systemd_stopping(status);
		else
			systemd_status(status);
	}
	switch (stage) {
	case SERVICE_DRAIN:
		/* Workers are told at once: they hold the sockets. */
		if (svc != NULL) {
			service_update(svc);
			listen_close(svc);
		} else {
			TAILQ_FOREACH(s, &conf->services, entry) {
				service_update(s);
				listen_close(s);
			}
		}
		tv.tv_sec = conf->shutdown_timeout;
		break;
	case SERVICE_TERM:
		conn_stop(svc, false);
		tv.tv_sec = conf->kill_grace;
		break;
	case SERVICE_KILL:
		conn_stop(svc, true);
		break;
	case SERVICE_RUNNING:
		fatalx("event=fatal reason=\"shutdown stage back to running\"");
	}
	if (service_active(svc) == 0) {
		if (svc == NULL)
			service_all_ended();
	} else if (stage != SERVICE_KILL) {
		evtimer_add(svc != NULL ? svc->run.stop_timer :
		    service_daemon_timer, &tv);
		if (svc != NULL)
			svc->run.stop_at = core_now() + (double)tv.tv_sec;
	}
}

/* A stage's time is up: go on to the next while connections are left. */
static void
service_stage_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct service		*svc = arg;
	enum service_stage	 stage = svc != NULL ?
				     (enum service_stage)svc->run.stopping :
				     service_daemon_stage;

	if (service_active(svc) > 0 && stage < SERVICE_KILL)
		service_stage(svc, stage + 1);
}

/*
 * Shut the daemon down, as SIGTERM does; with now, skip the drain as a
 * second signal does.
 */
void
service_shutdown(bool now)
{
	if (service_daemon_stage == SERVICE_RUNNING)
		service_stage(NULL, SERVICE_DRAIN);
	if (now && service_daemon_stage == SERVICE_DRAIN)
		service_stage(NULL, SERVICE_TERM);
}

/* A signal to stop: begin shutdown, or skip ahead to the next stage. */
void
service_shutdown_next(void)
{
	if (service_daemon_stage < SERVICE_KILL)
		service_stage(NULL, service_daemon_stage + 1);
}

/*
 * Shut one service down, in the daemon's stages: stop accepting, let its
 * connections drain, then TERM and KILL.  The others keep serving.
 */
void
service_stop(struct service *svc, bool now)
{
	if (svc->run.stop_timer == NULL)
		svc->run.stop_timer = core_timer(service_stage_timeout, svc);
	if (svc->run.stopping == SERVICE_RUNNING)
		service_stage(svc, SERVICE_DRAIN);
	if (now && svc->run.stopping == SERVICE_DRAIN)
		service_stage(svc, SERVICE_TERM);
}

/* Services a reload replaced or removed that still have connections. */
struct services *
service_retired(void)
{
	return &service_retired_list;
}

/*
 * The last reload's result, its time in seconds of uptime (0 if none) and
 * on the wall clock.
 */
const char *
service_reload_result(double *at, time_t *when)
{
	*at = service_reload_at;
	*when = service_reload_when;
	return service_reload_msg;
}

/* Free a service's timers: its drain's and its max_rate's. */
static void
service_timers_free(struct service *svc)
{
	if (svc->run.stop_timer != NULL)
		event_free(svc->run.stop_timer);
	svc->run.stop_timer = NULL;
	if (svc->run.rate_timer != NULL)
		event_free(svc->run.rate_timer);
	svc->run.rate_timer = NULL;
	workers_free(svc);
}

/* Free a retired service once no connection uses or belongs to it. */
void
service_release(struct service *svc)
{
	if (!svc->run.retired || svc->run.refs > 0 || svc->run.active > 0)
		return;
	TAILQ_REMOVE(&service_retired_list, svc, entry);
	listen_close(svc);
	service_timers_free(svc);
	admit_free(svc);
	config_free_service(svc);
}

/* Retire a service of the old config, freeing it now if nothing uses it. */
static void
service_retire(struct service *svc)
{
	svc->run.retired = true;
	TAILQ_INSERT_TAIL(&service_retired_list, svc, entry);
	service_release(svc);
}

/*
 * What a reload did with the run-time changes of the control socket:
 * "name:change" words, kept and dropped.
 */
struct service_kept {
	char	kept[400];
	char	dropped[400];
};

/* Add "name:what" to a list of words. */
static void
service_note(char *list, size_t len, const char *name, const char *what)
{
	size_t	n = strlen(list);

	if (n < len)
		snprintf(list + n, len - n, "%s%s:%s", n > 0 ? " " : "", name,
		    what);
}

/*
 * Before binding anything: a service shut down by the control socket
 * stays shut down across a reload that leaves its section as it was, so
 * its addresses are not bound again (listen_prepare skips it).  Its drain
 * moves over in service_carry.
 */
static void
service_keep_stopped(struct config *old_conf, struct config *conf)
{
	struct service	*svc, *old;

	TAILQ_FOREACH(svc, &conf->services, entry) {
		old = service_find(old_conf, svc->name);
		if (old != NULL && old->run.stopping != SERVICE_RUNNING &&
		    old->checksum == svc->checksum)
			svc->run.stopping = old->run.stopping;
	}
}

/*
 * The control socket's changes to old hold in svc until the file changes
 * that setting of that service: a limit from set-concurrency while
 * max_connections stays as it was; a pause, which the file has no setting
 * for, until resume; a shutdown while the section stays as it was (see
 * service_keep_stopped), its drain going on where it was.
 */
static void
service_carry_changes(struct service *old, struct service *svc,
    struct service_kept *k)
{
	char	what[64];

	if (old->run.limit != old->max_connections) {
		snprintf(what, sizeof what, "max_connections=%ld",
		    old->run.limit);
		if (svc->max_connections == old->max_connections) {
			svc->run.limit = old->run.limit;
			service_note(k->kept, sizeof k->kept, svc->name, what);
		} else
			service_note(k->dropped, sizeof k->dropped, svc->name,
			    what);
	}
	svc->run.paused = old->run.paused;
	if (old->run.paused)
		service_note(k->kept, sizeof k->kept, svc->name, "paused");
	if (old->run.stopping == SERVICE_RUNNING)
		return;
	if (svc->run.stopping == SERVICE_RUNNING) {
		/* Its connections live on under the new settings. */
		evtimer_del(old->run.stop_timer);
		service_note(k->dropped, sizeof k->dropped, svc->name,
		    "shut-down");
		return;
	}
	service_note(k->kept, sizeof k->kept, svc->name, "shut-down");
	svc->run.stop_timer = core_timer(service_stage_timeout, svc);
	if (evtimer_pending(old->run.stop_timer, NULL)) {
		evtimer_del(old->run.stop_timer);
		svc->run.stop_at = old->run.stop_at;
		core_timer_in(svc->run.stop_timer, svc->run.stop_at -
		    core_now());
	}
}

/*
 * A service keeps its name across a reload: its counters, its sources and
 * its live connections' accounting move to the new settings, while the
 * connections themselves keep running under the old ones.
 */
static void
service_carry(struct service *old, struct service *svc, struct service_kept *k)
{
	struct conn	*c;

	svc->run.active = old->run.active;
	svc->run.accepted = old->run.accepted;
	svc->run.refused = old->run.refused;
	svc->run.spawn_failures = old->run.spawn_failures;
	svc->run.duration = old->run.duration;
	svc->run.spawn = old->run.spawn;
	service_carry_changes(old, svc, k);
	memcpy(svc->run.refusals, old->run.refusals, sizeof svc->run.refusals);
	svc->run.ended = old->run.ended;
	svc->run.nended = old->run.nended;
	old->run.ended = NULL;
	old->run.nended = 0;
	svc->run.admission = old->run.admission;
	old->run.admission = NULL;

	old->run.active = 0;
	for (c = conn_first(); c != NULL; c = conn_next(c)) {
		if (c->owner == old)
			c->owner = svc;
	}
	if (old->accept_handler)
		workers_carry(old, svc);
}

/* Record and log a reload's outcome. */
static int
service_reload_done(int rc, char *msg, size_t len, const char *text)
{
	snprintf(service_reload_msg, sizeof service_reload_msg, "%s%s",
	    rc == 0 ? "" : "error: ", text);
	service_reload_at = core_uptime();
	service_reload_when = time(NULL);
	snprintf(msg, len, "%s", text);
	if (rc != 0)
		log_warnx("event=reload status=failed error=\"%s\"",
		    log_escape(text));
	if (!service_shutting_down())
		systemd_reloaded(service_reload_msg);
	return rc;
}

/*
 * Move everything to the new config: counters and connections of kept
 * services, listeners, and the retirement of the old services.
 */
static void
service_switch(struct config *conf, int n[4], struct service_kept *k)
{
	struct config	*old_conf = core_config();
	struct service	*svc, *old, *next;

	TAILQ_FOREACH(svc, &conf->services, entry) {
		if ((old = service_find(old_conf, svc->name)) == NULL) {
			n[0]++;
			continue;
		}
		n[old->checksum == svc->checksum ? 3 : 1]++;
		service_carry(old, svc, k);
	}
	listen_commit(old_conf, conf);
	for (svc = TAILQ_FIRST(&old_conf->services); svc != NULL; svc = next) {
		next = TAILQ_NEXT(svc, entry);
		TAILQ_REMOVE(&old_conf->services, svc, entry);
		if (service_find(conf, svc->name) == NULL) {
			n[2]++;
			svc->run.removed = true;
			if (svc->run.active > 0)
				service_stop(svc, false);
		}
		service_retire(svc);
	}
	config_free_shell(old_conf);
	core_set_config(conf);
}

/*
 * Re-read the config file and apply it, or change nothing.  msg gets a
 * summary or the error.  Returns 0 or -1.
 */
int
service_reload(char *msg, size_t len)
{
	struct config		*conf, *old = core_config();
	struct service_kept	 k = { "", "" };
	char			 err[1024], sum[1024];
	int			 n[4] = { 0, 0, 0, 0 };	/* added changed removed
							   same */

	if (service_shutting_down())
		return service_reload_done(-1, msg, len, "shutting down");
	systemd_reloading();
	if ((conf = config_load(old->path, err, sizeof err)) == NULL)
		return service_reload_done(-1, msg, len, err);
	if (config_check_privileges(conf, err, sizeof err) == -1 ||
	    log_check(conf, err, sizeof err) == -1) {
		config_free(conf);
		return service_reload_done(-1, msg, len, err);
	}
	if (service_socket_opt != NULL)
		config_set_control_socket(conf, service_socket_opt);
	service_keep_stopped(old, conf);
	if (listen_prepare(old, conf, err, sizeof err) == -1) {
		config_free(conf);
		return service_reload_done(-1, msg, len, err);
	}
	if (control_move(conf, err, sizeof err) == -1) {
		listen_abort(old, conf);
		config_free(conf);
		return service_reload_done(-1, msg, len, err);
	}
	service_switch(conf, n, &k);
	log_apply(conf);
	service_update_all();
	snprintf(sum, sizeof sum, "added=%d changed=%d removed=%d unchanged=%d "
	    "checksum=%016llx%s%s%s%s%s%s", n[0], n[1], n[2], n[3],
	    (unsigned long long)conf->checksum,
	    *k.kept != '\0' ? " kept=\"" : "", k.kept,
	    *k.kept != '\0' ? "\"" : "",
	    *k.dropped != '\0' ? " dropped=\"" : "", k.dropped,
	    *k.dropped != '\0' ? "\"" : "");
	log_info("event=reload status=ok %s", sum);
	return service_reload_done(0, msg, len, sum);
}

/*
 * Make the daemon's stage timer; socket is -S's control socket, which a
 * reload keeps over the config's.
 */
void
service_init(const char *socket)
{
	service_socket_opt = socket;
	service_daemon_timer = core_timer(service_stage_timeout, NULL);
}

/* Free the timers and every retired service, at exit. */
void
service_fini(void)
{
	struct service	*svc;

	TAILQ_FOREACH(svc, &core_config()->services, entry) {
		listen_close(svc);
		service_timers_free(svc);
	}
	while ((svc = TAILQ_FIRST(&service_retired_list)) != NULL) {
		svc->run.refs = 0;
		svc->run.active = 0;
		service_release(svc);
	}
	if (service_daemon_timer != NULL)
		event_free(service_daemon_timer);
	service_daemon_timer = NULL;
}
