"""The bundle's engine program, ``ponder-engine``: the engine server and the ``ponder`` command line, frozen
(never Qt in here).

- options (``--model DIR --port 0 ...``, what the window starts) or nothing: the engine server
  (``core.server``), its usage line naming ``ponder-engine``;
- a ``ponder`` subcommand (``plan``, ``models``, ``pull``, ``generate`` ...): ``core.cli``; the window program
  ``ponder`` runs this for every command line it is given, so the installed ``ponder`` has all of them.

The decode kernels come prebuilt for every instruction set of the platform (``PONDER_KERNELS_DIR``).

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
    if hasattr(sys, "_MEIPASS"):  # the decode kernels prebuilt into the bundle (bundle_layout.KERNELS_DEST)
        os.environ.setdefault("PONDER_KERNELS_DIR", os.path.join(sys._MEIPASS, "kernels"))
    from core.frozen import PRECISION_RUN_FLAG

    if sys.argv[1:2] == [PRECISION_RUN_FLAG]:  # a benchmark child (core.bench.suite.precision_run_command)
        from core.bench.precision_run import main as run_precision

        return run_precision(sys.argv[2:])
    from core.frozen import CLI_COMMANDS

    args = sys.argv[1:]
    if args[:1] and args[0] in CLI_COMMANDS:
        from core.cli import main as ponder

        return ponder(args)
    from core.server.__main__ import main as serve

    if args[:1] in (["-h"], ["--help"]):
        try:
            serve(["--help"], prog="ponder-engine")
        except SystemExit:
            pass
        print(f"\nponder-engine COMMAND ... runs a ponder command ({', '.join(CLI_COMMANDS)}); "
              "ponder-engine plan --help, for example.")
        return 0
    return serve(args, prog="ponder-engine")


if __name__ == "__main__":
    from core.server.__main__ import exit_now

    exit_now(main())
