import os
import sys
from pathlib import Path

# 2-thread OpenBLAS is erratic on these machines; pin it before NumPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

sys.path.insert(0, str(Path(__file__).parent))
