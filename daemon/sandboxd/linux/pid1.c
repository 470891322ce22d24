/*
 * A worker's pid 1, in C: clone3 into the worker's namespaces, build its sandbox, fork the
 * runner and supervise it.
 *
 * Why C: pid 1 is a fork of the fork server, and every page a forked Python writes is a
 * copy-on-write fault (a reference count in every object it touches). In Python, a fork-mode
 * pid 1 took ~3.1 ms of CPU and ~490 faults per worker; in C, ~1.1 ms and 25 (medians of 8
 * idle workers, most of it the kernel's work). An exec-mode pid 1 used to exec a whole Python
 * to supervise (~23 ms per Node worker). pid 1 never runs a line of Python: only a fork-mode
 * runner, forked from it, returns into the interpreter.
 *
 * spawn() returns twice: in the fork server, (pid of pid 1, its pidfd); in the runner (fork
 * mode only), (0, -1). pid 1 itself never returns: it forks the runner, which execs the
 * runner's program in exec mode, and supervises it until it exits. Every failing step reports
 * {"error": "worker setup failed: ..."} on the status pipe and exits, so a worker is never
 * left half-built. linux/contain.py holds the recipe's order and what each layer is for.
 */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The worker's fds once placed, 0..2 being its stdio (runners/init.py names them the same):
 * CTL     daemon -> runner: the run request;
 * STATUS  zygote, pid 1 -> daemon: "pid", "ready", the exit status;
 * EXIT    runner -> daemon: its own exit code, ahead of its teardown (runners/init.py);
 * RELEASE zygote -> pid 1, before NOTIFY exists: its cgroups and id maps are set;
 * NOTIFY  pid 1 only: the seccomp listener (the runner never has it). */
enum { CTL = 3, STATUS = 4, EXIT = 5, NOTIFY = 6, RELEASE = 6, WORKER_FDS = 7 };

#define INNER_ID 1000
#define WORKDIR "/work"
#define NEW_ROOT "/tmp"     /* any existing directory: overmounted in the private namespace only */
#define EMPTY_LOWER "/proc" /* the overlays' empty second layer, mounted over by proc later */

#define MAX_PATHS 256
#define MAX_GRANTS 512
#define MAX_RLIMITS 16
#define MAX_ARGS 256

struct grant {
    const char *path;
    uint64_t rights;
};

/* One worker's recipe, converted from Python objects in the fork server before the clone, so
 * that pid 1 reads plain C data and never touches an object. The strings point into the
 * caller's objects, which outlive the clone in the parent and are a frozen copy in the child. */
static struct recipe {
    const char *paths[MAX_PATHS + 1];
    int npaths;
    int overlay;
    long workdir_mb, tmp_mb;
    struct { int resource; struct rlimit limit; } rlimits[MAX_RLIMITS];
    int nrlimits;
    int landlock; /* 0: no ruleset */
    uint64_t handled_fs, handled_net, scoped, file_rights;
    size_t ruleset_size;
    struct grant grants[MAX_GRANTS];
    int ngrants;
    const char *seccomp;
    size_t seccomp_len;
    char *argv[MAX_ARGS + 1]; /* exec mode: the runner's program; empty: fork mode */
    char *envp[MAX_ARGS + 1];
} R;

static int last_cap = -1;
static char *title_start; /* this process's argv area (/proc/self/stat), for the runner's title */
static size_t title_len;

/* ---- failure reports: {"error": "..."} on the status pipe, JSON-escaped ---- */

static void put_escaped(char **p, char *end, const char *s) {
    for (; *s && *p < end - 7; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *(*p)++ = '\\';
            *(*p)++ = (char)c;
        } else if (c < 0x20) {
            *p += snprintf(*p, 7, "\\u%04x", c);
        } else {
            *(*p)++ = (char)c;
        }
    }
}

