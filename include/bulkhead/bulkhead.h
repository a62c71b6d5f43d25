/*
 * bulkhead.h — the Bulkhead plugin ABI, version 1.
 *
 * A Bulkhead plugin is a shared library plus a manifest (manifest.toml) in
 * one folder. The core reads the manifest, dlopen()s the library, checks its
 * ABI version, calls its init function with a table of host functions bound
 * to that plugin, and serves its tools over MCP as "<plugin>__<tool>" (and,
 * since ABI 1.1, its resources, prompts and completions: see "ABI 1.1:
 * resources, prompts and provenance" at the end of the host table).
 *
 * ---------------------------------------------------------------------------
 * A complete plugin (hello.c). Build: cc -shared -fPIC -Iinclude -o libhello.so hello.c
 *
 *   #include <bulkhead/bulkhead.h>
 *   #include <stdio.h>
 *
 *   static bh_status greet(const bh_host_api *host, bh_call call, void *user_data)
 *   {
 *       (void)user_data;
 *       bh_bytes name;
 *       if (host->arg_string(call, BH_LIT("name"), &name) != BH_OK)
 *           return host->result_error(call, BH_ERROR_INVALID_ARGUMENT,
 *                                     BH_LIT("name must be a string"));
 *       char text[200];
 *       int n = snprintf(text, sizeof text, "Hello, %.*s!", (int)name.len, name.ptr);
 *       if (n < 0 || (size_t)n >= sizeof text)   // never hand over a cut-off buffer
 *           return host->result_error(call, BH_ERROR_INVALID_ARGUMENT, BH_LIT("name is too long"));
 *       return host->result_text(call, text, (size_t)n);
 *   }
 *
 *   BULKHEAD_PLUGIN_ABI()
 *
 *   bh_status bulkhead_plugin_init(const bh_host_api *host, bh_plugin plugin,
 *                                  bh_plugin_def *def)
 *   {
 *       def->concurrency = BH_CONCURRENCY_PARALLEL; // greet keeps no state
 *       return host->register_tool(plugin, BH_LIT("greet"), greet, NULL);
 *   }
 *
 * and beside it, manifest.toml:
 *
 *   name = "hello"
 *   version = "1.0.0"
 *   abi = "1.1"
 *   library = "libhello.so"
 *   description = "Greets people."
 *   [[tools]]
 *   name = "greet"
 *   description = "Say hello to someone."
 *   access = "read"
 *   input_schema = { type = "object", required = ["name"], properties = { name = { type = "string" } } }
 *
 * and the operator's policy.toml, without which nobody may call it:
 *
 *   [[allow]]
 *   tools = ["greet"]
 *   principals = ["*"]
 *
 * Check it with: bulkhead check path/to/hello
 * Clients then see the tool as "hello__greet": plugin and tool joined by "__",
 * which every client accepts (names match ^[a-zA-Z0-9_-]{1,64}$). A plugin name
 * is 1-64 of a-z 0-9 _ -, starts with a letter, and holds no "__" and no final
 * "_"; a tool name is 1-64 of A-Z a-z 0-9 _ -; a plugin whose joined names
 * would pass 64 characters is refused.
 * ---------------------------------------------------------------------------
 *
 * RULES OF THE ABI
 *
 *  - Versions. A plugin states the ABI it was built against (BULKHEAD_PLUGIN_ABI
 *    records this header's version). The core loads it when the majors are
 *    equal and the plugin's minor is not newer than the core's. A new minor
 *    only adds: functions at the end of bh_host_api, fields at the end of
 *    structs, values at the end of enums.
 *  - Sizes. Every struct that crosses the boundary starts with
 *    `uint32_t struct_size`, set by whoever allocated it. Read a field only if
 *    it lies within struct_size (BH_HAS_FIELD). Structs only grow at the end.
 *  - Buffers are pointer + length and need not be NUL-terminated. Strings are
 *    UTF-8.
 *  - Ownership. The plugin never frees memory the core handed it and the core
 *    never frees memory the plugin handed it: every result goes back through a
 *    host function that copies it before returning. Borrowed memory (bh_bytes
 *    filled by the core) stays valid for the lifetime stated at each function.
 *  - Handles (bh_plugin, bh_call, bh_cap) are opaque tokens, not pointers.
 *    The core validates each one on every use; a stale, foreign or forged
 *    plugin or call handle gets BH_E_STALE, a capability token that is not
 *    this plugin's gets BH_E_NOT_ALLOWED, and the attempt is logged.
 *  - Capabilities. A plugin reaches nothing through the core but what its
 *    manifest requests ([[capabilities]]) and its operator grants (policy.toml
 *    [grants]): files roots, secrets, HTTP origins. See "Capabilities" below.
 *  - The gate. Before a tool function runs, the core has checked that the
 *    caller may call it, validated its arguments against the manifest's
 *    input schema, and, for a tool declared access = "write", obtained its
 *    human's consent. Tool functions may rely on all three.
 *  - Threads. Tool functions run on threads the core owns, never on a thread
 *    of the caller's runtime. A plugin that declares BH_CONCURRENCY_SERIAL is
 *    called from one thread at a time; BH_CONCURRENCY_PARALLEL plugins may be
 *    called concurrently from several threads, each call with its own bh_call.
 *    Every host function is safe to call from any thread the core called the
 *    plugin on, and from threads the plugin started, unless it says otherwise.
 *  - No symbols are exported by the core. Everything a plugin can do goes
 *    through the bh_host_api handed to bulkhead_plugin_init, so the same
 *    library runs unchanged inside a separate worker process.
 *  - Nothing here allocates on the plugin's behalf, and nothing here uses
 *    setjmp/longjmp, signals or C++ exceptions: a plugin must not let any of
 *    those cross the boundary. Every function the core calls (init, tool
 *    functions, destroy, a dir_list callback) must return normally: a C++
 *    plugin catches every exception inside it, a Rust plugin wraps its body
 *    in std::panic::catch_unwind (or builds with panic = "abort"), and no
 *    plugin longjmps out of it. An unwind that reaches the core's frames is
 *    undefined behaviour; in practice the whole server aborts, with every
 *    other plugin's calls in flight.
 *  - Types for other languages. Every enum here (bh_status, bh_error_kind,
 *    bh_log_level, bh_concurrency, bh_file_type, bh_role, bh_exclusion) has the size and alignment
 *    of a C int: 32 bits, signed, on every Linux ABI (asserted at the end).
 *    Declare them as int32_t / i32 / Int32 / c_int. Handles are structs of
 *    one uint64_t, passed by value; size_t is 64 bits on the 64-bit targets
 *    the core is built for. Flags (file_open) are uint32_t.
 *  - Errors. A host function's status says what kind of failure it was; for
 *    capability and result functions, last_error says which rule and which
 *    target. A success does not clear last_error: read it right after the
 *    failure it explains, on the same thread. The kinds a tool answers with
 *    (bh_error_kind) are what the client sees, as structuredContent.kind:
 *    invalid_argument, not_found, not_allowed, unavailable, timeout,
 *    cancelled, too_large, internal, consent_required.
 *  - Secrets. Any granted secret's value the plugin hands back is replaced
 *    by "[redacted]": in result text, structured content (strings, member
 *    names, numbers), error messages, log lines and last_error.
 *  - Paths (files capabilities) are relative to their root, UTF-8, without
 *    NUL, and at most 4095 bytes (PATH_MAX less its NUL); a longer one is
 *    BH_E_INVALID before a byte of it is read.
 */
