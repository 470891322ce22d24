"""sandboxd: a daemon that runs untrusted code in warm, single-use, kernel-isolated workers."""

__version__ = "0.1.0"
