"""Overhead benchmarks (pytest-benchmark, tier `perf`), tiny model on CPU, same process. Each records its
ratio, its target and whether the target was met in the benchmark's extra_info (``--benchmark-json``), and
warns when it misses the target; it fails only on a gross breach, which machine noise alone cannot cause:

| ratio                                                          | target  | fails below |
| harness decode tok/s / a bare hand-written decode loop          | >= 0.97 | 0.85        |
| decode tok/s with the 10 Hz power sampler (fake NVML) / without | >= 0.99 | 0.95        |
| compiled / eager decode tok/s, tiny Llama at batch 1            | >= 1.5  | 1.1         |

(compiled is also checked token-identical; compile_s, the untimed warm-up, is saved beside it.)
Timings are interleaved, in process CPU time, and the median of paired rounds is compared.
"""
import statistics
import time

import pytest
import torch

from bench.measure.backends.transformers.decode_loop import DecodeLoopBackend
from bench.config.schema import ModelSpec, TransformersBackend

pytestmark = pytest.mark.perf  # test tier (pyproject markers): `make test-fast` leaves it out

def record(benchmark, name: str, value: float, target: float, gross: float) -> None:
    """Save ``value`` with its target in the benchmark's extra_info; warn below the target, fail below ``gross``."""
    import warnings

    met = value >= target
    benchmark.extra_info.update({name: value, f"{name}_target": target, f"{name}_target_met": met})
    if not met:
        warnings.warn(f"{name} = {value:.3f} misses its target {target} (noise on a busy machine, or a regression: "
                      f"compare with the saved benchmarks)", stacklevel=2)
    assert value >= gross, f"{name} = {value:.3f} is below {gross}: a gross breach (target {target})"


PROMPTS = [[(11 * i + j) % 500 + 1 for j in range(32)] for i in range(4)]
N_OUT = 32


@pytest.fixture(scope="module")
def backend():
    b = DecodeLoopBackend(TransformersBackend(kind="transformers", device="cpu", dtype="float32", threads=1))
    b.load(ModelSpec(id="tiny:llama"))
    return b


def bare_loop(model):
    """The reference: the same prefill + greedy decode with no timestamps, no records."""
    from transformers import DynamicCache

    ids = torch.tensor(PROMPTS)
    cache = DynamicCache(config=model.config)
    toks = []
    with torch.inference_mode():
        out = model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
        toks.append(nxt)
        for _ in range(N_OUT - 1):
            out = model(input_ids=nxt, past_key_values=cache, use_cache=True)
            nxt = out.logits[:, -1, :].argmax(-1, keepdim=True)
            toks.append(nxt)
    return torch.cat(toks, dim=1).tolist()


def best_of_interleaved(fns, rounds):
    """Best CPU time (all threads of this process) of each function over interleaved rounds.

    CPU time, not wall time: on a shared 2-core machine a neighbour changes wall time by 10-60 %,
    which would swamp a 1-3 % effect. With one torch thread, CPU time is the work done; it also
    charges the sampler thread's work in full, as if it ran on the decode loop's core (an upper bound).
    """
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t = time.process_time()
            fn()
            best[i] = min(best[i], time.process_time() - t)
    return best


def paired_ratio(a, b, rounds):
    """Median over rounds of cpu_time(a) / cpu_time(b), each pair run back to back (order alternating),
    so slow drifts in machine load cancel within a pair and outlier pairs drop out in the median."""
    ratios = []
    for k in range(rounds):
        order = (a, b) if k % 2 == 0 else (b, a)
        t = {}
        for fn in order:
            t0 = time.process_time()
            fn()
            t[fn] = time.process_time() - t0
        ratios.append(t[a] / t[b])
    return statistics.median(ratios)


def test_harness_overhead_ratio(benchmark, backend):
    harness = lambda: backend.run_batch(PROMPTS, N_OUT, "b")  # noqa: E731
    bare = lambda: bare_loop(backend.model)  # noqa: E731
    assert bare() == (harness(), backend.last_tokens)[1]  # same work, same tokens
    t_bare, t_harness = best_of_interleaved([bare, harness], rounds=10)
    ratio = paired_ratio(bare, harness, rounds=40)  # = harness tok/s / bare tok/s
    benchmark.extra_info.update(harness_over_bare_tok_s=ratio, bare_tok_s=4 * N_OUT / t_bare,
                                harness_tok_s=4 * N_OUT / t_harness)
    benchmark.pedantic(harness, rounds=5, iterations=1)
    print(f"\nharness/bare decode tok/s ratio: {ratio:.4f} (bare {4 * N_OUT / t_bare:.0f} tok/s, "
          f"harness {4 * N_OUT / t_harness:.0f} tok/s)")
    record(benchmark, "harness_over_bare_tok_s", ratio, target=0.97, gross=0.85)


