// libcurl, loaded with dlopen when first needed: the exporter itself never maps it (its resident memory and start-up
// stay as bench/RESULTS.md measures them); only `footprint_exporter report` and the network carbon-intensity
// providers load it. curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: the typed
// wrappers below call them from C.
#ifndef FOOTPRINT_CCURL_SHIM_H
#define FOOTPRINT_CCURL_SHIM_H

#include <curl/curl.h>
#include <dlfcn.h>
#include <stddef.h>

/// The libcurl functions the project calls, resolved from one loaded library.
typedef struct footprint_curl_api {
    void *library;
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *handle, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *handle);
    CURLcode (*easy_getinfo)(CURL *handle, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *handle);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *text);
    void (*slist_free_all)(struct curl_slist *list);
    curl_version_info_data *(*version_info)(CURLversion age);
} footprint_curl_api;

/// Loads libcurl from `path` and resolves every function; 0 on success, -1 when the library cannot be opened, -2 when
/// a function is missing (then nothing stays loaded). `dlerror()` says why.
static inline int footprint_curl_load(footprint_curl_api *api, const char *path) {
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) return -1;
    api->library = library;
    api->global_init = (CURLcode (*)(long))dlsym(library, "curl_global_init");
    api->easy_init = (CURL * (*)(void)) dlsym(library, "curl_easy_init");
    api->easy_setopt = (CURLcode (*)(CURL *, CURLoption, ...))dlsym(library, "curl_easy_setopt");
    api->easy_perform = (CURLcode (*)(CURL *))dlsym(library, "curl_easy_perform");
    api->easy_getinfo = (CURLcode (*)(CURL *, CURLINFO, ...))dlsym(library, "curl_easy_getinfo");
    api->easy_cleanup = (void (*)(CURL *))dlsym(library, "curl_easy_cleanup");
    api->easy_strerror = (const char *(*)(CURLcode))dlsym(library, "curl_easy_strerror");
    api->slist_append = (struct curl_slist * (*)(struct curl_slist *, const char *)) dlsym(library, "curl_slist_append");
    api->slist_free_all = (void (*)(struct curl_slist *))dlsym(library, "curl_slist_free_all");
    api->version_info = (curl_version_info_data * (*)(CURLversion)) dlsym(library, "curl_version_info");
    if (!api->global_init || !api->easy_init || !api->easy_setopt || !api->easy_perform || !api->easy_getinfo ||
        !api->easy_cleanup || !api->easy_strerror || !api->slist_append || !api->slist_free_all ||
        !api->version_info) {
        dlclose(library);
        api->library = NULL;
        return -2;
    }
    return 0;
}

static inline CURLcode footprint_curl_set_long(const footprint_curl_api *api, CURL *handle, CURLoption option,
                                               long value) {
    return api->easy_setopt(handle, option, value);
}

static inline CURLcode footprint_curl_set_string(const footprint_curl_api *api, CURL *handle, CURLoption option,
                                                 const char *value) {
    return api->easy_setopt(handle, option, value);
}

static inline CURLcode footprint_curl_set_pointer(const footprint_curl_api *api, CURL *handle, CURLoption option,
                                                  void *value) {
    return api->easy_setopt(handle, option, value);
}

static inline CURLcode footprint_curl_set_list(const footprint_curl_api *api, CURL *handle, CURLoption option,
                                               struct curl_slist *value) {
    return api->easy_setopt(handle, option, value);
}

typedef size_t (*footprint_curl_write_callback)(char *data, size_t size, size_t count, void *context);

static inline CURLcode footprint_curl_set_write(const footprint_curl_api *api, CURL *handle,
                                                footprint_curl_write_callback callback, void *context) {
    CURLcode status = api->easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
    if (status != CURLE_OK) return status;
    return api->easy_setopt(handle, CURLOPT_WRITEDATA, context);
}

static inline CURLcode footprint_curl_set_header_callback(const footprint_curl_api *api, CURL *handle,
                                                          footprint_curl_write_callback callback, void *context) {
    CURLcode status = api->easy_setopt(handle, CURLOPT_HEADERFUNCTION, callback);
    if (status != CURLE_OK) return status;
    return api->easy_setopt(handle, CURLOPT_HEADERDATA, context);
}

static inline long footprint_curl_response_code(const footprint_curl_api *api, CURL *handle) {
    long code = 0;
    if (api->easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK) return 0;
    return code;
}

/// CURLAUTH_BASIC, a macro with a cast that Swift does not import.
static inline long footprint_curl_auth_basic(void) { return (long)CURLAUTH_BASIC; }

/// What a libcurl result code means, never NULL.
static inline const char *footprint_curl_error(const footprint_curl_api *api, CURLcode code) {
    const char *text = api->easy_strerror(code);
    return text == NULL ? "unknown libcurl error" : text;
}

static inline const char *footprint_curl_version(const footprint_curl_api *api) {
    curl_version_info_data *info = api->version_info(CURLVERSION_NOW);
    return info == NULL ? "" : info->version;
}

#endif