static void write_all(int fd, const char *buf, size_t len) {
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* Reports "worker setup failed: <what> <path>: <strerror(errno)>" and exits. */
static void __attribute__((noreturn)) fail(const char *what, const char *path) {
    int err = errno;
    char buf[4096], *p = buf, *end = buf + sizeof buf - 4;
    p += snprintf(p, 64, "{\"error\": \"worker setup failed: ");
    put_escaped(&p, end, what);
    if (path) {
        *p++ = ' ';
        put_escaped(&p, end, path);
    }
    if (err) {
        put_escaped(&p, end, ": ");
        put_escaped(&p, end, strerror(err));
    }
    memcpy(p, "\"}\n", 3);
    write_all(STATUS, buf, (size_t)(p + 3 - buf));
    _exit(1);
}

#define CHECK(call, what, path) do { if ((call) < 0) fail(what, path); } while (0)

/* ---- the private root (what linux/contain.py calls "private root") ---- */

static void join(char *out, size_t size, const char *a, const char *b) {
    if ((size_t)snprintf(out, size, "%s%s", a, b) >= size) {
        errno = ENAMETOOLONG;
        fail("path", b);
    }
}

static void mount_or_fail(const char *source, const char *target, const char *fstype,
                          unsigned long flags, const char *data) {
    char what[PATH_MAX + 16];
    if (mount(source, target, fstype, flags, data) < 0) {
        snprintf(what, sizeof what, source ? "mount %s on" : "remount", source);
        fail(what, target);
    }
}

/* mkdir -p, like os.makedirs(path, exist_ok=True). */
static void make_dirs(const char *path) {
    char buf[PATH_MAX];
    join(buf, sizeof buf, "", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) < 0 && errno != EEXIST)
            fail("mkdir", buf);
        *p = '/';
    }
    if (mkdir(buf, 0777) < 0 && errno != EEXIST)
        fail("mkdir", buf);
}

static void create_file(const char *path, const char *data, int exclusive) {
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC), 0666);
    if (fd < 0)
        fail("create", path);
    if (data)
        write_all(fd, data, strlen(data));
    close(fd);
}

/* Bind-mounts source and remounts it with `flags` plus the flags the kernel locks on mounts a
 * user namespace inherits (a read-only remount must repeat them or it fails with EPERM). */
static void bind(const char *source, const char *target, unsigned long flags) {
    static const struct { unsigned long st, ms; } locked[] = {
        {ST_NOSUID, MS_NOSUID}, {ST_NODEV, MS_NODEV}, {ST_NOEXEC, MS_NOEXEC},
        {ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
    };
    struct statvfs st;
    mount_or_fail(source, target, NULL, MS_BIND, NULL);
    CHECK(statvfs(source, &st), "statvfs", source);
    flags |= MS_REMOUNT | MS_BIND;
    for (size_t i = 0; i < sizeof locked / sizeof *locked; i++)
        if (st.f_flag & locked[i].st)
            flags |= locked[i].ms;
    mount_or_fail(NULL, target, NULL, flags, NULL);
}

/* A lower-only (hence read-only) overlay of source; overlayfs wants two lower layers. */
static void overlay(const char *source, const char *target, const char *empty) {
    char data[PATH_MAX * 2 + 32], *p = data, *end = data + sizeof data - 2;
    p += snprintf(p, 16, "lowerdir=");
    for (const char *pair[] = {source, empty}, **s = pair; s < pair + 2; s++) {
        if (s != pair)
            *p++ = ':';
        for (const char *c = *s; *c && p < end - 2; c++) {
            if (*c == '\\' || *c == ':' || *c == ',')
                *p++ = '\\';
            *p++ = *c;
        }
    }
    *p = 0;
    mount_or_fail("overlay", target, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, data);
}

/* Recreates path under NEW_ROOT: symlinks as symlinks (merged /usr), directories as a
 * read-only overlay or bind, files bound; what this host lacks is skipped. */
static void mirror(const char *path) {
    char target[PATH_MAX], parent[PATH_MAX], link[PATH_MAX];
    struct stat st;
    join(target, sizeof target, NEW_ROOT, path);
    join(parent, sizeof parent, "", target);
    char *slash = strrchr(parent, '/');
    if (slash && slash > parent + strlen(NEW_ROOT)) {
        *slash = 0;
        make_dirs(parent);
    }
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(path, link, sizeof link - 1);
        CHECK(n, "readlink", path);
        link[n] = 0;
        CHECK(symlink(link, target), "symlink", target);
    } else if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            make_dirs(target);
            if (R.overlay)
                overlay(path, target, NEW_ROOT EMPTY_LOWER);
            else
                bind(path, target, MS_RDONLY | MS_NOSUID | MS_NODEV);
        } else {
            create_file(target, NULL, 1);
            bind(path, target, MS_RDONLY | MS_NOSUID | MS_NODEV);
        }
    }
}

