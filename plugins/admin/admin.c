/*
 * admin — the core's own state, for operators: which plugins are loaded,
 * their versions, health and call counts, and which folders were refused.
 *
 * Trust domain: the core itself. It is a separate plugin (and so a separate
 * policy) so that reading the core's state is granted on its own: the
 * manifest requests the capability `core_status` (kind "core_status", not
 * required, so the plugin loads without it), the operator grants it with
 * `[grants] core_status = true` in this folder's policy.toml, and without
 * that grant host->core_status refuses and this tool answers not_allowed.
 * No token is needed: host->core_status checks the grant on every call.
 *
 * The structured content is the core's JSON, passed through untouched; the
 * text block is a table rendered from it for people. The renderer reads
 * only the fields it knows and shows "-" for any it does not find, so a newer
 * core with more (or fewer) fields still gets a readable table.
 */
#include <bulkhead/bulkhead.h>

#include "bh_json.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Just enough of a JSON reader to walk the core's status document        */
/* ---------------------------------------------------------------------- */

/* A cursor over JSON text. Every step is bounds-checked; on malformed input it gives up (NULL). */
typedef struct span {
    const char *p, *end;
} span;

static const char *ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The end of the JSON value starting at p, or NULL. Lenient about numbers and literals. */
static const char *skip(const char *p, const char *e, int depth)
{
    p = ws(p, e);
    if (p >= e || depth > 32)
        return NULL;
    if (*p == '"') {
        for (p++; p < e; p++) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = ws(p + 1, e);
        while (p && p < e && *p != close) {
            if (!(p = skip(p, e, depth + 1)))
                return NULL;
            p = ws(p, e);
            if (p < e && (*p == ',' || *p == ':'))
                p = ws(p + 1, e);
        }
        return p && p < e ? p + 1 : NULL;
    }
    while (p < e && !strchr(",:]} \t\r\n", *p))
        p++;
    return p;
}

/* The value of `key` in the object at v, as a span; an empty span when absent. */
static span member(span v, const char *key)
{
    size_t klen = strlen(key);
    const char *p = ws(v.p, v.end);
    if (p >= v.end || *p != '{')
        return (span){NULL, NULL};
    p = ws(p + 1, v.end);
    while (p < v.end && *p == '"') {
        const char *k = p + 1, *ke = skip(p, v.end, 0);
        if (!ke)
            break;
        p = ws(ke, v.end);
        if (p >= v.end || *p != ':')
            break;
        const char *val = ws(p + 1, v.end), *ve = skip(val, v.end, 0);
        if (!ve)
            break;
        /* Keys of the status document are plain ASCII: no unescaping needed to compare. */
        if ((size_t)(ke - 1 - k) == klen && memcmp(k, key, klen) == 0)
            return (span){val, ve};
        p = ws(ve, v.end);
        if (p < v.end && *p == ',')
            p = ws(p + 1, v.end);
    }
    return (span){NULL, NULL};
}

/* Array iteration: `it` starts as the array; each call yields the next element. */
static int next_element(span *it, span *out)
{
    const char *p = ws(it->p, it->end);
    if (p < it->end && *p == '[')
        p = ws(p + 1, it->end);
    else if (p < it->end && *p == ',')
        p = ws(p + 1, it->end);
    if (p >= it->end || *p == ']')
        return 0;
    const char *e = skip(p, it->end, 0);
    if (!e)
        return 0;
    *out = (span){p, e};
    it->p = e;
    return 1;
}