#ifndef BULKHEAD_H
#define BULKHEAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ====================================================================== */
/* Versions                                                               */
/* ====================================================================== */

/** The ABI version this header describes. */
#define BH_ABI_VERSION_MAJOR 1
#define BH_ABI_VERSION_MINOR 1

/** First four bytes of bh_plugin_abi: "BHD1" read as a little-endian word. */
#define BH_ABI_MAGIC 0x31444842u

/* ====================================================================== */
/* Statuses and error kinds                                               */
/* ====================================================================== */

/**
 * What a host function (or a plugin's init or tool function) returns.
 * Negative values are failures. New values are only ever appended.
 */
typedef enum bh_status {
    BH_OK = 0,
    BH_E_INVALID = -1,      /**< a parameter was malformed (NULL, bad length, bad struct_size, bad UTF-8) */
    BH_E_NOT_FOUND = -2,    /**< the argument, key or object does not exist */
    BH_E_TYPE = -3,         /**< it exists but has another JSON type than asked for */
    BH_E_NOT_ALLOWED = -4,  /**< refused: not granted, not declared, or not permitted now */
    BH_E_STALE = -5,        /**< the handle is not (or no longer) valid for this plugin */
    BH_E_TOO_LARGE = -6,    /**< a size limit was exceeded */
    BH_E_CANCELLED = -7,    /**< the call was cancelled or its deadline passed */
    BH_E_UNSUPPORTED = -8,  /**< this core does not offer that function or value */
    BH_E_IO = -9,           /**< an operating-system error */
    BH_E_FAILED = -10,      /**< the operation failed; a tool's own error is set with result_error */
    BH_E_EXISTS = -11       /**< the file or directory to be created already exists */
} bh_status;

/**
 * The kind of a failed tool call, as the MCP client sees it in
 * structuredContent.kind of an isError result.
 */
typedef enum bh_error_kind {
    BH_ERROR_INVALID_ARGUMENT = 1, /**< the arguments are wrong; retrying the same call will fail again */
    BH_ERROR_NOT_FOUND = 2,        /**< the thing asked for does not exist (or is not visible to this caller) */
    BH_ERROR_NOT_ALLOWED = 3,      /**< the caller may not do this */
    BH_ERROR_UNAVAILABLE = 4,      /**< a dependency is down; retrying later may work */
    BH_ERROR_TIMEOUT = 5,          /**< the deadline passed */
    BH_ERROR_CANCELLED = 6,        /**< the caller cancelled */
    BH_ERROR_TOO_LARGE = 7,        /**< the request or the result exceeds a limit */
    BH_ERROR_INTERNAL = 8,         /**< a bug or an unexpected state in the plugin */
    BH_ERROR_CONSENT_REQUIRED = 9  /**< a write that needs a human's consent, which could not be obtained */
} bh_error_kind;

/** Log levels, as syslog and MCP name them. */
typedef enum bh_log_level {
    BH_LOG_DEBUG = 0,
    BH_LOG_INFO = 1,
    BH_LOG_NOTICE = 2,
    BH_LOG_WARNING = 3,
    BH_LOG_ERROR = 4
} bh_log_level;

/** How the core may call a plugin's tool functions. */
typedef enum bh_concurrency {
    /** One call at a time, from one thread at a time (the default, and the safe choice). */
    BH_CONCURRENCY_SERIAL = 0,
    /** Any number of calls at once, from several threads; the plugin synchronises its own state. */
    BH_CONCURRENCY_PARALLEL = 1
} bh_concurrency;

/* ====================================================================== */
/* Handles and buffers                                                    */
/* ====================================================================== */

/**
 * A loaded plugin, as the core knows it. Opaque; copy it freely.
 * Valid from bulkhead_plugin_init until the plugin's destroy returns.
 */
typedef struct bh_plugin {
    uint64_t token;
} bh_plugin;

/**
 * One tool call in progress. Opaque; valid only until the tool function it
 * was passed to returns. Using it afterwards gets BH_E_STALE.
 */
typedef struct bh_call {
    uint64_t token;
} bh_call;

/** A borrowed byte range filled in by the core. Not NUL-terminated. */
typedef struct bh_bytes {
    const char *ptr;
    size_t len;
} bh_bytes;

/** Expands a string literal to the (pointer, length) pair the host functions take. */
#define BH_LIT(s) (s), (sizeof(s) - 1)

/** True when a struct of `struct_size` bytes contains `field` (for structs from a newer or older peer). */
#define BH_HAS_FIELD(ptr, type, field) \
    ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/**
 * A capability the operator granted: a files root, a secret or an HTTP origin.
 * Opaque and unguessable; bound to the plugin that obtained it with
 * bh_host_api.capability and valid until that plugin's destroy returns.
 * Presented with another plugin's handle, forged, or kept past unload, it
 * is refused with BH_E_NOT_ALLOWED, and the attempt is logged.
 */
typedef struct bh_cap {
    uint64_t token;
} bh_cap;

/** Flags for bh_host_api.file_open; READ and/or WRITE, plus any of the rest. */
#define BH_FILE_READ      0x01u /**< open for reading */
#define BH_FILE_WRITE     0x02u /**< open for writing; needs a read-write root */
#define BH_FILE_CREATE    0x04u /**< create the file if it is missing (mode 0600) */
#define BH_FILE_TRUNCATE  0x08u /**< empty the file on open */
#define BH_FILE_APPEND    0x10u /**< every write goes to the end */
#define BH_FILE_EXCLUSIVE 0x20u /**< with CREATE: fail with BH_E_EXISTS if it exists */

/** What a path inside a root is. */
typedef enum bh_file_type {
    BH_FILE_TYPE_OTHER = 0,
    BH_FILE_TYPE_REGULAR = 1,
    BH_FILE_TYPE_DIRECTORY = 2,
    BH_FILE_TYPE_SYMLINK = 3 /**< only in dir_list, which does not follow links */
} bh_file_type;

/** Filled in by file_stat, and passed to a dir_list callback. */
typedef struct bh_file_info {
    uint32_t struct_size; /**< file_stat: set by the plugin; dir_list: set by the core */
    uint32_t type;        /**< a bh_file_type */
    bh_bytes name;        /**< dir_list: the entry's name; file_stat: empty */
    uint64_t size;        /**< bytes */
    int64_t mtime_ns;     /**< modification time, nanoseconds since the Unix epoch */
} bh_file_info;

/**
 * Called by dir_list once per entry ("." and ".." excluded), in no set order.
 * `info` and its name are valid only during the callback. Return 0 to go on,
 * non-zero to stop listing (dir_list then returns BH_OK).
 * It may call any host function, dir_list included: the listing holds no
 * lock of the core's. Names that are not UTF-8 are skipped.
 */
typedef int (*bh_dir_entry_fn)(void *user_data, const bh_file_info *info);

/** One outbound HTTP request, for bh_host_api.http_request. */
typedef struct bh_http_request {
    uint32_t struct_size; /**< sizeof(bh_http_request) */
    uint32_t timeout_ms;  /**< 0: the grant's timeout; never longer than the grant's nor the call's deadline */
    bh_bytes method;      /**< "GET", "POST", ...; empty means GET */
    bh_bytes url;         /**< absolute http:// or https:// URL on a granted origin */
    bh_bytes headers;     /**< "Name: value" lines separated by "\n" (or "\r\n"); may be empty */
    bh_bytes body;        /**< request body; may be empty */
} bh_http_request;

