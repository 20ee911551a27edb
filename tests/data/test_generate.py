"""seqlab.data.generate: every date format parses back to its target, sums are right, seeds reproduce."""

import datetime as dt
import itertools
import random
import re

import pytest

from seqlab.data import generate as gen
from seqlab.data.generate import DATE_FORMATS, EN_KO_PAIRS, GENERATORS, generate, ordinal

# How datetime.strptime reads each format, after `_prepare` drops "the", "of" and the
# ordinal suffixes. Written independently of the generator, as the reference.
STRPTIME = {
    "d-month-yyyy": "%d %B %Y",
    "mon-d-yy": "%b %d, %y",
    "dd/mm/yyyy": "%d/%m/%Y",
    "yyyy/mm/dd": "%Y/%m/%d",
    "weekday-month-dth-yyyy": "%A, %B %d %Y",
    "dd.mm.yyyy": "%d.%m.%Y",
    "month-d-yyyy": "%B %d, %Y",
    "wkd-d-mon-yyyy-lower": "%a %d %b %Y",
    "the-dth-of-month-yyyy": "%d %B %Y",
    "d-mon-yyyy": "%d %b %Y",
    "MONTH-d-yyyy-upper": "%B %d, %Y",
    "wkd-dd-mon-yyyy": "%a, %d %b %Y",
    "dd-mon-yyyy": "%d-%b-%Y",
    "yyyymmdd": "%Y%m%d",
    "weekday-d-month-yyyy": "%A %d %B %Y",
    "dd/mm/yy": "%d/%m/%y",
}
ORDINAL = re.compile(r"\b(\d{1,2})(st|nd|rd|th)\b")


def _prepare(source):
    text = ORDINAL.sub(r"\1", source)
    return text.removeprefix("the ").replace(" of ", " ")


def _parse(name, source, start_year=1950):
    parsed = dt.datetime.strptime(_prepare(source), STRPTIME[name]).date()
    if "%y" in STRPTIME[name]:
        # strptime puts 00–68 in the 2000s; the generator means the year of its range.
        parsed = parsed.replace(year=start_year + (parsed.year % 100 - start_year) % 100)
    return parsed


def test_at_least_twelve_formats_and_a_reference_for_each():
    assert len(DATE_FORMATS) >= 12
    assert set(STRPTIME) == set(DATE_FORMATS)


@pytest.mark.parametrize("name", list(DATE_FORMATS))
def test_every_format_parses_back_to_its_target(name):
    pairs = generate("dates", 300, seed=7, formats=[name])
    for source, target in pairs:
        parsed = _parse(name, source)
        assert parsed.isoformat() == target, (source, target)
        assert 1950 <= parsed.year <= 2049
        # strptime ignores a weekday that disagrees with the date, so check it apart.
        lowered = source.lower()
        if "%A" in STRPTIME[name]:
            assert parsed.strftime("%A").lower() in lowered, source
        elif "%a" in STRPTIME[name]:
            assert lowered.startswith(parsed.strftime("%a").lower()), source
        match = ORDINAL.search(source)
        if match:
            assert match.group(0) == ordinal(parsed.day), source


def test_example_strings_from_the_issue():
    day = dt.date(2026, 11, 23)  # a Monday
    written = {name: render(day) for name, render in DATE_FORMATS.items()}
    assert written["d-month-yyyy"] == "23 November 2026"
    assert written["mon-d-yy"] == "Nov 23, 26"
    assert written["dd/mm/yyyy"] == "23/11/2026"
    assert written["yyyy/mm/dd"] == "2026/11/23"
    assert written["weekday-month-dth-yyyy"] == "Monday, November 23rd 2026"
    assert written["dd.mm.yyyy"] == "23.11.2026"
    assert written["month-d-yyyy"] == "November 23, 2026"
    assert written["wkd-d-mon-yyyy-lower"] == "mon 23 nov 2026"
    assert DATE_FORMATS["dd/mm/yyyy"](dt.date(1950, 1, 5)) == "05/01/1950"


@pytest.mark.parametrize(
    "day, expected",
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"),
     (21, "21st"), (22, "22nd"), (23, "23rd"), (30, "30th"), (31, "31st")],
)  # fmt: skip
def test_ordinals(day, expected):
    assert ordinal(day) == expected


def test_all_formats_and_the_whole_year_range_are_drawn():
    pairs = generate("dates", 3000, seed=0)
    years = [int(target[:4]) for _, target in pairs]
    assert min(years) < 1955 and max(years) > 2044
    assert all(1950 <= y <= 2049 for y in years)
    sources = {source for source, _ in pairs}
    assert len(sources) > 2900  # few repeats among 36,525 days × 16 formats


