import json
import sys

raw = sys.stdin.read() or '{"users": [{"name": "ada", "age": 36}]}'
data = json.loads(raw)
for user in data.get("users", []):
    user["adult"] = user.get("age", 0) >= 18
print(json.dumps(data, indent=2, sort_keys=True))
