/*
 * selftest.c — checks the fake libnvidia-ml.so.1 the way the exporter uses it:
 * dlopen() by soname (or by the path in argv[1]), dlsym() every entry point,
 * and call through pointers typed like NVML's prototypes.
 *
 * Exits 0 when every check passes, 1 otherwise. Run via `build.sh OUT --selftest`.
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The ABI as a caller sees it; deliberately declared independently of the
 * library so a width or value mismatch shows up as a failure here. */
typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;

enum {
    SUCCESS = 0,
    UNINITIALIZED = 1,
    INVALID_ARGUMENT = 2,
    NOT_SUPPORTED = 3,
    NO_PERMISSION = 4,
    NOT_FOUND = 6,
    INSUFFICIENT_SIZE = 7,
    DRIVER_NOT_LOADED = 9,
    GPU_IS_LOST = 15,
    LIB_RM_VERSION_MISMATCH = 18,
    UNKNOWN = 999,
};

static nvmlReturn_t (*p_init_v2)(void);
static nvmlReturn_t (*p_init)(void);
static nvmlReturn_t (*p_shutdown)(void);
static const char *(*p_error_string)(nvmlReturn_t);
static nvmlReturn_t (*p_count_v2)(unsigned int *);
static nvmlReturn_t (*p_count)(unsigned int *);
static nvmlReturn_t (*p_handle_v2)(unsigned int, nvmlDevice_t *);
static nvmlReturn_t (*p_handle)(unsigned int, nvmlDevice_t *);
static nvmlReturn_t (*p_uuid)(nvmlDevice_t, char *, unsigned int);
static nvmlReturn_t (*p_name)(nvmlDevice_t, char *, unsigned int);
static nvmlReturn_t (*p_energy)(nvmlDevice_t, unsigned long long *);
static nvmlReturn_t (*p_power)(nvmlDevice_t, unsigned int *);
static nvmlReturn_t (*p_index)(nvmlDevice_t, unsigned int *);
static nvmlReturn_t (*p_driver)(char *, unsigned int);

/* Per-process records as nvml.h lays them out (LP64): declared here on their
 * own, so the library's layout is checked against an independent copy. */
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
} proc_v1_t; /* nvmlProcessInfo_v1_t */
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} proc_v2_t; /* nvmlProcessInfo_v2_t == nvmlProcessInfo_t (what _v3 takes in nvml.h) */
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
    unsigned long long usedGpuCcProtectedMemory;
} proc_cc_t; /* nvmlProcessDetail_v1_t; what R535-era drivers wrote from _v3 */
typedef struct {
    unsigned int pid;
    unsigned long long timeStamp;
    unsigned int smUtil, memUtil, encUtil, decUtil;
} util_sample_t; /* nvmlProcessUtilizationSample_t */

static nvmlReturn_t (*p_procs_v3)(nvmlDevice_t, unsigned int *, proc_v2_t *);
static nvmlReturn_t (*p_procs_v2)(nvmlDevice_t, unsigned int *, proc_v2_t *);
static nvmlReturn_t (*p_procs_v1)(nvmlDevice_t, unsigned int *, proc_v1_t *);
static nvmlReturn_t (*p_util)(nvmlDevice_t, util_sample_t *, unsigned int *, unsigned long long);

static int checks, failures;
static char dir[256], script_path[300], tmp_path[300], log_path[300];

