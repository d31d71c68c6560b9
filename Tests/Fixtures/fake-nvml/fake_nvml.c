/*
 * fake_nvml.c — a scriptable stand-in for libnvidia-ml.so.1.
 *
 * It exports the handful of NVML entry points footprint_exporter uses, with the
 * same names, argument types, return type and error-code values as NVIDIA's
 * library, so the real exporter binary can dlopen() it on a machine without a
 * GPU. What each call returns is decided by a small text file (see README.md)
 * named by $FAKE_NVML_SCRIPT.
 *
 * Design rules, and why:
 *  - The script is re-read on every call that needs device data: tests rewrite
 *    it (atomically, by rename) between scrapes and expect the very next call
 *    to see the change. No caching means no invalidation bugs.
 *  - The only shared mutable state is the init reference count, under a mutex.
 *    Everything else lives on the caller's stack or in a per-call allocation,
 *    so concurrent calls from many threads are safe and a "hung" call (which
 *    sleeps) never blocks anybody else.
 *  - Types are declared here, not taken from nvml.h, to keep this fixture free
 *    of NVIDIA's header. Only the ABI (widths, values, struct layouts,
 *    calling convention) has to match, and that is checked at compile time
 *    where possible.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- ABI: the subset of NVML's types and values this fixture needs. ---- */

/* NVML's return type is a C enum; on every Linux ABI we care about that is a
 * 32-bit int. The numeric values are NVML's and must not change. */
typedef enum nvmlReturn_enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_ALREADY_INITIALIZED = 5,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
    NVML_ERROR_MEMORY = 20,
    NVML_ERROR_UNKNOWN = 999
} nvmlReturn_t;

_Static_assert(sizeof(nvmlReturn_t) == sizeof(int), "nvmlReturn_t must be int-sized");
_Static_assert(sizeof(unsigned int) == 4, "NVML 'unsigned int' is 32-bit");
_Static_assert(sizeof(unsigned long long) == 8, "NVML 'unsigned long long' is 64-bit");

/* Opaque to callers, exactly as in NVML. Our handles point into a static array
 * so they stay valid for the life of the process, like the real ones. */
struct nvmlDevice_st {
    unsigned int reserved; /* never read or written; gives the struct a size */
};
typedef struct nvmlDevice_st *nvmlDevice_t;

/* Running-process records, as nvml.h declares them. Each versioned entry
 * point takes its own struct; the caller's array stride is that struct's size,
 * so a layout slip here is a buffer overrun in the caller.
 *   nvmlDeviceGetComputeRunningProcesses     -> nvmlProcessInfo_v1_t (16 bytes)
 *   nvmlDeviceGetComputeRunningProcesses_v2  -> nvmlProcessInfo_v2_t (24 bytes)
 *   nvmlDeviceGetComputeRunningProcesses_v3  -> nvmlProcessInfo_t    (24 bytes)
 * In every published nvml.h (CUDA 11.x to 13.x) nvmlProcessInfo_t has the v2
 * layout (from 12.2 on it is literally `} nvmlProcessInfo_v2_t,
 * nvmlProcessInfo_t;`). Some R535-era drivers nevertheless wrote 32-byte
 * entries (the v2 fields plus usedGpuCcProtectedMemory, the layout nvml.h now
 * calls nvmlProcessDetail_v1_t) from _v3 without a version bump; the script can
 * ask for that stride (`proc_info_v3_size=32`) to test a caller against it. */
typedef struct nvmlProcessInfo_v1_st {
    unsigned int pid;
    unsigned long long usedGpuMemory; /* bytes; NVML_VALUE_NOT_AVAILABLE if unknown */
} nvmlProcessInfo_v1_t;

typedef struct nvmlProcessInfo_v2_st {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;     /* 0xFFFFFFFF unless MIG is enabled */
    unsigned int computeInstanceId; /* 0xFFFFFFFF unless MIG is enabled */
} nvmlProcessInfo_v2_t, nvmlProcessInfo_t;

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
    unsigned long long usedGpuCcProtectedMemory; /* bytes of conf-compute protected memory */
} nvmlProcessDetail_v1_t;

/* nvmlDeviceGetProcessUtilization's sample. timeStamp is a CPU timestamp in µs. */
typedef struct nvmlProcessUtilizationSample_st {
    unsigned int pid;
    unsigned long long timeStamp;
    unsigned int smUtil;
    unsigned int memUtil;
    unsigned int encUtil;
    unsigned int decUtil;
} nvmlProcessUtilizationSample_t;

/* The layouts on LP64 Linux (x86_64, aarch64, ppc64le), where unsigned long
 * long is 8-aligned: 4 bytes of padding follow every leading pid. */
