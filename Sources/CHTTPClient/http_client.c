#include "CHTTPClient.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * libcurl is opened on first use, not linked: with its dependencies (TLS,
 * Kerberos, LDAP, ...) it adds some 30 libraries and over 6 MiB of resident
 * memory to every process, and most servers grant no plugin any HTTP.
 */
static struct {
    int ok;
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLU *(*url)(void);
    void (*url_cleanup)(CURLU *);
    CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
    CURLUcode (*url_get)(const CURLU *, CURLUPart, char **, unsigned int);
    void (*free)(void *);
} lib;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
#define BIND(field, symbol) *(void **)&lib.field = dlsym(h, symbol)
    BIND(global_init, "curl_global_init");
    BIND(easy_init, "curl_easy_init");
    BIND(easy_setopt, "curl_easy_setopt");
    BIND(easy_perform, "curl_easy_perform");
    BIND(easy_getinfo, "curl_easy_getinfo");
    BIND(easy_cleanup, "curl_easy_cleanup");
    BIND(easy_strerror, "curl_easy_strerror");
    BIND(slist_append, "curl_slist_append");
    BIND(slist_free_all, "curl_slist_free_all");
    BIND(url, "curl_url");
    BIND(url_cleanup, "curl_url_cleanup");
    BIND(url_set, "curl_url_set");
    BIND(url_get, "curl_url_get");
    BIND(free, "curl_free");
#undef BIND
    lib.ok = lib.global_init && lib.easy_init && lib.easy_setopt && lib.easy_perform && lib.easy_getinfo &&
             lib.easy_cleanup && lib.easy_strerror && lib.slist_append && lib.slist_free_all && lib.url &&
             lib.url_cleanup && lib.url_set && lib.url_get && lib.free &&
             lib.global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* Opens libcurl once; false when it is not installed (then nothing here works). */
static int have_curl(void)
{
    pthread_once(&once, global_init);
    return lib.ok;
}

typedef struct growing {
    char *ptr;
    size_t len, cap, max;
    int overflow;
} growing;

static int append(growing *g, const char *data, size_t n)
{
    if (g->len + n > g->max) {
        g->overflow = 1;
        return -1;
    }
    if (g->len + n + 1 > g->cap) {
        size_t cap = g->cap ? g->cap : 4096;
        while (cap < g->len + n + 1)
            cap *= 2;
        char *p = realloc(g->ptr, cap);
        if (!p)
            return -1;
        g->ptr = p;
        g->cap = cap;
    }
    memcpy(g->ptr + g->len, data, n);
    g->len += n;
    g->ptr[g->len] = '\0';
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    return append(ud, data, size * n) == 0 ? size * n : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    return append(ud, data, size * n) == 0 ? size * n : 0;
}

typedef struct cancel_ctx {
    bhc_cancel_fn fn;
    void *context;
    int fired;
} cancel_ctx;

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    cancel_ctx *cc = ud;
    if (cc->fn && cc->fn(cc->context)) {
        cc->fired = 1;
        return 1;
    }
    return 0;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* Fills `out` from a parsed URL handle; the port is explicit even when the URL omits it. */
static bhc_http_error origin_of(CURLU *u, bhc_origin *out)
{
    char *scheme = NULL, *host = NULL, *port = NULL;
    bhc_http_error err = BHC_INVALID;
    if (lib.url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        lib.url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        lib.url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        strlen(scheme) < sizeof out->scheme && strlen(host) < sizeof out->host) {
        strcpy(out->scheme, scheme);
        strcpy(out->host, host);
        lower(out->scheme);
        lower(out->host);
        out->port = strtol(port, NULL, 10);
        if ((strcmp(out->scheme, "http") == 0 || strcmp(out->scheme, "https") == 0) && out->port > 0)
            err = BHC_OK;
    }
    lib.free(scheme);
    lib.free(host);
    lib.free(port);
    return err;
}

static CURLU *parse(const char *url)
{
    CURLU *u = lib.url();
    if (u && lib.url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        lib.url_cleanup(u);
        return NULL;
    }
    return u;
}

bhc_http_error bhc_url_origin(const char *url, bhc_origin *out)
{
    if (!have_curl())
        return BHC_INVALID;
    CURLU *u = parse(url);
    if (!u)
        return BHC_INVALID;
    bhc_http_error err = origin_of(u, out);
    lib.url_cleanup(u);
    return err;
}

/*
 * One header line is one "Name: value"; no CR or LF may hide inside it, and
 * the value is not empty: curl reads "Name:" as "remove my own Name header"
 * (Host, Content-Length...), which would let a caller unframe the request.
 * The core checks all of this before calling (HTTPRequestRules); this is the
 * last line, where curl's own reading of the list is known.
 */
static int header_line_ok(const char *line, size_t len)
{
    const char *colon = strchr(line, ':');
    if (strlen(line) != len || strchr(line, '\r') || !colon || colon == line)
        return 0;
    for (const char *v = colon + 1; *v; v++)
        if (*v != ' ' && *v != '\t')
            return 1;
    return 0;
}

/*
 * Headers the core adds after the caller's. "Expect:" removes curl's
 * "Expect: 100-continue" (sent for bodies over 1 KiB), so a body always
 * follows its headers at once and every request has the same shape.
 */
static const char *const core_headers[] = {"Expect:"};

