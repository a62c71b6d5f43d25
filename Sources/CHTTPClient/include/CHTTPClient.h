/*
 * The core's outbound HTTP client: a thin layer over libcurl's easy
 * interface, in C because curl_easy_setopt is variadic and Swift cannot call
 * it. It knows nothing of plugins or grants: the caller decides whether an
 * origin is allowed (bhc_url_origin) and passes the origin it allowed, which
 * bhc_http_perform checks again on the very URL handle curl will use, so the
 * check and the connection can never see two different parses.
 */
#ifndef CHTTPCLIENT_H
#define CHTTPCLIENT_H

#include <stddef.h>

typedef enum bhc_http_error {
    BHC_OK = 0,
    BHC_INVALID = 1,   /* a malformed URL, method or header */
    BHC_FORBIDDEN = 2, /* the URL's origin is not the one allowed */
    BHC_TOO_LARGE = 3, /* the response exceeded max_bytes */
    BHC_CANCELLED = 4, /* the cancel callback asked to stop */
    BHC_TIMEOUT = 5,   /* timeout_ms passed */
    BHC_IO = 6         /* could not connect, TLS failure, broken transfer */
} bhc_http_error;

/** An origin as curl parses it: scheme and host lower-case, port explicit. */
typedef struct bhc_origin {
    char scheme[8];
    char host[256];
    long port;
} bhc_origin;

/** Parses `url` (NUL-terminated) with curl's URL parser. Returns BHC_OK or BHC_INVALID. */
bhc_http_error bhc_url_origin(const char *url, bhc_origin *out);

typedef struct bhc_http_result {
    long status;
    char *headers; /* malloc'd, NUL-terminated; free with bhc_http_result_free */
    size_t headers_len;
    char *body;    /* likewise */
    size_t body_len;
    char message[400]; /* why it failed, for logs; never contains header values */
} bhc_http_result;

/** Returns non-zero to abort the transfer. Called from the transfer's thread. */
typedef int (*bhc_cancel_fn)(void *context);

/**
 * Performs one request, blocking the calling thread. `url` must parse to
 * `allowed`; redirects are not followed; proxies from the environment are
 * ignored. `method` is sent as given ("GET" and "HEAD" are curl's own).
 * `headers` are "Name: value" lines separated by "\n"; which names a caller
 * may set is the caller's rule, but a line with a CR or NUL, no colon, or an
 * empty value (curl's "remove this header" syntax) fails with BHC_INVALID.
 * curl's "Expect: 100-continue" is never sent. Any thread; each call uses its
 * own curl handle.
 */
bhc_http_error bhc_http_perform(const char *method, const char *url, const bhc_origin *allowed,
                                const char *headers, size_t headers_len,
                                const char *body, size_t body_len,
                                long timeout_ms, size_t max_bytes,
                                bhc_cancel_fn cancel, void *cancel_context,
                                bhc_http_result *out);

void bhc_http_result_free(bhc_http_result *r);

#endif
