/*
 * docs — read-only search over a bundled corpus of markdown documents.
 *
 * Trust domain: documents, split by tenant. The corpus folder holds one
 * sub-folder per tenant (corpus/acme, corpus/globex); a caller sees
 * only the folder of the tenant its call runs in, and another tenant's
 * document is answered exactly like a missing one, so nothing leaks.
 *
 * The corpus is read at init into an index: a snapshot, never written once
 * it is built. A watcher thread then keeps it current: inotify on the corpus
 * folder and on each tenant's folder tells it when a *.md file is written,
 * renamed, created or removed (or a tenant folder comes or goes); it waits
 * until the burst is over (DEBOUNCE_MS after the last event), reads the whole
 * corpus again into a new index, with the same code and through the same
 * host functions as init, swaps that in, and tells the core which documents
 * changed, appeared or went (host->resource_changed), so that clients
 * subscribed to docs://<tenant>/<slug> hear notifications/resources/updated.
 * Reading everything again is wasteful for a big corpus and exactly right
 * for this one: one loader, and no second way for the index to go wrong.
 *
 * Concurrency: BH_CONCURRENCY_PARALLEL. A call takes a reference to the
 * index in use when it starts and drops it when it returns (with_index); a
 * swap only changes which index the next call gets, and the old one is freed
 * by whoever drops its last reference. So an index is never written or freed
 * while a call reads it, and neither a call nor a rebuild waits for the other.
 *
 * Where the corpus cannot be watched (no inotify: ENOSYS, EPERM; a root the
 * core gives no path for), the log says why, once, and the plugin serves the
 * index as it was loaded, as before (the modification times say when that was).
 *
 * Resources (ABI 1.1): every document is also the MCP resource
 * docs://<tenant>/<slug> (its file name without ".md"), read whole with
 * resources/read and listed, for the caller's tenant only, by resources/list.
 * Search hits carry a resource_link to it and fetch names it as its source,
 * so a client can follow a hit, cache the document by its version, and tell
 * where an answer came from. A document whose names do not fit the URI
 * template's patterns (a-z 0-9 '-') is still searched and fetched, but is
 * not a resource; the log says which at each load.
 *
 * Capabilities (manifest.toml [[capabilities]], granted in policy.toml):
 *   corpus   files, read-only, required: the corpus folder. The plugin lists
 *            and opens files only beneath this root, through host->dir_list
 *            and host->file_open, so it reads exactly the folder the operator
 *            granted and nothing else. The one path it uses is the root's own
 *            (host->root_path), and only to name folders to inotify: a watch
 *            says that something changed, never what, and what is then read
 *            is read through the host as always.
 */
#define _POSIX_C_SOURCE 200809L

#include <bulkhead/bulkhead.h>

#include "bh_json.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define MAX_DOC_BYTES (256 * 1024) /* bigger files are skipped, with a warning */
#define MAX_QUERY_BYTES 256
#define MAX_TERMS 16
#define LIMIT_DEFAULT 5
#define LIMIT_MIN 1
#define LIMIT_MAX 20
#define SNIPPET_BYTES 160
#define DOC_MIME "text/markdown"     /* the manifest's mime_type for docs://{tenant}/{slug} */
#define URI_PREFIX "docs://"         /* the plugin's scheme: its name */
#define TENANT_MAX 64                /* the template's patterns, which names must fit to be URIs */
#define SLUG_MAX 128
#define DEBOUNCE_MS 100              /* quiet time after a change before the corpus is read again */
#define DEBOUNCE_MAX_MS 1000         /* ...but a steady stream of changes waits no longer than this */
/* What the watcher hears: in a tenant's folder, a file written and closed, renamed in or out,
 * created or removed; in the corpus folder, the same for tenant folders. Not IN_MODIFY: a file
 * being written is not worth reading until it is closed. */
#define TENANT_EVENTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_ONLYDIR)
#define ROOT_EVENTS (IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_ONLYDIR)

typedef struct doc {
    char *tenant;      /* the corpus sub-folder it lives in */
    char *source;      /* "acme/runbook-deploys.md": relative to the corpus */
    char *title;
    long version;      /* from the front matter; -1 when it has none */
    char version_tag[24]; /* "v3" for version 3, as a resource's version; "" when it has none */
    char modified[24]; /* mtime at load, ISO-8601 UTC */
    int64_t mtime_ns;  /* the same, as dir_list (or file_stat, for a link) said */
    char *uri;         /* "docs://acme/runbook-deploys"; NULL when the names do not fit the template */
    const char *slug;  /* into uri: "runbook-deploys" */
    size_t slug_len;
    char *text;        /* the whole file: what fetch returns */
    size_t text_len;
    size_t body_off;   /* where the text after the front matter starts */
    char *folded;      /* title "\n" body, ASCII-lowercased: what search matches */
    size_t folded_len;
    size_t title_len;
    /* While loading only: what dir_list (or file_stat, for a link) said of the file. */
    uint64_t size;
    int is_link;
} doc;

/* One snapshot of the corpus. Never written once built, so calls read it without a lock. */
typedef struct docs_index {
    doc *docs; /* sorted by source */
    size_t count;
    unsigned refs; /* the state's own while current, plus one per call using it; under docs_state.mu */
} docs_index;

/* The thread that notices changes to the corpus folder; inactive (fds -1) when it cannot. */
typedef struct watcher {
    int inotify;    /* the inotify descriptor, or -1 */
    int root_wd;    /* the watch on the corpus folder itself */
    int stop;       /* an eventfd: destroy writes to it to wake the thread's poll(), or -1 */
    char *root;     /* the corpus folder's path (host->root_path), NUL-terminated */
    pthread_t thread;
    int running;
} watcher;

/* The plugin's state: what init set up, handed to every call as user_data. */
typedef struct docs_state {
    const bh_host_api *host;
    bh_plugin plugin;
    bh_cap corpus;         /* the granted corpus folder; every read goes through it */
    pthread_mutex_t mu;    /* guards `current` and every index's refs, nothing else */
    docs_index *current;   /* the index new calls use */
    watcher w;
} docs_state;

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */
/* ---------------------------------------------------------------------- */

/* A printf-style line on the core's log. */
BHJ_PRINTF(3, 4)
static void note(docs_state *ds, bh_log_level level, const char *fmt, ...)
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
 * Whether the core has the resource and provenance functions (register_resource,
 * result_resource, add_source, report_excluded...). They came late in ABI 1.1,
 * after progress: a 1.1 core from before them hands over a shorter table, and a
 * call past its end would jump anywhere. Such a core serves no resources either,
 * so the plugin then serves its tools as before, without links or sources.
 */
static int serves_resources(const bh_host_api *host)
{
    return BH_HAS_FIELD(host, bh_host_api, report_excluded);
}

/* Deliberately ASCII-only: locale-independent, and non-ASCII letters then match byte for byte. */
static char fold(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

/* A bh_file_info mtime (nanoseconds since the epoch) as ISO-8601 UTC, to the second. */
static void iso8601(int64_t mtime_ns, char out[24])
{
    int64_t secs = mtime_ns / 1000000000;
    if (mtime_ns % 1000000000 < 0)
        secs--; /* round down before 1970 too, as stat's st_mtime does */
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm))
        strcpy(out, "1970-01-01T00:00:00Z");
}

