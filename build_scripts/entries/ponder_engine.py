"""The bundle's engine program, ``ponder-engine``: ``python -m core.server`` frozen (never Qt in here).

It runs eager: ``torch.compile`` needs a C++ compiler (CPU) or triton (GPU) at run time, which end-user
machines rarely have, so TorchDynamo is switched off before torch is imported.

Once the server has shut down cleanly the process ends at once (``core.server.__main__.exit_now``).
"""

import multiprocessing
import os
import sys


def main() -> int:
    multiprocessing.freeze_support()
    from core.frozen import guard_streams

    guard_streams()
    os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
    from core.frozen import PRECISION_RUN_FLAG

    if sys.argv[1:2] == [PRECISION_RUN_FLAG]:  # a benchmark child (core.bench.suite.precision_run_command)
        from core.bench.precision_run import main as run_precision

        return run_precision(sys.argv[2:])
    from core.server.__main__ import main as serve

    return serve(sys.argv[1:])


if __name__ == "__main__":
    from core.server.__main__ import exit_now

    exit_now(main())