static void put_utf8(bhj_buf *b, unsigned long c)
{
    char u[4];
    size_t n;
    if (c < 0x80) {
        u[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (char)(0xC0 | (c >> 6));
        u[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (char)(0xE0 | (c >> 12));
        u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (c >> 18));
        u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    bhj_text(b, u, n); /* a lone surrogate comes out as U+FFFD */
}

static unsigned long hex4(const char *p, const char *e)
{
    unsigned long v = 0;
    for (int i = 0; i < 4; i++, p++) {
        if (p >= e)
            return 0xFFFD;
        int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
              : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : -1;
        if (d < 0)
            return 0xFFFD;
        v = v * 16 + (unsigned long)d;
    }
    return v;
}

/* Appends a scalar for people to read: strings unescaped, anything else as written, absent as "-". */
static void put_scalar(bhj_buf *b, span v)
{
    if (!v.p) {
        bhj_putc(b, '-');
        return;
    }
    if (*v.p != '"') {
        bhj_text(b, v.p, (size_t)(v.end - v.p));
        return;
    }
    for (const char *p = v.p + 1; p < v.end - 1; p++) {
        if (*p != '\\') {
            const char *run = p;
            while (p < v.end - 1 && *p != '\\')
                p++;
            bhj_text(b, run, (size_t)(p - run));
            p--;
            continue;
        }
        p++;
        switch (*p) {
        case 'n': bhj_putc(b, '\n'); break;
        case 't': bhj_putc(b, '\t'); break;
        case 'r': case 'b': case 'f': bhj_putc(b, ' '); break;
        case 'u': {
            unsigned long c = hex4(p + 1, v.end);
            p += 4;
            if (c >= 0xD800 && c < 0xDC00 && p + 6 < v.end && p[1] == '\\' && p[2] == 'u') {
                unsigned long lo = hex4(p + 3, v.end);
                if (lo >= 0xDC00 && lo < 0xE000) {
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            put_utf8(b, c);
            break;
        }
        default: bhj_putc(b, *p); break; /* \" \\ \/ */
        }
    }
}

/* A scalar padded to `width` characters (code points, so columns line up with non-ASCII names). */
static void put_cell(bhj_buf *b, span v, int width, int right)
{
    bhj_buf cell = {0};
    put_scalar(&cell, v);
    int chars = 0;
    for (size_t i = 0; i < cell.len; i++)
        chars += ((unsigned char)cell.ptr[i] & 0xC0) != 0x80;
    if (right)
        for (int i = chars; i < width; i++)
            bhj_putc(b, ' ');
    if (cell.ptr)
        bhj_append(b, cell.ptr, cell.len);
    if (!right)
        for (int i = chars; i < width; i++)
            bhj_putc(b, ' ');
    b->failed |= cell.failed;
    bhj_free(&cell);
}

static size_t count_elements(span array)
{
    size_t n = 0;
    span it = array, el;
    while (array.p && *array.p == '[' && next_element(&it, &el))
        n++;
    return n;
}

/* ---------------------------------------------------------------------- */
/* The tool                                                                */
/* ---------------------------------------------------------------------- */

static void render(bhj_buf *t, span doc)
{
    span plugins = member(doc, "plugins"), refused = member(doc, "refused");
    bhj_puts(t, "Bulkhead core, ABI ");
    put_scalar(t, member(doc, "abi"));
    bhj_printf(t, ": %zu plugin(s) loaded, %zu folder(s) refused\n\n", count_elements(plugins),
               count_elements(refused));

    bhj_puts(t, "PLUGIN          VERSION   ABI   CONCURRENCY  ISOLATION   HEALTH     CALLS  ERRORS  IN FLIGHT  TOOLS\n");
    span it = plugins, p;
    while (plugins.p && next_element(&it, &p)) {
        put_cell(t, member(p, "name"), 15, 0);
        bhj_putc(t, ' ');
        put_cell(t, member(p, "version"), 9, 0);
        bhj_putc(t, ' ');
        put_cell(t, member(p, "abi"), 5, 0);
        bhj_putc(t, ' ');
        put_cell(t, member(p, "concurrency"), 12, 0);
        bhj_putc(t, ' ');
        put_cell(t, member(member(p, "runtime"), "isolation"), 11, 0);
        bhj_putc(t, ' ');
        put_cell(t, member(p, "health"), 8, 0);
        bhj_putc(t, ' ');
        put_cell(t, member(p, "calls"), 7, 1);
        bhj_putc(t, ' ');
        put_cell(t, member(p, "errors"), 7, 1);
        bhj_putc(t, ' ');
        put_cell(t, member(p, "in_flight"), 10, 1);
        bhj_printf(t, "  %zu\n", count_elements(member(p, "tools")));
    }

    /* Why a worker is restarting or failed: the table has no room for it. */
    it = plugins;
    while (plugins.p && next_element(&it, &p)) {
        span reason = member(member(p, "runtime"), "reason");
        if (!reason.p)
            continue;
        bhj_puts(t, "\n");
        put_scalar(t, member(p, "name"));
        bhj_puts(t, ": ");
        put_scalar(t, reason);
        bhj_putc(t, '\n');
    }

    it = refused;
    span r;
    int first = 1;
    while (refused.p && next_element(&it, &r)) {
        if (first)
            bhj_puts(t, "\nRefused folders:\n");
        first = 0;
        bhj_puts(t, "  ");
        put_scalar(t, member(r, "folder"));
        bhj_puts(t, "\n    ");
        put_scalar(t, member(r, "reason"));
        bhj_putc(t, '\n');
    }
}

static bh_status status(const bh_host_api *host, bh_call call, void *user_data)
{
    (void)user_data;
    bh_bytes json;
    bh_status st = host->core_status(call, &json);
    if (st == BH_E_NOT_ALLOWED)
        return host->result_error(call, BH_ERROR_NOT_ALLOWED,
                                  BH_LIT("reading the core's status is not granted to this plugin "
                                         "(the operator grants it with [grants] core_status = true in its policy.toml)"));
    if (st != BH_OK)
        return st;

    bhj_buf text = {0};
    render(&text, (span){json.ptr, json.ptr + json.len});
    if (text.failed) {
        bhj_free(&text);
        return host->result_error(call, BH_ERROR_INTERNAL, BH_LIT("out of memory"));
    }
    st = host->result_text(call, text.ptr, text.len);
    bhj_free(&text);
    if (st == BH_OK)
        st = host->result_json(call, json.ptr, json.len);
    if (st == BH_E_TOO_LARGE)
        st = host->result_error(call, BH_ERROR_TOO_LARGE, BH_LIT("the core's status exceeds the result size limit"));
    return st;
}

BULKHEAD_PLUGIN_ABI()

bh_status bulkhead_plugin_init(const bh_host_api *host, bh_plugin plugin, bh_plugin_def *def)
{
    def->concurrency = BH_CONCURRENCY_PARALLEL; /* no state of its own */
    return host->register_tool(plugin, BH_LIT("status"), status, NULL);
}
