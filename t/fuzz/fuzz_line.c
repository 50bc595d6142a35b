/*
 * libFuzzer target: the built-ins' line filter (builtin_lines(), which
 * builtin_line_read() and builtin_eof() use), with "\n" or "\r\n" as the
 * terminator, any max_line, echo or rot13, and input fed in chunks whose
 * sizes come from the fuzz input, then EOF.  In any chunks, the output and
 * the too-long verdict must be those of the whole input in one chunk; and
 * that must be what portier.conf(5) promises: every byte served,
 * transformed, up to the first line longer than max_line, and no line
 * served that is longer.
 *
 * Input: flags (bit 0 CRLF, bit 1 rot13, bit 2 chunk sizes times 64),
 * max_line - 1 in two bytes (little-endian), a count N, N chunk sizes
 * (each 1 + the byte; cycled; none means 1 byte a chunk), then the data.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "portier.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* How the input is to be cut. */
struct fuzz_chunks {
	const uint8_t	*sizes;
	size_t		 nsizes;
	size_t		 scale;
};

/* Abort with a reason: libFuzzer keeps the input that did it. */
static void __attribute__((noreturn))
fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz_line: %s\n", why);
	abort();
}

/*
 * Feed data to the filter in chunks, as reads would, then EOF.  Returns
 * its verdict, the output in out, and what it left unserved in in.
 */
static int
fuzz_feed(const struct service *svc, const uint8_t *data, size_t len,
    const struct fuzz_chunks *ch, struct evbuffer *in, struct evbuffer *out)
{
	size_t	off = 0, n, i = 0;

	while (off < len) {
		n = ch == NULL ? len - off : ch->nsizes == 0 ? 1 :
		    ((size_t)ch->sizes[i++ % ch->nsizes] + 1) * ch->scale;
		if (n > len - off)
			n = len - off;
		if (evbuffer_add(in, data + off, n) == -1)
			abort();
		off += n;
		if (builtin_lines(NULL, svc, in, out, false) == -1)
			return -1;
	}
	return builtin_lines(NULL, svc, in, out, true);
}

/* Whether two buffers hold the same bytes. */
static int
fuzz_same(struct evbuffer *a, struct evbuffer *b)
{
	size_t	n = evbuffer_get_length(a);

	return n == evbuffer_get_length(b) && (n == 0 ||
	    memcmp(evbuffer_pullup(a, -1), evbuffer_pullup(b, -1), n) == 0);
}

/* Where the line at p ends: its terminator's offset, or -1 for none. */
static long
fuzz_eol(const uint8_t *p, size_t n, int crlf)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n' && !crlf)
			return (long)i;
		if (p[i] == '\r' && crlf && i + 1 < n && p[i + 1] == '\n')
			return (long)i;
	}
	return -1;
}

/*
 * Whether the unterminated rest, n bytes, is too long; a CR at its end
 * may be the start of a CRLF and does not count.
 */
static int
fuzz_rest_too_long(const uint8_t *p, size_t n, const struct service *svc,
    int crlf)
{
	return n > svc->max_line + (crlf && n > 0 && p[n - 1] == '\r');
}

/*
 * Check the one-chunk result against the promise: what was served is the
 * input, transformed, cut at a line boundary; each line served is at
 * most max_line; and on a too-long verdict, the next line is too long.
 */
static void
fuzz_check(const struct service *svc, const uint8_t *data, size_t len,
    int verdict, struct evbuffer *in, struct evbuffer *out)
{
	int		 crlf = svc->terminator[0] == '\r';
	size_t		 served = evbuffer_get_length(out), off = 0;
	uint8_t		*want;
	long		 eol;

	if (served + evbuffer_get_length(in) != len)
		fuzz_fail("bytes lost or made up");
	if ((want = malloc(len + 1)) == NULL)
		abort();
	memcpy(want, data, len);
	if (svc->builtin->transform != NULL)
		svc->builtin->transform((char *)want, len);
	if (served > 0 && memcmp(evbuffer_pullup(out, -1), want, served) != 0)
		fuzz_fail("output is not the input, transformed");
	if (evbuffer_get_length(in) > 0 && memcmp(evbuffer_pullup(in, -1),
	    data + served, len - served) != 0)
		fuzz_fail("what is left is not the rest of the input");
	free(want);
	if (verdict == 0 && served != len)
		fuzz_fail("not everything served, yet no verdict");
	/* Every line served, terminated or last, is at most max_line. */
	while (off < served) {
		eol = fuzz_eol(data + off, served - off, crlf);
		if (eol == -1) {
			if (fuzz_rest_too_long(data + off, served - off, svc,
			    crlf))
				fuzz_fail("a last line longer than max_line served");
			break;
		}
		if ((size_t)eol > svc->max_line)
			fuzz_fail("a line longer than max_line served");
		off += (size_t)eol + strlen(svc->terminator);
	}
	if (verdict == 0)
		return;
	if (off != served)
		fuzz_fail("too long, yet output ends inside a line");
	eol = fuzz_eol(data + served, len - served, crlf);
	if (eol == -1 ? !fuzz_rest_too_long(data + served, len - served,
	    svc, crlf) : (size_t)eol <= svc->max_line)
		fuzz_fail("too long, yet the next line is not");
}

/* One input: settings, chunk sizes and data, fed whole and in chunks. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct service		 svc;
	struct fuzz_chunks	 ch;
	struct evbuffer		*in1, *out1, *in2, *out2;
	int			 v1, v2;

	if (len < 4 || (size_t)data[3] > len - 4)
		return 0;
	memset(&svc, 0, sizeof svc);
	svc.filter = FILTER_LINE;
	svc.terminator = data[0] & 1 ? "\r\n" : "\n";
	svc.builtin = builtin_find(data[0] & 2 ? "rot13" : "echo");
	svc.max_line = 1 + ((size_t)data[1] | (size_t)data[2] << 8);
	ch.scale = data[0] & 4 ? 64 : 1;
	ch.nsizes = data[3];
	ch.sizes = data + 4;
	data += 4 + ch.nsizes;
	len -= 4 + ch.nsizes;

	if ((in1 = evbuffer_new()) == NULL || (out1 = evbuffer_new()) == NULL ||
	    (in2 = evbuffer_new()) == NULL || (out2 = evbuffer_new()) == NULL)
		abort();
	v1 = fuzz_feed(&svc, data, len, NULL, in1, out1);
	if (v1 != 0 && v1 != -1)
		fuzz_fail("a verdict that is neither 0 nor -1");
	fuzz_check(&svc, data, len, v1, in1, out1);
	v2 = fuzz_feed(&svc, data, len, &ch, in2, out2);
	if (v1 != v2)
		fuzz_fail("the too-long verdict depends on the chunks");
	if (!fuzz_same(out1, out2))
		fuzz_fail("the output depends on the chunks");
	evbuffer_free(in1);
	evbuffer_free(out1);
	evbuffer_free(in2);
	evbuffer_free(out2);
	return 0;
}
