"""The `mailhub` command line; `main` is the console script."""
from mailhub.cli.main import app, main

__all__ = ["app", "main"]
