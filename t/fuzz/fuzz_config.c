/*
 * libFuzzer target: a whole config file through portierd's loader, as
 * portierd -c would read it (libconfuse, then every check of ours), and
 * freed again.  The bytes go through a file because config_load checks
 * what it opens (a regular file of bounded size).  The host and service
 * names in its listen addresses never reach the network: the loader's
 * getaddrinfo is this file's (the link's --wrap), which resolves
 * "localhost" to 127.0.0.1 and knows no other name.
 */
#include "config.h"

#include <sys/socket.h>

#include <fcntl.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portier.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	__real_getaddrinfo(const char *, const char *, const struct addrinfo *,
	    struct addrinfo **);
int	__wrap_getaddrinfo(const char *, const char *, const struct addrinfo *,
	    struct addrinfo **);

/* getaddrinfo with numbers only, "localhost" being 127.0.0.1. */
int
__wrap_getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo	h = *hints;

	h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
	if (node != NULL && strcmp(node, "localhost") == 0)
		node = "127.0.0.1";
	return __real_getaddrinfo(node, service, &h, res);
}

static char	fuzz_path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct config	*conf;
	char		 err[1024];
	int		 fd;

	if (fuzz_path[0] == '\0')
		snprintf(fuzz_path, sizeof fuzz_path, "/tmp/fuzz-config.%ld",
		    (long)getpid());
	if ((fd = open(fuzz_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		abort();
	if (len > 0 && write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
	if ((conf = config_load(fuzz_path, err, sizeof err)) != NULL)
		config_free(conf);
	else if (err[0] == '\0')
		abort();	/* every refusal must say why */
	unlink(fuzz_path);
	return 0;
}