/* Logs why the last capability function failed, in the core's words (host->last_error). */
static void note_cap_failure(docs_state *ds, bh_log_level level, const char *doing, const char *what)
{
    bh_bytes why = {0};
    if (ds->host->last_error(&why) != BH_OK || !why.ptr)
        why = (bh_bytes){"", 0};
    note(ds, level, "%s %s: %.*s", doing, what, (int)why.len, why.ptr);
}

/* Turns a failed arg_* lookup into the tool's answer, naming the field. */
static bh_status bad_arg(const bh_host_api *host, bh_call call, bh_status st,
                         const char *field, const char *want)
{
    char msg[160];
    int n;
    if (st == BH_E_NOT_FOUND)
        n = snprintf(msg, sizeof msg, "%s is required: %s", field, want);
    else if (st == BH_E_TYPE)
        n = snprintf(msg, sizeof msg, "%s must be %s", field, want);
    else
        return st; /* a stale call or a core fault: nothing sensible to answer */
    return host->result_error(call, BH_ERROR_INVALID_ARGUMENT, msg, (size_t)n);
}

/* A document as a resource_link: what search hits and the resource list hand over. */
static bh_resource_content doc_link(const doc *d)
{
    return (bh_resource_content){
        .struct_size = sizeof(bh_resource_content),
        .flags = BH_RESOURCE_LINK,
        .uri = {d->uri, strlen(d->uri)},
        .mime_type = {BH_LIT(DOC_MIME)},
        .version = {d->version_tag, strlen(d->version_tag)},
        .modified_ms = d->mtime_ns / 1000000,
        .title = {d->title, d->title_len},
    };
}

/*
 * Hands documents over as resource_link blocks, so a client can read each
 * one whole (resources/read) and cache it by its version. A caller whose
 * policy lets it call the tool but not read the resource gets no links (the
 * core refuses them, and the hits are in the text and structured content).
 */
static bh_status link_docs(const bh_host_api *host, bh_call call, const doc *const *docs, size_t n)
{
    if (!serves_resources(host))
        return BH_OK;
    for (size_t i = 0; i < n; i++) {
        if (!docs[i]->uri)
            continue; /* not a resource: see the top of this file */
        bh_resource_content link = doc_link(docs[i]);
        bh_status st = host->result_resource(call, &link);
        if (st == BH_E_NOT_ALLOWED)
            return BH_OK; /* one rule covers every document, so the rest would be refused too */
        if (st != BH_OK)
            return st;
    }
    return BH_OK;
}

/*
 * Hands both renderings to the core, with `links` as resource_link blocks
 * after the text, or the reason they could not be built.
 */
static bh_status send(const bh_host_api *host, bh_call call, bhj_buf *text, bhj_buf *json,
                      const doc *const *links, size_t nlinks)
{
    bh_status st;
    if (text->failed || json->failed)
        st = host->result_error(call, BH_ERROR_INTERNAL, BH_LIT("out of memory"));
    else if ((st = host->result_text(call, text->ptr, text->len)) == BH_OK &&
             (st = link_docs(host, call, links, nlinks)) == BH_OK)
        st = host->result_json(call, json->ptr, json->len);
    if (st == BH_E_TOO_LARGE)
        st = host->result_error(call, BH_ERROR_TOO_LARGE,
                                BH_LIT("the answer exceeds the result size limit; ask for fewer hits"));
    bhj_free(text);
    bhj_free(json);
    return st;
}

/* ---------------------------------------------------------------------- */
/* Loading the corpus                                                      */
/* ---------------------------------------------------------------------- */

/*
 * The whole document, NUL-terminated, read through the corpus root:
 * file_open resolves the path beneath the root in the kernel and hands back
 * a descriptor (regular files only) that is ours to read and to close.
 * At most `size` bytes are read, so a file that grew since it was listed is cut there.
 */
static char *read_doc(docs_state *ds, const char *path, size_t size, size_t *len)
{
    int fd;
    if (ds->host->file_open(ds->plugin, ds->corpus, path, strlen(path), BH_FILE_READ, &fd) != BH_OK) {
        note_cap_failure(ds, BH_LOG_WARNING, "skipping", path);
        return NULL;
    }
    char *buf = malloc(size + 1);
    size_t n = 0;
    while (buf && n < size) {
        ssize_t r = read(fd, buf + n, size - n);
        if (r == 0)
            break; /* it shrank: keep what is there */
        if (r > 0) {
            n += (size_t)r;
        } else if (errno != EINTR) {
            note(ds, BH_LOG_WARNING, "skipping %s: %s", path, strerror(errno));
            free(buf);
            buf = NULL;
        }
    }
    close(fd);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    *len = n;
    return buf;
}

/*
 * Reads the "front matter" block: a first line "---", then "key: value"
 * lines, then "---". Only title and version matter here; other keys are
 * ignored so authors can add their own.
 */
static void parse_front_matter(doc *d)
{
    const char *p = d->text, *end = d->text + d->text_len;
    if (strncmp(p, "---\n", 4) != 0)
        return;
    p += 4;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p);
        if (n == 3 && memcmp(p, "---", 3) == 0) {
            d->body_off = (size_t)((nl ? nl + 1 : end) - d->text);
            return;
        }
        if (n > 6 && memcmp(p, "title:", 6) == 0) {
            const char *v = p + 6;
            while (v < eol && *v == ' ')
                v++;
            free(d->title);
            d->title = strndup(v, (size_t)(eol - v));
        } else if (n > 8 && memcmp(p, "version:", 8) == 0) {
            char *stop;
            long v = strtol(p + 8, &stop, 10);
            if (stop != p + 8 && v >= 0)
                d->version = v;
        }
        p = eol + 1;
    }
    /* No closing "---": treat the whole file as body rather than guess. */
    free(d->title);
    d->title = NULL;
    d->version = -1;
}

/*
 * A resource's text must be UTF-8 (result_resource refuses anything else),
 * and a read hands the document over as it is. So a file that is not clean
 * UTF-8 is repaired once, here, as bhj_text would repair it in every answer:
 * each invalid byte becomes U+FFFD. 0 when out of memory.
 */
static int make_utf8(doc *d)
{
    size_t i = 0, k;
    while (i < d->text_len && (k = bhj_utf8_seq((const unsigned char *)d->text + i, d->text_len - i)))
        i += k;
    if (i == d->text_len)
        return 1; /* the usual case: nothing to do */
    bhj_buf clean = {0};
    bhj_text(&clean, d->text, d->text_len);
    if (clean.failed)
        return 0;
    free(d->text);
    d->text = clean.ptr;
    d->text_len = clean.len;
    return 1;
}

