/*
 * main.c — bulkhead-worker: one plugin in a sandboxed process of its own.
 * Reads the command line the core built, raises the walls, loads the
 * plugin, says BHW_HELLO, then spends the rest of its life reading the
 * channel: the plugin itself only ever runs on runner threads.
 *
 *   bulkhead-worker --library PATH --plugin-dir DIR [--exec-dir DIR]...
 *       [--read-dir DIR]... [--write-dir DIR]... [--memory-bytes N]
 *       [--cpu-seconds N] [--open-files N]
 *
 * fd 3 is the channel (bh_worker_protocol.h). Nothing is written to stdout:
 * the server's stdout is the MCP protocol.
 */
#include <bulkhead/bulkhead.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bh_worker_protocol.h"
#include "calls.h"
#include "channel.h"
#include "host_remote.h"
#include "runner.h"
#include "sandbox.h"

#define EXIT_USAGE 64
#define EXIT_SOFTWARE 70

/* ---- command line ------------------------------------------------------ */

struct args {
    const char *library;
    const char *plugin_dir;
    const char **exec_dirs, **read_dirs, **write_dirs;
    size_t n_exec, n_read, n_write;
    uint64_t memory_bytes, cpu_seconds, open_files;
    bool has_memory, has_cpu, has_files;
};

static _Noreturn void bad_usage(const char *why, const char *arg)
{
    fprintf(stderr, "bulkhead-worker: %s%s%s\n", why, arg ? ": " : "", arg ? arg : "");
    exit(EXIT_USAGE);
}

/* Plain decimal only: no sign, no spaces, no hex, nothing past 64 bits. */
static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static void set_once(const char **slot, const char *opt, const char *value)
{
    if (*slot)
        bad_usage("given twice", opt);
    *slot = value;
}

static void set_number(uint64_t *slot, bool *seen, const char *opt, const char *value)
{
    if (*seen)
        bad_usage("given twice", opt);
    if (!parse_u64(value, slot))
        bad_usage("not a non-negative decimal integer", value);
    *seen = true;
}

static void parse_args(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof *a);
    /* No list can hold more entries than there are arguments. */
    size_t room = argc > 0 ? (size_t)argc : 1;
    a->exec_dirs = calloc(room, sizeof *a->exec_dirs);
    a->read_dirs = calloc(room, sizeof *a->read_dirs);
    a->write_dirs = calloc(room, sizeof *a->write_dirs);
    if (!a->exec_dirs || !a->read_dirs || !a->write_dirs)
        bhw_fatal("out of memory reading the command line");

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (i + 1 >= argc)
            bad_usage(strncmp(opt, "--", 2) == 0 ? "a value is missing after" : "unknown argument", opt);
        const char *value = argv[++i];
        if (!*value)
            bad_usage("an empty value after", opt);
        if (strcmp(opt, "--library") == 0)
            set_once(&a->library, opt, value);
        else if (strcmp(opt, "--plugin-dir") == 0)
            set_once(&a->plugin_dir, opt, value);
        else if (strcmp(opt, "--exec-dir") == 0)
            a->exec_dirs[a->n_exec++] = value;
        else if (strcmp(opt, "--read-dir") == 0)
            a->read_dirs[a->n_read++] = value;
        else if (strcmp(opt, "--write-dir") == 0)
            a->write_dirs[a->n_write++] = value;
        else if (strcmp(opt, "--memory-bytes") == 0)
            set_number(&a->memory_bytes, &a->has_memory, opt, value);
        else if (strcmp(opt, "--cpu-seconds") == 0)
            set_number(&a->cpu_seconds, &a->has_cpu, opt, value);
        else if (strcmp(opt, "--open-files") == 0)
            set_number(&a->open_files, &a->has_files, opt, value);
        else
            bad_usage("unknown argument", opt);
    }
    if (!a->library)
        bad_usage("--library PATH is required", NULL);
    if (!a->plugin_dir)
        bad_usage("--plugin-dir DIR is required", NULL);
}

/* ---- hello ------------------------------------------------------------- */

static void hello(bhw_hello_outcome outcome, const bh_plugin_abi *abi, bool has_init, uint32_t walls,
                  const char *detail)
{
    uint32_t magic = 0, major = 0, minor = 0;
    /* Only what lies within the plugin's own struct_size; the core judges the rest. */
    if (abi && abi->struct_size >= offsetof(bh_plugin_abi, magic) + sizeof abi->magic)
        magic = abi->magic;
    if (abi && abi->struct_size >= offsetof(bh_plugin_abi, abi_minor) + sizeof abi->abi_minor) {
        major = abi->abi_major;
        minor = abi->abi_minor;
    }
    size_t detail_len = detail ? strlen(detail) : 0;
    if (detail_len > 4096)
        detail_len = 4096;
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u32(&o, (uint32_t)outcome);
    bhw_put_u32(&o, magic);
    bhw_put_u32(&o, major);
    bhw_put_u32(&o, minor);
    bhw_put_u32(&o, has_init ? 1u : 0u);
    bhw_put_u32(&o, walls);
    bhw_put_bytes(&o, detail, detail_len);
    bhw_send(BHW_HELLO, 0, 0, &o);
}

static _Noreturn void refuse_load(bhw_hello_outcome outcome, uint32_t walls, const char *detail)
{
    hello(outcome, NULL, false, walls, detail);
    exit(EXIT_SOFTWARE);
}

/* dlsym with dlerror cleared first, so that a NULL comes with its own reason. */
static void *symbol(void *lib, const char *name)
{
    dlerror();
    return dlsym(lib, name);
}

