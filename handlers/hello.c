/*
 * hello: the smallest portier handler in C.  It greets the client by its
 * address, taken from the environment portierd sets, and exits.
 */
#include <stdio.h>
#include <stdlib.h>

int
main(void)
{
	const char	*ip = getenv("TCPREMOTEIP");

	printf("hello %s from portier\n", ip != NULL ? ip : "stranger");
	return fflush(stdout) == 0 ? 0 : 1;
}
