/*
 * LD_PRELOAD shim that makes every precise clock read cost SLOW_CLOCK_NS more nanoseconds, to
 * see what a host whose clock source is not read in user space (a kvm-clock without a stable TSC,
 * an HPET: each read is a system call or a trap to the hypervisor) would do to a server. Coarse
 * clocks (CLOCK_*_COARSE) are left alone: the kernel serves them from memory on every host.
 * With SLOW_CLOCK_COUNT=path it also counts the precise reads and appends the count to that file
 * at exit (a server's stderr is often not kept).
 *
 *   gcc -O2 -shared -fPIC -o /tmp/slow_clock.so bench/slow_clock.c -ldl
 *   LD_PRELOAD=/tmp/slow_clock.so SLOW_CLOCK_NS=1000 clinicgate serve
 *
 * Written by hand: it is a test instrument of a few lines, not something a library provides.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static clock_gettime_fn real_clock_gettime;
static long extra_ns;
static atomic_long reads;

static const char *count_path;

static void report(void) {
    FILE *out = fopen(count_path, "a");
    if (out) {
        fprintf(out, "%ld\n", atomic_load(&reads));
        fclose(out);
    }
}

__attribute__((constructor)) static void init(void) {
    real_clock_gettime = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
    const char *ns = getenv("SLOW_CLOCK_NS");
    extra_ns = ns ? atol(ns) : 0;
    count_path = getenv("SLOW_CLOCK_COUNT");
    if (count_path) {
        atexit(report);
    }
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    if (clock == CLOCK_REALTIME_COARSE || clock == CLOCK_MONOTONIC_COARSE) {
        return real_clock_gettime(clock, ts);
    }
    atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
    if (extra_ns > 0) {
        struct timespec start, now;
        real_clock_gettime(CLOCK_MONOTONIC, &start);
        do {
            real_clock_gettime(CLOCK_MONOTONIC, &now);
        } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < extra_ns);
    }
    return real_clock_gettime(clock, ts);
}
