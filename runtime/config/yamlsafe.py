"""YAML for deployment files: PyYAML's safe loader (libyaml's C parser where present), with guards.

Before anything is built, one pass over the parser's events (libyaml's parser is iterative, so this
pass survives any nesting) refuses nesting deeper than MAX_DEPTH and aliases that would expand
beyond MAX_ALIAS_NODES (a "billion laughs" file is a few hundred bytes). Only then does the loader
compose the document: its composer recurses, and libyaml's crashes the process on deep nesting.
The loader also refuses a key given twice in one mapping, instead of keeping the last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_DEPTH = 100  # nested mappings and lists; a deployment file needs a dozen
MAX_ALIAS_NODES = 10_000  # nodes that aliases may add to a document, all aliases together

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader: ~20x faster on big files


class _Loader(_Base):  # type: ignore[misc]
    """The safe loader, refusing duplicate keys (merge keys `<<` keep YAML's override rules)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)  # type: ignore[no-any-return]


@dataclass
class _Open:
    anchor: str | None
    nodes: int = 1  # this collection itself, then everything inside it, aliases expanded


@dataclass
class _Census:
    """Counts nodes as they would be after alias expansion, from the parser's events alone."""

    sizes: dict[str, int] = field(default_factory=dict)  # anchor -> expanded size of its node
    stack: list[_Open] = field(default_factory=list)
    added: int = 0  # nodes that aliases add

    def node(self, size: int, anchor: str | None) -> None:
        if anchor is not None:
            self.sizes[anchor] = size
        if self.stack:
            self.stack[-1].nodes += size

    def event(self, ev: yaml.Event) -> None:
        if isinstance(ev, yaml.CollectionStartEvent):
            self.stack.append(_Open(ev.anchor))
            if len(self.stack) > MAX_DEPTH:
                raise _refuse(f"nested more than {MAX_DEPTH} levels deep", ev)
        elif isinstance(ev, yaml.CollectionEndEvent):
            done = self.stack.pop()
            self.node(done.nodes, done.anchor)
        elif isinstance(ev, yaml.ScalarEvent):
            self.node(1, ev.anchor)
        elif isinstance(ev, yaml.AliasEvent):
            self.alias(ev)

    def alias(self, ev: yaml.AliasEvent) -> None:
        name = ev.anchor
        if name is not None and any(o.anchor == name for o in self.stack):
            raise _refuse(f"alias *{name} refers to a node that contains it", ev)
        size = self.sizes.get(name or "", 1)  # an unknown anchor: the composer names it below
        self.added += size
        if self.added > MAX_ALIAS_NODES:
            raise _refuse(f"aliases expand to more than {MAX_ALIAS_NODES} nodes", ev)
        self.node(size, None)


def _refuse(problem: str, ev: yaml.Event) -> yaml.YAMLError:
    mark = ev.start_mark  # libyaml's and PyYAML's marks both count lines and columns from 0
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return yaml.YAMLError(problem + where)


def load(text: str) -> Any:
    """The one document in `text`; yaml.YAMLError (with line and column) for anything refused."""
    census = _Census()
    for ev in yaml.parse(text, Loader=_Base):
        census.event(ev)
    return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader: no arbitrary objects
