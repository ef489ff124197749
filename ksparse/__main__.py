"""``python -m ksparse``: the same as the ``ksparse`` command."""

from ksparse.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
