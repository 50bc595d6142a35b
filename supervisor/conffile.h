/*
 * conffile.c's functions: the config file as portierd and portierctl both
 * read it.  portier.h includes this for the daemon's files; portierctl.c
 * includes it alone, so that it sees nothing else of the daemon's.
 */
#ifndef CONFFILE_H
#define CONFFILE_H

#include <stddef.h>

#define CONFIG_MAX_SIZE	(1024 * 1024)	/* larger config files are refused */

/* control_socket's default, for portierd and portierctl alike. */
#define CONFFILE_SOCKET	RUNDIR "/portier.sock"

/* conffile.c */
char	*conffile_read(const char *, char *, size_t);
char	*conffile_dir(const char *, char *, size_t);
char	*conffile_path(const char *, const char *);
int	 conffile_control_socket(const char *, char **, char *, size_t);

#endif /* CONFFILE_H */
