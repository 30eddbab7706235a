/*
 * What a status GET's lookup of a cold task costs on this machine, for
 * the layouts figure 2 weighed: 100,000 tasks of 1 KiB at random places
 * of a 128 MiB shared mapping (a zone's slab), found by a hash through
 *
 *   0  chains from a bucket array of pointers (main before perf-lookup),
 *      the task's lines 0, 2 and 3 read;
 *   1  the same, the task's other lines prefetched once the bucket is read;
 *   2  an open-addressed table of (hash, pointer), lines prefetched: the
 *      only task read is the one whose hash matches;
 *   3  the bucket alone;
 *   4  the task alone, its address known;
 *   5  one line of a dense 8 MiB table (what a table holding the status
 *      itself would cost).
 *
 * Each lookup follows a system call (getppid), as a GET follows recv():
 * on this VM (PTI without PCID) the TLB is empty after every one.  The
 * variants take turns in one process (same memory), 12 times 20,000
 * lookups each; it prints, per variant, the median of the 12 means in
 * TSC cycles and their range.
 *
 *   coldlookup [TASKS]      (gcc -O2; x86-64)
 */

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <x86intrin.h>

#define NB     131072                 /* buckets, as in a 128m zone */
#define ZONE   (128u << 20)
#define NV     6
#define REPS   12
#define PER    20000

typedef struct task_s  task_t;

struct task_s {
    task_t         *next;
    uint64_t        hash;
    unsigned char   flags[8];
    unsigned char   run[64];
    unsigned char   rest[1024 - 88];
};

typedef struct {
    uint64_t        hash;
    task_t         *task;
} slot_t;

static uint64_t  rng = 88172645463325252ull;


static uint64_t
xr(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}


static int
cmp(const void *a, const void *b)
{
    uint64_t  x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}


int
main(int argc, char **argv)
{
    long               n, i, k, r, v, nslots;
    task_t            *t, **bucket;
    slot_t            *hb;
    uint32_t          *perm, tmp;
    uint64_t          *hashes, h, c0, sum;
    unsigned           aux;
    unsigned char     *zone, *slots;
    static uint64_t    mean[NV][REPS];
    volatile uint64_t  sink = 0;

    n = (argc > 1) ? atol(argv[1]) : 100000;

    zone = mmap(NULL, ZONE, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS,
                -1, 0);
    if (zone == MAP_FAILED || n <= 0 || n > NB / 5 * 4) {
        fprintf(stderr, "usage: coldlookup [TASKS up to %d]\n", NB / 5 * 4);
        return 2;
    }

    bucket = (task_t **) zone;                       /* 1 MiB */
    hb = (slot_t *) (zone + (1 << 20));              /* 2 MiB */
    slots = zone + (4 << 20);
    nslots = (ZONE - (4 << 20)) / 1024;

    perm = malloc(sizeof(uint32_t) * nslots);
    hashes = malloc(sizeof(uint64_t) * n);
    if (perm == NULL || hashes == NULL) {
        return 1;
    }

    memset(zone, 0, ZONE);

    for (k = 0; k < nslots; k++) {
        perm[k] = k;
    }

    for (k = nslots - 1; k > 0; k--) {
        i = xr() % (k + 1);
        tmp = perm[k]; perm[k] = perm[i]; perm[i] = tmp;
    }

    for (i = 0; i < n; i++) {
        t = (task_t *) (slots + (size_t) perm[i] * 1024);
        h = xr();
        hashes[i] = h;
        t->hash = h;
        memset(t->run, 'a' + i % 26, 36);
        t->next = bucket[h & (NB - 1)];
        bucket[h & (NB - 1)] = t;

        for (k = h & (NB - 1); hb[k].task; k = (k + 1) & (NB - 1)) {
            /* void */
        }

        hb[k].hash = h;
        hb[k].task = t;
    }

    for (r = 0; r < REPS; r++) {
        for (v = 0; v < NV; v++) {
            sum = 0;

            for (i = 0; i < PER; i++) {
                h = hashes[xr() % n];
                syscall(SYS_getppid);

                c0 = __rdtscp(&aux);
                _mm_lfence();

                switch (v) {

                case 0:
                    for (t = bucket[h & (NB - 1)]; t->hash != h; t = t->next) {
                        /* void */
                    }
                    sink += t->run[0] + t->rest[40] + t->rest[104];
                    break;

                case 1:
                    t = bucket[h & (NB - 1)];
                    __builtin_prefetch((char *) t + 128);
                    __builtin_prefetch((char *) t + 192);
                    for ( /* void */ ; t->hash != h; t = t->next) {
                        /* void */
                    }
                    sink += t->run[0] + t->rest[40] + t->rest[104];
                    break;

                case 2:
                    for (k = h & (NB - 1); hb[k].hash != h;
                         k = (k + 1) & (NB - 1))
                    {
                        /* void */
                    }
                    t = hb[k].task;
                    __builtin_prefetch((char *) t + 128);
                    __builtin_prefetch((char *) t + 192);
                    if (t->hash != h) {
                        abort();
                    }
                    sink += t->run[0] + t->rest[40] + t->rest[104];
                    break;

                case 3:
                    sink += (uint64_t) bucket[h & (NB - 1)];
                    break;

                case 4:
                    for (k = h & (NB - 1); hb[k].hash != h;
                         k = (k + 1) & (NB - 1))
                    {
                        /* void */
                    }
                    t = hb[k].task;
                    _mm_lfence();
                    c0 = __rdtscp(&aux);
                    _mm_lfence();
                    sink += t->hash + t->rest[40] + t->rest[104];
                    break;

                default:
                    sink += ((uint64_t *) slots)[(h & (NB - 1)) * 8];
                    break;
                }

                _mm_lfence();
                sum += __rdtscp(&aux) - c0;
            }

            mean[v][r] = sum / PER;
        }
    }

    for (v = 0; v < NV; v++) {
        qsort(mean[v], REPS, sizeof(uint64_t), cmp);
        printf("variant %ld: %lu cycles (%lu-%lu)\n", v,
               (unsigned long) mean[v][REPS / 2], (unsigned long) mean[v][0],
               (unsigned long) mean[v][REPS - 1]);
    }

    return (int) (sink & 0);
}
