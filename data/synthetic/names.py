"""Synthetic identities for the identity table: realistic Dutch names from Faker's ``nl_NL`` locale.

Faker's ``nl_NL`` person lists (given names by gender, family names with their tussenvoegsels) are used
as data; numpy draws from them with a random generator of their own, seeded from the generator's seed and
chunk (see :func:`data.synthetic.generator.generate_chunks`). So the names are deterministic per seed (for
a given Faker version), cost little at national scale, and never change any other generated table.

Family names are split into the tussenvoegsel (``name_prefix``: "van der", "de", "van 't") and the name
itself; Faker's few historical entries that are no family name of today ("Aelftrud van Wessex") are left
out. Some names carry diacritics (Zoë, Daniël, Köster) or an apostrophe (van 't Riet, 's Gravensande).
The e-mail address is ``voornaam.achternaam@student.example.nl`` in plain ASCII, numbered when a chunk
holds the same address twice.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import numpy as np
import pandas as pd
from faker.providers.person.nl_NL import Provider as DutchNames

EMAIL_DOMAIN = "student.example.nl"
# Share of students without an e-mail address in the school's export (the column is optional).
NO_EMAIL_SHARE = 0.02
PREFIX_WORDS = frozenset(
    {"van", "de", "der", "den", "het", "'t", "'s", "te", "ter", "ten", "in", "op", "onder", "uit", "aan"}
)
_NOT_IN_ADDRESS = re.compile(r"[^a-z0-9]")


def split_family_name(name: str) -> tuple[str | None, str] | None:
    """Faker's family name as (tussenvoegsel or None, name); None for entries that are no family name.

    "van der Veen" -> ("van der", "Veen"); "Bourgondië, van" -> ("van", "Bourgondië"); "Jansen" ->
    (None, "Jansen"); "Aelftrud van Wessex" -> None.
    """
    if "," in name:
        family, _, prefix = (part.strip() for part in name.partition(","))
        words = [*prefix.split(), family]
    else:
        words = name.split()
    lead = 0
    while lead < len(words) - 1 and words[lead] in PREFIX_WORDS:
        lead += 1
    rest = words[lead:]
    if len(rest) != 1 or not rest[0][:1].isupper():
        return None
    return (" ".join(words[:lead]) or None), rest[0]


def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters and digits only: "Zoë" -> "zoe", "van 't Riet" -> "vantriet"."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return _NOT_IN_ADDRESS.sub("", plain)


@cache
def _lists() -> dict[str, np.ndarray]:
    """Faker's nl_NL lists as arrays, with their ASCII forms for the e-mail address."""
    family = [split for name in DutchNames.last_names if (split := split_family_name(name)) is not None]
    male = list(DutchNames.first_names_male)
    female = list(DutchNames.first_names_female)
    return {
        "male": np.array(male, dtype=object),
        "female": np.array(female, dtype=object),
        "male_ascii": np.array([ascii_fold(n) for n in male], dtype=object),
        "female_ascii": np.array([ascii_fold(n) for n in female], dtype=object),
        "prefix": np.array([p for p, _ in family], dtype=object),
        "family": np.array([f for _, f in family], dtype=object),
        "family_ascii": np.array([ascii_fold(f"{p or ''}{f}") for p, f in family], dtype=object),
    }


def synthetic_identities(numbers: np.ndarray, genders: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """One identity per student: ``student_number``, ``given_name``, ``name_prefix`` (None when the name
    has none), ``family_name`` and ``email`` (None for a few). ``genders`` are the generator's labels
    (man, vrouw, x): a given name of the same gender, either for x."""
    lists = _lists()
    n = len(numbers)
    female = np.where(genders == "x", rng.random(n) < 0.5, genders == "vrouw")
    u_given = rng.random(n)
    female_idx = (u_given * len(lists["female"])).astype(int)
    male_idx = (u_given * len(lists["male"])).astype(int)
    family_idx = rng.integers(0, len(lists["family"]), n)
    no_email = rng.random(n) < NO_EMAIL_SHARE

    given = np.where(female, lists["female"][female_idx], lists["male"][male_idx])
    given_ascii = np.where(female, lists["female_ascii"][female_idx], lists["male_ascii"][male_idx])
    local = pd.Series(given_ascii + "." + lists["family_ascii"][family_idx], dtype=object)
    repeat = local.groupby(local).cumcount()
    local = local.where(repeat == 0, local + (repeat + 1).astype(str))
    email = (local + "@" + EMAIL_DOMAIN).to_numpy(dtype=object)
    email[no_email] = None
    return pd.DataFrame(
        {
            "student_number": numbers,
            "given_name": given,
            "name_prefix": lists["prefix"][family_idx],
            "family_name": lists["family"][family_idx],
            "email": email,
        }
    )