static void populate_etc(void) {
    static const char *files[][2] = {
        {"passwd", "root:x:0:0::/:/bin/false\nsandbox:x:1000:1000::" WORKDIR ":/bin/false\n"},
        {"group", "root:x:0:\nsandbox:x:1000:\n"},
        {"hostname", "sandbox\n"},
        {"hosts", "127.0.0.1 localhost sandbox\n"},
    };
    char path[64];
    make_dirs(NEW_ROOT "/etc");
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, NEW_ROOT "/etc/%s", files[i][0]);
        create_file(path, files[i][1], 0);
    }
}

static void populate_dev(void) {
    static const char *devices[] = {"null", "zero", "full", "random", "urandom"};
    static const char *links[][2] = {
        {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
        {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
    };
    const char *dev = NEW_ROOT "/dev";
    char target[64], source[32];
    CHECK(mkdir(dev, 0777), "mkdir", dev);
    mount_or_fail("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755");
    for (size_t i = 0; i < sizeof devices / sizeof *devices; i++) {
        snprintf(target, sizeof target, "%s/%s", dev, devices[i]);
        snprintf(source, sizeof source, "/dev/%s", devices[i]);
        create_file(target, NULL, 1);
        /* The device nodes stay usable (no nodev) but nothing on them is setuid or executable. */
        bind(source, target, MS_NOSUID | MS_NOEXEC);
    }
    for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
        snprintf(target, sizeof target, "%s/%s", dev, links[i][0]);
        CHECK(symlink(links[i][1], target), "symlink", target);
    }
    CHECK(mkdir(NEW_ROOT "/dev/shm", 0777), "mkdir", NEW_ROOT "/dev/shm");
    mount_or_fail("tmpfs", NEW_ROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=16m,mode=700,uid=1000,gid=1000");
    mount_or_fail(NULL, dev, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL);
}

/* The private root: a tmpfs with read-only views of what the interpreter needs, /dev, /etc,
 * /proc and the run's two writable tmpfs, pivoted into. pid 1 holds every capability of its
 * own user namespace here (dropped right after). */
static void build_root(void) {
    char data[96];
    mount_or_fail(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    mount_or_fail("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755");
    /* An overlay keeps its own clone of each layer's mount, so this stays empty underneath. */
    CHECK(mkdir(NEW_ROOT EMPTY_LOWER, 0777), "mkdir", NEW_ROOT EMPTY_LOWER);
    for (int i = 0; i < R.npaths; i++)
        mirror(R.paths[i]);
    populate_etc();
    populate_dev();
    /* proc must be mounted while the host's /proc is still in this namespace: the kernel only
     * lets a user namespace mount proc where a fully visible one already exists. */
    mount_or_fail("proc", NEW_ROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    make_dirs(NEW_ROOT WORKDIR);
    snprintf(data, sizeof data, "size=%ldm,mode=700,uid=1000,gid=1000", R.workdir_mb);
    mount_or_fail("tmpfs", NEW_ROOT WORKDIR, "tmpfs", MS_NOSUID | MS_NODEV, data);
    make_dirs(NEW_ROOT "/tmp");
    snprintf(data, sizeof data, "size=%ldm,mode=1777,uid=1000,gid=1000", R.tmp_mb);
    mount_or_fail("tmpfs", NEW_ROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, data);
    CHECK(mkdir(NEW_ROOT "/.oldroot", 0777), "mkdir", NEW_ROOT "/.oldroot");
    CHECK(syscall(SYS_pivot_root, NEW_ROOT, NEW_ROOT "/.oldroot"), "pivot_root", NEW_ROOT);
    CHECK(chdir("/"), "chdir", "/");
    CHECK(umount2("/.oldroot", MNT_DETACH), "umount", "/.oldroot");
    CHECK(rmdir("/.oldroot"), "rmdir", "/.oldroot");
    mount_or_fail(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
}

/* ---- privileges, Landlock, seccomp ---- */

/* Creating a user namespace gave pid 1 every capability in it, and a non-zero uid there does
 * not clear them (its host uid is unmapped): every set is emptied explicitly. */
static void drop_privileges(void) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    for (int cap = 0; cap <= last_cap; cap++)
        CHECK(prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "prctl(PR_CAPBSET_DROP)", NULL);
    CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT)", NULL);
    /* No root privilege rules and no capability fix-ups on uid changes, both locked; keep_caps
     * off and locked. */
    CHECK(prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP
                | SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED, 0, 0, 0),
          "prctl(PR_SET_SECUREBITS)", NULL);
    CHECK(syscall(SYS_capset, &header, data), "capset", NULL);
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)", NULL);
}

struct landlock_ruleset_attr_v6 {
    uint64_t handled_access_fs, handled_access_net, scoped;
};

struct __attribute__((packed)) landlock_path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
};

