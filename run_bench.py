#!/usr/bin/env python3
"""Thin wrapper: ``python run_bench.py ...`` is ``bench ...``."""
import sys

from bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
