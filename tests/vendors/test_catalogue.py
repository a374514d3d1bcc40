"""The catalogue migration against the templates: every row names a template that exists
and lists only soft-key functions its vendor's templates map; every file it fetches is
recognised; every desk and DECT row renders."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import asyncpg

from provisioning.vendors import registry
from provisioning.vendors.context import LANGUAGES, SOFTKEY_FUNCTIONS, SidePanel, SoftKey
from provisioning.vendors.filenames import expand_pattern, match_file
from provisioning.vendors.samples import sample_account, sample_context
from tests.support.render import render_text, xml_root

MAC = "0015654AA937"


async def _rows(pool: asyncpg.Pool[Any]) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM sip_phone_models WHERE vendor <> 'generic'")
    out = [dict(r) for r in rows]
    for row in out:
        if isinstance(row["features"], str):
            row["features"] = json.loads(row["features"])
    return out


async def test_catalogue_covers_every_vendor(pool: asyncpg.Pool[Any]) -> None:
    rows = await _rows(pool)
    assert 30 <= len(rows) <= 60
    kinds = {(r["vendor"], r["kind"]) for r in rows}
    for vendor in ("yealink", "snom", "grandstream", "polycom", "cisco", "mitel", "fanvil"):
        assert (vendor, "desk") in kinds and (vendor, "sidepanel") in kinds
    for vendor in ("yealink", "snom", "gigaset"):
        assert (vendor, "dect") in kinds
    names = {r["name"] for r in rows}
    for name in (
        "yealink-t54w",
        "snom-d785",
        "grandstream-gxp2170",
        "polycom-vvx450",
        "cisco-spa504g",
        "mitel-6867i",
        "fanvil-x5u",
        "yealink-w70b",
        "snom-m700",
        "gigaset-n670",
        "yealink-exp50",
        "snom-d7",
        "grandstream-gxp2200ext",
        "polycom-vvx-em50",
        "cisco-spa500s",
        "mitel-m685i",
        "fanvil-exp20",
    ):
        assert name in names


async def test_rows_name_existing_templates_and_mapped_functions(pool: asyncpg.Pool[Any]) -> None:
    rows = await _rows(pool)
    by_name = {r["name"]: r for r in rows}
    for row in rows:
        spec = registry.vendor(row["vendor"])
        functions = set(row["softkey_functions"])
        assert functions <= set(SOFTKEY_FUNCTIONS), row["name"]
        assert functions <= set(spec.key_codes), (row["name"], functions - set(spec.key_codes))
        if row["kind"] == "sidepanel":
            assert row["template"] == "" and row["side_panel_keys"] > 0
            continue
        assert row["template"] in spec.templates, row["name"]
        path = registry.template_path(row["template"])
        assert path is not None and path.is_file()
        if row["side_panel_model"]:
            panel = by_name[row["side_panel_model"]]
            assert (panel["kind"], panel["vendor"]) == ("sidepanel", row["vendor"])
            assert row["max_side_panels"] > 0
        else:
            assert row["max_side_panels"] == 0
        assert row["serial_required"] == (row["vendor"] == "grandstream")


async def test_dect_rows_carry_languages_and_tones(pool: asyncpg.Pool[Any]) -> None:
    for row in await _rows(pool):
        if row["kind"] != "dect":
            assert row["dect_max_handsets"] == 0
            continue
        assert row["dect_max_handsets"] > 0 and row["accounts"] == row["dect_max_handsets"]
        assert row["softkey_functions"] == []
        features = row["features"]
        assert set(features["languages"]) <= set(LANGUAGES) and "ENGLISH" in features["languages"]
        assert set(features["handset_languages"]) <= set(LANGUAGES)
        assert features["tones"]


async def test_every_config_file_is_recognised(pool: asyncpg.Pool[Any]) -> None:
    for row in await _rows(pool):
        for pattern in row["config_files"]:
            request = match_file(expand_pattern(pattern, MAC))
            assert request is not None, (row["name"], pattern)
            assert row["vendor"] in request.candidates, (row["name"], pattern)
            assert (request.mac is not None) == ("{mac}" in pattern.lower())


async def test_every_desk_and_dect_model_renders(pool: asyncpg.Pool[Any]) -> None:
    rows = await _rows(pool)
    by_name = {r["name"]: r for r in rows}
    for row in rows:
        if row["kind"] == "sidepanel":
            continue
        spec = registry.vendor(row["vendor"])
        keys = tuple(
            SoftKey(index=i, function=f, value="102", label=f)
            for i, f in enumerate(row["softkey_functions"])
        )
        ctx = replace(
            sample_context(row["vendor"], template=row["template"]),
            model=row["model"],
            model_name=row["name"],
            line_keys=row["line_keys"],
            softkeys=keys,
            side_panel=None,
            accounts=tuple(sample_account(i) for i in range(1, min(row["accounts"], 4) + 1)),
        )
        if row["side_panel_model"]:
            panel = by_name[row["side_panel_model"]]
            ctx = replace(
                ctx,
                side_panel=SidePanel(
                    model=panel["name"],
                    count=row["max_side_panels"],
                    keys_per_panel=panel["side_panel_keys"],
                    keys=keys,
                ),
            )
        text = render_text(ctx)
        assert "p0000000000000000000000000000001" in text, row["name"]
        if spec.xml:
            xml_root(text)
