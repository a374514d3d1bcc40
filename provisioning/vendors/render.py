"""Render a phone's config file from its `PhoneContext` with the vendor's Jinja2 templates.

Templates: `provisioning/templates/<vendor>/<file>` (a base per vendor, model templates
extending it), searched *after* operator templates (`/api/templates/phones`), which are
passed in as `overrides` (file name → content) and override a built-in of the same name.
Compiled templates are cached: one sandboxed Environment per distinct set of overrides, and
Jinja caches each compiled template in it, so a fetch renders without parsing anything.

Escaping is by format, for every value any template prints (`finalize`): control
characters (CR, LF, …) become spaces, so a label can never start a new key=value line;
XML templates are autoescaped. `customConfig` (002) goes last — appended to key=value
files, inside the root element of XML files.

Template variables: `phone` (the PhoneContext), `vendor` (the vendor module's prepared
values: key rows with the vendor's codes, language and time-zone spellings, codecs) and,
for common files, `common` (CommonContext).
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType, SimpleNamespace, TracebackType
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from provisioning.vendors import registry
from provisioning.vendors.context import CommonContext, PhoneContext
from provisioning.vendors.filenames import FileRequest
from provisioning.vendors.spec import VendorSpec

_NO_OVERRIDES: Mapping[str, str] = MappingProxyType({})
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CUSTOM_PREFIX = "custom:"


class TemplateError(ValueError):
    """A template that does not parse or does not render: which file, which line, why."""

    def __init__(self, filename: str, line: int | None, reason: str) -> None:
        where = f"{filename}, line {line}" if line else filename
        super().__init__(f"{where}: {reason}")
        self.filename = filename
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedFile:
    body: bytes
    content_type: str


class _Loader(jinja2.BaseLoader):
    """Operator templates first, then the built-ins of every vendor."""

    def __init__(self, overrides: Mapping[str, str]) -> None:
        self._overrides = dict(overrides)

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Any]:
        if template in self._overrides:
            return self._overrides[template], _CUSTOM_PREFIX + template, lambda: True
        path = registry.template_path(template)
        if path is None or not path.is_file():
            raise jinja2.TemplateNotFound(template)
        return path.read_text(encoding="utf-8"), str(path), lambda: True


def _is_xml(name: str | None) -> bool:
    if not name:
        return False
    base = name.rsplit("/", 1)[-1].removeprefix(_CUSTOM_PREFIX)
    spec = registry.vendor_of_template(base)
    if spec is not None and base in spec.templates:
        return spec.xml
    return base.lower().endswith((".xml", ".htm")) or (spec is not None and spec.xml)


def _finalize(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and not value.isprintable():
        return _CONTROL.sub(" ", value)
    return value


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox (operator templates must not reach Python internals or
    change data), with its attribute verdicts cached: they depend only on the object's type
    and the attribute name (jinja2.sandbox.is_internal_attribute, modifies_known_mutable),
    and checking them on every access was three quarters of a render."""

    _verdicts: dict[tuple[type, str], bool]

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        key = (type(obj), attr)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = super().is_safe_attribute(obj, attr, value)
            if len(self._verdicts) < 10_000:
                self._verdicts[key] = verdict
        return verdict


@functools.lru_cache(maxsize=16)
def _environment(overrides: tuple[tuple[str, str], ...]) -> jinja2.Environment:
    env = _Sandbox(
        loader=_Loader(dict(overrides)),
        undefined=jinja2.StrictUndefined,
        autoescape=_is_xml,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
        cache_size=400,
    )
    env._verdicts = {}
    return env


def _env(overrides: Mapping[str, str]) -> jinja2.Environment:
    return _environment(tuple(sorted(overrides.items())) if overrides else ())


@functools.lru_cache(maxsize=1)
def _trusted() -> jinja2.Environment:
    """The built-in templates are our own code: rendered without the sandbox's per-access
    checks (about twice as fast) whenever no operator template is part of their chain."""
    return jinja2.Environment(
        loader=_Loader({}),
        undefined=jinja2.StrictUndefined,
        autoescape=_is_xml,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
        cache_size=400,
    )


@functools.lru_cache(maxsize=256)
def _builtin_chain(name: str) -> frozenset[str]:
    """A built-in template and every template it extends or includes (by constant name)."""
    env = _trusted()
    seen: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current in seen or registry.template_path(current) is None:
            continue
        seen.add(current)
        for node in env.parse(template_source(current)).find_all(
            (jinja2.nodes.Extends, jinja2.nodes.Include)
        ):
            parent = getattr(node, "template", None)
            if isinstance(parent, jinja2.nodes.Const) and isinstance(parent.value, str):
                pending.append(parent.value)
    return frozenset(seen)


def _env_for(name: str, overrides: Mapping[str, str]) -> jinja2.Environment:
    if registry.template_path(name) is not None and not any(
        other in overrides for other in _builtin_chain(name)
    ):
        return _trusted()
    return _env(overrides)


