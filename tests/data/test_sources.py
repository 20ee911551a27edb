"""seqlab.data.sources: each format on small written files, and each bad input's message."""

import gzip
import io
import math
import zipfile

import conllu
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.data import sources
from seqlab.errors import DataError


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


# ----------------------------------------------------------------------------- text and lines


def test_text_per_line_and_paragraph(tmp_path):
    path = write(tmp_path / "a.txt", "one\n\ntwo words\r\nthree\n\n\nfour\n")
    assert list(sources.read_text(path)) == ["one", "two words", "three", "four"]
    assert list(sources.read_text(path, per="paragraph")) == ["one", "two words\nthree", "four"]


def test_gzip_and_zip_are_transparent(tmp_path):
    gz = tmp_path / "a.txt.gz"
    gz.write_bytes(gzip.compress(b"alpha\nbeta\n"))
    zp = tmp_path / "a.zip"
    with zipfile.ZipFile(zp, "w") as archive:
        archive.writestr("__MACOSX/._a.txt", b"junk")
        archive.writestr("a.txt", b"alpha\nbeta\n")
    assert list(sources.read_text(gz)) == list(sources.read_text(zp)) == ["alpha", "beta"]


def test_reading_streams_line_by_line(tmp_path):
    # The first example arrives before the bad line further down is ever decoded.
    path = tmp_path / "big.txt"
    path.write_bytes(b"first\n" + b"x\n" * 1000 + b"\xff\n")
    lines = sources.read_text(path)
    assert next(lines) == "first"
    with pytest.raises(DataError):
        list(lines)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.txt: no such file"):
        list(sources.read_text(tmp_path / "nope.txt"))


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        list(sources.read_table(write(tmp_path / "empty.csv", "")))


def test_non_utf8_names_line_and_byte_offset(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(b"ok line\ncaf\xe9\n")  # 0xe9 is byte 8 + 3 = 11
    with pytest.raises(DataError, match=r"latin\.txt:2: byte 0xe9 at byte offset 11 is not valid utf-8"):
        list(sources.read_text(path))
    assert list(sources.read_text(path, encoding="latin-1")) == ["ok line", "café"]


# ----------------------------------------------------------------------------- tables


def test_csv_with_quotes_and_newlines(tmp_path):
    path = write(tmp_path / "a.csv", 'label,text\npos,"good, ""very"" good"\nneg,"two\nlines"\n')
    assert list(sources.read_table(path)) == [('good, "very" good', "pos"), ("two\nlines", "neg")]


def test_tsv_has_no_quoting(tmp_path):
    path = write(tmp_path / "a.tsv", 'sentence\tlabel\na "quoted word\t1\n')
    assert list(sources.read_table(path, "sentence", delimiter="\t")) == [('a "quoted word', "1")]


def test_unlabeled_table(tmp_path):
    path = write(tmp_path / "a.csv", "text\nhello\n")
    assert list(sources.read_table(path, label_column=None)) == [("hello", None)]


def test_csv_without_the_column_lists_columns(tmp_path):
    path = write(tmp_path / "a.csv", "review,stars\ngood,5\n")
    with pytest.raises(DataError, match=r"no column 'text'; the file has columns \['review', 'stars'\]"):
        list(sources.read_table(path))


def test_row_with_missing_label_names_file_and_line(tmp_path):
    path = write(tmp_path / "a.csv", "text,label\ngood,pos\nbad,\nfine,pos\n")
    with pytest.raises(DataError, match=r"a\.csv:3: the 'label' column is empty"):
        list(sources.read_table(path))
    short = write(tmp_path / "b.csv", "text,label\ngood\n")
    with pytest.raises(DataError, match=r"b\.csv:2:"):
        list(sources.read_table(short))


def test_jsonl(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"text": "hi", "label": 1}\n\n{"text": "yo", "label": "b"}\n')
    assert list(sources.read_jsonl(path)) == [("hi", "1"), ("yo", "b")]


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"text": "hi"', r"a\.jsonl:2: not valid JSON"),
        ('{"body": "hi", "label": 1}', r"a\.jsonl:2: no key 'text'; the record has keys \['body', 'label'\]"),
        ('{"text": "hi"}', r"a\.jsonl:2: the 'label' label is missing"),
        ("[1, 2]", r"a\.jsonl:2: got list; expected a JSON object"),
    ],
)
def test_bad_jsonl(tmp_path, line, message):
    path = write(tmp_path / "a.jsonl", '{"text": "ok", "label": 0}\n' + line + "\n")
    with pytest.raises(DataError, match=message):
        list(sources.read_jsonl(path))


