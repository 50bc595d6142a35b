/*
 * libFuzzer target: the address parsers, with arbitrary text: a listen
 * address (HOST:PORT, [IPv6]:PORT, *:PORT, unix:PATH) and an allow/deny
 * network (ADDRESS[/PREFIX]).  Each either accepts or says why; what it
 * accepts must be well formed.  And the input's first four bytes, as an
 * IPv4 address and as one mapped in IPv6, must be written as inet_ntop(3)
 * writes them.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

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

	/* Any IPv4 address, plain or mapped, is written as inet_ntop does. */
	if (len >= 4) {
		struct sockaddr_in	 sin = { .sin_family = AF_INET };
		struct sockaddr_in6	 sin6 = { .sin6_family = AF_INET6 };
		char			 ip[INET6_ADDRSTRLEN], want[INET6_ADDRSTRLEN];
		unsigned int		 port;

		memcpy(&sin.sin_addr, data, 4);
		text_ip((struct sockaddr *)&sin, ip, sizeof ip, &port);
		if (inet_ntop(AF_INET, data, want, sizeof want) == NULL ||
		    strcmp(ip, want) != 0)
			abort();
		sin6.sin6_addr.s6_addr[10] = sin6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&sin6.sin6_addr.s6_addr[12], data, 4);
		text_ip((struct sockaddr *)&sin6, ip, sizeof ip, &port);
		if (strcmp(ip, want) != 0)
			abort();
	}
	free(text);
	return 0;
}
