"""Client library and CLI for sandboxd."""
