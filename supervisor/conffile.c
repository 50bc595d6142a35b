/*
 * The config file as portierd and portierctl both read it: its bytes,
 * read safely into memory; the directory its relative paths are taken
 * from; a path made absolute against a directory; and, for portierctl,
 * the one setting it needs, control_socket, so that both find the socket
 * by one rule.
 *
 * portierctl links this file and no other of the daemon's: it calls
 * nothing of the daemon's, and running out of memory is an error returned
 * (NULL), not fatal(), since portierctl has no log.  The daemon's callers
 * make it fatal.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <confuse.h>

#include "conffile.h"

/* State of portierctl's read, for libconfuse's error callback. */
static struct {
	const char	*path;
	char		*err;
	size_t		 errlen;
	bool		 failed;
} conffile_cur;

/*
 * The schema portierctl reads with: control_socket, as the daemon's, and
 * anything else taken and left unread, services' settings too.  The
 * daemon's own schema, with its checks, is config.c's.
 */
static cfg_opt_t conffile_service_opts[] = {
	CFG_STR_LIST("__unknown", NULL, CFGF_NONE),
	CFG_END()
};
static cfg_opt_t conffile_opts[] = {
	CFG_STR("control_socket", CONFFILE_SOCKET, CFGF_NONE),
	CFG_SEC("service", conffile_service_opts, CFGF_MULTI | CFGF_TITLE),
	CFG_STR_LIST("__unknown", NULL, CFGF_NONE),
	CFG_END()
};

static void	conffile_error(char *, size_t, const char *, const char *, ...)
		    __attribute__((format(printf, 4, 5)));
