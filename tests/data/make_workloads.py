"""Writes the small workload samples in tests/data/workloads/ (deterministic; run to regenerate):
a ShareGPT-format JSON, a jsonl request log, a Mooncake-format trace and a BurstGPT-format CSV.
The text is seeded pseudo-words (no real conversations, nothing downloaded); the lengths and arrival
times are made up to exercise every feature of each format on a tiny model in seconds."""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "workloads"
SYL = [a + b for a in "bcdfghjklmnprstvwz" for b in "aeiou"]


def sentence(rng: random.Random, words: int) -> str:
    return " ".join("".join(rng.choice(SYL) for _ in range(rng.randint(1, 3))) for _ in range(words)) + "."


def sharegpt(rng: random.Random) -> list:
    convs = []
    for i in range(12):
        turns = []
        for _ in range(rng.randint(1, 3)):
            turns.append({"from": "human", "value": sentence(rng, rng.randint(4, 30))})
            turns.append({"from": "gpt", "value": sentence(rng, rng.randint(2, 20))})
        convs.append({"id": f"conv{i}", "conversations": turns})
    return convs


def jsonl_rows(rng: random.Random) -> list[dict]:
    rows = []
    for i in range(8):  # text prompts, two sessions of two turns among them
        row = {"prompt": sentence(rng, rng.randint(5, 25)), "output_tokens": rng.randint(4, 16)}
        if i < 4:
            row.update(session_id=f"s{i // 2}", turn=i % 2 + 1)
        rows.append(row)
    for i in range(8):  # lengths only, half sharing a 32-token system prompt
        row = {"prompt_tokens": rng.randint(40, 80), "output_tokens": rng.randint(4, 16)}
        if i % 2 == 0:
            row.update(prefix_id="system-a", prefix_tokens=32)
        rows.append(row)
    return rows


def mooncake(rng: random.Random, block: int = 16) -> list[dict]:
    """Mooncake's format (timestamp in ms, hash_ids naming blocks); here blocks of 16 tokens, so a
    tiny model's context holds the prompts (the published traces use 512)."""
    rows, t, next_id = [], 0, 100
    shared = [[1, 2], [1, 2, 3], [7]]  # three 'system prompts' of 2, 3 and 1 blocks
    for _ in range(30):
        t += rng.randint(5, 60)
        head = list(rng.choice(shared))
        own = list(range(next_id, next_id + rng.randint(1, 3)))
        next_id += len(own)
        n_in = block * (len(head) + len(own)) - rng.randint(0, block - 1)
        rows.append({"timestamp": t, "input_length": n_in, "output_length": rng.randint(2, 12),
                     "hash_ids": head + own})
    return rows


def burstgpt(rng: random.Random) -> list[list]:
    rows, t = [], 0.0
    for i in range(20):
        t += round(rng.expovariate(20.0), 3)
        n_in, n_out = rng.randint(8, 64), 0 if i % 7 == 6 else rng.randint(2, 16)  # 0: a failed request in the log
        rows.append([f"{t:.3f}", "ChatGPT", n_in, n_out, n_in + n_out, "Conversation log"])
    return rows


def main() -> None:
    OUT.mkdir(exist_ok=True)
    rng = random.Random(13)
    (OUT / "sharegpt-sample.json").write_text(json.dumps(sharegpt(rng), indent=1) + "\n")
    (OUT / "requests-sample.jsonl").write_text("".join(json.dumps(r) + "\n" for r in jsonl_rows(rng)))
    (OUT / "mooncake-sample.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mooncake(rng)))
    with (OUT / "burstgpt-sample.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Timestamp", "Model", "Request tokens", "Response tokens", "Total tokens", "Log Type"])
        w.writerows(burstgpt(rng))


if __name__ == "__main__":
    main()