# ----------------------------------------------------------------------------- parallel


def test_parallel_two_files_and_one_tsv(tmp_path):
    src = write(tmp_path / "s.de", "Hallo\nWelt\n")
    tgt = write(tmp_path / "t.en", "Hello\nWorld\n")
    assert list(sources.read_parallel(src, tgt)) == [("Hallo", "Hello"), ("Welt", "World")]
    pairs = write(tmp_path / "p.tsv", "Go.\tVa !\tCC-BY 2.0 (France) Attribution\n")
    assert list(sources.read_parallel(pairs)) == [("Go.", "Va !")]


def test_parallel_files_of_different_lengths_give_both_counts(tmp_path):
    src = write(tmp_path / "s.de", "a\nb\nc\n")
    tgt = write(tmp_path / "t.en", "a\nb\n")
    with pytest.raises(DataError, match=r"s\.de has 3 lines, .*t\.en has 2"):
        list(sources.read_parallel(src, tgt))
    with pytest.raises(DataError, match=r"t\.en has 2 lines, .*s\.de has 3"):
        list(sources.read_parallel(tgt, src))


def test_parallel_tsv_line_without_tab(tmp_path):
    with pytest.raises(DataError, match=r"p\.tsv:2: expected 'source<TAB>target'"):
        list(sources.read_parallel(write(tmp_path / "p.tsv", "a\tb\nno tab here\n")))


# ----------------------------------------------------------------------------- conllu

CONLLU = (
    "# sent_id = 1\n# text = Don't go.\n"
    "1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_\n"
    "2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_\n"
    "3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_\n"
    "3.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t3:x\t_\n"
    "4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_\n"
    "\n"
    "1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_\n"
)


def test_conllu_skips_ranges_and_empty_nodes(tmp_path):
    path = write(tmp_path / "a.conllu", CONLLU)
    assert list(sources.read_conllu(path)) == [
        (["Do", "n't", "go", "."], ["AUX", "PART", "VERB", "PUNCT"]),
        (["Hi"], ["INTJ"]),
    ]
    assert list(sources.read_conllu(path, "xpos"))[1] == (["Hi"], ["UH"])


def test_conllu_agrees_with_the_conllu_library(tmp_path):
    # Reference check: the same (tokens, tags) as conllu.parse_incr, keeping integer ids.
    expected = [
        ([t["form"] for t in s if isinstance(t["id"], int)], [t["upos"] for t in s if isinstance(t["id"], int)])
        for s in conllu.parse_incr(io.StringIO(CONLLU))
    ]
    assert list(sources.read_conllu(write(tmp_path / "a.conllu", CONLLU))) == expected


def test_conllu_malformed_line_names_file_and_line(tmp_path):
    bad = CONLLU.replace("3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_", "3\tgo\tgo\tVERB")
    with pytest.raises(DataError, match=r"a\.conllu:6: a CoNLL-U word line needs 10 tab-separated fields, got 4"):
        list(sources.read_conllu(write(tmp_path / "a.conllu", bad)))
    bad_id = CONLLU.replace("4\t.\t.", "x\t.\t.")
    with pytest.raises(DataError, match=r"a\.conllu:8: ID 'x' is not an integer"):
        list(sources.read_conllu(write(tmp_path / "a.conllu", bad_id)))


# ----------------------------------------------------------------------------- time series

SERIES = "date,a,b\n2020-01-01 00:00,1,10\n2020-01-01 01:00,2,20\n2020-01-01 02:00,3,30\n"


def test_timeseries(tmp_path):
    ts = sources.read_timeseries(write(tmp_path / "s.csv", SERIES))
    assert ts.names == ["a", "b"] and len(ts) == 3 and ts.rows[2] == [3.0, 30.0] and ts.filled == 0
    assert ts.timestamps[1].hour == 1
    assert sources.read_timeseries(tmp_path / "s.csv", feature_columns=["b"]).rows[0] == [10.0]


