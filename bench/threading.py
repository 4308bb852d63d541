"""`python bench/threading.py CORPUS`: the threading benchmark (the code is in thread_corpus.py).

Python puts this folder first on sys.path for every script in it, so this file is also what
they get for `import threading`. In that case it hands over the standard library's module."""
import importlib.util
import os
import sys

if __name__ == "__main__":
    from thread_corpus import main

    main()
else:
    _path = os.path.join(os.path.dirname(os.__file__), "threading.py")
    _spec = importlib.util.spec_from_file_location("threading", _path)
    assert _spec is not None and _spec.loader is not None
    _real = importlib.util.module_from_spec(_spec)
    sys.modules["threading"] = _real
    _spec.loader.exec_module(_real)