static void restrict_landlock(void) {
    struct landlock_ruleset_attr_v6 attr = {R.handled_fs, R.handled_net, R.scoped};
    struct stat st;
    long ruleset = syscall(SYS_landlock_create_ruleset, &attr, R.ruleset_size, 0);
    CHECK(ruleset, "landlock_create_ruleset", NULL);
    for (int i = 0; i < R.ngrants; i++) {
        int fd = open(R.grants[i].path, O_PATH | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT)
                continue; /* not on this host: nothing to grant */
            fail("landlock_add_rule", R.grants[i].path);
        }
        CHECK(fstat(fd, &st), "fstat", R.grants[i].path);
        struct landlock_path_beneath rule = {R.grants[i].rights & R.handled_fs, fd};
        if (!S_ISDIR(st.st_mode))
            rule.allowed_access &= R.file_rights;
        CHECK(syscall(SYS_landlock_add_rule, (int)ruleset, 1 /* RULE_PATH_BENEATH */, &rule, 0),
              "landlock_add_rule", R.grants[i].path);
        close(fd);
    }
    CHECK(syscall(SYS_landlock_restrict_self, (int)ruleset, 0), "landlock_restrict_self", NULL);
    close((int)ruleset);
}

/* Loads a seccomp program (whole sock_filter instructions) with a listener for its
 * SECCOMP_RET_USER_NOTIF answers; returns the listener (close-on-exec). No TSYNC and no logging
 * flags: what libseccomp's own load does with our filters' attributes. */
