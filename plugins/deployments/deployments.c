/*
 * deployments — read-only answers about what was deployed where, and when.
 *
 * Trust domain: the platform's deployment record, a tab-separated file the
 * deploy pipeline exports (here a bundled sample). The plugin only reads it,
 * and names the file and its modification time in every answer so a reader
 * can tell how fresh the answer is.
 *
 * The file is loaded once, at init, into rows that are never written again:
 * that is what makes BH_CONCURRENCY_PARALLEL safe without locks. A file that
 * does not parse refuses the plugin at load time (with the line number in
 * the log) rather than serving half a record.
 *
 * It also answers `live`: the deploy controller's current view of one
 * service, fetched over HTTP with a bearer token. Both are capabilities the
 * operator may grant or not; without them `live` answers `unavailable` and
 * the record tools work as before.
 *
 * And it serves one prompt (ABI 1.1), `incident_summary`: a request to
 * summarise an incident of one service from its recent deployments, which
 * the prompt carries as text, each named as a source in the provenance
 * ("deployments.tsv#<id>": the file as the operator named it, and the row).
 *
 * Capabilities (manifest.toml [[capabilities]], granted in policy.toml):
 *   record            files, read, required: the folder holding the export
 *   controller        http, optional: the deploy controller's origin
 *   controller_token  secret, optional: the bearer token for it
 *
 * Config (policy.toml [config]):
 *   data_file       the TSV file inside `record`; default "deployments.tsv"
 *   controller_url  the controller's base URL, e.g. "https://deploy.internal:8443"
 */
#define _POSIX_C_SOURCE 200809L

#include <bulkhead/bulkhead.h>

#include "bh_json.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILE_BYTES (16 * 1024 * 1024)
#define HISTORY_DEFAULT 10
#define HISTORY_MAX 50
#define INCIDENT_DEPLOYS 10 /* how many of a service's latest deployments incident_summary shows */

/* The columns, in the order the file must have them (its header line says so too). */
enum { C_ID, C_SERVICE, C_ENVIRONMENT, C_VERSION, C_STATUS, C_STARTED, C_FINISHED, C_BY, C_COMMIT, NCOLS };
static const char *const COLUMNS[NCOLS] = {"id", "service", "environment", "version", "status",
                                           "started_at", "finished_at", "deployed_by", "commit"};
static const char *const STATUSES[] = {"succeeded", "failed", "rolled_back", "in_progress"};

typedef struct deploy {
    long long id;
    const char *col[NCOLS]; /* into dataset.text; finished_at is "" while in progress */
} deploy;

typedef struct dataset {
    const bh_host_api *host;
    bh_plugin plugin;
    char *text;         /* the file, split in place into NUL-terminated fields */
    deploy *rows;       /* newest first */
    size_t count;
    char source[PATH_MAX]; /* the file inside the record root, e.g. "deployments.tsv" */
    char modified[24];     /* its mtime at load, ISO-8601 UTC */
    int64_t modified_ms;   /* the same, in milliseconds since the epoch */
    /* The live view; has_controller is 0 when the operator connected none. */
    int has_controller;
    bh_cap controller, token;
    char controller_url[512];
} dataset;

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */
/* ---------------------------------------------------------------------- */

BHJ_PRINTF(3, 4)
static void note(dataset *ds, bh_log_level level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        ds->host->log(ds->plugin, level, line, bhj_utf8_prefix(line, (size_t)n, sizeof line - 1));
}

/*
 * Whether the core has the prompt and provenance functions (register_prompt,
 * result_message, add_source...). They came late in ABI 1.1, after progress:
 * a 1.1 core from before them hands over a shorter table, and a call past its
 * end would jump anywhere. Such a core serves no prompts either, so the
 * plugin then serves its tools alone.
 */
static int serves_prompts(const bh_host_api *host)
{
    return BH_HAS_FIELD(host, bh_host_api, report_excluded);
}

