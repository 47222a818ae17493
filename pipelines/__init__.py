"""weblog: web-access log analytics with privacy-limited retention (see README.md)."""
import os

# NumPy's OpenBLAS starts a thread per core when NumPy is imported, and they spin for a
# while: ~0.1 CPU-s of every weblog command, on a machine whose cores the command needs.
# weblog does no linear algebra. Set before anything imports NumPy; a value the user set
# wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