static int load_seccomp(const char *program, size_t len) {
    struct sock_fprog prog = {(unsigned short)(len / sizeof(struct sock_filter)),
                              (struct sock_filter *)program};
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

/* ---- pid 1's supervision of the forked runner (runners/init.py's `main`, in C) ---- */

static int wake_w = -1;

static void on_sigchld(int sig) {
    int saved = errno;
    (void)sig;
    (void)!write(wake_w, "c", 1);
    errno = saved;
}

static void report(const char *line, int len) {
    write_all(STATUS, line, (size_t)len);
}

/* Reaps every exited child (orphans of the run land here); 1 once the runner is among them. */
static int reap(pid_t runner, int *status) {
    int found = 0, st;
    pid_t child;
    while ((child = waitpid(-1, &st, WNOHANG)) > 0)
        if (child == runner) {
            *status = st;
            found = 1;
        }
    return found;
}

/* Until the runner is reaped, or there is no child left to wait for. */
static void wait_for(pid_t runner) {
    pid_t child;
    while ((child = waitpid(-1, NULL, 0)) != runner)
        if (child < 0 && errno != EINTR)
            return;
}

/* Waits for the runner to end, reaping orphans; on a seccomp notification kills the run and
 * reports the call; when the daemon's end of the status pipe goes away (POLLERR), ends the run
 * at once, since nobody is left to enforce its limits. Never returns. */
static void __attribute__((noreturn)) supervise(pid_t runner, int listener) {
    char line[160];
    int status = 0, pipe_fds[2], null;
    struct sigaction sa;
    close(CTL);  /* the runner's */
    close(EXIT); /* the runner's: its EOF means the runner and whatever it started are gone */
    /* No process of the run may open pid 1's descriptors through /proc/1/fd. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        fail("prctl(PR_SET_DUMPABLE, 0)", NULL);
    /* pid 1 gets only the signals it handles from inside its namespace. It inherited the fork
     * server's Python handler for SIGINT: ignored instead. SIGCHLD is the only one handled. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    if (pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) < 0)
        fail("pipe2", NULL);
    wake_w = pipe_fds[1];
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    /* Only the runner may hold the run's pipes, so their EOF means the run's output ended. */
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3 && null >= 0; fd++)
        dup2(null, fd);
    if (null > 2)
        close(null);
    struct pollfd fds[3] = {
        {pipe_fds[0], POLLIN, 0}, {STATUS, 0, 0}, {listener, POLLIN, 0},
    };
    for (;;) {
        if (reap(runner, &status))
            break;
        if (poll(fds, listener >= 0 ? 3 : 2, -1) < 0)
            continue; /* EINTR: the SIGCHLD, reaped above */
        if (fds[1].revents) {
            kill(-1, SIGKILL);
            _exit(1);
        }
        if (listener >= 0 && fds[2].revents) {
            struct seccomp_notif req;
            memset(&req, 0, sizeof req);
            int known = ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) == 0;
            kill(-1, SIGKILL);
            wait_for(runner);
            int n = known
                ? snprintf(line, sizeof line, "{\"signal\": %d, \"violation\": {\"nr\": %d, \"arch\": %u, "
                           "\"pid\": %u}}\n", SIGSYS, req.data.nr, req.data.arch, req.pid)
                : snprintf(line, sizeof line, "{\"signal\": %d, \"violation\": {\"nr\": null, "
                           "\"arch\": null, \"pid\": null}}\n", SIGSYS);
            report(line, n);
            _exit(0);
        }
        char drain[64];
        while (read(pipe_fds[0], drain, sizeof drain) > 0)
            ;
    }
    int n = WIFSIGNALED(status) ? snprintf(line, sizeof line, "{\"signal\": %d}\n", WTERMSIG(status))
                                : snprintf(line, sizeof line, "{\"exit_code\": %d}\n", WEXITSTATUS(status));
    report(line, n);
    _exit(0);
}

/* ---- the recipe, top to bottom ---- */

/* Closes every fd from `first` on. */
static void close_from(int first) {
    if (syscall(SYS_close_range, first, ~0U, 0) < 0)
        for (int fd = first; fd < 65536; fd++)
            close(fd);
}

static void place_fds(const int *fds) {
    int high[WORKER_FDS];
    for (int i = 0; i < WORKER_FDS; i++)
        if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64)) < 0)
            _exit(1);
    for (int i = 0; i < WORKER_FDS; i++)
        if (dup2(high[i], i) < 0)
            _exit(1);
    close_from(WORKER_FDS);
}

/* The runner's /proc/<pid>/cmdline would otherwise show the fork server's: where the daemon is
 * installed and its module directories. */
static void set_title(void) {
    static const char title[] = "python3";
    if (title_len <= sizeof title)
        return;
    memset(title_start, 0, title_len);
    memcpy(title_start, title, sizeof title - 1);
}

/* The exec-mode runner, just forked: a fresh process's signal dispositions and mask (nothing
 * the fork server ignored carries over, and an ignored disposition would survive the exec),
 * then the runner's program. */
