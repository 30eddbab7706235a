
/*
 * libFuzzer harness of the id parsers: exp_uuid_parse() and
 * exp_uuid_text(), exp_run_check() for each style's kind of run id,
 * exp_job_parse() (ArcGIS job ids, Uniware jobCode) and
 * exp_serial_parse() (WebAdMIT's :export_file_id).
 *
 * The first byte picks the kind of run id, the rest is the id.  Checked:
 * a UUID parses only in its 36-character form and its text form parses
 * back to the same bytes, matching the input but for case; a run id
 * accepted as it is has only the characters its kind allows; a job id
 * is a UUID or "j" and one; a file id is the decimal value of its
 * digits, each alone accepted only as the style says.
 */


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_export_parse.h"


static int
fz_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}


static void
fz_uuid(const uint8_t *p, size_t len)
{
    size_t         i;
    unsigned char  bin[16], bin2[16], text[EXP_UUID_LEN];

    if (exp_uuid_parse(bin, p, len) != 0) {
        return;
    }

    if (len != EXP_UUID_LEN) {
        abort();
    }

    if (exp_uuid_text(text, bin) != text + EXP_UUID_LEN) {
        abort();
    }

    for (i = 0; i < EXP_UUID_LEN; i++) {
        if (text[i] != fz_lower(p[i])) {
            abort();
        }
    }

    if (exp_uuid_parse(bin2, text, EXP_UUID_LEN) != 0
        || memcmp(bin, bin2, 16) != 0)
    {
        abort();
    }
}


static void
fz_run(const uint8_t *p, size_t len, exp_run_kind_e kind)
{
    int            rc;
    size_t         i;
    unsigned char  canon[EXP_UUID_LEN], bin[16], c;

    rc = exp_run_check(p, len, kind, canon);

    switch (rc) {

    case EXP_RUN_CANON:
        if (kind == EXP_RUN_NUMBER || len != EXP_UUID_LEN
            || exp_uuid_parse(bin, p, len) != 0)
        {
            abort();
        }

        for (i = 0; i < EXP_UUID_LEN; i++) {
            if (canon[i] != fz_lower(p[i])) {
                abort();
            }
        }

        break;

    case EXP_RUN_ASIS:
        if (kind == EXP_RUN_UUID || len == 0 || len > EXP_RUN_MAX) {
            abort();
        }

        for (i = 0; i < len; i++) {
            c = p[i];

            if (kind == EXP_RUN_NUMBER) {
                if (c < '0' || c > '9' || i >= 15 || (i == 0 && c == '0')) {
                    abort();
                }

            } else if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
                       && !(c >= '0' && c <= '9') && c != '-' && c != '_')
            {
                abort();
            }
        }

        /* as a number it is also a file id */
        if (kind == EXP_RUN_NUMBER && exp_serial_parse(p, len) < 0) {
            abort();
        }

        break;

    case EXP_RUN_BAD:
        /* a UUID in a style that takes one is never refused */
        if (kind != EXP_RUN_NUMBER && exp_uuid_parse(bin, p, len) == 0) {
            abort();
        }

        break;

    default:
        abort();
    }
}


static void
fz_job(const uint8_t *p, size_t len)
{
    unsigned char  bin[16], bin2[16];

    if (exp_job_parse(bin, p, len) != 0) {
        return;
    }

    if (len == EXP_UUID_LEN + 1) {
        if (p[0] != 'j' || exp_uuid_parse(bin2, p + 1, len - 1) != 0) {
            abort();
        }

    } else if (exp_uuid_parse(bin2, p, len) != 0) {
        abort();
    }

    if (memcmp(bin, bin2, 16) != 0) {
        abort();
    }
}


static void
fz_serial(const uint8_t *p, size_t len)
{
    size_t   i;
    int64_t  n, v;

    n = exp_serial_parse(p, len);

    if (n < 0) {
        return;
    }

    if (len == 0 || len > 15 || p[0] == '0') {
        abort();
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            abort();
        }

        v = v * 10 + (p[i] - '0');
    }

    if (v != n || n < 1 || n > 999999999999999LL) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }

    fz_uuid(data + 1, size - 1);
    fz_run(data + 1, size - 1, (exp_run_kind_e) (data[0] % 3));
    fz_job(data + 1, size - 1);
    fz_serial(data + 1, size - 1);

    return 0;
}
