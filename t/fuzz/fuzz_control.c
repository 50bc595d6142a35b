/*
 * libFuzzer target: the control request parser, with arbitrary bytes as
 * one request line (NULs, invalid UTF-8, huge numbers, many words), as
 * ctl_read() hands a line to command_parse() and command_answer().  Every
 * input ends either in a command found with its argument count checked,
 * or in an error that is one printable line.  The commands that change
 * nothing are then answered for real, against a config loaded once, and
 * each reply must be framed as the protocol says.
 *
 * The input, three times over, is also a stream of requests for
 * control_lines(), which cuts a client's input into lines: fed in chunks
 * of any size, it must hand over the same lines and the same too-long
 * verdicts as when fed all at once.
 */
#include "config.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "portier.h"

#define FUZZ_LINE_MAX	4096	/* the longest request, as portierctl(8) says */
#define FUZZ_COPIES	3	/* the stream is the input this many times */

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The config the commands answer about: each kind of service. */
static const char fuzz_conf[] =
    "control_socket = \"\"\n"
    "service echo {\n"
    "    listen = { \"127.0.0.1:0\" }\n"
    "    builtin = \"echo\"\n"
    "    allow = { \"127.0.0.0/8\", \"::1/128\" }\n"
    "}\n"
    "service rot13 {\n"
    "    listen = { \"127.0.0.1:0\", \"[::1]:0\" }\n"
    "    builtin = \"rot13\"\n"
    "    max_connections = 0\n"
    "}\n"
    "service hello {\n"
    "    listen = { \"127.0.0.1:0\" }\n"
    "    exec = { \"/bin/sh\", \"-c\", \"echo hello\" }\n"
    "    allow_root = true\n"	/* nothing is run; it may be root */
    "    max_per_source = 2\n"
    "    deny = { \"10.0.0.0/8\" }\n"
    "}\n";

/*
 * Commands that can be answered here: those that change nothing, and
 * kill, which with no connection alive only parses its number.
 */
static const char *const fuzz_answered[] = {
	"status", "services", "connections", "metrics", "version", "help",
	"kill", NULL
};

/* Abort with a reason: libFuzzer keeps the input that did it. */
static void __attribute__((noreturn))
fuzz_fail(const char *why, const char *text)
{
	fprintf(stderr, "fuzz_control: %s: \"%s\"\n", why, text);
	abort();
}

/* Load the config once and make it the running one. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct config	*conf;
	char		 path[64], err[1024];
	int		 fd;

	snprintf(path, sizeof path, "/tmp/fuzz-control.%ld.conf",
	    (long)getpid());
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, fuzz_conf, sizeof fuzz_conf - 1) !=
	    (ssize_t)(sizeof fuzz_conf - 1))
		abort();
	close(fd);
	conf = config_load(path, err, sizeof err);
	unlink(path);
	if (conf == NULL)
		fuzz_fail("the harness's config", err);
	core_set_config(conf);
	return 0;
}

/* Whether s is one line of printable ASCII, spaces allowed or not. */
static int
fuzz_printable(const char *s, int space)
{
	for (; *s != '\0'; s++) {
		if (*s < (space ? 0x20 : 0x21) || *s > 0x7e)
			return 0;
	}
	return 1;
}

/* A found command: its words are printable and its arguments counted. */
static void
fuzz_check_found(const struct command *cmd, const struct command_words *w,
    const char *line, size_t len)
{
	const char	*name;
	int		 i, min, max;

	name = command_name(cmd, &min, &max);
	if (w->err[0] != '\0')
		fuzz_fail("a command and an error", w->err);
	if (w->argc < 1 || w->argc > COMMAND_WORDS_MAX)
		fuzz_fail("word count out of range", name);
	if (w->argc - 1 < min || w->argc - 1 > max)
		fuzz_fail("argument count not checked", name);
	if (strncmp(name, w->argv[0], strlen(w->argv[0])) != 0)
		fuzz_fail("command is not its word or a prefix", w->argv[0]);
	for (i = 0; i < w->argc; i++) {
		if (w->argv[i] < line || w->argv[i] >= line + len)
			fuzz_fail("word outside the line", name);
		if (w->argv[i][0] == '\0' || !fuzz_printable(w->argv[i], 0))
			fuzz_fail("empty or unprintable word", w->argv[i]);
	}
}

/* A reply: "ok" or "error REASON", lines, then one empty line, last. */
static void
fuzz_check_reply(struct evbuffer *reply, const struct command_words *w,
    const struct command *cmd)
{
	size_t		 n = evbuffer_get_length(reply);
	const char	*s = (const char *)evbuffer_pullup(reply, -1);
	const char	*eol;

	if (n < 4 || s == NULL || memchr(s, '\0', n) != NULL)
		fuzz_fail("reply empty or with a NUL", "");
	if (s[n - 1] != '\n' || s[n - 2] != '\n')
		fuzz_fail("reply does not end in an empty line", "");
	eol = memchr(s, '\n', n);
	if (memmem(s, n, "\n\n", 2) != s + n - 2)
		fuzz_fail("an empty line before the reply's end", "");
	if (cmd == NULL) {
		/* Refused by the parser: exactly its error. */
		if (strncmp(s, "error ", 6) != 0 ||
		    (size_t)(eol - s) != 6 + strlen(w->err) ||
		    strncmp(s + 6, w->err, strlen(w->err)) != 0)
			fuzz_fail("reply is not the parser's error", w->err);
		return;
	}
	if (strncmp(s, "error ", 6) == 0) {
		if (eol + 2 != s + n)
			fuzz_fail("an error reply with data lines", "");
		return;
	}
	if (strncmp(s, "ok\n", 3) != 0)
		fuzz_fail("reply is neither ok nor error", "");
	/* JSON: one object on one line. */
	if (w->json && (s[3] != '{' || s[n - 3] != '}' ||
	    memchr(s + 3, '\n', n - 3) != s + n - 2))
		fuzz_fail("JSON reply is not one object on one line", "");
}

