# A worker's Python runner, and on macOS its pid 1.
#
# On Linux, pid 1 is C (linux/pid1.c): it builds the sandbox, forks the runner and supervises
# it. A fork-mode runner comes back into Python from there and enters `become_runner`; an
# exec-mode Python runner is this file started as `python3 -I -c <this file> runner`. On macOS
# (backend/macos.py), this file is pid 1, the first program inside sandbox-exec, started as
# `python3 -I [-S] -c <this file> MODE [ARGV]`: MODE "python" forks a Python runner, MODE
# "spawn" forks and execs ARGV (e.g. the Node runner), and `main` supervises it. macOS has no
# pid namespace, prctl or seccomp.
#
# The runner pre-warms, says "ready" on the status pipe, closes it, and blocks reading the run
# from the control pipe; nothing is forked or started when a run arrives. When the runner
# ends, pid 1 reports its exit status and exits, and whatever else the run left behind is
# killed (on Linux by the kernel, with the pid namespace).
#
# A run arrives on the control pipe, read by the runner, as a 16-byte limits prefix (CPU
# seconds as a double, file size as u64) followed by its request. The Python runner lowers
# its own limits before any user code runs (lowering needs no privilege). Node cannot set
# rlimits, so on Linux the daemon sets the Node runner's with prlimit before it writes the
# request (backend/linux.py: the root daemon owns the worker's user namespace, so it may,
# whatever its own capabilities), and the Node runner only skips the prefix.
#
# The runner also reports its own exit, ahead of the kernel: once the program has ended (and
# its atexit work and buffered output are done) it writes the exit code, one byte, on the exit
# pipe (fd 5) to the daemon and only then exits. Tearing down the interpreter's address space
# and waking pid 1 take longer than the whole program did for a short run, and the daemon
# needs neither to answer. The byte can come from the program itself, but it can say nothing
# the program could not say by exiting: only an exit code, and the daemon ends the run on it.
# Signals, violations and a runner that dies without writing are still reported by pid 1.
# The runner writes to fd 5 only while it is still the exit pipe (same device and inode), so
# a program that closed it and opened a file there keeps its file intact.
import _signal
import atexit
import gc
import json
import os
import resource
import select
import signal
import struct
import sys

CTL, STATUS, EXIT = 3, 4, 5
LIMITS = struct.Struct(">dQ")
# signal.signal and signal.getsignal wrap _signal's in enum conversions: ~25 first-touch page
# faults a call in a process forked from the zygote, where every page is shared until written.
# Here, in the build and run paths, the C functions are called directly.
_setsignal, _getsignal = _signal.signal, _signal.getsignal


# The status lines (ready, an exit code, a signal) are formatted here, not by the JSON
# encoder: ~35 first-touch page faults less in each worker.
READY = b'{"ready": true}\n'


def report_number(field, value):
    os.write(STATUS, b'{"%s": %d}\n' % (field.encode(), value))


