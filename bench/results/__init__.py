"""Results on disk and read back typed: ``load_run``/``load_runs`` give :class:`Run` objects (manifest +
typed case results); ``registry`` declares every metric the views show."""
from bench.results.run import Manifest, Run, load_run, load_runs  # noqa: F401
from bench.results.schema import CaseResult  # noqa: F401
