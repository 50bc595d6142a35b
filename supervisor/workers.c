/*
 * The workers of accept = "handler" services: handlers that take their
 * service's listening sockets and accept for themselves, as inetd's wait
 * services, systemd's Accept=no and POE's custom Acceptor do.
 *
 * A worker is a connection with no client (conn_worker), served by the
 * handler back-end, so `connections`, `kill`, the spawn and end lines,
 * timeout, and shutdown's TERM and KILL treat it as any handler.  This
 * file decides how many run and when: the service's limit of them
 * (workers, or set-concurrency), started at once (start = "now") or when
 * a client first waits on a socket no worker holds (listen_watch).  A
 * worker that exits unasked is started again after a back-off, which
 * doubles up to WORKERS_DELAY_CAP and starts again from restart_delay
 * once a worker has run WORKERS_RAN_LONG; more than max_restarts within
 * restart_window stop the service until `resume`.  With start =
 * "on-demand", a worker that exits 0 is not replaced: the last one to go
 * hands the sockets back to the watch; with idle_exit, all are told to
 * stop once none has been seen busy for so long (workers_idle_look).
 *
 * service.c calls in here (workers_update whenever what the service may
 * do changed); this file calls conn.c and listen.c, never service.c.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "portier.h"

#define WORKERS_DELAY_CAP	60	/* seconds the back-off grows to */
#define WORKERS_RAN_LONG	10	/* seconds that reset it */
#define WORKERS_ROUNDS		8	/* of workers_update, called back */

/* Whether c is a worker of svc's present settings (not of a reload's). */
static bool
workers_current(const struct conn *c, const struct service *svc)
{
	return c->worker != 0 && c->owner == svc &&
	    c->service->checksum == svc->checksum;
}

/*
 * How many of svc's workers run its present settings and were not told
 * to stop.
 */
long
workers_running(const struct service *svc)
{
	const struct conn	*c;
	long			 n = 0;

	for (c = conn_first(); c != NULL; c = conn_next(c)) {
		if (workers_current(c, svc) && c->state == CONN_RUNNING)
			n++;
	}
	return n;
}

/* The lowest worker number none of svc's live workers has. */
static long
workers_number(const struct service *svc)
{
	const struct conn	*c;
	bool			 taken[WORKERS_MAX * 2 + 2];
	long			 n;

	/* Those told to stop and a reload's new ones: twice the most. */
	memset(taken, 0, sizeof taken);
	for (c = conn_first(); c != NULL; c = conn_next(c)) {
		if (c->worker != 0 && c->owner == svc &&
		    c->worker < (long)(sizeof taken / sizeof taken[0]))
			taken[c->worker] = true;
	}
	for (n = 1; n < (long)(sizeof taken / sizeof taken[0]) - 1 &&
	    taken[n]; n++)
		continue;
	return n;
}

/*
 * Tell svc's workers to stop (SIGTERM, then SIGKILL after kill_grace):
 * those of settings a reload replaced, and of the present ones all but the
 * keep oldest.
 */
static void
workers_stop(struct service *svc, long keep)
{
	struct conn	*c, *next;

	for (c = conn_first(); c != NULL; c = next) {
		next = conn_next(c);
		if (c->worker == 0 || c->owner != svc ||
		    c->state != CONN_RUNNING)
			continue;
		if (workers_current(c, svc) && keep > 0) {
			keep--;
			continue;
		}
		conn_kill(c);
	}
}

/* A process's CPU time, utime + stime in clock ticks, or 0. */
static unsigned long long
workers_cpu(pid_t pid)
{
	unsigned long long	 ut, st;
	char			 path[64], buf[1024], *p;
	ssize_t			 n;
	int			 fd;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* After the name, which may hold anything: fields 3 to 15. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %*c %*d %*d "
	    "%*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return ut + st;
}

/*
 * idle_exit's look, each second while svc's workers run.  portierd sees
 * none of their clients, so a worker counts as busy while it says it
 * serves some (CONNECTIONS= on its notify socket), while a client waits
 * in the listen queue, or while its CPU time grows; past idle_exit
 * seconds with none busy, they are all told to stop, and the sockets go
 * back to the watch.
 */
