/*
 * genrows: writes an NDJSON report of about SIZE bytes, fast, with varied
 * rows shaped like a pre-check backend's (nested host object, numbers,
 * strings that need CSV quoting, arrays, nulls, non-ASCII text).
 *
 *   genrows FILE SIZE [SEED]
 *
 * Used by t/bench/http.sh to make large reports; the rows are varied so
 * that deflate and the CSV converter do real work, not a repeated line.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char *checks[] = {
    "dns-resolution", "ntp-sync", "disk-usage", "certificate-expiry",
    "service-health", "password-expiry", "backup-status",
    "storage-latency", "cluster-quorum"
};

static const char *severities[] = { "INFO", "WARNING", "CRITICAL" };

static const char *notes[] = {
    "ok", "ok", "ok",
    "latency above threshold, \\\"see KB\\\"",
    "Zürich – 東京 ✓",
    "=HYPERLINK(\\\"kb\\\")",
    "disk 91% full, cleanup advised"
};


static uint64_t  state;


static uint32_t
next(void)
{
    /* xorshift64*: fast and good enough for test data */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (uint32_t) ((state * 2685821657736338717ULL) >> 32);
}


int
main(int argc, char **argv)
{
    FILE          *f;
    char          *buf;
    uint32_t       r;
    unsigned long  i;
    long long      size, written;
    int            n;

    if (argc < 3) {
        fprintf(stderr, "usage: genrows FILE SIZE [SEED]\n");
        return 2;
    }

    size = atoll(argv[2]);
    state = (argc > 3) ? strtoull(argv[3], NULL, 10) | 1 : 88172645463325252ULL;

    f = fopen(argv[1], "w");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }

    buf = malloc(1 << 20);
    if (buf == NULL || setvbuf(f, buf, _IOFBF, 1 << 20) != 0) {
        perror("setvbuf");
        return 1;
    }

    written = 0;

    for (i = 0; written < size; i++) {
        r = next();

        n = fprintf(f,
            "{\"checkId\":\"%s-%07lu\",\"check\":\"%s\","
            "\"host\":{\"name\":\"esxi-%02u.lab.example\","
            "\"ip\":\"10.%u.%u.%u\",\"cluster\":\"cl-%u\"},"
            "\"status\":\"%s\",\"severity\":\"%s\",\"latencyMs\":%u.%03u,"
            "\"score\":%u,\"message\":\"%s\",\"remediation\":%s,"
            "\"tags\":[\"pre-check\",\"%.4s\",%u],"
            "\"checkedAt\":\"2026-11-%02uT%02u:%02u:%02uZ\"}\n",
            checks[i % 9], i, checks[i % 9],
            r % 64, (r >> 6) & 255, (r >> 14) & 255, next() & 255, r % 5,
            (r & 0x3f000) == 0 ? "FAILED" : "PASSED",
            severities[(r >> 20) % 3], next() % 2000, next() % 1000,
            next() % 101, notes[(r >> 24) % 7],
            (r & 0x3f000) == 0 ? "\"restart the service\"" : "null",
            checks[(r >> 8) % 9], r % 1000,
            1 + (r >> 3) % 28, (r >> 9) % 24, (r >> 13) % 60, next() % 60);

        if (n < 0) {
            perror(argv[1]);
            return 1;
        }

        written += n;
    }

    if (fclose(f) != 0) {
        perror(argv[1]);
        return 1;
    }

    printf("%lld bytes, %lu rows\n", written, i);

    return 0;
}
