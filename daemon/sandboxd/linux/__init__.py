"""Linux kernel concerns, one module each; `contain` is the recipe that applies them in order."""