def test_narrower_ranges_and_two_digit_years():
    pairs = generate("dates", 200, seed=1, start_year=2000, end_year=2009, formats=["dd/mm/yy"])
    assert all(_parse("dd/mm/yy", s, start_year=2000).isoformat() == t for s, t in pairs)
    with pytest.raises(ValueError, match="span more than 100 years, so two-digit years"):
        generate("dates", 1, seed=0, start_year=1900, end_year=2049)
    assert generate("dates", 5, seed=0, start_year=1900, end_year=2049, formats=["yyyymmdd"])
    with pytest.raises(ValueError, match=r"unknown date format\(s\) \['iso'\]; expected some of d-month-yyyy"):
        generate("dates", 1, seed=0, formats=["iso"])


def test_addition_is_correct():
    pairs = generate("addition", 500, seed=3, max_digits=4)
    for source, target in pairs:
        a, b = source.split("+")
        assert int(a) + int(b) == int(target)
        assert str(int(a)) == a and len(a) <= 4  # no leading zeros
    assert {len(s.split("+")[0]) for s, _ in pairs} == {1, 2, 3, 4}


def test_reverse_and_copy():
    for source, target in generate("reverse", 200, seed=5, min_len=2, max_len=6):
        assert target.split(" ") == source.split(" ")[::-1]
        assert 2 <= len(source.split(" ")) <= 6
        assert set(source.split(" ")) <= set("abcdefghij")
    assert all(s == t for s, t in generate("copy", 50, seed=5))
    assert generate("reverse", 3, seed=2, sep="", alphabet="xy", min_len=4, max_len=4)[0][0] in {
        "".join(p) for p in itertools.product("xy", repeat=4)
    }
    with pytest.raises(ValueError, match="separator ' ' is also in the alphabet"):
        generate("copy", 1, seed=0, alphabet="a b")
    with pytest.raises(ValueError, match="need 1 ≤ min_len ≤ max_len, got min_len=5, max_len=2"):
        generate("reverse", 1, seed=0, min_len=5, max_len=2)


def test_en_ko_toy():
    assert ("I love you", "난 널 사랑해") in EN_KO_PAIRS
    assert len(EN_KO_PAIRS) == len(set(EN_KO_PAIRS)) == 60
    pairs = generate("en-ko-toy", 100, seed=0)
    assert all(pair in EN_KO_PAIRS for pair in pairs)
    assert all(len(en.split()) == len(ko.split()) == 3 for en, ko in EN_KO_PAIRS)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_seeded_reproducibility_and_different_seeds(name):
    first = generate(name, 50, seed=11)
    assert generate(name, 50, seed=11) == first
    assert generate(name, 50, seed=12) != first
    assert len(first) == 50 and all(isinstance(s, str) and isinstance(t, str) for s, t in first)
    assert generate(name, 0, seed=11) == []


def test_bad_names_sizes_and_options():
    with pytest.raises(ValueError, match="unknown generated dataset 'sums'; expected one of dates, addition"):
        generate("sums", 10, seed=0)
    with pytest.raises(ValueError, match="n must be an integer ≥ 0, got -1"):
        generate("copy", -1, seed=0)
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'digits' for 'addition'; accepted: max_digits"):
        generate("addition", 1, seed=0, digits=3)
    with pytest.raises(ValueError, match=r"'max_len' for 'en-ko-toy'; accepted: none"):
        generate("en-ko-toy", 1, seed=0, max_len=3)
    with pytest.raises(ValueError, match="max_digits must be an integer ≥ 1, got 0"):
        gen.addition(random.Random(0), 1, max_digits=0)


def test_odd_count_mod3_tags_count_odd_digits_mod_3():
    # digits 3 4 5 1 7 -> odd so far 1 1 2 3 4 -> mod 3: 1 1 2 0 1
    rows = generate("odd-count-mod3", 200, seed=0, min_len=5, max_len=20)
    for src, tgt in rows:
        digits, tags = [int(d) for d in src.split()], [int(t) for t in tgt.split()]
        assert tags == [sum(d % 2 for d in digits[: i + 1]) % 3 for i in range(len(digits))]
        assert 5 <= len(digits) <= 20
    assert generate("odd-count-mod3", 1, seed=0) != generate("odd-count-mod3", 1, seed=1)
    with pytest.raises(ValueError, match="min_len=3, max_len=2"):
        generate("odd-count-mod3", 1, seed=0, min_len=3, max_len=2)


def test_entities_bio_tags_are_well_formed_iob2_over_the_name_lists():
    rows = generate("entities-bio", 200, seed=0, min_len=3, max_len=12)
    names = {"PER": set(gen.BIO_FIRST) | set(gen.BIO_LAST), "LOC": {w for place in gen.BIO_PLACES for w in place}}
    for src, tgt in rows:
        words, tags = src.split(), tgt.split()
        assert len(words) == len(tags) and 3 <= len(words) <= 12
        for i, (word, t) in enumerate(zip(words, tags)):
            if t.startswith("I-"):  # IOB2: an inside tag continues a span of the same type
                assert tags[i - 1] in (f"B-{t[2:]}", t)
            if t != "O":
                assert word in names[t[2:]]
            else:
                assert word in gen.BIO_FILLER or word in ("in", "from")
    assert any("I-LOC" in tgt for _, tgt in rows) and any("I-PER" in tgt for _, tgt in rows)
