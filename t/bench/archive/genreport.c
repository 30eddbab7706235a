
/*
 * genreport: writes a health-check-like report for the archive benchmark.
 *
 *   genreport [-n] [-s seed] SIZE OUT
 *
 * SIZE is in bytes (suffix k, m or g for KiB, MiB, GiB).  The report is
 * pretty-printed JSON, a top-level object whose "checks" member holds one
 * object per check, or with -n NDJSON, one compact check object a line.
 * It ends as soon as it is at least SIZE bytes long (a row more at most).
 *
 * The values vary with a PRNG (fixed seed: the same report every run):
 * ids, names, addresses, numbers with and without fractions, statuses,
 * free text with commas, quotes, escapes and some non-ASCII, strings that
 * trip the formula guard, nested host objects, arrays of scalars and of
 * objects, nulls, and keys that only some rows have (so the header grows
 * late).
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static uint64_t  rng_state;


static uint64_t
rng(void)
{
    /* splitmix64 */
    uint64_t  z;

    z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


static unsigned
rnd(unsigned n)
{
    return (unsigned) (rng() % n);
}


#define PICK(a)  (a[rnd(sizeof(a) / sizeof(a[0]))])


static const char *checks[] = {
    "ESXi host NTP synchronization", "vCenter Server certificate expiry",
    "vSAN disk group health", "NSX Manager cluster status",
    "DNS forward and reverse lookup", "Password expiry of service accounts",
    "SDDC Manager backup status", "Host connection and power state",
    "vMotion network connectivity", "Datastore free capacity",
    "Edge node transport tunnels", "Syslog forwarding configuration",
    "License compliance", "Depot connectivity", "BGP peering state",
    "Compute resource reservation", "Firmware and driver compatibility",
};

static const char *categories[] = {
    "compute", "storage", "network", "security", "lifecycle", "services"
};

static const char *components[] = {
    "ESXI", "VCENTER", "NSX_MANAGER", "NSX_EDGE", "VSAN", "SDDC_MANAGER",
    "VRSLCM", "BACKUP"
};

static const char *statuses[] = {
    "GREEN", "GREEN", "GREEN", "GREEN", "GREEN", "YELLOW", "YELLOW", "RED",
    "GRAY"
};

static const char *sites[] = {
    "sfo-m01", "sfo-w01", "lax-w02", "ams-m01", "zrh-w01", "nrt-w03"
};

static const char *vendors[] = {
    "Dell Inc.", "HPE", "Lenovo", "Cisco Systems Inc", "Supermicro"
};

static const char *models[] = {
    "PowerEdge R750", "ProLiant DL380 Gen10 Plus", "ThinkSystem SR650 V2",
    "UCSC-C240-M6SX", "SYS-620U-TNR"
};

static const char *versions[] = {
    "8.0.3", "8.0.2", "8.0.1", "7.0.3", "8.0.3-24280767"
};

static const char *words[] = {
    "host", "offset", "exceeds", "threshold", "of", "the", "on", "cluster",
    "certificate", "expires", "in", "days", "disk", "group", "is",
    "degraded", "tunnel", "down", "between", "and", "service", "account",
    "password", "backup", "last", "succeeded", "failed", "latency",
    "packets", "dropped", "network", "partition", "detected", "resync",
    "objects", "capacity", "used", "free", "warning:", "see", "KB",
    "lookup", "returned", "NXDOMAIN", "for", "peer", "Established",
    "Idle", "retry", "after", "minutes", "(auto)", "value", "=", "node",
    "Zürich", "Köln", "São", "Paulo", "東京", "データストア", "naïve",
    "\\\"quoted\\\"", "a,b", "path\\\\to\\\\log", "tab\\there", "line\\nbreak"
};

static const char *tag_names[] = {
    "ntp", "time", "certs", "vsan", "nsx", "dns", "passwords", "backup",
    "hardware", "network", "capacity", "bgp", "compliance", "lcm"
};

static const char *evidence_sources[] = {
    "ntpq", "esxcli", "openssl", "rvc", "nsxcli", "dig", "api", "ssh"
};


