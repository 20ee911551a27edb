"""Generated datasets: small seq2seq tasks made offline, in any size, from a seed.

Each generator takes a ``random.Random`` and a count and returns a list of
``(source, target)`` string pairs; `generate(name, n, seed, **options)` looks the name
up in `GENERATORS`, seeds ``random.Random(seed)`` and checks the options. The same
name, size, seed and options always give the same pairs, on every platform.

| name        | source                         | target          |
| ----------- | ------------------------------ | --------------- |
| `dates`     | "Monday, November 23rd 2026"   | "2026-11-23"    |
| `addition`  | "123+45"                       | "168"           |
| `reverse`   | "c a f e"                      | "e f a c"       |
| `copy`      | "c a f e"                      | "c a f e"       |
| `en-ko-toy` | "I love you"                   | "난 널 사랑해"   |
| `odd-count-mod3` | "3 4 5 1"                 | "1 1 2 0"       |
| `entities-bio` | "Ada Lovelace met us in New York" | "B-PER I-PER O O O B-LOC I-LOC" |

`odd-count-mod3` and `entities-bio` are synced (one target token per source token), for
the `tag` task; `entities-bio` has IOB2 tags, so it exercises span F1.

Month and weekday names are written from the English tables below, never from the
locale (``strftime("%B")`` would follow the machine's language).
"""

from __future__ import annotations

import datetime as dt
import inspect
import random
import string
from collections.abc import Callable, Sequence

MONTHS = ("January", "February", "March", "April", "May", "June", "July",
          "August", "September", "October", "November", "December")  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def ordinal(day: int) -> str:
    """1 → "1st", 2 → "2nd", 3 → "3rd", 4 → "4th", 11–13 → "11th" … "13th", 21 → "21st"."""
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


# ----------------------------------------------------------------------------- dates

# Each format writes one date its own way. No two formats can write the same string
# for different dates (day-first and month-first numerals are never both used), so the
# task is learnable. "yy" formats write the last two digits of the year; the year is
# recovered as the one in the generated range ending in those digits.
DATE_FORMATS: dict[str, Callable[[dt.date], str]] = {
    "d-month-yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",  # 23 November 2026
    "mon-d-yy": lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year % 100:02d}",  # Nov 23, 26
    "dd/mm/yyyy": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}",  # 23/11/2026
    "yyyy/mm/dd": lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",  # 2026/11/23
    "weekday-month-dth-yyyy": lambda d: (  # Monday, November 23rd 2026
        f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {ordinal(d.day)} {d.year}"
    ),
    "dd.mm.yyyy": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",  # 23.11.2026
    "month-d-yyyy": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",  # November 23, 2026
    "wkd-d-mon-yyyy-lower": lambda d: (  # mon 23 nov 2026
        f"{WEEKDAYS[d.weekday()][:3]} {d.day} {MONTHS[d.month - 1][:3]} {d.year}".lower()
    ),
    "the-dth-of-month-yyyy": lambda d: f"the {ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    "d-mon-yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",  # 23 Nov 2026
    "MONTH-d-yyyy-upper": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}".upper(),  # NOVEMBER 23, 2026
    "wkd-dd-mon-yyyy": lambda d: (  # Mon, 23 Nov 2026 (e-mail headers)
        f"{WEEKDAYS[d.weekday()][:3]}, {d.day:02d} {MONTHS[d.month - 1][:3]} {d.year}"
    ),
    "dd-mon-yyyy": lambda d: f"{d.day:02d}-{MONTHS[d.month - 1][:3]}-{d.year}",  # 23-Nov-2026
    "yyyymmdd": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",  # 20261123
    "weekday-d-month-yyyy": lambda d: f"{WEEKDAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}",
    "dd/mm/yy": lambda d: f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}",  # 23/11/26
}
TWO_DIGIT_YEAR_FORMATS = ("mon-d-yy", "dd/mm/yy")


def dates(
    rng: random.Random,
    n: int,
    *,
    start_year: int = 1950,
    end_year: int = 2049,
    formats: Sequence[str] | None = None,
) -> list[tuple[str, str]]:
    """Dates written in human formats → ISO 8601 ("2026-11-23").

    Each pair draws a day uniformly from ``start_year``-01-01 .. ``end_year``-12-31 and a
    format uniformly from ``formats`` (default: all of `DATE_FORMATS`). Weekdays and
    ordinals ("23rd") are those of the drawn day. Two-digit years ("Nov 23, 26") stand
    for the one year of the range with those last digits, so a range with two-digit
    formats may span at most 100 years.
    """
    names = list(DATE_FORMATS) if formats is None else list(formats)
    unknown = [name for name in names if name not in DATE_FORMATS]
    if not names or unknown:
        raise ValueError(f"unknown date format(s) {unknown or names!r}; expected some of {', '.join(DATE_FORMATS)}")
    if not 1 <= start_year <= end_year <= 9999:
        raise ValueError(f"need 1 ≤ start_year ≤ end_year ≤ 9999, got start_year={start_year}, end_year={end_year}")
    if end_year - start_year >= 100 and any(name in TWO_DIGIT_YEAR_FORMATS for name in names):
        raise ValueError(
            f"years {start_year}–{end_year} span more than 100 years, so two-digit years "
            f"({', '.join(TWO_DIGIT_YEAR_FORMATS)}) would be ambiguous; narrow the range or the formats"
        )
    first = dt.date(start_year, 1, 1).toordinal()
    last = dt.date(end_year, 12, 31).toordinal()
    pairs = []
    for _ in range(n):
        day = dt.date.fromordinal(rng.randint(first, last))
        name = names[rng.randrange(len(names))]
        pairs.append((DATE_FORMATS[name](day), day.isoformat()))
    return pairs