static void __attribute__((noreturn)) exec_runner(void) {
    struct sigaction sa;
    sigset_t none;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &sa, NULL); /* EINVAL for SIGKILL, SIGSTOP and libc's own: left as they are */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(R.argv[0], R.argv, R.envp);
    fail("execve", R.argv[0]);
}

/* pid 1, in clone3's child: every step of linux/contain.py's recipe after the clone, then the
 * runner forked and supervised. Returns only in a fork-mode runner; pid 1 itself exits. */
static void become_init(const int *fds) {
    struct sigaction sa;
    char released;
    ssize_t got;
    place_fds(fds);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL); /* the fork server ignores it; pid 1 must wait for its runner */
    set_title();
    setsid();
    do
        got = read(RELEASE, &released, 1);
    while (got < 0 && errno == EINTR);
    close(RELEASE);
    if (got != 1)
        _exit(1); /* the fork server could not admit it and is killing it */
    CHECK(unshare(CLONE_NEWCGROUP), "unshare", "(cgroup namespace)");
    CHECK(setresgid(INNER_ID, INNER_ID, INNER_ID), "setresgid", NULL);
    CHECK(setresuid(INNER_ID, INNER_ID, INNER_ID), "setresuid", NULL);
    /* Changing uid made it non-dumpable, which hands /proc/self to root: take it back. */
    CHECK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE, 1)", NULL);
    build_root();
    CHECK(sethostname("sandbox", 7), "sethostname", NULL);
    CHECK(setdomainname("sandbox", 7), "setdomainname", NULL);
    for (int i = 0; i < R.nrlimits; i++)
        CHECK(setrlimit(R.rlimits[i].resource, &R.rlimits[i].limit), "setrlimit", NULL);
    umask(077);
    CHECK(chdir(WORKDIR), "chdir", WORKDIR);
    drop_privileges();
    if (R.landlock)
        restrict_landlock();
    int listener = -1;
    if (R.seccomp_len) {
        listener = load_seccomp(R.seccomp, R.seccomp_len);
        CHECK(listener, "seccomp", NULL);
        if (listener != NOTIFY) {
            CHECK(dup3(listener, NOTIFY, O_CLOEXEC), "dup3", "(seccomp listener)");
            close(listener);
            listener = NOTIFY;
        }
    }
    pid_t runner = fork();
    if (runner < 0)
        fail("fork", "(runner)");
    if (runner > 0)
        supervise(runner, listener);
    close_from(NOTIFY); /* the runner holds fds 0..5 only: the listener is pid 1's alone */
    if (R.argv[0])
        exec_runner();
}

/* ---- from Python ---- */

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* A str without NUL bytes, as UTF-8 owned by `obj`. */
static const char *c_string(PyObject *obj, const char *what) {
    Py_ssize_t size;
    const char *s = PyUnicode_Check(obj) ? PyUnicode_AsUTF8AndSize(obj, &size) : NULL;
    if (!s) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "%s: expected str", what);
        return NULL;
    }
    if ((Py_ssize_t)strlen(s) != size) {
        PyErr_Format(PyExc_ValueError, "%s: embedded NUL byte", what);
        return NULL;
    }
    return s;
}

