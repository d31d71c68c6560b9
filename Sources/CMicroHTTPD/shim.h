#ifndef FOOTPRINT_CMICROHTTPD_SHIM_H
#define FOOTPRINT_CMICROHTTPD_SHIM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <microhttpd.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <crypt.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>

/// Swift cannot call the variadic MHD_start_daemon, so options travel as one MHD_OPTION_ARRAY.
static inline struct MHD_Daemon *footprint_mhd_start(unsigned int flags, uint16_t port,
                                                     MHD_AccessHandlerCallback handler, void *handler_cls,
                                                     struct MHD_OptionItem *options) {
    return MHD_start_daemon(flags, port, NULL, NULL, handler, handler_cls, MHD_OPTION_ARRAY, options,
                            MHD_OPTION_END);
}

/// The bound port (useful with port 0); 0 when unknown.
static inline uint16_t footprint_mhd_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info == NULL ? 0 : info->port;
}

/// Whether a DER certificate may be used for TLS client authentication: its extended key usage lists clientAuth or
/// anyExtendedKeyUsage, or it has no extended key usage at all (any use), which is what Go's crypto/x509 accepts for
/// the exporter-toolkit. Returns 1 or 0; a certificate GnuTLS cannot parse is 0.
static inline int footprint_certificate_allows_client_auth(const gnutls_datum_t *der) {
    gnutls_x509_crt_t certificate;
    if (gnutls_x509_crt_init(&certificate) < 0) return 0;
    int allowed = 0;
    if (gnutls_x509_crt_import(certificate, der, GNUTLS_X509_FMT_DER) >= 0) {
        for (unsigned int index = 0;; index++) {
            char oid[128];
            size_t size = sizeof oid;
            int status = gnutls_x509_crt_get_key_purpose_oid(certificate, index, oid, &size, NULL);
            if (status == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
                allowed = index == 0;  /* no extended key usage extension: not restricted */
                break;
            }
            if (status == GNUTLS_E_SHORT_MEMORY_BUFFER) continue;  /* longer than either OID we look for */
            if (status < 0) break;
            if (strcmp(oid, GNUTLS_KP_TLS_WWW_CLIENT) == 0 || strcmp(oid, GNUTLS_KP_ANY) == 0) {
                allowed = 1;
                break;
            }
        }
    }
    gnutls_x509_crt_deinit(certificate);
    return allowed;
}

/// The client certificate of a TLS connection: 0 verified against the trust CA and usable for client
/// authentication, 1 none presented, 2 presented but not valid (does not chain to the CA, or a certificate the client
/// sent is restricted to other uses, such as a server-only certificate), 3 not a TLS connection. libmicrohttpd only
/// *requests* a certificate; this is the verification.
static inline int footprint_mhd_client_certificate_status(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (info == NULL || info->tls_session == NULL) return 3;
    gnutls_session_t session = (gnutls_session_t)info->tls_session;
    unsigned int count = 0;
    const gnutls_datum_t *certificates = gnutls_certificate_get_peers(session, &count);
    if (certificates == NULL || count == 0) return 1;
    unsigned int status = 0;
    if (gnutls_certificate_verify_peers2(session, &status) != GNUTLS_E_SUCCESS || status != 0) return 2;
    /* Like Go's verifier, every certificate of the chain the client sent must allow client authentication. */
    for (unsigned int index = 0; index < count; index++) {
        if (!footprint_certificate_allows_client_auth(&certificates[index])) return 2;
    }
    return 0;
}

/// Counts what a request head costs in libmicrohttpd's connection memory: `totals[0]` header fields, cookies and
/// query arguments (one record each), `totals[1]` bytes of the header fields written as "name: value\r\n", and
/// `totals[2]` bytes of the Cookie header (copied once more to be parsed).
static enum MHD_Result footprint_count_head_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                                  size_t key_size, const char *value, size_t value_size) {
    size_t *totals = (size_t *)cls;
    totals[0] += 1;
    if (kind == MHD_HEADER_KIND) {
        totals[1] += key_size + 2 + value_size + 2;
        if (key_size == 6 && strncasecmp(key, "Cookie", 6) == 0) totals[2] += value_size;
    }
    (void)value;
    return MHD_YES;
}

