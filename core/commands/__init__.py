"""One module per ``ponder`` subcommand, each with ``run(args) -> exit code``."""
