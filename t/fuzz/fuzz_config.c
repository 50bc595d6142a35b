/*
 * libFuzzer target: a whole config file through portierd's loader, as
 * portierd -c would read it (libconfuse, then every check of ours), and
 * freed again.  The bytes go through a file because config_load checks
 * what it opens (a regular file of bounded size).
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portier.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

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