_Static_assert(sizeof(nvmlProcessInfo_v1_t) == 16, "nvmlProcessInfo_v1_t is 16 bytes");
_Static_assert(offsetof(nvmlProcessInfo_v1_t, usedGpuMemory) == 8, "v1 usedGpuMemory at 8");
_Static_assert(sizeof(nvmlProcessInfo_v2_t) == 24, "nvmlProcessInfo_v2_t is 24 bytes");
_Static_assert(offsetof(nvmlProcessInfo_v2_t, usedGpuMemory) == 8, "v2 usedGpuMemory at 8");
_Static_assert(offsetof(nvmlProcessInfo_v2_t, gpuInstanceId) == 16, "v2 gpuInstanceId at 16");
_Static_assert(offsetof(nvmlProcessInfo_v2_t, computeInstanceId) == 20, "v2 computeInstanceId at 20");
_Static_assert(sizeof(nvmlProcessInfo_t) == 24, "nvmlProcessInfo_t is the v2 layout");
_Static_assert(sizeof(nvmlProcessDetail_v1_t) == 32, "nvmlProcessDetail_v1_t is 32 bytes");
_Static_assert(offsetof(nvmlProcessDetail_v1_t, usedGpuCcProtectedMemory) == 24,
               "usedGpuCcProtectedMemory at 24");
_Static_assert(sizeof(nvmlProcessUtilizationSample_t) == 32, "sample is 32 bytes");
_Static_assert(offsetof(nvmlProcessUtilizationSample_t, timeStamp) == 8, "timeStamp at 8");
_Static_assert(offsetof(nvmlProcessUtilizationSample_t, smUtil) == 16, "smUtil at 16");
_Static_assert(offsetof(nvmlProcessUtilizationSample_t, memUtil) == 20, "memUtil at 20");
_Static_assert(offsetof(nvmlProcessUtilizationSample_t, encUtil) == 24, "encUtil at 24");
_Static_assert(offsetof(nvmlProcessUtilizationSample_t, decUtil) == 28, "decUtil at 28");

#define FAKE_VALUE_NOT_AVAILABLE ULLONG_MAX /* NVML_VALUE_NOT_AVAILABLE, (-1) */
#define FAKE_NO_INSTANCE_ID 0xFFFFFFFFu     /* gpu/computeInstanceId without MIG */

/* Buffer sizes NVML documents for these strings; scripted values must fit. */
#define FAKE_UUID_BUFFER_SIZE 80u    /* NVML_DEVICE_UUID_V2_BUFFER_SIZE */
#define FAKE_NAME_BUFFER_SIZE 96u    /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define FAKE_DRIVER_VERSION "999.99.99-fake"

#define FAKE_MAX_GPUS 64u
#define FAKE_MAX_PROCS_PER_GPU 256u
/* What the real nvmlDeviceGetProcessUtilization reports for a NULL buffer:
 * 100, whether or not anything runs (a fixed buffer size, not a process
 * count). The fake reports this, or the sample count if that is larger. */
#define FAKE_UTIL_SIZE_HINT 100u
#define FAKE_MIB 1048576ull
/* A script is a few lines; the cap only stops a wrong path (say, a log file)
 * from costing a huge allocation on every call. */
#define FAKE_SCRIPT_MAX_BYTES (1024u * 1024u)
#define FAKE_DEFAULT_HANG_SECONDS 30.0
/* Keeps a typo such as hang_seconds=3000000 from wedging a CI job for weeks. */
#define FAKE_MAX_HANG_SECONDS 86400.0

#define EXPORT __attribute__((visibility("default")))

/* ---- Shared state: the init reference count, and nothing else mutable. ---- */

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long init_refcount;

static struct nvmlDevice_st device_slots[FAKE_MAX_GPUS];

static bool is_initialized(void)
{
    pthread_mutex_lock(&init_lock);
    bool up = init_refcount > 0;
    pthread_mutex_unlock(&init_lock);
    return up;
}

/* Maps a handle back to its slot; -1 for anything that is not one of ours, so
 * a garbage handle gets INVALID_ARGUMENT instead of a crash. Compared as
 * integers because relational compares of unrelated pointers are undefined. */
static int handle_index(nvmlDevice_t device)
{
    uintptr_t p = (uintptr_t)device;
    uintptr_t base = (uintptr_t)&device_slots[0];
    if (device == NULL || p < base)
        return -1;
    uintptr_t off = p - base;
    if (off % sizeof(device_slots[0]) != 0)
        return -1;
    uintptr_t idx = off / sizeof(device_slots[0]);
    return idx < FAKE_MAX_GPUS ? (int)idx : -1;
}

/* ---- Optional call log ($FAKE_NVML_CALL_LOG). ---- */

/* One open/write/close per call: O_APPEND makes each short line land whole even
 * with concurrent writers, and holding no descriptor keeps this stateless. The
 * line is written on entry so a call that then hangs is still visible. */
