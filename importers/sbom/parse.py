"""Reading SBOM files: CycloneDX JSON (spec 1.2 to 1.6) and SPDX 2.x JSON.

The format is detected from the content: ``"bomFormat": "CycloneDX"`` or an
``spdxVersion`` of ``SPDX-2.x``. Anything else (including SPDX 3 JSON-LD and
CycloneDX XML) is a :class:`~graphsvc.errors.ParseError` naming the file and
the element. Required fields (a component's ``name``, a dependency's ``ref``, a
package's ``SPDXID``, a relationship's three fields) are checked; optional ones
of the wrong type are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from graphsvc.errors import ParseError
from importers._json import (
    is_object,
    load_json,
    opt_str,
    require_list,
    require_object,
    require_str,
)
from importers.sbom.records import (
    CdxDependency,
    CdxItem,
    CycloneDxBom,
    SbomDocument,
    SbomNote,
    SpdxDocument,
    SpdxPackage,
    SpdxRelationship,
)

__all__ = ["CYCLONEDX_VERSIONS", "parse_sbom"]

CYCLONEDX_VERSIONS = ("1.2", "1.3", "1.4", "1.5", "1.6")
"""CycloneDX JSON spec versions accepted."""

_SPDX_VERSION = re.compile(r"^SPDX-2\.[0-3]$")
_NO_INFORMATION = frozenset({"NOASSERTION", "NONE"})
_ACTOR = re.compile(r"^(?:Organization|Person|Tool):\s*(.*?)\s*(?:\([^)]*\))?\s*$")


def parse_sbom(path: Path) -> SbomDocument:
    """Read one SBOM file (see the module docstring).

    Raises:
        ParseError: when the file is not JSON, is neither CycloneDX nor SPDX 2.x,
            has an unsupported version, or a required field is missing.
    """
    top = require_object(load_json(path), path, "$")
    if "bomFormat" in top:
        if top.get("bomFormat") != "CycloneDX":
            raise ParseError(str(path), "bomFormat", f"unknown bomFormat {top.get('bomFormat')!r}")
        return _cyclonedx(path, top)
    if "spdxVersion" in top:
        version = top.get("spdxVersion")
        if not isinstance(version, str) or not _SPDX_VERSION.match(version):
            raise ParseError(
                str(path),
                "spdxVersion",
                f"unsupported SPDX version {version!r}; SPDX-2.0 to SPDX-2.3",
            )
        return _spdx(path, top, version)
    raise ParseError(
        str(path),
        "$",
        "neither a CycloneDX BOM (bomFormat) nor an SPDX 2.x document (spdxVersion)",
    )


# ------------------------------------------------------------------ CycloneDX


def _cyclonedx(path: Path, top: Mapping[str, object]) -> CycloneDxBom:
    spec = top.get("specVersion")
    if spec not in CYCLONEDX_VERSIONS:
        raise ParseError(
            str(path),
            "specVersion",
            f"unsupported CycloneDX specVersion {spec!r}; {', '.join(CYCLONEDX_VERSIONS)}",
        )
    assert isinstance(spec, str)
    items: list[CdxItem] = []
    notes: list[SbomNote] = []
    metadata = top.get("metadata")
    if metadata is not None:
        meta = require_object(metadata, path, "metadata")
        root = meta.get("component")
        if root is not None:
            _cdx_item(path, "metadata.component", root, "component", None, items, is_root=True)
    sections: tuple[tuple[str, Literal["component", "service"]], ...] = (
        ("components", "component"),
        ("services", "service"),
    )
    for key, kind in sections:
        raw = top.get(key)
        if raw is None:
            continue
        for index, entry in enumerate(require_list(raw, path, key)):
            _cdx_item(path, f"{key}[{index}]", entry, kind, None, items, is_root=False)
    dependencies: list[CdxDependency] = []
    raw_dependencies = top.get("dependencies")
    if raw_dependencies is not None:
        for index, entry in enumerate(require_list(raw_dependencies, path, "dependencies")):
            element = f"dependencies[{index}]"
            obj = require_object(entry, path, element)
            ref = require_str(obj, "ref", path, element)
            targets = require_list(obj.get("dependsOn") or [], path, f"{element}.dependsOn")
            depends_on: list[str] = []
            for t_index, target in enumerate(targets):
                if isinstance(target, str) and target.strip():
                    depends_on.append(target)
                elif is_object(target) and opt_str(target.get("ref")):
                    depends_on.append(str(target.get("ref")))
                else:
                    raise ParseError(
                        str(path), f"{element}.dependsOn[{t_index}]", "expected a bom-ref"
                    )
            dependencies.append(CdxDependency(element, ref, tuple(depends_on)))
    first: dict[str, str] = {}
    for item in items:
        if item.bom_ref is None:
            continue
        if item.bom_ref in first:
            notes.append(
                SbomNote(
                    item.element,
                    f"duplicate bom-ref {item.bom_ref!r} (first at {first[item.bom_ref]}); "
                    "references resolve to the first",
                )
            )
        else:
            first[item.bom_ref] = item.element
    return CycloneDxBom(
        spec_version=spec,
        serial_number=opt_str(top.get("serialNumber")),
        items=tuple(items),
        dependencies=tuple(dependencies),
        has_dependency_graph=raw_dependencies is not None,
        notes=tuple(notes),
    )


def _cdx_item(
    path: Path,
    element: str,
    raw: object,
    kind: Literal["component", "service"],
    parent: int | None,
    items: list[CdxItem],
    *,
    is_root: bool,
) -> None:
    obj = require_object(raw, path, element)
    name = require_str(obj, "name", path, element)
    supplier = obj.get("supplier") if kind == "component" else obj.get("provider")
    item = CdxItem(
        element=element,
        kind=kind,
        is_root=is_root,
        parent=parent,
        bom_ref=opt_str(obj.get("bom-ref")),
        name=name,
        group=opt_str(obj.get("group")),
        version=opt_str(obj.get("version")),
        component_type=opt_str(obj.get("type")) if kind == "component" else None,
        purl=opt_str(obj.get("purl")) if kind == "component" else None,
        licenses=_cdx_licenses(obj.get("licenses")),
        supplier=opt_str(supplier.get("name")) if is_object(supplier) else None,
        description=opt_str(obj.get("description")),
        scope=opt_str(obj.get("scope")) if kind == "component" else None,
        endpoints=tuple(e for e in _list(obj.get("endpoints")) if isinstance(e, str)),
        authenticated=_bool(obj.get("authenticated")),
        trust_boundary=_bool(obj.get("x-trust-boundary")),
    )
    items.append(item)
    me = len(items) - 1
    key = "components" if kind == "component" else "services"
    nested = obj.get(key)
    if nested is not None:
        for index, entry in enumerate(require_list(nested, path, f"{element}.{key}")):
            _cdx_item(path, f"{element}.{key}[{index}]", entry, kind, me, items, is_root=False)


def _cdx_licenses(raw: object) -> tuple[str, ...]:
    out: list[str] = []
    for entry in _list(raw):
        if not is_object(entry):
            continue
        expression = opt_str(entry.get("expression"))
        license_ = entry.get("license")
        if expression:
            out.append(expression)
        elif is_object(license_):
            value = opt_str(license_.get("id")) or opt_str(license_.get("name"))
            if value:
                out.append(value)
    return tuple(dict.fromkeys(out))


def _list(value: object) -> Sequence[object]:
    return value if isinstance(value, list) else ()


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


# ----------------------------------------------------------------------- SPDX


def _spdx(path: Path, top: Mapping[str, object], version: str) -> SpdxDocument:
    namespace = require_str(top, "documentNamespace", path, "$")
    packages: list[SpdxPackage] = []
    notes: list[SbomNote] = []
    raw_packages = top.get("packages")
    for index, entry in enumerate(require_list(raw_packages or [], path, "packages")):
        packages.append(_spdx_package(path, f"packages[{index}]", entry))
    others: set[str] = set()
    for key in ("files", "snippets"):
        raw = top.get(key)
        for index, entry in enumerate(require_list(raw or [], path, key)):
            element = f"{key}[{index}]"
            others.add(require_str(require_object(entry, path, element), "SPDXID", path, element))
    relationships: list[SpdxRelationship] = []
    for index, entry in enumerate(
        require_list(top.get("relationships") or [], path, "relationships")
    ):
        element = f"relationships[{index}]"
        obj = require_object(entry, path, element)
        relationships.append(
            SpdxRelationship(
                element=element,
                source=require_str(obj, "spdxElementId", path, element),
                relationship_type=require_str(obj, "relationshipType", path, element),
                target=require_str(obj, "relatedSpdxElement", path, element),
            )
        )
    seen: dict[str, str] = {}
    for package in packages:
        if package.spdx_id in seen:
            notes.append(
                SbomNote(
                    package.element,
                    f"duplicate SPDXID {package.spdx_id!r} (first at {seen[package.spdx_id]}); "
                    "relationships resolve to the first",
                )
            )
        else:
            seen[package.spdx_id] = package.element
    describes = tuple(d for d in _list(top.get("documentDescribes")) if isinstance(d, str))
    return SpdxDocument(
        spdx_version=version,
        namespace=namespace,
        name=opt_str(top.get("name")),
        packages=tuple(packages),
        relationships=tuple(relationships),
        describes=describes,
        other_elements=frozenset(others),
        notes=tuple(notes),
    )


def _spdx_package(path: Path, element: str, raw: object) -> SpdxPackage:
    obj = require_object(raw, path, element)
    spdx_id = require_str(obj, "SPDXID", path, element)
    name = require_str(obj, "name", path, element)
    purl: str | None = None
    cpe: str | None = None
    for reference in _list(obj.get("externalRefs")):
        if not is_object(reference):
            continue
        kind, locator = (
            opt_str(reference.get("referenceType")),
            opt_str(reference.get("referenceLocator")),
        )
        if locator and kind == "purl" and purl is None:
            purl = locator.strip()
        elif locator and kind in ("cpe23Type", "cpe22Type") and cpe is None:
            cpe = locator.strip()
    concluded = opt_str(obj.get("licenseConcluded"))
    declared = opt_str(obj.get("licenseDeclared"))
    licenses = next((v for v in (concluded, declared) if v and v not in _NO_INFORMATION), None)
    purpose = opt_str(obj.get("primaryPackagePurpose"))
    return SpdxPackage(
        element=element,
        spdx_id=spdx_id,
        name=name,
        version=opt_str(obj.get("versionInfo")),
        purl=purl,
        cpe=cpe,
        licenses=(licenses,) if licenses else (),
        supplier=_actor(opt_str(obj.get("supplier"))),
        purpose=purpose.lower().replace("_", "-") if purpose else None,
    )


def _actor(raw: str | None) -> str | None:
    """``Organization: ExampleCodeInspect (contact@example.com)`` -> ``ExampleCodeInspect``."""
    if raw is None or raw in _NO_INFORMATION:
        return None
    match = _ACTOR.match(raw)
    value = match.group(1) if match else raw
    return value or None