/* Whether s fits the manifest's pattern for a tenant (^[a-z0-9-]{1,64}$) or a slug (^[a-z0-9][a-z0-9-]{0,127}$). */
static int uri_name(const char *s, size_t n, size_t max, int dash_first)
{
    if (n == 0 || n > max || (!dash_first && s[0] == '-'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

/*
 * Names the document as a resource, docs://<tenant>/<slug>, when its folder
 * and file name fit the template's patterns: the URI is then built from the
 * names alone, so a read can find the document again. 0 when out of memory.
 */
static int name_as_resource(docs_state *ds, doc *d)
{
    size_t tenant_len = strlen(d->tenant);
    const char *slug = d->source + tenant_len + 1;
    size_t slug_len = strlen(slug) - 3; /* without ".md" */
    if (!uri_name(d->tenant, tenant_len, TENANT_MAX, 1) || !uri_name(slug, slug_len, SLUG_MAX, 0)) {
        note(ds, BH_LOG_WARNING, "%s: searched and fetched, but not a resource (docs://<tenant>/<slug> "
             "takes a-z, 0-9 and '-' only)", d->source);
        return 1;
    }
    size_t n = sizeof URI_PREFIX - 1 + tenant_len + 1 + slug_len + 1;
    if (!(d->uri = malloc(n)))
        return 0;
    snprintf(d->uri, n, URI_PREFIX "%s/%.*s", d->tenant, (int)slug_len, slug);
    d->slug = d->uri + sizeof URI_PREFIX - 1 + tenant_len + 1;
    d->slug_len = slug_len;
    return 1;
}

/*
 * Fills in a document listed by add_doc: reads it, parses its front matter
 * and builds what search matches. 1 when loaded, 0 to skip it, -1 when out
 * of memory.
 */
static int load_doc(docs_state *ds, doc *d)
{
    if (d->is_link) {
        /* dir_list does not follow links; file_stat does, as long as the link stays inside the root. */
        bh_file_info info = {.struct_size = sizeof info};
        if (ds->host->file_stat(ds->plugin, ds->corpus, d->source, strlen(d->source), &info) != BH_OK) {
            note_cap_failure(ds, BH_LOG_WARNING, "skipping", d->source);
            return 0;
        }
        if (info.type != BH_FILE_TYPE_REGULAR)
            return 0;
        d->size = info.size;
        d->mtime_ns = info.mtime_ns;
    }
    if (d->size > MAX_DOC_BYTES) {
        note(ds, BH_LOG_WARNING, "skipping %s: larger than %d bytes", d->source, MAX_DOC_BYTES);
        return 0;
    }
    if (!(d->text = read_doc(ds, d->source, (size_t)d->size, &d->text_len)))
        return 0;
    if (!make_utf8(d))
        return -1;
    parse_front_matter(d);
    if (!d->title) /* no front matter: the file name is the best title there is */
        d->title = strdup(d->source + strlen(d->tenant) + 1);
    iso8601(d->mtime_ns, d->modified);
    if (d->version >= 0) /* a resource's version is text: an ETag-like "v3" */
        snprintf(d->version_tag, sizeof d->version_tag, "v%ld", d->version);
    if (!name_as_resource(ds, d))
        return -1;

    d->title_len = d->title ? strlen(d->title) : 0;
    size_t body_len = d->text_len - d->body_off;
    d->folded_len = d->title_len + 1 + body_len;
    d->folded = malloc(d->folded_len + 1);
    if (!d->title || !d->folded)
        return -1;
    memcpy(d->folded, d->title, d->title_len);
    d->folded[d->title_len] = '\n';
    memcpy(d->folded + d->title_len + 1, d->text + d->body_off, body_len);
    for (size_t i = 0; i < d->folded_len; i++)
        d->folded[i] = fold(d->folded[i]);
    d->folded[d->folded_len] = '\0';
    return 1;
}

static void free_doc(doc *d)
{
    free(d->tenant);
    free(d->source);
    free(d->uri);
    free(d->title);
    free(d->text);
    free(d->folded);
}

static int by_source(const void *a, const void *b)
{
    return strcmp(((const doc *)a)->source, ((const doc *)b)->source);
}

/* File and folder names are shown to clients (as sources) and compared with tenants: UTF-8 only. */
static int utf8_name(bh_bytes name)
{
    for (size_t i = 0, k; i < name.len; i += k)
        if (!(k = bhj_utf8_seq((const unsigned char *)name.ptr + i, name.len - i)))
            return 0;
    return name.len > 0 && memchr(name.ptr, '\0', name.len) == NULL;
}

static int is_md(bh_bytes name)
{
    return name.len > 3 && name.ptr[0] != '.' && memcmp(name.ptr + name.len - 3, ".md", 3) == 0 &&
           utf8_name(name);
}

/*
 * What the dir_list callbacks below fill in. They only copy names and
 * sizes: the files are opened after each listing has returned, so no host
 * function is called from inside a callback.
 */
typedef struct listing {
    docs_state *ds;
    docs_index *ix; /* the index being built */
    char **tenants; /* the corpus's sub-folders */
    size_t ntenants, tenants_cap;
    const char *tenant; /* the sub-folder being listed */
    size_t docs_cap;
    int out_of_memory;
} listing;

/* For a callback that could not copy: remembers why, and stops the listing. */
static int stop_out_of_memory(listing *l)
{
    l->out_of_memory = 1;
    return 1;
}

/* dir_list callback for the corpus root: every folder there is a tenant. */
static int add_tenant(void *user_data, const bh_file_info *e)
{
    listing *l = user_data;
    /* Hidden folders are not tenants; a link may lead to a folder (listing it will tell). */
    if ((e->type != BH_FILE_TYPE_DIRECTORY && e->type != BH_FILE_TYPE_SYMLINK) ||
        !utf8_name(e->name) || e->name.ptr[0] == '.')
        return 0;
    if (l->ntenants == l->tenants_cap) {
        size_t cap = l->tenants_cap ? l->tenants_cap * 2 : 8;
        char **grown = realloc(l->tenants, cap * sizeof *grown);
        if (!grown)
            return stop_out_of_memory(l);
        l->tenants = grown;
        l->tenants_cap = cap;
    }
    if (!(l->tenants[l->ntenants] = strndup(e->name.ptr, e->name.len)))
        return stop_out_of_memory(l);
    l->ntenants++;
    return 0;
}

/* Fills l->tenants with the corpus folder's sub-folders (free them with free_tenants). */
static bh_status list_tenants(listing *l)
{
    docs_state *ds = l->ds;
    bh_status st = ds->host->dir_list(ds->plugin, ds->corpus, BH_LIT(""), add_tenant, l);
    if (st != BH_OK)
        note_cap_failure(ds, BH_LOG_ERROR, "cannot list", "the corpus folder");
    return st;
}

static void free_tenants(listing *l)
{
    for (size_t i = 0; i < l->ntenants; i++)
        free(l->tenants[i]);
    free(l->tenants);
    l->tenants = NULL;
    l->ntenants = l->tenants_cap = 0;
}

/* dir_list callback for one tenant's folder: records each *.md file, to be read afterwards. */
static int add_doc(void *user_data, const bh_file_info *e)
{
    listing *l = user_data;
    docs_index *ix = l->ix;
    if (!BH_HAS_FIELD(e, bh_file_info, mtime_ns))
        return 1; /* a core older than this plugin's header: nothing to go on */
    if ((e->type != BH_FILE_TYPE_REGULAR && e->type != BH_FILE_TYPE_SYMLINK) || !is_md(e->name))
        return 0;
    if (ix->count == l->docs_cap) {
        size_t cap = l->docs_cap ? l->docs_cap * 2 : 32;
        doc *grown = realloc(ix->docs, cap * sizeof *grown);
        if (!grown)
            return stop_out_of_memory(l);
        ix->docs = grown;
        l->docs_cap = cap;
    }
    doc *d = &ix->docs[ix->count++]; /* counted at once, so free_index frees what is allocated */
    *d = (doc){.version = -1, .size = e->size, .mtime_ns = e->mtime_ns,
               .is_link = e->type == BH_FILE_TYPE_SYMLINK};
    d->tenant = strdup(l->tenant);
    size_t n = strlen(l->tenant) + 1 + e->name.len + 1;
    if (!d->tenant || !(d->source = malloc(n)))
        return stop_out_of_memory(l);
    snprintf(d->source, n, "%s/%.*s", l->tenant, (int)e->name.len, e->name.ptr);
    return 0;
}

/*
 * Every .md file in every <tenant> folder of the corpus root, sorted by
 * source so answers are deterministic. The source ("acme/faq-billing.md") is
 * also the file's path inside the root, so it is what file_open is given.
 */
static bh_status load_corpus(docs_state *ds, docs_index *ix)
{
    const bh_host_api *host = ds->host;
    listing l = {.ds = ds, .ix = ix};
    bh_status st = list_tenants(&l);
    for (size_t i = 0; st == BH_OK && !l.out_of_memory && i < l.ntenants; i++) {
        l.tenant = l.tenants[i];
        /* A link to a plain file, or one leading out of the root, fails here: not a tenant. */
        if (host->dir_list(ds->plugin, ds->corpus, l.tenant, strlen(l.tenant), add_doc, &l) != BH_OK)
            note_cap_failure(ds, BH_LOG_WARNING, "skipping", l.tenant);
    }
    free_tenants(&l);

    /* Read what was listed. Documents that load move down; the rest (and all after a failure) are freed. */
    size_t kept = 0;
    for (size_t i = 0; i < ix->count; i++) {
        doc *d = &ix->docs[i];
        int r = (st == BH_OK && !l.out_of_memory) ? load_doc(ds, d) : 0;
        if (r > 0) {
            ix->docs[kept++] = *d;
            continue;
        }
        if (r < 0)
            l.out_of_memory = 1;
        free_doc(d);
    }
    ix->count = kept;
    if (st == BH_OK && l.out_of_memory) {
        note(ds, BH_LOG_ERROR, "out of memory while loading the corpus");
        st = BH_E_FAILED;
    }
    if (st != BH_OK)
        return st;
    if (ix->count)
        qsort(ix->docs, ix->count, sizeof *ix->docs, by_source);
    note(ds, BH_LOG_INFO, "indexed %zu documents from the corpus folder", ix->count);
    return BH_OK;
}

static void free_index(docs_index *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->count; i++)
        free_doc(&ix->docs[i]);
    free(ix->docs);
    free(ix);
}

/* A new index of the corpus as it is now, in *out (with no reference yet); on failure the log says why. */
static bh_status build_index(docs_state *ds, docs_index **out)
{
    *out = NULL;
    docs_index *ix = calloc(1, sizeof *ix);
    if (!ix) {
        note(ds, BH_LOG_ERROR, "out of memory while loading the corpus");
        return BH_E_FAILED;
    }
    bh_status st = load_corpus(ds, ix);
    if (st != BH_OK) {
        free_index(ix);
        return st;
    }
    *out = ix;
    return BH_OK;
}

/* ---------------------------------------------------------------------- */
/* Sharing the index between calls and the watcher                         */
/* ---------------------------------------------------------------------- */
/*
 * Why references and not a pthread_rwlock: with a rwlock, a rebuild's swap
 * waits for every call in flight (in a worker each is a string of host round
 * trips), and glibc's rwlock prefers readers, so under a steady load the swap
 * could wait for good. Here the mutex is held for a pointer and a counter
 * only; a call keeps the index it started with, whole, until it returns.
 */

/* The index a call reads from start to end; give it back with release_index. */
static docs_index *acquire_index(docs_state *ds)
{
    pthread_mutex_lock(&ds->mu);
    docs_index *ix = ds->current;
    ix->refs++;
    pthread_mutex_unlock(&ds->mu);
    return ix;
}

/* Drops one reference; the last one, from a call or from a swap, frees the index. */
static void release_index(docs_state *ds, docs_index *ix)
{
    pthread_mutex_lock(&ds->mu);
    int last = --ix->refs == 0;
    pthread_mutex_unlock(&ds->mu);
    if (last)
        free_index(ix);
}

/* Makes `fresh` the index calls get from now on; the old one goes once no call holds it. */
static void swap_index(docs_state *ds, docs_index *fresh)
{
    fresh->refs = 1; /* the state's own reference */
    pthread_mutex_lock(&ds->mu);
    docs_index *old = ds->current;
    ds->current = fresh;
    pthread_mutex_unlock(&ds->mu);
    release_index(ds, old);
}

/* ---------------------------------------------------------------------- */
/* Tools                                                                   */
/* ---------------------------------------------------------------------- */

static int same_tenant(const doc *d, bh_bytes tenant)
{
    return tenant.len > 0 && strlen(d->tenant) == tenant.len &&
           memcmp(d->tenant, tenant.ptr, tenant.len) == 0;
}

static void put_version(bhj_buf *b, const doc *d)
{
    if (d->version >= 0)
        bhj_printf(b, "%ld", d->version);
    else
        bhj_puts(b, "null");
}

/* Non-overlapping occurrences of term in hay. */
static size_t count_hits(const char *hay, const char *term, size_t term_len, size_t *first)
{
    size_t hits = 0;
    for (const char *p = hay; (p = strstr(p, term)) != NULL; p += term_len) {
        if (hits++ == 0 && (size_t)(p - hay) < *first)
            *first = (size_t)(p - hay);
    }
    return hits;
}

/*
 * A one-line excerpt of the body around byte `at` of the body: starts at a
 * word boundary a little before the hit, never splits a UTF-8 character,
 * and newlines become spaces.
 */
static void put_snippet(bhj_buf *out, const doc *d, size_t at)
{
    const char *body = d->text + d->body_off;
    size_t len = d->text_len - d->body_off;
    size_t start = at > 40 ? at - 40 : 0;
    while (start > 0 && start < at && body[start - 1] != ' ' && body[start - 1] != '\n')
        start++;
    while (start < at && (body[start] == ' ' || body[start] == '\n'))
        start++;
    size_t n = bhj_utf8_prefix(body + start, len - start, SNIPPET_BYTES);
    static const char ellipsis[] = "\xE2\x80\xA6"; /* … */
    char line[SNIPPET_BYTES + 2 * sizeof ellipsis];
    size_t k = 0;
    if (start > 0) {
        memcpy(line, ellipsis, 3);
        k = 3;
    }
    for (size_t i = 0; i < n; i++) {
        char c = body[start + i];
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' ';
        if (c == ' ' && k > 0 && line[k - 1] == ' ')
            continue; /* collapse blank lines into one space */
        line[k++] = c;
    }
    while (k > 0 && line[k - 1] == ' ')
        k--;
    if (start + n < len) {
        memcpy(line + k, ellipsis, 3);
        k += 3;
    }
    bhj_text(out, line, k); /* the document may not be clean UTF-8 */
}

typedef struct hit {
    const doc *d;
    size_t score;
    size_t first; /* offset in folded of the first match */
} hit;

static int by_score(const void *a, const void *b)
{
    const hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return strcmp(x->d->source, y->d->source);
}

static bh_status search(const bh_host_api *host, bh_call call, const docs_index *ix)
{
    bh_bytes query;
    bh_status st = host->arg_string(call, BH_LIT("query"), &query);
    if (st != BH_OK)
        return bad_arg(host, call, st, "query", "a string of words to look for");
    if (query.len > MAX_QUERY_BYTES)
        return host->result_error(call, BH_ERROR_INVALID_ARGUMENT,
                                  BH_LIT("query must be at most 256 bytes"));

    int64_t limit = LIMIT_DEFAULT, requested = LIMIT_DEFAULT;
    st = host->arg_int(call, BH_LIT("limit"), &requested);
    if (st == BH_OK)
        limit = requested < LIMIT_MIN ? LIMIT_MIN : requested > LIMIT_MAX ? LIMIT_MAX : requested;
    else if (st != BH_E_NOT_FOUND)
        return bad_arg(host, call, st, "limit", "an integer from 1 to 20");

    bh_caller who = {.struct_size = sizeof who};
    if ((st = host->caller(call, &who)) != BH_OK)
        return st;

    /* Terms: the query's words, folded like the index. */
    char words[MAX_QUERY_BYTES + 1];
    const char *terms[MAX_TERMS];
    size_t term_len[MAX_TERMS], nterms = 0;
    for (size_t i = 0; i < query.len; i++)
        words[i] = fold(query.ptr[i]);
    words[query.len] = '\0';
    for (char *save, *w = strtok_r(words, " \t\r\n", &save); w && nterms < MAX_TERMS;
         w = strtok_r(NULL, " \t\r\n", &save)) {
        terms[nterms] = w;
        term_len[nterms++] = strlen(w);
    }
    if (nterms == 0)
        return host->result_error(call, BH_ERROR_INVALID_ARGUMENT,
                                  BH_LIT("query must contain at least one word"));

    hit *hits = malloc((ix->count ? ix->count : 1) * sizeof *hits);
    if (!hits)
        return host->result_error(call, BH_ERROR_INTERNAL, BH_LIT("out of memory"));
    size_t matched = 0;
    for (size_t i = 0; i < ix->count; i++) {
        const doc *d = &ix->docs[i];
        if (!same_tenant(d, who.tenant))
            continue;
        hit h = {d, 0, SIZE_MAX};
        for (size_t t = 0; t < nterms; t++)
            h.score += count_hits(d->folded, terms[t], term_len[t], &h.first);
        if (h.score)
            hits[matched++] = h;
    }
    qsort(hits, matched, sizeof *hits, by_score);
    size_t shown = matched < (size_t)limit ? matched : (size_t)limit;

    bhj_buf text = {0}, json = {0};
    bhj_printf(&text, "%zu of %zu matching documents for \"", shown, matched);
    bhj_text(&text, query.ptr, query.len);
    if (who.tenant.len) {
        bhj_puts(&text, "\" (tenant ");
        bhj_text(&text, who.tenant.ptr, who.tenant.len);
        bhj_puts(&text, ")\n");
    } else {
        bhj_puts(&text, "\" (the call has no tenant, so no document is visible)\n");
    }
    bhj_puts(&json, "{\"tenant\":");
    bhj_string(&json, who.tenant.ptr, who.tenant.len);
    bhj_puts(&json, ",\"query\":");
    bhj_string(&json, query.ptr, query.len);
    bhj_printf(&json, ",\"matched\":%zu,\"hits\":[", matched);

    for (size_t i = 0; i < shown; i++) {
        const doc *d = hits[i].d;
        /* A match in the title has no place in the body: show the body's start. */
        size_t at = hits[i].first > d->title_len ? hits[i].first - d->title_len - 1 : 0;
        bhj_printf(&text, "\n%zu. ", i + 1);
        bhj_text(&text, d->title, d->title_len);
        bhj_printf(&text, "\n   source %s, version ", d->source);
        put_version(&text, d);
        bhj_printf(&text, ", modified %s, %zu hit%s\n   ", d->modified, hits[i].score,
                   hits[i].score == 1 ? "" : "s");
        size_t mark = text.len;
        put_snippet(&text, d, at);

        bhj_puts(&json, i ? ",{\"source\":" : "{\"source\":");
        bhj_cstring(&json, d->source);
        bhj_puts(&json, ",\"uri\":");
        bhj_cstring(&json, d->uri); /* null when it is not a resource */
        bhj_puts(&json, ",\"title\":");
        bhj_string(&json, d->title, d->title_len);
        bhj_puts(&json, ",\"version\":");
        put_version(&json, d);
        bhj_printf(&json, ",\"modified\":\"%s\",\"score\":%zu,\"snippet\":", d->modified,
                   hits[i].score);
        if (!text.failed) /* the snippet just rendered into text, reused */
            bhj_string(&json, text.ptr + mark, text.len - mark);
        bhj_putc(&json, '}');
        bhj_putc(&text, '\n');
    }
    bhj_putc(&json, ']');
    if (limit != requested) {
        bhj_printf(&text, "\nNote: limit %lld was clamped to %lld (allowed %d to %d).\n",
                   (long long)requested, (long long)limit, LIMIT_MIN, LIMIT_MAX);
        bhj_printf(&json, ",\"clamped\":{\"limit\":{\"requested\":%lld,\"applied\":%lld}}",
                   (long long)requested, (long long)limit);
    }
    bhj_putc(&json, '}');

    /* Each hit shown is also a resource_link, after the text. */
    const doc *linked[LIMIT_MAX];
    for (size_t i = 0; i < shown; i++)
        linked[i] = hits[i].d;
    free(hits);
    st = send(host, call, &text, &json, linked, shown);
    /* Say what the limit left out. Only this tenant's documents were matched, so the
     * count tells nothing of what other tenants hold. */
    if (st == BH_OK && shown < matched && serves_resources(host))
        st = host->report_excluded(call, BH_EXCLUDED_TRUNCATED, matched - shown, BH_LIT("limit"));
    return st;
}

static int bad_path(bh_bytes p)
{
    if (p.len == 0 || p.ptr[0] == '/')
        return 1;
    for (size_t i = 0; i + 1 < p.len; i++)
        if (p.ptr[i] == '.' && p.ptr[i + 1] == '.')
            return 1;
    return memchr(p.ptr, '\0', p.len) != NULL;
}

static bh_status fetch(const bh_host_api *host, bh_call call, const docs_index *ix)
{
    bh_bytes path;
    bh_status st = host->arg_string(call, BH_LIT("path"), &path);
    if (st != BH_OK)
        return bad_arg(host, call, st, "path", "a document path such as \"acme/faq-billing.md\"");
    if (bad_path(path))
        return host->result_error(call, BH_ERROR_INVALID_ARGUMENT,
                                  BH_LIT("path must be relative to the corpus and must not contain \"..\""));

    bh_caller who = {.struct_size = sizeof who};
    if ((st = host->caller(call, &who)) != BH_OK)
        return st;

    const doc *d = NULL;
    for (size_t i = 0; i < ix->count && !d; i++)
        if (same_tenant(&ix->docs[i], who.tenant) && strlen(ix->docs[i].source) == path.len &&
            memcmp(ix->docs[i].source, path.ptr, path.len) == 0)
            d = &ix->docs[i];
    if (!d) {
        /* The same words for "absent" and "another tenant's": the answer must not tell them apart. */
        bhj_buf msg = {0};
        bhj_puts(&msg, "no document ");
        bhj_string(&msg, path.ptr, path.len);
        st = msg.failed ? host->result_error(call, BH_ERROR_INTERNAL, BH_LIT("out of memory"))
                        : host->result_error(call, BH_ERROR_NOT_FOUND, msg.ptr, msg.len);
        bhj_free(&msg);
        return st;
    }

    /* The answer is the document: name it, as its resource, in the provenance. */
    if (d->uri && serves_resources(host)) {
        bh_source src = {
            .struct_size = sizeof src,
            .uri = {d->uri, strlen(d->uri)},
            .title = {d->title, d->title_len},
            .version = {d->version_tag, strlen(d->version_tag)},
            .modified_ms = d->mtime_ns / 1000000,
        };
        if ((st = host->add_source(call, &src)) != BH_OK)
            return st;
    }

    bhj_buf text = {0}, json = {0};
    bhj_printf(&text, "[source %s, version ", d->source);
    put_version(&text, d);
    bhj_printf(&text, ", modified %s]\n\n", d->modified);
    bhj_text(&text, d->text, d->text_len);
    bhj_puts(&json, "{\"source\":");
    bhj_cstring(&json, d->source);
    bhj_puts(&json, ",\"uri\":");
    bhj_cstring(&json, d->uri);
    bhj_puts(&json, ",\"title\":");
    bhj_string(&json, d->title, d->title_len);
    bhj_puts(&json, ",\"version\":");
    put_version(&json, d);
    bhj_printf(&json, ",\"modified\":\"%s\",\"text\":", d->modified);
    bhj_string(&json, d->text, d->text_len);
    bhj_putc(&json, '}');
    return send(host, call, &text, &json, NULL, 0);
}

/* ---------------------------------------------------------------------- */
/* Resources                                                               */
/* ---------------------------------------------------------------------- */

/*
 * The one answer for a URI this caller cannot read, whether the document
 * does not exist or is another tenant's: the same kind and the same words,
 * so a read cannot be used to find out what other tenants hold.
 */
static bh_status no_such_document(const bh_host_api *host, bh_call call)
{
    return host->result_error(call, BH_ERROR_NOT_FOUND, BH_LIT("no such document"));
}

static int same_bytes(bh_bytes a, const char *b, size_t n)
{
    return a.len == n && memcmp(a.ptr, b, n) == 0;
}

/*
 * resources/read of docs://{tenant}/{slug}: the whole document as the file
 * holds it, front matter included. The core has matched the URI and checked
 * both variables against the manifest's patterns; whose tenant it names is
 * for the plugin to check.
 */
static bh_status read_document(const bh_host_api *host, bh_call call, const docs_index *ix)
{
    bh_bytes tenant, slug;
    bh_status st = host->arg_string(call, BH_LIT("tenant"), &tenant);
    if (st != BH_OK)
        return bad_arg(host, call, st, "tenant", "the tenant part of the URI");
    if ((st = host->arg_string(call, BH_LIT("slug"), &slug)) != BH_OK)
        return bad_arg(host, call, st, "slug", "the document part of the URI");
    bh_caller who = {.struct_size = sizeof who};
    if ((st = host->caller(call, &who)) != BH_OK)
        return st;
    if (!same_bytes(tenant, who.tenant.ptr, who.tenant.len))
        return no_such_document(host, call);

    const doc *d = NULL;
    for (size_t i = 0; i < ix->count && !d; i++)
        if (ix->docs[i].uri && same_tenant(&ix->docs[i], who.tenant) &&
            same_bytes(slug, ix->docs[i].slug, ix->docs[i].slug_len))
            d = &ix->docs[i];
    if (!d)
        return no_such_document(host, call);

    /* uri empty: the URI read; mime_type empty: the manifest's (text/markdown). */
    bh_resource_content content = {
        .struct_size = sizeof content,
        .data = {d->text, d->text_len},
        .version = {d->version_tag, strlen(d->version_tag)}, /* "": the core's digest of the text */
        .modified_ms = d->mtime_ns / 1000000,
        .title = {d->title, d->title_len},
    };
    st = host->result_resource(call, &content);
    if (st == BH_E_TOO_LARGE)
        st = host->result_error(call, BH_ERROR_TOO_LARGE,
                                BH_LIT("the document exceeds the result size limit"));
    return st;
}

/*
 * resources/list: a link to every document of the caller's tenant, and to
 * nothing else. The core keeps only the links the caller's policy lets it
 * read, and pages the list itself.
 */
static bh_status list_documents(const bh_host_api *host, bh_call call, const docs_index *ix)
{
    bh_caller who = {.struct_size = sizeof who};
    bh_status st = host->caller(call, &who);
    if (st != BH_OK)
        return st;
    for (size_t i = 0; i < ix->count; i++) {
        const doc *d = &ix->docs[i];
        if (!d->uri || !same_tenant(d, who.tenant))
            continue;
        bh_resource_content link = doc_link(d);
        if ((st = host->result_resource(call, &link)) != BH_OK && st != BH_E_NOT_ALLOWED)
            return st; /* a refused link is one the caller may not read: left out, as the core would */
    }
    return BH_OK;
}

/* ---------------------------------------------------------------------- */
/* Entry points: each call reads one index, from start to end              */
/* ---------------------------------------------------------------------- */

typedef bh_status (*index_fn)(const bh_host_api *host, bh_call call, const docs_index *ix);

/* Runs fn on the index in use now, which stays whole until fn returns even if a reload swaps it out. */
static bh_status with_index(const bh_host_api *host, bh_call call, void *user_data, index_fn fn)
{
    docs_state *ds = user_data;
    docs_index *ix = acquire_index(ds);
    bh_status st = fn(host, call, ix);
    release_index(ds, ix);
    return st;
}

static bh_status search_tool(const bh_host_api *host, bh_call call, void *user_data)
{
    return with_index(host, call, user_data, search);
}

static bh_status fetch_tool(const bh_host_api *host, bh_call call, void *user_data)
{
    return with_index(host, call, user_data, fetch);
}

static bh_status document_resource(const bh_host_api *host, bh_call call, void *user_data)
{
    return with_index(host, call, user_data, read_document);
}

static bh_status document_list(const bh_host_api *host, bh_call call, void *user_data)
{
    return with_index(host, call, user_data, list_documents);
}

/* ---------------------------------------------------------------------- */
/* Watching the corpus                                                     */
/* ---------------------------------------------------------------------- */

/* Whether the core has resource_changed: it came last in ABI 1.1, as serves_resources explains. */
static int announces_changes(const bh_host_api *host)
{
    return BH_HAS_FIELD(host, bh_host_api, resource_changed);
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Whether destroy asked the watcher to stop. The eventfd is never read, so once set it stays set. */
static int stop_requested(const watcher *w)
{
    struct pollfd p = {.fd = w->stop, .events = POLLIN};
    return poll(&p, 1, 0) != 0; /* a failing poll stops the watcher too, rather than spin */
}

/* The one line that says the corpus is served as loaded, and why. 0, for start_watcher to return. */
static int not_watching(docs_state *ds, const char *why)
{
    note(ds, BH_LOG_NOTICE, "not watching the corpus folder for changes (%s): serving the documents as loaded",
         why);
    return 0;
}

/*
 * Watches every tenant folder there is now. A reload calls it before it
 * reads anything, so a folder that just appeared is watched before its files
 * are read: whatever changes after that is heard, and read by the next
 * reload. Watching a folder again only renews its watch, and a folder that
 * went took its watch with it, so nothing needs to be remembered here.
 */
static void watch_tenants(docs_state *ds)
{
    watcher *w = &ds->w;
    listing l = {.ds = ds};
    if (list_tenants(&l) == BH_OK && l.out_of_memory)
        note(ds, BH_LOG_ERROR, "out of memory while listing the corpus folder");
    for (size_t i = 0; i < l.ntenants; i++) {
        size_t n = strlen(w->root) + 1 + strlen(l.tenants[i]) + 1;
        char *path = malloc(n);
        if (!path) {
            note(ds, BH_LOG_ERROR, "out of memory while watching the corpus folder");
            break;
        }
        snprintf(path, n, "%s/%s", w->root, l.tenants[i]);
        /* A link to a plain file is no tenant (ENOTDIR), and a folder may have gone since the listing. */
        if (inotify_add_watch(w->inotify, path, TENANT_EVENTS) < 0 && errno != ENOTDIR && errno != ENOENT)
            note(ds, BH_LOG_WARNING, "cannot watch %s for changes (inotify_add_watch: %s): its documents "
                 "change only when another change makes the corpus be read again", l.tenants[i], strerror(errno));
        free(path);
    }
    free_tenants(&l);
}

/*
 * Whether an event may change the index: a *.md file in a tenant's folder
 * (hidden files, such as the temporary file a careful writer renames over
 * a document, are not documents), an entry of the corpus folder (a tenant
 * folder, or a link to one, came, went or was renamed), or lost events.
 */
static int matters(const watcher *w, const struct inotify_event *e)
{
    if (e->mask & IN_Q_OVERFLOW)
        return 1; /* events were dropped: read everything again to be sure */
    if ((e->mask & IN_IGNORED) || e->len == 0)
        return 0; /* a watch went with its folder, which the corpus folder's own event reports */
    bh_bytes name = {e->name, strnlen(e->name, e->len)};
    if (e->wd == w->root_wd)
        return name.len > 0 && name.ptr[0] != '.';
    return !(e->mask & IN_ISDIR) && is_md(name);
}

/* Reads every event queued: 1 when one of them matters, 0 when none does, -1 when inotify failed. */
static int drain_events(docs_state *ds)
{
    watcher *w = &ds->w;
    _Alignas(struct inotify_event) char buf[4096]; /* room for at least one event with the longest name */
    int any = 0;
    for (;;) {
        ssize_t n = read(w->inotify, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return any;
        if (n <= 0) {
            note(ds, BH_LOG_ERROR, "stopped watching the corpus folder (read: %s): serving the documents "
                 "as last read", n < 0 ? strerror(errno) : "end of file");
            return -1;
        }
        for (const char *p = buf; p < buf + n;) {
            const struct inotify_event *e = (const struct inotify_event *)(const void *)p;
            any |= matters(w, e);
            p += sizeof *e + e->len;
        }
    }
}

/* Whether a document reads differently in the new index: its text (front matter and version included) or its time. */
static int doc_changed(const doc *before, const doc *after)
{
    return before->mtime_ns != after->mtime_ns || before->text_len != after->text_len ||
           memcmp(before->text, after->text, before->text_len) != 0;
}

/* Tells the core that d changed, if it is a resource (only a resource has subscribers). 1 when told. */
static size_t announce(docs_state *ds, const doc *d)
{
    if (!d->uri)
        return 0;
    if (ds->host->resource_changed(ds->plugin, d->uri, strlen(d->uri)) != BH_OK) {
        note_cap_failure(ds, BH_LOG_WARNING, "resource_changed refused", d->uri);
        return 0;
    }
    return 1;
}

/*
 * Tells the core of every resource that changed, appeared or went from one
 * index to the next. Both are sorted by source, and a source names one URI,
 * so one walk down both finds them all. Returns how many it told.
 */
static size_t announce_changes(docs_state *ds, const docs_index *old, const docs_index *fresh)
{
    size_t i = 0, j = 0, told = 0;
    while (i < old->count || j < fresh->count) {
        const doc *a = i < old->count ? &old->docs[i] : NULL;
        const doc *b = j < fresh->count ? &fresh->docs[j] : NULL;
        int order = !a ? 1 : !b ? -1 : strcmp(a->source, b->source);
        if (order < 0) { /* went */
            told += announce(ds, a);
            i++;
        } else if (order > 0) { /* appeared */
            told += announce(ds, b);
            j++;
        } else {
            if (doc_changed(a, b))
                told += announce(ds, b);
            i++;
            j++;
        }
    }
    return told;
}

/* Reads the whole corpus again, swaps the new index in, and tells the core what changed. */
static void reload(docs_state *ds)
{
    if (stop_requested(&ds->w))
        return;
    watch_tenants(ds);
    docs_index *fresh;
    if (build_index(ds, &fresh) != BH_OK) {
        note(ds, BH_LOG_WARNING, "the corpus changed but could not be read again: serving the documents as last read");
        return;
    }
    /* Only this thread swaps. So `old`, held by the reference taken here, and `fresh`,
     * current until this thread's next swap, both stay whole while it compares them. */
    docs_index *old = acquire_index(ds);
    swap_index(ds, fresh);
    /* Told after the swap, so that a subscriber who reads at once reads the new text. */
    size_t told = 0;
    if (announces_changes(ds->host) && !stop_requested(&ds->w))
        told = announce_changes(ds, old, fresh);
    release_index(ds, old);
    note(ds, BH_LOG_INFO, "read the corpus again after a change; resources changed, appeared or went: %zu", told);
}

/*
 * The watcher thread: waits for events or for destroy, and reloads once a
 * burst of events is over, DEBOUNCE_MS after its last one (or DEBOUNCE_MAX_MS
 * after its first, so that a folder that never rests is still read). A save
 * is often several events (a temporary file written, then renamed; or a
 * truncation, writes and a close): one reload covers them all.
 */
static void *watch_main(void *arg)
{
    docs_state *ds = arg;
    watcher *w = &ds->w;
    int pending = 0;
    int64_t first = 0, last = 0; /* the pending burst's first and last events, monotonic ms */
    for (;;) {
        int timeout = -1;
        if (pending) {
            int64_t due = last + DEBOUNCE_MS < first + DEBOUNCE_MAX_MS ? last + DEBOUNCE_MS : first + DEBOUNCE_MAX_MS;
            int64_t left = due - now_ms();
            if (left <= 0) {
                pending = 0;
                reload(ds);
                continue;
            }
            timeout = (int)left;
        }
        struct pollfd fds[2] = {{.fd = w->stop, .events = POLLIN}, {.fd = w->inotify, .events = POLLIN}};
        if (poll(fds, 2, timeout) < 0) {
            if (errno == EINTR)
                continue;
            note(ds, BH_LOG_ERROR, "stopped watching the corpus folder (poll: %s): serving the documents as last read",
                 strerror(errno));
            break;
        }
        if (fds[0].revents)
            break; /* destroy is waiting */
        if (fds[1].revents & POLLIN) {
            int r = drain_events(ds);
            if (r < 0)
                break;
            if (r > 0) {
                last = now_ms();
                if (!pending)
                    first = last;
                pending = 1;
            }
        } else if (fds[1].revents) {
            note(ds, BH_LOG_ERROR, "stopped watching the corpus folder (poll: revents 0x%x): serving the documents "
                 "as last read", (unsigned)fds[1].revents);
            break;
        }
    }
    return NULL;
}

/* Stops the watcher thread, if it runs, and waits for it; then closes what start_watcher opened. */
static void stop_watcher(watcher *w)
{
    if (w->running) {
        uint64_t one = 1;
        while (write(w->stop, &one, sizeof one) < 0 && errno == EINTR) {
        }
        pthread_join(w->thread, NULL);
        w->running = 0;
    }
    if (w->inotify >= 0)
        close(w->inotify);
    if (w->stop >= 0)
        close(w->stop);
    w->inotify = w->stop = w->root_wd = -1;
    free(w->root);
    w->root = NULL;
}

/* Leaves the watcher unstarted and says why, once. 0, for start_watcher to return. */
static int watch_failed(docs_state *ds, const char *step, int err)
{
    char why[160];
    snprintf(why, sizeof why, "%s: %s", step, strerror(err));
    stop_watcher(&ds->w);
    return not_watching(ds, why);
}

/*
 * Starts watching the corpus folder: inotify needs a path, so this is where
 * root_path is used (in a worker, Landlock lets the plugin reach the granted
 * root by the same path). Anything missing (a root without a path, inotify
 * refused by the kernel or a sandbox) only means the documents are served as
 * they were loaded: one notice says so, and init goes on. 1 when watching.
 */
static int start_watcher(docs_state *ds)
{
    const bh_host_api *host = ds->host;
    watcher *w = &ds->w;
    bh_bytes root = {0};
    if (host->root_path(ds->plugin, ds->corpus, &root) != BH_OK) {
        bh_bytes err = {0};
        if (host->last_error(&err) != BH_OK || !err.ptr)
            err = (bh_bytes){"", 0};
        char why[600];
        snprintf(why, sizeof why, "root_path: %.*s", (int)err.len, err.ptr);
        return not_watching(ds, why);
    }
    if (!root.ptr || root.len == 0 || memchr(root.ptr, '\0', root.len))
        return not_watching(ds, "the core names no path for the corpus folder");
    if (!(w->root = strndup(root.ptr, root.len)))
        return watch_failed(ds, "strndup", ENOMEM);
    if ((w->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
        return watch_failed(ds, "inotify_init1", errno);
    if ((w->stop = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        return watch_failed(ds, "eventfd", errno);
    if ((w->root_wd = inotify_add_watch(w->inotify, w->root, ROOT_EVENTS)) < 0)
        return watch_failed(ds, "inotify_add_watch", errno);
    watch_tenants(ds);

    /* Signals are the core's business: the thread starts with all of them blocked, so none is
     * ever delivered to it instead of to the thread the core waits for them on. */
    sigset_t all, before;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &before);
    int err = pthread_create(&w->thread, NULL, watch_main, ds);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    if (err != 0)
        return watch_failed(ds, "pthread_create", err);
    w->running = 1;
    note(ds, BH_LOG_INFO, "watching the corpus folder for changes");
    return 1;
}

/* ---------------------------------------------------------------------- */
/* Exports                                                                 */
/* ---------------------------------------------------------------------- */

BULKHEAD_PLUGIN_ABI()

/* Stops the watcher before anything it uses goes, then frees the state. Also init's way out. */
static void destroy(void *state)
{
    docs_state *ds = state;
    stop_watcher(&ds->w);
    if (ds->current)
        release_index(ds, ds->current);
    pthread_mutex_destroy(&ds->mu);
    free(ds);
}

bh_status bulkhead_plugin_init(const bh_host_api *host, bh_plugin plugin, bh_plugin_def *def)
{
    docs_state *ds = calloc(1, sizeof *ds);
    if (!ds)
        return BH_E_FAILED;
    ds->host = host;
    ds->plugin = plugin;
    ds->w = (watcher){.inotify = -1, .root_wd = -1, .stop = -1};
    if (pthread_mutex_init(&ds->mu, NULL) != 0) {
        free(ds);
        return BH_E_FAILED;
    }

    /* The manifest requires "corpus", so the core refuses the plugin before init unless it
     * was granted; checking anyway costs nothing and says why in the log if it ever is not. */
    bh_status st = host->capability(plugin, BH_LIT("corpus"), &ds->corpus);
    if (st != BH_OK)
        note_cap_failure(ds, BH_LOG_ERROR, "cannot use capability", "corpus");
    if (st == BH_OK && (st = build_index(ds, &ds->current)) == BH_OK)
        ds->current->refs = 1; /* the state's own reference */
    if (st == BH_OK)
        st = host->register_tool(plugin, BH_LIT("search"), search_tool, ds);
    if (st == BH_OK)
        st = host->register_tool(plugin, BH_LIT("fetch"), fetch_tool, ds);
    /* The manifest declares the template and resource_list = true: register both, or
     * (under a core without resources; see serves_resources) serve the tools alone. */
    if (st == BH_OK && serves_resources(host)) {
        st = host->register_resource(plugin, BH_LIT("docs://{tenant}/{slug}"), document_resource, ds);
        if (st == BH_OK)
            st = host->register_resource_list(plugin, document_list, ds);
    } else if (st == BH_OK) {
        note(ds, BH_LOG_NOTICE, "this core serves no resources: serving search and fetch only");
    }
    if (st != BH_OK) {
        destroy(ds);
        return st;
    }
    /* Calls read an index that is never written, by reference (with_index): no lock is held
     * while they run, and a reload never changes what a call in flight reads. */
    def->concurrency = BH_CONCURRENCY_PARALLEL;
    def->state = ds;
    def->destroy = destroy;
    /* Last, once nothing can fail: whether or not the corpus can be watched, init succeeds. */
    start_watcher(ds);
    return BH_OK;
}
