/*
 * libFuzzer target: the address parsers, with arbitrary text: a listen
 * address (HOST:PORT, [IPv6]:PORT, *:PORT, unix:PATH) and an allow/deny
 * network (ADDRESS[/PREFIX]).  Each either accepts or says why; what it
 * accepts must be well formed.
 */
#include "config.h"

#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portier.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct laddr	 la;
	struct cidr	 c;
	char		 err[1024], *text;

	if ((text = malloc(len + 1)) == NULL)
		abort();
	memcpy(text, data, len);
	text[len] = '\0';

	err[0] = '\0';
	if (listen_parse(text, "/fuzz", &la, err, sizeof err) == 0) {
		if (la.text == NULL || strcmp(la.text, text) != 0)
			abort();
		/* A host name is only parsed: the resolver gives its family. */
		if (la.path == NULL && la.ss.ss_family != AF_INET &&
		    la.ss.ss_family != AF_INET6 && !la.lookup)
			abort();
		free(la.text);
		free(la.path);
	} else if (err[0] == '\0')
		abort();

	err[0] = '\0';
	if (text_parse_cidr(text, &c, err, sizeof err) == 0) {
		if ((c.family != AF_INET || c.prefix < 0 || c.prefix > 32) &&
		    (c.family != AF_INET6 || c.prefix < 0 || c.prefix > 128))
			abort();
	} else if (err[0] == '\0')
		abort();
	free(text);
	return 0;
}