/* Answers the call with an error. */
BHJ_PRINTF(4, 5)
static bh_status fail(const bh_host_api *host, bh_call call, bh_error_kind kind, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : bhj_utf8_prefix(msg, (size_t)n, sizeof msg - 1);
    return host->result_error(call, kind, msg, len);
}

/*
 * Reads an optional string argument into a NUL-terminated buffer. Returns 1
 * when present, 0 when absent, -1 when the call has been answered with
 * invalid_argument (wrong type, or longer than any value in the file can be).
 */
static int opt_string(const bh_host_api *host, bh_call call, const char *field, char *out,
                      size_t cap, bh_status *answer)
{
    bh_bytes v;
    bh_status st = host->arg_string(call, field, strlen(field), &v);
    if (st == BH_E_NOT_FOUND)
        return 0;
    if (st == BH_OK && v.len < cap && !memchr(v.ptr, '\0', v.len)) {
        memcpy(out, v.ptr, v.len);
        out[v.len] = '\0';
        return 1;
    }
    if (st == BH_OK)
        *answer = fail(host, call, BH_ERROR_INVALID_ARGUMENT, "%s must be at most %zu bytes", field, cap - 1);
    else if (st == BH_E_TYPE)
        *answer = fail(host, call, BH_ERROR_INVALID_ARGUMENT, "%s must be a string", field);
    else
        *answer = st; /* a stale call or a core fault: nothing sensible to answer */
    return -1;
}

/*
 * Reads the required `service` argument (history and the incident prompt both
 * need one). Returns 1 with the name in `out`, or 0 when the call has been
 * answered: *answer is then what the function returns.
 */
static int required_service(const bh_host_api *host, bh_call call, char *out, size_t cap, bh_status *answer)
{
    int has = opt_string(host, call, "service", out, cap, answer);
    if (has == 0)
        *answer = host->result_error(call, BH_ERROR_INVALID_ARGUMENT,
                                     BH_LIT("service is required: the name of a service, e.g. \"checkout\""));
    return has > 0;
}

static bh_status send(const bh_host_api *host, bh_call call, bhj_buf *text, bhj_buf *json)
{
    bh_status st;
    if (text->failed || json->failed)
        st = host->result_error(call, BH_ERROR_INTERNAL, BH_LIT("out of memory"));
    else if ((st = host->result_text(call, text->ptr, text->len)) == BH_OK)
        st = host->result_json(call, json->ptr, json->len);
    if (st == BH_E_TOO_LARGE)
        st = host->result_error(call, BH_ERROR_TOO_LARGE, BH_LIT("the answer exceeds the result size limit"));
    bhj_free(text);
    bhj_free(json);
    return st;
}

/* ---------------------------------------------------------------------- */
/* Loading                                                                 */
/* ---------------------------------------------------------------------- */

static int newest_first(const void *a, const void *b)
{
    const deploy *x = a, *y = b;
    int c = strcmp(y->col[C_STARTED], x->col[C_STARTED]); /* ISO-8601 UTC sorts as text */
    return c ? c : (y->id > x->id) - (y->id < x->id);
}

/* Splits `line` at tabs into exactly NCOLS fields; 0 when the count differs. */
static int split(char *line, const char **col)
{
    int n = 0;
    for (char *p = line;; p++) {
        if (n == NCOLS)
            return 0;
        col[n++] = p;
        p = strchr(p, '\t');
        if (!p)
            return n == NCOLS;
        *p = '\0';
    }
}

static int known_status(const char *s)
{
    for (size_t i = 0; i < sizeof STATUSES / sizeof STATUSES[0]; i++)
        if (strcmp(s, STATUSES[i]) == 0)
            return 1;
    return 0;
}

