// SPDX-License-Identifier: Apache-2.0
// libbpf 1.7's static archive (Debian sid, built against glibc >= 2.38) references the C23 entry
// points of scanf/strtoull. glibc 2.36 has only the C99 ones, which behave the same for the
// formats libbpf uses (no %b, no 0b prefixes): forward to them.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int __isoc23_sscanf(const char *s, const char *fmt, ...)
{
	va_list ap;
	int r;
	va_start(ap, fmt);
	r = vsscanf(s, fmt, ap);
	va_end(ap);
	return r;
}

int __isoc23_fscanf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	int r;
	va_start(ap, fmt);
	r = vfscanf(f, fmt, ap);
	va_end(ap);
	return r;
}

unsigned long long __isoc23_strtoull(const char *s, char **end, int base)
{
	return strtoull(s, end, base);
}
