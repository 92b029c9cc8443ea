/* printf formatting for response bodies without the C library's stream
 * machinery, for the conversions handlers use most. */
#ifndef FH_CORE_FORMAT_H
#define FH_CORE_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

/* Formats fmt into dst (cap bytes, no NUL written) and returns the length,
 * the same bytes vsnprintf would produce. Handles the conversions %s, %c,
 * %d, %i, %u, %x, %X and %%, with the length modifiers l, ll and z and,
 * for %s, a precision (".N" or ".*"). Anything else — a flag, a width,
 * another conversion or modifier, a NULL string, a negative precision —
 * and output that may not fit in cap (an integer needs 21 bytes of room
 * left, whatever its length) return -1: ap may then have been partly
 * consumed and dst partly written, and the caller formats from its own
 * copy with vsnprintf. */
int fh__vformat(char *dst, size_t cap, const char *fmt, va_list ap);

#endif