/* ---- the reader loop --------------------------------------------------- */

static void on_init(const struct bhw_frame *f)
{
    struct bhw_in in;
    uint64_t plugin;
    uint32_t threads;
    bhw_in_init(&in, f->payload, f->len);
    if (!bhw_get_u64(&in, &plugin) || !bhw_get_u32(&in, &threads) || !bhw_at_end(&in))
        bhw_protocol_error("a malformed BHW_INIT");
    bhw_runner_init(plugin, threads);
}

static void on_call(const struct bhw_frame *f)
{
    struct bhw_in in;
    const char *tool;
    size_t tool_len;
    int64_t deadline;
    bhw_in_init(&in, f->payload, f->len);
    uint32_t count = 0;
    if (f->call == 0 || !bhw_get_bytes(&in, &tool, &tool_len) || !bhw_get_i64(&in, &deadline) ||
        !bhw_get_u32(&in, &count))
        bhw_protocol_error("a malformed BHW_CALL");
    /* The arguments table is the rest of the payload, kept whole by the call. */
    const unsigned char *table = in.p + in.at;
    size_t table_len = in.len - in.at;
    if (!bhw_args_valid(table, table_len, count))
        bhw_protocol_error("a malformed arguments table in BHW_CALL");
    char *name = malloc(tool_len + 1);
    unsigned char *args = table_len ? malloc(table_len) : NULL;
    if (!name || (table_len && !args))
        bhw_fatal("out of memory for a call");
    memcpy(name, tool, tool_len);
    name[tool_len] = 0;
    if (table_len)
        memcpy(args, table, table_len);
    bhw_runner_submit(f->call, name, tool_len, deadline, args, table_len, count);
}

static _Noreturn void read_channel(void)
{
    for (;;) {
        struct bhw_frame f;
        /* The core is gone: nobody is left to answer, nor to run destroy for. */
        if (!bhw_read_frame(&f))
            _exit(0);
        switch (f.op) {
        case BHW_REPLY:
            if (f.seq == 0)
                bhw_protocol_error("a BHW_REPLY with seq 0");
            bhw_remote_deliver(&f);
            break;
        case BHW_INIT:
            on_init(&f);
            break;
        case BHW_CALL:
            on_call(&f);
            break;
        case BHW_CANCEL:
            if (f.len != 0)
                bhw_protocol_error("a BHW_CANCEL with a payload");
            bhw_calls_cancel(f.call);
            break;
        case BHW_SHUTDOWN:
            if (f.len != 0)
                bhw_protocol_error("a BHW_SHUTDOWN with a payload");
            bhw_runner_shutdown();
            break;
        default:
            bhw_protocol_error("an op the core does not send");
        }
        free(f.payload);
    }
}

/* ---- the sequence ------------------------------------------------------ */

int main(int argc, char **argv)
{
    /* A write to a core that is gone must fail with EPIPE, not kill us mid-frame. */
    signal(SIGPIPE, SIG_IGN);

    struct args a;
    parse_args(argc, argv, &a);
    if (fcntl(BHW_CHANNEL_FD, F_GETFD) < 0)
        bad_usage("fd 3, the channel to the core, is not open", NULL);

    struct bhw_sandbox_spec spec = {
        .plugin_dir = a.plugin_dir,
        .exec_dirs = a.exec_dirs,
        .n_exec_dirs = a.n_exec,
        .read_dirs = a.read_dirs,
        .n_read_dirs = a.n_read,
        .write_dirs = a.write_dirs,
        .n_write_dirs = a.n_write,
        .memory_bytes = a.memory_bytes,
        .cpu_seconds = a.cpu_seconds,
        .open_files = a.open_files,
    };
    uint32_t walls = 0;
    char why[512] = "";
    if (bhw_sandbox_enter(&spec, &walls, why, sizeof why) != 0)
        refuse_load(BHW_HELLO_WALL_FAILED, walls, why[0] ? why : "a wall could not be raised");

    /* Swift's crash backtracer would exec a helper, which seccomp answers by killing the process. */
    setenv("SWIFT_BACKTRACE", "enable=no", 1);

    void *lib = dlopen(a.library, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        refuse_load(BHW_HELLO_DLOPEN_FAILED, walls, e ? e : "dlopen failed");
    }
    void *abi_sym = symbol(lib, BH_PLUGIN_ABI_SYMBOL);
    if (!abi_sym) {
        const char *e = dlerror();
        refuse_load(BHW_HELLO_NO_ABI_SYMBOL, walls, e ? e : "missing " BH_PLUGIN_ABI_SYMBOL);
    }
    bh_plugin_abi_fn abi_fn;
    memcpy(&abi_fn, &abi_sym, sizeof abi_fn);
    const bh_plugin_abi *abi = abi_fn();
    if (!abi)
        refuse_load(BHW_HELLO_ABI_NULL, walls, BH_PLUGIN_ABI_SYMBOL "() returned NULL");

    void *init_sym = symbol(lib, BH_PLUGIN_INIT_SYMBOL);
    bh_plugin_init_fn init_fn = NULL;
    if (init_sym)
        memcpy(&init_fn, &init_sym, sizeof init_fn);
    bhw_runner_prepare(init_fn);

    hello(BHW_HELLO_OK, abi, init_fn != NULL, walls, NULL);
    read_channel();
}

_Static_assert(sizeof(void *) == sizeof(bh_plugin_abi_fn), "function and data pointers have one size");
