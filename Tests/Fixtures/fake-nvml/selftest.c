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
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
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

static void *stress_writer(void *arg)
{
    (void)arg;
    for (int i = 0; !atomic_load(&stress_stop); i++)
        write_script(i % 2 ? "gpu energy_mj=1000\n" : "gpu energy_mj=2000\ngpu energy_mj=7\n");
    return NULL;
}

static void test_concurrency(void)
{
    write_script("gpu energy_mj=1000\n");
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
    /* Internal helpers must not leak into the export table. */
    CHECK(dlsym(lib, "load_script") == NULL);
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
