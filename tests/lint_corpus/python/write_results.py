import os
from pathlib import Path

os.makedirs("results", exist_ok=True)
with open(os.path.join("results", "squares.txt"), "w") as fh:
    for i in range(10):
        fh.write(f"{i} {i * i}\n")
Path("results/summary.txt").write_text("done\n")
print(Path("results/summary.txt").read_text().strip(), sorted(os.listdir("results")))
