/*
 * Raises the worker's walls (Sources/bulkhead-worker/sandbox.c) on itself
 * and checks from inside that each one holds. One PASS/FAIL line per check;
 * exit 0 only if all pass (`probe nodump`: the same, entered non-dumpable).
 * `probe exec|x32|abort|segv|cpu` instead does that one forbidden or fatal
 * thing, for run.sh to check how the process dies.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "../../Sources/bulkhead-worker/sandbox.h"
#include "bh_worker_protocol.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int failures;

static void check(int ok, const char *what, int err) {
    printf("%s %s", ok ? "PASS" : "FAIL", what);
    if (err)
        printf(" (errno %s)", strerrorname_np(err) ? strerrorname_np(err) : "?");
    printf("\n");
    failures += !ok;
}

static void *thread_main(void *arg) { return arg; }

static void make_dir(char *template) {
    if (!mkdtemp(template)) {
        perror("mkdtemp");
        exit(2);
    }
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "checks";
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char plugin_dir[256], ro_dir[256], rw_dir[256];
    snprintf(plugin_dir, sizeof plugin_dir, "%s/bhw-plugin-XXXXXX", tmp);
    snprintf(ro_dir, sizeof ro_dir, "%s/bhw-ro-XXXXXX", tmp);
    snprintf(rw_dir, sizeof rw_dir, "%s/bhw-rw-XXXXXX", tmp);
    make_dir(plugin_dir);
    make_dir(ro_dir);
    make_dir(rw_dir);
    char ro_file[300], ro_new[300], rw_file[300];
    snprintf(ro_file, sizeof ro_file, "%s/r.txt", ro_dir);
    snprintf(ro_new, sizeof ro_new, "%s/new.txt", ro_dir);
    snprintf(rw_file, sizeof rw_file, "%s/w.txt", rw_dir);
    FILE *f = fopen(ro_file, "w");
    if (!f || fputs("hello", f) < 0 || fclose(f) != 0)
        return 2;

    /* The channel: fd 3 here, its peer on fd 0 (the only other fd that survives). */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || dup2(sv[0], 0) < 0 || dup2(sv[1], BHW_CHANNEL_FD) < 0)
        return 2;
    int stray = sv[0] > sv[1] ? sv[0] : sv[1];

    const char *exec_dirs[] = {"/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/local/lib"};
    const char *read_dirs[] = {ro_dir};
    const char *write_dirs[] = {rw_dir};
    struct bhw_sandbox_spec spec = {
        .plugin_dir = plugin_dir,
        .exec_dirs = exec_dirs, .n_exec_dirs = 5,
        .read_dirs = read_dirs, .n_read_dirs = 1,
        .write_dirs = write_dirs, .n_write_dirs = 1,
        .memory_bytes = 256u << 20,
        .cpu_seconds = strcmp(mode, "cpu") == 0 ? 1 : 0,
    };
    /* Non-dumpable before the call, as after a setuid: the maps must still be written. */
    if (strcmp(mode, "nodump") == 0)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    uid_t uid = getuid();
    pid_t grandparent = getppid();
    uint32_t walls = 0;
    char why[256];
    fflush(stdout);
    if (bhw_sandbox_enter(&spec, &walls, why, sizeof why) != 0) {
        printf("FAIL bhw_sandbox_enter: %s (walls 0x%x)\n", why, walls);
        return 1;
    }

    if (strcmp(mode, "exec") == 0) {
        char *args[] = {"/bin/sh", "-c", "echo escaped", NULL};
        execve("/bin/sh", args, NULL);
        printf("execve returned: %s\n", strerror(errno));
        return 1;
    }
    if (strcmp(mode, "abort") == 0)
        abort();
    if (strcmp(mode, "segv") == 0)
        return *(volatile int *)0;
    if (strcmp(mode, "x32") == 0)
        return (int)syscall(0x40000000 | SYS_getpid);
    if (strcmp(mode, "cpu") == 0)
        for (volatile unsigned long i = 0;; i++) {
        }

    check(walls == 0x1ff, "walls bitmask has all 9 bits", 0);
    check(getpid() == 1, "getpid() == 1", 0);
    check(getuid() == uid, "same uid inside the user namespace", 0);

    int rc, fd = open("/etc/passwd", O_RDONLY);
    check(fd < 0 && errno == EACCES, "open(/etc/passwd) fails EACCES", fd < 0 ? errno : 0);
    fd = open("/proc/self/status", O_RDONLY);
    check(fd < 0 && errno == EACCES, "open(/proc/self/status) fails EACCES", fd < 0 ? errno : 0);

    char buf[16] = {0};
    fd = open(ro_file, O_RDONLY);
    check(fd >= 0 && read(fd, buf, sizeof buf - 1) == 5 && strcmp(buf, "hello") == 0, "read a file in the read-only dir", fd < 0 ? errno : 0);
    if (fd >= 0)
        close(fd);
    fd = open(ro_file, O_WRONLY);
    check(fd < 0 && errno == EACCES, "open for writing in the read-only dir fails EACCES", fd < 0 ? errno : 0);
    fd = open(ro_new, O_WRONLY | O_CREAT, 0600);
    check(fd < 0 && errno == EACCES, "create a file in the read-only dir fails EACCES", fd < 0 ? errno : 0);

    fd = open(rw_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    check(fd >= 0 && write(fd, "ok", 2) == 2, "create and write a file in the rw dir", fd < 0 ? errno : 0);
    if (fd >= 0)
        close(fd);
    rc = rename(rw_file, ro_new);
    check(rc != 0, "rename from the rw dir into the read-only dir fails", rc ? errno : 0);

    int s = socket(AF_INET, SOCK_STREAM, 0);
    check(s < 0 && errno == EPERM, "socket(AF_INET) fails EPERM", s < 0 ? errno : 0);
    s = socket(AF_UNIX, SOCK_DGRAM, 0);
    check(s < 0 && errno == EPERM, "socket(AF_UNIX) fails EPERM", s < 0 ? errno : 0);

    pid_t p = fork();
    if (p == 0)
        _exit(0);
    check(p < 0, "fork() fails", p < 0 ? errno : 0);

    pthread_t t;
    void *back = NULL;
    rc = pthread_create(&t, NULL, thread_main, &failures);
    check(rc == 0 && pthread_join(t, &back) == 0 && back == &failures, "pthread_create + join work", rc);

    rc = kill(grandparent, SIGTERM);
    check(rc != 0, "kill(the launcher's pid) fails", rc ? errno : 0);

    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct caps[2];
    rc = (int)syscall(SYS_capget, &hdr, caps);
    check(rc == 0 && !caps[0].effective && !caps[1].effective && !caps[0].permitted && !caps[1].permitted, "no capabilities", 0);
    check(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs set", 0);
    check(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0, "not dumpable", 0);
    rc = unshare(CLONE_NEWUSER);
    check(rc != 0, "unshare(CLONE_NEWUSER) fails", rc ? errno : 0);
    long lrc = syscall(SYS_clone3, NULL, 0);
    check(lrc < 0 && errno == ENOSYS, "clone3 fails ENOSYS", lrc < 0 ? errno : 0);

    check(fcntl(stray, F_GETFD) < 0 && errno == EBADF, "descriptors above 3 closed", 0);
    rc = (int)write(BHW_CHANNEL_FD, "ping", 4);
    check(rc == 4 && read(0, buf, 4) == 4 && memcmp(buf, "ping", 4) == 0, "channel on fd 3 still works", rc < 0 ? errno : 0);

    void *lib = dlopen("libm.so.6", RTLD_NOW);
    check(lib != NULL, "dlopen(libm.so.6) from an exec dir", 0);
    if (!lib)
        printf("     dlerror: %s\n", dlerror());

    void *volatile big = malloc(512u << 20);
    check(big == NULL, "malloc(512 MiB) fails under 256 MiB RLIMIT_DATA", 0);
    free(big);
    void *volatile small = malloc(64u << 20);
    check(small != NULL, "malloc(64 MiB) works", 0);
    free(small);

    printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures != 0;
}
