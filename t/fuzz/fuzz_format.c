/*
 * libFuzzer target: text_vformat, log lines' formatter, against the C
 * library's snprintf.  For any format it is given (up to three
 * conversions of one argument type, with any flags, width, precision and
 * length, literal text around them) and any buffer size, what it writes
 * and what it returns must be snprintf's, byte for byte: the conversions
 * it does itself, and those it hands to vsnprintf.
 *
 * Input: the buffer size (a byte), the argument type (a byte), then for
 * each of up to three conversions a flag byte, a width byte and a
 * conversion byte, then literal text and the string argument.
 */
#include "config.h"

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portier.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The argument types, and the conversions that take each. */
static const struct {
	const char	*length;
	const char	*convs;
} fuzz_types[] = {
	{ "", "dic" }, { "", "uxoX" }, { "l", "di" }, { "l", "uxo" },
	{ "ll", "di" }, { "ll", "uxo" }, { "z", "di" }, { "z", "uxo" },
	{ "", "s" }, { "h", "dx" }, { "", "%" }
};
#define FUZZ_NTYPES	(sizeof fuzz_types / sizeof fuzz_types[0])

static const char *const fuzz_flags[] = {
	"", "", "0", "00", "-", "0-", " ", "+", "#", "'"
};
#define FUZZ_NFLAGS	(sizeof fuzz_flags / sizeof fuzz_flags[0])

/* Abort with a reason: libFuzzer keeps the input that did it. */
static void __attribute__((noreturn))
fuzz_fail(const char *fmt, size_t len, int a, int b, const char *x,
    const char *y)
{
	fprintf(stderr, "fuzz_format: \"%s\" in %zu bytes: returned %d, "
	    "snprintf %d; wrote \"%s\", snprintf \"%s\"\n", fmt, len, a, b, x,
	    y);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		 fmt[256], mine[128], libc[128], str[48];
	const uint8_t	*end = data + size;
	size_t		 len, f = 0, i, t;
	long long	 v = 0;
	int		 a, b, nconv;

	if (size < 5)
		return 0;
	fmt[0] = '\0';
	len = data[0] % (sizeof mine + 1);
	t = data[1] % FUZZ_NTYPES;
	nconv = 1 + data[1] / FUZZ_NTYPES % 3;
	data += 2;
	for (i = 0; i < 8 && data < end; i++)	/* the number, from 8 bytes */
		v = (long long)((unsigned long long)v << 8 | *data++);
	for (; nconv > 0 && end - data >= 3; nconv--, data += 3) {
		/* Literal text, then a conversion. */
		if (data[0] & 0x80 && f < 200)
			fmt[f++] = (char)(' ' + data[0] % 90) == '%' ? '_' :
			    (char)(' ' + data[0] % 90);
		f += (size_t)snprintf(fmt + f, sizeof fmt - f, "%%%s",
		    fuzz_flags[data[0] % FUZZ_NFLAGS]);
		if (data[1] % 4 != 0)
			f += (size_t)snprintf(fmt + f, sizeof fmt - f, "%u",
			    data[1] % 40);
		if (data[1] >= 240)
			f += (size_t)snprintf(fmt + f, sizeof fmt - f, ".%u",
			    data[1] % 8);
		f += (size_t)snprintf(fmt + f, sizeof fmt - f, "%s%c",
		    fuzz_types[t].length, fuzz_types[t].convs[data[2] %
		    strlen(fuzz_types[t].convs)]);
	}
	if (data < end && *data % 2)
		f += (size_t)snprintf(fmt + f, sizeof fmt - f, " tail");
	i = (size_t)(end - data) < sizeof str - 1 ? (size_t)(end - data) :
	    sizeof str - 1;
	memcpy(str, data, i);
	str[i] = '\0';

	memset(mine, 'M', sizeof mine);
	memset(libc, 'M', sizeof libc);
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-security"
#define FUZZ_BOTH(arg)	do {						\
	a = text_format(mine, len, fmt, arg, arg, arg);			\
	b = snprintf(libc, len, fmt, arg, arg, arg);			\
} while (0)
	switch (t) {
	case 0:	FUZZ_BOTH((int)v); break;
	case 1:	FUZZ_BOTH((unsigned)v); break;
	case 2:	FUZZ_BOTH((long)v); break;
	case 3:	FUZZ_BOTH((unsigned long)v); break;
	case 4:	FUZZ_BOTH(v); break;
	case 5:	FUZZ_BOTH((unsigned long long)v); break;
	case 6:	FUZZ_BOTH((ssize_t)v); break;
	case 7:	FUZZ_BOTH((size_t)v); break;
	case 8:	FUZZ_BOTH(v % 5 == 0 ? NULL : str); break;
	default: FUZZ_BOTH((int)v); break;
	}
	if (a != b || memcmp(mine, libc, sizeof mine) != 0)
		fuzz_fail(fmt, len, a, b, len > 0 ? mine : "",
		    len > 0 ? libc : "");
	return 0;
}
