"""`python -m cienty_kit` runs the `cienty` command (for subprocesses)."""

from cienty_kit.cli import main

if __name__ == "__main__":
    main()
