"""``python -m core.bench``: the benchmark harness on DeepSeek-R1-Distill-Qwen-1.5B's shape (``core.bench.cli``)."""

import sys

from core.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
