"""Operator templates, template checks and profiles, escaping, customConfig."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from provisioning.vendors import registry
from provisioning.vendors.render import (
    TemplateError,
    builtin_templates,
    check_template,
    render_config,
    template_profile,
    template_source,
)
from provisioning.vendors.samples import sample_context
from tests.support.render import device_file, kv_lines, render_text, with_label, xml_root


def test_custom_template_overrides_builtin_of_same_name() -> None:
    ctx = sample_context("yealink")
    custom = (
        "#!version:1.0.0.1\naccount.1.user_name = {{ phone.accounts[0].username }}\nlobby = 1\n"
    )
    text = render_text(ctx, **{"yealink.cfg": custom})
    assert text.splitlines()[1:] == [
        f"account.1.user_name = {ctx.accounts[0].username}",
        "lobby = 1",
    ]
    # the built-in is untouched for everyone else
    assert "lobby" not in render_text(ctx)


def test_custom_template_may_extend_the_builtin_base() -> None:
    custom = '{% extends "yealink-base.cfg" %}{% block network %}custom.network = 1\n{% endblock %}'
    text = render_text(sample_context("yealink"), **{"yealink.cfg": custom})
    lines = kv_lines(text.split("\n", 1)[1])
    assert lines["custom.network"] == "1"
    assert "static.network.internet_port.ip" not in lines
    assert lines["linekey.2.type"] == "16"


def test_overriding_the_base_changes_models_extending_it() -> None:
    base = template_source("snom-base.xml").replace("<settings>", "<settings><!-- site -->")
    text = render_text(sample_context("snom"), **{"snom-base.xml": base})
    assert "<!-- site -->" in text
    xml_root(text)


def test_phone_may_choose_another_template() -> None:
    ctx = replace(sample_context("yealink"), template="yealink-lobby.cfg")
    text = render_text(ctx, **{"yealink-lobby.cfg": "lobby = {{ phone.mac }}\n"})
    assert text == "lobby = 0015654AA937\n"


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("a = 1\nb = {{ phone.accounts[0].username \nc = 3\n", 3, "expected token"),
        ("a = 1\n{% for x in phone.accounts %}\nb = 2\n", 3, "for"),
        ("a = 1\nb = 2\nc = {{ phone.no_such_setting }}\n", 3, "no_such_setting"),
        ("a = {{ vendor.nope }}\n", 1, "nope"),
        ('{% extends "missing-base.cfg" %}\n', None, "missing-base.cfg"),
    ],
)
def test_broken_template_refused_with_line_and_reason(
    content: str, line: int | None, reason: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        check_template("yealink-custom.cfg", content)
    assert caught.value.filename in ("yealink-custom.cfg", "missing-base.cfg")
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert (f"line {line}" in str(caught.value)) == (line is not None)


def test_sandbox_refuses_python_internals() -> None:
    with pytest.raises(TemplateError, match="unsafe|not safely"):
        check_template("yealink-evil.cfg", "x = {{ phone.__class__.__mro__ }}\n")


def test_check_template_accepts_good_templates_of_any_vendor() -> None:
    for name in builtin_templates():
        check_template(name, template_source(name))
    check_template("site-wide.cfg", "mac = {{ phone.mac }}\n")


def test_profile_lists_the_settings_a_template_uses() -> None:
    profile = template_profile("yealink.cfg")
    assert (profile.vendor, profile.builtin) == ("yealink", True)
    for setting in (
        "phone.accounts[].username",
        "phone.accounts[].password",
        "phone.accounts[].transport",
        "phone.network.ip_address",
        "phone.wan_vlan.vlan_id",
        "phone.device.web_password",
        "vendor.keys[].code",
        "vendor.panel_keys[].panel_key",
    ):
        assert setting in profile.settings
    custom = template_profile("yealink.cfg", overrides={"yealink.cfg": "a = {{ phone.mac }}\n"})
    assert (custom.builtin, custom.settings) == (False, ("phone.mac",))


@pytest.mark.parametrize("vendor", ["yealink", "mitel"])
def test_newline_in_label_cannot_add_a_config_line(vendor: str) -> None:
    evil = "Boss\nstatic.security.user_password = admin:owned\r\nx"
    text = render_text(with_label(sample_context(vendor), evil))
    assert "owned" in text
    for line in text.splitlines():
        assert not line.startswith("static.security.user_password = admin:owned")
        assert "\r" not in line
    sep = " = " if vendor == "yealink" else ": "
    kv_lines(text.split("\n", 1)[1] if vendor == "yealink" else text, sep=sep)


@pytest.mark.parametrize("vendor", ["snom", "grandstream", "polycom", "cisco", "fanvil", "gigaset"])
def test_markup_in_label_stays_text_in_xml(vendor: str) -> None:
    evil = 'Boss</user_realname><user_pass idx="1">x</user_pass>"\' & <!--'
    ctx = with_label(sample_context(vendor), evil)
    root = xml_root(render_text(ctx))
    texts = [e.text or "" for e in root.iter()] + [
        v for e in root.iter() for v in e.attrib.values()
    ]
    assert any(evil in t for t in texts)
    assert not any(e.tag == "user_pass" and e.text == "x" for e in root.iter())


def test_cisco_label_cannot_add_extended_function_fields() -> None:
    ctx = with_label(sample_context("cisco"), "Boss;sub=999@evil")
    values = {e.tag: e.text for e in xml_root(render_text(ctx))}
    assert values["Extended_Function_2_"] == "fnc=blf+sd+cp;sub=102@$PROXY;nme=Boss,sub=999@evil"


def test_custom_config_goes_last_in_key_value_files() -> None:
    ctx = replace(sample_context("yealink"), custom_config="features.custom = 1\nlang.gui = French")
    lines = render_text(ctx).splitlines()
    assert lines[-2:] == ["features.custom = 1", "lang.gui = French"]


@pytest.mark.parametrize("vendor", ["snom", "grandstream", "polycom", "cisco", "fanvil"])
def test_custom_config_goes_last_inside_the_xml_root(vendor: str) -> None:
    ctx = replace(sample_context(vendor), custom_config="<custom_setting>1</custom_setting>")
    root = xml_root(render_text(ctx))
    last = list(root.iter())[-1]
    assert (last.tag, last.text) == ("custom_setting", "1")


def test_custom_config_not_in_polycom_master_file() -> None:
    from provisioning.vendors.filenames import match_file

    ctx = replace(sample_context("polycom"), custom_config="<x/>")
    request = match_file("0015654aa937.cfg").for_vendor("polycom")
    assert b"<x/>" not in render_config(ctx, request).body


def test_templates_are_compiled_once() -> None:
    ctx = sample_context("snom")
    first = render_config(ctx, device_file(ctx))
    from provisioning.vendors import render

    env = render._env({})
    compiled = env.get_template("snom.xml")
    render_config(ctx, device_file(ctx))
    assert env.get_template("snom.xml") is compiled
    assert render._env({}) is env
    assert first.content_type.startswith("application/xml")


def test_every_vendor_template_file_exists() -> None:
    for spec in registry.VENDORS.values():
        for name in spec.templates:
            path = registry.template_path(name)
            assert path is not None and path.is_file(), name
        for name in (spec.device_template, spec.master_template, spec.common_template):
            assert name is None or name in spec.templates


def test_check_custom_config() -> None:
    from provisioning.vendors.render import check_custom_config

    check_custom_config("yealink", "features.a = 1\r\nfeatures.b = 2\n")
    check_custom_config("snom", '<setting_a perm="R">1</setting_a>\n<b/>')
    with pytest.raises(TemplateError) as caught:
        check_custom_config("snom", "<a>1</a>\n<b>2</c>")
    assert (caught.value.line, caught.value.reason) == (2, "not well-formed XML")
    with pytest.raises(TemplateError, match="line 2: control character"):
        check_custom_config("mitel", "a: 1\nb: \x00")


def _resolve(root: type, path: str) -> None:
    """Follow `a.b[].c` through dataclass fields and properties; fail on a missing name."""
    import dataclasses
    import types
    import typing

    current: Any = root
    for part in path.split(".")[1:]:
        name = part.removesuffix("[]")
        if isinstance(current, type) and dataclasses.is_dataclass(current):
            hints = typing.get_type_hints(current)
            if name in hints:
                current = hints[name]
            elif isinstance(getattr(current, name, None), property):
                current = str
                continue
            else:
                raise AssertionError(f"{path}: {current.__name__} has no {name}")
        else:
            return  # a method of a str/int value (`.split`), not a setting
        args = [a for a in typing.get_args(current) if a is not type(None) and a is not Ellipsis]
        origin = typing.get_origin(current)
        if origin in (types.UnionType, typing.Union) or (origin is tuple and part.endswith("[]")):
            current = args[0] if args else current


def test_builtin_templates_only_read_fields_that_exist() -> None:
    """StrictUndefined catches a misspelt setting only on the branch that runs; this checks
    every `phone.…` path of every built-in template against the dataclasses."""
    from provisioning.vendors.context import PhoneContext

    for name in builtin_templates():
        for setting in template_profile(name).settings:
            if setting.startswith("phone."):
                _resolve(PhoneContext, setting)


def test_sandbox_applies_when_an_operator_template_is_in_the_chain() -> None:
    from provisioning.vendors import render

    assert render._env_for("snom.xml", {}) is render._trusted()
    assert render._env_for("snom.xml", {"yealink.cfg": "x"}) is render._trusted()
    assert render._env_for("snom.xml", {"snom-base.xml": "x"}) is not render._trusted()
    evil = "#!version:1.0.0.1\nx = {{ phone.__class__.__mro__ }}\n"
    with pytest.raises(TemplateError, match="unsafe|not safely"):
        render_text(sample_context("yealink"), **{"yealink-base.cfg": evil})
