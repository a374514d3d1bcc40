"""ISO 3166-1 alpha-2 country codes: the values `ip.countries` may hold (003, Security
settings: "a comma list of … country codes of countries where the SIP phone may connect
from").

The list is the officially assigned alpha-2 elements of ISO 3166-1 (249 codes), plus
`XK` (Kosovo): a user-assigned code that is not part of the standard but that MaxMind and
DB-IP databases answer for addresses in Kosovo, so a ROAMING phone there can be allowed.
Codes are compared in upper case; `parse_country_list` accepts any case and spacing.
"""

from __future__ import annotations

_ASSIGNED = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
DE DJ DK DM DO DZ
EC EE EG EH ER ES ET
FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
HK HM HN HR HT HU
ID IE IL IM IN IO IQ IR IS IT
JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ
LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
NA NC NE NF NG NI NL NO NP NR NU NZ
OM
PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA
RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
UA UG UM US UY UZ
VA VC VE VG VI VN VU
WF WS
YE YT
ZA ZM ZW
"""

#: User-assigned codes that GeoIP databases answer with (see the module docstring).
GEOIP_EXTRA_CODES: frozenset[str] = frozenset({"XK"})

#: The officially assigned ISO 3166-1 alpha-2 codes.
ISO_3166_ALPHA2: frozenset[str] = frozenset(_ASSIGNED.split())

COUNTRY_CODES: frozenset[str] = ISO_3166_ALPHA2 | GEOIP_EXTRA_CODES


class CountryCodeError(ValueError):
    """One entry of a country list is not a country code; `.code` is the entry as given,
    for the reference's message `Country code 'XX' is not valid`."""

    def __init__(self, code: str) -> None:
        super().__init__(f"Country code '{code}' is not valid")
        self.code = code


def is_country_code(code: str) -> bool:
    """True for an upper-case ISO 3166-1 alpha-2 code (or `XK`), e.g. `DK`; `dk` is not."""
    return code in COUNTRY_CODES


def parse_country_list(text: str) -> tuple[str, ...]:
    """`"dk, se,DK"` -> `("DK", "SE")`: split on commas, trim, upper-case, drop repeats
    (first occurrence kept) and empty entries; raise `CountryCodeError` naming the first
    entry that is not a code."""
    codes: list[str] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        code = entry.upper()
        if not is_country_code(code):
            raise CountryCodeError(entry)
        if code not in codes:
            codes.append(code)
    return tuple(codes)