/** Filled in by http_request. */
typedef struct bh_http_response {
    uint32_t struct_size; /**< set by the plugin to sizeof(bh_http_response) */
    int32_t status;       /**< the HTTP status code, e.g. 200 */
    bh_bytes headers;     /**< response header lines, "Name: value\r\n" each */
    bh_bytes body;        /**< the response body */
} bh_http_response;

/** Who is calling: filled in by bh_host_api.caller. */
typedef struct bh_caller {
    uint32_t struct_size; /**< set by the plugin to sizeof(bh_caller) before the call */
    uint32_t reserved;
    bh_bytes principal;   /**< the principal's name, e.g. "alice" */
    bh_bytes tenant;      /**< the tenant the request runs in, e.g. "acme" */
    bh_bytes scopes;      /**< space-separated scopes, e.g. "docs.read tickets.write" */
} bh_caller;

/** Flags of bh_resource_content (ABI 1.1). */
#define BH_RESOURCE_BINARY 0x01u /**< data is bytes, sent as base64 `blob`; otherwise UTF-8 `text` */
#define BH_RESOURCE_LINK   0x02u /**< a resource_link to uri, not its contents; data is ignored */

/** One resource, for bh_host_api.result_resource (ABI 1.1). */
typedef struct bh_resource_content {
    uint32_t struct_size; /**< sizeof(bh_resource_content), set by the plugin */
    uint32_t flags;       /**< BH_RESOURCE_* bits */
    bh_bytes uri;         /**< empty: the URI being read */
    bh_bytes mime_type;   /**< empty: the manifest's mime_type, if it declares one */
    bh_bytes data;        /**< the text, or the bytes with BH_RESOURCE_BINARY */
    bh_bytes version;     /**< ETag-like; empty: derived from data's SHA-256 */
    int64_t modified_ms;  /**< last change, ms since the Unix epoch; 0: unknown */
    bh_bytes title;       /**< for people; a link's name (empty: the URI) */
} bh_resource_content;

/** Who speaks a prompt message (ABI 1.1). */
typedef enum bh_role {
    BH_ROLE_USER = 0,
    BH_ROLE_ASSISTANT = 1
} bh_role;

/** A source behind an answer, for bh_host_api.add_source (ABI 1.1). */
typedef struct bh_source {
    uint32_t struct_size; /**< sizeof(bh_source), set by the plugin */
    uint32_t reserved;
    bh_bytes uri;         /**< required: where it came from, e.g. "tickets://acme/42" or a URL */
    bh_bytes title;       /**< optional */
    bh_bytes version;     /**< optional: a revision, ETag or digest */
    int64_t modified_ms;  /**< optional: last change, ms since the Unix epoch; 0: unknown */
} bh_source;

/** Why an answer left something out, for bh_host_api.report_excluded (ABI 1.1). */
typedef enum bh_exclusion {
    BH_EXCLUDED_TRUNCATED = 1, /**< cut by a limit: a result size, a page, a search's `limit` */
    BH_EXCLUDED_FILTERED = 2   /**< left out by a rule the caller may know of */
} bh_exclusion;

/* ====================================================================== */
/* The host table                                                         */
/* ====================================================================== */

typedef struct bh_host_api bh_host_api;

/**
 * A tool function, registered with register_tool.
 *
 * Required: one per tool the manifest declares.
 * Thread:   runs on a core-owned thread; see bh_concurrency.
 * Ownership: `call` is valid only until this function returns. Results set
 *           through host->result_* are copied by the core.
 * Returns:  BH_OK once a result has been set (result_text, result_json or
 *           result_error). What the client is answered, first rule first:
 *           result_error was called: its kind and message (it replaces
 *           anything else); a result function returned BH_E_TOO_LARGE:
 *           `too_large`, whatever was set before or after (a result cut
 *           short is not passed on as if whole); the function returned
 *           another status than BH_OK: `internal`, naming the status, even
 *           with a result set; BH_OK with no result set (or only results the
 *           core refused): `internal` too, naming the plugin and the tool,
 *           never an empty success; otherwise the result.
 */
typedef bh_status (*bh_tool_fn)(const bh_host_api *host, bh_call call, void *user_data);

/**
 * The functions the core offers a plugin. Handed to bulkhead_plugin_init;
 * the pointer stays valid until the plugin's destroy returns. Every function
 * pointer in a table of this struct_size is non-NULL.
 */
struct bh_host_api {
    uint32_t struct_size;  /**< sizeof(bh_host_api) as the core knows it; test with BH_HAS_FIELD */
    uint16_t abi_major;    /**< the core's ABI version */
    uint16_t abi_minor;

    /* ---------------------------------------------------------------- */
    /* Registration: only inside bulkhead_plugin_init                    */
    /* ---------------------------------------------------------------- */

    /**
     * Registers the function serving the manifest's tool `name`.
     *
     * Thread:   only on the thread running bulkhead_plugin_init, only during it.
     * Ownership: `name` is copied; `user_data` is passed back untouched to every call.
     * Returns:  BH_OK; BH_E_INVALID for an empty or malformed name or a NULL fn;
     *           BH_E_NOT_ALLOWED after init returned or for a name registered twice.
     *           A tool missing from the manifest (or a manifest tool left
     *           unregistered) refuses the plugin after init, naming the difference.
     */
    bh_status (*register_tool)(bh_plugin plugin, const char *name, size_t name_len,
                               bh_tool_fn fn, void *user_data);

    /* ---------------------------------------------------------------- */
    /* Plugin-wide                                                       */
    /* ---------------------------------------------------------------- */

    /**
     * Writes one structured log line on the core's log, attributed to the plugin.
     *
     * Thread:   any.
     * Ownership: `message` is copied.
     * Returns:  nothing; an invalid handle drops the line.
     */
    void (*log)(bh_plugin plugin, bh_log_level level, const char *message, size_t message_len);

    /**
     * Reads one value of the operator's [config] table in the plugin's policy.toml.
     * The key `plugin_dir` always exists: the absolute path of the plugin's folder.
     *
     * Thread:   any.
     * Ownership: `out` borrows memory owned by the core, valid until destroy returns.
     * Returns:  BH_OK; BH_E_NOT_FOUND when the operator set no such key.
     */
    bh_status (*config)(bh_plugin plugin, const char *key, size_t key_len, bh_bytes *out);

    /* ---------------------------------------------------------------- */
    /* Per call: arguments                                               */
    /* ---------------------------------------------------------------- */

    /**
     * The whole `arguments` object of the call, as JSON text.
     *
     * Thread:   any thread, while the call runs.
     * Ownership: `out` borrows core memory valid until the tool function returns.
     * Returns:  BH_OK (an empty object "{}" when the client sent none); BH_E_STALE.
     */
    bh_status (*arguments)(bh_call call, bh_bytes *out);

    /**
     * One top-level argument as a string.
     * Returns: BH_OK; BH_E_NOT_FOUND when absent (or null); BH_E_TYPE when not a string; BH_E_STALE.
     * Ownership: as for arguments.
     */
    bh_status (*arg_string)(bh_call call, const char *key, size_t key_len, bh_bytes *out);