/// Fills `totals` (three counts, see footprint_count_head_value) for the request on `connection`.
static inline void footprint_mhd_head_size(struct MHD_Connection *connection, size_t *totals) {
    totals[0] = 0;
    totals[1] = 0;
    totals[2] = 0;
    MHD_get_connection_values_n(connection, MHD_HEADER_KIND | MHD_COOKIE_KIND | MHD_GET_ARGUMENT_KIND,
                                footprint_count_head_value, totals);
}

/// The socket of a connection, or -1.
static inline int footprint_mhd_connection_fd(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info == NULL ? -1 : info->connect_fd;
}

/// SHA-256 of `length` bytes at `data` into `digest` (32 bytes); 0 on success. For Content-Security-Policy hashes.
static inline int footprint_sha256(const void *data, size_t length, unsigned char *digest) {
    return gnutls_hash_fast(GNUTLS_DIG_SHA256, data, length, digest);
}

/// Checks TLS material the way libmicrohttpd will load it, so a broken certificate, key, CA or priority string is
/// reported before a running server is touched. Returns 0 or a GnuTLS error code; `where` names the failing part.
static inline int footprint_tls_validate(const char *certificate, const char *key, const char *trust,
                                         const char *priorities, const char **where) {
    gnutls_certificate_credentials_t credentials;
    int status = gnutls_certificate_allocate_credentials(&credentials);
    if (status < 0) { *where = "credentials"; return status; }
    gnutls_datum_t certificate_datum = { (unsigned char *)certificate, (unsigned int)strlen(certificate) };
    gnutls_datum_t key_datum = { (unsigned char *)key, (unsigned int)strlen(key) };
    status = gnutls_certificate_set_x509_key_mem(credentials, &certificate_datum, &key_datum, GNUTLS_X509_FMT_PEM);
    if (status < 0) { *where = "certificate/key"; gnutls_certificate_free_credentials(credentials); return status; }
    if (trust != NULL) {
        gnutls_datum_t trust_datum = { (unsigned char *)trust, (unsigned int)strlen(trust) };
        status = gnutls_certificate_set_x509_trust_mem(credentials, &trust_datum, GNUTLS_X509_FMT_PEM);
        if (status <= 0) {
            *where = "client CA";
            gnutls_certificate_free_credentials(credentials);
            return status == 0 ? GNUTLS_E_NO_CERTIFICATE_FOUND : status;
        }
    }
    gnutls_certificate_free_credentials(credentials);
    gnutls_priority_t priority;
    const char *error_position = NULL;
    status = gnutls_priority_init(&priority, priorities, &error_position);
    if (status < 0) { *where = "priorities"; return status; }
    gnutls_priority_deinit(priority);
    return 0;
}

/// Hashes `password` with the setting (salt and cost) of `hash` using libcrypt's reentrant crypt_r; writes the
/// result to `out` (at least CRYPT_OUTPUT_SIZE bytes). Returns 0 on success.
static inline int footprint_crypt(const char *password, const char *hash, char *out, size_t out_size) {
    struct crypt_data *data = calloc(1, sizeof(struct crypt_data));
    if (data == NULL) return -1;
    const char *result = crypt_r(password, hash, data);
    int status = -1;
    if (result != NULL && result[0] != '*' && strlen(result) < out_size) {
        memcpy(out, result, strlen(result) + 1);
        status = 0;
    }
    explicit_bzero(data, sizeof(struct crypt_data));
    free(data);
    return status;
}

/// A fresh bcrypt setting ("$2b$<cost>$<salt>") for the dummy hash that unknown users are checked against.
static inline int footprint_bcrypt_setting(unsigned long cost, char *out, int out_size) {
    return crypt_gensalt_rn("$2b$", cost, NULL, 0, out, out_size) == NULL ? -1 : 0;
}

#endif