static int c_strings(PyObject *list, const char **out, int max, const char *what) {
    if (!PyList_Check(list) || PyList_GET_SIZE(list) > max) {
        PyErr_Format(PyExc_ValueError, "%s: expected a list of at most %d str", what, max);
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(list);
    for (Py_ssize_t i = 0; i < n; i++)
        if (!(out[i] = c_string(PyList_GET_ITEM(list, i), what)))
            return -1;
    out[n] = NULL;
    return (int)n;
}

static int read_recipe(PyObject *paths, int overlay_on, long workdir_mb, long tmp_mb, PyObject *rlimits,
                       PyObject *landlock, PyObject *grants, Py_buffer *seccomp, PyObject *argv,
                       PyObject *env) {
    static const char *scratch[MAX_ARGS + 1];
    memset(&R, 0, sizeof R);
    if ((R.npaths = c_strings(paths, R.paths, MAX_PATHS, "readonly_paths")) < 0)
        return -1;
    R.overlay = overlay_on;
    R.workdir_mb = workdir_mb;
    R.tmp_mb = tmp_mb;
    if (!PyList_Check(rlimits) || PyList_GET_SIZE(rlimits) > MAX_RLIMITS) {
        PyErr_SetString(PyExc_ValueError, "rlimits: expected a list of (resource, soft, hard)");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(rlimits); i++) {
        unsigned long long soft, hard;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(rlimits, i), "iKK", &R.rlimits[i].resource, &soft, &hard))
            return -1;
        R.rlimits[i].limit.rlim_cur = soft;
        R.rlimits[i].limit.rlim_max = hard;
        R.nrlimits++;
    }
    if (landlock != Py_None) {
        unsigned long long fs, net, scoped, file_rights;
        Py_ssize_t size;
        if (!PyArg_ParseTuple(landlock, "KKKnK", &fs, &net, &scoped, &size, &file_rights))
            return -1;
        if (size < 8 || size > (Py_ssize_t)sizeof(struct landlock_ruleset_attr_v6)) {
            PyErr_SetString(PyExc_ValueError, "landlock: ruleset size out of range");
            return -1;
        }
        R.landlock = 1;
        R.handled_fs = fs;
        R.handled_net = net;
        R.scoped = scoped;
        R.ruleset_size = (size_t)size;
        R.file_rights = file_rights;
    }
    if (!PyList_Check(grants) || PyList_GET_SIZE(grants) > MAX_GRANTS) {
        PyErr_Format(PyExc_ValueError, "grants: expected a list of at most %d (path, rights)", MAX_GRANTS);
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(grants); i++) {
        PyObject *path;
        unsigned long long rights;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(grants, i), "UK", &path, &rights)
            || !(R.grants[i].path = c_string(path, "grants")))
            return -1;
        R.grants[i].rights = rights;
        R.ngrants++;
    }
    if (seccomp->len % (Py_ssize_t)sizeof(struct sock_filter)
        || seccomp->len / (Py_ssize_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
        PyErr_SetString(PyExc_ValueError, "seccomp: not a BPF program of at most 4096 instructions");
        return -1;
    }
    R.seccomp = seccomp->buf;
    R.seccomp_len = (size_t)seccomp->len;
    if (c_strings(argv, scratch, MAX_ARGS, "argv") < 0)
        return -1;
    memcpy(R.argv, scratch, sizeof scratch);
    if (c_strings(env, scratch, MAX_ARGS, "env") < 0)
        return -1;
    memcpy(R.envp, scratch, sizeof scratch);
    return 0;
}

PyDoc_STRVAR(spawn_doc,
"spawn(namespaces, fds, readonly_paths, overlay, workdir_mb, tmp_mb, rlimits, landlock, grants,\n"
"      seccomp, argv, env) -> (pid, pidfd)\n\n"
"clone3 into `namespaces` (CLONE_* flags) with `fds` (7: the worker's six pipe ends and the\n"
"release pipe) as the child's 0..6. The child becomes the worker's pid 1 and waits for one\n"
"byte on the release pipe before it builds the sandbox. `rlimits`: [(RLIMIT_*, soft, hard)];\n"
"`landlock`: None or (handled_fs, handled_net, scoped, ruleset_attr_size, file_rights);\n"
"`grants`: [(path, rights)]; `seccomp`: the compiled program (b\"\": none); `argv`, `env`\n"
"(\"KEY=value\"): the program the runner execs, or [] for fork mode.\n\n"
"Returns (pid, pidfd) in the caller, and (0, -1) in the fork-mode runner, which pid 1 forked\n"
"once the sandbox was built: the runner goes on in Python, pid 1 never does.");