static FILE      *out;
static int        ndjson;

/* a row is built here first, so that the report never exceeds SIZE */
static char      *rb;
static size_t     rb_len, rb_cap;


static void
putn(const char *s, size_t n)
{
    if (rb_len + n > rb_cap) {
        rb_cap = (rb_len + n) * 2;
        rb = realloc(rb, rb_cap);
        if (rb == NULL) {
            fprintf(stderr, "genreport: out of memory\n");
            exit(1);
        }
    }

    memcpy(rb + rb_len, s, n);
    rb_len += n;
}


static void
put(const char *s)
{
    putn(s, strlen(s));
}


static void
putf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
putf(const char *fmt, ...)
{
    int      n;
    char     tmp[256];
    va_list  args;

    va_start(args, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, args);
    va_end(args);

    putn(tmp, (size_t) n < sizeof(tmp) ? (size_t) n : sizeof(tmp) - 1);
}


/* pretty-printing state: indentation and the separator before a member */

static int  level;


static void
nl(void)
{
    int  i;

    if (ndjson) {
        return;
    }

    put("\n");

    for (i = 0; i < level; i++) {
        put("  ");
    }
}


static void
key(const char *k, int first)
{
    if (!first) {
        put(",");
    }

    nl();
    putf("\"%s\":%s", k, ndjson ? "" : " ");
}


static void
open_obj(void)
{
    put("{");
    level++;
}


static void
close_obj(void)
{
    level--;
    nl();
    put("}");
}


static void
text(unsigned nwords)
{
    unsigned  i;

    put("\"");

    for (i = 0; i < nwords; i++) {
        if (i) {
            put(" ");
        }

        if (rnd(6) == 0) {
            putf("%u", rnd(100000));

        } else {
            put(PICK(words));
        }
    }

    put("\"");
}


static void
uuid(void)
{
    uint64_t  a, b;

    a = rng();
    b = rng();

    putf("\"%08x-%04x-4%03x-%04x-%012llx\"", (unsigned) (a >> 32),
         (unsigned) (a >> 16) & 0xffff, (unsigned) a & 0xfff,
         (unsigned) (0x8000 | ((b >> 48) & 0x3fff)),
         (unsigned long long) (b & 0xffffffffffffULL));
}