/* Whether the parsed command is one to answer here. */
static int
fuzz_answerable(const struct command *cmd)
{
	const char	*name;
	int		 i, min, max;

	name = command_name(cmd, &min, &max);
	for (i = 0; fuzz_answered[i] != NULL; i++) {
		if (strcmp(fuzz_answered[i], name) == 0)
			return 1;
	}
	return 0;
}

/* Record a line control_lines() handed over, or its too-long verdict. */
static bool
fuzz_record(char *line, size_t len, void *arg)
{
	struct evbuffer	*rec = arg;

	if (line == NULL) {
		evbuffer_add_printf(rec, "too long\n");
		return true;
	}
	if (len > FUZZ_LINE_MAX || line[len] != '\0' ||
	    memchr(line, '\n', len) != NULL)
		fuzz_fail("a line handed over unframed", "");
	evbuffer_add_printf(rec, "%zu:", len);
	evbuffer_add(rec, line, len);
	return true;
}

/*
 * Feed the stream to control_lines() in chunks of 1 to mod bytes, sizes
 * taken from the stream itself, or all at once if mod is 0; record what
 * it hands over and what it leaves.
 */
static void
fuzz_stream(const uint8_t *s, size_t len, size_t mod, struct evbuffer *rec)
{
	struct evbuffer	*in;
	bool		 closed = false;
	size_t		 off = 0, n, i = 0;

	if ((in = evbuffer_new()) == NULL)
		abort();
	/* Once closed, the daemon reads no more, and neither does this. */
	while (off < len && !closed) {
		n = mod == 0 ? len - off : 1 + s[i++ % len] % mod;
		if (n > len - off)
			n = len - off;
		if (evbuffer_add(in, s + off, n) == -1)
			abort();
		off += n;
		control_lines(in, &closed, fuzz_record, rec);
	}
	if (evbuffer_get_length(in) > FUZZ_LINE_MAX)
		fuzz_fail("more than a request's worth left unanswered", "");
	evbuffer_add_printf(rec, "left %zu, closed %d\n",
	    evbuffer_get_length(in), closed);
	evbuffer_free(in);
}

/* The stream gives the same record whatever the chunks. */
static void
fuzz_check_stream(const uint8_t *data, size_t len)
{
	static const size_t	 mods[] = { 0, 7, 509 };
	struct evbuffer		*rec[3];
	uint8_t			*s;
	size_t			 i, n;

	if (len == 0)
		return;
	if ((s = malloc(len * FUZZ_COPIES)) == NULL)
		abort();
	for (i = 0; i < FUZZ_COPIES; i++)
		memcpy(s + i * len, data, len);
	for (i = 0; i < 3; i++) {
		if ((rec[i] = evbuffer_new()) == NULL)
			abort();
		fuzz_stream(s, len * FUZZ_COPIES, mods[i], rec[i]);
	}
	n = evbuffer_get_length(rec[0]);
	for (i = 1; i < 3; i++) {
		if (evbuffer_get_length(rec[i]) != n || memcmp(evbuffer_pullup(
		    rec[0], -1), evbuffer_pullup(rec[i], -1), n) != 0)
			fuzz_fail("the lines depend on the chunks", "");
	}
	for (i = 0; i < 3; i++)
		evbuffer_free(rec[i]);
	free(s);
}

/* One input: a request line, parsed, checked, and answered if it may be. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const struct command	*cmd;
	struct command_words	 w;
	struct evbuffer		*reply;
	char			*line, *again;

	/* As ctl_read() hands it over: the bytes, then a NUL. */
	if ((line = malloc(len + 1)) == NULL ||
	    (again = malloc(len + 1)) == NULL)
		abort();
	memcpy(line, data, len);
	line[len] = '\0';
	memcpy(again, line, len + 1);

	if ((cmd = command_parse(line, len, &w)) != NULL)
		fuzz_check_found(cmd, &w, line, len);
	else if (w.err[0] == '\0' || !fuzz_printable(w.err, 1))
		fuzz_fail("refused without a printable reason", w.err);

	if (cmd == NULL || fuzz_answerable(cmd)) {
		if ((reply = evbuffer_new()) == NULL)
			abort();
		if (command_answer(again, len, getuid(), reply) != 0)
			fuzz_fail("a shutdown asked for", w.err);
		fuzz_check_reply(reply, &w, cmd);
		evbuffer_free(reply);
	}
	free(line);
	free(again);
	fuzz_check_stream(data, len);
	return 0;
}
