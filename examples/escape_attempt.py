import os
import socket

for path in ("/etc/shadow", "/root", "/home", "/proc/1/cmdline"):
    try:
        if os.path.isdir(path):
            print(path, "->", os.listdir(path))
        else:
            with open(path, "rb") as f:
                print(path, "->", [part for part in f.read(200).split(b"\0") if part])
    except OSError as exc:
        print(path, "->", type(exc).__name__, exc.strerror)
print("processes visible:", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
try:
    socket.create_connection(("1.1.1.1", 53), timeout=1)
    print("network: connected")
except OSError as exc:
    print("network:", exc)
print("uid inside:", os.getuid())
