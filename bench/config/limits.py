"""The documented limits on inputs (README "Limits on inputs"). One place, so the config schema, the
flag parsers and the README agree."""
from __future__ import annotations

MAX_NAME_CHARS = 100  # config name: the run directory is <name>-<UTC stamp>[-n], under 255 bytes
MAX_TOKENS = 1_048_576  # input_tokens / output_tokens per request (2^20; above every catalog context)
MAX_BATCH = 65_536  # batch size, concurrency
MAX_COUNT = 1_000_000  # num_batches, num_requests, num_prompts, repeats, warmup...
MAX_SEED = 2**32 - 1
MAX_SECONDS = 7 * 24 * 3600.0  # any timeout or budget in seconds
MAX_REQUESTS_PER_CASE = 10_000_000  # measured requests in one offline case (batches x batch size x repeats)
MAX_CASES = 10_000  # cases in one sweep (models x batch sizes x lengths, or x concurrency x rates)
MAX_ACCELERATORS = 100_000_000  # accelerators in a fleet or replica (10^8)
MAX_FLAG_NUMBER = 1e18  # any numeric flag, in absolute value
MIN_FLAG_NUMBER = 1e-9  # any numeric flag other than 0, in absolute value (smaller ones overflow the maths)
MAX_REPLICA_ACCELERATORS = 4096  # accelerators per replica (project --accelerators, --replica-accelerators)
MAX_PUBLISHED_FIGURE = 1e9  # a published tok/s or latency (ms) figure; the catalog's largest is about 6e4
MAX_ID_CHARS = 200  # longer words in an error message are cut
