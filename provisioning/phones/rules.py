"""The rules of 003's error table that need the model, the tenant or other records.

Pure: the caller looks up the `Facts` (model, customer, extensions, groups, queues, the
other records on the MAC, side-panel serials in use) and these functions only decide.
A rule runs when a field it depends on is part of the request (`touched`), so a phone
saved earlier is not refused for a change the request did not make; a create touches
everything.

MAC sharing (003: 409 macAddress, 403 macAddress, 409 handsetIndex): a desk phone or
softphone owns its MAC alone (a second record is a duplicate, 409). Records of one DECT
base share its MAC, one per handset: `handsetIndex` is the lowest free position
1..`dect_max_handsets` (none free: 409 handsetIndex) and the base holds at most
`accounts` SIP accounts (all used: 403 macAddress). Records of a different model on the
same MAC are another device: 409.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from db.customers import Customer
from db.extensions import Extension
from db.groups import PickupGroup, Queue
from db.phone_models import PhoneModel
from db.phones import MacSlot
from db.ringtones import Ringtone
from provisioning.errors import ApiError
from provisioning.phones import capabilities
from provisioning.phones.parse import is_http_url

# A dialable number: digits with an optional leading '+', and '*'/'#' for feature codes.
_PHONE_NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")
_HEX_ID = re.compile(r"^[0-9a-f]{24}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """What the database knows that the rules need."""

    model: PhoneModel | None
    customer: Customer | None  # None: missing, invisible to the caller, or inactive
    extension: Extension | None
    extensions: Mapping[str, Extension] = field(default_factory=dict)
    groups: Mapping[str, PickupGroup] = field(default_factory=dict)
    queues: Mapping[str, Queue] = field(default_factory=dict)
    phone_customers: Mapping[str, str] = field(default_factory=dict)
    mac_slots: tuple[MacSlot, ...] = ()  # other records on the MAC
    serials_in_use: frozenset[str] = frozenset()
    ringtone: Ringtone | None = None  # the custom ringtone `ringer.tone` names


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    errors: list[ApiError]
    handset_index: int | None


def check(
    document: Mapping[str, Any],
    facts: Facts,
    touched: set[str],
    current_handset_index: int | None,
    failed: frozenset[str] = frozenset(),
) -> Outcome:
    """Every rule whose inputs the request touched; returns errors and the handset index.
    `failed` names the values that were already refused (not reported twice)."""
    errors: list[ApiError] = []
    model = facts.model
    if model is not None and model.kind == "sidepanel":  # an expansion module, not a phone
        model = None
    if "sipPhoneModel" in touched and model is None:
        errors.append(ApiError(404, "sipPhoneModel", "SIP phone model not found or invalid"))
    if "customer" in touched and facts.customer is None:
        errors.append(ApiError(404, "customer", "Customer not found or not active"))
    customer = facts.customer  # None: nothing of an unknown tenant can be checked against it
    if customer and touched & {"extension", "customer"} and document.get("extension"):
        ext = facts.extension
        if ext is None or ext.customer_id != customer.id:
            errors.append(ApiError(404, "extension", "Extension not found"))
    errors.extend(_ip_rules(document.get("ip") or {}, touched, failed))
    errors.extend(_network_rules(document.get("network"), touched))
    handset_index = current_handset_index
    if model is not None:
        errors.extend(_model_rules(document, model, touched))
        errors.extend(_capability_rules(document, model, touched, facts))
        if touched & {"macAddress", "sipPhoneModel"}:
            mac_errors, handset_index = _mac_rules(
                document, model, facts.mac_slots, current_handset_index
            )
            errors.extend(mac_errors)
    if customer and touched & {"softkeys", "sipPhoneModel", "extension", "customer"}:
        errors.extend(_softkey_rules(document, facts))
    errors.extend(_side_panel_serials(document, facts, touched))
    return Outcome(errors=errors, handset_index=handset_index)


def _ip_rules(ip: Mapping[str, Any], touched: set[str], failed: frozenset[str]) -> list[ApiError]:
    if "ip" not in touched:
        return []
    roaming = ip.get("mode") == "ROAMING" and "ip.countries" not in failed
    if roaming and not ip.get("countries"):
        return [ApiError(409, "ip.mode", "ROAMING mode requires countries to be specified")]
    if ip.get("mode") == "LOCKED" and not ip.get("address") and "ip.address" not in failed:
        return [ApiError(422, "ip.address", "IP address is invalid")]
    return []


_STATIC_NETWORK = (
    ("ipAddress", "IP address is invalid or missing"),
    ("subnet", "Subnet mask is invalid or missing"),
    ("gateway", "Default gateway is invalid or missing"),
    ("dns1", "Primary DNS server is invalid or missing"),
)


def _network_rules(network: Any, touched: set[str]) -> list[ApiError]:
    """003: with dhcp false the static address, mask, gateway and DNS are required."""
    if "network" not in touched or not isinstance(network, dict):
        return []
    if network.get("dhcp") is not False:
        return []
    return [
        ApiError(422, f"network.{name}", description)
        for name, description in _STATIC_NETWORK
        if not network.get(name)
    ]


def _model_rules(
    document: Mapping[str, Any], model: PhoneModel, touched: set[str]
) -> list[ApiError]:
    errors: list[ApiError] = []
    relevant = touched & {
        "sipPhoneModel",
        "serial",
        "handsetAddress",
        "sidePanel",
        "sidePanelCount",
        "purchaseInfo",
    }
    if not relevant:
        return errors
    if model.serial_required and not document.get("serial"):
        errors.append(ApiError(422, "serial", "Serial number is required for this phone model"))
    if model.handset_address_required and not document.get("handsetAddress"):
        errors.append(ApiError(422, "handsetAddress", "Handset address is missing"))
    side_panel = document.get("sidePanel")
    if side_panel is not None and (
        model.max_side_panels == 0 or side_panel != model.side_panel_model
    ):
        errors.append(
            ApiError(422, "sidePanel", "Side panel model is not valid for this phone model")
        )
    too_many = "More sidepanels configured than possible for the SIP phone model."
    if (document.get("sidePanelCount") or 0) > model.max_side_panels:
        errors.append(ApiError(422, "sidePanelCount", too_many))
    purchase = document.get("purchaseInfo") or {}
    if len(purchase.get("sidePanels") or []) > model.max_side_panels:
        errors.append(ApiError(422, "purchaseInfo.sidePanels", too_many))
    return errors


def _capability_rules(
    document: Mapping[str, Any], model: PhoneModel, touched: set[str], facts: Facts
) -> list[ApiError]:
    """Optional settings the model does not take (catalogue `features.settings`), a
    ringtone beyond its built-in ones, and a custom ringtone that is not the customer's or
    not in a format the model plays, are refused rather than stored for nothing."""
    watched = {"sipPhoneModel", "ringer", "customer", *capabilities.SIP_PHONE_SETTINGS}
    if not touched & watched:
        return []
    values = {name: document.get(name) for name in capabilities.SIP_PHONE_SETTINGS}
    errors = capabilities.unsupported_errors(
        model.name, model.features, values, capabilities.SIP_PHONE_SETTINGS
    )
    tone = (document.get("ringer") or {}).get("tone")
    if tone is not None and not capabilities.takes(model.features, "ringtone"):
        errors.append(ApiError(422, "ringer.tone", f"Ringtone is not supported by {model.name}"))
    elif isinstance(tone, str):
        errors += capabilities.custom_ringtone_errors(
            model.name, model.features, "ringer.tone", tone, _ringtone_format(facts, tone)
        )
    else:
        errors += capabilities.ringtone_errors(
            model.name, model.features, {"ringer.tone": tone}, ("ringer.tone",)
        )
    return errors


def _ringtone_format(facts: Facts, tone: str) -> str | None:
    """The format of the customer's uploaded ringtone `tone`; None when the customer has
    no ringtone of that id (another customer's is as unknown as a missing one)."""
    found, customer = facts.ringtone, facts.customer
    if found is None or customer is None or found.id != tone or found.customer_id != customer.id:
        return None
    return found.format


def _mac_rules(
    document: Mapping[str, Any],
    model: PhoneModel,
    slots: tuple[MacSlot, ...],
    current_index: int | None,
) -> tuple[list[ApiError], int | None]:
    if document.get("macAddress") is None:
        return [], None
    duplicate = ApiError(409, "macAddress", "A phone with the same MAC address already exists")
    if model.kind != "dect":
        return ([duplicate] if slots else []), None
    if any(slot.model_id != model.id for slot in slots):
        return [duplicate], None
    used = {slot.handset_index for slot in slots}
    free = [i for i in range(1, model.dect_max_handsets + 1) if i not in used]
    if (
        current_index is not None and current_index in free
    ):  # 002: assigned when created and cannot be changed
        free.insert(0, current_index)
    if not free:
        return [
            ApiError(409, "handsetIndex", "The SIP phone/device does not have any free positions")
        ], None
    if len(slots) >= max(model.accounts, 1):
        return [
            ApiError(
                403,
                "macAddress",
                "All available slots has been filled, no more SIP phones can share the MAC address",
            )
        ], None
    return [], free[0]


def _softkey_rules(document: Mapping[str, Any], facts: Facts) -> list[ApiError]:
    errors: list[ApiError] = []
    seen: set[int] = set()
    supported = set(facts.model.softkey_functions) if facts.model else None
    for position, key in enumerate(document.get("softkeys") or []):
        path = f"softkeys[{position}]"
        index = key.get("index")
        if isinstance(index, int):
            if index in seen:
                errors.append(
                    ApiError(422, f"{path}.index", "Index is being used by another softkey")
                )
            seen.add(index)
        function = key.get("function")
        if function is None:
            continue
        if supported is not None and function not in supported:
            errors.append(
                ApiError(422, f"{path}.function", "Function type is not valid for this phone model")
            )
            continue
        error = _softkey_value(function, key.get("value"), document, facts)
        if error is not None:
            errors.append(ApiError(error[0], f"{path}.value", error[1]))
    return errors


def _same_customer(owner: str | None, facts: Facts) -> bool:
    return owner is not None and facts.customer is not None and owner == facts.customer.id


def _softkey_value(
    function: str, value: Any, document: Mapping[str, Any], facts: Facts
) -> tuple[int, str] | None:
    """(code, description) of 003's row for a bad value, or None."""
    text = value.lower() if isinstance(value, str) else ""
    if function == "SPEEDDIAL":
        ok = isinstance(value, str) and bool(_PHONE_NUMBER.match(value))
        return None if ok else (422, "Not a valid phone number")
    if function == "BLF":
        ext = facts.extensions.get(text)
        return (
            None if ext and _same_customer(ext.customer_id, facts) else (404, "Extension not found")
        )
    if function == "URL":
        return (
            None if is_http_url(value) else (422, "URL is invalid, must begin with http: or https:")
        )
    if function == "PICKUPGROUP":
        group = facts.groups.get(text)
        if group is None or not _same_customer(group.customer_id, facts):
            return 404, "Group not found"
        extension = document.get("extension")
        if not any(m.extension_id == extension and m.controller for m in group.members):
            return 409, "Extension does not have controller rights on group"
        return None
    if function == "QUEUE":
        queue = facts.queues.get(text)
        return (
            None if queue and _same_customer(queue.customer_id, facts) else (404, "Queue not found")
        )
    if function == "SWITCH":
        ok = isinstance(value, str) and 0 < len(value.strip()) <= 64
        return None if ok else (422, "Switch name is missing")
    if function == "DNDOTHER":
        owner = facts.phone_customers.get(text)
        return None if _same_customer(owner, facts) else (404, "SIP phone not found")
    return None


def referenced_ids(document: Mapping[str, Any], function: str) -> list[str]:
    """Lower-cased 24-hex values of the soft keys with this function (for the lookups)."""
    ids = []
    for key in document.get("softkeys") or []:
        value = key.get("value")
        if (
            key.get("function") == function
            and isinstance(value, str)
            and _HEX_ID.match(value.lower())
        ):
            ids.append(value.lower())
    return ids


def _side_panel_serials(
    document: Mapping[str, Any], facts: Facts, touched: set[str]
) -> list[ApiError]:
    """003: side-panel serials are unique across all SIP phones (and within this one)."""
    if "purchaseInfo" not in touched:
        return []
    serials = side_panel_serials(document)
    if len(serials) != len(set(serials)) or facts.serials_in_use & set(serials):
        return [
            ApiError(409, "purchaseInfo.sidePanels.serial", "Sidepanel serials need to be unique")
        ]
    return []


def side_panel_serials(document: Mapping[str, Any]) -> list[str]:
    purchase = document.get("purchaseInfo") or {}
    return [
        p["serial"] for p in purchase.get("sidePanels") or [] if isinstance(p.get("serial"), str)
    ]
