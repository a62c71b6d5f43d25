/*
 * runner.c — the plugin's threads. The first runs bulkhead_plugin_init and
 * then joins the others in taking calls off one queue: one thread for a
 * serial plugin, as many as BHW_INIT allows for a parallel one. At shutdown a
 * thread of its own turns new calls away, waits for the running ones, calls
 * destroy and exits.
 */
#include "runner.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "host_remote.h"

/* More threads than this only costs memory: the core never runs that many calls at once. */
#define BHW_MAX_RUNNERS 1024

enum state { LOADED, INIT_RUNNING, READY, INIT_FAILED };

static bh_plugin_init_fn init_fn;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER; /* a call queued, or closing */
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER; /* init ended, or a call returned while closing */
static enum state state = LOADED;
static bool closing, closer_started;
static unsigned running;
static struct bhw_call *queue_head, *queue_tail;
static bh_plugin_def plugin_def;
static uint64_t plugin_token;
static uint32_t init_threads;

/* ---- tools ------------------------------------------------------------- */

struct tool {
    char *name;
    size_t len;
    bh_tool_fn fn;
    void *user_data;
};

static pthread_mutex_t tools_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tool *tools;
static size_t n_tools, cap_tools;

void bhw_runner_add_tool(const char *name, size_t name_len, bh_tool_fn fn, void *user_data)
{
    char *copy = malloc(name_len + 1);
    if (!copy)
        bhw_fatal("out of memory for a tool registration");
    if (name_len)
        memcpy(copy, name, name_len);
    copy[name_len] = 0;
    pthread_mutex_lock(&tools_mu);
    if (n_tools == cap_tools) {
        size_t cap = cap_tools ? cap_tools * 2 : 8;
        struct tool *grown = realloc(tools, cap * sizeof *grown);
        if (!grown)
            bhw_fatal("out of memory for a tool registration");
        tools = grown;
        cap_tools = cap;
    }
    tools[n_tools++] = (struct tool){copy, name_len, fn, user_data};
    pthread_mutex_unlock(&tools_mu);
}

static bool find_tool(const char *name, size_t len, struct tool *out)
{
    bool found = false;
    pthread_mutex_lock(&tools_mu);
    for (size_t i = 0; i < n_tools && !found; i++) {
        if (tools[i].len == len && memcmp(tools[i].name, name, len) == 0) {
            *out = tools[i];
            found = true;
        }
    }
    pthread_mutex_unlock(&tools_mu);
    return found;
}

/* ---- calls ------------------------------------------------------------- */

static void send_status(uint16_t op, uint64_t call, bh_status status, const uint32_t *concurrency)
{
    struct bhw_out o;
    bhw_out_init(&o);
    bhw_put_u32(&o, (uint32_t)status);
    if (concurrency)
        bhw_put_u32(&o, *concurrency);
    bhw_send(op, call, 0, &o);
}

/* A call that never entered the plugin still gets its DONE: the core counts on one per call. */
static void answer_unstarted(struct bhw_call *c)
{
    uint64_t token = c->token;
    bhw_calls_finish(c);
    send_status(BHW_DONE, token, BH_E_CANCELLED, NULL);
}

static void run_call(struct bhw_call *c)
{
    struct tool t;
    bh_status status = BH_E_NOT_FOUND;
    if (find_tool(c->tool, c->tool_len, &t)) {
        bhw_calls_enter(c);
        status = t.fn(bhw_host_api(), (bh_call){c->token}, t.user_data);
        bhw_calls_leave();
    }
    uint64_t token = c->token;
    /* Before DONE leaves: no request on this call may reach the core after it, and the arena goes with the call. */
    bhw_calls_finish(c);
    send_status(BHW_DONE, token, status, NULL);
}

static void runner_loop(void)
{
    for (;;) {
        pthread_mutex_lock(&mu);
        while (!queue_head && !closing)
            pthread_cond_wait(&work_cv, &mu);
        if (closing) {
            pthread_mutex_unlock(&mu);
            return;
        }
        struct bhw_call *c = queue_head;
        queue_head = c->queue_next;
        if (!queue_head)
            queue_tail = NULL;
        running++;
        pthread_mutex_unlock(&mu);

        run_call(c);

        pthread_mutex_lock(&mu);
        if (--running == 0 && closing)
            pthread_cond_broadcast(&idle_cv);
        pthread_mutex_unlock(&mu);
    }
}

static void *runner_main(void *arg)
{
    (void)arg;
    runner_loop();
    return NULL;
}

static bool spawn(void *(*fn)(void *))
{
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, fn, NULL);
    pthread_attr_destroy(&attr);
    return rc == 0;
}

/* ---- init -------------------------------------------------------------- */