static void log_call(const char *fn, int index)
{
    const char *path = getenv("FAKE_NVML_CALL_LOG");
    if (path == NULL || path[0] == '\0')
        return;
    char line[128];
    int n = index >= 0 ? snprintf(line, sizeof line, "%s %d\n", fn, index)
                       : snprintf(line, sizeof line, "%s -\n", fn);
    if (n <= 0 || (size_t)n >= sizeof line)
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    ssize_t w;
    do {
        w = write(fd, line, (size_t)n);
    } while (w < 0 && errno == EINTR);
    close(fd);
}

/* ---- Script reading and parsing. ---- */

enum fault { FAULT_NONE, FAULT_LOST, FAULT_UNKNOWN, FAULT_HANG };

/* What nvmlDeviceGetProcessUtilization is forced to answer (`proc_util=`). */
enum proc_util { PROC_UTIL_OK, PROC_UTIL_NOT_SUPPORTED, PROC_UTIL_NOT_FOUND };

struct gpu {
    char uuid[FAKE_UUID_BUFFER_SIZE];
    char name[FAKE_NAME_BUFFER_SIZE];
    unsigned long long energy_mj;
    unsigned int power_mw;
    bool energy_unsupported;
    bool power_unsupported;
    enum fault fault;
    double hang_seconds;
    enum proc_util proc_util;
};

/* One `proc` line. A process is listed by the running-processes calls when
 * `running`, and has a utilisation sample when `has_sample`. */
struct proc {
    unsigned int pid;
    unsigned long long used_bytes;
    unsigned long long cc_bytes;
    unsigned int gpu_instance, compute_instance;
    bool running;
    bool has_sample;
    unsigned long long ts_us;
    unsigned int sm, mem, enc, dec;
};

/* The `proc` lines of one GPU, in script order. ~14 KiB, so the calls that
 * need it allocate it rather than grow every thread's stack frame. */
struct proc_list {
    unsigned int count;
    struct proc procs[FAKE_MAX_PROCS_PER_GPU];
};

struct script {
    /* What nvmlInit* returns: NVML_SUCCESS, or the error an `init=` line
     * scripts (the last such line wins). */
    nvmlReturn_t init_result;
    unsigned int gpu_count;
    /* Entry stride _v3 writes: 24 (nvml.h) or 32 (R535-era drivers); 0 when
     * `proc_info_v3_size=` had a bad value. */
    unsigned int info_v3_size;
};

/* The `init=` modes. "fail" is the driver being absent; the others are a
 * driver that is there but refuses, which callers must tell apart. */
static nvmlReturn_t parse_init(const char *val)
{
    if (strcmp(val, "ok") == 0)
        return NVML_SUCCESS;
    if (strcmp(val, "fail") == 0)
        return NVML_ERROR_DRIVER_NOT_LOADED;
    if (strcmp(val, "mismatch") == 0)
        return NVML_ERROR_LIB_RM_VERSION_MISMATCH;
    if (strcmp(val, "no_permission") == 0)
        return NVML_ERROR_NO_PERMISSION;
    /* "unknown", and any value this fake does not know: a typo must not
     * pass for a working driver. */
    return NVML_ERROR_UNKNOWN;
}

/* Returns the script's text (malloc'd, NUL-terminated), or NULL when there is
 * no script: unset variable, missing or unreadable file. NULL means "a machine
 * with no GPUs", which is also what a driver with zero devices looks like. */
