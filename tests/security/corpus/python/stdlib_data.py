# Serialization, compression, hashing, databases: the batteries most programs reach for.
import base64
import bz2
import csv
import gzip
import hashlib
import hmac
import io
import json
import lzma
import pickle
import sqlite3
import struct
import zlib

blob = json.dumps({"a": [1, 2, 3], "b": {"c": None}}).encode()
for codec in (zlib, gzip, bz2, lzma):
    assert codec.decompress(codec.compress(blob)) == blob
assert pickle.loads(pickle.dumps({"x": (1, 2)})) == {"x": (1, 2)}
assert hashlib.sha256(blob).hexdigest() and hashlib.blake2b(blob).digest()
assert hmac.compare_digest(hmac.new(b"k", blob, "sha256").digest(), hmac.new(b"k", blob, "sha256").digest())
buf = io.StringIO()
csv.writer(buf).writerows([["a", "b"], [1, 2]])
assert list(csv.reader(io.StringIO(buf.getvalue())))[1] == ["1", "2"]
assert struct.unpack("<I", struct.pack("<I", 7)) == (7,)
assert base64.b64decode(base64.b64encode(blob)) == blob
db = sqlite3.connect(":memory:")
db.execute("create table t (x integer)")
db.executemany("insert into t values (?)", [(i,) for i in range(100)])
assert db.execute("select sum(x) from t").fetchone()[0] == 4950
disk = sqlite3.connect("test.db")
disk.execute("create table t (x)")
disk.execute("insert into t values (1)")
disk.commit()
disk.close()
print("CORPUS-OK")