static void *init_main(void *arg)
{
    (void)arg;
    bh_plugin_def def;
    memset(&def, 0, sizeof def);
    def.struct_size = sizeof def;
    bh_status status = init_fn(bhw_host_api(), (bh_plugin){plugin_token}, &def);

    if (status == BH_OK) {
        uint32_t want = def.concurrency == BH_CONCURRENCY_PARALLEL ? init_threads : 1;
        if (want == 0)
            want = 1;
        if (want > BHW_MAX_RUNNERS)
            want = BHW_MAX_RUNNERS;
        /* This thread is the first runner; fewer threads than asked still serve every call. */
        for (uint32_t i = 1; i < want; i++) {
            if (!spawn(runner_main)) {
                fprintf(stderr, "bulkhead-worker: started %u of %u runner threads\n", (unsigned)i, (unsigned)want);
                break;
            }
        }
    }

    pthread_mutex_lock(&mu);
    plugin_def = def;
    state = status == BH_OK ? READY : INIT_FAILED;
    pthread_cond_broadcast(&idle_cv);
    pthread_mutex_unlock(&mu);

    uint32_t concurrency = def.concurrency;
    send_status(BHW_INIT_DONE, 0, status, &concurrency);
    if (status == BH_OK)
        runner_loop();
    return NULL;
}

void bhw_runner_prepare(bh_plugin_init_fn init)
{
    init_fn = init;
}

void bhw_runner_init(uint64_t token, uint32_t threads)
{
    pthread_mutex_lock(&mu);
    if (state != LOADED) {
        pthread_mutex_unlock(&mu);
        bhw_protocol_error("a second BHW_INIT");
    }
    if (!init_fn) {
        /* HELLO said has_init = 0; a core that initialises anyway hears that nothing was found. */
        state = INIT_FAILED;
        pthread_mutex_unlock(&mu);
        uint32_t concurrency = BH_CONCURRENCY_SERIAL;
        send_status(BHW_INIT_DONE, 0, BH_E_NOT_FOUND, &concurrency);
        return;
    }
    state = INIT_RUNNING;
    plugin_token = token;
    init_threads = threads;
    pthread_mutex_unlock(&mu);
    if (!spawn(init_main))
        bhw_fatal("cannot start the thread that runs init");
}

void bhw_runner_submit(uint64_t token, char *tool, size_t tool_len, int64_t deadline_ns,
                       unsigned char *args, size_t args_len, uint32_t args_count)
{
    pthread_mutex_lock(&mu);
    if (closing) {
        pthread_mutex_unlock(&mu);
        /* Never in the table, so nothing can hold it: the reader thread must not wait here. */
        free(tool);
        free(args);
        send_status(BHW_DONE, token, BH_E_CANCELLED, NULL);
        return;
    }
    if (state != READY)
        bhw_protocol_error("a BHW_CALL before init succeeded");
    /* Under `mu`, so that the closer either drains this call or finds it refused. */
    struct bhw_call *c = bhw_calls_add(token, tool, tool_len, deadline_ns);
    if (!c)
        bhw_protocol_error("a BHW_CALL for a token already in flight");
    c->args = args;
    c->args_len = args_len;
    c->args_count = args_count;
    c->queue_next = NULL;
    if (queue_tail)
        queue_tail->queue_next = c;
    else
        queue_head = c;
    queue_tail = c;
    pthread_cond_signal(&work_cv);
    pthread_mutex_unlock(&mu);
}

/* ---- shutdown ---------------------------------------------------------- */

static void *closer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    closing = true;
    struct bhw_call *unstarted = queue_head;
    queue_head = queue_tail = NULL;
    pthread_cond_broadcast(&work_cv);
    pthread_mutex_unlock(&mu);

    while (unstarted) {
        struct bhw_call *next = unstarted->queue_next;
        answer_unstarted(unstarted);
        unstarted = next;
    }

    /* destroy never runs beside init or a tool function. */
    pthread_mutex_lock(&mu);
    while (state == INIT_RUNNING || running > 0)
        pthread_cond_wait(&idle_cv, &mu);
    enum state final = state;
    bh_plugin_def def = plugin_def;
    pthread_mutex_unlock(&mu);

    /* A plugin whose init failed is not destroyed: it freed what it had before failing. */
    if (final == READY && def.destroy)
        def.destroy(def.state);
    exit(0);
}

void bhw_runner_shutdown(void)
{
    pthread_mutex_lock(&mu);
    bool started = closer_started;
    closer_started = true;
    pthread_mutex_unlock(&mu);
    if (started)
        return;
    /* Not on the reader thread: destroy may call host functions, whose replies it must read. */
    if (!spawn(closer_main))
        bhw_fatal("cannot start the thread that shuts the plugin down");
}
