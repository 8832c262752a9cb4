"""The strict YAML reader every YAML file of the package goes through (configs, user hardware files,
the published catalog): a key given twice, nesting too deep, a merge key ('<<') of something other than a
mapping or a syntax error is one ``ConfigError`` line naming the file and the line; merge keys themselves work. A leaf (it imports only ``bench.errors``), so the catalog reads its
files as strictly as a config without importing the config loader."""
from __future__ import annotations

from typing import Any

import yaml

from bench.errors import ConfigError


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: str, line: int, where: str):
        super().__init__(key)
        self.key, self.line, self.where = key, line, where


MERGE_TAG = "tag:yaml.org,2002:merge"


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (plain PyYAML keeps the last).

    Merge keys (``<<: *anchor``, ``<<: [*a, *b]``) work as YAML 1.1 defines them: the merged mappings' keys come
    first and the mapping's own keys win over them (that is an override, not a key given twice); a key given twice
    inside one mapping, its own or a merged one, is still refused."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self._check_unique(node)
            self.flatten_mapping(node)  # merged keys first, own keys after: the own ones win
        return super().construct_mapping(node, deep=deep)

    def _check_unique(self, node) -> None:
        seen: dict = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                merged = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for m in merged:
                    if not isinstance(m, yaml.MappingNode):
                        raise MergeError(key_node.start_mark.line + 1, m.id)
                    self._check_unique(m)
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # SafeLoader reports an unhashable key itself
            if key in seen:
                raise DuplicateKeyError(str(key)[:80], key_node.start_mark.line + 1,
                                        f" (first on line {seen[key]})")
            seen[key] = key_node.start_mark.line + 1


class MergeError(yaml.YAMLError):
    def __init__(self, line: int, found: str):
        super().__init__(found)
        self.line, self.found = line, found


def parse_yaml(text: str, where: str) -> Any:
    """YAML text -> data for every YAML file the package reads (configs, user hardware files): a key given
    twice, nesting too deep or a syntax error is one ``ConfigError`` line naming ``where`` and the line."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise ConfigError(f"{where}:{exc.line}: key '{exc.key}' is given twice{exc.where}; keep one") from None
    except MergeError as exc:
        raise ConfigError(f"{where}:{exc.line}: merge key '<<' takes a mapping (or a list of mappings) to merge; found "
                          f"a {exc.found}; write '<<: *name' of an anchored mapping ('name: &name {{...}}')") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply; give plain YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}{at}: YAML syntax error: {problem}; fix the YAML at that line") from None