/* Checks one parsed row; returns what is wrong with it, or NULL. */
static const char *check_row(deploy *d)
{
    char *end;
    errno = 0;
    d->id = strtoll(d->col[C_ID], &end, 10);
    if (errno || end == d->col[C_ID] || *end)
        return "id is not an integer";
    for (int i = 0; i < NCOLS; i++)
        if (i != C_FINISHED && !*d->col[i])
            return "a required field is empty";
    if (!known_status(d->col[C_STATUS]))
        return "status is not succeeded, failed, rolled_back or in_progress";
    if (strlen(d->col[C_STARTED]) != 20 || d->col[C_STARTED][19] != 'Z')
        return "started_at is not YYYY-MM-DDTHH:MM:SSZ";
    return NULL;
}

/* Reads the whole export through the record root: the core opens it, beneath the root only. */
static bh_status load(dataset *ds, bh_cap record, const char *path)
{
    const bh_host_api *host = ds->host;
    bh_file_info info = {.struct_size = sizeof info};
    int fd = -1;
    bh_status st = host->file_stat(ds->plugin, record, path, strlen(path), &info);
    if (st == BH_OK && info.size > MAX_FILE_BYTES)
        st = BH_E_TOO_LARGE;
    if (st == BH_OK)
        st = host->file_open(ds->plugin, record, path, strlen(path), BH_FILE_READ, &fd);
    if (st != BH_OK) {
        bh_bytes why = {"", 0};
        host->last_error(&why);
        note(ds, BH_LOG_ERROR, "cannot read %s: %.*s", path, (int)why.len, why.ptr);
        return st;
    }
    size_t size = (size_t)info.size, got = 0;
    ds->text = malloc(size + 1);
    while (ds->text && got < size) {
        ssize_t n = read(fd, ds->text + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* a file that shrank since stat is cut where it ends now */
        got += (size_t)n;
    }
    close(fd);
    if (!ds->text) {
        note(ds, BH_LOG_ERROR, "out of memory reading %s", path);
        return BH_E_FAILED;
    }
    size = got;
    ds->text[size] = '\0';
    ds->modified_ms = info.mtime_ns / 1000000;
    time_t mtime = (time_t)(info.mtime_ns / 1000000000);
    struct tm tm;
    if (!gmtime_r(&mtime, &tm) || !strftime(ds->modified, sizeof ds->modified, "%Y-%m-%dT%H:%M:%SZ", &tm))
        strcpy(ds->modified, "unknown");

    /* Validate once here, so every answer can print fields without re-checking them. */
    for (size_t i = 0; i < size;) {
        size_t k = bhj_utf8_seq((const unsigned char *)ds->text + i, size - i);
        if (!k || ds->text[i] == '\0') {
            note(ds, BH_LOG_ERROR, "%s is not UTF-8 text (byte %zu)", path, i);
            return BH_E_INVALID;
        }
        i += k;
    }

    size_t lines = 1;
    for (const char *p = ds->text; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    ds->rows = calloc(lines, sizeof *ds->rows);
    if (!ds->rows)
        return BH_E_FAILED;

    size_t lineno = 0;
    int header = 0;
    for (char *line = ds->text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[n - 1] = '\0'; /* tolerate files saved with CRLF */
        if (!*line || *line == '#')
            continue;
        deploy *d = &ds->rows[ds->count];
        if (!split(line, d->col)) {
            note(ds, BH_LOG_ERROR, "%s:%zu: expected %d tab-separated fields", path, lineno, NCOLS);
            return BH_E_INVALID;
        }
        if (!header) { /* the first line is the header: refuse a file whose columns moved */
            for (int i = 0; i < NCOLS; i++)
                if (strcmp(d->col[i], COLUMNS[i]) != 0) {
                    note(ds, BH_LOG_ERROR, "%s:%zu: column %d is \"%s\", expected \"%s\"", path,
                         lineno, i + 1, d->col[i], COLUMNS[i]);
                    return BH_E_INVALID;
                }
            header = 1;
            continue;
        }
        const char *why = check_row(d);
        if (why) {
            note(ds, BH_LOG_ERROR, "%s:%zu: %s", path, lineno, why);
            return BH_E_INVALID;
        }
        ds->count++;
    }
    qsort(ds->rows, ds->count, sizeof *ds->rows, newest_first);
    note(ds, BH_LOG_INFO, "loaded %zu deployments from %s (modified %s)", ds->count, path, ds->modified);
    return BH_OK;
}

static void destroy(void *state)
{
    dataset *ds = state;
    free(ds->rows);
    free(ds->text);
    free(ds);
}

/* ---------------------------------------------------------------------- */
/* Rendering                                                               */
/* ---------------------------------------------------------------------- */

static void put_deploy_json(bhj_buf *b, const deploy *d, int first)
{
    static const char *const keys[NCOLS] = {NULL, "service", "environment", "version", "status",
                                            "started_at", "finished_at", "deployed_by", "commit"};
    bhj_printf(b, "%s{\"id\":%lld", first ? "" : ",", d->id);
    for (int i = 1; i < NCOLS; i++) {
        bhj_printf(b, ",\"%s\":", keys[i]);
        if (i == C_FINISHED && !*d->col[i])
            bhj_puts(b, "null"); /* still running */
        else
            bhj_cstring(b, d->col[i]);
    }
    bhj_putc(b, '}');
}

static void put_deploy_text(bhj_buf *b, const deploy *d)
{
    bhj_printf(b, "%-16s %-11s %-9s %-12s %s  by %s, commit %s\n", d->col[C_SERVICE],
               d->col[C_ENVIRONMENT], d->col[C_VERSION], d->col[C_STATUS], d->col[C_STARTED],
               d->col[C_BY], d->col[C_COMMIT]);
}

/* The column headings above put_deploy_text's lines. */
static void put_table_header(bhj_buf *b)
{
    bhj_printf(b, "%-16s %-11s %-9s %-12s %-20s  %s\n", "SERVICE", "ENVIRONMENT", "VERSION",
               "STATUS", "STARTED (UTC)", "WHO AND WHAT");
}

/* Opens both renderings with the source they came from and the filters applied. */
static void begin_answer(const dataset *ds, bhj_buf *text, bhj_buf *json, const char *headline,
                         const char *service, const char *environment)
{
    bhj_printf(text, "%s (source %s, modified %s):\n\n", headline, ds->source, ds->modified);
    put_table_header(text);
    bhj_puts(json, "{\"source\":{\"file\":");
    bhj_cstring(json, ds->source);
    bhj_printf(json, ",\"modified\":\"%s\"},\"service\":", ds->modified);
    bhj_cstring(json, service);
    bhj_puts(json, ",\"environment\":");
    bhj_cstring(json, environment);
    bhj_puts(json, ",\"deployments\":[");
}

static int matches(const deploy *d, const char *service, const char *environment)
{
    return (!service || strcmp(d->col[C_SERVICE], service) == 0) &&
           (!environment || strcmp(d->col[C_ENVIRONMENT], environment) == 0);
}

static bh_status nothing_matches(const bh_host_api *host, bh_call call, const char *service,
                                 const char *environment)
{
    bhj_buf msg = {0};
    bhj_puts(&msg, "no deployments");
    if (service) {
        bhj_puts(&msg, " of service ");
        bhj_cstring(&msg, service);
    }
    if (environment) {
        bhj_puts(&msg, " in environment ");
        bhj_cstring(&msg, environment);
    }
    bh_status st = msg.failed ? host->result_error(call, BH_ERROR_INTERNAL, BH_LIT("out of memory"))
                              : host->result_error(call, BH_ERROR_NOT_FOUND, msg.ptr, msg.len);
    bhj_free(&msg);
    return st;
}

/* ---------------------------------------------------------------------- */
/* Tools                                                                   */
/* ---------------------------------------------------------------------- */

static int by_service_env(const void *a, const void *b)
{
    const deploy *x = *(const deploy *const *)a, *y = *(const deploy *const *)b;
    int c = strcmp(x->col[C_SERVICE], y->col[C_SERVICE]);
    return c ? c : strcmp(x->col[C_ENVIRONMENT], y->col[C_ENVIRONMENT]);
}

static bh_status tool_status(const bh_host_api *host, bh_call call, void *user_data)
{
    dataset *ds = user_data;
    char service[128], environment[128];
    bh_status answer = BH_OK;
    int has_service = opt_string(host, call, "service", service, sizeof service, &answer);
    if (has_service < 0)
        return answer;
    int has_env = opt_string(host, call, "environment", environment, sizeof environment, &answer);
    if (has_env < 0)
        return answer;
    const char *svc = has_service ? service : NULL, *env = has_env ? environment : NULL;

    /* Rows are newest first, so the first row seen for a service+environment is its latest. */
    const deploy **latest = malloc((ds->count ? ds->count : 1) * sizeof *latest);
    if (!latest)
        return host->result_error(call, BH_ERROR_INTERNAL, BH_LIT("out of memory"));
    size_t n = 0;
    for (size_t i = 0; i < ds->count; i++) {
        const deploy *d = &ds->rows[i];
        if (!matches(d, svc, env))
            continue;
        size_t j = 0;
        while (j < n && by_service_env(&latest[j], &d) != 0)
            j++;
        if (j == n)
            latest[n++] = d;
    }
    if (n == 0 && (svc || env)) {
        free(latest);
        return nothing_matches(host, call, svc, env);
    }
    qsort(latest, n, sizeof *latest, by_service_env);

    bhj_buf text = {0}, json = {0};
    begin_answer(ds, &text, &json, "Latest deployment per service and environment", svc, env);
    for (size_t i = 0; i < n; i++) {
        put_deploy_json(&json, latest[i], i == 0);
        put_deploy_text(&text, latest[i]);
    }
    bhj_puts(&json, "]}");
    free(latest);
    return send(host, call, &text, &json);
}

static bh_status tool_history(const bh_host_api *host, bh_call call, void *user_data)
{
    dataset *ds = user_data;
    char service[128], environment[128];
    bh_status answer = BH_OK;
    if (!required_service(host, call, service, sizeof service, &answer))
        return answer;
    int has_env = opt_string(host, call, "environment", environment, sizeof environment, &answer);
    if (has_env < 0)
        return answer;
    const char *env = has_env ? environment : NULL;

    int64_t requested = HISTORY_DEFAULT, limit = HISTORY_DEFAULT;
    bh_status st = host->arg_int(call, BH_LIT("limit"), &requested);
    if (st == BH_OK)
        limit = requested < 1 ? 1 : requested > HISTORY_MAX ? HISTORY_MAX : requested;
    else if (st == BH_E_TYPE)
        return host->result_error(call, BH_ERROR_INVALID_ARGUMENT, BH_LIT("limit must be an integer from 1 to 50"));
    else if (st != BH_E_NOT_FOUND)
        return st;

    bhj_buf text = {0}, json = {0};
    begin_answer(ds, &text, &json, "Deployments, newest first", service, env);
    int64_t shown = 0;
    size_t total = 0;
    for (size_t i = 0; i < ds->count; i++) {
        const deploy *d = &ds->rows[i];
        if (!matches(d, service, env))
            continue;
        if (shown < limit) {
            put_deploy_json(&json, d, shown == 0);
            put_deploy_text(&text, d);
            shown++;
        }
        total++;
    }
    if (total == 0) {
        bhj_free(&text);
        bhj_free(&json);
        return nothing_matches(host, call, service, env);
    }
    bhj_printf(&json, "],\"matched\":%zu", total);
    if ((size_t)shown < total)
        bhj_printf(&text, "\n(%lld of %zu shown)\n", (long long)shown, total);
    if (limit != requested) {
        bhj_printf(&text, "\nNote: limit %lld was clamped to %lld (allowed 1 to %d).\n",
                   (long long)requested, (long long)limit, HISTORY_MAX);
        bhj_printf(&json, ",\"clamped\":{\"limit\":{\"requested\":%lld,\"applied\":%lld}}",
                   (long long)requested, (long long)limit);
    }
    bhj_putc(&json, '}');
    return send(host, call, &text, &json);
}

/* ---------------------------------------------------------------------- */
/* live: the deploy controller's view, over HTTP                           */
/* ---------------------------------------------------------------------- */

/* Names go into the URL's path: letters, digits, '-' and '_' only, so nothing can be smuggled in. */
static int url_safe(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_'))
            return 0;
    return 1;
}

static bh_status tool_live(const bh_host_api *host, bh_call call, void *user_data)
{
    dataset *ds = user_data;
    char service[64], environment[64] = "production";
    bh_status answer = BH_OK;
    int have = opt_string(host, call, "service", service, sizeof service, &answer);
    if (have < 0)
        return answer;
    if (have == 0 || !url_safe(service))
        return fail(host, call, BH_ERROR_INVALID_ARGUMENT, "service must be a name of letters, digits, '-' and '_'");
    if (opt_string(host, call, "environment", environment, sizeof environment, &answer) < 0)
        return answer;
    if (!url_safe(environment))
        return fail(host, call, BH_ERROR_INVALID_ARGUMENT, "environment must be a name of letters, digits, '-' and '_'");
    if (!ds->has_controller)
        return fail(host, call, BH_ERROR_UNAVAILABLE,
                    "no deploy controller is connected to this server (the operator grants `controller` and "
                    "`controller_token` and sets controller_url); deployments__status answers from the record");

    char url[700], auth[600];
    char token[512];
    size_t token_len = 0;
    snprintf(url, sizeof url, "%s/v1/services/%s/%s", ds->controller_url, service, environment);
    if (host->secret_read(ds->plugin, ds->token, token, sizeof token, &token_len) != BH_OK)
        return fail(host, call, BH_ERROR_INTERNAL, "the controller token could not be read");
    int n = snprintf(auth, sizeof auth, "Authorization: Bearer %.*s\nAccept: application/json", (int)token_len, token);
    memset(token, 0, sizeof token); /* the copy in `auth` is wiped below too */

    bh_http_request req = {.struct_size = sizeof req};
    req.url.ptr = url;
    req.url.len = strlen(url);
    req.headers.ptr = auth;
    req.headers.len = (size_t)n;
    bh_http_response resp = {.struct_size = sizeof resp};
    bh_status st = host->http_request(call, ds->controller, &req, &resp);
    memset(auth, 0, sizeof auth);
    if (st != BH_OK) {
        bh_bytes why = {"", 0};
        host->last_error(&why);
        bh_error_kind kind = st == BH_E_CANCELLED ? BH_ERROR_TIMEOUT
                             : st == BH_E_TOO_LARGE ? BH_ERROR_TOO_LARGE
                             : st == BH_E_NOT_ALLOWED ? BH_ERROR_NOT_ALLOWED
                                                      : BH_ERROR_UNAVAILABLE;
        return fail(host, call, kind, "the deploy controller could not be asked: %.*s", (int)why.len, why.ptr);
    }
    if (resp.status == 404)
        return fail(host, call, BH_ERROR_NOT_FOUND, "the controller knows no service %s in %s", service, environment);
    if (resp.status == 401 || resp.status == 403)
        return fail(host, call, BH_ERROR_UNAVAILABLE, "the controller refused our credentials (HTTP %d)", (int)resp.status);
    if (resp.status != 200)
        return fail(host, call, BH_ERROR_UNAVAILABLE, "the controller answered HTTP %d; retry later", (int)resp.status);

    /* Provenance first, then the controller's own document as it sent it. */
    bhj_buf text = {0}, json = {0};
    bhj_printf(&text, "Live state of %s in %s, from the deploy controller (%s):\n\n", service, environment, url);
    bhj_text(&text, resp.body.ptr, resp.body.len);
    bhj_puts(&json, "{\"source\":{\"controller\":");
    bhj_cstring(&json, url);
    time_t now = time(NULL);
    struct tm tm;
    char fetched[24] = "unknown";
    if (gmtime_r(&now, &tm))
        strftime(fetched, sizeof fetched, "%Y-%m-%dT%H:%M:%SZ", &tm);
    bhj_printf(&json, ",\"fetched\":\"%s\"},\"service\":", fetched);
    bhj_cstring(&json, service);
    bhj_puts(&json, ",\"environment\":");
    bhj_cstring(&json, environment);
    bhj_puts(&json, ",\"live\":");
    bhj_append(&json, resp.body.ptr, resp.body.len); /* checked below: the core refuses JSON that is not */
    bhj_putc(&json, '}');
    if (text.failed || json.failed) {
        bhj_free(&text);
        bhj_free(&json);
        return host->result_error(call, BH_ERROR_INTERNAL, BH_LIT("out of memory"));
    }
    st = host->result_text(call, text.ptr, text.len);
    if (st == BH_OK && (st = host->result_json(call, json.ptr, json.len)) == BH_E_INVALID)
        st = fail(host, call, BH_ERROR_UNAVAILABLE, "the controller's answer is not a JSON document");
    bhj_free(&text);
    bhj_free(&json);
    return st;
}

/* ---------------------------------------------------------------------- */
/* Prompts                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * Names one row of the record as a source of the answer: the file as the
 * operator named it, with the row's id as the fragment. The file's mtime is
 * when the export holding the row was written (the record says when each
 * deployment ran, not when its row last changed).
 */
static bh_status name_row(const bh_host_api *host, bh_call call, const dataset *ds, const deploy *d)
{
    char uri[PATH_MAX + 24], title[200];
    int n = snprintf(uri, sizeof uri, "%s#%lld", ds->source, d->id);
    int t = snprintf(title, sizeof title, "%s %s in %s (%s)", d->col[C_SERVICE], d->col[C_VERSION],
                     d->col[C_ENVIRONMENT], d->col[C_STATUS]);
    bh_source src = {
        .struct_size = sizeof src,
        .uri = {uri, n < 0 ? 0 : bhj_utf8_prefix(uri, (size_t)n, sizeof uri - 1)},
        .title = {title, t < 0 ? 0 : bhj_utf8_prefix(title, (size_t)t, sizeof title - 1)},
        .modified_ms = ds->modified_ms,
    };
    return host->add_source(call, &src);
}

/*
 * prompts/get incident_summary {service}: a user message asking for a
 * summary of an incident of that service, with its latest deployments
 * (newest first, read from the record as history reads them) as a table.
 * The record is the platform's own, written by the deploy pipeline, so it
 * can sit inside the instructions; the model is still told to keep to it.
 */
static bh_status prompt_incident_summary(const bh_host_api *host, bh_call call, void *user_data)
{
    dataset *ds = user_data;
    char service[128];
    bh_status st = BH_OK;
    if (!required_service(host, call, service, sizeof service, &st))
        return st;

    const deploy *used[INCIDENT_DEPLOYS];
    size_t shown = 0, total = 0;
    for (size_t i = 0; i < ds->count; i++) {
        if (!matches(&ds->rows[i], service, NULL))
            continue;
        if (shown < INCIDENT_DEPLOYS)
            used[shown++] = &ds->rows[i];
        total++;
    }
    if (total == 0)
        return nothing_matches(host, call, service, NULL); /* not_found: the client's -32602 */

    bhj_buf text = {0};
    bhj_printf(&text, "Summarise the incident affecting the service \"%s\", using ", service);
    if (shown < total)
        bhj_printf(&text, "its %zu most recent deployments (of %zu)", shown, total);
    else
        bhj_printf(&text, "its %zu deployment%s", total, total == 1 ? "" : "s");
    bhj_printf(&text,
               " below, newest first, from the deploy pipeline's record (%s, modified %s).\n"
               "\n"
               "Say when the trouble most likely started and whether a deployment lines up with it "
               "(name its version, commit, environment and who deployed it); point out failed, "
               "rolled-back and unfinished deployments; and say what to check next. Keep the timeline "
               "to these records, and say so when they show nothing that explains the incident.\n"
               "\n",
               ds->source, ds->modified);
    put_table_header(&text);
    for (size_t i = 0; i < shown; i++)
        put_deploy_text(&text, used[i]);

    if (text.failed) {
        bhj_free(&text);
        return host->result_error(call, BH_ERROR_INTERNAL, BH_LIT("out of memory"));
    }
    st = host->result_message(call, BH_ROLE_USER, text.ptr, text.len);
    bhj_free(&text);
    if (st == BH_E_TOO_LARGE)
        return host->result_error(call, BH_ERROR_TOO_LARGE, BH_LIT("the prompt exceeds the result size limit"));

    /* Provenance: each row the prompt carries, and how many older ones its cut left out. */
    for (size_t i = 0; st == BH_OK && i < shown; i++)
        st = name_row(host, call, ds, used[i]);
    if (st == BH_OK && shown < total)
        st = host->report_excluded(call, BH_EXCLUDED_TRUNCATED, total - shown, BH_LIT("older deployments"));
    return st;
}

/* ---------------------------------------------------------------------- */
/* Exports                                                                 */
/* ---------------------------------------------------------------------- */

BULKHEAD_PLUGIN_ABI()

bh_status bulkhead_plugin_init(const bh_host_api *host, bh_plugin plugin, bh_plugin_def *def)
{
    dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return BH_E_FAILED;
    ds->host = host;
    ds->plugin = plugin;

    /* The record is required (the manifest says so): the core refuses the
     * plugin before init when the operator did not grant it. */
    bh_cap record;
    bh_status st = host->capability(plugin, BH_LIT("record"), &record);
    if (st != BH_OK) {
        destroy(ds);
        return st;
    }
    bh_bytes file = {"deployments.tsv", 15};
    host->config(plugin, BH_LIT("data_file"), &file);
    if (file.len >= sizeof ds->source) {
        note(ds, BH_LOG_ERROR, "data_file is too long");
        destroy(ds);
        return BH_E_INVALID;
    }
    memcpy(ds->source, file.ptr, file.len); /* answers name the file as the operator did */

    /* The live view is optional: all three pieces, or none. */
    bh_bytes url;
    if (host->capability(plugin, BH_LIT("controller"), &ds->controller) == BH_OK &&
        host->capability(plugin, BH_LIT("controller_token"), &ds->token) == BH_OK &&
        host->config(plugin, BH_LIT("controller_url"), &url) == BH_OK && url.len < sizeof ds->controller_url) {
        memcpy(ds->controller_url, url.ptr, url.len);
        while (url.len && ds->controller_url[url.len - 1] == '/')
            ds->controller_url[--url.len] = '\0'; /* we add the slashes */
        ds->has_controller = 1;
    } else {
        note(ds, BH_LOG_INFO, "no deploy controller connected: deployments__live will answer unavailable");
    }

    st = load(ds, record, ds->source);
    if (st == BH_OK)
        st = host->register_tool(plugin, BH_LIT("status"), tool_status, ds);
    if (st == BH_OK)
        st = host->register_tool(plugin, BH_LIT("history"), tool_history, ds);
    if (st == BH_OK)
        st = host->register_tool(plugin, BH_LIT("live"), tool_live, ds);
    /* The manifest declares the prompt: register it, or (under a core without prompts;
     * see serves_prompts) serve the tools alone. */
    if (st == BH_OK && serves_prompts(host))
        st = host->register_prompt(plugin, BH_LIT("incident_summary"), prompt_incident_summary, ds);
    else if (st == BH_OK)
        note(ds, BH_LOG_NOTICE, "this core serves no prompts: serving the tools only");
    if (st != BH_OK) {
        destroy(ds);
        return st;
    }
    def->concurrency = BH_CONCURRENCY_PARALLEL; /* the rows are read-only after this point */
    def->state = ds;
    def->destroy = destroy;
    return BH_OK;
}
