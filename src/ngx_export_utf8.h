
/*
 * Strict UTF-8 (RFC 3629) for names, ids and reports that come from
 * outside: validation, the %XX rule for names and the \xNN rule for logs.
 * Free of nginx, unit tested in t/unit/test_utf8.c.
 */


#ifndef _NGX_EXPORT_UTF8_H_INCLUDED_
#define _NGX_EXPORT_UTF8_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* a validator that can be fed in pieces */
typedef struct {
    unsigned        need;       /* continuation bytes still to come */
    unsigned char   lo, hi;     /* bounds of the next continuation byte */
} exu_state_t;


/*
 * Feeds len bytes; returns len if they are valid so far, else the index
 * of the first byte that cannot be part of valid UTF-8 (a lead byte
 * C0, C1, F5..FF, a stray continuation byte, or the byte after a lead
 * byte that makes an overlong form, a surrogate or a code point past
 * U+10FFFF); *why is then set to a short reason.
 */
size_t exu_feed(exu_state_t *st, const unsigned char *p, size_t len,
    const char **why);

/* 1 if a sequence is cut short at the end of the input */
#define exu_pending(st)  ((st)->need != 0)

/* the offset of the first invalid byte, len if all of p is valid UTF-8 */
size_t exu_check(const unsigned char *p, size_t len, const char **why);

/*
 * The name rule: every byte that is not part of valid UTF-8, every
 * control byte (00..1F, 7F) and '%' itself is written as %XX (upper case
 * hex); all else is kept.  Two different names never give the same
 * result, and a valid name without '%' or control bytes is unchanged.
 * Returns the size of the result; dst NULL only measures.
 */
size_t exu_escape_name(unsigned char *dst, const unsigned char *src,
    size_t len);

/*
 * The log rule, as nginx escapes the request line: control bytes,
 * '\\', '"' and bytes that are not part of valid UTF-8 become \xNN.
 * Returns the size of the result; dst NULL only measures.
 */
size_t exu_escape_log(unsigned char *dst, const unsigned char *src,
    size_t len);

/*
 * Where to cut valid UTF-8 p of len bytes to keep at most max bytes: the
 * length of the longest prefix that ends between two characters and, if
 * name is set (p is the result of the name rule), not inside a %XX.
 */
size_t exu_cut(const unsigned char *p, size_t len, size_t max, int name);


#endif /* _NGX_EXPORT_UTF8_H_INCLUDED_ */
