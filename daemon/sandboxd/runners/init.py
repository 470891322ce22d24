# The worker's pid 1, started as `python3 -I -c <this file> MODE [ARGV...]` inside the sandbox.
# MODE "python": pre-warm, wait for a run, fork a child that runs the code as __main__.
# MODE "spawn": start ARGV (a pre-warmed runner such as Node) now, forward the run to it later.
# pid 1 of a pid namespace ignores signals it has no handler for, so the user's program is
# always a child; when it ends, pid 1 reports its status and exits, and the kernel kills
# whatever else the run started.
import json
import os
import resource
import signal
import sys

CTL, STATUS = 3, 4


def report(**fields):
    os.write(STATUS, (json.dumps(fields) + "\n").encode())


def read_exact(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("control pipe closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_request():
    header = json.loads(read_exact(CTL, int.from_bytes(read_exact(CTL, 4), "big")))
    code = read_exact(CTL, header["code_size"])
    files = [(name, read_exact(CTL, size)) for name, size in header["files"]]
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


def cpu_rlimit(seconds, used=0.0):
    soft = int(used + seconds) + 1
    return soft, soft + 1


def warm_python():
    # First-touch page faults of compile/exec/print otherwise land on the first real run.
    scope = {"__name__": "__warm__"}
    exec(compile("squares = [i * i for i in range(64)]\nprint('', end='')\n", "<warm>", "exec"), scope)
    sys.stdout.flush()


def run_python(header, code):
    limits = header["limits"]
    resource.setrlimit(resource.RLIMIT_CPU, cpu_rlimit(limits["cpu_s"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["fsize"], limits["fsize"]))
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(header["env"])
    filename = header["filename"]
    sys.argv = [filename] + header["args"]
    sys.path.insert(0, os.getcwd())
    sys.stdout.reconfigure(line_buffering=True)
    main = type(sys)("__main__")
    main.__file__ = filename
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    try:
        exec(compile(code, filename, "exec"), main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        sys.excepthook(type(exc), exc, tb)
        raise SystemExit(1) from None
    raise SystemExit(0)


def spawn(argv):
    ctl_r, ctl_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(ctl_r, CTL)  # the runner reports "ready" on STATUS itself, then closes it
        os.closerange(STATUS + 1, 1024)
        os.execv(argv[0], argv)
    os.close(ctl_r)
    return pid, ctl_w


def forward(ctl_w, header, code):
    body = json.dumps(header).encode()
    payload = len(body).to_bytes(4, "big") + body + code
    view = memoryview(payload)
    while view:
        view = view[os.write(ctl_w, view):]
    os.close(ctl_w)


def cpu_used(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def silence_own_stdio():
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def wait_for(pid):
    while True:
        try:
            child, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return None
        if child == pid:
            return status


def main():
    mode = sys.argv[1]
    child = ctl_w = None
    if mode == "spawn":
        child, ctl_w = spawn(sys.argv[2:])
    else:
        warm_python()
        report(ready=True)
    try:
        header, code, files = read_request()
    except EOFError:
        os._exit(0)
    os.close(CTL)
    try:
        write_files(files)
    except OSError as exc:
        os.write(2, f"sandbox: cannot place input file: {exc}\n".encode())
        os._exit(1)
    if mode == "spawn":
        limits = header["limits"]
        resource.prlimit(child, resource.RLIMIT_CPU, cpu_rlimit(limits["cpu_s"], cpu_used(child)))
        resource.prlimit(child, resource.RLIMIT_FSIZE, (limits["fsize"], limits["fsize"]))
        forward(ctl_w, header, code)
    else:
        child = os.fork()
        if child == 0:
            os.close(STATUS)
            run_python(header, code)
    silence_own_stdio()
    status = wait_for(child)
    if status is None:
        os._exit(1)
    if os.WIFSIGNALED(status):
        report(signal=os.WTERMSIG(status))
    else:
        report(exit_code=os.waitstatus_to_exitcode(status))
    os._exit(0)


main()
