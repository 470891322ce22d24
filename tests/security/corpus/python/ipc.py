# Local IPC a well-behaved program may use: pipes, socketpairs, unix sockets, select, mmap.
import mmap
import os
import select
import selectors
import socket
import threading

r, w = os.pipe()
os.write(w, b"ping")
assert select.select([r], [], [], 1)[0] == [r]
assert os.read(r, 4) == b"ping"
a, b = socket.socketpair()
a.sendall(b"pong")
assert b.recv(4) == b"pong"
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind("sock")
srv.listen(1)
sel = selectors.DefaultSelector()
sel.register(srv, selectors.EVENT_READ)


def client():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect("sock")
    c.sendall(b"unix")
    c.close()


t = threading.Thread(target=client)
t.start()
assert sel.select(timeout=5)
conn, _ = srv.accept()
assert conn.recv(4) == b"unix"
t.join()
m = mmap.mmap(-1, 1 << 20)
m[:5] = b"hello"
assert m[:5] == b"hello"
with open("map.bin", "wb") as f:
    f.write(b"\0" * 4096)
with open("map.bin", "r+b") as f:
    mm = mmap.mmap(f.fileno(), 0)
    mm[0:3] = b"abc"
    mm.flush()
print("CORPUS-OK")
