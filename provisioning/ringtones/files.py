"""The file name a phone fetches its custom ringtone by: `{mac}-ringtone-{id}.wav`.

The MAC puts the fetch through every check a config fetch passes (`provisioning.fileserver.
server`: throttle, HTTP Basic auth, the customer's secret path, rejection, the MAC in the
User-Agent, the IP gate); the id must be the ringtone one of the MAC's records uses. The
name ends in `.wav` because Yealink takes the downloaded file's name as the ringtone's
(`phone_setting.ring_type`).
"""

from __future__ import annotations

import re

from provisioning.vendors.filenames import FileRequest

_NAME = re.compile(r"(?P<mac>[0-9A-Fa-f]{12})-ringtone-(?P<id>[0-9a-f]{24})\.wav")
#: the vendors whose configs carry a custom ringtone URL
VENDORS = ("yealink", "snom", "polycom")


def file_name(mac: str, ringtone_id: str) -> str:
    return f"{mac.lower()}-ringtone-{ringtone_id}.wav"


def match(name: str) -> tuple[FileRequest, str] | None:
    """(the request, as a per-MAC file of no vendor yet, and the ringtone id), or None."""
    found = _NAME.fullmatch(name)
    if found is None:
        return None
    request = FileRequest(
        filename=name,
        vendor=None,
        candidates=VENDORS,
        mac=found.group("mac").upper(),
        kind="device",
    )
    return request, found.group("id")
