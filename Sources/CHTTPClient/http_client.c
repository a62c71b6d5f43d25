#include "CHTTPClient.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

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
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        strlen(scheme) < sizeof out->scheme && strlen(host) < sizeof out->host) {
        strcpy(out->scheme, scheme);
        strcpy(out->host, host);
        lower(out->scheme);
        lower(out->host);
        out->port = strtol(port, NULL, 10);
        if ((strcmp(out->scheme, "http") == 0 || strcmp(out->scheme, "https") == 0) && out->port > 0)
            err = BHC_OK;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    return err;
}

static CURLU *parse(const char *url)
{
    CURLU *u = curl_url();
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        curl_url_cleanup(u);
        return NULL;
    }
    return u;
}

bhc_http_error bhc_url_origin(const char *url, bhc_origin *out)
{
    pthread_once(&once, global_init);
    CURLU *u = parse(url);
    if (!u)
        return BHC_INVALID;
    bhc_http_error err = origin_of(u, out);
    curl_url_cleanup(u);
    return err;
}

/* One header line is one "Name: value"; no CR or LF may hide inside it. */
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
            if (strchr(line, '\r') || strlen(line) != end - i || !strchr(line, ':')) {
                free(line);
                *bad = 1;
                break;
            }
            struct curl_slist *grown = curl_slist_append(list, line);
            free(line);
            if (!grown) {
                *bad = 1;
                break;
            }
            list = grown;
        }
        i = j + 1;
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
    pthread_once(&once, global_init);
    memset(out, 0, sizeof *out);

    CURLU *u = parse(url);
    bhc_origin seen;
    if (!u || origin_of(u, &seen) != BHC_OK) {
        snprintf(out->message, sizeof out->message, "not an absolute http or https URL");
        curl_url_cleanup(u);
        return BHC_INVALID;
    }
    if (strcmp(seen.scheme, allowed->scheme) != 0 || strcmp(seen.host, allowed->host) != 0 ||
        seen.port != allowed->port) {
        snprintf(out->message, sizeof out->message, "origin %s://%s:%ld is not the one allowed",
                 seen.scheme, seen.host, seen.port);
        curl_url_cleanup(u);
        return BHC_FORBIDDEN;
    }

    int bad = 0;
    struct curl_slist *list = header_list(headers, headers_len, &bad);
    CURL *h = curl_easy_init();
    if (bad || !h) {
        snprintf(out->message, sizeof out->message, bad ? "malformed request header line" : "out of memory");
        curl_slist_free_all(list);
        curl_url_cleanup(u);
        if (h)
            curl_easy_cleanup(h);
        return BHC_INVALID;
    }

    growing got_body = {.max = max_bytes}, got_headers = {.max = 256 * 1024};
    cancel_ctx cc = {cancel, cancel_context, 0};
    curl_easy_setopt(h, CURLOPT_CURLU, u);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got_body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &got_headers);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &cc);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "bulkhead");
    if (method && *method && strcasecmp(method, "GET") != 0) {
        if (strcasecmp(method, "HEAD") == 0)
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        else
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    if (body_len > 0 || (method && (strcasecmp(method, "POST") == 0 || strcasecmp(method, "PUT") == 0 ||
                                    strcasecmp(method, "PATCH") == 0))) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body_len ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        if (!method || !*method)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
    }

    CURLcode rc = curl_easy_perform(h);
    bhc_http_error err = BHC_OK;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
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
        snprintf(out->message, sizeof out->message, "%s", curl_easy_strerror(rc));
    if (err == BHC_OK) {
        out->body = got_body.ptr ? got_body.ptr : calloc(1, 1);
        out->body_len = got_body.len;
        out->headers = got_headers.ptr ? got_headers.ptr : calloc(1, 1);
        out->headers_len = got_headers.len;
    } else {
        free(got_body.ptr);
        free(got_headers.ptr);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(list);
    curl_url_cleanup(u);
    return err;
}

void bhc_http_result_free(bhc_http_result *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}