static void
workers_idle_look(evutil_socket_t fd, short what, void *arg)
{
	struct service		*svc = arg;
	struct conn		*c;
	double			 now = core_now(), last = 0;
	unsigned long long	 cpu;
	long			 n = 0;
	bool			 waiting = listen_waiting(svc);

	for (c = conn_first(); c != NULL; c = conn_next(c)) {
		if (!workers_current(c, svc) || c->state != CONN_RUNNING)
			continue;
		n++;
		cpu = workers_cpu(c->pid);
		if (cpu != c->cpu || c->clients > 0 || waiting) {
			c->cpu = cpu;
			c->busy_at = now;
		}
		last = c->busy_at > last ? c->busy_at : last;
	}
	if (n == 0)
		return;		/* the next start looks again */
	if (now - last < (double)svc->idle_exit) {
		core_timer_in(svc->run.workers.idle, 1.0);
		return;
	}
	log_info("event=worker-idle service=%s idle_exit=%ld workers=%ld",
	    svc->name, svc->idle_exit, n);
	svc->run.workers.resting = true;
	workers_update(svc, svc->run.workers.open);
}

/* Start n more workers of svc, stopping at the first that fails. */
static void
workers_start(struct service *svc, long n)
{
	struct workers_state	*w = &svc->run.workers;

	while (n-- > 0) {
		if (conn_worker(svc, workers_number(svc)) == -1)
			break;
	}
	if (svc->idle_exit == 0)
		return;
	if (w->idle == NULL)
		w->idle = core_timer(workers_idle_look, svc);
	if (!evtimer_pending(w->idle, NULL))
		core_timer_in(w->idle, 1.0);
}

/* A client waits on a socket of svc and no worker holds them: start. */
static void
workers_demand(struct service *svc)
{
	svc->run.workers.watching = false;
	svc->run.workers.demanded = true;
	if (svc->run.workers.open)
		workers_update(svc, true);
}

/* The back-off is over: start again, or watch again. */
static void
workers_restart_due(evutil_socket_t fd, short what, void *arg)
{
	struct service	*svc = arg;

	if (!svc->run.retired)
		workers_update(svc, svc->run.workers.open);
}

/* Whether svc is waiting out a back-off. */
static bool
workers_backing_off(const struct service *svc)
{
	return svc->run.workers.restart != NULL &&
	    evtimer_pending(svc->run.workers.restart, NULL);
}

/* workers_update's work, once; see there. */
static void
workers_apply(struct service *svc, bool open)
{
	struct workers_state	*w = &svc->run.workers;
	long			 running, limit = svc->run.limit;

	if (!open) {
		if (w->watching)
			listen_watch(svc, NULL);
		w->watching = false;
		if (w->restart != NULL)
			evtimer_del(w->restart);
		if (w->idle != NULL)
			evtimer_del(w->idle);
		workers_stop(svc, 0);
		return;
	}
	if (w->resting) {	/* idle_exit: all stop, the watch takes over */
		w->resting = false;
		w->demanded = false;
		workers_stop(svc, 0);
	}
	running = workers_running(svc);
	if (running > limit)
		workers_stop(svc, limit);
	if (workers_backing_off(svc) || w->watching)
		return;
	if (running == 0 && !svc->start_now && !w->demanded) {
		workers_stop(svc, 0);	/* those of replaced settings */
		listen_watch(svc, workers_demand);
		w->watching = true;
		return;
	}
	w->demanded = false;
	if (running < limit)
		workers_start(svc, limit - running);
	workers_stop(svc, limit);	/* those of replaced settings */
}

/*
 * What svc may do changed (open: it may serve), or a worker ended or was
 * told to stop, or a back-off or a watch is over: run as many workers as
 * it should.  While it may not serve, its workers are stopped and nothing
 * watches.  On demand, with none running, the sockets are watched for a
 * client, unless a client is what brought us here.  Starting and stopping
 * workers calls back in here (a worker that cannot start may end a crash
 * loop): such a call is noted and done once the present one is over.
 */