    /**
     * One top-level argument as a 64-bit integer: a JSON number with no fractional
     * part (so 2, 2.0 and 1e3 are integers) within int64_t's range.
     * Returns: BH_OK; BH_E_NOT_FOUND when absent (or null); BH_E_TYPE when not an
     *          integer (a string, 2.5, or beyond 64 bits); BH_E_STALE.
     */
    bh_status (*arg_int)(bh_call call, const char *key, size_t key_len, int64_t *out);

    /**
     * One top-level argument as a double (any JSON number).
     * Returns: BH_OK; BH_E_NOT_FOUND; BH_E_TYPE; BH_E_STALE.
     */
    bh_status (*arg_double)(bh_call call, const char *key, size_t key_len, double *out);

    /**
     * One top-level argument as a boolean (0 or 1).
     * Returns: BH_OK; BH_E_NOT_FOUND; BH_E_TYPE; BH_E_STALE.
     */
    bh_status (*arg_bool)(bh_call call, const char *key, size_t key_len, int *out);

    /**
     * One top-level argument of any type, as JSON text (arrays and objects included).
     * Returns: BH_OK; BH_E_NOT_FOUND; BH_E_STALE.
     * Ownership: as for arguments.
     */
    bh_status (*arg_json)(bh_call call, const char *key, size_t key_len, bh_bytes *out);

    /* ---------------------------------------------------------------- */
    /* Per call: context                                                 */
    /* ---------------------------------------------------------------- */

    /**
     * Who is calling. Set out->struct_size = sizeof(bh_caller) first.
     * Thread:   any, while the call runs.
     * Ownership: the bh_bytes borrow core memory valid until the tool function returns.
     * Returns:  BH_OK; BH_E_INVALID for a too-small struct_size; BH_E_STALE.
     */
    bh_status (*caller)(bh_call call, bh_caller *out);

    /**
     * Milliseconds left before the call's deadline (0 once it passed), or -1 when it has none.
     * Thread: any, while the call runs. Returns 0 for a stale handle.
     */
    int64_t (*remaining_ms)(bh_call call);

    /**
     * Non-zero once the client cancelled the call or its deadline passed.
     * Long-running tools should poll it and return early with
     * result_error(BH_ERROR_CANCELLED, ...). Cheap: an atomic load.
     * Thread: any. Returns 1 for a stale handle, so loops end.
     */
    int (*is_cancelled)(bh_call call);

    /* ---------------------------------------------------------------- */
    /* Per call: results (each copies its input before returning)        */
    /* ---------------------------------------------------------------- */

    /**
     * Appends a text content block to the result.
     * Thread:   any, while the call runs; calls for one bh_call must not race each other.
     * Size:     the limit (the policy's result_bytes) counts the bytes of every text
     *           block and of the structured content together. A text_len past what is
     *           left is refused before a byte of it is read or copied.
     * Secrets:  any granted secret's value in the text is replaced by "[redacted]".
     * Returns:  BH_OK; BH_E_INVALID for text that is not UTF-8; BH_E_TOO_LARGE past the
     *           result size limit (the call then answers `too_large`, whatever else is
     *           set, unless the tool calls result_error); BH_E_NOT_ALLOWED
     *           after result_error; BH_E_STALE. On BH_E_INVALID and BH_E_TOO_LARGE,
     *           last_error says why.
     */
    bh_status (*result_text)(bh_call call, const char *text, size_t text_len);

    /**
     * Sets the result's structured content (MCP structuredContent): one JSON object.
     * When the tool declares an output schema the object must match it. The core also
     * adds it as a text block when the plugin set no text, for clients that ignore it.
     * Size:     as for result_text, checked before the JSON is read or parsed.
     * Secrets:  any granted secret's value in a string or member name, at any depth
     *           (however the JSON escaped it), is replaced by "[redacted]"; a number
     *           whose digits spell one becomes the string "[redacted]". The result
     *           stays valid JSON, and it is the redacted object that must match the
     *           output schema.
     * Schema:   a tool whose manifest declares output_schema must set structured
     *           content that matches it; one that answers without (text only, or only
     *           refused objects) is answered `internal`.
     * Returns:  BH_OK; BH_E_INVALID for text that is not one JSON object, or an object
     *           that does not match the output schema (last_error names each violation,
     *           and the plugin may still set a valid object); BH_E_TOO_LARGE;
     *           BH_E_NOT_ALLOWED after result_error or when set twice; BH_E_STALE.
     */
    bh_status (*result_json)(bh_call call, const char *json, size_t json_len);

    /**
     * Makes the call fail with `kind` and a message fit for a human. Replaces
     * anything set before. Any granted secret's value in the message is
     * replaced by "[redacted]"; better still, never put one there.
     * Returns:  BH_OK (so a tool can `return host->result_error(...)`); BH_E_INVALID for
     *           an unknown kind or a message that is not UTF-8; BH_E_STALE.
     *           Note: BH_OK here means "the error was recorded", not "the call went
     *           well"; a helper that reports an error should tell its caller so by
     *           other means than this status.
     */
    bh_status (*result_error)(bh_call call, bh_error_kind kind, const char *message, size_t message_len);

    /* ---------------------------------------------------------------- */
    /* Core introspection                                                */
    /* ---------------------------------------------------------------- */

    /**
     * The state of the core as one JSON object: every loaded plugin (name,
     * version, abi, tools, concurrency, health, call and error counts) and
     * every refused plugin folder with its reason. Meant for an admin plugin.
     *
     * Thread:   any, while the call runs.
     * Ownership: `out` borrows core memory valid until the tool function returns.
     * Returns:  BH_OK; BH_E_NOT_ALLOWED when the operator did not grant the
     *           plugin `core_status`; BH_E_STALE.
     */
    bh_status (*core_status)(bh_call call, bh_bytes *out);

    /* ---------------------------------------------------------------- */
    /* Capabilities: what the operator granted, nothing else             */
    /* ---------------------------------------------------------------- */
    /*
     * The manifest's [[capabilities]] say what a plugin requests; the
     * operator's policy.toml grants some of it; the plugin gets the
     * intersection. Every refusal returns BH_E_NOT_ALLOWED and is logged
     * with the plugin, the capability and the target. These checks are API
     * discipline inside one process: native code can bypass them with raw
     * system calls. The isolation tier enforces the same grants in the kernel.
     *
     * Read tools do not write. During the call of a tool the manifest
     * declares access = "read" (served without its human's consent), the
     * functions that change files (file_open with WRITE, CREATE, TRUNCATE or
     * APPEND; dir_create; file_rename; file_remove) return BH_E_NOT_ALLOWED,
     * even on a read-write root, and last_error says the tool is declared
     * read. The call is known on the thread the core called the tool on; a
     * read tool can still write during init (there is no call then), from a
     * thread it started itself, or through a path from root_path: in-process,
     * the rule keeps an honest plugin honest, it does not contain a hostile one.
     * http_request is not restricted by it: a read can need a POST (a search
     * API, GraphQL), and what an origin does with a request is the origin's.
     *
     * Hard links. A hard link someone placed inside a root is another name
     * for a file that may lie outside it, and openat2's RESOLVE_BENEATH cannot
     * tell. A regular file with more than one link (st_nlink > 1, read with
     * fstat on the descriptor already opened, so nothing can be swapped in
     * between) is refused by file_open and file_stat with BH_E_NOT_ALLOWED and
     * a last_error that says "hard link", unless the operator's grant says
     *
     *     [grants.<name>]                # policy.toml
     *     path = "..."
     *     allow_hard_links = true        # default false
     *
     * dir_list still lists such an entry (its name is the root's) with size
     * and mtime_ns 0. file_rename and file_remove act on names, not on the
     * file behind them, and are unaffected: removing a hard link removes that
     * name only.
     */

