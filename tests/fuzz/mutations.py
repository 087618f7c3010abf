"""Mutations of real sample files, drawn with Hypothesis.

:func:`mutate` turns the bytes of a sample into a mutated file, by one of:

* ``structure``: decode the file (JSON, YAML, XML or CSV, after its suffix), apply
  one to four structural edits (delete or duplicate a subtree, swap a value for
  one of another type, a huge string or deep nesting, rename a key) and encode
  it again; when the file does not decode, fall back to ``bytes``;
* ``bytes``: flip bytes, truncate, delete or duplicate lines, insert invalid
  UTF-8 or NUL bytes, prepend a BOM;
* ``special``: an empty file, whitespace only, deep nesting in the file's own
  syntax, one huge line, or (XML) entity-expansion and external-entity
  payloads, (YAML) an alias bomb.

The generated files stay small enough (a few MiB at most) for a case to run in
well under a second on a sample of 100 kB.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import xml.etree.ElementTree as ET
from typing import Any

import orjson
import yaml
from hypothesis import strategies as st

__all__ = ["ATTACKS_XML", "ATTACKS_YAML", "dump_json", "edit_tree", "fmt_of", "mutate"]

HUGE = 200_000
DEEP = 5_000

_ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    -(2**70),
    1.5e308,
    -0.0,
    "",
    " ",
    "\x00",
    "\u202e\ufeff\U0001f4a9",
    "null",
    "0",
    "true",
    "../../etc/passwd",
    "a" * 600,
    [],
    {},
    [None],
    {"": None},
]

ATTACKS_XML: list[bytes] = [
    # billion laughs
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b']>\n<nmaprun scanner="nmap"><host><address addr="&lol9;" addrtype="ipv4"/></host></nmaprun>\n',
    # external entity (file)
    b'<?xml version="1.0"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b'<nmaprun scanner="nmap"><host><address addr="&xxe;" addrtype="ipv4"/></host></nmaprun>\n',
    # external entity (network)
    b'<?xml version="1.0"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/x">]>\n'
    b"<nmaprun><host><hostnames><hostname name='&xxe;'/></hostnames></host></nmaprun>\n",
    # external DTD
    b'<?xml version="1.0"?>\n<!DOCTYPE nmaprun SYSTEM "http://127.0.0.1:9/nmap.dtd">\n'
    b'<nmaprun scanner="nmap"></nmaprun>\n',
    # parameter entity
    b'<?xml version="1.0"?>\n<!DOCTYPE foo [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>\n'
    b"<nmaprun/>\n",
    # quadratic blowup: one big entity used many times
    b'<?xml version="1.0"?>\n<!DOCTYPE q [<!ENTITY a "'
    + b"x" * 50_000
    + b'">]>\n<nmaprun><host><address addr="'
    + b"&a;" * 2_000
    + b'" addrtype="ipv4"/></host></nmaprun>\n',
    # deep nesting
    b"<nmaprun>" + b"<host>" * DEEP + b"</host>" * DEEP + b"</nmaprun>",
]

ATTACKS_YAML: list[bytes] = [
    # alias bomb: 9 levels of 9 aliases
    b"a: &a [x,x,x,x,x,x,x,x,x]\n"
    + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n".encode()
        for i in range(8)
    )
    + b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb, labels: *i, annotations: {x: *i}}\n"
    b"data: *i\nspec: *i\n",
    b"[" * DEEP + b"]" * DEEP,
    b"{a: " * DEEP + b"x" + b"}" * DEEP,
    b"- " * 2_000 + b"x\n",
    b"!!python/object/apply:os.system ['true']\n",
    b"--- !!binary |\n  AAAA\n",
    b"key: !!timestamp 99999-99-99\n",
    b"? " + b"[x]" + b"\n: v\n",
]


def fmt_of(name: str) -> str:
    """Return the format of a sample after its name: json, yaml, xml or csv."""
    lower = name.lower()
    if lower.endswith((".yaml", ".yml")):
        return "yaml"
    if lower.endswith(".xml"):
        return "xml"
    if lower.endswith(".csv"):
        return "csv"
    return "json"


# ------------------------------------------------------------------ structure


def dump_json(tree: Any) -> bytes:
    """Encode a decoded tree as JSON, whatever it became (huge integers, deep nesting)."""
    try:
        return orjson.dumps(tree, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # an integer past 64 bits, or nesting past orjson's limit
        pass
    try:
        return json.dumps(tree).encode()
    except (RecursionError, ValueError, TypeError):
        return b"[" * DEEP + b"]" * DEEP


def _slots(tree: Any, limit: int = 4_000) -> list[tuple[Any, Any]]:
    """(container, key or index) of every value of a decoded tree, breadth first."""
    out: list[tuple[Any, Any]] = []
    queue = [tree]
    while queue and len(out) < limit:
        node = queue.pop(0)
        if isinstance(node, dict):
            for k, v in node.items():
                out.append((node, k))
                queue.append(v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                out.append((node, i))
                queue.append(v)
    return out


def _odd_value(data: st.DataObject, old: Any) -> Any:
    choice = data.draw(st.integers(0, 9))
    if choice == 0:
        return "x" * data.draw(st.sampled_from([1_000, 20_000, HUGE]))
    if choice == 1:
        depth = data.draw(st.sampled_from([50, 500, DEEP]))
        value: Any = "deep"
        for _ in range(depth):
            value = [value] if data.draw(st.booleans()) else {"k": value}
        return value
    if choice == 2:  # type swap keeping the content
        if isinstance(old, dict):
            return list(old.values())
        if isinstance(old, list):
            return {str(i): v for i, v in enumerate(old)}
        if isinstance(old, str):
            return len(old)
        if isinstance(old, bool | int | float):
            return str(old)
        return [old]
    if choice == 3:
        return data.draw(st.text(max_size=40))
    if choice == 4:
        return data.draw(
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3)
                ),
                max_leaves=8,
            )
        )
    return copy.deepcopy(data.draw(st.sampled_from(_ODD_VALUES)))  # edits must not change them


def edit_tree(data: st.DataObject, tree: Any) -> Any:
    """Apply one structural edit to a decoded JSON/YAML tree (in place when it can); return it."""
    slots = _slots(tree)
    if not slots:
        return _odd_value(data, tree)
    container, key = slots[data.draw(st.integers(0, len(slots) - 1))]
    op = data.draw(st.sampled_from(["delete", "duplicate", "replace", "replace", "rename"]))
    if op == "delete":
        del container[key]
    elif op == "duplicate":
        if isinstance(container, list):
            container.insert(key, copy.deepcopy(container[key]))
        else:
            container[f"{key}"] = copy.deepcopy(container[key])
            container[f"{key}_copy"] = copy.deepcopy(container[key])
            # and the same subtree grafted somewhere else
            other, okey = slots[data.draw(st.integers(0, len(slots) - 1))]
            other[okey] = copy.deepcopy(container[key])
    elif op == "rename" and isinstance(container, dict):
        value = container.pop(key)
        container[data.draw(st.sampled_from(["", " ", str(key).upper(), f"{key}\x00", "0"]))] = (
            value
        )
    else:
        container[key] = _odd_value(data, container[key])
    return tree


def _xml_edit(data: st.DataObject, root: ET.Element) -> None:
    nodes = list(root.iter())[:4_000]
    parents = {child: parent for parent in nodes for child in parent}
    node = nodes[data.draw(st.integers(0, len(nodes) - 1))]
    op = data.draw(st.sampled_from(["delete", "duplicate", "attr", "attr", "text", "nest"]))
    parent = parents.get(node)
    if op == "delete" and parent is not None:
        parent.remove(node)
    elif op == "duplicate" and parent is not None:
        parent.insert(list(parent).index(node), copy.deepcopy(node))
    elif op == "attr":
        if node.attrib and data.draw(st.booleans()):
            name = data.draw(st.sampled_from(sorted(node.attrib)))
            if data.draw(st.booleans()):
                del node.attrib[name]
            else:
                value = _odd_value(data, node.attrib[name])
                node.attrib[name] = (
                    value if isinstance(value, str) else orjson.dumps(value).decode()
                )
        else:
            node.set(data.draw(st.sampled_from(["addr", "portid", "state", "x"])), "\u202e" * 3)
    elif op == "text":
        node.text = data.draw(st.sampled_from(["", "x" * HUGE, "-1", "\u0000".replace("\0", "")]))
    else:
        inner = node
        for _ in range(data.draw(st.sampled_from([10, 200, 900]))):
            inner = ET.SubElement(inner, node.tag)


def _structure(data: st.DataObject, raw: bytes, fmt: str) -> bytes | None:
    edits = data.draw(st.integers(1, 4))
    try:
        if fmt == "json":
            tree = orjson.loads(raw)
            for _ in range(edits):
                tree = edit_tree(data, tree)
            return dump_json(tree)
        if fmt == "yaml":
            docs = [d for d in yaml.safe_load_all(raw) if d is not None]
            if not docs:
                return None
            for _ in range(edits):
                i = data.draw(st.integers(0, len(docs) - 1))
                docs[i] = edit_tree(data, docs[i])
            return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True).encode()
        if fmt == "xml":
            root = ET.fromstring(raw)
            for _ in range(edits):
                _xml_edit(data, root)
            return ET.tostring(root)
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
        for _ in range(edits):
            rows = _edit_rows(data, rows)
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        return out.getvalue().encode()
    except (
        ValueError,
        TypeError,
        yaml.YAMLError,
        ET.ParseError,
        RecursionError,
        orjson.JSONEncodeError,
    ):
        return None


def _edit_rows(data: st.DataObject, rows: list[list[str]]) -> list[list[str]]:
    if not rows:
        return [["x"]]
    r = data.draw(st.integers(0, len(rows) - 1))
    op = data.draw(st.sampled_from(["delrow", "duprow", "delcell", "addcell", "cell", "cell"]))
    if op == "delrow":
        del rows[r]
    elif op == "duprow":
        rows.insert(r, list(rows[r]))
    elif op == "delcell" and rows[r]:
        del rows[r][data.draw(st.integers(0, len(rows[r]) - 1))]
    elif op == "addcell":
        rows[r].append(data.draw(st.text(max_size=20)))
    elif rows[r]:
        value = _odd_value(data, rows[r][0])
        cell = value if isinstance(value, str) else orjson.dumps(value).decode()
        rows[r][data.draw(st.integers(0, len(rows[r]) - 1))] = cell
    return rows


# ---------------------------------------------------------------------- bytes


def _bytes(data: st.DataObject, raw: bytes) -> bytes:
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(
            st.sampled_from(["flip", "truncate", "dellines", "duplines", "invalid", "nul", "bom"])
        )
        n = len(buf)
        if op == "flip" and n:
            for _ in range(data.draw(st.integers(1, 8))):
                i = data.draw(st.integers(0, n - 1))
                buf[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "truncate" and n:
            del buf[data.draw(st.integers(0, n - 1)) :]
        elif op in ("dellines", "duplines"):
            lines = bytes(buf).split(b"\n")
            a = data.draw(st.integers(0, len(lines) - 1))
            b = data.draw(st.integers(a, min(len(lines), a + 20)))
            if op == "dellines":
                del lines[a:b]
            else:
                lines[a:a] = lines[a:b]
            buf = bytearray(b"\n".join(lines))
        elif op == "invalid":
            i = data.draw(st.integers(0, n))
            buf[i:i] = data.draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88"]))
        elif op == "nul":
            i = data.draw(st.integers(0, n))
            buf[i:i] = b"\x00"
        elif op == "bom":
            buf[0:0] = b"\xef\xbb\xbf"
    return bytes(buf)


def _special(data: st.DataObject, fmt: str) -> bytes:
    general = [b"", b" \n\t\n", b"\x00" * 64, b"\xff\xfe\x00x", b"x" * 2_000_000 + b"\n"]
    own = {
        "json": [b"[" * DEEP + b"]" * DEEP, b'{"a":' * DEEP + b"1" + b"}" * DEEP, b"null", b"1"],
        "yaml": ATTACKS_YAML,
        "xml": ATTACKS_XML,
        "csv": [b'"' * 5 + b"\n", b"a,b\n" + b'"x' * 10_000, b",,,,\n" * 10, b"\r\r\r"],
    }[fmt]
    return data.draw(st.sampled_from(general + own))


def mutate(data: st.DataObject, raw: bytes, name: str) -> tuple[str, bytes]:
    """Return (how, mutated bytes) of the sample ``raw`` named ``name``."""
    fmt = fmt_of(name)
    how = data.draw(st.sampled_from(["structure", "structure", "bytes", "special"]))
    if how == "structure":
        out = _structure(data, raw, fmt)
        if out is not None:
            return how, out
        how = "bytes"
    if how == "bytes":
        return how, _bytes(data, raw)
    return how, _special(data, fmt)
