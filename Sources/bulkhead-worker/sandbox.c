/*
 * The worker's walls (see sandbox.h). Everything here runs once, while the
 * worker is single-threaded and before the plugin is dlopened, and reports
 * failure through `why` only: stdout is the server's MCP stream and stderr is
 * the caller's to use.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sandbox.h"
#include "bh_worker_protocol.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Landlock as of ABI 6; the installed uapi headers (6.1) stop at ABI 2. */
#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_REFER (1ull << 13)
#define LL_FS_TRUNCATE (1ull << 14)
#define LL_FS_IOCTL_DEV (1ull << 15)
#define LL_FS_FILE_ONLY (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)
#define LL_NET_BIND_TCP (1ull << 0)
#define LL_NET_CONNECT_TCP (1ull << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ull << 0)
#define LL_SCOPE_SIGNAL (1ull << 1)

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

static int fail(char *why, size_t why_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t why_size, const char *fmt, ...) {
    if (why && why_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void close_above_channel(void) {
    if (syscall(SYS_close_range, BHW_CHANNEL_FD + 1, ~0u, 0) == 0)
        return;
    /* Pre-5.9 kernel. Closing while iterating can skip entries, so sweep until clean. */
    for (int closed = 1; closed;) {
        closed = 0;
        DIR *d = opendir("/proc/self/fd");
        if (!d)
            return;
        struct dirent *e;
        while ((e = readdir(d))) {
            int fd = atoi(e->d_name);
            if (fd > BHW_CHANNEL_FD && fd != dirfd(d)) {
                close(fd);
                closed = 1;
            }
        }
        closedir(d);
    }
}

/* Lowering is the point; a request above the inherited hard limit could only
 * fail (no CAP_SYS_RESOURCE), so it is clamped to that limit instead. */
static int cap_rlimit(int resource, uint64_t soft, uint64_t hard) {
    struct rlimit cur, want;
    if (getrlimit(resource, &cur) != 0)
        return -1;
    want.rlim_max = (cur.rlim_max != RLIM_INFINITY && hard > cur.rlim_max) ? cur.rlim_max : (rlim_t)hard;
    want.rlim_cur = soft > want.rlim_max ? want.rlim_max : (rlim_t)soft;
    return setrlimit(resource, &want);
}

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)len ? 0 : -1;
}

/* Only the waiting parent runs this: it leaves exactly as its child did, so
 * the core's waitpid sees the plugin's exit code or signal. */
static _Noreturn void exit_like(int status) {
    if (WIFEXITED(status))
        _exit(WEXITSTATUS(status));
    int sig = WTERMSIG(status);
    if (sig == SIGKILL)
        kill(getpid(), SIGKILL);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
    _exit(128 + sig); /* signals whose default is to be ignored */
}

static int add_path_rule(int ruleset, const char *path, uint64_t allowed, uint64_t handled, char *why, size_t why_size) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0; /* e.g. /lib64 on a distribution without it */
        return fail(why, why_size, "landlock: cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
        allowed &= LL_FS_FILE_ONLY; /* the kernel refuses directory rights on a file */
    struct ll_path_beneath_attr pb = {.allowed_access = allowed & handled, .parent_fd = fd};
    long rc = syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0);
    int saved = errno;
    close(fd);
    if (rc != 0)
        return fail(why, why_size, "landlock: adding a rule for %s failed: %s", path, strerror(saved));
    return 0;
}