    /**
     * Looks up the capability the manifest requests under `name` and returns
     * its token. Obtain tokens once (in init, say) and keep them.
     *
     * Thread:   any, from init until destroy.
     * Ownership: `name` is read during the call only.
     * Returns:  BH_OK; BH_E_NOT_FOUND when the manifest requests no such
     *           capability; BH_E_NOT_ALLOWED when the operator did not grant
     *           it; BH_E_INVALID for a NULL `out`; BH_E_STALE.
     */
    bh_status (*capability)(bh_plugin plugin, const char *name, size_t name_len, bh_cap *out);

    /**
     * Opens a file inside a files root. `path` is relative to the root; an
     * absolute path, a ".." that climbs out, or a symbolic link that leads
     * out is refused (resolution is done by the kernel, openat2 with
     * RESOLVE_BENEATH). The file is opened close-on-exec.
     *
     * A regular file with more than one hard link is refused unless the
     * grant has allow_hard_links = true (see "Hard links" above); TRUNCATE
     * empties the file only after that check, so a refused file is left as
     * it was (and READ|TRUNCATE without WRITE hands out a read-write
     * descriptor, which the truncation needs). During a call of a tool
     * declared access = "read", WRITE, CREATE, TRUNCATE and APPEND are
     * refused (see "Read tools do not write" above).
     *
     * Flags:    READ, WRITE or both (READ|WRITE is O_RDWR); one is required.
     *           CREATE makes a missing file (mode 0600) and is a change, so it
     *           needs a read-write root and a write tool even as READ|CREATE,
     *           which creates the file if missing and hands out a read-only
     *           descriptor. TRUNCATE empties the file and is a change too;
     *           READ|TRUNCATE hands out a read-write descriptor of the emptied
     *           file. APPEND is O_APPEND; EXCLUSIVE (with CREATE) is O_EXCL.
     *           Only regular files open: a directory, FIFO or device is
     *           BH_E_INVALID.
     * Thread:   any.
     * Ownership: on BH_OK the plugin owns `*fd_out` and must close(2) it.
     * Returns:  BH_OK; BH_E_NOT_ALLOWED for an escape, WRITE/CREATE/
     *           TRUNCATE/APPEND in a read-only root or in a read tool's
     *           call, or a hard-linked file not allowed; BH_E_NOT_FOUND;
     *           BH_E_EXISTS (CREATE|EXCLUSIVE); BH_E_INVALID (no READ or
     *           WRITE, unknown flags, a NUL in the path, a path past 4095
     *           bytes, not a files token);
     *           BH_E_IO for other system errors; BH_E_STALE.
     */
    bh_status (*file_open)(bh_plugin plugin, bh_cap root, const char *path, size_t path_len,
                           uint32_t flags, int *fd_out);

    /**
     * Type, size and modification time of a path inside a root (links inside
     * the root are followed). Set out->struct_size = sizeof(bh_file_info) first.
     * A regular file with more than one hard link is refused like file_open
     * refuses it: its size and times may be those of a file outside the root.
     * Returns: BH_OK; BH_E_NOT_FOUND; BH_E_NOT_ALLOWED (an escape, a hard link
     *          not allowed); BH_E_INVALID; BH_E_STALE.
     */
    bh_status (*file_stat)(bh_plugin plugin, bh_cap root, const char *path, size_t path_len,
                           bh_file_info *out);

    /**
     * Calls `fn` once per entry of a directory inside a root ("" or "." is
     * the root itself). Entries are not followed: a link is BH_FILE_TYPE_SYMLINK.
     * A regular file with more than one hard link, where the grant does not
     * allow them, is listed with size and mtime_ns 0 (file_stat refuses it).
     * Thread:   any; `fn` runs on the calling thread, before dir_list returns.
     * Returns:  BH_OK; BH_E_NOT_FOUND; BH_E_NOT_ALLOWED; BH_E_INVALID (not a
     *           directory); BH_E_IO; BH_E_STALE.
     */
    bh_status (*dir_list)(bh_plugin plugin, bh_cap root, const char *path, size_t path_len,
                          bh_dir_entry_fn fn, void *user_data);

    /**
     * Creates one directory (mode 0700) inside a read-write root; its parent must exist.
     * Returns: BH_OK; BH_E_EXISTS; BH_E_NOT_FOUND; BH_E_NOT_ALLOWED (also in a
     *          read tool's call); BH_E_INVALID; BH_E_IO; BH_E_STALE.
     */
    bh_status (*dir_create)(bh_plugin plugin, bh_cap root, const char *path, size_t path_len);

    /**
     * Renames `from` to `to`, both inside the same read-write root, replacing
     * `to` if it is a file (rename(2) semantics, atomic). Hard links are
     * renamed like any name.
     * Returns: BH_OK; BH_E_NOT_FOUND; BH_E_NOT_ALLOWED (also in a read tool's
     *          call); BH_E_INVALID; BH_E_IO; BH_E_STALE.
     */
    bh_status (*file_rename)(bh_plugin plugin, bh_cap root, const char *from, size_t from_len,
                             const char *to, size_t to_len);

    /**
     * Removes a file, a link, or an empty directory inside a read-write root
     * (for a hard link, that name only; the file's other names stay).
     * Returns: BH_OK; BH_E_NOT_FOUND; BH_E_NOT_ALLOWED (also in a read tool's
     *          call); BH_E_INVALID (the root
     *          itself, a directory that is not empty); BH_E_IO; BH_E_STALE.
     */
    bh_status (*file_remove)(bh_plugin plugin, bh_cap root, const char *path, size_t path_len);

    /**
     * The absolute path of a files root, for libraries that insist on a path
     * (SQLite's sqlite3_open_v2, say). ADVISORY: what the plugin does with a
     * path is not checked in-process (a read tool can write through it, and
     * hard links are not refused); the isolation tier makes the kernel
     * enforce the root. Prefer file_open wherever a descriptor will do.
     * Ownership: `out` borrows core memory valid until destroy returns.
     * Returns: BH_OK; BH_E_INVALID (not a files token); BH_E_STALE.
     */
    bh_status (*root_path)(bh_plugin plugin, bh_cap root, bh_bytes *out);

    /**
     * Copies a granted secret's value into `buf`. The core never logs it, and
     * replaces it by "[redacted]" wherever the plugin hands it back: log lines,
     * result text, structured content, error messages and last_error. (Values
     * shorter than 4 bytes, or not UTF-8, are not searched for.)
     * Thread:   any.
     * Ownership: the plugin owns `buf`; wipe it when done.
     * Returns:  BH_OK with `*len_out` its length (no NUL is added);
     *           BH_E_TOO_LARGE when it does not fit, with `*len_out` the size
     *           needed; BH_E_INVALID (not a secret token); BH_E_STALE.
     */
    bh_status (*secret_read)(bh_plugin plugin, bh_cap secret, char *buf, size_t buf_size, size_t *len_out);

