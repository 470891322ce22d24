import platform
import sys

print(f"hello from Python {platform.python_version()} in the sandbox")
print("this goes to stderr", file=sys.stderr)