# ----------------------------------------------------------------------------- arithmetic and symbols


def addition(rng: random.Random, n: int, *, max_digits: int = 3) -> list[tuple[str, str]]:
    """Sums of two non-negative integers: "123+45" → "168".

    Each operand first draws its number of digits uniformly from 1..``max_digits``,
    then a value with that many digits, so short numbers are as common as long ones.
    """
    if not isinstance(max_digits, int) or max_digits < 1:
        raise ValueError(f"max_digits must be an integer ≥ 1, got {max_digits!r}")

    def operand() -> int:
        digits = rng.randint(1, max_digits)
        return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10**digits - 1)

    pairs = []
    for _ in range(n):
        a, b = operand(), operand()
        pairs.append((f"{a}+{b}", str(a + b)))
    return pairs


def _symbol_strings(rng: random.Random, n: int, min_len: int, max_len: int, alphabet: str, sep: str) -> list[list[str]]:
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 ≤ min_len ≤ max_len, got min_len={min_len}, max_len={max_len}")
    if not alphabet:
        raise ValueError("alphabet must hold at least one symbol, got ''")
    if sep and sep in alphabet:
        raise ValueError(f"the separator {sep!r} is also in the alphabet {alphabet!r}; the pairs would be ambiguous")
    return [[rng.choice(alphabet) for _ in range(rng.randint(min_len, max_len))] for _ in range(n)]


def reverse(
    rng: random.Random,
    n: int,
    *,
    min_len: int = 1,
    max_len: int = 10,
    alphabet: str = string.ascii_lowercase[:10],
    sep: str = " ",
) -> list[tuple[str, str]]:
    """Random symbol strings and their reversal: "c a f e" → "e f a c" (JoeyNMT's toy task).

    Lengths are uniform in ``min_len``..``max_len``, symbols uniform over ``alphabet``,
    joined by ``sep`` (a space suits the word tokenizer; "" gives "cafe" → "efac").
    """
    strings = _symbol_strings(rng, n, min_len, max_len, alphabet, sep)
    return [(sep.join(s), sep.join(reversed(s))) for s in strings]


def copy(
    rng: random.Random,
    n: int,
    *,
    min_len: int = 1,
    max_len: int = 10,
    alphabet: str = string.ascii_lowercase[:10],
    sep: str = " ",
) -> list[tuple[str, str]]:
    """Random symbol strings and themselves: "c a f e" → "c a f e"; options as in `reverse`."""
    strings = _symbol_strings(rng, n, min_len, max_len, alphabet, sep)
    return [(sep.join(s), sep.join(s)) for s in strings]


# ----------------------------------------------------------------------------- "I love you" → "난 널 사랑해"

# Casual Korean (반말), subject–object–verb. Subjects take the topic form (난 = 나는),
# objects the object form (널 = 너를). English verbs stay in the base form because no
# subject is third person singular. The index pairs a subject with its own object form
# so that "I love me" is left out.
EN_KO_SUBJECTS = (("I", "난"), ("you", "넌"), ("we", "우린"), ("they", "그들은"))
EN_KO_OBJECTS = (("me", "날"), ("you", "널"), ("us", "우릴"), ("them", "그들을"))
EN_KO_VERBS = (
    ("love", "사랑해"), ("like", "좋아해"), ("know", "알아"), ("miss", "그리워해"), ("trust", "믿어")
)  # fmt: skip
EN_KO_PAIRS = tuple(
    (f"{s_en} {v_en} {o_en}", f"{s_ko} {o_ko} {v_ko}")
    for i, (s_en, s_ko) in enumerate(EN_KO_SUBJECTS)
    for j, (o_en, o_ko) in enumerate(EN_KO_OBJECTS)
    if i != j
    for v_en, v_ko in EN_KO_VERBS
)  # 4 × 3 × 5 = 60 sentences