    /**
     * Makes one HTTP request to an origin (scheme, host, port) the grant
     * names. A URL on any other origin is refused before any connection is
     * made; redirects are not followed; the response is capped at the
     * grant's size limit; the call's cancellation aborts it.
     *
     * What leaves is exactly one request to that origin, framed by the core.
     * Checked before anything is sent:
     *  - method: empty means GET; otherwise an RFC 9110 token (letters,
     *    digits, !#$%&'*+-.^_`|~; at most 64), sent as given (methods are
     *    case-sensitive). Anything else ("GET / HTTP/1.1\r\n...", "GET
     *    http://x/") is BH_E_INVALID; CONNECT is BH_E_NOT_ALLOWED. HEAD with
     *    a body is BH_E_INVALID; GET with a body goes out as GET.
     *  - url: no space or control character (percent-encode them), else BH_E_INVALID.
     *  - headers: each line "Name: value"; the name an RFC 9110 token (so no
     *    space before the colon, no line starting with whitespace, no "@file"
     *    or "Name;" forms), the value non-empty once surrounding spaces and
     *    tabs are trimmed, with no CR, LF, NUL or other control character but
     *    tab. Otherwise BH_E_INVALID. An empty value is refused, not passed
     *    on, because libcurl reads "Name:" as "remove my own Name header".
     *  - headers the core sets, BH_E_NOT_ALLOWED (case-insensitive): Host,
     *    Content-Length, Transfer-Encoding, Trailer, TE and Expect (how the
     *    request and its body are delimited: a second one is how requests are
     *    smuggled), Connection, Keep-Alive, Upgrade and HTTP2-Settings (the
     *    connection's), and every Proxy-* header (the core uses no proxy).
     *    Host is the URL's authority; Content-Length is the body's length;
     *    "Expect: 100-continue" is never sent.
     * BH_E_INVALID means the request is malformed; BH_E_NOT_ALLOWED means it
     * is well-formed but asks for what the core keeps (that refusal is logged
     * like any other). Either way last_error names the rule and the header's
     * name or line number, never a header's value. A tool declared
     * access = "read" may use any method: what it asks of an origin is
     * between it and that origin's grant.
     *
     * Thread:   the call's thread (or any thread while the call runs); blocks
     *           until the response arrived or the time is up.
     * Ownership: `req` is read during the call; the bh_bytes in `out` borrow
     *           core memory valid until the tool function returns.
     * Returns:  BH_OK for any HTTP status (check out->status);
     *           BH_E_NOT_ALLOWED for an origin not granted, CONNECT, or a
     *           header the core sets; BH_E_TOO_LARGE
     *           for a response over the cap; BH_E_CANCELLED when the call was
     *           cancelled or the time ran out; BH_E_IO when the server could
     *           not be reached; BH_E_INVALID (bad URL, method or headers, not
     *           an http token, too small struct_size); BH_E_STALE.
     */
    bh_status (*http_request)(bh_call call, bh_cap origin, const bh_http_request *req,
                              bh_http_response *out);

    /**
     * Why the last capability function (capability, file_*, dir_*,
     * root_path, secret_read, http_request) or result function (result_text,
     * result_json) that failed on this thread failed: the rule and the
     * target, in words for a log line or an error message. Never contains a
     * secret's value: any granted secret's value in it is replaced by
     * "[redacted]" before it is cut to fit (about 500 bytes).
     *
     * Thread:   any; each thread has its own.
     * Clearing: never. A later success leaves the last failure's text in
     *           place, so read it right after the status that says a function
     *           failed, not to learn whether one did.
     * Ownership: `out` borrows core memory valid until the next capability
     *           or result function fails on this thread.
     * Returns:  BH_OK (an empty text when none failed yet); BH_E_INVALID for a NULL out.
     */
    bh_status (*last_error)(bh_bytes *out);

    /* ---- ABI 1.1 ------------------------------------------------------ */

    /**
     * OPTIONAL to call; present since ABI 1.1 (test BH_HAS_FIELD(host,
     * bh_host_api, progress) before calling it under an older core).
     * Reports how far a long call has got. When the client's request
     * carried a progressToken, the core sends notifications/progress on
     * that call's own stream (stdio or the HTTP response); otherwise it
     * sends nothing, so calling it costs little and needs no check first.
     *  - progress: finite. A value not above the last one reported for this
     *    call is dropped: MCP requires progress to increase.
     *  - total: what progress reaches at the end; 0 or less when unknown.
     *  - message: optional UTF-8 text for a person (NULL with message_len 0
     *    for none); granted secrets are replaced by "[redacted]" and it is
     *    cut to 1000 bytes.
     * Nothing is sent once the call has returned or was cancelled.
     *
     * Thread:   the call's thread, or any thread while the call runs.
     * Ownership: `message` is read during the call.
     * Returns:  BH_OK (also when nobody asked to hear it, or the value was
     *           dropped); BH_E_INVALID for a non-finite progress or total, or
     *           a message that is not UTF-8; BH_E_STALE.
     */
    bh_status (*progress)(bh_call call, double progress, double total, const char *message, size_t message_len);

    /* ---- ABI 1.1: resources, prompts and provenance -------------------- */
    /*
     * A plugin may serve MCP resources and prompts beside its tools. Each is
     * declared in the manifest ([[resources]], [[resource_templates]],
     * [[prompts]]) and registered in init with the function that serves it,
     * a bh_tool_fn like a tool's: the same call handle, the same arguments,
     * caller, deadline and cancellation functions, the same gate in front of
     * it (policy.toml [[allow]] resources = [...] / prompts = [...]). What
     * differs is what the function hands back:
     *
     *  - A resource read: the arguments are the URI template's variables
     *    (strings, already checked against the manifest's pattern or enum;
     *    none for a plain [[resources]] entry). Answer with result_resource
     *    (one call per content; text or binary) or result_text (one text
     *    content of the URI read, with the manifest's mime_type).
     *    result_error(BH_ERROR_NOT_FOUND) answers exactly as a URI nobody
     *    serves does, so say not_found for "not this caller's" too;
     *    invalid_argument is the client's -32602; other kinds are -32603.
     *  - A prompt get: the arguments are the prompt's (strings, checked as
     *    declared). Answer with result_message (text) and result_resource
     *    (a user message embedding a resource of this plugin that the
     *    caller may read). result_text is a user text message.
     *  - A resource list (register_resource_list): answer with one
     *    result_resource per resource the caller may see, flag
     *    BH_RESOURCE_LINK, data empty.
     *  - A tool may call result_resource too: an embedded resource (or, with
     *    BH_RESOURCE_LINK, a resource_link) content block, such as a search
     *    hit. The core checks the URI is the plugin's and the caller may
     *    read it, and names it among the answer's sources.
     *
     * URIs are the plugin's own: their scheme is the plugin's name with '_'
     * written '.', alone or before a '+' ("docs://acme/faq",
     * "my.plugin+https://example.com/x"), so no two plugins can serve the
     * same URI and a read finds its plugin by the scheme. A URI of another
     * scheme is refused at load (manifest) and at run time (BH_E_NOT_ALLOWED).
     *
     * Every answer carries provenance in _meta["bulkhead/provenance"]: the
     * plugin, the caller and the rule, and sources[]: each resource the
     * answer holds, plus what add_source names; and excluded[], from
     * report_excluded. Count only what the caller could have seen: an
     * exclusion must never reveal that something outside its scope exists.
     */