static PyObject *spawn(PyObject *self, PyObject *args) {
    unsigned long long namespaces;
    int fds[WORKER_FDS], overlay_on;
    long workdir_mb, tmp_mb;
    PyObject *paths, *rlimits, *landlock, *grants, *argv, *env;
    Py_buffer seccomp;
    (void)self;
    if (!PyArg_ParseTuple(args, "K(iiiiiii)O!pllO!OO!y*O!O!", &namespaces, &fds[0], &fds[1], &fds[2],
                          &fds[3], &fds[4], &fds[5], &fds[6], &PyList_Type, &paths, &overlay_on,
                          &workdir_mb, &tmp_mb, &PyList_Type, &rlimits, &landlock, &PyList_Type,
                          &grants, &seccomp, &PyList_Type, &argv, &PyList_Type, &env))
        return NULL;
    if (read_recipe(paths, overlay_on, workdir_mb, tmp_mb, rlimits, landlock, grants, &seccomp, argv,
                    env) < 0) {
        PyBuffer_Release(&seccomp);
        return NULL;
    }
    int pidfd = -1;
    struct clone_args_v0 cl = {.flags = namespaces | CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&pidfd,
                               .exit_signal = SIGCHLD};
    PyOS_BeforeFork();
    long pid = syscall(SYS_clone3, &cl, sizeof cl);
    if (pid == 0) {
        become_init(fds);
        PyOS_AfterFork_Child(); /* the runner: the interpreter's own after-fork work */
        PyBuffer_Release(&seccomp);
        return Py_BuildValue("(ii)", 0, -1);
    }
    int err = errno;
    PyOS_AfterFork_Parent();
    PyBuffer_Release(&seccomp);
    if (pid < 0) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("(li)", pid, pidfd);
}

PyDoc_STRVAR(install_seccomp_doc,
"install_seccomp(program) -> listener fd\n\n"
"Loads `program` in the calling process as pid 1 does (no_new_privs must be set).");

static PyObject *install_seccomp(PyObject *self, PyObject *args) {
    Py_buffer program;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &program))
        return NULL;
    int fd = load_seccomp(program.buf, (size_t)program.len);
    PyBuffer_Release(&program);
    if (fd < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromLong(fd);
}

static int read_text(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, size - 1);
    if (fd >= 0)
        close(fd);
    if (n <= 0) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        return -1;
    }
    buf[n] = 0;
    return 0;
}

/* Read once, in the fork server: the highest capability number, and where the kernel finds
 * this process's command line (fields 48 and 49 of /proc/self/stat), which every worker
 * inherits. */
static int learn_host(void) {
    char buf[2048];
    unsigned long start = 0, end = 0;
    if (read_text("/proc/sys/kernel/cap_last_cap", buf, sizeof buf) < 0)
        return -1;
    last_cap = atoi(buf);
    if (read_text("/proc/self/stat", buf, sizeof buf) < 0)
        return -1;
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 48; field++) /* to the space before field 48, arg_start */
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p, " %lu %lu", &start, &end) != 2 || end <= start) {
        PyErr_SetString(PyExc_OSError, "/proc/self/stat: no arg_start/arg_end");
        return -1;
    }
    title_start = (char *)(uintptr_t)start;
    title_len = end - start;
    return 0;
}

static PyMethodDef methods[] = {
    {"spawn", spawn, METH_VARARGS, spawn_doc},
    {"install_seccomp", install_seccomp, METH_VARARGS, install_seccomp_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sandboxd.linux.pid1",
    "A worker's pid 1 in C: clone3, the sandbox's set-up, and the fork-mode runner's supervision.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_pid1(void) {
    if (learn_host() < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "INNER_UID", INNER_ID) < 0
              || PyModule_AddIntConstant(m, "INNER_GID", INNER_ID) < 0
              || PyModule_AddIntConstant(m, "STATUS_FD", STATUS) < 0
              || PyModule_AddStringConstant(m, "WORKDIR", WORKDIR) < 0
              || PyModule_AddIntConstant(m, "MAX_PATHS", MAX_PATHS) < 0
              || PyModule_AddIntConstant(m, "MAX_GRANTS", MAX_GRANTS) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
