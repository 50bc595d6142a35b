/*
 * libFuzzer target: the metrics built-in's HTTP request reader
 * (http_request()), with any bytes as what a client sent, and its answer
 * (http_reply()).
 *
 * The built-in answers at the first read after which http_request says
 * something other than "not yet" (0), so that answer must be the one the
 * whole input gets: once a prefix of the input has a status, every longer
 * prefix has the same.  "Not yet" is only ever said of at most
 * HTTP_HEAD_MAX bytes, and every status is one of those it gives.  Each
 * answer has a status line of its status, a head ending in an empty line,
 * and a body of the length its Content-Length says, none for HEAD.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "portier.h"

#define FUZZ_PREFIXES	64	/* prefixes checked, besides the short ones */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Abort with a reason: libFuzzer keeps the input that did it. */
static void __attribute__((noreturn))
fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz_http: %s\n", why);
	abort();
}

/* The status of the first len bytes, checked to be one http.c gives. */
static int
fuzz_status(const uint8_t *data, size_t len)
{
	struct http_request	r;
	int			s;

	s = http_request((const char *)data, len, "/metrics", &r);
	if (s != r.status)
		fuzz_fail("returned and recorded statuses differ");
	if (s == 0 && len > HTTP_HEAD_MAX)
		fuzz_fail("not yet, after more than HTTP_HEAD_MAX bytes");
	if (s != 0 && s != 200 && s != 400 && s != 404 && s != 405 &&
	    s != 431 && s != 505)
		fuzz_fail("a status it never gives");
	return s;
}

/* Check the answer to the whole input against what it says it is. */
static void
fuzz_reply(const uint8_t *data, size_t len)
{
	struct http_request	 r;
	struct evbuffer		*out, *body;
	char			*text, *end, *cl;
	char			 want[32];
	size_t			 n, blen = 0;

	if (http_request((const char *)data, len, "/metrics", &r) == 0)
		return;
	if ((out = evbuffer_new()) == NULL || (body = evbuffer_new()) == NULL)
		abort();
	if (r.status == 200) {
		evbuffer_add(body, data, len);	/* any bytes will do */
		blen = len;
	}
	http_reply(out, &r, "text/plain", r.status == 200 ? body : NULL);
	n = evbuffer_get_length(out);
	text = (char *)evbuffer_pullup(out, -1);
	snprintf(want, sizeof want, "HTTP/1.1 %d ", r.status);
	if (n < strlen(want) || memcmp(text, want, strlen(want)) != 0)
		fuzz_fail("the status line is not the status's");
	if ((end = memmem(text, n, "\r\n\r\n", 4)) == NULL)
		fuzz_fail("the head does not end");
	if ((cl = memmem(text, (size_t)(end - text), "\r\nContent-Length: ",
	    18)) == NULL)
		fuzz_fail("no Content-Length");
	if (r.status != 200)
		blen = (size_t)snprintf(want, sizeof want, "%d ", r.status) +
		    strcspn(text + strlen("HTTP/1.1 NNN "), "\r") + 1;
	if ((size_t)strtoul(cl + 18, NULL, 10) != blen)
		fuzz_fail("Content-Length is not the body's length");
	if ((size_t)(text + n - (end + 4)) != (r.head ? 0 : blen))
		fuzz_fail("the body is not Content-Length long, or HEAD has "
		    "one");
	evbuffer_free(body);
	evbuffer_free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t	k, step;
	int	first = 0, s;

	/* Every short prefix, then prefixes spread over the rest. */
	step = size > 64 ? (size - 64) / FUZZ_PREFIXES + 1 : 1;
	for (k = 0; k <= size; k += k < 64 ? 1 : step) {
		s = fuzz_status(data, k);
		if (first != 0 && s != first)
			fuzz_fail("a longer prefix has another status");
		if (s != 0)
			first = s;
	}
	s = fuzz_status(data, size);
	if (first != 0 && s != first)
		fuzz_fail("the whole input has another status than a prefix");
	fuzz_reply(data, size);
	return 0;
}