def _template_name(spec: VendorSpec, ctx_template: str | None, file: FileRequest) -> str:
    if file.kind == "master":
        name = spec.master_template
    elif file.kind == "common":
        name = spec.common_template
    else:
        name = ctx_template or spec.device_template
    if not name:
        raise LookupError(f"{spec.name} has no template for {file.kind} file {file.filename}")
    return name


def render_config(
    ctx: PhoneContext, file: FileRequest, *, overrides: Mapping[str, str] = _NO_OVERRIDES
) -> RenderedFile:
    """The body of a per-MAC file (`device`, or Polycom's `master`) for one phone."""
    spec = registry.vendor(ctx.vendor)
    if file.kind == "common":
        common = CommonContext(
            vendor=ctx.vendor,
            model=ctx.model,
            provisioning_url=ctx.provisioning_url,
            ntp_server=ctx.ntp_server,
        )
        return render_common(common, file, overrides=overrides)
    name = _template_name(spec, ctx.template, file)
    variables = {"phone": ctx, "vendor": _values(spec, ctx)}
    body = _render(name, variables, overrides)
    if file.kind == "device" and ctx.custom_config:
        body = _append_custom(body, ctx.custom_config, xml=_is_xml(name))
    return RenderedFile(body=body.encode("utf-8"), content_type=spec.content_type)


def render_common(
    common: CommonContext, file: FileRequest, *, overrides: Mapping[str, str] = _NO_OVERRIDES
) -> RenderedFile:
    """A vendor's common file (no MAC): mostly where to fetch the per-MAC file from."""
    spec = registry.vendor(common.vendor)
    name = _template_name(spec, None, file)
    body = _render(name, {"common": common}, overrides)
    return RenderedFile(body=body.encode("utf-8"), content_type=spec.content_type)


def _values(spec: VendorSpec, ctx: PhoneContext) -> SimpleNamespace:
    """The vendor's prepared values as attributes (`vendor.keys`; a dict would shadow
    `keys` with its method)."""
    return SimpleNamespace(**spec.prepare(ctx))


def _render(name: str, variables: Mapping[str, object], overrides: Mapping[str, str]) -> str:
    try:
        return _env_for(name, overrides).get_template(name).render(variables)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(
            _short(error.filename or name), error.lineno, error.message or ""
        ) from None
    except jinja2.TemplateNotFound as error:
        raise TemplateError(name, None, f"template {error.name} not found") from None
    except (jinja2.UndefinedError, jinja2.TemplateError, TypeError, ValueError) as error:
        filename, line = _template_frame(sys.exc_info()[2], name)
        raise TemplateError(filename, line, str(error)) from None


def _short(filename: str) -> str:
    return filename.removeprefix(_CUSTOM_PREFIX).rsplit("/", 1)[-1]


def _template_frame(tb: TracebackType | None, default: str) -> tuple[str, int | None]:
    """The innermost template frame of a render error: Jinja rewrites tracebacks so that
    template frames carry the template's file name and line."""
    found: tuple[str, int | None] = (default, None)
    while tb is not None:
        code = tb.tb_frame.f_code.co_filename
        if code.startswith(_CUSTOM_PREFIX) or "/templates/" in code:
            found = (_short(code), tb.tb_lineno)
        tb = tb.tb_next
    return found


def _append_custom(body: str, custom: str, *, xml: bool) -> str:
    """customConfig last: before the root's closing tag in XML, else after everything."""
    text = custom if custom.endswith("\n") else custom + "\n"
    if xml:
        cut = body.rstrip().rfind("</")
        if cut > 0:
            return body[:cut] + text + body[cut:]
    return _join(body, text)


def _join(body: str, text: str) -> str:
    return body + text if body.endswith("\n") else body + "\n" + text


def builtin_templates() -> tuple[str, ...]:
    """Every built-in template file name."""
    return tuple(sorted(registry.TEMPLATE_VENDOR))


def template_source(filename: str, *, overrides: Mapping[str, str] = _NO_OVERRIDES) -> str:
    """A template's text: the operator's if there is one, else the built-in."""
    if filename in overrides:
        return overrides[filename]
    path = registry.template_path(filename)
    if path is None or not path.is_file():
        raise LookupError(f"no template {filename!r}")
    return path.read_text(encoding="utf-8")


def check_template(
    filename: str, content: str, *, overrides: Mapping[str, str] = _NO_OVERRIDES
) -> None:
    """Refuse an operator template that does not parse or does not render.

    It is rendered against a sample phone of its vendor (the built-in's vendor, or the
    vendor its name starts with; otherwise every vendor's, passing if any renders), with
    every soft-key function, side panels, static network and VLANs, so that a misspelt
    setting fails here and not when a phone fetches. Raises `TemplateError(filename,
    line, reason)`.
    """
    from provisioning.vendors.samples import sample_context

    merged = {**overrides, filename: content}
    env = _env(merged)
    try:
        env.parse(content, filename, _CUSTOM_PREFIX + filename)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(filename, error.lineno, error.message or "syntax error") from None
    owner = registry.vendor_of_template(filename)
    specs = [owner] if owner is not None else list(registry.VENDORS.values())
    first: TemplateError | None = None
    for spec in specs:
        ctx = sample_context(spec.name, template=filename)
        try:
            _render(
                filename,
                {"phone": ctx, "vendor": _values(spec, ctx), "common": _sample_common(spec.name)},
                merged,
            )
            return
        except TemplateError as error:
            first = first or error
    if first is not None:
        raise first


