/*
 * Admission: who may connect, how many from one place, and how fast.
 * Decided in one place, admit_check(), in this order: allow and deny,
 * room for a new source (max_sources), max_per_source, max_source_rate,
 * max_rate, and max_connections when on_limit is "refuse".  A refused
 * connection is logged with its reason, counted, sent busy_message if it
 * was refused for a limit, and closed; nothing is forked for it.
 *
 * A source is the peer's address cut to source_prefix4 or source_prefix6
 * bits, since one IPv6 host owns a whole /64.  Every limit heals by itself:
 * counts fall as connections end and tokens come back with time.
 *
 * Clients choose their addresses, so the sources of a service are a hash
 * table under SipHash-2-4 with a key drawn at start, which no client can
 * aim at one chain, and there are at most max_sources of them.
 *
 * Anyone who can connect can be refused, so refusals are logged at most
 * once a second per service and reason, with the ones held back counted.
 */
#include "config.h"

#include <sys/random.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "portier.h"

#define ADMIT_BUCKETS	1024	/* per service at first; doubled as it fills */
#define ADMIT_SWEEP_SECS 10	/* how often idle sources are freed */
#define ADMIT_FULL_GAP	1.0	/* seconds between sweeps of a full table */
#define ADMIT_REFUSE_GAP 1.0	/* seconds between lines of a reason */

#define ADMIT_ROTL(x, b)	(((x) << (b)) | ((x) >> (64 - (b))))

/* One source of a service: its live connections and its rate tokens. */
struct admit_source {
	int			 family;
	uint8_t			 addr[16];	/* cut to the prefix */
	long			 live;
	double			 tokens;
	double			 last;
	struct admit_source	*next;
};

/*
 * A service's admission state that a reload keeps (service_carry moves it
 * to the new settings): its sources, its max_rate bucket and the limits on
 * its refusal lines.
 */
struct admit_state {
	double			  rate_tokens;	/* max_rate bucket */
	double			  rate_last;
	struct admit_source	**buckets;	/* nbuckets chains, or NULL */
	size_t			  nbuckets;	/* a power of two */
	size_t			  count;	/* sources, up to max_sources */
	double			  full_swept;	/* core_now() of the last sweep
						   of the table when full */
	struct log_limit	  refuse_log[ADMIT_NREASONS];
};

static uint64_t	admit_key[2];	/* of the hash, drawn by admit_init() */

static const char *const admit_reason_names[] = {
	[ADMIT_OK] = "ok",
	[ADMIT_DENY] = "deny",
	[ADMIT_PER_SOURCE] = "max_per_source",
	[ADMIT_SOURCE_RATE] = "max_source_rate",
	[ADMIT_RATE] = "max_rate",
	[ADMIT_LIMIT] = "max_connections",
	[ADMIT_SOURCES_FULL] = "sources_full",
};

/* The name of a refusal reason, for logs and metrics. */
const char *
admit_reason_name(enum admit_reason r)
{
	return admit_reason_names[r];
}

/* The peer's address, with IPv4-mapped IPv6 taken as IPv4; 0 if none. */
static int
admit_peer(const struct sockaddr *sa, uint8_t addr[16])
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;

	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &sin->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memcpy(addr, &sin6->sin6_addr.s6_addr[12], 4);
		return AF_INET;
	}
	memcpy(addr, &sin6->sin6_addr, 16);
	return AF_INET6;
}

/* Whether the first prefix bits of a and b are equal. */
static bool
admit_prefix_eq(const uint8_t *a, const uint8_t *b, int prefix)
{
	int	bytes = prefix / 8, bits = prefix % 8;

	if (memcmp(a, b, (size_t)bytes) != 0)
		return false;
	return bits == 0 || ((a[bytes] ^ b[bytes]) &
	    (uint8_t)(0xff << (8 - bits))) == 0;
}

/* Whether an address is in any of a list of CIDRs. */
static bool
admit_in(const struct cidr *list, size_t n, int family, const uint8_t *addr)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (list[i].family == family &&
		    admit_prefix_eq(list[i].addr, addr, list[i].prefix))
			return true;
	}
	return false;
}

/* The service's admission state, made on first use. */
static struct admit_state *
admit_state(struct service *svc)
{
	if (svc->run.admission == NULL)
		svc->run.admission = xcalloc(1, sizeof *svc->run.admission);
	return svc->run.admission;
}