def en_ko_toy(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """English → Korean toy translation ("I love you" → "난 널 사랑해"), drawn from `EN_KO_PAIRS`.

    The word order changes (SVO → SOV), so the task needs attention or a good encoder,
    yet the whole language is 60 sentences over 25 words.
    """
    return [EN_KO_PAIRS[rng.randrange(len(EN_KO_PAIRS))] for _ in range(n)]


# ----------------------------------------------------------------------------- synced tagging toy


def odd_count_mod3(rng: random.Random, n: int, *, min_len: int = 5, max_len: int = 20) -> list[tuple[str, str]]:
    """Digit strings tagged, digit by digit, with the count of odd digits so far, mod 3.

    "3 4 5 1" → "1 1 2 0". Each tag depends on the whole prefix, so a tagger must carry a
    three-state memory along the sequence: a small synced many-to-many task that needs
    the recurrence.
    """
    if not 1 <= min_len <= max_len:
        raise ValueError(f"odd-count-mod3 needs 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    pairs = []
    for _ in range(n):
        digits = [rng.randrange(10) for _ in range(rng.randint(min_len, max_len))]
        tags, count = [], 0
        for digit in digits:
            count = (count + digit % 2) % 3
            tags.append(count)
        pairs.append((" ".join(map(str, digits)), " ".join(map(str, tags))))
    return pairs


# Words of the `entities-bio` toy. Names and places are capitalized and sit in frames
# ("met", "in", "from"), as in real text; the filler words never start a span.
BIO_FIRST = ("Ada", "Alan", "Grace", "Kurt", "Emmy", "John", "Marie", "Niels", "Rosa", "Linus")
BIO_LAST = ("Lovelace", "Turing", "Hopper", "Godel", "Noether", "Curie", "Bohr", "Parks")
BIO_PLACES = (("Paris",), ("Berlin",), ("Lima",), ("Oslo",), ("New", "York"), ("San", "Diego"),
              ("Buenos", "Aires"), ("Cape", "Town"))
BIO_FILLER = ("the", "a", "we", "they", "saw", "met", "visited", "today", "later", "and", "then", "us")


def entities_bio(rng: random.Random, n: int, *, min_len: int = 5, max_len: int = 20) -> list[tuple[str, str]]:
    """Sentences of filler words with person (PER) and place (LOC) names, tagged in IOB2.

    "Ada Lovelace met us in New York" → "B-PER I-PER O O O B-LOC I-LOC". A person is a
    first name, sometimes followed by a last name; a place follows "in" or "from" and may
    be two words. Sentences grow a piece at a time until at least ``min_len`` tokens and
    are cut back to ``max_len`` (never inside a name: a cut name would be a different span).
    """
    if not 1 <= min_len <= max_len:
        raise ValueError(f"entities-bio needs 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    pairs = []
    for _ in range(n):
        words: list[str] = []
        tags: list[str] = []
        target = rng.randint(min_len, max_len)
        while len(words) < target:
            kind = rng.random()
            if kind < 0.25:
                piece = [rng.choice(BIO_FIRST)] + ([rng.choice(BIO_LAST)] if rng.random() < 0.5 else [])
                piece_tags = ["B-PER"] + ["I-PER"] * (len(piece) - 1)
            elif kind < 0.45:
                place = list(rng.choice(BIO_PLACES))
                piece, piece_tags = [rng.choice(("in", "from")), *place], ["O", "B-LOC"] + ["I-LOC"] * (len(place) - 1)
            else:
                piece, piece_tags = [rng.choice(BIO_FILLER)], ["O"]
            if len(words) + len(piece) > max_len:
                piece, piece_tags = [rng.choice(BIO_FILLER)], ["O"]
            words += piece
            tags += piece_tags
        pairs.append((" ".join(words), " ".join(tags)))
    return pairs


# ----------------------------------------------------------------------------- table

GENERATORS: dict[str, Callable[..., list[tuple[str, str]]]] = {
    "dates": dates,
    "addition": addition,
    "reverse": reverse,
    "copy": copy,
    "en-ko-toy": en_ko_toy,
    "odd-count-mod3": odd_count_mod3,
    "entities-bio": entities_bio,
}


def generate(name: str, n: int, seed: int | str, **options) -> list[tuple[str, str]]:
    """``n`` (source, target) pairs of the generated dataset ``name``, drawn with ``random.Random(seed)``.

    ``options`` are the generator's keyword arguments (see each function); an unknown
    option is an error naming the accepted ones rather than being silently ignored.
    """
    if name not in GENERATORS:
        raise ValueError(f"unknown generated dataset {name!r}; expected one of {', '.join(GENERATORS)}")
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an integer ≥ 0, got {n!r}")
    generator = GENERATORS[name]
    accepted = [p.name for p in inspect.signature(generator).parameters.values() if p.kind is p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for {name!r}; accepted: {', '.join(accepted) or 'none'}"
        )
    return generator(random.Random(seed), n, **options)
