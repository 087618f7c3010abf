"""The Neo4j store implements the whole port: when the port grows, this fails."""

from __future__ import annotations

import inspect

from graphsvc.store.base import GraphStore, WriteTransaction
from graphsvc.store.neo4j.store import Neo4jStore, _Neo4jTransaction

# Port methods with a default in base.py that the Neo4j store deliberately inherits.
INHERITED = {
    # verify: Neo4j checks its own store; erase: graphsvc does not erase a Neo4j database;
    # catch_up: every process reads the server afresh, there is no writer to follow
    # add_commit_listener: the port's list of listeners, called by the backends
    GraphStore: {"__aenter__", "__aexit__", "verify", "erase", "catch_up", "add_commit_listener"},
    WriteTransaction: set(),
}


def _port_methods(port: type) -> set[str]:
    return {
        name
        for name, member in vars(port).items()
        if callable(member) and (not name.startswith("_") or name in {"__aenter__", "__aexit__"})
    }


def test_every_abstract_method_is_implemented() -> None:
    for cls, port in ((Neo4jStore, GraphStore), (_Neo4jTransaction, WriteTransaction)):
        assert not getattr(cls, "__abstractmethods__", set()), cls
        for name in port.__abstractmethods__:  # type: ignore[attr-defined]
            assert getattr(cls, name) is not getattr(port, name), f"{cls.__name__}.{name}"


def test_every_port_method_is_implemented_or_knowingly_inherited() -> None:
    for cls, port in ((Neo4jStore, GraphStore), (_Neo4jTransaction, WriteTransaction)):
        for name in _port_methods(port) - INHERITED[port]:
            assert name in vars(cls), (
                f"{port.__name__}.{name} is new in the port: implement it in {cls.__name__} "
                "(or add it to INHERITED if the port's default is right for Neo4j)"
            )


def test_signatures_match_the_port() -> None:
    for cls, port in ((Neo4jStore, GraphStore), (_Neo4jTransaction, WriteTransaction)):
        for name in _port_methods(port) - INHERITED[port]:
            ours = inspect.signature(getattr(cls, name))
            theirs = inspect.signature(getattr(port, name))
            assert list(ours.parameters) == list(theirs.parameters), f"{cls.__name__}.{name}"
            for p in theirs.parameters.values():
                assert ours.parameters[p.name].kind == p.kind, f"{cls.__name__}.{name}({p.name})"
                assert ours.parameters[p.name].default == p.default, f"{cls.__name__}.{name}"