def test_jena_layout(tmp_path):
    # Jena climate's header and timestamps: "Date Time" as day.month.year, 14 features.
    features = [
        "p (mbar)",
        "T (degC)",
        "Tpot (K)",
        "Tdew (degC)",
        "rh (%)",
        "VPmax (mbar)",
        "VPact (mbar)",
        "VPdef (mbar)",
        "sh (g/kg)",
        "H2OC (mmol/mol)",
        "rho (g/m**3)",
        "wv (m/s)",
        "max. wv (m/s)",
        "wd (deg)",
    ]
    header = ",".join(['"Date Time"'] + [f'"{f}"' for f in features])
    rows = [f"01.01.2009 00:{m}0:00," + ",".join(str(i + m) for i in range(14)) for m in (1, 2, 3)]
    ts = sources.read_timeseries(write(tmp_path / "jena.csv", "\n".join([header] + rows) + "\n"), "Date Time")
    assert ts.names == features and len(ts.rows[0]) == 14
    assert ts.timestamps[0].isoformat() == "2009-01-01T00:10:00" and ts.rows[2][13] == 16.0


def test_timeseries_non_numeric_cell(tmp_path):
    path = write(tmp_path / "s.csv", SERIES.replace("2,20", "2,lots"))
    with pytest.raises(DataError, match=r"s\.csv:3: column 'b' holds 'lots'; expected a number"):
        sources.read_timeseries(path)


@pytest.mark.parametrize("swap, word", [("00:00", "comes before"), ("01:00", "repeats")])
def test_timeseries_unsorted_or_duplicate(tmp_path, swap, word):
    path = write(tmp_path / "s.csv", SERIES.replace("02:00", swap))
    with pytest.raises(DataError, match=rf"s\.csv:4: timestamp .* {word} the previous row"):
        sources.read_timeseries(path)


def test_timeseries_duplicates_keep_first(tmp_path):
    path = write(tmp_path / "s.csv", SERIES + "2020-01-01 02:00,9,90\n")
    assert sources.read_timeseries(path, duplicates="keep-first").rows[-1] == [3.0, 30.0]


def test_timeseries_gaps_error_or_ffill(tmp_path):
    path = write(tmp_path / "s.csv", "date,a,b\n2020-01-01,,1\n2020-01-02,2,NaN\n2020-01-03,3,\n2020-01-04,nan,4\n")
    with pytest.raises(DataError, match=r"s\.csv:2: column 'a' is empty or NaN; pass missing='ffill'"):
        sources.read_timeseries(path)
    ts = sources.read_timeseries(path, missing="ffill")
    # a: leading gap back-filled from 2, the last forward-filled from 3; b: two forward fills.
    assert ts.rows == [[2.0, 1.0], [2.0, 1.0], [3.0, 1.0], [3.0, 4.0]]
    assert ts.filled == 4
    assert not any(math.isnan(v) for row in ts.rows for v in row)


def test_timeseries_bad_timestamp_and_all_nan_column(tmp_path):
    with pytest.raises(DataError, match=r"s\.csv:2: column 'date': timestamp 'yesterday'"):
        sources.read_timeseries(write(tmp_path / "s.csv", "date,a\nyesterday,1\n"))
    with pytest.raises(DataError, match=r"column 'a' has no numeric value"):
        sources.read_timeseries(write(tmp_path / "s.csv", "date,a\n2020-01-01,\n"), missing="ffill")


def test_read_source_dispatch(tmp_path):
    path = write(tmp_path / "a.csv", "text,label\nhi,x\n")
    assert list(sources.read_source(path, "csv")) == [("hi", "x")]
    with pytest.raises(ValueError, match=r"format 'xls': expected one of"):
        sources.read_source(path, "xls")


cell_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(cell_text, cell_text.filter(lambda s: s.strip())), min_size=1, max_size=5))
def test_csv_round_trip(tmp_path_factory, rows):
    # Whatever csv.writer quotes (commas, quotes, newlines), read_table reads back.
    import csv

    path = tmp_path_factory.mktemp("rt") / "a.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    assert list(sources.read_table(path)) == [(text.strip(), label.strip()) for text, label in rows]
