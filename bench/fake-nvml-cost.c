/* The fake NVML library's own CPU cost per exporter sample, to subtract from footprint's GPU sampling cost.
 *
 *   fake-nvml-cost LIBRARY SWEEPS      (with FAKE_NVML_SCRIPT set as for the exporter)
 *
 * One sweep makes the calls footprint makes per sample once its GPUs are enumerated: one
 * nvmlDeviceGetTotalEnergyConsumption per GPU. The fake re-reads and parses its whole script on every call, so a sweep
 * costs O(GPUs²) here, which a real driver does not. Prints "GPUS MICROSECONDS_PER_SWEEP" (process CPU time).
 */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef int (*init_fn)(void);
typedef int (*count_fn)(unsigned int *);
typedef int (*handle_fn)(unsigned int, void **);
typedef int (*energy_fn)(void *, unsigned long long *);

static void *symbol(void *library, const char *name) {
    void *pointer = dlsym(library, name);
    if (pointer == NULL) {
        fprintf(stderr, "fake-nvml-cost: no %s in the library\n", name);
        exit(1);
    }
    return pointer;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIBRARY SWEEPS\n", argv[0]);
        return 2;
    }
    void *library = dlopen(argv[1], RTLD_NOW);
    if (library == NULL) {
        fprintf(stderr, "fake-nvml-cost: %s\n", dlerror());
        return 1;
    }
    init_fn init = (init_fn)symbol(library, "nvmlInit_v2");
    count_fn count = (count_fn)symbol(library, "nvmlDeviceGetCount_v2");
    handle_fn handle = (handle_fn)symbol(library, "nvmlDeviceGetHandleByIndex_v2");
    energy_fn energy = (energy_fn)symbol(library, "nvmlDeviceGetTotalEnergyConsumption");
    unsigned int gpus = 0;
    if (init() != 0 || count(&gpus) != 0 || gpus == 0 || gpus > 64) {
        fprintf(stderr, "fake-nvml-cost: NVML init or count failed (is FAKE_NVML_SCRIPT set?)\n");
        return 1;
    }
    void *handles[64];
    for (unsigned int i = 0; i < gpus; i++) {
        if (handle(i, &handles[i]) != 0) {
            fprintf(stderr, "fake-nvml-cost: no handle for GPU %u\n", i);
            return 1;
        }
    }
    long sweeps = atol(argv[2]);
    if (sweeps < 1) sweeps = 1;
    struct timespec begin, end;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &begin);
    for (long sweep = 0; sweep < sweeps; sweep++) {
        for (unsigned int i = 0; i < gpus; i++) {
            unsigned long long millijoules = 0;
            if (energy(handles[i], &millijoules) != 0) {
                fprintf(stderr, "fake-nvml-cost: energy read failed for GPU %u\n", i);
                return 1;
            }
        }
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &end);
    double microseconds = (double)(end.tv_sec - begin.tv_sec) * 1e6 + (double)(end.tv_nsec - begin.tv_nsec) / 1e3;
    printf("%u %.3f\n", gpus, microseconds / (double)sweeps);
    return 0;
}
