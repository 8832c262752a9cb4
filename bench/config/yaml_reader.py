"""The strict YAML reader every YAML file of the package goes through (configs, user hardware files,
the published catalog): a key given twice, nesting too deep or a syntax error is one ``ConfigError``
line naming the file and the line. A leaf (it imports only ``bench.errors``), so the catalog reads its
files as strictly as a config without importing the config loader."""
from __future__ import annotations

from typing import Any

import yaml

from bench.errors import ConfigError


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: str, line: int, where: str):
        super().__init__(key)
        self.key, self.line, self.where = key, line, where


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (plain PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # SafeLoader reports an unhashable key itself
            if key in seen:
                raise DuplicateKeyError(str(key)[:80], key_node.start_mark.line + 1,
                                        f" (first on line {seen[key]})")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, where: str) -> Any:
    """YAML text -> data for every YAML file the package reads (configs, user hardware files): a key given
    twice, nesting too deep or a syntax error is one ``ConfigError`` line naming ``where`` and the line."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise ConfigError(f"{where}:{exc.line}: key '{exc.key}' is given twice{exc.where}; keep one") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply; give plain YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}{at}: YAML syntax error: {problem}; fix the YAML at that line") from None