static void
row(uint64_t n)
{
    unsigned     i, k, hostn, red;
    const char  *status, *site;

    status = PICK(statuses);
    red = (status[0] == 'R');
    site = PICK(sites);
    hostn = rnd(4096);

    open_obj();

    key("id", 1); uuid();
    key("sequence", 0); putf("%llu", (unsigned long long) n);
    key("checkName", 0); putf("\"%s\"", PICK(checks));
    key("category", 0); putf("\"%s\"", PICK(categories));
    key("component", 0); putf("\"%s\"", PICK(components));
    key("status", 0); putf("\"%s\"", status);
    key("severity", 0); putf("%u", 1 + rnd(5));
    key("passed", 0); put(status[0] == 'G' ? "true" : "false");
    key("startedAt", 0);
    putf("\"2025-%02u-%02uT%02u:%02u:%02u.%03uZ\"", 1 + rnd(12),
         1 + rnd(28), rnd(24), rnd(60), rnd(60), rnd(1000));
    key("durationMs", 0); putf("%u", rnd(120000));
    key("score", 0); putf("%u.%02u", rnd(101), rnd(100));

    key("host", 0);
    open_obj();
    key("name", 1); putf("\"esx-%04u.%s.rainpole.io\"", hostn, site);
    key("ip", 0);
    putf("\"10.%u.%u.%u\"", rnd(256), rnd(256), 1 + rnd(254));
    key("cluster", 0); putf("\"%s-cl%02u\"", site, 1 + rnd(8));
    key("version", 0); putf("\"%s\"", PICK(versions));
    key("build", 0); putf("%u", 20000000 + rnd(5000000));
    key("hardware", 0);
    open_obj();
    key("vendor", 1); putf("\"%s\"", PICK(vendors));
    key("model", 0); putf("\"%s\"", PICK(models));
    key("serial", 0); putf("\"%c%c%07u\"", 'A' + rnd(26), 'A' + rnd(26),
                           rnd(10000000));
    key("cpuCores", 0); putf("%u", 8u << rnd(5));
    key("memoryGb", 0); putf("%u", 64u << rnd(6));
    close_obj();
    if (rnd(10) == 0) {
        key("maintenanceMode", 0); put("true");
    }
    close_obj();

    key("metrics", 0);
    open_obj();
    key("cpuPct", 1); putf("%u.%u", rnd(100), rnd(10));
    key("memPct", 0); putf("%u.%02u", rnd(100), rnd(100));
    key("latencyMs", 0); putf("%u.%03u", rnd(50), rnd(1000));
    key("packetsDropped", 0); putf("%u", rnd(8) ? 0 : rnd(100000));
    key("offsetMs", 0); putf("%s%u", rnd(2) ? "-" : "", rnd(2000));
    key("ratio", 0); putf("%u.%ue-%u", 1 + rnd(9), rnd(1000), 1 + rnd(9));
    close_obj();

    key("tags", 0);
    put("[");
    k = 1 + rnd(4);
    for (i = 0; i < k; i++) {
        putf("%s\"%s\"", i ? (ndjson ? "," : ", ") : "", PICK(tag_names));
    }
    put("]");

    key("message", 0); text(4 + rnd(14));

    key("remediation", 0);
    if (status[0] == 'G') {
        put("null");

    } else if (rnd(5) == 0) {
        /* the formula guard prefixes these */
        putf("\"=HYPERLINK(\\\"https://kb.example.com/%u\\\")\"",
             rnd(100000));

    } else {
        text(8 + rnd(20));
    }

    key("evidence", 0);
    k = rnd(4);
    put("[");
    level++;
    for (i = 0; i < k; i++) {
        if (i) {
            put(",");
        }
        nl();
        open_obj();
        key("source", 1); putf("\"%s\"", PICK(evidence_sources));
        key("value", 0);
        if (rnd(3)) {
            putf("\"%s%u.%u\"", rnd(2) ? "-" : "+", rnd(1000), rnd(1000));
        } else {
            putf("%u", rnd(1000000));
        }
        key("collectedAt", 0); putf("%u", 1763900000u + rnd(100000));
        close_obj();
    }
    level--;
    if (k) {
        nl();
    }
    put("]");

    if (red) {
        key("error", 0);
        open_obj();
        key("code", 1); putf("\"VCF_HC_%04u\"", rnd(10000));
        key("detail", 0); text(6 + rnd(30));
        key("retryable", 0); put(rnd(2) ? "true" : "false");
        close_obj();
    }

    if (rnd(50) == 0) {
        key("owner", 0); put("null");
        key("ticket", 0); putf("\"-INC%07u\"", rnd(10000000));
    }

    close_obj();
}


/*
 * The limits report (-x): rows that take the converter's buffers as far
 * as max_cell and max_row allow while the CSV still succeeds.  A row has
 * K members, their cells (cell = 90% of max_cell bytes) making 90% of
 * max_row together, and their names 90% of max_row (the header limit);
 * each string value is written with \u escapes only (six bytes of JSON a
 * byte: the longest token the token guard passes), the last member is an
 * array cell of about cell bytes (the JSON generator's buffer).
 */

static void
limits_row(uint64_t n, size_t max_cell, size_t max_row)
{
    char    name[64];
    size_t  cell, k, nlen, i, j, part;

    cell = max_cell / 10 * 9;
    k = max_row / 10 * 9 / cell;

    if (k < 2) {
        k = 2;
    }

    if (k > 2048) {
        k = 2048;
    }

    nlen = max_row / 10 * 9 / k;

    if (nlen > cell) {
        nlen = cell;
    }

    put("{");

    for (i = 0; i < k; i++) {
        snprintf(name, sizeof(name), "%s\"c%zu_", i ? "," : "", i);
        put(name);

        for (j = strlen(name) - (i ? 2 : 1); j < nlen; j++) {
            putn("n", 1);
        }

        put("\":");

        if (i < k - 1) {
            put("\"");

            for (j = 0; j < cell; j++) {
                putf("\\u00%02x", 0x41 + (unsigned) ((j + n + i) % 26));
            }

            put("\"");
            continue;
        }

        /* the array cell: 16 strings, "...", about cell bytes */

        part = cell / 16 - 3;
        put("[");

        for (j = 0; j < 16; j++) {
            put(j ? ",\"" : "\"");

            for (i = 0; i < part; i++) {
                putn(&"abcdefghijklmnopqrstuvwxyz"[(i + j) % 26], 1);
            }

            put("\"");
        }

        put("]");
        break;
    }

    put("}");
}


