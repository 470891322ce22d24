# File work in the working directory and /tmp: create, append, rename, list, stat, remove, glob.
import glob
import os
import pathlib
import shutil
import tempfile

os.makedirs("data/sub", exist_ok=True)
pathlib.Path("data/a.txt").write_text("alpha\n")
with open("data/a.txt", "a") as f:
    f.write("beta\n")
shutil.copy("data/a.txt", "data/sub/b.txt")
os.rename("data/sub/b.txt", "data/sub/c.txt")
assert sorted(glob.glob("data/**/*.txt", recursive=True)) == ["data/a.txt", "data/sub/c.txt"]
assert os.stat("data/a.txt").st_size == 11
assert sum(len(files) for _, _, files in os.walk("data")) == 2
with tempfile.TemporaryDirectory() as d:
    p = os.path.join(d, "t.bin")
    with open(p, "wb") as f:
        f.write(os.urandom(4096))
        f.flush()
        os.fsync(f.fileno())
    os.truncate(p, 100)
    assert os.path.getsize(p) == 100
with tempfile.NamedTemporaryFile("w+") as f:
    f.write("x")
    f.seek(0)
    assert f.read() == "x"
os.symlink("a.txt", "data/link")
assert os.readlink("data/link") == "a.txt"
os.chmod("data/a.txt", 0o600)
os.utime("data/a.txt")
shutil.rmtree("data")
assert not os.path.exists("data")
print(os.getcwd(), os.listdir("."))
print("CORPUS-OK")