static char *read_script_text(void)
{
    const char *path = getenv("FAKE_NVML_SCRIPT");
    if (path == NULL || path[0] == '\0')
        return NULL;
    /* Opening once and reading that descriptor gives a consistent snapshot even
     * while a test renames a new version into place. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL;
    }
    size_t cap = st.st_size > (off_t)FAKE_SCRIPT_MAX_BYTES ? FAKE_SCRIPT_MAX_BYTES
                                                            : (size_t)st.st_size;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        return NULL;
    }
    size_t len = 0;
    while (len < cap) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return buf;
}

/* Strict decimal parsers: no sign, no whitespace, no base prefixes, no locale.
 * strtoull would accept "-1" (wrapping it) and " 12", which would hide typos. */
static bool parse_u64(const char *s, unsigned long long *out)
{
    if (*s == '\0')
        return false;
    unsigned long long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool parse_u32(const char *s, unsigned int *out)
{
    unsigned long long v;
    if (!parse_u64(s, &v) || v > UINT_MAX)
        return false;
    *out = (unsigned int)v;
    return true;
}

/* Seconds as "N" or "N.F". Hand-rolled because strtod honours LC_NUMERIC and
 * the host process may have set a locale where the separator is a comma. */
static bool parse_seconds(const char *s, double *out)
{
    double v = 0.0;
    bool digits = false;
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10.0 + (*s - '0');
        digits = true;
    }
    if (*s == '.') {
        double scale = 0.1;
        for (s++; *s >= '0' && *s <= '9'; s++) {
            v += (*s - '0') * scale;
            scale /= 10.0;
            digits = true;
        }
    }
    if (!digits || *s != '\0' || v > FAKE_MAX_HANG_SECONDS)
        return false;
    *out = v;
    return true;
}

/* Copies a scripted string; rejects empty or over-long values rather than
 * truncating, so a test never asserts against a silently shortened string. */
static bool copy_string(char *dst, size_t dst_size, const char *src, bool underscores_to_spaces)
{
    size_t n = strlen(src);
    if (n == 0 || n >= dst_size)
        return false;
    for (size_t i = 0; i <= n; i++)
        dst[i] = (underscores_to_spaces && src[i] == '_') ? ' ' : src[i];
    return true;
}

static const char *const token_separators = " \t\r\v\f";

/* Parses the tokens after "gpu" on one line. Unknown keys and bare words are
 * ignored so newer scripts still load; any bad value makes the whole GPU
 * fault=unknown, which is loud in tests yet still a legal NVML answer. */
static void parse_gpu_line(char **saveptr, unsigned int position, struct gpu *g)
{
    snprintf(g->uuid, sizeof g->uuid, "GPU-00000000-0000-0000-0000-%012u", position);
    snprintf(g->name, sizeof g->name, "Fake NVIDIA GPU");
    g->energy_mj = 0;
    g->power_mw = 0;
    g->energy_unsupported = false;
    g->power_unsupported = false;
    g->fault = FAULT_NONE;
    g->hang_seconds = FAKE_DEFAULT_HANG_SECONDS;
    g->proc_util = PROC_UTIL_OK;

    bool malformed = false;
    char *tok;
    while ((tok = strtok_r(NULL, token_separators, saveptr)) != NULL) {
        char *eq = strchr(tok, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        const char *key = tok;
        const char *val = eq + 1;

        if (strcmp(key, "index") == 0) {
            /* Devices are numbered by line order, as NVML enumerates them; an
             * index= that disagrees is a mistake in the test, so flag it. */
            unsigned int idx;
            if (!parse_u32(val, &idx) || idx != position)
                malformed = true;
        } else if (strcmp(key, "uuid") == 0) {
            if (!copy_string(g->uuid, sizeof g->uuid, val, false))
                malformed = true;
        } else if (strcmp(key, "name") == 0) {
            if (!copy_string(g->name, sizeof g->name, val, true))
                malformed = true;
        } else if (strcmp(key, "energy_mj") == 0) {
            g->energy_unsupported = strcmp(val, "unsupported") == 0;
            if (!g->energy_unsupported && !parse_u64(val, &g->energy_mj))
                malformed = true;
        } else if (strcmp(key, "power_mw") == 0) {
            g->power_unsupported = strcmp(val, "unsupported") == 0;
            if (!g->power_unsupported && !parse_u32(val, &g->power_mw))
                malformed = true;
        } else if (strcmp(key, "fault") == 0) {
            if (strcmp(val, "none") == 0)
                g->fault = FAULT_NONE;
            else if (strcmp(val, "lost") == 0)
                g->fault = FAULT_LOST;
            else if (strcmp(val, "unknown") == 0)
                g->fault = FAULT_UNKNOWN;
            else if (strcmp(val, "hang") == 0)
                g->fault = FAULT_HANG;
            else
                malformed = true;
        } else if (strcmp(key, "hang_seconds") == 0) {
            if (!parse_seconds(val, &g->hang_seconds))
                malformed = true;
        } else if (strcmp(key, "proc_util") == 0) {
            if (strcmp(val, "ok") == 0)
                g->proc_util = PROC_UTIL_OK;
            else if (strcmp(val, "not_supported") == 0)
                g->proc_util = PROC_UTIL_NOT_SUPPORTED;
            else if (strcmp(val, "not_found") == 0)
                g->proc_util = PROC_UTIL_NOT_FOUND;
            else
                malformed = true;
        }
    }
    if (malformed)
        g->fault = FAULT_UNKNOWN;
}

/* Keys that may sit on any line other than a `gpu` line and describe the
 * driver as a whole. Returns true if `key` was one of them. */
static bool apply_global_key(struct script *s, const char *key, const char *val)
{
    if (strcmp(key, "init") == 0) {
        s->init_result = parse_init(val);
        return true;
    }
    if (strcmp(key, "proc_info_v3_size") == 0) {
        if (strcmp(val, "24") == 0)
            s->info_v3_size = (unsigned int)sizeof(nvmlProcessInfo_t);
        else if (strcmp(val, "32") == 0)
            s->info_v3_size = (unsigned int)sizeof(nvmlProcessDetail_v1_t);
        else
            s->info_v3_size = 0; /* a typo must not pick a stride silently */
        return true;
    }
    return false;
}

/* MiB as a byte count, or `unavailable` for NVML_VALUE_NOT_AVAILABLE. */
static bool parse_mib(const char *val, unsigned long long *bytes)
{
    if (strcmp(val, "unavailable") == 0) {
        *bytes = FAKE_VALUE_NOT_AVAILABLE;
        return true;
    }
    unsigned long long mb;
    /* The all-ones byte count is reserved for "unavailable". */
    if (!parse_u64(val, &mb) || mb > (ULLONG_MAX - 1) / FAKE_MIB)
        return false;
    *bytes = mb * FAKE_MIB;
    return true;
}

/* Parses the tokens after "proc". Returns false for a malformed line, which
 * the caller drops: a process needs `gpu=` and `pid=`, every known key needs a
 * valid value, and `sm=` needs a `ts=` (a number, or `none`). Global keys such
 * as `init=` still apply, as on any other non-gpu line. */
static bool parse_proc_line(char **saveptr, struct script *s, unsigned int *gpu, struct proc *p)
{
    memset(p, 0, sizeof *p);
    p->gpu_instance = FAKE_NO_INSTANCE_ID;
    p->compute_instance = FAKE_NO_INSTANCE_ID;
    p->running = true;

    bool ok = true, have_gpu = false, have_pid = false, have_sm = false;
    bool have_ts = false, ts_none = false;
    char *tok;
    while ((tok = strtok_r(NULL, token_separators, saveptr)) != NULL) {
        char *eq = strchr(tok, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        const char *key = tok;
        const char *val = eq + 1;

        if (apply_global_key(s, key, val)) {
        } else if (strcmp(key, "gpu") == 0) {
            have_gpu = true;
            ok = ok && parse_u32(val, gpu);
        } else if (strcmp(key, "pid") == 0) {
            have_pid = true;
            ok = ok && parse_u32(val, &p->pid);
        } else if (strcmp(key, "sm") == 0) {
            have_sm = true;
            ok = ok && parse_u32(val, &p->sm);
        } else if (strcmp(key, "mem") == 0) {
            ok = ok && parse_u32(val, &p->mem);
        } else if (strcmp(key, "enc") == 0) {
            ok = ok && parse_u32(val, &p->enc);
        } else if (strcmp(key, "dec") == 0) {
            ok = ok && parse_u32(val, &p->dec);
        } else if (strcmp(key, "ts") == 0) {
            have_ts = true;
            ts_none = strcmp(val, "none") == 0;
            ok = ok && (ts_none || parse_u64(val, &p->ts_us));
        } else if (strcmp(key, "used_mb") == 0) {
            ok = ok && parse_mib(val, &p->used_bytes);
        } else if (strcmp(key, "cc_mb") == 0) {
            ok = ok && parse_mib(val, &p->cc_bytes);
        } else if (strcmp(key, "gi") == 0) {
            ok = ok && parse_u32(val, &p->gpu_instance);
        } else if (strcmp(key, "ci") == 0) {
            ok = ok && parse_u32(val, &p->compute_instance);
        } else if (strcmp(key, "running") == 0) {
            if (strcmp(val, "yes") == 0)
                p->running = true;
            else if (strcmp(val, "no") == 0)
                p->running = false;
            else
                ok = false;
        }
    }
    if (!have_gpu || !have_pid || (have_sm && !have_ts))
        return false;
    p->has_sample = have_sm && !ts_none;
    return ok;
}

/* Loads the current script. Always fills `s`; fills `g` (if non-NULL) with the
 * GPU at position `want` when the script has one, and `pl` (if non-NULL) with
 * that GPU's `proc` lines. Only the wanted GPU is kept so the per-call
 * footprint stays a few hundred bytes of stack (plus `pl`, on the heap). */
static void load_script(struct script *s, unsigned int want, struct gpu *g,
                        struct proc_list *pl)
{
    s->init_result = NVML_SUCCESS;
    s->gpu_count = 0;
    s->info_v3_size = (unsigned int)sizeof(nvmlProcessInfo_t);
    if (pl != NULL)
        pl->count = 0;

    char *text = read_script_text();
    if (text == NULL)
        return;

    char *line = text;
    while (line != NULL) {
        char *next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';

        char *saveptr = NULL;
        char *first = strtok_r(line, token_separators, &saveptr);
        if (first != NULL && strcmp(first, "gpu") == 0) {
            if (s->gpu_count < FAKE_MAX_GPUS) {
                if (g != NULL && s->gpu_count == want)
                    parse_gpu_line(&saveptr, s->gpu_count, g);
                s->gpu_count++;
            }
        } else if (first != NULL && strcmp(first, "proc") == 0) {
            /* Parsed even when nobody wants processes: global keys on it count. */
            struct proc p;
            unsigned int gpu = 0;
            if (parse_proc_line(&saveptr, s, &gpu, &p) && pl != NULL && gpu == want &&
                pl->count < FAKE_MAX_PROCS_PER_GPU)
                pl->procs[pl->count++] = p;
        } else {
            for (char *tok = first; tok != NULL; tok = strtok_r(NULL, token_separators, &saveptr)) {
                char *eq = strchr(tok, '=');
                if (eq == NULL)
                    continue;
                *eq = '\0';
                apply_global_key(s, tok, eq + 1);
            }
        }
        line = next;
    }
    free(text);
}

/* A GPU stuck in D-state holds the calling thread; nothing else is held. */
static void hang_for(double seconds)
{
    struct timespec left;
    left.tv_sec = (time_t)seconds;
    left.tv_nsec = (long)((seconds - (double)left.tv_sec) * 1e9);
    if (left.tv_nsec >= 1000000000L)
        left.tv_nsec = 999999999L;
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
}

/* The checks every per-device query shares, in NVML's order: initialisation,
 * arguments, then the device's own state. On success `g` holds its script and
 * `pl`, if non-NULL, its processes; `s`, if non-NULL, gets the script header. */
static nvmlReturn_t device_prologue(const char *fn, nvmlDevice_t device, const void *out,
                                    struct gpu *g, struct proc_list *pl, struct script *s_out)
{
    int idx = handle_index(device);
    log_call(fn, idx);
    if (!is_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (idx < 0 || out == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;

    struct script s;
    load_script(&s, (unsigned int)idx, g, pl);
    if (s_out != NULL)
        *s_out = s;
    /* The script shrank under a live handle: to the caller that GPU has fallen
     * off the bus, which is exactly how hot-removal looks through NVML. */
    if ((unsigned int)idx >= s.gpu_count)
        return NVML_ERROR_GPU_IS_LOST;
    if (g->fault == FAULT_LOST)
        return NVML_ERROR_GPU_IS_LOST;
    if (g->fault == FAULT_UNKNOWN)
        return NVML_ERROR_UNKNOWN;
    return NVML_SUCCESS;
}

/* Writes a NUL-terminated string into a caller buffer of `length` bytes. */
static nvmlReturn_t put_string(char *dst, unsigned int length, const char *src)
{
    size_t n = strlen(src);
    if ((size_t)length < n + 1)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, n + 1);
    return NVML_SUCCESS;
}

/* ---- Exported NVML entry points. ---- */

static nvmlReturn_t do_init(const char *fn)
{
    log_call(fn, -1);
    struct script s;
    load_script(&s, 0, NULL, NULL);
    if (s.init_result != NVML_SUCCESS)
        return s.init_result;
    pthread_mutex_lock(&init_lock);
    init_refcount++;
    pthread_mutex_unlock(&init_lock);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    return do_init("nvmlInit_v2");
}

EXPORT nvmlReturn_t nvmlInit(void)
{
    return do_init("nvmlInit");
}

EXPORT nvmlReturn_t nvmlShutdown(void)
{
    log_call("nvmlShutdown", -1);
    nvmlReturn_t rc = NVML_SUCCESS;
    pthread_mutex_lock(&init_lock);
    if (init_refcount == 0)
        rc = NVML_ERROR_UNINITIALIZED;
    else
        init_refcount--;
    pthread_mutex_unlock(&init_lock);
    return rc;
}

/* Usable before init, like the real one; strings are static. */
EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
    log_call("nvmlErrorString", -1);
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch";
    case NVML_ERROR_MEMORY: return "Insufficient Memory";
    case NVML_ERROR_UNKNOWN: return "Unknown Error";
    }
    return "Unknown Error";
}

static nvmlReturn_t do_get_count(const char *fn, unsigned int *count)
{
    log_call(fn, -1);
    if (!is_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (count == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    struct script s;
    load_script(&s, 0, NULL, NULL);
    *count = s.gpu_count;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    return do_get_count("nvmlDeviceGetCount_v2", deviceCount);
}

EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount)
{
    return do_get_count("nvmlDeviceGetCount", deviceCount);
}

/* Handles are handed out regardless of the GPU's fault: NVML enumerates a lost
 * GPU too and reports the loss on the queries that touch it. */
static nvmlReturn_t do_get_handle(const char *fn, unsigned int index, nvmlDevice_t *device)
{
    log_call(fn, index > (unsigned int)INT_MAX ? -1 : (int)index);
    if (!is_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (device == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    struct script s;
    load_script(&s, 0, NULL, NULL);
    if (index >= s.gpu_count)
        return NVML_ERROR_INVALID_ARGUMENT;
    *device = &device_slots[index];
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    return do_get_handle("nvmlDeviceGetHandleByIndex_v2", index, device);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
    return do_get_handle("nvmlDeviceGetHandleByIndex", index, device);
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    struct gpu g;
    nvmlReturn_t rc = device_prologue("nvmlDeviceGetUUID", device, uuid, &g, NULL, NULL);
    return rc != NVML_SUCCESS ? rc : put_string(uuid, length, g.uuid);
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    struct gpu g;
    nvmlReturn_t rc = device_prologue("nvmlDeviceGetName", device, name, &g, NULL, NULL);
    return rc != NVML_SUCCESS ? rc : put_string(name, length, g.name);
}

EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    struct gpu g;
    nvmlReturn_t rc = device_prologue("nvmlDeviceGetIndex", device, index, &g, NULL, NULL);
    if (rc == NVML_SUCCESS)
        *index = (unsigned int)handle_index(device);
    return rc;
}

/* Energy and power are the reads a wedged GPU stalls on, so only they hang.
 * The values returned afterwards are those scripted when the call began. */
EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device,
                                                        unsigned long long *energy)
{
    struct gpu g;
    nvmlReturn_t rc = device_prologue("nvmlDeviceGetTotalEnergyConsumption", device, energy, &g, NULL, NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    if (g.fault == FAULT_HANG)
        hang_for(g.hang_seconds);
    if (g.energy_unsupported)
        return NVML_ERROR_NOT_SUPPORTED;
    *energy = g.energy_mj;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power)
{
    struct gpu g;
    nvmlReturn_t rc = device_prologue("nvmlDeviceGetPowerUsage", device, power, &g, NULL, NULL);
    if (rc != NVML_SUCCESS)
        return rc;
    if (g.fault == FAULT_HANG)
        hang_for(g.hang_seconds);
    if (g.power_unsupported)
        return NVML_ERROR_NOT_SUPPORTED;
    *power = g.power_mw;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    log_call("nvmlSystemGetDriverVersion", -1);
    if (!is_initialized())
        return NVML_ERROR_UNINITIALIZED;
    if (version == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    return put_string(version, length, FAKE_DRIVER_VERSION);
}

/* ---- Per-process attribution: running processes and their utilisation. ---- */

/* The prologue plus this GPU's `proc` lines. On NVML_SUCCESS the caller owns
 * *plp and frees it; on any error *plp is NULL. */
static nvmlReturn_t proc_prologue(const char *fn, nvmlDevice_t device, const void *out,
                                  struct gpu *g, struct script *s, struct proc_list **plp)
{
    struct proc_list *pl = malloc(sizeof *pl);
    /* Without memory, still answer init and argument errors in NVML's order. */
    nvmlReturn_t rc = device_prologue(fn, device, out, g, pl, s);
    if (rc == NVML_SUCCESS && pl == NULL)
        rc = NVML_ERROR_MEMORY;
    if (rc != NVML_SUCCESS) {
        free(pl);
        pl = NULL;
    }
    *plp = pl;
    return rc;
}

/* The running-processes contract shared by all three versions; `version`
 * (1, 2, 3) picks the caller's array element size. nvml.h: "To query the current
 * number of running compute processes, call this function with *infoCount =
 * 0. The return code will be NVML_ERROR_INSUFFICIENT_SIZE, or NVML_SUCCESS if
 * none are running. For this call infos is allowed to be NULL." */
static nvmlReturn_t do_running_processes(const char *fn, nvmlDevice_t device,
                                         unsigned int *infoCount, void *infos, int version)
{
    struct gpu g;
    struct script s;
    struct proc_list *pl;
    nvmlReturn_t rc = proc_prologue(fn, device, infoCount, &g, &s, &pl);
    if (rc != NVML_SUCCESS)
        return rc;

    size_t stride = version == 1   ? sizeof(nvmlProcessInfo_v1_t)
                    : version == 2 ? sizeof(nvmlProcessInfo_v2_t)
                                   : (size_t)s.info_v3_size;
    unsigned int needed = 0;
    for (unsigned int i = 0; i < pl->count; i++)
        needed += pl->procs[i].running ? 1u : 0u;

    if (stride == 0) {
        rc = NVML_ERROR_UNKNOWN; /* bad proc_info_v3_size= */
    } else if (needed > *infoCount) {
        *infoCount = needed;
        rc = NVML_ERROR_INSUFFICIENT_SIZE;
    } else if (needed == 0) {
        *infoCount = 0;
    } else if (infos == NULL) {
        rc = NVML_ERROR_INVALID_ARGUMENT; /* room claimed for entries, but no array */
    } else {
        unsigned char *dst = infos;
        unsigned int n = 0;
        for (unsigned int i = 0; i < pl->count; i++) {
            const struct proc *p = &pl->procs[i];
            if (!p->running)
                continue;
            /* Build the widest layout, zeroed (padding included), and copy
             * the caller's prefix of it: v1, v2 and the 32-byte v3 share their
             * leading fields, so exactly `stride` bytes land per entry. */
            nvmlProcessDetail_v1_t e;
            memset(&e, 0, sizeof e);
            e.pid = p->pid;
            e.usedGpuMemory = p->used_bytes;
            e.gpuInstanceId = p->gpu_instance;
            e.computeInstanceId = p->compute_instance;
            e.usedGpuCcProtectedMemory = p->cc_bytes;
            memcpy(dst + (size_t)n * stride, &e, stride);
            n++;
        }
        *infoCount = n;
    }
    free(pl);
    return rc;
}

_Static_assert(offsetof(nvmlProcessDetail_v1_t, usedGpuMemory) ==
                       offsetof(nvmlProcessInfo_v1_t, usedGpuMemory) &&
                   offsetof(nvmlProcessDetail_v1_t, gpuInstanceId) ==
                       offsetof(nvmlProcessInfo_v2_t, gpuInstanceId) &&
                   offsetof(nvmlProcessDetail_v1_t, computeInstanceId) ==
                       offsetof(nvmlProcessInfo_v2_t, computeInstanceId),
               "v1 and v2 are prefixes of the 32-byte layout");

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device,
                                                            unsigned int *infoCount,
                                                            nvmlProcessInfo_t *infos)
{
    return do_running_processes("nvmlDeviceGetComputeRunningProcesses_v3", device, infoCount,
                                infos, 3);
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device,
                                                            unsigned int *infoCount,
                                                            nvmlProcessInfo_v2_t *infos)
{
    return do_running_processes("nvmlDeviceGetComputeRunningProcesses_v2", device, infoCount,
                                infos, 2);
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device,
                                                         unsigned int *infoCount,
                                                         nvmlProcessInfo_v1_t *infos)
{
    return do_running_processes("nvmlDeviceGetComputeRunningProcesses", device, infoCount,
                                infos, 1);
}

/* nvml.h: call with utilization NULL to size the buffer, then with the buffer
 * and its capacity in *processSamplesCount; only samples with timeStamp >
 * lastSeenTimeStamp come back, and NVML_ERROR_NOT_FOUND when there are none.
 * The real size query answers NVML_ERROR_INSUFFICIENT_SIZE with a fixed 100
 * even on an idle GPU, so the fake does too (or more, if more samples exist):
 * callers must use the count the second call returns, not the first. */
EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device,
                                                    nvmlProcessUtilizationSample_t *utilization,
                                                    unsigned int *processSamplesCount,
                                                    unsigned long long lastSeenTimeStamp)
{
    struct gpu g;
    struct script s;
    struct proc_list *pl;
    nvmlReturn_t rc = proc_prologue("nvmlDeviceGetProcessUtilization", device,
                                    processSamplesCount, &g, &s, &pl);
    if (rc != NVML_SUCCESS)
        return rc;

    unsigned int total = 0, newer = 0;
    if (g.proc_util == PROC_UTIL_OK) {
        for (unsigned int i = 0; i < pl->count; i++) {
            if (!pl->procs[i].has_sample)
                continue;
            total++;
            if (pl->procs[i].ts_us > lastSeenTimeStamp)
                newer++;
        }
    }

    if (g.proc_util == PROC_UTIL_NOT_SUPPORTED) {
        rc = NVML_ERROR_NOT_SUPPORTED; /* e.g. MIG enabled */
    } else if (utilization == NULL) {
        *processSamplesCount = total > FAKE_UTIL_SIZE_HINT ? total : FAKE_UTIL_SIZE_HINT;
        rc = NVML_ERROR_INSUFFICIENT_SIZE;
    } else if (newer == 0) {
        rc = NVML_ERROR_NOT_FOUND;
    } else if (newer > *processSamplesCount) {
        *processSamplesCount = newer;
        rc = NVML_ERROR_INSUFFICIENT_SIZE;
    } else {
        unsigned int n = 0;
        for (unsigned int i = 0; i < pl->count; i++) {
            const struct proc *p = &pl->procs[i];
            if (!p->has_sample || p->ts_us <= lastSeenTimeStamp)
                continue;
            nvmlProcessUtilizationSample_t e;
            memset(&e, 0, sizeof e);
            e.pid = p->pid;
            e.timeStamp = p->ts_us;
            e.smUtil = p->sm;
            e.memUtil = p->mem;
            e.encUtil = p->enc;
            e.decUtil = p->dec;
            memcpy(&utilization[n++], &e, sizeof e);
        }
        *processSamplesCount = n;
    }
    free(pl);
    return rc;
}