static int enter_landlock(const struct bhw_sandbox_spec *spec, char *why, size_t why_size) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    if (abi < 1)
        return fail(why, why_size, "landlock: not supported by this kernel: %s", strerror(errno));

    /* Handling every right the kernel knows makes each one denied unless a rule grants it. */
    struct ll_ruleset_attr attr = {.handled_access_fs = (1ull << 13) - 1}; /* ABI 1: bits 0..12 */
    if (abi >= 2)
        attr.handled_access_fs |= LL_FS_REFER;
    if (abi >= 3)
        attr.handled_access_fs |= LL_FS_TRUNCATE;
    if (abi >= 5)
        attr.handled_access_fs |= LL_FS_IOCTL_DEV;
    /* Handled with no rule: no TCP bind or connect at all, even if a socket slipped through. */
    if (abi >= 4)
        attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
    /* Keeps the plugin from signalling the core or reaching its abstract sockets. */
    if (abi >= 6)
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
    /* Older kernels reject a larger struct with non-zero tail, so pass only what this ABI knows. */
    size_t attr_size = abi >= 6 ? 24 : abi >= 4 ? 16 : 8;

    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (rs < 0)
        return fail(why, why_size, "landlock: creating the ruleset failed: %s", strerror(errno));

    const uint64_t all = attr.handled_access_fs;
    const uint64_t rx = LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_EXECUTE;
    const uint64_t ro = LL_FS_READ_FILE | LL_FS_READ_DIR;
    int rc = add_path_rule(rs, spec->plugin_dir, rx, all, why, why_size);
    for (size_t i = 0; rc == 0 && i < spec->n_exec_dirs; i++)
        rc = add_path_rule(rs, spec->exec_dirs[i], rx, all, why, why_size);
    for (size_t i = 0; rc == 0 && i < spec->n_read_dirs; i++)
        rc = add_path_rule(rs, spec->read_dirs[i], ro, all, why, why_size);
    for (size_t i = 0; rc == 0 && i < spec->n_write_dirs; i++)
        rc = add_path_rule(rs, spec->write_dirs[i], all, all, why, why_size);
    /* The dynamic loader and common runtimes need these; /proc/self stays shut. */
    if (rc == 0)
        rc = add_path_rule(rs, "/etc/ld.so.cache", LL_FS_READ_FILE, all, why, why_size);
    if (rc == 0)
        rc = add_path_rule(rs, "/dev/null", LL_FS_READ_FILE | LL_FS_WRITE_FILE, all, why, why_size);
    if (rc == 0)
        rc = add_path_rule(rs, "/dev/urandom", LL_FS_READ_FILE, all, why, why_size);
    if (rc == 0 && syscall(SYS_landlock_restrict_self, rs, 0) != 0)
        rc = fail(why, why_size, "landlock: landlock_restrict_self failed: %s", strerror(errno));
    close(rs);
    return rc;
}

/*
 * Why a denylist and not an allowlist: plugins are written in C, Rust, Swift
 * and link things like SQLite, and each runtime and libc version reaches for
 * its own wide set of syscalls (futex variants, rseq, statx, getrandom,
 * madvise flavours, ...); an allowlist would break plugins on every toolchain
 * update. The walls that matter are the other layers (namespaces, Landlock,
 * no capabilities); this filter removes the syscalls that would climb over
 * them or widen the kernel's attack surface: starting programs or processes,
 * making sockets, touching other processes' memory, mounting and namespaces,
 * and kernel facilities (bpf, io_uring, keyrings, modules, perf, ...).
 */
static const char *const denied_eperm[] = {
    "fork", "vfork", "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "init_module", "finit_module",
    "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct",
    "quotactl", "lookup_dcookie", "personality", "syslog", "iopl", "ioperm", "pidfd_getfd",
};

/* A syscall this architecture lacks is skipped: there is nothing to deny. */
static int deny(scmp_filter_ctx ctx, uint32_t action, const char *name, const struct scmp_arg_cmp *arg) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr < 0)
        return 0;
    return arg ? seccomp_rule_add(ctx, action, nr, 1, *arg) : seccomp_rule_add(ctx, action, nr, 0);
}

static int enter_seccomp(char *why, size_t why_size) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return fail(why, why_size, "seccomp: seccomp_init failed");
    const char *step = "seccomp_attr_set";
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (rc == 0)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc == 0) {
        step = "seccomp_rule_add";
        /* Killed rather than refused: a plugin that tries to run a program is hostile. */
        rc = deny(ctx, SCMP_ACT_KILL_PROCESS, "execve", NULL);
    }
    if (rc == 0)
        rc = deny(ctx, SCMP_ACT_KILL_PROCESS, "execveat", NULL);
    /* Threads are fine, new processes are not. */
    const struct scmp_arg_cmp no_thread = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0);
    if (rc == 0)
        rc = deny(ctx, SCMP_ACT_ERRNO(EPERM), "clone", &no_thread);
    /* clone3 passes its flags in memory the filter cannot read; ENOSYS makes glibc use clone. */
    if (rc == 0)
        rc = deny(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", NULL);
    for (size_t i = 0; rc == 0 && i < sizeof denied_eperm / sizeof denied_eperm[0]; i++)
        rc = deny(ctx, SCMP_ACT_ERRNO(EPERM), denied_eperm[i], NULL);
    if (rc == 0) {
        step = "seccomp_load";
        rc = seccomp_load(ctx);
    }
    seccomp_release(ctx);
    if (rc != 0)
        return fail(why, why_size, "seccomp: %s failed: %s", step, strerror(-rc));
    return 0;
}

