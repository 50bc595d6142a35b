/*
 * Allocators that never return NULL: running out of memory is fatal, so
 * callers need no error path for it.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portier.h"

/* Allocate size bytes. */
void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		fatalx("event=fatal reason=\"xmalloc: zero size\"");
	if ((p = malloc(size)) == NULL)
		fatal("event=fatal reason=\"xmalloc: %zu bytes\"", size);
	return p;
}

/* Allocate a zeroed array of n elements. */
void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if (n == 0 || size == 0)
		fatalx("event=fatal reason=\"xcalloc: zero size\"");
	if ((p = calloc(n, size)) == NULL)
		fatal("event=fatal reason=\"xcalloc: %zu * %zu bytes\"", n, size);
	return p;
}

/* Resize an array to n elements, checking the multiplication. */
void *
xreallocarray(void *old, size_t n, size_t size)
{
	void	*p;

	if (n == 0 || size == 0)
		fatalx("event=fatal reason=\"xreallocarray: zero size\"");
	if (SIZE_MAX / n < size)
		fatalx("event=fatal reason=\"xreallocarray: overflow\"");
	if ((p = realloc(old, n * size)) == NULL)
		fatal("event=fatal reason=\"xreallocarray: %zu * %zu bytes\"",
		    n, size);
	return p;
}

/* Copy a string. */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("event=fatal reason=\"xstrdup\"");
	return p;
}

/* Format into a new string. */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("event=fatal reason=\"xasprintf\"");
	return n;
}
