"""The content hash of a campaign: what an approval signs.

It covers every language file (bytes, front matter included), the layout files (the one the
campaign names and every layout it extends or includes), and what the links point to: each
``resource:`` link's slug, URL or file target and access, each ``pod:`` link's slug and name.
Any change to any of them gives another hash and voids the approvals of the old one. The hash is
sha256 over a canonical JSON of those inputs (sorted keys), so it is deterministic.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from sqlmodel import Session, select

from gll_mail.campaigns.markdown import classify_link, markdown_parser, protect_jinja
from gll_mail.campaigns.render import layout_environment
from gll_mail.campaigns.sources import CampaignSource, variant_paths
from gll_mail.languages import DEFAULT_LANGUAGE
from gll_mail.models import Pod, Resource
from gll_mail.settings import Settings


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_files(base: Path) -> dict[str, Path]:
    """language → file of a campaign whose base file is ``base`` (``SLUG.md``), those that exist."""
    found = {DEFAULT_LANGUAGE: base} if base.is_file() else {}
    found.update(variant_paths(base))
    return found


def file_digests(base: Path) -> dict[str, str]:
    """file name → sha256 of its bytes, for every language file of the campaign."""
    return {path.name: digest(path.read_bytes()) for path in source_files(base).values()}


def layout_digests(templates_dir: Path, template: str) -> dict[str, str]:
    """layout file name → sha256, for the campaign's layout and every layout it extends or includes."""
    env = layout_environment(templates_dir)
    found: dict[str, str] = {}
    todo = [f"{template}.mjml"]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        path = templates_dir / name
        try:
            data = path.read_bytes()
        except OSError:
            found[name] = "missing"
            continue
        found[name] = digest(data)
        try:
            todo.extend(n for n in meta.find_referenced_templates(env.parse(data.decode("utf-8", "replace"))) if n)
        except jinja2.TemplateSyntaxError:
            pass  # the preflight says so; the bytes are in the hash all the same
    return found


def linked_slugs(source: CampaignSource) -> tuple[set[str], set[str]]:
    """The resource and pod slugs the campaign's links (every language) point to."""
    md = markdown_parser()
    resources: set[str] = set()
    pods: set[str] = set()
    for variant in source.variants.values():
        protected, _ = protect_jinja(variant.body)
        for token in md.parse(protected):
            for child in token.children or []:
                if child.type != "link_open":
                    continue
                info = classify_link(child.attrGet("href"))
                if info.kind == "resource":
                    resources.add(info.slug)
                elif info.kind == "pod":
                    pods.add(info.slug)
    return resources, pods


def link_targets(session: Session, resources: set[str], pods: set[str]) -> tuple[dict, dict]:
    """slug → target of each linked resource (None: no such resource) and slug → name of each pod."""
    found_resources: dict[str, Any] = dict.fromkeys(resources)
    if resources:
        for r in session.exec(select(Resource).where(Resource.slug.in_(sorted(resources)))):
            found_resources[r.slug] = {"url": r.url, "file": r.file_path, "access": r.access}
            if r.access.startswith("pod:"):
                pods = pods | {r.access[4:]}
    found_pods: dict[str, Any] = dict.fromkeys(pods)
    if pods:
        for p in session.exec(select(Pod).where(Pod.slug.in_(sorted(pods)))):
            found_pods[p.slug] = p.name
    return found_resources, found_pods


def hash_inputs(settings: Settings, session: Session, source: CampaignSource) -> dict[str, Any]:
    """Everything the content hash covers, as a JSON-ready mapping (kept with each revision, so a
    diff can name a changed layout or link target, not only changed files)."""
    resources, pods = linked_slugs(source)
    resource_targets, pod_names = link_targets(session, resources, pods)
    return {
        "files": file_digests(source.path),
        "layouts": layout_digests(settings.templates_dir, source.template),
        "resources": resource_targets,
        "pods": pod_names,
    }


def hash_of(inputs: dict[str, Any]) -> str:
    return digest(json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())


def content_hash(settings: Settings, session: Session, source: CampaignSource) -> str:
    """sha256 (hex) of the campaign's content as an approval binds it."""
    return hash_of(hash_inputs(settings, session, source))


def files_hash(files: dict[str, bytes]) -> str:
    """sha256 over a campaign's files alone (name → bytes): what an editor loaded, for the conflict
    check of :func:`gll_mail.campaigns.revisions.save_source`."""
    return hash_of({"files": {name: digest(data) for name, data in files.items()}})
