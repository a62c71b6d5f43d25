/*
 * The private channel between the core and one plugin's worker process
 * (Sources/bulkhead-worker). Not part of the plugin ABI: both ends are built
 * from this tree, so it may change in any release.
 *
 * Transport: a SOCK_STREAM AF_UNIX socketpair, the worker's end on fd 3.
 * Every frame is a 24-byte header followed by `length - 20` payload bytes:
 *
 *     u32 length   bytes after this field (header rest + payload), <= BHW_MAX_FRAME
 *     u16 op       a bhw_op
 *     u16 flags    0
 *     u64 call     the bh_call token the frame is about, or the token of the call
 *                  whose tool function the sending thread is inside (0: none)
 *     u64 seq      a host request's number, echoed by its BHW_REPLY (0 for frames
 *                  that get no reply)
 *
 * All integers little-endian. A payload is a sequence of fields in the order
 * each op lists: u32, u64, i64, f64 (IEEE bits as u64), or bytes = u32 length
 * then that many bytes. A reader takes exactly the fields it expects; a frame
 * too short, too long or over BHW_MAX_FRAME is a protocol error, and the core
 * kills a worker that commits one.
 *
 * The core treats the worker as hostile: every token a worker sends is
 * checked against the one plugin and the calls in flight the channel is
 * bound to before any host function runs.
 *
 * Sequence:
 *   worker: sets its walls, dlopens the plugin, sends BHW_HELLO;
 *   core:   sends BHW_INIT; worker runs bulkhead_plugin_init (register_tool and
 *           the other host functions it uses go as requests), sends BHW_INIT_DONE;
 *   core:   sends BHW_CALL per call (several in flight for a parallel plugin),
 *           BHW_CANCEL when one is cancelled; the worker answers each with BHW_DONE;
 *   core:   sends BHW_SHUTDOWN; the worker runs destroy and exits 0.
 * While a call runs (and during init) the worker sends host requests; the core
 * answers each with BHW_REPLY carrying the same seq.
 */
#ifndef BH_WORKER_PROTOCOL_H
#define BH_WORKER_PROTOCOL_H

#include <stdint.h>

#define BHW_HEADER_SIZE 24u
/* Big enough for the largest result or HTTP body a policy may allow (64 MiB) and its framing. */
enum { BHW_MAX_FRAME = 65 * 1024 * 1024 };
/* The worker's end of the channel. */
#define BHW_CHANNEL_FD 3