static struct curl_slist *header_list(const char *headers, size_t len, int *bad)
{
    struct curl_slist *list = NULL;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && headers[j] != '\n')
            j++;
        size_t end = j;
        if (end > i && headers[end - 1] == '\r')
            end--;
        if (end > i) {
            char *line = malloc(end - i + 1);
            if (!line) {
                *bad = 1;
                break;
            }
            memcpy(line, headers + i, end - i);
            line[end - i] = '\0';
            if (!header_line_ok(line, end - i)) {
                free(line);
                *bad = 1;
                break;
            }
            struct curl_slist *grown = lib.slist_append(list, line);
            free(line);
            if (!grown) {
                *bad = 1;
                break;
            }
            list = grown;
        }
        i = j + 1;
    }
    for (size_t k = 0; !*bad && k < sizeof core_headers / sizeof *core_headers; k++) {
        struct curl_slist *grown = lib.slist_append(list, core_headers[k]);
        if (!grown)
            *bad = 1;
        else
            list = grown;
    }
    return list;
}

bhc_http_error bhc_http_perform(const char *method, const char *url, const bhc_origin *allowed,
                                const char *headers, size_t headers_len,
                                const char *body, size_t body_len,
                                long timeout_ms, size_t max_bytes,
                                bhc_cancel_fn cancel, void *cancel_context,
                                bhc_http_result *out)
{
    memset(out, 0, sizeof *out);
    if (!have_curl()) {
        snprintf(out->message, sizeof out->message, "libcurl (libcurl.so.4) is not installed on this machine");
        return BHC_IO;
    }

    CURLU *u = parse(url);
    bhc_origin seen;
    if (!u || origin_of(u, &seen) != BHC_OK) {
        snprintf(out->message, sizeof out->message, "not an absolute http or https URL");
        lib.url_cleanup(u);
        return BHC_INVALID;
    }
    if (strcmp(seen.scheme, allowed->scheme) != 0 || strcmp(seen.host, allowed->host) != 0 ||
        seen.port != allowed->port) {
        snprintf(out->message, sizeof out->message, "origin %s://%s:%ld is not the one allowed",
                 seen.scheme, seen.host, seen.port);
        lib.url_cleanup(u);
        return BHC_FORBIDDEN;
    }

    int bad = 0;
    struct curl_slist *list = header_list(headers, headers_len, &bad);
    CURL *h = lib.easy_init();
    if (bad || !h) {
        snprintf(out->message, sizeof out->message, bad ? "malformed request header line" : "out of memory");
        lib.slist_free_all(list);
        lib.url_cleanup(u);
        if (h)
            lib.easy_cleanup(h);
        return BHC_INVALID;
    }

    growing got_body = {.max = max_bytes}, got_headers = {.max = 256 * 1024};
    cancel_ctx cc = {cancel, cancel_context, 0};
    lib.easy_setopt(h, CURLOPT_CURLU, u);
    lib.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    lib.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    lib.easy_setopt(h, CURLOPT_NOPROXY, "*");
    lib.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    lib.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    lib.easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
    lib.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    lib.easy_setopt(h, CURLOPT_WRITEDATA, &got_body);
    lib.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    lib.easy_setopt(h, CURLOPT_HEADERDATA, &got_headers);
    lib.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    lib.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    lib.easy_setopt(h, CURLOPT_XFERINFODATA, &cc);
    lib.easy_setopt(h, CURLOPT_HTTPHEADER, list);
    lib.easy_setopt(h, CURLOPT_USERAGENT, "bulkhead");
    /*
     * Methods are case-sensitive (RFC 9110): only "GET" and "HEAD" are curl's
     * own; anything else goes out as given. A body makes curl default to POST,
     * so a GET that carries one is named explicitly, and the method that
     * leaves is always the one asked for.
     */
    int get = !method || !*method || strcmp(method, "GET") == 0;
    if (strcmp(method ? method : "", "HEAD") == 0)
        lib.easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (!get || body_len > 0)
        lib.easy_setopt(h, CURLOPT_CUSTOMREQUEST, get ? "GET" : method);
    if (body_len > 0 || (method && (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                                    strcmp(method, "PATCH") == 0))) {
        lib.easy_setopt(h, CURLOPT_POSTFIELDS, body_len ? body : "");
        lib.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }

    CURLcode rc = lib.easy_perform(h);
    bhc_http_error err = BHC_OK;
    if (rc == CURLE_OK) {
        lib.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    } else if (cc.fired || rc == CURLE_ABORTED_BY_CALLBACK) {
        err = BHC_CANCELLED;
    } else if (got_body.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
        err = BHC_TOO_LARGE;
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        err = BHC_TIMEOUT;
    } else {
        err = BHC_IO;
    }
    if (err != BHC_OK)
        snprintf(out->message, sizeof out->message, "%s", lib.easy_strerror(rc));
    if (err == BHC_OK) {
        out->body = got_body.ptr ? got_body.ptr : calloc(1, 1);
        out->body_len = got_body.len;
        out->headers = got_headers.ptr ? got_headers.ptr : calloc(1, 1);
        out->headers_len = got_headers.len;
    } else {
        free(got_body.ptr);
        free(got_headers.ptr);
    }
    lib.easy_cleanup(h);
    lib.slist_free_all(list);
    lib.url_cleanup(u);
    return err;
}

void bhc_http_result_free(bhc_http_result *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}