#define CHECK(cond)                                                                   \
    do {                                                                              \
        checks++;                                                                     \
        if (!(cond)) {                                                                \
            failures++;                                                               \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                             \
    } while (0)

#define CHECK_RC(expr, want)                                                          \
    do {                                                                              \
        int got_ = (expr);                                                            \
        checks++;                                                                     \
        if (got_ != (want)) {                                                         \
            failures++;                                                               \
            fprintf(stderr, "FAIL %s:%d: %s returned %d, want %d\n", __FILE__,        \
                    __LINE__, #expr, got_, (int)(want));                              \
        }                                                                             \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Replaces the script the way the tests do: write aside, then rename. */
static void write_script(const char *text)
{
    FILE *f = fopen(tmp_path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror("write_script");
        exit(1);
    }
    if (rename(tmp_path, script_path) != 0) {
        perror("rename");
        exit(1);
    }
}

static void *must_sym(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    checks++;
    if (p == NULL) {
        failures++;
        fprintf(stderr, "FAIL: symbol %s missing: %s\n", name, dlerror());
    }
    return p;
}

static nvmlDevice_t handle(unsigned int i)
{
    nvmlDevice_t d = NULL;
    CHECK_RC(p_handle_v2(i, &d), SUCCESS);
    CHECK(d != NULL);
    return d;
}

/* ---- individual behaviours ---- */

static void test_uninitialized(void)
{
    unsigned int u = 0;
    unsigned long long e = 0;
    nvmlDevice_t d = NULL;
    char buf[128];
    CHECK_RC(p_count_v2(&u), UNINITIALIZED);
    CHECK_RC(p_count(&u), UNINITIALIZED);
    CHECK_RC(p_handle_v2(0, &d), UNINITIALIZED);
    CHECK_RC(p_handle(0, &d), UNINITIALIZED);
    CHECK_RC(p_driver(buf, sizeof buf), UNINITIALIZED);
    CHECK_RC(p_shutdown(), UNINITIALIZED);
    /* A stale handle value must not bypass the init check. */
    CHECK_RC(p_energy(d, &e), UNINITIALIZED);
    CHECK_RC(p_power(d, &u), UNINITIALIZED);
    u = 0;
    CHECK_RC(p_procs_v3(d, &u, NULL), UNINITIALIZED);
    CHECK_RC(p_procs_v2(d, &u, NULL), UNINITIALIZED);
    CHECK_RC(p_procs_v1(d, &u, NULL), UNINITIALIZED);
    CHECK_RC(p_util(d, NULL, &u, 0), UNINITIALIZED);
    CHECK(strcmp(p_error_string(GPU_IS_LOST), "GPU is lost") == 0);
    CHECK(p_error_string(12345) != NULL);
}

static void test_no_script(void)
{
    unsigned int n = 99;
    nvmlDevice_t d = NULL;

    unsetenv("FAKE_NVML_SCRIPT");
    CHECK_RC(p_init_v2(), SUCCESS);
    CHECK_RC(p_count_v2(&n), SUCCESS);
    CHECK(n == 0);
    CHECK_RC(p_handle_v2(0, &d), INVALID_ARGUMENT);
    CHECK_RC(p_shutdown(), SUCCESS);

    setenv("FAKE_NVML_SCRIPT", "/nonexistent/fake-nvml-script", 1);
    n = 99;
    CHECK_RC(p_init(), SUCCESS);
    CHECK_RC(p_count(&n), SUCCESS);
    CHECK(n == 0);
    CHECK_RC(p_shutdown(), SUCCESS);
    setenv("FAKE_NVML_SCRIPT", script_path, 1);
}

static void test_init_fail_and_refcount(void)
{
    unsigned int n;
    write_script("# driver missing\n  init=fail   \ngpu\n");
    CHECK_RC(p_init_v2(), DRIVER_NOT_LOADED);
    CHECK_RC(p_init(), DRIVER_NOT_LOADED);
    CHECK_RC(p_count_v2(&n), UNINITIALIZED);
    CHECK_RC(p_shutdown(), UNINITIALIZED);

    write_script("gpu\n");
    CHECK_RC(p_init_v2(), SUCCESS);
    CHECK_RC(p_init(), SUCCESS);
    CHECK_RC(p_shutdown(), SUCCESS);
    CHECK_RC(p_count_v2(&n), SUCCESS); /* one reference still held */
    CHECK(n == 1);
    /* init=fail only affects init: a live session keeps working. */
    write_script("init=fail\ngpu\n");
    CHECK_RC(p_count_v2(&n), SUCCESS);
    CHECK_RC(p_shutdown(), SUCCESS);
    CHECK_RC(p_count_v2(&n), UNINITIALIZED);
    CHECK_RC(p_shutdown(), UNINITIALIZED);
}

/* A driver that is present but refuses (version mismatch, permissions, an
 * unknown error) differs from an absent one only in nvmlInit's code; each
 * mode must leave the library uninitialised and give its own code and text. */
static void test_init_modes(void)
{
    static const struct {
        const char *script;
        int rc;
        const char *text;
    } modes[] = {
        {"init=fail\ngpu\n", DRIVER_NOT_LOADED, "Driver Not Loaded"},
        {"init=mismatch\ngpu\n", LIB_RM_VERSION_MISMATCH, "RM has detected an NVML/RM version mismatch"},
        {"gpu\n  init=no_permission # comment\n", NO_PERMISSION, "Insufficient Permissions"},
        {"init=unknown\n", UNKNOWN, "Unknown Error"},
        /* A value the fake does not know is an error, never a working driver. */
        {"init=mismatched\ngpu\n", UNKNOWN, "Unknown Error"},
        {"init=\ngpu\n", UNKNOWN, "Unknown Error"},
        /* The last init= wins. */
        {"init=fail\ninit=mismatch\ngpu\n", LIB_RM_VERSION_MISMATCH,
         "RM has detected an NVML/RM version mismatch"},
    };
    unsigned int n = 0;
    unsigned long long e = 0;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        write_script(modes[i].script);
        CHECK_RC(p_init_v2(), modes[i].rc);
        CHECK_RC(p_init(), modes[i].rc);
        CHECK_RC(p_count_v2(&n), UNINITIALIZED);
        CHECK_RC(p_shutdown(), UNINITIALIZED);
        const char *text = p_error_string(modes[i].rc);
        CHECK(text != NULL && strcmp(text, modes[i].text) == 0);
        if (text == NULL || strcmp(text, modes[i].text) != 0)
            fprintf(stderr, "  script %zu: nvmlErrorString(%d) = \"%s\"\n", i, modes[i].rc,
                    text ? text : "(null)");
    }

    /* The script is read on every call: a retried init succeeds once the
     * mismatch is gone (driver reloaded), and the GPUs are there. */
    write_script("init=mismatch\ngpu energy_mj=10\n");
    CHECK_RC(p_init_v2(), LIB_RM_VERSION_MISMATCH);
    CHECK_RC(p_init_v2(), LIB_RM_VERSION_MISMATCH);
    write_script("gpu energy_mj=20 power_mw=5\n");
    CHECK_RC(p_init_v2(), SUCCESS);
    CHECK_RC(p_count_v2(&n), SUCCESS);
    CHECK(n == 1);
    nvmlDevice_t d = handle(0);
    CHECK_RC(p_energy(d, &e), SUCCESS);
    CHECK(e == 20);
    /* Like init=fail, the modes are checked by nvmlInit* only: a live session
     * keeps working, and only a new init sees the error. */
    write_script("init=no_permission\ngpu energy_mj=30\n");
    CHECK_RC(p_energy(d, &e), SUCCESS);
    CHECK(e == 30);
    CHECK_RC(p_init(), NO_PERMISSION);
    CHECK_RC(p_shutdown(), SUCCESS);
    CHECK_RC(p_count_v2(&n), UNINITIALIZED);

    /* init=ok is the explicit default. */
    write_script("init=ok\ngpu\n");
    CHECK_RC(p_init_v2(), SUCCESS);
    CHECK_RC(p_shutdown(), SUCCESS);
}

static const char *const main_script =
    "# four GPUs, one per behaviour\n"
    "\n"
    "gpu index=0 uuid=GPU-8f3e0000-1111-2222-3333-444455556666 name=NVIDIA_H100_80GB_HBM3 "
    "energy_mj=123456789 power_mw=312000 fault=none future_key=whatever bareword\n"
    "\tgpu\tindex=1 uuid=GPU-1 name=Tesla_V100 energy_mj=unsupported power_mw=250000  # trailing comment\n"
    "gpu index=2 uuid=GPU-2 energy_mj=5 power_mw=6 fault=lost\n"
    "gpu index=3 uuid=GPU-3 energy_mj=5 power_mw=unsupported fault=unknown\n"
    "somefutureline key=value\n";

static void test_values_and_faults(void)
{
    unsigned int n = 0, u = 0, idx = 0;
    unsigned long long e = 0;
    char buf[128];

    write_script(main_script);
    CHECK_RC(p_init_v2(), SUCCESS);
    CHECK_RC(p_count_v2(&n), SUCCESS);
    CHECK(n == 4);
    CHECK_RC(p_count(&n), SUCCESS);
    CHECK(n == 4);

    nvmlDevice_t d0 = handle(0), d1 = handle(1), d2 = handle(2), d3 = handle(3);
    nvmlDevice_t v1 = NULL;
    CHECK_RC(p_handle(1, &v1), SUCCESS);
    CHECK(v1 == d1);
    CHECK(d0 != d1 && d1 != d2 && d2 != d3);
    CHECK_RC(p_handle_v2(4, &v1), INVALID_ARGUMENT);
    CHECK_RC(p_handle_v2(0, NULL), INVALID_ARGUMENT);

    /* GPU 0: everything scripted. */
    CHECK_RC(p_energy(d0, &e), SUCCESS);
    CHECK(e == 123456789ULL);
    CHECK_RC(p_power(d0, &u), SUCCESS);
    CHECK(u == 312000);
    CHECK_RC(p_index(d0, &idx), SUCCESS);
    CHECK(idx == 0);
    CHECK_RC(p_uuid(d0, buf, sizeof buf), SUCCESS);
    CHECK(strcmp(buf, "GPU-8f3e0000-1111-2222-3333-444455556666") == 0);
    CHECK_RC(p_name(d0, buf, sizeof buf), SUCCESS);
    CHECK(strcmp(buf, "NVIDIA H100 80GB HBM3") == 0);
    /* Exact-fit boundary: strlen+1 fits, strlen does not. */
    size_t len = strlen("NVIDIA H100 80GB HBM3");
    CHECK_RC(p_name(d0, buf, (unsigned int)len), INSUFFICIENT_SIZE);
    CHECK_RC(p_name(d0, buf, (unsigned int)len + 1), SUCCESS);
    len = strlen("GPU-8f3e0000-1111-2222-3333-444455556666");
    CHECK_RC(p_uuid(d0, buf, (unsigned int)len), INSUFFICIENT_SIZE);
    CHECK_RC(p_uuid(d0, buf, (unsigned int)len + 1), SUCCESS);

    /* GPU 1: energy unsupported, power fine. */
    CHECK_RC(p_energy(d1, &e), NOT_SUPPORTED);
    CHECK_RC(p_power(d1, &u), SUCCESS);
    CHECK(u == 250000);
    CHECK_RC(p_name(d1, buf, sizeof buf), SUCCESS);
    CHECK(strcmp(buf, "Tesla V100") == 0);
    CHECK_RC(p_index(d1, &idx), SUCCESS);
    CHECK(idx == 1);

    /* GPU 2: lost on every per-device call. */
    CHECK_RC(p_energy(d2, &e), GPU_IS_LOST);
    CHECK_RC(p_power(d2, &u), GPU_IS_LOST);
    CHECK_RC(p_uuid(d2, buf, sizeof buf), GPU_IS_LOST);
    CHECK_RC(p_name(d2, buf, sizeof buf), GPU_IS_LOST);
    CHECK_RC(p_index(d2, &idx), GPU_IS_LOST);

    /* GPU 3: unknown error on every per-device call. */
    CHECK_RC(p_energy(d3, &e), UNKNOWN);
    CHECK_RC(p_power(d3, &u), UNKNOWN);
    CHECK_RC(p_uuid(d3, buf, sizeof buf), UNKNOWN);
    CHECK_RC(p_name(d3, buf, sizeof buf), UNKNOWN);
    CHECK_RC(p_index(d3, &idx), UNKNOWN);

    /* Bad arguments. */
    int not_a_handle = 0;
    CHECK_RC(p_energy(NULL, &e), INVALID_ARGUMENT);
    CHECK_RC(p_energy((nvmlDevice_t)(void *)&not_a_handle, &e), INVALID_ARGUMENT);
    CHECK_RC(p_energy(d0, NULL), INVALID_ARGUMENT);
    CHECK_RC(p_power(d0, NULL), INVALID_ARGUMENT);
    CHECK_RC(p_uuid(d0, NULL, 80), INVALID_ARGUMENT);
    CHECK_RC(p_count_v2(NULL), INVALID_ARGUMENT);

    /* Driver version. */
    CHECK_RC(p_driver(buf, sizeof buf), SUCCESS);
    CHECK(strcmp(buf, "999.99.99-fake") == 0);
    CHECK_RC(p_driver(buf, (unsigned int)strlen("999.99.99-fake")), INSUFFICIENT_SIZE);
    CHECK_RC(p_driver(NULL, 80), INVALID_ARGUMENT);

    CHECK_RC(p_shutdown(), SUCCESS);
}

static void test_rewrite_between_calls(void)
{
    unsigned int n = 0, u = 0;
    unsigned long long e = 0;
    char buf[128];

    write_script("gpu energy_mj=1000 power_mw=10\ngpu uuid=GPU-b energy_mj=2000\n");
    CHECK_RC(p_init_v2(), SUCCESS);
    nvmlDevice_t d0 = handle(0), d1 = handle(1);
    CHECK_RC(p_energy(d0, &e), SUCCESS);
    CHECK(e == 1000);

    /* Counter moves; the very next call sees it. */
    write_script("gpu energy_mj=1500 power_mw=20\ngpu uuid=GPU-b energy_mj=2500\n");
    CHECK_RC(p_energy(d0, &e), SUCCESS);
    CHECK(e == 1500);
    CHECK_RC(p_power(d0, &u), SUCCESS);
    CHECK(u == 20);

    /* Counter reset (driver reload): the fake just reports the lower value. */
    write_script("gpu energy_mj=3\ngpu uuid=GPU-b energy_mj=2500\n");
    CHECK_RC(p_energy(d0, &e), SUCCESS);
    CHECK(e == 3);

    /* GPU 1 disappears: its live handle now reports the GPU lost. */
    write_script("gpu energy_mj=4\n");
    CHECK_RC(p_count_v2(&n), SUCCESS);
    CHECK(n == 1);
    CHECK_RC(p_energy(d1, &e), GPU_IS_LOST);
    CHECK_RC(p_uuid(d1, buf, sizeof buf), GPU_IS_LOST);

    /* ...and comes back. */
    write_script("gpu energy_mj=4\ngpu uuid=GPU-b energy_mj=2600\n");
    CHECK_RC(p_energy(d1, &e), SUCCESS);
    CHECK(e == 2600);
    CHECK_RC(p_uuid(d1, buf, sizeof buf), SUCCESS);
    CHECK(strcmp(buf, "GPU-b") == 0);

    /* Script deleted: zero GPUs, session stays up. */
    unlink(script_path);
    CHECK_RC(p_count_v2(&n), SUCCESS);
    CHECK(n == 0);
    CHECK_RC(p_energy(d0, &e), GPU_IS_LOST);

    CHECK_RC(p_shutdown(), SUCCESS);
}

static void test_defaults_and_malformed(void)
{
    unsigned int n = 0, u = 7;
    unsigned long long e = 7;
    char buf[128];

    write_script(
        "gpu\n"                                                   /* 0: all defaults */
        "gpu energy_mj=12x\n"                                     /* 1: bad number */
        "gpu power_mw=4294967296\n"                               /* 2: > UINT_MAX */
        "gpu energy_mj=-1\n"                                      /* 3: negative */
        "gpu fault=melted\n"                                      /* 4: bad fault */
        "gpu index=7\n"                                           /* 5: wrong index */
        "gpu hang_seconds=soon fault=hang\n"                      /* 6: bad seconds */
        "gpu fault=lost energy_mj=oops\n"                         /* 7: malformed wins */
        "gpu energy_mj=18446744073709551615 power_mw=4294967295\n" /* 8: max values */
        "gpu energy_mj=18446744073709551616\n"                    /* 9: u64 overflow */
        "gpu name=\n");                                           /* 10: empty name */
    CHECK_RC(p_init_v2(), SUCCESS);
    CHECK_RC(p_count_v2(&n), SUCCESS);
    CHECK(n == 11);

    nvmlDevice_t d0 = handle(0);
    CHECK_RC(p_energy(d0, &e), SUCCESS);
    CHECK(e == 0);
    CHECK_RC(p_power(d0, &u), SUCCESS);
    CHECK(u == 0);
    CHECK_RC(p_uuid(d0, buf, sizeof buf), SUCCESS);
    CHECK(strcmp(buf, "GPU-00000000-0000-0000-0000-000000000000") == 0);
    CHECK_RC(p_name(d0, buf, sizeof buf), SUCCESS);
    CHECK(strcmp(buf, "Fake NVIDIA GPU") == 0);

    unsigned int bad[] = {1, 2, 3, 4, 5, 6, 7, 9, 10};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nvmlDevice_t d = handle(bad[i]); /* handles still obtainable */
        CHECK_RC(p_energy(d, &e), UNKNOWN);
        CHECK_RC(p_power(d, &u), UNKNOWN);
        CHECK_RC(p_name(d, buf, sizeof buf), UNKNOWN);
    }

    nvmlDevice_t d8 = handle(8);
    CHECK_RC(p_energy(d8, &e), SUCCESS);
    CHECK(e == 18446744073709551615ULL);
    CHECK_RC(p_power(d8, &u), SUCCESS);
    CHECK(u == 4294967295U);

    /* More than 64 gpu lines: capped at 64. */
    char *big = malloc(100 * 8 + 1);
    big[0] = '\0';
    for (int i = 0; i < 100; i++)
        strcat(big, "gpu \n");
    write_script(big);
    free(big);
    CHECK_RC(p_count_v2(&n), SUCCESS);
    CHECK(n == 64);
    nvmlDevice_t d = NULL;
    CHECK_RC(p_handle_v2(63, &d), SUCCESS);
    CHECK_RC(p_handle_v2(64, &d), INVALID_ARGUMENT);

    CHECK_RC(p_shutdown(), SUCCESS);
}

struct hang_result {
    nvmlDevice_t dev;
    int rc_energy, rc_power;
    unsigned long long energy;
    unsigned int power;
    double seconds;
    atomic_int done;
};

static void *hang_thread(void *arg)
{
    struct hang_result *r = arg;
    double t0 = now();
    r->rc_energy = p_energy(r->dev, &r->energy);
    r->rc_power = p_power(r->dev, &r->power);
    r->seconds = now() - t0;
    atomic_store(&r->done, 1);
    return NULL;
}

static void test_hang(void)
{
    unsigned int u = 0;
    unsigned long long e = 0;

    write_script("gpu energy_mj=42 power_mw=43 fault=hang hang_seconds=0.4\n"
                 "gpu energy_mj=50 power_mw=51\n");
    CHECK_RC(p_init_v2(), SUCCESS);
    nvmlDevice_t d0 = handle(0), d1 = handle(1);

    struct hang_result r = {.dev = d0, .done = 0};
    pthread_t t;
    if (pthread_create(&t, NULL, hang_thread, &r) != 0) {
        perror("pthread_create");
        exit(1);
    }
    struct timespec settle = {0, 50 * 1000 * 1000};
    nanosleep(&settle, NULL);

    /* While GPU 0 hangs, other calls (other GPU, same GPU's identity, init,
     * shutdown) must answer at once: no lock is held across the sleep. */
    double t0 = now();
    CHECK_RC(p_energy(d1, &e), SUCCESS);
    CHECK(e == 50);
    CHECK_RC(p_power(d1, &u), SUCCESS);
    CHECK(u == 51);
    char buf[128];
    CHECK_RC(p_uuid(d0, buf, sizeof buf), SUCCESS);
    CHECK_RC(p_init(), SUCCESS);
    CHECK_RC(p_shutdown(), SUCCESS);
    double quick = now() - t0;
    /* They returned while GPU 0 still hangs (0.8 s in all): no clock bound, which a loaded machine could break. */
    CHECK(!atomic_load(&r.done));

    pthread_join(t, NULL);
    CHECK_RC(r.rc_energy, SUCCESS);
    CHECK(r.energy == 42);
    CHECK_RC(r.rc_power, SUCCESS);
    CHECK(r.power == 43);
    CHECK(r.seconds >= 0.8 && r.seconds < 10.0); /* two hung calls of 0.4 s; generous upper bound */
    fprintf(stderr, "  hang: 2 hung calls took %.3f s; concurrent calls took %.4f s\n",
            r.seconds, quick);

    /* hang + unsupported: hangs, then reports NOT_SUPPORTED. */
    write_script("gpu energy_mj=unsupported fault=hang hang_seconds=0.1\n");
    t0 = now();
    CHECK_RC(p_energy(d0, &e), NOT_SUPPORTED);
    CHECK(now() - t0 >= 0.1);
    /* Whole-second form. */
    write_script("gpu energy_mj=1 fault=hang hang_seconds=0\n");
    CHECK_RC(p_energy(d0, &e), SUCCESS);
    CHECK(e == 1);

    CHECK_RC(p_shutdown(), SUCCESS);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_call_log(void)
{
    unsigned int n = 0, u = 0;
    unsigned long long e = 0;
    char buf[128];

    write_script("gpu energy_mj=1\ngpu energy_mj=2 power_mw=3\n");
    unlink(log_path);

    /* Off by default: nothing is written without the variable. */
    CHECK_RC(p_init_v2(), SUCCESS);
    CHECK_RC(p_shutdown(), SUCCESS);
    struct stat st;
    CHECK(stat(log_path, &st) != 0 && errno == ENOENT);

    setenv("FAKE_NVML_CALL_LOG", log_path, 1);
    nvmlDevice_t d = NULL;
    CHECK_RC(p_init_v2(), SUCCESS);
    CHECK_RC(p_count_v2(&n), SUCCESS);
    CHECK_RC(p_handle_v2(1, &d), SUCCESS);
    CHECK_RC(p_energy(d, &e), SUCCESS);
    CHECK_RC(p_power(d, &u), SUCCESS);
    CHECK_RC(p_uuid(d, buf, sizeof buf), SUCCESS);
    CHECK_RC(p_name(d, buf, sizeof buf), SUCCESS);
    CHECK_RC(p_index(d, &u), SUCCESS);
    CHECK_RC(p_driver(buf, sizeof buf), SUCCESS);
    u = 0;
    CHECK_RC(p_procs_v3(d, &u, NULL), SUCCESS);
    CHECK_RC(p_procs_v2(d, &u, NULL), SUCCESS);
    CHECK_RC(p_procs_v1(d, &u, NULL), SUCCESS);
    CHECK_RC(p_util(d, NULL, &u, 0), INSUFFICIENT_SIZE);
    CHECK_RC(p_count(&n), SUCCESS);
    CHECK_RC(p_handle(0, &d), SUCCESS);
    (void)p_error_string(SUCCESS);
    CHECK_RC(p_shutdown(), SUCCESS);
    CHECK_RC(p_init(), SUCCESS);
    CHECK_RC(p_shutdown(), SUCCESS);
    unsetenv("FAKE_NVML_CALL_LOG");
    CHECK_RC(p_init_v2(), SUCCESS); /* not logged any more */
    CHECK_RC(p_shutdown(), SUCCESS);

    const char *want =
        "nvmlInit_v2 -\n"
        "nvmlDeviceGetCount_v2 -\n"
        "nvmlDeviceGetHandleByIndex_v2 1\n"
        "nvmlDeviceGetTotalEnergyConsumption 1\n"
        "nvmlDeviceGetPowerUsage 1\n"
        "nvmlDeviceGetUUID 1\n"
        "nvmlDeviceGetName 1\n"
        "nvmlDeviceGetIndex 1\n"
        "nvmlSystemGetDriverVersion -\n"
        "nvmlDeviceGetComputeRunningProcesses_v3 1\n"
        "nvmlDeviceGetComputeRunningProcesses_v2 1\n"
        "nvmlDeviceGetComputeRunningProcesses 1\n"
        "nvmlDeviceGetProcessUtilization 1\n"
        "nvmlDeviceGetCount -\n"
        "nvmlDeviceGetHandleByIndex 0\n"
        "nvmlErrorString -\n"
        "nvmlShutdown -\n"
        "nvmlInit -\n"
        "nvmlShutdown -\n";
    const char *got = slurp(log_path);
    CHECK(got != NULL && strcmp(got, want) == 0);
    if (got != NULL && strcmp(got, want) != 0)
        fprintf(stderr, "  call log was:\n%s", got);
}

/* ---- per-process attribution ---- */

#define SENTINEL 0xAA
#define MIB 1048576ULL

/* The layouts this fixture promises, from nvml.h (LP64). A caller's Swift or
 * C mirror of these structs must agree byte for byte. */
static void test_proc_layouts(void)
{
    CHECK(sizeof(proc_v1_t) == 16);
    CHECK(offsetof(proc_v1_t, pid) == 0);
    CHECK(offsetof(proc_v1_t, usedGpuMemory) == 8);
    CHECK(sizeof(proc_v2_t) == 24);
    CHECK(offsetof(proc_v2_t, usedGpuMemory) == 8);
    CHECK(offsetof(proc_v2_t, gpuInstanceId) == 16);
    CHECK(offsetof(proc_v2_t, computeInstanceId) == 20);
    CHECK(sizeof(proc_cc_t) == 32);
    CHECK(offsetof(proc_cc_t, gpuInstanceId) == 16);
    CHECK(offsetof(proc_cc_t, computeInstanceId) == 20);
    CHECK(offsetof(proc_cc_t, usedGpuCcProtectedMemory) == 24);
    CHECK(sizeof(util_sample_t) == 32);
    CHECK(offsetof(util_sample_t, pid) == 0);
    CHECK(offsetof(util_sample_t, timeStamp) == 8);
    CHECK(offsetof(util_sample_t, smUtil) == 16);
    CHECK(offsetof(util_sample_t, memUtil) == 20);
    CHECK(offsetof(util_sample_t, encUtil) == 24);
    CHECK(offsetof(util_sample_t, decUtil) == 28);
}

/* Calls the running-processes entry point of `version` (1, 2, 3) on a raw
 * byte buffer, so the stride the library writes can be measured. */
static int procs_call(int version, nvmlDevice_t d, unsigned int *count, void *buf)
{
    switch (version) {
    case 1: return p_procs_v1(d, count, buf);
    case 2: return p_procs_v2(d, count, buf);
    default: return p_procs_v3(d, count, buf);
    }
}

static bool all_sentinel(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != SENTINEL)
            return false;
    return true;
}

/* Decodes entry i of a process buffer written with `stride` into the widest
 * layout; fields the stride lacks read as all-ones. */
static proc_cc_t proc_at(const unsigned char *buf, size_t stride, unsigned int i)
{
    proc_cc_t e;
    memset(&e, 0xFF, sizeof e);
    memcpy(&e, buf + (size_t)i * stride, stride);
    return e;
}

static const char *const proc_script =
    "gpu index=0 energy_mj=1\n"
    "proc gpu=0 pid=1234 sm=75 mem=10 ts=1000 used_mb=2048\n"
    "proc gpu=0 pid=42 ts=none used_mb=unavailable   # running, no sample\n"
    "proc gpu=0 pid=7 sm=5 mem=1 enc=2 dec=3 ts=2000 gi=1 ci=2 cc_mb=3\n"
    "proc gpu=0 pid=8 mem=4 ts=1500                   # no sm: no sample\n"
    "proc gpu=0 pid=555 sm=20 ts=1800 running=no      # sample of an exited process\n"
    "gpu index=1\n"
    "proc gpu=1 pid=99 sm=1 ts=5 used_mb=1\n"
    "gpu index=2                                      # no processes\n";

/* Running processes: size negotiation, values and the exact stride, for each
 * of the three versions. */
static void test_running_processes(void)
{
    unsigned int n = 0;
    unsigned char buf[64 * 32];

    write_script(proc_script);
    CHECK_RC(p_init_v2(), SUCCESS);
    CHECK_RC(p_count_v2(&n), SUCCESS);
    CHECK(n == 3); /* proc lines are not GPUs */
    nvmlDevice_t d0 = handle(0), d1 = handle(1), d2 = handle(2);

    static const size_t strides[] = {0, 16, 24, 24};
    for (int v = 1; v <= 3; v++) {
        size_t stride = strides[v];
        /* Size query: *infoCount = 0, infos NULL. */
        n = 0;
        CHECK_RC(procs_call(v, d0, &n, NULL), INSUFFICIENT_SIZE);
        CHECK(n == 4);
        /* Too small: nothing written, count says what is needed. */
        memset(buf, SENTINEL, sizeof buf);
        n = 3;
        CHECK_RC(procs_call(v, d0, &n, buf), INSUFFICIENT_SIZE);
        CHECK(n == 4);
        CHECK(all_sentinel(buf, sizeof buf));
        /* Exact fit and roomy buffer: 4 entries of `stride` bytes, not one more. */
        for (unsigned int room = 4; room <= 40; room += 36) {
            memset(buf, SENTINEL, sizeof buf);
            n = room;
            CHECK_RC(procs_call(v, d0, &n, buf), SUCCESS);
            CHECK(n == 4);
            CHECK(all_sentinel(buf + 4 * stride, sizeof buf - 4 * stride));
            proc_cc_t e0 = proc_at(buf, stride, 0), e1 = proc_at(buf, stride, 1);
            proc_cc_t e2 = proc_at(buf, stride, 2), e3 = proc_at(buf, stride, 3);
            CHECK(e0.pid == 1234 && e0.usedGpuMemory == 2048 * MIB);
            CHECK(e1.pid == 42 && e1.usedGpuMemory == ULLONG_MAX); /* NVML_VALUE_NOT_AVAILABLE */
            CHECK(e2.pid == 7 && e2.usedGpuMemory == 0);
            CHECK(e3.pid == 8);
            if (v >= 2) {
                CHECK(e0.gpuInstanceId == 0xFFFFFFFFu && e0.computeInstanceId == 0xFFFFFFFFu);
                CHECK(e2.gpuInstanceId == 1 && e2.computeInstanceId == 2);
            }
        }
        /* GPU 1: its own single process. */
        proc_cc_t one;
        n = 1;
        memset(buf, SENTINEL, sizeof buf);
        CHECK_RC(procs_call(v, d1, &n, buf), SUCCESS);
        one = proc_at(buf, stride, 0);
        CHECK(n == 1 && one.pid == 99 && one.usedGpuMemory == MIB);
        /* No processes: the size query itself succeeds with 0. */
        n = 0;
        CHECK_RC(procs_call(v, d2, &n, NULL), SUCCESS);
        CHECK(n == 0);
        n = 5;
        CHECK_RC(procs_call(v, d2, &n, buf), SUCCESS);
        CHECK(n == 0);
        /* Bad arguments. */
        n = 10;
        CHECK_RC(procs_call(v, d0, &n, NULL), INVALID_ARGUMENT); /* room claimed, no array */
        CHECK_RC(procs_call(v, d0, NULL, buf), INVALID_ARGUMENT);
        CHECK_RC(procs_call(v, NULL, &n, buf), INVALID_ARGUMENT);
    }

    /* The R535-era _v3 stride, on request: 32-byte entries; v1/v2 unchanged. */
    char script[1024];
    snprintf(script, sizeof script, "proc_info_v3_size=32\n%s", proc_script);
    write_script(script);
    memset(buf, SENTINEL, sizeof buf);
    n = 4;
    CHECK_RC(p_procs_v3(d0, &n, (proc_v2_t *)(void *)buf), SUCCESS);
    CHECK(n == 4);
    CHECK(all_sentinel(buf + 4 * 32, sizeof buf - 4 * 32));
    proc_cc_t c0 = proc_at(buf, 32, 0), c2 = proc_at(buf, 32, 2), c3 = proc_at(buf, 32, 3);
    CHECK(c0.pid == 1234 && c0.usedGpuCcProtectedMemory == 0);
    CHECK(c2.pid == 7 && c2.gpuInstanceId == 1 && c2.usedGpuCcProtectedMemory == 3 * MIB);
    CHECK(c3.pid == 8);
    memset(buf, SENTINEL, sizeof buf);
    n = 4;
    CHECK_RC(p_procs_v2(d0, &n, (proc_v2_t *)(void *)buf), SUCCESS);
    CHECK(all_sentinel(buf + 4 * 24, sizeof buf - 4 * 24));
    memset(buf, SENTINEL, sizeof buf);
    n = 4;
    CHECK_RC(p_procs_v1(d0, &n, (proc_v1_t *)(void *)buf), SUCCESS);
    CHECK(all_sentinel(buf + 4 * 16, sizeof buf - 4 * 16));
    /* Explicit 24 is the default; anything else breaks _v3 only. */
    snprintf(script, sizeof script, "%s  proc_info_v3_size=24 # trailing\n", proc_script);
    write_script(script);
    memset(buf, SENTINEL, sizeof buf);
    n = 4;
    CHECK_RC(p_procs_v3(d0, &n, (proc_v2_t *)(void *)buf), SUCCESS);
    CHECK(all_sentinel(buf + 4 * 24, sizeof buf - 4 * 24));
    snprintf(script, sizeof script, "proc_info_v3_size=28\n%s", proc_script);
    write_script(script);
    n = 4;
    CHECK_RC(p_procs_v3(d0, &n, (proc_v2_t *)(void *)buf), UNKNOWN);
    n = 4;
    CHECK_RC(p_procs_v2(d0, &n, (proc_v2_t *)(void *)buf), SUCCESS);

    CHECK_RC(p_shutdown(), SUCCESS);
}

/* nvmlDeviceGetProcessUtilization: size query, lastSeenTimeStamp filter,
 * NOT_FOUND, forced answers. */
static void test_process_utilization(void)
{
    unsigned int n = 0, c = 0;
    util_sample_t s[110];

    write_script(proc_script);
    CHECK_RC(p_init_v2(), SUCCESS);
    nvmlDevice_t d0 = handle(0), d1 = handle(1), d2 = handle(2);

    /* NULL buffer: INSUFFICIENT_SIZE and a fixed 100 (as the real driver),
     * whatever the timestamp and however few samples there are. */
    n = 0;
    CHECK_RC(p_util(d0, NULL, &n, 0), INSUFFICIENT_SIZE);
    CHECK(n == 100);
    n = 0;
    CHECK_RC(p_util(d0, NULL, &n, 999999), INSUFFICIENT_SIZE);
    CHECK(n == 100);
    n = 0;
    CHECK_RC(p_util(d2, NULL, &n, 0), INSUFFICIENT_SIZE); /* idle GPU too */
    CHECK(n == 100);

    /* All samples (lastSeen 0): script order; ts=none and sm-less lines have none,
     * the exited process's sample is there. */
    memset(s, SENTINEL, sizeof s);
    n = 100;
    CHECK_RC(p_util(d0, s, &n, 0), SUCCESS);
    CHECK(n == 3);
    CHECK(s[0].pid == 1234 && s[0].timeStamp == 1000 && s[0].smUtil == 75 && s[0].memUtil == 10 &&
          s[0].encUtil == 0 && s[0].decUtil == 0);
    CHECK(s[1].pid == 7 && s[1].timeStamp == 2000 && s[1].smUtil == 5 && s[1].memUtil == 1 &&
          s[1].encUtil == 2 && s[1].decUtil == 3);
    CHECK(s[2].pid == 555 && s[2].timeStamp == 1800 && s[2].smUtil == 20);
    CHECK(all_sentinel((unsigned char *)&s[3], sizeof s - 3 * sizeof s[0]));

    /* Filtering: strictly newer than lastSeenTimeStamp. */
    static const struct {
        unsigned long long last;
        unsigned int count;
        unsigned int first_pid;
    } cases[] = {{999, 3, 1234}, {1000, 2, 7}, {1799, 2, 7}, {1800, 1, 7}, {1999, 1, 7}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        n = 100;
        CHECK_RC(p_util(d0, s, &n, cases[i].last), SUCCESS);
        CHECK(n == cases[i].count && s[0].pid == cases[i].first_pid);
    }
    /* Nothing newer: NOT_FOUND, buffer and count untouched. */
    memset(s, SENTINEL, sizeof s);
    n = 100;
    CHECK_RC(p_util(d0, s, &n, 2000), NOT_FOUND);
    CHECK(n == 100);
    CHECK(all_sentinel((unsigned char *)s, sizeof s));
    CHECK_RC(p_util(d0, s, &n, ULLONG_MAX), NOT_FOUND);
    n = 100;
    CHECK_RC(p_util(d2, s, &n, 0), NOT_FOUND); /* no processes at all */

    /* Buffer too small: INSUFFICIENT_SIZE, count = samples newer than lastSeen. */
    memset(s, SENTINEL, sizeof s);
    n = 2;
    CHECK_RC(p_util(d0, s, &n, 0), INSUFFICIENT_SIZE);
    CHECK(n == 3);
    CHECK(all_sentinel((unsigned char *)s, sizeof s));
    n = 0;
    CHECK_RC(p_util(d0, s, &n, 1000), INSUFFICIENT_SIZE);
    CHECK(n == 2);
    n = 2;
    CHECK_RC(p_util(d0, s, &n, 1000), SUCCESS);
    CHECK(n == 2);

    /* GPU 1 has its own sample. */
    n = 100;
    CHECK_RC(p_util(d1, s, &n, 0), SUCCESS);
    CHECK(n == 1 && s[0].pid == 99 && s[0].timeStamp == 5 && s[0].smUtil == 1);
    n = 100;
    CHECK_RC(p_util(d1, s, &n, 5), NOT_FOUND);

    /* The exited process (running=no) has a sample but is not running. */
    proc_v2_t pi[8];
    c = 8;
    CHECK_RC(p_procs_v3(d0, &c, pi), SUCCESS);
    CHECK(c == 4);
    bool listed = false;
    for (unsigned int i = 0; i < c; i++)
        listed = listed || pi[i].pid == 555;
    CHECK(!listed);

    /* Bad arguments. */
    CHECK_RC(p_util(d0, s, NULL, 0), INVALID_ARGUMENT);
    CHECK_RC(p_util(d0, NULL, NULL, 0), INVALID_ARGUMENT);
    CHECK_RC(p_util(NULL, s, &n, 0), INVALID_ARGUMENT);

    /* proc_util=not_supported (a MIG-enabled GPU): both forms refuse, the
     * running-processes list still works, other GPUs are unaffected. */
    write_script("gpu proc_util=not_supported\n"
                 "proc gpu=0 pid=1 sm=50 ts=10\n"
                 "gpu proc_util=not_found\n"
                 "proc gpu=1 pid=2 sm=60 ts=10\n"
                 "gpu proc_util=ok\n"
                 "proc gpu=2 pid=3 sm=70 ts=10\n"
                 "gpu proc_util=sometimes energy_mj=5\n"
                 "proc gpu=3 pid=4 sm=80 ts=10\n");
    nvmlDevice_t d3 = handle(3);
    n = 0;
    CHECK_RC(p_util(d0, NULL, &n, 0), NOT_SUPPORTED);
    n = 100;
    CHECK_RC(p_util(d0, s, &n, 0), NOT_SUPPORTED);
    c = 8;
    CHECK_RC(p_procs_v3(d0, &c, pi), SUCCESS);
    CHECK(c == 1 && pi[0].pid == 1);
    /* proc_util=not_found: as if no samples: size query as usual, then NOT_FOUND. */
    n = 0;
    CHECK_RC(p_util(d1, NULL, &n, 0), INSUFFICIENT_SIZE);
    CHECK(n == 100);
    n = 100;
    CHECK_RC(p_util(d1, s, &n, 0), NOT_FOUND);
    c = 8;
    CHECK_RC(p_procs_v3(d1, &c, pi), SUCCESS);
    CHECK(c == 1 && pi[0].pid == 2);
    n = 100;
    CHECK_RC(p_util(d2, s, &n, 0), SUCCESS);
    CHECK(n == 1 && s[0].pid == 3 && s[0].smUtil == 70);
    /* A bad proc_util value makes the GPU fault=unknown, like any bad gpu key. */
    unsigned long long e = 0;
    CHECK_RC(p_energy(d3, &e), UNKNOWN);
    n = 100;
    CHECK_RC(p_util(d3, s, &n, 0), UNKNOWN);
    c = 8;
    CHECK_RC(p_procs_v3(d3, &c, pi), UNKNOWN);

    /* Extreme values pass through unclamped (real drivers report >100 %). */
    write_script("gpu\nproc gpu=0 pid=4294967295 sm=4294967295 mem=101 "
                 "ts=18446744073709551615 used_mb=17592186044415\n"
                 "proc gpu=0 pid=0 sm=1 ts=0   # ts 0 is never newer than anything\n");
    n = 100;
    CHECK_RC(p_util(d0, s, &n, ULLONG_MAX - 1), SUCCESS);
    CHECK(n == 1 && s[0].pid == 4294967295u && s[0].smUtil == 4294967295u &&
          s[0].memUtil == 101 && s[0].timeStamp == ULLONG_MAX);
    n = 100;
    CHECK_RC(p_util(d0, s, &n, 0), SUCCESS);
    CHECK(n == 1);
    c = 8;
    CHECK_RC(p_procs_v3(d0, &c, pi), SUCCESS);
    CHECK(c == 2 && pi[0].usedGpuMemory == 17592186044415ULL * MIB && pi[1].pid == 0);

    CHECK_RC(p_shutdown(), SUCCESS);
}

/* Process calls follow the GPU's fault like every per-device call. */
static void test_proc_faults(void)
{
    unsigned int n = 0;
    util_sample_t s[4];
    proc_v2_t pi[4];
    proc_v1_t p1[4];

    write_script("gpu fault=lost proc_util=not_supported\n"
                 "proc gpu=0 pid=1 sm=1 ts=1\n"
                 "gpu fault=unknown\n"
                 "proc gpu=1 pid=2 sm=1 ts=1\n"
                 "gpu fault=hang hang_seconds=3 energy_mj=1\n"
                 "proc gpu=2 pid=3 sm=1 ts=1\n");
    CHECK_RC(p_init_v2(), SUCCESS);
    nvmlDevice_t d0 = handle(0), d1 = handle(1), d2 = handle(2);
    struct {
        nvmlDevice_t d;
        int rc;
    } faulty[] = {{d0, GPU_IS_LOST}, {d1, UNKNOWN}};
    for (size_t i = 0; i < 2; i++) {
        n = 0;
        CHECK_RC(p_procs_v3(faulty[i].d, &n, NULL), faulty[i].rc);
        n = 4;
        CHECK_RC(p_procs_v3(faulty[i].d, &n, pi), faulty[i].rc);
        n = 4;
        CHECK_RC(p_procs_v2(faulty[i].d, &n, pi), faulty[i].rc);
        n = 4;
        CHECK_RC(p_procs_v1(faulty[i].d, &n, p1), faulty[i].rc);
        n = 0;
        CHECK_RC(p_util(faulty[i].d, NULL, &n, 0), faulty[i].rc);
        n = 4;
        CHECK_RC(p_util(faulty[i].d, s, &n, 0), faulty[i].rc);
    }
    /* hang stalls energy and power only; process calls answer at once. */
    double t0 = now();
    n = 4;
    CHECK_RC(p_procs_v3(d2, &n, pi), SUCCESS);
    CHECK(n == 1 && pi[0].pid == 3);
    n = 4;
    CHECK_RC(p_util(d2, s, &n, 0), SUCCESS);
    CHECK(now() - t0 < 2.5);

    /* The script shrinks under a live handle: the GPU is lost to these calls too. */
    write_script("gpu\nproc gpu=1 pid=2 sm=1 ts=1\n");
    n = 4;
    CHECK_RC(p_procs_v3(d1, &n, pi), GPU_IS_LOST);
    n = 4;
    CHECK_RC(p_util(d1, s, &n, 0), GPU_IS_LOST);

    CHECK_RC(p_shutdown(), SUCCESS);
}

/* A malformed proc line is dropped; the rest of the script stands. */
static void test_proc_malformed(void)
{
    unsigned int n = 0;
    unsigned long long e = 0;
    proc_v2_t pi[32];
    util_sample_t s[32];

    write_script("gpu energy_mj=9\n"
                 "proc gpu=0 pid=1 sm=10 ts=100\n"               /* ok */
                 "proc pid=2 sm=10 ts=100\n"                     /* no gpu= */
                 "proc gpu=0 sm=10 ts=100\n"                     /* no pid= */
                 "proc gpu=0 pid=-3\n"                           /* sign */
                 "proc gpu=0 pid=4 sm=10\n"                      /* sm= without ts= */
                 "proc gpu=0 pid=5 sm=abc ts=100\n"              /* bad sm */
                 "proc gpu=0 pid=6 sm=1 ts=12x\n"                /* bad ts */
                 "proc gpu=0 pid=7 used_mb=17592186044416\n"     /* bytes overflow */
                 "proc gpu=0 pid=8 running=maybe\n"              /* bad running */
                 "proc gpu=0 pid=9 gi=4294967296\n"              /* > UINT_MAX */
                 "proc gpu=x pid=10\n"                           /* bad gpu */
                 "proc gpu=0 pid=11 future_key=1 bareword\n"     /* ok: unknown keys ignored */
                 "proc gpu=0 pid=12 sm=\n"                       /* empty value */
                 "proc gpu=0 pid=13 ts=none mem=5\n"             /* ok, no sample */
                 "proc gpu=0 pid=14 used_mb=\n"                  /* empty value */
                 "proc gpu=9 pid=15 sm=1 ts=1\n"                 /* no such GPU: harmless */
                 "proc\n"                                        /* nothing */
                 "  proc  gpu=0\tpid=16 sm=30 ts=200 # comment pid=17\n"); /* ok */
    CHECK_RC(p_init_v2(), SUCCESS);
    CHECK_RC(p_count_v2(&n), SUCCESS);
    CHECK(n == 1);
    nvmlDevice_t d0 = handle(0);
    CHECK_RC(p_energy(d0, &e), SUCCESS); /* the GPU itself is untouched */
    CHECK(e == 9);
    n = 32;
    CHECK_RC(p_procs_v3(d0, &n, pi), SUCCESS);
    CHECK(n == 4);
    if (n == 4)
        CHECK(pi[0].pid == 1 && pi[1].pid == 11 && pi[2].pid == 13 && pi[3].pid == 16);
    n = 32;
    CHECK_RC(p_util(d0, s, &n, 0), SUCCESS);
    CHECK(n == 2);
    if (n == 2)
        CHECK(s[0].pid == 1 && s[1].pid == 16 && s[1].smUtil == 30 && s[1].timeStamp == 200);
    CHECK_RC(p_shutdown(), SUCCESS);
}

/* At most 256 processes per GPU; later lines for that GPU are dropped. */
static void test_proc_cap(void)
{
    static util_sample_t s[400];
    static proc_v2_t pi[400];
    size_t cap = 400 * 64 + 64;
    char *big = malloc(cap);
    size_t len = (size_t)snprintf(big, cap, "gpu\ngpu\n");
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(big + len, cap - len, "proc gpu=0 pid=%d sm=%d ts=%d\n", 1000 + i,
                                i % 101, i + 1);
    for (int i = 0; i < 3; i++)
        len += (size_t)snprintf(big + len, cap - len, "proc gpu=1 pid=%d sm=1 ts=1\n", i);
    write_script(big);
    free(big);

    CHECK_RC(p_init_v2(), SUCCESS);
    nvmlDevice_t d0 = handle(0), d1 = handle(1);
    unsigned int n = 0;
    CHECK_RC(p_procs_v3(d0, &n, NULL), INSUFFICIENT_SIZE);
    CHECK(n == 256);
    n = 400;
    CHECK_RC(p_procs_v3(d0, &n, pi), SUCCESS);
    CHECK(n == 256 && pi[0].pid == 1000 && pi[255].pid == 1255);
    n = 0;
    CHECK_RC(p_util(d0, NULL, &n, 0), INSUFFICIENT_SIZE);
    CHECK(n == 256); /* more samples than the usual 100: the hint grows */
    n = 256;
    CHECK_RC(p_util(d0, s, &n, 0), SUCCESS);
    CHECK(n == 256 && s[255].pid == 1255 && s[255].timeStamp == 256);
    n = 400;
    CHECK_RC(p_util(d0, s, &n, 250), SUCCESS);
    CHECK(n == 6 && s[0].pid == 1250);
    n = 10;
    CHECK_RC(p_procs_v3(d1, &n, pi), SUCCESS);
    CHECK(n == 3); /* the cap is per GPU */
    CHECK_RC(p_shutdown(), SUCCESS);
}

/* Scripts written before proc lines existed behave as before, and have no
 * processes. */
static void test_proc_backward_compat(void)
{
    unsigned int n = 0;
    util_sample_t s[4];
    proc_v2_t pi[4];

    write_script(main_script);
    CHECK_RC(p_init_v2(), SUCCESS);
    CHECK_RC(p_count_v2(&n), SUCCESS);
    CHECK(n == 4);
    nvmlDevice_t d0 = handle(0), d1 = handle(1), d2 = handle(2), d3 = handle(3);
    n = 0;
    CHECK_RC(p_procs_v3(d0, &n, NULL), SUCCESS);
    CHECK(n == 0);
    n = 0;
    CHECK_RC(p_procs_v1(d1, &n, NULL), SUCCESS);
    CHECK(n == 0);
    n = 0;
    CHECK_RC(p_util(d0, NULL, &n, 0), INSUFFICIENT_SIZE);
    CHECK(n == 100);
    n = 4;
    CHECK_RC(p_util(d0, s, &n, 0), NOT_FOUND);
    n = 4;
    CHECK_RC(p_procs_v3(d2, &n, pi), GPU_IS_LOST);
    n = 4;
    CHECK_RC(p_util(d3, s, &n, 0), UNKNOWN);
    CHECK_RC(p_shutdown(), SUCCESS);

    /* init= still counts on any non-gpu line, proc lines included. */
    write_script("proc gpu=0 pid=1 init=mismatch\ngpu\n");
    CHECK_RC(p_init_v2(), LIB_RM_VERSION_MISMATCH);
    /* proc_info_v3_size= on a gpu line is an unknown gpu key: ignored. */
    write_script("gpu proc_info_v3_size=32\nproc gpu=0 pid=5\nproc gpu=0 pid=6\n");
    CHECK_RC(p_init_v2(), SUCCESS);
    unsigned char buf[128];
    memset(buf, SENTINEL, sizeof buf);
    n = 2;
    CHECK_RC(p_procs_v3(handle(0), &n, (proc_v2_t *)(void *)buf), SUCCESS);
    CHECK(n == 2 && all_sentinel(buf + 48, sizeof buf - 48));
    CHECK_RC(p_shutdown(), SUCCESS);
}

/* Many readers while a writer keeps swapping the script: every answer must be
 * one of the two scripted states, never a torn or garbage value. */
static atomic_int stress_stop;
static int stress_bad;
static pthread_mutex_t stress_lock = PTHREAD_MUTEX_INITIALIZER;

static void *stress_reader(void *arg)
{
    (void)arg;
    nvmlDevice_t d0 = NULL, d1 = NULL;
    if (p_handle_v2(0, &d0) != SUCCESS) {
        pthread_mutex_lock(&stress_lock);
        stress_bad++;
        pthread_mutex_unlock(&stress_lock);
        return NULL;
    }
    int bad = 0;
    for (int i = 0; i < 2000; i++) {
        unsigned long long e = 0;
        unsigned int n = 0;
        if (p_energy(d0, &e) != SUCCESS || (e != 1000 && e != 2000))
            bad++;
        /* Processes: one or two, never a torn list. */
        proc_v2_t pi[4];
        util_sample_t us[4];
        unsigned int pc = 4, uc = 4;
        if (p_procs_v3(d0, &pc, pi) != SUCCESS || pc < 1 || pc > 2 || pi[0].pid != 1 ||
            (pc == 2 && pi[1].pid != 2))
            bad++;
        if (p_util(d0, us, &uc, 0) != SUCCESS || uc < 1 || uc > 2 || us[0].smUtil != 10 ||
            (uc == 2 && us[1].smUtil != 20))
            bad++;
        if (p_count_v2(&n) != SUCCESS || (n != 1 && n != 2))
            bad++;
        if (n == 2 && p_handle_v2(1, &d1) == SUCCESS) {
            int rc = p_energy(d1, &e);
            if (rc != SUCCESS && rc != GPU_IS_LOST)
                bad++;
        }
    }
    pthread_mutex_lock(&stress_lock);
    stress_bad += bad;
    pthread_mutex_unlock(&stress_lock);
    return NULL;
}

static const char *const stress_script_a = "gpu energy_mj=1000\nproc gpu=0 pid=1 sm=10 ts=5\n";
static const char *const stress_script_b =
    "proc gpu=0 pid=1 sm=10 ts=5\ngpu energy_mj=2000\ngpu energy_mj=7\nproc gpu=0 pid=2 sm=20 ts=6\n";

static void *stress_writer(void *arg)
{
    (void)arg;
    for (int i = 0; !atomic_load(&stress_stop); i++)
        write_script(i % 2 ? stress_script_a : stress_script_b);
    return NULL;
}

static void test_concurrency(void)
{
    write_script(stress_script_a);
    CHECK_RC(p_init_v2(), SUCCESS);
    pthread_t w, r[8];
    double t0 = now();
    pthread_create(&w, NULL, stress_writer, NULL);
    for (int i = 0; i < 8; i++)
        pthread_create(&r[i], NULL, stress_reader, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(r[i], NULL);
    atomic_store(&stress_stop, 1);
    pthread_join(w, NULL);
    CHECK(stress_bad == 0);
    fprintf(stderr, "  concurrency: 8 threads x 2000 rounds with script swapping: %.2f s, %d bad\n",
            now() - t0, stress_bad);
    CHECK_RC(p_shutdown(), SUCCESS);
}

int main(int argc, char **argv)
{
    const char *lib_name = argc > 1 ? argv[1] : "libnvidia-ml.so.1";
    /* Start from a clean slate whatever the caller's environment holds. */
    unsetenv("FAKE_NVML_SCRIPT");
    unsetenv("FAKE_NVML_CALL_LOG");

    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fake-nvml-selftest.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(script_path, sizeof script_path, "%s/script", dir);
    snprintf(tmp_path, sizeof tmp_path, "%s/script.tmp", dir);
    snprintf(log_path, sizeof log_path, "%s/calls.log", dir);

    void *lib = dlopen(lib_name, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "FAIL: dlopen(%s): %s\n", lib_name, dlerror());
        return 1;
    }
    /* POSIX guarantees data/function pointer round-trips for dlsym results. */
    p_init_v2 = (nvmlReturn_t (*)(void))must_sym(lib, "nvmlInit_v2");
    p_init = (nvmlReturn_t (*)(void))must_sym(lib, "nvmlInit");
    p_shutdown = (nvmlReturn_t (*)(void))must_sym(lib, "nvmlShutdown");
    p_error_string = (const char *(*)(nvmlReturn_t))must_sym(lib, "nvmlErrorString");
    p_count_v2 = (nvmlReturn_t (*)(unsigned int *))must_sym(lib, "nvmlDeviceGetCount_v2");
    p_count = (nvmlReturn_t (*)(unsigned int *))must_sym(lib, "nvmlDeviceGetCount");
    p_handle_v2 = (nvmlReturn_t (*)(unsigned int, nvmlDevice_t *))must_sym(
        lib, "nvmlDeviceGetHandleByIndex_v2");
    p_handle = (nvmlReturn_t (*)(unsigned int, nvmlDevice_t *))must_sym(
        lib, "nvmlDeviceGetHandleByIndex");
    p_uuid = (nvmlReturn_t (*)(nvmlDevice_t, char *, unsigned int))must_sym(lib, "nvmlDeviceGetUUID");
    p_name = (nvmlReturn_t (*)(nvmlDevice_t, char *, unsigned int))must_sym(lib, "nvmlDeviceGetName");
    p_energy = (nvmlReturn_t (*)(nvmlDevice_t, unsigned long long *))must_sym(
        lib, "nvmlDeviceGetTotalEnergyConsumption");
    p_power = (nvmlReturn_t (*)(nvmlDevice_t, unsigned int *))must_sym(lib, "nvmlDeviceGetPowerUsage");
    p_index = (nvmlReturn_t (*)(nvmlDevice_t, unsigned int *))must_sym(lib, "nvmlDeviceGetIndex");
    p_driver = (nvmlReturn_t (*)(char *, unsigned int))must_sym(lib, "nvmlSystemGetDriverVersion");
    p_procs_v3 = (nvmlReturn_t (*)(nvmlDevice_t, unsigned int *, proc_v2_t *))must_sym(
        lib, "nvmlDeviceGetComputeRunningProcesses_v3");
    p_procs_v2 = (nvmlReturn_t (*)(nvmlDevice_t, unsigned int *, proc_v2_t *))must_sym(
        lib, "nvmlDeviceGetComputeRunningProcesses_v2");
    p_procs_v1 = (nvmlReturn_t (*)(nvmlDevice_t, unsigned int *, proc_v1_t *))must_sym(
        lib, "nvmlDeviceGetComputeRunningProcesses");
    p_util = (nvmlReturn_t (*)(nvmlDevice_t, util_sample_t *, unsigned int *, unsigned long long))
        must_sym(lib, "nvmlDeviceGetProcessUtilization");
    /* Internal helpers must not leak into the export table. */
    CHECK(dlsym(lib, "load_script") == NULL);
    CHECK(dlsym(lib, "do_running_processes") == NULL);
    if (failures) {
        fprintf(stderr, "selftest: missing symbols, giving up\n");
        return 1;
    }

    test_uninitialized();
    setenv("FAKE_NVML_SCRIPT", script_path, 1);
    test_no_script();
    test_init_fail_and_refcount();
    test_init_modes();
    test_values_and_faults();
    test_rewrite_between_calls();
    test_defaults_and_malformed();
    test_hang();
    test_proc_layouts();
    test_running_processes();
    test_process_utilization();
    test_proc_faults();
    test_proc_malformed();
    test_proc_cap();
    test_proc_backward_compat();
    test_call_log();
    test_concurrency();
    test_uninitialized(); /* every init above was matched by a shutdown */

    unlink(script_path);
    unlink(log_path);
    rmdir(dir);
    dlclose(lib);

    fprintf(stderr, "selftest: %d checks, %d failures — %s\n", checks, failures,
            failures ? "FAIL" : "PASS");
    return failures ? 1 : 0;
}