/* Eight bytes as a little-endian number. */
static uint64_t
admit_le64(const uint8_t *p)
{
	uint64_t	v = 0;
	int		i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* One SipRound, from Aumasson and Bernstein's SipHash paper. */
static void
admit_sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ADMIT_ROTL(v[1], 13) ^ v[0];
	v[0] = ADMIT_ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = ADMIT_ROTL(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = ADMIT_ROTL(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = ADMIT_ROTL(v[1], 17) ^ v[2];
	v[2] = ADMIT_ROTL(v[2], 32);
}

/* Take one word of the message into the state: two rounds, as in 2-4. */
static void
admit_sipword(uint64_t v[4], uint64_t m)
{
	v[3] ^= m;
	admit_sipround(v);
	admit_sipround(v);
	v[0] ^= m;
}

/*
 * SipHash-2-4 of len bytes under admit_key: without the key, nobody can
 * tell which addresses would share a chain.
 */
static uint64_t
admit_siphash(const uint8_t *p, size_t len)
{
	uint64_t	v[4], last = (uint64_t)len << 56;
	size_t		i;

	v[0] = admit_key[0] ^ 0x736f6d6570736575ULL;
	v[1] = admit_key[1] ^ 0x646f72616e646f6dULL;
	v[2] = admit_key[0] ^ 0x6c7967656e657261ULL;
	v[3] = admit_key[1] ^ 0x7465646279746573ULL;
	for (; len >= 8; p += 8, len -= 8)
		admit_sipword(v, admit_le64(p));
	for (i = 0; i < len; i++)
		last |= (uint64_t)p[i] << (8 * i);
	admit_sipword(v, last);
	v[2] ^= 0xff;
	for (i = 0; i < 4; i++)
		admit_sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* The chain where the source of a family and cut address belongs. */
static struct admit_source **
admit_chain(const struct admit_state *st, int family, const uint8_t *key)
{
	uint8_t	msg[17];

	memcpy(msg, key, 16);
	msg[16] = (uint8_t)family;
	return &st->buckets[admit_siphash(msg, sizeof msg) &
	    (st->nbuckets - 1)];
}

/* Double the chains once sources outnumber them, so that they stay short. */
static void
admit_grow(struct admit_state *st)
{
	struct admit_source	**old = st->buckets, **b, *s, *next;
	size_t			  i, n = st->nbuckets;

	st->nbuckets = n * 2;
	st->buckets = xcalloc(st->nbuckets, sizeof *st->buckets);
	for (i = 0; i < n; i++) {
		for (s = old[i]; s != NULL; s = next) {
			next = s->next;
			b = admit_chain(st, s->family, s->addr);
			s->next = *b;
			*b = s;
		}
	}
	free(old);
}

/* Top up a token bucket of rate tokens a second, holding at most rate. */
static void
admit_refill(double *tokens, double *last, long rate)
{
	double	now = core_now();

	*tokens += (now - *last) * (double)rate;
	if (*tokens > (double)rate)
		*tokens = (double)rate;
	*last = now;
}

/* Whether a source may be forgotten: nothing live, and its bucket full. */
static bool
admit_idle(const struct service *svc, struct admit_source *s)
{
	if (s->live > 0)
		return false;
	if (svc->max_source_rate < 0)
		return true;
	admit_refill(&s->tokens, &s->last, svc->max_source_rate);
	return s->tokens >= (double)svc->max_source_rate;
}

/* Free the idle sources of chain i; its length before, for the log. */
static size_t
admit_sweep_chain(const struct service *svc, struct admit_state *st,
    size_t i, size_t *freed)
{
	struct admit_source	**pp, *s;
	size_t			  len;

	pp = &st->buckets[i];
	for (len = 0; (s = *pp) != NULL; len++) {
		if (admit_idle(svc, s)) {
			*pp = s->next;
			free(s);
			(*freed)++;
		} else
			pp = &s->next;
	}
	return len;
}

/*
 * Free the idle sources of a service.  With -v, say how many, how many
 * are left and the longest chain walked, which the key keeps short.
 */
static void
admit_sweep(struct service *svc)
{
	struct admit_state	*st = svc->run.admission;
	size_t			 i, len, longest = 0, freed = 0;

	if (st == NULL || st->buckets == NULL)
		return;
	for (i = 0; i < st->nbuckets; i++) {
		len = admit_sweep_chain(svc, st, i, &freed);
		if (len > longest)
			longest = len;
	}
	st->count -= freed;
	if (freed > 0)
		log_debug("event=sweep service=%s freed=%zu sources=%zu/%ld "
		    "buckets=%zu chain_max=%zu", svc->name, freed, st->count,
		    svc->max_sources, st->nbuckets, longest);
}

/*
 * Whether the service has room for one more source.  A full table is
 * swept at once, but at most once a second: under a flood of new sources,
 * a sweep each would walk every source for every client.  Still full, the
 * client is refused: serving it untracked, or forgetting a source to make
 * room, would let whoever has more addresses than max_sources past
 * max_per_source and max_source_rate, and they would hold for nobody.
 */
static bool
admit_room(struct service *svc, struct admit_state *st)
{
	double	now;

	if (st->count < (size_t)svc->max_sources)
		return true;
	now = core_now();
	if (st->full_swept != 0 && now - st->full_swept < ADMIT_FULL_GAP)
		return false;
	st->full_swept = now;
	admit_sweep(svc);
	return st->count < (size_t)svc->max_sources;
}

/* An address cut to the service's source prefix for its family. */
static void
admit_cut(const struct service *svc, int family, const uint8_t *addr,
    uint8_t key[16])
{
	int	prefix = family == AF_INET ? svc->prefix4 : svc->prefix6;

	memset(key, 0, 16);
	memcpy(key, addr, (size_t)(prefix / 8));
	if (prefix % 8 != 0)
		key[prefix / 8] = addr[prefix / 8] &
		    (uint8_t)(0xff << (8 - prefix % 8));
}

/*
 * Find or make the entry of a source: the address cut to its prefix.  NULL
 * if it is new and the service has no room for it (admit_room).
 */
static struct admit_source *
admit_source(struct service *svc, int family, const uint8_t *addr)
{
	struct admit_state	*st = admit_state(svc);
	struct admit_source	*s, **b;
	uint8_t			 key[16];

	admit_cut(svc, family, addr, key);
	if (st->buckets == NULL) {
		st->nbuckets = ADMIT_BUCKETS;
		st->buckets = xcalloc(st->nbuckets, sizeof *st->buckets);
	}
	b = admit_chain(st, family, key);
	for (s = *b; s != NULL; s = s->next) {
		if (s->family == family && memcmp(s->addr, key, 16) == 0)
			return s;
	}
	if (!admit_room(svc, st))
		return NULL;
	s = xcalloc(1, sizeof *s);
	s->family = family;
	memcpy(s->addr, key, 16);
	s->tokens = (double)svc->max_source_rate;
	s->last = core_now();
	s->next = *b;
	*b = s;
	if (++st->count > st->nbuckets)
		admit_grow(st);
	return s;
}

/*
 * Queue mode's max_rate: how long until the service may accept again, 0
 * if it may now.  The listeners stay closed while the bucket is empty.
 */
double
admit_rate_wait(struct service *svc)
{
	struct admit_state	*st;

	if (svc->max_rate <= 0 || svc->refuse_on_limit)
		return 0;
	st = admit_state(svc);
	if (st->rate_tokens >= 1.0)
		return 0;
	admit_refill(&st->rate_tokens, &st->rate_last, svc->max_rate);
	if (st->rate_tokens >= 1.0)
		return 0;
	return (1.0 - st->rate_tokens) / (double)svc->max_rate;
}

/* Take one token of the service's max_rate; false if there is none. */
static bool
admit_rate_take(struct service *svc)
{
	struct admit_state	*st;

	if (svc->max_rate <= 0)
		return true;
	st = admit_state(svc);
	admit_refill(&st->rate_tokens, &st->rate_last, svc->max_rate);
	if (st->rate_tokens < 1.0)
		return false;
	st->rate_tokens -= 1.0;
	return true;
}

/*
 * The per-source checks: room for the source if it is new, its live
 * connections, then its new ones a second.
 */
static enum admit_reason
admit_check_source(struct service *svc, int family, const uint8_t *addr,
    struct admit_source **srcp)
{
	struct admit_source	*s;

	if (svc->max_per_source < 0 && svc->max_source_rate < 0)
		return ADMIT_OK;
	if ((s = admit_source(svc, family, addr)) == NULL)
		return ADMIT_SOURCES_FULL;
	if (svc->max_per_source >= 0 && s->live >= svc->max_per_source)
		return ADMIT_PER_SOURCE;
	if (svc->max_source_rate >= 0) {
		admit_refill(&s->tokens, &s->last, svc->max_source_rate);
		if (s->tokens < 1.0)
			return ADMIT_SOURCE_RATE;
	}
	*srcp = s;
	return ADMIT_OK;
}

/*
 * Decide whether svc serves a client from sa.  On ADMIT_OK, *srcp is the
 * source entry to hand back to admit_release() when the connection ends
 * (or NULL), and every count and token has been taken.
 */
enum admit_reason
admit_check(struct service *svc, const struct sockaddr *sa,
    struct admit_source **srcp)
{
	enum admit_reason	 r;
	uint8_t			 addr[16];
	int			 family = admit_peer(sa, addr);

	*srcp = NULL;
	if (family != 0) {
		if (admit_in(svc->deny, svc->ndeny, family, addr) ||
		    (svc->nallow > 0 &&
		    !admit_in(svc->allow, svc->nallow, family, addr)))
			return ADMIT_DENY;
		if ((r = admit_check_source(svc, family, addr, srcp)) !=
		    ADMIT_OK)
			return r;
	}
	if (svc->refuse_on_limit && svc->run.limit != -1 &&
	    svc->run.active >= svc->run.limit)
		return ADMIT_LIMIT;
	if (!admit_rate_take(svc))
		return ADMIT_RATE;
	if (*srcp != NULL) {
		(*srcp)->live++;
		if (svc->max_source_rate >= 0)
			(*srcp)->tokens -= 1.0;
	}
	return ADMIT_OK;
}

/* A connection admitted from src ended. */
void
admit_release(struct admit_source *src)
{
	if (src != NULL)
		src->live--;
}

/*
 * Log a refusal, unless one of the service for the same reason was logged
 * less than ADMIT_REFUSE_GAP ago: a line per refused client would let
 * anyone who can connect fill the log.  The next line of that reason
 * counts those held back, and the service's refusals count every one.
 */
void
admit_log_refusal(struct service *svc, const struct sockaddr *sa,
    enum admit_reason r)
{
	char	remote[ADDR_STRLEN], more[48];

	if (!log_limit(&admit_state(svc)->refuse_log[r], ADMIT_REFUSE_GAP,
	    more, sizeof more))
		return;
	log_info("event=refuse service=%s remote=%s reason=%s%s", svc->name,
	    sa->sa_family == AF_UNIX ? "unix" :
	    text_peer(sa, remote, sizeof remote), admit_reason_name(r),
	    more);
}

/* Free a service's admission state. */
void
admit_free(struct service *svc)
{
	struct admit_state	*st = svc->run.admission;
	struct admit_source	*s, *next;
	size_t			 i;

	if (st != NULL) {
		for (i = 0; st->buckets != NULL && i < st->nbuckets; i++) {
			for (s = st->buckets[i]; s != NULL; s = next) {
				next = s->next;
				free(s);
			}
		}
		free(st->buckets);
		free(st);
	}
	svc->run.admission = NULL;
}

static struct event	*admit_sweep_timer;

/* Every ADMIT_SWEEP_SECS: free idle sources of every service. */
static void
admit_sweep_all(evutil_socket_t fd, short what, void *arg)
{
	struct service	*svc;

	TAILQ_FOREACH(svc, &core_config()->services, entry)
		admit_sweep(svc);
}

/* Draw the key of every service's source table, once, from the kernel. */
static void
admit_key_init(void)
{
	uint8_t	b[16];
	ssize_t	n;

	while ((n = getrandom(b, sizeof b, 0)) == -1 && errno == EINTR)
		continue;
	if (n != (ssize_t)sizeof b)
		fatal("event=fatal reason=\"getrandom failed\"");
	admit_key[0] = admit_le64(b);
	admit_key[1] = admit_le64(b + 8);
}

/* Draw the hash key and start the periodic sweep. */
void
admit_init(void)
{
	struct timeval	tv = { ADMIT_SWEEP_SECS, 0 };

	admit_key_init();

	admit_sweep_timer = event_new(core_base(), -1, EV_PERSIST,
	    admit_sweep_all, NULL);
	if (admit_sweep_timer == NULL || evtimer_add(admit_sweep_timer, &tv))
		fatalx("event=fatal reason=\"cannot start the source sweep\"");
}

/* Stop the sweep and free every service's admission state. */
void
admit_fini(void)
{
	struct service	*svc;

	if (admit_sweep_timer != NULL)
		event_free(admit_sweep_timer);
	admit_sweep_timer = NULL;
	TAILQ_FOREACH(svc, &core_config()->services, entry)
		admit_free(svc);
}