def read_exact(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("control pipe closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_limits(fd):
    return LIMITS.unpack(read_exact(fd, LIMITS.size))


def read_request(fd):
    header = json.loads(read_exact(fd, int.from_bytes(read_exact(fd, 4), "big")))
    code = read_exact(fd, header["code_size"])
    files = [(name, read_exact(fd, size)) for name, size in header["files"]]
    return header, code, files


def write_files(files):
    for name, data in files:
        parent = os.path.dirname(name)
        if parent:
            os.makedirs(parent, exist_ok=True)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)


def prepare_main():
    """What the run's interpreter state does not owe to the request, set before "ready"."""
    # A fork-mode runner inherited the daemon's interpreter path (a venv outside this root):
    # present the base interpreter that is mounted here, so sys.executable can be started.
    sys.executable = sys._base_executable
    sys.prefix, sys.exec_prefix = sys.base_prefix, sys.base_exec_prefix
    sys.path.insert(0, os.getcwd())
    main = type(sys)("__main__")
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    sys.stdout.reconfigure(line_buffering=True)
    return main


def rehearse():
    """Walks the run's own path once on a made-up request, so that its first-touch page faults
    (copy-on-write of pages shared with pid 1 and the zygote: each object a call or attribute
    lookup touches has its reference count written) land here, at build time, and not on the
    run: read the limits and a request from a pipe, apply limits (the ones in force), place a
    file (in /tmp, removed), set the environment, compile, exec and print (stdout and stderr
    pointed at /dev/null meanwhile), and the exit report's check. Only the exit hooks are not
    rehearsed: threading's shut-down can happen once."""
    header = json.dumps({"filename": "main.py", "args": [], "env": {"A": "1"}, "files": [["f", 1]],
                         "code_size": 1}).encode()
    r, w = os.pipe()
    try:
        os.write(w, b"".join([LIMITS.pack(1.0, 1), len(header).to_bytes(4, "big"), header, b"x", b"y"]))
        read_limits(r)
        read_request(r)
    finally:
        os.close(r)
        os.close(w)
    resource.getrusage(resource.RUSAGE_SELF)
    for which in (resource.RLIMIT_CPU, resource.RLIMIT_FSIZE):
        resource.setrlimit(which, resource.getrlimit(which))
    write_files([("/tmp/.sandbox-warm", b"warm")])
    os.unlink("/tmp/.sandbox-warm")
    set_environment(dict(os.environ))
    null = os.open("/dev/null", os.O_WRONLY)
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        scope = {"__name__": "__warm__"}
        exec(compile("squares = [i * i for i in range(64)]\nprint(len(squares))\n", "<warm>", "exec"), scope)
        print("warm", file=sys.stderr)
        flush_stdio()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (null, *saved):
            os.close(fd)
    pipe_identity(EXIT)
    # The runner's own objects (and in fork mode the zygote's) are out of the collector's
    # sight from here on: the user's program pays only for collecting its own objects.
    gc.freeze()


def set_environment(env):
    """os.environ (and the C environment) becomes `env`. Key by key rather than through
    clear() and update(): the MutableMapping methods walk more Python to the same calls."""
    environ = os.environ
    for key in list(environ):
        del environ[key]
    for key, value in env.items():
        environ[key] = value


def limit_self():
    """The run's rlimits, set by the Python runner on itself (see the top of this file)."""
    try:
        cpu_s, fsize = read_limits(CTL)
    except EOFError:
        os._exit(0)  # discarded while idle
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime + cpu_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))


def pipe_identity(fd):
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def report_exit(status, exit_pipe):
    """The exit code on the exit pipe, if fd EXIT still is that pipe (see the top of this file)."""
    try:
        if pipe_identity(EXIT) == exit_pipe:
            os.write(EXIT, bytes([status]))
    except OSError:
        pass  # closed or full of the program's own bytes: pid 1 reports the exit instead


def python_runner():
    exit_pipe = pipe_identity(EXIT)
    main = prepare_main()
    rehearse()
    os.write(STATUS, READY)
    os.close(STATUS)
    limit_self()
    try:
        header, code, files = read_request(CTL)
    except EOFError:
        os._exit(0)
    os.close(CTL)
    filename = header["filename"]
    try:
        # The program is a file too, so tracebacks show its lines and __file__ can be read.
        write_files([(filename, code), *files])
    except OSError as exc:
        os.write(2, f"sandbox: cannot place input file: {exc}\n".encode())
        os._exit(1)
    _setsignal(signal.SIGXFSZ, _signal.SIG_DFL)
    set_environment(header["env"])
    sys.argv = [filename, *header["args"]]
    sys.orig_argv = [sys.executable, filename, *header["args"]]
    main.__file__ = filename
    try:
        exec(compile(code, filename, "exec"), main.__dict__)
        status = 0
    except SystemExit as exc:
        status = exit_status(exc)
    except BaseException as exc:
        # Drop this runner's own frame: the traceback starts in the user's file, as it would
        # under `python3 main.py`. The hook prints the exception's own __traceback__.
        exc.__traceback__ = exc.__traceback__.tb_next if exc.__traceback__ else None
        sys.excepthook(type(exc), exc, exc.__traceback__)
        # CPython ends an uncaught KeyboardInterrupt by SIGINT, as shells expect (exit 130).
        status = -signal.SIGINT if isinstance(exc, KeyboardInterrupt) else 1
    shut_down(status, exit_pipe)