def test_power_sampler_overhead_ratio(benchmark, backend):
    """The 10 Hz sampler (fake NVML sensor through autospec mocks) over 1 s of tiny-model decoding.

    Its cost is the CPU time its own thread used (time.thread_time inside the thread): while it runs
    it holds the GIL, so that is what it can take from the decode loop. Asserted: <= 1 %.
    The end-to-end with/without tok/s ratio is also reported, for information.
    """
    from test_energy import FakeGpus

    from bench.measure.vendors.nvidia import NvmlSource

    fake = FakeGpus({"idx0": 300.0})
    patches = fake.patches()
    for p in patches:
        p.start()
    try:
        src = NvmlSource([0], hz=10)
        fractions, counts = [], []

        def with_sampler():
            t = time.perf_counter()
            src.start()
            while time.perf_counter() - t < 1.0:
                backend.run_batch(PROMPTS, N_OUT, "b")
            src.stop()
            fractions.append(src._sampler.thread_cpu_s / (time.perf_counter() - t))
            counts.append(len(src._sampler.samples))

        benchmark.pedantic(with_sampler, rounds=3, iterations=1)
        cost = min(fractions)
        t_without, t_with = best_of_interleaved(
            [lambda: backend.run_batch(PROMPTS, N_OUT, "b"),
             lambda: (src.start(), backend.run_batch(PROMPTS, N_OUT, "b"), src.stop())], rounds=10)
        benchmark.extra_info.update(sampler_cpu_fraction=cost, throughput_ratio=1 - cost,
                                    end_to_end_with_over_without=t_without / t_with,
                                    samples_per_window=min(counts))
        print(f"\n10 Hz sampler: thread CPU {100 * cost:.3f} % of the window -> tok/s ratio >= {1 - cost:.4f}; "
              f"end-to-end best-of-10 with/without {t_without / t_with:.3f} (noisy machine, informational)")
        assert min(counts) >= 5  # it really sampled (~10 Hz over the 1 s window; 5: a gross miss)
        record(benchmark, "sampler_throughput_ratio", 1 - cost, target=0.99, gross=0.95)
    finally:
        for p in patches:
            p.stop()


def test_compiled_over_eager_decode_ratio(benchmark, backend):
    """backend.compile: compiled vs none on the same weights, batch 1. Compilation is the first call
    (tens of seconds on this CPU), outside the timed rounds; it is reported, not asserted."""
    compiled = DecodeLoopBackend(TransformersBackend(kind="transformers", device="cpu", dtype="float32", threads=1,
                                                     compile="compiled"))
    compiled.load(ModelSpec(id="tiny:llama"))
    prompt, n_out = PROMPTS[:1], 64
    t = time.perf_counter()
    compiled.run_batch(prompt, n_out, "compile")  # the compile warm-up
    compile_s = time.perf_counter() - t
    eager = lambda: backend.run_batch(prompt, n_out, "e")  # noqa: E731
    comp = lambda: compiled.run_batch(prompt, n_out, "c")  # noqa: E731
    eager()
    comp()
    assert compiled.last_tokens == backend.last_tokens  # token-identical, greedy
    t_eager, t_comp = best_of_interleaved([eager, comp], rounds=10)
    ratio = paired_ratio(eager, comp, rounds=30)  # = compiled tok/s / eager tok/s (CPU time per batch)
    benchmark.extra_info.update(compiled_over_eager_tok_s=ratio, eager_tok_s=n_out / t_eager,
                                compiled_tok_s=n_out / t_comp, compile_s=compile_s)
    benchmark.pedantic(comp, rounds=5, iterations=1)
    print(f"\ncompiled/eager decode tok/s ratio (batch 1, {n_out} tokens): {ratio:.2f} "
          f"(eager {n_out / t_eager:.0f} tok/s, compiled {n_out / t_comp:.0f} tok/s; compile {compile_s:.1f} s)")
    record(benchmark, "compiled_over_eager_tok_s", ratio, target=1.5, gross=1.1)