    /**
     * OPTIONAL (ABI 1.1). Registers the function serving one of the
     * manifest's resources: `uri` is exactly the `uri` of a [[resources]]
     * entry or the `uri_template` of a [[resource_templates]] entry.
     *
     * Thread:   only on the thread running bulkhead_plugin_init, only during it.
     * Ownership: `uri` is copied; `user_data` is passed back to every read.
     * Returns:  BH_OK; BH_E_INVALID for an empty or non-UTF-8 uri or a NULL fn;
     *           BH_E_NOT_ALLOWED after init or for a uri registered twice. As
     *           for tools, a resource the manifest does not declare (or one
     *           it declares left unregistered) refuses the plugin after init.
     */
    bh_status (*register_resource)(bh_plugin plugin, const char *uri, size_t uri_len, bh_tool_fn fn, void *user_data);

    /**
     * OPTIONAL (ABI 1.1). Registers the function serving the manifest's
     * prompt `name` (a [[prompts]] entry). Thread, ownership and returns as
     * for register_resource.
     */
    bh_status (*register_prompt)(bh_plugin plugin, const char *name, size_t name_len, bh_tool_fn fn, void *user_data);

    /**
     * OPTIONAL (ABI 1.1). Registers the function that lists the plugin's
     * resources per caller, for a manifest that says resource_list = true
     * (for resources that come and go, such as documents in a folder; the
     * [[resources]] entries are listed without it). It is called for
     * resources/list like a read with no arguments and answers with
     * result_resource(BH_RESOURCE_LINK) per resource, at most 10,000. The
     * core keeps only URIs the manifest declares (a [[resources]] uri or a
     * match of a [[resource_templates]] template) that the caller may read,
     * and pages the list itself. Thread, ownership and returns as for
     * register_resource (BH_E_NOT_ALLOWED for a second list function).
     */
    bh_status (*register_resource_list)(bh_plugin plugin, bh_tool_fn fn, void *user_data);

    /**
     * OPTIONAL (ABI 1.1). Appends one resource to the answer: a content of a
     * resource read, an embedded resource of a prompt message (role user) or
     * of a tool result, or, with BH_RESOURCE_LINK, a resource_link (a tool
     * result, a prompt message or a list entry). Set struct_size first.
     *  - uri: empty means the URI being read (a read only); otherwise one of
     *    this plugin's URIs, which the caller's policy lets it read.
     *  - data: UTF-8 text, or bytes with BH_RESOURCE_BINARY (sent base64).
     *    Counts against result_bytes as text does (the raw bytes).
     *  - version: an ETag-like version; empty: "sha256:" and the first 16
     *    hex digits of data's digest (a link without data has none).
     *  - modified_ms: milliseconds since the Unix epoch; sent as
     *    annotations.lastModified (ISO 8601); 0 or less: unknown, omitted.
     *  - title: a human name; a link's `name` (the URI when empty).
     * Secrets: a granted secret's value in text (not in binary data) is
     * replaced by "[redacted]", as for result_text.
     *
     * Thread:   as result_text.
     * Ownership: every field is copied before it returns.
     * Returns:  BH_OK; BH_E_INVALID for a too-small struct_size, text that is
     *           not UTF-8 or an unknown flag; BH_E_NOT_ALLOWED for a URI not
     *           the plugin's or not readable by this caller (answered as if
     *           it did not exist), a link in a read, a second content in a
     *           list entry's place, or after result_error; BH_E_TOO_LARGE;
     *           BH_E_STALE. last_error says why.
     */
    bh_status (*result_resource)(bh_call call, const bh_resource_content *content);

    /**
     * OPTIONAL (ABI 1.1). Appends a text message with `role` to a prompt's
     * answer (prompts only). Size, secrets and UTF-8 as for result_text.
     * Returns:  BH_OK; BH_E_INVALID for an unknown role or text that is not
     *           UTF-8; BH_E_NOT_ALLOWED outside a prompt or after
     *           result_error; BH_E_TOO_LARGE; BH_E_STALE.
     */
    bh_status (*result_message)(bh_call call, bh_role role, const char *text, size_t text_len);

    /**
     * OPTIONAL (ABI 1.1). Names a source behind the answer that is not one
     * of the resources it holds (those are named already): a file, a row, an
     * upstream API. It appears in the provenance's sources[] and in the
     * audit record. At most 100 per call; more are dropped. Set struct_size.
     * Returns:  BH_OK; BH_E_INVALID for a too-small struct_size, an empty uri
     *           or text that is not UTF-8; BH_E_STALE.
     */
    bh_status (*add_source)(bh_call call, const bh_source *source);

    /**
     * OPTIONAL (ABI 1.1). Says the answer left something out: `count` items
     * BH_EXCLUDED_TRUNCATED by a limit (a search's `limit`, a page size) or
     * BH_EXCLUDED_FILTERED by a rule the caller may know of; `why` is a short
     * text for the caller (may be empty). Count only items the caller could
     * have seen: never what lies outside its tenant or scope, whose very
     * existence must not show. Calling it twice for one kind adds up.
     * Returns:  BH_OK; BH_E_INVALID for an unknown kind or text that is not
     *           UTF-8; BH_E_STALE.
     */
    bh_status (*report_excluded)(bh_call call, bh_exclusion kind, uint64_t count, const char *why, size_t why_len);

    /**
     * OPTIONAL (ABI 1.1). Registers the function that suggests values for
     * completion/complete: for the arguments of the prompt `ref` (its name)
     * or the variables of the resource template `ref` (its uri_template),
     * whose manifest entry says complete = true. It runs like that prompt or
     * read (same gate: a caller who may not use it gets no completions), with
     * the arguments {"argument": NAME, "value": WHAT_WAS_TYPED, "context":
     * {OTHER_ARGUMENT: VALUE, ...}}, and answers with one result_text per
     * value, best first. The core keeps the first 100 that pass the
     * argument's pattern or enum and drops the rest. An argument with an
     * enum needs no function: the core completes it from the enum.
     * Thread, ownership and returns as for register_resource.
     */
    bh_status (*register_completion)(bh_plugin plugin, const char *ref, size_t ref_len, bh_tool_fn fn, void *user_data);

    /**
     * OPTIONAL (ABI 1.1). Says that the resource `uri` (one of this plugin's:
     * a [[resources]] URI or a match of a template) changed, so that clients
     * subscribed to it hear notifications/resources/updated (2025-11-25
     * resources/subscribe, 2026-07-28 subscriptions/listen). Only callers that
     * could read it when they subscribed are told, and only of the URIs they
     * named; the core reads nothing now. Cheap: call it on every change.
     *
     * Thread:   any, until destroy (a watcher thread of the plugin's own,
     *           say). Before the server serves (during init, or a change
     *           noticed just after it) nobody can have subscribed yet, and
     *           the call is dropped.
     * Ownership: `uri` is read during the call.
     * Returns:  BH_OK (also when nobody listens); BH_E_INVALID for a URI that
     *           is not UTF-8; BH_E_NOT_ALLOWED for a URI not the plugin's;
     *           BH_E_STALE.
     */
    bh_status (*resource_changed)(bh_plugin plugin, const char *uri, size_t uri_len);