def exit_status(exc):
    """What the interpreter itself would exit with for this SystemExit."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def flush_stdio():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def shut_down(status, exit_pipe):
    """The user-visible part of interpreter shutdown: join threads, atexit, flush; then report
    the exit and exit without unwinding into whatever started this process (the zygote's
    frames, in fork mode). A negative status is a signal to die by, reported by pid 1."""
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()
    atexit._run_exitfuncs()
    flush_stdio()
    if status < 0:
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    report_exit(status, exit_pipe)
    os._exit(status)


def start_runner(mode, argv):
    """Forks the runner and returns its pid. The runner holds fds 0..5 only."""
    pid = os.fork()
    if pid == 0:
        os.closerange(EXIT + 1, 1024)
        become_runner(mode, argv)
    return pid


def become_runner(mode, argv, prepare=None):
    """The runner, just forked by pid 1: this file's `main` (macOS), or a Linux fork-mode
    pid 1 (linux/pid1.c). `prepare` runs first (fork mode: what only the runner's interpreter
    needs, see linux/contain.py). Never returns."""
    restore_signals(mode)
    if prepare is not None:
        prepare()
    if mode == "python":
        python_runner()
    os.execv(argv[0], argv)


_CATCHABLE = tuple(sorted(_signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}))


def restore_signals(mode):
    """The runner starts with a fresh process's signal dispositions (plus what Python itself sets
    up in a Python runner): nothing the daemon or the fork server ignored (SIGINT, SIGQUIT…)
    carries over into the user's program, where an ignored disposition would even survive exec."""
    # Python's table of dispositions is read from the kernel at start-up and kept by
    # signal.signal, so only those it does not know as SIG_DFL need a system call.
    for sig in _CATCHABLE:
        if _getsignal(sig) != _signal.SIG_DFL:
            try:
                _setsignal(sig, _signal.SIG_DFL)
            except (OSError, ValueError):
                pass
    if mode == "python":
        _setsignal(signal.SIGINT, signal.default_int_handler)
        _setsignal(signal.SIGPIPE, _signal.SIG_IGN)


def silence_own_stdio():
    """Only the runner may hold the run's pipes, so their EOF means the run's output ended."""
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def reap(pid):
    """Reaps every exited child (orphans of the run land here); the runner's status once it
    has exited, else None."""
    found = None
    while True:
        try:
            child, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if child == 0:
            return found
        if child == pid:
            found = status


def kill_scope():
    """Whom `os.kill(scope, SIGKILL)` must reach to end the whole run. There is no pid
    namespace on macOS, so -1 would reach every process of the uid (the daemon's own when it
    is not root): only the worker's process group, the session the launcher started; the
    daemon kills the rest by the worker's uid (backend/macos.py)."""
    return -os.getpgrp()


def abandon():
    """The daemon is gone (its end of the status pipe closed): nobody is left to enforce the
    run's limits or read its result, so pid 1 ends the run and itself."""
    os.kill(kill_scope(), signal.SIGKILL)
    os._exit(1)


def wakeup_pipe():
    """A non-blocking close-on-exec pipe (os.pipe is close-on-exec already; macOS has no pipe2)."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w


def supervise(runner):
    """Waits for the runner to end, reaping orphans.

    The daemon holds the only read end of the status pipe: when it goes away (a crash, a
    SIGKILL) the pipe reports an error here, and the run is ended at once rather than left
    running with nobody to enforce its wall-clock timeout."""
    wake_r, wake_w = wakeup_pipe()
    _setsignal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    poller = select.poll()
    poller.register(wake_r, select.POLLIN)
    poller.register(STATUS, 0)  # POLLERR once the reader is gone
    while True:
        status = reap(runner)
        if status is not None:
            return status
        for fd, _ in poller.poll():
            if fd == STATUS:
                abandon()
            try:
                while os.read(wake_r, 64):
                    pass
            except BlockingIOError:
                pass


def main(mode, argv):
    """pid 1 on macOS (see the top of this file)."""
    runner = start_runner(mode, argv)
    os.close(CTL)  # the runner's
    os.close(EXIT)  # the runner's: its EOF means the runner and whatever it started are gone
    # pid 1 handles no signal the run could use to end it early (Python's own SIGINT handler
    # would raise in here).
    _setsignal(signal.SIGINT, _signal.SIG_IGN)
    silence_own_stdio()
    status = supervise(runner)
    if os.WIFSIGNALED(status):
        report_number("signal", os.WTERMSIG(status))
    else:
        report_number("exit_code", os.waitstatus_to_exitcode(status))
    os._exit(0)


if __name__ == "__main__":
    if sys.argv[1] == "runner":  # a Linux exec-mode runner, started by pid 1 (linux/pid1.c)
        python_runner()
    main(sys.argv[1], sys.argv[2:])