void
workers_update(struct service *svc, bool open)
{
	struct workers_state	*w = &svc->run.workers;
	int			 rounds = 0;

	w->open = open;
	if (w->updating) {
		w->again = true;
		return;
	}
	w->updating = true;
	do {
		w->again = false;
		workers_apply(svc, w->open);
	} while (w->again && ++rounds < WORKERS_ROUNDS);
	w->updating = false;
}

/*
 * Wait out the back-off before starting svc's workers again, after a
 * worker of it exited unasked with status, having run ran seconds; or,
 * past max_restarts within restart_window, stop the service.  One line
 * for each step of the back-off, however many workers end in it.
 */
static void
workers_crashed(struct service *svc, const char *status, double ran)
{
	struct workers_state	*w = &svc->run.workers;
	double			 now = core_now();
	long			 delay, cap;
	int			 i;

	if (w->window_n == 0 || now - w->window_at > svc->restart_window) {
		w->window_at = now;
		w->window_n = 0;
	}
	if (++w->window_n > svc->max_restarts) {
		log_warnx("event=worker-giveup service=%s status=%s "
		    "restarts=%ld window=%ld", svc->name, status,
		    w->window_n - 1, svc->restart_window);
		w->gave_up = true;
		w->window_n = 0;
		workers_update(svc, false);
		return;
	}
	w->restarts++;
	if (ran >= WORKERS_RAN_LONG)
		w->step = 0;
	if (workers_backing_off(svc))
		return;
	cap = svc->restart_delay > WORKERS_DELAY_CAP ? svc->restart_delay :
	    WORKERS_DELAY_CAP;
	delay = svc->restart_delay;
	for (i = 0; i < w->step; i++)
		delay = delay * 2 > cap ? cap : delay * 2;
	if (delay < cap)
		w->step++;
	if (w->restart == NULL)
		w->restart = core_timer(workers_restart_due, svc);
	core_timer_in(w->restart, (double)delay);
	log_warnx("event=worker-restart service=%s status=%s delay=%ld "
	    "restarts=%llu", svc->name, status, delay,
	    (unsigned long long)w->restarts);
}

/*
 * A worker of svc ended with status after ran seconds, while svc may
 * serve; asked: it was told to (kill, set-concurrency, a reload).  One
 * told to stop is replaced at once if svc wants as many; on demand, one
 * that exits 0 is not, and the last hands the sockets back to the watch;
 * any other waits out the back-off.
 */
void
workers_ended(struct service *svc, const char *status, double ran,
    bool asked)
{
	if (asked || (!svc->start_now && strcmp(status, "exit:0") == 0)) {
		workers_update(svc, true);
		return;
	}
	workers_crashed(svc, status, ran);
}

/*
 * A reload kept svc's name (old its settings before): its back-off and
 * restart counts go on; a crash loop's stop holds while the section is
 * as it was.  If svc no longer gives its sockets to workers, they stop.
 */
void
workers_carry(struct service *old, struct service *svc)
{
	struct workers_state	*w = &old->run.workers;

	if (w->watching)
		listen_watch(old, NULL);
	w->watching = false;
	workers_free(old);
	if (!svc->accept_handler) {
		workers_stop(svc, 0);
		return;
	}
	svc->run.workers.restarts = w->restarts;
	svc->run.workers.step = w->step;
	svc->run.workers.window_at = w->window_at;
	svc->run.workers.window_n = w->window_n;
	svc->run.workers.demanded = w->demanded;
	if (old->checksum == svc->checksum)
		svc->run.workers.gave_up = w->gave_up;
	if (svc->idle_exit > 0) {	/* its workers may live on */
		svc->run.workers.idle = core_timer(workers_idle_look, svc);
		core_timer_in(svc->run.workers.idle, 1.0);
	}
}

/* Free svc's timers, as its settings are freed. */
void
workers_free(struct service *svc)
{
	if (svc->run.workers.restart != NULL)
		event_free(svc->run.workers.restart);
	svc->run.workers.restart = NULL;
	if (svc->run.workers.idle != NULL)
		event_free(svc->run.workers.idle);
	svc->run.workers.idle = NULL;
}
