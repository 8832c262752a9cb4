"""``sharegpt``: the ShareGPT JSON format, a list of ``{"id", "conversations": [{"from": "human"|"gpt",
"value": text}, ...]}``. The prompt is a human turn and the output length is the token length of the
reply that follows (as ``vllm bench serve`` does). ``turns: first`` keeps each conversation's first
exchange only (vLLM's choice, which flatters results: short prompts, no history); ``turns: all`` expands
every exchange into a request whose prompt carries the history before it."""
from __future__ import annotations

ASSISTANT = {"gpt", "assistant", "chatgpt", "bard", "model"}
HUMAN = {"human", "user"}
from pathlib import Path
from typing import Literal

from bench.config import limits
from bench.workloads import files
from bench.workloads.request import DatasetError, Message, TokenSource, WorkRequest
from bench.workloads.spec import DatasetSpec


class ShareGPTDataset(DatasetSpec):
    kind: Literal["sharegpt"]
    path: str
    turns: Literal["first", "all"] = "first"  # all: every human turn, with the history before it


SPEC = ShareGPTDataset

SAMPLED = True  # load_dataset samples its requests down to n


def requests(spec, tok: TokenSource, seed: int, n, input_tokens, output_tokens):
    return load(spec, tok, seed), []


def role(speaker) -> str:
    """The chat role of a ShareGPT ``from``: user, assistant, or system (anything else is the user's)."""
    return "assistant" if speaker in ASSISTANT else "system" if speaker == "system" else "user"


def chat_messages(turns: list[dict]) -> list[Message]:
    """ShareGPT turns as chat messages; consecutive turns of one role are joined (chat templates want
    user and assistant to alternate)."""
    out: list[Message] = []
    for t in turns:
        r = role(t.get("from"))
        if out and out[-1].role == r:
            out[-1].text += "\n" + t["value"]
        else:
            out.append(Message(r, [], t["value"]))
    return out


def read(path: Path) -> list:
    """The file's list of conversations, through the bounded reader (``files``)."""
    data = files.parse_json(files.read_text(path), str(path),
                            'a ShareGPT file is one JSON list of {"conversations": [...]}')
    if not isinstance(data, list):
        raise DatasetError(f"{path}:1: a ShareGPT file is a JSON list of conversations; found {type(data).__name__}")
    return data


def load(spec, tok: TokenSource, seed: int) -> list[WorkRequest]:
    path = Path(spec.path).expanduser()
    encode = tok.need_encode("sharegpt")
    out: list[WorkRequest] = []
    copied = 0  # history messages repeated into prompts so far
    for i, conv in enumerate(read(path)):
        turns = conv.get("conversations") if isinstance(conv, dict) else None
        if not isinstance(turns, list) or not all(isinstance(t, dict) and isinstance(t.get("value"), str)
                                                  and isinstance(t.get("from", ""), str) for t in turns):
            raise DatasetError(f"{path}: entry [{i}]: needs 'conversations': a list of {{\"from\": text, \"value\": "
                               "text}; fix or remove that entry")
        sid = conv.get("id", i)
        if isinstance(sid, (dict, list)) or len(str(sid)) > 200:
            raise DatasetError(f"{path}: entry [{i}]: 'id' must be a short text or number; fix that entry")
        sid = str(sid)
        history: list[str] = []
        hist_chars = 0
        n = 0
        for k, (a, b) in enumerate(zip(turns, turns[1:])):
            if a.get("from") in HUMAN and b.get("from") in ASSISTANT:
                size = hist_chars + len(a["value"])
                if size > limits.MAX_PROMPT_CHARS:  # each turn repeats the history: bounded, not quadratic
                    raise DatasetError(f"{path}: entry [{i}]: turn {n + 1}'s prompt with its history is {size:,} "
                                       f"characters, more than {limits.MAX_PROMPT_CHARS:,} (bench/config/limits.py "
                                       "MAX_PROMPT_CHARS); use turns: first, or cut that conversation")
                copied += k + 1
                if copied > limits.MAX_HISTORY_MESSAGES:
                    raise DatasetError(f"{path}: entry [{i}]: with turns: all the prompts repeat more than "
                                       f"{limits.MAX_HISTORY_MESSAGES:,} history messages in all (bench/config/limits.py "
                                       "MAX_HISTORY_MESSAGES); use turns: first, or fewer or shorter conversations")
                prompt = "\n".join([*history, a["value"]])
                n += 1
                ids, out_len = encode(prompt), len(encode(b["value"]))
                tok.spend(len(ids))  # a long history is bounded like every other prompt (MAX_DATASET_TOKENS)
                if ids and out_len:
                    out.append(WorkRequest(ids, out_len, text=prompt, session_id=f"{sid}",
                                           turn=n if spec.turns == "all" else None,
                                           messages=chat_messages(turns[:k + 1]) if k else None))
                if spec.turns == "first":
                    break
            history.append(a["value"])
            hist_chars += len(a["value"]) + 1
        # `first` with a leading system/other turn: vLLM takes turns[0]/[1] blindly; we take the first exchange
    if spec.turns == "first":
        for r in out:
            r.session_id = None
    return out