static uint64_t
parse_size(const char *s)
{
    char      *end;
    uint64_t   n;

    n = strtoull(s, &end, 10);

    switch (*end) {
    case 'k': case 'K': n <<= 10; end++; break;
    case 'm': case 'M': n <<= 20; end++; break;
    case 'g': case 'G': n <<= 30; end++; break;
    default: break;
    }

    if (*end != '\0' || n == 0) {
        fprintf(stderr, "genreport: bad size \"%s\"\n", s);
        exit(2);
    }

    return n;
}


static void
flush_row(void)
{
    if (fwrite(rb, 1, rb_len, out) != rb_len) {
        perror("genreport: write");
        exit(1);
    }

    rb_len = 0;
}


int
main(int argc, char **argv)
{
    int           i;
    size_t        max_cell, max_row, keep;
    uint64_t      size, n, seed, written;
    static char   iobuf[1 << 20];

    seed = 1;
    max_cell = 0;
    max_row = 0;
    i = 1;

    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-n") == 0) {
            ndjson = 1;
            i++;

        } else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
            seed = strtoull(argv[i + 1], NULL, 10);
            i += 2;

        } else if (strcmp(argv[i], "-x") == 0 && i + 2 < argc) {
            max_cell = (size_t) parse_size(argv[i + 1]);
            max_row = (size_t) parse_size(argv[i + 2]);
            i += 3;

        } else {
            break;
        }
    }

    if (argc - i != 2) {
        fprintf(stderr, "usage: genreport [-n] [-s seed] SIZE OUT\n"
                        "       genreport -x MAX_CELL MAX_ROW ROWS OUT\n");
        return 2;
    }

    size = parse_size(argv[i]);
    rng_state = seed;

    out = fopen(argv[i + 1], "w");
    if (out == NULL) {
        perror(argv[i + 1]);
        return 1;
    }

    setvbuf(out, iobuf, _IOFBF, sizeof(iobuf));

    if (max_cell) {
        /* SIZE is the number of rows */
        put("[");

        for (n = 0; n < size; n++) {
            put(n ? ",\n" : "\n");
            limits_row(n, max_cell, max_row);
            flush_row();
        }

        put("\n]\n");
        flush_row();

        goto done;
    }

    if (!ndjson) {
        open_obj();
        key("runId", 1); uuid();
        key("taskType", 0); put("\"PRECHECK\"");
        key("generatedAt", 0); put("\"2025-11-23T18:52:00Z\"");
        key("summary", 0);
        open_obj();
        key("total", 1); put("null");
        key("note", 0); put("\"checks follow\"");
        close_obj();
        key("checks", 0);
        put("[");
        level++;
    }

    written = rb_len;
    flush_row();

    for (n = 0; ; n++) {
        if (ndjson) {
            row(n);
            put("\n");
            keep = 0;

        } else {
            if (n) {
                put(",");
            }

            nl();
            row(n);
            keep = 6;           /* "\n  ]\n}\n" */
        }

        if (written + rb_len + keep > size) {
            rb_len = 0;
            break;
        }

        written += rb_len;
        flush_row();
    }

    if (!ndjson) {
        level--;
        nl();
        put("]");
        close_obj();
        put("\n");
        flush_row();
    }

done:

    if (fclose(out) != 0) {
        perror(argv[i + 1]);
        return 1;
    }

    return 0;
}
