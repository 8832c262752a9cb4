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

# dataset and trace files (workload.dataset path): read through one bounded reader, bench/workloads/files.py
MAX_DATASET_BYTES = 2**30  # 1 GiB a file (ShareGPT V3's unfiltered split is 0.67 GB)
MAX_DATASET_LINES = 2_000_000  # lines (rows) in a jsonl, Mooncake or BurstGPT file
MAX_JSON_DEPTH = 32  # nesting of a JSON document or line (ShareGPT needs 3)
MAX_DATASET_TOKENS = 2**25  # prompt tokens generated from one dataset (33.5M; about 15 s to draw), after max_requests and the context clip
MAX_CASE_PROMPT_TOKENS = 2**26  # random-token prompt tokens one case draws, all trials together (67M: ~1 min, ~2 GB)
MAX_PROMPT_CHARS = 4 * MAX_TOKENS  # one prompt's text (a ShareGPT turn with its history): 4 Mi characters
MAX_HISTORY_MESSAGES = 2**21  # ShareGPT turns: all: messages repeated into prompts in all (each turn repeats its history)
MAX_TRACE_TIMESTAMP_S = 1e11  # a trace timestamp, in seconds (epoch seconds are 1.8e9; ms stamps / 1000 the same)
MAX_TRACE_GAP_S = 24 * 3600.0  # between two consecutive trace rows, before speedup

# schedules (refused at preflight, before any model loads)
MAX_DURATION_S = 24 * 3600.0  # --max-duration default: the least time a case's schedule takes, all trials
MIN_RATE_RPS = 1e-3  # request_rates and request_rate_ramp ends: one request per 1,000 s at the least

# the analysis commands' flags (cost, project, capacity; bench/analysis/requests.py)
MAX_PROJECT_PROMPTS = 100_000  # project --num-prompts: prompts one simulated whole run takes
COST_MAXIMA = {"rental_usd_per_hour": 1e6, "capex_usd": 1e9, "life_years": 100, "power_w": 1e6,  # a typo, not a price
               "electricity_usd_per_kwh": 100, "fx": 1e4, "server_overhead": 10, "blend_ratio": 1e6,
               "other_opex_fraction": 1}
MIN_LIFE_YEARS = 0.1  # cost --life-years
MAX_POWER_MW = 1e7  # capacity --power-mw (10 TW)
MAX_PUE = 10  # --pue: facility power / IT power, from 1
MAX_RATE_RPS = 1e6  # project --request-rate, from MIN_RATE_RPS
