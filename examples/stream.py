import time

for i in range(1, 4):
    print(f"tick {i}", flush=True)
    time.sleep(0.3)
print("done")