int bhw_sandbox_enter(const struct bhw_sandbox_spec *spec, uint32_t *walls, char *why, size_t why_size) {
    uint32_t up = 0;
    *walls = 0;
    if (why && why_size)
        why[0] = '\0';

    close_above_channel();

    if (spec->memory_bytes && cap_rlimit(RLIMIT_DATA, spec->memory_bytes, spec->memory_bytes) != 0)
        return fail(why, why_size, "rlimits: RLIMIT_DATA: %s", strerror(errno));
    if (spec->cpu_seconds && cap_rlimit(RLIMIT_CPU, spec->cpu_seconds, spec->cpu_seconds + 1) != 0)
        return fail(why, why_size, "rlimits: RLIMIT_CPU: %s", strerror(errno));
    if (spec->open_files && cap_rlimit(RLIMIT_NOFILE, spec->open_files, spec->open_files) != 0)
        return fail(why, why_size, "rlimits: RLIMIT_NOFILE: %s", strerror(errno));
    if (cap_rlimit(RLIMIT_CORE, 0, 0) != 0)
        return fail(why, why_size, "rlimits: RLIMIT_CORE: %s", strerror(errno));
    *walls = up |= BHW_WALL_RLIMITS;

    /* The effective ids are the ones the kernel lets an unprivileged process map. */
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID) != 0)
        return fail(why, why_size, "namespaces: unshare failed: %s", strerror(errno));
    *walls = up |= BHW_WALL_USER_NS | BHW_WALL_MOUNT_NS | BHW_WALL_NET_NS;

    /* A non-dumpable process's /proc files belong to the outer root, whom the new
     * namespace cannot map, so the maps would be unwritable. */
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1 && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0)
        return fail(why, why_size, "namespaces: PR_SET_DUMPABLE failed: %s", strerror(errno));
    char map[64];
    if (write_file("/proc/self/setgroups", "deny") != 0 && errno != ENOENT)
        return fail(why, why_size, "namespaces: writing /proc/self/setgroups failed: %s", strerror(errno));
    snprintf(map, sizeof map, "%u %u 1", (unsigned)uid, (unsigned)uid);
    if (write_file("/proc/self/uid_map", map) != 0)
        return fail(why, why_size, "namespaces: writing /proc/self/uid_map failed: %s", strerror(errno));
    snprintf(map, sizeof map, "%u %u 1", (unsigned)gid, (unsigned)gid);
    if (write_file("/proc/self/gid_map", map) != 0)
        return fail(why, why_size, "namespaces: writing /proc/self/gid_map failed: %s", strerror(errno));
    /* Nothing is mounted later, so this only stops propagation; no wall depends on it. */
    (void)mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);

    /* getppid() is 0 across a PID namespace boundary, so the child learns whether
     * its parent is still alive from this pipe: the parent holds the write end until it exits. */
    int alive[2];
    if (pipe2(alive, O_CLOEXEC) != 0)
        return fail(why, why_size, "pid namespace: pipe2 failed: %s", strerror(errno));
    pid_t child = fork();
    if (child < 0) {
        int saved = errno;
        close(alive[0]);
        close(alive[1]);
        return fail(why, why_size, "pid namespace: fork failed: %s", strerror(saved));
    }
    if (child > 0) {
        /* Only the child may hold the channel, so the core sees EOF when it dies. */
        close(BHW_CHANNEL_FD);
        close(alive[0]);
        int status;
        while (waitpid(child, &status, 0) < 0)
            if (errno != EINTR)
                _exit(127);
        exit_like(status);
    }
    close(alive[1]);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
        _exit(1);
    struct pollfd pfd = {.fd = alive[0], .events = POLLIN};
    if (poll(&pfd, 1, 0) != 0)
        _exit(1); /* the parent died before PDEATHSIG was armed */
    close(alive[0]);
    *walls = up |= BHW_WALL_PID_NS;

    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return fail(why, why_size, "dumpable: PR_SET_DUMPABLE failed: %s", strerror(errno));
    *walls = up |= BHW_WALL_NOT_DUMPABLE;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return fail(why, why_size, "no_new_privs: PR_SET_NO_NEW_PRIVS failed: %s", strerror(errno));
    *walls = up |= BHW_WALL_NO_NEW_PRIVS;

    if (enter_landlock(spec, why, why_size) != 0)
        return -1;
    *walls = up |= BHW_WALL_LANDLOCK;

    /* The new user namespace granted a full set; none is needed past this point. */
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) != 0)
        return fail(why, why_size, "capabilities: capset failed: %s", strerror(errno));

    if (enter_seccomp(why, why_size) != 0)
        return -1;
    *walls = up |= BHW_WALL_SECCOMP;
    return 0;
}
