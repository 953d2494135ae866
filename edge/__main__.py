"""``python -m edge [--port N] [--origin s3://...|--upstream URL] [--cache-bytes 256M] ...``."""

from __future__ import annotations

import argparse
import sys

from edge.run import add_arguments, serve
from vodflow.errors import VodflowError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge", description="the vodflow caching edge")
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return serve(args)
    except VodflowError as exc:
        print(f"edge: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
