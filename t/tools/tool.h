/*
 * What the benchmark's tools (pload, epollecho, spawnfloor) share: error
 * exits, the clock, and the descriptor set-up each does at start.
 */
#ifndef TOOL_H
#define TOOL_H

#include <stddef.h>

extern const char	*tool_name;	/* for messages; main sets it */

void	tool_fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
double	tool_now(void);
void	tool_rlimit(void);
void	tool_stdfds(void);
char	*tool_unescape(const char *, size_t *, const char **);
int	tool_listen(const char *, const char *, int, int,
	    void (*)(const char *));

#endif
