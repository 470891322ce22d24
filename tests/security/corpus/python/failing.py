# An ordinary program may fail: its traceback must reach stderr and the run still be "ok".
import sys
import warnings

warnings.warn("careful", stacklevel=1)
print("CORPUS-OK")
sys.stdout.flush()
raise ValueError("expected failure")