    /**
     * OPTIONAL (ABI 1.1). Appends an image or audio content block (MCP
     * `image` / `audio`, the bytes sent base64) to a tool's result or, as a
     * user message, to a prompt's answer. `mime_type` says which: image/...
     * or audio/... (e.g. "image/png", "audio/wav").
     * Size:     counts against result_bytes with the raw bytes, as text does.
     * Thread:   as result_text.
     * Ownership: both buffers are copied before it returns.
     * Returns:  BH_OK; BH_E_INVALID for a mime type that is neither image/
     *           nor audio/ or is not printable ASCII; BH_E_NOT_ALLOWED in a
     *           resource read or list (answer with result_resource there) or
     *           after result_error; BH_E_TOO_LARGE; BH_E_STALE.
     */
    bh_status (*result_media)(bh_call call, const char *mime_type, size_t mime_len, const void *data, size_t data_len);

    /* New functions are added here, at the end, with a new minor version. */
};

/* ====================================================================== */
/* What the plugin exports                                                */
/* ====================================================================== */

/** Returned by bulkhead_plugin_abi; a static constant inside the plugin. */
typedef struct bh_plugin_abi {
    uint32_t struct_size; /**< sizeof(bh_plugin_abi) */
    uint32_t magic;       /**< BH_ABI_MAGIC */
    uint16_t abi_major;   /**< BH_ABI_VERSION_MAJOR of the header the plugin was built with */
    uint16_t abi_minor;   /**< BH_ABI_VERSION_MINOR likewise */
    uint32_t reserved;
} bh_plugin_abi;

/**
 * Filled in by bulkhead_plugin_init. The core allocates and zeroes it and sets
 * struct_size to its own size; the plugin writes only the fields it knows.
 */
typedef struct bh_plugin_def {
    uint32_t struct_size;
    uint32_t concurrency;          /**< a bh_concurrency value; BH_CONCURRENCY_SERIAL when left 0 */
    void *state;                   /**< passed to destroy; the core never looks inside */
    void (*destroy)(void *state);  /**< optional: called once, after the last call returned */
} bh_plugin_def;

/*
 * When destroy runs: at shutdown (SIGTERM, SIGINT or the end of stdin), once
 * no thread is inside any of the plugin's tool functions, and never beside
 * one: from then on no call enters the plugin. Calls still running at the
 * operator's drain deadline are answered "unavailable" to their callers and
 * see is_cancelled() turn true; the core then waits a short grace for them to
 * return. A plugin still inside a call after that is not destroyed at all:
 * the process exits without calling destroy (nor the library's destructors),
 * so destroy must not be the only place that makes the plugin's data durable.
 * destroy runs on the thread that loaded the plugin (serve's main thread).
 * It must stop and join every thread the plugin started (a watcher, say):
 * the library stays mapped after destroy (the core never dlclose()s it), so
 * a thread left running goes on with freed state and a dead plugin handle.
 * destroy also runs for a plugin refused after its init returned BH_OK (its
 * registrations did not match its manifest).
 */

/**
 * REQUIRED export: reports the ABI the plugin was built against.
 *
 * Thread:   called once, before init, on the loading thread.
 * Ownership: returns a pointer to static memory inside the plugin.
 * Returns:  never NULL. Use BULKHEAD_PLUGIN_ABI() to define it.
 */
typedef const bh_plugin_abi *(*bh_plugin_abi_fn)(void);
#define BH_PLUGIN_ABI_SYMBOL "bulkhead_plugin_abi"

/**
 * REQUIRED export: initialises the plugin and registers its tools.
 *
 * Thread:   called once, on the loading thread, before any tool function.
 * Ownership: `host` stays valid until destroy returns; `def` only during init.
 * Returns:  BH_OK, or a failure status: the plugin is then refused (its destroy
 *           is not called; free what init allocated before failing) and the
 *           reason is logged together with any line it logged.
 */
typedef bh_status (*bh_plugin_init_fn)(const bh_host_api *host, bh_plugin plugin, bh_plugin_def *def);
#define BH_PLUGIN_INIT_SYMBOL "bulkhead_plugin_init"

#if defined(__GNUC__) || defined(__clang__)
#define BH_EXPORT __attribute__((visibility("default")))
#else
#define BH_EXPORT
#endif

/** Declarations of the two exports, so a plugin's definitions are checked against them. */
BH_EXPORT const bh_plugin_abi *bulkhead_plugin_abi(void);
BH_EXPORT bh_status bulkhead_plugin_init(const bh_host_api *host, bh_plugin plugin, bh_plugin_def *def);

/** Defines bulkhead_plugin_abi with this header's version. Use once per plugin. */
#define BULKHEAD_PLUGIN_ABI()                                                    \
    BH_EXPORT const bh_plugin_abi *bulkhead_plugin_abi(void)                     \
    {                                                                            \
        static const bh_plugin_abi abi = {sizeof(bh_plugin_abi), BH_ABI_MAGIC,   \
                                          BH_ABI_VERSION_MAJOR,                  \
                                          BH_ABI_VERSION_MINOR, 0};              \
        return &abi;                                                             \
    }

/* Non-C authors declare every enum of this header as a 32-bit int; this holds them to it. */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define BH_ENUMS_ARE_INTS_ static_assert
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define BH_ENUMS_ARE_INTS_ _Static_assert
#endif
#ifdef BH_ENUMS_ARE_INTS_
BH_ENUMS_ARE_INTS_(sizeof(bh_status) == 4 && sizeof(bh_error_kind) == 4 && sizeof(bh_log_level) == 4 &&
                       sizeof(bh_concurrency) == 4 && sizeof(bh_file_type) == 4 &&
                       sizeof(bh_role) == 4 && sizeof(bh_exclusion) == 4,
                   "Bulkhead's enums are 32-bit ints");
#undef BH_ENUMS_ARE_INTS_
#endif

/* ====================================================================== */
/* The two tiers                                                          */
/* ====================================================================== */

/*
 * A plugin runs either in the server's process or, by default, in a worker
 * process of its own (the operator chooses, in policy.toml [runtime]). The
 * same library runs in both without a rebuild, and every contract above holds
 * in both, with these additions for the worker:
 *
 * - Your process is walled: no network, no new processes (threads are fine),
 *   no files beyond your folder, the system's libraries and the roots the
 *   operator granted (read-only roots read-only), a memory limit. Reach the
 *   outside only through the host functions; a forbidden exec kills you.
 * - Each host function is a round trip to the core (some microseconds):
 *   prefer few, larger calls. remaining_ms and is_cancelled stay local and
 *   cheap; a cancellation reaches is_cancelled within about 10 ms.
 * - dir_list reads the whole listing before your callback sees the first
 *   entry: a listing is a snapshot.
 * - file_open's descriptor is passed to your process (SCM_RIGHTS); it is
 *   yours to close, as in-process.
 * - A NULL out pointer is refused with BH_E_INVALID before the handle is
 *   looked up (in-process a stale handle may be reported first).
 * - secret_read copies at most 1 MiB; a log line is cut to 1 MiB before the
 *   core's own cut.
 * - If your process dies (crash, exit, abort, a killed exec, out of memory),
 *   your calls in flight are answered unavailable and a fresh process runs
 *   bulkhead_plugin_init again: keep no state you cannot rebuild in init.
 *   destroy runs when the server stops, not when a worker dies.
 * - You are process 1 of your own PID namespace: abort() ends as SIGSEGV,
 *   and getppid() is 0.
 */

#ifdef __cplusplus
}
#endif

#endif /* BULKHEAD_H */
