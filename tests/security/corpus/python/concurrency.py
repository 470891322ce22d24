# Threads, a process pool, asyncio, subprocess, queues, locks, events and signals.
import asyncio
import concurrent.futures
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time


def square(x):
    return x * x


results = []
lock = threading.Lock()


def work(n):
    with lock:
        results.append(n)


threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert sorted(results) == list(range(8))
with concurrent.futures.ThreadPoolExecutor(4) as ex:
    assert list(ex.map(square, range(10)))[-1] == 81
with multiprocessing.Pool(2) as pool:
    assert pool.map(square, range(10))[-1] == 81
q = multiprocessing.Queue()
p = multiprocessing.Process(target=q.put, args=("hi",))
p.start()
assert q.get(timeout=10) == "hi"
p.join()


async def tick(n):
    await asyncio.sleep(0.01)
    return n


async def main():
    return await asyncio.gather(*(tick(i) for i in range(5)))


assert asyncio.run(main()) == [0, 1, 2, 3, 4]
out = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True, check=True)
assert out.stdout == "42\n"
got = []
signal.signal(signal.SIGALRM, lambda *_: got.append(1))
signal.setitimer(signal.ITIMER_REAL, 0.01)
time.sleep(0.2)
assert got == [1]
pid = os.fork()
if pid == 0:
    os._exit(3)
assert os.waitpid(pid, 0)[1] >> 8 == 3
print("CORPUS-OK")
