# What programs commonly ask the system: time, ids, limits, resources, platform, randomness.
import datetime
import getpass
import locale
import os
import platform
import random
import resource
import secrets
import socket
import sys
import time
import uuid

print(datetime.datetime.now(), datetime.datetime.now(datetime.UTC), time.monotonic(), time.process_time())
print(os.getpid(), os.getppid(), os.getuid(), os.getgid(), os.geteuid(), os.getgroups())
print(getpass.getuser(), os.cpu_count(), os.sched_getaffinity(0), platform.platform(), sys.version)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrlimit(resource.RLIMIT_NOFILE))
print(socket.gethostname(), os.uname().nodename, locale.getpreferredencoding())
print(random.random(), secrets.token_hex(8), uuid.uuid4(), os.urandom(4).hex())
print(os.environ.get("HOME"), os.environ.get("PATH"), os.get_terminal_size(0) if os.isatty(0) else "no tty")
print(sys.stdin.read())
print(os.times(), os.getloadavg() if os.path.exists("/proc/loadavg") else None)
print("CORPUS-OK")