def _sample_common(vendor: str) -> CommonContext:
    return CommonContext(vendor=vendor, model=None, provisioning_url="https://prov.example/")


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateProfile:
    """What `/api/phone_models/{filename}` shows: the template's vendor and the settings
    (context paths such as `phone.device.language`) it and its parents use."""

    filename: str
    vendor: str | None
    builtin: bool
    settings: tuple[str, ...]


def template_profile(
    filename: str, *, overrides: Mapping[str, str] = _NO_OVERRIDES
) -> TemplateProfile:
    """The settings a template uses, following `{% extends %}`/`{% include %}`."""
    env = _env(overrides)
    found: set[str] = set()
    seen: set[str] = set()
    pending = [filename]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            tree = env.parse(template_source(name, overrides=overrides))
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(name, error.lineno, error.message or "syntax error") from None
        found |= _paths(tree)
        for node in tree.find_all((jinja2.nodes.Extends, jinja2.nodes.Include)):
            parent = getattr(node, "template", None)
            if isinstance(parent, jinja2.nodes.Const) and isinstance(parent.value, str):
                pending.append(parent.value)
    spec = registry.vendor_of_template(filename)
    return TemplateProfile(
        filename=filename,
        vendor=spec.name if spec else None,
        builtin=filename in registry.TEMPLATE_VENDOR and filename not in overrides,
        settings=tuple(sorted(found)),
    )


_ROOTS = frozenset({"phone", "vendor", "common"})


def _paths(tree: jinja2.nodes.Template) -> set[str]:
    """Dotted paths read from the context; a loop variable stands for an item of its
    list ('phone.accounts[].username'). Only leaves are kept."""
    paths: set[str] = set()
    _visit(tree, {}, paths)
    return {p for p in paths if not any(o != p and o.startswith((p + ".", p + "[")) for o in paths)}


def _visit(node: jinja2.nodes.Node, aliases: dict[str, str], paths: set[str]) -> None:
    if isinstance(node, (jinja2.nodes.Getattr, jinja2.nodes.Getitem, jinja2.nodes.Name)):
        path = _dotted(node, aliases)
        root = (path or "").split(".", 1)[0].split("[", 1)[0]
        if path and root in _ROOTS and "." in path:
            paths.add(path)
            if isinstance(node, jinja2.nodes.Getitem):
                _visit(node.arg, aliases, paths)
            return
    if isinstance(node, jinja2.nodes.For):
        _visit(node.iter, aliases, paths)
        inner = dict(aliases)
        source = _dotted(node.iter, aliases)
        target = node.target
        targets = target.items if isinstance(target, jinja2.nodes.Tuple) else [target]
        for name in targets:
            if source and isinstance(name, jinja2.nodes.Name):
                inner[name.name] = source + "[]"
        for child in (*node.body, *node.else_, *([node.test] if node.test else [])):
            _visit(child, inner, paths)
        return
    if isinstance(node, jinja2.nodes.Assign) and isinstance(node.target, jinja2.nodes.Name):
        source = _dotted(node.node, aliases)
        if source:
            aliases[node.target.name] = source
    for child in node.iter_child_nodes():
        _visit(child, aliases, paths)


def _dotted(node: jinja2.nodes.Node, aliases: Mapping[str, str]) -> str | None:
    if isinstance(node, jinja2.nodes.Name):
        return aliases.get(node.name, node.name)
    if isinstance(node, jinja2.nodes.Getattr):
        base = _dotted(node.node, aliases)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, jinja2.nodes.Getitem):
        base = _dotted(node.node, aliases)
        return f"{base}[]" if base else None
    return None


def check_custom_config(vendor: str, text: str) -> None:
    """Refuse a `customConfig` (002) that would break the vendor's file: control characters
    other than line breaks and tabs anywhere, and for XML vendors a fragment that is not
    well-formed XML (it is inserted inside the root element). Raises TemplateError with the
    line of the fault."""
    spec = registry.vendor(vendor)
    for number, row in enumerate(text.splitlines(), 1):
        if _CONTROL.search(row.replace("\t", " ")):
            raise TemplateError("customConfig", number, "control character")
    if spec.xml:
        import xml.etree.ElementTree as ET

        try:
            ET.fromstring(f"<customConfig>{text}</customConfig>")
        except ET.ParseError as error:
            raise TemplateError("customConfig", error.position[0], "not well-formed XML") from None
