/*
 * Just enough HTTP/1.x (RFC 9112) for the metrics built-in: read one
 * request's head, say which answer it gets, and write that answer, with
 * the connection closed after it.
 *
 * http_request reads the head from a buffer as it grows: until it ends
 * (an empty line) the answer is "not yet", and a head of more than
 * HTTP_HEAD_MAX bytes is 431 without waiting for its end.  A request line
 * that is not a GET or HEAD of the path in HTTP/1.x, or a bad header
 * line, is answered as soon as it is read.  The request
 * line must be METHOD SP TARGET SP HTTP/1.x; lines may end in CRLF or a
 * bare LF, and empty lines before it are skipped, as RFC 9112 lets a
 * server do.  GET and HEAD of the one path are 200, another path 404,
 * another method 405, another version of HTTP 505, and anything
 * malformed 400: a control character or a blank where none may be, a
 * header line with no colon or continuing the one before, an HTTP/1.1
 * request without exactly one Host.  A body is never read: the
 * connection closes after the answer, and the built-in's graceful close
 * drains what the client sends meanwhile.
 *
 * Nothing here keeps state or touches a socket; the fuzz target calls it
 * with any bytes.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "portier.h"

/* The reason phrases of the answers http_request gives. */
static const struct {
	int		 status;
	const char	*reason;
	const char	*tag;		/* how a connection's end says it */
} http_reasons[] = {
	{ 200, "OK", "http:200" },
	{ 400, "Bad Request", "http:400" },
	{ 404, "Not Found", "http:404" },
	{ 405, "Method Not Allowed", "http:405" },
	{ 431, "Request Header Fields Too Large", "http:431" },
	{ 505, "HTTP Version Not Supported", "http:505" },
};

/* A token's characters (RFC 9110 tchar). */
static bool
http_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') ||
	    (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Whether [p, p + len) is a token. */
static bool
http_token(const char *p, size_t len)
{
	size_t	i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (!http_tchar((unsigned char)p[i]))
			return false;
	}
	return true;
}

/*
 * The next line of [*p, end): its start and length without its end, *p
 * moved past it.  -1 if the line has not ended yet.
 */
static int
http_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char	*nl = memchr(*p, '\n', (size_t)(end - *p));

	if (nl == NULL)
		return -1;
	*line = *p;
	*len = (size_t)(nl - *p);
	if (*len > 0 && nl[-1] == '\r')
		(*len)--;
	*p = nl + 1;
	return 0;
}

/* The status of a request line: its method, target and version. */
static int
http_request_line(const char *line, size_t len, const char *path,
    struct http_request *r)
{
	const char	*sp1, *sp2, *target, *version, *end = line + len;
	size_t		 mlen, tlen, plen;

	if ((sp1 = memchr(line, ' ', len)) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1))) == NULL ||
	    memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1)) != NULL)
		return 400;
	mlen = (size_t)(sp1 - line);
	target = sp1 + 1;
	tlen = (size_t)(sp2 - target);
	version = sp2 + 1;
	if (!http_token(line, mlen) || tlen == 0)
		return 400;
	for (plen = 0; plen < tlen; plen++) {
		if ((unsigned char)target[plen] <= ' ' ||
		    (unsigned char)target[plen] == 0x7f)
			return 400;
	}
	if ((size_t)(end - version) != 8 || memcmp(version, "HTTP/", 5) != 0 ||
	    version[5] < '0' || version[5] > '9' || version[6] != '.' ||
	    version[7] < '0' || version[7] > '9')
		return 400;
	if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
		return 505;
	r->minor = version[7] - '0';
	r->head = mlen == 4 && memcmp(line, "HEAD", 4) == 0;
	if (!r->head && !(mlen == 3 && memcmp(line, "GET", 3) == 0))
		return 405;
	/* The absolute form names the host first: the path follows it. */
	if (tlen > 7 && strncasecmp(target, "http://", 7) == 0) {
		for (plen = 7; plen < tlen && target[plen] != '/'; plen++)
			continue;
		target += plen;
		tlen -= plen;
	}
	for (plen = 0; plen < tlen && target[plen] != '?'; plen++)
		continue;
	if (plen != strlen(path) || memcmp(target, path, plen) != 0)
		return 404;
	return 200;
}

/* Whether a header line is NAME ":" VALUE, and whether it is Host. */
static bool
http_header(const char *line, size_t len, bool *host)
{
	const char	*colon = memchr(line, ':', len);
	size_t		 i;

	if (colon == NULL || !http_token(line, (size_t)(colon - line)))
		return false;
	for (i = (size_t)(colon - line) + 1; i < len; i++) {
		if (((unsigned char)line[i] < ' ' && line[i] != '\t') ||
		    (unsigned char)line[i] == 0x7f)
			return false;
	}
	*host = colon - line == 4 && strncasecmp(line, "host", 4) == 0;
	return true;
}

/*
 * Read the request head at [buf, buf + len), for path: 0 while it has not
 * ended, else the status of the answer, in r too, with the method and
 * version for the answer.
 */
int
http_request(const char *buf, size_t len, const char *path,
    struct http_request *r)
{
	const char	*p = buf, *end = buf + len, *line;
	size_t		 llen, skipped = 0;
	int		 status = 0, hosts = 0;
	bool		 host;

	memset(r, 0, sizeof *r);
	r->minor = 1;
	for (;;) {
		if (http_line(&p, end, &line, &llen) == -1)
			goto partial;
		if (llen > 0)
			break;
		if (++skipped > HTTP_BLANKS_MAX)
			return r->status = 400;
	}
	if ((size_t)(p - buf) > HTTP_HEAD_MAX)
		return r->status = 431;
	/* A request line that decides the answer is answered at once. */
	if ((status = http_request_line(line, llen, path, r)) != 200)
		return r->status = status;
	for (;;) {
		if (http_line(&p, end, &line, &llen) == -1)
			goto partial;
		if ((size_t)(p - buf) > HTTP_HEAD_MAX)
			return r->status = 431;
		if (llen == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t' ||
		    !http_header(line, llen, &host))
			return r->status = 400;
		if (host)
			hosts++;
	}
	if (r->minor == 1 && hosts != 1)
		status = 400;
	return r->status = status;
partial:
	if (len > HTTP_HEAD_MAX)
		return r->status = 431;
	return 0;
}

/* The row of http_reasons of an answer's status; one of them always. */
static size_t
http_row(int status)
{
	size_t	i;

	for (i = 0; i < sizeof http_reasons / sizeof http_reasons[0]; i++) {
		if (http_reasons[i].status == status)
			return i;
	}
	return 1;	/* 400 */
}

/* An answer's status as a connection's end says it: "http:404". */
const char *
http_tag(int status)
{
	return http_reasons[http_row(status)].tag;
}

/*
 * Write the answer to r to out: its status line and head, then body
 * (moved out of it; NULL for an error, whose body is its reason) unless
 * the request was HEAD.  The connection closes after it.
 */
void
http_reply(struct evbuffer *out, const struct http_request *r,
    const char *type, struct evbuffer *body)
{
	const char	*reason = http_reasons[http_row(r->status)].reason;
	char		 text[64];
	size_t		 len;

	if (body == NULL) {
		type = "text/plain; charset=utf-8";
		len = (size_t)snprintf(text, sizeof text, "%d %s\n", r->status,
		    reason);
	} else
		len = evbuffer_get_length(body);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
	    r->status, reason, type, len,
	    r->status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (r->head)
		return;
	if (body != NULL)
		evbuffer_add_buffer(out, body);
	else
		evbuffer_add(out, text, len);
}