static void	conffile_errfunc(cfg_t *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

/* Write "PATH: message" into err. */
static void
conffile_error(char *err, size_t errlen, const char *path, const char *fmt,
    ...)
{
	va_list	ap;
	int	n;

	n = snprintf(err, errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/*
 * Open the file at path for reading, if it is a regular file of at most
 * CONFIG_MAX_SIZE bytes: libconfuse 3.3 calls exit() on a directory and
 * blocks on a FIFO, so it is opened without blocking and looked at before
 * it is read.  The descriptor, or -1 with "PATH: reason" in err.
 */
static int
conffile_open(const char *path, char *err, size_t errlen)
{
	struct stat	st;
	int		fd;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1 || fstat(fd, &st) == -1) {
		conffile_error(err, errlen, path, "%s", strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode))
		conffile_error(err, errlen, path, "not a regular file (%s)",
		    S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ?
		    "a FIFO" : "a device or socket");
	else if (st.st_size > CONFIG_MAX_SIZE)
		conffile_error(err, errlen, path, "too large (%lld bytes; at "
		    "most %d)", (long long)st.st_size, CONFIG_MAX_SIZE);
	else
		return fd;
	close(fd);
	return -1;
}

/*
 * Read the whole file at path, a regular file of at most CONFIG_MAX_SIZE
 * bytes with no NUL byte, into a NUL-terminated buffer, to be freed; NULL,
 * with "PATH: reason" in err, if it cannot be read or is not such a file.
 */
char *
conffile_read(const char *path, char *err, size_t errlen)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 n = 0;
	int	 fd;

	if ((fd = conffile_open(path, err, errlen)) == -1)
		return NULL;
	if ((buf = malloc(CONFIG_MAX_SIZE + 2)) == NULL) {
		conffile_error(err, errlen, path, "out of memory");
		close(fd);
		return NULL;
	}
	while (len <= CONFIG_MAX_SIZE) {
		n = read(fd, buf + len, CONFIG_MAX_SIZE + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (n == -1 || len > CONFIG_MAX_SIZE || memchr(buf, '\0', len)) {
		conffile_error(err, errlen, path, "%s", n == -1 ?
		    strerror(errno) : len > CONFIG_MAX_SIZE ? "grew past the "
		    "size limit while being read" : "contains a NUL byte");
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/*
 * The directory of the config file at path, with no link or dot in it
 * (realpath), to be freed: where its relative paths are taken from.  NULL,
 * with "PATH: reason" in err, if it cannot be found.
 */
char *
conffile_dir(const char *path, char *err, size_t errlen)
{
	char	*real, *dir;

	if ((real = realpath(path, NULL)) == NULL) {
		conffile_error(err, errlen, path, "%s", strerror(errno));
		return NULL;
	}
	if ((dir = strdup(dirname(real))) == NULL)
		conffile_error(err, errlen, path, "out of memory");
	free(real);
	return dir;
}

/*
 * Tidy a path in place: a doubled slash becomes one and a "." between
 * slashes goes, so "/etc/portier/./h.sh" reads "/etc/portier/h.sh", the
 * same file by any path.  ".." stays: "a/link/../h.sh" is not "a/h.sh"
 * when link is a symbolic link, so only the kernel resolves it.  A
 * trailing "/" or "/." stays too: "h.sh/." is not a file's path.
 */
static void
conffile_tidy(char *path)
{
	char	*r = path, *w = path;

	while (*r != '\0') {
		if (r[0] == '/' && r[1] == '/')
			r++;
		else if (r[0] == '/' && r[1] == '.' && r[2] == '/')
			r += 2;
		else
			*w++ = *r++;
	}
	*w = '\0';
}

/*
 * Make path absolute against dir, the config file's directory or the
 * current one, unless it is absolute already, and tidy it: the path
 * portierd runs, binds or shows.  Returns it, to be freed, or NULL if out
 * of memory.
 */
char *
conffile_path(const char *dir, const char *path)
{
	char	*abs;

	if (path[0] == '/')
		abs = strdup(path);
	else if (asprintf(&abs, "%s/%s", dir, path) == -1)
		abs = NULL;
	if (abs != NULL)
		conffile_tidy(abs);
	return abs;
}

/* Record libconfuse's first error as "PATH:LINE: message". */
static void
conffile_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	int	n;

	if (conffile_cur.failed)
		return;
	conffile_cur.failed = true;
	n = snprintf(conffile_cur.err, conffile_cur.errlen, "%s:%d: ",
	    conffile_cur.path, cfg != NULL ? cfg->line : 0);
	if (n > 0 && (size_t)n < conffile_cur.errlen)
		vsnprintf(conffile_cur.err + n, conffile_cur.errlen - (size_t)n,
		    fmt, ap);
}

/* Parse buf for control_socket; its value, to be freed, or NULL and err. */
static char *
conffile_parse_socket(const char *path, const char *buf, char *err,
    size_t errlen)
{
	cfg_t	*cfg;
	char	*value = NULL;

	memset(&conffile_cur, 0, sizeof conffile_cur);
	conffile_cur.path = path;
	conffile_cur.err = err;
	conffile_cur.errlen = errlen;
	if ((cfg = cfg_init(conffile_opts, CFGF_IGNORE_UNKNOWN)) == NULL) {
		conffile_error(err, errlen, path, "out of memory");
		return NULL;
	}
	cfg_set_error_function(cfg, conffile_errfunc);
	if (cfg_parse_buf(cfg, buf) != CFG_SUCCESS) {
		if (!conffile_cur.failed)
			conffile_error(err, errlen, path, "cannot be parsed");
	} else if ((value = strdup(cfg_getstr(cfg, "control_socket"))) ==
	    NULL)
		conffile_error(err, errlen, path, "out of memory");
	cfg_free(cfg);
	memset(&conffile_cur, 0, sizeof conffile_cur);
	return value;
}

/*
 * For portierctl: the control socket the config file at path names, made
 * absolute as portierd makes it (config.c's config_build), in *sockp, to
 * be freed.  Only control_socket is read, and the rest of the file only
 * parsed, not checked: portierd -t checks it.  -1, with "PATH: reason" or
 * "PATH:LINE: reason" in err, if the file cannot be read or parsed, or
 * names no socket (an empty control_socket).
 */
int
conffile_control_socket(const char *path, char **sockp, char *err,
    size_t errlen)
{
	char	*buf, *value = NULL, *dir = NULL;

	*sockp = NULL;
	if ((buf = conffile_read(path, err, errlen)) == NULL ||
	    (value = conffile_parse_socket(path, buf, err, errlen)) == NULL)
		goto done;
	if (*value == '\0') {
		conffile_error(err, errlen, path, "control_socket is empty: "
		    "portierd has no control socket");
		goto done;
	}
	if ((dir = conffile_dir(path, err, errlen)) != NULL &&
	    (*sockp = conffile_path(dir, value)) == NULL)
		conffile_error(err, errlen, path, "out of memory");
done:
	free(dir);
	free(value);
	free(buf);
	return *sockp != NULL ? 0 : -1;
}
