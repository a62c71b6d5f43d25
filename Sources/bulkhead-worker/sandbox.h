/*
 * The worker's walls, raised in order while the process is still
 * single-threaded and before any plugin code is loaded.
 */
#ifndef BHW_SANDBOX_H
#define BHW_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

struct bhw_sandbox_spec {
    const char *plugin_dir;      /* read + execute: the plugin's own folder */
    const char *const *exec_dirs; /* read + execute: folders of the libraries it needs */
    size_t n_exec_dirs;
    const char *const *read_dirs; /* granted read-only files roots */
    size_t n_read_dirs;
    const char *const *write_dirs; /* granted read-write files roots */
    size_t n_write_dirs;
    uint64_t memory_bytes;       /* RLIMIT_DATA; 0: none */
    uint64_t cpu_seconds;        /* RLIMIT_CPU (soft; hard = soft + 1); 0: none */
    uint64_t open_files;         /* RLIMIT_NOFILE; 0: leave as inherited */
};

/*
 * Raises every wall: closes every descriptor above BHW_CHANNEL_FD, rlimits
 * (and RLIMIT_CORE 0), new user + mount + network + PID namespaces, then forks
 * so that the rest runs as PID 1 of the new PID namespace (the parent only
 * waits, and exits as its child did: same code, or the same signal re-raised;
 * the child dies with its parent through PR_SET_PDEATHSIG), not dumpable,
 * no_new_privs, Landlock (filesystem, network and, where the kernel has
 * them, signal and abstract-socket scopes), all capabilities dropped, and the
 * seccomp filter.
 *
 * Returns 0 in the process that goes on to load the plugin, with `*walls`
 * the bhw_wall bits that are up. On failure returns -1 with `why` naming the
 * wall and the errno text ("landlock: not supported by this kernel (ENOSYS)");
 * `*walls` then holds what was up so far. Never returns in the waiting parent.
 */
int bhw_sandbox_enter(const struct bhw_sandbox_spec *spec, uint32_t *walls, char *why, size_t why_size);

#endif