typedef enum bhw_op {
    /* ---- worker -> core, no reply ---------------------------------------- */
    /* u32 outcome (bhw_hello_outcome), u32 magic, u32 abi_major, u32 abi_minor,
     * u32 has_init, u32 walls (bhw_wall bits that are up), bytes detail
     * (dlerror text, or which wall could not be set up). After any outcome
     * but BHW_HELLO_OK the worker exits 70. */
    BHW_HELLO = 1,
    /* u32 status (what bulkhead_plugin_init returned), u32 concurrency (bh_concurrency) */
    BHW_INIT_DONE = 2,
    /* header.call = the call; u32 status (what the tool function returned) */
    BHW_DONE = 3,
    /* u64 plugin, u32 level, bytes message */
    BHW_LOG = 4,

    /* ---- core -> worker -------------------------------------------------- */
    /* u64 plugin token, u32 threads (how many calls a parallel plugin may run at once) */
    BHW_INIT = 10,
    /* header.call = the call token; bytes tool, i64 deadline (CLOCK_MONOTONIC ns, 0 = none),
     * u32 count, then count arguments: the core's own answer to each accessor for
     * each top-level key, so that the worker answers arg_* without a round trip:
     *   bytes key, u32 string_status, bytes string, u32 int_status, i64 int,
     *   u32 double_status, f64 double, u32 bool_status, u32 bool, u32 json_status, bytes json
     * (values are empty or 0 unless their status is BH_OK). A key not in the table,
     * byte for byte, is asked of the core as a request. */
    BHW_CALL = 11,
    /* header.call = the call token; no payload */
    BHW_CANCEL = 12,
    /* no payload. The worker answers every call not yet started BHW_DONE(BH_E_CANCELLED)
     * without entering the plugin, waits for the running ones, runs destroy (whose
     * host requests the core still answers) and exits 0. */
    BHW_SHUTDOWN = 13,
    /* header.seq = the request's; u32 status, then the op's reply fields, then
     * bytes last_error (empty: the request set no error text). The reply fields
     * are there only after BH_OK (BHW_SECRET_READ: also after BH_E_TOO_LARGE,
     * with the length needed and an empty value); after any other status the
     * payload is u32 status, bytes last_error. */
    BHW_REPLY = 14,

    /* ---- worker -> core requests (header.seq != 0), each answered by BHW_REPLY ----
     * request fields                                   -> reply fields after status */
    /* name: a tool's name; or, for ABI 1.1, "\x01" + a resource's URI or template,
     * "\x02" + a prompt's name, "\x03list" for the resource list function,
     * "\x04" + a prompt's name or a template for its completion function. The
     * same key names the function in BHW_CALL. */
    BHW_REGISTER = 20,    /* u64 plugin, bytes name                    -> - */
    BHW_CONFIG = 21,      /* u64 plugin, bytes key                     -> bytes value */
    BHW_ARGUMENTS = 22,   /* -                                         -> bytes json */
    BHW_ARG_STRING = 23,  /* bytes key                                 -> bytes value */
    BHW_ARG_INT = 24,     /* bytes key                                 -> i64 value */
    BHW_ARG_DOUBLE = 25,  /* bytes key                                 -> f64 value */
    BHW_ARG_BOOL = 26,    /* bytes key                                 -> u32 value */
    BHW_ARG_JSON = 27,    /* bytes key                                 -> bytes json */
    BHW_CALLER = 28,      /* u32 struct_size                           -> bytes principal, bytes tenant, bytes scopes */
    BHW_RESULT_TEXT = 29, /* bytes text                                -> - */
    BHW_RESULT_JSON = 30, /* bytes json                                -> - */
    BHW_RESULT_ERROR = 31,/* u32 kind, bytes message                   -> - */
    BHW_CORE_STATUS = 32, /* -                                         -> bytes json */
    BHW_CAPABILITY = 33,  /* u64 plugin, bytes name                    -> u64 token */
    BHW_FILE_OPEN = 34,   /* u64 plugin, u64 root, bytes path, u32 flags -> - (status BH_OK: one fd by SCM_RIGHTS,
                           * attached to bytes of that reply frame itself, never sent ahead of it) */
    BHW_FILE_STAT = 35,   /* u64 plugin, u64 root, bytes path, u32 struct_size -> u32 type, u64 size, i64 mtime_ns */
    BHW_DIR_LIST = 36,    /* u64 plugin, u64 root, bytes path          -> u32 count, count x (u32 type, bytes name, u64 size, i64 mtime_ns) */
    BHW_DIR_CREATE = 37,  /* u64 plugin, u64 root, bytes path          -> - */
    BHW_FILE_RENAME = 38, /* u64 plugin, u64 root, bytes from, bytes to -> - */
    BHW_FILE_REMOVE = 39, /* u64 plugin, u64 root, bytes path          -> - */
    BHW_ROOT_PATH = 40,   /* u64 plugin, u64 root                      -> bytes path */
    BHW_SECRET_READ = 41, /* u64 plugin, u64 secret, u64 buf_size      -> u64 len, bytes value (at most buf_size bytes) */
    BHW_HTTP_REQUEST = 42,/* u64 origin, u32 struct_size, u32 timeout_ms, bytes method, bytes url,
                           * bytes headers, bytes body, u32 response_struct_size
                           *                                           -> i32 status (as u32), bytes headers, bytes body */
    /* A result_text or result_json the worker refused without sending it, because
     * no frame carries it (the text would take the payload past BHW_MAX_FRAME):
     * u32 op (BHW_RESULT_TEXT or BHW_RESULT_JSON), u64 length -> -. The core
     * answers it as its own size check would (BH_E_TOO_LARGE, last_error, and
     * the call then answers too_large), even where result_bytes allows more. */
    BHW_RESULT_OVERSIZE = 43,
    BHW_PROGRESS = 44,    /* f64 progress, f64 total, bytes message     -> - */
    /* ABI 1.1 */
    BHW_RESULT_RESOURCE = 45, /* u32 flags, bytes uri, bytes mime_type, bytes data, bytes version,
                               * i64 modified_ms, bytes title              -> - */
    BHW_RESULT_MESSAGE = 46,  /* u32 role, bytes text                      -> - */
    BHW_ADD_SOURCE = 47,      /* bytes uri, bytes title, bytes version, i64 modified_ms -> - */
    BHW_REPORT_EXCLUDED = 48, /* u32 kind, u64 count, bytes why            -> - */
    BHW_RESOURCE_CHANGED = 49, /* u64 plugin, bytes uri                    -> - */
    BHW_RESULT_MEDIA = 50      /* bytes mime_type, bytes data               -> - */
} bhw_op;

typedef enum bhw_hello_outcome {
    BHW_HELLO_OK = 0,
    BHW_HELLO_WALL_FAILED = 1,   /* detail names the wall and why */
    BHW_HELLO_DLOPEN_FAILED = 2, /* detail: dlerror() */
    BHW_HELLO_NO_ABI_SYMBOL = 3,
    BHW_HELLO_ABI_NULL = 4       /* bulkhead_plugin_abi() returned NULL */
} bhw_hello_outcome;

/* The walls, as bits of BHW_HELLO's `walls`. */
typedef enum bhw_wall {
    BHW_WALL_USER_NS = 1u << 0,
    BHW_WALL_MOUNT_NS = 1u << 1,
    BHW_WALL_NET_NS = 1u << 2,
    BHW_WALL_PID_NS = 1u << 3,
    BHW_WALL_LANDLOCK = 1u << 4,
    BHW_WALL_SECCOMP = 1u << 5,
    BHW_WALL_RLIMITS = 1u << 6,
    BHW_WALL_NO_NEW_PRIVS = 1u << 7,
    BHW_WALL_NOT_DUMPABLE = 1u << 8
} bhw_wall;

#endif
